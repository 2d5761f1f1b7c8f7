package affinity

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// route is what the engine does for one keyed request: ask s for the
// candidates, send the request to the first, and remember it.
func route(s *Sessions, snap *Snapshot, hash uint64, now time.Time) *Member {
	cands := s.Candidates(snap, hash, now, nil)
	if len(cands) == 0 {
		return nil
	}
	s.Remember(hash, cands[0], now)
	return cands[0]
}

func withState(bs []Backend, endpoint string, st State) []Backend {
	out := append([]Backend(nil), bs...)
	for i := range out {
		if out[i].Endpoint == endpoint {
			out[i].State = st
		}
	}
	return out
}

func without(bs []Backend, endpoint string) []Backend {
	var out []Backend
	for _, b := range bs {
		if b.Endpoint != endpoint {
			out = append(out, b)
		}
	}
	return out
}

// TestSessionsScaleOutAndDrain follows keys through the changes of the
// issue: a fourth backend joins, an original one drains, then leaves.
func TestSessionsScaleOutAndDrain(t *testing.T) {
	n := 20000
	if raceEnabled {
		n = 5000
	}
	keys := keyHashes(n)
	now := time.Now()
	bs := backends(4)
	three, four := bs[:3], bs
	s := NewSessions(16*n, 0) // 3n keys in the end: no eviction
	bal := NewBalancer()
	update := func(set []Backend) *Snapshot {
		t.Helper()
		if err := bal.Update(set); err != nil {
			t.Fatal(err)
		}
		return bal.Snapshot()
	}

	snap := update(three)
	home := make([]string, n)
	for i, h := range keys {
		home[i] = route(s, snap, h, now).backend.Endpoint
	}

	// Join: the table moves about a quarter of the keys; none of the
	// remembered sessions moves, and new keys follow the table.
	snap = update(four)
	tableMoved := 0
	for i, h := range keys {
		if snap.Lookup(h).backend.Endpoint != home[i] {
			tableMoved++
		}
		if got := route(s, snap, h, now).backend.Endpoint; got != home[i] {
			t.Fatalf("after the join, key %d goes to %s; want %s, where it lives", i, got, home[i])
		}
	}
	t.Logf("join: the table alone would have moved %d of %d sessions", tableMoved, n)
	if tableMoved < n/5 {
		t.Errorf("join moved %d of %d keys in the table; want about a quarter (the test proves nothing otherwise)", tableMoved, n)
	}
	fresh := keyHashes(2 * n)[n:]
	for _, h := range fresh {
		if got, want := route(s, snap, h, now), snap.Lookup(h); got != want {
			t.Fatalf("new key after the join goes to %s; want the table's %s", got, want)
		}
	}

	// Drain an original backend: its sessions stay, new keys avoid it.
	drained := three[0].Endpoint
	snap = update(withState(four, drained, Draining))
	for i, h := range keys {
		if got := route(s, snap, h, now).backend.Endpoint; got != home[i] {
			t.Fatalf("after the drain, key %d goes to %s; want %s", i, got, home[i])
		}
	}
	newOnDrained := 0
	for _, h := range keyHashes(3 * n)[2*n:] {
		if route(s, snap, h, now).backend.Endpoint == drained {
			newOnDrained++
		}
	}
	if newOnDrained != 0 {
		t.Errorf("%d new keys went to the draining %s; want 0", newOnDrained, drained)
	}

	// It leaves: its sessions go where a balancer that never saw them
	// sends them, so all balancers agree.
	snap = update(without(four, drained))
	other := NewSessions(n, 0)
	for i, h := range keys {
		got := route(s, snap, h, now).backend.Endpoint
		if home[i] == drained {
			if want := route(other, snap, h, now).backend.Endpoint; got != want {
				t.Fatalf("key %d of the gone %s goes to %s; a balancer without memory sends it to %s", i, drained, got, want)
			}
		} else if got != home[i] {
			t.Fatalf("after %s left, key %d goes to %s; want %s", drained, i, got, home[i])
		}
	}
}

// TestSessionsFallbackSticks is the instance that fails and comes back:
// sessions that went to a fallback while it was away stay there.
func TestSessionsFallbackSticks(t *testing.T) {
	bs := backends(3)
	snap := mustSnapshot(t, bs)
	s := NewSessions(1024, 0)
	now := time.Now()
	keys := keyHashes(300)
	failed := snap.Members()[1]
	fallback := map[uint64]*Member{}
	for _, h := range keys {
		cands := s.Candidates(snap, h, now, nil)
		if cands[0] != failed {
			continue
		}
		// The engine's connect walk: the first refuses, the next answers.
		s.Remember(h, cands[1], now)
		fallback[h] = cands[1]
	}
	if len(fallback) == 0 {
		t.Fatal("no key of the failed backend; the test proves nothing")
	}
	// Back: the table names it again, the memory does not.
	for h, want := range fallback {
		if got := route(s, snap, h, now.Add(time.Minute)); got != want {
			t.Errorf("key %x goes to %s once %s is back; want its fallback %s", h, got, failed, want)
		}
	}
	// Down: its remembered keys go to the next candidate.
	downSnap := mustSnapshot(t, withState(bs, failed.backend.Endpoint, Down))
	for _, h := range keys {
		if snap.Lookup(h) == failed {
			s.Remember(h, failed, now)
		}
	}
	for _, h := range keys {
		if got := route(s, downSnap, h, now); got.backend.Endpoint == failed.backend.Endpoint {
			t.Fatalf("key %x stays on the down %s", h, failed)
		}
	}
}

func TestSessionsExpiry(t *testing.T) {
	bs := backends(3)
	snap := mustSnapshot(t, bs)
	const idle = 2 * time.Minute
	s := NewSessions(64, idle)
	now := time.Now()
	h := keyHashes(1)[0]
	other := s.Candidates(snap, h, now, nil)[1]
	s.Remember(h, other, now)
	for _, tc := range []struct {
		after time.Duration
		want  *Member
	}{
		{0, other},
		{idle - time.Second, other}, // refreshes
		{2*idle - 2*time.Second, other},
		{3*idle - 3*time.Second, other},
		{5 * idle, snap.Lookup(h)}, // forgotten: the table's answer
	} {
		if got := route(s, snap, h, now.Add(tc.after)); got != tc.want {
			t.Fatalf("after %v: key goes to %s; want %s", tc.after, got, tc.want)
		}
	}
	if st := s.Stats(now.Add(5 * idle)); st.Entries != 1 || st.Hits != 4 || st.Overrides != 4 || st.Misses != 2 {
		t.Errorf("Stats = %+v; want 1 entry, 4 hits, 4 overrides, 2 misses", st)
	}
	if st := s.Stats(now.Add(7 * idle)); st.Entries != 0 {
		t.Errorf("Stats().Entries after idle = %d; want 0", st.Entries)
	}
}

// TestSessionsWrap checks that a key is not brought back when its entry's
// 16-bit time wraps: at exactly one wrap after its last request, its
// stamp reads as fresh, and only the sweep can tell. "quiet" has no call
// at all in between, "busy" other keys' requests every 20 minutes.
func TestSessionsWrap(t *testing.T) {
	snap := mustSnapshot(t, backends(3))
	for _, step := range []time.Duration{0, 20 * time.Minute} {
		s := NewSessions(64, DefaultSessionIdle)
		now := time.Now()
		keys := keyHashes(2)
		h, other := keys[0], keys[1]
		m := s.Candidates(snap, h, now, nil)[1]
		s.Remember(h, m, now)
		end := now.Add(time.Duration(1<<16) << s.shift)
		if uint16(s.ticks(end)) != uint16(s.ticks(now)) {
			t.Fatalf("stamps %d and %d differ; the test wants one wrap exactly", uint16(s.ticks(end)), uint16(s.ticks(now)))
		}
		if step > 0 {
			for at := now.Add(step); at.Before(end); at = at.Add(step) {
				route(s, snap, other, at)
			}
		}
		if got := route(s, snap, h, end); got != snap.Lookup(h) {
			t.Errorf("step %v: after one wrap the key goes to %s; want %s, the table's (forgotten)", step, got, snap.Lookup(h))
		}
	}
}

// TestSessionsForever checks a memory whose keys never expire: a key
// stays remembered across hours without any request and across wraps of
// the entries' 16-bit time.
func TestSessionsForever(t *testing.T) {
	snap := mustSnapshot(t, backends(3))
	s := NewSessions(64, -1)
	now := time.Now()
	h := keyHashes(1)[0]
	m := s.Candidates(snap, h, now, nil)[1]
	s.Remember(h, m, now)
	for _, after := range []time.Duration{time.Hour, 30 * time.Hour, 100 * time.Hour, 101 * time.Hour} {
		if got := route(s, snap, h, now.Add(after)); got != m {
			t.Fatalf("after %v: key goes to %s; want %s, remembered", after, got, m)
		}
	}
	if st := s.Stats(now.Add(101 * time.Hour)); st.Entries != 1 {
		t.Errorf("Stats().Entries = %d; want 1", st.Entries)
	}
}

// TestSessionsZeroTag checks keys whose hash has zero low bits (the tag):
// they are remembered like any other.
func TestSessionsZeroTag(t *testing.T) {
	snap := mustSnapshot(t, backends(3))
	s := NewSessions(1024, 0)
	now := time.Now()
	for _, h := range []uint64{0, 1 << 32, 0xabcdef0100000000, 0xffffffff00000000} {
		m := s.Candidates(snap, h, now, nil)[1]
		s.Remember(h, m, now)
		if got := route(s, snap, h, now); got != m {
			t.Errorf("key %#x goes to %s; want %s, remembered", h, got, m)
		}
	}
}

// TestSessionsBucketAlignment checks that every bucket is one cache line:
// a lookup reads one line, not two.
func TestSessionsBucketAlignment(t *testing.T) {
	for _, n := range []int{1, 100, 1000, 1 << 18, 1<<18 + 8} {
		s := NewSessions(n, 0)
		if p := uintptr(unsafe.Pointer(&s.table.buckets[0])); p%64 != 0 {
			t.Errorf("NewSessions(%d): buckets at %#x; want a multiple of 64", n, p)
		}
		// From 2 MiB on, a table may be rounded up to a huge page.
		round := sessionWays
		if n*SessionEntryBytes >= 2<<20 {
			round = 2 << 20 / SessionEntryBytes
		}
		if got := s.Capacity(); got < n || got >= n+round || got%sessionWays != 0 {
			t.Errorf("NewSessions(%d).Capacity() = %d; want %d rounded up to a multiple of %d", n, got, n, round)
		}
	}
}

// TestSessionsBound is acceptance 5: 2 million distinct keys keep the
// memory at its bound, in entries and in bytes.
func TestSessionsBound(t *testing.T) {
	capacity, keys := 1<<18, 2_000_000
	if raceEnabled {
		capacity, keys = 1<<14, 125_000
	}
	bs := backends(3)
	snap := mustSnapshot(t, bs)
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewSessions(capacity, 0)
	if got := s.Capacity(); got != capacity {
		t.Fatalf("Capacity() = %d; want %d", got, capacity)
	}
	dst := make([]*Member, 0, snap.Len())
	for i := range keys {
		h := mix64(uint64(i))
		dst = s.Candidates(snap, h, now, dst[:0])
		s.Remember(h, dst[0], now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats(now)
	if st.Entries > capacity || st.Entries < capacity*9/10 {
		t.Errorf("Entries = %d after %d keys; want at most and near %d", st.Entries, keys, capacity)
	}
	if want := int64(keys - st.Entries); st.Evictions != want {
		t.Errorf("Evictions = %d; want %d (keys - entries)", st.Evictions, want)
	}
	if got := len(s.table.buckets) * int(unsafe.Sizeof(sessionBucket{})); got != capacity*SessionEntryBytes {
		t.Errorf("table of %d bytes; want %d (capacity x SessionEntryBytes)", got, capacity*SessionEntryBytes)
	}
	// A table of 2 MiB or more is mapped outside the heap (on Linux):
	// then the heap does not grow at all.
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	if limit := int64(capacity*SessionEntryBytes) + 1<<20; grown > limit {
		t.Errorf("heap grew by %d bytes for a capacity of %d; want at most %d", grown, capacity, limit)
	}
	t.Logf("%d keys into %d entries: %d live, %d evicted, heap +%d bytes (%.1f per entry)",
		keys, capacity, st.Entries, st.Evictions, grown, float64(grown)/float64(capacity))
	runtime.KeepAlive(s)
}

// TestSessionsLRU checks that a full memory evicts the entries that saw
// no request for longest, not the busy ones.
func TestSessionsLRU(t *testing.T) {
	snap := mustSnapshot(t, backends(3))
	capacity := 4096
	if raceEnabled {
		capacity = 1024
	}
	s := NewSessions(capacity, time.Hour)
	now := time.Now()
	busy := keyHashes(capacity / 4)
	for i := range 20 * capacity {
		at := now.Add(time.Duration(i) * time.Second)
		for _, h := range busy[i%len(busy) : i%len(busy)+1] {
			route(s, snap, h, at)
		}
		route(s, snap, mix64(uint64(i)+1<<40), at)
	}
	end := now.Add(time.Duration(20*capacity) * time.Second)
	lost := 0
	for _, h := range busy {
		if _, ok := s.table.find(h, uint16(s.ticks(end)), s.idle); !ok {
			lost++
		}
	}
	if lost > len(busy)/1000 {
		t.Errorf("%d of %d busy keys evicted by one-off keys; want at most 0.1%%", lost, len(busy))
	}
}

func TestSessionsNil(t *testing.T) {
	var s *Sessions
	if NewSessions(0, 0) != nil {
		t.Fatal("NewSessions(0, 0) != nil; want nil (off)")
	}
	snap := mustSnapshot(t, backends(5))
	for _, h := range keyHashes(100) {
		got := s.Candidates(snap, h, time.Now(), nil)
		want := snap.Candidates(h, nil)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("nil Sessions: Candidates = %v; want %v", got, want)
		}
		s.Remember(h, got[0], time.Now())
	}
	if st := s.Stats(time.Now()); st != (SessionStats{}) {
		t.Errorf("nil Sessions: Stats = %+v; want zero", st)
	}
}

// TestSessionsCandidatesOrder checks that a hit or a drain only moves one
// member to the front: the rest of the fallback order is the table's.
func TestSessionsCandidatesOrder(t *testing.T) {
	bs := backends(6)
	bs[2].State = Draining
	snap := mustSnapshot(t, bs)
	s := NewSessions(1024, 0)
	now := time.Now()
	for _, h := range keyHashes(500) {
		table := snap.Candidates(h, nil)
		got := s.Candidates(snap, h, now, nil)
		if len(got) != len(table) {
			t.Fatalf("Candidates = %v; want a permutation of %v", got, table)
		}
		first := table[0]
		if first.backend.State == Draining {
			first = table[1]
		}
		rest := make([]*Member, 0, len(table))
		for _, m := range table {
			if m != first {
				rest = append(rest, m)
			}
		}
		if want := append([]*Member{first}, rest...); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("new key: Candidates = %v; want %v", got, want)
		}
		pin := table[len(table)-1]
		s.Remember(h, pin, now)
		got = s.Candidates(snap, h, now, nil)
		rest = rest[:0]
		for _, m := range table {
			if m != pin {
				rest = append(rest, m)
			}
		}
		if want := append([]*Member{pin}, rest...); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("remembered key: Candidates = %v; want %v", got, want)
		}
	}
}

// TestSessionsConcurrent has several goroutines route overlapping keys
// through a small memory, so that entries are replaced while others read
// them: a key is never seen on a backend it was not remembered on.
func TestSessionsConcurrent(t *testing.T) {
	bs := backends(5)
	snap := mustSnapshot(t, bs)
	s := NewSessions(256, 0)
	now := time.Now()
	keys := keyHashes(2048)
	// Every key has one backend of its own, not the table's.
	own := func(h uint64) *Member { return snap.Members()[(h>>7)%uint64(snap.Len())] }
	rounds := 200
	if raceEnabled {
		rounds = 40
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			dst := make([]*Member, 0, snap.Len())
			for r := range rounds {
				for i := g; i < len(keys); i += 3 + r%2 {
					h := keys[i]
					dst = s.Candidates(snap, h, now, dst[:0])
					// A hit gives own(h), a miss the table's answer; a
					// torn entry would give another key's backend.
					want := own(h)
					if dst[0] != want && dst[0] != snap.Lookup(h) {
						select {
						case errs <- fmt.Errorf("key %x routed to %s; want %s (remembered) or %s (table)", h, dst[0], want, snap.Lookup(h)):
						default:
						}
					}
					s.Remember(h, want, now)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := s.Stats(now); st.Entries > s.Capacity() {
		t.Errorf("Entries = %d; want at most %d", st.Entries, s.Capacity())
	}
}

func TestSessionsIDRecycling(t *testing.T) {
	const idle = 1000
	v := &sessionView{names: make([]string, maxSessionIDs), gone: make([]int64, maxSessionIDs), index: map[string]uint16{}}
	for i := 1; i < maxSessionIDs; i++ {
		v.names[i] = fmt.Sprintf("tcp://10.%d.%d.1:3000", i>>8, i&255)
		v.index[v.names[i]] = uint16(i)
		v.gone[i] = -1
	}
	if id := v.allocate("tcp://new:1", 5000, idle); id != 0 {
		t.Fatalf("allocate with every id in the set = %d; want 0", id)
	}
	v.gone[7] = 4500 // left half an idle time ago: entries may still name it
	if id := v.allocate("tcp://new:1", 5000, idle); id != 0 {
		t.Fatalf("allocate = %d; want 0 while id 7 may still be named", id)
	}
	v.gone[9] = 3000
	if id := v.allocate("tcp://new:1", 5000, idle); id != 9 {
		t.Fatalf("allocate = %d; want 9, gone for two idle times", id)
	}
	if _, ok := v.index["tcp://10.0.9.1:3000"]; ok {
		t.Error("the recycled id's old endpoint is still indexed")
	}
}

// TestSessionsViewAcrossSnapshots checks that ids survive snapshots: an
// endpoint that leaves and comes back within the idle time keeps its id,
// so its entries name it again.
func TestSessionsViewAcrossSnapshots(t *testing.T) {
	bs := backends(4)
	s := NewSessions(1024, 0)
	now := time.Now()
	a := mustSnapshot(t, bs)
	b := mustSnapshot(t, bs[1:])
	c := mustSnapshot(t, bs)
	h := keyHashes(1)[0]
	s.Candidates(a, h, now, nil)
	id := s.view.Load().idOf(a.Members()[0])
	s.Remember(h, a.Members()[0], now)
	if got := route(s, b, h, now); got.backend.Endpoint == bs[0].Endpoint {
		t.Fatalf("key remembered on the gone %s still goes there", bs[0].Endpoint)
	}
	// The key now lives on its fallback; it stays there when bs[0] returns.
	fb := s.Candidates(b, h, now, nil)[0].backend.Endpoint
	if got := route(s, c, h, now).backend.Endpoint; got != fb {
		t.Errorf("after the return, key goes to %s; want its fallback %s", got, fb)
	}
	if got := s.view.Load().idOf(c.Members()[0]); id == 0 || got != id {
		t.Errorf("id of %s after leaving and returning = %d; want %d, the id it had", bs[0].Endpoint, got, id)
	}
}

// TestSessionsZeroAllocs asserts the data path's allocation behaviour.
func TestSessionsZeroAllocs(t *testing.T) {
	snap := mustSnapshot(t, backends(50))
	s := NewSessions(1<<12, 0)
	dst := make([]*Member, 0, snap.Len())
	now := time.Now()
	h := uint64(0x9e3779b97f4a7c15)
	s.Candidates(snap, h, now, dst) // builds the view of snap
	later := now
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Candidates", func() { h += 0x9e3779b97f4a7c15; dst = s.Candidates(snap, h, now, dst[:0]) }},
		{"Candidates+Remember", func() {
			h += 0x9e3779b97f4a7c15
			dst = s.Candidates(snap, h, now, dst[:0])
			s.Remember(h, dst[0], now)
		}},
		// One key, a second apart: every Remember refreshes its entry.
		{"Candidates+Remember refresh", func() {
			later = later.Add(time.Second)
			dst = s.Candidates(snap, h, later, dst[:0])
			s.Remember(h, dst[0], later)
		}},
	} {
		if got := testing.AllocsPerRun(1000, tc.f); got != 0 {
			t.Errorf("%s: %v allocs per run; want 0", tc.name, got)
		}
	}
	if w := s.table.lookupWord(h); entryStamp(w) != uint16(s.ticks(later)) {
		t.Errorf("the refreshed entry's time is %d; want %d, the last request's", entryStamp(w), uint16(s.ticks(later)))
	}
}
