package engine

import (
	"bytes"
	"io"
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
