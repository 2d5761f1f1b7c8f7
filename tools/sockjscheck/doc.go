// Command sockjscheck runs real SockJS peers through l4lb and through HAProxy
// and counts the sessions that complete, transport by transport. It is the
// rerunnable evidence for the engine's rule that every request is routed,
// not only a connection's first (engine/doc.go, "A connection"): sockjs-client 1.6.1 shares keep-alive connections between
// sessions, so a balancer that routes only the first request of a connection
// sends later sessions' requests to the wrong backend and they fail.
//
// Usage, from the repository root (needs node, npm, haproxy; installs the
// pinned npm packages and the Debian haproxy package when missing):
//
//	go run ./tools/sockjscheck
//	go run ./tools/sockjscheck -sessions 20 -l4lb-log-level debug
//
// It starts three sockjs-node 0.3.24 echo backends (each echo is
// "<name>:<message>"), builds and starts l4lb, starts HAProxy in http mode
// (balance uri depth 3, hash-type consistent) as the reference, and runs an
// in-process proxy that routes only each connection's first request as the
// negative control. For each target (one backend directly, HAProxy, l4lb,
// first-request) and each transport it runs sockjs-client in Node with a
// small keep-alive pool shared by concurrent sessions, then the same from
// headless Chromium (-chromium=false skips it); a session completes when
// every message it sends comes back from one backend. It prints
// "transport | direct | haproxy | l4lb | first-request" and exits 1
// when l4lb completes fewer sessions than HAProxy for any transport, 2 when
// the check itself could not run.
//
// With -scale it checks instead what the session memory is for: sessions
// that keep running while the backend set changes. Four sockjs-node
// backends, a backends file; 20 sessions per transport (xhr-polling,
// xhr-streaming) of 500 paced messages each, all open at once. In
// join+drain a fourth backend joins the file 3 s in and an original one is
// marked draining at 6 s, then a second wave of short sessions opens; in
// fail one backend is killed before the sessions open and restarted 10 s
// later, its entry kept. Targets: l4lb, l4lb --session-memory 0, and both
// as two balancers reading the same file behind a client that alternates
// between them per connection. Then loadgen's polling scenario runs
// join+drain against Go echo backends through the same targets and counts
// misroutes. It exits 1 when a memory target loses a session on one
// balancer, sends a new session to the draining backend, or (two
// balancers) loses one for a reason the affinity package does not list.
//
// With -services it checks one l4lb in front of several services instead:
// web (three sockjs-node backends) is the default, api (two, serving
// /sockjs and /api/sockjs) is public and reached by Host and by path, jobs
// (one) is private; all six register in a fresh tools/devmongo as
// meteorhacks:cluster documents, heartbeating every second, and l4lb
// discovers them with --discovery. Node sockjs-client sessions run on each
// of the three ways (a session served by another service's backend
// fails); then jobs is asked for by Host, by path, by
// /cluster-ddp/<jobs-hash>/jobs/... and by SNI, each of which must get 404
// or a closed connection, and the jobs backend, which logs every TCP
// connection it accepts, must have logged none (a direct connection at the
// end proves that it would). TestServices runs this mode under go test;
// it skips only when node or npm is missing.
//
// Everything listens on 127.0.0.1. Every wait has a deadline and every
// process it starts is killed at the end, on failure and on SIGINT too. The
// run directory (printed at the end) keeps the backends' request logs split
// per run, "<backend> <client port> <method> <url> <status>", which show
// where each request of a failed session went.
//
// Apart from -services (TestServices), not a test: CI's go test ./...
// does not run it.
package main
