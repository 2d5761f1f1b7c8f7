package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// maxCollect bounds a response body that httpConn collects in memory; larger
// bodies must be given a sink.
const maxCollect = 1 << 20

// httpConn is a minimal HTTP/1.1 client connection: the caller writes a
// request, then reads one response. It exists, instead of net/http, so that
// the load generator spends little CPU per request (the machine's two cores
// are shared with the balancer under test) and so that each request goes on
// exactly the connection the scenario chose.
//
// It is not safe for concurrent use.
type httpConn struct {
	conn    net.Conn
	br      *bufio.Reader
	timeout time.Duration
	body    []byte // collected body of the last response, reused
}

// response is the part of an HTTP response the scenarios check.
type response struct {
	status  int
	backend string // X-Backend header: the backend's name
	body    []byte // collected body; aliases httpConn.body, valid until the next read
	n       int64  // body length
	close   bool   // the server will close the connection
}

func newHTTPConn(c net.Conn, timeout time.Duration) *httpConn {
	return &httpConn{conn: c, br: bufio.NewReaderSize(c, 16<<10), timeout: timeout}
}

// write sends p (part of a request) with the operation deadline.
func (h *httpConn) write(p []byte) error {
	if h.timeout > 0 {
		h.conn.SetWriteDeadline(time.Now().Add(h.timeout))
	}
	if _, err := h.conn.Write(p); err != nil {
		return fmt.Errorf("write request to %s: %w", h.conn.RemoteAddr(), err)
	}
	return nil
}

// framing says how a response's body is delimited (RFC 9112 §6.3).
type framing int

const (
	framingNone    framing = iota // no body: 1xx, 204, 304
	framingLength                 // Content-Length bytes
	framingChunked                // chunked transfer coding
	framingClose                  // until the server closes
)

// readResponse reads one response (RFC 9112 §4 status line, §5 fields, §6
// message body). With a nil sink the body is collected (up to maxCollect);
// otherwise each piece of it is handed to sink and not kept.
func (h *httpConn) readResponse(sink func([]byte) error) (response, error) {
	resp, fr, length, err := h.readHead()
	if err != nil {
		return resp, err
	}
	h.body = h.body[:0]
	if sink == nil {
		sink = h.collect
	}
	switch fr {
	case framingChunked:
		resp.n, err = h.readChunked(sink)
	case framingLength:
		resp.n, err = h.readN(length, sink)
	case framingClose:
		resp.n, err = h.readN(-1, sink)
	}
	if err != nil {
		return resp, fmt.Errorf("read response body from %s: %w", h.conn.RemoteAddr(), err)
	}
	resp.body = h.body
	return resp, nil
}

// readHead reads a response's status line and header section and says how
// its body is delimited; length is the Content-Length for framingLength.
// The body is left unread.
func (h *httpConn) readHead() (resp response, fr framing, length int64, err error) {
	if h.timeout > 0 {
		h.conn.SetReadDeadline(time.Now().Add(h.timeout))
	}
	addr := h.conn.RemoteAddr()
	line, err := h.readLine()
	if err != nil {
		return resp, 0, 0, fmt.Errorf("read response from %s: %w", addr, err)
	}
	// status-line = HTTP-version SP status-code SP [ reason-phrase ]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return resp, 0, 0, fmt.Errorf("read response from %s: malformed status line %q", addr, truncate(line))
	}
	resp.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return resp, 0, 0, fmt.Errorf("read response from %s: malformed status line %q", addr, truncate(line))
	}
	resp.close = line[7] == '0' // HTTP/1.0 closes unless told otherwise; we never ask
	length, chunked := int64(-1), false
	for {
		line, err := h.readLine()
		if err != nil {
			return resp, 0, 0, fmt.Errorf("read response head from %s: %w", addr, err)
		}
		if len(line) == 0 {
			break
		}
		// field-line = field-name ":" OWS field-value OWS
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return resp, 0, 0, fmt.Errorf("read response head from %s: malformed field %q", addr, truncate(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case equalFold(name, "Content-Length"):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 {
				return resp, 0, 0, fmt.Errorf("read response head from %s: bad Content-Length %q", addr, value)
			}
		case equalFold(name, "Transfer-Encoding"):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case equalFold(name, "Connection"):
			if bytes.EqualFold(value, []byte("close")) {
				resp.close = true
			}
		case equalFold(name, "X-Backend"):
			resp.backend = string(value)
		}
	}
	// §6.3: no body for 1xx, 204 and 304; chunked wins over a length.
	switch {
	case resp.status/100 == 1 || resp.status == 204 || resp.status == 304:
		return resp, framingNone, 0, nil
	case chunked:
		return resp, framingChunked, 0, nil
	case length >= 0:
		return resp, framingLength, length, nil
	}
	resp.close = true
	return resp, framingClose, 0, nil
}

func (h *httpConn) collect(p []byte) error {
	if len(h.body)+len(p) > maxCollect {
		return fmt.Errorf("body over %d bytes", maxCollect)
	}
	h.body = append(h.body, p...)
	return nil
}

// readN passes n body bytes to sink, or everything until EOF when n < 0.
func (h *httpConn) readN(n int64, sink func([]byte) error) (int64, error) {
	var got int64
	for n < 0 || got < n {
		want := h.br.Size()
		if n >= 0 {
			want = int(min(int64(want), n-got))
		}
		p, err := h.br.Peek(want)
		if len(p) == 0 && err != nil {
			if n < 0 && errors.Is(err, io.EOF) {
				return got, nil
			}
			return got, err
		}
		if serr := sink(p); serr != nil {
			return got, serr
		}
		h.br.Discard(len(p))
		got += int64(len(p))
	}
	return got, nil
}

// readChunked reads a chunked body (RFC 9112 §7.1).
func (h *httpConn) readChunked(sink func([]byte) error) (int64, error) {
	var total int64
	for {
		size, err := h.readChunkSize()
		if err != nil || size == 0 {
			return total, err
		}
		n, err := h.readN(size, sink)
		total += n
		if err != nil {
			return total, err
		}
		if err := h.readChunkEnd(); err != nil {
			return total, err
		}
	}
}

// readChunkSize reads the line that starts a chunk (RFC 9112 §7.1:
// chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF) and returns the
// size. The last chunk has size 0; then the trailer section is read too,
// up to its empty line, and the body has ended.
func (h *httpConn) readChunkSize() (int64, error) {
	line, err := h.readLine()
	if err != nil {
		return 0, err
	}
	sizeField, _, _ := bytes.Cut(line, []byte(";"))
	size, err := strconv.ParseInt(string(bytes.TrimSpace(sizeField)), 16, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("bad chunk size %q", truncate(line))
	}
	if size > 0 {
		return size, nil
	}
	for { // trailer section, up to the empty line
		line, err := h.readLine()
		if err != nil {
			return 0, err
		}
		if len(line) == 0 {
			return 0, nil
		}
	}
}

// readChunkEnd reads the CRLF that ends a chunk's data.
func (h *httpConn) readChunkEnd() error {
	crlf, err := h.readLine()
	if err != nil {
		return err
	}
	if len(crlf) != 0 {
		return fmt.Errorf("chunk not followed by CRLF")
	}
	return nil
}

// readLine returns one line without its CRLF (or bare LF); the slice is
// valid until the next read.
func (h *httpConn) readLine() ([]byte, error) {
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("line over %d bytes", h.br.Size())
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, io.EOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (h *httpConn) Close() error { return h.conn.Close() }

// equalFold reports whether b equals the ASCII string s, ignoring case,
// without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
