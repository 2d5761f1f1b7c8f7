package affinity

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// sessionTable is the storage of Sessions: buckets of sessionWays entries
// of 8 bytes, one 64-byte cache line per bucket, so that a lookup that
// finds its key in its primary bucket reads one cache line. A key may
// also live in a secondary bucket: it goes to the primary one while that
// holds fewer than primaryLive live entries, and otherwise to the one of
// the two with fewer ("two choices"). Filled half, about 95% of the keys
// are in their primary bucket and no key finds both buckets full while
// others have room (see the package documentation).
//
// An entry is one word: the key's tag (the low 32 bits of its hash), the
// backend's id (16 bits, never 0) and the time of the key's last request
// (16 bits, in units of the Sessions' clock). A zero word is free. One
// word makes the table lock-free without a protocol: a reader loads an
// entry once and sees it whole; a writer replaces it with a
// compare-and-swap.
type sessionTable struct {
	buckets []sessionBucket
}

const (
	sessionWays = 8
	// primaryLive is how many live entries a key's primary bucket may
	// hold before a new key considers its secondary bucket.
	primaryLive = 6
	tagMask     = 0xffffffff << 32
)

type sessionBucket [sessionWays]atomic.Uint64

func (t *sessionTable) capacity() int { return len(t.buckets) * sessionWays }

// tagOf returns the tag of a key hash, as placed in an entry. The bucket
// index comes from the hash's high bits, the tag from its low ones. A
// zero tag is stored as 1: every tag differs from a free word's.
func tagOf(hash uint64) uint64 {
	if uint32(hash) == 0 {
		return 1 << 32
	}
	return hash << 32
}

func packEntry(tag uint64, id uint16, stamp uint16) uint64 {
	return tag | uint64(id)<<16 | uint64(stamp)
}

func entryID(w uint64) uint16    { return uint16(w >> 16) }
func entryStamp(w uint64) uint16 { return uint16(w) }

// Entry times are 16-bit and wrap, so an age is the difference of two
// stamps read as signed. Loops' clocks differ a little (each caches its
// own time), so a stamp up to futureUnits ahead of now is live; further
// ahead, it is a stamp that wrapped. The sweep (Sessions.sweep) clears
// expired entries long before their age could wrap.
const futureUnits = 1024

// entryAge returns how long ago, in units, the entry w was refreshed.
func entryAge(w uint64, now uint16) int16 { return int16(now - entryStamp(w)) }

// liveAt reports whether the entry w, not free, is live at now for an
// idle time of idle units: refreshed at most idle units ago, or at most
// futureUnits ahead of now. One comparison.
func liveAt(w uint64, now uint16, idle int16) bool {
	return uint16(now-entryStamp(w)+futureUnits) <= uint16(idle+futureUnits)
}

// primary returns the key's primary bucket: from the hash's high bits.
func (t *sessionTable) primary(hash uint64) (*sessionBucket, uint64) {
	a, _ := bits.Mul64(hash, uint64(len(t.buckets)))
	return &t.buckets[a], a
}

// secondary returns the key's other bucket, from the high bits of the
// hash's SplitMix64 mix, never its primary one a.
func (t *sessionTable) secondary(hash, a uint64) *sessionBucket {
	n := uint64(len(t.buckets))
	b, _ := bits.Mul64(mix64(hash^0x9e3779b97f4a7c15), n)
	if b == a {
		if b++; b == n {
			b = 0
		}
	}
	return &t.buckets[b]
}

// match returns the first entry of bk with the given tag and its word, or
// a zero word. It has no branch on what it reads: the loop that calls it
// keeps running while the bucket's cache line is on its way, and the
// misses of several lookups overlap.
func (bk *sessionBucket) match(tag uint64) (int, uint64) {
	i, w := 0, uint64(0)
	for j := sessionWays - 1; j >= 0; j-- {
		if e := bk[j].Load(); e&tagMask == tag {
			i, w = j, e
		}
	}
	return i, w
}

// word returns the word of bk's first entry with the given tag, or a zero
// word: match without the entry's position, which the lookups of every
// request (Sessions.Candidates, Remember) do not need: a third fewer
// instructions. It is small enough to inline and keeps the words in
// registers; unrolled by hand it takes fewer instructions still, but
// spills words to the stack and was no faster with a million live keys.
// Like match, it does not branch on what it reads.
func (bk *sessionBucket) word(tag uint64) uint64 {
	t, w := tag>>32, uint64(0)
	for j := sessionWays - 1; j >= 0; j-- {
		if e := bk[j].Load(); e>>32 == t {
			w = e
		}
	}
	return w
}

// lookup returns hash's entry, live or not, and its word: the first match
// of its primary bucket, else of its secondary one; a zero word when it
// has none. The secondary bucket is only read when the primary one does
// not hold the key.
func (t *sessionTable) lookup(hash uint64) (*atomic.Uint64, uint64) {
	tag := tagOf(hash)
	a, ai := t.primary(hash)
	if i, w := a.match(tag); w != 0 {
		return &a[i], w
	}
	b := t.secondary(hash, ai)
	if i, w := b.match(tag); w != 0 {
		return &b[i], w
	}
	return nil, 0
}

// lookupWord returns the word lookup returns, without its entry.
func (t *sessionTable) lookupWord(hash uint64) uint64 {
	tag := tagOf(hash)
	a, ai := t.primary(hash)
	if w := a.word(tag); w != 0 {
		return w
	}
	return t.secondary(hash, ai).word(tag)
}

// find returns hash's entry word if it is remembered and live at now.
func (t *sessionTable) find(hash uint64, now uint16, idle int16) (uint64, bool) {
	w := t.lookupWord(hash)
	return w, w != 0 && liveAt(w, now, idle)
}

// refresh sets the time of e, whose word was w, to now, unless it is
// younger than slack. A concurrent writer that changed e wins: its write
// is as recent.
func refresh(e *atomic.Uint64, w uint64, now uint16, slack int16) {
	if entryAge(w, now) >= slack {
		e.CompareAndSwap(w, w&^0xffff|uint64(now))
	}
}

// put records hash -> id at now. An entry of hash is updated in place,
// unless it already says id and is younger than slack. Otherwise hash
// takes a free or expired entry (of its primary bucket first, see
// sessionTable), or evicts the least recently used live entry of its two
// buckets; put reports whether it evicted a live entry. Under contention
// for the same entries it may give up without recording (the next
// request records again).
func (t *sessionTable) put(hash uint64, id uint16, now uint16, idle, slack int16) (evicted bool) {
	if e, w := t.lookup(hash); w != 0 {
		if entryID(w) == id {
			refresh(e, w, now, slack)
		} else {
			e.CompareAndSwap(w, packEntry(w&tagMask, id, now)) // lost to a concurrent put: that one is as recent
		}
		return false
	}
	tag := tagOf(hash)
	want := packEntry(tag, id, now)
	a, ai := t.primary(hash)
	b := t.secondary(hash, ai)
	for range 2 {
		e, old, wasLive := choose(a, b, now, idle)
		if !e.CompareAndSwap(old, want) {
			continue // another put took it: choose again
		}
		// A concurrent put of hash may have taken another entry: the
		// first in lookup order stays, the others give theirs up.
		if first, _ := t.lookup(hash); first != e {
			e.CompareAndSwap(want, 0)
		}
		return wasLive
	}
	return false
}

// choose returns the entry a new key of buckets a (primary) and b takes,
// its current word, and whether that word is a live entry: a free or
// expired entry of a while a holds fewer than primaryLive live entries
// or no more than b; else one of b; else of a; else the least recently
// used live entry of both.
func choose(a, b *sessionBucket, now uint16, idle int16) (*atomic.Uint64, uint64, bool) {
	var (
		free    [2]*atomic.Uint64
		freeW   [2]uint64
		nlive   [2]int
		lru     *atomic.Uint64
		lruW    uint64
		lruAge  int16
		buckets = [2]*sessionBucket{a, b}
	)
	for j, bk := range buckets {
		for i := range bk {
			e := &bk[i]
			w := e.Load()
			if w == 0 || !liveAt(w, now, idle) {
				if free[j] == nil {
					free[j], freeW[j] = e, w
				}
				continue
			}
			nlive[j]++
			if age := entryAge(w, now); lru == nil || age > lruAge {
				lru, lruW, lruAge = e, w, age
			}
		}
	}
	first := 0
	if nlive[0] >= primaryLive && nlive[1] < nlive[0] {
		first = 1
	}
	for _, j := range [2]int{first, 1 - first} {
		if free[j] != nil {
			return free[j], freeW[j], false
		}
	}
	return lru, lruW, true
}

// count counts the live entries.
func (t *sessionTable) count(now uint16, idle int16) int {
	n := 0
	for b := range t.buckets {
		bk := &t.buckets[b]
		for i := range bk {
			if w := bk[i].Load(); w != 0 && liveAt(w, now, idle) {
				n++
			}
		}
	}
	return n
}

// sweep frees every entry that is not live at now, and moves the time of
// live entries older than oldest units to oldest units ago (only a
// memory that never expires keys has such entries), so that no entry's
// age wraps before the next sweep. If stale, every entry is known to be
// older than any idle time, whatever its stamp says (it may have
// wrapped): the sweep frees them all, or with no expiry makes them all
// oldest units old.
func (t *sessionTable) sweep(now uint16, idle, oldest int16, stale bool) {
	old := uint64(now - uint16(oldest))
	for b := range t.buckets {
		bk := &t.buckets[b]
		for i := range bk {
			w := bk[i].Load()
			switch forever := idle == foreverIdle; {
			case w == 0:
			case stale && forever:
				bk[i].CompareAndSwap(w, w&^0xffff|old)
			case stale, !liveAt(w, now, idle):
				bk[i].CompareAndSwap(w, 0)
			case entryAge(w, now) > oldest:
				bk[i].CompareAndSwap(w, w&^0xffff|old)
			}
		}
	}
}

// heapTable returns a table of n buckets on the heap, each on a cache
// line of its own: the words start at the first 64-byte boundary of a
// slice one bucket longer.
func heapTable(n int) sessionTable {
	words := make([]atomic.Uint64, (n+1)*sessionWays)
	skip := int((64 - uintptr(unsafe.Pointer(&words[0]))%64) % 64 / 8)
	return sessionTable{buckets: unsafe.Slice((*sessionBucket)(unsafe.Pointer(&words[skip])), n)}
}
