//go:build linux && measure

package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// responderEnv, set in a child of the test binary, makes it serve that
// many backends (an HTTP 200 on every path) instead of running tests, so
// that the backends' CPU is not the checker's.
const responderEnv = "L4LB_HEALTH_RESPONDERS"

func TestMain(m *testing.M) {
	if n, _ := strconv.Atoi(os.Getenv(responderEnv)); n > 0 {
		respond(n)
		return
	}
	os.Exit(m.Run())
}

// respond serves n backends, prints their addresses, one a line, then
// "ready", and serves until stdin closes.
func respond(n int) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		go http.Serve(ln, h)
		fmt.Println(ln.Addr())
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// TestCheckCost measures what active checks cost the balancer process:
// 100 backends checked every 2 s (the default interval), TCP and HTTP,
// for 30 s each, as process CPU time (getrusage) over wall time. The
// backends run in a child process. It only reports figures, so it builds
// only with the measure tag:
//
//	go test -tags measure -run TestCheckCost -v ./health
func TestCheckCost(t *testing.T) {
	const n = 100
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), responderEnv+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	var endpoints []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		endpoints = append(endpoints, "tcp://"+sc.Text())
	}
	if len(endpoints) != n {
		t.Fatalf("child served %d backends: %v", len(endpoints), endpoints)
	}
	window := 30 * time.Second
	if testing.Short() {
		window = 6 * time.Second
	}
	for _, check := range []Check{{Kind: TCP}, {Kind: HTTP, Path: "/sockjs/info"}} {
		bal := affinity.NewBalancer()
		var bs []affinity.Backend
		for _, e := range endpoints {
			bs = append(bs, affinity.Backend{Endpoint: e})
		}
		if err := bal.Update(bs); err != nil {
			t.Fatal(err)
		}
		c := New(bal, Config{Check: check, Interval: DefaultInterval})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		// Let the first interval's spread-out first checks start.
		time.Sleep(DefaultInterval)
		cpu0, checks0, start := cpuTime(t), c.Stats(), time.Now()
		time.Sleep(window)
		cpu, wall, st := cpuTime(t)-cpu0, time.Since(start), c.Stats()
		cancel()
		<-done
		checks := st.ChecksPassed + st.ChecksFailed - checks0.ChecksPassed - checks0.ChecksFailed
		if st.ChecksFailed != 0 {
			t.Errorf("%s: %d checks failed", check, st.ChecksFailed)
		}
		t.Logf("%s checks of %d backends every %v: %d checks in %v, process CPU %v = %.3f%% of one core, %.1f µs per check",
			check, n, DefaultInterval, checks, wall.Round(time.Millisecond), cpu,
			100*cpu.Seconds()/wall.Seconds(), float64(cpu.Microseconds())/float64(checks))
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
