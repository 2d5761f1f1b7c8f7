package affinity

import (
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"
)

func TestCounterSize(t *testing.T) {
	if got := unsafe.Sizeof(counter{}); got != 64 {
		t.Errorf("unsafe.Sizeof(counter{}) = %d; want 64, one cache line", got)
	}
}

// mustBalancer returns a Balancer holding bs.
func mustBalancer(tb testing.TB, bs []Backend) *Balancer {
	tb.Helper()
	b := NewBalancer()
	if err := b.Update(bs); err != nil {
		tb.Fatalf("Update: %v", err)
	}
	return b
}

// withoutMember returns ms without the member whose endpoint is e.
func withoutMember(ms []*Member, e string) []*Member {
	return slices.DeleteFunc(slices.Clone(ms), func(m *Member) bool { return m.Backend().Endpoint == e })
}

func TestSetDownCandidates(t *testing.T) {
	bs := backends(10)
	bs[4].State = Draining
	b := mustBalancer(t, bs)
	s := b.Snapshot()
	keys := keyHashes(20000)
	before := make([][]*Member, len(keys))
	for i, h := range keys {
		before[i] = s.Candidates(h, nil)
	}
	draining := slices.IndexFunc(s.Members(), func(m *Member) bool { return m.Backend().State == Draining })
	for _, down := range []int{0, draining} { // a Ready member, the Draining one
		t.Run(s.Members()[down].Backend().State.String(), func(t *testing.T) {
			m := s.Members()[down]
			if !m.SetDown(true) {
				t.Fatalf("SetDown(true) = false; want true")
			}
			defer m.SetDown(false)
			if m.SetDown(true) {
				t.Errorf("SetDown(true) again = true; want false")
			}
			if m.Usable() {
				t.Errorf("Usable() = true after SetDown(true)")
			}
			moved := 0
			for i, h := range keys {
				got := s.Candidates(h, nil)
				want := withoutMember(before[i], m.String())
				if !slices.Equal(got, want) {
					t.Fatalf("key %d: Candidates = %v; want %v (the order without %s)", i, got, want, m)
				}
				if got[0] != before[i][0] {
					moved++
				}
			}
			// Only the down member's own keys move.
			if share := float64(moved) / float64(len(keys)); share > 0.15 {
				t.Errorf("%.3f of the keys moved; want about 1/10", share)
			}
			for range 1000 {
				for _, c := range s.PickCandidates(nil) {
					if c == m {
						t.Fatalf("PickCandidates listed %s, which is down", m)
					}
				}
				if p := s.Pick(); p == m {
					t.Fatalf("Pick() = %s, which is down", m)
				}
			}
		})
	}
	for i, h := range keys {
		if got := s.Candidates(h, nil); !slices.Equal(got, before[i]) {
			t.Fatalf("key %d after SetDown(false): Candidates = %v; want %v", i, got, before[i])
		}
	}
}

// TestAllDown: when every member is down at runtime the orders are listed
// as if none were.
func TestAllDown(t *testing.T) {
	b := mustBalancer(t, backends(3))
	s := b.Snapshot()
	h := keyHashes(1)[0]
	want := s.Candidates(h, nil)
	for _, m := range s.Members() {
		m.SetDown(true)
	}
	if got := s.Candidates(h, nil); !slices.Equal(got, want) {
		t.Errorf("Candidates with all down = %v; want %v", got, want)
	}
	if got := s.PickCandidates(nil); len(got) != 3 {
		t.Errorf("PickCandidates with all down = %v; want all 3", got)
	}
	if s.Pick() == nil {
		t.Errorf("Pick() with all down = nil; want a member")
	}
	// One up again: it alone is listed.
	s.Members()[1].SetDown(false)
	for range 100 {
		if got := s.PickCandidates(nil); len(got) != 1 || got[0] != s.Members()[1] {
			t.Fatalf("PickCandidates with one up = %v; want [%s]", got, s.Members()[1])
		}
	}
	if got := s.Candidates(h, nil); len(got) != 1 || got[0] != s.Members()[1] {
		t.Errorf("Candidates with one up = %v; want [%s]", got, s.Members()[1])
	}
}

// TestRuntimeStateAcrossUpdates: the runtime state is per endpoint, kept
// across updates, and cleared when the endpoint leaves the set.
func TestRuntimeStateAcrossUpdates(t *testing.T) {
	bs := backends(3)
	b := mustBalancer(t, bs)
	old := b.Snapshot().Members()[0]
	old.SetDown(true)
	old.SetShare(FullShare / 2)
	old.Failed()
	bs[1].Weight = 5 // a new table
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	m := b.Snapshot().Members()[0]
	if m.Usable() || m.Share() != FullShare/2 || m.Failures() != 1 {
		t.Errorf("after Update: Usable() = %v, Share() = %d, Failures() = %d; want false, %d, 1", m.Usable(), m.Share(), m.Failures(), FullShare/2)
	}
	if err := b.Update(bs[1:]); err != nil {
		t.Fatal(err)
	}
	if got := b.rt.special.Load(); got != 0 {
		t.Errorf("special = %d after the down member left; want 0", got)
	}
	// A stale member of the old set changes nothing any more.
	if m.SetDown(true) {
		t.Errorf("SetDown on a member that left = true; want false")
	}
	if got := b.rt.special.Load(); got != 0 {
		t.Errorf("special = %d after SetDown on a member that left; want 0", got)
	}
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	m = b.Snapshot().Members()[0]
	if !m.Usable() || m.Share() != FullShare || m.Failures() != 0 {
		t.Errorf("back in the set: Usable() = %v, Share() = %d, Failures() = %d; want true, %d, 0", m.Usable(), m.Share(), m.Failures(), FullShare)
	}
	// A returning endpoint whose counter was retired (connections still
	// counted) can be set down again.
	m.Acquire()
	defer m.Release()
	if err := b.Update(bs[1:]); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	m = b.Snapshot().Members()[0]
	if !m.SetDown(true) || m.Usable() {
		t.Errorf("SetDown(true) on a returning member did not take")
	}
}

func TestUsableState(t *testing.T) {
	s := mustSnapshot(t, []Backend{{Endpoint: "tcp://a:1"}, {Endpoint: "tcp://b:1", State: Draining}, {Endpoint: "tcp://c:1", State: Down}})
	for i, want := range []bool{true, true, false} {
		if got := s.Members()[i].Usable(); got != want {
			t.Errorf("%s: Usable() = %v; want %v", s.Members()[i], got, want)
		}
	}
}

// TestShare: a ramping member gets its share of its weight's keyless
// traffic, and keyed traffic as before.
func TestShare(t *testing.T) {
	b := mustBalancer(t, backends(2))
	s := b.Snapshot()
	ramp := s.Members()[0]
	ramp.SetShare(FullShare / 4)
	const n = 200000
	got := 0
	for range n {
		// No connection is counted, so two choices keep the first draw:
		// the draw's distribution is what is measured.
		if s.Pick() == ramp {
			got++
		}
	}
	// 0.25 / (0.25 + 1) = 0.2
	if frac := float64(got) / n; frac < 0.19 || frac > 0.21 {
		t.Errorf("ramping member took %.3f of the picks; want 0.2", frac)
	}
	h := keyHashes(100)
	for _, k := range h {
		if s.Candidates(k, nil)[0] != s.Lookup(k) {
			t.Fatalf("a ramping member changed a key's first candidate")
		}
	}
	ramp.SetShare(FullShare)
	if got := b.rt.special.Load(); got != 0 {
		t.Errorf("special = %d at full share; want 0", got)
	}
}

func TestFailures(t *testing.T) {
	m := mustSnapshot(t, backends(1)).Members()[0]
	for i := int32(1); i <= 3; i++ {
		if got := m.Failed(); got != i {
			t.Errorf("Failed() = %d; want %d", got, i)
		}
	}
	m.Answered()
	if got := m.Failures(); got != 0 {
		t.Errorf("Failures() after Answered = %d; want 0", got)
	}
}

// TestSessionsRuntimeDown: a session remembered on a member that goes
// down at runtime moves to its next candidate, and stays there once the
// member is up again: what a session opened on a fallback during a
// backend's outage needs.
func TestSessionsRuntimeDown(t *testing.T) {
	bal := mustBalancer(t, backends(3))
	snap := bal.Snapshot()
	s := NewSessions(1<<14, 0)
	now := time.Now()
	down := snap.Members()[0]
	var keys []uint64
	for _, h := range keyHashes(3000) {
		if snap.Lookup(h) == down {
			keys = append(keys, h)
			if got := route(s, snap, h, now); got != down {
				t.Fatalf("key %x goes to %s before the outage; want %s", h, got, down)
			}
		}
	}
	down.SetDown(true)
	moved := map[uint64]*Member{}
	for _, h := range keys {
		got := route(s, snap, h, now)
		if got == down {
			t.Fatalf("key %x stays on %s, which is down", h, down)
		}
		moved[h] = got
	}
	down.SetDown(false)
	for _, h := range keys {
		if got := route(s, snap, h, now); got != moved[h] {
			t.Errorf("key %x goes to %s once %s is up; want %s, where it went meanwhile", h, got, down, moved[h])
		}
	}
}

// TestZeroAllocsRuntime: the data path stays allocation-free while members
// are down or ramping.
func TestZeroAllocsRuntime(t *testing.T) {
	b := mustBalancer(t, backends(50))
	s := b.Snapshot()
	s.Members()[3].SetDown(true)
	s.Members()[9].SetShare(FullShare / 3)
	m := s.Members()[5]
	dst := make([]*Member, 0, s.Len())
	h := uint64(0x9e3779b97f4a7c15)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Pick", func() { _ = s.Pick() }},
		{"Candidates", func() { h += 0x9e3779b97f4a7c15; dst = s.Candidates(h, dst[:0]) }},
		{"PickCandidates", func() { dst = s.PickCandidates(dst[:0]) }},
		{"Failed/Answered", func() { m.Failed(); m.Answered() }},
		{"Usable", func() { _ = m.Usable() }},
	} {
		if got := testing.AllocsPerRun(1000, tc.f); got != 0 {
			t.Errorf("%s: %v allocs per run; want 0", tc.name, got)
		}
	}
}

// BenchmarkCandidatesDown is Candidates while one member is down at
// runtime: the slower path, taken only then.
func BenchmarkCandidatesDown(b *testing.B) {
	keys := keyHashes(1 << 16)
	for _, n := range []int{3, 100} {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			s := mustBalancer(b, backends(n)).Snapshot()
			s.Members()[0].SetDown(true)
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
