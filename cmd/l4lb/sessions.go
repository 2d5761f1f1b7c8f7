package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSessionMemory is --session-memory's default: 262144 entries, 2
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

// sessionMetric is one metric of the session memory.
type sessionMetric struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     func(affinity.SessionStats) int64
}

func sessionDesc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

var sessionMetrics = []sessionMetric{
	{sessionDesc("l4lb_affinity_sessions_entries", "Session keys remembered and not expired."), prometheus.GaugeValue,
		func(s affinity.SessionStats) int64 { return int64(s.Entries) }},
	{sessionDesc("l4lb_affinity_sessions_capacity", "Most session keys the memory holds (--session-memory)."), prometheus.GaugeValue,
		func(s affinity.SessionStats) int64 { return int64(s.Capacity) }},
	{sessionDesc("l4lb_affinity_sessions_hits_total", "Keyed requests routed to the backend the memory remembered."), prometheus.CounterValue,
		func(s affinity.SessionStats) int64 { return s.Hits }},
	{sessionDesc("l4lb_affinity_sessions_overrides_total", "Hits on another backend than the table's first choice: sessions kept where the table would have moved them."), prometheus.CounterValue,
		func(s affinity.SessionStats) int64 { return s.Overrides }},
	{sessionDesc("l4lb_affinity_sessions_misses_total", "Keyed requests the memory did not answer: new or expired keys, or keys whose backend left or is down."), prometheus.CounterValue,
		func(s affinity.SessionStats) int64 { return s.Misses }},
	{sessionDesc("l4lb_affinity_sessions_evictions_total", "Session keys forgotten before their idle time because the memory was full."), prometheus.CounterValue,
		func(s affinity.SessionStats) int64 { return s.Evictions }},
}

// sessionCollector exposes the session memory's metrics on the admin
// listener's /metrics.
type sessionCollector struct{ s *affinity.Sessions }

func (sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range sessionMetrics {
		ch <- m.desc
	}
}

func (c sessionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats(time.Now())
	for _, m := range sessionMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.valueType, float64(m.value(st)))
	}
}
