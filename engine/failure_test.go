//go:build linux

package engine

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// refusingEndpoint returns a loopback endpoint nobody listens on.
func refusingEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp://" + addr
}

// readStatus reads one response from c and returns its status code.
func readStatus(t *testing.T, c net.Conn) int {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// expectClosed reads until EOF and fails if it does not come in time. It
// returns what was read.
func expectClosed(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	var b strings.Builder
	if _, err := io.Copy(&b, c); err != nil && !isReset(err) {
		t.Fatalf("waiting for close: %v", err)
	}
	return b.String()
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

func TestFailures(t *testing.T) {
	good := startHTTP(t, named("good"))
	tests := []struct {
		name      string
		backends  []string
		request   string
		want      int
		wantStats func(Stats) int64
	}{
		{"refusing backend skipped", []string{refusingEndpoint(t), refusingEndpoint(t), good},
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, nil},
		{"all refusing", []string{refusingEndpoint(t), refusingEndpoint(t)},
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 502, func(s Stats) int64 { return s.Status502 }},
		{"no backends", nil,
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 503, func(s Stats) int64 { return s.Status503 }},
		{"head over the limit", []string{good},
			"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", 431,
			func(s Stats) int64 { return s.Status431 }},
		{"smuggling: length and chunked", []string{good},
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
			func(s Stats) int64 { return s.Status400 }},
		{"smuggling: duplicate lengths", []string{good},
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
			func(s Stats) int64 { return s.Status400 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, tt.backends...)})
			// Refusing candidates are tried in an order affinity picks;
			// several connections make sure the good one is not first.
			for i := 0; i < 5; i++ {
				c := dial(t, s.Addrs()[0])
				io.WriteString(c, tt.request)
				if got := readStatus(t, c); got != tt.want {
					t.Fatalf("status = %d; want %d", got, tt.want)
				}
				if tt.want != 200 {
					expectClosed(t, c, 5*time.Second)
				}
			}
			if tt.wantStats != nil {
				if got := tt.wantStats(s.Stats()); got != 5 {
					t.Errorf("engine-answered count = %d; want 5 (%+v)", got, s.Stats())
				}
			}
		})
	}
}

func TestHeaderTimeout(t *testing.T) {
	s := startServer(t, Config{
		Balancer:      newBalancer(t, startEcho(t)),
		HeaderTimeout: 300 * time.Millisecond,
	})
	t.Run("half a head is closed", func(t *testing.T) {
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		start := time.Now()
		got := expectClosed(t, c, 5*time.Second)
		if d := time.Since(start); d < 200*time.Millisecond || got != "" {
			t.Errorf("closed after %v with %q; want silence, then close after the 300ms header timeout", d, got)
		}
	})
	t.Run("idle tunnel outlives it", func(t *testing.T) {
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "\x00tunnel")
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(900 * time.Millisecond) // three header timeouts of silence
		io.WriteString(c, "\x00again")
		if _, err := io.ReadFull(c, buf[:6]); err != nil || string(buf[:6]) != "\x00again" {
			t.Fatalf("echo after idle = %q, %v; want \\x00again", buf[:6], err)
		}
	})
	if got := s.Stats().HeaderTimeouts; got != 1 {
		t.Errorf("HeaderTimeouts = %d; want 1", got)
	}
}
