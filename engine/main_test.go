//go:build linux

package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv marks a re-executed test binary that acts as a balancer process,
// so that tests can count its fds and measure its RSS apart from the
// clients' and backends' (and stay under the per-process fd limit).
const childEnv = "L4LB_ENGINE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		childMain()
		return
	}
	os.Exit(m.Run())
}

// childMain runs a balancer on 127.0.0.1:0 in front of the backends in
// $L4LB_CHILD_BACKENDS, prints its address, then serves commands read from
// stdin ("gc": collect and return memory to the OS; "stats") until EOF.
func childMain() {
	var eps []string
	if v := os.Getenv("L4LB_CHILD_BACKENDS"); v != "" {
		eps = strings.Split(v, ",")
	}
	loops, _ := strconv.Atoi(os.Getenv("L4LB_CHILD_LOOPS"))
	maxConns, _ := strconv.Atoi(os.Getenv("L4LB_CHILD_MAXCONNS"))
	if v := os.Getenv("L4LB_CHILD_NOFILE"); v != "" {
		n, _ := strconv.ParseUint(v, 10, 64)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
	}
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Balancer: newBalancer(fakeTB{}, eps...), Loops: loops,
		ForwardedFor: os.Getenv("L4LB_CHILD_XFF") == "1", MaxConns: maxConns})
	if err == nil {
		if os.Getenv("L4LB_CHILD_PATH") == "buffer" {
			s.path = pathBuffer
		}
		err = s.Start()
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", s.Addrs()[0])
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println("ok")
		case "stats":
			fmt.Printf("%+v %q\n", s.Stats(), s.dump())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

// fakeTB lets newBalancer run outside a test.
type fakeTB struct{ testing.TB }

func (fakeTB) Helper()                      {}
func (fakeTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// child is a balancer running in a child process.
type child struct {
	cmd  *exec.Cmd
	in   *os.File
	out  *bufio.Reader
	addr string
}

func startChild(t *testing.T, loops int, endpoints ...string) *child {
	t.Helper()
	return startChildEnv(t, loops, nil, endpoints...)
}

func startChildEnv(t *testing.T, loops int, env []string, endpoints ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), childEnv+"=1",
		"L4LB_CHILD_BACKENDS="+strings.Join(endpoints, ","),
		"L4LB_CHILD_LOOPS="+strconv.Itoa(loops))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	c.in = stdin.(*os.File)
	line := c.readLine(t)
	if !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child said %q; want ADDR", line)
	}
	c.addr = strings.TrimPrefix(line, "ADDR ")
	return c
}

func (c *child) readLine(t *testing.T) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := c.out.ReadString('\n'); ch <- res{s, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("child: %v", r.err)
		}
		return strings.TrimSpace(r.s)
	case <-time.After(testTimeout):
		t.Fatal("child did not answer")
	}
	return ""
}

// gc makes the child collect garbage and return free memory to the OS.
func (c *child) gc(t *testing.T) {
	t.Helper()
	fmt.Fprintln(c.in, "gc")
	c.readLine(t)
}

func (c *child) stats(t *testing.T) string {
	t.Helper()
	fmt.Fprintln(c.in, "stats")
	return c.readLine(t)
}

// rss returns the child's resident set size in bytes.
func (c *child) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// fds returns the number of the child's open file descriptors.
func (c *child) fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// cpu returns the child's user+system CPU time.
func (c *child) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields of the whole line, in clock ticks (100 Hz).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
