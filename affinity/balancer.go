package affinity

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Balancer holds the current Snapshot of one backend set and swaps in a new
// one on Update. It is safe for concurrent use: Snapshot is one atomic load
// and never waits for an Update in progress.
type Balancer struct {
	current atomic.Pointer[Snapshot]

	mu sync.Mutex // serializes Update
	// retired holds the counters of endpoints that left the set while
	// connections were still counted on them, so that an endpoint coming
	// back (a flapping registration) finds its connections again. Guarded
	// by mu; pruned of idle counters on every Update.
	retired map[string]*counter
	// discovered is the set the last successful Update was given, and
	// overlays the runtime changes laid over it (overlay.go); the
	// snapshot is built from both. Guarded by mu.
	discovered []Backend
	overlays   map[string]Overlay
	// rt is the runtime state (runtime.go) its counters share.
	rt *runtimeState
}

// NewBalancer returns a Balancer with an empty snapshot.
func NewBalancer() *Balancer {
	b := &Balancer{rt: new(runtimeState)}
	b.current.Store(emptySnapshot)
	return b
}

// Snapshot returns the current snapshot; it is never nil, and empty before
// the first Update.
func (b *Balancer) Snapshot() *Snapshot { return b.current.Load() }

// Update builds a snapshot of backends, given in any order, and swaps it in
// atomically; lookups on the old snapshot carry on undisturbed. Members
// whose Endpoint is in both the old and the new set keep their
// active-connection counters, whatever their weight or state. Update
// returns an error wrapping ErrInvalidSet, and keeps the current snapshot,
// for a set NewSnapshot rejects. Updates are serialized; each takes about as
// long as NewSnapshot, except that an Update that changes only states
// between Ready and Draining (or nothing) reuses the current table and
// takes microseconds.
//
// The runtime overlays (Drain, SetWeight) apply to backends on every
// Update: the snapshot holds the set as discovered with the overlays laid
// over it.
func (b *Balancer) Update(backends []Backend) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.swap(backends); err != nil {
		return err
	}
	b.discovered = slices.Clone(backends)
	return nil
}

// swap builds the snapshot of the discovered set backends with the
// overlays applied and swaps it in. The caller holds mu.
func (b *Balancer) swap(backends []Backend) error {
	if len(b.overlays) > 0 {
		backends = b.overlaid(backends)
	}
	old := b.current.Load()
	byEndpoint := make(map[string]*counter, len(old.members)+len(b.retired))
	for e, c := range b.retired {
		byEndpoint[e] = c
	}
	for _, m := range old.members {
		byEndpoint[m.backend.Endpoint] = m.active
	}
	s, err := newSnapshot(backends, func(e string) *counter {
		c := byEndpoint[e]
		delete(byEndpoint, e)
		return c
	}, old, b.rt)
	if err != nil {
		return err
	}
	b.rt.retire(byEndpoint, s.members)
	// What is left in byEndpoint has left the set.
	b.retired = nil
	for e, c := range byEndpoint {
		if c.n.Load() != 0 {
			if b.retired == nil {
				b.retired = make(map[string]*counter)
			}
			b.retired[e] = c
		}
	}
	b.current.Store(s)
	return nil
}
