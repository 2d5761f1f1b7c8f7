//go:build linux

package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoTunnel sends a non-HTTP message on c (so it becomes a raw tunnel)
// and checks the echo.
func echoTunnel(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, []byte(msg)) {
		t.Fatalf("echo of %q = %q, %v", msg, got, err)
	}
}

// waitStats polls the server's counters until ok holds, for at most
// testTimeout: the pause happens on a loop thread, with no event to wait on.
func waitStats(t *testing.T, s *Server, what string, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !ok(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; stats %+v", testTimeout, what, s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxConns: at the bound the server stops accepting; the next client
// waits in the accept queue, is not refused, and is served as soon as a
// connection closes.
func TestMaxConns(t *testing.T) {
	s := startServer(t, Config{Balancer: newBalancer(t, startEcho(t)), MaxConns: 2})
	if got := s.MaxConns(); got != 2 {
		t.Fatalf("MaxConns() = %d; want 2", got)
	}
	a, b := dial(t, s.Addrs()[0]), dial(t, s.Addrs()[0])
	echoTunnel(t, a, "\x00a")
	echoTunnel(t, b, "\x00b")

	// The kernel completes the handshake; the balancer does not accept.
	c := dial(t, s.Addrs()[0])
	if _, err := c.Write([]byte("\x00c")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, "accepting to pause", func(st Stats) bool { return st.AcceptPauses >= 1 })
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection read %d bytes, %v, while at the bound; want nothing yet", n, err)
	}
	if got := s.Stats().Accepted; got != 2 {
		t.Fatalf("Accepted = %d at the bound of 2", got)
	}

	// A connection closes: the waiting one is accepted and served.
	a.Close()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	got := make([]byte, 2)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "\x00c" {
		t.Fatalf("third connection after a close: echo %q, %v", got, err)
	}
	echoTunnel(t, b, "\x00b again")
	if st := s.Stats(); st.Accepted != 3 || st.Active != 2 {
		t.Fatalf("Stats() = %+v; want 3 accepted, 2 active", st)
	}
}

func TestDefaultMaxConns(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{{20000, 9936}, {1024, 448}, {256, 64}, {100, 25}, {1 << 40, 1 << 30}} {
		if got := DefaultMaxConns(tc.nofile); got != tc.want {
			t.Errorf("DefaultMaxConns(%d) = %d; want %d", tc.nofile, got, tc.want)
		}
	}
}

// TestAcceptOutOfFds: a balancer out of file descriptors (no connection
// bound, a low open-file limit) pauses accepting instead of spinning on the
// level-triggered listener, and accepts the queued connections once
// descriptors are free again. The balancer runs in a child process so that
// only it has the low limit.
func TestAcceptOutOfFds(t *testing.T) {
	ch := startChildEnv(t, 1, []string{"L4LB_CHILD_NOFILE=48", "L4LB_CHILD_MAXCONNS=-1"}, startEcho(t))
	addr, err := net.ResolveTCPAddr("tcp", ch.addr)
	if err != nil {
		t.Fatal(err)
	}
	// More connections than the child has descriptors for; they send
	// nothing, so each holds one descriptor there while its head is
	// awaited.
	var conns []net.Conn
	for range 60 {
		conns = append(conns, dial(t, addr))
	}
	// stat asks the child for one of its Stats fields.
	stat := func(name string) int {
		ch.in.WriteString("stats\n")
		s := ch.readLine(t)
		i := strings.Index(s, name+":")
		if i < 0 {
			t.Fatalf("no %s in the child's stats %s", name, s)
		}
		n, err := strconv.Atoi(strings.TrimRight(strings.Fields(s[i+len(name)+1:])[0], "}"))
		if err != nil {
			t.Fatalf("%s in %s: %v", name, s, err)
		}
		return n
	}
	deadline := time.Now().Add(testTimeout)
	for stat("AcceptPauses") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the child never paused accepting")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Saturated: the child must be nearly idle, not spinning on accept.
	before := procCPU(t, ch.cmd.Process.Pid)
	time.Sleep(time.Second)
	if used := procCPU(t, ch.cmd.Process.Pid) - before; used > 300*time.Millisecond {
		t.Fatalf("the child used %v of CPU in 1 s while out of descriptors; want it paused", used)
	}
	accepted := func() int { return stat("Accepted") }
	if n := accepted(); n >= len(conns) {
		t.Fatalf("the child accepted %d of %d connections with 48 descriptors", n, len(conns))
	}

	// Free descriptors: the queued connections get accepted.
	for _, c := range conns[:40] {
		c.Close()
	}
	for accepted() < len(conns) {
		if time.Now().After(deadline) {
			t.Fatalf("after closing 40, the child accepted only %d of %d", accepted(), len(conns))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procCPU returns the user and system CPU time a process used so far.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks (USER_HZ)
}
