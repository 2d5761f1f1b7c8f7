package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

// readStream reads the response in raw with readHead and then every line
// of its body with a streamBody, as the xhr-streaming scenario does.
func readStream(hc *httpConn) ([]string, error) {
	if err := hc.write([]byte("POST /s/1/x/xhr_streaming HTTP/1.1\r\n\r\n")); err != nil {
		return nil, err
	}
	_, fr, length, err := hc.readHead()
	if err != nil {
		return nil, err
	}
	b := newStreamBody(hc, fr, length)
	var lines []string
	for {
		line, err := b.readLine()
		if errors.Is(err, io.EOF) {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
		lines = append(lines, string(line))
	}
}

func TestStreamBody(t *testing.T) {
	const prelude = "hhhh\n"
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"chunk per frame", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n" + prelude + "\r\n2\r\no\n\r\n7\r\na[\"x\"]\n\r\n0\r\n\r\n",
			[]string{"hhhh", "o", `a["x"]`}},
		{"frames split across chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhhh\r\n5;ext\r\nh\no\na\r\n5\r\n[\"x\"]\r\n1\r\n\n\r\n0\r\nTrailer: t\r\n\r\n",
			[]string{"hhhh", "o", `a["x"]`}},
		{"several frames in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nh\no\n\r\n0\r\n\r\n",
			[]string{"h", "o"}},
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhhhh\no\nextra", []string{"hhhh", "o"}},
		{"until close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nh\no\n", []string{"h", "o"}},
		{"empty chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", nil},
		{"no body", "HTTP/1.1 204 No Content\r\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readStream(cannedConn(t, tt.raw))
			if err != nil {
				t.Fatalf("readLine over %q: error %v after %q", tt.raw, err, got)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("readLine over %q = %q; want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestStreamBodyErrors(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"ends inside a line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhh\r\n0\r\n\r\n"},
		{"length ends inside a line", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhhh"},
		{"closed inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nhh\n"},
		{"closed before the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nh\n\r\n"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\nh\n\r\n0\r\n\r\n"},
		{"no CRLF after chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nh\nXX0\r\n\r\n"},
		{"close-delimited, cut", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nh\no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := readStream(cannedConn(t, tt.raw)); err == nil {
				t.Errorf("readLine over %q = %q, no error; want an error", tt.raw, got)
			}
		})
	}
}

// FuzzStreamBody reads chunked bodies with streamBody and with net/http's
// chunked reader as the oracle: when both accept a body, streamBody's lines
// must be the oracle's bytes split at "\n".
func FuzzStreamBody(f *testing.F) {
	for _, s := range []string{
		"5\r\nhhhh\n\r\n2\r\no\n\r\n0\r\n\r\n",
		"3\r\nhhh\r\n5;ext\r\nh\no\na\r\n5\r\n[\"x\"]\r\n1\r\n\n\r\n0\r\nTrailer: t\r\n\r\n",
		"4\r\nh\no\n\r\n0\r\n\r\n",
		"0\r\n\r\n",
		"2\r\nhh\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, s := net.Pipe()
		defer c.Close()
		go func() {
			s.Write(append([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), in...))
			s.Close()
		}()
		hc := &httpConn{conn: c, br: bufio.NewReaderSize(c, 16<<10), timeout: 5 * time.Second}
		_, fr, length, err := hc.readHead()
		if err != nil {
			t.Fatalf("readHead() error = %v", err)
		}
		b := newStreamBody(hc, fr, length)
		var got []byte
		for {
			line, err := b.readLine()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
			got = append(append(got, line...), '\n')
		}
		want, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("streamBody lines over %q = %q; net/http reads %q", in, got, want)
		}
	})
}
