package engine

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Inbound PROXY protocol (Config.AcceptProxy): a front that terminates TLS
// or balances at layer 4 (a cloud load balancer, stunnel, HAProxy) puts a
// PROXY header (haproxy.org/download/2.9/doc/proxy-protocol.txt) before
// the client's bytes to say who the client is. The header is read and
// dropped; its source address stands for the client's in X-Forwarded-For,
// in the PROXY header sent to backends and in logs.

// trustedFront reports whether a connection from peer must start with a
// PROXY header: Config.AcceptProxyFrom is empty, the peer is in one of its
// networks, or the peer is on a UNIX socket.
func (s *Server) trustedFront(peer unix.Sockaddr) bool {
	from := s.cfg.AcceptProxyFrom
	if len(from) == 0 {
		return true
	}
	ip, ok := peerIP(peer)
	if !ok {
		return true
	}
	for _, p := range from {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Results of parseProxyHeader.
const (
	proxyMore = iota // a valid beginning; more bytes are needed
	proxyDone        // a whole header
	proxyBad         // not a valid header
)

const (
	proxyV1Max   = 107 // the longest v1 header, CRLF included (spec §2.1)
	proxyV2Fixed = 16  // signature, version and command, family, length
	// proxyV2Max bounds a v2 header: addresses and TLVs; more is refused
	// rather than buffered.
	proxyV2Max = proxyV2Fixed + 1024
)

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// parseProxyHeader reads the PROXY header (v1 or v2) at the start of b. For
// proxyDone it returns the header's length and, unless local, the
// addresses it gives: local means the header names no client (v1
// UNKNOWN, a v2 LOCAL command or a non-IP family), and the connection's
// own peer stands. It never looks past the header's bound and does not
// allocate.
func parseProxyHeader(b []byte) (n int, src, dst netip.AddrPort, local bool, res int) {
	if len(b) == 0 {
		return 0, src, dst, false, proxyMore
	}
	if b[0] == '\r' {
		return parseProxyV2(b)
	}
	return parseProxyV1(b)
}

// parseProxyV1 reads "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" or
// "PROXY UNKNOWN[ ...]\r\n" (spec §2.1): single spaces, addresses in
// their standard forms, ports in decimal without leading zeros.
func parseProxyV1(b []byte) (n int, src, dst netip.AddrPort, local bool, res int) {
	const prefix = "PROXY "
	if k := min(len(b), len(prefix)); string(b[:k]) != prefix[:k] {
		return 0, src, dst, false, proxyBad
	}
	lim := min(len(b), proxyV1Max)
	lf := bytes.IndexByte(b[:lim], '\n')
	if lf < 0 {
		if len(b) >= proxyV1Max {
			return 0, src, dst, false, proxyBad
		}
		return 0, src, dst, false, proxyMore
	}
	if lf < len(prefix)+1 || b[lf-1] != '\r' {
		return 0, src, dst, false, proxyBad
	}
	line := b[len(prefix) : lf-1]
	n = lf + 1
	if bytes.HasPrefix(line, []byte("UNKNOWN")) && (len(line) == 7 || line[7] == ' ') {
		return n, src, dst, true, proxyDone
	}
	var f [5][]byte
	for i := range f {
		sp := bytes.IndexByte(line, ' ')
		if i == len(f)-1 {
			if sp >= 0 {
				return 0, src, dst, false, proxyBad
			}
			f[i] = line
			break
		}
		if sp < 0 {
			return 0, src, dst, false, proxyBad
		}
		f[i], line = line[:sp], line[sp+1:]
	}
	var v6 bool
	switch string(f[0]) {
	case "TCP4":
	case "TCP6":
		v6 = true
	default:
		return 0, src, dst, false, proxyBad
	}
	sa, ok1 := parseProxyIP(f[1], v6)
	da, ok2 := parseProxyIP(f[2], v6)
	sp, ok3 := parsePort(f[3])
	dp, ok4 := parsePort(f[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, src, dst, false, proxyBad
	}
	return n, netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp), false, proxyDone
}

// parseProxyIP parses a v1 address: dotted IPv4 without leading zeros, or
// an IPv6 address without a zone. IPv6 goes through netip.ParseAddr (one
// small allocation for the string); IPv4, the usual case, does not.
func parseProxyIP(b []byte, v6 bool) (netip.Addr, bool) {
	if !v6 {
		var a [4]byte
		for i := range a {
			j := 0
			v := 0
			for j < len(b) && j < 4 && '0' <= b[j] && b[j] <= '9' {
				v = v*10 + int(b[j]-'0')
				j++
			}
			if j == 0 || j > 3 || v > 255 || j > 1 && b[0] == '0' {
				return netip.Addr{}, false
			}
			a[i] = byte(v)
			b = b[j:]
			if i < 3 {
				if len(b) == 0 || b[0] != '.' {
					return netip.Addr{}, false
				}
				b = b[1:]
			}
		}
		return netip.AddrFrom4(a), len(b) == 0
	}
	if len(b) == 0 || len(b) > 45 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(string(b))
	if err != nil || !ip.Is6() {
		return netip.Addr{}, false
	}
	return ip, true
}

func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return uint16(v), v <= 65535
}

// parseProxyV2 reads the binary header (spec §2.2): the signature, version
// 2 with command LOCAL or PROXY, a family and protocol, the length of what
// follows; TCP over IPv4 or IPv6 carries addresses, a UNIX stream none
// (and LOCAL ignores them). TLVs after the addresses are skipped.
func parseProxyV2(b []byte) (n int, src, dst netip.AddrPort, local bool, res int) {
	if k := min(len(b), len(proxyV2Sig)); !bytes.Equal(b[:k], proxyV2Sig[:k]) {
		return 0, src, dst, false, proxyBad
	}
	if len(b) < proxyV2Fixed {
		return 0, src, dst, false, proxyMore
	}
	verCmd, fam := b[12], b[13]
	size := int(binary.BigEndian.Uint16(b[14:16]))
	if verCmd>>4 != 2 || verCmd&0xf > 1 || proxyV2Fixed+size > proxyV2Max {
		return 0, src, dst, false, proxyBad
	}
	n = proxyV2Fixed + size
	if len(b) < n {
		return 0, src, dst, false, proxyMore
	}
	body := b[proxyV2Fixed:n]
	switch fam {
	case 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32:
	default:
		return 0, src, dst, false, proxyBad // undefined: refused, LOCAL too (spec §2.2)
	}
	if verCmd&0xf == 0 { // LOCAL: the front's own connection (a health check)
		return n, src, dst, true, proxyDone
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if len(body) < 12 {
			return 0, src, dst, false, proxyBad
		}
		src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		return n, src, dst, false, proxyDone
	case 0x21: // TCP over IPv6
		if len(body) < 36 {
			return 0, src, dst, false, proxyBad
		}
		src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
		return n, src, dst, false, proxyDone
	case 0x31: // a UNIX stream: no IP client address
		if len(body) < 216 {
			return 0, src, dst, false, proxyBad
		}
		return n, src, dst, true, proxyDone
	}
	// UDP, UNIX datagrams, unknown; and UNSPEC, which the spec lets a
	// receiver refuse with the PROXY command (go-proxyproto does).
	return 0, src, dst, false, proxyBad
}
