package affinity

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNewSnapshotRejects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backends []Backend
	}{
		{"empty endpoint", []Backend{{Endpoint: ""}}},
		{"duplicate", []Backend{{Endpoint: "tcp://a:1"}, {Endpoint: "tcp://b:1"}, {Endpoint: "tcp://a:1", State: Down}}},
		{"negative weight", []Backend{{Endpoint: "tcp://a:1", Weight: -1}}},
		{"weight too large", []Backend{{Endpoint: "tcp://a:1", Weight: MaxWeight + 1}}},
		{"unknown state", []Backend{{Endpoint: "tcp://a:1", State: Down + 1}}},
		{"unknown proxy protocol", []Backend{{Endpoint: "tcp://a:1", ProxyProtocol: ProxyV2 + 1}}},
		{"too many", backends(MaxBackends + 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSnapshot(tc.backends)
			if !errors.Is(err, ErrInvalidSet) {
				t.Errorf("NewSnapshot(%s) = %v, %v; want an error wrapping ErrInvalidSet", tc.name, s, err)
			}
		})
	}
}

func TestEmptySnapshot(t *testing.T) {
	for name, s := range map[string]*Snapshot{
		"NewBalancer": NewBalancer().Snapshot(),
		"no backends": mustSnapshot(t, nil),
		"all down":    mustSnapshot(t, []Backend{{Endpoint: "tcp://a:1", State: Down}}),
		"none ready":  mustSnapshot(t, []Backend{{Endpoint: "tcp://a:1", State: Draining}}),
	} {
		t.Run(name, func(t *testing.T) {
			if name != "none ready" {
				if m := s.Lookup(1); m != nil {
					t.Errorf("Lookup(1) = %v; want nil", m)
				}
				if got := s.Candidates(1, nil); len(got) != 0 {
					t.Errorf("Candidates(1) = %v; want none", got)
				}
			}
			if m := s.Pick(); m != nil {
				t.Errorf("Pick() = %v; want nil", m)
			}
			got := s.PickCandidates(nil)
			if want := len(s.draining); len(got) != want {
				t.Errorf("PickCandidates() = %v; want the %d draining members", got, want)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	bs := []Backend{
		{Endpoint: "unix:/run/meteor.sock.2.sock", State: Down},
		{Endpoint: "tcp://10.0.0.5:3000", Weight: 3},
		{Endpoint: "unix:/run/meteor.sock.1.sock", State: Draining},
	}
	s := mustSnapshot(t, bs)
	if got := s.Len(); got != 3 {
		t.Errorf("Len() = %d; want 3", got)
	}
	var got []Backend
	for _, m := range s.Members() {
		got = append(got, m.Backend())
	}
	want := []Backend{
		{Endpoint: "tcp://10.0.0.5:3000", Weight: 3},
		{Endpoint: "unix:/run/meteor.sock.1.sock", Weight: DefaultWeight, State: Draining},
		{Endpoint: "unix:/run/meteor.sock.2.sock", Weight: DefaultWeight, State: Down},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Members() = %v; want %v", got, want)
	}
}

// TestOrderIndependence asserts that the same set given in any order gives
// the same Lookup and Candidates.
func TestOrderIndependence(t *testing.T) {
	bs := goldenBackends()
	ref := mustSnapshot(t, bs)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := slices.Clone(bs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		s := mustSnapshot(t, shuffled)
		if !slices.Equal(s.table, ref.table) {
			t.Fatalf("table of a shuffled set differs")
		}
		for _, h := range keyHashes(2000) {
			if got, want := endpoints(s.Candidates(h, nil)), endpoints(ref.Candidates(h, nil)); !slices.Equal(got, want) {
				t.Fatalf("Candidates(%#x) of a shuffled set = %v; want %v", h, got, want)
			}
		}
	}
}

func endpoints(ms []*Member) []string {
	var e []string
	for _, m := range ms {
		e = append(e, m.backend.Endpoint)
	}
	return e
}

// checkOrder asserts the shape both candidate orders share: distinct
// members, every Ready one, then the Draining ones, no Down one.
func checkOrder(t *testing.T, name string, s *Snapshot, got []*Member) {
	t.Helper()
	seen := map[*Member]bool{}
	for i, m := range got {
		if seen[m] {
			t.Fatalf("%s: %s appears twice in %v", name, m, got)
		}
		seen[m] = true
		if m.backend.State == Down {
			t.Fatalf("%s: down member %s in %v", name, m, got)
		}
		if i > 0 && m.backend.State == Ready && got[i-1].backend.State == Draining && i-1 > 0 {
			t.Fatalf("%s: ready %s after draining %s in %v", name, m, got[i-1], got)
		}
	}
	for _, m := range s.members {
		if m.backend.State != Down && !seen[m] {
			t.Fatalf("%s: %s (%s) missing from %v", name, m, m.backend.State, got)
		}
	}
}

func TestCandidates(t *testing.T) {
	for _, n := range []int{1, 2, 5, 40, 1100, 4200} {
		bs := backends(n)
		for i := range bs {
			switch i % 7 {
			case 3:
				bs[i].State = Draining
			case 5:
				bs[i].State = Down
			}
		}
		s := mustSnapshot(t, bs)
		for _, h := range keyHashes(200) {
			got := s.Candidates(h, nil)
			if got[0] != s.Lookup(h) {
				t.Fatalf("backends=%d: Candidates(%#x)[0] = %s; want Lookup = %s", n, h, got[0], s.Lookup(h))
			}
			checkOrder(t, "Candidates", s, got)
		}
	}
}

// TestCandidatesSpread asserts that the keys of one member spread over the
// others as second candidates roughly in proportion to their shares,
// rather than all falling onto one neighbour.
func TestCandidatesSpread(t *testing.T) {
	s := mustSnapshot(t, backends(10))
	victim := s.members[0]
	second := map[*Member]int{}
	total := 0
	for _, h := range keyHashes(200_000) {
		if c := s.Candidates(h, nil); c[0] == victim {
			second[c[1]]++
			total++
		}
	}
	for _, m := range s.members[1:] {
		if got := float64(second[m]) / float64(total); got < 0.8/9 || got > 1.2/9 {
			t.Errorf("%s is second for %.4f of %s's keys; want 1/9 within 20%%", m, got, victim)
		}
	}
}

func TestPickCandidates(t *testing.T) {
	bs := backends(20)
	for i := range bs {
		switch i % 4 {
		case 1:
			bs[i].State = Draining
		case 2:
			bs[i].State = Down
		}
	}
	s := mustSnapshot(t, bs)
	for range 100 {
		got := s.PickCandidates(nil)
		if got[0].backend.State != Ready {
			t.Fatalf("PickCandidates()[0] = %s (%s); want a ready member", got[0], got[0].backend.State)
		}
		checkOrder(t, "PickCandidates", s, got)
	}
}

func TestAliasTable(t *testing.T) {
	for _, weights := range [][]int64{{1}, {1, 1}, {1, 2, 3}, {7, 1, 1, 1, 1, 1, 1, 1, 1, 100}, {65536, 1}} {
		a := newAliasTable(weights)
		// The probability of index i is the sum over columns of the part
		// of the column that yields i; compare exactly in units of 2^-64/n.
		var total float64
		for _, w := range weights {
			total += float64(w)
		}
		p := make([]float64, len(weights))
		for c := range weights {
			k := float64(a.keep[c]) / (1 << 64)
			p[c] += k
			p[a.alias[c]] += 1 - k
		}
		for i, w := range weights {
			got, want := p[i]/float64(len(weights)), float64(w)/total
			if d := got - want; d > 1e-12 || d < -1e-12 {
				t.Errorf("alias table %v: P(%d) = %v; want %v", weights, i, got, want)
			}
		}
	}
}

func TestMemberCounters(t *testing.T) {
	s := mustSnapshot(t, backends(2))
	m := s.Members()[0]
	m.Acquire()
	m.Acquire()
	m.Release()
	if got := m.Active(); got != 1 {
		t.Errorf("Active() after 2 Acquire and 1 Release = %d; want 1", got)
	}
	if got := s.Members()[1].Active(); got != 0 {
		t.Errorf("Active() of the other member = %d; want 0", got)
	}
}
