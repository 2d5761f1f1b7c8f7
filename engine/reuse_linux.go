package engine

import (
	"golang.org/x/sys/unix"

	"github.com/l4lb/l4lb/affinity"
)

// Idle backend connections (see doc.go, "Backend connection reuse").
//
// When a keep-alive client connection switches backends, or closes, while
// its backend connection is idle and reusable, that connection is parked
// in its loop's pool, keyed by the backend's endpoint, instead of being
// closed; the next request on the loop that needs a connection to that
// backend takes it instead of connecting. A parked connection is a conn in
// phase phPooled that holds only its backend socket: it keeps read
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

// reusableBackend reports whether c's backend connection may be parked for
// another client: plain HTTP, the last response ended cleanly with
// keep-alive semantics, nothing in flight either way (and the last read
// drained the socket), the next head (if any) not yet forwarded, and no
// PROXY header (which binds the connection to one client) was ever sent
// on it.
func (c *conn) reusableBackend() bool {
	h := c.h
	return c.phase == phHTTP && h != nil && c.be.fd >= 0 && c.member != nil &&
		c.proxyProtocol() == affinity.ProxyOff && !c.l.stopping &&
		!h.reqPending && !h.respClose && h.downSt == stHead &&
		(h.upSt == stHead || h.upSt == stRoute) &&
		!c.up.shut && !c.up.pending() && !c.down.eof && !c.down.pending() &&
		c.down.p == c.down.w && !c.be.canRead
}

// parkBackend moves c's backend connection into the loop's pool and
// leaves c without one (as closeBackend does). The caller checked
// reusableBackend.
func (c *conn) parkBackend() {
	l := c.l
	ep := c.member.Backend().Endpoint
	var p *conn
	if n := len(l.freePooled); n > 0 {
		p = l.freePooled[n-1]
		l.freePooled[n-1] = nil
		l.freePooled = l.freePooled[:n-1]
	} else {
		p = &conn{}
	}
	p.l, p.phase, p.member = l, phPooled, c.member
	p.cli = sock{fd: -1}
	p.be = sock{fd: c.be.fd, ev: c.be.ev, c: p}
	l.socks[p.be.fd] = &p.be
	// A parked connection does not count as active for its backend: the
	// two-choices pick weighs client connections, and an idle parked one
	// costs the backend nothing. Taking it acquires again.
	c.member.Release()
	c.member = nil
	c.be = sock{fd: -1, c: c}
	c.closeBackend() // releases the down flow and resets its framing
	l.setInterest(&p.be, unix.EPOLLIN)
	l.arm(p, timerPool)
	if l.pool == nil {
		l.pool = make(map[string][]*conn)
	}
	list := l.pool[ep]
	if len(list) >= maxIdlePerBackend {
		l.unpool(list[0])
		list = l.pool[ep]
	}
	if list == nil {
		list = make([]*conn, 0, maxIdlePerBackend)
	}
	l.pool[ep] = append(list, p)
	l.npooled++
}

// takePooled gives c a parked connection to ep, the newest one, if the
// pool holds one. The caller acquires the member.
func (l *loop) takePooled(c *conn, ep string) bool {
	list := l.pool[ep]
	n := len(list)
	if n == 0 {
		return false
	}
	p := list[n-1]
	list[n-1] = nil
	l.pool[ep] = list[:n-1]
	l.npooled--
	l.disarm(p)
	c.be = sock{fd: p.be.fd, ev: p.be.ev, canWrite: true, c: c}
	l.track(&c.be)
	l.freeParked(p)
	return true
}

// unpool removes p from the pool and closes its socket.
func (l *loop) unpool(p *conn) {
	ep := p.member.Backend().Endpoint
	list := l.pool[ep]
	for i, q := range list {
		if q == p {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			l.pool[ep] = list[:len(list)-1]
			l.npooled--
			break
		}
	}
	l.disarm(p)
	l.closeSock(&p.be)
	l.freeParked(p)
}

func (l *loop) freeParked(p *conn) {
	*p = conn{}
	if len(l.freePooled) < maxFreeStates {
		l.freePooled = append(l.freePooled, p)
	}
}

// closePool closes every parked connection (Shutdown, loop stop).
func (l *loop) closePool() {
	for ep, list := range l.pool {
		for len(list) > 0 {
			l.unpool(list[len(list)-1])
			list = l.pool[ep]
		}
	}
}
