//go:build linux

package engine

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
)

// testTimeout bounds every network wait in the tests.
const testTimeout = 20 * time.Second

// startEcho starts a TCP server that echoes every byte and shuts its write
// side when the client does. It returns the "tcp://" endpoint.
func startEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveEcho(ln)
	return "tcp://" + ln.Addr().String()
}

// startTCP starts a loopback TCP server that runs handle on each accepted
// connection in its own goroutine and closes the connection when handle
// returns. It returns the "tcp://" endpoint.
func startTCP(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	return "tcp://" + testutil.Serve(t, "tcp", "127.0.0.1:0", handle).Addr().String()
}

func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			echoPlain(c, c)
			if tc, ok := c.(interface{ CloseWrite() error }); ok {
				tc.CloseWrite()
			}
		}()
	}
}

// startHTTP serves h on a fresh loopback port and returns the endpoint.
func startHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + ln.Addr().String()
}

func newBalancer(t testing.TB, endpoints ...string) *affinity.Balancer {
	t.Helper()
	b := affinity.NewBalancer()
	var bs []affinity.Backend
	for _, e := range endpoints {
		bs = append(bs, affinity.Backend{Endpoint: e})
	}
	if err := b.Update(bs); err != nil {
		t.Fatalf("Balancer.Update(%v) = %v", endpoints, err)
	}
	return b
}

// startServer starts a balancer on 127.0.0.1:0 (unless cfg.Listen is set)
// and shuts it down when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start = %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func dial(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), testTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// echoPlain copies r to w through a small buffer. io.Copy between TCP
// connections would splice through a pipe of two fds per connection, which
// the idle-scale test's own process cannot afford.
func echoPlain(w io.Writer, r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
