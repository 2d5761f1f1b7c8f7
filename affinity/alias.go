package affinity

import "math/bits"

// aliasTable draws an index with probability proportional to its weight in
// O(1) from one random uint64: Walker's alias method, built with Vose's
// linear-time algorithm ("A linear algorithm for generating random numbers
// with a given distribution", IEEE TSE 1991), in integers, so the
// probabilities are exact up to 2^-64.
type aliasTable struct {
	// keep[i] is the probability, scaled to 2^64, that column i keeps its
	// own index; otherwise it yields alias[i].
	keep  []uint64
	alias []int32
}

// newAliasTable builds the table for weights, all positive.
func newAliasTable(weights []int64) aliasTable {
	n := len(weights)
	t := aliasTable{keep: make([]uint64, n), alias: make([]int32, n)}
	var total uint64
	for _, w := range weights {
		total += uint64(w)
	}
	// Column i holds n*w[i] out of total units; a full column holds total.
	v := make([]uint64, n)
	var small, large []int32
	for i, w := range weights {
		v[i] = uint64(n) * uint64(w)
		t.alias[i] = int32(i)
		if v[i] < total {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s := small[len(small)-1]
		small = small[:len(small)-1]
		l := large[len(large)-1]
		// keep = v[s]/total as a 64-bit fraction; v[s] < total.
		t.keep[s], _ = bits.Div64(v[s], 0, total)
		t.alias[s] = l
		v[l] -= total - v[s]
		if v[l] < total {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is full, up to rounding.
	for _, i := range large {
		t.keep[i] = ^uint64(0)
	}
	for _, i := range small {
		t.keep[i] = ^uint64(0)
	}
	return t
}

// draw maps a uniform random r onto an index: the high half of r*n picks
// the column and the low half, uniform and independent of it, decides
// between the column and its alias.
func (t *aliasTable) draw(r uint64) int {
	col, frac := bits.Mul64(r, uint64(len(t.keep)))
	if frac < t.keep[col] {
		return int(col)
	}
	return int(t.alias[col])
}
