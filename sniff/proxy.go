package sniff

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// The PROXY protocol (haproxy.org/download/2.9/doc/proxy-protocol.txt) is
// what a front that terminates TLS or balances at layer 4 (a cloud load
// balancer, stunnel, HAProxy) puts before the client's bytes to say who the
// client is. Version 1 is a text line (spec §2.1):
//
//	"PROXY" SP ( "TCP4" / "TCP6" ) SP src SP dst SP sport SP dport CRLF
//	"PROXY" SP "UNKNOWN" [ SP *any ] CRLF
//
// with single spaces, addresses in their standard forms and ports in
// decimal without leading zeros, 107 bytes at most. Version 2 is binary
// (spec §2.2): a 12-byte signature, version 2 with command LOCAL or PROXY,
// a family and protocol byte, the big-endian length of what follows, then
// the addresses and optional TLVs (spec §2.2.7), of which only PP2_TYPE_SSL
// is read (§2.2.5): its first byte's PP2_CLIENT_SSL bit says the client
// connected over TLS.

// ProxyHeader is what a PROXY protocol header (v1 or v2) says.
type ProxyHeader struct {
	Len      int            // header length in bytes
	Src, Dst netip.AddrPort // client and the address it connected to; zero when Local
	Local    bool           // names no client (v1 UNKNOWN, v2 LOCAL, non-IP family): the socket's peer stands
	TLS      bool           // v2 PROXY: an SSL TLV says the client connected over TLS
}

const (
	proxyV1Max   = 107 // the longest v1 header, CRLF included (spec §2.1)
	proxyV2Fixed = 16  // signature, version and command, family, length
	// proxyV2Max bounds a v2 header: addresses and TLVs; more is refused
	// rather than buffered.
	proxyV2Max = proxyV2Fixed + 1024
)

const proxyV2Sig = "\r\n\r\n\x00\r\nQUIT\n"

// Proxy parses the PROXY header at the start of b: NeedMore, Done (h filled) or Invalid.
//
// NeedMore means b is a valid beginning of a header; Invalid that it cannot
// become one. For Done, h.Len bytes are the header and the client's bytes
// follow; for the other results *h is zeroed. Proxy looks at no byte past
// the header's bound (107 bytes for v1, 1040 for v2), so a caller that
// still has NeedMore at that length will get Invalid. It does not allocate,
// except for an IPv6 address in a v1 header.
func Proxy(b []byte, h *ProxyHeader) Status {
	*h = ProxyHeader{}
	if len(b) == 0 {
		return NeedMore
	}
	if b[0] == '\r' {
		return proxyV2(b, h)
	}
	return proxyV1(b, h)
}

func proxyV1(b []byte, h *ProxyHeader) Status {
	const prefix = "PROXY "
	if k := min(len(b), len(prefix)); string(b[:k]) != prefix[:k] {
		return Invalid
	}
	lf := bytes.IndexByte(b[:min(len(b), proxyV1Max)], '\n')
	if lf < 0 {
		if len(b) >= proxyV1Max {
			return Invalid
		}
		return NeedMore
	}
	if lf < len(prefix)+1 || b[lf-1] != '\r' {
		return Invalid
	}
	line := b[len(prefix) : lf-1]
	if bytes.HasPrefix(line, []byte("UNKNOWN")) && (len(line) == 7 || line[7] == ' ') {
		h.Len, h.Local = lf+1, true
		return Done
	}
	var f [5][]byte // protocol, source, destination, source port, destination port
	for i := range f {
		sp := bytes.IndexByte(line, ' ')
		if i == len(f)-1 {
			if sp >= 0 {
				return Invalid
			}
			f[i] = line
			break
		}
		if sp < 0 {
			return Invalid
		}
		f[i], line = line[:sp], line[sp+1:]
	}
	var v6 bool
	switch string(f[0]) {
	case "TCP4":
	case "TCP6":
		v6 = true
	default:
		return Invalid
	}
	sa, ok1 := proxyIP(f[1], v6)
	da, ok2 := proxyIP(f[2], v6)
	sp, ok3 := proxyPort(f[3])
	dp, ok4 := proxyPort(f[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return Invalid
	}
	h.Len = lf + 1
	h.Src, h.Dst = netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp)
	return Done
}

// proxyIP parses a v1 address: dotted IPv4 without leading zeros, or an
// IPv6 address without a zone. IPv6 goes through netip.ParseAddr (one
// small allocation for the string); IPv4, the usual case, does not.
func proxyIP(b []byte, v6 bool) (netip.Addr, bool) {
	if !v6 {
		var a [4]byte
		for i := range a {
			j, v := 0, 0
			for j < len(b) && j < 4 && isDigit(b[j]) {
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

// proxyPort parses a v1 port: 0 to 65535 in decimal, no leading zero.
func proxyPort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return uint16(v), v <= 65535
}

// proxyV2 reads the binary header: TCP over IPv4 or IPv6 carries
// addresses, a UNIX stream none, and LOCAL ignores them.
func proxyV2(b []byte, h *ProxyHeader) Status {
	if k := min(len(b), len(proxyV2Sig)); string(b[:k]) != proxyV2Sig[:k] {
		return Invalid
	}
	if len(b) < proxyV2Fixed {
		return NeedMore
	}
	verCmd, fam := b[12], b[13]
	n := proxyV2Fixed + int(binary.BigEndian.Uint16(b[14:16]))
	if verCmd>>4 != 2 || verCmd&0xf > 1 || n > proxyV2Max {
		return Invalid
	}
	if len(b) < n {
		return NeedMore
	}
	body := b[proxyV2Fixed:n]
	switch fam {
	case 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32:
	default:
		return Invalid // undefined: refused, LOCAL too (spec §2.2)
	}
	if verCmd&0xf == 0 { // LOCAL: the front's own connection (a health check)
		h.Len, h.Local = n, true
		return Done
	}
	var addrLen int
	switch fam {
	case 0x11: // TCP over IPv4
		addrLen = 12
		if len(body) < 12 {
			return Invalid
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21: // TCP over IPv6
		addrLen = 36
		if len(body) < 36 {
			return Invalid
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	case 0x31: // a UNIX stream: no IP client address
		addrLen = 216
		if len(body) < 216 {
			return Invalid
		}
		h.Local = true
	default:
		// UDP, UNIX datagrams; and UNSPEC, which the spec lets a receiver
		// refuse with the PROXY command (go-proxyproto does).
		return Invalid
	}
	h.Len = n
	h.TLS = proxyTLS(body[addrLen:])
	return Done
}

// proxyTLS reports whether the TLVs in b (spec §2.2.7: type, 16-bit
// big-endian length, value) hold a PP2_TYPE_SSL (0x20) whose client field
// has PP2_CLIENT_SSL (0x01); the first SSL TLV counts. A TLV list that
// does not parse to its end is ignored whole: the header's addresses still
// stand, but nothing in it is believed about TLS.
func proxyTLS(b []byte) bool {
	const typeSSL, clientSSL = 0x20, 0x01
	tls, found := false, false
	for len(b) > 0 {
		if len(b) < 3 {
			return false
		}
		n := 3 + int(binary.BigEndian.Uint16(b[1:3]))
		if n > len(b) {
			return false
		}
		// pp2_tlv_ssl: uint8 client, uint32 verify, sub-TLVs.
		if b[0] == typeSSL && n >= 3+5 && !found {
			tls, found = b[3]&clientSSL != 0, true
		}
		b = b[n:]
	}
	return tls
}
