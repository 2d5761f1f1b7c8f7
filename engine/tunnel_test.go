//go:build linux

package engine

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
)

func TestTunnelEcho(t *testing.T) {
	s := startServer(t, Config{Balancer: newBalancer(t, startEcho(t))})
	c := dial(t, s.Addrs()[0])
	msg := []byte("\x00\x01binary protocol, not HTTP")
	for i := 0; i < 3; i++ {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read echo %d: %v", i, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo %d = %q; want %q", i, got, msg)
		}
	}
	if st := s.Stats(); st.Tunnels != 1 || st.BackendConnects != 1 {
		t.Errorf("Stats() = %+v; want 1 tunnel, 1 backend connect", st)
	}
}

// TestFixedPortListener covers the per-loop SO_REUSEPORT sockets a fixed
// port gets (port 0 gets one shared socket).
func TestFixedPortListener(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close() // the port may be taken meanwhile; then Start fails and the test says so
	s := startServer(t, Config{Balancer: newBalancer(t, startEcho(t)), Listen: []string{addr}, Loops: 2})
	if got := len(s.listeners[0].fds); got != 2 {
		t.Fatalf("listening sockets for %s = %d; want one per loop (2)", addr, got)
	}
	if got := s.Addrs()[0].String(); got != addr {
		t.Fatalf("Addrs()[0] = %s; want %s", got, addr)
	}
	for i := 0; i < 20; i++ {
		c := dial(t, s.Addrs()[0])
		msg := []byte(fmt.Sprintf("\x00conn %d", i))
		c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d = %q, %v", i, got, err)
		}
	}
}
