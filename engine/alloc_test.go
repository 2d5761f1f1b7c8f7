//go:build linux

package engine

import (
	"io"
	"net"
	"testing"

	"github.com/l4lb/l4lb/affinity"
)

// startFixedHTTP starts a backend that answers every read with one fixed
// keep-alive response, allocation-free, so that AllocsPerRun sees only the
// client's and the balancer's allocations.
func startFixedHTTP(t testing.TB, resp string) string {
	t.Helper()
	return startTCP(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		out := []byte(resp)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	})
}

// TestAllocs proves the steady-state paths allocate nothing: a tunnel
// round trip, and a keep-alive HTTP request that is sniffed, keyed, routed
// (to the same backend) and framed; also with exchanges observed
// (per-backend counters and a recorder on).
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	observed := Config{BackendStats: true, Exchanges: &countRecorder{}}
	for _, v := range []struct {
		name string
		cfg  Config
	}{{"tunnel round trip", Config{}}, {"tunnel round trip, observed", observed}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := v.cfg
			cfg.Balancer = newBalancer(t, startEcho(t))
			s := startServer(t, cfg)
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
				t.Errorf("AllocsPerRun(%s) = %v; want 0", v.name, n)
			}
		})
	}
	for _, v := range []struct {
		name string
		cfg  Config
		mem  bool
	}{
		{"keep-alive request", Config{}, false},
		{"keep-alive request with X-Forwarded-For", Config{ForwardedFor: true}, false},
		{"keep-alive request with session memory", Config{}, true},
		{"keep-alive request, observed", observed, false},
	} {
		t.Run(v.name, func(t *testing.T) {
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
			cfg := v.cfg
			cfg.Balancer = newBalancer(t, startFixedHTTP(t, resp), startFixedHTTP(t, resp))
			cfg.Health = newRecorder()
			if v.mem {
				cfg.Sessions = affinity.NewSessions(1024, 0)
			}
			s := startServer(t, cfg)
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
				t.Errorf("AllocsPerRun(%s) = %v; want 0", v.name, n)
			}
		})
	}
}
