package engine

import (
	"net/netip"

	"github.com/l4lb/l4lb/affinity"
	"golang.org/x/sys/unix"
)

// phase is where a connection is in its life. It is the connection's one
// state: everything else it holds (framers, dial state) is data that the
// phase says is valid.
//
//	phProxy -> phSniff -> phConnecting -> phExchange <-> phIdle
//	                           |               |           |
//	                           v               v           v
//	                        phTunnel      phConnecting (a switch)
//
// and from anywhere: phFailing (an error answer waits for the client's
// output to flush) -> phLinger -> phClosed.
type phase uint8

const (
	phProxy      phase = iota // AcceptProxy: the inbound PROXY header comes first
	phSniff                   // no backend yet: reading the first head
	phConnecting              // connecting to a backend; dial holds the candidates
	phExchange                // HTTP: a request went out and its final response has not ended
	phIdle                    // HTTP keep-alive between exchanges (a backend may be attached)
	phTunnel                  // raw bytes both ways (a 101, or not HTTP)
	phFailing                 // an engine response waits for the client's output to flush
	phLinger                  // our last bytes are out, write side shut; draining the client
	phClosed
)

// http reports whether heads are framed and routed in phase p; the
// connection then has an httpState.
func (p phase) http() bool { return p <= phIdle }

// conn is one client connection and the backend connection it currently
// uses. It lives on one loop and is only touched by that loop's
// goroutine.
//
// An idle tunnel costs this struct and its two sockets: no buffer, pipe or
// HTTP state is held while no byte is in flight.
type conn struct {
	l      *loop
	phase  phase
	queued bool   // on l.ready
	svc    uint8  // the service being routed to (services_linux.go)
	status uint16 // phFailing: the status to answer
	cli    sock
	be     sock
	member *affinity.Member // the backend's, acquired while be is open or connecting
	up     flow             // client -> backend
	down   flow             // backend -> client
	h      *httpState       // while phase.http(); holds the dial state while phConnecting
	timer  timerLink
	client *clientAddrs // from an inbound PROXY header; nil: the socket's peer
	x      *connObs     // what Config.Exchanges and BackendStats need; nil when off
}

// clientAddrs are the client's and the front's addresses an inbound PROXY
// header gave (Config.AcceptProxy).
type clientAddrs struct{ src, dst netip.AddrPort }

func newConn(l *loop, fd int, peer unix.Sockaddr, lfd int) {
	// A fresh socket is writable: the first response goes out without
	// waiting for an EPOLLOUT round trip.
	c := &conn{l: l, cli: sock{fd: fd, canWrite: true}, be: sock{fd: -1}, phase: phSniff}
	c.cli.c, c.be.c = c, c
	c.timer.owner = c
	c.up.pipe, c.down.pipe = noPipe, noPipe
	l.nconns++
	l.track(&c.cli)
	c.observe(lfd, peer)
	c.startHTTP()
	if l.s.cfg.ForwardedFor {
		c.h.setForwardedFor(peer)
	}
	if l.s.cfg.AcceptProxy && l.s.trustedFront(peer) {
		c.phase = phProxy
	}
	l.arm(&c.timer, timerHeader)
	l.setInterest(&c.cli, unix.EPOLLIN)
}

// event runs after epoll reported readiness on one of c's sockets.
func (c *conn) event(s *sock) {
	if c.phase == phConnecting && s == &c.be {
		if !s.canWrite {
			return
		}
		c.connected()
		if c.phase == phClosed {
			return
		}
	}
	c.run()
}

// maxSteps bounds the work done for one connection per event so that a
// fast pair cannot starve the loop's other connections; level-triggered
// epoll or the loop's ready list (see run) brings it back.
const maxSteps = 16

// run moves bytes both ways until nothing more can be done now, then
// settles half-closes and epoll interest. Runs on the loop.
func (c *conn) run() {
	more := false
	for pass := 0; pass < 4; pass++ {
		more = false
		for i := 0; i < maxSteps; i++ {
			progress := c.step(&c.up, &c.cli, &c.be)
			if c.phase == phClosed {
				return
			}
			if c.step(&c.down, &c.be, &c.cli) {
				progress = true
			}
			if c.phase == phClosed {
				return
			}
			if !progress {
				break
			}
			more = i == maxSteps-1
		}
		if !c.settle() {
			break
		}
	}
	if c.phase == phClosed {
		return
	}
	c.updateInterest()
	c.l.timers.touch(&c.timer, c.l.now)
	if more && !c.queued {
		// Out of budget with work left that no epoll event may announce
		// (bytes read, destination still writable): run again after
		// this round of events.
		c.queued = true
		c.l.ready = append(c.l.ready, c)
	}
}

// canRead reports whether f's source may be read now. Reading stops while
// the destination has not taken the previous bytes: that is the
// backpressure that bounds memory at one buffer (or pipe) per direction.
func (c *conn) canRead(f *flow) bool {
	if f.eof || f.pending() {
		return false
	}
	up := f == &c.up
	switch c.phase {
	case phProxy, phSniff, phLinger:
		return up
	case phExchange, phIdle:
		return !up || c.framerOf(f).st < frHeld || c.framerOf(f).st == frUpgrade
	case phTunnel:
		return true
	}
	return false // phConnecting, phFailing
}

// step does one write and one read for flow f. It reports progress.
func (c *conn) step(f *flow, src, dst *sock) bool {
	progress := false
	if f.pending() && dst.fd >= 0 && dst.canWrite && c.phase != phConnecting {
		switch c.l.writeOut(f, dst) {
		case ioFailed:
			if dst == &c.be && c.replayable() {
				c.replay() // the keep-alive race (reuse_linux.go)
				return true
			}
			c.abort(dst)
			return false
		case ioDone:
			progress = true
		}
	}
	if f.idle() && !c.heldForReplay(f) {
		f.releaseBuf(c.l)
	}
	if src.fd >= 0 && src.canRead && c.canRead(f) {
		if c.readInto(f, src) {
			progress = true
		}
		if c.phase == phClosed {
			return false
		}
	}
	if f.buf != nil && c.frame(f) {
		progress = true
	}
	return progress
}

// readInto reads from src into f: through a pipe in a tunnel that
// splices, into the flow's buffer otherwise. It reports progress.
func (c *conn) readInto(f *flow, src *sock) bool {
	l := c.l
	if c.phase == phLinger {
		// The client is owed nothing more: its input is read and
		// dropped until it closes.
		switch l.discard(f, src) {
		case ioFailed:
			c.close(false) // EOF or error: the client has our response
			return false
		case ioDone:
			return true
		}
		return false
	}
	var res ioResult
	if c.phase == phTunnel && l.s.path == pathSplice && f.buf == nil {
		res = l.spliceIn(f, src, l.s.spliceMax)
		c.xBytes(f, int(f.inPipe))
	} else if n := c.spliceableBody(f); n > 0 {
		res = l.spliceIn(f, src, n)
		if f.inPipe > 0 {
			c.bodySpliced(f)
		}
	} else {
		if f.full() {
			// A head that does not fit: the sniffer's limits are below
			// the buffer size, so this is a bad peer.
			if f == &c.up {
				c.fail(431)
			} else {
				c.fail(502)
			}
			return false
		}
		if int(f.w) == len(f.buf) && c.heldForReplay(f) {
			c.giveUpReplay() // the read compacts the buffer: the request is no longer whole
		}
		res = l.readBuf(f, src, c.readLimit(f))
	}
	if res == ioFailed {
		if src == &c.be && c.phase == phIdle && f.p == f.w {
			// An idle keep-alive backend connection was reset (a
			// backend restart): the client owes nothing and is owed
			// nothing, so only the backend side goes, as on EOF.
			f.eof = true
			return true
		}
		if src == &c.be && c.replayable() {
			c.replay() // the keep-alive race (reuse_linux.go)
			return true
		}
		c.abort(src) // pass the reset on
		return false
	}
	return res == ioDone
}

// frame classifies f's new bytes: in a tunnel all of them, on HTTP by the
// direction's framer (http_linux.go). It reports progress.
func (c *conn) frame(f *flow) bool {
	switch {
	case c.phase == phTunnel:
		if f.p == f.w {
			return false
		}
		c.xBytes(f, int(f.w-f.p))
		f.p = f.w
		return true
	case c.phase.http():
		return c.frameHTTP(f)
	}
	return false
}

// settle propagates half-closes, finishes engine responses and closes the
// pair when both directions are done. It reports whether run should take
// another pass.
func (c *conn) settle() bool {
	switch c.phase {
	case phProxy, phSniff:
		if c.up.eof {
			c.close(false)
		}
	case phFailing:
		if !c.down.pending() {
			c.sendError()
			return true
		}
	case phLinger:
		if !c.down.pending() && !c.down.shut {
			if c.up.eof {
				// The client asked to close and sent nothing more: no
				// input to drain (endAfterResponse).
				c.close(false)
				return false
			}
			shutdownWrite(c.cli.fd)
			c.down.shut = true
		}
	case phTunnel:
		if c.up.eof && !c.up.pending() && !c.up.shut {
			shutdownWrite(c.be.fd)
			c.up.shut = true
		}
		if c.down.eof && !c.down.pending() && !c.down.shut {
			shutdownWrite(c.cli.fd)
			c.down.shut = true
		}
		if c.up.shut && c.down.shut {
			c.close(false)
		}
	case phExchange, phIdle:
		return c.settleHTTP()
	}
	return false
}

func shutdownWrite(fd int) { unix.Shutdown(fd, unix.SHUT_WR) }

// updateInterest registers what each socket waits for: input when its
// flow may read, output when a write would have blocked.
func (c *conn) updateInterest() {
	var ce, be uint32
	if c.canRead(&c.up) {
		ce |= unix.EPOLLIN
	}
	if c.down.pending() && !c.cli.canWrite {
		ce |= unix.EPOLLOUT
	}
	if c.be.fd >= 0 {
		if c.phase == phConnecting {
			be = unix.EPOLLOUT
		} else {
			if c.canRead(&c.down) {
				be |= unix.EPOLLIN
			}
			if c.up.pending() && !c.be.canWrite {
				be |= unix.EPOLLOUT
			}
		}
	}
	// A socket nobody waits on leaves the epoll set: level-triggered
	// EPOLLHUP/EPOLLERR are reported even for an empty mask and would spin
	// the loop while, say, a client that hung up waits for its backend.
	c.l.setInterest(&c.cli, ce)
	if c.be.fd >= 0 {
		c.l.setInterest(&c.be, be)
	}
}

// abort closes both sides after a reset or socket error on bad; the other
// side is reset too (SO_LINGER 0), so neither peer mistakes the abort for
// a clean end of stream.
func (c *conn) abort(bad *sock) {
	other := &c.be
	if bad == &c.be {
		other = &c.cli
		c.noResponse()
	}
	c.xAbort(bad)
	if other.fd >= 0 {
		unix.SetsockoptLinger(other.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	c.close(true)
}

// dropBackend closes c's backend socket and releases its member; the
// bytes it sent stay in c.down.
func (c *conn) dropBackend() {
	if c.be.fd >= 0 {
		c.l.closeSock(&c.be)
	}
	if c.member != nil {
		c.member.Release()
		c.member = nil
	}
}

// closeBackend closes the backend side and forgets what it sent; the
// client side stays.
func (c *conn) closeBackend() {
	c.dropBackend()
	c.down.release(c.l)
	c.up.shut = false
	if c.h != nil {
		c.h.resp.reset()
		c.h.closing = false
	}
}

// close closes both sides and forgets the connection.
func (c *conn) close(reset bool) {
	if c.phase == phClosed {
		return
	}
	l := c.l
	c.xClose()
	l.disarm(&c.timer)
	if !reset && c.reusableBackend() {
		// The client left between requests: another client of this
		// loop may use its backend connection.
		l.park(c)
	}
	c.closeBackend()
	l.closeSock(&c.cli)
	c.up.release(l)
	c.dropDial()
	c.dropHTTP()
	c.phase = phClosed
	l.nconns--
	l.s.stats.active.Add(-1)
}

// timeout runs when c's timer of kind k expired.
func (c *conn) timeout(k timerKind) {
	if k != timerLinger {
		c.xTimeout()
	}
	switch k {
	case timerHeader:
		c.l.s.stats.headerTimeouts.Add(1)
		c.close(false)
	case timerConnect:
		c.connectFailed(true)
		if c.phase != phClosed {
			c.run()
		}
	case timerIdle:
		c.l.s.stats.idleTimeouts.Add(1)
		c.close(false)
	case timerLinger:
		c.close(false)
	case timerResponse:
		c.responseTimedOut()
	}
}

// fail answers the client with status and closes, once the client has
// taken what is already on its way to it.
func (c *conn) fail(status int) {
	c.xFail(status)
	c.l.s.stats.status(status)
	// Close the backend but keep what it already sent on its way: an
	// invalid head after a response goes out after that response.
	c.dropBackend()
	c.dropDial()
	c.dropHTTP()
	c.phase = phFailing
	c.status = uint16(status)
	c.l.arm(&c.timer, timerLinger)
	if !c.down.pending() {
		c.sendError()
	}
}

// sendError queues the error answer fail decided and lingers.
func (c *conn) sendError() {
	c.down.release(c.l)
	c.down.pre = errorResponse(int(c.status))
	c.up.release(c.l)
	c.up.eof = false
	c.phase = phLinger
}

// endAfterResponse ends a connection whose last exchange closes it: the
// request said "Connection: close" (or was HTTP/1.0 without keep-alive),
// or the response did. The server closes such a connection after the
// response (RFC 9112 §9.6), and a client may wait for that close rather
// than read the framing, so the balancer closes too, as the backend would
// have, instead of waiting for the client: once the response has reached
// the client its write side is shut, then its input is drained until it
// closes (phLinger, under the linger timeout). Nothing the client sent
// after that request is served. When the request itself asked to close,
// its body has all arrived and the client sent nothing after it, there is
// nothing to drain: the connection is closed as soon as the response is
// out, as nginx does, which saves the shutdown, a read and a wake-up per
// connection (a client that sends more after its own "Connection: close"
// may then see a reset).
// The backend connection is closed, unless the backend's copy of the
// request had its "Connection: close" blanked and the response kept the
// connection open: then it is parked (reuse_linux.go).
func (c *conn) endAfterResponse() {
	c.parkAfterClose() // the backend's copy did not ask to close (reuse_linux.go)
	c.dropBackend()
	// Whether the client is done: it asked to close, its request's body
	// has all arrived (an answer may come before it: an early 413, a
	// refused upload), and nothing it sent after the request is buffered.
	done := c.h.out.close && c.h.req.st == frHead && c.up.w == c.up.p
	c.up.release(c.l)
	// A client that is not done is read until it closes (a client that
	// already sent its FIN is read once more and closed); one that is
	// done is not read again.
	c.up.eof = done
	c.dropHTTP()
	c.phase = phLinger
	c.l.arm(&c.timer, timerLinger)
}

// becomeTunnel turns the connection into a raw tunnel (a 101 answer to an
// Upgrade request, or a first request that is not HTTP) and drops its
// HTTP state.
func (c *conn) becomeTunnel() {
	c.xTunnel()
	c.phase = phTunnel
	c.l.s.stats.tunnels.Add(1)
	c.up.p, c.down.p = c.up.w, c.down.w // whatever followed is raw bytes
	c.dropHTTP()
}
