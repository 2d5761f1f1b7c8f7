package affinity

import (
	"math/rand/v2"
	"testing"
)

// TestSessionTableLookupWord checks that the lookups of the request path
// (word, lookupWord) find what the ones that return the entry (match,
// lookup) find: the first entry with the tag, in the primary bucket and
// else the secondary one, including when several entries share a tag.
func TestSessionTableLookupWord(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 4))
	table := heapTable(4)
	// Few distinct tags, so that buckets hold some twice and miss others.
	tags := []uint64{tagOf(0), tagOf(1), tagOf(2), tagOf(3), tagOf(0xffffffff)}
	hashes := make([]uint64, 0, 64)
	for i := range 64 {
		hashes = append(hashes, uint64(rng.Uint32())<<32|uint64(i%len(tags)))
	}
	for round := range 2000 {
		for b := range table.buckets {
			for i := range table.buckets[b] {
				w := uint64(0)
				if rng.IntN(3) > 0 {
					w = packEntry(tags[rng.IntN(len(tags))], uint16(1+rng.IntN(9)), uint16(rng.Uint32()))
				}
				table.buckets[b][i].Store(w)
			}
		}
		for b := range table.buckets {
			bk := &table.buckets[b]
			for _, tag := range tags {
				if _, want := bk.match(tag); bk.word(tag) != want {
					t.Fatalf("round %d, bucket %d, tag %#x: word = %#x; match's word %#x", round, b, tag, bk.word(tag), want)
				}
			}
		}
		for _, h := range hashes {
			if _, want := table.lookup(h); table.lookupWord(h) != want {
				t.Fatalf("round %d, hash %#x: lookupWord = %#x; lookup's word %#x", round, h, table.lookupWord(h), want)
			}
		}
	}
}
