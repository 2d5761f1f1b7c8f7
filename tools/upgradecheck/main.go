package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
	"github.com/l4lb/l4lb/tools/loadgen"
	"github.com/l4lb/l4lb/tools/pidfile"
)

// options are the command's flags.
type options struct {
	l4lb                  string
	upgrades, ws, workers int
	drain, spread, settle time.Duration
	interval              time.Duration
	restart               bool
}

func main() {
	var o options
	flag.StringVar(&o.l4lb, "l4lb", "", "l4lb binary to run (empty: go build ./cmd/l4lb)")
	flag.IntVar(&o.upgrades, "upgrades", 3, "upgrades in a row")
	flag.IntVar(&o.ws, "ws", 1000, "WebSockets held throughout")
	flag.IntVar(&o.workers, "workers", 4, "loadgen workers for each of polling and connrate")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "l4lb --drain-timeout")
	flag.DurationVar(&o.spread, "spread", 5*time.Second, "l4lb --drain-spread")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "load before each upgrade and after the last")
	flag.DurationVar(&o.interval, "interval", time.Second, "each WebSocket's message interval")
	flag.BoolVar(&o.restart, "restart", false, "control run: instead of SIGUSR2, start a second l4lb beside the old one (SO_REUSEPORT) and SIGTERM the old one once the new one is ready, as a restart without the hand-over does")
	flag.Parse()
	failed, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upgradecheck: %v\n", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// upgrade is what one upgrade took.
type upgrade struct {
	oldPID, newPID int
	signalled      time.Time
	ready          time.Duration // SIGUSR2 to the PID file naming the new process
	exited         time.Duration // SIGUSR2 to the old process gone
	end            time.Time     // when the old process was seen gone
}

func run(o options) (failed bool, err error) {
	dir, err := os.MkdirTemp("", "upgradecheck-")
	if err != nil {
		return false, err
	}
	fmt.Printf("upgradecheck: l4lb log and binary in %s\n", dir)
	bin := o.l4lb
	if bin == "" {
		bin = filepath.Join(dir, "l4lb")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/l4lb").CombinedOutput(); err != nil {
			return false, fmt.Errorf("go build ./cmd/l4lb (run from the repository root): %v\n%s", err, out)
		}
	}

	var backends []string
	for _, name := range []string{"a", "b", "c"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return false, err
		}
		srv := &http.Server{Handler: echobackend.New(name, echobackend.Options{}), ReadHeaderTimeout: 30 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		backends = append(backends, ln.Addr().String())
	}

	port, err := freePort()
	if err != nil {
		return false, err
	}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	pidFile := filepath.Join(dir, "l4lb.pid")
	logf, err := os.Create(filepath.Join(dir, "l4lb.log"))
	if err != nil {
		return false, err
	}
	defer logf.Close()
	args := []string{"serve", "--listen", target, "--pid-file", pidFile,
		"--drain-timeout", o.drain.String(), "--drain-spread", o.spread.String()}
	for _, b := range backends {
		args = append(args, "--backend", b)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf // files: the upgraded processes write there too
	if err := cmd.Start(); err != nil {
		return false, err
	}
	go cmd.Wait()
	pids := []int{cmd.Process.Pid}
	defer func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		for _, pid := range pids {
			if !pidfile.WaitGone(pid, o.drain+10*time.Second) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	if _, err := pidfile.Wait(pidFile, 0, 30*time.Second); err != nil {
		return false, err
	}
	fmt.Printf("upgradecheck: l4lb on %s (pid %d), backends %s\n", target, cmd.Process.Pid, strings.Join(backends, " "))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	results := make([]*loadgen.Result, 2)
	for i, sc := range []string{loadgen.Polling, loadgen.ConnRate} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := loadgen.Run(ctx, loadgen.Config{Scenario: sc, Targets: []string{target}, Workers: o.workers,
				Duration: loadgen.MaxDuration})
			if err != nil {
				fmt.Fprintf(os.Stderr, "upgradecheck: loadgen %s: %v\n", sc, err)
				return
			}
			results[i] = res
		}()
	}
	ws := startWebSockets(target, o.ws, o.interval)
	if err := ws.waitUp(30 * time.Second); err != nil {
		return false, err
	}
	fmt.Printf("upgradecheck: %d WebSockets up; loadgen polling and connrate running with %d workers each\n", o.ws, o.workers)

	var ups []upgrade
	for i := 1; i <= o.upgrades; i++ {
		time.Sleep(o.settle) // load on the current process before it is replaced
		old, _ := pidfile.Read(pidFile)
		u := upgrade{oldPID: old, signalled: time.Now()}
		if o.restart {
			next := exec.Command(bin, args...)
			next.Stdout, next.Stderr = logf, logf
			if err := next.Start(); err != nil {
				return false, err
			}
			go next.Wait()
			pids = append(pids, next.Process.Pid)
			go func() {
				if _, err := pidfile.Wait(pidFile, old, 90*time.Second); err == nil {
					syscall.Kill(old, syscall.SIGTERM)
				}
			}()
		} else if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
			return false, fmt.Errorf("upgrade %d: signal %d: %w", i, old, err)
		}
		if u.newPID, err = pidfile.Wait(pidFile, old, 90*time.Second); err != nil {
			return false, fmt.Errorf("upgrade %d: %w (see %s)", i, err, logf.Name())
		}
		pids = append(pids, u.newPID)
		u.ready = time.Since(u.signalled)
		if !pidfile.WaitGone(old, o.drain+30*time.Second) {
			return false, fmt.Errorf("upgrade %d: old process %d still running %v after SIGUSR2", i, old, o.drain+30*time.Second)
		}
		u.end = time.Now()
		u.exited = u.end.Sub(u.signalled)
		ws.addDrain(u.signalled, u.end.Add(time.Second))
		ups = append(ups, u)
		fmt.Printf("upgradecheck: upgrade %d: pid %d -> %d, ready after %.2fs, old exited after %.2fs\n",
			i, old, u.newPID, u.ready.Seconds(), u.exited.Seconds())
	}
	time.Sleep(o.settle)
	stop()
	wg.Wait()
	wr := ws.finish()

	fmt.Printf("\n%d upgrades (--drain-timeout %v --drain-spread %v) under load:\n", len(ups), o.drain, o.spread)
	for _, res := range results {
		if res == nil {
			failed = true
			continue
		}
		fmt.Print(res.Summary())
		if res.Errors > 0 || res.Misroutes > 0 {
			failed = true
		}
		for _, s := range res.ErrorSamples {
			fmt.Printf("    error: %s\n", s)
		}
	}
	fmt.Printf("websockets: %d held, %d echoes ok, %d reconnects\n", o.ws, wr.echoes, wr.reconnects)
	for i, u := range ups {
		first, last, n := wr.closesIn(u.signalled, u.end.Add(time.Second))
		fmt.Printf("  drain %d: %d WebSockets closed by the old process, first %.2fs and last %.2fs after SIGUSR2\n",
			i+1, n, first.Seconds(), last.Seconds())
	}
	fmt.Printf("  errors %d (echo failures %d, closes outside a drain %d, failed reconnects %d)\n",
		wr.errors(), wr.echoFailures, wr.strayCloses, wr.dialFailures)
	for _, s := range wr.samples {
		fmt.Printf("    error: %s\n", s)
	}
	if wr.errors() > 0 {
		failed = true
	}
	if failed {
		fmt.Println("FAIL")
	} else {
		fmt.Println("PASS: no refused or reset connection, no failed request, no WebSocket cut outside a drain")
	}
	return failed, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
