package affinity

import "testing"

// TestZeroAllocs asserts the allocation behaviour the doc comments promise
// for the data path.
func TestZeroAllocs(t *testing.T) {
	bs := backends(50)
	bs[3].State, bs[7].State = Draining, Down
	s := mustSnapshot(t, bs)
	m := s.Members()[0]
	b := NewBalancer()
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	dst := make([]*Member, 0, s.Len())
	h := uint64(0x9e3779b97f4a7c15)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Lookup", func() { h += 0x9e3779b97f4a7c15; _ = s.Lookup(h) }},
		{"Pick", func() { _ = s.Pick() }},
		{"Candidates", func() { h += 0x9e3779b97f4a7c15; dst = s.Candidates(h, dst[:0]) }},
		{"PickCandidates", func() { dst = s.PickCandidates(dst[:0]) }},
		{"Acquire/Release", func() { m.Acquire(); m.Release() }},
		{"HashKey", func() { _ = HashKey([]byte("0123456789abcdef")) }},
		{"Balancer.Snapshot", func() { _ = b.Snapshot().Lookup(h) }},
	} {
		if got := testing.AllocsPerRun(1000, tc.f); got != 0 {
			t.Errorf("%s: %v allocs per run; want 0", tc.name, got)
		}
	}
}
