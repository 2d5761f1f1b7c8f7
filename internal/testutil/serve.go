package testutil

import (
	"net"
	"testing"
)

// Serve listens on network and addr ("tcp", "127.0.0.1:0"; or "unix" and
// a path) and runs handle on each accepted connection in its own
// goroutine, closing the connection when handle returns. The listener is
// closed when the test ends; it is returned for its address.
func Serve(t testing.TB, network, addr string, handle func(c net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln
}
