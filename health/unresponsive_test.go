//go:build linux

package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/sniff"
)

// Backend modes of faulty.
const (
	serving  = iota
	hung     // every request, checks too, waits for the end of the test
	unwell   // /health answers 503; everything else is served
	closeAll // every request but /health: the connection is closed unanswered
)

// faulty is a backend whose behaviour a test switches; a request for
// /hold is reported on held and answered once release is closed.
type faulty struct {
	endpoint string
	mode     atomic.Int32
	held     chan struct{}
	release  chan struct{}
}

func startFaulty(t *testing.T, name string) *faulty {
	t.Helper()
	f := &faulty{held: make(chan struct{}, 4), release: make(chan struct{})}
	stop := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode := f.mode.Load(); {
		case mode == hung:
			<-stop
			return
		case r.URL.Path == "/health" && mode == unwell:
			w.WriteHeader(503)
			return
		case r.URL.Path != "/health" && mode == closeAll:
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		case r.URL.Path == "/hold":
			f.held <- struct{}{}
			select {
			case <-f.release:
			case <-stop:
				return
			}
		}
		w.Header().Set("X-Backend", name)
		fmt.Fprint(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() { close(stop) }) // first: blocked handlers return
	f.endpoint = "tcp://" + ln.Addr().String()
	return f
}

// waitHeld waits until the backend holds a /hold request.
func (f *faulty) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-f.held:
	case <-time.After(testTimeout):
		t.Fatal("the backend got no /hold request")
	}
}

// stickyCookie is the engine's sticky cookie in these tests.
const stickyCookie = "sticky"

// keyOn returns a sticky cookie value whose first backend is endpoint.
func keyOn(t *testing.T, bal *affinity.Balancer, endpoint string) string {
	t.Helper()
	for i := range 10000 {
		k := fmt.Sprintf("k%d", i)
		if bal.Snapshot().Lookup(affinity.HashKey([]byte(k))).Backend().Endpoint == endpoint {
			return k
		}
	}
	t.Fatalf("no key maps to %s", endpoint)
	return ""
}

// startWired starts an engine over bal on one loop, reporting to w, with
// w's unresponsive backends handed to the engine as cmd/l4lb does.
func startWired(t *testing.T, bal *affinity.Balancer, w *Checker, cfg engine.Config) *engine.Server {
	t.Helper()
	cfg.Listen, cfg.Balancer, cfg.Health, cfg.Loops = []string{"127.0.0.1:0"}, bal, w, 1
	cfg.Sniff = sniff.Config{Cookies: []string{stickyCookie}}
	s, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.OnUnresponsive(s.BackendDown)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// hold sends GET /hold with key on a new connection.
func hold(t *testing.T, s *engine.Server, key string) net.Conn {
	t.Helper()
	return send(t, s, "/hold", key)
}

// send sends GET path with key on a new connection.
func send(t *testing.T, s *engine.Server, path, key string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addrs()[0].String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nCookie: %s=%s\r\n\r\n", path, stickyCookie, key)
	return c
}

// status reads the answer on c, within testTimeout.
func status(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startChecked starts a Checker of bal and waits until its checks pass.
func startChecked(t *testing.T, bal *affinity.Balancer, cfg Config) *watched {
	t.Helper()
	w := start(t, bal, cfg)
	deadline := time.Now().Add(testTimeout)
	for w.Stats().ChecksPassed < 4 {
		if time.Now().After(deadline) {
			t.Fatal("no check passed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w
}

// responseTimeout is far above every wait of these tests: an answer
// before it comes from the backend being marked down.
const responseTimeout = 10 * time.Minute

// TestUnresponsiveAnswered: a request waiting on a backend that stops
// answering (its HTTP checks time out; or real traffic ejects it) is
// answered 502 once the backend is marked down, not at the response
// timeout.
func TestUnresponsiveAnswered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		check  Check
		mode   int32
		reason string
	}{
		{"check times out", Check{Kind: HTTP, Path: "/health"}, hung, "check"},
		{"ejected", Check{Kind: Off}, closeAll, engine.FailNoResponse.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, bad := startFaulty(t, "good"), startFaulty(t, "bad")
			bal := balancer(t, good.endpoint, bad.endpoint)
			cfg := fast(tc.check)
			cfg.EjectTime = time.Minute
			var w *watched
			if tc.check.Kind == Off {
				w = start(t, bal, cfg)
			} else {
				w = startChecked(t, bal, cfg)
			}
			s := startWired(t, bal, w.Checker, engine.Config{ResponseTimeout: responseTimeout})
			key := keyOn(t, bal, bad.endpoint)
			c := hold(t, s, key)
			bad.waitHeld(t)
			start := time.Now()
			bad.mode.Store(tc.mode)
			if tc.mode == closeAll {
				// Real traffic on the key fails until it ejects bad;
				// then the key goes to good.
				for i := 0; w.Stats().Ejections[indexOf(engine.FailNoResponse)] == 0; i++ {
					if time.Since(start) > testTimeout {
						t.Fatal("bad was not ejected")
					}
					c2 := send(t, s, "/", key)
					c2.SetReadDeadline(time.Now().Add(testTimeout))
					bufio.NewReader(c2).ReadString('\n')
				}
			}
			if got := status(t, c); got != 502 {
				t.Errorf("request waiting on bad: %d; want 502", got)
			}
			e := w.waitState(t, bad.endpoint, true)
			if e.reason != tc.reason {
				t.Errorf("bad down for %q; want %q", e.reason, tc.reason)
			}
			// With ejection, a request of the failing traffic may be on
			// its way to bad when it is ejected, and is answered too.
			if got := s.Stats().MarkedDownAnswers; got < 1 || tc.mode == hung && got != 1 {
				t.Errorf("MarkedDownAnswers = %d; want 1 (at least 1 with ejection)", got)
			}
			t.Logf("answered %v after the backend stopped answering", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestUnwellLeftToFinish: a backend that answers its HTTP check with 503
// is marked down, but the request it is serving is left to finish: it is
// answered by the backend, not 502.
func TestUnwellLeftToFinish(t *testing.T) {
	good, bad := startFaulty(t, "good"), startFaulty(t, "bad")
	bal := balancer(t, good.endpoint, bad.endpoint)
	w := startChecked(t, bal, fast(Check{Kind: HTTP, Path: "/health"}))
	s := startWired(t, bal, w.Checker, engine.Config{ResponseTimeout: responseTimeout})
	c := hold(t, s, keyOn(t, bal, bad.endpoint))
	bad.waitHeld(t)
	bad.mode.Store(unwell)
	w.waitState(t, bad.endpoint, true)
	// A round trip through the engine's one loop: a task posted when bad
	// went down has run by the time it is answered.
	if code, name := get(t, s.Addrs()[0].String(), "/"); code != 200 || name != "good" {
		t.Fatalf("through the loop: %d from %q; want 200 from good", code, name)
	}
	close(bad.release)
	if got := status(t, c); got != 200 {
		t.Errorf("request held by the unwell backend: %d; want its 200", got)
	}
	if got := s.Stats().MarkedDownAnswers; got != 0 {
		t.Errorf("MarkedDownAnswers = %d; want 0", got)
	}
}
