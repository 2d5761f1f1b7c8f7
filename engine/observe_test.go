//go:build linux

package engine

import (
	"io"
	"testing"
)

// countRecorder counts records; it keeps nothing of them.
type countRecorder struct{ n int }

func (r *countRecorder) RecordExchange(e *Exchange) { r.n++ }

// TestAllocsObserved proves that observing exchanges allocates nothing in
// the steady state either: with per-backend counters and a recorder on, a
// keep-alive request and a tunnel round trip allocate nothing.
func TestAllocsObserved(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	t.Run("keep-alive request", func(t *testing.T) {
		resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
		rec := &countRecorder{}
		s := startServer(t, Config{Balancer: newBalancer(t, startFixedHTTP(t, resp), startFixedHTTP(t, resp)),
			BackendStats: true, Exchanges: rec, Loops: 1})
		c := dial(t, s.Addrs()[0])
		req := []byte("POST /sockjs/000/abcdefgh/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]")
		buf := make([]byte, len(resp))
		exchange := func() {
			c.Write(req)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
		}
		exchange()
		if n := testing.AllocsPerRun(200, exchange); n != 0 {
			t.Errorf("AllocsPerRun(observed keep-alive request) = %v; want 0", n)
		}
		st := s.BackendStats()
		var reqs int64
		for _, b := range st {
			reqs += b.Requests
		}
		if reqs < 201 {
			t.Errorf("BackendStats counted %d requests; want at least 201", reqs)
		}
	})
	t.Run("tunnel round trip", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, startEcho(t)), BackendStats: true, Exchanges: &countRecorder{}})
		c := dial(t, s.Addrs()[0])
		msg := []byte("\x00 sixteen bytes.")
		buf := make([]byte, len(msg))
		roundTrip := func() {
			c.Write(msg)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
		}
		roundTrip()
		if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
			t.Errorf("AllocsPerRun(observed tunnel round trip) = %v; want 0", n)
		}
		if st := s.BackendStats(); len(st) != 1 || st[0].Tunnels != 1 {
			t.Errorf("BackendStats() = %+v; want one backend with one open tunnel", st)
		}
	})
}
