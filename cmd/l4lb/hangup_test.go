package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestServeSIGHUP does what an operator does: edit the backends file, then
// `kill -HUP` the balancer. The process keeps running, an established
// connection keeps working, and new connections go to the edited set at
// once. The edit keeps the file's size, inode and mtime, so that the
// file's own polling cannot see it and only the reload can.
func TestServeSIGHUP(t *testing.T) {
	a, b := newNamedBackend(t, "a"), newNamedBackend(t, "b")
	path := filepath.Join(t.TempDir(), "backends")
	// Every version of the file is one padded line of the same length.
	line := func(nb *namedBackend) []byte { return fmt.Appendf(nil, "%-100s\n", nb.url) }
	if err := os.WriteFile(path, line(a), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "--backends-file", path)
	if name, err := p.get(t); err != nil || name != "a" {
		t.Fatalf("GET before SIGHUP = %q, %v; want a", name, err)
	}
	conn, br := p.tunnelTo(t, "a")
	defer conn.Close()
	echo(t, conn, br, "a", "before")

	if err := os.WriteFile(path, line(b), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	offset := p.Out.Len()
	if err := syscall.Kill(p.Cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.Out.WaitLine(t, offset, regexp.MustCompile(`msg="SIGHUP: reloaded backends file" path=\S+ backends=1$`), 10*time.Second)

	select {
	case <-p.Exited():
		t.Fatalf("l4lb serve exited after SIGHUP: %v", p.Wait())
	default:
	}
	echo(t, conn, br, "a", "after")
	for range 5 {
		if name, err := p.get(t); err != nil || name != "b" {
			t.Fatalf("GET after SIGHUP = %q, %v; want b, the backend the file names now", name, err)
		}
	}
}
