package affinity

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// TableSize is the number of rows of the keyed lookup table. It is prime, as
// Maglev's permutations need, and large, because Maglev moves more keys than
// the ideal 1/(N+1) when a backend joins and that excess shrinks as the rows
// per backend grow: with 655373 rows it stays within 1.2x of the ideal up to
// 100 backends (see the package documentation for the measurements). It is
// part of the hash compatibility promise: changing it moves nearly every
// session.
const TableSize = 655373

// rowOf maps a key hash onto a row: the high 64 bits of hash*TableSize,
// which is uniform for a uniform hash and cheaper than a division
// (Lemire, "Fast random integer generation in an interval", 2019).
func rowOf(hash uint64) uint32 { return rowIn(hash, TableSize) }

// rowIn maps a key hash onto a row of a table of size rows.
func rowIn(hash uint64, size uint64) uint32 {
	hi, _ := bits.Mul64(hash, size)
	return uint32(hi)
}

// permutation returns where a backend's preference list over the rows
// starts and its stride: row j of the list is (offset + j*skip) mod
// TableSize. Both derive from XXH64(seed 0) of the Endpoint, so they depend
// on the backend's identity only, never on the other backends or the order
// they were given in.
func permutation(endpoint string, size uint32) (offset, skip uint32) {
	h := xxhash.Sum64String(endpoint)
	offset = uint32(h % uint64(size))
	skip = uint32(mix64(h)%uint64(size-1)) + 1
	return offset, skip
}

// buildTable fills a Maglev lookup table (Eisenbud et al., "Maglev: A Fast
// and Reliable Software Network Load Balancer", NSDI 2016, section 3.4)
// for the keyed members, given in Endpoint order, with their weights.
//
// Members take turns in rounds; in each round every member that is still
// within its weighted quota claims the next free row of its permutation. A
// member of weight w may claim its k-th row (k from 0) in the first round r
// (from 1) with k*maxWeight < r*w, so the heaviest members claim one row
// every round and the shares end proportional to the weights, within one
// row. The result depends only on the set: the order of turns is the
// Endpoint order and the permutations hash the Endpoint.
func buildTable(endpoints []string, weights []int64) []uint16 {
	return buildTableSize(endpoints, weights, TableSize)
}

// buildTableSize is buildTable for a table of size rows, a prime; other
// sizes are only for measuring the choice of TableSize.
func buildTableSize(endpoints []string, weights []int64, size uint32) []uint16 {
	n := len(endpoints)
	if n == 0 {
		return nil
	}
	table := make([]uint16, size)
	// Probes test a bitmap of taken rows, 80 KB that stay in cache, rather
	// than the 1.3 MB table: the build makes about size*ln(size) probes.
	taken := make([]uint64, (size+63)/64)
	next := make([]uint32, n)
	skip := make([]uint32, n)
	var maxW, sumW int64
	for i, e := range endpoints {
		next[i], skip[i] = permutation(e, size)
		maxW = max(maxW, weights[i])
		sumW += weights[i]
	}
	// claim takes the next free row of member i's permutation.
	claim := func(i int) {
		pos, s := next[i], skip[i]
		for taken[pos>>6]&(1<<(pos&63)) != 0 {
			pos += s
			if pos >= size {
				pos -= size
			}
		}
		taken[pos>>6] |= 1 << (pos & 63)
		table[pos] = uint16(i)
		pos += s
		if pos >= size {
			pos -= size
		}
		next[i] = pos
	}
	// When most members are much lighter than the heaviest, most turns of a
	// round are skips; a heap of (round, member) visits only the turns that
	// claim, in the same order, so both paths give the same table.
	if int64(n)*maxW <= 4*sumW {
		fillRounds(n, weights, maxW, int(size), claim)
	} else {
		fillHeap(n, weights, maxW, int(size), claim)
	}
	return table
}

// fillRounds runs the rounds of buildTable turn by turn.
func fillRounds(n int, weights []int64, maxW int64, size int, claim func(int)) {
	placed := make([]int64, n)
	filled := 0
	for round := int64(1); ; round++ {
		for i := range n {
			if placed[i]*maxW >= round*weights[i] {
				continue
			}
			claim(i)
			placed[i]++
			if filled++; filled == size {
				return
			}
		}
	}
}

// fillHeap runs the same turns as fillRounds, skipping the turns that do
// not claim: a min-heap holds each member's next claiming turn as
// round<<16 | member, which orders turns exactly as the rounds do.
func fillHeap(n int, weights []int64, maxW int64, size int, claim func(int)) {
	h := make([]uint64, n)
	for i := range n {
		h[i] = 1<<16 | uint64(i) // everyone claims in round 1
	}
	// Already a heap: keys increase with i.
	placed := make([]int64, n)
	for filled := 0; filled < size; filled++ {
		top := h[0]
		i := int(top & 0xffff)
		claim(i)
		placed[i]++
		// The first round r with placed*maxW < r*w.
		r := placed[i]*maxW/weights[i] + 1
		h[0] = uint64(r)<<16 | uint64(i)
		siftDown(h)
	}
}

// siftDown restores the heap property after h[0] grew.
func siftDown(h []uint64) {
	i, n := 0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h[r] < h[l] {
			c = r
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
