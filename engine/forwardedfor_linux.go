package engine

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// X-Forwarded-For (Config.ForwardedFor).
//
// The line is not written into the client's buffer: shifting the rest of
// a 64 KiB buffer by a few bytes per request would cost a copy, and a
// buffer filled to its end by a body would have no room at all. Instead
// the flow keeps the line (ins) and where it goes (insAt), and the head
// goes out in one writev(2) of three pieces: the head up to its final
// blank line, the line, the blank line and whatever follows. The buffer's
// positions stay the client's own, so request framing (the head length,
// Content-Length and chunked bodies, the next head) is untouched by the
// insertion.

// xffPrefix starts the line; xffMax holds it with the longest IPv6 text
// (39 bytes) and its CRLF.
const (
	xffPrefix = "X-Forwarded-For: "
	xffMax    = 64
)

// setForwardedFor formats h's X-Forwarded-For line for the peer sa, once
// per connection at accept. A peer that is not an IP (a UNIX socket) gets
// no line.
func (h *httpState) setForwardedFor(sa unix.Sockaddr) {
	if ip, ok := peerIP(sa); ok {
		h.setForwardedForIP(ip)
	}
}

// peerIP is the IP of a TCP peer, IPv4-mapped IPv6 as IPv4 and without a
// zone (a link-local scope is meaningless past this host); ok is false for
// a UNIX-socket peer.
func peerIP(sa unix.Sockaddr) (ip netip.Addr, ok bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr), true
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap(), true
	}
	return netip.Addr{}, false
}

// setForwardedForIP formats h's X-Forwarded-For line for ip.
func (h *httpState) setForwardedForIP(ip netip.Addr) {
	ip = ip.Unmap().WithZone("")
	b := append(h.xff[:0], xffPrefix...)
	b = ip.AppendTo(b)
	b = append(b, "\r\n"...)
	h.xffLen = uint8(len(b))
}

// insertForwardedFor queues c's X-Forwarded-For line in front of the
// final blank line of the head at f.buf[f.p:], which is about to be
// released to the backend. The line ends like the blank line does (CRLF,
// or a bare LF, which RFC 9112 §2.2 lets a recipient accept and which the
// backend accepted for the client's own lines), so the head keeps one
// style. The previous head's line is gone: a head is routed only once
// everything before it was written.
func (c *conn) insertForwardedFor(f *flow) {
	h := c.h
	n := int(h.xffLen)
	end := f.p + h.held.headLen // the head ends with its blank line's LF
	if f.buf[end-2] == '\r' {
		h.xff[n-2] = '\r'
		f.ins, f.insAt = h.xff[:n], end-2
	} else {
		h.xff[n-2] = '\n'
		f.ins, f.insAt = h.xff[:n-1], end-1
	}
}
