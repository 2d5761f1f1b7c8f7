package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// The -outage check: a backend taken out by l4lb's health check for 10 s,
// then back, and the SockJS sessions opened on its fallback meanwhile.
//
// Three sockjs-node backends A, B and C behind one l4lb (--backends-file,
// --loops 2) that checks them with GET /sockjs/info every second (timeout
// 2 s, rise 2, fall 3: a 1 s timeout took a busy Node backend out now
// and then on the loaded test machine). B is stopped (SIGSTOP): its checks
// time out and l4lb marks it down; once its log says so, 20 sessions per
// transport open at once, each sending -scale-messages messages
// -scale-interval apart (about 15 s unloaded). The sessions whose key
// belongs to B open on its fallback, the next backend in affinity's
// order. 10 s after the stop, and not before every session has opened, B
// resumes (SIGCONT), passes two checks and is up again while the
// sessions still run: with the session memory they stay where they
// opened; without it (--session-memory 0) their keys go back to B, which
// does not know them.

var outageOn bool

func init() {
	flag.BoolVar(&outageOn, "outage", false, "instead: backend B stopped for 10 s and taken out by l4lb's HTTP check, then back; the sessions opened on its fallback meanwhile, with and without the session memory")
}

// outageTarget is a balancer setup of the outage check.
type outageTarget struct {
	name   string
	memory bool
}

var outageTargets = []outageTarget{{"l4lb", true}, {"l4lb-nomem", false}}

// outageFor is how long B stays stopped.
const outageFor = 10 * time.Second

func runOutage(o options) int {
	ctx, done := checkContext(o)
	defer done()
	var ps procs
	defer ps.killAll()
	c := &scaleCheck{
		check: &check{o: o, ps: &ps, results: map[string]map[string]*clientResult{}},
		ports: map[string]int{}, node: map[string]*exec.Cmd{}, cells: map[string]map[string]string{},
	}
	err := c.runOutage(ctx)
	// B may still be stopped if the run broke off: let it die normally.
	if cmd := c.node["B"]; cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	c.printOutageTable()
	return c.exitCode(err)
}

func (c *scaleCheck) runOutage(ctx context.Context) error {
	if err := c.setUp(ctx, "A", "B", "C"); err != nil {
		return err
	}
	var targets []outageTarget
	for _, tg := range outageTargets {
		if len(c.o.targets) == 0 || slices.Contains(c.o.targets, tg.name) {
			targets = append(targets, tg)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("no outage target among %v (known: l4lb, l4lb-nomem)", c.o.targets)
	}
	c.file = filepath.Join(c.runDir, "backends-node.txt")
	for _, tr := range c.o.transports {
		for _, tg := range targets {
			if err := c.outage(ctx, tr, tg); err != nil {
				return err
			}
		}
	}
	return nil
}

// outage is one run of the outage check through tg with one transport.
func (c *scaleCheck) outage(ctx context.Context, transport string, tg outageTarget) error {
	run := "outage-" + transport + "-" + tg.name
	if err := writeFile(c.file, c.nodeSet(false, false)); err != nil {
		return err
	}
	args := []string{"--backends-file", c.file, "--loops", "2", "--log-level", "info",
		"--health-check", "http:/sockjs/info", "--health-interval", "1s"}
	if !tg.memory {
		args = append(args, "--session-memory", "0")
	}
	logName := "l4lb-" + run + ".log"
	addr, cmd, err := c.runL4LB(ctx, c.bin, logName, args)
	if err != nil {
		return err
	}
	defer c.ps.kill(cmd)
	logPath := filepath.Join(c.runDir, logName)
	bPort := fmt.Sprintf("127.0.0.1:%d", c.ports["B"])
	// Every backend checked once before B stops.
	if _, err := waitLog(ctx, logPath, `msg="backend set"`, "", 15*time.Second); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)

	b := c.node["B"].Process
	if err := b.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("stop B: %w", err)
	}
	stopped := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			b.Signal(syscall.SIGCONT)
		}
	}()
	downAt, err := waitLog(ctx, logPath, `msg="backend down"`, bPort, 20*time.Second)
	if err != nil {
		return err
	}
	c.logs.mark()
	g := &lbGroup{addrs: []string{addr}}
	wave := c.startNode(ctx, c.nodeConfig(g, transport, run+".client", c.o.sessions, c.o.sessions, c.o.scale.messages, c.o.scale.interval))
	// Node takes seconds to start on a loaded machine: B comes back 10 s
	// after the stop, but not before every session has opened (and
	// finished a request) on A or C.
	if err := c.waitSessions(ctx, c.o.sessions, time.Minute); err != nil {
		return fmt.Errorf("%s: %w", run, err)
	}
	time.Sleep(time.Until(stopped.Add(outageFor)))
	if err := b.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("resume B: %w", err)
	}
	resumed = true
	back := time.Now()
	upAt, err := waitLog(ctx, logPath, `msg="backend up"`, bPort, 20*time.Second)
	if err != nil {
		return err
	}
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
	onB, lostOnB, err := fallbackSessions(logPath, filepath.Join(c.runDir, run+".client"), r, bPort)
	if err != nil {
		return err
	}
	lastEnd := lastRequestEnd(filepath.Join(c.runDir, run+".client"), r.T0)
	cell := fmt.Sprintf("%d/%d (on the fallback: %d/%d)", r.Completed, r.Sessions, onB-lostOnB, onB)
	detail := fmt.Sprintf("; B down %.1f s after the stop, resumed %.1f s after it, up %.1f s later; sessions ran %.1f s past B's return",
		downAt.Sub(stopped).Seconds(), back.Sub(stopped).Seconds(), upAt.Sub(back).Seconds(), lastEnd.Sub(upAt).Seconds())
	if n := countLines(logPath, `msg="backend down"`); n > 1 {
		detail += fmt.Sprintf("; B went down %d times", n)
	}
	c.report("outage 10s "+transport, tg.name, cell, r, split, detail)
	if tg.memory && r.Completed < r.Sessions {
		c.fail = append(c.fail, fmt.Sprintf("%s: %d/%d sessions completed; want all", run, r.Completed, r.Sessions))
	}
	if !lastEnd.After(upAt) {
		c.fail = append(c.fail, fmt.Sprintf("%s: the sessions ended before B was up again: the run shows nothing", run))
	}
	return nil
}

// waitSessions waits until the backends' request logs since the last mark
// show n sessions.
func (c *scaleCheck) waitSessions(ctx context.Context, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		lines, err := c.logs.cut()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, line := range lines {
			if f := strings.Fields(line); len(f) >= 4 {
				if m := sessionPath.FindStringSubmatch(f[3]); m != nil {
					seen[m[1]] = true
				}
			}
		}
		if len(seen) >= n {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d sessions opened within %v", len(seen), n, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countLines counts the lines of the file at path that contain s.
func countLines(path, s string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), s)
}

// waitLog waits until a line of the l4lb log at path contains msg and
// also (if not empty), and returns the time the line gives.
func waitLog(ctx context.Context, path, msg, also string, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, msg) && strings.Contains(line, also) {
				v, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return time.Time{}, fmt.Errorf("%s: time of %q: %w", path, line, err)
				}
				return t, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("%s: no %s %s line within %v", path, msg, also, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var endpointsRE = regexp.MustCompile(`msg="backend set".* endpoints=("?)([^ "\n]+)`)

// fallbackSessions counts the sessions of r (from the client trace) whose
// key belongs to the endpoint of address b in the set l4lb's log names,
// and those of them that failed: the sessions that opened on b's fallback
// while b was down.
func fallbackSessions(logPath, trace string, r *clientResult, b string) (onB, lost int, err error) {
	log, err := os.ReadFile(logPath)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", logPath, err)
	}
	m := endpointsRE.FindSubmatch(log)
	if m == nil {
		return 0, 0, fmt.Errorf("%s: no backend set line", logPath)
	}
	var set []affinity.Backend
	endpoint := ""
	for _, e := range strings.Split(string(m[2]), ",") {
		set = append(set, affinity.Backend{Endpoint: e})
		if strings.HasSuffix(e, "/"+b) || strings.HasSuffix(e, "@"+b) || e == b {
			endpoint = e
		}
	}
	if endpoint == "" {
		return 0, 0, fmt.Errorf("%s: %s not in the backend set %s", logPath, b, m[2])
	}
	bal := affinity.NewBalancer()
	if err := bal.Update(set); err != nil {
		return 0, 0, fmt.Errorf("backend set %v: %w", set, err)
	}
	lines, err := readTrace(trace)
	if err != nil {
		return 0, 0, err
	}
	failed := map[string]bool{}
	for _, f := range r.Failures {
		id, _, _ := strings.Cut(f, ":")
		failed[id] = true
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if l.session == "-" || seen[l.session] {
			continue
		}
		seen[l.session] = true
		if bal.Snapshot().Lookup(affinity.HashKey([]byte(l.session))).Backend().Endpoint == endpoint {
			onB++
			if failed[l.session] {
				lost++
			}
		}
	}
	return onB, lost, nil
}

func (c *scaleCheck) printOutageTable() {
	fmt.Printf("\n| outage | l4lb | l4lb-nomem |\n|---|---|---|\n")
	for _, row := range c.rows {
		cells := []string{row}
		for _, tg := range outageTargets {
			v := c.cells[row][tg.name]
			if v == "" {
				v = "-"
			}
			cells = append(cells, v)
		}
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
	}
}
