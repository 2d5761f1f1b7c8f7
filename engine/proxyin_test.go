package engine

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

func v2Header(t testing.TB, cmd proxyproto.ProtocolVersionAndCommand, tp proxyproto.AddressFamilyAndProtocol, src, dst net.Addr) []byte {
	t.Helper()
	h := &proxyproto.Header{Version: 2, Command: cmd, TransportProtocol: tp, SourceAddr: src, DestinationAddr: dst}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var proxyHeaderTests = []struct {
	name     string
	in       string
	n        int // 0 unless done
	src, dst string
	local    bool
	res      int
}{
	{"v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /", 45, "192.0.2.1:56324", "198.51.100.2:443", false, proxyDone},
	{"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", 44, "[2001:db8::1]:1", "[2001:db8::2]:65535", false, proxyDone},
	{"v1 unknown", "PROXY UNKNOWN\r\n", 15, "", "", true, proxyDone},
	{"v1 unknown with addresses", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, "", "", true, proxyDone},
	{"v1 partial", "PROXY TCP4 192.0.2.1", 0, "", "", false, proxyMore},
	{"v1 prefix only", "PRO", 0, "", "", false, proxyMore},
	{"not a header", "GET / HTTP/1.1\r\n\r\n", 0, "", "", false, proxyBad},
	{"v1 bare LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", 0, "", "", false, proxyBad},
	{"v1 leading zero octet", "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", 0, "", "", false, proxyBad},
	{"v1 leading zero port", "PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n", 0, "", "", false, proxyBad},
	{"v1 port too big", "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", 0, "", "", false, proxyBad},
	{"v1 family mismatch", "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", 0, "", "", false, proxyBad},
	{"v1 double space", "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", 0, "", "", false, proxyBad},
	{"v1 extra field", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", 0, "", "", false, proxyBad},
	{"v1 zone", "PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n", 0, "", "", false, proxyBad},
	{"v1 too long", "PROXY TCP6 " + string(bytes.Repeat([]byte("1"), 120)), 0, "", "", false, proxyBad},
	{"v2 bad signature", "\r\n\r\n\x00\r\nQUIX\n", 0, "", "", false, proxyBad},
	{"v2 partial", "\r\n\r\n\x00\r\nQUIT\n\x21", 0, "", "", false, proxyMore},
	{"v2 version 3", "\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + string(make([]byte, 12)), 0, "", "", false, proxyBad},
	{"v2 udp", "\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + string(make([]byte, 12)), 0, "", "", false, proxyBad},
	{"v2 short addresses", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + string(make([]byte, 4)), 0, "", "", false, proxyBad},
}

func TestParseProxyHeader(t *testing.T) {
	for _, tc := range proxyHeaderTests {
		t.Run(tc.name, func(t *testing.T) {
			n, src, dst, local, res := parseProxyHeader([]byte(tc.in))
			if res != tc.res || n != tc.n || local != tc.local {
				t.Fatalf("parseProxyHeader(%q) = %d, %v, %v, local %v, res %d; want %d, local %v, res %d", tc.in, n, src, dst, local, res, tc.n, tc.local, tc.res)
			}
			if tc.src != "" && (src.String() != tc.src || dst.String() != tc.dst) {
				t.Fatalf("parseProxyHeader(%q) addresses %v, %v; want %s, %s", tc.in, src, dst, tc.src, tc.dst)
			}
		})
	}
	// v2, as go-proxyproto writes it.
	tcp4 := v2Header(t, proxyproto.PROXY, proxyproto.TCPv4,
		&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1000}, &net.TCPAddr{IP: net.ParseIP("198.51.100.2"), Port: 443})
	tcp6 := v2Header(t, proxyproto.PROXY, proxyproto.TCPv6,
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1000}, &net.TCPAddr{IP: net.ParseIP("2001:db8::2"), Port: 443})
	local := v2Header(t, proxyproto.LOCAL, proxyproto.UNSPEC, nil, nil)
	for _, tc := range []struct {
		name     string
		in       []byte
		src, dst string
		local    bool
	}{
		{"v2 tcp4", tcp4, "192.0.2.1:1000", "198.51.100.2:443", false},
		{"v2 tcp6", tcp6, "[2001:db8::1]:1000", "[2001:db8::2]:443", false},
		{"v2 local", local, "", "", true},
	} {
		in := append(bytes.Clone(tc.in), "GET / HTTP/1.1\r\n"...)
		n, src, dst, isLocal, res := parseProxyHeader(in)
		if res != proxyDone || n != len(tc.in) || isLocal != tc.local || !tc.local && (src.String() != tc.src || dst.String() != tc.dst) {
			t.Errorf("%s: parseProxyHeader = %d, %v, %v, local %v, res %d; want %d, %s, %s", tc.name, n, src, dst, isLocal, res, len(tc.in), tc.src, tc.dst)
		}
	}
	if a := testing.AllocsPerRun(100, func() { parseProxyHeader(tcp4) }); a != 0 {
		t.Errorf("parseProxyHeader(v2) allocates %v times", a)
	}
	v1 := []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
	if a := testing.AllocsPerRun(100, func() { parseProxyHeader(v1) }); a != 0 {
		t.Errorf("parseProxyHeader(v1 TCP4) allocates %v times", a)
	}
}

// FuzzProxyHeader checks parseProxyHeader against go-proxyproto, and that
// feeding a header byte by byte gives the same answer at the same length.
func FuzzProxyHeader(f *testing.F) {
	for _, tc := range proxyHeaderTests {
		f.Add([]byte(tc.in))
	}
	f.Add(v2Header(f, proxyproto.PROXY, proxyproto.TCPv4, &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}, &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 2}))
	f.Add(v2Header(f, proxyproto.PROXY, proxyproto.TCPv6, &net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, &net.TCPAddr{IP: net.ParseIP("::2"), Port: 2}))
	f.Add(v2Header(f, proxyproto.LOCAL, proxyproto.UNSPEC, nil, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, src, dst, local, res := parseProxyHeader(data)
		// Byte by byte: proxyMore until the header's end, then the same.
		for k := 0; k < len(data); k++ {
			kn, ks, kd, kl, kr := parseProxyHeader(data[:k])
			switch {
			case kr == proxyDone && (res != proxyDone || kn != n || ks != src || kd != dst || kl != local):
				t.Fatalf("prefix %d of %q: done at %d; whole: res %d at %d", k, data, kn, res, n)
			case kr == proxyBad && res != proxyBad:
				t.Fatalf("prefix %d of %q: bad; whole: res %d", k, data, res)
			}
		}
		if res != proxyDone {
			return
		}
		// What this parser accepts, go-proxyproto reads the same way.
		h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatalf("parseProxyHeader(%q) accepted %d bytes; go-proxyproto: %v", data, n, err)
		}
		if local {
			return
		}
		gs, ok1 := h.SourceAddr.(*net.TCPAddr)
		gd, ok2 := h.DestinationAddr.(*net.TCPAddr)
		if !ok1 || !ok2 {
			t.Fatalf("parseProxyHeader(%q) gave %v %v; go-proxyproto %v %v", data, src, dst, h.SourceAddr, h.DestinationAddr)
		}
		ws, _ := netip.AddrFromSlice(gs.IP)
		wd, _ := netip.AddrFromSlice(gd.IP)
		if src.Addr().Unmap() != ws.Unmap() || src.Port() != uint16(gs.Port) || dst.Addr().Unmap() != wd.Unmap() || dst.Port() != uint16(gd.Port) {
			t.Fatalf("parseProxyHeader(%q) = %v %v; go-proxyproto %v %v", data, src, dst, gs, gd)
		}
	})
}
