// Package engine is l4lb's data plane: it accepts client connections on
// TCP addresses and UNIX socket paths, sniffs each HTTP request head
// (package sniff), routes it (package affinity), connects to the chosen
// backend and pipes bytes both ways until either side is done. It runs on
// Linux only; elsewhere New returns an error saying so.
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
// # Loops
//
// The server runs Config.Loops event loops, each an epoll set served by one
// goroutine (loop_linux.go). A TCP address with a fixed port gets one
// SO_REUSEPORT listening socket per loop, so the kernel spreads new
// connections over the loops; a UNIX path, or a TCP port 0, is bound once
// and polled by every loop with EPOLLEXCLUSIVE. A connection stays on the
// loop that accepted it, together with its backend connection: no locks,
// no goroutine per connection, no hand-off between loops. Other goroutines
// reach a loop only by posting a task to it (post).
//
// A loop is a plain goroutine, not locked to its thread, and yields to the
// scheduler every 5 ms while busy: Go's scheduler monitor takes the P of a
// goroutine that has not yielded for 10 ms, which costs thread wake-ups
// (docs/engine-measurements.md, "Threads").
//
// # A connection
//
// A connection (conn_linux.go) is two sockets, one flow per direction and
// one phase:
//
//	phProxy      the inbound PROXY header comes first (Config.AcceptProxy)
//	phSniff      no backend yet: reading the first head (header timeout)
//	phConnecting connecting to the route's candidates in order (connect timeout)
//	phExchange   a request went out; its final response has not ended
//	phIdle       keep-alive between exchanges
//	phTunnel     raw bytes both ways: after a 101, or when the first bytes are not HTTP
//	phFailing    an error answer waits for what is already on its way to the client
//	phLinger     the last response goes out, then the write side is shut and the
//	             client's input drained (at most 2 s) so a reset cannot destroy
//	             the answer; a client whose request asked to close and that sent
//	             nothing more is closed as soon as the response is out
//	phClosed
//
// A flow (flow_linux.go) holds the bytes in flight in one direction: read
// but not classified, classified and ready to be written, and bytes that
// go first (the outbound PROXY header, an error answer). While the
// connection is HTTP, each flow has a framer (framer.go): the same type
// for both directions, following heads, Content-Length bodies, chunked
// bodies and bodies delimited by the backend's close (RFC 9112 §6).
//
// Every request is routed, not only the first (http_linux.go,
// route_linux.go). Browsers reuse keep-alive connections across SockJS
// sessions, so a connection is a sequence of requests: the request framer
// finds each head, sniff makes its key, and the head is held until the
// previous exchange has ended and reached the client. Then it is routed:
// a keyed request (SockJS session, sticky cookie) to its key's first
// candidate in affinity's order, the same on every balancer, or with
// Config.Sessions to the backend the key's earlier requests went to while
// that one is usable (sessions_linux.go); a keyless one to the
// two-choices pick, or to the current backend while that is still a
// candidate. A request whose key lives elsewhere switches the
// connection to that backend. A pipelining client is therefore served one
// request at a time, never misrouted.
//
// An exchange that closes the connection (a request or response saying
// "Connection: close", HTTP/1.0 without keep-alive) ends the client
// connection after the response, as the backend would (RFC 9112 §9.6); a
// request pipelined behind it is not served.
//
// Bytes that are not HTTP are piped to a backend chosen by load: l4lb is a
// layer-4 balancer. Protocols where the server speaks first are not
// supported: a connection that sends nothing is closed by the header
// timeout.
//
// # Data path and memory bounds
//
// Each direction moves bytes only while they are in flight: it borrows a
// 64 KiB buffer from the loop's pool (HTTP, where heads are parsed) or a
// pipe for splice(2) (tunnels), and returns it as soon as the destination
// took everything. While a destination answers EAGAIN its source's read
// interest is dropped, so a connection never holds more than one buffer or
// pipe per direction whatever its peers do, and TCP flow control pushes
// back on the fast peer. An idle connection holds no buffer, no pipe and
// no HTTP state: its two sockets and its conn struct, which
// TestConnSizeClass keeps within the allocator's 352-byte size class (the
// flow offsets are int32 and the dial state lives in httpState for that
// reason). TestIdleScale checks
// the two descriptors and reports the RSS per idle upgraded connection
// (go test -run TestIdleScale -v ./engine).
//
// Tunnels splice for every size: splice costs the same as a buffer for
// small frames and clearly less for bulk (docs/engine-measurements.md,
// "Which data path"). HTTP heads, chunk-size lines and trailers go through
// the buffer, where the framer parses them; an HTTP body splices too once
// its framing says at least 16 KiB of it (Content-Length, or the current
// chunk's data) is still to come and the buffer is drained, and the framer
// counts the spliced bytes without seeing them. After a spliced chunk the
// next read stops after the next chunk-size line, so that a following
// large chunk is left in the socket for splice; small chunks are still
// read many at a time. Stats.SplicedBodyBytes counts what bypassed the
// buffer; the threshold's measurements are in docs/engine-measurements.md,
// "HTTP bodies".
//
// Half-close is propagated (a FIN from one side becomes shutdown(SHUT_WR)
// on the other once the bytes before it are delivered); a reset is
// propagated as a reset (SO_LINGER 0). Timeouts live in one sorted list
// per kind and loop (timer.go), not in a goroutine or runtime timer per
// connection.
//
// # Connecting
//
// A backend connect is non-blocking; a loopback or LAN handshake has
// usually finished when connect(2) returns, so the loop asks poll(2) with
// a zero timeout at once and goes on in the same turn when it has. A
// refused or failing candidate is skipped for the next in affinity's
// order; when none is left the client gets 502, or 504 if one timed out.
// A backend that gets a PROXY header (Config.ProxyProtocol, or the
// backend's own setting from discovery) never gets bytes without it: if
// the header cannot be built, that backend connection fails like a
// refused connect.
//
// Endpoints given by name ("tcp://app1:3000") are looked up by a
// goroutine, never on a loop (resolve_linux.go); the connection waits
// under its connect timeout. Addresses are kept per loop for 30 s, then
// refreshed in the background while the known one stays in use, so a DNS
// outage takes no known backend away.
//
// # Backend connection reuse
//
// Each loop parks idle backend connections by endpoint (reuse_linux.go),
// as HAProxy's "http-reuse safe" does: when a switch leaves a backend
// connection behind, or its client closes between requests, it is parked
// if the last response ended cleanly with keep-alive semantics, nothing is
// in flight, and no PROXY header was ever sent on it (the header binds a
// connection to one client). A request that needs a connection to a
// candidate takes the newest parked one. A parked connection keeps read
// interest, so a FIN, a reset or a stray byte closes it at once; at most 32
// are kept per backend and loop, each for at most 2 s (below Node's
// default keepAliveTimeout of 5 s). It does not count as active for its
// backend's two-choices weight. A brand-new client connection's first
// request takes a parked connection like any other request. A parked
// connection to an address its endpoint's name no longer resolves to is
// closed rather than taken, so reuse follows a backend that moved.
//
// A client that sends "Connection: close" (one request per connection)
// would leave nothing to park, since the backend would close too. As
// Connection is hop-by-hop, the backend's copy of such an HTTP/1.1
// request has the value blanked (an empty Connection list: persistent);
// the client's connection still ends after the response, and the backend
// connection is parked if the response kept it open.
//
// A backend may close an idle connection just as a request is sent on it
// (the keep-alive race: its keep-alive timeout fired while the FIN was on
// its way). So a request sent on a reused connection is kept in its
// client's buffer until the first response byte; should the connection
// end before that (EOF, a reset, a failed write), the request is replayed
// once on a fresh connection to the same backend (the next candidate if
// that connect fails), and the client never notices. Only a request still
// whole in the buffer is replayed (its head and a body that fits behind
// it, well under the 64 KiB buffer); one whose body went on is not, and
// neither is a replay: the client then gets what it would without reuse
// (502, or a reset). Connections carrying PROXY headers are never reused,
// so never replayed. Stats.BackendReuses and Stats.BackendReplays count
// both.
//
// # X-Forwarded-For and inbound PROXY headers
//
// With Config.ForwardedFor every request head sent to a backend gets
// "X-Forwarded-For: <client IP>" as its last field line, so a receiver
// counting from the right (Meteor's HTTP_FORWARDED_COUNT=1) gets the
// address l4lb saw; the client's own lines stay. The client's buffer is
// not shifted: the head goes out in one writev(2) with the line in place
// (forwardedfor_linux.go), and framing offsets stay the client's.
//
// With Config.AcceptProxy every client connection must start with a PROXY
// v1 or v2 header from a trusted front (parsed by sniff.Proxy, never
// forwarded); its source address becomes the client's for
// X-Forwarded-For, the outbound PROXY header and logs. When a v2 header's
// SSL TLV says the client connected over TLS (a TLS terminator such as
// hitch sends it), X-Forwarded-For comes with "X-Forwarded-Proto: https",
// inserted the same way (Meteor's force-ssl package reads it). A LOCAL or UNKNOWN
// header leaves the socket's peer as the client; a connection without a
// valid header is closed (Stats.ProxyInvalid). Config.AcceptProxyFrom
// limits the requirement to the front's networks.
//
// # Upgrades and inherited sockets
//
// A new process of the balancer can take over a running one's listening
// sockets, so that an upgrade refuses no connection (Config.Sockets; the
// command passes cloudflare/tableflip's Fds). Start records every socket
// under a name: "l4lb tcp <address> <i>" for the i-th per-loop socket of a
// TCP address, "l4lb unix <path>" for a UNIX socket. The new process
// serves each Listen address on the recorded sockets, which are the same
// kernel sockets, accept queues included: while both processes run, both
// accept from them; when the old one stops accepting and closes its
// descriptors, the sockets stay open in the new one and nothing queued is
// lost. The loop counts need not match: a loop polls every per-loop socket
// whose index is its own modulo the loop count, and a process with more
// loops than sockets opens more SO_REUSEPORT sockets beside them.
//
// A UNIX socket file stays where it is through an upgrade: the old process
// must not remove it (Server.KeepSocketFiles), and the new one, which
// inherited the socket, removes it on its own final Shutdown if the path
// still names the same file.
//
// A service manager's sockets (systemd socket activation) come in
// Config.Inherited and serve the Listen address they are bound to; one
// without SO_REUSEPORT is polled by every loop. Their UNIX socket files
// are the service manager's and are never removed ("l4lb unix-kept
// <path>" carries that on through upgrades).
//
// Shutdown drains (drain_linux.go): responses sent while draining say
// "Connection: close", connections without a request are closed after a
// short grace (a request on its way is still served), tunnels run until
// they end or the deadline, or with Config.DrainSpread are closed spread
// over a window before it.
//
// # Connection bound
//
// Config.MaxConns bounds the client connections open at once. At the
// bound a loop takes its listening sockets out of its epoll set, so new
// connections wait in the kernel's accept queue as under HAProxy's
// maxconn, and puts them back once below it. When accept fails for want
// of descriptors or memory the loop pauses 100 ms instead of spinning on
// the level-triggered listener (TestAcceptOutOfFds). Stats.AcceptPauses
// counts the pauses.
//
// # Observing exchanges
//
// Config.Exchanges receives one Exchange record per HTTP exchange, and per
// tunnel when it closes (an access log); Config.BackendStats counts
// requests, 5xx, connect failures, open tunnels and latency histograms
// per backend (Server.BackendStats, which the admin listener turns into
// metrics at scrape time). The connection code calls small hooks
// (observe_linux.go) that return at once when both are off; when on, the
// facts are taken with the loop's cached clock, counted with atomic adds
// on counters of the loop's own (backendstats_linux.go), and nothing is
// allocated per request.
//
// # Errors answered by the engine
//
// The engine answers a minimal HTTP/1.1 response with Connection: close
// and closes: 400 for a malformed or smuggling-shaped head (both
// Content-Length and Transfer-Encoding, conflicting lengths) or for bytes
// that are not HTTP after a first HTTP request, 414 and 431 for heads
// over the sniffer's limits, 503 when the balancer has no backend, 502
// when every candidate refused, 504 when a candidate timed out and none
// was left or when no byte of a response came within the response
// timeout (Config.ResponseTimeout; a WebSocket's tunnel is bounded by the
// idle timeout instead), 404 for a request routed to a service that is
// not public.
//
// # Services
//
// Config.Balancer is the default service; Config.Services adds others and
// Config.Routes sends requests to them by Host and path, and TLS
// connections by SNI (services.go). route takes each request's candidates
// from its service's balancer. A meteorhacks:cluster path,
// /cluster-ddp/<endpointHash>/<service>/..., pins the request to the
// instance with that endpointHash (affinity.Backend.EndpointHash) and is
// rewritten to /sockjs/... in place before it goes out
// (services_linux.go).
//
// # Health reports
//
// With Config.Health, the loops report to it, one interface call each:
// connects that fail or time out, backends that close or reset a
// connection, or time out, before the first byte of a response, and
// every response's first byte (health_linux.go). Package health turns
// these into ejections.
//
// When health checking takes a backend out because it does not answer,
// Server.BackendDown has every loop answer 502 at once to the exchanges
// waiting for that backend's first response byte, and move connects in
// progress to it on to their next candidate (markdown_linux.go): HAProxy's
// "on-marked-down shutdown-sessions", for exchanges. 502, not 503: the
// request reached the backend and may have been processed, exactly as
// when a backend closes without answering, so it is not retried; 503
// says the balancer had nowhere to send it. A long poll waiting on a
// stopped backend is answered within the detection time rather than the
// response timeout. Tunnels (WebSockets) stay: a backend that is only
// slow or briefly unreachable from the checker may still carry them, and
// closing them all would send every client of it to reconnect at once;
// a dead one's are ended by the clients' heartbeats or the idle timeout.
// Responses that have started are left to finish.
//
// # What it does not do
//
// It does not terminate TLS, rewrite heads beyond the optional
// X-Forwarded-For and X-Forwarded-Proto lines, the /cluster-ddp/ prefix,
// a Set-Cookie line (Config.StickyInsert) and a draining server's
// "Connection: close" (no Forwarded or X-Real-IP; a client's own
// X-Forwarded-For or X-Forwarded-Proto is neither removed nor trusted), cache,
// retry a request on another backend after bytes were sent, or balance
// UDP. AcceptProxy applies to every listener (AcceptProxyFrom narrows it
// by peer network, not by listener). It runs on Linux only.
package engine
