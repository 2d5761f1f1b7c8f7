package affinity

import (
	"os"
	"strings"
	"testing"
)

func anonHugeDiag() string {
	d, _ := os.ReadFile("/proc/self/smaps_rollup")
	for _, l := range strings.Split(string(d), "\n") {
		if strings.HasPrefix(l, "AnonHugePages") {
			return l
		}
	}
	return ""
}

var diagSink uint64

func BenchmarkDiag(b *testing.B) {
	m := liveSessions(b, 1<<20)
	s, keys := m.s, m.keys
	mask := len(keys) - 1
	b.Log(anonHugeDiag())
	for _, h := range keys[:1000] {
		a, _ := s.table.primary(h)
		g, x, y := a.word(tagOf(h)), bucketWordAVX512(a, tagOf(h)), bucketWordAVX2(a, tagOf(h))
		if g != x || g != y {
			b.Fatalf("%x: go %x avx512 %x avx2 %x", h, g, x, y)
		}
		if x2, y2 := bucketWordAVX512(a, tagOf(h)^1<<40), bucketWordAVX2(a, tagOf(h)^1<<40); x2 != a.word(tagOf(h)^1<<40) || y2 != x2 {
			b.Fatalf("miss: %x %x", x2, y2)
		}
	}
	for _, bc := range []struct {
		name string
		f    func(h uint64) uint64
	}{
		{"raw", func(h uint64) uint64 { a, _ := s.table.primary(h); return a[0].Load() }},
		{"match", func(h uint64) uint64 { a, _ := s.table.primary(h); _, w := a.match(tagOf(h)); return w }},
		{"w2", func(h uint64) uint64 {
			a, _ := s.table.primary(h)
			tag := tagOf(h)
			w := uint64(0)
			if e := a[1].Load(); e&tagMask == tag {
				w = e
			}
			if e := a[0].Load(); e&tagMask == tag {
				w = e
			}
			return w
		}},
		{"w4", func(h uint64) uint64 {
			a, _ := s.table.primary(h)
			tag := tagOf(h)
			w := uint64(0)
			if e := a[3].Load(); e&tagMask == tag {
				w = e
			}
			if e := a[2].Load(); e&tagMask == tag {
				w = e
			}
			if e := a[1].Load(); e&tagMask == tag {
				w = e
			}
			if e := a[0].Load(); e&tagMask == tag {
				w = e
			}
			return w
		}},
		{"avx512", func(h uint64) uint64 { a, _ := s.table.primary(h); return bucketWordAVX512(a, tagOf(h)) }},
		{"avx2", func(h uint64) uint64 { a, _ := s.table.primary(h); return bucketWordAVX2(a, tagOf(h)) }},
		{"word", func(h uint64) uint64 { a, _ := s.table.primary(h); return a.word(tagOf(h)) }},
		{"lookup", func(h uint64) uint64 { _, w := s.table.lookup(h); return w }},
		{"find", func(h uint64) uint64 { w, _ := s.table.find(h, 0, s.idle); return w }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reportCPU(b)
			i := 0
			var sum uint64
			for b.Loop() {
				sum += bc.f(keys[i&mask])
				i++
			}
			diagSink = sum
		})
	}
}
