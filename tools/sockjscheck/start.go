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
		out := filepath.Join(c.runDir, "backend-"+name+".log")
		reqLog := filepath.Join(c.runDir, "backend-"+name+".requests")
		cmd := exec.Command("node", filepath.Join(c.o.npmDir, "backend.js"), name, strconv.Itoa(port), reqLog)
		cmd.Dir = c.o.npmDir
		cmd.Env = append(os.Environ(), "NODE_ENV=production")
		if err := c.ps.start(cmd, out); err != nil {
			return err
		}
		if err := waitLine(ctx, out, "READY", 20*time.Second); err != nil {
			return fmt.Errorf("backend %s on 127.0.0.1:%d: %w", name, port, err)
		}
		backends = append(backends, "127.0.0.1:"+strconv.Itoa(port))
		c.logs.paths = append(c.logs.paths, reqLog)
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
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve", "--listen", addr, "--loops", "1", "--log-level", c.o.l4lbLogLevel}
	for _, b := range backends {
		args = append(args, "--backend", b)
	}
	if err := c.ps.start(exec.Command(bin, args...), filepath.Join(c.runDir, "l4lb.log")); err != nil {
		return "", err
	}
	if err := waitTCP(ctx, addr, 15*time.Second); err != nil {
		return "", fmt.Errorf("l4lb: %w", err)
	}
	return addr, nil
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
