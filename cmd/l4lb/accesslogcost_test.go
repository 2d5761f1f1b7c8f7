//go:build linux && measure

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/internal/testutil"
)

// TestAccessLogCost measures the balancer process's CPU time per request
// with the admin listener off (no per-backend counters), on (counters:
// serve's default), and on with the access log to a file, JSON and text,
// on the bench's keepalive and polling shapes. The configurations run side
// by side and take turns in short segments, in a rotating order, so that
// the load of a shared machine falls on all of them alike. It only reports
// figures, so it builds only with the measure tag:
//
//	go test -tags measure -run TestAccessLogCost -v ./cmd/l4lb
//
// L4LB_COST_ROUNDS sets the rounds (12). L4LB_BASE_BIN=<an l4lb binary> adds that binary as the configuration
// "base" (to compare with a build before a change), with the flags in
// L4LB_BASE_ARGS, in which DIR names the test's temporary directory.
func TestAccessLogCost(t *testing.T) {
	if raceEnabled {
		t.Skip("measure without -race")
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
		b         *balancer
	}
	configs := []*config{
		{name: "admin off", args: []string{"--admin-listen", "off"}},
		{name: "admin on", args: []string{"--admin-listen", "127.0.0.1:0"}},
		{name: "log json", args: []string{"--admin-listen", "127.0.0.1:0", "--access-log", filepath.Join(dir, "json.log")}},
		{name: "log text", args: []string{"--admin-listen", "127.0.0.1:0", "--access-log", filepath.Join(dir, "text.log"), "--access-log-format", "text"}},
	}
	if base := os.Getenv("L4LB_BASE_BIN"); base != "" {
		args := strings.Fields(strings.ReplaceAll(os.Getenv("L4LB_BASE_ARGS"), "DIR", dir))
		configs = append([]*config{{name: "base", bin: base, args: args}}, configs...)
	}
	for _, c := range configs {
		if c.bin == "" {
			c.bin = bin
		}
		args := append([]string{"--loops", "1"}, append(c.args, backends...)...)
		c.b = startServeBin(t, c.bin, args...)
	}

	rounds := 12
	if n, err := strconv.Atoi(os.Getenv("L4LB_COST_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	segment := 1500 * time.Millisecond
	perReq := map[string][]float64{} // scenario/config -> µs per request, per round
	for round := range rounds {
		for _, sc := range []string{"keepalive", "polling"} {
			for i := range configs {
				c := configs[(i+round)%len(configs)]
				cpu0 := processCPU(t, c.b.Cmd.Process.Pid)
				n := load(t, c.b.addr, sc, segment)
				cpu := processCPU(t, c.b.Cmd.Process.Pid) - cpu0
				key := sc + "/" + c.name
				perReq[key] = append(perReq[key], float64(cpu.Microseconds())/float64(n))
			}
		}
	}
	// The machine's load drifts over a run: compare each configuration
	// with the others in the same round (paired), and report the median
	// of those ratios.
	paired := func(key, ref string) float64 {
		var r []float64
		for i, v := range perReq[key] {
			r = append(r, v/perReq[ref][i])
		}
		return median(r)
	}
	for _, sc := range []string{"keepalive", "polling"} {
		for _, c := range configs {
			v := perReq[sc+"/"+c.name]
			t.Logf("%-9s %-9s CPU µs/req median %.2f (min %.2f, max %.2f); paired x%.3f of admin off, x%.3f of admin on; rounds %s",
				sc, c.name, median(v), slices.Min(v), slices.Max(v),
				paired(sc+"/"+c.name, sc+"/admin off"), paired(sc+"/"+c.name, sc+"/admin on"), fmtList(v))
		}
	}
	for _, f := range []string{"json.log", "text.log"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Logf("%s: %d bytes", f, fi.Size())
		}
	}
}

// startFixedBackend starts a backend that answers every request (a fixed
// size head, see load) with one fixed keep-alive response, and returns its
// address.
func startFixedBackend(t *testing.T) string {
	t.Helper()
	return testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		buf := make([]byte, len(keepaliveReq))
		resp := []byte(fixedResp)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}).Addr().String()
}

// Requests of one size, so that the backend can read them by length.
const (
	keepaliveReq = "GET /index.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: measure\r\n\r\n"
	pollingReq   = "POST /sockjs/000/s%04d/xhr HTTP/1.1\r\nHost: bench\r\nX-Pad: 1\r\n\r\n"
	fixedResp    = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
)

func init() {
	if len(keepaliveReq) != len(fmt.Sprintf(pollingReq, 0)) {
		panic(fmt.Sprintf("request sizes differ: %d, %d", len(keepaliveReq), len(fmt.Sprintf(pollingReq, 0))))
	}
}

// load runs 16 workers against addr for d and returns the requests done.
// keepalive: one keep-alive connection per worker, keyless requests.
// polling: as the bench's polling scenario, 4 sessions per worker share 2
// keep-alive connections, session i's request of round r on connection
// (i+r) mod 2, so that nearly every request changes backend.
func load(t *testing.T, addr, scenario string, d time.Duration) int64 {
	t.Helper()
	var done atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nconns := 1
			if scenario == "polling" {
				nconns = 2
			}
			var conns []net.Conn
			for range nconns {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				c.SetDeadline(stop.Add(10 * time.Second))
				conns = append(conns, c)
			}
			reqs := [][]byte{[]byte(keepaliveReq)}
			if scenario == "polling" {
				reqs = nil
				for i := range 4 {
					reqs = append(reqs, []byte(fmt.Sprintf(pollingReq, w*4+i)))
				}
			}
			buf := make([]byte, len(fixedResp))
			for r := 0; time.Now().Before(stop); r++ {
				for i, req := range reqs {
					c := conns[(i+r)%len(conns)]
					if _, err := c.Write(req); err != nil {
						t.Error(err)
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						t.Error(err)
						return
					}
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return done.Load()
}

// processCPU returns the user and system CPU time of process pid.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// utime and stime are the 14th and 15th fields, in clock ticks (100 Hz).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}
