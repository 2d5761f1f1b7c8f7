package affinity

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchMemory is a memory with live keys in twice their number of
// entries, the capacity the package documentation recommends, built once
// per size and shared by the benchmarks.
type benchMemory struct {
	s    *Sessions
	snap *Snapshot
	keys []uint64
	now  time.Time
}

func liveSessions(b *testing.B, live int) *benchMemory {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if m := benchMemories[live]; m != nil {
		return m
	}
	m := &benchMemory{snap: mustSnapshot(b, backends(3)), keys: keyHashes(live), s: NewSessions(2*live, 0), now: time.Now()}
	dst := make([]*Member, 0, 3)
	for _, h := range m.keys {
		dst = m.s.Candidates(m.snap, h, m.now, dst[:0])
		m.s.Remember(h, dst[0], m.now)
	}
	if st := m.s.Stats(m.now); st.Entries < live-live/1000 {
		b.Fatalf("%d live entries; want about %d", st.Entries, live)
	}
	benchMemories[live] = m
	return m
}

var (
	benchMu       sync.Mutex
	benchMemories = map[int]*benchMemory{}
)

// BenchmarkSessions measures what a keyed request costs with the memory
// on: with a thousand live keys (the memory in the cache: its
// instructions) and a million (16 MiB: each lookup is a cache miss). The
// keys are looked up in a fixed random order, every one of them live;
// consecutive lookups do not depend on each other, so the processor may
// overlap their misses as far as its out-of-order window allows.
// "table" is Snapshot.Candidates alone, what a request costs with the
// memory off; "find" the memory's lookup alone; "find+table" both, and
// nothing else; "candidates" both as Sessions.Candidates does them, with
// what it decides; "request" adds Remember, the refresh every request
// makes. The memory's own cost is the difference to "table".
// thp-% is the share of the memory on transparent huge pages.
//
// With a million keys, "find" overlaps the misses of several lookups, but
// a request is too many instructions for the processor's reorder window
// to hold the next one's lookup while its own miss is outstanding: it
// pays most of a miss (BenchmarkSessionsFloor "chase"), as "find+table"
// shows, which "candidates" cannot beat. (A real request, among its
// system calls, pays all of it; the table's row may miss too.)
func BenchmarkSessions(b *testing.B) {
	for _, live := range []int{1 << 10, 1 << 20} {
		m := liveSessions(b, live)
		s, snap, keys, now := m.s, m.snap, m.keys, m.now
		mask := len(keys) - 1
		dst := make([]*Member, 0, snap.Len())
		for _, bc := range []struct {
			name string
			f    func(h uint64)
		}{
			{"table", func(h uint64) { dst = snap.Candidates(h, dst[:0]) }},
			{"find", func(h uint64) { _, _ = s.table.find(h, 0, s.idle) }},
			{"find+table", func(h uint64) {
				w, _ := s.table.find(h, 0, s.idle)
				dst = snap.Candidates(h, dst[:0])
				floorSink += w
			}},
			{"candidates", func(h uint64) { dst = s.Candidates(snap, h, now, dst[:0]) }},
			{"request", func(h uint64) {
				dst = s.Candidates(snap, h, now, dst[:0])
				s.Remember(h, dst[0], now)
			}},
		} {
			b.Run(fmt.Sprintf("live=%d/%s", live, bc.name), func(b *testing.B) {
				b.ReportAllocs()
				reportCPU(b)
				b.Cleanup(func() {
					if share := hugePageShare(&s.table); share >= 0 {
						b.ReportMetric(100*share, "thp-%")
					}
				})
				i := 0
				for b.Loop() {
					bc.f(keys[i&mask])
					i++
				}
			})
		}
	}
}

// BenchmarkSessionsParallel is "request" from every P at once, as the
// event loops route, against a million live keys; run with -cpu 1,2.
// "shared" is the one memory every loop uses; "per-P" gives each
// goroutine a memory of its own holding its share of the keys, the
// design that would need no shared writes but lets the loops of one
// process disagree about a session (see the package documentation).
func BenchmarkSessionsParallel(b *testing.B) {
	m := liveSessions(b, 1<<20)
	snap, keys, now := m.snap, m.keys, m.now
	run := func(b *testing.B, mems []*Sessions) {
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			g := int(next.Add(1) - 1)
			s := mems[g%len(mems)]
			part := keys[g%len(mems)*len(keys)/len(mems) : (g%len(mems)+1)*len(keys)/len(mems)]
			dst := make([]*Member, 0, snap.Len())
			i := g * 7919
			for pb.Next() {
				h := part[i%len(part)]
				dst = s.Candidates(snap, h, now, dst[:0])
				s.Remember(h, dst[0], now)
				i++
			}
		})
	}
	b.Run("shared", func(b *testing.B) { run(b, []*Sessions{m.s}) })
	b.Run("per-P", func(b *testing.B) {
		mems := make([]*Sessions, runtime.GOMAXPROCS(0))
		for j := range mems {
			part := keys[j*len(keys)/len(mems) : (j+1)*len(keys)/len(mems)]
			mems[j] = NewSessions(2*len(part), 0)
			dst := make([]*Member, 0, snap.Len())
			for _, h := range part {
				dst = mems[j].Candidates(snap, h, now, dst[:0])
				mems[j].Remember(h, dst[0], now)
			}
		}
		run(b, mems)
	})
}

// BenchmarkSessionsFill is the cost of new keys: every Remember inserts,
// and once the memory is full, evicts.
func BenchmarkSessionsFill(b *testing.B) {
	for _, size := range []int{1 << 16, 1 << 20} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			snap := mustSnapshot(b, backends(3))
			s := NewSessions(size, 0)
			now := time.Now()
			dst := make([]*Member, 0, 3)
			b.ReportAllocs()
			reportCPU(b)
			i := uint64(0)
			for b.Loop() {
				h := mix64(i)
				dst = s.Candidates(snap, h, now, dst[:0])
				s.Remember(h, dst[0], now)
				i++
			}
		})
	}
}

// BenchmarkSessionsFloor measures what the memory's lookups cannot beat
// on this machine, on a table of the size BenchmarkSessions uses with a
// million live keys, allocated the same way: "chase" reads one random
// bucket whose content names the next (a miss at a time: the memory's
// latency); "line" reads one random bucket per key of BenchmarkSessions,
// independent of each other like its lookups (the misses overlap: the
// cost of one random cache line when nothing else is done).
func BenchmarkSessionsFloor(b *testing.B) {
	m := liveSessions(b, 1<<20)
	keys := m.keys
	t, release := newSessionTable(m.s.Capacity())
	if release != nil {
		defer release()
	}
	n := len(t.buckets)
	next := make([]int, n)
	for i, p := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		next[i] = p
	}
	// One cycle through every bucket: bucket next[i] names next[i+1].
	for i := range n {
		t.buckets[next[i]][0].Store(uint64(next[(i+1)%n]))
	}
	b.Run("chase", func(b *testing.B) {
		reportCPU(b)
		p := uint64(0)
		for b.Loop() {
			p = t.buckets[p][0].Load()
		}
		floorSink = p
	})
	b.Run("line", func(b *testing.B) {
		reportCPU(b)
		mask := len(keys) - 1
		sum, i := uint64(0), 0
		for b.Loop() {
			a, _ := t.primary(keys[i&mask])
			sum += a[0].Load()
			i++
		}
		floorSink = sum
	})
	if share := hugePageShare(&t); share >= 0 {
		b.Logf("%.0f%% of the table on transparent huge pages", 100*share)
	}
}

var floorSink uint64
