package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The -scale check: sessions that run while the backend set changes.
//
//	join+drain  a fourth backend joins the backends file 3 s into the run,
//	            and an original one is marked draining at 6 s; then a
//	            second wave of short sessions opens (none may go to the
//	            draining backend when the memory is on)
//	fail        backend B is killed before the sessions open and started
//	            again (without sessions) 10 s later, its entry staying in
//	            the file: the sessions opened on its fallback meanwhile
//	            must keep working after it is back
//
// each through l4lb with its session memory and without it
// (--session-memory 0), and join+drain also through two balancers that
// read the same file, behind a client that alternates between them per
// connection. Then loadgen's polling scenario runs join+drain against Go
// echo backends through the same four targets and counts misroutes.

type scaleOptions struct {
	on       bool
	messages int
	interval time.Duration
	hup      bool
}

// scaleTarget is a balancer setup of the scale check.
type scaleTarget struct {
	name   string
	n      int // l4lb processes, each new connection to the next
	memory bool
}

var scaleTargets = []scaleTarget{
	{"l4lb", 1, true},
	{"l4lb-nomem", 1, false},
	{"l4lb-x2", 2, true},
	{"l4lb-nomem-x2", 2, false},
}

// Times of the changes, from the start of the sessions.
const (
	joinAfter  = 3 * time.Second
	drainAfter = 6 * time.Second
	failFor    = 10 * time.Second
)

// lbGroup is a running scale target: its l4lb processes, in the order
// the client alternates over.
type lbGroup struct {
	scaleTarget
	addrs []string
	cmds  []*exec.Cmd
	logs  []string
}

// scaleCheck is the state of one -scale run.
type scaleCheck struct {
	*check
	bin    string
	ports  map[string]int       // node backend name -> port
	node   map[string]*exec.Cmd // node backend name -> its process
	file   string               // the node backends' file
	goBack *goBackends          // loadgen's backends
	rows   []string
	cells  map[string]map[string]string // row -> target -> cell
	fail   []string                     // why the exit status is 1
}

func runScale(o options) int {
	ctx, done := checkContext(o)
	defer done()
	var ps procs
	defer ps.killAll()
	c := &scaleCheck{
		check: &check{o: o, ps: &ps, results: map[string]map[string]*clientResult{}},
		ports: map[string]int{}, node: map[string]*exec.Cmd{}, cells: map[string]map[string]string{},
	}
	err := c.run(ctx)
	if c.goBack != nil {
		c.goBack.close()
	}
	c.printTable()
	return c.exitCode(err)
}

// exitCode is the process's exit code after a run that ended with err:
// 2 if the run itself broke off, 1 if a check failed (each is printed),
// else 0.
func (c *scaleCheck) exitCode(err error) int {
	if c.failed(err) {
		return 2
	}
	for _, f := range c.fail {
		fmt.Fprintln(os.Stderr, "sockjscheck:", f)
	}
	if len(c.fail) > 0 {
		return 1
	}
	return 0
}

// setUp installs the client, builds l4lb and starts the named sockjs-node
// backends, each on a port of its own.
func (c *scaleCheck) setUp(ctx context.Context, names ...string) error {
	if err := c.prepare(ctx, nil); err != nil {
		return err
	}
	var err error
	if c.bin, err = c.buildL4LB(ctx); err != nil {
		return err
	}
	for _, name := range names {
		port, err := freePort()
		if err != nil {
			return err
		}
		if c.node[name], err = c.startBackend(ctx, name, port); err != nil {
			return err
		}
		c.ports[name] = port
	}
	return nil
}

func (c *scaleCheck) run(ctx context.Context) error {
	if err := c.setUp(ctx, "A", "B", "C", "D"); err != nil {
		return err
	}
	targets, err := c.targets()
	if err != nil {
		return err
	}
	c.file = filepath.Join(c.runDir, "backends-node.txt")
	for _, tr := range c.o.transports {
		for _, tg := range targets {
			if err := c.joinDrain(ctx, tr, tg); err != nil {
				return err
			}
		}
	}
	for _, tr := range c.o.transports {
		for _, tg := range targets {
			if tg.n == 1 {
				if err := c.failReturn(ctx, tr, tg); err != nil {
					return err
				}
			}
		}
	}
	if c.goBack, err = startGoBackends(); err != nil {
		return err
	}
	for _, tg := range targets {
		if err := c.loadgen(ctx, tg); err != nil {
			return err
		}
	}
	return nil
}

// targets returns the scale targets -targets names, all by default.
func (c *scaleCheck) targets() ([]scaleTarget, error) {
	if len(c.o.targets) == 0 {
		return scaleTargets, nil
	}
	var out []scaleTarget
	for _, name := range c.o.targets {
		i := slices.IndexFunc(scaleTargets, func(t scaleTarget) bool { return t.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown scale target %q (known: %s)", name, strings.Join(targetNamesOf(scaleTargets), ", "))
		}
		out = append(out, scaleTargets[i])
	}
	return out, nil
}

// nodeSet is the content of the node backends' file: A, B and C, with D
// if join, and A draining if drain.
func (c *scaleCheck) nodeSet(join, drain bool) string {
	var b strings.Builder
	for _, name := range []string{"A", "B", "C", "D"} {
		if name == "D" && !join {
			continue
		}
		fmt.Fprintf(&b, "127.0.0.1:%d", c.ports[name])
		if name == "A" && drain {
			b.WriteString(" state=draining")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeFile replaces path's content atomically.
func writeFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// startGroup starts tg's l4lb processes on file.
func (c *scaleCheck) startGroup(ctx context.Context, tg scaleTarget, run, file string) (*lbGroup, error) {
	g := &lbGroup{scaleTarget: tg}
	for i := range tg.n {
		args := []string{"--backends-file", file, "--loops", "2", "--log-level", "info"}
		if !tg.memory {
			args = append(args, "--session-memory", "0")
		}
		logName := fmt.Sprintf("l4lb-%s-%d.log", run, i)
		addr, cmd, err := c.runL4LB(ctx, c.bin, logName, args)
		if err != nil {
			g.stop(c.ps)
			return nil, err
		}
		g.addrs, g.cmds, g.logs = append(g.addrs, addr), append(g.cmds, cmd), append(g.logs, filepath.Join(c.runDir, logName))
	}
	return g, nil
}

func (g *lbGroup) stop(ps *procs) {
	for _, cmd := range g.cmds {
		ps.kill(cmd)
	}
}

// change writes content to file and waits until every balancer of g has
// applied it (its log says "backend set"), and returns when the first and
// the last did.
func (c *scaleCheck) change(ctx context.Context, g *lbGroup, file, content string) (first, last time.Time, err error) {
	before := make([]int, len(g.logs))
	for i, l := range g.logs {
		before[i] = len(setTimes(l))
	}
	if err := writeFile(file, content); err != nil {
		return first, last, err
	}
	if c.o.scale.hup {
		for _, cmd := range g.cmds {
			cmd.Process.Signal(syscall.SIGHUP)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, l := range g.logs {
		for {
			ts := setTimes(l)
			if len(ts) > before[i] {
				t := ts[len(ts)-1]
				if first.IsZero() || t.Before(first) {
					first = t
				}
				if t.After(last) {
					last = t
				}
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return first, last, fmt.Errorf("%s did not apply the new backends file within 10 s", l)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return first, last, nil
}

// setTimes returns the times of the "backend set" lines of an l4lb log.
func setTimes(path string) []time.Time {
	b, _ := os.ReadFile(path)
	var ts []time.Time
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="backend set"`) {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// nodeConfig is js/client.js's config for the long sessions of a run
// through g.
func (c *scaleCheck) nodeConfig(g *lbGroup, transport, trace string, sessions, concurrency, messages int, interval time.Duration) []byte {
	cfg, _ := json.Marshal(map[string]any{
		"url":              "http://" + g.addrs[0] + "/sockjs",
		"alternate":        g.addrs,
		"transport":        transport,
		"sessions":         sessions,
		"concurrency":      concurrency,
		"messages":         messages,
		"intervalMs":       interval.Milliseconds(),
		"maxSockets":       c.o.maxSockets,
		"sessionTimeoutMs": (2 * time.Minute).Milliseconds(),
		"traceFile":        filepath.Join(c.runDir, trace),
	})
	return cfg
}

type nodeOutcome struct {
	r   *clientResult
	err error
}

// startNode runs the client in the background.
func (c *scaleCheck) startNode(ctx context.Context, cfg []byte) <-chan nodeOutcome {
	done := make(chan nodeOutcome, 1)
	go func() {
		r, err := c.runNode(ctx, cfg, 5*time.Minute)
		done <- nodeOutcome{r, err}
	}()
	return done
}

// applied records when a change was applied by the first and the last
// balancer of a group.
type applied struct {
	name        string
	first, last time.Time
}

// startRun puts A, B and C in the node backends' file and starts tg's
// balancers on it.
func (c *scaleCheck) startRun(ctx context.Context, tg scaleTarget, run string) (*lbGroup, error) {
	if err := writeFile(c.file, c.nodeSet(false, false)); err != nil {
		return nil, err
	}
	return c.startGroup(ctx, tg, run, c.file)
}

// joinDrain is the join+drain scenario through tg with one transport.
func (c *scaleCheck) joinDrain(ctx context.Context, transport string, tg scaleTarget) error {
	run := "join-drain-" + transport + "-" + tg.name
	g, err := c.startRun(ctx, tg, run)
	if err != nil {
		return err
	}
	defer g.stop(c.ps)
	c.logs.mark()
	start := time.Now()
	wave := c.startNode(ctx, c.nodeConfig(g, transport, run+".client", c.o.sessions, c.o.sessions, c.o.scale.messages, c.o.scale.interval))
	var changes []applied
	for _, step := range []struct {
		name        string
		at          time.Duration
		join, drain bool
	}{{"join", joinAfter, true, false}, {"drain", drainAfter, true, true}} {
		time.Sleep(time.Until(start.Add(step.at)))
		first, last, err := c.change(ctx, g, c.file, c.nodeSet(step.join, step.drain))
		if err != nil {
			return err
		}
		changes = append(changes, applied{step.name, first, last})
	}
	late, err := c.runNode(ctx, c.nodeConfig(g, transport, run+"-late.client", c.o.sessions, c.o.concurrency, 5, 0), 2*time.Minute)
	if err != nil {
		return fmt.Errorf("%s: new sessions after the drain: %w", run, err)
	}
	out := <-wave
	if out.err != nil {
		return fmt.Errorf("%s: %w", run, out.err)
	}
	if err := c.saveResult(run, out.r); err != nil {
		return err
	}
	if err := c.saveResult(run+"-late", late); err != nil {
		return err
	}
	onDrained := 0
	for _, b := range late.Backends {
		if b == "A" {
			onDrained++
		}
	}
	split, err := c.requestLog(run)
	if err != nil {
		return err
	}
	r := out.r
	cell := fmt.Sprintf("%d/%d, %d new on A", r.Completed, r.Sessions, onDrained)
	detail := ""
	if tg.n > 1 {
		why, err := explain(filepath.Join(c.runDir, run+".client"), r, g, changes, split)
		if err != nil {
			return err
		}
		detail = "; broken: " + why.String()
		if why.unexplained > 0 && tg.memory {
			c.fail = append(c.fail, fmt.Sprintf("%s: %d broken sessions not explained by the two balancers' disagreement", run, why.unexplained))
		}
	}
	c.report("join+drain "+transport, tg.name, cell, r, split, detail)
	if tg.memory && tg.n == 1 && r.Completed < r.Sessions {
		c.fail = append(c.fail, fmt.Sprintf("%s: %d/%d sessions completed; want all", run, r.Completed, r.Sessions))
	}
	if tg.memory && onDrained > 0 {
		c.fail = append(c.fail, fmt.Sprintf("%s: %d new sessions went to the draining backend", run, onDrained))
	}
	return nil
}

// failReturn is the fail scenario through tg with one transport.
func (c *scaleCheck) failReturn(ctx context.Context, transport string, tg scaleTarget) error {
	run := "fail-" + transport + "-" + tg.name
	g, err := c.startRun(ctx, tg, run)
	if err != nil {
		return err
	}
	defer g.stop(c.ps)
	c.ps.kill(c.node["B"])
	failed := time.Now()
	c.logs.mark()
	wave := c.startNode(ctx, c.nodeConfig(g, transport, run+".client", c.o.sessions, c.o.sessions, c.o.scale.messages, c.o.scale.interval))
	time.Sleep(time.Until(failed.Add(failFor)))
	if c.node["B"], err = c.startBackend(ctx, "B", c.ports["B"]); err != nil {
		return err
	}
	back := time.Now()
	out := <-wave
	if out.err != nil {
		return fmt.Errorf("%s: %w", run, out.err)
	}
	if err := c.saveResult(run, out.r); err != nil {
		return err
	}
	split, err := c.requestLog(run)
	if err != nil {
		return err
	}
	r := out.r
	lastEnd := lastRequestEnd(filepath.Join(c.runDir, run+".client"), r.T0)
	detail := fmt.Sprintf("; sessions ran %.1f s past B's return", lastEnd.Sub(back).Seconds())
	c.report("fail 10s "+transport, tg.name, fmt.Sprintf("%d/%d", r.Completed, r.Sessions), r, split, detail)
	if tg.memory && r.Completed < r.Sessions {
		c.fail = append(c.fail, fmt.Sprintf("%s: %d/%d sessions completed; want all", run, r.Completed, r.Sessions))
	}
	return nil
}

// saveResult writes the client's result, failures included, to the run
// directory.
func (c *scaleCheck) saveResult(run string, r *clientResult) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	path := filepath.Join(c.runDir, run+".result.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// requestLog writes the backends' request log lines since mark to the run
// directory and returns the sessions whose requests reached more than one
// backend.
func (c *scaleCheck) requestLog(run string) ([]string, error) {
	time.Sleep(300 * time.Millisecond) // aborted streams are logged when their connection closes
	lines, err := c.logs.cut()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.runDir, run+".requests")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return splitSessions(lines), nil
}

// report prints one run and keeps its cell for the table.
func (c *scaleCheck) report(row, target, cell string, r *clientResult, split []string, detail string) {
	if c.cells[row] == nil {
		c.rows = append(c.rows, row)
		c.cells[row] = map[string]string{}
	}
	c.cells[row][target] = cell
	fmt.Fprintf(os.Stderr, "%-26s %-14s %s; sessions split over backends: %d%s\n", row, target, cell, len(split), detail)
	if len(r.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "%41s first failure: %s\n", "", r.Failures[0])
	}
}

func (c *scaleCheck) printTable() {
	fmt.Printf("\n| scale | %s |\n|%s\n", strings.Join(targetNamesOf(scaleTargets), " | "), strings.Repeat("---|", len(scaleTargets)+1))
	for _, row := range c.rows {
		cells := []string{row}
		for _, tg := range scaleTargets {
			v := c.cells[row][tg.name]
			if v == "" {
				v = "-"
			}
			cells = append(cells, v)
		}
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
	}
}

func targetNamesOf(ts []scaleTarget) []string {
	var names []string
	for _, t := range ts {
		names = append(names, t.name)
	}
	return names
}

// traceLine is one request of a client trace.
type traceLine struct {
	start, end int64 // ms since t0; end -1 if it never ended
	session    string
	remote     int // the balancer's port
}

func readTrace(path string) ([]traceLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	var out []traceLine
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 {
			continue
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		end, err2 := strconv.ParseInt(f[1], 10, 64)
		if err2 != nil {
			end = -1
		}
		remote, _ := strconv.Atoi(f[8])
		if err1 == nil {
			out = append(out, traceLine{start: start, end: end, session: f[2], remote: remote})
		}
	}
	return out, nil
}

func lastRequestEnd(path string, t0 int64) time.Time {
	lines, _ := readTrace(path)
	var last int64
	for _, l := range lines {
		last = max(last, l.end, l.start)
	}
	return time.UnixMilli(t0 + last)
}

// why counts broken sessions by the reason two balancers can disagree.
type why struct {
	oneOnly     int // seen by one balancer only before the change
	opened      int // opened while the balancers had different sets
	notMoved    int // no request reached another backend: a timeout
	unexplained int
}

func (w why) String() string {
	return fmt.Sprintf("%d seen by one balancer only before the change, %d opened while the balancers' sets differed, %d unexplained; %d not moved (timed out)",
		w.oneOnly, w.opened, w.unexplained, w.notMoved)
}

// explain sorts the broken sessions of r, a run through the balancers of
// g that saw changes, by why they broke: the session was seen by one
// balancer only before the change that broke it, or it was opened between
// the first and the last balancer applying it. split lists the sessions
// whose requests reached more than one backend ("<id>@A+D"); a broken
// session that is not among them was not moved.
func explain(trace string, r *clientResult, g *lbGroup, changes []applied, split []string) (why, error) {
	var w why
	lines, err := readTrace(trace)
	if err != nil {
		return w, err
	}
	balancer := map[int]int{}
	for i, a := range g.addrs {
		_, p, _ := strings.Cut(a, ":")
		port, _ := strconv.Atoi(p)
		balancer[port] = i
	}
	bySession := map[string][]traceLine{}
	for _, l := range lines {
		bySession[l.session] = append(bySession[l.session], l)
	}
	at := func(ms int64) time.Time { return time.UnixMilli(r.T0 + ms) }
	for _, f := range r.Failures {
		id, _, _ := strings.Cut(f, ":")
		if !slices.ContainsFunc(split, func(s string) bool { return strings.HasPrefix(s, id+"@") }) {
			w.notMoved++
			continue
		}
		reqs := bySession[id]
		if len(reqs) == 0 {
			w.unexplained++
			continue
		}
		opened, last := at(reqs[0].start), at(reqs[0].start)
		for _, l := range reqs {
			last = maxTime(last, at(l.start))
		}
		// The change that broke it: the last one begun before its last
		// request.
		var ch *applied
		for i := range changes {
			if changes[i].first.Before(last) {
				ch = &changes[i]
			}
		}
		switch {
		case ch == nil:
			w.unexplained++
		case !opened.Before(ch.first) && !opened.After(ch.last):
			w.opened++
		default:
			// Seen by a balancer: answered through it before the change
			// (a request sent earlier may have waited in its queue).
			seen := map[int]bool{}
			for _, l := range reqs {
				if l.end >= 0 && at(l.end).Before(ch.first) {
					seen[balancer[l.remote]] = true
				}
			}
			if len(seen) < len(g.addrs) {
				w.oneOnly++
			} else {
				w.unexplained++
			}
		}
	}
	return w, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
