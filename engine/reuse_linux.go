package engine

import (
	"github.com/l4lb/l4lb/affinity"
	"golang.org/x/sys/unix"
)

// Idle backend connections (see doc.go, "Backend connection reuse").
//
// When a keep-alive client connection switches backends, or closes, while
// its backend connection is idle and reusable, that connection is parked
// in its loop's pool, keyed by the backend's endpoint, instead of being
// closed; the next request on the loop that needs a connection to that
// backend takes it instead of connecting. A parked connection keeps read
// interest, so a FIN, a reset or any unexpected byte from the backend
// closes it at once, and it sits on the loop's timerPool list, so it is
// closed after poolIdleTimeout unused.

// maxIdlePerBackend bounds the parked connections per backend and loop;
// parking one more closes the oldest.
const maxIdlePerBackend = 8

// poolIdleTimeout closes a parked connection that nobody took. It is well
// below Node's default server keepAliveTimeout (5 s), so a backend rarely
// closes a connection just as it is reused.
const poolIdleTimeout = 2e9 // ns

// parked is an idle backend connection in a loop's pool.
type parked struct {
	l        *loop
	sock     sock
	endpoint string
	timer    timerLink
}

// parkedEvent handles readiness of the parked socket fd: a parked
// connection expects nothing, so a FIN, a reset or a stray byte from the
// backend ends it. Such events are rare and the pool is small (at most
// maxIdlePerBackend per backend), so the socket is found by a scan rather
// than a pointer every sock would carry.
func (l *loop) parkedEvent(fd int) {
	for _, list := range l.pool {
		for _, p := range list {
			if p.sock.fd == fd {
				l.dropParked(p)
				return
			}
		}
	}
}

func (p *parked) timeout(timerKind) { p.l.dropParked(p) }

// reusableBackend reports whether c's backend connection may be parked for
// another client: plain HTTP between exchanges, the last response ended
// cleanly with keep-alive semantics, nothing in flight either way (and the
// last read drained the socket), the next head (if any) not yet released,
// and no PROXY header (which binds the connection to one client) was ever
// sent on it.
func (c *conn) reusableBackend() bool {
	h := c.h
	return c.phase == phIdle && c.be.fd >= 0 && c.member != nil &&
		c.proxyProtocol() == affinity.ProxyOff && !c.l.stopping &&
		!h.closing && h.resp.st == frHead &&
		(h.req.st == frHead || h.req.st == frHeld || h.req.st == frRouted) &&
		!c.up.shut && !c.up.pending() && !c.down.eof && !c.down.pending() &&
		c.down.p == c.down.w && !c.be.canRead
}

// park moves c's backend connection into the loop's pool and leaves c
// without one; the caller checked reusableBackend and then closes c's
// backend side (closeBackend), which only resets its framing now.
func (l *loop) park(c *conn) {
	ep := c.member.Backend().Endpoint
	p, ok := l.parked.get()
	if !ok {
		p = &parked{}
	}
	p.l, p.endpoint = l, ep
	p.timer.owner = p
	p.sock = sock{fd: c.be.fd, ev: c.be.ev}
	l.socks[p.sock.fd] = &p.sock
	// A parked connection does not count as active for its backend: the
	// two-choices pick weighs client connections, and an idle parked one
	// costs the backend nothing. Taking it acquires again.
	c.member.Release()
	c.member = nil
	c.be = sock{fd: -1, c: c}
	l.setInterest(&p.sock, unix.EPOLLIN)
	l.arm(&p.timer, timerPool)
	if l.pool == nil {
		l.pool = make(map[string][]*parked)
	}
	list := l.pool[ep]
	if len(list) >= maxIdlePerBackend {
		l.dropParked(list[0])
		list = l.pool[ep]
	}
	if list == nil {
		list = make([]*parked, 0, maxIdlePerBackend)
	}
	l.pool[ep] = append(list, p)
	l.npooled++
}

// unpark gives c a parked connection to ep, the newest one, if the pool
// holds one. The caller acquires the member.
func (l *loop) unpark(c *conn, ep string) bool {
	list := l.pool[ep]
	n := len(list)
	if n == 0 {
		return false
	}
	p := list[n-1]
	list[n-1] = nil
	l.pool[ep] = list[:n-1]
	l.npooled--
	l.disarm(&p.timer)
	c.be = sock{fd: p.sock.fd, ev: p.sock.ev, canWrite: true, c: c}
	l.track(&c.be)
	l.freeParked(p)
	return true
}

// dropParked removes p from the pool and closes its socket.
func (l *loop) dropParked(p *parked) {
	list := l.pool[p.endpoint]
	for i, q := range list {
		if q == p {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			l.pool[p.endpoint] = list[:len(list)-1]
			l.npooled--
			break
		}
	}
	l.disarm(&p.timer)
	l.closeSock(&p.sock)
	l.freeParked(p)
}

func (l *loop) freeParked(p *parked) {
	*p = parked{}
	l.parked.put(p)
}

// closePool closes every parked connection (Shutdown, loop stop).
func (l *loop) closePool() {
	for ep, list := range l.pool {
		for len(list) > 0 {
			l.dropParked(list[len(list)-1])
			list = l.pool[ep]
		}
	}
}
