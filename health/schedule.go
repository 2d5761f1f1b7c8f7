package health

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// Scheduling: Run keeps one timer, set to the next thing due (a check,
// the end of an ejection, a slow start step), rounded up to a slot, so
// that the checks that fall due within one slot run together after one
// wake-up. In this machine's VM a wake-up of an idle process cost more
// CPU than the loopback connect it leads to (TestCheckCost): a goroutine
// and a timer per backend, spread by jitter, woke the process once per
// check.

// maxSlot bounds the slot; it is an eighth of the interval when that is
// shorter.
const maxSlot = 250 * time.Millisecond

// rampStep is how often a slow start's share is raised, at most.
const rampStep = 500 * time.Millisecond

// startProbe prepares b's checks; the first comes at a random point of
// the first interval, so that a new set's checks spread out.
func (c *Checker) startProbe(b *backend, be affinity.Backend, pp affinity.ProxyProtocol, now time.Time) {
	b.gen++
	b.probe, b.inFlight = nil, false
	p, err := newProbe(be, c.cfg.Check, c.cfg.Timeout, pp)
	if err != nil {
		c.log.Error("no health check", "backend", be.Endpoint, "err", err)
		return
	}
	b.probe, b.pp = p, pp
	b.due = now.Add(time.Duration(rand.Int64N(int64(c.cfg.Interval))))
}

// jittered returns the interval, off by up to ±10%.
func (c *Checker) jittered() time.Duration {
	iv := float64(c.cfg.Interval)
	return time.Duration(iv * (1 - jitter + 2*jitter*rand.Float64()))
}

// nextWake is when Run has something to do next, rounded up to a slot;
// an hour away when nothing is due.
func (c *Checker) nextWake() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	now := time.Now()
	for _, b := range c.byEp {
		if b.probe != nil && !b.inFlight {
			at(b.due)
		}
		if b.ejected && (b.probe == nil || b.until.After(now)) {
			at(b.until) // past it, with checks, their results end it
		}
		if !b.down && b.ejections > 0 {
			at(b.forgetSince.Add(c.cfg.EjectTime))
		}
		if !b.rampFrom.IsZero() {
			at(now.Add(min(rampStep, c.cfg.SlowStart/10)))
		}
	}
	if next.IsZero() {
		return now.Add(time.Hour)
	}
	if next.Before(now) {
		next = now
	}
	return next.Truncate(c.slot).Add(c.slot)
}

// tick ends ejections that are over, forgets old ejections, ramps slow
// starts and runs the checks that are due.
func (c *Checker) tick(ctx context.Context, now time.Time) {
	for _, b := range c.byEp {
		if b.ejected && !now.Before(b.until) && (b.probe == nil || b.passes >= c.cfg.Rise) {
			b.ejected = false
			c.settle(b, "ejection over")
		}
		if !b.down && b.ejections > 0 && now.Sub(b.forgetSince) >= c.cfg.EjectTime {
			b.ejections--
			b.forgetSince = now
		}
		if !b.rampFrom.IsZero() && b.member != nil {
			share := c.share(b, now)
			if share == affinity.FullShare {
				b.rampFrom = time.Time{}
			}
			b.member.SetShare(share)
		}
	}
	c.runChecks(ctx, now)
}

// runChecks starts the checks due by now as one batch (batch.go) on a
// goroutine of its own.
func (c *Checker) runChecks(ctx context.Context, now time.Time) {
	var ps []*probe
	var gens []uint64
	for _, b := range c.byEp {
		if b.probe != nil && !b.inFlight && !b.due.After(now) {
			b.inFlight = true
			// Wake-ups are rounded up to a slot, half a slot late on
			// average: aim half a slot early.
			b.due = now.Add(c.jittered() - c.slot/2)
			ps, gens = append(ps, b.probe), append(gens, b.gen)
		}
	}
	if len(ps) > 0 {
		go c.batch(ctx, ps, gens)
	}
}

// batch runs one batch of checks and hands the results to Run.
func (c *Checker) batch(ctx context.Context, ps []*probe, gens []uint64) {
	rs := runBatch(ps)
	for i := range rs {
		rs[i].gen = gens[i]
	}
	select {
	case c.results <- rs:
	case <-ctx.Done():
	}
}

// minShare is where slow start begins, out of affinity.FullShare.
const minShare = affinity.FullShare / 10

// share is b's share of keyless traffic at now.
func (c *Checker) share(b *backend, now time.Time) int {
	if b.rampFrom.IsZero() || c.cfg.SlowStart <= 0 {
		return affinity.FullShare
	}
	elapsed := now.Sub(b.rampFrom)
	if elapsed >= c.cfg.SlowStart {
		return affinity.FullShare
	}
	return max(minShare, int(int64(affinity.FullShare)*int64(elapsed)/int64(c.cfg.SlowStart)))
}
