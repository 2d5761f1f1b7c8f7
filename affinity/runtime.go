package affinity

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Runtime state: what health checking learns about a backend between two
// registry updates. It lives in the member's counter, so it is per
// Endpoint and survives snapshots like the active count, and it never
// rebuilds a table: a member that is down at runtime keeps its rows, and
// Candidates and PickCandidates leave it out of the order they return, so
// that a key whose backend is down goes to its next candidate and every
// other key stays put.
//
// A Balancer counts the members of its set that are down or ramping up
// (runtimeState.special). While that count is zero, which is the normal
// case, the data path reads it once per call and takes the code it took
// before runtime state existed.

// FullShare is the share (SetShare) of a member that takes its whole
// weight of keyless traffic.
const FullShare = 1 << 16

// runtimeState is the part of the runtime state that a Balancer's
// snapshots share.
type runtimeState struct {
	// special counts the members of the current set that are down or
	// ramping; the data path tests it before reading any member's flags.
	special atomic.Int32
	_       [60]byte // its own cache line: read on every lookup
	// mu serializes changes of flags and of special.
	mu sync.Mutex
}

// anySpecial reports whether some member may be down or ramping; false
// means none is.
func (rt *runtimeState) anySpecial() bool { return rt != nil && rt.special.Load() != 0 }

// special reports whether c counts in runtimeState.special.
func (c *counter) special() bool { return c.down.Load() != 0 || c.share.Load() != 0 }

// update applies f to c's flags under rt.mu and keeps rt.special in step.
// A counter whose endpoint has left the set is not changed. It reports
// whether f changed anything.
func (c *counter) update(f func(c *counter) bool) bool {
	rt := c.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if c.gone {
		return false
	}
	was := c.special()
	if !f(c) {
		return false
	}
	switch now := c.special(); {
	case now && !was:
		rt.special.Add(1)
	case was && !now:
		rt.special.Add(-1)
	}
	return true
}

// SetDown marks the member down (true) or up again (false) at runtime, for
// every snapshot that shares its Endpoint's counter, until the Endpoint
// leaves the set. A member down at runtime keeps its table rows (no key
// moves but its own); Candidates and PickCandidates leave it out, unless
// every member they would return is down at runtime (then they return
// them all, as if none were: see Candidates). It reports whether the
// member's runtime state changed; it does nothing on a member whose
// Endpoint is no longer in its Balancer's set.
//
// It is meant for health checking, off the data path: it takes a lock
// shared by the Balancer's members. Safe for concurrent use.
func (m *Member) SetDown(down bool) bool {
	v := uint32(0)
	if down {
		v = 1
	}
	return m.active.update(func(c *counter) bool {
		if c.down.Load() == v {
			return false
		}
		c.down.Store(v)
		return true
	})
}

// Usable reports whether the member may receive new traffic: its State is
// not Down and it is not down at runtime (SetDown). A Draining member is
// usable (keyed traffic still reaches it). One atomic load.
func (m *Member) Usable() bool {
	return m.backend.State != Down && m.active.down.Load() == 0
}

// SetShare sets the member's share of keyless traffic, out of FullShare:
// Pick keeps a draw of this member with probability share/FullShare and
// draws again otherwise, so that a member ramping up after it (re)joined
// takes share/FullShare of its weight's traffic. Keyed traffic is not
// affected. A share of zero or below, or of FullShare or above, is the
// full share. Safe for concurrent use; like SetDown, meant for use off the
// data path.
func (m *Member) SetShare(share int) {
	v := uint32(0)
	if share > 0 && share < FullShare {
		v = uint32(share)
	}
	m.active.update(func(c *counter) bool {
		if c.share.Load() == v {
			return false
		}
		c.share.Store(v)
		return true
	})
}

// Share returns the member's share of keyless traffic out of FullShare
// (see SetShare).
func (m *Member) Share() int {
	if v := m.active.share.Load(); v != 0 {
		return int(v)
	}
	return FullShare
}

// Failed counts one more consecutive failure of a connection to the
// member and returns the count; Answered ends the run. The engine reports
// through them (via the health package) on the event loop: one atomic add.
func (m *Member) Failed() int32 { return m.active.failures.Add(1) }

// Answered resets the member's consecutive failures (see Failed). It
// writes only when there is something to reset.
func (m *Member) Answered() {
	if m.active.failures.Load() != 0 {
		m.active.failures.Store(0)
	}
}

// Failures returns the member's consecutive failures (see Failed).
func (m *Member) Failures() int32 { return m.active.failures.Load() }

// pickable reports whether a draw of m may be kept: m is not down at
// runtime, and a ramping m survives a draw against its share.
func (m *Member) pickable() bool {
	c := m.active
	if c.down.Load() != 0 {
		return false
	}
	share := c.share.Load()
	return share == 0 || uint32(rand.Uint32N(FullShare)) < share
}

// drawUsable draws a Ready member that pickable keeps, in proportion to
// the weights times the shares; after maxRedraws rejected draws it takes
// the first member not down at runtime from a random place, and nil when
// every Ready member is down at runtime.
func (s *Snapshot) drawUsable() *Member {
	for range maxRedraws {
		if m := s.ready[s.pick.draw(rand.Uint64())]; m.pickable() {
			return m
		}
	}
	n := len(s.ready)
	off := int(rand.Uint32N(uint32(n)))
	for i := range n {
		j := off + i
		if j >= n {
			j -= n
		}
		if m := s.ready[j]; m.active.down.Load() == 0 {
			return m
		}
	}
	return nil
}

// maxRedraws bounds the draws drawUsable makes before it scans: with a
// third of the weight down, 16 draws all miss once in 40 million picks.
const maxRedraws = 16

// pickSpecial is Pick while some member is down or ramping.
func (s *Snapshot) pickSpecial() *Member {
	a := s.drawUsable()
	if a == nil {
		return s.pickAll() // every Ready member is down: as if none were
	}
	b := s.drawUsable()
	if a == b {
		b = s.drawUsable()
	}
	if a.Active()*b.weight <= b.Active()*a.weight {
		return a
	}
	return b
}

// dropDown removes from dst[start:] the members down at runtime, keeping
// the order, unless all of them are: then dst is returned as it is.
func dropDown(dst []*Member, start int) []*Member {
	up := 0
	for _, m := range dst[start:] {
		if m.active.down.Load() == 0 {
			up++
		}
	}
	if up == 0 || up == len(dst)-start {
		return dst
	}
	out := dst[:start]
	for _, m := range dst[start:] {
		if m.active.down.Load() == 0 {
			out = append(out, m)
		}
	}
	clear(dst[len(out):])
	return out
}

// retire marks the counters of endpoints that left the set as gone, and
// the counters of the new set as present, and clears the runtime state of
// those that left: a backend that comes back starts up, at its full share.
func (rt *runtimeState) retire(left map[string]*counter, members []*Member) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, m := range members {
		m.active.gone = false
	}
	for _, c := range left {
		if c.special() {
			rt.special.Add(-1)
		}
		c.down.Store(0)
		c.share.Store(0)
		c.failures.Store(0)
		c.gone = true
	}
}
