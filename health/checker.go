package health

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
)

// Checker keeps the runtime health of a Balancer's backends: it runs the
// active checks, ejects backends that real traffic finds failing (it is
// the engine's Config.Health), ramps returning backends up, and marks
// each member down or up with affinity.Member.SetDown. Create it with New,
// run it with Run, and call Update after every Balancer.Update. Its
// methods are safe for concurrent use.
type Checker struct {
	cfg Config
	bal *affinity.Balancer
	log *slog.Logger

	updates chan struct{} // Update's signal; capacity 1
	ejects  chan ejection // from the event loops (BackendFailed)
	results chan result   // from the probers
	stats   counters      // atomics, read by Stats
	mu      sync.Mutex    // guards backends and first; held by run while it works
	first   bool          // no set seen yet: nothing ramps up
	byEp    map[string]*backend
	notify  func(b *backend) // tests: called after every settle, under mu
}

// backend is one endpoint's health, owned by Run's goroutine (under mu).
type backend struct {
	endpoint string
	member   *affinity.Member // of the latest snapshot
	state    affinity.State   // discovery's

	// Active checks.
	prober       context.CancelFunc // nil: no prober runs
	gen          uint64             // the running prober's; older results are dropped
	pp           affinity.ProxyProtocol
	passes       int  // consecutive
	fails        int  // consecutive
	passedOnce   bool // a check has passed since the backend joined
	checkDown    bool
	lastErr      error
	lastDuration time.Duration

	// Passive ejection.
	ejected     bool
	ejectedFor  engine.Failure
	until       time.Time
	ejections   int       // in a row; one is forgotten per EjectTime up
	forgetSince time.Time // up since, for forgetting ejections

	// Transitions.
	down      bool      // as last applied with SetDown
	downSince time.Time // when down
	rampFrom  time.Time // slow start began; zero: full share
	reason    string    // why down
}

// result is one check's outcome, from a prober.
type result struct {
	endpoint string
	gen      uint64
	err      error
	took     time.Duration
}

// ejection is a member that real traffic failed EjectAfter times in a row.
type ejection struct {
	m   *affinity.Member
	why engine.Failure
}

// tickEvery is how often Run ends ejections and ramps slow starts.
const tickEvery = 100 * time.Millisecond

// New returns a Checker for bal's backends. It does nothing until Run.
func New(bal *affinity.Balancer, cfg Config) *Checker {
	cfg = cfg.withDefaults()
	c := &Checker{
		cfg:     cfg,
		bal:     bal,
		log:     cfg.Logger,
		updates: make(chan struct{}, 1),
		ejects:  make(chan ejection, 256),
		results: make(chan result, 64),
		first:   true,
		byEp:    make(map[string]*backend),
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Update tells the checker that the balancer's set changed. It never
// blocks; Run reads the balancer's current snapshot.
func (c *Checker) Update() {
	select {
	case c.updates <- struct{}{}:
	default:
	}
}

// Run checks the backends until ctx is done. It is a long-lived goroutine
// of its own; the probes run on one goroutine per backend.
func (c *Checker) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	c.locked(func() { c.reconcile(ctx) })
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.updates:
			c.locked(func() { c.reconcile(ctx) })
		case r := <-c.results:
			c.locked(func() { c.checked(r) })
		case e := <-c.ejects:
			c.locked(func() { c.eject(e) })
		case now := <-tick.C:
			c.locked(func() { c.tick(now) })
		}
	}
}

func (c *Checker) locked(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

// active reports whether active checks run for a set of n backends.
func (c *Checker) active(n int) bool {
	return c.cfg.Check.Kind != Off && !(c.cfg.Check.Auto && n <= 1)
}

// reconcile takes in the balancer's current set: new backends are checked
// (and ramp up if SlowStart), departed ones forgotten, and every member of
// the new snapshot gets its backend's runtime state.
func (c *Checker) reconcile(ctx context.Context) {
	snap := c.bal.Snapshot()
	n := 0
	for _, m := range snap.Members() {
		if m.Backend().State != affinity.Down {
			n++
		}
	}
	active := c.active(n)
	now := time.Now()
	seen := make(map[string]bool, n)
	for _, m := range snap.Members() {
		be := m.Backend()
		if be.State == affinity.Down {
			continue // discovery took it out of every table
		}
		seen[be.Endpoint] = true
		b := c.byEp[be.Endpoint]
		if b == nil {
			b = &backend{endpoint: be.Endpoint, state: be.State, forgetSince: now}
			c.byEp[be.Endpoint] = b
			if !c.first && c.cfg.SlowStart > 0 {
				b.rampFrom = now
			}
		} else if b.state != be.State {
			b.state = be.State
			c.log.Info("backend "+be.State.String(), "backend", be.Endpoint, "reason", "discovery")
		}
		b.member = m
		pp := c.proxyProtocolOf(be)
		switch {
		case active && (b.prober == nil || b.pp != pp):
			c.startProber(ctx, b, be, pp)
		case !active && b.prober != nil:
			c.stopProber(b)
			b.checkDown, b.passes, b.fails, b.passedOnce = false, 0, 0, false
			c.settle(b, "checks off")
		}
		c.apply(b) // the member may have a counter of its own now
	}
	for e, b := range c.byEp {
		if !seen[e] {
			c.stopProber(b)
			delete(c.byEp, e)
		}
	}
	c.first = false
}

// proxyProtocolOf is the PROXY header b gets, as engine resolves it.
func (c *Checker) proxyProtocolOf(b affinity.Backend) affinity.ProxyProtocol {
	if b.ProxyProtocol != affinity.ProxyDefault {
		return b.ProxyProtocol
	}
	if c.cfg.ProxyProtocol != affinity.ProxyDefault {
		return c.cfg.ProxyProtocol
	}
	return affinity.ProxyOff
}

func (c *Checker) startProber(ctx context.Context, b *backend, be affinity.Backend, pp affinity.ProxyProtocol) {
	c.stopProber(b)
	p, err := newProbe(be, c.cfg.Check, c.cfg.Timeout, pp)
	if err != nil {
		c.log.Error("no health check", "backend", be.Endpoint, "err", err)
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	b.gen++
	b.prober, b.pp = cancel, pp
	// The first check comes at a random point of the first interval, so
	// that a new set's checks spread out.
	first := time.Duration(rand.Int64N(int64(c.cfg.Interval)))
	go c.probeLoop(pctx, p, b.gen, first)
}

func (c *Checker) stopProber(b *backend) {
	if b.prober != nil {
		b.prober()
		b.prober = nil
	}
}

// probeLoop checks one backend every jittered interval until ctx is
// done, and hands each outcome to Run.
func (c *Checker) probeLoop(ctx context.Context, p *probe, gen uint64, first time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		err := p.run(ctx)
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		select {
		case c.results <- result{endpoint: p.endpoint, gen: gen, err: err, took: took}:
		case <-ctx.Done():
			return
		}
		t.Reset(max(0, c.jittered()-took))
	}
}

// jittered returns the interval, off by up to ±10%.
func (c *Checker) jittered() time.Duration {
	iv := float64(c.cfg.Interval)
	return time.Duration(iv * (1 - jitter + 2*jitter*rand.Float64()))
}

// checked takes in one check's outcome: Fall failures in a row take the
// backend down (one, until a check has passed since it joined), Rise
// passes bring it up.
func (c *Checker) checked(r result) {
	b := c.byEp[r.endpoint]
	if b == nil || b.prober == nil || r.gen != b.gen {
		return // from a prober that was stopped since
	}
	c.stats.check(r.took, r.err == nil)
	b.lastDuration = r.took
	if r.err == nil {
		b.passes++
		b.fails = 0
		b.passedOnce = true
		b.lastErr = nil
		if b.checkDown && b.passes >= c.cfg.Rise {
			b.checkDown = false
		}
		if b.ejected && !time.Now().Before(b.until) && b.passes >= c.cfg.Rise {
			b.ejected = false
		}
		c.settle(b, "check")
		return
	}
	b.fails++
	b.passes = 0
	b.lastErr = r.err
	if !b.checkDown && (b.fails >= c.cfg.Fall || !b.passedOnce) {
		b.checkDown = true
	}
	c.settle(b, "check")
}

// settle applies b's state to its member and logs a transition, giving
// reason for it.
func (c *Checker) settle(b *backend, reason string) {
	down := b.checkDown || b.ejected
	now := time.Now()
	if down != b.down {
		b.down = down
		if down {
			b.downSince = now
			b.rampFrom = time.Time{}
			b.reason = reason
			args := []any{"backend", b.endpoint, "reason", reason}
			if b.ejected {
				args = append(args, "ejected_for", b.until.Sub(now).Round(time.Millisecond), "ejections", b.ejections)
			}
			if reason == "check" && b.lastErr != nil {
				args = append(args, "err", b.lastErr)
			}
			c.log.Warn("backend down", args...)
		} else {
			b.forgetSince = now
			if c.cfg.SlowStart > 0 {
				b.rampFrom = now
			}
			b.reason = ""
			c.log.Info("backend up", "backend", b.endpoint, "reason", reason, "down_for", now.Sub(b.downSince).Round(time.Millisecond))
		}
		c.apply(b)
	}
	if c.notify != nil {
		c.notify(b)
	}
}

// apply sets b's member's runtime state.
func (c *Checker) apply(b *backend) {
	if b.member == nil {
		return
	}
	b.member.SetDown(b.down)
	b.member.SetShare(c.share(b, time.Now()))
}

// tick ends ejections that are over, forgets old ejections and ramps
// slow starts.
func (c *Checker) tick(now time.Time) {
	for _, b := range c.byEp {
		if b.ejected && !now.Before(b.until) && (b.prober == nil || b.passes >= c.cfg.Rise) {
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
