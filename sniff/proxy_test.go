package sniff

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

var proxyTests = []struct {
	name     string
	in       string
	st       Status
	n        int    // for Done
	src, dst string // for Done and not local
	local    bool
}{
	{"v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /", Done, 45, "192.0.2.1:56324", "198.51.100.2:443", false},
	{"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", Done, 44, "[2001:db8::1]:1", "[2001:db8::2]:65535", false},
	{"v1 port 0", "PROXY TCP4 0.0.0.0 255.255.255.255 0 0\r\n", Done, 40, "0.0.0.0:0", "255.255.255.255:0", false},
	{"v1 unknown", "PROXY UNKNOWN\r\n", Done, 15, "", "", true},
	{"v1 unknown with addresses", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", Done, 35, "", "", true},
	{"empty", "", NeedMore, 0, "", "", false},
	{"v1 partial", "PROXY TCP4 192.0.2.1", NeedMore, 0, "", "", false},
	{"v1 prefix only", "PRO", NeedMore, 0, "", "", false},
	{"v1 before LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r", NeedMore, 0, "", "", false},
	{"not a header", "GET / HTTP/1.1\r\n\r\n", Invalid, 0, "", "", false},
	{"lower case", "proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 bare LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", Invalid, 0, "", "", false},
	{"v1 empty", "PROXY \r\n", Invalid, 0, "", "", false},
	{"v1 unknownx", "PROXY UNKNOWNX\r\n", Invalid, 0, "", "", false},
	{"v1 tcp5", "PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 leading zero octet", "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 octet too big", "PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 three octets", "PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 leading zero port", "PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n", Invalid, 0, "", "", false},
	{"v1 port too big", "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", Invalid, 0, "", "", false},
	{"v1 family mismatch", "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 IPv4 as TCP6", "PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 IPv4-mapped as TCP6", "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", Done, 37, "[::ffff:192.0.2.1]:1", "[::1]:2", false},
	{"v1 double space", "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 missing field", "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", Invalid, 0, "", "", false},
	{"v1 extra field", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", Invalid, 0, "", "", false},
	{"v1 zone", "PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n", Invalid, 0, "", "", false},
	{"v1 too long", "PROXY TCP6 " + strings.Repeat("1", 120), Invalid, 0, "", "", false},
	{"v1 LF past the bound", "PROXY UNKNOWN " + strings.Repeat("x", 92) + "\r\n", Invalid, 0, "", "", false},
	{"v1 LF at the bound", "PROXY UNKNOWN " + strings.Repeat("x", 91) + "\r\n", Done, 107, "", "", true},
	{"v2 bad signature", "\r\n\r\n\x00\r\nQUIX\n", Invalid, 0, "", "", false},
	{"v2 signature only", "\r\n\r\n\x00\r\nQUIT\n", NeedMore, 0, "", "", false},
	{"v2 partial", "\r\n\r\n\x00\r\nQUIT\n\x21", NeedMore, 0, "", "", false},
	{"v2 partial addresses", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02", NeedMore, 0, "", "", false},
	{"v2 version 1", "\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c" + strings.Repeat("\x00", 12), Invalid, 0, "", "", false},
	{"v2 version 3", "\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + strings.Repeat("\x00", 12), Invalid, 0, "", "", false},
	{"v2 command 2", "\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c" + strings.Repeat("\x00", 12), Invalid, 0, "", "", false},
	{"v2 udp", "\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + strings.Repeat("\x00", 12), Invalid, 0, "", "", false},
	{"v2 proxy unspec", "\r\n\r\n\x00\r\nQUIT\n\x21\x00\x00\x00", Invalid, 0, "", "", false},
	{"v2 undefined family", "\r\n\r\n\x00\r\nQUIT\n\x20\x41\x00\x00", Invalid, 0, "", "", false},
	{"v2 short addresses", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + strings.Repeat("\x00", 4), Invalid, 0, "", "", false},
	{"v2 too long", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x04\x01", Invalid, 0, "", "", false},
	{"v2 local ignores addresses", "\r\n\r\n\x00\r\nQUIT\n\x20\x11\x00\x0c" + strings.Repeat("\x01", 12), Done, 28, "", "", true},
	{"v2 tcp4 raw", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\x03\xe8\x01\xbb", Done, 28, "192.0.2.1:1000", "198.51.100.2:443", false},
}

// proxyTLSTests are v2 TCP4 headers whose TLVs follow the addresses
// (spec §2.2.7), and whether Proxy reads them as TLS (PP2_TYPE_SSL 0x20
// with PP2_CLIENT_SSL); the addresses stand either way.
var proxyTLSTests = []struct {
	name, tlvs string
	tls        bool
}{
	{"none", "", false},
	{"ssl client bit", "\x20\x00\x05\x01\x00\x00\x00\x00", true},
	{"ssl with version", "\x20\x00\x0c\x01\x00\x00\x00\x00\x21\x00\x04TLS3", true},
	{"ssl without client bit", "\x20\x00\x05\x02\x00\x00\x00\x00", false},
	{"ssl after alpn", "\x01\x00\x02h2\x20\x00\x05\x07\x00\x00\x00\x01", true},
	{"ssl too short", "\x20\x00\x04\x01\x00\x00\x00", false},
	{"first ssl counts", "\x20\x00\x05\x00\x00\x00\x00\x00\x20\x00\x05\x01\x00\x00\x00\x00", false},
	{"ssl then truncated tlv", "\x20\x00\x05\x01\x00\x00\x00\x00\x04\x00", false},
	{"ssl overruns", "\x20\x00\x09\x01\x00\x00\x00\x00", false},
}

// v2TCP4 is a raw v2 PROXY TCP4 header for 192.0.2.1:1000 -> 198.51.100.2:443
// with tlvs after the addresses.
func v2TCP4(tlvs string) string {
	n := 12 + len(tlvs)
	return "\r\n\r\n\x00\r\nQUIT\n\x21\x11" + string([]byte{byte(n >> 8), byte(n)}) +
		"\xc0\x00\x02\x01\xc6\x33\x64\x02\x03\xe8\x01\xbb" + tlvs
}

func TestProxyTLS(t *testing.T) {
	for _, tc := range proxyTLSTests {
		t.Run(tc.name, func(t *testing.T) {
			in := v2TCP4(tc.tlvs)
			var h ProxyHeader
			if st := Proxy([]byte(in), &h); st != Done || h.Len != len(in) || h.TLS != tc.tls || h.Src.String() != "192.0.2.1:1000" {
				t.Fatalf("Proxy(%q) = %v %+v; want Done, %d bytes, TLS %v", in, st, h, len(in), tc.tls)
			}
			checkProxyOracle(t, []byte(in), &h)
		})
	}
	// v1 has no TLVs; neither has a LOCAL header that Proxy believes.
	for _, in := range []string{"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
		string(v2Header(t, proxyproto.LOCAL, proxyproto.TCPv4, tcpAddr("192.0.2.1:1"), tcpAddr("192.0.2.2:2"), sslTLV(t)))} {
		var h ProxyHeader
		if Proxy([]byte(in), &h); h.TLS {
			t.Errorf("Proxy(%q).TLS = true; want false", in)
		}
	}
}

// sslTLV is the PP2_TYPE_SSL TLV a TLS terminator sends for a client that
// connected over TLS 1.3 without a certificate, formatted by go-proxyproto.
func sslTLV(t testing.TB) proxyproto.TLV {
	t.Helper()
	tlv, err := tlvparse.PP2SSL{
		Client: tlvparse.PP2_BITFIELD_CLIENT_SSL,
		Verify: 1,
		TLV:    []proxyproto.TLV{{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")}},
	}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return tlv
}

func TestProxy(t *testing.T) {
	for _, tc := range proxyTests {
		t.Run(tc.name, func(t *testing.T) {
			h := ProxyHeader{Len: -1, Local: true} // Proxy must clear it
			st := Proxy([]byte(tc.in), &h)
			want := ProxyHeader{Len: tc.n, Local: tc.local}
			if tc.src != "" {
				want.Src = netip.MustParseAddrPort(tc.src)
				want.Dst = netip.MustParseAddrPort(tc.dst)
			}
			if st != tc.st || h != want {
				t.Fatalf("Proxy(%q) = %v %+v; want %v %+v", tc.in, st, h, tc.st, want)
			}
		})
	}
}

// TestProxyGoProxyproto reads the headers go-proxyproto writes.
func TestProxyGoProxyproto(t *testing.T) {
	for name, in := range proxySeeds(t) {
		t.Run(name, func(t *testing.T) {
			var h ProxyHeader
			st := Proxy(in, &h)
			if st != Done {
				if strings.HasPrefix(name, "truncated") && st == NeedMore {
					return
				}
				t.Fatalf("Proxy(%q) = %v", in, st)
			}
			checkProxyOracle(t, in, &h)
		})
	}
}

func TestProxyAllocs(t *testing.T) {
	for _, in := range []string{
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
		"PROXY UNKNOWN\r\n",
		string(v2Header(t, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:1000"), tcpAddr("198.51.100.2:443"))),
		string(v2Header(t, proxyproto.PROXY, proxyproto.TCPv6, tcpAddr("[2001:db8::1]:1000"), tcpAddr("[2001:db8::2]:443"))),
		string(v2Header(t, proxyproto.LOCAL, proxyproto.UNSPEC, nil, nil)),
		string(v2Header(t, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:1000"), tcpAddr("198.51.100.2:443"), sslTLV(t))),
	} {
		b := []byte(in)
		var h ProxyHeader
		if a := testing.AllocsPerRun(100, func() { Proxy(b, &h) }); a != 0 {
			t.Errorf("Proxy(%q) allocates %v times", in, a)
		}
	}
}

func tcpAddr(s string) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s))
}

// v2Header formats a v2 header with go-proxyproto.
func v2Header(t testing.TB, cmd proxyproto.ProtocolVersionAndCommand, tp proxyproto.AddressFamilyAndProtocol, src, dst net.Addr, tlvs ...proxyproto.TLV) []byte {
	t.Helper()
	h := &proxyproto.Header{Version: 2, Command: cmd, TransportProtocol: tp, SourceAddr: src, DestinationAddr: dst}
	if len(tlvs) > 0 {
		if err := h.SetTLVs(tlvs); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proxySeeds are headers as go-proxyproto writes them, by name: the
// committed seed corpus of FuzzProxy (see TestWriteSeeds).
func proxySeeds(t testing.TB) map[string][]byte {
	t.Helper()
	unix := func(p string) *net.UnixAddr { return &net.UnixAddr{Name: p, Net: "unix"} }
	tlvs := []proxyproto.TLV{
		{Type: proxyproto.PP2_TYPE_ALPN, Value: []byte("http/1.1")},
		{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("a.example")},
		{Type: proxyproto.PP2_TYPE_NOOP, Value: make([]byte, 5)},
	}
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	v2tcp4 := v2Header(t, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:56324"), tcpAddr("198.51.100.2:443"))
	v2tcp6tlv := v2Header(t, proxyproto.PROXY, proxyproto.TCPv6, tcpAddr("[2001:db8::1]:56324"), tcpAddr("[2001:db8::2]:443"), tlvs...)
	seeds := map[string][]byte{
		"v1-tcp4":              []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"),
		"v1-tcp4-request":      append([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), req...),
		"v1-tcp6":              []byte("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"),
		"v1-unknown":           []byte("PROXY UNKNOWN\r\n"),
		"v1-unknown-addresses": []byte("PROXY UNKNOWN 192.0.2.1 198.51.100.2 56324 443\r\n"),
		"v2-tcp4":              v2tcp4,
		"v2-tcp4-request":      append(bytes.Clone(v2tcp4), req...),
		"v2-tcp4-tlv":          v2Header(t, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:56324"), tcpAddr("198.51.100.2:443"), tlvs...),
		"v2-tcp6":              v2Header(t, proxyproto.PROXY, proxyproto.TCPv6, tcpAddr("[2001:db8::1]:56324"), tcpAddr("[2001:db8::2]:443")),
		"v2-tcp6-tlv":          v2tcp6tlv,
		"v2-unix":              v2Header(t, proxyproto.PROXY, proxyproto.UnixStream, unix("/run/client.sock"), unix("/run/l4lb.sock")),
		"v2-local":             v2Header(t, proxyproto.LOCAL, proxyproto.UNSPEC, nil, nil),
		"v2-local-tcp4":        v2Header(t, proxyproto.LOCAL, proxyproto.TCPv4, tcpAddr("192.0.2.1:56324"), tcpAddr("198.51.100.2:443")),
		"v2-local-tcp6-tlv":    v2Header(t, proxyproto.LOCAL, proxyproto.TCPv6, tcpAddr("[2001:db8::1]:56324"), tcpAddr("[2001:db8::2]:443"), tlvs...),
		"v2-local-unix":        v2Header(t, proxyproto.LOCAL, proxyproto.UnixStream, unix("/run/client.sock"), unix("/run/l4lb.sock")),
		"v2-tcp4-ssl":          v2Header(t, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:56324"), tcpAddr("198.51.100.2:443"), sslTLV(t)),
		"v2-tcp6-alpn-ssl":     v2Header(t, proxyproto.PROXY, proxyproto.TCPv6, tcpAddr("[2001:db8::1]:56324"), tcpAddr("[2001:db8::2]:443"), append(tlvs[:1:1], sslTLV(t))...),
		"v2-tcp4-ssl-request":  append(v2Header(t, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:56324"), tcpAddr("198.51.100.2:443"), sslTLV(t)), req...),
	}
	seeds["truncated-v1-tcp4"] = seeds["v1-tcp4"][:30]
	seeds["truncated-v1-tcp6-before-lf"] = seeds["v1-tcp6"][:len(seeds["v1-tcp6"])-1]
	seeds["truncated-v2-fixed"] = v2tcp4[:14]
	seeds["truncated-v2-addresses"] = v2tcp4[:22]
	seeds["truncated-v2-tlv"] = v2tcp6tlv[:len(v2tcp6tlv)-3]
	return seeds
}

// checkProxyOracle checks a Done header against go-proxyproto's reading.
func checkProxyOracle(t testing.TB, data []byte, h *ProxyHeader) {
	t.Helper()
	g, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatalf("Proxy(%q) = Done %+v; go-proxyproto: %v", data, *h, err)
	}
	if h.Local {
		if h.Src.IsValid() || h.Dst.IsValid() {
			t.Fatalf("Proxy(%q) = local with addresses %+v", data, *h)
		}
		return
	}
	// TLS: the first SSL TLV's client bit, in a TLV list go-proxyproto
	// splits without error; none otherwise.
	wantTLS := false
	if g.Version == 2 {
		if tlvs, err := g.TLVs(); err == nil {
			for _, tlv := range tlvs {
				if tlvparse.IsSSL(tlv) {
					wantTLS = tlv.Value[0]&tlvparse.PP2_BITFIELD_CLIENT_SSL != 0
					break
				}
			}
		}
	}
	if h.TLS != wantTLS {
		t.Fatalf("Proxy(%q).TLS = %v; go-proxyproto's TLVs say %v", data, h.TLS, wantTLS)
	}
	gs, ok1 := g.SourceAddr.(*net.TCPAddr)
	gd, ok2 := g.DestinationAddr.(*net.TCPAddr)
	if !ok1 || !ok2 {
		t.Fatalf("Proxy(%q) = %v %v; go-proxyproto %v %v", data, h.Src, h.Dst, g.SourceAddr, g.DestinationAddr)
	}
	ws, _ := netip.AddrFromSlice(gs.IP)
	wd, _ := netip.AddrFromSlice(gd.IP)
	if h.Src.Addr().Unmap() != ws.Unmap() || h.Src.Port() != uint16(gs.Port) || h.Dst.Addr().Unmap() != wd.Unmap() || h.Dst.Port() != uint16(gd.Port) {
		t.Fatalf("Proxy(%q) = %v %v; go-proxyproto %v %v", data, h.Src, h.Dst, gs, gd)
	}
}

// FuzzProxy checks Proxy against go-proxyproto (a header Proxy accepts,
// go-proxyproto reads with the same addresses), and that feeding a header
// one byte at a time gives NeedMore until the same answer at the same
// length, within the bound.
func FuzzProxy(f *testing.F) {
	for _, tc := range proxyTests {
		f.Add([]byte(tc.in))
	}
	for _, tc := range proxyTLSTests {
		f.Add([]byte(v2TCP4(tc.tlvs)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h ProxyHeader
		st := Proxy(data, &h)
		switch {
		case st == Done && (h.Len <= 0 || h.Len > len(data) || h.Len > proxyV2Max):
			t.Fatalf("Proxy(%q) = Done with length %d", data, h.Len)
		case st == NeedMore && len(data) >= proxyV2Max:
			t.Fatalf("Proxy(%q) = NeedMore after %d bytes", data, len(data))
		case st == NotHTTP:
			t.Fatalf("Proxy(%q) = NotHTTP", data)
		}
	prefixes:
		for k := 0; k < len(data); k++ {
			var kh ProxyHeader
			switch Proxy(data[:k], &kh) {
			case Done:
				if st != Done || kh != h {
					t.Fatalf("Proxy(%q) = Done %+v at prefix %d; whole: %v %+v", data, kh, k, st, h)
				}
				break prefixes
			case Invalid:
				if st != Invalid {
					t.Fatalf("Proxy(%q) = Invalid at prefix %d; whole: %v", data, k, st)
				}
				break prefixes
			}
		}
		if st == Done {
			checkProxyOracle(t, data, &h)
		}
	})
}

func BenchmarkProxy(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"v1-tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"},
		{"v2-tcp4", string(v2Header(b, proxyproto.PROXY, proxyproto.TCPv4, tcpAddr("192.0.2.1:56324"), tcpAddr("198.51.100.2:443")))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			var h ProxyHeader
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if Proxy(in, &h) != Done {
					b.Fatal("not Done")
				}
			}
		})
	}
}
