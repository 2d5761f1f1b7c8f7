package pidfile

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// poll is how often the waits look again: the file and the process belong
// to another process, which signals nothing.
const poll = 20 * time.Millisecond

// Read returns the PID in the file at path.
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("PID file %s: %w", path, err)
	}
	return pid, nil
}

// Wait waits until the file at path names a process other than not (0:
// any process) and returns it.
func Wait(path string, not int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if pid, err := Read(path); err == nil && pid != 0 && pid != not {
			return pid, nil
		}
		if time.Now().After(deadline) {
			pid, _ := Read(path)
			return 0, fmt.Errorf("PID file %s still names %d after %v", path, pid, timeout)
		}
		time.Sleep(poll)
	}
}

// Alive reports whether pid runs: it exists and is not a zombie waiting
// for a parent that does not reap it.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// WaitGone waits until pid no longer runs and reports whether it stopped
// within timeout.
func WaitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(poll)
	}
	return true
}
