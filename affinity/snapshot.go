package affinity

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// MaxWeight is the largest valid Backend.Weight.
const MaxWeight = 1 << 16

// MaxBackends is the largest number of backends a set may hold; table rows
// are 16-bit indexes.
const MaxBackends = 1<<16 - 1

// ErrInvalidSet is wrapped by the errors NewSnapshot and Balancer.Update
// return for a backend set they reject.
var ErrInvalidSet = errors.New("invalid backend set")

// Snapshot is an immutable backend set with its lookup structures. It is
// safe for concurrent use; Lookup, Pick, Candidates and PickCandidates
// neither lock nor allocate.
//
// A snapshot holds all the backends of its set, in every state. Keyed
// traffic (Lookup, Candidates) goes to Ready and Draining members through
// the Maglev table; keyless traffic (Pick, PickCandidates) goes to Ready
// members only; Down members receive nothing but keep their counters.
type Snapshot struct {
	members  []*Member // every member, by Endpoint
	keyed    []*Member // Ready and Draining, by Endpoint; what table indexes
	ready    []*Member // Ready, by Endpoint
	draining []*Member // Draining, by Endpoint
	table    []uint16  // TableSize rows of keyed indexes; nil when keyed is empty
	// keyedReady[k] reports whether keyed[k] is Ready, so that the
	// Candidates walk reads two dense slices and no Member.
	keyedReady []bool
	// readyKeyed[j] is the keyed index of ready[j], for the same reason.
	readyKeyed []int32
	pick       aliasTable
	rt         *runtimeState // runtime.go; nil for the empty snapshot
}

var emptySnapshot = &Snapshot{}

// NewSnapshot builds a snapshot of backends, given in any order, with fresh
// counters. It rejects an empty Endpoint, duplicate Endpoints, a Weight
// outside [0, MaxWeight], an unknown State and more than MaxBackends
// backends. It takes some 20-30 ms for 10 to 1000 backends (see the
// package documentation); call it off the data path.
func NewSnapshot(backends []Backend) (*Snapshot, error) {
	return newSnapshot(backends, nil, nil, new(runtimeState))
}

// newSnapshot builds a snapshot. counterOf, when not nil, supplies the
// counter of each Endpoint (nil for a fresh one). prev, when not nil, is a
// snapshot whose table is reused if its keyed members have the same
// endpoints and weights: draining or readying a backend then costs no
// table build. rt is the runtime state the snapshot's counters share.
func newSnapshot(backends []Backend, counterOf func(endpoint string) *counter, prev *Snapshot, rt *runtimeState) (*Snapshot, error) {
	if len(backends) > MaxBackends {
		return nil, fmt.Errorf("affinity: %d backends, more than %d: %w", len(backends), MaxBackends, ErrInvalidSet)
	}
	sorted := slices.Clone(backends)
	slices.SortFunc(sorted, func(a, b Backend) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	s := &Snapshot{members: make([]*Member, len(sorted)), rt: rt}
	for i, b := range sorted {
		switch {
		case b.Endpoint == "":
			return nil, fmt.Errorf("affinity: backend with empty endpoint: %w", ErrInvalidSet)
		case i > 0 && sorted[i-1].Endpoint == b.Endpoint:
			return nil, fmt.Errorf("affinity: backend %s: duplicate endpoint: %w", b.Endpoint, ErrInvalidSet)
		case b.Weight < 0 || b.Weight > MaxWeight:
			return nil, fmt.Errorf("affinity: backend %s: weight %d outside [0, %d]: %w", b.Endpoint, b.Weight, MaxWeight, ErrInvalidSet)
		case b.State > Down:
			return nil, fmt.Errorf("affinity: backend %s: unknown state %d: %w", b.Endpoint, b.State, ErrInvalidSet)
		case b.ProxyProtocol > ProxyV2:
			return nil, fmt.Errorf("affinity: backend %s: unknown proxy protocol %d: %w", b.Endpoint, b.ProxyProtocol, ErrInvalidSet)
		}
		if b.Weight == 0 {
			b.Weight = DefaultWeight
		}
		var c *counter
		if counterOf != nil {
			c = counterOf(b.Endpoint)
		}
		if c == nil {
			c = &counter{rt: rt}
		}
		m := &Member{backend: b, weight: int64(b.Weight), active: c, keyed: -1}
		s.members[i] = m
		if b.State == Down {
			continue
		}
		m.keyed = len(s.keyed)
		s.keyed = append(s.keyed, m)
		s.keyedReady = append(s.keyedReady, b.State == Ready)
		if b.State == Ready {
			s.ready = append(s.ready, m)
			s.readyKeyed = append(s.readyKeyed, int32(m.keyed))
		} else {
			s.draining = append(s.draining, m)
		}
	}
	endpoints := make([]string, len(s.keyed))
	weights := make([]int64, len(s.keyed))
	for i, m := range s.keyed {
		endpoints[i], weights[i] = m.backend.Endpoint, m.weight
	}
	if prev != nil && sameKeyed(prev.keyed, s.keyed) {
		s.table = prev.table
	} else {
		s.table = buildTable(endpoints, weights)
	}
	weights = weights[:0]
	for _, m := range s.ready {
		weights = append(weights, m.weight)
	}
	s.pick = newAliasTable(weights)
	return s, nil
}

// sameKeyed reports whether two keyed member lists would build the same
// table.
func sameKeyed(a, b []*Member) bool {
	return slices.EqualFunc(a, b, func(x, y *Member) bool {
		return x.backend.Endpoint == y.backend.Endpoint && x.weight == y.weight
	})
}

// Len returns the number of backends in the set, in every state.
func (s *Snapshot) Len() int { return len(s.members) }

// Members returns the members in Endpoint order, in every state. The slice
// is shared: do not modify it.
func (s *Snapshot) Members() []*Member { return s.members }

// Lookup returns the member that keyed traffic with the given key hash (see
// HashKey) goes to: the owner of row hash*TableSize>>64 of the Maglev
// table, which holds the Ready and Draining members. It returns nil when
// there are none.
func (s *Snapshot) Lookup(hash uint64) *Member {
	if s.table == nil {
		return nil
	}
	return s.keyed[s.table[rowOf(hash)]]
}

// Pick returns the member for a keyless connection: of two Ready members
// drawn at random in proportion to their weights, the one with fewer active
// connections per unit of weight (Mitzenmacher, "The Power of Two Choices in
// Randomized Load Balancing", 2001). It returns nil when no member is
// Ready. The caller counts the connection with Acquire.
//
// Members down at runtime (SetDown) are not drawn, unless every Ready
// member is; a member ramping up (SetShare) is drawn in proportion to its
// share of its weight.
//
// It reads the counters without a lock, so concurrent Picks may both see
// the same loads; two random choices tolerate such stale loads far better
// than "least connections", which would send every racing Pick to the
// same member.
func (s *Snapshot) Pick() *Member {
	switch len(s.ready) {
	case 0:
		return nil
	case 1:
		return s.ready[0]
	}
	if s.rt.anySpecial() {
		return s.pickSpecial()
	}
	return s.pickAll()
}

// pickAll is Pick over every Ready member, whatever its runtime state.
func (s *Snapshot) pickAll() *Member {
	a := s.ready[s.pick.draw(rand.Uint64())]
	b := s.ready[s.pick.draw(rand.Uint64())]
	if a == b {
		// One more draw makes a second distinct choice likely even with
		// two members or one heavy one; without it, two choices degrade
		// towards one.
		b = s.ready[s.pick.draw(rand.Uint64())]
	}
	// a.active/a.weight <= b.active/b.weight, without division.
	if a.Active()*b.weight <= b.Active()*a.weight {
		return a
	}
	return b
}

// Candidates appends to dst, in the order to try them, the distinct members
// a keyed connection with the given key hash may go to, and returns the
// extended slice. It is identical on every balancer for the same set.
//
// The first is Lookup(hash). Then come up to 8 other Ready members in the
// order they first appear in the table rows that follow the key's row, so
// that the keys of a failed member spread over the others in proportion to
// their shares, and the order is as stable as the table when the set
// changes. The other Ready members follow in Endpoint order, rotated by the
// hash. Draining members other than the
// first come last: they take no new sessions unless nothing else answers.
// Down members never appear.
//
// Members down at runtime (SetDown) are left out, and the others keep
// their order: a key whose first candidate is down goes to its second,
// the same on every balancer that sees the same member down, and no other
// key moves. When every member of the order is down at runtime, all of
// them are returned as if none were: health checks that fail everywhere
// at once more likely say that the checks are wrong (a path that does not
// exist, a network blip between balancer and backends) than that every
// backend died, and a connect that fails costs the client no more than a
// 503 would.
//
// It does not allocate when cap(dst)-len(dst) >= s.Len().
func (s *Snapshot) Candidates(hash uint64, dst []*Member) []*Member {
	start := len(dst)
	dst = s.candidates(hash, dst)
	if s.rt.anySpecial() {
		dst = dropDown(dst, start)
	}
	return dst
}

// candidates is Candidates whatever the runtime states.
func (s *Snapshot) candidates(hash uint64, dst []*Member) []*Member {
	if s.table == nil {
		return dst
	}
	start := len(dst)
	row := rowOf(hash)
	first := s.keyed[s.table[row]]
	dst = append(dst, first)
	var seen bitset
	seen.add(first.keyed)
	want := len(s.ready)
	if first.backend.State == Ready {
		want--
	}
	// The walk finds the first few fallbacks, where spreading a failed
	// member's keys matters; collecting all N would take N log N rows (a
	// coupon collector), for an order that hardly matters that far down.
	found := 0
	for step := 0; want > 0 && found < walkCandidates && step < walkRows; step++ {
		if row++; row == TableSize {
			row = 0
		}
		k := int(s.table[row])
		if !s.keyedReady[k] || seen.has(k, s.keyed, dst[start:]) {
			continue
		}
		seen.add(k)
		dst = append(dst, s.keyed[k])
		want--
		found++
	}
	if want > 0 {
		walked := len(dst)
		n := len(s.ready)
		off := int(rowOf(mix64(hash)) % uint32(n))
		for i := range n {
			j := off + i
			if j >= n {
				j -= n
			}
			if !seen.has(int(s.readyKeyed[j]), s.keyed, dst[start:walked]) {
				dst = append(dst, s.ready[j])
			}
		}
	}
	for _, m := range s.draining {
		if m != first {
			dst = append(dst, m)
		}
	}
	return dst
}

// PickCandidates appends to dst, in the order to try them, the distinct
// members a keyless connection may go to, and returns the extended slice:
// Pick() first, then the other Ready members from a random place in
// Endpoint order, then, as a last resort, the Draining members, since a
// connection to a backend on its way out beats a refused one (the client
// reconnects either way). With no Ready member it appends only the
// Draining ones; it never appends Down members. Members down at runtime
// are left out as in Candidates, and all listed when all are down.
//
// It does not allocate when cap(dst)-len(dst) >= s.Len().
func (s *Snapshot) PickCandidates(dst []*Member) []*Member {
	start := len(dst)
	dst = s.pickCandidates(dst)
	if s.rt.anySpecial() {
		dst = dropDown(dst, start)
	}
	return dst
}

// pickCandidates is PickCandidates before members down at runtime are
// dropped.
func (s *Snapshot) pickCandidates(dst []*Member) []*Member {
	first := s.Pick()
	if first == nil {
		return append(dst, s.draining...)
	}
	dst = append(dst, first)
	n := len(s.ready)
	off, _ := bits.Mul64(rand.Uint64(), uint64(n))
	for i := range n {
		j := int(off) + i
		if j >= n {
			j -= n
		}
		if m := s.ready[j]; m != first {
			dst = append(dst, m)
		}
	}
	return append(dst, s.draining...)
}

// walkCandidates is how many fallbacks Candidates takes from the table
// walk, and walkRows how many rows it reads at most to find them.
const (
	walkCandidates = 8
	walkRows       = 256
)

// bitset records keyed indexes below bitsetSize on the stack; larger ones
// are found by scanning the few candidates the walk appended.
type bitset [bitsetSize / 64]uint64

const bitsetSize = 4096

func (b *bitset) add(k int) {
	if k < bitsetSize {
		b[k>>6] |= 1 << (k & 63)
	}
}

// has reports whether keyed[k] was added, or is among appended.
func (b *bitset) has(k int, keyed, appended []*Member) bool {
	if k < bitsetSize {
		return b[k>>6]&(1<<(k&63)) != 0
	}
	return slices.Contains(appended, keyed[k])
}
