//go:build linux

package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
	"golang.org/x/sys/unix"
)

// TestPipelining sends several requests for different backends in one
// write: they are answered in order, each by its key's backend, and an
// invalid head after them gets its 400 only after the earlier responses.
func TestPipelining(t *testing.T) {
	var eps []string
	for _, n := range []string{"a", "b", "c"} {
		eps = append(eps, startHTTP(t, framingBackend(n)))
	}
	s := startServer(t, Config{Balancer: newBalancer(t, eps...), Sniff: sniff.Config{Cookies: []string{"route"}}})
	c := dial(t, s.Addrs()[0])
	var batch strings.Builder
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k1", "k2"}
	for i, k := range keys {
		fmt.Fprintf(&batch, "GET /%d HTTP/1.1\r\nHost: x\r\nCookie: route=%s\r\n\r\n", i, k)
	}
	batch.WriteString("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
	io.WriteString(c, batch.String())
	br := bufio.NewReader(c)
	backendOf := map[string]string{}
	for i, k := range keys {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		f := strings.Fields(string(body))
		if len(f) != 2 || f[1] != fmt.Sprintf("/%d", i) {
			t.Fatalf("response %d = %q; want the answer to /%d", i, body, i)
		}
		if prev, ok := backendOf[k]; ok && prev != f[0] {
			t.Fatalf("key %s served by %s and %s", k, prev, f[0])
		}
		backendOf[k] = f[0]
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("response to the invalid head = %v, %v; want 400", resp, err)
	}
	expectClosed(t, c, 5*time.Second)
}

// TestResetPropagation: a client that resets its connection makes the
// balancer reset the backend connection, not close it cleanly.
func TestResetPropagation(t *testing.T) {
	got := make(chan error, 1)
	backend := startPeerServer(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				got <- err
				return
			}
		}
	})
	s := startServer(t, Config{Balancer: newBalancer(t, backend)})
	c := dial(t, s.Addrs()[0])
	io.WriteString(c, "\x00hello")
	time.Sleep(100 * time.Millisecond) // let the tunnel reach the backend; no signal crosses it
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	select {
	case err := <-got:
		if !errors.Is(err, unix.ECONNRESET) {
			t.Fatalf("backend read error = %v; want connection reset", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("backend saw nothing")
	}
}

// blackhole returns an endpoint whose SYNs are never answered: a listener
// with a full accept queue that nobody accepts from.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	// Fill the queue; later SYNs are dropped.
	for i := 0; i < 4; i++ {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return "tcp://" + addr
}

func TestConnectTimeout(t *testing.T) {
	s := startServer(t, Config{Balancer: newBalancer(t, blackhole(t)), ConnectTimeout: 300 * time.Millisecond})
	c := dial(t, s.Addrs()[0])
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readStatus(t, c); got != 504 {
		t.Fatalf("status = %d; want 504", got)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("504 after %v; want it after the 300ms connect timeout", d)
	}
	if st := s.Stats(); st.Status504 != 1 {
		t.Errorf("Stats().Status504 = %d; want 1", st.Status504)
	}
}

func TestIdleTimeout(t *testing.T) {
	s := startServer(t, Config{Balancer: newBalancer(t, startEcho(t)), IdleTimeout: time.Second})
	c := dial(t, s.Addrs()[0])
	msg := []byte("\x00ping")
	// Activity keeps the tunnel open past the timeout...
	start := time.Now()
	for i := 0; i < 8; i++ {
		time.Sleep(250 * time.Millisecond)
		if gap := time.Since(start); gap > 700*time.Millisecond {
			// The test itself was descheduled for most of the timeout
			// (a loaded machine): the tunnel may rightly be gone.
			t.Skipf("test stalled %v between two echoes; cannot check a 1s idle timeout", gap)
		}
		c.Write(msg)
		if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		start = time.Now()
	}
	// ...silence closes it.
	expectClosed(t, c, 5*time.Second)
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("closed after %v of silence; want about 1s", d)
	}
	if st := s.Stats(); st.IdleTimeouts != 1 {
		t.Errorf("Stats().IdleTimeouts = %d; want 1", st.IdleTimeouts)
	}
}

// TestBackendClosesIdleKeepAlive: a backend that closes (or resets) its
// idle keep-alive connection does not cost the client its connection; the
// next request connects again.
func TestBackendClosesIdleKeepAlive(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			backend := startPeerServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := readHead(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				if reset {
					c.(*net.TCPConn).SetLinger(0)
				}
				c.Close()
			})
			s := startServer(t, Config{Balancer: newBalancer(t, backend)})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			for i := 0; i < 3; i++ {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				if string(body) != "ok" {
					t.Fatalf("request %d body = %q; want ok", i, body)
				}
				time.Sleep(200 * time.Millisecond) // let the backend's close arrive before the next request
			}
			if st := s.Stats(); st.BackendConnects != 3 {
				t.Errorf("BackendConnects = %d; want 3 (one per request)", st.BackendConnects)
			}
		})
	}
}

// TestBackendRemoved: after Balancer.Update drops the backend a keep-alive
// connection uses, its next request goes to a backend of the new set.
func TestBackendRemoved(t *testing.T) {
	a, b := startHTTP(t, framingBackend("a")), startHTTP(t, framingBackend("b"))
	bal := newBalancer(t, a)
	s := startServer(t, Config{Balancer: bal})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	get := func() string {
		t.Helper()
		io.WriteString(c, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Header.Get("X-Backend")
	}
	if got := get(); got != "a" {
		t.Fatalf("first request served by %s; want a", got)
	}
	if err := bal.Update([]affinity.Backend{{Endpoint: b}}); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "b" {
		t.Fatalf("request after removing a served by %s; want b", got)
	}
}
