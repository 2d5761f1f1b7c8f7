package health

import (
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
)

// TestActiveHTTP: up -> down after Fall failed checks, down -> up after
// Rise passed ones; the down backend leaves the candidate orders and
// comes back.
func TestActiveHTTP(t *testing.T) {
	a, _ := httpBackend(t, "a")
	b, bHealth := httpBackend(t, "b")
	bal := balancer(t, a, b)
	w := start(t, bal, fast(Check{Kind: HTTP, Path: "/health"}))
	m := member(t, bal, b)
	// Wait until b's check passed once, so that Fall applies.
	deadline := time.Now().Add(testTimeout)
	for w.Stats().ChecksPassed < 4 {
		if time.Now().After(deadline) {
			t.Fatal("no check passed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := w.Stats().ChecksFailed
	bHealth.Store(503)
	e := w.waitState(t, b, true)
	if e.reason != "check" || m.Usable() {
		t.Errorf("down: reason %q, Usable() = %v; want \"check\", false", e.reason, m.Usable())
	}
	if got := w.Stats().ChecksFailed - before; got < 3 {
		t.Errorf("down after %d failed checks; want Fall = 3", got)
	}
	for range 100 {
		if got := bal.Snapshot().PickCandidates(nil); len(got) != 1 || got[0].Backend().Endpoint != a {
			t.Fatalf("PickCandidates with b down = %v; want [a]", got)
		}
	}
	st := w.Stats()
	for _, bs := range st.Backends {
		if bs.Endpoint == b && (bs.Up || bs.Reason != "check" || bs.LastError == nil || !strings.Contains(bs.LastError.Error(), "503")) {
			t.Errorf("Stats for b = %+v; want down by check with a 503 error", bs)
		}
	}
	bHealth.Store(200)
	e = w.waitState(t, b, false)
	if !m.Usable() {
		t.Errorf("up: Usable() = false")
	}
	if e.reason != "" {
		t.Errorf("up: reason %q; want none", e.reason)
	}
}

// TestLastChecked: Stats tells when each backend's last check ended, how
// long it took and how it went; the time moves on with every check, and
// is forgotten when checks stop (Auto, one backend left).
func TestLastChecked(t *testing.T) {
	a, _ := httpBackend(t, "a")
	dead := refusing(t)
	bal := balancer(t, a, dead)
	cfg := fast(Check{Kind: HTTP, Path: "/health", Auto: true})
	started := time.Now()
	w := start(t, bal, cfg)
	byEp := func() map[string]BackendStats {
		m := map[string]BackendStats{}
		for _, b := range w.Stats().Backends {
			m[b.Endpoint] = b
		}
		return m
	}
	// until polls Stats until ok holds of them.
	until := func(what string, ok func(map[string]BackendStats) bool) map[string]BackendStats {
		t.Helper()
		deadline := time.Now().Add(testTimeout)
		for {
			m := byEp()
			if ok(m) {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v; Stats %+v", what, testTimeout, m)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := until("both checked", func(m map[string]BackendStats) bool {
		return !m[a].LastChecked.IsZero() && !m[dead].LastChecked.IsZero()
	})
	now := time.Now()
	for _, ep := range []string{a, dead} {
		b := first[ep]
		if b.LastChecked.Before(started) || b.LastChecked.After(now) {
			t.Errorf("%s: LastChecked %v; want between the start and now", ep, b.LastChecked)
		}
		if b.LastCheck <= 0 || b.LastCheck > cfg.Timeout+50*time.Millisecond {
			t.Errorf("%s: LastCheck %v; want a duration within the timeout %v", ep, b.LastCheck, cfg.Timeout)
		}
	}
	if first[a].LastError != nil || first[dead].LastError == nil || !strings.Contains(first[dead].LastError.Error(), "refused") {
		t.Errorf("LastError: a %v, dead %v; want nil and a refused connection", first[a].LastError, first[dead].LastError)
	}
	until("a checked again", func(m map[string]BackendStats) bool {
		return m[a].LastChecked.After(first[a].LastChecked)
	})
	update(t, bal, a)
	w.Update()
	until("checks off for a lone backend", func(m map[string]BackendStats) bool {
		b, ok := m[a]
		return ok && len(m) == 1 && b.LastChecked.IsZero() && b.LastCheck == 0 && b.LastError == nil
	})
}

// TestActiveTCP: a backend that stops listening goes down; listening
// again on its port brings it up; a UNIX-socket backend is checked on
// its socket.
func TestActiveTCP(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "app.sock")
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			endpoint := "tcp://" + ln.Addr().String()
			if network == "unix" {
				endpoint = "unix:" + addr
			}
			other, _ := httpBackend(t, "other")
			bal := balancer(t, endpoint, other)
			w := start(t, bal, fast(Check{Kind: TCP}))
			ln.Close()
			w.waitState(t, endpoint, true)
			ln, err = net.Listen(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			w.waitState(t, endpoint, false)
		})
	}
}

// TestNewBackendFirstFailure: a backend new to the set goes down on its
// first failed check.
func TestNewBackendFirstFailure(t *testing.T) {
	a, _ := httpBackend(t, "a")
	bal := balancer(t, a)
	cfg := fast(Check{Kind: TCP})
	cfg.Fall = 100
	w := start(t, bal, cfg)
	dead := refusing(t)
	update(t, bal, a, dead)
	w.Update()
	w.waitState(t, dead, true)
	if got := w.Stats().ChecksFailed; got != 1 {
		t.Errorf("down after %d failed checks; want 1", got)
	}
}

// TestAutoOneBackend: the default checks nothing while the set has one
// backend, and starts when a second joins.
func TestAutoOneBackend(t *testing.T) {
	dead := refusing(t)
	bal := balancer(t, dead)
	check, _ := ParseCheck("")
	w := start(t, bal, fast(check))
	time.Sleep(10 * w.cfg.Interval) // nothing to wait for: no check may run
	if st := w.Stats(); st.ChecksPassed+st.ChecksFailed != 0 || !member(t, bal, dead).Usable() {
		t.Fatalf("one backend: %d checks ran, Usable() = %v; want none, true", st.ChecksPassed+st.ChecksFailed, member(t, bal, dead).Usable())
	}
	a, _ := httpBackend(t, "a")
	update(t, bal, a, dead)
	w.Update()
	w.waitState(t, dead, true)
}

// TestDraining: discovery's draining is a transition of its own: the
// backend stays checked, keeps no runtime down state, and the balancer
// keeps its keys while giving it no keyless traffic.
func TestDraining(t *testing.T) {
	a, _ := httpBackend(t, "a")
	b, _ := httpBackend(t, "b")
	bal := balancer(t, a, b)
	cfg := fast(Check{Kind: HTTP, Path: "/health"})
	var logs *testutil.Buffer
	cfg.Logger, logs = testutil.Logger(t, slog.LevelInfo)
	w := start(t, bal, cfg)
	deadline := time.Now().Add(testTimeout)
	for len(w.Stats().Backends) < 2 { // the checker has taken in the first set
		if time.Now().After(deadline) {
			t.Fatal("the checker did not take in the set")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := bal.Update([]affinity.Backend{{Endpoint: a}, {Endpoint: b, State: affinity.Draining}}); err != nil {
		t.Fatal(err)
	}
	w.Update()
	logs.WaitLine(t, 0, regexp.MustCompile(`msg="backend draining" backend=`+regexp.QuoteMeta(b)+` reason=discovery`), testTimeout)
	passed := w.Stats().ChecksPassed
	for w.Stats().ChecksPassed < passed+4 {
		if time.Now().After(deadline) {
			t.Fatal("checks stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !member(t, bal, b).Usable() {
		t.Errorf("draining b: Usable() = false; want true")
	}
	snap := bal.Snapshot()
	for range 100 {
		if got := snap.PickCandidates(nil); got[0].Backend().Endpoint != a {
			t.Fatalf("PickCandidates()[0] = %s; want %s, b drains", got[0], a)
		}
	}
	keyed := 0
	for i := range 1000 {
		h := affinity.HashKey([]byte{byte(i), byte(i >> 8)})
		if snap.Candidates(h, nil)[0].Backend().Endpoint == b {
			keyed++
		}
	}
	if keyed < 300 {
		t.Errorf("draining b keeps %d of 1000 keys; want about half", keyed)
	}
}

// TestSlowStart: a backend that comes up takes a growing share of keyless
// traffic, from a tenth to all of it.
func TestSlowStart(t *testing.T) {
	a, _ := httpBackend(t, "a")
	b, bHealth := httpBackend(t, "b")
	bal := balancer(t, a, b)
	cfg := fast(Check{Kind: HTTP, Path: "/health"})
	cfg.SlowStart = time.Second
	w := start(t, bal, cfg)
	if got := member(t, bal, b).Share(); got != affinity.FullShare {
		t.Errorf("first set: Share() = %d; want full: the first set does not ramp", got)
	}
	bHealth.Store(500)
	w.waitState(t, b, true)
	bHealth.Store(200)
	w.waitState(t, b, false)
	m := member(t, bal, b)
	var shares []int
	deadline := time.Now().Add(testTimeout)
	for m.Share() != affinity.FullShare {
		shares = append(shares, m.Share())
		if time.Now().After(deadline) {
			t.Fatalf("share stuck below full: %v", shares)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(shares) < 5 || shares[0] > affinity.FullShare/4 || !slices.IsSorted(shares) {
		t.Errorf("shares while ramping = %v; want a rise from about a tenth over a second", shares)
	}
}

func TestParseCheck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Check
		bad  bool
	}{
		{"", Check{Kind: TCP, Auto: true}, false},
		{"auto", Check{Kind: TCP, Auto: true}, false},
		{"off", Check{Kind: Off}, false},
		{"tcp", Check{Kind: TCP}, false},
		{"http:/", Check{Kind: HTTP, Path: "/"}, false},
		{"http:/sockjs/info", Check{Kind: HTTP, Path: "/sockjs/info"}, false},
		{"http:", Check{}, true},
		{"http:sockjs/info", Check{}, true},
		{"http:/a b", Check{}, true},
		{"http:/a\r\nX: y", Check{}, true},
		{"HTTP:/", Check{}, true},
		{"udp", Check{}, true},
	} {
		got, err := ParseCheck(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseCheck(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
		if err == nil {
			if back, _ := ParseCheck(got.String()); back != got {
				t.Errorf("ParseCheck(%q).String() = %q reads back as %+v", tc.in, got.String(), back)
			}
		}
	}
}
