package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/l4lb/l4lb/tools/loadgen"
	"golang.org/x/sys/unix"
)

// machine describes where a run happened.
type machine struct {
	CPU     string  `json:"cpu"`
	Cores   int     `json:"cores"`
	MemGiB  float64 `json:"mem_gib"`
	Kernel  string  `json:"kernel"`
	FDLimit uint64  `json:"fd_limit"`
	Go      string  `json:"go"`
	HAProxy string  `json:"haproxy,omitempty"`
	Nginx   string  `json:"nginx,omitempty"`
	LoadAvg string  `json:"loadavg_at_start"`
}

func describeMachine(haproxy, nginx string) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b := totalRAM(); b > 0 {
		m.MemGiB = math.Round(float64(b)/(1<<30)*10) / 10
	}
	var un unix.Utsname
	if unix.Uname(&un) == nil {
		m.Kernel = unix.ByteSliceToString(un.Release[:])
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		m.FDLimit = uint64(rl.Max) // int64 on FreeBSD
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if haproxy != "" {
		if b, err := exec.Command(haproxy, "-v").Output(); err == nil {
			m.HAProxy = firstLine(string(b))
		}
	}
	if nginx != "" {
		m.Nginx = nginxVersion(nginx)
	}
	return m
}

// metric is one figure the table shows for a scenario.
type metric struct {
	Key    string `json:"key"`
	Label  string `json:"label"`
	Higher bool   `json:"higher_is_better"`
	get    func(*record) (float64, bool)
	// balancerOnly metrics have no direct figure.
	balancerOnly bool
	// loadgen metrics are loadgen's own cost: no ratios, not in the chart.
	loadgen bool
}

func metricsFor(scenario string) []metric {
	unit := "req"
	if scenario == loadgen.XHRStreaming {
		unit = "round trip"
	}
	rate := metric{Key: "rate", Label: unit + "s/s", Higher: true, get: func(r *record) (float64, bool) { return r.Result.Rate, true }}
	if unit == "req" {
		rate.Label = "req/s"
	}
	p50 := metric{Key: "p50", Label: "p50 µs", get: func(r *record) (float64, bool) { return r.Result.Latency.P50, true }}
	p99 := metric{Key: "p99", Label: "p99 µs", get: func(r *record) (float64, bool) { return r.Result.Latency.P99, true }}
	p999 := metric{Key: "p999", Label: "p99.9 µs", get: func(r *record) (float64, bool) { return r.Result.Latency.P999, true }}
	cpuOp := metric{Key: "cpu_per_op", Label: "balancer CPU µs/" + unit, balancerOnly: true, get: func(r *record) (float64, bool) {
		if r.Result.Ops == 0 {
			return 0, false
		}
		return r.BalancerCPU / float64(r.Result.Ops) * 1e6, true
	}}
	// loadgen shares the cores with what it measures: its own cost per
	// unit of work bounds what a run can show.
	loadgenOp := metric{Key: "loadgen_cpu_per_op", Label: "loadgen CPU µs/" + unit, loadgen: true, get: func(r *record) (float64, bool) {
		if r.Result.Ops == 0 || r.LoadgenCPU == 0 {
			return 0, false
		}
		return r.LoadgenCPU / float64(r.Result.Ops) * 1e6, true
	}}
	switch scenario {
	case "ws-idle":
		balancer := func(r *record) (total, setup float64) { return r.BalancerCPU, r.SetupCPU }
		lg := func(r *record) (total, setup float64) { return r.LoadgenCPU, r.LoadgenSetupCPU }
		ms := []metric{p50, p99, p999}
		ms = append(ms, setupSplit("", "balancer", balancer)...)
		ms = append(ms,
			metric{Key: "rss_per_conn", Label: "balancer RSS KB/conn", balancerOnly: true, get: func(r *record) (float64, bool) {
				if r.Result.Conns == 0 || r.PeakRSSKB == 0 {
					return 0, false
				}
				return float64(r.PeakRSSKB-r.BaseRSSKB) / float64(r.Result.Conns), true
			}},
			metric{Key: "fds_per_conn", Label: "balancer fds/conn", balancerOnly: true, get: func(r *record) (float64, bool) {
				if r.Result.Conns == 0 || r.PeakFDs == 0 {
					return 0, false
				}
				return float64(r.PeakFDs-r.BaseFDs) / float64(r.Result.Conns), true
			}})
		return append(ms, setupSplit("loadgen_", "loadgen", lg)...)
	case "bulk":
		return []metric{
			{Key: "mbps", Label: "MB/s", Higher: true, get: func(r *record) (float64, bool) { return r.Result.BytesPerSec / 1e6, true }},
			p50, p99,
			{Key: "cpu_per_gb", Label: "balancer CPU s/GB", balancerOnly: true, get: func(r *record) (float64, bool) {
				if r.Result.Bytes == 0 {
					return 0, false
				}
				return r.BalancerCPU / (float64(r.Result.Bytes) / 1e9), true
			}},
			{Key: "loadgen_cpu_per_gb", Label: "loadgen CPU s/GB", loadgen: true, get: func(r *record) (float64, bool) {
				if r.Result.Bytes == 0 || r.LoadgenCPU == 0 {
					return 0, false
				}
				return r.LoadgenCPU / (float64(r.Result.Bytes) / 1e9), true
			}},
		}
	default:
		return []metric{rate, p50, p99, p999, cpuOp, loadgenOp}
	}
}

// setupSplit returns ws-idle's two CPU metrics for one process, whose CPU
// over the run and until all connections were up cpu returns: per
// connection set up, and per message held after that. who is "balancer"
// or "loadgen", keyPrefix what its metric keys start with.
func setupSplit(keyPrefix, who string, cpu func(*record) (total, setup float64)) []metric {
	isLoadgen := who == "loadgen"
	return []metric{
		{Key: keyPrefix + "cpu_per_conn", Label: who + " CPU µs/conn setup", balancerOnly: !isLoadgen, loadgen: isLoadgen, get: func(r *record) (float64, bool) {
			_, setup := cpu(r)
			if r.Result.Conns == 0 || setup == 0 {
				return 0, false
			}
			return setup / float64(r.Result.Conns) * 1e6, true
		}},
		{Key: keyPrefix + "cpu_per_msg", Label: who + " CPU µs/msg held", balancerOnly: !isLoadgen, loadgen: isLoadgen, get: func(r *record) (float64, bool) {
			total, setup := cpu(r)
			if r.Result.Ops == 0 || setup == 0 {
				return 0, false
			}
			return (total - setup) / float64(r.Result.Ops) * 1e6, true
		}},
	}
}

// cell is a metric's figures for one target over the valid rounds.
type cell struct {
	N       int     `json:"n"`
	Invalid int     `json:"invalid"`
	Median  float64 `json:"median"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

// row is one line of the table.
type row struct {
	Scenario string          `json:"scenario"`
	Metric   metric          `json:"metric"`
	Cells    map[string]cell `json:"cells"`
	// Ratios of medians; 0 when either side is missing.
	VsHAProxy float64 `json:"l4lb_vs_haproxy"`
	VsNginx   float64 `json:"l4lb_vs_nginx"`
	VsDirect  float64 `json:"l4lb_vs_direct"`
	// BVsL4LB is l4lb-b's median over l4lb's, when l4lb-b ran.
	BVsL4LB float64 `json:"l4lb_b_vs_l4lb,omitempty"`
	st      step    // the step the row is about
}

type report struct {
	Date      time.Time         `json:"date"`
	Machine   machine           `json:"machine"`
	Settings  settings          `json:"settings"`
	L4LBArgs  []string          `json:"l4lb_args,omitempty"`   // --l4lb-args
	L4LBBArgs []string          `json:"l4lb_b_args,omitempty"` // --l4lb-b-args
	L4LBBBin  string            `json:"l4lb_b_bin,omitempty"`  // --l4lb-b-bin
	Plan      plan              `json:"plan"`
	Targets   []string          `json:"targets"`
	Notes     map[string]string `json:"notes,omitempty"`
	// L4LBSource says which l4lb was measured.
	L4LBSource string    `json:"l4lb_source,omitempty"`
	Seconds    float64   `json:"seconds"`
	Rows       []row     `json:"rows"`
	Records    []*record `json:"records"`
}

func buildReport(p plan, o options, m machine, records []*record, notes map[string]string, took time.Duration) *report {
	rep := &report{Date: time.Now().UTC(), Machine: m, Settings: o.settings, L4LBArgs: o.l4lbExtra, L4LBBArgs: o.l4lbB, L4LBBBin: o.l4lbBBin, Plan: p, Targets: o.targets,
		Notes: notes, Seconds: took.Seconds(), Records: records}
	for _, st := range p.Steps {
		for _, mt := range metricsFor(st.Scenario) {
			rw := row{Scenario: st.name(), Metric: mt, Cells: map[string]cell{}, st: st}
			for _, t := range allTargets {
				if mt.balancerOnly && t == targetDirect || !st.runs(t) {
					continue
				}
				var vals []float64
				c := cell{}
				for _, r := range records {
					if r.Target != t || r.Scenario != st.name() {
						continue
					}
					if !r.valid() {
						c.Invalid++
						continue
					}
					if v, ok := mt.get(r); ok {
						vals = append(vals, v)
					}
				}
				if len(vals) == 0 && c.Invalid == 0 {
					continue
				}
				c.N = len(vals)
				if len(vals) > 0 {
					c.Median, c.Min, c.Max = median(vals), slices.Min(vals), slices.Max(vals)
				}
				rw.Cells[t] = c
			}
			if !mt.loadgen {
				rw.VsHAProxy = ratio(rw.Cells, targetL4LB, targetHAProxy)
				rw.VsNginx = ratio(rw.Cells, targetL4LB, targetNginx)
				rw.VsDirect = ratio(rw.Cells, targetL4LB, targetDirect)
				rw.BVsL4LB = ratio(rw.Cells, targetL4LBB, targetL4LB)
			}
			rep.Rows = append(rep.Rows, rw)
		}
	}
	return rep
}

func ratio(cells map[string]cell, a, b string) float64 {
	ca, oka := cells[a]
	cb, okb := cells[b]
	if !oka || !okb || ca.N == 0 || cb.N == 0 || cb.Median == 0 {
		return 0
	}
	return ca.Median / cb.Median
}

// median of vals (sorted in place); the mean of the middle two when even.
func median(vals []float64) float64 {
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// tableTargets are the run's targets in the table's order.
func (rep *report) tableTargets() []string {
	return slices.DeleteFunc(slices.Clone(allTargets), func(t string) bool { return !slices.Contains(rep.Targets, t) })
}

// table renders the rows as a Markdown table: median [min–max] per target.
func (rep *report) table() string {
	targets := rep.tableTargets()
	var b strings.Builder
	b.WriteString("| scenario | metric |")
	for _, t := range targets {
		b.WriteString(" " + targetTitles[t] + " |")
	}
	b.WriteString(" l4lb/HAProxy | l4lb/nginx | l4lb/direct |")
	cols := len(targets) + 5
	withB := slices.Contains(targets, targetL4LBB)
	if withB {
		b.WriteString(" l4lb B/l4lb |")
		cols++
	}
	b.WriteString("\n|" + strings.Repeat(" --- |", cols) + "\n")
	for _, r := range rep.Rows {
		fmt.Fprintf(&b, "| %s | %s", r.Scenario, r.Metric.Label)
		for _, t := range targets {
			b.WriteString(" | " + fmtCell(r, t))
		}
		fmt.Fprintf(&b, " | %s | %s | %s |", fmtRatio(r.VsHAProxy, r.Metric.Higher), fmtRatio(r.VsNginx, r.Metric.Higher), fmtRatio(r.VsDirect, r.Metric.Higher))
		if withB {
			fmt.Fprintf(&b, " %s |", fmtRatio(r.BVsL4LB, r.Metric.Higher))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func fmtCell(r row, t string) string {
	c, ok := r.Cells[t]
	switch {
	case t == targetDirect && r.Metric.balancerOnly, !r.st.runs(t):
		return "–"
	case !ok:
		return "not run"
	case c.N == 0:
		return fmt.Sprintf("invalid (%d)", c.Invalid)
	}
	s := fmt.Sprintf("%s [%s–%s]", num(c.Median), num(c.Min), num(c.Max))
	if c.Invalid > 0 {
		s += fmt.Sprintf(" (%d invalid)", c.Invalid)
	}
	return s
}

// fmtRatio marks a ratio with ▲ when l4lb is better, ▼ when worse.
func fmtRatio(r float64, higher bool) string {
	if r == 0 {
		return "–"
	}
	mark := ""
	switch {
	case (r > 1.05 && higher) || (r < 0.95 && !higher):
		mark = " ▲"
	case (r < 0.95 && higher) || (r > 1.05 && !higher):
		mark = " ▼"
	}
	return fmt.Sprintf("%.2f%s", r, mark)
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// write saves <stamp>-<mode>.json, .svg and .md under dir and prints the
// table.
func (rep *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, rep.Date.Format("2006-01-02T1504Z")+"-"+rep.Plan.Mode)
	js, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	md := rep.markdown()
	for path, data := range map[string][]byte{base + ".json": js, base + ".svg": []byte(rep.svg()), base + ".md": []byte(md)} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	fmt.Print(md)
	fmt.Printf("\nwrote %s.{json,svg,md}\n", base)
	return nil
}

func (rep *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s run, %s, %d rounds, %.0f s; %s, %d cores, %.0f GiB, kernel %s, fd limit %d, %s; %s; %s; load average at start %s\n\n",
		rep.Plan.Mode, rep.Date.Format(time.RFC3339), rep.Plan.Rounds, rep.Seconds, rep.Machine.CPU, rep.Machine.Cores,
		rep.Machine.MemGiB, rep.Machine.Kernel, rep.Machine.FDLimit, rep.Machine.Go, rep.Machine.HAProxy, rep.Machine.Nginx, rep.Machine.LoadAvg)
	if lo, hi := rep.loadRange(); hi > 0 {
		fmt.Fprintf(&b, "1-minute load average at the start of each run: %.1f to %.1f (2 cores; above 2 means other work competed).\n\n", lo, hi)
	}
	if len(rep.L4LBArgs) > 0 {
		fmt.Fprintf(&b, "l4lb run with `%s`.\n\n", strings.Join(rep.L4LBArgs, " "))
	}
	if slices.Contains(rep.Targets, targetL4LBB) {
		switch {
		case rep.L4LBBBin != "":
			fmt.Fprintf(&b, "l4lb B: the binary %s run with `%s`, taking turns with l4lb.\n\n", rep.L4LBBBin, strings.Join(rep.L4LBBArgs, " "))
		default:
			fmt.Fprintf(&b, "l4lb B: the same l4lb run with `%s` instead, taking turns with l4lb.\n\n", strings.Join(rep.L4LBBArgs, " "))
		}
	}
	if rep.L4LBSource != "" {
		fmt.Fprintf(&b, "l4lb built from %s.\n\n", rep.L4LBSource)
	}
	fmt.Fprintf(&b, "threads %d, maxconn %d, PROXY %s. Cells: median [min–max] over valid rounds; – not measured for that target; ▲ l4lb better, ▼ worse (beyond 5%%).\n\n",
		rep.Settings.Threads, rep.Settings.MaxConn, rep.Settings.ProxyProtocol)
	b.WriteString(rep.table())
	b.WriteString("\n" + rep.correctness())
	if v := rep.verdict(); v != "" {
		b.WriteString("\nCorrectness check FAILED: " + v + "\n")
	} else {
		b.WriteString("\nCorrectness check passed: SockJS sessions through the balancers saw no misroute and no error.\n")
	}
	var invalid []string
	for _, r := range rep.Records {
		if !r.valid() {
			invalid = append(invalid, fmt.Sprintf("- round %d %s %s: %s", r.Round, r.Target, r.Scenario, r.Invalid))
		}
	}
	if len(invalid) > 0 {
		b.WriteString("\nInvalid runs (left out of the medians):\n\n" + strings.Join(invalid, "\n") + "\n")
	}
	for t, n := range rep.Notes {
		fmt.Fprintf(&b, "\nNote: %s %s\n", t, n)
	}
	return b.String()
}

// correctness sums, over every round (valid or not), the operations,
// errors and misroutes of each target in the session scenarios: the check
// that makes the speed figures meaningful.
func (rep *report) correctness() string {
	var b strings.Builder
	b.WriteString("Correctness over all rounds (SockJS echoes verified, misroutes counted):\n\n")
	b.WriteString("| scenario | target | ok ops | errors | misroutes | sessions | retried polls | reopened streams |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, st := range rep.Plan.Steps {
		for _, t := range allTargets {
			var ops, errs, mis, sess, retries, reopens int64
			n := 0
			for _, r := range rep.Records {
				if r.Target == t && r.Scenario == st.name() && r.Result != nil {
					n++
					ops += r.Result.Ops
					errs += r.Result.Errors
					mis += r.Result.Misroutes
					sess += r.Result.Sessions
					retries += r.Result.Retries
					reopens += r.Result.Reopens
				}
			}
			if n > 0 {
				fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d |\n", st.name(), t, ops, errs, mis, sess, retries, reopens)
			}
		}
	}
	return b.String()
}

func (rep *report) loadRange() (lo, hi float64) {
	for i, r := range rep.Records {
		if i == 0 || r.LoadAvg < lo {
			lo = r.LoadAvg
		}
		hi = max(hi, r.LoadAvg)
	}
	return lo, hi
}

// sessionStep reports whether the step named name runs SockJS sessions
// whose every request must reach the session's backend.
func sessionStep(name string) bool {
	return strings.HasPrefix(name, loadgen.Polling) || name == loadgen.ConnRate || name == loadgen.XHRStreaming
}

// verdict checks the session scenarios through the balancers: any misroute
// or error there fails the run, whatever the speed figures say. It returns
// "" when the check passes.
func (rep *report) verdict() string {
	var bad []string
	for _, r := range rep.Records {
		if r.Target == targetDirect || r.Result == nil || !sessionStep(r.Scenario) {
			continue
		}
		if r.Result.Misroutes > 0 || r.Result.Errors > 0 {
			bad = append(bad, fmt.Sprintf("round %d %s %s: %d misroutes, %d errors", r.Round, r.Target, r.Scenario, r.Result.Misroutes, r.Result.Errors))
		}
	}
	return strings.Join(bad, "; ")
}
