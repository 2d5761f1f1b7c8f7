package sniff

// BodyKind says how a response body is delimited (RFC 9112 §6.3).
type BodyKind uint8

const (
	// NoBody: the response ends with its head (a response to HEAD; 1xx,
	// 204 and 304; Content-Length: 0).
	NoBody BodyKind = iota
	// Length: ContentLength bytes follow the head.
	Length
	// Chunked: a chunked body follows the head (see ChunkedBody).
	Chunked
	// UntilClose: the body ends when the server closes the connection.
	UntilClose
)

// String returns "no-body", "length", "chunked" or "until-close".
func (k BodyKind) String() string {
	switch k {
	case NoBody:
		return "no-body"
	case Length:
		return "length"
	case Chunked:
		return "chunked"
	case UntilClose:
		return "until-close"
	}
	return "BodyKind(?)"
}

// Response is what a response head says about where the response ends.
type Response struct {
	// HeadLen is the length of the head, final blank line included.
	HeadLen int
	// StatusCode is the three-digit status code.
	StatusCode int
	// ProtoMinor is the minor HTTP version (ProtoMajor is almost always 1;
	// see Close).
	ProtoMinor int
	// Body says how the body is delimited.
	Body BodyKind
	// ContentLength is the body length when Body is Length; for a response
	// to HEAD, the Content-Length it announces (-1 when absent); 0 for 1xx,
	// 204 and 304; -1 for Chunked and UntilClose.
	ContentLength int64
	// Close reports whether the server will close the connection after
	// this response: Connection lists "close", HTTP/1.0 without
	// "keep-alive", or the body runs until close.
	Close bool
	// Interim reports a 1xx response other than 101: the final response
	// head follows it (RFC 9110 §15.2).
	Interim bool
	// Upgrade reports 101 Switching Protocols: after the head the
	// connection is a tunnel.
	Upgrade bool
}

// Response parses a response head the way Request parses a request head,
// with the same buffer rules and limit. requestWasHEAD says the request
// was HEAD, so the response has no body whatever its fields say.
//
// A response is Invalid where net/http's ReadResponse would fail, and
// also, being a proxy's input, for: obs-fold; a field name with whitespace
// before the colon; Transfer-Encoding with Content-Length; a second
// Content-Length, even an equal one; Transfer-Encoding in an HTTP/1.0
// response; a status code that is not three digits; a control byte in the
// reason phrase.
func (s *Sniffer) Response(sc *Scan, buf []byte, requestWasHEAD bool, resp *Response) Status {
	if sc.state != stStart && sc.flags&fResponse == 0 {
		panic("sniff: Response called with a Scan in use for a request")
	}
	if len(buf) > s.maxHead {
		buf = buf[:s.maxHead]
	}
	for {
		switch sc.state {
		case stStart:
			sc.flags |= fResponse
			sc.state = stStatusLine
		case stStatusLine:
			// Tell a non-HTTP peer at once.
			n := min(len(buf), 5)
			if string(buf[:n]) != "HTTP/"[:n] {
				sc.finish(Invalid)
				continue
			}
			lf := sc.lineEnd(buf, s.maxHead)
			if lf < 0 {
				if len(buf) >= s.maxHead {
					sc.finish(Invalid)
					continue
				}
				return NeedMore
			}
			statusLine(sc, buf, lf)
		case stFields:
			switch res, lf := s.fieldLines(sc, buf); res {
			case fieldMore:
				if len(buf) >= s.maxHead {
					sc.finish(Invalid)
					break
				}
				return NeedMore
			case fieldEnd:
				sc.headLen = int32(lf + 1)
				if sc.framingOK() {
					sc.finish(Done)
				} else {
					sc.finish(Invalid)
				}
			case fieldBad:
				sc.finish(Invalid)
			}
		case stFinal:
			*resp = Response{}
			if sc.final == Done {
				fillResponse(sc, requestWasHEAD, resp)
			}
			return sc.final
		}
	}
}

// statusLine reads status-line = HTTP-version SP status-code SP
// [ reason-phrase ] (RFC 9112 §4), with net/http's tolerance for extra
// spaces before the code and for a missing reason.
func statusLine(sc *Scan, buf []byte, lf int) {
	ce := contentEnd(buf, 0, lf)
	line := buf[:ce]
	if len(line) < 9 || line[8] != ' ' || !isDigit(line[5]) || line[6] != '.' || !isDigit(line[7]) {
		sc.finish(Invalid)
		return
	}
	sc.major, sc.minor = line[5]-'0', line[7]-'0'
	rest := line[9:]
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	if len(rest) < 3 || !isDigit(rest[0]) || !isDigit(rest[1]) || !isDigit(rest[2]) || len(rest) > 3 && rest[3] != ' ' {
		sc.finish(Invalid)
		return
	}
	sc.code = uint16(rest[0]-'0')*100 + uint16(rest[1]-'0')*10 + uint16(rest[2]-'0')
	if !validValue(rest[3:]) {
		sc.finish(Invalid)
		return
	}
	sc.next(lf)
	sc.state = stFields
}

// fillResponse applies RFC 9112 §6.3 in net/http's order.
func fillResponse(sc *Scan, head bool, resp *Response) {
	code := int(sc.code)
	resp.HeadLen = int(sc.headLen)
	resp.StatusCode = code
	resp.ProtoMinor = int(sc.minor)
	resp.Interim = code/100 == 1 && code != 101
	resp.Upgrade = code == 101
	resp.Close = sc.major < 1 || sc.conn&connClose != 0 ||
		sc.major == 1 && sc.minor == 0 && sc.conn&connKeepAlive == 0
	cl := int64(-1)
	if sc.flags&fContentLength != 0 {
		cl = sc.contentLength
	}
	switch {
	case head:
		resp.Body, resp.ContentLength = NoBody, cl
	case code/100 == 1 || code == 204 || code == 304:
		resp.Body, resp.ContentLength = NoBody, 0
	case sc.flags&fChunked != 0:
		resp.Body, resp.ContentLength = Chunked, -1
	case cl == 0:
		resp.Body, resp.ContentLength = NoBody, 0
	case cl > 0:
		resp.Body, resp.ContentLength = Length, cl
	default:
		resp.Body, resp.ContentLength = UntilClose, -1
		resp.Close = true
	}
}
