package affinity

import (
	"strings"
	"time"
)

// Entries name their backend by a 16-bit id that outlives snapshots: an
// Endpoint keeps its id while it is in the set and for at least the idle
// time after it left, so that an entry never names another backend than
// the one it was written for. A sessionView maps ids to the members of
// one snapshot; Sessions keeps the view of the last snapshot it was asked
// about and builds a new one, copy on write, when a caller routes with
// another snapshot. Two loops that build one at once both succeed; one
// view wins, with the same ids.

// sessionView is the id mapping for one snapshot. It is immutable once
// published.
type sessionView struct {
	snap  *Snapshot
	ids   []uint16  // ids[i] is the id of snap.members[i] (0: none)
	byID  []*Member // byID[id] is the member of snap with that id, nil if none
	names []string  // names[id] is the Endpoint holding id, "" if free; names[0] is unused
	gone  []int64   // gone[id] is the tick since which names[id] is not in the set; -1 while it is
	index map[string]uint16
}

// maxSessionIDs bounds the ids: 16 bits, 0 meaning none.
const maxSessionIDs = 1 << 16

// viewOf returns the view of snap, building it if the current view is of
// another snapshot.
func (s *Sessions) viewOf(snap *Snapshot, now time.Time) *sessionView {
	for {
		v := s.view.Load()
		if v.snap == snap {
			return v
		}
		nv := v.next(snap, s.ticks(now), s.idIdle())
		if s.view.CompareAndSwap(v, nv) {
			return nv
		}
	}
}

// next returns the view of snap that follows v at tick now.
func (v *sessionView) next(snap *Snapshot, now, idle int64) *sessionView {
	nv := &sessionView{
		snap:  snap,
		ids:   make([]uint16, len(snap.members)),
		names: append([]string(nil), v.names...),
		gone:  append([]int64(nil), v.gone...),
		index: make(map[string]uint16, len(v.index)+len(snap.members)),
	}
	for e, id := range v.index {
		nv.index[e] = id
	}
	for i, m := range snap.members {
		id, ok := nv.index[m.backend.Endpoint]
		if !ok {
			id = nv.allocate(m.backend.Endpoint, now, idle)
		}
		nv.ids[i] = id
	}
	nv.byID = make([]*Member, len(nv.names))
	for i, m := range snap.members {
		if id := nv.ids[i]; id != 0 {
			nv.byID[id] = m
		}
	}
	for id := 1; id < len(nv.names); id++ {
		switch {
		case nv.byID[id] != nil:
			nv.gone[id] = -1
		case nv.names[id] != "" && nv.gone[id] < 0:
			nv.gone[id] = now
		}
	}
	return nv
}

// allocate gives endpoint an id: a new one while there are, else one
// whose endpoint left the set more than idle ago (no live entry can name
// it), else 0, and then the endpoint's keys are not remembered.
func (v *sessionView) allocate(endpoint string, now, idle int64) uint16 {
	id := 0
	if len(v.names) < maxSessionIDs {
		id = len(v.names)
		v.names = append(v.names, "")
		v.gone = append(v.gone, -1)
	} else {
		for i := 1; i < len(v.names); i++ {
			if v.gone[i] >= 0 && now-v.gone[i] > idle {
				id = i
				delete(v.index, v.names[i])
				break
			}
		}
		if id == 0 {
			return 0
		}
	}
	v.names[id], v.gone[id] = endpoint, -1
	v.index[endpoint] = uint16(id)
	return uint16(id)
}

// member returns the member of v's snapshot that holds id, or nil.
func (v *sessionView) member(id uint16) *Member {
	if int(id) < len(v.byID) {
		return v.byID[id]
	}
	return nil
}

// idOf returns the id of m's Endpoint in v's snapshot, 0 if it is not in
// it. Members are in Endpoint order: a binary search, no allocation.
func (v *sessionView) idOf(m *Member) uint16 {
	if v.snap == nil {
		return 0
	}
	ms := v.snap.members
	lo, hi := 0, len(ms)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c := strings.Compare(ms[mid].backend.Endpoint, m.backend.Endpoint); c < 0 {
			lo = mid + 1
		} else if c > 0 {
			hi = mid
		} else {
			return v.ids[mid]
		}
	}
	return 0
}
