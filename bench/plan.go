package main

import (
	"slices"
	"strconv"
	"time"

	"github.com/l4lb/l4lb/tools/loadgen"
)

// step is one scenario as the harness runs it: the same loadgen arguments
// for every target.
type step struct {
	// Name labels the step in the table; empty means Scenario.
	Name     string        `json:"name,omitempty"`
	Scenario string        `json:"scenario"`
	Workers  int           `json:"workers,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Conns    int           `json:"conns,omitempty"`       // ws-idle
	Interval time.Duration `json:"interval_ns,omitempty"` // ws-idle
	Size     int64         `json:"size,omitempty"`        // bulk
	// PollConns and SessionsPerConn shape polling (0: loadgen's defaults,
	// 2 connections shared by 4 sessions per worker).
	PollConns       int `json:"poll_conns,omitempty"`
	SessionsPerConn int `json:"sessions_per_conn,omitempty"`
	// MessageSize pads xhr-streaming's messages (0: not padded).
	MessageSize int `json:"message_size,omitempty"`
}

func (s step) name() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Scenario
}

// runs reports whether target runs in s: HAProxy with http-no-delay
// differs from HAProxy only while a response is in progress, so it runs in
// the streaming step alone.
func (s step) runs(target string) bool {
	return target != targetHAProxyNoDelay || s.Scenario == loadgen.XHRStreaming
}

// measuresMemory reports whether the step's figures include memory and
// descriptors per connection; the harness starts balancers fresh for it.
func (s step) measuresMemory() bool { return s.Scenario == "ws-idle" }

// plan is a whole run's shape.
type plan struct {
	Mode   string `json:"mode"`
	Rounds int    `json:"rounds"`
	Steps  []step `json:"steps"`
}

// runs reports whether any step of p runs target.
func (p plan) runs(target string) bool {
	return slices.ContainsFunc(p.Steps, func(s step) bool { return s.runs(target) })
}

// xhrStreaming is the same step in both plans: 64 sessions, each with a
// stream of its own, their sends on 32 keep-alive connections; 2 KiB
// messages (a Meteor DDP message carrying a document or two), so that a
// stream reaches the backends' 128 KiB response limit and is reopened
// every 60 round trips or so.
func xhrStreaming(d time.Duration) step {
	return step{Scenario: loadgen.XHRStreaming, Workers: 16, Duration: d, MessageSize: 2048}
}

// quickPlan is a check that everything runs, fullPlan the measurement.
// Worker counts are chosen to saturate one balancer thread without
// starving it: loadgen, three backends and the balancer share two cores.
func quickPlan() plan {
	d := 2 * time.Second
	return plan{Mode: "quick", Rounds: 2, Steps: []step{
		{Scenario: "connrate", Workers: 16, Duration: d},
		{Scenario: "keepalive", Workers: 32, Duration: d},
		{Scenario: "polling", Workers: 16, Duration: d},
		xhrStreaming(d),
		{Scenario: "ws-idle", Duration: 3 * time.Second, Conns: 1000, Interval: time.Second},
		{Scenario: "bulk", Workers: 4, Duration: d, Size: 16 << 20},
	}}
}

func fullPlan() plan {
	d := 5 * time.Second
	return plan{Mode: "full", Rounds: 5, Steps: []step{
		{Scenario: "connrate", Workers: 16, Duration: d},
		{Scenario: "keepalive", Workers: 32, Duration: d},
		{Scenario: "polling", Workers: 16, Duration: d},
		// One session on one keep-alive connection per worker, a single
		// tab: no request changes backend. Against "polling", where
		// sessions share connections and nearly every request does, it
		// shows what switching backends mid-connection costs.
		{Name: "polling-1tab", Scenario: "polling", Workers: 16, Duration: d, PollConns: 1, SessionsPerConn: 1},
		xhrStreaming(d),
		// 8000 connections (16000 balancer fds of the 20000 allowed), each
		// sending every 4 s: 2000 messages/s, idle enough that the
		// figure is about holding connections, not about throughput.
		{Scenario: "ws-idle", Duration: 12 * time.Second, Conns: 8000, Interval: 4 * time.Second},
		{Scenario: "bulk", Workers: 4, Duration: d, Size: 64 << 20},
	}}
}

// args renders s as loadgen flags against targets.
func (s step) args(targets []string, label string) []string {
	a := []string{"-scenario", s.Scenario, "-label", label,
		"-duration", s.Duration.String(), "-target", join(targets)}
	if s.Workers > 0 {
		a = append(a, "-workers", strconv.Itoa(s.Workers))
	}
	if s.Conns > 0 {
		a = append(a, "-conns", strconv.Itoa(s.Conns), "-interval", s.Interval.String())
	}
	if s.Size > 0 {
		a = append(a, "-size", strconv.FormatInt(s.Size, 10))
	}
	if s.PollConns > 0 {
		a = append(a, "-poll-conns", strconv.Itoa(s.PollConns), "-sessions-per-conn", strconv.Itoa(s.SessionsPerConn))
	}
	if s.MessageSize > 0 {
		a = append(a, "-message-size", strconv.Itoa(s.MessageSize))
	}
	return a
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
