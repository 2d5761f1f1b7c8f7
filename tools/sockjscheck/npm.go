package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Pinned peers: the versions the architecture experiment used.
var npmPackages = map[string]string{
	"sockjs":        "0.3.24",
	"sockjs-client": "1.6.1",
}

// ensureNPM installs the pinned npm packages into dir unless the right
// versions are already there.
func ensureNPM(ctx context.Context, dir string) error {
	if npmInstalled(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create npm dir %s: %w", dir, err)
	}
	pkg := filepath.Join(dir, "package.json")
	if _, err := os.Stat(pkg); err != nil {
		if err := os.WriteFile(pkg, []byte(`{"name":"sockjscheck-peers","private":true}`+"\n"), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", pkg, err)
		}
	}
	args := []string{"install", "--no-audit", "--no-fund", "--save-exact"}
	for name, version := range npmPackages {
		args = append(args, name+"@"+version)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm install in %s: %w\n%s", dir, err, out)
	}
	if !npmInstalled(dir) {
		return fmt.Errorf("npm install in %s: pinned versions still missing", dir)
	}
	return nil
}

// npmInstalled reports whether dir holds every pinned package at its version.
func npmInstalled(dir string) bool {
	for name, version := range npmPackages {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
		if err != nil {
			return false
		}
		var p struct{ Version string }
		if json.Unmarshal(b, &p) != nil || p.Version != version {
			return false
		}
	}
	return true
}

// ensureApt installs the Debian packages whose command is missing.
func ensureApt(ctx context.Context, pkgs map[string]string) error {
	var missing []string
	for command, pkg := range pkgs {
		if _, err := exec.LookPath(command); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w\n%s", err, out)
	}
	args := append([]string{"install", "-y"}, missing...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %v: %w\n%s", missing, err, out)
	}
	return nil
}
