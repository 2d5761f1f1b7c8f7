//go:build linux

package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/l4lb/l4lb/internal/testutil"
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
		if v, _ := strconv.ParseInt(os.Getenv("L4LB_CHILD_BODY_SPLICE_MIN"), 10, 64); v > 0 {
			s.bodySpliceMin = v
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

// child is a balancer running in a child process (see childMain): its
// stdin takes commands, its output (in proc.Out) answers them a line each.
type child struct {
	cmd  *exec.Cmd
	in   *os.File
	addr string
	proc *testutil.Child
	next int // offset in proc.Out of the first line not yet read
}

func startChild(t *testing.T, loops int, endpoints ...string) *child {
	t.Helper()
	return startChildEnv(t, loops, nil, endpoints...)
}

func startChildEnv(t *testing.T, loops int, env []string, endpoints ...string) *child {
	t.Helper()
	cmd := testutil.Reexec(append(slices.Clone(env), childEnv+"=1",
		"L4LB_CHILD_BACKENDS="+strings.Join(endpoints, ","),
		"L4LB_CHILD_LOOPS="+strconv.Itoa(loops))...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: stdin.(*os.File), proc: testutil.Start(t, cmd)}
	t.Cleanup(func() {
		// Before Start's cleanup (which signals): EOF on stdin is the
		// child's cue to shut down on its own.
		stdin.Close()
		select {
		case <-c.proc.Exited():
		case <-time.After(5 * time.Second):
		}
	})
	line, next := c.proc.Out.WaitLine(t, 0, regexp.MustCompile(`^(ADDR \S+|ERR .*)$`), testTimeout)
	addr, ok := strings.CutPrefix(line, "ADDR ")
	if !ok {
		t.Fatalf("child said %q; want ADDR", line)
	}
	c.addr, c.next = addr, next
	return c
}

// readLine returns the child's next line of output.
func (c *child) readLine(t *testing.T) string {
	t.Helper()
	line, next := c.proc.Out.WaitLine(t, c.next, anyLine, testTimeout)
	c.next = next
	return strings.TrimSpace(line)
}

var anyLine = regexp.MustCompile(``)

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
