// Command bench runs the same SockJS and HTTP load (tools/loadgen) straight
// at three benchmark backends, through l4lb, and through HAProxy and nginx
// configured for the same job, in alternating rounds, and reports medians
// with min and max, the ratios l4lb/HAProxy, l4lb/nginx and l4lb/direct, a
// JSON file and an SVG chart under bench/results/. See bench/README.md for
// every setting.
//
//	go run ./bench            # full run: 5 rounds of 5 s scenarios
//	go run ./bench --quick    # 2 rounds of 2 s scenarios
//	go run ./bench --faults   # the fault suite against HAProxy, about 8 minutes
//
// It builds l4lb, loadgen and the backend from this checkout, installs the
// Debian haproxy and nginx-light packages if they are missing (as root),
// and loads only loopback addresses.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick     bool
	rounds    int
	settings  settings
	targets   []string
	scenarios []string
	out       string
	keep      bool
	l4lbBin   string
	l4lbExtra []string // more l4lb serve flags (--l4lb-args)
	l4lbB     []string // the flags of target l4lb-b (--l4lb-b-args); nil: not run
	l4lbBBin  string   // target l4lb-b's binary (--l4lb-b-bin); empty: l4lb's
	faults    []int    // --faults: the fault numbers to run (empty: all)
}

func main() {
	var o options
	var targets, scenarios string
	flag.BoolVar(&o.quick, "quick", false, "short run: 2 rounds, 2 s scenarios, 1000 ws-idle connections")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds (0: 2 quick, 5 full)")
	flag.IntVar(&o.settings.Threads, "threads", 1, "threads of each balancer: l4lb --loops, HAProxy nbthread, nginx worker_processes")
	flag.IntVar(&o.settings.MaxConn, "maxconn", 9000, "HAProxy maxconn (global and frontend)")
	flag.StringVar(&o.settings.ProxyProtocol, "proxy-protocol", "off", "PROXY header HAProxy and l4lb send to the backends: off, v1, v2 (nginx is not run with a PROXY header)")
	flag.StringVar(&targets, "targets", strings.Join(defaultTargets, ","), "targets to run, comma-separated ("+targetHAProxyNoDelay+" runs in xhr-streaming only; "+targetL4LBB+" is added by --l4lb-b-args)")
	flag.StringVar(&scenarios, "scenarios", "", "scenarios to run, comma-separated (default: all)")
	flag.StringVar(&o.out, "out", "", "results directory (default: bench/results in the module)")
	flag.StringVar(&o.l4lbBin, "l4lb-bin", "", "use this l4lb binary instead of building ./cmd/l4lb from the working tree")
	flag.StringVar(&o.l4lbBBin, "l4lb-b-bin", "", "run target "+targetL4LBB+" with this l4lb binary (an A/B comparison of two builds, interleaved; with --l4lb-b-args, or a single space for none)")
	var extra, extraB string
	flag.StringVar(&extra, "l4lb-args", "", "more l4lb serve flags, space-separated (to compare settings of l4lb, such as --access-log, in alternating runs)")
	flag.StringVar(&extraB, "l4lb-b-args", "", "run a second l4lb, target "+targetL4LBB+", with these serve flags instead of --l4lb-args, taking turns with l4lb in the same rounds (an A/B comparison of two settings, interleaved); a single space runs it with none")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, configs, process logs)")
	faults := flag.Bool("faults", false, "run the fault suite instead of the benchmarks (faults.go; about 8 minutes)")
	faultList := flag.String("fault-list", "", "with --faults: the faults to run, comma-separated numbers (default: all)")
	flag.Parse()
	o.settings.Prefix = "/sockjs"
	o.settings.TunnelTimeout = time.Hour
	o.targets = splitList(targets)
	o.scenarios = splitList(scenarios)
	o.l4lbExtra = strings.Fields(extra)
	if o.l4lbBBin != "" && extraB == "" {
		extraB = " "
	}
	if extraB != "" {
		o.l4lbB = append([]string{}, strings.Fields(extraB)...)
		if !slices.Contains(o.targets, targetL4LBB) {
			o.targets = append(o.targets, targetL4LBB)
		}
	} else if slices.Contains(o.targets, targetL4LBB) {
		fatalf("--targets %s: give its flags with --l4lb-b-args", targetL4LBB)
	}
	switch o.settings.ProxyProtocol {
	case "off", "v1", "v2":
	default:
		fatalf("--proxy-protocol %q: want off, v1 or v2", o.settings.ProxyProtocol)
	}
	for _, t := range o.targets {
		if !slices.Contains(allTargets, t) {
			fatalf("--targets: unknown target %q", t)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *faults {
		for _, f := range splitList(*faultList) {
			n, err := strconv.Atoi(f)
			if err != nil {
				fatalf("--fault-list: %q is not a fault number", f)
			}
			o.faults = append(o.faults, n)
		}
		if err := runFaults(ctx, o); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/l4lb/l4lb\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the l4lb module (no go.mod naming github.com/l4lb/l4lb above the working directory)")
		}
		dir = parent
	}
}
