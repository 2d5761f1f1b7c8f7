//go:build linux

package admin

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/engine/enginetest"
	"github.com/l4lb/l4lb/registry"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// refusedEndpoint returns an endpoint nothing listens on.
func refusedEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close()
	return ep
}

// TestMetrics is acceptance 4: /metrics parses with Prometheus' own text
// parser, keeps every name the hand-written exposition had, and has the
// per-backend histograms with counts that match the traffic sent.
func TestMetrics(t *testing.T) {
	a, b := startSockJS(t, "a"), startSockJS(t, "b")
	down := refusedEndpoint(t)
	bal := newBalancer(t, a, b, down)
	srv := enginetest.Start(t, engine.Config{Balancer: bal, BackendStats: true})
	_, adminURL := startAdmin(t, Config{Balancer: bal, Engine: srv, Registry: new(registry.Metrics)})
	lb := srv.Addrs()[0]

	// 20 keyless requests on one keep-alive connection (some meet the
	// refused backend first), and one head too large for the sniffer.
	ka := &http.Client{Timeout: testTimeout, Transport: &http.Transport{MaxConnsPerHost: 1}}
	const requests = 20
	for range requests {
		if resp := do0(t, ka, mustRequest(t, "GET", "http://"+lb.String()+"/")); resp.StatusCode != 200 {
			t.Fatalf("GET / = %d", resp.StatusCode)
		}
	}
	c, err := net.DialTimeout("tcp", lb.String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	c.Write([]byte("GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"))
	got, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(got), "HTTP/1.1 431") {
		t.Fatalf("oversized head answered %q; want 431", got)
	}
	// Make sure the refused backend was tried at least once.
	for i := 0; srv.Stats().BackendFailures == 0; i++ {
		if i == 50 {
			t.Fatal("50 fresh connections, none tried the refused backend")
		}
		do0(t, fresh, mustRequest(t, "GET", "http://"+lb.String()+"/"))
	}

	resp := do(t, mustRequest(t, "GET", adminURL+"/metrics"))
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q; want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("expfmt cannot parse /metrics: %v", err)
	}

	// Every name the hand-written exposition had, with its type.
	for name, typ := range map[string]dto.MetricType{
		"l4lb_engine_accepted_total":               dto.MetricType_COUNTER,
		"l4lb_engine_tunnels_total":                dto.MetricType_COUNTER,
		"l4lb_engine_backend_connects_total":       dto.MetricType_COUNTER,
		"l4lb_engine_backend_failures_total":       dto.MetricType_COUNTER,
		"l4lb_engine_switches_total":               dto.MetricType_COUNTER,
		"l4lb_engine_backend_reuses_total":         dto.MetricType_COUNTER,
		"l4lb_engine_backend_replays_total":        dto.MetricType_COUNTER,
		"l4lb_engine_header_timeouts_total":        dto.MetricType_COUNTER,
		"l4lb_engine_idle_timeouts_total":          dto.MetricType_COUNTER,
		"l4lb_engine_proxy_invalid_total":          dto.MetricType_COUNTER,
		"l4lb_engine_accept_pauses_total":          dto.MetricType_COUNTER,
		"l4lb_engine_active_connections":           dto.MetricType_GAUGE,
		"l4lb_engine_max_connections":              dto.MetricType_GAUGE,
		"l4lb_engine_responses_total":              dto.MetricType_COUNTER,
		"l4lb_affinity_backend_active_connections": dto.MetricType_GAUGE,
		"l4lb_registry_polls_total":                dto.MetricType_COUNTER,
		"l4lb_registry_poll_errors_total":          dto.MetricType_COUNTER,
		"l4lb_registry_poll_seconds_total":         dto.MetricType_COUNTER,
		"l4lb_registry_updates_total":              dto.MetricType_COUNTER,
		"l4lb_registry_deleted_total":              dto.MetricType_COUNTER,
		"l4lb_registry_failing":                    dto.MetricType_GAUGE,
		"l4lb_registry_staleness_seconds":          dto.MetricType_GAUGE,
		// New: histograms, per-backend counters, runtime and process.
		"l4lb_engine_backend_connect_seconds":        dto.MetricType_HISTOGRAM,
		"l4lb_engine_backend_first_byte_seconds":     dto.MetricType_HISTOGRAM,
		"l4lb_engine_request_duration_seconds":       dto.MetricType_HISTOGRAM,
		"l4lb_engine_backend_requests_total":         dto.MetricType_COUNTER,
		"l4lb_engine_backend_responses_5xx_total":    dto.MetricType_COUNTER,
		"l4lb_engine_backend_connect_failures_total": dto.MetricType_COUNTER,
		"l4lb_engine_backend_tunnels":                dto.MetricType_GAUGE,
		"go_goroutines":                              dto.MetricType_GAUGE,
		"process_open_fds":                           dto.MetricType_GAUGE,
	} {
		f := fams[name]
		if f == nil {
			t.Errorf("/metrics has no %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s has type %v; want %v", name, f.GetType(), typ)
		}
	}

	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		var sum float64
		for _, m := range fams[name].GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	if got := value("l4lb_engine_responses_total", map[string]string{"code": "431"}); got != 1 {
		t.Errorf(`l4lb_engine_responses_total{code="431"} = %v; want 1`, got)
	}
	if got := value("l4lb_engine_accepted_total", nil); got < 2 {
		t.Errorf("l4lb_engine_accepted_total = %v; want at least 2", got)
	}
	for _, ep := range []string{a, b, down} {
		if got := len(labelled(fams["l4lb_affinity_backend_active_connections"], map[string]string{"backend": ep, "state": "ready"})); got != 1 {
			t.Errorf("l4lb_affinity_backend_active_connections{backend=%q,state=ready}: %d series; want 1", ep, got)
		}
	}
	// Every request served counts once in the duration histogram of the
	// backend that served it; the refused one served none and failed.
	served := value("l4lb_engine_request_duration_seconds", nil)
	if reqs := value("l4lb_engine_backend_requests_total", nil); served != reqs || served < requests {
		t.Errorf("request_duration_seconds counts %v, backend_requests_total %v; want equal, at least %d", served, reqs, requests)
	}
	if got := value("l4lb_engine_backend_first_byte_seconds", nil); got != served {
		t.Errorf("first_byte_seconds counts %v; want %v", got, served)
	}
	if got := value("l4lb_engine_request_duration_seconds", map[string]string{"backend": down}); got != 0 {
		t.Errorf("request_duration_seconds of the refused backend counts %v; want 0", got)
	}
	if got := value("l4lb_engine_backend_connect_failures_total", map[string]string{"backend": down}); got < 1 {
		t.Errorf("connect_failures_total of the refused backend = %v; want at least 1", got)
	}
	connects := value("l4lb_engine_backend_connect_seconds", nil)
	if want := value("l4lb_engine_backend_connects_total", nil); connects != want {
		t.Errorf("connect_seconds counts %v; want backend_connects_total, %v", connects, want)
	}
	// A histogram's buckets are cumulative and end at its count.
	for _, m := range fams["l4lb_engine_request_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		bs := h.GetBucket()
		if len(bs) != len(engine.HistogramBounds)+1 || bs[len(bs)-1].GetCumulativeCount() != h.GetSampleCount() {
			t.Errorf("request_duration_seconds has %d buckets, the last counting %d of %d; want %d, +Inf counting all",
				len(bs), bs[len(bs)-1].GetCumulativeCount(), h.GetSampleCount(), len(engine.HistogramBounds)+1)
		}
		for i := 1; i < len(bs); i++ {
			if bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
				t.Errorf("bucket le=%v count %d below the one before", bs[i].GetUpperBound(), bs[i].GetCumulativeCount())
			}
		}
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

func labelled(f *dto.MetricFamily, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range f.GetMetric() {
		if hasLabels(m, want) {
			out = append(out, m)
		}
	}
	return out
}
