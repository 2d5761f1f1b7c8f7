package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// dialer opens client connections from source addresses spread over
// 127.0.0.2 .. 127.0.0.(1+n), round robin. Each source address has its own
// ephemeral port range toward a given target, so n sources give n times the
// connections (TIME_WAIT included) that one address could.
//
// It is safe for concurrent use.
type dialer struct {
	sources []netip.Addr // empty: let the kernel choose
	next    atomic.Uint64
	timeout time.Duration
}

func newDialer(sources int, timeout time.Duration) *dialer {
	d := &dialer{timeout: timeout}
	for i := range min(sources, 254) {
		d.sources = append(d.sources, netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}))
	}
	return d
}

// DialContext dials the TCP address addr from the next source address.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	if len(d.sources) > 0 && isIPv4Target(addr) {
		src := d.sources[d.next.Add(1)%uint64(len(d.sources))]
		nd.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		nd.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = bindAddressNoPort(fd)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err // net.OpError already names op, source and address
	}
	return c, nil
}

// checkLoopback reports an error unless target is host:port with host a
// loopback IP address or "localhost". loadgen only ever loads this machine.
func checkLoopback(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if port == "" {
		return fmt.Errorf("target %q: missing port", target)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("target %q: host must be a loopback IP address or localhost: %w", target, err)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("target %q: %s is not a loopback address; loadgen only loads this machine", target, ip)
	}
	return nil
}

// isIPv4Target reports whether addr's host is an IPv4 address or localhost,
// the targets that 127.0.0.x source addresses can reach.
func isIPv4Target(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Is4()
}
