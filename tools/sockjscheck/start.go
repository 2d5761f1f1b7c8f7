package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

var backendNames = []string{"A", "B", "C"}

// startAll starts the three backends, HAProxy and a fresh build of l4lb.
func (c *check) startAll(ctx context.Context) error {
	var backends []string
	for _, name := range backendNames {
		port, err := freePort()
		if err != nil {
			return err
		}
		if _, err := c.startBackend(ctx, name, port); err != nil {
			return err
		}
		backends = append(backends, "127.0.0.1:"+strconv.Itoa(port))
	}
	c.urls = map[string]string{"direct": "http://" + backends[0] + "/sockjs"}

	hp, err := c.startHAProxy(ctx, backends)
	if err != nil {
		return err
	}
	c.urls["haproxy"] = "http://" + hp + "/sockjs"

	lb, err := c.startL4LB(ctx, backends)
	if err != nil {
		return err
	}
	c.urls["l4lb"] = "http://" + lb + "/sockjs"

	if c.naive, err = startFirstRequestProxy(backends); err != nil {
		return err
	}
	c.urls["first-request"] = "http://" + c.naive.addr() + "/sockjs"
	return nil
}

// startBackend starts the sockjs-node backend name on port and waits
// until it listens. Its request log joins c.logs the first time.
func (c *check) startBackend(ctx context.Context, name string, port int) (*exec.Cmd, error) {
	out := filepath.Join(c.runDir, "backend-"+name+".log")
	reqLog := filepath.Join(c.runDir, "backend-"+name+".requests")
	cmd := exec.Command("node", filepath.Join(c.o.npmDir, "backend.js"), name, strconv.Itoa(port), reqLog)
	cmd.Dir = c.o.npmDir
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	if err := c.ps.start(cmd, out); err != nil {
		return nil, err
	}
	if err := waitLine(ctx, out, "READY "+name+" "+strconv.Itoa(port), 20*time.Second); err != nil {
		return nil, fmt.Errorf("backend %s on 127.0.0.1:%d: %w", name, port, err)
	}
	if !contains(c.logs.paths, reqLog) {
		c.logs.paths = append(c.logs.paths, reqLog)
	}
	return cmd, nil
}

func (c *check) startHAProxy(ctx context.Context, backends []string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := filepath.Join(c.runDir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, backends)), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", cfg, err)
	}
	if err := c.ps.start(exec.Command("haproxy", "-db", "-f", cfg), filepath.Join(c.runDir, "haproxy.log")); err != nil {
		return "", err
	}
	if err := waitTCP(ctx, addr, 15*time.Second); err != nil {
		return "", fmt.Errorf("haproxy: %w", err)
	}
	return addr, nil
}

func (c *check) startL4LB(ctx context.Context, backends []string) (string, error) {
	bin, err := c.buildL4LB(ctx)
	if err != nil {
		return "", err
	}
	args := []string{"--loops", "1", "--log-level", c.o.l4lbLogLevel}
	for _, b := range backends {
		args = append(args, "--backend", b)
	}
	addr, _, err := c.runL4LB(ctx, bin, "l4lb.log", args)
	return addr, err
}

// buildL4LB builds ./cmd/l4lb into the run directory.
func (c *check) buildL4LB(ctx context.Context) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(c.runDir, "l4lb")
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "go", "build", "-o", bin, "./cmd/l4lb")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/l4lb in %s: %w\n%s", root, err, out)
	}
	return bin, nil
}

// runL4LB starts `l4lb serve` on a free port with args, logging to
// logName in the run directory, and waits until it accepts.
func (c *check) runL4LB(ctx context.Context, bin, logName string, args []string) (string, *exec.Cmd, error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	if err := c.ps.start(cmd, filepath.Join(c.runDir, logName)); err != nil {
		return "", nil, err
	}
	if err := waitTCP(ctx, addr, 15*time.Second); err != nil {
		c.ps.kill(cmd)
		return "", nil, fmt.Errorf("l4lb (%s): %w", logName, err)
	}
	return addr, cmd, nil
}

// moduleRoot finds the l4lb module's directory from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/l4lb/l4lb\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNoModule
		}
		dir = parent
	}
}
