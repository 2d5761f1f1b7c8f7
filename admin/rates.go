package admin

import (
	"sync"
	"time"

	"github.com/l4lb/l4lb/engine"
)

// rateWindow is the span the status page's rates cover, and rateEvery how
// often the counters are sampled for them.
const (
	rateWindow = time.Minute
	rateEvery  = 5 * time.Second
)

// rates turns the engine's cumulative per-backend counters into figures
// over the last minute: it samples them every rateEvery and compares the
// counters now with the oldest sample of the window. The data path only
// counts; nothing here touches it.
type rates struct {
	read func() []engine.BackendStats

	mu      sync.Mutex
	samples []sample // oldest first, spanning at most rateWindow
	start   time.Time
}

type sample struct {
	at time.Time
	by map[string]counts
}

type counts struct{ requests, resp5xx, failures int64 }

// rate is one backend's figures over the window.
type rate struct {
	perSecond         float64
	resp5xx, failures int64
	tunnels           int64 // open now
}

func newRates(read func() []engine.BackendStats) *rates {
	return &rates{read: read, start: time.Now()}
}

// run samples until done is closed.
func (r *rates) run(done <-chan struct{}) {
	t := time.NewTicker(rateEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			r.sample(now)
		}
	}
}

func (r *rates) sample(now time.Time) {
	s := sample{at: now, by: map[string]counts{}}
	for _, b := range r.read() {
		s.by[b.Endpoint] = counts{b.Requests, b.Responses5xx, b.Failures}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s)
	// Keep the newest sample that is at least rateWindow old as the base.
	for len(r.samples) > 1 && now.Sub(r.samples[1].at) >= rateWindow {
		r.samples = r.samples[1:]
	}
}

// window returns the figures over the last minute (or since the start,
// before a minute has passed), by endpoint.
func (r *rates) window() map[string]rate {
	now := time.Now()
	cur := r.read()
	r.mu.Lock()
	// Before a minute has passed, the base is the start, when every
	// counter was zero.
	base := sample{at: r.start}
	if len(r.samples) > 0 && now.Sub(r.samples[0].at) >= rateWindow {
		base = r.samples[0]
	}
	r.mu.Unlock()
	span := now.Sub(base.at).Seconds()
	out := make(map[string]rate, len(cur))
	for _, b := range cur {
		old := base.by[b.Endpoint] // zero before the first sample, or for a new backend
		// A backend the engine forgot and counts anew starts below its
		// base: count it from zero.
		if b.Requests < old.requests || b.Responses5xx < old.resp5xx || b.Failures < old.failures {
			old = counts{}
		}
		x := rate{resp5xx: b.Responses5xx - old.resp5xx, failures: b.Failures - old.failures, tunnels: b.Tunnels}
		if span > 0 {
			x.perSecond = float64(b.Requests-old.requests) / span
		}
		out[b.Endpoint] = x
	}
	return out
}
