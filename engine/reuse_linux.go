package engine

import (
	"bytes"
	"sync/atomic"

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
// parking one more closes the oldest. Browsers' keep-alive connections
// carry the sessions of several backends, so a loop's connections switch
// backends on most polling requests: with 32 client connections over
// three backends, a bound of 8 closed and reopened a backend connection
// on one request in thirty, 32 on one in two thousand (bench/README.md,
// "Parked connections per backend"). nginx's upstream keepalive in the
// bench keeps 128.
const maxIdlePerBackend = 32

// poolIdleTimeout closes a parked connection that nobody took. It is well
// below Node's default server keepAliveTimeout (5 s), so a backend rarely
// closes a connection just as it is reused.
const poolIdleTimeout = 2e9 // ns

// parked is an idle backend connection in a loop's pool.
type parked struct {
	l        *loop
	sock     sock
	endpoint string
	sa       unix.Sockaddr // the address it was connected to
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
	p.sa = c.h.beAddr
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

// unpark gives c a parked connection to m, the newest one, if the pool
// holds one connected to m's current address: one to an address the
// endpoint's name no longer resolves to is closed instead, so that a
// backend that moved is followed as by new connections (a use also
// starts the name's refresh when it is due, as a connect does). The
// caller acquires the member.
func (l *loop) unpark(c *conn, m *affinity.Member) bool {
	ep := m.Backend().Endpoint
	e := l.addrs[ep]
	if e == nil || !e.known {
		return false
	}
	if e.expires != 0 && l.now >= e.expires && !e.pending {
		l.lookup(m.Backend())
	}
	for {
		list := l.pool[ep]
		n := len(list)
		if n == 0 {
			return false
		}
		p := list[n-1]
		if !sameAddr(p.sa, e.ba.sa) {
			l.dropParked(p)
			continue
		}
		list[n-1] = nil
		l.pool[ep] = list[:n-1]
		l.npooled--
		l.disarm(&p.timer)
		c.be = sock{fd: p.sock.fd, ev: p.sock.ev, canWrite: true, c: c}
		c.h.beAddr = p.sa
		l.track(&c.be)
		l.freeParked(p)
		return true
	}
}

// sameAddr reports whether a and b are the same socket address.
func sameAddr(a, b unix.Sockaddr) bool {
	if a == b {
		return true
	}
	switch x := a.(type) {
	case *unix.SockaddrInet4:
		y, ok := b.(*unix.SockaddrInet4)
		return ok && x.Port == y.Port && x.Addr == y.Addr
	case *unix.SockaddrInet6:
		y, ok := b.(*unix.SockaddrInet6)
		return ok && x.Port == y.Port && x.Addr == y.Addr && x.ZoneId == y.ZoneId
	case *unix.SockaddrUnix:
		y, ok := b.(*unix.SockaddrUnix)
		return ok && x.Name == y.Name
	}
	return false
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

// Replay of a request the keep-alive race lost (see doc.go, "Backend
// connection reuse").
//
// A backend may close an idle connection just as a request is sent on
// it: its FIN crosses the request, which then meets a closed socket (a
// reset) or an EOF before any response byte. On a connection taken from
// the pool the request is therefore kept in c.up's buffer from its first
// byte (httpState.replayAt) until the first response byte; should the
// backend connection end before that, the request is sent once more on a
// fresh connection to the same backend (or the next candidate, should
// that connect fail), and the client never notices. It is kept only while
// it is whole in the buffer: a read that would compact the buffer (a body
// that does not fit behind the head) gives the replay up, and the client
// then gets what it would without reuse (502, or a reset).

// replayState is where a request is in its possible replay.
type replayState uint8

const (
	rpOff    replayState = iota
	rpReused             // c.be came from the pool; the held head has not gone out on it
	rpHeld               // the request went out on the reused c.be and is kept from replayAt
	rpReplay             // the request is being sent again, on a fresh connection
)

// replayOff disables replay (tests only: to show that the keep-alive race
// test fails without it).
var replayOff atomic.Bool

// heldForReplay reports whether f's buffer is kept for a replay: neither
// released when empty nor compacted.
func (c *conn) heldForReplay(f *flow) bool {
	return f == &c.up && c.h != nil && c.h.rp == rpHeld
}

// replayable reports whether the request in flight may be sent again now
// that c's backend connection ended: it went out on a reused connection
// that sent no response byte, and is whole in c.up's buffer.
func (c *conn) replayable() bool {
	return c.h != nil && c.h.rp == rpHeld && c.phase == phExchange && !replayOff.Load()
}

// keepRequest runs as the head at c.up.buf[at:] goes out: on a reused
// connection the request is kept for a replay from there. It reports
// whether the head goes out again (a replay): the exchange started with
// its first sending.
func (c *conn) keepRequest(at int32) bool {
	h := c.h
	switch h.rp {
	case rpReused:
		if len(c.up.pre) == 0 { // never with a PROXY header; reuse has none
			h.rp, h.replayAt = rpHeld, at
			return false
		}
		c.giveUpReplay()
	case rpReplay:
		h.rp = rpOff
		if x := c.x; x != nil && x.open {
			x.cur.connect, x.connect = x.connect, -1 // the connect made for it
		}
		return true
	}
	return false
}

// giveUpReplay ends what keepRequest started: the first response byte
// came, or the request no longer fits whole.
func (c *conn) giveUpReplay() {
	c.h.rp = rpOff
	c.dropDial()
}

// replay sends the request kept since replayAt again, on a fresh
// connection: the reused backend connection ended before any response
// byte. The bytes after replayAt (the request, and any the client sent
// behind it) are framed anew.
func (c *conn) replay() {
	l, h, f := c.l, c.h, &c.up
	l.s.stats.backendReplays.Add(1)
	if l.s.debug {
		l.s.log.Debug("replaying request after the reused backend connection closed",
			"backend", c.member.Backend().Endpoint, "remote", c.remote())
	}
	if x := c.x; x != nil && x.open {
		// The body bytes framed so far are counted again as they go out
		// again.
		x.cur.in -= int64(f.p - h.replayAt - int32(h.out.headLen))
	}
	c.closeBackend()
	h.rp, h.waiting, h.invalid, h.timing = rpReplay, false, 0, false
	f.r, f.p, f.ins, f.insAt = h.replayAt, h.replayAt, nil, 0
	h.held = h.out
	h.req.scan.Reset()
	h.req.st = frRouted
	// The same backend first: the dial state kept since the unpark
	// stands just past it.
	h.dial.next--
	c.phase = phConnecting
	c.xConnectStart()
	c.connectNext()
}

// Clients that close after one request.
//
// A client that sends "Connection: close" (one request per connection,
// as connrate's clients and many scripts do) would make the backend close
// too, leaving nothing to park. Connection is hop-by-hop (RFC 9110
// §7.6.1: a proxy removes it or replaces it with its own options), so the
// copy the backend gets has the value blanked: an empty Connection list,
// which leaves an HTTP/1.1 connection persistent. The client's connection
// still ends after the response (endAfterResponse), and the backend's is
// parked when it ended cleanly (parkAfterClose).

// keepBackendOpen blanks the held head's "Connection: close" in c.up's
// buffer when its backend connection may be parked afterwards.
func (c *conn) keepBackendOpen(f *flow) {
	h := &c.h.held
	if c.proxyProtocol() == affinity.ProxyOff && !c.l.stopping {
		h.closeOff = blankClose(f.buf[f.p : f.p+int32(h.headLen)])
	}
}

// blankClose overwrites with spaces the value of the one Connection field
// of an HTTP/1.1 request head when that value is "close" (any case, any
// optional whitespace), and reports whether it did. A head with another
// value, several Connection fields or another version is left alone.
func blankClose(head []byte) bool {
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 || !bytes.HasSuffix(bytes.TrimSuffix(head[:nl], []byte("\r")), []byte(" HTTP/1.1")) {
		return false
	}
	const name = "connection:"
	at, end := -1, -1
	for rest := nl + 1; rest < len(head); {
		n := bytes.IndexByte(head[rest:], '\n')
		if n < 0 {
			break
		}
		line := head[rest : rest+n]
		if len(line) >= len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
			if at >= 0 {
				return false // a second Connection field
			}
			v := bytes.TrimRight(line[len(name):], " \t\r")
			lead := len(v) - len(bytes.TrimLeft(v, " \t"))
			if !bytes.EqualFold(v[lead:], []byte("close")) {
				return false
			}
			at = rest + len(name) + lead
			end = at + len("close")
		}
		rest += n + 1
	}
	if at < 0 {
		return false
	}
	for i := at; i < end; i++ {
		head[i] = ' '
	}
	return true
}

// parkAfterClose parks c's backend connection as a client that asked to
// close gets its response's last bytes (endAfterResponse), if its
// "Connection: close" was blanked and the backend connection is clean:
// the response kept keep-alive semantics and ended with nothing after
// it, the whole request went out, and no PROXY header was ever sent. The
// response's bytes still on their way to the client stay in c.down.
func (c *conn) parkAfterClose() {
	h := c.h
	if h.out.closeOff && c.be.fd >= 0 && c.member != nil && c.proxyProtocol() == affinity.ProxyOff &&
		!c.l.stopping && !h.closing && h.resp.st == frHead && (h.req.st == frHead || h.req.st == frHeld) &&
		!c.up.pending() && !c.up.shut && !c.down.eof && c.down.p == c.down.w && !c.be.canRead {
		c.l.park(c)
	}
}
