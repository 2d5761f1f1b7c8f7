package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestScenarios runs every scenario briefly against real backends, directly
// and through the honest proxy, and checks that it did work and saw no
// errors.
func TestScenarios(t *testing.T) {
	backends := startBackends(t, "a", "b", "c")
	tests := []struct {
		name string
		cfg  Config
	}{
		{"keepalive", Config{Scenario: KeepAlive}},
		{"bulk", Config{Scenario: Bulk, Size: 1 << 20}},
		{"bulk download", Config{Scenario: Bulk, Size: 300_000, BulkMode: "download"}},
		{"bulk upload", Config{Scenario: Bulk, Size: 300_001, BulkMode: "upload"}},
		{"xhr-streaming padded", Config{Scenario: XHRStreaming, MessageSize: 3000}},
		{"ws-idle sockjs", Config{Scenario: WSIdle, Conns: 30, Interval: 50 * time.Millisecond}},
		{"ws-idle raw", Config{Scenario: WSIdle, Conns: 30, Interval: 50 * time.Millisecond, RawWebSocket: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Targets = backends
			res := run(t, cfg)
			if res.Ops == 0 || res.Errors != 0 || res.Misroutes != 0 {
				t.Fatalf("Run(%s) = %d ops, %d errors (%q), %d misroutes; want ops and no errors or misroutes",
					tt.name, res.Ops, res.Errors, res.ErrorSamples, res.Misroutes)
			}
			if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Latency.Max < res.Latency.P999 {
				t.Errorf("Run(%s).Latency = %+v; want 0 < p50 <= p99 <= p99.9 <= max", tt.name, res.Latency)
			}
			if cfg.Scenario == Bulk && res.Bytes != res.Ops*cfg.Size {
				t.Errorf("Run(%s).Bytes = %d; want %d ops × %d", tt.name, res.Bytes, res.Ops, cfg.Size)
			}
			if cfg.Scenario == WSIdle && res.Conns != int64(cfg.Conns) {
				t.Errorf("Run(%s).Conns = %d; want %d", tt.name, res.Conns, cfg.Conns)
			}
			if !strings.Contains(res.Summary(), cfg.Scenario) {
				t.Errorf("Summary() = %q; want it to name %s", res.Summary(), cfg.Scenario)
			}
		})
	}
}

func TestRequestsBound(t *testing.T) {
	backends := startBackends(t, "a")
	res := run(t, Config{Scenario: KeepAlive, Targets: backends, Requests: 100, Workers: 4, Duration: 20 * time.Second})
	if res.Ops+res.Errors != 100 {
		t.Errorf("Run(keepalive, Requests: 100) did %d ops + %d errors; want 100", res.Ops, res.Errors)
	}
	if res.Seconds > 10 {
		t.Errorf("Run(keepalive, Requests: 100) took %.1fs; want it to stop at the request bound", res.Seconds)
	}
}

func TestErrorsCounted(t *testing.T) {
	// A port nobody listens on: every dial is refused.
	res := run(t, Config{Scenario: KeepAlive, Targets: []string{closedAddr(t)}, Requests: 20})
	if res.Errors != 20 || res.Ops != 0 || res.ErrorRate() != 1 {
		t.Errorf("Run(keepalive to a closed port) = %d ops, %d errors, rate %v; want 0, 20, 1", res.Ops, res.Errors, res.ErrorRate())
	}
}

func TestRunRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no target", Config{Scenario: KeepAlive}},
		{"remote target", Config{Scenario: KeepAlive, Targets: []string{"192.0.2.1:80"}}},
		{"unknown scenario", Config{Scenario: "flood", Targets: []string{"127.0.0.1:1"}}},
		{"too many conns", Config{Scenario: WSIdle, Targets: []string{"127.0.0.1:1"}, Conns: MaxConns + 1}},
		{"bad bulk mode", Config{Scenario: Bulk, Targets: []string{"127.0.0.1:1"}, BulkMode: "sideways"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res, err := Run(context.Background(), tt.cfg); err == nil {
				t.Errorf("Run(%+v) = %+v, nil; want an error", tt.cfg, res)
			}
		})
	}
}
