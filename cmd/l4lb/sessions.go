package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// DefaultSessionMemory is --session-memory's default: 262144 entries, 4
// MiB, for up to about 130,000 polling and streaming sessions alive at
// once (the memory is best kept at most half full).
const DefaultSessionMemory = 1 << 18

// newSessions returns the session memory the flags ask for, nil when it
// is off (--session-memory 0).
func (c *serveConfig) newSessions(log *slog.Logger) (*affinity.Sessions, error) {
	if c.sessionMemory < 0 {
		return nil, fmt.Errorf("--session-memory %d: want a number of entries, or 0 for off", c.sessionMemory)
	}
	if c.sessionIdle < 0 {
		return nil, fmt.Errorf("--session-idle %v: want a positive duration", c.sessionIdle)
	}
	s := affinity.NewSessions(c.sessionMemory, c.sessionIdle)
	if s == nil {
		log.Info("session memory off: keyed requests follow the table alone")
		return nil, nil
	}
	log.Info("session memory", "entries", s.Capacity(), "bytes", s.Capacity()*affinity.SessionEntryBytes, "idle", c.sessionIdle)
	return s, nil
}

// sessionMetric is one metric of the session memory. The list is what a
// collector (a GaugeFunc or CounterFunc each) would register.
type sessionMetric struct {
	name, help, kind string
	value            func(affinity.SessionStats) int64
}

var sessionMetrics = []sessionMetric{
	{"l4lb_affinity_sessions_entries", "Session keys remembered and not expired.", "gauge",
		func(s affinity.SessionStats) int64 { return int64(s.Entries) }},
	{"l4lb_affinity_sessions_capacity", "Most session keys the memory holds (--session-memory).", "gauge",
		func(s affinity.SessionStats) int64 { return int64(s.Capacity) }},
	{"l4lb_affinity_sessions_hits_total", "Keyed requests routed to the backend the memory remembered.", "counter",
		func(s affinity.SessionStats) int64 { return s.Hits }},
	{"l4lb_affinity_sessions_overrides_total", "Hits on another backend than the table's first choice: sessions kept where the table would have moved them.", "counter",
		func(s affinity.SessionStats) int64 { return s.Overrides }},
	{"l4lb_affinity_sessions_misses_total", "Keyed requests the memory did not answer: new or expired keys, or keys whose backend left or is down.", "counter",
		func(s affinity.SessionStats) int64 { return s.Misses }},
	{"l4lb_affinity_sessions_evictions_total", "Session keys forgotten before their idle time because the memory was full.", "counter",
		func(s affinity.SessionStats) int64 { return s.Evictions }},
}

// writeSessionMetrics writes the session memory's metrics in the
// Prometheus text format; nothing when the memory is off.
func writeSessionMetrics(w io.Writer, s *affinity.Sessions) {
	if s == nil {
		return
	}
	st := s.Stats(time.Now())
	for _, m := range sessionMetrics {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.value(st))
	}
}
