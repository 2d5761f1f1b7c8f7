//go:build linux

package engine

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestProxyHeaderFailureFailsBackend: when the PROXY header for a backend
// that requires one cannot be built, that backend connection fails; the
// backend never gets the request without its header. The header cannot
// be built when the client is gone by the time the connect finishes
// (getpeername: ENOTCONN): the backend's name is looked up slowly here,
// and the client resets its connection meanwhile.
func TestProxyHeaderFailureFailsBackend(t *testing.T) {
	got := make(chan string, 4)
	ep := startTCP(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	port := ep[strings.LastIndexByte(ep, ':')+1:]
	asked, release := make(chan struct{}, 1), make(chan struct{})
	fakeLookup(t, func(host string) ([]netip.Addr, error) {
		asked <- struct{}{}
		<-release
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})
	s := startServer(t, Config{Balancer: newBalancer(t, "tcp://backend.test:"+port), ProxyProtocol: ProxyV1})
	c := dial(t, s.Addrs()[0])
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-asked:
	case <-time.After(testTimeout):
		t.Fatal("the backend's name was never looked up")
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // a reset: the client's socket has no peer any more
	close(release)

	deadline := time.Now().Add(testTimeout)
	for s.Stats().BackendFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no backend failure counted; stats %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case b := <-got:
		if b != "" {
			t.Fatalf("backend received %q without its PROXY header; want nothing", b)
		}
	case <-time.After(testTimeout):
		t.Fatal("the backend connection was never closed")
	}
	if st := s.Stats(); st.BackendConnects != 0 {
		t.Errorf("BackendConnects = %d; want 0 (the connection failed)", st.BackendConnects)
	}
}
