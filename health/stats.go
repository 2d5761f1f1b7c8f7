package health

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
)

// CheckBuckets are the upper bounds of the check duration histogram
// (Stats.CheckDurations).
var CheckBuckets = []time.Duration{
	time.Millisecond, 5 * time.Millisecond, 25 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
}

// Failures lists the failures of real traffic, the index of
// Stats.Failures and Stats.Ejections.
var Failures = []engine.Failure{engine.FailConnect, engine.FailConnectTimeout, engine.FailNoResponse, engine.FailResponseTimeout}

// counters are the checker's atomics.
type counters struct {
	passes, fails atomic.Int64
	checkNanos    atomic.Int64
	buckets       [10]atomic.Int64 // CheckBuckets, then +Inf
	failures      [5]atomic.Int64  // by engine.Failure
	ejections     [5]atomic.Int64  // by engine.Failure
	refused       atomic.Int64
}

func (s *counters) check(took time.Duration, ok bool) {
	if ok {
		s.passes.Add(1)
	} else {
		s.fails.Add(1)
	}
	s.checkNanos.Add(int64(took))
	i, _ := slices.BinarySearch(CheckBuckets, took)
	s.buckets[i].Add(1)
}

func (s *counters) failed(why engine.Failure) {
	if int(why) < len(s.failures) {
		s.failures[why].Add(1)
	}
}

func (s *counters) ejected(why engine.Failure) {
	if int(why) < len(s.ejections) {
		s.ejections[why].Add(1)
	}
}

// Stats is the checker's state at one instant.
type Stats struct {
	// Backends are the backends of the set, by Endpoint.
	Backends []BackendStats
	// ChecksPassed and ChecksFailed count active checks.
	ChecksPassed, ChecksFailed int64
	// CheckTime is the total time of the checks; CheckDurations counts
	// them by duration: [i] those at most CheckBuckets[i] and above the
	// bound before, the last one those above every bound.
	CheckTime      time.Duration
	CheckDurations []int64
	// Failures counts the failures of real traffic the engine reported,
	// and Ejections the ejections they caused, by reason (the order of
	// the package's Failures).
	Failures, Ejections []int64
	// EjectionsRefused counts ejections not made because MaxEjectedShare
	// of the set was out already.
	EjectionsRefused int64
}

// BackendStats is one backend's health.
type BackendStats struct {
	Endpoint string
	// Up reports whether the backend receives traffic as far as health is
	// concerned (discovery's Draining still applies).
	Up bool
	// Reason says why it is down: "check", or the failure that ejected it
	// ("connect", "connect_timeout", "no_response", "response_timeout").
	Reason string
	// Ejected reports whether passive ejection holds it out (it may be
	// down by check too); Ejections counts its ejections in a row.
	Ejected   bool
	Ejections int
	// Share is its share of keyless traffic, 1 unless ramping up.
	Share float64
	// LastChecked is when the last active check ended, zero if none
	// has since the backend joined the set or while checks are off;
	// LastCheck is its duration, and LastError its error (nil when it
	// passed).
	LastChecked time.Time
	LastCheck   time.Duration
	LastError   error
}

// Stats returns the checker's counters and the state of every backend.
func (c *Checker) Stats() Stats {
	s := Stats{
		ChecksPassed: c.stats.passes.Load(), ChecksFailed: c.stats.fails.Load(),
		CheckTime:        time.Duration(c.stats.checkNanos.Load()),
		EjectionsRefused: c.stats.refused.Load(),
	}
	for i := range len(CheckBuckets) + 1 {
		s.CheckDurations = append(s.CheckDurations, c.stats.buckets[i].Load())
	}
	for _, f := range Failures {
		s.Failures = append(s.Failures, c.stats.failures[f].Load())
		s.Ejections = append(s.Ejections, c.stats.ejections[f].Load())
	}
	now := time.Now()
	c.mu.Lock()
	for _, b := range c.byEp {
		reason := ""
		if b.down {
			reason = b.reason
		}
		s.Backends = append(s.Backends, BackendStats{
			Endpoint: b.endpoint, Up: !b.down, Reason: reason,
			Ejected: b.ejected, Ejections: b.ejections,
			Share:       float64(c.share(b, now)) / affinity.FullShare,
			LastChecked: b.lastAt, LastCheck: b.lastDuration, LastError: b.lastErr,
		})
	}
	c.mu.Unlock()
	slices.SortFunc(s.Backends, func(a, b BackendStats) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return s
}
