package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv makes the re-executed test binary a child (see TestMain).
const childEnv = "TESTUTIL_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "ready":
		// Ready, then block until a signal ends us.
		fmt.Println("READY pid", os.Getpid())
		select {}
	case "exit":
		fmt.Fprintln(os.Stderr, "partial")
		fmt.Print("no newline")
		os.Exit(0)
	}
}

// fatalTB records a Fatalf and ends its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// fails runs fn with a fatalTB and returns its Fatalf message, "" if none.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(tb) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("helper did not return within 10s")
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.msg
}

func TestBufferWaitLine(t *testing.T) {
	var b Buffer
	b.Write([]byte("one\ntw"))
	go func() {
		b.Write([]byte("o\nthree"))
		b.Write([]byte("\n"))
	}()
	line, next := b.WaitLine(t, 0, regexp.MustCompile(`^t`), 10*time.Second)
	if line != "two" || next != len("one\ntwo\n") {
		t.Fatalf("WaitLine(0, ^t) = %q, %d; want \"two\", %d", line, next, len("one\ntwo\n"))
	}
	line, next = b.WaitLine(t, next, regexp.MustCompile(`^t`), 10*time.Second)
	if line != "three" || next != b.Len() {
		t.Fatalf("WaitLine(after two, ^t) = %q, %d; want \"three\", %d", line, next, b.Len())
	}

	if msg := fails(t, func(tb testing.TB) { b.WaitLine(tb, 0, regexp.MustCompile(`four`), 50*time.Millisecond) }); !strings.Contains(msg, "within 50ms") {
		t.Errorf("WaitLine for a line never written: Fatalf %q; want a timeout", msg)
	}
	b.Write([]byte("four, unfinished"))
	b.Close()
	if msg := fails(t, func(tb testing.TB) { b.WaitLine(tb, 0, regexp.MustCompile(`four`), 10*time.Second) }); !strings.Contains(msg, "output ended") {
		t.Errorf("WaitLine on a closed buffer with an unfinished line: Fatalf %q; want \"output ended\"", msg)
	}
	if _, err := b.Write([]byte("late")); err == nil {
		t.Error("Write after Close = nil error; want one")
	}
}

func TestBufferWhen(t *testing.T) {
	var b Buffer
	before := time.Now()
	b.Write([]byte("msg=hea"))
	mid := time.Now()
	b.Write([]byte("rtbeating\n"))
	if at := b.When("msg=heartbeating"); at.Before(mid) {
		t.Errorf("When(msg=heartbeating) = %v; want the time of the write that completed it, after %v", at, mid)
	}
	if at := b.When("msg"); at.Before(before) || at.After(mid) {
		t.Errorf("When(msg) = %v; want the first write's time, in [%v, %v]", at, before, mid)
	}
	if at := b.When("absent"); !at.IsZero() {
		t.Errorf("When(absent) = %v; want the zero time", at)
	}
}

func TestStartReexec(t *testing.T) {
	c := Start(t, Reexec(childEnv+"=ready"))
	line, _ := c.Out.WaitLine(t, 0, regexp.MustCompile(`^READY pid \d+$`), 30*time.Second)
	if want := fmt.Sprint("READY pid ", c.Cmd.Process.Pid); line != want {
		t.Errorf("child said %q; want %q", line, want)
	}
	select {
	case <-c.Exited():
		t.Fatal("child exited before it was told to")
	default:
	}
	c.Cmd.Process.Signal(os.Interrupt)
	if err := c.WaitExit(t, 30*time.Second); err == nil {
		t.Error("exit status of a child ended by a signal = nil; want an error")
	}
}

func TestStartOutputEnds(t *testing.T) {
	c := Start(t, Reexec(childEnv+"=exit"))
	if err := c.WaitExit(t, 30*time.Second); err != nil {
		t.Fatalf("child exit status = %v; want 0", err)
	}
	if got := c.Out.String(); !strings.Contains(got, "partial\n") || !strings.Contains(got, "no newline") {
		t.Errorf("child output = %q; want stderr and stdout", got)
	}
	if msg := fails(t, func(tb testing.TB) { c.Out.WaitLine(tb, 0, regexp.MustCompile(`never`), 30*time.Second) }); !strings.Contains(msg, "output ended") {
		t.Errorf("WaitLine after the child exited: Fatalf %q; want \"output ended\" at once", msg)
	}
}

// TestOnlyTestsImport: testutil is for _test.go files; no package of the
// module imports it outside its tests.
func TestOnlyTestsImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "github.com/l4lb/l4lb/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if slices.Contains(strings.Fields(imports), "github.com/l4lb/l4lb/internal/testutil") {
			t.Errorf("%s imports testutil outside its tests", pkg)
		}
	}
}
