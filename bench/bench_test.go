package main

import (
	"encoding/xml"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/loadgen"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9, 1, 8, 2, 7}, 7},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestRenderHAProxy(t *testing.T) {
	s := settings{Threads: 2, MaxConn: 9000, ProxyProtocol: "v2", Prefix: "/sockjs", TunnelTimeout: time.Hour}
	cfg, err := renderHAProxy(s, "127.0.0.1:8000", []string{"127.0.0.1:9001", "127.0.0.1:9002"}, false)
	if err != nil {
		t.Fatalf("renderHAProxy() error = %v", err)
	}
	for _, want := range []string{
		"mode http", "nbthread 2", "maxconn 9000", "balance uri depth 3", "hash-type consistent",
		"timeout tunnel 3600s", "bind 127.0.0.1:8000", "use_backend sockjs if { path_beg /sockjs/ }",
		"balance random(2)", "server s0 127.0.0.1:9001 send-proxy-v2", "server s1 127.0.0.1:9002 send-proxy-v2",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("renderHAProxy() lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "http-no-delay") {
		t.Errorf("renderHAProxy(noDelay false) has http-no-delay:\n%s", cfg)
	}
	s.ProxyProtocol = "off"
	cfg, _ = renderHAProxy(s, "127.0.0.1:8000", []string{"127.0.0.1:9001"}, true)
	if strings.Contains(cfg, "send-proxy") {
		t.Errorf("renderHAProxy(PROXY off) sends PROXY:\n%s", cfg)
	}
	if !strings.Contains(cfg, "    option http-no-delay\n") {
		t.Errorf("renderHAProxy(noDelay true) lacks option http-no-delay:\n%s", cfg)
	}
}

func TestL4LBArgs(t *testing.T) {
	s := settings{Threads: 1, MaxConn: 9000, ProxyProtocol: "v1", Prefix: "/sockjs", TunnelTimeout: time.Hour}
	got := strings.Join(l4lbArgs(s, "127.0.0.1:8000", []string{"127.0.0.1:9001", "127.0.0.1:9002"}), " ")
	for _, want := range []string{"serve", "--listen 127.0.0.1:8000", "--loops 1", "--max-conns 9000", "--proxy-protocol v1",
		"--sockjs-prefix /sockjs", "--idle-timeout 1h0m0s", "--backend 127.0.0.1:9001 --backend 127.0.0.1:9002"} {
		if !strings.Contains(got, want) {
			t.Errorf("l4lbArgs() = %q; want it to contain %q", got, want)
		}
	}
}

func TestReadUsage(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatalf("readUsage(self) error = %v", err)
	}
	if u.rssKB <= 0 || u.fds < 3 {
		t.Errorf("readUsage(self) = %+v; want RSS > 0 and at least 3 fds", u)
	}
}

func fakeRecord(round int, target, scenario string, rate float64, errors, misroutes int64, cpu float64) *record {
	r := &record{Round: round, Target: target, Scenario: scenario, BalancerCPU: cpu,
		Result: &loadgen.Result{Scenario: scenario, Ops: int64(rate), Rate: rate, Errors: errors, Misroutes: misroutes,
			Latency: loadgen.Latency{P50: 100, P99: 200, P999: 300}}}
	switch {
	case r.Result.ErrorRate() > maxErrorRate:
		r.Invalid = "error rate"
	case misroutes > 0:
		r.Invalid = "misroutes"
	}
	return r
}

func TestBuildReport(t *testing.T) {
	p := plan{Mode: "test", Rounds: 3, Steps: []step{{Scenario: "keepalive"}}}
	recs := []*record{
		fakeRecord(1, targetDirect, "keepalive", 1000, 0, 0, 0),
		fakeRecord(2, targetDirect, "keepalive", 3000, 0, 0, 0),
		fakeRecord(3, targetDirect, "keepalive", 2000, 0, 0, 0),
		fakeRecord(1, targetHAProxy, "keepalive", 1000, 0, 0, 0.01),
		fakeRecord(2, targetHAProxy, "keepalive", 1000, 0, 0, 0.01),
		fakeRecord(3, targetHAProxy, "keepalive", 1000, 0, 0, 0.01),
		fakeRecord(1, targetL4LB, "keepalive", 1500, 0, 0, 0.01),
		fakeRecord(2, targetL4LB, "keepalive", 9000, 100, 0, 0.01), // invalid: 1.1% errors
		fakeRecord(3, targetL4LB, "keepalive", 500, 0, 0, 0.01),
	}
	rep := buildReport(p, options{targets: []string{targetDirect, targetHAProxy, targetL4LB}}, machine{}, recs, nil, time.Second)
	var rate row
	for _, r := range rep.Rows {
		if r.Metric.Key == "rate" {
			rate = r
		}
	}
	l := rate.Cells[targetL4LB]
	if l.N != 2 || l.Invalid != 1 || l.Median != 1000 || l.Min != 500 || l.Max != 1500 {
		t.Errorf("l4lb rate cell = %+v; want n 2, 1 invalid, median 1000 [500–1500]", l)
	}
	if rate.VsHAProxy != 1 || rate.VsDirect != 0.5 {
		t.Errorf("rate ratios = %v vs HAProxy, %v vs direct; want 1, 0.5", rate.VsHAProxy, rate.VsDirect)
	}
	md := rep.markdown()
	if !strings.Contains(md, "round 2 l4lb keepalive: error rate") {
		t.Errorf("markdown() does not list the invalid run:\n%s", md)
	}
	if v := rep.verdict(); v != "" {
		t.Errorf("verdict() = %q for keepalive errors; want \"\" (only session scenarios count)", v)
	}
	rep.Records = append(rep.Records, fakeRecord(1, targetHAProxy, "polling", 1000, 0, 1, 0.01))
	if v := rep.verdict(); !strings.Contains(v, "haproxy polling: 1 misroutes") {
		t.Errorf("verdict() = %q after a HAProxy polling misroute; want it named", v)
	}
	if err := xml.Unmarshal([]byte(rep.svg()), new(struct{})); err != nil {
		t.Errorf("svg() is not well-formed XML: %v", err)
	}
}

// TestReportTargets checks the columns and ratios with every target: nginx
// has its ratio, HAProxy with http-no-delay runs in xhr-streaming only,
// loadgen's own cost gets no ratio, and an xhr-streaming misroute fails
// the correctness check.
func TestReportTargets(t *testing.T) {
	p := plan{Mode: "test", Rounds: 1, Steps: []step{{Scenario: "keepalive"}, {Scenario: loadgen.XHRStreaming}}}
	var recs []*record
	for _, sc := range []string{"keepalive", loadgen.XHRStreaming} {
		for _, tg := range defaultTargets {
			if !(step{Scenario: sc}).runs(tg) {
				continue
			}
			r := fakeRecord(1, tg, sc, 1000, 0, 0, 0.01)
			r.LoadgenCPU = 0.05
			recs = append(recs, r)
		}
	}
	recs[len(recs)-1].Result.Rate = 2000 // l4lb, xhr-streaming
	rep := buildReport(p, options{targets: defaultTargets}, machine{}, recs, nil, time.Second)
	for _, r := range rep.Rows {
		_, nodelay := r.Cells[targetHAProxyNoDelay]
		if nodelay != (r.Scenario == loadgen.XHRStreaming) {
			t.Errorf("row %s %s: HAProxy http-no-delay cell present %v; want it in xhr-streaming only", r.Scenario, r.Metric.Label, nodelay)
		}
		switch {
		case r.Metric.loadgen && (r.VsHAProxy != 0 || r.VsNginx != 0 || r.VsDirect != 0):
			t.Errorf("row %s %s: ratios %v %v %v; want none for loadgen's own cost", r.Scenario, r.Metric.Label, r.VsHAProxy, r.VsNginx, r.VsDirect)
		case r.Scenario == loadgen.XHRStreaming && r.Metric.Key == "rate" && r.VsNginx != 2:
			t.Errorf("xhr-streaming rate: l4lb/nginx = %v; want 2", r.VsNginx)
		}
		if r.Metric.loadgen && r.Metric.Key == "loadgen_cpu_per_op" && r.Cells[targetDirect].Median != 50 {
			t.Errorf("row %s %s: direct = %v; want 50 (0.05 s over 1000 ops)", r.Scenario, r.Metric.Label, r.Cells[targetDirect].Median)
		}
	}
	tbl := rep.table()
	if !strings.Contains(tbl, "| direct | HAProxy | HAProxy http-no-delay | nginx | l4lb | l4lb/HAProxy | l4lb/nginx | l4lb/direct |") {
		t.Errorf("table() header lacks the five targets and three ratios:\n%s", tbl)
	}
	if !strings.Contains(tbl, "| keepalive | req/s | 1000 [1000–1000] | 1000 [1000–1000] | – | 1000") {
		t.Errorf("table() does not mark HAProxy http-no-delay as not measured in keepalive:\n%s", tbl)
	}
	if v := rep.verdict(); v != "" {
		t.Errorf("verdict() = %q; want \"\"", v)
	}
	rep.Records = append(rep.Records, fakeRecord(1, targetNginx, loadgen.XHRStreaming, 1000, 0, 3, 0.01))
	if v := rep.verdict(); !strings.Contains(v, "nginx xhr-streaming: 3 misroutes") {
		t.Errorf("verdict() = %q after an nginx xhr-streaming misroute; want it named", v)
	}
	if err := xml.Unmarshal([]byte(rep.svg()), new(struct{})); err != nil {
		t.Errorf("svg() is not well-formed XML: %v", err)
	}
}

func TestStepArgs(t *testing.T) {
	got := strings.Join(xhrStreaming(2*time.Second).args([]string{"127.0.0.1:1"}, "l4lb"), " ")
	if want := "-scenario xhr-streaming -label l4lb -duration 2s -target 127.0.0.1:1 -workers 16 -message-size 2048"; got != want {
		t.Errorf("xhrStreaming(2s).args() = %q; want %q", got, want)
	}
	for _, p := range []plan{quickPlan(), fullPlan()} {
		if !p.runs(targetHAProxyNoDelay) || !p.runs(targetNginx) {
			t.Errorf("%s plan runs haproxy-nodelay %v, nginx %v; want both", p.Mode, p.runs(targetHAProxyNoDelay), p.runs(targetNginx))
		}
	}
	if (plan{Steps: []step{{Scenario: "polling"}}}).runs(targetHAProxyNoDelay) {
		t.Errorf("a polling-only plan runs haproxy-nodelay; want it left out")
	}
}

// TestReportL4LBB checks the second l4lb (--l4lb-b-args): its column, its
// ratio to l4lb, and its flags in the notes; without it, neither shows.
func TestReportL4LBB(t *testing.T) {
	p := plan{Mode: "test", Rounds: 1, Steps: []step{{Scenario: "keepalive"}}}
	recs := []*record{fakeRecord(1, targetL4LB, "keepalive", 1000, 0, 0, 0.01), fakeRecord(1, targetL4LBB, "keepalive", 1000, 0, 0, 0.011)}
	o := options{targets: []string{targetL4LB, targetL4LBB}, l4lbB: []string{"--access-log", "/tmp/x.log"}}
	rep := buildReport(p, o, machine{}, recs, nil, time.Second)
	for _, r := range rep.Rows {
		if r.Metric.Key == "cpu_per_op" && (r.BVsL4LB < 1.099 || r.BVsL4LB > 1.101) {
			t.Errorf("keepalive CPU: l4lb B/l4lb = %v; want 1.10", r.BVsL4LB)
		}
	}
	tbl := rep.table()
	if !strings.Contains(tbl, "| l4lb | l4lb B | l4lb/HAProxy | l4lb/nginx | l4lb/direct | l4lb B/l4lb |") || !strings.Contains(tbl, "| 1.10 ▼ |") {
		t.Errorf("table() lacks l4lb B's column or its ratio:\n%s", tbl)
	}
	if md := rep.markdown(); !strings.Contains(md, "l4lb B: the same l4lb run with `--access-log /tmp/x.log`") {
		t.Errorf("markdown() does not give l4lb B's flags:\n%s", md)
	}
	rep = buildReport(p, options{targets: []string{targetL4LB}}, machine{}, recs[:1], nil, time.Second)
	if tbl := rep.table(); strings.Contains(tbl, "l4lb B") {
		t.Errorf("table() without l4lb-b shows it:\n%s", tbl)
	}
}
