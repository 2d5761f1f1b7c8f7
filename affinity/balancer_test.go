package affinity

import (
	"errors"
	"sync"
	"testing"
)

func TestBalancerKeepsCounters(t *testing.T) {
	b := NewBalancer()
	bs := backends(3)
	if err := b.Update(bs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	old := b.Snapshot()
	for _, m := range old.Members() {
		m.Acquire()
	}
	old.Members()[2].Acquire()

	// Reweight one, drain another, add a fourth: counts follow endpoints.
	bs[0].Weight = 5
	bs[1].State = Draining
	bs = append(bs, backends(4)[3])
	if err := b.Update(bs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := map[string]int64{bs[0].Endpoint: 1, bs[1].Endpoint: 1, bs[2].Endpoint: 2, bs[3].Endpoint: 0}
	for _, m := range b.Snapshot().Members() {
		if got := m.Active(); got != want[m.Backend().Endpoint] {
			t.Errorf("after Update, %s Active() = %d; want %d", m, got, want[m.Backend().Endpoint])
		}
	}
	// A release on the old snapshot's member reaches the new one.
	old.Members()[2].Release()
	if got := b.Snapshot().Members()[2].Active(); got != 1 {
		t.Errorf("after Release on the old member, Active() = %d; want 1", got)
	}

	// An endpoint that leaves with open connections finds them on return;
	// one that leaves idle starts again from zero.
	if err := b.Update(bs[1:3]); err != nil {
		t.Fatalf("Update: %v", err)
	}
	old.Members()[0].Release() // bs[0] now idle, gone
	if err := b.Update(bs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := b.Snapshot().Members()[2].Active(); got != 1 {
		t.Errorf("%s back after leaving busy: Active() = %d; want 1", bs[2].Endpoint, got)
	}
	if err := b.Update(bs[1:]); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := b.Update(bs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := b.Snapshot().Members()[0].Active(); got != 0 {
		t.Errorf("%s back after leaving idle: Active() = %d; want 0", bs[0].Endpoint, got)
	}
}

func TestBalancerUpdateError(t *testing.T) {
	b := NewBalancer()
	if err := b.Update(backends(2)); err != nil {
		t.Fatalf("Update: %v", err)
	}
	before := b.Snapshot()
	err := b.Update([]Backend{{Endpoint: "tcp://a:1"}, {Endpoint: "tcp://a:1"}})
	if !errors.Is(err, ErrInvalidSet) {
		t.Errorf("Update(duplicates) = %v; want an error wrapping ErrInvalidSet", err)
	}
	if b.Snapshot() != before {
		t.Errorf("a failed Update replaced the snapshot")
	}
}

// TestBalancerConcurrent runs lookups, picks and counters against updates;
// it is meant for -race, and asserts that the counters balance out.
func TestBalancerConcurrent(t *testing.T) {
	b := NewBalancer()
	bs := backends(8)
	if err := b.Update(bs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			dst := make([]*Member, 0, 16)
			for i := uint64(g); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := b.Snapshot()
				p := s.Pick()
				if p != nil {
					p.Acquire()
				}
				if m := s.Lookup(mix64(i)); m == nil {
					t.Errorf("Lookup on a non-empty set = nil")
					return
				}
				dst = s.Candidates(mix64(i), dst[:0])
				if p != nil {
					p.Release()
				}
			}
		})
	}
	for i := range 6 {
		if err := b.Update(bs[i%3:]); err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	for _, m := range b.Snapshot().Members() {
		if got := m.Active(); got != 0 {
			t.Errorf("%s Active() after every release = %d; want 0", m, got)
		}
	}
}

// TestBalancerReusesTable asserts that an Update that only drains or
// readies backends keeps the table, and one that changes a weight or the
// membership builds a new one.
func TestBalancerReusesTable(t *testing.T) {
	b := NewBalancer()
	bs := backends(5)
	update := func(bs []Backend) []uint16 {
		t.Helper()
		if err := b.Update(bs); err != nil {
			t.Fatalf("Update: %v", err)
		}
		return b.Snapshot().table
	}
	first := update(bs)
	bs[2].State = Draining
	if got := update(bs); &got[0] != &first[0] {
		t.Errorf("draining a backend rebuilt the table")
	}
	bs[3].Weight = 2
	if got := update(bs); &got[0] == &first[0] {
		t.Errorf("changing a weight kept the table")
	}
	bs[3].State = Down
	second := b.Snapshot().table
	if got := update(bs); &got[0] == &second[0] {
		t.Errorf("taking a backend down kept the table")
	}
}
