package engine

import (
	"math"

	"github.com/l4lb/l4lb/sniff"
)

// framing is where one direction of an HTTP connection is in its message
// framing (RFC 9112 §6: a body is delimited by Content-Length, by the
// chunked transfer coding, or, for a response only, by the connection's
// close).
type framing uint8

const (
	frHead       framing = iota // reading a head
	frBody                      // a Content-Length body, framer.rem bytes left
	frChunked                   // a chunked body
	frUntilClose                // a response body that ends when the backend closes
	// The request direction alone also stops in these; nothing past the
	// stop is classified until the connection moves it on.
	frHeld    // a whole request head waits to be routed
	frRouted  // ... and to be released once its backend is connected
	frUpgrade // an Upgrade request went out: wait for 101 or a refusal
	frInvalid // an invalid head waits for the response in flight, then its error
)

// framer follows one direction's message framing over the bytes that pass
// through its flow, without copying them. The same type serves both
// directions; only the parsing of heads differs (request and response
// heads, see http_linux.go).
type framer struct {
	st    framing
	rem   int64             // frBody: bytes left
	scan  sniff.Scan        // frHead: what is known of the head so far
	chunk sniff.ChunkedBody // frChunked
	// spliced: frChunked, and the data of the chunk before the next
	// chunk-size line was spliced (see conn.readLimit).
	spliced bool
}

// startBody sets the framing of the body that follows the head just read:
// chunked, length bytes, or until the connection closes; a message
// without a body goes straight back to frHead. It reports whether a body
// follows.
func (fr *framer) startBody(chunked bool, length int64, untilClose bool) bool {
	fr.scan.Reset()
	switch {
	case chunked:
		fr.st, fr.chunk, fr.spliced = frChunked, sniff.ChunkedBody{}, false
	case length > 0:
		fr.st, fr.rem = frBody, length
	case untilClose:
		fr.st = frUntilClose
	default:
		fr.st = frHead
		return false
	}
	return true
}

// body advances over the body bytes at the start of b: it returns how
// many belong to the current body and whether the body ended with them
// (the framer is then back at frHead). A malformed chunked body is an
// error: the stream cannot be framed any further.
func (fr *framer) body(b []byte) (n int, done bool, err error) {
	switch fr.st {
	case frBody:
		n = len(b)
		if int64(n) > fr.rem {
			n = int(fr.rem)
		}
		fr.rem -= int64(n)
		done = fr.rem == 0
	case frChunked:
		n, done, err = fr.chunk.Scan(b)
		if err != nil {
			return 0, false, err
		}
		fr.spliced = fr.spliced && fr.chunk.DataRemaining() == 0
	case frUntilClose:
		return len(b), false, nil
	}
	if done {
		fr.st = frHead
		fr.chunk = sniff.ChunkedBody{}
		fr.spliced = false
	}
	return n, done, nil
}

// skip advances over n body bytes that bypassed the buffer (spliced, see
// conn.bodySpliced); they must lie within what spliceable allowed. It
// reports whether the body ended with them.
func (fr *framer) skip(n int64) (done bool) {
	switch fr.st {
	case frBody:
		fr.rem -= n
		done = fr.rem == 0
	case frChunked:
		fr.chunk.Skip(n) // chunk data never ends a chunked body
		fr.spliced = true
	}
	if done {
		fr.st = frHead
	}
	return done
}

// spliceable is how many bytes of the current body may bypass the buffer
// now: what is left of a Content-Length body or of the current chunk's
// data, any amount of a body that ends at the close; 0 outside a body.
func (fr *framer) spliceable() int64 {
	switch fr.st {
	case frBody:
		return fr.rem
	case frChunked:
		return fr.chunk.DataRemaining()
	case frUntilClose:
		return math.MaxInt64
	}
	return 0
}

// reset puts the framer back at the start of a head.
func (fr *framer) reset() { *fr = framer{} }
