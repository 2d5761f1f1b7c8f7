package affinity

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// liveSessions is the memory the benchmarks route through: a million live
// keys in the capacity the package documentation recommends, twice that,
// built once (it takes a second) and shared.
func liveSessions(b *testing.B) (*Sessions, *Snapshot, []uint64, time.Time) {
	b.Helper()
	benchOnce.Do(func() {
		benchSnap = mustSnapshot(b, backends(3))
		benchKeys = keyHashes(1 << 20)
		benchSess = NewSessions(2<<20, 0)
		benchNow = time.Now()
		dst := make([]*Member, 0, 3)
		for _, h := range benchKeys {
			dst = benchSess.Candidates(benchSnap, h, benchNow, dst[:0])
			benchSess.Remember(h, dst[0], benchNow)
		}
	})
	if st := benchSess.Stats(benchNow); st.Entries < len(benchKeys)-len(benchKeys)/1000 {
		b.Fatalf("%d live entries; want about %d", st.Entries, len(benchKeys))
	}
	return benchSess, benchSnap, benchKeys, benchNow
}

var (
	benchOnce sync.Once
	benchSess *Sessions
	benchSnap *Snapshot
	benchKeys []uint64
	benchNow  time.Time
)

// BenchmarkSessions measures what a keyed request costs with the memory
// on, against a million live keys (each lookup is a cache miss, as it is
// in production): "table" is Snapshot.Candidates alone, what a request
// costs with the memory off; "candidates" adds the lookup; "request" adds
// Remember, the refresh every request makes. The memory's own cost is
// the difference to "table".
func BenchmarkSessions(b *testing.B) {
	s, snap, keys, now := liveSessions(b)
	mask := len(keys) - 1
	dst := make([]*Member, 0, snap.Len())
	for _, bc := range []struct {
		name string
		f    func(h uint64)
	}{
		{"table", func(h uint64) { dst = snap.Candidates(h, dst[:0]) }},
		{"find", func(h uint64) { _, _ = s.table.find(h, 0, s.idle) }},
		{"candidates", func(h uint64) { dst = s.Candidates(snap, h, now, dst[:0]) }},
		{"request", func(h uint64) {
			dst = s.Candidates(snap, h, now, dst[:0])
			s.Remember(h, dst[0], now)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			reportCPU(b)
			i := 0
			for b.Loop() {
				bc.f(keys[i&mask])
				i++
			}
		})
	}
}

// BenchmarkSessionsParallel is "request" from every P at once, as the
// event loops route; run with -cpu 1,2. "shared" is the one memory every
// loop uses; "per-P" gives each goroutine a memory of its own, the
// design that would need no sharing but lets a session's requests on
// different loops disagree (see the package documentation).
func BenchmarkSessionsParallel(b *testing.B) {
	s, snap, keys, now := liveSessions(b)
	mask := len(keys) - 1
	b.Run("shared", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			dst := make([]*Member, 0, snap.Len())
			i := int(mix64(uint64(time.Now().UnixNano())))
			for pb.Next() {
				h := keys[i&mask]
				dst = s.Candidates(snap, h, now, dst[:0])
				s.Remember(h, dst[0], now)
				i++
			}
		})
	})
	b.Run("per-P", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			own := NewSessions(1<<20, 0) // half the keys each
			dst := make([]*Member, 0, snap.Len())
			i := int(mix64(uint64(time.Now().UnixNano())))
			for pb.Next() {
				h := keys[i&(mask>>1)]
				dst = own.Candidates(snap, h, now, dst[:0])
				own.Remember(h, dst[0], now)
				i++
			}
		})
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
