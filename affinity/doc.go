// Package affinity decides which backend a new connection goes to.
//
// A Balancer holds an immutable Snapshot of one service's backend set and
// swaps in a new one on every Update; the engine reads Snapshot() per
// connection and never waits for an Update. Two kinds of traffic use it:
//
//   - Keyed traffic (SockJS polling and streaming transports, sticky
//     cookies): every balancer process must send a session to the same
//     backend without talking to the others. Lookup(HashKey(key)) answers
//     from a consistent-hash table that depends only on the current set.
//   - Keyless traffic (a WebSocket carries its whole session on one
//     connection): Pick places it by load, the less busy of two random Ready
//     backends.
//
// When a dial fails, Candidates and PickCandidates give the order in which
// to try the others. A Sessions remembers where each live key went, so
// that a change of the set does not move running sessions.
//
//	b := affinity.NewBalancer()
//	if err := b.Update(backends); err != nil { ... } // on every registry change
//
//	s := b.Snapshot() // per connection
//	var m *affinity.Member
//	if key != nil {
//		m = s.Lookup(affinity.HashKey(key))
//	} else {
//		m = s.Pick()
//	}
//	if m == nil { ... } // no backend
//	m.Acquire()
//	defer m.Release()
//
// # Keys: a Maglev table
//
// The keyed table is Maglev's (Eisenbud et al., NSDI 2016) with TableSize
// = 655373 rows, weighted by letting each backend claim rows in proportion
// to its weight. A key goes to row HashKey(key)*TableSize>>64. The table is
// a function of the set alone (Endpoints, weights, which are not Down): the
// permutations hash the Endpoint and the turns follow Endpoint order, so
// balancers that saw different histories of the set agree.
//
// The figures below come from go test -run 'Disruption|Table' -v
// ./affinity and BenchmarkTableChoice; docs/affinity-measurements.md keeps
// the full tables.
//
// Rendezvous and ring tables move exactly the keys they must, but their
// shares are random: at N = 100 they sit at or past the 1.05 balance bound
// that Maglev meets by construction, and weights would multiply their
// points or need floating-point logarithms, which are not bit-identical
// across architectures. Maglev's excess disruption grows with N at a fixed
// table size; 655373 rows keep it within 1.2x up to N = 100 at a build
// cost well under 50 ms and 1.3 MB of uint16 rows. A larger table helps N
// = 1000 (2.3x at 2000003 rows) but costs four times the build and cache
// footprint for every deployment, and this balancer's deployments have
// tens of backends. Changing TableSize later breaks the stability promise.
//
// # Stability promise
//
// HashKey (XXH64, seed 0), TableSize, the row mapping, the permutations
// (XXH64 of the Endpoint and SplitMix64 of that) and the fill order are
// part of the wire-level contract between balancer versions: a change
// moves sessions between backends when old and new balancers run side by
// side. The Candidates order is pinned too, so that balancers agree on
// where a session goes while its backend fails to answer. testdata/golden.txt pins them; TestGolden fails on any change, and
// regenerating it (go test -run Golden -update) is a breaking change to be
// announced.
//
// # Keyless: two random choices
//
// Pick draws two Ready members at random in proportion to their weights
// (an alias table, O(1)) and takes the one with fewer active connections
// per unit of weight. Plain least-connections would need a consistent view
// of every counter: with several event loops picking at once they all see
// the same minimum and pile onto it. Two random choices need two atomic
// loads, tolerate stale counts and still keep the maximum load within a
// few connections of the mean (Mitzenmacher 2001): under 100,000
// long-lived connections max/mean is 1.0001 at N = 10, 1.001 at N = 100
// and 1.02 at N = 1000, and 1.0006 with weights 1 (x9) and 100. The counters
// are per member, one cache line each, updated with atomic adds by
// Acquire and Release; no global lock exists.
//
// # States
//
// Ready members take keyed and keyless traffic. Draining members stay in
// the keyed table with their full weight, so the sessions they hold keep
// reaching them and no other session moves (the Balancer does not even
// rebuild the table), but Pick never chooses them; they come last in both
// candidate orders, as a last resort, and make up the whole of
// PickCandidates when nothing is Ready. With a Sessions, new keys skip
// them too: only the sessions remembered on them keep reaching them. Down
// members are left out of the table, exactly as if removed (their keys
// move, no others beyond the disruption above), and receive nothing; they
// stay in Members so that their counters survive a flap.
//
// # Runtime state
//
// Between two updates, health checking (package health) marks a member
// down with Member.SetDown and ramps a returning one with Member.SetShare;
// both live in the member's counter, per Endpoint, like the active count.
// A member down at runtime keeps its table rows, so nothing is rebuilt and
// no other key moves: Candidates and PickCandidates leave it out, the
// others keeping their order, so its keys go to their next candidate; if
// every member they would list is down, they list them all. Sessions
// holds no session on it (Member.Usable). A count shared by the
// Balancer's snapshots says whether any member is down or ramping; while
// none is, the data path reads that one atomic and nothing else.
//
// # Session memory
//
// The table moves about 1/N of all keys when a backend joins, and that is
// fatal to a running SockJS polling or streaming session: its next request
// reaches an instance that does not know it. Sessions is a bounded memory
// in front of the table, one per process:
//
//	mem := affinity.NewSessions(1<<18, affinity.DefaultSessionIdle)
//	cands := mem.Candidates(b.Snapshot(), hash, now, dst) // route
//	...                                                   // connect to cands[0], or the next one that answers
//	mem.Remember(hash, m, now)                            // m: where the request went
//
// Routing a key:
//
//   - Remembered, and its backend is in the set and usable (not Down): that
//     backend, whatever the table says now. A Draining backend keeps the
//     sessions it has.
//   - Otherwise (a new key, an expired one, or one whose backend left or
//     is Down): the first candidate that is Ready, in Candidates order, so
//     a Draining backend gets no new sessions, and the keys of a backend
//     that left go to their next candidate, where every balancer sends
//     them.
//
// Remember, called for every request with the backend that took it,
// records it and refreshes the entry: after a connect fallback that is
// not the table's first choice, and the session stays on the fallback when
// its first choice comes back. A key with no request for the idle time
// (DefaultSessionIdle, above SockJS's 25 s poll and Meteor's 60 s
// disconnect delay) is forgotten.
//
// An entry is one 8-byte word: 32 bits of the key's hash (its tag), a
// 16-bit backend id and the 16-bit time of the last request, in units of
// 1/129 to 1/256 of the idle time. A sweep of the whole memory every
// 8192 units (over an hour by default), done by the call that finds it
// due, keeps these times from wrapping: about 2 ms per million entries
// (loaded machine). Eight entries make a
// bucket of one cache line. A key may live in two buckets: its primary
// one while that holds fewer than six live entries, else the emptier of
// the two; when both are full it evicts the least recently used of their
// sixteen entries. A lookup reads the primary bucket, and the other only
// when the key is not there (about 5% of the keys of a memory half
// full). The capacity is a hard bound, allocated once; from 2 MiB on,
// on Linux, it is mapped on its own and advised to use transparent huge
// pages. With many live keys a lookup is a cache miss, and a keyed
// request pays most of that miss for the memory: the rest of its work is
// too long for the processor to overlap the misses of consecutive
// requests, as it does for lookups alone (BenchmarkSessions). Half
// full, no new key finds both buckets full while other buckets have room
// (in 3 million keys); at three quarters, about 0.04%:
// keep the capacity at twice the sessions alive at once. An evicted live
// session only moves if the set changes before its next request, and
// then only if the table moved its key. Two keys with the same tag in
// the same buckets share an entry: a new key takes another's backend
// with a probability of about 2^-28 (16 entries of 32-bit tags).
//
// One memory serves every event loop, without locks: a reader loads an
// entry's word once and sees it whole, a writer replaces it with a
// compare-and-swap. A
// memory per loop would need no shared writes, but the requests of one
// session arrive on different connections, so on different loops, and
// loops that had not seen a session before a change would send it where
// the table says: one process would disagree with itself like two
// balancers do (below). BenchmarkSessionsParallel measures the shared
// memory from two cores against one memory per core.
//
// # When two balancers disagree
//
// Balancers do not share their memories. Two balancers with the same set
// send a key to the same backend, except:
//
//   - A session that one of them has not routed before the set changed,
//     and whose request after the change reaches it: it does not remember
//     the key and routes it as new, to its first Ready candidate in the new
//     set. The other keeps it where it lives. After a join this is the key's
//     new table owner (about 1/N of keys); after a drain, another backend
//     than the draining one that holds the session.
//   - A session opened between the moments the two apply a change (each
//     reads the registry on its own schedule): the one that has applied it
//     already routes by the new set, the other by the old.
//   - A session one of them has forgotten: it was evicted (the memory is
//     too small: watch the evictions), its requests were further apart than
//     the idle time, or that balancer restarted.
//   - A backend that refuses one balancer's connections and not the
//     other's: each remembers where its own connect walk ended.
//
// A client that keeps its connections to one balancer (DNS round robin:
// a browser resolves once) never meets the first two. Behind something
// that spreads each connection over the balancers (a layer-4 load
// balancer), a session is seen by both once its requests have used
// connections to both; a client that reuses its most recently freed
// connection first (Node's HTTP agent does) can keep a polling session on
// one balancer for a long time.
//
// # Runtime overlays
//
// An operator can drain a backend or change its weight at run time
// (Balancer.Drain, Undrain, SetWeight, ResetWeight; the admin API calls
// them). An overlay is laid over the discovered set on every Update and
// whenever it changes, so discovery cannot undo it; it lasts until it is
// undone or the process ends (it is not stored anywhere). A drain reuses
// the table: no session moves.
//
// # What it does not do
//
// It does not probe backends: states come from the registry, runtime
// state from package health. A Snapshot does not remember sessions:
// without a Sessions, a key follows the table, so a session whose backend
// is removed moves, and one whose backend returns moves back. Sessions are not shared between processes. It does
// not limit connections per backend. Weights are relative integers in [0,
// MaxWeight]; a set is at most MaxBackends backends.
package affinity
