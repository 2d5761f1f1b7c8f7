package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

func TestSessionFlags(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		capacity int // 0: off
		idle     time.Duration
		err      string
	}{
		{"defaults", nil, nil, DefaultSessionMemory, affinity.DefaultSessionIdle, ""},
		{"env", map[string]string{"L4LB_SESSION_MEMORY": "1000", "L4LB_SESSION_IDLE": "5m"}, nil, 1000, 5 * time.Minute, ""},
		{"flag wins", map[string]string{"L4LB_SESSION_MEMORY": "1000"}, []string{"--session-memory", "2002"}, 2008, affinity.DefaultSessionIdle, ""},
		{"off", nil, []string{"--session-memory", "0"}, 0, affinity.DefaultSessionIdle, ""},
		{"negative size", nil, []string{"--session-memory", "-1"}, 0, 0, "--session-memory"},
		{"negative idle", nil, []string{"--session-idle", "-1s"}, 0, 0, "--session-idle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var c serveConfig
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			if err := parseWithEnv(fs, c.flags(fs), tc.args); err != nil {
				t.Fatalf("parseWithEnv(%v) = %v", tc.args, err)
			}
			s, err := c.newSessions(discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("newSessions = %v; want an error naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("newSessions = %v", err)
			}
			if got := s.Capacity(); got != tc.capacity {
				t.Errorf("capacity = %d; want %d", got, tc.capacity)
			}
			if c.sessionIdle != tc.idle {
				t.Errorf("idle = %v; want %v", c.sessionIdle, tc.idle)
			}
		})
	}
}

func TestSessionMetrics(t *testing.T) {
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: "tcp://127.0.0.1:1"}, {Endpoint: "tcp://127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	s := affinity.NewSessions(64, 0)
	now := time.Now()
	h := affinity.HashKey([]byte("abcdefgh"))
	cands := s.Candidates(bal.Snapshot(), h, now, nil) // a miss
	s.Remember(h, cands[1], now)
	s.Candidates(bal.Snapshot(), h, now, nil) // a hit, overriding the table
	out := gatherText(t, sessionCollector{s})
	for _, want := range []string{
		"# TYPE l4lb_affinity_sessions_entries gauge\nl4lb_affinity_sessions_entries 1\n",
		"l4lb_affinity_sessions_capacity 64\n",
		"# TYPE l4lb_affinity_sessions_hits_total counter\nl4lb_affinity_sessions_hits_total 1\n",
		"l4lb_affinity_sessions_overrides_total 1\n",
		"l4lb_affinity_sessions_misses_total 1\n",
		"l4lb_affinity_sessions_evictions_total 0\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q; got:\n%s", want, out)
		}
	}
}
