package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// streamBody reads a response body line by line as it arrives, for
// SockJS's xhr_streaming, whose frames are lines ("o\n", "a[...]\n") of one
// long response. A proxy may re-chunk the body on its way, so one frame can
// span chunks and one chunk can hold several frames: lines are assembled
// from the body's data whatever its framing (RFC 9112 §6.3: chunked,
// Content-Length, or until the server closes).
//
// It reads through its httpConn's buffer and is not safe for concurrent
// use.
type streamBody struct {
	h     *httpConn
	fr    framing
	left  int64 // data left in the current chunk (chunked) or body (length)
	crlf  bool  // chunked: the current chunk's data is read, its CRLF is not
	ended bool
	line  []byte
}

// newStreamBody starts reading the body of a response whose head h has
// just read.
func newStreamBody(h *httpConn, fr framing, length int64) *streamBody {
	return &streamBody{h: h, fr: fr, left: length}
}

// readLine returns the body's next line without its "\n", valid until the
// next call. It returns io.EOF once the body has ended at a line boundary,
// and an error if it ends inside a line. Each call has the connection's
// operation timeout.
func (b *streamBody) readLine() ([]byte, error) {
	if b.h.timeout > 0 {
		b.h.conn.SetReadDeadline(time.Now().Add(b.h.timeout))
	}
	b.line = b.line[:0]
	for {
		switch {
		case b.ended:
			if len(b.line) > 0 {
				return nil, fmt.Errorf("stream body ended inside a line %q", truncate(b.line))
			}
			return nil, io.EOF
		case b.fr == framingNone, b.fr == framingLength && b.left == 0:
			b.ended = true
			continue
		case b.fr == framingChunked && b.left == 0:
			if err := b.nextChunk(); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF // only the last chunk ends the body
				}
				return nil, fmt.Errorf("read stream body: %w", err)
			}
			continue
		}
		if _, err := b.h.br.Peek(1); err != nil {
			if b.fr == framingClose && errors.Is(err, io.EOF) {
				b.ended = true
				continue
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read stream body: %w", err)
		}
		n := b.h.br.Buffered()
		if b.fr != framingClose {
			n = int(min(int64(n), b.left))
		}
		p, _ := b.h.br.Peek(n)
		take, found := n, false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			take, found = i+1, true
		}
		if len(b.line)+take > maxCollect {
			return nil, fmt.Errorf("stream body: line over %d bytes", maxCollect)
		}
		b.line = append(b.line, p[:take]...)
		b.h.br.Discard(take)
		b.left -= int64(take)
		if found {
			return b.line[:len(b.line)-1], nil
		}
	}
}

// nextChunk reads the CRLF that ends the previous chunk, if any, and the
// next chunk's size line; after the last chunk the body has ended.
func (b *streamBody) nextChunk() error {
	if b.crlf {
		if err := b.h.readChunkEnd(); err != nil {
			return err
		}
		b.crlf = false
	}
	size, err := b.h.readChunkSize()
	if err != nil {
		return err
	}
	if size == 0 {
		b.ended = true
		return nil
	}
	b.left, b.crlf = size, true
	return nil
}
