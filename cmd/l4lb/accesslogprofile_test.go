//go:build linux && measure

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestAccessLogProfile records a perf(1) profile of the balancer process
// under the polling load, with the admin listener on and the access log
// off, then on to a file, for finding where the log's cost goes:
//
//	L4LB_PERF_DIR=/tmp/prof go test -tags measure -run TestAccessLogProfile -v ./cmd/l4lb
//	perf report -i /tmp/prof/log-json.data --children --no-demangle
//
// It needs perf(1) and the right to profile the process; L4LB_PERF_SECONDS
// sets the load's duration per configuration (10).
func TestAccessLogProfile(t *testing.T) {
	out := os.Getenv("L4LB_PERF_DIR")
	if out == "" {
		t.Skip("set L4LB_PERF_DIR")
	}
	if raceEnabled {
		t.Skip("profile without -race")
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		t.Skip("no perf")
	}
	secs := 10
	if n, err := strconv.Atoi(os.Getenv("L4LB_PERF_SECONDS")); err == nil && n > 0 {
		secs = n
	}
	bin := l4lbBinary(t)
	dir := t.TempDir()
	var backends []string
	for range 3 {
		backends = append(backends, "--backend", startFixedBackend(t))
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"admin-on", nil},
		{"log-json", []string{"--access-log", filepath.Join(dir, "json.log")}},
		{"log-text", []string{"--access-log", filepath.Join(dir, "text.log"), "--access-log-format", "text"}},
	} {
		args := append([]string{"--loops", "1", "--admin-listen", "127.0.0.1:0"}, append(c.args, backends...)...)
		b := startServeBin(t, bin, args...)
		rec := exec.Command(perf, "record", "-F", "2000", "-g", "-o", filepath.Join(out, c.name+".data"),
			"-p", strconv.Itoa(b.Cmd.Process.Pid), "--", "sleep", strconv.Itoa(secs))
		rec.Stderr = os.Stderr
		if err := rec.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // perf attaches
		cpu0 := processCPU(t, b.Cmd.Process.Pid)
		n := load(t, b.addr, "polling", time.Duration(secs)*time.Second-500*time.Millisecond)
		cpu := processCPU(t, b.Cmd.Process.Pid) - cpu0
		if err := rec.Wait(); err != nil {
			t.Fatalf("perf record: %v", err)
		}
		t.Logf("%s: %d requests, CPU %.2f µs/req", c.name, n, float64(cpu.Microseconds())/float64(n))
		b.Cmd.Process.Kill()
	}
}
