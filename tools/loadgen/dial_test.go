package loadgen

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
	}{
		{"127.0.0.1:80", true},
		{"127.1.2.3:8080", true},
		{"[::1]:80", true},
		{"localhost:80", true},
		{"10.0.0.1:80", false},
		{"192.0.2.1:80", false},
		{"[2001:db8::1]:80", false},
		{"example.com:80", false},
		{"127.0.0.1", false},
		{"127.0.0.1:", false},
	}
	for _, tt := range tests {
		if err := checkLoopback(tt.target); (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v; want ok %v", tt.target, err, tt.ok)
		}
	}
}

// TestDialerSpreadsSources checks that consecutive connections leave from
// different 127.0.0.x addresses, as the server sees them.
func TestDialerSpreadsSources(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	d := newDialer(4, 5*time.Second)
	seen := map[netip.Addr]bool{}
	for range 8 {
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("DialContext(%s) error = %v", ln.Addr(), err)
		}
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		s, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept() error = %v", err)
		}
		src := s.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		seen[src] = true
		s.Close()
		c.Close()
	}
	if len(seen) != 4 {
		t.Errorf("8 dials over 4 sources came from %v; want 4 distinct addresses", seen)
	}
	for a := range seen {
		if !a.IsLoopback() || a == netip.MustParseAddr("127.0.0.1") {
			t.Errorf("source %v; want one of 127.0.0.2..5", a)
		}
	}
}
