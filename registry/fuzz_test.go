package registry

import (
	"net"
	"strings"
	"testing"

	"github.com/l4lb/l4lb/affinity"
)

// FuzzNormalizeEndpoint checks NormalizeEndpoint against two oracles:
// what it accepts is canonical (normalizing again changes nothing) and
// splits, through affinity.Backend.Addr, into what net.SplitHostPort or a
// UNIX socket path expects.
func FuzzNormalizeEndpoint(f *testing.F) {
	for _, s := range []string{
		"10.0.0.5:3000", "http://10.0.0.5:3000/", "tcp://app:80", "[::1]:3000",
		"http://[fe80::1%eth0]:8080", "unix:/run/a.sock", "unix:///run//a/../b.sock",
		"unix:relative", "https://x:1", "a:b:c", "host:99999", "\tx:1", "x\x00y:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEndpoint(in)
		if err != nil {
			if !strings.Contains(err.Error(), "normalize endpoint") {
				t.Errorf("NormalizeEndpoint(%q) error %q does not name the operation", in, err)
			}
			return
		}
		if again, err := NormalizeEndpoint(out); err != nil || again != out {
			t.Errorf("NormalizeEndpoint(%q) = %q, but NormalizeEndpoint(%q) = %q, %v; want it unchanged", in, out, out, again, err)
		}
		network, addr, ok := affinity.Backend{Endpoint: out}.Addr()
		if !ok {
			t.Fatalf("NormalizeEndpoint(%q) = %q, which Backend.Addr refuses", in, out)
		}
		switch network {
		case "tcp":
			host, port, err := net.SplitHostPort(addr)
			if err != nil || host == "" || port == "" || strings.ContainsAny(host, " \t\r\n\x00/") {
				t.Errorf("NormalizeEndpoint(%q) = %q: SplitHostPort(%q) = %q, %q, %v", in, out, addr, host, port, err)
			}
		case "unix":
			if !strings.HasPrefix(addr, "/") || strings.ContainsRune(addr, 0) {
				t.Errorf("NormalizeEndpoint(%q) = %q: unix path %q is not absolute or holds NUL", in, out, addr)
			}
		}
	})
}
