package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 20 * time.Second

// fast is a configuration that moves in tens of milliseconds.
func fast(check Check) Config {
	return Config{Check: check, Interval: 30 * time.Millisecond, Timeout: 300 * time.Millisecond,
		EjectTime: 200 * time.Millisecond}
}

// httpBackend serves name on every path on a fresh loopback port; /health
// answers the status in the returned value (200 at first).
func httpBackend(t testing.TB, name string) (endpoint string, health *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health = new(atomic.Int32)
	health.Store(200)
	srv := &http.Server{Handler: named(name, health)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + ln.Addr().String(), health
}

// named answers its name (and X-Backend: name) on every path but
// /health, which answers health's status.
func named(name string, health *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		if r.URL.Path == "/health" && health != nil {
			w.WriteHeader(int(health.Load()))
			return
		}
		fmt.Fprint(w, name)
	})
}

// refusing returns a loopback endpoint nobody listens on.
func refusing(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp://" + addr
}

// silent returns a backend that accepts connections and never answers;
// they are closed when the test ends.
func silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

func balancer(t testing.TB, endpoints ...string) *affinity.Balancer {
	t.Helper()
	b := affinity.NewBalancer()
	update(t, b, endpoints...)
	return b
}

func update(t testing.TB, b *affinity.Balancer, endpoints ...string) {
	t.Helper()
	var bs []affinity.Backend
	for _, e := range endpoints {
		bs = append(bs, affinity.Backend{Endpoint: e})
	}
	if err := b.Update(bs); err != nil {
		t.Fatalf("Balancer.Update(%v) = %v", endpoints, err)
	}
}

// event is a backend's state after a settle.
type event struct {
	endpoint string
	down     bool
	reason   string
	ejected  bool
	until    time.Time
}

// watched is a running Checker and the states it settles.
type watched struct {
	*Checker
	events chan event
}

// start runs a Checker of b until the test ends.
func start(t testing.TB, b *affinity.Balancer, cfg Config) *watched {
	t.Helper()
	c := New(b, cfg)
	w := &watched{Checker: c, events: make(chan event, 4096)}
	c.notify = func(b *backend) {
		select {
		case w.events <- event{b.endpoint, b.down, b.reason, b.ejected, b.until}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return w
}

// waitState waits until endpoint's state is down (or up), and returns
// that event.
func (w *watched) waitState(t testing.TB, endpoint string, down bool) event {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case e := <-w.events:
			if e.endpoint == endpoint && e.down == down {
				return e
			}
		case <-deadline:
			t.Fatalf("%s did not go down=%v within %v", endpoint, down, testTimeout)
		}
	}
}

// member returns endpoint's member in b's current snapshot.
func member(t testing.TB, b *affinity.Balancer, endpoint string) *affinity.Member {
	t.Helper()
	for _, m := range b.Snapshot().Members() {
		if m.Backend().Endpoint == endpoint {
			return m
		}
	}
	t.Fatalf("%s is not in the set", endpoint)
	return nil
}
