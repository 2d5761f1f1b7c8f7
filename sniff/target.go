package sniff

import (
	"bytes"
	"net/netip"
)

// The request-target (RFC 9112 §3.2) is read the way net/http reads it
// (url.ParseRequestURI, after turning CONNECT's authority-form into
// "http://" + target), so that a head net/http's server accepts gives the
// same path and Host here, and one it refuses is refused here:
//
//	origin-form    = absolute-path [ "?" query ]
//	absolute-form  = absolute-URI
//	authority-form = uri-host ":" port   (CONNECT only)
//	asterisk-form  = "*"
//
// Three things net/url accepts are refused here (400), being useless to a
// client of a balancer and easy to misread: userinfo in an absolute-form
// target (RFC 9110 §4.2.4 says to treat it as an error), percent-encoding
// in its host (net/url decodes it, so the host would not be a slice of the
// head), and a CONNECT target that is not authority-form. RFC 9112 §3.2.3
// and RFC 9110 §9.3.6 allow CONNECT only "host:port", naming the tunnel's
// destination; net/http also takes an empty target, origin-form (net/rpc's
// "CONNECT /_goRPC_"), "*", a path or query after the port, or no port,
// and makes a Host of whatever precedes the first '/'. Here the host and
// the port must both be non-empty and nothing may follow the port.

// parseTarget sets sc.path and sc.uriHost from the target buf[ts:te],
// which holds no control byte (the request line was cut at its first one).
// It reports false when the target is refused.
func (sc *Scan) parseTarget(buf []byte, ts, te int, connect bool) bool {
	t := buf[ts:te]
	if connect {
		// authority-form = uri-host ":" port, read as "http://host:443"
		// is; authority's validHost refuses '?' and '#' and checks the port.
		c := bytes.LastIndexByte(t, ':')
		if c <= 0 || c == len(t)-1 || t[0] == '[' && t[c-1] != ']' || bytes.IndexByte(t, '/') >= 0 {
			return false
		}
		return sc.authority(buf, ts, te, true)
	}
	if len(t) == 0 {
		return false
	}
	q := te // end of the target without its query
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		q = ts + i
	}

	if len(t) == 1 && t[0] == '*' {
		sc.setPath(ts, te)
		return true
	}

	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
	rs := ts // start of what follows the scheme
	var http bool
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			continue
		case '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
			if i > 0 {
				continue
			}
		case c == ':':
			if i == 0 {
				return false // "missing protocol scheme"
			}
			rs = ts + i + 1
			s := t[:i]
			http = equalFold(s, "http") || equalFold(s, "https")
			if !http {
				// Any other scheme: the host's colon rule differs, see
				// validHost.
				return sc.hierarchical(buf, rs, q, false)
			}
		}
		break
	}
	if rs == ts {
		// No scheme: origin-form.
		if ts == q || buf[ts] != '/' {
			return false // "invalid URI for request"
		}
		return sc.checkPath(buf, ts, q)
	}
	return sc.hierarchical(buf, rs, q, true)
}

// hierarchical reads what follows "scheme:" up to the query.
func (sc *Scan) hierarchical(buf []byte, rs, q int, http bool) bool {
	if rs == q || buf[rs] != '/' {
		return true // opaque ("mailto:x"): no path, no host
	}
	if q-rs >= 2 && buf[rs+1] == '/' {
		return sc.authority(buf, rs+2, q, http)
	}
	return sc.checkPath(buf, rs, q)
}

// authority reads "host[:port][/path]" in buf[as:q].
func (sc *Scan) authority(buf []byte, as, q int, http bool) bool {
	ae := q
	if i := bytes.IndexByte(buf[as:q], '/'); i >= 0 {
		ae = as + i
	}
	if !validHost(buf[as:ae], http) {
		return false
	}
	if ae > as {
		sc.uriHost = span{int32(as), int32(ae)}
		sc.flags |= fURIHost
	}
	return sc.checkPath(buf, ae, q)
}

// checkPath records buf[ps:pe] as the path after checking its
// percent-encoding (RFC 3986 §2.1), as net/url does.
func (sc *Scan) checkPath(buf []byte, ps, pe int) bool {
	for p := buf[ps:pe]; ; {
		i := bytes.IndexByte(p, '%')
		if i < 0 {
			break
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return false
		}
		p = p[i+3:]
	}
	sc.setPath(ps, pe)
	return true
}

func (sc *Scan) setPath(ps, pe int) {
	sc.path = span{int32(ps), int32(pe)}
	sc.flags |= fHasPath
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// hostByte holds the ASCII bytes net/url allows in a host (RFC 3986 §3.2.2
// reg-name, plus ':' for the port, brackets for IP literals and a few more
// that net/url lets through); bytes from 0x80 up are allowed too.
var hostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!\"$&'()*+,-.:;<=>[]_~" {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// validHost reports whether net/url's parseHost accepts h (with no
// userinfo and no percent-encoding, which are refused here).
func validHost(h []byte, http bool) bool {
	for _, c := range h {
		if !hostByte[c] {
			return false // '@' (userinfo), '%', '#', ...
		}
	}
	if lb := bytes.LastIndexByte(h, '['); lb > 0 {
		return false
	} else if lb == 0 {
		rb := bytes.LastIndexByte(h, ']')
		if rb < 0 || !validOptionalPort(h[rb+1:]) {
			return false
		}
		// Only an IPv6 address may stand in brackets (allocates; rare).
		addr, err := netip.ParseAddr(string(h[1:rb]))
		return err == nil && !addr.Is4()
	}
	i := bytes.IndexByte(h, ':')
	if i < 0 {
		return true
	}
	if last := bytes.LastIndexByte(h, ':'); last != i && !http {
		// Other schemes may list several hosts; the port follows the last
		// colon. For http(s) a second colon makes the port invalid.
		i = last
	}
	return validOptionalPort(h[i:])
}

// validOptionalPort reports whether p is empty or ":" *DIGIT.
func validOptionalPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
