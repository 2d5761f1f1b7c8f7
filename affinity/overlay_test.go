package affinity

import (
	"errors"
	"testing"
)

// states returns each member's state and weight by endpoint.
func states(s *Snapshot) map[string][2]int {
	out := map[string][2]int{}
	for _, m := range s.Members() {
		out[m.Backend().Endpoint] = [2]int{int(m.Backend().State), m.Backend().Weight}
	}
	return out
}

func TestOverlays(t *testing.T) {
	b := NewBalancer()
	bs := backends(3)
	bs[2].State = Down
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	e0, e1, e2 := bs[0].Endpoint, bs[1].Endpoint, bs[2].Endpoint

	steps := []struct {
		name string
		do   func() error
		want map[string][2]int // state, weight
	}{
		{"drain", func() error { return b.Drain(e0) },
			map[string][2]int{e0: {int(Draining), 1}, e1: {int(Ready), 1}, e2: {int(Down), 1}}},
		{"drain again", func() error { return b.Drain(e0) },
			map[string][2]int{e0: {int(Draining), 1}, e1: {int(Ready), 1}, e2: {int(Down), 1}}},
		{"drain a down backend: stays down", func() error { return b.Drain(e2) },
			map[string][2]int{e0: {int(Draining), 1}, e1: {int(Ready), 1}, e2: {int(Down), 1}}},
		{"weight", func() error { return b.SetWeight(e1, 7) },
			map[string][2]int{e0: {int(Draining), 1}, e1: {int(Ready), 7}, e2: {int(Down), 1}}},
		{"an update keeps the overlays", func() error { return b.Update(bs) },
			map[string][2]int{e0: {int(Draining), 1}, e1: {int(Ready), 7}, e2: {int(Down), 1}}},
		{"undrain", func() error { return b.Undrain(e0) },
			map[string][2]int{e0: {int(Ready), 1}, e1: {int(Ready), 7}, e2: {int(Down), 1}}},
		{"weight 0 drains", func() error { return b.SetWeight(e1, 0) },
			map[string][2]int{e0: {int(Ready), 1}, e1: {int(Draining), 1}, e2: {int(Down), 1}}},
		{"reset weight", func() error { return b.ResetWeight(e1) },
			map[string][2]int{e0: {int(Ready), 1}, e1: {int(Ready), 1}, e2: {int(Down), 1}}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := states(b.Snapshot())
		for e, w := range st.want {
			if got[e] != w {
				t.Errorf("after %s: %s (state, weight) = %v; want %v", st.name, e, got[e], w)
			}
		}
	}
	if got := b.Overlays(); len(got) != 1 || !got[e2].Drained {
		t.Errorf("Overlays() = %v; want only %s drained", got, e2)
	}
	// Discovered is the set without overlays.
	for _, d := range b.Discovered() {
		if d.State != bs[backendIndex(bs, d.Endpoint)].State {
			t.Errorf("Discovered() has %s in state %v; want the discovered %v", d.Endpoint, d.State, bs[backendIndex(bs, d.Endpoint)].State)
		}
	}
}

func backendIndex(bs []Backend, e string) int {
	for i, b := range bs {
		if b.Endpoint == e {
			return i
		}
	}
	return -1
}

// TestOverlayDrainKeepsTable checks that a drain reuses the table, so that
// no session moves and the swap is cheap.
func TestOverlayDrainKeepsTable(t *testing.T) {
	b := NewBalancer()
	bs := backends(3)
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	before := b.Snapshot()
	if err := b.Drain(bs[1].Endpoint); err != nil {
		t.Fatal(err)
	}
	after := b.Snapshot()
	if &before.table[0] != &after.table[0] {
		t.Errorf("Drain rebuilt the table")
	}
	for _, h := range keyHashes(1000) {
		if x, y := before.Lookup(h).String(), after.Lookup(h).String(); x != y {
			t.Fatalf("key %x moved from %s to %s on Drain", h, x, y)
		}
	}
	for range 100 {
		if m := after.Pick(); m.String() == bs[1].Endpoint {
			t.Fatalf("Pick() = drained %s", m)
		}
	}
}

func TestOverlayErrors(t *testing.T) {
	b := NewBalancer()
	if err := b.Update(backends(2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		is   error
	}{
		{"drain unknown", b.Drain("tcp://10.9.9.9:1"), ErrUnknownBackend},
		{"weight unknown", b.SetWeight("tcp://10.9.9.9:1", 3), ErrUnknownBackend},
		{"weight 257", b.SetWeight(backends(1)[0].Endpoint, MaxOverlayWeight+1), nil},
		{"weight -1", b.SetWeight(backends(1)[0].Endpoint, -1), nil},
	} {
		if tc.err == nil || tc.is != nil && !errors.Is(tc.err, tc.is) {
			t.Errorf("%s: error %v; want one (wrapping %v)", tc.name, tc.err, tc.is)
		}
	}
	// Undoing what was never done is no error, known endpoint or not.
	if err := b.Undrain("tcp://10.9.9.9:1"); err != nil {
		t.Errorf("Undrain(unknown) = %v; want nil", err)
	}
	if len(b.Overlays()) != 0 {
		t.Errorf("Overlays() = %v after failed changes; want none", b.Overlays())
	}
}

// TestOverlayOutlivesAbsence checks that a drained backend that leaves the
// set and comes back is still drained.
func TestOverlayOutlivesAbsence(t *testing.T) {
	b := NewBalancer()
	bs := backends(3)
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	if err := b.Drain(bs[0].Endpoint); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(bs[1:]); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
	if got := states(b.Snapshot())[bs[0].Endpoint][0]; got != int(Draining) {
		t.Errorf("drained backend back in the set: state %v; want draining", State(got))
	}
}
