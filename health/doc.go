// Package health decides, between two discovery updates, which backends
// traffic should avoid: it runs active checks, ejects backends that real
// traffic finds failing, and ramps returning backends up.
//
//	bal := affinity.NewBalancer()
//	chk := health.New(bal, health.Config{Check: check, Logger: log})
//	srv, _ := engine.New(engine.Config{Balancer: bal, Health: chk, ...})
//	go chk.Run(ctx)
//	... on every discovery change:
//	bal.Update(set)
//	chk.Update()
//
// # Active checks
//
// Each backend of the set (not Down in discovery) is checked every
// Config.Interval, jittered by ±10%, never on the engine's event loops: a
// TCP connect, or an HTTP/1.1 "GET <path>" whose status line must say 2xx
// or 3xx (Meteor answers "/", SockJS "<prefix>/info"), within
// Config.Timeout. The checks that fall due within a quarter of a second
// run together, on one goroutine with non-blocking sockets and poll(2),
// and close with a reset: 100 backends every 2 s cost well under 1% of a
// core (TestCheckCost, built with the measure tag). UNIX-socket backends are
// checked on their socket. A backend that gets a PROXY header gets one on
// its checks too: LOCAL (v2) or "PROXY UNKNOWN" (v1), the header the
// PROXY protocol specification gives health checks. Fall failed checks in
// a row take a backend down, Rise passed ones bring it up. A backend new
// to the set counts as up and goes down on its first failed check until
// one has passed. With Check.Auto (the default) checks run only while the
// set has more than one backend.
//
// A TCP check passes as long as the kernel accepts the connection, which
// it does for a process that is stopped or whose event loop is stuck: only
// an HTTP check (or the response timeout of real traffic) sees those.
//
// # Passive ejection
//
// The Checker is the engine's Config.Health. The event loops report
// connect failures, connect timeouts, backends that close or reset before
// the first byte of a response, and response timeouts, and every first
// response byte; a run of Config.EjectAfter failures with no answer
// between them ejects the backend for Config.EjectTime times the number
// of its ejections in a row (at most Config.MaxEjectTime), after which it
// returns once Rise active checks have passed since it was ejected
// (without active checks, when the time is over). At most
// Config.MaxEjectedShare of the set is ejected at once, and always one may
// be. Counting costs the loop one atomic add in the member's counter.
//
// # Down at runtime
//
// A backend down by check or ejection is marked with
// affinity.Member.SetDown: it keeps its rows of the consistent-hash table,
// so nothing is rebuilt and no other key moves, while Candidates and
// PickCandidates leave it out. A key whose backend is down goes to its
// next candidate in affinity's order, the same on every balancer that
// sees it down; keep-alive connections switch at their next request. The
// session memory (affinity.Sessions) holds no session on a member that is
// down at runtime, and remembers where its sessions went, so a session
// opened on the fallback stays there when the backend is up again; without
// it, or on a balancer that did not route the session, the key goes back
// to its backend and the session is lost. If every backend is down, every
// one is tried as if none were (see affinity.Snapshot.Candidates).
//
// # Requests waiting on a backend that went down
//
// When a backend goes down because it does not answer (a check that got
// no HTTP status line: refused, timed out, closed or reset; or any passive
// ejection), the function given to Checker.OnUnresponsive is called with
// its member; cmd/l4lb passes engine.Server.BackendDown, which answers 502
// at once to every request waiting for that backend's first response
// byte and moves connects in progress to it on to the next candidate, as
// HAProxy's "on-marked-down shutdown-sessions" does. A request in flight
// on a stopped backend thus waits at most the detection time, Fall ×
// Interval (jittered) + Timeout, instead of the response timeout. A
// backend that answers its check with a bad status is alive: what it is
// serving is left to finish. Established tunnels (WebSockets) and
// responses that have started are not closed in either case.
//
// # Slow start
//
// With Config.SlowStart, a backend that comes up or joins a running set
// takes a share of keyless traffic that grows from a tenth to all of its
// weight over that time (affinity.Member.SetShare); keyed traffic goes
// where the table says from the start.
//
// # Logs and metrics
//
// One line per transition: "backend down" (Warn) with the reason ("check"
// and the check's error, or the failure that ejected it and for how
// long), "backend up" (Info) with the reason and how long it was down,
// "backend draining" / "backend ready" when discovery changes a state.
// Stats gives every backend's state, its last active check (when it
// ended, how long that check alone took, its error), and the counters
// behind the l4lb_backend_up and l4lb_health_* metrics.
//
// # What it does not do
//
// It does not retry a failed request elsewhere, close tunnels to a
// backend that went down, check backends that discovery marks Down, or
// share what it learns with other balancers: each balancer checks for
// itself, and two of them may disagree for an interval.
package health
