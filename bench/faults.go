package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The fault suite (go run ./bench --faults): each fault is injected into
// one of three backends while the fault load (faultload.go) runs through
// HAProxy and through l4lb, one balancer at a time, each with fresh
// backends; the timeline of every request gives the errors, the
// misroutes, the longest request, when the fault stopped costing requests
// and when the backend got traffic again. See bench/README.md, "Faults".

// faulted is the backend every fault hits (of backendNames).
const faulted = 1

// fault is one scenario of the suite.
type fault struct {
	N               int
	Name            string
	Inject, Recover time.Duration // since the load began
	End             time.Duration
	Discovery       bool // l4lb finds the backends in MongoDB (devmongo)
	inject, restore func(*faultRun) error
}

var faultList = []fault{
	{N: 1, Name: "backend SIGKILL, restarted 10 s later", Inject: 5 * time.Second, Recover: 15 * time.Second, End: 30 * time.Second,
		inject: func(r *faultRun) error { return r.backends[faulted].cmd.Process.Kill() },
		restore: func(r *faultRun) error {
			<-r.backends[faulted].done
			return r.startBackend(faulted)
		}},
	{N: 2, Name: "backend SIGSTOP for 15 s, then SIGCONT", Inject: 5 * time.Second, Recover: 20 * time.Second, End: 35 * time.Second,
		inject:  func(r *faultRun) error { return r.signal(syscall.SIGSTOP) },
		restore: func(r *faultRun) error { return r.signal(syscall.SIGCONT) }},
	{N: 3, Name: "backend blackholed for 15 s (stopped, accept queue full: SYNs dropped)", Inject: 5 * time.Second, Recover: 20 * time.Second, End: 35 * time.Second,
		inject: func(r *faultRun) error {
			if err := r.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			return r.fillBacklog()
		},
		restore: func(r *faultRun) error {
			err := r.signal(syscall.SIGCONT)
			for _, c := range r.fillers {
				c.Close()
			}
			return err
		}},
	{N: 4, Name: "backend accepts and closes at once for 15 s", Inject: 5 * time.Second, Recover: 20 * time.Second, End: 35 * time.Second,
		inject:  func(r *faultRun) error { return r.signal(syscall.SIGUSR2) },
		restore: func(r *faultRun) error { return r.signal(syscall.SIGUSR2) }},
	{N: 5, Name: "backend answers 503 to its health check for 15 s, serving traffic", Inject: 5 * time.Second, Recover: 20 * time.Second, End: 35 * time.Second,
		inject:  func(r *faultRun) error { return r.signal(syscall.SIGUSR1) },
		restore: func(r *faultRun) error { return r.signal(syscall.SIGUSR1) }},
	{N: 6, Name: "MongoDB (devmongo) stopped for 30 s", Inject: 5 * time.Second, Recover: 35 * time.Second, End: 50 * time.Second, Discovery: true,
		inject: func(r *faultRun) error {
			if r.mongo == nil {
				return nil // HAProxy: static configuration
			}
			r.mongo.stop()
			return nil
		},
		restore: func(r *faultRun) error {
			if r.mongo == nil {
				return nil
			}
			return r.startMongo()
		}},
}

// faultRun is one fault through one balancer.
type faultRun struct {
	e        *env
	f        fault
	target   string
	dir      string
	bins     map[string]string
	backends []*proc
	addrs    []string
	fillers  []net.Conn
	mongo    *proc
	mongoURL string
	mongoDir string
	mongoAt  string
	sidecars []*proc
}

// faultResult is what the timeline of one run says.
type faultResult struct {
	Fault    int    `json:"fault"`
	Name     string `json:"name"`
	Target   string `json:"target"`
	Requests int    `json:"requests"`
	Errors   int    `json:"errors"`
	// MisroutesAlive counts misroutes of sessions whose backend is not the
	// faulted one, during the fault and after it; MisroutesLost those of
	// sessions that lived on the faulted backend.
	MisroutesAliveDuring int           `json:"misroutes_alive_during"`
	MisroutesAliveAfter  int           `json:"misroutes_alive_after"`
	MisroutesLost        int           `json:"misroutes_lost"`
	MaxLatency           time.Duration `json:"max_latency_ns"`
	// RoutedAround is how long after the injection the last request
	// started that the fault cost (an error, over a second, or answered by
	// the faulted backend); -1 if none did.
	RoutedAround time.Duration `json:"routed_around_ns"`
	// TrafficAgain is how long after the recovery the faulted backend
	// answered a request; -1 if it did not.
	TrafficAgain    time.Duration `json:"traffic_again_ns"`
	ErrorSamples    []string      `json:"error_samples,omitempty"`
	MisrouteSamples []string      `json:"misroute_samples,omitempty"`
	Note            string        `json:"note,omitempty"`
}

func runFaults(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "l4lb-faults-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory %s kept", work)
	} else {
		defer os.RemoveAll(work)
	}
	e := &env{o: o, root: root, work: work}
	// Described now, before the build: the tree may change while the
	// suite runs.
	source := describeSource(root)
	bins := map[string]string{}
	for _, b := range []struct{ pkg, name string }{{"./bench/backend", "backend"}, {"./cmd/l4lb", "l4lb"}} {
		if bins[b.name], err = e.build(b.pkg, b.name); err != nil {
			return err
		}
	}
	if o.l4lbBin != "" {
		bins["l4lb"], source = o.l4lbBin, "prebuilt "+o.l4lbBin
	}
	logf("building tools/devmongo (FerretDB; the first build takes minutes)")
	devmongo := filepath.Join(work, "devmongo")
	if out, err := runIn(filepath.Join(root, "tools", "devmongo"), "go", "build", "-o", devmongo, "."); err != nil {
		return fmt.Errorf("go build tools/devmongo: %w\n%s", err, out)
	}
	bins["devmongo"] = devmongo
	if e.haproxy, err = ensureHAProxy(logf); err != nil {
		return err
	}
	m := describeMachine(e.haproxy, "")
	started := time.Now()
	var results []faultResult
	for i, f := range faultList {
		if len(o.faults) > 0 && !slices.Contains(o.faults, f.N) {
			continue
		}
		targets := []string{targetHAProxy, targetL4LB}
		if i%2 == 1 {
			slices.Reverse(targets)
		}
		targets = slices.DeleteFunc(targets, func(t string) bool { return !slices.Contains(o.targets, t) })
		for _, t := range targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r := &faultRun{e: e, f: f, target: t, bins: bins, dir: filepath.Join(work, fmt.Sprintf("%d-%s", f.N, t))}
			res, err := r.run(ctx)
			if err != nil {
				return fmt.Errorf("fault %d through %s: %w", f.N, t, err)
			}
			logf("fault %d %-8s %s", f.N, t, res.line())
			results = append(results, res)
		}
	}
	return writeFaults(o.out, root, source, m, results, time.Since(started))
}

// runIn runs a command in dir and returns its combined output.
func runIn(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

func (r *faultRun) run(ctx context.Context) (faultResult, error) {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return faultResult{}, err
	}
	defer r.stopAll()
	for i := range backendNames {
		addr, err := freePort()
		if err != nil {
			return faultResult{}, err
		}
		r.addrs = append(r.addrs, addr)
		r.backends = append(r.backends, nil)
		if err := r.startBackend(i); err != nil {
			return faultResult{}, err
		}
	}
	var bal *running
	var err error
	switch {
	case r.target == targetHAProxy:
		bal, err = startFaultHAProxy(r.e.haproxy, r.dir, r.e.o.settings, r.addrs)
	case r.f.Discovery:
		if err := r.startDiscovery(); err != nil {
			return faultResult{}, err
		}
		bal, err = r.startL4LB([]string{"--discovery", r.mongoURL, "--service", "web"})
	default:
		var args []string
		for _, a := range r.addrs {
			args = append(args, "--backend", a)
		}
		bal, err = r.startL4LB(args)
	}
	if err != nil {
		return faultResult{}, err
	}
	defer bal.stop()
	if err := r.waitAllServe(bal.targets[0]); err != nil {
		return faultResult{}, err
	}

	lctx, cancel := context.WithTimeout(ctx, r.f.End)
	defer cancel()
	done := make(chan *timeline, 1)
	go func() { done <- defaultFaultLoad.run(lctx, bal.targets[0]) }()
	begin := time.Now()
	note := ""
	for _, step := range []struct {
		at time.Duration
		do func(*faultRun) error
	}{{r.f.Inject, r.f.inject}, {r.f.Recover, r.f.restore}} {
		select {
		case <-lctx.Done():
		case <-time.After(time.Until(begin.Add(step.at))):
			if err := step.do(r); err != nil {
				note += err.Error() + "; "
			}
		}
	}
	tl := <-done
	res := analyze(tl, r.f, r.target)
	res.Note = strings.TrimSuffix(note, "; ")
	if r.target == targetHAProxy && r.f.Discovery {
		res.Note = "static configuration: HAProxy does not read discovery"
	}
	return res, nil
}

func (r *faultRun) startBackend(i int) error {
	p, err := startProc(fmt.Sprintf("backend-%s", backendNames[i]), r.dir, []string{"GOMAXPROCS=1"}, r.bins["backend"],
		"-name", backendNames[i], "-listen", r.addrs[i], "-backlog", "16")
	if err != nil {
		return err
	}
	r.backends[i] = p
	return waitTCP(p, r.addrs[i], 10*time.Second)
}

// signal sends sig to the faulted backend.
func (r *faultRun) signal(sig syscall.Signal) error {
	return r.backends[faulted].cmd.Process.Signal(sig)
}

// fillBacklog fills the stopped faulted backend's accept queue, so that
// further SYNs are dropped.
func (r *faultRun) fillBacklog() error {
	for range 64 {
		c, err := net.DialTimeout("tcp", r.addrs[faulted], 300*time.Millisecond)
		if err != nil {
			return nil // a SYN went unanswered: full
		}
		r.fillers = append(r.fillers, c)
	}
	return fmt.Errorf("accept queue of %s did not fill", r.addrs[faulted])
}

// startDiscovery starts devmongo and one l4lb register sidecar per
// backend, as a Meteor deployment with meteorhacks:cluster would.
func (r *faultRun) startDiscovery() error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	r.mongoAt, r.mongoDir = addr, filepath.Join(r.dir, "mongo")
	r.mongoURL = "mongodb://" + addr + "/l4lbfaults"
	if err := r.startMongo(); err != nil {
		return err
	}
	for i, a := range r.addrs {
		p, err := startProc("register-"+backendNames[i], r.dir, nil, r.bins["l4lb"], "register",
			"--discovery", r.mongoURL, "--service", "web", "--endpoint", "http://"+a,
			"--check", "http", "--check-path", "/sockjs/info", "--log-level", "warn")
		if err != nil {
			return err
		}
		r.sidecars = append(r.sidecars, p)
	}
	return nil
}

func (r *faultRun) startMongo() error {
	p, err := startProc("devmongo", r.dir, nil, r.bins["devmongo"], "-data", r.mongoDir, "-listen", r.mongoAt)
	if err != nil {
		return err
	}
	r.mongo = p
	return waitTCP(p, r.mongoAt, 30*time.Second)
}

func (r *faultRun) startL4LB(args []string) (*running, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	all := append(l4lbArgs(r.e.o.settings, listen, nil), "--log-level", "info",
		"--health-check", "http:"+r.e.o.settings.Prefix+"/info",
		"--health-interval", faultCheckInterval.String(), "--health-timeout", faultCheckTimeout.String())
	return startServing(targetL4LB, r.dir, nil, r.bins["l4lb"], listen, append(all, args...)...)
}

// startServing starts bin as target name and waits until it accepts on
// listen.
func startServing(name, dir string, env []string, bin, listen string, args ...string) (*running, error) {
	p, err := startProc(name, dir, env, bin, args...)
	if err != nil {
		return nil, err
	}
	if err := waitTCP(p, listen, 10*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return &running{name: name, proc: p, targets: []string{listen}}, nil
}

// waitAllServe waits until requests through addr reach all three
// backends (discovery may take a few seconds).
func (r *faultRun) waitAllServe(addr string) error {
	c := newFaultClient(2*time.Second, 1)
	defer c.CloseIdleConnections()
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < len(backendNames) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %v answered through %s within 30 s", seen, addr)
		}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			seen[resp.Header.Get("X-Backend")] = true
			resp.Body.Close()
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		delete(seen, "")
	}
	return nil
}

func (r *faultRun) stopAll() {
	r.signal(syscall.SIGCONT)
	for _, c := range r.fillers {
		c.Close()
	}
	for _, p := range r.sidecars {
		p.stop()
	}
	for _, p := range r.backends {
		if p != nil {
			if gone, _ := p.exited(); !gone {
				p.stop()
			}
		}
	}
	if r.mongo != nil {
		if gone, _ := r.mongo.exited(); !gone {
			r.mongo.stop()
		}
	}
}

// analyze reads a run's timeline.
func analyze(tl *timeline, f fault, target string) faultResult {
	res := faultResult{Fault: f.N, Name: f.Name, Target: target, RoutedAround: -1, TrafficAgain: -1}
	bad := backendNames[faulted]
	errs, misroutes := map[string]bool{}, map[string]bool{}
	for _, s := range tl.samples {
		res.Requests++
		res.MaxLatency = max(res.MaxLatency, s.took)
		during := s.start >= f.Inject && s.start < f.Recover
		switch s.out {
		case outError:
			res.Errors++
			if len(errs) < 20 {
				errs[fmt.Sprintf("%.1fs: %s", s.start.Seconds(), trim(s.err))] = true
			}
		case outMisroute:
			if len(misroutes) < 10 {
				misroutes[fmt.Sprintf("%.1fs: %s", s.start.Seconds(), trim(s.err))] = true
			}
			switch {
			case s.home == bad && !f.Discovery:
				res.MisroutesLost++
			case during:
				res.MisroutesAliveDuring++
			default:
				res.MisroutesAliveAfter++
			}
		}
		if !f.Discovery && during && (s.out == outError || s.took > time.Second || s.backend == bad) {
			res.RoutedAround = max(res.RoutedAround, s.start-f.Inject)
		}
		if !f.Discovery && s.start >= f.Recover && s.backend == bad && (res.TrafficAgain < 0 || s.start-f.Recover < res.TrafficAgain) {
			res.TrafficAgain = s.start - f.Recover
		}
	}
	for e := range errs {
		res.ErrorSamples = append(res.ErrorSamples, e)
	}
	for e := range misroutes {
		res.MisrouteSamples = append(res.MisrouteSamples, e)
	}
	slices.Sort(res.ErrorSamples)
	slices.Sort(res.MisrouteSamples)
	return res
}

func (r faultResult) line() string {
	return fmt.Sprintf("%d req, %d errors, misroutes alive %d+%d lost %d, max %s, routed around %s, traffic again %s %s",
		r.Requests, r.Errors, r.MisroutesAliveDuring, r.MisroutesAliveAfter, r.MisroutesLost, r.MaxLatency.Round(time.Millisecond),
		fmtOffset(r.RoutedAround), fmtOffset(r.TrafficAgain), r.Note)
}

func fmtOffset(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// writeFaults prints the table and writes it, with the raw results, to
// out/<date>-faults.{md,json}.
func writeFaults(out, root, source string, m machine, results []faultResult, took time.Duration) error {
	if out == "" {
		out = filepath.Join(root, "bench", "results")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("2006-01-02T1504Z")
	var b strings.Builder
	fmt.Fprintf(&b, "fault suite, %s, %s; %s, %d cores, kernel %s, %s; %s; load average at start %s; l4lb %s\n\n",
		time.Now().UTC().Format(time.RFC3339), took.Round(time.Second), m.CPU, m.Cores, m.Kernel, m.Go, m.HAProxy, m.LoadAvg, source)
	fmt.Fprintf(&b, "| fault | balancer | requests | errors | misroutes, alive sessions (during + after) | misroutes, sessions on the faulted backend | longest request | fault routed around after | traffic again after |\n")
	fmt.Fprintf(&b, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		name := r.Target
		if r.Target == targetHAProxy {
			name = "HAProxy"
		}
		around, again := fmtOffset(r.RoutedAround), fmtOffset(r.TrafficAgain)
		if r.RoutedAround < 0 && r.TrafficAgain < 0 && faultList[r.Fault-1].Discovery {
			around, again = "n/a", "n/a"
		}
		fmt.Fprintf(&b, "| %d. %s | %s | %d | %d | %d + %d | %d | %.2f s | %s | %s |\n", r.Fault, r.Name, name, r.Requests, r.Errors,
			r.MisroutesAliveDuring, r.MisroutesAliveAfter, r.MisroutesLost, r.MaxLatency.Seconds(), around, again)
	}
	fmt.Print(b.String())
	if err := os.WriteFile(filepath.Join(out, stamp+"-faults.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(map[string]any{"machine": m, "results": results}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, stamp+"-faults.json"), js, 0o644)
}

// The active checks of both balancers in the fault suite: rise 2 and
// fall 3 (both balancers' defaults), every second, timing out after one.
// A request in flight on a backend that stops answering waits until the
// check takes the backend out, at most fall × interval (jittered by 10%)
// + timeout = 4.3 s, which keeps it under l4lb's connect timeout (5 s)
// plus a second: issue 12's bound for hung and blackholed backends. The
// defaults (2 s and 2 s: up to 8.6 s) would not.
const (
	faultCheckInterval = time.Second
	faultCheckTimeout  = time.Second
)

// haproxyFaultDefaults turn bench's HAProxy configuration (targets.go)
// into one with health checking as a production user sets it: HTTP
// checks of the SockJS info URL, rise 2, fall 3, at l4lb's interval and
// timeout (faultCheckInterval), and layer-4 observation of real traffic
// marking a server down after 3 errors (l4lb's --eject-after default).
// The requests in flight on a server marked down are left to "timeout
// server" (60 s) or the client, as HAProxy does without
// "on-marked-down shutdown-sessions", which the production
// configuration does not have.
func haproxyFaultDefaults(prefix string) []string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
	return []string{
		"option httpchk GET " + prefix + "/info",
		"timeout check " + ms(faultCheckTimeout),
		"default-server check inter " + ms(faultCheckInterval) + " rise 2 fall 3 observe layer4 error-limit 3 on-error mark-down",
	}
}

func startFaultHAProxy(bin, dir string, s settings, backends []string) (*running, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := renderHAProxyWith(s, listen, backends, false, haproxyFaultDefaults(s.Prefix))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return startServing(targetHAProxy, dir, nil, bin, listen, "-db", "-f", path)
}
