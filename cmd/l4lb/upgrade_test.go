package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/clientloop"
	"github.com/l4lb/l4lb/tools/pidfile"
)

// upgradable is an `l4lb serve --pid-file` run from its own copy of the
// binary (so a test can replace the binary on disk), followed through
// upgrades by its PID file. Every process logs to one file: a new process
// inherits the old one's stderr.
type upgradable struct {
	dir, bin, pidFile, logPath string
	mu                         sync.Mutex
	pids                       []int // every process seen, for cleanup
}

func startUpgradable(t *testing.T, args ...string) *upgradable {
	t.Helper()
	u := newUpgradable(t)
	first := u.start(t, nil, args...)
	if pid := u.waitPID(t, 0, 30*time.Second); pid != first {
		t.Fatalf("PID file names %d; want the process started, %d", pid, first)
	}
	return u
}

// newUpgradable installs the binary in a directory of its own; start runs
// it.
func newUpgradable(t *testing.T) *upgradable {
	t.Helper()
	dir := t.TempDir()
	u := &upgradable{dir: dir, bin: filepath.Join(dir, "l4lb"), pidFile: filepath.Join(dir, "l4lb.pid"), logPath: filepath.Join(dir, "log")}
	u.install(t, l4lbBinary(t))
	t.Cleanup(func() {
		u.mu.Lock()
		pids := u.pids
		u.mu.Unlock()
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		for _, pid := range pids {
			if !pidfile.WaitGone(pid, 15*time.Second) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("l4lb output:\n%s", u.log())
		}
	})
	return u
}

// start runs `l4lb serve --pid-file <file> args...`, after the command
// line prefix if any (a program that execs l4lb), and returns its PID.
func (u *upgradable) start(t *testing.T, prefix []string, args ...string) int {
	t.Helper()
	logf, err := os.Create(u.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	argv := append(append(prefix, u.bin, "serve", "--pid-file", u.pidFile), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf // files, not pipes: Wait must not wait for the new process of an upgrade
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reaps the first process; later ones are not our children
	u.mu.Lock()
	u.pids = append(u.pids, cmd.Process.Pid)
	u.mu.Unlock()
	return cmd.Process.Pid
}

// install copies the binary at src to u.bin.
func (u *upgradable) install(t *testing.T, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := u.bin + ".new"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, u.bin); err != nil { // a running binary cannot be written over
		t.Fatal(err)
	}
}

func (u *upgradable) log() string {
	b, _ := os.ReadFile(u.logPath)
	return string(b)
}

// pid reads the PID file; 0 if it is missing.
func (u *upgradable) pid() int {
	pid, _ := pidfile.Read(u.pidFile)
	return pid
}

// waitPID waits until the PID file names a process other than not.
func (u *upgradable) waitPID(t *testing.T, not int, timeout time.Duration) int {
	t.Helper()
	pid, err := pidfile.Wait(u.pidFile, not, timeout)
	if err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	u.pids = append(u.pids, pid)
	u.mu.Unlock()
	return pid
}

// waitLog waits for a log line matching re after offset bytes and returns
// the offset after it.
func (u *upgradable) waitLog(t *testing.T, offset int, re *regexp.Regexp, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := u.log()
		if offset <= len(l) {
			if loc := re.FindStringIndex(l[offset:]); loc != nil {
				return offset + loc[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %q within %v", re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wsTunnel is a WebSocket-style tunnel to a namedBackend through the
// balancer: each line sent comes back prefixed with the backend's name.
type wsTunnel struct {
	c  net.Conn
	br *bufio.Reader
}

func openWS(t *testing.T, addr string) *wsTunnel {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("WebSocket via %s: %v %v", addr, resp, err)
	}
	return &wsTunnel{c, br}
}

func (w *wsTunnel) echo(msg string) error {
	w.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(w.c, msg+"\n"); err != nil {
		return err
	}
	line, err := w.br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasSuffix(line, ": "+msg+"\n") {
		return fmt.Errorf("echo %q; want it to end in %q", line, msg)
	}
	return nil
}

// closed waits for the balancer to close the tunnel.
func (w *wsTunnel) closed(within time.Duration) error {
	w.c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, w.br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil // EOF or a reset: closed
}

// TestUpgrade: SIGUSR2 twice in a row while clients connect in a loop to
// a TCP port and a UNIX socket (and one keeps a connection alive): no
// client sees a refused, reset or failed request, the UNIX path is never
// missing, every WebSocket held by an old process keeps echoing while it
// drains, the PID file follows the live process, and the old process
// exits once drained.
func TestUpgrade(t *testing.T) {
	a, b := newNamedBackend(t, "a"), newNamedBackend(t, "b")
	port, metricsPort := freeTCPPort(t), freeTCPPort(t)
	tcpAddr := fmt.Sprintf("127.0.0.1:%d", port)
	sock := filepath.Join(t.TempDir(), "l4lb.sock")
	const drain = 2 * time.Second
	u := startUpgradable(t, "--listen", tcpAddr, "--listen", sock, "--loops", "2",
		"--backend", a.endpoint(), "--backend", b.endpoint(), "--drain-timeout", drain.String(),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	lc := clientloop.Start(tcpAddr, sock)
	defer lc.Stop()
	const held = 100
	var ws []*wsTunnel
	for i := 0; i < held; i++ {
		ws = append(ws, openWS(t, tcpAddr))
	}
	for round := 1; round <= 2; round++ {
		old := u.pid()
		syscall.Kill(old, syscall.SIGUSR2)
		cur := u.waitPID(t, old, 60*time.Second)
		// The old process drains: its WebSockets keep echoing.
		for i, w := range ws {
			if err := w.echo(fmt.Sprintf("round %d ws %d", round, i)); err != nil {
				t.Fatalf("upgrade %d: WebSocket %d of the old process, while it drains: %v", round, i, err)
			}
		}
		if !pidfile.WaitGone(old, drain+20*time.Second) {
			t.Fatalf("upgrade %d: old process %d still running %v after the new one was ready", round, old, drain+20*time.Second)
		}
		for i, w := range ws {
			if err := w.closed(5 * time.Second); err != nil {
				t.Fatalf("upgrade %d: WebSocket %d still open after the old process exited: %v", round, i, err)
			}
		}
		ws = ws[:0]
		for i := 0; i < held; i++ {
			ws = append(ws, openWS(t, tcpAddr))
		}
		if !pidfile.Alive(cur) {
			t.Fatalf("upgrade %d: new process %d is not running", round, cur)
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		if err != nil {
			t.Fatalf("upgrade %d: metrics: %v", round, err)
		}
		resp.Body.Close()
	}
	errs, served := lc.Stop()
	if len(errs) > 0 {
		t.Fatalf("clients saw %d errors across the upgrades; first: %v", len(errs), errs[0])
	}
	if served[tcpAddr] == 0 || served[sock] == 0 {
		t.Fatalf("requests served: %v; want some on both listeners", served)
	}
	t.Logf("requests served across 2 upgrades: %v", served)

	last := u.pid()
	syscall.Kill(last, syscall.SIGTERM)
	if !pidfile.WaitGone(last, drain+20*time.Second) {
		t.Fatalf("last process still running after SIGTERM")
	}
	if _, err := os.Stat(u.pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file after the last process stopped: %v; want it removed", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UNIX socket file after the last process stopped: %v; want it removed", err)
	}
}

// TestUpgradeFailed: an upgrade to a binary that exits at start leaves the
// old process serving, says why in the log, and a later upgrade to a good
// binary succeeds.
func TestUpgradeFailed(t *testing.T) {
	a := newNamedBackend(t, "a")
	port := freeTCPPort(t)
	tcpAddr := fmt.Sprintf("127.0.0.1:%d", port)
	sock := filepath.Join(t.TempDir(), "l4lb.sock")
	u := startUpgradable(t, "--listen", tcpAddr, "--listen", sock, "--backend", a.endpoint(), "--drain-timeout", "1s")
	lc := clientloop.Start(tcpAddr, sock)
	defer lc.Stop()

	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'l4lb: this build is broken' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	u.install(t, broken)
	old := u.pid()
	syscall.Kill(old, syscall.SIGUSR2)
	u.waitLog(t, 0, regexp.MustCompile(`level=ERROR msg="upgrade failed; this process keeps serving" err=".*exit status 3`), 60*time.Second)
	if !strings.Contains(u.log(), "this build is broken") {
		t.Errorf("the new process's own words are not in the log")
	}
	if got := u.pid(); got != old {
		t.Fatalf("PID file names %d after a failed upgrade; want the old %d", got, old)
	}
	time.Sleep(200 * time.Millisecond) // clients keep going against the old process a moment
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("UNIX socket file after a failed upgrade: %v", err)
	}

	u.install(t, l4lbBinary(t))
	syscall.Kill(old, syscall.SIGUSR2)
	u.waitPID(t, old, 60*time.Second)
	if !pidfile.WaitGone(old, 30*time.Second) {
		t.Fatalf("old process still running after the good upgrade")
	}
	errs, served := lc.Stop()
	if len(errs) > 0 {
		t.Fatalf("clients saw %d errors; first: %v", len(errs), errs[0])
	}
	t.Logf("requests served: %v", served)
}

// freeTCPPort returns a loopback port nothing listened on a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
