//go:build linux

package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// skipWithoutIPv6 skips t on a host without an IPv6 loopback.
func skipWithoutIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// freePort returns a TCP port that nothing listened on, on either
// family, a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0") // dual-stack
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// headThrough sends one request to the balancer at addr, after pre, and
// returns the bytes the backend received for it (heads is the
// startHeadRecorder channel) and the client's port.
func headThrough(t *testing.T, addr, pre string, heads <-chan string) (head string, cport int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	io.WriteString(c, pre+"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("via %s: %v", addr, err)
	}
	resp.Body.Close()
	return recvHead(t, heads), c.LocalAddr().(*net.TCPAddr).Port
}

// TestListenDualStack: an empty host and [::] accept IPv4 and IPv6
// clients on one socket, both with port 0 (one shared socket) and with a
// fixed port (one SO_REUSEPORT socket per loop); 0.0.0.0 and [::1] accept
// their own family only. An IPv4 client of a dual-stack socket reaches the
// backend as IPv4, in X-Forwarded-For and in the PROXY header.
func TestListenDualStack(t *testing.T) {
	skipWithoutIPv6(t)
	for _, tc := range []struct {
		name      string
		listen    string // %d: a free port
		v4, v6    bool   // accepts IPv4 and IPv6 clients
		fixedPort bool
	}{
		{name: "empty host port 0", listen: ":0", v4: true, v6: true},
		{name: "empty host fixed port", listen: ":%d", v4: true, v6: true, fixedPort: true},
		{name: "[::] port 0", listen: "[::]:0", v4: true, v6: true},
		{name: "[::] fixed port", listen: "[::]:%d", v4: true, v6: true, fixedPort: true},
		{name: "0.0.0.0", listen: "0.0.0.0:0", v4: true},
		{name: "0.0.0.0 fixed port", listen: "0.0.0.0:%d", v4: true, fixedPort: true},
		{name: "[::1]", listen: "[::1]:0", v6: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.listen
			if tc.fixedPort {
				spec = fmt.Sprintf(spec, freePort(t))
			}
			backend, heads := startHeadRecorder(t)
			s := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{spec},
				Loops: 2, ProxyProtocol: ProxyV1, ForwardedFor: true})
			port := s.Addrs()[0].(*net.TCPAddr).Port
			for _, client := range []struct {
				ip, proto string
				accepts   bool
			}{
				{"127.0.0.1", "TCP4", tc.v4},
				{"::1", "TCP6", tc.v6},
			} {
				addr := net.JoinHostPort(client.ip, strconv.Itoa(port))
				if !client.accepts {
					if c, err := net.DialTimeout("tcp", addr, testTimeout); err == nil {
						c.Close()
						t.Errorf("Listen %s: dial %s succeeded; want refused", spec, addr)
					}
					continue
				}
				// Several connections, so that with a fixed port each
				// loop's socket is likely to get some.
				for i := 0; i < 4; i++ {
					got, cport := headThrough(t, addr, "", heads)
					want := fmt.Sprintf("PROXY %s %s %s %d %d\r\nGET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n\r\n",
						client.proto, client.ip, client.ip, cport, port, client.ip)
					if got != want {
						t.Fatalf("Listen %s, client %s: backend got %q; want %q", spec, addr, got, want)
					}
				}
			}
		})
	}
}

// TestListenDualStackTrustedFront: Config.AcceptProxyFrom sees an IPv4
// client of a dual-stack listener as IPv4: 127.0.0.0/8 trusts it (its
// PROXY header names the client), and not the IPv6 loopback.
func TestListenDualStackTrustedFront(t *testing.T) {
	skipWithoutIPv6(t)
	backend, heads := startHeadRecorder(t)
	s := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{":0"}, ForwardedFor: true,
		AcceptProxy: true, AcceptProxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	port := strconv.Itoa(s.Addrs()[0].(*net.TCPAddr).Port)
	for _, tc := range []struct{ client, pre, xff string }{
		{"127.0.0.1", "PROXY TCP4 203.0.113.9 127.0.0.1 1234 80\r\n", "203.0.113.9"},
		{"::1", "", "::1"},
	} {
		got, _ := headThrough(t, net.JoinHostPort(tc.client, port), tc.pre, heads)
		if want := "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + tc.xff + "\r\n\r\n"; got != want {
			t.Errorf("client %s: backend got %q; want %q", tc.client, got, want)
		}
	}
}

// TestUnixListenerTakeover: a process that starts on the UNIX path of one
// still running takes the path over, and the old one, shutting down, leaves
// the new one's socket file alone; the last one out removes it.
func TestUnixListenerTakeover(t *testing.T) {
	backend := startHTTP(t, named("b"))
	path := filepath.Join(t.TempDir(), "l4lb.sock")
	old := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{path}})
	cur := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{path}})
	shutdown := func(s *Server) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	}
	shutdown(old)
	c, err := net.DialTimeout("unix", path, testTimeout)
	if err != nil {
		t.Fatalf("after the old server's Shutdown: dial %s: %v; want the new server", path, err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("via %s: %v", path, err)
	}
	resp.Body.Close()
	c.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("via %s: %s; want 200", path, resp.Status)
	}
	shutdown(cur)
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the last Shutdown: Lstat(%s) = %v; want not exist", path, err)
	}
}
