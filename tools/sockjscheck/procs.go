package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs tracks every process the check starts so that all of them are killed
// at the end, whatever went wrong. Safe for concurrent use.
type procs struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
}

// start runs cmd in its own process group with stdout and stderr appended to
// logPath, and remembers it for killAll.
func (p *procs) start(cmd *exec.Cmd, logPath string) error {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log %s: %w", logPath, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p.cmds = append(p.cmds, cmd)
	go func() { cmd.Wait(); f.Close() }()
	return nil
}

// killAll kills the process group of every started process.
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cmd := range p.cmds {
		if cmd.Process != nil {
			// Negative pid: the whole group, so children die too.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	p.cmds = nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen 127.0.0.1:0: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts a connection or the deadline passes.
func waitTCP(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("wait for %s: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLine waits until the file at path holds a line starting with prefix.
func waitLine(ctx context.Context, path, prefix string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if f, err := os.Open(path); err == nil {
			found := false
			r := bufio.NewReader(f)
			for {
				line, err := r.ReadString('\n')
				if strings.HasPrefix(line, prefix) {
					found = true
				}
				if err == io.EOF || err != nil {
					break
				}
			}
			f.Close()
			if found {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("wait for %q in %s: not seen within %s", prefix, path, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill kills cmd's process group and forgets it.
func (p *procs) kill(cmd *exec.Cmd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.cmds {
		if c == cmd {
			p.cmds = append(p.cmds[:i], p.cmds[i+1:]...)
			break
		}
	}
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
