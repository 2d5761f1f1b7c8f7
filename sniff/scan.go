package sniff

import "bytes"

// Scan is the state of one head being sniffed on one connection. It has a
// fixed size, holds no pointers (offsets into the caller's buffer only, so
// the buffer can move or grow between calls) and its zero value is ready to
// use. Call Reset before the next head on the same connection, with the
// buffer starting at that head.
//
// A Scan is used either for one request head (Sniffer.Request) or for one
// response head (Sniffer.Response) at a time, by one goroutine.
type Scan struct {
	pos   int32 // bytes of the current line already searched for its LF
	line  int32 // start of the current line
	state uint8
	final Status // the outcome once state is stFinal
	major uint8  // HTTP version
	minor uint8

	code   uint16 // Request: the status to answer when Invalid; Response: the status code
	flags  uint16
	conn   uint8 // Connection tokens seen: connClose, connKeepAlive, connUpgrade
	cookie uint8 // bit i: cookie slot i is filled

	methodEnd int32 // method is buf[:methodEnd]
	nameEnd   int32 // the colon of the field line being read
	path      span  // request-target path, without query
	uriHost   span  // host of an absolute-form or authority-form target
	host      span  // value of the Host field
	sni       span  // TLS server name, when NotHTTP and TLS
	cookies   [MaxCookies]span

	cookieCount   int32 // net/http's count of cookies on Cookie lines
	headLen       int32
	contentLength int64
}

type span struct{ start, end int32 }

func (s span) of(buf []byte) []byte { return buf[s.start:s.end:s.end] }

// Reset makes sc ready for the next head.
func (sc *Scan) Reset() { *sc = Scan{} }

// scan states
const (
	stStart       = iota
	stMethod      // request: reading the method token
	stRequestLine // request: looking for the request line's end
	stFields      // request or response: reading field lines
	stTLS         // request: waiting for the first TLS record
	stStatusLine  // response: looking for the status line's end
	stFinal       // sc.final holds the outcome
)

// flags
const (
	fResponse      = 1 << iota // the Scan holds a response head
	fHost                      // a Host field was seen
	fContentLength             // a Content-Length field was seen
	fTransferEnc               // a Transfer-Encoding field was seen
	fChunked                   // ... and it is "chunked"
	fTrailerBad                // Trailer names a field that must not be a trailer
	fUpgradeWS                 // Upgrade lists "websocket"
	fExpect100                 // Expect lists "100-continue"
	fURIHost                   // uriHost is set (absolute-form target with a host)
	fTLS                       // NotHTTP: the bytes are TLS
	fSNI                       // ... and sni is set
	fHasPath                   // path is set
)

// Connection tokens
const (
	connClose = 1 << iota
	connKeepAlive
	connUpgrade
)

// lineEnd returns the index of the LF that ends the line at sc.line, looking
// no further than limit (exclusive), or -1 if buf holds no such LF yet. Each
// byte is searched once over all calls: sc.pos remembers how far it got.
func (sc *Scan) lineEnd(buf []byte, limit int) int {
	end := min(len(buf), limit)
	p := int(sc.pos)
	if p >= end {
		return -1
	}
	var i int
	if end-p <= 8 {
		// One byte per call is the slow-client case; skip IndexByte's setup.
		i = -1
		for j, c := range buf[p:end] {
			if c == '\n' {
				i = j
				break
			}
		}
	} else {
		i = bytes.IndexByte(buf[p:end], '\n')
	}
	if i < 0 {
		sc.pos = int32(end)
		return -1
	}
	return p + i
}

// contentEnd returns where the content of the line ending at the LF at lf
// stops: before a CR that directly precedes the LF. RFC 9112 §2.2 lets a
// recipient take a bare LF as a line end; a CR anywhere else is left in the
// content, where field and request-line validation reject it.
func contentEnd(buf []byte, start, lf int) int {
	if lf > start && buf[lf-1] == '\r' {
		return lf - 1
	}
	return lf
}

// next moves sc to the line after the LF at lf.
func (sc *Scan) next(lf int) {
	sc.line = int32(lf + 1)
	sc.pos = sc.line
}

func (sc *Scan) finish(st Status) Status {
	sc.state = stFinal
	sc.final = st
	return st
}

// fail ends a request scan with an HTTP error status (400, 414, 431), or a
// response scan as Invalid.
func (sc *Scan) fail(code int) Status {
	if sc.flags&fResponse == 0 {
		sc.code = uint16(code)
	}
	return sc.finish(Invalid)
}
