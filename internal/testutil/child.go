package testutil

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long a Child has to exit after SIGTERM when its test
// ends before it is killed.
const StopTimeout = 10 * time.Second

// Child is a process started by a test with Start.
type Child struct {
	// Cmd is the running command. A test may signal its Process, or call
	// its Wait (then Child.Wait reports an error).
	Cmd *exec.Cmd
	// Out receives the child's stdout and stderr, and is closed when they
	// end, which is when the child exits.
	Out *Buffer

	exited   chan struct{}
	waitOnce sync.Once
	waitErr  error
}

// Reexec returns a command that runs the current test binary again
// without running tests (-test.run=^$), with env added to its environment.
// The variables tell the binary's TestMain to act as the child instead of
// running m.Run (see the package example).
func Reexec(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Start starts cmd beside t; cmd.Stdout and cmd.Stderr must be nil, as
// its output goes to Child.Out. On Linux the kernel kills it if the test
// binary dies. When t ends, a child still
// running gets SIGTERM and StopTimeout to exit, then SIGKILL, and if t
// failed its output is logged.
func Start(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	c := &Child{Cmd: cmd, Out: &Buffer{}, exited: make(chan struct{})}
	name := filepath.Base(cmd.Path)
	if cmd.Stdout != nil || cmd.Stderr != nil {
		t.Fatalf("testutil.Start %s: Stdout or Stderr already set", name)
	}
	// A pipe of our own rather than cmd.StdoutPipe, so that the end of
	// the output tells the child exited while Cmd.Wait stays free.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = childProcAttr()
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		io.Copy(c.Out, r)
		r.Close()
		c.Out.Close()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(StopTimeout):
				cmd.Process.Kill()
				<-c.exited
			}
		}
		c.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, c.Out.String())
		}
	})
	return c
}

// Exited is closed once the child has exited (its output ended).
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Wait waits for the child to exit and returns its exit status, as
// exec.Cmd.Wait does; it may be called any number of times.
func (c *Child) Wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.Cmd.Wait() })
	return c.waitErr
}

// WaitExit waits up to timeout for the child to exit, and returns its exit
// status; it fails t if the child is still running then.
func (c *Child) WaitExit(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-c.exited:
		return c.Wait()
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v", filepath.Base(c.Cmd.Path), timeout)
		return nil
	}
}
