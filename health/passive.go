package health

import (
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
)

// Passive ejection: the engine reports how real connections to each
// backend end (engine.HealthObserver, on its event loops); a run of
// EjectAfter failures with no answer between them ejects the backend for
// a time that grows with each ejection in a row, as Envoy's outlier
// detection does. The loops only count, in the member's shared counter,
// and hand the member to Run's goroutine when the run is long enough.

var _ engine.HealthObserver = (*Checker)(nil)

// BackendFailed counts a failure of real traffic on m; runs on an event
// loop, never blocks and does not allocate.
func (c *Checker) BackendFailed(m *affinity.Member, why engine.Failure) {
	c.stats.failed(why)
	if c.cfg.EjectAfter <= 0 {
		return
	}
	if m.Failed() >= int32(c.cfg.EjectAfter) && m.Usable() {
		select {
		case c.ejects <- ejection{m: m, why: why}:
		default: // Run is behind; the next failure asks again
		}
	}
}

// BackendAnswered ends m's run of failures; runs on an event loop.
func (c *Checker) BackendAnswered(m *affinity.Member) { m.Answered() }

// eject ejects the member of e unless it answered since, is out already,
// or the share of ejected backends is at its bound.
func (c *Checker) eject(e ejection) {
	b := c.byEp[e.m.Backend().Endpoint]
	if b == nil || b.down || e.m.Failures() < int32(c.cfg.EjectAfter) {
		return
	}
	ejected, n := 0, 0
	for _, o := range c.byEp {
		n++
		if o.ejected {
			ejected++
		}
	}
	if ejected >= c.maxEjected(n) {
		c.stats.refused.Add(1)
		c.log.Warn("backend not ejected: too many are", "backend", b.endpoint, "reason", e.why.String(),
			"ejected", ejected, "backends", n)
		e.m.Answered() // ask again only after another full run
		return
	}
	now := time.Now()
	b.ejections++
	b.ejected, b.ejectedFor = true, e.why
	b.until = now.Add(min(time.Duration(b.ejections)*c.cfg.EjectTime, c.cfg.MaxEjectTime))
	b.passes = 0 // active checks must pass again before it returns
	e.m.Answered()
	c.stats.ejected(e.why)
	c.settle(b, e.why.String())
}

// maxEjected is how many of n backends may be ejected at once.
func (c *Checker) maxEjected(n int) int {
	if c.cfg.MaxEjectedShare < 0 {
		return 1
	}
	return max(1, int(c.cfg.MaxEjectedShare*float64(n)))
}
