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
	timedOut bool // some attempt hit the connect timeout
}

// backendAddr is a resolved backend address, cached per loop.
type backendAddr struct {
	family int
	sa     unix.Sockaddr
}

// startConnect connects to the first candidate that accepts; runs on the
// loop. cands is copied.
func (c *conn) startConnect(cands []*affinity.Member) {
	c.dial = c.l.getDial()
	c.dial.cands = append(c.dial.cands, cands...)
	c.phase = phConnecting
	c.connectNext()
}

// connectNext starts a non-blocking connect to the next candidate, or
// answers 502 (504 if a candidate timed out) when none is left.
func (c *conn) connectNext() {
	l, d := c.l, c.dial
	for d.next < len(d.cands) {
		m := d.cands[d.next]
		d.next++
		if !c.tunnel && l.npooled > 0 && l.s.proxyProtocolOf(m) == ProxyOff && l.takePooled(c, m.Backend().Endpoint) {
			// An idle connection to m parked by this loop (never one
			// that carried a PROXY header: those are not parked; nor one
			// to a backend that wants one now).
			l.s.stats.backendReuses.Add(1)
			m.Acquire()
			c.member = m
			c.dropDial()
			c.phase = phHTTP
			l.arm(c, timerIdle)
			return
		}
		fd, err := l.dialStart(m)
		if err != nil {
			l.s.stats.backendFailures.Add(1)
			l.warn("backend connect failed", "backend", m.Backend().Endpoint, "remote", c.remote(), "err", err)
			continue
		}
		c.be = sock{fd: fd, c: c}
		l.track(&c.be)
		m.Acquire()
		c.member = m
		c.phase = phConnecting
		l.arm(c, timerConnect)
		l.setInterest(&c.be, unix.EPOLLOUT)
		return
	}
	if d.timedOut {
		c.fail(504)
	} else {
		c.fail(502)
	}
}

// dialStart creates a socket and starts connecting it to m.
func (l *loop) dialStart(m *affinity.Member) (int, error) {
	ba, err := l.resolve(m)
	if err != nil {
		return -1, err
	}
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

// resolve turns a member's endpoint into a socket address. Host names are
// looked up once per loop and cached for the loop's life (a blocking
// lookup on the loop, paid by the first connection only); IP literals and
// UNIX paths need no lookup.
func (l *loop) resolve(m *affinity.Member) (backendAddr, error) {
	b := m.Backend()
	if ba, ok := l.addrs[b.Endpoint]; ok {
		return ba, nil
	}
	network, address, ok := b.Addr()
	if !ok {
		return backendAddr{}, fmt.Errorf("dial backend %s: unknown endpoint form", b.Endpoint)
	}
	var ba backendAddr
	switch network {
	case "unix":
		ba = backendAddr{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: address}}
	default:
		ta, err := net.ResolveTCPAddr("tcp", address)
		if err != nil {
			return backendAddr{}, fmt.Errorf("dial backend %s: %w", b.Endpoint, err)
		}
		if ip4 := ta.IP.To4(); ip4 != nil {
			sa := &unix.SockaddrInet4{Port: ta.Port}
			copy(sa.Addr[:], ip4)
			ba = backendAddr{family: unix.AF_INET, sa: sa}
		} else {
			sa := &unix.SockaddrInet6{Port: ta.Port}
			copy(sa.Addr[:], ta.IP.To16())
			ba = backendAddr{family: unix.AF_INET6, sa: sa}
		}
	}
	if l.addrs == nil {
		l.addrs = make(map[string]backendAddr)
	}
	l.addrs[b.Endpoint] = ba
	return ba, nil
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
		c.connectFailed(false)
		return
	}
	l := c.l
	l.s.stats.backendConnects.Add(1)
	unix.SetsockoptInt(c.be.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c.dropDial()
	if c.tunnel {
		c.phase = phTunnel
		c.dropHTTP()
		l.s.stats.tunnels.Add(1)
	} else {
		c.phase = phHTTP
	}
	l.arm(c, timerIdle)
	if pp := c.proxyProtocol(); pp != ProxyOff {
		hdr, err := c.proxyHeader(pp)
		if err != nil {
			l.warn("proxy header", "remote", c.remote(), "err", err)
		}
		c.up.pre = hdr
	}
}

// connectFailed moves on to the next candidate.
func (c *conn) connectFailed(timedOut bool) {
	l := c.l
	l.s.stats.backendFailures.Add(1)
	if c.member != nil {
		if timedOut {
			l.warn("backend connect timed out", "backend", c.member.Backend().Endpoint, "remote", c.remote(),
				"timeout", l.s.connectTimeout)
		}
		c.member.Release()
		c.member = nil
	}
	l.closeSock(&c.be)
	if timedOut {
		c.dial.timedOut = true
	}
	c.connectNext()
}

// proxyProtocol is the PROXY header c's backend gets.
func (c *conn) proxyProtocol() ProxyProtocol { return c.l.s.proxyProtocolOf(c.member) }

// proxyProtocolOf is the PROXY header m gets: its own setting
// (affinity.Backend.ProxyProtocol, from discovery) or else Config's.
func (s *Server) proxyProtocolOf(m *affinity.Member) ProxyProtocol {
	if m != nil {
		switch m.Backend().ProxyProtocol {
		case "off":
			return ProxyOff
		case "v1":
			return ProxyV1
		case "v2":
			return ProxyV2
		}
	}
	return s.cfg.ProxyProtocol
}

// proxyHeader formats the PROXY header of version pp for c's client: the
// client's address as source, the address it connected to as destination.
func (c *conn) proxyHeader(pp ProxyProtocol) ([]byte, error) {
	peer, err := unix.Getpeername(c.cli.fd)
	if err != nil {
		return nil, fmt.Errorf("getpeername: %w", err)
	}
	local, err := unix.Getsockname(c.cli.fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	v := byte(1)
	if pp == ProxyV2 {
		v = 2
	}
	return proxyproto.HeaderProxyFromAddrs(v, sockaddrToAddr(peer), sockaddrToAddr(local)).Format()
}

// remote returns the client's address for logs ("" if unknown). It costs
// a getpeername(2), so it is called on error paths only.
func (c *conn) remote() string {
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
