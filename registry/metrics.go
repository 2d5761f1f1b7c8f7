package registry

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Metrics counts what the MongoDB source does. The zero value is ready to
// use, a nil *Metrics discards everything, and all methods are safe for
// concurrent use. One Metrics may be shared by several sources.
type Metrics struct {
	polls, pollErrors, updates, deleted atomic.Int64
	pollNanos                           atomic.Int64
	lastSuccess                         atomic.Int64 // unix nanoseconds; 0: never
	failing                             atomic.Int64 // poll loops whose last query failed
}

// MetricsSnapshot is a copy of the counters at one instant.
type MetricsSnapshot struct {
	Polls      int64         // queries that succeeded
	PollErrors int64         // queries that failed
	PollTime   time.Duration // total time of successful queries
	Updates    int64         // sets handed to update
	Deleted    int64         // stale documents deleted
	Failing    int64         // poll loops currently failing (their watches serve their last known sets)
	// Staleness is how long ago the last successful query ended, or 0 if
	// none has succeeded yet.
	Staleness time.Duration
}

func (m *Metrics) pollOK(d time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.polls.Add(1)
	m.pollNanos.Add(int64(d))
	m.lastSuccess.Store(now.UnixNano())
}

func (m *Metrics) pollFailed() {
	if m != nil {
		m.pollErrors.Add(1)
	}
}

func (m *Metrics) setFailing(delta int64) {
	if m != nil {
		m.failing.Add(delta)
	}
}

func (m *Metrics) updated() {
	if m != nil {
		m.updates.Add(1)
	}
}

func (m *Metrics) deletedDocs(n int64) {
	if m != nil {
		m.deleted.Add(n)
	}
}

// Snapshot returns the counters now; a nil Metrics gives zeros.
func (m *Metrics) Snapshot() MetricsSnapshot {
	if m == nil {
		return MetricsSnapshot{}
	}
	s := MetricsSnapshot{
		Polls: m.polls.Load(), PollErrors: m.pollErrors.Load(),
		PollTime: time.Duration(m.pollNanos.Load()),
		Updates:  m.updates.Load(), Deleted: m.deleted.Load(), Failing: m.failing.Load(),
	}
	if last := m.lastSuccess.Load(); last != 0 {
		s.Staleness = time.Since(time.Unix(0, last))
	}
	return s
}

// WritePrometheus writes the metrics in the Prometheus text format, named
// l4lb_registry_*.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	s := m.Snapshot()
	_, err := fmt.Fprintf(w, `# HELP l4lb_registry_polls_total Discovery queries that succeeded.
# TYPE l4lb_registry_polls_total counter
l4lb_registry_polls_total %d
# HELP l4lb_registry_poll_errors_total Discovery queries that failed.
# TYPE l4lb_registry_poll_errors_total counter
l4lb_registry_poll_errors_total %d
# HELP l4lb_registry_poll_seconds_total Time spent in successful discovery queries.
# TYPE l4lb_registry_poll_seconds_total counter
l4lb_registry_poll_seconds_total %g
# HELP l4lb_registry_updates_total Backend sets handed to the balancer.
# TYPE l4lb_registry_updates_total counter
l4lb_registry_updates_total %d
# HELP l4lb_registry_deleted_total Stale endpoint documents deleted.
# TYPE l4lb_registry_deleted_total counter
l4lb_registry_deleted_total %d
# HELP l4lb_registry_failing Discovery poll loops whose watches serve their last known sets because the query fails.
# TYPE l4lb_registry_failing gauge
l4lb_registry_failing %d
# HELP l4lb_registry_staleness_seconds Time since the last successful discovery query.
# TYPE l4lb_registry_staleness_seconds gauge
l4lb_registry_staleness_seconds %g
`, s.Polls, s.PollErrors, s.PollTime.Seconds(), s.Updates, s.Deleted, s.Failing, s.Staleness.Seconds())
	return err
}
