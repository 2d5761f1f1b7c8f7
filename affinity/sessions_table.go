package affinity

import (
	"math/bits"
	"sync/atomic"
)

// sessionTable is the storage of Sessions: buckets of sessionWays entries
// of 16 bytes, one 64-byte cache line per bucket. A key may live in either
// of two buckets chosen by its hash and is inserted into the one with
// fewer live entries ("two choices"): with one bucket per key, a memory
// half full would already lose 3.7% of its keys to buckets that overflow
// while others have room; with two, 0.002% (0.7% at three quarters full).
//
// No lock: a reader loads an entry's key, its meta word, and the key
// again, and takes the meta word only if the key did not change; a
// writer claims an entry by swapping its key for sessionBusy, writes the
// meta word, and publishes the new key last. The meta word of an entry
// whose key stays is updated in place with a compare-and-swap.
type sessionTable struct {
	buckets []sessionBucket
}

const sessionWays = 4

type sessionBucket [sessionWays]sessionEntry

// sessionEntry is one remembered key. key is the key hash (sessionEmpty
// and sessionBusy are reserved); meta packs the backend's id (16 bits)
// above the time of the last request (48 bits, ms since the epoch).
type sessionEntry struct {
	key, meta atomic.Uint64
}

const (
	sessionEmpty = 0
	sessionBusy  = 1
	tickBits     = 48
	maxTicks     = 1<<tickBits - 1
)

func newSessionTable(entries int) sessionTable {
	n := (entries + sessionWays - 1) / sessionWays
	return sessionTable{buckets: make([]sessionBucket, n)}
}

func (t *sessionTable) capacity() int { return len(t.buckets) * sessionWays }

// storedKey maps a key hash to the value kept in an entry, away from the
// two reserved values (three hashes in 2^64 share one entry).
func storedKey(hash uint64) uint64 {
	if hash <= sessionBusy {
		return sessionBusy + 1
	}
	return hash
}

// bucketsOf returns the two buckets of a key hash: from its high bits, and
// from the high bits of its SplitMix64 mix, never the same one twice.
func (t *sessionTable) bucketsOf(hash uint64) (*sessionBucket, *sessionBucket) {
	n := uint64(len(t.buckets))
	a, _ := bits.Mul64(hash, n)
	b, _ := bits.Mul64(mix64(hash^0x9e3779b97f4a7c15), n)
	if a == b {
		if b++; b == n {
			b = 0
		}
	}
	return &t.buckets[a], &t.buckets[b]
}

func packMeta(id uint16, now int64) uint64 { return uint64(id)<<tickBits | uint64(now)&maxTicks }
func metaID(meta uint64) uint16            { return uint16(meta >> tickBits) }
func metaTime(meta uint64) int64           { return int64(meta & maxTicks) }

// live reports whether an entry last used at metaTime(meta) is still
// remembered at now. A time after now (another loop's clock ran ahead)
// is live.
func live(meta uint64, now, idle int64) bool { return now-metaTime(meta) <= idle }

// read returns e's meta word if e holds key, consistently.
func (e *sessionEntry) read(key uint64) (uint64, bool) {
	if e.key.Load() != key {
		return 0, false
	}
	meta := e.meta.Load()
	return meta, e.key.Load() == key
}

// find returns the meta word of hash's live entry.
func (t *sessionTable) find(hash uint64, now, idle int64) (uint64, bool) {
	_, meta, ok := t.entry(hash)
	return meta, ok && live(meta, now, idle)
}

// entry returns hash's entry, live or not, and its meta word.
func (t *sessionTable) entry(hash uint64) (*sessionEntry, uint64, bool) {
	key := storedKey(hash)
	a, b := t.bucketsOf(hash)
	for _, bk := range [2]*sessionBucket{a, b} {
		for i := range bk {
			if meta, ok := bk[i].read(key); ok {
				return &bk[i], meta, true
			}
		}
	}
	return nil, 0, false
}

// refresh sets the time of e, whose meta word was meta, to now, unless it
// is younger than slack. A concurrent writer that changed e wins: its
// write is as recent.
func (e *sessionEntry) refresh(meta uint64, now, slack int64) {
	if now-metaTime(meta) >= slack {
		e.meta.CompareAndSwap(meta, packMeta(metaID(meta), now))
	}
}

// put records hash -> id at now. An entry of hash is updated in place,
// unless it already says id and is younger than slack. Otherwise hash
// takes a free or expired entry of the emptier of its buckets, or evicts
// the least recently used entry of both; put reports whether it evicted a
// live entry. Under contention for the same entries it may give up
// without recording (the next request records again).
func (t *sessionTable) put(hash uint64, id uint16, now, idle, slack int64) (evicted bool) {
	key := storedKey(hash)
	want := packMeta(id, now)
	a, b := t.bucketsOf(hash)
	buckets := [2]*sessionBucket{a, b}
	if e, old, ok := t.entry(hash); ok {
		if metaID(old) == id {
			e.refresh(old, now, slack)
		} else {
			e.meta.CompareAndSwap(old, want) // lost to a concurrent put: that one is as recent
		}
		return false
	}
	for range 2 {
		victim, victimKey, wasLive := t.choose(buckets, now, idle)
		if victim == nil {
			return false
		}
		if !victim.key.CompareAndSwap(victimKey, sessionBusy) {
			continue // another put took it: choose again
		}
		// Another put may have inserted hash meanwhile: then give the
		// entry back as it was (its meta word is untouched).
		if t.holds(buckets, key, victim) {
			victim.key.Store(victimKey)
			return false
		}
		victim.meta.Store(want)
		victim.key.Store(key)
		return wasLive
	}
	return false
}

// choose returns the entry a new key takes: a free or expired entry of
// the bucket with fewer live entries (a first), or else the least
// recently used entry of both. It returns the entry's current key, and
// whether that entry was live; nil when every entry is being written.
func (t *sessionTable) choose(buckets [2]*sessionBucket, now, idle int64) (*sessionEntry, uint64, bool) {
	var (
		free     [2]*sessionEntry
		freeKey  [2]uint64
		nlive    [2]int
		lru      *sessionEntry
		lruKey   uint64
		lruTime  int64
		lruFound bool
	)
	for j, bk := range buckets {
		for i := range bk {
			e := &bk[i]
			k := e.key.Load()
			if k == sessionBusy {
				continue
			}
			meta := e.meta.Load()
			if k == sessionEmpty || !live(meta, now, idle) {
				if free[j] == nil {
					free[j], freeKey[j] = e, k
				}
				continue
			}
			nlive[j]++
			if tm := metaTime(meta); !lruFound || tm < lruTime {
				lru, lruKey, lruTime, lruFound = e, k, tm, true
			}
		}
	}
	first := 0
	if nlive[1] < nlive[0] {
		first = 1
	}
	for _, j := range [2]int{first, 1 - first} {
		if free[j] != nil {
			return free[j], freeKey[j], false
		}
	}
	return lru, lruKey, lru != nil
}

// holds reports whether an entry other than skip holds key.
func (t *sessionTable) holds(buckets [2]*sessionBucket, key uint64, skip *sessionEntry) bool {
	for _, bk := range buckets {
		for i := range bk {
			if e := &bk[i]; e != skip && e.key.Load() == key {
				return true
			}
		}
	}
	return false
}

// count counts the live entries.
func (t *sessionTable) count(now, idle int64) int {
	n := 0
	for b := range t.buckets {
		bk := &t.buckets[b]
		for i := range bk {
			if k := bk[i].key.Load(); k > sessionBusy && live(bk[i].meta.Load(), now, idle) {
				n++
			}
		}
	}
	return n
}
