package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
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

// TestHealthView checks how a backend's last health check shows in
// /api/backends and on the page: when it ended (and how long ago), how
// long it took, how it went; nothing of a time that is unknown.
func TestHealthView(t *testing.T) {
	const (
		ok      = "tcp://127.0.0.1:3001"
		failed  = "tcp://127.0.0.1:3002"
		ejected = "tcp://127.0.0.1:3003"
		none    = "tcp://127.0.0.1:3004"
	)
	bal := newBalancer(t, ok, failed, ejected, none)
	checked := time.Now().Add(-1500 * time.Millisecond).Round(time.Millisecond)
	healths := map[string]Health{
		ok:      {Checked: checked, OK: true, Latency: 2 * time.Millisecond},
		failed:  {Checked: checked.Add(-time.Minute), OK: false, Latency: time.Second, Error: "health check: connect: refused", Ejected: true},
		ejected: {OK: true, Error: "no_response", Ejected: true}, // ejected by traffic before any check
	}
	_, base := startAdmin(t, Config{Balancer: bal, Health: func(ep string) (Health, bool) {
		h, found := healths[ep]
		return h, found
	}})
	asked := time.Now()
	resp := do(t, mustRequest(t, "GET", base+"/api/backends"))
	answered := time.Now()
	body, _ := io.ReadAll(resp.Body)
	var raw []struct {
		Endpoint string                     `json:"endpoint"`
		State    string                     `json:"state"`
		Health   map[string]json.RawMessage `json:"health"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("GET /api/backends: %v\n%s", err, body)
	}
	got := map[string]map[string]json.RawMessage{}
	states := map[string]string{}
	for _, b := range raw {
		got[b.Endpoint], states[b.Endpoint] = b.Health, b.State
	}
	num := func(ep, key string) float64 {
		t.Helper()
		var f float64
		if err := json.Unmarshal(got[ep][key], &f); err != nil {
			t.Fatalf("%s: health.%s = %s: %v", ep, key, got[ep][key], err)
		}
		return f
	}
	for ep, want := range map[string]time.Time{ok: checked, failed: checked.Add(-time.Minute)} {
		var at time.Time
		if err := json.Unmarshal(got[ep]["checked"], &at); err != nil || !at.Equal(want) {
			t.Errorf("%s: health.checked = %s (%v); want %v", ep, got[ep]["checked"], err, want)
		}
		// The age is as of the answer.
		if age, lo, hi := num(ep, "checked_seconds_ago"), asked.Sub(want).Seconds(), answered.Sub(want).Seconds(); age < lo || age > hi {
			t.Errorf("%s: health.checked_seconds_ago = %v; want between %v and %v", ep, age, lo, hi)
		}
	}
	if lat := num(failed, "latency_seconds"); lat != 1 {
		t.Errorf("failed: latency_seconds = %v; want 1", lat)
	}
	if states[failed] != "ejected" || states[ok] != "up" {
		t.Errorf("states: %v; want ok up, failed ejected", states)
	}
	if _, has := got[ejected]["checked"]; has || num(ejected, "checked_seconds_ago") != -1 {
		t.Errorf("ejected before any check: health %s; want no checked time, checked_seconds_ago -1", got[ejected])
	}
	if got[none] != nil {
		t.Errorf("never checked: health %v; want null", got[none])
	}

	// The page says how long ago, and nothing for the unknown time.
	resp = do(t, mustRequest(t, "GET", base+"/"))
	page, _ := io.ReadAll(resp.Body)
	row := func(ep string) string {
		i := strings.Index(string(page), `data-endpoint="`+ep+`"`)
		if i < 0 {
			t.Fatalf("no row for %s:\n%s", ep, page)
		}
		r := string(page[i:])
		if j := strings.Index(r, "</tr>"); j >= 0 {
			r = r[:j]
		}
		return r
	}
	m := regexp.MustCompile(`checked (\d+\.\d) s ago`).FindStringSubmatch(row(ok))
	if m == nil {
		t.Fatalf("row of %s has no \"checked N.N s ago\":\n%s", ok, row(ok))
	}
	if age, _ := strconv.ParseFloat(m[1], 64); age < 1.5 || age > time.Since(checked).Seconds()+0.05 {
		t.Errorf("row of %s: checked %v s ago; want 1.5 s or a little more", ok, age)
	}
	if r := row(failed); !strings.Contains(r, "checked 1 min ago") || !strings.Contains(r, "refused") {
		t.Errorf("row of %s: want \"checked 1 min ago\" and the error:\n%s", failed, r)
	}
	if r := row(ejected); strings.Contains(r, "checked ") {
		t.Errorf("row of %s (never checked) shows a check time:\n%s", ejected, r)
	}
	if r := row(none); !strings.Contains(r, "not checked") {
		t.Errorf("row of %s: want \"not checked\":\n%s", none, r)
	}
}

func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{{0, "0.0 s ago"}, {1.24, "1.2 s ago"}, {9.94, "9.9 s ago"}, {42.4, "42 s ago"}, {61, "1 min ago"}, {3599, "60 min ago"}, {7500, "2h5m0s ago"}} {
		if got := ago(tc.s); got != tc.want {
			t.Errorf("ago(%v) = %q; want %q", tc.s, got, tc.want)
		}
	}
}
