package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux this runs on (getconf CLK_TCK).
const clockTicks = 100

// proc is a child process the harness started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File // stdout and stderr, kept for post-mortems
	done chan struct{}
	err  error // set when done is closed
}

// startProc starts path with args, output going to logDir/name.log.
func startProc(name, logDir string, env []string, path string, args ...string) (*proc, error) {
	logf, err := os.Create(logDir + "/" + name + ".log")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	p := &proc{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 5 s, then SIGKILL.
func (p *proc) stop() {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// exited reports the process's exit error if it has already exited.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// waitTCP waits until addr accepts a connection or p exits or the deadline
// passes.
func waitTCP(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil {
			if gone, perr := p.exited(); gone {
				return fmt.Errorf("%s exited before listening on %s: %v (see %s)", p.name, addr, perr, p.log.Name())
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on %s after %s: %w", p.name, addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// usage is a process's resource use at one instant, from /proc.
type usage struct {
	cpu   time.Duration // utime + stime
	rssKB int64
	fds   int
}

// readUsage reads /proc/<pid>/stat (fields 14 utime and 15 stime, in
// clock ticks; proc(5)), VmRSS from /proc/<pid>/status and the entries of
// /proc/<pid>/fd.
func readUsage(pid int) (usage, error) {
	var u usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// comm (field 2) may hold spaces and parentheses: split after the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return u, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return u, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	u.cpu = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			u.rssKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	status.Close()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return u, err
	}
	u.fds = len(ents)
	return u, nil
}

// sampler polls a process's usage every interval and keeps the peaks.
type sampler struct {
	mu       sync.Mutex
	peakRSS  int64
	peakFDs  int
	stop     chan struct{}
	finished chan struct{}
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if u, err := readUsage(pid); err == nil {
				s.mu.Lock()
				s.peakRSS = max(s.peakRSS, u.rssKB)
				s.peakFDs = max(s.peakFDs, u.fds)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) end() (rssKB int64, fds int) {
	close(s.stop)
	<-s.finished
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakFDs
}

// runCapture runs a command to completion, returning its stdout; stderr is
// copied to errw.
func runCapture(ctx context.Context, errw io.Writer, path string, args ...string) ([]byte, *os.ProcessState, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = errw
	out, err := cmd.Output()
	return out, cmd.ProcessState, err
}

// freePort returns a loopback address nothing listens on right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
