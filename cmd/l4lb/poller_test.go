//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/pidfile"
)

// TestListenerNotInGoPoller: the engine's listening socket is polled by
// its loop's epoll set only. Recorded for upgrades, it is not also in the
// Go runtime's poller, where every accepted connection would wake the
// runtime's idle thread for nothing (deferred.go).
func TestListenerNotInGoPoller(t *testing.T) {
	backend := newNamedBackend(t, "a")
	b := startServe(t, "--loops", "1", "--backend", backend.endpoint())
	pid := b.Cmd.Process.Pid
	port := b.addr[strings.LastIndexByte(b.addr, ':')+1:]
	ino := listenerInode(t, pid, port)
	if sets := epollSetsHolding(t, pid, ino); len(sets) != 1 {
		t.Errorf("the listening socket (inode %d) is in %d epoll sets (fds %v); want 1, the loop's", ino, len(sets), sets)
	}
}

// TestUpgradedListenerNotInGoPoller: the same in a process started by an
// upgrade, which inherited the socket, after a first attempt that failed
// (the parcel it left unread is dropped): once ready, the new process has
// the socket in its loop's epoll set only, and serves on it.
func TestUpgradedListenerNotInGoPoller(t *testing.T) {
	backend := newNamedBackend(t, "a")
	port := freeTCPPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	u := startUpgradable(t, "--listen", addr, "--loops", "1", "--backend", backend.endpoint(), "--drain-timeout", "1s")
	old := u.pid()
	ino := listenerInode(t, old, strconv.Itoa(port))

	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	u.install(t, broken)
	syscall.Kill(old, syscall.SIGUSR2)
	u.waitLog(t, 0, regexp.MustCompile(`upgrade failed; this process keeps serving`), 60*time.Second)

	u.install(t, l4lbBinary(t))
	syscall.Kill(old, syscall.SIGUSR2)
	cur := u.waitPID(t, old, 60*time.Second)
	if got := listenerInode(t, cur, strconv.Itoa(port)); got != ino {
		t.Fatalf("the new process listens on socket %d; want the inherited %d", got, ino)
	}
	if sets := epollSetsHolding(t, cur, ino); len(sets) != 1 {
		t.Errorf("the upgraded process has the listening socket (inode %d) in %d epoll sets (fds %v); want 1, the loop's", ino, len(sets), sets)
	}
	if !pidfile.WaitGone(old, 30*time.Second) {
		t.Fatalf("old process %d still running after the upgrade", old)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("request to the upgraded process: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "a" {
		t.Errorf("answer from the upgraded process: %q, %v; want a, from the backend", body, err)
	}
}

// epollSetsHolding returns the descriptors of pid's epoll sets that hold
// the socket with inode ino.
func epollSetsHolding(t *testing.T, pid int, ino uint64) []string {
	t.Helper()
	var sets []string
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(fd); target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, filepath.Base(fd)))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "tfd:") && strings.Contains(line, " ino:"+strconv.FormatUint(ino, 16)+" ") {
				sets = append(sets, filepath.Base(fd))
			}
		}
	}
	return sets
}

// listenerInode returns the inode of pid's TCP socket listening on port
// (hexadecimal in /proc/PID/net/tcp).
func listenerInode(t *testing.T, pid int, port string) uint64 {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", p)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ... uid timeout inode
		if len(fields) > 9 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
			ino, err := strconv.ParseUint(fields[9], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return ino
		}
	}
	t.Fatalf("no socket listening on port %s in /proc/%d/net/tcp", port, pid)
	return 0
}
