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
// buf[vs:ve]. Rather than splitting every part, it searches for each
// configured name (a browser sends many cookies and we look for one or
// two) and checks that an occurrence is a part's name: only OWS between it
// and the ';' before it (or the value's start), only OWS between it and
// the '=' after it. A name with no '=' (the part ends after OWS) is a
// cookie with an empty value, as in net/http. Each byte is looked at a
// bounded number of times per configured name.
func (s *Sniffer) cookieLine(sc *Scan, buf []byte, vs, ve int) {
	v := buf[vs:ve]
	sc.cookieCount += int32(bytes.Count(v, []byte{';'})) + 1
	for i := 0; i < s.numCookies; i++ {
		if sc.cookie&(1<<i) != 0 {
			continue
		}
		name := s.cookieNames[i]
		for off := 0; ; {
			j := bytes.Index(v[off:], name)
			if j < 0 {
				break
			}
			j += off
			off = j + 1
			if cs, ce, ok := cookieAt(v, j, j+len(name)); ok {
				sc.cookies[i] = span{int32(vs + cs), int32(vs + ce)}
				sc.cookie |= 1 << i
				break
			}
		}
	}
}

// cookieAt reports whether v[ns:ne] is the name of a part of the cookie
// list v, and the bounds of its value, which is valid.
func cookieAt(v []byte, ns, ne int) (vs, ve int, ok bool) {
	for k := ns - 1; k >= 0 && v[k] != ';'; k-- {
		if !isOWS(v[k]) {
			return 0, 0, false
		}
	}
	k := ne
	for k < len(v) && isOWS(v[k]) {
		k++
	}
	if k == len(v) || v[k] == ';' {
		return k, k, true // a name alone: an empty value
	}
	if v[k] != '=' {
		return 0, 0, false
	}
	// The value runs to the part's end, without the part's trailing OWS
	// (net/http trims the part, not the value's start).
	vs, ve = k+1, len(v)
	if i := bytes.IndexByte(v[vs:], ';'); i >= 0 {
		ve = vs + i
	}
	for ve > vs && isOWS(v[ve-1]) {
		ve--
	}
	return cookieValue(v, vs, ve)
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
