package main

import (
	"bufio"
	"bytes"
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
	// measured are the processes whose usage is measured when they are
	// not the one started (nginx's workers under their master); nil for
	// the process itself.
	measured []int
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

// usage is the usage of the processes p stands for: itself, or the sum
// over its measured processes.
func (p *proc) usage() (usage, error) {
	if len(p.measured) == 0 {
		return readUsage(p.pid())
	}
	var sum usage
	for _, pid := range p.measured {
		u, err := readUsage(pid)
		if err != nil {
			return sum, err
		}
		sum.cpu += u.cpu
		sum.rssKB += u.rssKB
		sum.fds += u.fds
	}
	return sum, nil
}

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
		for _, pid := range p.measured {
			syscall.Kill(pid, syscall.SIGKILL) // orphaned workers would keep the port
		}
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

// readUsage reads the CPU time of pid (readCPU), VmRSS from
// /proc/<pid>/status and the entries of /proc/<pid>/fd.
func readUsage(pid int) (usage, error) {
	var u usage
	var err error
	if u.cpu, err = readCPU(pid); err != nil {
		return u, err
	}
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

// readCPU reads /proc/<pid>/stat: fields 14 utime and 15 stime, in clock
// ticks (proc(5)).
func readCPU(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// statFields returns the fields of /proc/<pid>/stat from field 3 (state)
// on, at least 13 of them: f[0] is field 3, f[1] field 4 (ppid).
func statFields(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// comm (field 2) may hold spaces and parentheses: split after the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f, nil
}

// children returns the pids of pid's child processes, from the parent
// field of every /proc/<pid>/stat.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(n); err == nil && f[1] == strconv.Itoa(pid) {
			kids = append(kids, n)
		}
	}
	return kids
}

// sampler polls a process's usage every interval and keeps the peaks.
type sampler struct {
	mu       sync.Mutex
	peakRSS  int64
	peakFDs  int
	stop     chan struct{}
	finished chan struct{}
}

func startSampler(read func() (usage, error), every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if u, err := read(); err == nil {
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
// copied to errw. started, if not nil, is given the command's pid once it
// runs.
func runCapture(ctx context.Context, errw io.Writer, started func(pid int), path string, args ...string) ([]byte, *os.ProcessState, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = errw
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	if started != nil {
		started(cmd.Process.Pid)
	}
	err := cmd.Wait()
	return out.Bytes(), cmd.ProcessState, err
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
