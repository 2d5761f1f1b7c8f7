package engine

import (
	"github.com/l4lb/l4lb/affinity"
	"golang.org/x/sys/unix"
	"net/netip"
)

// phase is where a connection is in its life.
type phase uint8

const (
	phSniff      phase = iota // accepted; waiting for the first head
	phConnecting              // a backend connect is in progress
	phHTTP                    // routed, HTTP keep-alive: every head is routed
	phTunnel                  // raw bytes both ways (101 or not HTTP)
	phFailing                 // an engine response waits for the client's output to flush
	phLinger                  // response sent, write side shut; draining input
	phClosed
	phPooled // an idle backend connection parked in the loop's pool (reuse_linux.go)
)

// conn is one client connection and the backend connection it currently
// uses. It lives on one loop and is only touched by that loop's thread.
//
// An idle tunnel costs this struct and its two sockets: no buffer, pipe or
// HTTP state is held while no byte is in flight.
type conn struct {
	l      *loop
	cli    sock
	be     sock
	member *affinity.Member // acquired while be is open or connecting
	up     flow             // client -> backend
	down   flow             // backend -> client
	h      *httpState       // nil for tunnels
	dial   *dialState       // non-nil while connecting
	phase  phase
	tunnel bool // raw tunnel decided (may still be connecting)
	queued bool // on l.ready
	status int  // engine response to send in phFailing

	tkind        timerKind
	tprev, tnext *conn
	deadline     int64

	client *clientAddrs // from an inbound PROXY header; nil: the socket's peer
}

// clientAddrs are the client's and the front's addresses an inbound PROXY
// header gave (Config.AcceptProxy).
type clientAddrs struct{ src, dst netip.AddrPort }

// flow is one direction's bytes in flight: buf[r:p] is ready to be written
// to the destination, buf[p:w] was read but not yet classified (a partial
// request or response head). pre is written before buf[r:p], and ins
// (an X-Forwarded-For line, see forwardedfor.go) in front of buf[insAt];
// while ins is pending, r <= insAt < p.
type flow struct {
	buf     []byte
	r, p, w int
	pre     []byte
	ins     []byte
	insAt   int
	pipe    pipe // splice staging, valid while inPipe > 0
	inPipe  int
	eof     bool // the source sent FIN
	shut    bool // the destination's write side was shut down
}

func (f *flow) pending() bool { return len(f.pre) > 0 || f.r < f.p || f.inPipe > 0 }

func newConn(l *loop, fd int, peer unix.Sockaddr) {
	// A fresh socket is writable: the first response goes out without
	// waiting for an EPOLLOUT round trip.
	c := &conn{l: l, cli: sock{fd: fd, canWrite: true}, be: sock{fd: -1}}
	c.cli.c, c.be.c = c, c
	c.up.pipe, c.down.pipe = pipe{-1, -1}, pipe{-1, -1}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // fails harmlessly on UNIX sockets
	l.nconns++
	l.track(&c.cli)
	c.h = l.getHTTP()
	if l.s.cfg.ForwardedFor {
		c.h.setForwardedFor(peer)
	}
	if l.s.cfg.AcceptProxy && l.s.trustedFront(peer) {
		c.h.upSt = stProxy
	}
	l.arm(c, timerHeader)
	l.setInterest(&c.cli, unix.EPOLLIN)
}

// event runs after epoll reported readiness on one of c's sockets.
func (c *conn) event(s *sock) {
	if c.phase == phPooled {
		// A parked connection expects nothing: a FIN, a reset or a
		// stray byte from the backend ends it.
		c.l.unpool(c)
		return
	}
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
			progress := c.step(&c.up, &c.cli, &c.be, true)
			if c.phase == phClosed {
				return
			}
			if c.step(&c.down, &c.be, &c.cli, false) {
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
	c.l.touch(c)
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
func (c *conn) canRead(f *flow, up bool) bool {
	if f.eof || f.pending() {
		return false
	}
	switch c.phase {
	case phSniff:
		return up
	case phConnecting:
		return false
	case phHTTP:
		if up {
			return c.h.upSt != stRoute && c.h.upSt != stErrWait
		}
		return true
	case phTunnel:
		return true
	case phLinger:
		return up
	}
	return false
}

// step does one write and one read for flow f. It reports progress.
func (c *conn) step(f *flow, src, dst *sock, up bool) bool {
	progress := false
	if f.pending() && dst.fd >= 0 && dst.canWrite && c.phase != phConnecting {
		if !c.write(f, src, dst) {
			return false
		}
		progress = true
	}
	if f.buf != nil && f.r == f.w && f.inPipe == 0 {
		c.l.putBuf(f.buf)
		f.buf, f.r, f.p, f.w = nil, 0, 0, 0
	}
	if src.fd >= 0 && src.canRead && c.canRead(f, up) {
		if c.phase == phTunnel && c.l.s.path == pathSplice && f.buf == nil {
			if c.spliceIn(f, src, dst) {
				progress = true
			}
		} else if c.read(f, src, dst, up) {
			progress = true
		}
		if c.phase == phClosed {
			return false
		}
	}
	if c.classify(f, up) {
		progress = true
	}
	return progress
}

// read reads from src into f's buffer.
func (c *conn) read(f *flow, src, dst *sock, up bool) bool {
	if f.buf == nil {
		f.buf = c.l.getBuf()
	}
	if f.w == len(f.buf) {
		if f.r > 0 {
			n := copy(f.buf, f.buf[f.r:f.w])
			f.p -= f.r
			f.w = n
			f.r = 0
		} else {
			// A head that does not fit: the sniffer's limits are
			// below the buffer size, so this is a bad peer.
			if up {
				c.fail(431)
			} else {
				c.fail(502)
			}
			return false
		}
	}
	if c.phase == phLinger {
		n, err := unix.Read(src.fd, f.buf)
		if n > 0 {
			return true
		}
		if err == unix.EAGAIN {
			src.canRead = false
			return false
		}
		c.close(false) // EOF or error: the client has our response
		return false
	}
	n, err := unix.Read(src.fd, f.buf[f.w:])
	switch {
	case n > 0:
		if n < len(f.buf)-f.w {
			src.canRead = false // drained; level-triggered epoll tells us when more comes
		}
		f.w += n
		return true
	case err == unix.EAGAIN || err == unix.EINTR:
		src.canRead = false
		return false
	case err == nil: // n == 0: FIN
		f.eof = true
		src.canRead = false
		return true
	default:
		if src == &c.be && c.phase == phHTTP && !c.h.reqPending && f.p == f.w {
			// An idle keep-alive backend connection was reset (a
			// backend restart): the client owes nothing and is owed
			// nothing, so only the backend side goes, as on EOF.
			f.eof = true
			src.canRead = false
			return true
		}
		c.abort(src) // pass the reset on
		return false
	}
}

// write writes f.pre and then f.buf[r:p] (or the pipe) to dst. It reports
// false if the connection was closed.
func (c *conn) write(f *flow, src, dst *sock) bool {
	for len(f.pre) > 0 {
		n, err := unix.Write(dst.fd, f.pre)
		if n > 0 {
			f.pre = f.pre[n:]
			continue
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			dst.canWrite = false
			return true
		}
		c.abort(dst)
		return false
	}
	if f.inPipe > 0 {
		return c.spliceOut(f, src, dst)
	}
	if len(f.ins) > 0 {
		if !c.writeInserted(f, dst) {
			return false
		}
		if len(f.ins) > 0 {
			return true // EAGAIN
		}
	}
	for f.r < f.p {
		n, err := unix.Write(dst.fd, f.buf[f.r:f.p])
		if n > 0 {
			f.r += n
			continue
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			dst.canWrite = false
			return true
		}
		c.abort(dst)
		return false
	}
	return true
}

// settle propagates half-closes, finishes engine responses and closes the
// pair when both directions are done. Runs after run's steps.
func (c *conn) settle() bool {
	switch c.phase {
	case phSniff:
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
	case phHTTP:
		return c.settleHTTP()
	}
	return false
}

func shutdownWrite(fd int) { unix.Shutdown(fd, unix.SHUT_WR) }

// updateInterest registers what each socket waits for: input when its
// flow may read, output when a write would have blocked.
func (c *conn) updateInterest() {
	var ce, be uint32
	if c.canRead(&c.up, true) {
		ce |= unix.EPOLLIN
	}
	if c.down.pending() && !c.cli.canWrite {
		ce |= unix.EPOLLOUT
	}
	if c.be.fd >= 0 {
		if c.phase == phConnecting {
			be = unix.EPOLLOUT
		} else {
			if c.canRead(&c.down, false) {
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
	}
	if other.fd >= 0 {
		unix.SetsockoptLinger(other.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	c.close(true)
}

// closeBackend closes the backend socket and releases its member; the
// client side stays.
func (c *conn) closeBackend() {
	c.dropBackend()
	c.releaseFlow(&c.down)
	c.down = flow{pipe: pipe{-1, -1}}
	c.up.shut = false
	if c.h != nil {
		c.h.resetDown()
	}
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

func (c *conn) releaseFlow(f *flow) {
	if f.buf != nil {
		c.l.putBuf(f.buf)
		f.buf = nil
	}
	if f.pipe.r >= 0 {
		if f.inPipe > 0 {
			f.pipe.close() // holds bytes nobody will read
		} else {
			c.l.putPipe(f.pipe)
		}
		f.pipe, f.inPipe = pipe{-1, -1}, 0
	}
	f.r, f.p, f.w, f.pre, f.ins = 0, 0, 0, nil, nil
}

// close closes both sides and forgets the connection.
func (c *conn) close(reset bool) {
	if c.phase == phClosed {
		return
	}
	c.l.disarm(c)
	if !reset && c.reusableBackend() {
		// The client left between requests: another client of this
		// loop may use its backend connection.
		c.parkBackend()
	}
	c.closeBackend()
	c.l.closeSock(&c.cli)
	c.releaseFlow(&c.up)
	c.dropDial()
	c.dropHTTP()
	c.phase = phClosed
	c.l.nconns--
	c.l.s.stats.active.Add(-1)
}

// timeout runs when c's timer of kind k expired.
func (c *conn) timeout(k timerKind) {
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
	case timerPool:
		c.l.unpool(c)
	}
}

// fail answers the client with status and closes, once the client has
// taken what is already on its way to it.
func (c *conn) fail(status int) {
	c.l.s.stats.status(status)
	// Close the backend but keep what it already sent on its way: an
	// Invalid head after a response goes out after that response.
	c.dropBackend()
	c.dropDial()
	c.status = status
	c.phase = phFailing
	c.l.disarm(c)
	c.l.arm(c, timerLinger)
	if !c.down.pending() {
		c.sendError()
	}
}

func (c *conn) sendError() {
	c.releaseFlow(&c.down)
	c.down.pre = errorResponse(c.status)
	c.releaseFlow(&c.up)
	c.up.eof = false
	c.dropHTTP()
	c.phase = phLinger
}

// drainIdle closes c if it carries no request; used by Shutdown.
func (c *conn) drainIdle() {
	switch c.phase {
	case phSniff:
		if c.up.w == 0 {
			c.close(false)
		}
	case phHTTP:
		if !c.h.reqPending && c.h.upSt == stHead && c.up.w == c.up.p && !c.up.pending() {
			c.close(false)
		}
	}
}
