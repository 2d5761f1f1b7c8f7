package affinity

import (
	"fmt"
	"testing"
)

// shares counts the table rows of each keyed member: the exact share of
// the key space each one receives.
func shares(s *Snapshot) []int {
	c := make([]int, len(s.keyed))
	for _, k := range s.table {
		c[k]++
	}
	return c
}

// maxOverMean returns max(x)/mean(x).
func maxOverMean[T int | int64](x []T) float64 {
	var sum, hi T
	for _, v := range x {
		sum += v
		hi = max(hi, v)
	}
	return float64(hi) * float64(len(x)) / float64(sum)
}

// TestTableBalance asserts max/mean <= 1.05 of the exact table shares with
// equal weights, for every N up to 100 and a few beyond.
func TestTableBalance(t *testing.T) {
	sizes := []int{250, 1000}
	for n := 1; n <= 100; n++ {
		sizes = append(sizes, n)
	}
	if raceEnabled {
		sizes = []int{1, 2, 3, 7, 10, 33, 100, 1000}
	}
	worst := 0.0
	for _, n := range sizes {
		got := maxOverMean(shares(mustSnapshot(t, backends(n))))
		if n <= 100 {
			worst = max(worst, got)
		}
		if got > 1.05 {
			t.Errorf("table shares of %d equal backends: max/mean = %.5f; want <= 1.05", n, got)
		}
		if n >= 100 {
			t.Logf("backends=%d: table max/mean %.5f", n, got)
		}
	}
	t.Logf("worst table max/mean for 1 to 100 backends: %.5f", worst)
}

// TestTableWeights asserts that weights 1:2:3 give shares within 3% of 1/6,
// 2/6 and 3/6, also with a draining member (it keeps its share) and with a
// zero weight (DefaultWeight).
func TestTableWeights(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		state   State
	}{
		{"1:2:3", []int{1, 2, 3}, Ready},
		{"0:2:3", []int{0, 2, 3}, Ready},
		{"10:20:30", []int{10, 20, 30}, Ready},
		{"1:2:3 draining", []int{1, 2, 3}, Draining},
		{"1:1000:65536", []int{1, 1000, 65536}, Ready},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := backends(len(tc.weights))
			sum := 0
			for i, w := range tc.weights {
				bs[i].Weight = w
				sum += max(w, DefaultWeight)
			}
			bs[0].State = tc.state
			c := shares(mustSnapshot(t, bs))
			for i, w := range tc.weights {
				want := float64(max(w, DefaultWeight)) / float64(sum)
				got := float64(c[i]) / TableSize
				t.Logf("%s weight %d: share %.6f, ideal %.6f", bs[i].Endpoint, w, got, want)
				if got < want*0.97 || got > want*1.03 {
					t.Errorf("share of %s with weights %v = %.6f; want %.6f within 3%%", bs[i].Endpoint, tc.weights, got, want)
				}
			}
		})
	}
}

// TestFillPathsAgree asserts that the round-by-round fill and the heap fill
// build the same table, so which one runs is an implementation detail.
func TestFillPathsAgree(t *testing.T) {
	for _, weights := range [][]int64{{1, 1, 1}, {1, 2, 3}, {5, 1, 1, 1, 1, 1, 1, 7}, {100, 1, 3, 1}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			bs := backends(len(weights))
			eps := make([]string, len(bs))
			for i := range bs {
				eps[i] = bs[i].Endpoint
			}
			const empty = 0xffff
			build := func(fill func(int, []int64, int64, int, func(int))) []uint16 {
				table := make([]uint16, TableSize)
				for i := range table {
					table[i] = empty
				}
				var next, skip []uint32
				var maxW int64
				for i, e := range eps {
					o, s := permutation(e, TableSize)
					next, skip = append(next, o), append(skip, s)
					maxW = max(maxW, weights[i])
				}
				fill(len(eps), weights, maxW, TableSize, func(i int) {
					pos := next[i]
					for table[pos] != empty {
						pos = (pos + skip[i]) % TableSize
					}
					table[pos] = uint16(i)
					next[i] = (pos + skip[i]) % TableSize
				})
				return table
			}
			a, b := build(fillRounds), build(fillHeap)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("row %d: fillRounds gives %d, fillHeap %d", i, a[i], b[i])
				}
			}
		})
	}
}

// simulatePick makes conns long-lived connections with Pick and Acquire and
// returns each Ready member's count divided by its weight.
func simulatePick(s *Snapshot, conns int) []float64 {
	for range conns {
		s.Pick().Acquire()
	}
	var loads []float64
	for _, m := range s.ready {
		loads = append(loads, float64(m.Active())/float64(m.weight))
	}
	return loads
}

// TestPickBalance asserts that Pick keeps max/mean of the active
// connections per unit of weight at most 1.1 under 100,000 long-lived
// connections, and never picks a member that is not Ready.
func TestPickBalance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		weights []int
	}{
		{"backends=2", 2, nil},
		{"backends=3", 3, nil},
		{"backends=10", 10, nil},
		{"backends=100", 100, nil},
		{"backends=1000", 1000, nil},
		{"weights=1:2:3", 3, []int{1, 2, 3}},
		{"weights=1x9:100", 10, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := backends(tc.n + 2)
			for i, w := range tc.weights {
				bs[i].Weight = w
			}
			bs[tc.n].State, bs[tc.n+1].State = Draining, Down
			s := mustSnapshot(t, bs)
			loads := simulatePick(s, 100_000)
			var sum, hi float64
			for _, l := range loads {
				sum += l
				hi = max(hi, l)
			}
			got := hi * float64(len(loads)) / sum
			t.Logf("max/mean active per weight over %d connections: %.4f", 100_000, got)
			if got > 1.1 {
				t.Errorf("Pick over 100000 connections: max/mean = %.4f; want <= 1.1", got)
			}
			for _, m := range s.members {
				if m.backend.State != Ready && m.Active() != 0 {
					t.Errorf("Pick chose %s (%s) %d times; want 0", m.backend.Endpoint, m.backend.State, m.Active())
				}
			}
		})
	}
}
