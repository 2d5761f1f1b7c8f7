//go:build linux && measure

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
// It logs the share of the samples under RecordExchange (the event loop's
// part) and the writer goroutine, and under the Go scheduler for
// comparison. It needs perf(1) and the right to profile the process;
// L4LB_PERF_SECONDS sets the load's duration per configuration (10);
// L4LB_BASE_BIN=<an l4lb binary> adds that build with the JSON log on.
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
	type config struct {
		name, bin string
		args      []string
	}
	configs := []config{
		{"admin-on", bin, nil},
		{"log-json", bin, []string{"--access-log", filepath.Join(dir, "json.log")}},
		{"log-text", bin, []string{"--access-log", filepath.Join(dir, "text.log"), "--access-log-format", "text"}},
	}
	if base := os.Getenv("L4LB_BASE_BIN"); base != "" {
		// Another build (before a change), with the log on in JSON.
		configs = append(configs, config{"base-log-json", base, []string{"--access-log", filepath.Join(dir, "base.log")}})
	}
	for _, c := range configs {
		args := append([]string{"--loops", "1", "--admin-listen", "127.0.0.1:0"}, append(c.args, backends...)...)
		b := startServeBin(t, c.bin, args...)
		rec := exec.Command(perf, "record", "-F", "4000", "-g", "-o", filepath.Join(out, c.name+".data"),
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
		b.Cmd.Process.Kill()
		shares, err := perfShares(perf, filepath.Join(out, c.name+".data"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-8s %d requests, CPU %.2f µs/req; share of the process's samples: access log %.2f%% (on the loop %.2f%%, writer %.2f%%), scheduler %.2f%%",
			c.name, n, float64(cpu.Microseconds())/float64(n),
			shares[recordSym]+shares[writerSym], shares[recordSym], shares[writerSym], shares[schedSym])
	}
}

// The symbols whose samples (their callees' included) make the access
// log's cost: RecordExchange on the event loop, the writer goroutine
// (its write(2) included), and for comparison the Go scheduler's work
// (what waking goroutines costs), which the log should not raise.
const (
	recordSym = "github.com/l4lb/l4lb/accesslog.(*Logger).RecordExchange"
	writerSym = "github.com/l4lb/l4lb/accesslog.New.gowrap1"
	schedSym  = "runtime.mcall"
)

// perfShares returns the share, in percent, of a profile's samples under
// each of the symbols above (perf report --children).
func perfShares(perf, data string) (map[string]float64, error) {
	out, err := exec.Command(perf, "report", "-i", data, "--children", "--sort", "symbol", "--stdio", "-g", "none").Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %w", err)
	}
	shares := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// "  2.19%  0.10%  [.] github.com/...RecordExchange  -  -"
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		for _, sym := range []string{recordSym, writerSym, schedSym} {
			if f[3] == sym {
				v, _ := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
				shares[sym] = v
			}
		}
	}
	return shares, nil
}
