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
// to try the others.
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
// Measured with 1,000,000 keys (go test -run 'Disruption|Table' -v;
// BenchmarkTableChoice compares the alternatives), machine shared, build
// times of the order of magnitude only:
//
//	adding 1 backend to N moves x the ideal 1/(N+1):
//	  N = 3: 1.001   N = 10: 1.002-1.007   N = 100: 1.13-1.14   N = 1000: 4.2-4.4
//	removing 1 of N moves its own keys and of the others:
//	  N = 3: <= 0.005%   N = 10: <= 0.065%   N = 100: <= 0.14%   N = 1000: <= 0.33%
//	table shares, equal weights: max/mean <= 1.00014 for every N <= 100, 1.001 at N = 1000
//	weights 1:2:3: shares 0.166667, 0.333334, 0.499999
//	build (NewSnapshot), medians: ~11 ms (N = 3), ~20-27 ms (N = 100), ~25 ms (N = 1000)
//	Lookup: ~4 ns, 0 allocs, at every N (8 ns at N = 1000 on a loaded machine)
//	Pick: ~18-24 ns, 0 allocs; Acquire+Release ~5 ns
//	Candidates, all members: ~50 ns (N = 3), ~190 ns (10), ~450 ns (100), ~3.2 us (1000)
//	PickCandidates: ~52 ns (N = 3), ~65 ns (10), ~205 ns (100), ~1.6 us (1000)
//	an Update that only drains or readies: ~1.5 us (N = 3) to ~0.5 ms (1000)
//
// The alternatives, measured with BenchmarkTableChoice on the same keys
// and endpoints (equal weights; add/ideal when one backend joins N, others
// moved when one of N leaves, max/mean of the row shares, build time):
//
//	table                N=100: add  others  max/mean  build   N=1000: add  others  max/mean  build
//	maglev 65537                1.58  0.57%   1.001     2 ms          6.72  0.63%   1.007     2 ms
//	maglev 655373 (chosen)      1.13  0.13%   1.000    22 ms          4.20  0.33%   1.001    27 ms
//	maglev 2000003              1.10  0.08%   1.000    92 ms          2.32  0.14%   1.000    92 ms
//	rendezvous 65536 (GLB)      1.01  0       1.079    37 ms          0.94  0       1.480    93 ms
//	ring 1024 pts, 655373 rows  0.96  0       1.058     5 ms          1.00  0       1.105    14 ms
//	ring 4096 pts, 655373 rows  1.00  0       1.047    12 ms          1.00  0       1.114    37 ms
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
// PickCandidates when nothing is Ready. Down members are left out of the
// table, exactly as if removed (their keys move, no others beyond the
// disruption above), and receive nothing; they stay in Members so that
// their counters survive a flap.
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
// It does not probe backends: states come from the registry. It does not
// remember sessions: a key follows the table, so a session whose backend
// is removed moves, and one whose backend returns moves back. It does not
// limit connections per backend. Weights are relative integers in [0,
// MaxWeight]; a set is at most MaxBackends backends.
package affinity
