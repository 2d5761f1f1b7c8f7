package affinity

import "sync/atomic"

// counter is one backend's active-connection count and runtime state
// (runtime.go). It fills a cache line of its own so that two event loops
// counting on two backends do not invalidate each other's line.
type counter struct {
	n        atomic.Int64
	failures atomic.Int32  // consecutive failures (Member.Failed)
	down     atomic.Uint32 // 1: down at runtime (Member.SetDown)
	share    atomic.Uint32 // keyless share out of FullShare; 0: full
	gone     bool          // the endpoint left the set; guarded by rt.mu
	rt       *runtimeState // shared by the Balancer's counters
	_        [32]byte
}

// Member is one backend of a Snapshot together with its active-connection
// counter. Members are created by NewSnapshot and Balancer.Update; the zero
// Member is not usable.
//
// A Member is safe for concurrent use. Each snapshot has Member values of
// its own, but a Balancer hands the same counter to the members of
// successive snapshots that share an Endpoint, so a connection acquired on
// a member of an old snapshot may be released on it after a newer snapshot
// was swapped in, and both snapshots see the count. Compare members of
// different snapshots by Backend().Endpoint, not by pointer.
type Member struct {
	backend Backend // Weight resolved: never zero
	weight  int64
	active  *counter
	keyed   int // position in Snapshot.keyed; -1 when Down
}

// Backend returns the member's backend, with a zero Weight replaced by
// DefaultWeight.
func (m *Member) Backend() Backend { return m.backend }

// Acquire counts one more active connection on the member. The engine calls
// it when it commits a connection to the backend and calls Release exactly
// once when that connection ends. It is a single atomic add: no lock, no
// allocation.
func (m *Member) Acquire() { m.active.n.Add(1) }

// Release counts one active connection less; see Acquire.
func (m *Member) Release() { m.active.n.Add(-1) }

// Active returns the number of connections acquired and not yet released.
func (m *Member) Active() int64 { return m.active.n.Load() }

// String returns the member's endpoint.
func (m *Member) String() string { return m.backend.Endpoint }
