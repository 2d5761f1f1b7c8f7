// Package uringproto is a prototype, not part of l4lb serve: the HTTP
// keep-alive forwarding path rebuilt on io_uring, to measure whether
// io_uring's batched submission lowers the balancer's CPU per request
// below the epoll engine's (package engine). tools/uringproxy runs it with
// l4lb serve's flags so that the bench can measure it as its l4lb target;
// bench/README.md, "io_uring prototype", has the measurement and the
// decision.
//
// # Model
//
// Each loop is one goroutine locked to one thread, owning one ring
// (IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN: the kernel posts completions
// only when that thread enters the ring), one listening socket (shared by
// the loops with SO_REUSEPORT) and one provided-buffer ring (16 KiB
// buffers in memory outside the Go heap). The loop's only steady-state
// system call is one io_uring_enter per iteration, which submits every SQE
// that the previous iteration's completions queued, for all connections
// at once, and waits for at least one completion.
//
// A multishot accept takes client connections. Each client connection
// gets its own backend connection (round robin over the backends, a
// socket(2) and setsockopt(2) plus an io_uring connect) for its whole
// life. Both sockets have a multishot receive with buffer selection: the
// kernel picks a buffer only when data arrives, so idle connections hold
// none. A received buffer is queued on its direction and sent to the other
// side with one send in flight per direction (order), then handed back to
// the buffer ring. When the ring runs dry, a multishot receive ends with
// ENOBUFS and is re-armed once a quarter of the buffers are back: that is
// the backpressure. An EOF on either side closes both once what is queued
// has been sent; an error closes both at once. Shutdown (to end the
// receives) and close go through the ring too, without completions on
// success.
//
// Config.Epoll runs the same proxy, with the same choices, on a
// level-triggered epoll loop with read(2) and write(2) on non-blocking
// sockets, as the engine does its I/O: the control that separates what
// io_uring saves from what the prototype leaves out.
//
// # What the prototype ignores
//
// It forwards bytes and parses nothing: no HTTP framing, no routing per
// request (a connection stays on the backend it got), no session
// stickiness, no PROXY header, no upgrade handling, no timeouts, no
// half-close forwarding, no 502 when a backend refuses (the client
// connection is closed), no metrics beyond Stats, IPv4 only. That is
// enough for the bench's keepalive scenario (GET / on keep-alive
// connections) and connrate's plain requests, and it makes the prototype
// cheaper than the engine by the work it leaves out: the comparison in
// bench/README.md says how much that is.
package uringproto
