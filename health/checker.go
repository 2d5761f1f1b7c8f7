package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	results chan []result // from the check batches (schedule.go)
	stats   counters      // atomics, read by Stats
	slot    time.Duration // checks due within one slot run together
	mu      sync.Mutex    // guards byEp and first; held by Run while it works
	first   bool          // no set seen yet: nothing ramps up
	byEp    map[string]*backend
	notify  func(b *backend) // tests: called after every settle, under mu
	// onUnresponsive is OnUnresponsive's function; called under mu.
	onUnresponsive func(m *affinity.Member)
}

// backend is one endpoint's health, owned by Run's goroutine (under mu).
type backend struct {
	endpoint string
	member   *affinity.Member // of the latest snapshot
	state    affinity.State   // discovery's

	// Active checks.
	probe        *probe    // nil: not checked
	gen          uint64    // the probe's; results of an older one are dropped
	due          time.Time // the next check
	inFlight     bool      // a check runs; the next waits for it
	pp           affinity.ProxyProtocol
	passes       int  // consecutive
	fails        int  // consecutive
	passedOnce   bool // a check has passed since the backend joined
	checkDown    bool
	lastErr      error
	lastDuration time.Duration
	lastAt       time.Time // when the last check ended; zero: none yet

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

// result is one check's outcome.
type result struct {
	endpoint string
	gen      uint64
	err      error
	took     time.Duration
	at       time.Time // when the check ended
}

// ejection is a member that real traffic failed EjectAfter times in a row.
type ejection struct {
	m   *affinity.Member
	why engine.Failure
}

// New returns a Checker for bal's backends. It does nothing until Run.
func New(bal *affinity.Balancer, cfg Config) *Checker {
	cfg = cfg.withDefaults()
	c := &Checker{
		cfg:     cfg,
		bal:     bal,
		log:     cfg.Logger,
		updates: make(chan struct{}, 1),
		ejects:  make(chan ejection, 256),
		results: make(chan []result, 16),
		slot:    min(maxSlot, cfg.Interval/8),
		first:   true,
		byEp:    make(map[string]*backend),
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// OnUnresponsive sets f to be called, on Run's goroutine, right after a
// backend is marked down because it does not answer: an active check that
// got no HTTP status line in time (refused, timed out, closed, reset), or
// a passive ejection. It is not called when the backend answered its HTTP
// check with a status other than 2xx or 3xx: a backend that says it is
// unhealthy is alive, and the requests it is serving will be answered.
// cmd/l4lb passes engine.Server.BackendDown, which answers the requests
// waiting on the backend at once (HAProxy's "on-marked-down
// shutdown-sessions"). f must not block. Call it before Run.
func (c *Checker) OnUnresponsive(f func(m *affinity.Member)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onUnresponsive = f
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
// of its own, which wakes only when something is due (schedule.go); the
// checks run on goroutines of their own.
func (c *Checker) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	c.locked(c.reconcile)
	for {
		var wake time.Time
		c.locked(func() { wake = c.nextWake() })
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return
		case <-c.updates:
			c.locked(c.reconcile)
		case rs := <-c.results:
			c.locked(func() {
				for _, r := range rs {
					c.checked(r)
				}
			})
		case e := <-c.ejects:
			c.locked(func() { c.eject(e) })
		case <-timer.C:
			c.locked(func() { c.tick(ctx, time.Now()) })
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
func (c *Checker) reconcile() {
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
		case active && (b.probe == nil || b.pp != pp):
			c.startProbe(b, be, pp, now)
		case !active && b.probe != nil:
			b.probe, b.inFlight = nil, false
			b.gen++
			b.checkDown, b.passes, b.fails, b.passedOnce = false, 0, 0, false
			b.lastErr, b.lastDuration, b.lastAt = nil, 0, time.Time{} // no check to show
			c.settle(b, "checks off")
		}
		c.apply(b) // the member may have a counter of its own now
	}
	for e := range c.byEp {
		if !seen[e] {
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

// checked takes in one check's outcome: Fall failures in a row take the
// backend down (one, until a check has passed since it joined), Rise
// passes bring it up.
func (c *Checker) checked(r result) {
	b := c.byEp[r.endpoint]
	if b == nil || r.gen != b.gen {
		return // of a probe replaced since
	}
	b.inFlight = false
	c.stats.check(r.took, r.err == nil)
	b.lastDuration, b.lastAt = r.took, r.at
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
	shut := false // answer the requests waiting on it (OnUnresponsive)
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
			if c.onUnresponsive != nil {
				shut = b.ejected || !errors.Is(b.lastErr, errStatus)
				waiting := "left to finish"
				if shut {
					waiting = "answered"
				}
				args = append(args, "waiting_requests", waiting)
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
	// After apply: the engine acts only on members that are down.
	if shut && b.member != nil {
		c.onUnresponsive(b.member)
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
