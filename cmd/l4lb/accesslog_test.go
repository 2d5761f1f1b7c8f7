package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeAccessLogRotate does what logrotate does: move the access log,
// then `kill -USR1` the balancer. The request before the move is in the
// moved file, the one after in a new file at the path.
func TestServeAccessLogRotate(t *testing.T) {
	a := newNamedBackend(t, "a")
	path := filepath.Join(t.TempDir(), "access.log")
	p := startServe(t, "--backend", a.url, "--access-log", path, "--access-log-format", "text", "--admin-listen", "off")
	if name, err := p.get(t); err != nil || name != "a" {
		t.Fatalf("GET = %q, %v; want a", name, err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	offset := p.Out.Len()
	if err := syscall.Kill(p.Cmd.Process.Pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	p.Out.WaitLine(t, offset, regexp.MustCompile(`msg="SIGUSR1: access log reopened" path=\S+$`), 10*time.Second)
	if name, err := p.get(t); err != nil || name != "a" {
		t.Fatalf("GET after SIGUSR1 = %q, %v; want a", name, err)
	}
	// SIGTERM writes what is queued and closes the file.
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.WaitExit(t, 20*time.Second); err != nil {
		t.Fatalf("l4lb serve after SIGTERM: %v; want a clean exit", err)
	}
	line := regexp.MustCompile(`^127\.0\.0\.1:\d+ \[[^]]+\] 127\.0\.0\.1:\d+ tcp://127\.0\.0\.1:\d+ [-.\d]+/[-.\d]+/[-.\d]+ 200 \d+ \d+ none normal - "GET /"$`)
	for _, f := range []string{path + ".1", path} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) != 1 || !line.MatchString(lines[0]) {
			t.Errorf("%s = %q; want one text line of a GET / answered 200", f, b)
		}
	}
}
