package sniff

import "bytes"

// Request is what a request head says. Byte slices point into the buffer
// given to Sniffer.Request and are valid as long as it is; they are never
// copied. Fields other than Status, TLS and SNI are set only for Done.
type Request struct {
	// HeadLen is the length of the head, final blank line included: the
	// body, if any, starts at buf[HeadLen].
	HeadLen int
	// Method is the request method, as sent (case matters).
	Method []byte
	// Path is the request-target's path as sent, not percent-decoded,
	// without the query: "/sockjs/123/abcd1234/xhr_send". It is "*" for
	// "OPTIONS *" and nil for an authority-form (CONNECT) or opaque target.
	Path []byte
	// Host is the host of an absolute-form target if it has one, else the
	// value of the Host field; nil when neither is present (HTTP/1.0).
	Host []byte
	// ProtoMinor is the minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 (a
	// higher digit, which net/http also accepts, reads as 1.1).
	ProtoMinor int
	// Upgrade reports whether this is a WebSocket upgrade request: Upgrade
	// lists "websocket" and Connection lists "upgrade" (RFC 6455 §4.1). The
	// connection becomes a tunnel only if the response is 101.
	Upgrade bool
	// SockJS holds the SockJS parts of Path when it is under a configured
	// prefix.
	SockJS SockJS
	// PrefixIndex is the index in Config.Prefixes (DefaultPrefixes if nil)
	// of the prefix Path is under, or whose Meteor raw WebSocket path it
	// is; -1 for none.
	PrefixIndex int
	// RawWebSocket reports whether Path is a raw WebSocket endpoint:
	// <prefix>/websocket, or Meteor's ROOT_URL_PATH_PREFIX + "/websocket"
	// for a prefix ending in "/sockjs" ("/websocket" for "/sockjs").
	RawWebSocket bool
	// Cookies holds the values of the Config.Cookies, by index: the first
	// valid occurrence of each, as net/http's Request.Cookie finds it, with
	// surrounding double quotes removed; nil when absent.
	Cookies [MaxCookies][]byte
	// Key is the affinity key, nil when KeyKind is KeyNone: the value of the
	// first configured cookie present with a non-empty value, else the
	// session id of a SockJS polling or streaming transport (xhr, xhr_send,
	// xhr_streaming, eventsource, htmlfile, jsonp, jsonp_send). A SockJS
	// websocket, a raw WebSocket or any other request has no key and is
	// placed by load.
	Key     []byte
	KeyKind KeyKind
	// ContentLength is the value of Content-Length, -1 when absent.
	ContentLength int64
	// Chunked reports Transfer-Encoding: chunked; the body is then a
	// chunked body (see ChunkedBody). A request with neither Content-Length
	// nor chunked has no body.
	Chunked bool
	// Close reports whether the client asked to close the connection after
	// this request: Connection lists "close", or HTTP/1.0 without
	// "keep-alive".
	Close bool
	// Expect100 reports whether Expect lists "100-continue".
	Expect100 bool
	// Status is the status to answer an Invalid request with: 400 (bad
	// request), 414 (request line too long) or 431 (head too large).
	Status int
	// TLS reports, for NotHTTP, that the bytes are a TLS ClientHello; SNI is
	// its server name, nil when absent or not in the first record.
	TLS bool
	SNI []byte
}

// SockJS is the SockJS reading of a path (sockjs-node's URL layout):
//
//	<prefix>/<server>/<session>/<transport>[/]
//
// where server and session are non-empty and hold neither '/' nor '.'.
// <prefix>, <prefix>/info, <prefix>/iframe*.html, <prefix>/chunking_test
// and <prefix>/websocket carry no session: only Prefix is set.
type SockJS struct {
	Prefix, Server, Session, Transport []byte
}

const tlsHandshake = 0x16

// Request sniffs a request head. buf holds every byte received since the
// head started; it may grow between calls but its earlier bytes must not
// change. Request never modifies, consumes or retains buf, and reads no
// byte at or past MaxHeadBytes. It returns NeedMore until the head is
// complete, then Done with req filled; NotHTTP or Invalid as soon as the
// bytes so far decide it. Each byte is examined a bounded number of times
// over all calls, so calling it once per arriving byte costs linear time
// in total. Once the outcome is decided, further calls with the same buf
// return it again.
//
// Request does not allocate, except once for an IPv6 literal in an
// absolute-form or CONNECT target.
func (s *Sniffer) Request(sc *Scan, buf []byte, req *Request) Status {
	if sc.flags&fResponse != 0 {
		panic("sniff: Request called with a Scan in use for a response")
	}
	if len(buf) > s.maxHead {
		buf = buf[:s.maxHead]
	}
	for {
		switch sc.state {
		case stStart:
			if len(buf) == 0 {
				return NeedMore
			}
			switch c := buf[0]; {
			case c == tlsHandshake:
				sc.state = stTLS
			case tchar[c]:
				sc.state = stMethod
				sc.pos = 1
			default:
				sc.finish(NotHTTP)
			}
		case stMethod:
			// method = token, then SP (RFC 9112 §3). Checked as bytes
			// arrive so that binary input is told apart at once.
			bound := s.lineBound()
			end := min(len(buf), bound)
			i := int(sc.pos)
			for i < end && tchar[buf[i]] {
				i++
			}
			sc.pos = int32(i)
			if i == end {
				if len(buf) >= bound {
					return s.lineTooLong(sc, req)
				}
				return NeedMore
			}
			if buf[i] != ' ' {
				sc.finish(NotHTTP)
				continue
			}
			sc.methodEnd = int32(i)
			sc.pos++
			sc.state = stRequestLine
		case stRequestLine:
			// The line ends at its first control byte, which must be its
			// LF or the CR before it (a control byte anywhere else makes
			// the line bad, so finding the end and checking are one scan).
			bound := s.lineBound()
			end := min(len(buf), bound)
			p := int(sc.pos)
			i := ctlIndex(buf[p:end])
			if i < 0 {
				sc.pos = int32(end)
				if len(buf) >= bound {
					return s.lineTooLong(sc, req)
				}
				return NeedMore
			}
			p += i
			switch {
			case buf[p] == '\n':
				s.requestLine(sc, buf, p, p)
			case buf[p] == '\r' && p+1 < end && buf[p+1] == '\n':
				s.requestLine(sc, buf, p, p+1)
			case buf[p] == '\r' && p+1 == end:
				// What follows the CR decides, but it is not here yet, or
				// it is past the bound (and so is the line's end).
				sc.pos = int32(p)
				if len(buf) >= bound {
					return s.lineTooLong(sc, req)
				}
				return NeedMore
			default:
				s.badRequestLine(sc, buf, p)
			}
		case stFields:
			switch res, lf := s.fieldLines(sc, buf); res {
			case fieldMore:
				if len(buf) >= s.maxHead {
					sc.fail(431)
					break
				}
				return NeedMore
			case fieldEnd:
				sc.headLen = int32(lf + 1)
				s.endRequest(sc, buf)
			case fieldBad:
				sc.fail(400)
			}
		case stTLS:
			if st := s.tls(sc, buf); st == NeedMore {
				return NeedMore
			}
		case stFinal:
			return s.result(sc, buf, req)
		}
	}
}

// lineBound is how far the LF ending the request line may be: the line
// may hold MaxRequestLineBytes bytes and a CR, and the head MaxHeadBytes.
func (s *Sniffer) lineBound() int { return min(s.maxLine+2, s.maxHead) }

func (s *Sniffer) lineTooLong(sc *Scan, req *Request) Status {
	if s.maxLine+2 <= s.maxHead {
		sc.fail(414)
	} else {
		sc.fail(431)
	}
	return s.result(sc, nil, req)
}

// badRequestLine ends a request line that has a control byte at p, other
// than its line end: 400 if what came before looks like HTTP (an
// origin-form target, or " HTTP/"), else NotHTTP. Only the bytes before p
// decide, so the verdict is the same however the bytes arrive.
func (s *Sniffer) badRequestLine(sc *Scan, buf []byte, p int) {
	ts := int(sc.methodEnd) + 1
	if ts < p && buf[ts] == '/' || bytes.Contains(buf[ts-1:p], []byte(" HTTP/")) {
		sc.fail(400)
	} else {
		sc.finish(NotHTTP)
	}
}

// requestLine reads request-line = method SP request-target SP
// HTTP-version (RFC 9112 §3), split at the first two spaces as net/http
// does; the line's content ends at ce, its LF is at lf. A line that does
// not end in an HTTP version is NotHTTP (a PROXY protocol header, HTTP/0.9,
// another protocol); so is HTTP/2's preface.
func (s *Sniffer) requestLine(sc *Scan, buf []byte, ce, lf int) {
	if ce > s.maxLine {
		sc.fail(414)
		return
	}
	ts := int(sc.methodEnd) + 1
	sp := bytes.IndexByte(buf[ts:ce], ' ')
	if sp < 0 {
		sc.finish(NotHTTP)
		return
	}
	te := ts + sp
	proto := buf[te+1 : ce]
	if len(proto) < 5 || string(proto[:5]) != "HTTP/" {
		if bytes.Contains(buf[ts:ce], []byte(" HTTP/")) {
			sc.fail(400) // e.g. a space in the target
		} else {
			sc.finish(NotHTTP)
		}
		return
	}
	if len(proto) != 8 || !isDigit(proto[5]) || proto[6] != '.' || !isDigit(proto[7]) {
		sc.fail(400)
		return
	}
	if proto[5] != '1' {
		if string(proto) == "HTTP/2.0" && string(buf[:sc.methodEnd]) == "PRI" && string(buf[ts:te]) == "*" {
			sc.finish(NotHTTP) // HTTP/2 with prior knowledge
		} else {
			sc.fail(400) // net/http's server answers 505
		}
		return
	}
	sc.major, sc.minor = 1, proto[7]-'0'
	if !sc.parseTarget(buf, ts, te, string(buf[:sc.methodEnd]) == "CONNECT") {
		sc.fail(400)
		return
	}
	sc.next(lf)
	sc.state = stFields
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// requestField acts on a field line of a name fieldKind may know: the
// name is buf[ls:nameEnd], the value buf[nameEnd+1:ce].
func (s *Sniffer) requestField(sc *Scan, buf []byte, ls, nameEnd, ce int) {
	kind := fieldKind(buf[ls:nameEnd])
	if kind == hOther {
		return
	}
	vs, ve := trimBounds(buf, nameEnd+1, ce)
	v := buf[vs:ve]
	switch kind {
	case hHost:
		if sc.flags&fHost != 0 {
			sc.fail(400) // more than one Host (RFC 9112 §3.2)
			return
		}
		for _, c := range v {
			if !validHostHeaderByte[c] {
				sc.fail(400)
				return
			}
		}
		sc.flags |= fHost
		sc.host = span{int32(vs), int32(ve)}
	case hCookie:
		if s.numCookies > 0 {
			s.cookieLine(sc, buf, vs, ve)
		}
	case hContentLength, hTransferEncoding, hConnection, hTrailer:
		if !sc.framingField(kind, v) {
			sc.fail(400)
			return
		}
	case hUpgrade:
		if listHas(v, "websocket") {
			sc.flags |= fUpgradeWS
		}
	case hExpect:
		if listHas(v, "100-continue") {
			sc.flags |= fExpect100
		}
	}
}

// framingField reads the fields that say where a message ends, for
// requests and responses alike. It reports false for a second
// Content-Length or Transfer-Encoding field (equal values included: a
// recipient may not be the only one reading them), a malformed
// Content-Length, or a transfer coding other than "chunked" (RFC 9112 §6).
func (sc *Scan) framingField(kind int, v []byte) bool {
	switch kind {
	case hContentLength:
		if sc.flags&fContentLength != 0 {
			return false
		}
		n, ok := parseContentLength(v)
		if !ok {
			return false
		}
		sc.flags |= fContentLength
		sc.contentLength = n
	case hTransferEncoding:
		if sc.flags&fTransferEnc != 0 || !equalFold(v, "chunked") {
			return false
		}
		sc.flags |= fTransferEnc | fChunked
	case hConnection:
		// One token is the usual value: no list to split.
		switch {
		case equalFold(v, "keep-alive"):
			sc.conn |= connKeepAlive
			return true
		case equalFold(v, "close"):
			sc.conn |= connClose
			return true
		}
		for len(v) > 0 {
			var e []byte
			e, v = nextElement(v)
			switch {
			case equalFold(e, "keep-alive"):
				sc.conn |= connKeepAlive
			case equalFold(e, "close"):
				sc.conn |= connClose
			case equalFold(e, "upgrade"):
				sc.conn |= connUpgrade
			}
		}
	case hTrailer:
		// These may not be sent as trailers; net/http refuses a chunked
		// message that announces them (RFC 9110 §6.5.1).
		for len(v) > 0 {
			var e []byte
			e, v = nextElement(v)
			if equalFold(e, "transfer-encoding") || equalFold(e, "content-length") || equalFold(e, "trailer") {
				sc.flags |= fTrailerBad
			}
		}
	}
	return true
}

// framingOK checks what only the whole head can tell about its framing.
func (sc *Scan) framingOK() bool {
	if sc.flags&fTransferEnc != 0 {
		// Transfer-Encoding with Content-Length is how requests are
		// smuggled (RFC 9112 §6.1: "ought to be handled as an error"); in
		// HTTP/1.0 the framing is faulty by definition.
		if sc.flags&fContentLength != 0 || sc.major == 1 && sc.minor == 0 || sc.major == 0 {
			return false
		}
		if sc.flags&fTrailerBad != 0 {
			return false
		}
	}
	return true
}

func (s *Sniffer) endRequest(sc *Scan, buf []byte) {
	if !sc.framingOK() {
		sc.fail(400)
		return
	}
	// RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request
	// without Host (net/http spares CONNECT).
	if sc.minor >= 1 && sc.flags&fHost == 0 && string(buf[:sc.methodEnd]) != "CONNECT" {
		sc.fail(400)
		return
	}
	sc.finish(Done)
}

// result fills req from a decided sc.
func (s *Sniffer) result(sc *Scan, buf []byte, req *Request) Status {
	*req = Request{ContentLength: -1, PrefixIndex: -1}
	switch sc.final {
	case Invalid:
		req.Status = int(sc.code)
	case NotHTTP:
		req.TLS = sc.flags&fTLS != 0
		if sc.flags&fSNI != 0 {
			req.SNI = sc.sni.of(buf)
		}
	case Done:
		s.fill(sc, buf, req)
	}
	return sc.final
}

func (s *Sniffer) fill(sc *Scan, buf []byte, req *Request) {
	req.HeadLen = int(sc.headLen)
	req.Method = buf[:sc.methodEnd:sc.methodEnd]
	if sc.flags&fHasPath != 0 {
		req.Path = sc.path.of(buf)
	}
	if sc.flags&fURIHost != 0 {
		req.Host = sc.uriHost.of(buf)
	} else if sc.flags&fHost != 0 {
		req.Host = sc.host.of(buf)
	}
	req.ProtoMinor = int(sc.minor)
	req.Upgrade = sc.conn&connUpgrade != 0 && sc.flags&fUpgradeWS != 0
	req.Close = sc.conn&connClose != 0 || sc.minor == 0 && sc.conn&connKeepAlive == 0
	req.Expect100 = sc.flags&fExpect100 != 0
	req.Chunked = sc.flags&fChunked != 0
	if sc.flags&fContentLength != 0 {
		req.ContentLength = sc.contentLength
	}

	if sc.cookieCount <= maxCookieCount {
		for i := 0; i < s.numCookies; i++ {
			if sc.cookie&(1<<i) != 0 {
				req.Cookies[i] = sc.cookies[i].of(buf)
			}
		}
	}
	polling := s.sockJS(req, buf, int(sc.path.start))
	for i := 0; i < s.numCookies; i++ {
		if len(req.Cookies[i]) > 0 {
			req.Key, req.KeyKind = req.Cookies[i], KeyCookie
			return
		}
	}
	if polling {
		req.Key, req.KeyKind = req.SockJS.Session, KeySession
	}
}

// validHostHeaderByte is net/http's check of a Host field
// (httpguts.ValidHostHeader): the bytes of RFC 3986's host and port.
var validHostHeaderByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&()*+,-.:;=[']_~" {
		t[c] = true
	}
	return t
}()
