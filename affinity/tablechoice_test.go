package affinity

import (
	"fmt"
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// This file measures the choice of keyed table against the alternatives
// the design considered; the figures are in the package documentation.
//
//	go test -run XXX -bench TableChoice -benchtime 3x
//
// ns/op is the build time; the custom metrics are the disruption and
// balance over 1,000,000 keys.

// tableAlgo builds a table of rows for equal-weight endpoints.
type tableAlgo struct {
	name  string
	build func(endpoints []string) []uint16
}

var tableAlgos = []tableAlgo{
	{"maglev-65537", func(e []string) []uint16 { return buildTableSize(e, ones(len(e)), 65537) }},
	{"maglev-655373", func(e []string) []uint16 { return buildTableSize(e, ones(len(e)), TableSize) }},
	{"maglev-2000003", func(e []string) []uint16 { return buildTableSize(e, ones(len(e)), 2000003) }},
	{"rendezvous-65536", func(e []string) []uint16 { return rendezvousTable(e, 65536) }},
	{"ring-1024-655373", func(e []string) []uint16 { return ringTable(e, 1024, TableSize) }},
	{"ring-4096-655373", func(e []string) []uint16 { return ringTable(e, 4096, TableSize) }},
}

func ones(n int) []int64 {
	w := make([]int64, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// rendezvousTable is the rendezvous-ranked table of GitHub's GLB director:
// each row goes to the endpoint with the highest hash of (row, endpoint),
// so a row changes owner only to or from the endpoint added or removed.
func rendezvousTable(endpoints []string, rows int) []uint16 {
	seeds := make([]uint64, len(endpoints))
	for i, e := range endpoints {
		seeds[i] = xxhash.Sum64String(e)
	}
	t := make([]uint16, rows)
	for r := range t {
		rs := mix64(uint64(r) + 0x9e3779b97f4a7c15)
		var best uint64
		for i, s := range seeds {
			if h := mix64(s ^ rs); h >= best {
				best, t[r] = h, uint16(i)
			}
		}
	}
	return t
}

// ringTable tabulates a consistent-hash ring with v points per endpoint:
// row r goes to the owner of the first point at or after r/rows of the
// ring, found from the smallest point that falls in each row's interval.
func ringTable(endpoints []string, v int, rows uint32) []uint16 {
	first := make([]uint64, rows)
	owner := make([]uint16, rows)
	for i := range first {
		first[i] = math.MaxUint64
	}
	for i, e := range endpoints {
		h := xxhash.Sum64String(e)
		for j := range v {
			p := mix64(h + uint64(j)*0x9e3779b97f4a7c15)
			if r := rowIn(p, uint64(rows)); p < first[r] {
				first[r], owner[r] = p, uint16(i)
			}
		}
	}
	// The owner after the last row wraps around to the smallest point.
	var cur uint16
	for r := range first {
		if first[r] != math.MaxUint64 {
			cur = owner[r]
			break
		}
	}
	for r := int(rows) - 1; r >= 0; r-- {
		if first[r] != math.MaxUint64 {
			cur = owner[r]
		}
		owner[r] = cur
	}
	return owner
}

func BenchmarkTableChoice(b *testing.B) {
	keys := keyHashes(1_000_000)
	for _, n := range []int{10, 100, 1000} {
		bs := backends(n + 1)
		eps := make([]string, n+1)
		for i := range bs {
			eps[i] = bs[i].Endpoint
		}
		// Endpoint order, as the snapshots sort them.
		sorted := mustSnapshot(b, bs)
		for i, m := range sorted.members {
			eps[i] = m.backend.Endpoint
		}
		for _, algo := range tableAlgos {
			b.Run(fmt.Sprintf("%s/backends=%d", algo.name, n), func(b *testing.B) {
				base := eps[:n] // the set of n, without the last endpoint
				var t []uint16
				for b.Loop() {
					t = algo.build(base)
				}
				b.StopTimer()
				grown := algo.build(eps)
				mid := n / 2
				shrunk := algo.build(append(append([]string(nil), base[:mid]...), base[mid+1:]...))
				lookup := func(t []uint16, set []string, h uint64) string {
					return set[t[rowIn(h, uint64(len(t)))]]
				}
				var added, own, others int
				shrunkSet := append(append([]string(nil), base[:mid]...), base[mid+1:]...)
				for _, h := range keys {
					x := lookup(t, base, h)
					if x != lookup(grown, eps, h) {
						added++
					}
					switch {
					case x == base[mid]:
						own++
					case x != lookup(shrunk, shrunkSet, h):
						others++
					}
				}
				c := make([]int, n)
				for _, k := range t {
					c[k]++
				}
				b.ReportMetric(float64(added)*float64(n+1)/float64(len(keys)), "add/ideal")
				b.ReportMetric(100*float64(others)/float64(len(keys)-own), "remove-others%")
				b.ReportMetric(maxOverMean(c), "max/mean")
			})
		}
	}
}
