//go:build linux

package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
)

// fakeLookup replaces the resolver for one test: each lookup of a name
// calls answer, which may block.
func fakeLookup(t *testing.T, answer func(host string) ([]netip.Addr, error)) *atomic.Int64 {
	t.Helper()
	var calls atomic.Int64
	old := lookupIP
	lookupIP = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		calls.Add(1)
		return answer(host)
	}
	t.Cleanup(func() { lookupIP = old })
	return &calls
}

// startNamedHTTP serves HTTP on ip:port answering name.
func startNamedHTTP(t *testing.T, addr, name string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

// getVia sends one request with a sticky cookie on a new connection and
// returns the status and body.
func getVia(t *testing.T, s *Server, cookie string) string {
	t.Helper()
	got, err := get(s.Addrs()[0], cookie)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// get is getVia for any goroutine.
func get(addr net.Addr, cookie string) (string, error) {
	c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	// Connection: close, so that no backend connection is parked and
	// reused: each request dials its backend.
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nCookie: sticky=%s\r\nConnection: close\r\n\r\n", cookie)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", fmt.Errorf("response (cookie %s): %w", cookie, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b), nil
}

// keyFor finds a sticky cookie value that the balancer maps to endpoint.
func keyFor(t *testing.T, b *affinity.Balancer, endpoint string) string {
	t.Helper()
	for i := 0; i < 10000; i++ {
		k := fmt.Sprintf("k%d", i)
		if b.Snapshot().Lookup(affinity.HashKey([]byte(k))).Backend().Endpoint == endpoint {
			return k
		}
	}
	t.Fatalf("no key maps to %s", endpoint)
	return ""
}

// TestResolveOffLoop: while a backend's name is being looked up (the
// lookup blocks), the loop goes on serving other connections, and the
// waiting connection is served once the answer comes.
func TestResolveOffLoop(t *testing.T) {
	release := make(chan struct{})
	named := startNamedHTTP(t, "127.0.0.1:0", "named")
	fakeLookup(t, func(host string) ([]netip.Addr, error) {
		<-release
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})
	_, port, _ := net.SplitHostPort(named.Addr().String())
	slow := "tcp://slow.test:" + port
	literal := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "literal") }))
	b := newBalancer(t, slow, literal)
	s := startServer(t, Config{Balancer: b, Loops: 1, Sniff: testSniff})

	waiting := make(chan string, 1)
	slowKey := keyFor(t, b, slow)
	go func() {
		got, err := get(s.Addrs()[0], slowKey)
		if err != nil {
			got = err.Error()
		}
		waiting <- got
	}()
	// The one loop serves another backend meanwhile.
	if got := getVia(t, s, keyFor(t, b, literal)); got != "200 literal" {
		t.Fatalf("while a lookup blocks: %q; want 200 literal", got)
	}
	select {
	case got := <-waiting:
		t.Fatalf("the connection to the name being looked up answered %q before the lookup did", got)
	default:
	}
	close(release)
	select {
	case got := <-waiting:
		if got != "200 named" {
			t.Fatalf("after the lookup: %q; want 200 named", got)
		}
	case <-time.After(testTimeout):
		t.Fatal("the waiting connection was not served after the lookup")
	}
}

// TestResolveFailure: a name that does not resolve fails its candidate,
// and the next one serves the request; a single such backend gives 502.
func TestResolveFailure(t *testing.T) {
	calls := fakeLookup(t, func(host string) ([]netip.Addr, error) {
		return nil, errors.New("no such host")
	})
	literal := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "literal") }))
	b := newBalancer(t, "tcp://nowhere.test:80", literal)
	s := startServer(t, Config{Balancer: b, Loops: 1, Sniff: testSniff})
	if got := getVia(t, s, keyFor(t, b, "tcp://nowhere.test:80")); got != "200 literal" {
		t.Fatalf("keyed to an unresolvable backend: %q; want the next candidate's 200 literal", got)
	}
	if calls.Load() == 0 {
		t.Fatal("no lookup was made")
	}

	only := startServer(t, Config{Balancer: newBalancer(t, "tcp://nowhere.test:80"), Loops: 1})
	c := dial(t, only.Addrs()[0])
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("only an unresolvable backend: %v, %v; want 502", resp, err)
	}
}

// TestResolveRefresh: after dnsTTL a name is looked up again in the
// background while its last address stays in use; new connections then
// follow the new address.
func TestResolveRefresh(t *testing.T) {
	first := startNamedHTTP(t, "127.0.0.1:0", "first")
	_, port, _ := net.SplitHostPort(first.Addr().String())
	startNamedHTTP(t, "127.0.0.2:"+port, "second") // skips the test if 127.0.0.2 is not usable
	var answer atomic.Value
	answer.Store("127.0.0.1")
	fakeLookup(t, func(host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr(answer.Load().(string))}, nil
	})
	oldTTL := dnsTTL
	dnsTTL = 1 // every use after the first lookup starts a refresh
	t.Cleanup(func() { dnsTTL = oldTTL })

	s := startServer(t, Config{Balancer: newBalancer(t, "tcp://moving.test:"+port), Loops: 1, Sniff: testSniff})
	if got := getVia(t, s, "a"); got != "200 first" {
		t.Fatalf("first request: %q; want 200 first", got)
	}
	answer.Store("127.0.0.2")
	deadline := time.Now().Add(testTimeout)
	for {
		got := getVia(t, s, "a")
		if got == "200 second" {
			break
		}
		if got != "200 first" || time.Now().After(deadline) {
			t.Fatalf("after the name moved: %q; want 200 first until a refresh, then 200 second", got)
		}
	}
}

// testSniff routes by the "sticky" cookie.
var testSniff = sniff.Config{Cookies: []string{"sticky"}}
