package affinity

import (
	"fmt"
	"testing"
)

var benchSizes = []int{3, 10, 100, 1000}

// sink keeps results alive so the compiler cannot drop the work.
var sink *Member

func BenchmarkHashKey(b *testing.B) {
	key := []byte("0123456789abcdef") // a SockJS session id's length
	b.ReportAllocs()
	var h uint64
	for b.Loop() {
		h += HashKey(key)
	}
	_ = h
}

// BenchmarkLookup looks up a pool of pre-hashed keys, so the table rows
// touched are spread as real sessions spread them.
func BenchmarkLookup(b *testing.B) {
	keys := keyHashes(1 << 16)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			s := mustSnapshot(b, backends(n))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink = s.Lookup(keys[i&(1<<16-1)])
				i++
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			s := mustSnapshot(b, backends(n))
			b.ReportAllocs()
			for b.Loop() {
				sink = s.Pick()
			}
		})
	}
}

// BenchmarkPickParallel picks and counts from every P at once, as the
// engine's event loops do; run with -cpu 1,2.
func BenchmarkPickParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			s := mustSnapshot(b, backends(n))
			b.ReportAllocs()
			b.ResetTimer() // RunParallel, unlike b.Loop, counts the setup
			b.RunParallel(func(pb *testing.PB) {
				var m *Member
				for pb.Next() {
					m = s.Pick()
					m.Acquire()
					m.Release()
				}
				sink = m
			})
		})
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	m := mustSnapshot(b, backends(1)).Members()[0]
	b.ReportAllocs()
	for b.Loop() {
		m.Acquire()
		m.Release()
	}
}

func BenchmarkCandidates(b *testing.B) {
	keys := keyHashes(1 << 16)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			s := mustSnapshot(b, backends(n))
			dst := make([]*Member, 0, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				dst = s.Candidates(keys[i&(1<<16-1)], dst[:0])
				i++
			}
		})
	}
}

func BenchmarkPickCandidates(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			s := mustSnapshot(b, backends(n))
			dst := make([]*Member, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				dst = s.PickCandidates(dst[:0])
			}
		})
	}
}

// BenchmarkNewSnapshot is the cost of an Update, paid off the data path.
func BenchmarkNewSnapshot(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			bs := backends(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewSnapshot(bs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpdateDrain is an Update that only flips one backend between
// Ready and Draining, which reuses the table.
func BenchmarkUpdateDrain(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			bal := NewBalancer()
			bs := backends(n)
			if err := bal.Update(bs); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				bs[0].State ^= Draining // Ready <-> Draining
				if err := bal.Update(bs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
