package affinity

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSessionIdle is how long Sessions keeps a key that sees no
// request: above SockJS's 25 s long poll, its 45 s heartbeat and Meteor's
// 60 s disconnect delay, so a live session is never forgotten, and short
// enough that a gone one does not hold its entry for long.
const DefaultSessionIdle = 2 * time.Minute

// SessionEntryBytes is what one entry of a Sessions costs: its capacity
// times this is the memory it holds, allocated once by NewSessions.
const SessionEntryBytes = 8

// Sessions remembers which backend each live session key went to, so that
// a session stays where it is when the backend set changes: a join moves
// about 1/N of the table's keys, but not the sessions that are running.
// It is bounded (a fixed number of entries, least recently used evicted
// first) and forgets a key that saw no request for its idle time.
//
// Candidates consults it when routing a key; Remember records the
// backend a request of the key was sent to, and refreshes the entry, on
// every request. A nil *Sessions remembers nothing: Candidates is then
// Snapshot.Candidates.
//
// It is safe for concurrent use, without locks: every event loop of a
// process shares one Sessions, because the requests of one session arrive
// on different connections and therefore on different loops. Candidates
// and Remember do not allocate, except that the first call that sees a
// new Snapshot builds a small view of it (see the package documentation,
// "Session memory").
type Sessions struct {
	table sessionTable
	// Times are counted in units of 1<<shift ns since epoch; an entry
	// keeps the low 16 bits of its last request's unit.
	shift uint
	idle  int16 // units; an entry older than this is gone
	slack int16 // units; a fresher entry is not rewritten by Remember
	epoch time.Time
	// nextSweep is the unit from which the next call sweeps the table;
	// sweepMu is held by the sweeping call.
	nextSweep atomic.Int64
	sweepMu   sync.Mutex
	view      atomic.Pointer[sessionView]
	stats     [statStripes]sessionCounters
}

// The clock of a Sessions: an idle time is 129 to 256 units (so an
// expiry is exact to 1/128 of it), a unit at least 1<<minUnitShift ns;
// with keys that never expire, a unit is about a second. A sweep of the
// table every sweepUnits keeps every entry's age far from wrapping 16
// bits: an expired entry is cleared, and with no expiry, an entry older
// than oldestUnits is made oldestUnits old. Between sweeps (at most
// sweepUnits+maxSweepDelay units) no age grows past 32767 - futureUnits.
const (
	idleUnits     = 256
	minUnitShift  = 20 // ~1 ms
	foreverShift  = 30 // ~1.07 s
	foreverIdle   = 30000
	oldestUnits   = 8192
	sweepUnits    = 8192
	maxSweepDelay = 8192
)

// NewSessions returns a session memory of at least entries entries (the
// capacity is entries rounded up to a multiple of 8, or from 2 MiB on,
// on Linux, to a multiple of 2 MiB of entries; see Capacity),
// forgetting a key after idle without a request. If entries is zero or
// negative, it returns nil, which remembers nothing. If idle is zero,
// DefaultSessionIdle is used; if negative, keys are only forgotten when
// the bound evicts them.
func NewSessions(entries int, idle time.Duration) *Sessions {
	if entries <= 0 {
		return nil
	}
	if idle == 0 {
		idle = DefaultSessionIdle
	}
	table, release := newSessionTable(entries)
	s := &Sessions{table: table, epoch: time.Now(), shift: foreverShift, idle: foreverIdle, slack: 1}
	if idle > 0 {
		// The smallest unit that fits idle in idleUnits.
		s.shift = max(uint(bits.Len64(uint64(idle-1)/idleUnits)), minUnitShift)
		s.idle = int16((uint64(idle) + 1<<s.shift - 1) >> s.shift)
		// A recorded time lags its key's last request by at most a
		// second (or a unit), as it did with millisecond times.
		s.slack = max(min(s.idle/16, int16(int64(time.Second)>>s.shift)), 1)
	}
	s.nextSweep.Store(sweepUnits)
	s.view.Store(&sessionView{names: []string{""}, gone: []int64{0}})
	if release != nil {
		runtime.AddCleanup(s, func(f func()) { f() }, release)
	}
	return s
}

// Capacity returns the most entries s holds (0 for nil).
func (s *Sessions) Capacity() int {
	if s == nil {
		return 0
	}
	return s.table.capacity()
}

// Candidates appends to dst the members a request with the given key hash
// may go to, in the order to try them, and returns the extended slice: the
// members of snap.Candidates(hash, dst), with the one the key goes to
// first.
//
//   - If s remembers the key and its backend is in snap and usable (not
//     Down; a Draining backend keeps its sessions), that backend.
//   - Otherwise, the first candidate that takes new sessions (Ready and
//     usable), or failing that the first usable one: a key that is new, or
//     whose backend left or failed, goes where every balancer sends it.
//
// It does not write to s: Remember records where the request went.
// snap is the snapshot the caller routes with (Balancer.Snapshot). It
// does not allocate when cap(dst)-len(dst) >= snap.Len(), apart from the
// view built once per new snap.
func (s *Sessions) Candidates(snap *Snapshot, hash uint64, now time.Time, dst []*Member) []*Member {
	if s == nil {
		return snap.Candidates(hash, dst)
	}
	// The table's row and the memory's buckets are read before anything
	// depends on either, so that their cache misses overlap.
	if snap.Lookup(hash) == nil {
		return dst
	}
	t := s.ticks(now)
	w := s.table.lookupWord(hash) // find, without a call
	found := w != 0 && liveAt(w, uint16(t), s.idle)
	start := len(dst)
	dst = snap.Candidates(hash, dst)
	cands := dst[start:]
	c := s.counters(hash)
	v := s.view.Load() // viewOf's common case, without a call
	if v.snap != snap {
		v = s.viewOf(snap, now)
	}
	if found {
		if m := v.member(entryID(w)); m != nil && usable(m) {
			if i := indexOf(cands, m); i >= 0 {
				c.hits.Add(1)
				if i > 0 {
					c.overrides.Add(1)
					toFront(cands, i)
				}
				return dst
			}
		}
	}
	c.misses.Add(1)
	if takesNew(cands[0]) {
		return dst
	}
	first := -1
	for i, m := range cands {
		if takesNew(m) {
			first = i
			break
		}
		if first < 0 && usable(m) {
			first = i
		}
	}
	if first > 0 {
		toFront(cands, first)
	}
	return dst
}

// Remember records that a request with the given key hash was sent to m
// (a member of the current snapshot, or of an older one with the same
// Endpoint) and refreshes the key's idle time. A key that is new takes a
// free or expired entry, or else evicts the least recently used of the
// entries it may occupy. A member that is not in the snapshot of the
// last Candidates call is not recorded.
func (s *Sessions) Remember(hash uint64, m *Member, now time.Time) {
	if s == nil || m == nil {
		return
	}
	v, t := s.view.Load(), s.ticks(now)
	// Most requests find their key on m already: no id to look up. Most
	// of those need not write either (the entry is younger than slack):
	// only a refresh looks for the entry itself.
	if w := s.table.lookupWord(hash); w != 0 && v.member(entryID(w)) == m {
		if entryAge(w, uint16(t)) >= s.slack {
			s.refresh(hash, w, uint16(t))
		}
		return
	}
	id := v.idOf(m)
	if id == 0 {
		return
	}
	if s.table.put(hash, id, uint16(t), s.idle, s.slack) {
		s.counters(hash).evictions.Add(1)
	}
}

// refresh refreshes hash's entry, whose word was w, at now, unless the
// entry changed since: a concurrent writer's word is as recent.
func (s *Sessions) refresh(hash, w uint64, now uint16) {
	if e, cur := s.table.lookup(hash); cur == w {
		refresh(e, w, now, s.slack)
	}
	runtime.KeepAlive(s) // e points into s's table
}

// usable reports whether a session remembered on m may stay there: m is
// in the current set, not Down, and not down at runtime (a failed health
// check, an ejection: Member.Usable). A Draining member keeps its
// sessions.
func usable(m *Member) bool { return m.Usable() }

// takesNew reports whether a key that is not remembered may go to m.
func takesNew(m *Member) bool { return m.backend.State == Ready && usable(m) }

// indexOf returns the position of m in cands, or -1.
func indexOf(cands []*Member, m *Member) int {
	for i, c := range cands {
		if c == m {
			return i
		}
	}
	return -1
}

// toFront moves cands[i] to the front, keeping the others in order.
func toFront(cands []*Member, i int) {
	m := cands[i]
	copy(cands[1:i+1], cands[:i])
	cands[0] = m
}

// ticks returns now in units since s was made, never negative, and
// sweeps the table first when a sweep is due.
func (s *Sessions) ticks(now time.Time) int64 {
	t := max(int64(now.Sub(s.epoch)), 0) >> s.shift
	if t >= s.nextSweep.Load() {
		s.sweep(t)
	}
	return t
}

// idIdle is how long, in units, an id stays with an Endpoint that left:
// as long as an entry may name it (forever when keys do not expire).
func (s *Sessions) idIdle() int64 {
	if s.idle == foreverIdle {
		return math.MaxInt64
	}
	return int64(s.idle)
}

// sweep sweeps the table (sessionTable.sweep) at t if no other call is
// doing it: about 2 ms per million entries, every sweepUnits
// (more than an hour with the default idle time). A call that finds the
// sweep overdue by maxSweepDelay more waits for it: then no call came
// since the sweep was due (it would have swept), so every entry was
// refreshed at least maxSweepDelay units ago, longer than any idle time,
// and its 16-bit age may have wrapped: the sweep treats them all as that
// old.
func (s *Sessions) sweep(t int64) {
	if t < s.nextSweep.Load()+maxSweepDelay {
		if !s.sweepMu.TryLock() {
			return
		}
	} else {
		s.sweepMu.Lock()
	}
	defer s.sweepMu.Unlock()
	if due := s.nextSweep.Load(); t >= due {
		s.table.sweep(uint16(t), s.idle, oldestUnits, t >= due+maxSweepDelay)
		s.nextSweep.Store(t + sweepUnits)
	}
	runtime.KeepAlive(s)
}

// SessionStats is a snapshot of a Sessions' counters.
type SessionStats struct {
	// Entries is the number of keys remembered and not expired; Capacity
	// is the bound on it.
	Entries, Capacity int
	// Hits counts Candidates calls that found the key remembered on a
	// usable backend; Overrides counts those among them where that
	// backend was not the table's first choice (the session stayed where
	// the table would have moved it). Misses counts the other calls: new
	// keys, expired ones, and keys whose backend left or failed.
	Hits, Overrides, Misses int64
	// Evictions counts keys forgotten before their idle time because the
	// memory was full. If it grows, the memory is too small for the live
	// sessions.
	Evictions int64
}

// Stats returns s's counters. Entries is counted by a scan of the whole
// memory (about a millisecond per million entries): call it for metrics,
// not per request. A nil s has zero stats.
func (s *Sessions) Stats(now time.Time) SessionStats {
	if s == nil {
		return SessionStats{}
	}
	st := SessionStats{Entries: s.table.count(uint16(s.ticks(now)), s.idle), Capacity: s.Capacity()}
	for i := range s.stats {
		c := &s.stats[i]
		st.Hits += c.hits.Load()
		st.Overrides += c.overrides.Load()
		st.Misses += c.misses.Load()
		st.Evictions += c.evictions.Load()
	}
	runtime.KeepAlive(s)
	return st
}

// statStripes spreads the counters over cache lines by key hash, so that
// loops counting different sessions do not contend for one line.
const statStripes = 16

// sessionCounters fills one cache line.
type sessionCounters struct {
	hits, overrides, misses, evictions atomic.Int64
	_                                  [32]byte
}

func (s *Sessions) counters(hash uint64) *sessionCounters {
	return &s.stats[hash&(statStripes-1)]
}
