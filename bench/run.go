package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/l4lb/l4lb/tools/loadgen"
)

// maxErrorRate is the error rate above which a run is invalid: its figures
// are kept in the JSON but left out of the medians.
const maxErrorRate = 0.001

// record is one scenario run against one target in one round.
type record struct {
	Round    int             `json:"round"`
	Target   string          `json:"target"`
	Scenario string          `json:"scenario"`
	Result   *loadgen.Result `json:"result,omitempty"`
	// LoadAvg is the 1-minute load average when the run started: other
	// work on the machine shows here.
	LoadAvg float64 `json:"loadavg_1m"`
	// Invalid says why the run is left out of the medians; empty if valid.
	Invalid string `json:"invalid,omitempty"`
	// CPU seconds (utime+stime from /proc/<pid>/stat) spent during the run
	// by the balancer (0 for direct), the three backends and loadgen.
	BalancerCPU float64 `json:"balancer_cpu_s"`
	BackendCPU  float64 `json:"backend_cpu_s"`
	LoadgenCPU  float64 `json:"loadgen_cpu_s"`
	// LoadgenSetupCPU is the part of LoadgenCPU spent before ws-idle's
	// connections were all up.
	LoadgenSetupCPU float64 `json:"loadgen_setup_cpu_s,omitempty"`
	// Balancer memory and descriptors before the run and at their peak
	// during it (sampled every 250 ms; ws-idle only).
	// SetupCPU is the part of BalancerCPU spent before ws-idle's
	// connections were all up.
	SetupCPU  float64 `json:"setup_cpu_s,omitempty"`
	BaseRSSKB int64   `json:"base_rss_kb,omitempty"`
	PeakRSSKB int64   `json:"peak_rss_kb,omitempty"`
	BaseFDs   int     `json:"base_fds,omitempty"`
	PeakFDs   int     `json:"peak_fds,omitempty"`
}

func (r *record) valid() bool { return r.Invalid == "" && r.Result != nil }

// env is what the whole run shares.
type env struct {
	o        options
	root     string
	work     string
	loadgen  string
	l4lb     string
	haproxy  string
	nginx    string
	fdLimit  uint64
	backends []*proc
	addrs    []string
}

func run(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	p := fullPlan()
	if o.quick {
		p = quickPlan()
	}
	if o.rounds > 0 {
		p.Rounds = o.rounds
	}
	if len(o.scenarios) > 0 {
		p.Steps = slices.DeleteFunc(p.Steps, func(s step) bool { return !slices.Contains(o.scenarios, s.name()) })
		if len(p.Steps) == 0 {
			return fmt.Errorf("--scenarios %q: none of %v", o.scenarios, loadgen.Scenarios)
		}
	}
	// A run that leaves out rounds, scenarios or targets is not a full or
	// quick run and is named so (and git-ignored).
	if o.rounds > 0 || len(o.scenarios) > 0 || !slices.Equal(o.targets, defaultTargets) || len(o.l4lbExtra) > 0 {
		p.Mode += "-custom"
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "results")
	}
	work, err := os.MkdirTemp("", "l4lb-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory %s kept", work)
	} else {
		defer os.RemoveAll(work)
	}
	e := &env{o: o, root: root, work: work}
	notes := map[string]string{}

	wantL4LB := slices.Contains(o.targets, targetL4LB) || slices.Contains(o.targets, targetL4LBB)
	logf("building loadgen, backend%s", map[bool]string{true: ", l4lb", false: ""}[wantL4LB])
	if e.loadgen, err = e.build("./tools/loadgen/cmd/loadgen", "loadgen"); err != nil {
		return err
	}
	backendBin, err := e.build("./bench/backend", "backend")
	if err != nil {
		return err
	}
	source := ""
	if wantL4LB && o.l4lbBin != "" {
		e.l4lb, source = o.l4lbBin, "prebuilt "+o.l4lbBin
	} else if wantL4LB {
		source = describeSource(root)
		if e.l4lb, err = e.build("./cmd/l4lb", "l4lb"); err != nil {
			logf("l4lb does not build; its column stays empty: %v", err)
			notes[targetL4LB] = "build failed: " + firstLine(err.Error())
			o.targets = slices.DeleteFunc(o.targets, func(t string) bool { return t == targetL4LB || t == targetL4LBB })
		}
	}
	if slices.Contains(o.targets, targetHAProxy) || slices.Contains(o.targets, targetHAProxyNoDelay) {
		if e.haproxy, err = ensureHAProxy(logf); err != nil {
			return err
		}
	}
	if slices.Contains(o.targets, targetNginx) {
		if e.nginx, err = ensureNginx(logf); err != nil {
			return err
		}
	}
	// Targets that no step runs are not started.
	o.targets = slices.DeleteFunc(o.targets, func(t string) bool { return !p.runs(t) })
	if err := e.startBackends(backendBin); err != nil {
		return err
	}
	defer e.stopBackends()

	m := describeMachine(e.haproxy, e.nginx)
	e.fdLimit = m.FDLimit
	logf("%s; %d rounds of %d scenarios over %v", p.Mode, p.Rounds, len(p.Steps), o.targets)
	started := time.Now()
	var records []*record
	for round := 1; round <= p.Rounds && ctx.Err() == nil; round++ {
		// Each round starts every balancer fresh, then runs each scenario
		// through all targets back to back, so the targets of one
		// scenario meet nearly the same conditions on a shared machine;
		// the order rotates with the round and the scenario so that no
		// target is always first or last.
		running := map[string]*running{}
		for _, t := range o.targets {
			rt, err := e.startTarget(t)
			if err != nil {
				logf("round %d: %s did not start: %v", round, t, err)
				notes[t] += fmt.Sprintf("did not start in round %d: %s\n", round, firstLine(err.Error()))
				continue
			}
			running[t] = rt
		}
		for si, st := range p.Steps {
			order := slices.Clone(o.targets)
			k := (round - 1 + si) % len(order)
			order = append(order[k:], order[:k]...)
			order = slices.DeleteFunc(order, func(t string) bool { return !st.runs(t) })
			for _, t := range order {
				if ctx.Err() != nil {
					break
				}
				rt := running[t]
				if rt != nil && rt.proc != nil {
					if gone, perr := rt.proc.exited(); gone {
						// A crashed balancer is news, not noise: note it,
						// and restart it so the next scenarios still run.
						msg := fmt.Sprintf("exited in round %d before %s: %v; log tail: %s", round, st.name(), perr, tail(rt.proc.log.Name(), 3))
						logf("%s %s", t, msg)
						notes[t] += msg + "\n"
						rt, err = e.startTarget(t)
						if err != nil {
							notes[t] += "restart failed: " + firstLine(err.Error()) + "\n"
						}
						running[t] = rt
					}
				}
				if rt != nil && rt.proc != nil && st.measuresMemory() {
					// Memory per connection is growth over the process's
					// state before the run: start from a fresh process, not
					// from the heap and pools the round's earlier scenarios
					// left, which a balancer may reuse without growing.
					rt.stop()
					if rt, err = e.startTarget(t); err != nil {
						notes[t] += fmt.Sprintf("restart before %s failed in round %d: %s\n", st.name(), round, firstLine(err.Error()))
					}
					running[t] = rt
				}
				if rt == nil {
					records = append(records, &record{Round: round, Target: t, Scenario: st.name(), Invalid: "target did not start"})
					continue
				}
				rec := e.measure(ctx, rt, st, round)
				records = append(records, rec)
				logf("round %d %-8s %s", round, t, rec.line())
			}
		}
		for _, rt := range running {
			rt.stop()
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %s", time.Since(started).Round(time.Second))
	}
	rep := buildReport(p, o, m, records, notes, time.Since(started))
	rep.L4LBSource = source
	if err := rep.write(o.out); err != nil {
		return err
	}
	if v := rep.verdict(); v != "" {
		return fmt.Errorf("correctness check failed: %s", v)
	}
	return nil
}

// build compiles pkg from the module into the work directory.
func (e *env) build(pkg, name string) (string, error) {
	out := filepath.Join(e.work, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = e.root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// backendNames name the three backends; loadgen counts answers per name.
var backendNames = []string{"a", "b", "c"}

func (e *env) startBackends(bin string) error {
	for _, n := range backendNames {
		addr, err := freePort()
		if err != nil {
			return err
		}
		args := []string{"-name", n, "-listen", addr}
		if e.o.settings.ProxyProtocol != "off" {
			args = append(args, "-proxy-protocol")
		}
		p, err := startProc("backend-"+n, e.work, []string{"GOMAXPROCS=1"}, bin, args...)
		if err != nil {
			return err
		}
		e.backends = append(e.backends, p)
		if err := waitTCP(p, addr, 10*time.Second); err != nil {
			return err
		}
		e.addrs = append(e.addrs, addr)
	}
	return nil
}

func (e *env) stopBackends() {
	for _, p := range e.backends {
		p.stop()
	}
}

func (e *env) startTarget(name string) (*running, error) {
	switch name {
	case targetDirect:
		return &running{name: targetDirect, targets: e.addrs}, nil
	case targetHAProxy, targetHAProxyNoDelay:
		return startHAProxy(e.haproxy, e.work, name, e.o.settings, e.addrs)
	case targetNginx:
		return startNginx(e.nginx, e.work, e.o.settings, e.addrs, e.fdLimit)
	case targetL4LB:
		return startL4LB(name, e.l4lb, e.work, e.o.settings, e.addrs, nil, e.o.l4lbExtra...)
	case targetL4LBB:
		bin := e.l4lb
		if e.o.l4lbBBin != "" {
			bin = e.o.l4lbBBin
		}
		return startL4LB(name, bin, e.work, e.o.settings, e.addrs, nil, e.o.l4lbB...)
	}
	return nil, fmt.Errorf("unknown target %q", name)
}

func (e *env) backendCPU() time.Duration {
	var sum time.Duration
	for _, p := range e.backends {
		if u, err := p.usage(); err == nil {
			sum += u.cpu
		}
	}
	return sum
}

// measure runs one step through rt as a loadgen child process.
func (e *env) measure(ctx context.Context, rt *running, st step, round int) *record {
	rec := &record{Round: round, Target: rt.name, Scenario: st.name(), LoadAvg: loadAvg1()}
	var before usage
	var smp *sampler
	if rt.proc != nil {
		before, _ = rt.proc.usage()
		if st.Scenario == loadgen.WSIdle {
			rec.BaseRSSKB, rec.BaseFDs = before.rssKB, before.fds
			smp = startSampler(rt.proc.usage, 250*time.Millisecond)
		}
	}
	backendBefore := e.backendCPU()

	rctx, cancel := context.WithTimeout(ctx, st.Duration+3*time.Minute)
	defer cancel()
	// ws-idle reports on stderr when its connections are up: the CPU
	// spent until then is setup, the rest is holding.
	var setupCPU, loadgenSetupCPU time.Duration
	var loadgenPID atomic.Int64
	stderr := &watchWriter{marker: "connections up", fn: func() {
		if rt.proc != nil {
			if u, err := rt.proc.usage(); err == nil {
				setupCPU = u.cpu - before.cpu
			}
		}
		if pid := loadgenPID.Load(); pid > 0 {
			loadgenSetupCPU, _ = readCPU(int(pid))
		}
	}}
	started := func(pid int) { loadgenPID.Store(int64(pid)) }
	out, ps, err := runCapture(rctx, stderr, started, e.loadgen, st.args(rt.targets, rt.name)...)
	if stderr.seen {
		rec.SetupCPU = setupCPU.Seconds()
		rec.LoadgenSetupCPU = loadgenSetupCPU.Seconds()
	}

	if smp != nil {
		rec.PeakRSSKB, rec.PeakFDs = smp.end()
	}
	if rt.proc != nil {
		after, uerr := rt.proc.usage()
		if uerr != nil {
			rec.Invalid = fmt.Sprintf("%s gone after the run: %v", rt.name, uerr)
		}
		rec.BalancerCPU = (after.cpu - before.cpu).Seconds()
	}
	rec.BackendCPU = (e.backendCPU() - backendBefore).Seconds()
	if ps != nil {
		rec.LoadgenCPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	if err != nil {
		rec.Invalid = fmt.Sprintf("loadgen: %v: %s", err, firstLine(stderr.buf.String()))
		return rec
	}
	var res loadgen.Result
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		rec.Invalid = fmt.Sprintf("loadgen output: %v", err)
		return rec
	}
	rec.Result = &res
	switch {
	case rec.Invalid != "":
	case res.Ops == 0:
		rec.Invalid = "no successful operation"
	case res.ErrorRate() > maxErrorRate:
		rec.Invalid = fmt.Sprintf("error rate %.3f%% > %.1f%%", 100*res.ErrorRate(), 100*maxErrorRate)
	case res.Misroutes > 0:
		rec.Invalid = fmt.Sprintf("%d misroutes", res.Misroutes)
	}
	return rec
}

// line is a one-line progress report of rec.
func (r *record) line() string {
	if r.Result == nil {
		return fmt.Sprintf("%-12s INVALID: %s", r.Scenario, r.Invalid)
	}
	res := r.Result
	s := fmt.Sprintf("%-12s %9.0f %s/s p50 %6.0fµs p99 %7.0fµs err %d mis %d cpu %.2fs",
		r.Scenario, res.Rate, res.Unit, res.Latency.P50, res.Latency.P99, res.Errors, res.Misroutes, r.BalancerCPU)
	if res.Bytes > 0 {
		s += fmt.Sprintf(" %.0f MB/s", res.BytesPerSec/1e6)
	}
	if r.PeakRSSKB > 0 {
		s += fmt.Sprintf(" conns %d rss +%d KB fds +%d", res.Conns, r.PeakRSSKB-r.BaseRSSKB, r.PeakFDs-r.BaseFDs)
	}
	if r.Invalid != "" {
		s += " INVALID: " + r.Invalid
	}
	return s
}

// watchWriter keeps what is written to it and calls fn once, when marker
// first appears.
type watchWriter struct {
	buf    bytes.Buffer // not embedded: its ReadFrom would bypass Write
	marker string
	fn     func()
	seen   bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), w.marker) {
		w.seen = true
		w.fn()
	}
	return n, err
}

// loadAvg1 is the 1-minute load average from /proc/loadavg, 0 if unknown.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// tail returns the last n lines of the file at path, joined by " | ".
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// describeSource names the checkout l4lb is built from: the commit, and
// whether engine/ or cmd/ have uncommitted changes.
func describeSource(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "working tree (not a git checkout)"
	}
	s := "commit " + strings.TrimSpace(string(out))
	if dirty, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", "engine", "cmd", "sniff", "affinity", "registry").Output(); err == nil && len(bytes.TrimSpace(dirty)) > 0 {
		s += " plus uncommitted changes in engine/cmd/sniff/affinity/registry"
	}
	return s
}
