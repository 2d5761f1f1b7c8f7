//go:build linux

package uringproto

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// backend is a real HTTP server (tools/echobackend) that reports its
// connections' closes.
type backend struct {
	name   string
	addr   string
	closed chan struct{} // one value per closed connection
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), closed: make(chan struct{}, 1024)}
	srv := &http.Server{Handler: echobackend.Handler(name), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			b.closed <- struct{}{}
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func startProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	if err := Available(); err != nil && !cfg.Epoll {
		t.Skipf("io_uring not available: %v", err)
	}
	cfg.Listen = "127.0.0.1:0"
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// client is one keep-alive client connection with a deadline on
// everything.
type client struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{c: c, br: bufio.NewReader(c)}
}

// get sends GET path on the connection and returns the answer's status,
// X-Backend and body.
func (cl *client) get(path string) (int, string, []byte, error) {
	if _, err := fmt.Fprintf(cl.c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		return 0, "", nil, fmt.Errorf("write GET %s to %s: %w", path, cl.c.RemoteAddr(), err)
	}
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		return 0, "", nil, fmt.Errorf("read answer to GET %s from %s: %w", path, cl.c.RemoteAddr(), err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, "", nil, fmt.Errorf("read body of GET %s from %s: %w", path, cl.c.RemoteAddr(), err)
	}
	if resp.Close {
		return 0, "", nil, fmt.Errorf("GET %s: the answer closes the connection", path)
	}
	return resp.StatusCode, resp.Header.Get(echobackend.HeaderName), body, nil
}

func TestKeepAliveForwardsEveryRequestOnOneConnection(t *testing.T) {
	bothEngines(t, testKeepAliveForwardsEveryRequestOnOneConnection)
}

func testKeepAliveForwardsEveryRequestOnOneConnection(t *testing.T, epoll bool) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	p := startProxy(t, Config{Epoll: epoll, Backends: []string{a.addr, b.addr}})
	seen := map[string]bool{}
	for range 2 {
		cl := dial(t, p.Addr())
		first := ""
		for i := range 50 {
			status, name, body, err := cl.get("/")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if status != 200 || string(body) != "backend "+name+"\n" {
				t.Fatalf("request %d: got %d %q from %q; want 200 \"backend %s\\n\"", i, status, body, name, name)
			}
			if first == "" {
				first = name
			} else if name != first {
				t.Fatalf("request %d answered by %s; the connection's backend is %s", i, name, first)
			}
		}
		seen[first] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("two connections went to %v; want a and b (round robin)", seen)
	}
	if st := p.Stats(); st.Accepted != 2 {
		t.Errorf("Stats().Accepted = %d; want 2", st.Accepted)
	}
}

// TestLargeAnswersThroughFewBuffers forwards answers many times the size
// of all the buffers together: the buffer ring runs dry (ENOBUFS), the
// receives are re-armed, and every byte still arrives in order.
func TestLargeAnswersThroughFewBuffers(t *testing.T) {
	bothEngines(t, testLargeAnswersThroughFewBuffers)
}

func testLargeAnswersThroughFewBuffers(t *testing.T, epoll bool) {
	a := startBackend(t, "a")
	p := startProxy(t, Config{Epoll: epoll, Backends: []string{a.addr}, BufSize: 4096, Bufs: 8})
	const n = 1 << 20
	want := make([]byte, n)
	echobackend.Pattern(want, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		cl := dial(t, p.Addr())
		wg.Go(func() {
			for i := range 3 {
				status, _, body, err := cl.get("/bytes?n=" + strconv.Itoa(n))
				if err != nil {
					errs <- err
					return
				}
				if status != 200 || !bytes.Equal(body, want) {
					errs <- fmt.Errorf("download %d: status %d, %d bytes, equal to the pattern: %v", i, status, len(body), bytes.Equal(body, want))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestManyConnectionsAtOnce(t *testing.T) { bothEngines(t, testManyConnectionsAtOnce) }

func testManyConnectionsAtOnce(t *testing.T, epoll bool) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	p := startProxy(t, Config{Epoll: epoll, Backends: []string{a.addr, b.addr, c.addr}})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		cl := dial(t, p.Addr())
		wg.Go(func() {
			for range 20 {
				status, name, body, err := cl.get("/")
				if err == nil && (status != 200 || string(body) != "backend "+name+"\n") {
					err = fmt.Errorf("got %d %q from %q", status, body, name)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); !epoll && st.Enters >= st.CQEs {
		t.Errorf("%d io_uring_enter calls for %d completions; want fewer calls than completions (batching)", st.Enters, st.CQEs)
	}
}

// TestClientCloseClosesBackend checks that a client's EOF ends its
// backend connection, and that a refused backend closes the client.
func TestClientCloseClosesBackend(t *testing.T) { bothEngines(t, testClientCloseClosesBackend) }

func testClientCloseClosesBackend(t *testing.T, epoll bool) {
	a := startBackend(t, "a")
	p := startProxy(t, Config{Epoll: epoll, Backends: []string{a.addr}})
	cl := dial(t, p.Addr())
	if _, _, _, err := cl.get("/"); err != nil {
		t.Fatal(err)
	}
	cl.c.Close()
	select {
	case <-a.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend connection is still open 10 s after the client closed")
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	q := startProxy(t, Config{Epoll: epoll, Backends: []string{refused}})
	cl = dial(t, q.Addr())
	if _, _, _, err := cl.get("/"); err == nil {
		t.Fatalf("GET / through a proxy whose backend %s refuses: got an answer; want the connection closed", refused)
	}
}

// TestShortConnectionsChurn opens and closes many connections at once,
// one request each with Connection: close, as connrate does: a
// connection's closing must never disturb another's (stale events or
// completions of a slot or descriptor that was reused).
func TestShortConnectionsChurn(t *testing.T) { bothEngines(t, testShortConnectionsChurn) }

func testShortConnectionsChurn(t *testing.T, epoll bool) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	p := startProxy(t, Config{Epoll: epoll, Backends: []string{a.addr, b.addr}})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for range 40 {
				c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
				var all []byte
				if err == nil {
					all, err = io.ReadAll(c)
				}
				c.Close()
				if err == nil && (!bytes.HasPrefix(all, []byte("HTTP/1.1 200 ")) || !bytes.Contains(all, []byte("\r\n\r\nbackend "))) {
					err = fmt.Errorf("answer %q; want 200 and the page", all)
				}
				if err != nil {
					errs <- fmt.Errorf("GET / with Connection: close through %s: %w", p.Addr(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// bothEngines runs test on io_uring and on its epoll control.
func bothEngines(t *testing.T, test func(t *testing.T, epoll bool)) {
	t.Run("uring", func(t *testing.T) { test(t, false) })
	t.Run("epoll", func(t *testing.T) { test(t, true) })
}
