package engine

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// X-Forwarded-For and X-Forwarded-Proto (Config.ForwardedFor), and the
// one way a line is added to a head (insertLines; a draining server's
// "Connection: close" in responses uses it too).
//
// A line is not written into the flow's buffer: shifting the rest of
// a 64 KiB buffer by a few bytes per head would cost a copy, and a
// buffer filled to its end by a body would have no room at all. Instead
// the flow keeps the lines (ins) and where they go (insAt), and the head
// goes out in one writev(2) of three pieces: the head up to its final
// blank line, the lines, the blank line and whatever follows. The buffer's
// positions stay the client's own, so request framing (the head length,
// Content-Length and chunked bodies, the next head) is untouched by the
// insertion.

// xffPrefix starts the X-Forwarded-For line; xfpHTTPS is the
// X-Forwarded-Proto line of a connection that came over TLS (a PROXY v2
// header's SSL TLV said so); xffMax holds both, with the longest IPv6 text
// (39 bytes).
const (
	xffPrefix = "X-Forwarded-For: "
	xfpHTTPS  = "X-Forwarded-Proto: https\r\n"
	xffMax    = 96
)

// setForwardedFor formats h's X-Forwarded-For line for the peer sa, once
// per connection at accept. A peer that is not an IP (a UNIX socket) gets
// no line.
func (h *httpState) setForwardedFor(sa unix.Sockaddr) {
	if ip, ok := peerIP(sa); ok {
		h.setForwardedForIP(ip, false)
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

// setForwardedForIP formats h's X-Forwarded-For line for ip, and with tls
// the X-Forwarded-Proto line after it.
func (h *httpState) setForwardedForIP(ip netip.Addr, tls bool) {
	ip = ip.Unmap().WithZone("")
	b := append(h.xff[:0], xffPrefix...)
	b = ip.AppendTo(b)
	b = append(b, "\r\n"...)
	if tls {
		b = append(b, xfpHTTPS...)
	}
	h.xffLen = uint8(len(b))
}

// forwardedLines returns h's lines ending in CRLF, or with crlf false in
// a bare LF, converting h.xff in place when the previous head ended the
// other way (which the last two bytes tell).
func (h *httpState) forwardedLines(crlf bool) []byte {
	b := h.xff[:h.xffLen]
	if (b[len(b)-2] == '\r') == crlf {
		return b
	}
	if crlf {
		k := 0
		for _, c := range b {
			if c == '\n' {
				k++
			}
		}
		b = h.xff[:len(b)+k]
		for i, j := len(b)-k-1, len(b)-1; i >= 0; i, j = i-1, j-1 {
			b[j] = b[i]
			if b[i] == '\n' {
				j--
				b[j] = '\r'
			}
		}
	} else {
		n := 0
		for _, c := range b {
			if c != '\r' {
				b[n] = c
				n++
			}
		}
		b = b[:n]
	}
	h.xffLen = uint8(len(b))
	return b
}

// insertForwardedFor queues c's forwarded lines in front of the final
// blank line of the head at f.buf[f.p:], which is about to be released to
// the backend. The previous head's lines are gone: a head is routed only
// once everything before it was written.
func (c *conn) insertForwardedFor(f *flow) {
	end := int(f.p) + c.h.held.headLen
	f.insertLines(end, c.h.forwardedLines(headEndsCRLF(f.buf, end)))
}

// headEndsCRLF reports whether the head that ends at b[end-1] ends with
// CRLF CRLF rather than a bare LF, which RFC 9112 §2.2 lets a recipient
// accept.
func headEndsCRLF(b []byte, end int) bool { return b[end-2] == '\r' }

// insertLines queues field lines in front of the final blank line of the
// head that ends at f.buf[end-1]. The lines must end like the blank line
// does (headEndsCRLF), so the head keeps one style, and stay unchanged
// until written.
func (f *flow) insertLines(end int, lines []byte) {
	f.insAt = int32(end - 1)
	if headEndsCRLF(f.buf, end) {
		f.insAt = int32(end - 2)
	}
	f.ins = lines
}
