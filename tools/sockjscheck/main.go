package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The Node peers; written into the npm directory so that require() finds
// the pinned packages.
//
//go:embed js
var jsFiles embed.FS

type options struct {
	sessions       int
	concurrency    int
	messages       int
	maxSockets     int
	sessionTimeout time.Duration
	total          time.Duration
	transports     []string
	targets        []string
	npmDir         string
	l4lbLogLevel   string
	browser        bool
	scale          scaleOptions
	services       bool
}

func main() {
	var o options
	var transports, targets string
	flag.IntVar(&o.sessions, "sessions", 20, "sessions per transport and target")
	flag.IntVar(&o.concurrency, "concurrency", 4, "sessions open at once, sharing one keep-alive pool (like browser tabs)")
	flag.IntVar(&o.messages, "messages", 5, "messages each session sends; each must be echoed by one backend")
	flag.IntVar(&o.maxSockets, "max-sockets", 6, "keep-alive pool size of the Node client (a browser's per-host limit is 6)")
	flag.DurationVar(&o.sessionTimeout, "session-timeout", 6*time.Second, "a session that has not got every echo by then has failed")
	flag.DurationVar(&o.total, "timeout", 4*time.Minute, "deadline of the whole check, setup included")
	flag.StringVar(&transports, "transports", "xhr-polling,xhr-streaming,eventsource,websocket", "sockjs-client transports to check, comma separated")
	flag.StringVar(&targets, "targets", strings.Join(targetNames, ","), "targets to check, comma separated")
	flag.StringVar(&o.npmDir, "npm-dir", filepath.Join(os.TempDir(), "sockjscheck-npm"), "where the pinned npm packages are installed")
	flag.StringVar(&o.l4lbLogLevel, "l4lb-log-level", "warn", "l4lb --log-level (debug shows every routing decision in the run directory's l4lb.log)")
	flag.BoolVar(&o.browser, "chromium", true, "also run the sessions from headless Chromium (Debian chromium)")
	flag.BoolVar(&o.scale.on, "scale", false, "instead: the scale-out check (a backend joins, one drains, one fails for 10 s) through l4lb with and without its session memory, one balancer and two")
	flag.IntVar(&o.scale.messages, "scale-messages", 500, "-scale: messages each session sends")
	flag.DurationVar(&o.scale.interval, "scale-interval", 30*time.Millisecond, "-scale: pause between an echo and the next message, so that sessions outlive the changes")
	flag.BoolVar(&o.scale.hup, "scale-hup", false, "-scale: SIGHUP the balancers after each change of the backends file, so they apply it within milliseconds of each other (default: their 1 s poll of the file)")
	flag.BoolVar(&o.services, "services", false, "instead: the services check (web by default, api by Host and by path, a private jobs service, all registered in devmongo) through one l4lb")
	flag.Parse()
	o.transports = strings.Split(transports, ",")
	if o.services {
		os.Exit(runServicesMode(o))
	}
	o.targets = strings.Split(targets, ",")
	if o.scale.on || outageOn {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["transports"] {
			o.transports = []string{"xhr-polling", "xhr-streaming"}
		}
		if !set["timeout"] {
			o.total = 12 * time.Minute
		}
		if !set["targets"] {
			o.targets = nil // every scale target
		}
		if !set["max-sockets"] {
			// Every session runs at once, each with a poll or a stream
			// open: the pool must hold them all, and a few more for sends.
			o.maxSockets = o.sessions + 4
		}
		if outageOn {
			os.Exit(runOutage(o)) // outage.go
		}
		os.Exit(runScale(o))
	}
	os.Exit(run(o))
}

// run returns the exit status: 0 when l4lb completes at least as many
// sessions as HAProxy for every transport, 1 when it does not, 2 when the
// check could not run.
func run(o options) int {
	ctx, done := checkContext(o)
	defer done()
	var ps procs
	defer ps.killAll()

	c := &check{o: o, ps: &ps, results: map[string]map[string]*clientResult{}}
	err := c.run(ctx)
	if c.naive != nil {
		c.naive.close()
	}
	c.printTable()
	if c.failed(err) {
		return 2
	}
	status := 0
	for _, t := range c.rows {
		h, l := c.results["haproxy"][t], c.results["l4lb"][t]
		if h != nil && l != nil && l.Completed < h.Completed {
			fmt.Fprintf(os.Stderr, "sockjscheck: %s: l4lb completed %d/%d sessions, haproxy %d/%d\n", t, l.Completed, l.Sessions, h.Completed, h.Sessions)
			status = 1
		}
	}
	return status
}

// checkContext returns the context of a whole check: cancelled at its
// deadline, on SIGINT and on SIGTERM.
func checkContext(o options) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), o.total)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	return ctx, func() { stop(); cancel() }
}

// failed prints where the run's logs are, and err; it reports whether
// there was an error (the check could not run).
func (c *check) failed(err error) bool {
	if c.runDir != "" {
		fmt.Printf("\nlogs: %s\n", c.runDir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockjscheck:", err)
	}
	return err != nil
}

// first-request is the negative control (see firstRequestProxy).
var targetNames = []string{"direct", "haproxy", "l4lb", "first-request"}

// check holds one run's state: where things listen, and what was measured.
type check struct {
	o       options
	ps      *procs
	naive   *firstRequestProxy
	runDir  string
	urls    map[string]string // target -> SockJS URL
	logs    requestLogs
	results map[string]map[string]*clientResult // target -> row -> result
	rows    []string                            // table rows: "<transport>" (Node), "chromium <transport>"
}

// record keeps r as the result of target in row.
func (c *check) record(target, row string, r *clientResult) {
	if !contains(c.rows, row) {
		c.rows = append(c.rows, row)
	}
	if c.results[target] == nil {
		c.results[target] = map[string]*clientResult{}
	}
	c.results[target][row] = r
}

// clientResult is the JSON line js/client.js prints.
type clientResult struct {
	T0             int64    `json:"t0"` // ms since the epoch; trace times are relative to it
	Transport      string   `json:"transport"`
	Completed      int      `json:"completed"`
	Sessions       int      `json:"sessions"`
	Sockets        int      `json:"sockets"`
	Requests       int      `json:"requests"`
	ReusedRequests int      `json:"reusedRequests"`
	SharedSockets  int      `json:"sharedSockets"`
	Failures       []string `json:"failures"`
	Backends       []string `json:"backends"`
}

func (c *check) run(ctx context.Context) error {
	apt := map[string]string{"haproxy": "haproxy"}
	if c.o.browser {
		apt["chromium"] = "chromium"
	}
	if err := c.prepare(ctx, apt); err != nil {
		return err
	}
	if err := c.startAll(ctx); err != nil {
		return err
	}
	for _, t := range c.o.transports {
		for _, target := range c.o.targets {
			if c.urls[target] == "" {
				return fmt.Errorf("unknown target %q (known: %s)", target, strings.Join(targetNames, ", "))
			}
			if err := c.runClient(ctx, target, t); err != nil {
				return err
			}
		}
	}
	if c.o.browser {
		for _, target := range c.o.targets {
			if err := c.runBrowser(ctx, target); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepare installs what is missing (apt maps commands to Debian
// packages), writes the Node peers and makes the run directory.
func (c *check) prepare(ctx context.Context, apt map[string]string) error {
	if err := ensureApt(ctx, apt); err != nil {
		return err
	}
	if err := ensureNPM(ctx, c.o.npmDir); err != nil {
		return err
	}
	if err := writeJS(c.o.npmDir); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sockjscheck-run-")
	if err != nil {
		return fmt.Errorf("create run dir: %w", err)
	}
	c.runDir = dir
	return nil
}

// writeJS copies the embedded Node peers into dir.
func writeJS(dir string) error {
	entries, err := jsFiles.ReadDir("js")
	if err != nil {
		return fmt.Errorf("read embedded js: %w", err)
	}
	for _, e := range entries {
		b, err := jsFiles.ReadFile("js/" + e.Name())
		if err != nil {
			return fmt.Errorf("read embedded js/%s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, e.Name()), err)
		}
	}
	return nil
}

// runClient runs js/client.js against one target with one transport and
// records the result and the backends' request log lines of that run.
func (c *check) runClient(ctx context.Context, target, transport string) error {
	cfg, _ := json.Marshal(map[string]any{
		"url":              c.urls[target],
		"transport":        transport,
		"sessions":         c.o.sessions,
		"concurrency":      c.o.concurrency,
		"messages":         c.o.messages,
		"maxSockets":       c.o.maxSockets,
		"sessionTimeoutMs": c.o.sessionTimeout.Milliseconds(),
		"traceFile":        filepath.Join(c.runDir, target+"-"+transport+".client"),
	})
	rounds := (c.o.sessions + c.o.concurrency - 1) / c.o.concurrency
	c.logs.mark()
	r, err := c.runNode(ctx, cfg, time.Duration(rounds)*c.o.sessionTimeout+30*time.Second)
	if err != nil {
		return fmt.Errorf("%s %s (%s): %w", target, transport, c.urls[target], err)
	}
	c.record(target, transport, r)

	// Aborted requests are logged when their connection closes; give the
	// backends a moment.
	time.Sleep(300 * time.Millisecond)
	lines, err := c.logs.cut()
	if err != nil {
		return err
	}
	runLog := filepath.Join(c.runDir, target+"-"+transport+".requests")
	if err := os.WriteFile(runLog, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", runLog, err)
	}
	split := splitSessions(lines)
	fmt.Fprintf(os.Stderr, "%-13s %-14s %2d/%d  pool: %d sockets, %d/%d requests on a reused socket, %d sockets carried >1 session; sessions split over backends: %d\n",
		target, transport, r.Completed, r.Sessions, r.Sockets, r.ReusedRequests, r.Requests, r.SharedSockets, len(split))
	if len(r.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "              first failure: %s\n", r.Failures[0])
	}
	if len(split) > 0 {
		fmt.Fprintf(os.Stderr, "              e.g. %s\n", strings.Join(split[:min(3, len(split))], ", "))
	}
	return nil
}

// runNode runs js/client.js with the JSON config cfg, within timeout.
func (c *check) runNode(ctx context.Context, cfg []byte, timeout time.Duration) (*clientResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(c.o.npmDir, "client.js"), string(cfg))
	cmd.Dir = c.o.npmDir
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("node client.js: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("node client.js: %w\n%s", err, stderr.String())
	}
	var r clientResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("parse client.js output: %w: %q", err, out)
	}
	return &r, nil
}

// printTable prints completed sessions per transport and target; "-" where
// nothing was measured.
func (c *check) printTable() {
	fmt.Printf("\n| transport | %s |\n|%s\n", strings.Join(targetNames, " | "), strings.Repeat("---|", len(targetNames)+1))
	for _, t := range c.rows {
		cells := []string{t}
		for _, target := range targetNames {
			if r := c.results[target][t]; r != nil {
				cells = append(cells, fmt.Sprintf("%d/%d", r.Completed, r.Sessions))
			} else {
				cells = append(cells, "-")
			}
		}
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
	}
}

var errNoModule = errors.New("no go.mod of github.com/l4lb/l4lb in this directory or above")
