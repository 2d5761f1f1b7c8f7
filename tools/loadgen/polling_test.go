package loadgen

import (
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// TestMisroutes runs the session scenarios through balancers that route
// right and one that routes wrong, and checks that only the wrong one is
// caught.
func TestMisroutes(t *testing.T) {
	// A 128-byte response limit ends an xhr-streaming stream every third
	// round trip, so that reopened streams are routed too.
	backends := startBackendsWith(t, echobackend.Options{ResponseLimit: 128}, "a", "b", "c")
	targets := map[string][]string{
		"direct":         backends,
		"session proxy":  {startSessionProxy(t, backends)},
		"per-connection": {startConnProxy(t, backends)},
	}
	tests := []struct {
		scenario, target string
		wantMisroutes    bool
	}{
		{Polling, "direct", false},
		{Polling, "session proxy", false},
		{Polling, "per-connection", true},
		{ConnRate, "direct", false},
		{ConnRate, "session proxy", false},
		{ConnRate, "per-connection", true},
		{XHRStreaming, "direct", false},
		{XHRStreaming, "session proxy", false},
		{XHRStreaming, "per-connection", true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+"/"+tt.target, func(t *testing.T) {
			t.Parallel()
			// 16 sessions or more: all on one backend of three has odds 3^-15.
			// A request budget rather than a short duration, so that a
			// loaded machine still runs every session several times.
			res := run(t, Config{Scenario: tt.scenario, Targets: targets[tt.target], Workers: 4, SessionsPerConn: 4,
				Requests: 200, Duration: 20 * time.Second})
			if res.Ops == 0 || res.Sessions == 0 {
				t.Fatalf("Run(%s via %s) = %d ops, %d sessions; want some of each", tt.scenario, tt.target, res.Ops, res.Sessions)
			}
			if res.Errors != 0 {
				t.Errorf("Run(%s via %s).Errors = %d (%q); want 0", tt.scenario, tt.target, res.Errors, res.ErrorSamples)
			}
			if got := res.Misroutes > 0; got != tt.wantMisroutes {
				t.Errorf("Run(%s via %s).Misroutes = %d; want misroutes: %v", tt.scenario, tt.target, res.Misroutes, tt.wantMisroutes)
			}
			if !tt.wantMisroutes && len(res.Backends) < 2 {
				t.Errorf("Run(%s via %s).Backends = %v; want sessions on at least 2 backends", tt.scenario, tt.target, res.Backends)
			}
			if tt.scenario == XHRStreaming && !tt.wantMisroutes && res.Reopens == 0 {
				t.Errorf("Run(%s via %s).Reopens = 0 after %d round trips; want streams ended and reopened", tt.scenario, tt.target, res.Ops)
			}
		})
	}
}

// TestAlternateTargets checks that AlternateTargets spreads one worker's
// connections over the targets: straight to three backends, sessions then
// misroute; through two balancers that agree, they do not.
func TestAlternateTargets(t *testing.T) {
	backends := startBackends(t, "a", "b", "c")
	agreeing := []string{startSessionProxy(t, backends), startSessionProxy(t, backends)}
	for _, tt := range []struct {
		name          string
		targets       []string
		wantMisroutes bool
	}{
		{"backends", backends, true},
		{"two balancers", agreeing, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, Config{Scenario: Polling, Targets: tt.targets, AlternateTargets: true, Workers: 2, SessionsPerConn: 4})
			if res.Ops == 0 || res.Errors != 0 {
				t.Fatalf("Run = %d ops, %d errors (%q); want ops and no errors", res.Ops, res.Errors, res.ErrorSamples)
			}
			if got := res.Misroutes > 0; got != tt.wantMisroutes {
				t.Errorf("Run(AlternateTargets via %s).Misroutes = %d; want misroutes: %v", tt.name, res.Misroutes, tt.wantMisroutes)
			}
		})
	}
}

func TestCheckEcho(t *testing.T) {
	tests := []struct {
		name       string
		msgs       []string
		home, want string
		wantErr    error // nil: no error; errMisroute; or errAny
	}{
		{"right backend", []string{"a:/s/1/x#1"}, "a", "/s/1/x#1", nil},
		{"no X-Backend to compare", []string{"b:/s/1/x#1"}, "", "/s/1/x#1", nil},
		{"other backend", []string{"b:/s/1/x#1"}, "a", "/s/1/x#1", errMisroute},
		{"wrong message", []string{"a:/s/1/x#2"}, "a", "/s/1/x#1", errAny},
		{"no stamp", []string{"/s/1/x#1"}, "a", "/s/1/x#1", errAny},
		{"two messages", []string{"a:/s/1/x#1", "a:/s/1/x#1"}, "a", "/s/1/x#1", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkEcho(tt.msgs, tt.home, tt.want)
			switch {
			case tt.wantErr == nil && err != nil,
				tt.wantErr == errMisroute && err != errMisroute,
				tt.wantErr == errAny && (err == nil || err == errMisroute):
				t.Errorf("checkEcho(%q, %q, %q) = %v; want %v", tt.msgs, tt.home, tt.want, err, tt.wantErr)
			}
		})
	}
}
