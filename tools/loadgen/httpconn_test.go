package loadgen

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// cannedConn returns a client connection to a server that answers the
// first bytes it reads with raw and then closes.
func cannedConn(t *testing.T, raw string) *httpConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		s.Read(buf)
		s.Write([]byte(raw))
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return newHTTPConn(c, 5*time.Second)
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		status    int
		body      string
		backend   string
		wantClose bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nX-Backend: a\r\nContent-Length: 2\r\n\r\no\n", 200, "o\n", "a", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-backend:  b \r\n\r\n3;ext=1\r\na[\"\r\n4\r\nx\"]\n\r\n0\r\nTrailer: t\r\n\r\n", 200, "a[\"x\"]\n", "b", false},
		{"no content", "HTTP/1.1 204 No Content\r\nX-Backend: c\r\n\r\n", 204, "", "c", false},
		{"close delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof", 200, "until eof", "", true},
		{"http/1.0", "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, "", "", true},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 1\n\nh", 200, "h", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := cannedConn(t, tt.raw)
			if err := hc.write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
				t.Fatalf("write: %v", err)
			}
			resp, err := hc.readResponse(nil)
			if err != nil {
				t.Fatalf("readResponse(%q) error = %v", tt.raw, err)
			}
			if resp.status != tt.status || string(resp.body) != tt.body || resp.backend != tt.backend || resp.close != tt.wantClose {
				t.Errorf("readResponse(%q) = status %d body %q backend %q close %v; want %d %q %q %v",
					tt.raw, resp.status, resp.body, resp.backend, resp.close, tt.status, tt.body, tt.backend, tt.wantClose)
			}
		})
	}
}

func TestReadResponseErrors(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n"},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"field without colon", "HTTP/1.1 200 OK\r\nBroken\r\n\r\n"},
		{"eof in head", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := cannedConn(t, tt.raw)
			if err := hc.write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
				t.Fatalf("write: %v", err)
			}
			if resp, err := hc.readResponse(nil); err == nil {
				t.Errorf("readResponse(%q) = %+v, nil; want an error", tt.raw, resp)
			}
		})
	}
}

// FuzzReadResponse compares readResponse with net/http.ReadResponse as the
// oracle: when both accept a response, they must agree on its status and
// body.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nX-Backend: a\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody until close",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, s := net.Pipe()
		defer c.Close()
		go func() {
			s.Write(in)
			s.Close()
		}()
		hc := newHTTPConn(c, 5*time.Second)
		got, err := hc.readResponse(nil)
		if err != nil {
			return
		}
		want, werr := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: "GET"})
		if werr != nil {
			return
		}
		body, berr := io.ReadAll(want.Body)
		if berr != nil {
			return
		}
		if got.status != want.StatusCode || !bytes.Equal(got.body, body) {
			t.Fatalf("readResponse(%q) = %d %q; net/http reads %d %q", in, got.status, got.body, want.StatusCode, body)
		}
	})
}
