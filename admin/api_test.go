package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
)

// TestWeightAPI sets, zeroes and resets a backend's weight through the
// API and reads what /api/backends and the balancer say after each.
func TestWeightAPI(t *testing.T) {
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: "tcp://127.0.0.1:3001", Weight: 3}, {Endpoint: "unix:/run/app.sock"}}); err != nil {
		t.Fatal(err)
	}
	_, base := startAdmin(t, Config{Balancer: bal})
	post := func(path, form string) Backend {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp := do(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s %s = %d", path, form, resp.StatusCode)
		}
		var v Backend
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		path, form     string
		state, reason  string
		weight, discov int
		override       int // -1: none
	}{
		{"/api/backends/127.0.0.1:3001/weight", "weight=7", "up", "", 7, 3, 7},
		{"/api/backends/127.0.0.1:3001/weight", "weight=0", "draining", "weight 0 set through the API", 3, 3, 0},
		{"/api/backends/127.0.0.1:3001/weight", "weight=discovery", "up", "", 3, 3, -1},
		// The canonical endpoint, percent-encoded, and a UNIX socket path as is.
		{"/api/backends/" + url.PathEscape("tcp://127.0.0.1:3001") + "/drain", "", "draining", "drained through the API", 3, 3, -1},
		{"/api/backends/unix:/run/app.sock/weight?weight=256", "", "up", "", 256, 1, 256},
	} {
		v := post(tc.path, tc.form)
		override := -1
		if v.WeightOverride != nil {
			override = *v.WeightOverride
		}
		if v.State != tc.state || v.Reason != tc.reason || v.Weight != tc.weight || v.DiscoveredWeight != tc.discov || override != tc.override {
			t.Errorf("POST %s %s = state %q (%q), weight %d (discovery %d, override %d); want %q (%q), %d (%d, %d)",
				tc.path, tc.form, v.State, v.Reason, v.Weight, v.DiscoveredWeight, override, tc.state, tc.reason, tc.weight, tc.discov, tc.override)
		}
	}
}

// TestRates checks the last-minute figures: since the start before a
// minute has passed, then against the sample a minute old.
func TestRates(t *testing.T) {
	var cur []engine.BackendStats
	r := newRates(func() []engine.BackendStats { return cur })
	r.start = time.Now().Add(-10 * time.Second)
	cur = []engine.BackendStats{{Endpoint: "a", Requests: 100, Responses5xx: 2, Failures: 1, Tunnels: 4}}
	w := r.window()["a"]
	if w.perSecond < 9 || w.perSecond > 10.1 || w.resp5xx != 2 || w.failures != 1 || w.tunnels != 4 {
		t.Errorf("after 10 s: %+v; want about 10/s, 2 5xx, 1 failure, 4 tunnels", w)
	}
	// Samples every 5 s over 70 s; the counters grow by 50 requests and
	// one 5xx per sample.
	now := time.Now()
	for i := range 15 {
		cur = []engine.BackendStats{{Endpoint: "a", Requests: int64(50 * i), Responses5xx: int64(i)}}
		r.sample(now.Add(time.Duration(i-14) * 5 * time.Second))
	}
	w = r.window()["a"]
	// The base is the newest sample at least a minute old: 60-65 s back.
	if w.perSecond < 9 || w.perSecond > 10.1 || w.resp5xx != 12 {
		t.Errorf("steady: %+v; want about 10/s and 12 5xx over the minute", w)
	}
	// A backend whose counters restarted (forgotten by the engine) counts
	// from zero instead of going negative.
	cur = []engine.BackendStats{{Endpoint: "a", Requests: 3}}
	if w := r.window()["a"]; w.perSecond < 0 || w.resp5xx != 0 {
		t.Errorf("after a restart of the counters: %+v; want no negative figure", w)
	}
}
