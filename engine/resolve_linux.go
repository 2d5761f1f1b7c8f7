package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"golang.org/x/sys/unix"
)

// Backend host names are looked up off the event loop. A lookup can take
// seconds (a slow or unreachable DNS server), and a loop that waited for
// one would stall every connection it carries. So a connection whose
// candidate's name is not known yet waits, without a socket, while a
// goroutine looks the name up and posts the answer back to the loop; the
// connect timeout covers the wait. Answers are kept per loop for dnsTTL
// and then refreshed in the background while the old address stays in use
// (an instance behind a name that moves is followed; a DNS outage does
// not take a known backend away). A failed first lookup fails the
// candidate (the next one is tried) and is retried after dnsRetry. IP
// literals and UNIX paths need no lookup.

// dnsTTL and dnsRetry: see above. Variables for the tests.
var (
	dnsTTL   = int64(30 * time.Second)
	dnsRetry = int64(time.Second)
)

// lookupIP is the resolver a Server takes at New; tests replace it.
var lookupIP = net.DefaultResolver.LookupNetIP

// errResolving is dialStart's answer while the candidate's name is being
// looked up; the connection is woken by resolved.
var errResolving = errors.New("resolving")

// backendAddr is a resolved backend address.
type backendAddr struct {
	family int
	sa     unix.Sockaddr
}

// addrEntry is a loop's knowledge of one endpoint's address.
type addrEntry struct {
	ba      backendAddr
	err     error // of the last lookup, when no address is known
	known   bool  // ba holds an address
	expires int64 // l.now after which a use starts a refresh; 0: never
	pending bool  // a lookup is running
	waiters []dnsWaiter
}

// dnsWaiter is a connection waiting for a lookup; token tells a stale
// entry (the connection gave up on that candidate) from a live one.
type dnsWaiter struct {
	c     *conn
	token uint32
}

// resolve returns m's socket address, or errResolving after registering c
// to be woken by the lookup it started or joined.
func (l *loop) resolve(m *affinity.Member, c *conn) (backendAddr, error) {
	b := m.Backend()
	e := l.addrs[b.Endpoint]
	if e == nil {
		network, address, ok := b.Addr()
		if !ok {
			return backendAddr{}, fmt.Errorf("dial backend %s: unknown endpoint form", b.Endpoint)
		}
		e = &addrEntry{}
		if network == "unix" {
			e.ba, e.known = backendAddr{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: address}}, true
		} else if ap, err := netip.ParseAddrPort(address); err == nil {
			e.ba, e.known = sockaddrOf(ap), true
		}
		if l.addrs == nil {
			l.addrs = make(map[string]*addrEntry)
		}
		l.addrs[b.Endpoint] = e
	}
	if e.expires != 0 && l.now >= e.expires && !e.pending {
		l.lookup(b)
	}
	if e.known {
		return e.ba, nil
	}
	if !e.pending && e.err != nil {
		return backendAddr{}, e.err
	}
	if !e.pending {
		l.lookup(b)
	}
	l.dnsWait++
	if l.dnsWait == 0 {
		l.dnsWait = 1
	}
	c.h.dial.wait = l.dnsWait
	e.waiters = append(e.waiters, dnsWaiter{c, l.dnsWait})
	return backendAddr{}, errResolving
}

// lookup starts looking up b's host in a goroutine.
func (l *loop) lookup(b affinity.Backend) {
	e := l.addrs[b.Endpoint]
	e.pending = true
	_, address, _ := b.Addr()
	host, port, err := net.SplitHostPort(address)
	timeout := max(l.s.connectTimeout, 5*time.Second)
	resolver := l.s.lookupIP
	go func() {
		var ap netip.AddrPort
		if err == nil {
			ap, err = lookupHostPort(resolver, host, port, timeout)
		}
		if err != nil {
			err = fmt.Errorf("dial backend %s: %w", b.Endpoint, err)
		}
		l.post(func() { l.resolved(b.Endpoint, ap, err) })
	}()
}

func lookupHostPort(resolver func(context.Context, string, string) ([]netip.Addr, error), host, port string, timeout time.Duration) (netip.AddrPort, error) {
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ips, err := resolver(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	// IPv4 first, as net.ResolveTCPAddr prefers it.
	best := netip.Addr{}
	for _, ip := range ips {
		if ip = ip.Unmap(); ip.Is4() {
			best = ip
			break
		}
		if !best.IsValid() {
			best = ip
		}
	}
	if !best.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("lookup %s: no address", host)
	}
	return netip.AddrPortFrom(best, uint16(p)), nil
}

// resolved takes a lookup's answer on the loop and wakes the connections
// waiting for it.
func (l *loop) resolved(endpoint string, ap netip.AddrPort, err error) {
	e := l.addrs[endpoint]
	if e == nil {
		return
	}
	e.pending = false
	switch {
	case err == nil:
		e.ba, e.known, e.err = sockaddrOf(ap), true, nil
		e.expires = l.now + dnsTTL
	case e.known:
		// Keep the address we have; try again soon.
		l.warn("backend lookup failed; keeping the last address", "backend", endpoint, "err", err)
		e.expires = l.now + dnsRetry
	default:
		e.err = err
		e.expires = l.now + dnsRetry
		l.warn("backend lookup failed", "backend", endpoint, "err", err)
	}
	waiters := e.waiters
	e.waiters = nil
	for _, w := range waiters {
		if c := w.c; c.phase == phConnecting && c.h.dial.wait == w.token {
			c.h.dial.wait = 0
			c.dialResolved(e)
		}
	}
}

func sockaddrOf(ap netip.AddrPort) backendAddr {
	if ip := ap.Addr().Unmap(); ip.Is4() {
		return backendAddr{family: unix.AF_INET, sa: &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}}
	}
	return backendAddr{family: unix.AF_INET6, sa: &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}}
}
