//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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

	// Every epoll set of the process that holds the socket: the loop's,
	// and nothing else.
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
	if len(sets) != 1 {
		t.Errorf("the listening socket (inode %d) is in %d epoll sets (fds %v); want 1, the loop's", ino, len(sets), sets)
	}
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
