//go:build linux

package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	proxyproto "github.com/pires/go-proxyproto"
)

// TestAcceptProxy: behind a front that sends PROXY headers, the backend
// sees the address the header gives, in X-Forwarded-For and in the PROXY
// header l4lb sends, and never the inbound header itself.
func TestAcceptProxy(t *testing.T) {
	client := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	front := &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 443}
	v2, err := (&proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
		SourceAddr: client, DestinationAddr: front}).Format()
	if err != nil {
		t.Fatal(err)
	}
	v1 := fmt.Sprintf("PROXY TCP4 %s %s %d %d\r\n", client.IP, front.IP, client.Port, front.Port)

	t.Run("forwarded-for", func(t *testing.T) {
		backend := startHTTP(t, xffBackend("a"))
		s := startServer(t, Config{Balancer: newBalancer(t, backend), AcceptProxy: true, ForwardedFor: true})
		for _, hdr := range []string{v1, string(v2)} {
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			// The header in its own segment, then the request.
			io.WriteString(c, hdr)
			rep := xffDo(t, c, br, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
			if len(rep.XFF) != 1 || rep.XFF[0] != "192.0.2.7" {
				t.Fatalf("X-Forwarded-For = %q; want the PROXY header's 192.0.2.7", rep.XFF)
			}
			// The next request on the connection: the same client.
			if rep := xffDo(t, c, br, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"); len(rep.XFF) != 1 || rep.XFF[0] != "192.0.2.7" {
				t.Fatalf("second request: X-Forwarded-For = %q", rep.XFF)
			}
		}
	})

	t.Run("proxy-protocol out", func(t *testing.T) {
		backend := startRemoteAddrServer(t)
		s := startServer(t, Config{Balancer: newBalancer(t, backend), AcceptProxy: true, ProxyProtocol: affinity.ProxyV2})
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, v1+"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if string(got) != "192.0.2.7:40000" {
			t.Fatalf("backend saw %s; want the inbound header's 192.0.2.7:40000", got)
		}
	})

	t.Run("local", func(t *testing.T) {
		// A LOCAL header (the front's health check) names no client:
		// the socket's peer stands.
		local, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
		if err != nil {
			t.Fatal(err)
		}
		backend := startHTTP(t, xffBackend("a"))
		s := startServer(t, Config{Balancer: newBalancer(t, backend), AcceptProxy: true, ForwardedFor: true})
		c := dial(t, s.Addrs()[0])
		c.Write(local)
		rep := xffDo(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if len(rep.XFF) != 1 || rep.XFF[0] != clientIP(c) {
			t.Fatalf("X-Forwarded-For = %q; want the peer's %s", rep.XFF, clientIP(c))
		}
	})

	t.Run("missing", func(t *testing.T) {
		backend := startHTTP(t, xffBackend("a"))
		s := startServer(t, Config{Balancer: newBalancer(t, backend), AcceptProxy: true})
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(testTimeout))
		n, err := c.Read(make([]byte, 64))
		if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("request without a PROXY header: read %d bytes, %v; want the connection closed", n, err)
		}
		if got := s.Stats().ProxyInvalid; got != 1 {
			t.Fatalf("Stats().ProxyInvalid = %d; want 1", got)
		}
		if got := s.Stats().BackendConnects; got != 0 {
			t.Fatalf("Stats().BackendConnects = %d; want 0", got)
		}
	})
}

// TestAcceptProxyFrom: with the front's network listed, a peer outside it
// is a direct client (its own address stands, no header expected), and one
// inside must send the header.
func TestAcceptProxyFrom(t *testing.T) {
	backend := startHTTP(t, xffBackend("a"))
	for _, tc := range []struct {
		name, from string
		trusted    bool
	}{
		{"peer inside", "127.0.0.0/8", true},
		{"peer outside", "192.0.2.0/24", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, backend), AcceptProxy: true, ForwardedFor: true,
				AcceptProxyFrom: []netip.Prefix{netip.MustParsePrefix(tc.from)}})
			c := dial(t, s.Addrs()[0])
			want := clientIP(c)
			if tc.trusted {
				io.WriteString(c, "PROXY TCP4 203.0.113.9 127.0.0.1 1234 80\r\n")
				want = "203.0.113.9"
			}
			rep := xffDo(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if len(rep.XFF) != 1 || rep.XFF[0] != want {
				t.Fatalf("X-Forwarded-For = %q; want %s", rep.XFF, want)
			}
		})
	}
}
