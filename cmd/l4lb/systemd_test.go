package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/pidfile"
)

// needTool skips t when a program .ci/run installs is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (.ci/run installs it): %v", name, err)
	}
	return p
}

// TestUnitFiles: systemd-analyze verify accepts deploy/l4lb.service and
// deploy/l4lb.socket without a warning, with ExecStart pointing at the
// l4lb binary under test.
func TestUnitFiles(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	dir := t.TempDir()
	for _, name := range []string{"l4lb.service", "l4lb.socket"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(b), "/usr/local/bin/l4lb", l4lbBinary(t))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", filepath.Join(dir, "l4lb.socket"), filepath.Join(dir, "l4lb.service"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// httpGet sends one request on c and returns the response body.
func httpGet(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s %q", resp.Status, b)
	}
	return string(b), err
}

// TestSocketActivation: systemd-socket-activate opens a TCP and a UNIX
// socket, and on the first connection starts l4lb on them (LISTEN_FDS,
// no --listen); that first connection, queued before l4lb ran, is
// served, as is the UNIX socket. An upgrade carries both sockets to the
// new process, and the UNIX socket file, being the service manager's,
// survives every process.
func TestSocketActivation(t *testing.T) {
	activate := needTool(t, "systemd-socket-activate")
	a := newNamedBackend(t, "a")
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	sock := filepath.Join(t.TempDir(), "l4lb.sock")
	u := newUpgradable(t)
	first := u.start(t, []string{activate, "-l", addr, "-l", sock, "--fdname=web:local"},
		"--backend", a.endpoint(), "--drain-timeout", "1s")

	var c net.Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate not listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // another process binds it; nothing signals it
	}
	defer c.Close()
	if body, err := httpGet(c); err != nil || body != "a" {
		t.Fatalf("first connection, queued before l4lb started: %q, %v; want a", body, err)
	}
	if pid := u.waitPID(t, 0, 30*time.Second); pid != first {
		t.Fatalf("PID file names %d; want %d (systemd-socket-activate execs l4lb)", pid, first)
	}
	u.waitLog(t, 0, regexp.MustCompile(`msg="socket activation" listener=`+regexp.QuoteMeta(addr)+` name=web`), 10*time.Second)
	u.waitLog(t, 0, regexp.MustCompile(`msg="socket activation" listener=`+regexp.QuoteMeta(sock)+` name=local`), 10*time.Second)
	get := func(network, address string) {
		t.Helper()
		c, err := net.DialTimeout(network, address, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", address, err)
		}
		defer c.Close()
		if body, err := httpGet(c); err != nil || body != "a" {
			t.Fatalf("via %s: %q, %v", address, body, err)
		}
	}
	get("unix", sock)

	syscall.Kill(first, syscall.SIGUSR2)
	next := u.waitPID(t, first, 60*time.Second)
	if !pidfile.WaitGone(first, 20*time.Second) {
		t.Fatal("the activated process did not exit after the upgrade")
	}
	get("tcp", addr)
	get("unix", sock)
	syscall.Kill(next, syscall.SIGTERM)
	if !pidfile.WaitGone(next, 20*time.Second) {
		t.Fatal("the upgraded process did not exit on SIGTERM")
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the service manager's socket file after l4lb stopped: %v; want it left", err)
	}
}
