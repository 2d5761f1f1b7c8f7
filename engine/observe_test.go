//go:build linux

package engine

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// countRecorder counts records; it keeps nothing of them.
type countRecorder struct{ n atomic.Int64 }

func (r *countRecorder) RecordExchange(e *Exchange) { r.n.Add(1) }

// TestBackendStats counts requests and open tunnels per backend, and one
// record per exchange.
func TestBackendStats(t *testing.T) {
	plain := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	rec := &countRecorder{}
	s := startServer(t, Config{Balancer: newBalancer(t, plain), BackendStats: true, Exchanges: rec})
	c := dial(t, s.Addrs()[0])
	buf := make([]byte, 512)
	for range 5 {
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	// A tunnel of bytes that are not HTTP, held open.
	echo := startEcho(t)
	s2 := startServer(t, Config{Balancer: newBalancer(t, echo), BackendStats: true})
	tc := dial(t, s2.Addrs()[0])
	tc.Write([]byte("\x00hi"))
	if _, err := io.ReadFull(tc, buf[:3]); err != nil {
		t.Fatal(err)
	}
	if st := s.BackendStats(); len(st) != 1 || st[0].Endpoint != plain || st[0].Requests != 5 || st[0].Duration.Count() != 5 || st[0].FirstByte.Count() != 5 {
		t.Errorf("BackendStats() = %+v; want 5 requests, each timed, on %s", st, plain)
	}
	if n := rec.n.Load(); n != 5 {
		t.Errorf("recorded %d exchanges; want 5", n)
	}
	if st := s2.BackendStats(); len(st) != 1 || st[0].Tunnels != 1 || st[0].Requests != 1 || st[0].Connect.Count() != 1 {
		t.Errorf("BackendStats() = %+v; want one open tunnel, counted as a request, one connect timed", st)
	}
	// The tunnel gave its observation back when it started (only
	// counting); closing it still uncounts it.
	tc.Close()
	deadline := time.Now().Add(testTimeout)
	for s2.BackendStats()[0].Tunnels != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the closed tunnel is still counted open: %+v", s2.BackendStats())
		}
		time.Sleep(10 * time.Millisecond) // the engine closes it on its own loop; nothing signals it
	}
}
