// Package engine is l4lb's data plane: it accepts client connections on
// TCP addresses and UNIX socket paths, sniffs each HTTP request head
// (package sniff), routes it (package affinity), connects to the chosen
// backend and pipes bytes both ways until either side is done.
//
// # Usage
//
//	b := affinity.NewBalancer()
//	b.Update([]affinity.Backend{{Endpoint: "tcp://10.0.0.5:3000"}, {Endpoint: "unix:/run/meteor.sock.1.sock"}})
//	s, err := engine.New(engine.Config{Listen: []string{":8080"}, Balancer: b, Logger: logger})
//	if err != nil { ... }
//	if err := s.Start(); err != nil { ... }
//	...
//	s.Shutdown(ctx) // stop accepting, drain until ctx is done
//
// # Model
//
// The server runs Config.Loops event loops, each an epoll set served by
// one goroutine (golang.org/x/sys/unix; see "Threads" below). A TCP address with a fixed port gets
// one SO_REUSEPORT listening socket per loop, so the kernel spreads new
// connections over the loops; a UNIX path, or a TCP port 0 (tests), is
// bound once and polled by all loops with EPOLLEXCLUSIVE. A connection
// stays on the loop that accepted
// it, together with its backend connection: no locks, no goroutine per
// connection, no hand-off between loops.
//
// A connection is a small state machine (conn_linux.go):
//
//	accept -> sniff the first head (header timeout)
//	       -> route: a key (sticky cookie or SockJS session) is hashed to
//	          its backend; keyless requests go by load
//	       -> an idle connection to the candidate parked in the loop's
//	          pool, or a non-blocking connect (connect timeout); a
//	          refusing or silent candidate is skipped for the next in
//	          affinity's order
//	       -> PROXY v1/v2 header if configured, then the sniffed bytes
//	          (with an X-Forwarded-For line if configured)
//	       -> HTTP: every later head on the keep-alive connection is
//	          found by following request framing (Content-Length,
//	          chunked), sniffed and routed again (httpflow.go); a 101
//	          answer to an Upgrade request, or a first request that is
//	          not HTTP at all, turns the pair into a raw tunnel
//	       -> close both (or park an idle, reusable backend connection),
//	          release the backend's active-connection count
//
// Responses stay in order: the next request goes to a backend only after
// the previous response has ended (response framing is tracked: length,
// chunked, HEAD/204/304/1xx without body, until-close). A pipelining
// client is therefore served one request at a time, never misrouted. When
// a request's key lives on another backend than the connection's current
// one, the old backend connection is parked for reuse if it is idle and
// reusable, closed otherwise (see "Backend connection reuse"); a client
// connection still holds at most two fds.
//
// An exchange that closes the connection ends it on the client's side too:
// when the request said "Connection: close" (or was HTTP/1.0 without
// keep-alive) or the response did, the balancer shuts the client
// connection's write side once the response has reached it, drains what
// the client still sends (up to 2 s) and closes, as the backend itself
// would (RFC 9112 §9.6). A client that reads until the close therefore
// sees the end; a request pipelined behind the closing one is not served.
// (Until 2026-11-30 the balancer closed only the backend side and waited
// for the client: such a client hung until a timeout.)
//
// Bytes that are not HTTP (a raw TCP protocol) are piped to a backend
// chosen by load: l4lb is a layer-4 balancer. Protocols where the server
// speaks first are not supported: a connection that sends nothing is
// closed by the header timeout.
//
// # Data path and memory bounds
//
// Each direction moves bytes only while they are in flight: it borrows a
// 64 KiB buffer from the loop's pool (HTTP, where heads are parsed) or a
// pipe for splice(2) (tunnels), and returns it as soon as the destination
// took everything. While a destination answers EAGAIN, its source's read
// interest is dropped until the destination is writable again, so a
// connection never holds more than one buffer or pipe per direction
// whatever its peers do, and TCP flow control pushes back on the fast
// peer. An idle connection holds no buffer, no pipe and no HTTP state: its
// two sockets and a 336-byte struct. TestIdleScale measures about 0.8 KiB
// of balancer RSS per idle upgraded connection (5000 connections, 2 fds
// each), against 3.3-4.7 KiB for HAProxy on this machine.
//
// Half-close is propagated (a FIN from one side becomes shutdown(SHUT_WR)
// on the other once the bytes before it are delivered); a reset is
// propagated as a reset (SO_LINGER 0). Timeouts live in one sorted list per
// kind and loop (timer.go), not in a goroutine or runtime timer per
// connection.
//
// # Which data path: splice for tunnels, a pooled buffer for HTTP
//
// HTTP traffic goes through the pooled buffer because its heads and
// chunked bodies must be parsed anyway. For tunnels (upgraded WebSockets,
// raw TCP) both paths were measured: TestDataPathCost (run with
// L4LB_MEASURE=1) runs the balancer as a child process on one loop and
// reads its CPU time from /proc while an echo round trip of each size, or
// a 4 GiB download, goes through it. On this project's 2-core machine,
// shared with other work at the time (so absolute figures are noisy):
//
//	balancer CPU per echo round trip   splice          buffer     (two runs)
//	16 B                               25.5 / 29 µs    25 / 28 µs
//	1 KiB                              26.5 / 26 µs    25.5 / 27 µs
//	16 KiB                             70 / 60 µs      90 / 55 µs
//	64 KiB                             110 / 100 µs    120 / 115 µs
//	bulk download, CPU s per GiB       0.285 / 0.287   0.370 / 0.480
//	bulk download, MiB/s               1828 / 1423     1483 / 1239
//
// Frames up to 16 KiB cost the same either way within the noise (two
// syscalls per hop in both paths; the loopback TCP work dominates), and
// splice is clearly cheaper for bulk (25-40% less CPU per GiB), so tunnels
// use splice for every size: a mix by size would add a branch and a
// FIONREAD per read for no measurable gain at the small end.
//
// # X-Forwarded-For
//
// Meteor learns the client's address only from X-Forwarded-For
// (HTTP_FORWARDED_COUNT), not from a PROXY header. With
// Config.ForwardedFor, every request head sent to a backend gets the line
// "X-Forwarded-For: <client IP>" just before its final blank line, ending
// like that blank line (CRLF, or LF for a bare-LF head). A line the client
// sent stays where it was, so ours is the last one and a receiver counting
// from the right (HTTP_FORWARDED_COUNT=1) gets the address l4lb saw; a
// backend reading the leftmost value reads what the client chose to send.
// UNIX-socket clients get no line.
//
// The client's buffer is not shifted: the head goes out in one writev(2)
// of three pieces (the head up to its blank line, the line, the rest), and
// the buffer's offsets stay the client's, so body framing and the search
// for the next head are untouched (forwardedfor.go). The line is formatted
// once per connection at accept, into the connection's HTTP state; a
// request costs no allocation either way (TestAllocs). Measured on this
// project's shared 2-core machine (load 5-10 at the time), the cost is
// below the noise:
//
//	per keep-alive request                 off              on
//	balancer CPU, TestForwardedForCost     32.2 µs          31.9 µs
//	  (median of 6 rounds of 50000; child process, one loop; rounds
//	  ranged 28.6-36.2 off, 27.4-36.0 on)
//	BenchmarkHTTPKeepAlive wall time       131.6 / 100.9 µs 110.5 / 124.8 µs
//	  (medians of -count 5, two runs; l4lb-splice against
//	  l4lb-forwardedfor; the in-process net/http backend also parses one
//	  more header: 22 allocs/op against 21 on the client+backend side)
//
// The balancer's per-request work is a handful of syscalls (epoll_wait,
// read and write each way); writev with three pieces instead of write
// with one, and about 30 more bytes over loopback, do not show.
//
// # Connecting
//
// A backend connect is non-blocking, but a loopback or LAN handshake has
// usually finished by the time connect(2) returns EINPROGRESS. The loop
// therefore asks poll(2) with a zero timeout at once: writable with no
// error means established (no getsockopt(SO_ERROR)), and the request
// goes out in the same turn; an error or hangup is read from SO_ERROR and
// the next candidate is tried; only a connect still in progress waits for
// EPOLLOUT under the connect timeout. Per new connection that is one
// poll instead of an epoll round trip, three epoll_ctl calls (the
// backend's EPOLLOUT then EPOLLIN, the client's read interest taken out
// and put back) and the getsockopt: strace -c on the bench's connrate
// scenario, 5 epoll_ctl per connection before and 2 after (HAProxy: 2).
// Balancer CPU per connection in 4 alternating connrate runs
// (go run ./bench --scenarios connrate --targets l4lb --l4lb-bin <binary>):
// 138, 132, 141, 134 µs before, 124, 124, 141, 115 µs after.
//
// # Backend connection reuse
//
// Browser tabs share a few keep-alive connections, so SockJS sessions on
// different backends alternate on one client connection and nearly every
// request switches backends. Each loop therefore keeps a pool of idle
// backend connections keyed by endpoint (reuse_linux.go), as HAProxy's
// "http-reuse safe" does. A backend connection is parked when a switch
// leaves it behind, or when its client closes between requests, if the
// last response ended cleanly with keep-alive semantics (not "Connection:
// close", not HTTP/1.0 without keep-alive, not delimited by the close),
// nothing is in flight either way, and no PROXY header was ever sent on it:
// with a PROXY header on (Config.ProxyProtocol, or the backend's own
// affinity.Backend.ProxyProtocol) nothing is ever parked, as
// the header binds the connection to one client. A request that needs a
// connection to a candidate (a switch, or a connection's first request)
// takes the newest parked one for it instead of connecting; Stats
// BackendReuses counts these, BackendConnects only real connects.
//
// A parked connection keeps read interest, so a FIN, a reset or any byte
// from its backend closes it at once; at most 8 are kept per backend and
// loop (parking a 9th closes the oldest), and one unused for 2 s is closed
// by the loop's timer lists, well below Node's default keepAliveTimeout of
// 5 s. The pool therefore holds at most 8 x backends x loops fds, besides
// the two fds per client connection; an upgraded connection never parks.
// A parked connection does not count as active for its backend (affinity
// Member Acquire/Release): two-choices weighs client connections, and the
// client that takes one acquires again. The keep-alive race is not
// retried: if a backend closes a connection just as it is reused (before
// any response byte), the client gets a 502 (or a reset, if the backend
// reset it), as when a connection's own backend does so; the short pool
// timeout and the read interest make that window small.
//
// Measured with the bench harness (go run ./bench --rounds 3 --targets
// l4lb,haproxy --scenarios polling,polling-1tab,connrate), medians of 3
// rounds on the shared 2-core machine (load 4-9), balancer CPU per request
// and its ratio to HAProxy's:
//
//	                  before (close on switch)     after (pool)
//	polling           75.6 µs  2.17x  0.50x req/s  38.0 / 29.7 µs  0.96 / 0.98x  0.84 / 0.95x req/s
//	polling-1tab      30.1 µs  0.79x               30.6 / 23.4 µs  0.86 / 0.78x
//
// (two "after" runs; errors and misroutes 0 in all). connrate does not
// change: its clients send "Connection: close", so no backend connection
// it used is reusable, and parking on client close never applies there.
//
// # Connection bound and running out of descriptors
//
// Config.MaxConns (default: half the open-file limit, two descriptors a
// proxied connection) bounds the client connections open at once. At the
// bound a loop takes its listening sockets out of its epoll set; new
// connections wait in the kernel's accept queue, as under HAProxy's
// maxconn, and the loop puts the sockets back as soon as the count is
// below the bound (it looks at least every 50 ms, since connections close
// on other loops too). If accept fails anyway for want of descriptors or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the loop pauses the same way
// for 100 ms: the listening sockets are level-triggered, so retrying at
// once would spin a core (measured before this rule: a balancer out of
// descriptors used 1.03 s of CPU per second; TestAcceptOutOfFds).
// Stats.AcceptPauses counts the pauses.
//
// # Inbound PROXY headers
//
// With Config.AcceptProxy every client connection must start with a PROXY
// v1 or v2 header from the front (a TLS terminator, a cloud load
// balancer); it is parsed before the first head (proxyin.go: zero
// allocations, fuzzed against go-proxyproto), never forwarded, and its
// source address becomes the client's for X-Forwarded-For, the PROXY
// header sent to backends and the logs (one small allocation per
// connection holds it). A LOCAL or UNKNOWN header (the front's own health
// checks) leaves the socket's peer as the client. A connection that does
// not start with a valid header is closed without an answer
// (Stats.ProxyInvalid), as HAProxy's accept-proxy does; the header
// timeout covers the header. With AcceptProxyFrom, only peers in those
// networks (and UNIX-socket peers) are held to this; the others are direct
// clients, as nginx's set_real_ip_from trusts only the listed sources.
//
// # Backend host names
//
// An endpoint given by name ("tcp://app1:3000") is looked up by a
// goroutine, never on the event loop, where a slow DNS server would stall
// every connection of the loop; the connection waits meanwhile, under its
// connect timeout. Addresses are kept per loop for 30 s, then refreshed in
// the background while the known one stays in use, so an instance whose
// name moves is followed and a DNS outage takes no known backend away. A
// name that does not resolve fails its candidate (the next is tried) and
// is looked up again after a second. See resolve_linux.go.
//
// # Errors answered by the engine
//
// The engine answers a minimal HTTP/1.1 response with Connection: close and
// closes: 400 for a malformed or smuggling-shaped head (both Content-Length
// and Transfer-Encoding, conflicting lengths) or for bytes that are not HTTP
// after a first HTTP request, 414 and 431 for heads over the sniffer's
// limits, 503 when the balancer has no backend, 502 when every candidate
// refused, 504 when a candidate timed out and none was left. It then drains
// the client's input for up to two seconds before closing, so the answer
// is not destroyed by a reset.
//
// # Why not gnet for accept and the first sniff
//
// The architecture proposed gnet (v2.10.0) for listening, accepting and
// the first sniff, handing the routed fd to these loops. The hand-off is
// workable: gnet's close path (eventloop_unix.go, eventloop.close) calls
// poller.Delete and close(2) only, never shutdown(2), so a Conn.Dup'd fd
// survives it. It was not taken because the engine's loops must sniff
// every later head of a keep-alive connection themselves anyway, with a
// header timeout; a gnet first sniff would be a second copy of that state
// machine, with its own timeout plumbing (gnet v2.10.0 has no per-loop
// timer: Schedule is unimplemented, OnTick is one engine-wide callback),
// and every connection would pay for the hand-off. Accepting on
// SO_REUSEPORT sockets in the engine's own loops is about 40 lines
// (listen_linux.go) and keeps one code path.
//
// TestGnetCompare measured the cost. Minimal servers in a child process
// do the same work per connection (accept, sniff a 500-byte SockJS
// xhr_send head with package sniff, write a fixed 204, close): "gnet +
// hand-off" sniffs in a one-loop gnet server, Dups the fd and posts it
// with the bytes read to a second epoll loop (mutex queue, eventfd), which
// adds it to its epoll set and answers; "gnet alone" answers on gnet's
// loop; "own loop" is the engine's way. Server CPU per connection, 16
// client goroutines, 5 alternating rounds of 20000 connections on 2
// shared cores (load average about 8), median [min-max]:
//
//	                    CPU µs/conn        conn/s             CPU / own loop, paired by round
//	gnet + hand-off     62.0 [52.0-69.0]   7479 [5662-8029]   1.94 [1.43-2.03]
//	gnet alone          38.5 [37.5-43.0]   8409 [7380-8589]   1.18 [0.90-1.26]
//	own loop            33.0 [32.0-41.5]   8645 [6709-8807]   1
//
// Most of the difference (24 of 29 µs) is the hand-off between threads:
// under strace -c -f (one sequential client) a connection costs 27.8
// system calls with it, 12.5 with gnet alone and 11.6 in the own loop;
// besides dup, epoll_ctl DEL and ADD, a second close and the eventfd
// write and read, about 6 futex calls and 2 more epoll_wait go to waking
// the other thread. Throughput is bound by the clients on the same two
// cores and differs less. Holding 5000 idle connections that sent
// nothing (no backend involved; 1 fd each in all three), gnet takes 673 B
// of RSS per connection, the real engine with one loop 877 B (793 B after
// a forced GC) and the minimal own loop 314 B: gnet would save about
// 200 B per connection that has not yet sent a head, while every routed
// connection lives in the engine either way.
//
//	L4LB_MEASURE=1 go test -run TestGnetCompare -v ./engine
//
// # Threads
//
// A loop is a plain goroutine, not locked to its OS thread, that yields
// (runtime.Gosched) before an epoll_wait once 5 ms have passed since its
// last yield (yieldEvery). Both choices are
// about the Go scheduler's monitor (sysmon): a goroutine that has not
// passed through the scheduler for 10 ms is preempted, and when it sits
// in a system call (a loop mostly sits in epoll_wait) its P is taken away
// and handed off. That costs a futex wake or two, a slower return from
// the system call, and it resets sysmon to polling every 20 µs. A loop
// locked to its thread (runtime.LockOSThread, as this engine had at
// first) cannot yield cheaply: every Gosched hands the P to another
// thread and back. Measured with the bench harness's ws-idle scenario
// (8000 WebSockets held, about 2000 echoed messages per second), the
// balancer's own threads from /proc over 6 s of holding, two runs each:
//
//	                           1 loop              2 loops
//	                           CPU s   switches    CPU s   switches
//	locked thread, no yield    1.31    29 400      1.89    57 400
//	                           1.33    29 900      1.75    58 000
//	unlocked, no yield         (not measured)      1.79    55 700
//	                                               1.78    56 000
//	unlocked, Gosched / 5 ms   0.88    11 700      1.23    18 400
//	                           0.93    11 900      1.08    20 400
//
// The bench's own figure, balancer CPU per held message, went from 154 and
// 171 µs to 91 µs in two rounds each with 2 loops. Compare two
// builds with go run ./bench --scenarios ws-idle --threads 2 --targets l4lb
// --l4lb-bin <binary>.
//
// # What it does not do
//
// It does not terminate TLS, rewrite heads beyond the optional
// X-Forwarded-For line (no Forwarded, X-Forwarded-Proto or X-Real-IP; a
// client's own X-Forwarded-For is neither removed nor trusted), cache,
// retry a request on another backend after bytes were sent, or balance
// UDP. AcceptProxy applies to every listener (AcceptProxyFrom narrows it
// by peer network, not by listener). It runs on Linux only.
package engine
