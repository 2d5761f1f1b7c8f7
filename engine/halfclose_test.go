//go:build linux

package engine

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// startSink starts a TCP server that sends payload after reading the
// client's whole input (until FIN), then closes.
func startSink(t testing.TB, payload []byte) string {
	t.Helper()
	return startTCP(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write(payload)
	})
}

func TestHalfClose(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	t.Run("client shuts write, still gets the whole response", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, startSink(t, payload))})
		c := dial(t, s.Addrs()[0])
		c.Write([]byte("\x00request"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("ReadAll = %d bytes, %v; want %d bytes and EOF", len(got), err, len(payload))
		}
	})
	t.Run("backend closes first, client sees EOF", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 5)
			io.ReadFull(c, buf)
			c.Write([]byte("bye"))
			c.Close()
		}()
		s := startServer(t, Config{Balancer: newBalancer(t, "tcp://"+ln.Addr().String())})
		c := dial(t, s.Addrs()[0])
		c.Write([]byte("\x00helo"))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "bye" {
			t.Fatalf("ReadAll = %q, %v; want \"bye\" and EOF", got, err)
		}
		// The client may still write after the backend's FIN; the
		// balancer then closes its side rather than leaking it.
		if _, err := c.Write([]byte("late")); err == nil {
			buf := make([]byte, 1)
			if n, err := c.Read(buf); n != 0 || err == nil {
				t.Fatalf("Read after backend close = %d, %v; want 0 and an error", n, err)
			}
		}
	})
}
