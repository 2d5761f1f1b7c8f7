package sniff

import "bytes"

// Cookies are read the way net/http's Request.Cookie reads them, so that
// both find the same value: every Cookie field line (RFC 6265 §5.4 says
// there is one; clients behind some proxies send several) is split at ';';
// each part, trimmed, is name "=" value; the first part whose name matches
// and whose value is valid wins:
//
//	cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )
//
// with net/http's cookie-octet, which also allows space and comma. A part
// with an invalid value is skipped, not fatal. Like net/http, a head with
// more than maxCookieCount cookies has none.

// maxCookieCount is net/http's limit (GODEBUG httpcookiemaxnum's default).
const maxCookieCount = 3000

// cookieLine looks for the configured cookies in the Cookie value
// buf[vs:ve].
func (s *Sniffer) cookieLine(sc *Scan, buf []byte, vs, ve int) {
	all := uint8(1)<<s.numCookies - 1
	parts := int32(1)
	p := vs
	for p < ve {
		if sc.cookie == all {
			// Every cookie found: only net/http's count remains.
			parts += int32(bytes.Count(buf[p:ve], []byte{';'}))
			break
		}
		pe := ve
		if i := bytes.IndexByte(buf[p:ve], ';'); i >= 0 {
			pe = p + i
			parts++
		}
		ps, pe2 := trimBounds(buf, p, pe)
		p = pe + 1
		// name "=" value; a part without "=" is a name with an empty
		// value.
		eq := ps
		for eq < pe2 && buf[eq] != '=' {
			eq++
		}
		ns, ne := trimBounds(buf, ps, eq)
		if ns == ne {
			continue
		}
		name := buf[ns:ne]
		for i := 0; i < s.numCookies; i++ {
			if sc.cookie&(1<<i) != 0 || string(name) != s.cookies[i] {
				continue
			}
			if vs, ve, ok := cookieValue(buf, min(eq+1, pe2), pe2); ok {
				sc.cookies[i] = span{int32(vs), int32(ve)}
				sc.cookie |= 1 << i
			}
		}
	}
	sc.cookieCount += parts
}

// cookieValue strips the quotes of buf[vs:ve] and checks its bytes, as
// net/http's parseCookieValue does.
func cookieValue(buf []byte, vs, ve int) (int, int, bool) {
	if ve-vs > 1 && buf[vs] == '"' && buf[ve-1] == '"' {
		vs, ve = vs+1, ve-1
	}
	for _, c := range buf[vs:ve] {
		if c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
			return 0, 0, false
		}
	}
	return vs, ve, true
}
