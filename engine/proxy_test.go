//go:build linux

package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/l4lb/l4lb/affinity"
	proxyproto "github.com/pires/go-proxyproto"
)

// startRemoteAddrServer serves HTTP behind a go-proxyproto listener and
// answers each request with the client address it believes in.
func startRemoteAddrServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// USE: the header is optional, so "off" shows up as the balancer's
	// own address instead of a refused connection.
	pl := &proxyproto.Listener{Listener: ln, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
		return proxyproto.USE, nil
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	})}
	go srv.Serve(pl)
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + ln.Addr().String()
}

// remoteSeen sends request i on c and returns the client address the
// startRemoteAddrServer backend believed in.
func remoteSeen(t *testing.T, c net.Conn, br *bufio.Reader, i int) string {
	t.Helper()
	fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return string(got)
}

func TestProxyProtocol(t *testing.T) {
	backend := startRemoteAddrServer(t)
	for _, pp := range []affinity.ProxyProtocol{affinity.ProxyDefault, affinity.ProxyOff, affinity.ProxyV1, affinity.ProxyV2} {
		t.Run(pp.String(), func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, backend), ProxyProtocol: pp})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			// Two requests: the header goes once, at the start of the
			// backend connection, never again mid-stream.
			for i := 0; i < 2; i++ {
				got := remoteSeen(t, c, br, i)
				client := c.LocalAddr().String()
				if pp == affinity.ProxyDefault || pp == affinity.ProxyOff {
					if string(got) == client {
						t.Fatalf("backend saw the client address %s without PROXY", got)
					}
					continue
				}
				if string(got) != client {
					t.Fatalf("backend saw %s; want the client's %s", got, client)
				}
			}
		})
	}
}

// TestProxyProtocolPerBackend: a backend's own setting (from discovery)
// overrides Config.ProxyProtocol both ways; ProxyDefault defers to it.
func TestProxyProtocolPerBackend(t *testing.T) {
	for _, tc := range []struct {
		config, backend affinity.ProxyProtocol
		header          bool
	}{
		{affinity.ProxyOff, affinity.ProxyV2, true},
		{affinity.ProxyOff, affinity.ProxyV1, true},
		{affinity.ProxyDefault, affinity.ProxyV1, true},
		{affinity.ProxyV1, affinity.ProxyOff, false},
		{affinity.ProxyV2, affinity.ProxyDefault, true},
		{affinity.ProxyDefault, affinity.ProxyDefault, false},
	} {
		t.Run(tc.config.String()+"/"+tc.backend.String(), func(t *testing.T) {
			b := affinity.NewBalancer()
			if err := b.Update([]affinity.Backend{{Endpoint: startRemoteAddrServer(t), ProxyProtocol: tc.backend}}); err != nil {
				t.Fatal(err)
			}
			s := startServer(t, Config{Balancer: b, ProxyProtocol: tc.config})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			// Twice: with the header on, the backend connection is not
			// parked and reused without one.
			for i := 0; i < 2; i++ {
				got := remoteSeen(t, c, br, i)
				if saw := got == c.LocalAddr().String(); saw != tc.header {
					t.Fatalf("request %d: backend saw %s (client %s); want the client's address: %v", i, got, c.LocalAddr(), tc.header)
				}
			}
		})
	}
}

// ProxyV1 keeps reuse_test.go, which still names the constant engine used
// to define, compiling; remove it once that file says affinity.ProxyV1.
const ProxyV1 = affinity.ProxyV1
