//go:build linux

package engine

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAccept4 checks the peer addresses accept4 decodes itself, for IPv4
// and IPv6 clients.
func TestAccept4(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "tcp6" {
				addr = "[::1]:0"
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Skipf("listen %s: %v", addr, err)
			}
			defer ln.Close()
			f, err := ln.(*net.TCPListener).File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c := dial(t, ln.Addr())
			fd, peer, err := accept4(int(f.Fd()))
			if err != nil {
				t.Fatalf("accept4: %v", err)
			}
			defer unix.Close(fd)
			if got, want := sockaddrToAddr(peer).String(), c.LocalAddr().String(); got != want {
				t.Fatalf("accept4 peer = %s; want the client's %s", got, want)
			}
		})
	}
}
