package engine

import (
	"fmt"
	"net"

	"github.com/l4lb/l4lb/affinity"
	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// dialState is a connection's walk through its candidates.
type dialState struct {
	cands    []*affinity.Member
	next     int
	tunnel   bool   // the connection becomes a raw tunnel once connected
	timedOut bool   // some attempt hit the connect timeout
	wait     uint32 // token of the lookup the current candidate waits for (resolve_linux.go); 0: none
}

// startConnect connects to the first candidate that accepts; runs on the
// loop. cands is copied.
func (c *conn) startConnect(cands []*affinity.Member, tunnel bool) {
	c.dropDial() // one kept for a replay that can no longer be (reuse_linux.go)
	c.h.rp = rpOff
	d, ok := c.l.dials.get()
	if !ok {
		d = &dialState{}
	}
	d.cands = append(d.cands, cands...)
	d.tunnel = tunnel
	c.h.dial = d
	c.phase = phConnecting
	c.xConnectStart()
	c.connectNext()
}

// dropDial returns c's dial state to the free list.
func (c *conn) dropDial() {
	if c.h == nil {
		return
	}
	d := c.h.dial
	if d == nil {
		return
	}
	clear(d.cands)
	*d = dialState{cands: d.cands[:0]}
	c.l.dials.put(d)
	c.h.dial = nil
}

// connectNext starts a non-blocking connect to the next candidate, or
// answers 502 (504 if a candidate timed out) when none is left.
func (c *conn) connectNext() {
	l, d := c.l, c.h.dial
	for d.next < len(d.cands) {
		m := d.cands[d.next]
		d.next++
		if !d.tunnel && l.npooled > 0 && c.h.rp != rpReplay && l.s.proxyProtocolOf(m) == affinity.ProxyOff &&
			l.unpark(c, m) {
			// An idle connection to m parked by this loop (never one
			// that carried a PROXY header: those are not parked; nor one
			// to a backend that wants one now). A replay connects
			// afresh. The dial state stays until the request's first
			// response byte, for a replay (reuse_linux.go).
			l.s.stats.backendReuses.Add(1)
			m.Acquire()
			c.member = m
			c.h.rp = rpReused
			c.phase = phIdle
			l.arm(&c.timer, timerIdle)
			return
		}
		fd, err := l.dialStart(m, c)
		if err == errResolving {
			// Its name is being looked up: wait, under the connect
			// timeout, for resolved to call dialResolved.
			m.Acquire()
			c.member = m
			l.arm(&c.timer, timerConnect)
			return
		}
		if err != nil {
			l.s.stats.backendFailures.Add(1)
			c.xConnectFailed(m)
			l.warn("backend connect failed", "backend", m.Backend().Endpoint, "remote", c.remote(), "err", err)
			l.s.backendFailed(m, FailConnect)
			continue
		}
		c.connecting(m, fd)
		return
	}
	if d.timedOut {
		c.fail(504)
	} else {
		c.fail(502)
	}
}

// connecting makes fd, connecting to m, c's backend socket.
func (c *conn) connecting(m *affinity.Member, fd int) {
	l := c.l
	c.be = sock{fd: fd, c: c}
	l.track(&c.be)
	if c.member == nil {
		m.Acquire()
		c.member = m
	}
	l.arm(&c.timer, timerConnect)
	if ev := l.pollNow(fd); ev != 0 {
		// Finished (or failed) already, as a loopback or LAN connect
		// often is by the time connect(2) returns: go on now rather than
		// after an epoll round trip, and without moving the client's
		// read interest out and back in for it. Writable without an
		// error or hangup means established: no SO_ERROR to ask.
		c.be.canWrite = true
		if ev&(unix.POLLERR|unix.POLLHUP) == 0 {
			c.established()
		} else {
			c.connected()
		}
		return
	}
	l.setInterest(&c.be, unix.EPOLLOUT)
}

// pollNow returns the poll(2) events of the connecting socket fd now
// (zero timeout): 0 while the connect is in progress.
func (l *loop) pollNow(fd int) int16 {
	l.pollfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	if n, err := unix.Poll(l.pollfd[:], 0); err != nil || n == 0 {
		return 0
	}
	return l.pollfd[0].Revents
}

// dialResolved continues a connection that waited for its candidate's
// address (resolve_linux.go).
func (c *conn) dialResolved(e *addrEntry) {
	m := c.member
	if !e.known {
		c.l.warn("backend connect failed", "backend", m.Backend().Endpoint, "remote", c.remote(), "err", e.err)
		c.l.s.backendFailed(m, FailConnect)
		c.connectFailed(false)
	} else if fd, err := dialAddr(m, e.ba); err != nil {
		c.l.warn("backend connect failed", "backend", m.Backend().Endpoint, "remote", c.remote(), "err", err)
		c.l.s.backendFailed(m, FailConnect)
		c.connectFailed(false)
	} else {
		c.h.beAddr = e.ba.sa // for the pool (reuse_linux.go)
		c.connecting(m, fd)
	}
	if c.phase != phClosed {
		c.run()
	}
}

// dialStart creates a socket and starts connecting it to m, or answers
// errResolving when m's address is being looked up for c.
func (l *loop) dialStart(m *affinity.Member, c *conn) (int, error) {
	ba, err := l.resolve(m, c)
	if err != nil {
		return -1, err
	}
	c.h.beAddr = ba.sa // for the pool (reuse_linux.go)
	return dialAddr(m, ba)
}

func dialAddr(m *affinity.Member, ba backendAddr) (int, error) {
	fd, err := unix.Socket(ba.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dial backend %s: socket: %w", m.Backend().Endpoint, err)
	}
	if err := unix.Connect(fd, ba.sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, fmt.Errorf("dial backend %s: connect: %w", m.Backend().Endpoint, err)
	}
	return fd, nil
}

// connected runs when the connecting backend socket became writable.
func (c *conn) connected() {
	errno, err := unix.GetsockoptInt(c.be.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = unix.Errno(errno)
	}
	if err != nil {
		if c.member != nil {
			c.l.warn("backend connect failed", "backend", c.member.Backend().Endpoint, "remote", c.remote(),
				"err", fmt.Errorf("dial backend %s: connect: %w", c.member.Backend().Endpoint, err))
		}
		c.l.s.backendFailed(c.member, FailConnect)
		c.connectFailed(false)
		return
	}
	c.established()
}

// established makes the connected backend socket c's: the pair moves on
// to HTTP or to a tunnel, after the PROXY header if the backend gets one.
// A header that cannot be built fails this backend connection like a
// refused connect: a backend that expects one must never get a request
// without it.
func (c *conn) established() {
	l := c.l
	if pp := c.proxyProtocol(); pp != affinity.ProxyOff {
		hdr, err := c.outboundProxyHeader(pp)
		if err != nil {
			l.warn("backend connect failed", "backend", c.member.Backend().Endpoint, "remote", c.remote(),
				"err", fmt.Errorf("proxy header for %s: %w", c.member.Backend().Endpoint, err))
			c.connectFailed(false)
			return
		}
		c.up.pre = hdr
	}
	l.s.stats.backendConnects.Add(1)
	c.xConnected()
	unix.SetsockoptInt(c.be.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tunnel := c.h.dial.tunnel
	c.dropDial()
	l.arm(&c.timer, timerIdle)
	if tunnel {
		c.becomeTunnel()
	} else {
		c.phase = phIdle
	}
}

// connectFailed moves on to the next candidate.
func (c *conn) connectFailed(timedOut bool) {
	l := c.l
	l.s.stats.backendFailures.Add(1)
	c.xConnectFailed(c.member)
	if c.member != nil {
		if timedOut {
			l.warn("backend connect timed out", "backend", c.member.Backend().Endpoint, "remote", c.remote(),
				"timeout", l.s.connectTimeout)
			l.s.backendFailed(c.member, FailConnectTimeout)
		}
		c.member.Release()
		c.member = nil
	}
	l.closeSock(&c.be)
	c.h.dial.wait = 0 // a lookup it waited for no longer concerns it
	if timedOut {
		c.h.dial.timedOut = true
	}
	c.connectNext()
}

// proxyProtocol is the PROXY header c's backend gets.
func (c *conn) proxyProtocol() affinity.ProxyProtocol { return c.l.s.proxyProtocolOf(c.member) }

// proxyProtocolOf is the PROXY header m gets: its own setting
// (affinity.Backend.ProxyProtocol, from discovery) unless ProxyDefault,
// else Config's, else none. It never returns ProxyDefault.
func (s *Server) proxyProtocolOf(m *affinity.Member) affinity.ProxyProtocol {
	if m != nil {
		if p := m.Backend().ProxyProtocol; p != affinity.ProxyDefault {
			return p
		}
	}
	if p := s.cfg.ProxyProtocol; p != affinity.ProxyDefault {
		return p
	}
	return affinity.ProxyOff
}

// outboundProxyHeader formats the PROXY header of version pp for c's
// client: the client's address as source, the address it connected to as
// destination.
func (c *conn) outboundProxyHeader(pp affinity.ProxyProtocol) ([]byte, error) {
	v := byte(1)
	if pp == affinity.ProxyV2 {
		v = 2
	}
	if a := c.client; a != nil {
		return proxyproto.HeaderProxyFromAddrs(v, net.TCPAddrFromAddrPort(a.src), net.TCPAddrFromAddrPort(a.dst)).Format()
	}
	peer, err := unix.Getpeername(c.cli.fd)
	if err != nil {
		return nil, fmt.Errorf("getpeername: %w", err)
	}
	local, err := unix.Getsockname(c.cli.fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	return proxyproto.HeaderProxyFromAddrs(v, sockaddrToAddr(peer), sockaddrToAddr(local)).Format()
}

// remote returns the client's address for logs ("" if unknown). It costs
// a getpeername(2), so it is called on error paths only.
func (c *conn) remote() string {
	if c.client != nil {
		return c.client.src.String()
	}
	if c.cli.fd < 0 {
		return ""
	}
	sa, err := unix.Getpeername(c.cli.fd)
	if err != nil {
		return ""
	}
	if a := sockaddrToAddr(sa); a != nil {
		return a.String()
	}
	return ""
}
