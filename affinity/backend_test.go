package affinity

import (
	"strings"
	"testing"
)

func TestParseProxyProtocol(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ProxyProtocol
		ok   bool
	}{
		{"", ProxyDefault, true},
		{"off", ProxyOff, true},
		{"v1", ProxyV1, true},
		{"v2", ProxyV2, true},
		// One spelling each: flags, files and documents agree.
		{"V1", ProxyDefault, false},
		{" v1", ProxyDefault, false},
		{"none", ProxyDefault, false},
		{"1", ProxyDefault, false},
		{"default", ProxyDefault, false},
		{"v3", ProxyDefault, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseProxyProtocol(tc.in)
			if got != tc.want || (err == nil) != tc.ok {
				t.Fatalf("ParseProxyProtocol(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), `"`+tc.in+`"`) || !strings.Contains(err.Error(), "off, v1 or v2")) {
				t.Errorf("ParseProxyProtocol(%q) error = %q; want it to name the value and off, v1 or v2", tc.in, err)
			}
		})
	}
}

func TestProxyProtocolString(t *testing.T) {
	for p, want := range map[ProxyProtocol]string{
		ProxyDefault: "default", ProxyOff: "off", ProxyV1: "v1", ProxyV2: "v2", ProxyV2 + 1: "ProxyProtocol(4)",
	} {
		if got := p.String(); got != want {
			t.Errorf("ProxyProtocol(%d).String() = %q; want %q", uint8(p), got, want)
		}
	}
}

// FuzzParseProxyProtocol checks ParseProxyProtocol against String, its
// inverse: whatever parses (other than "") prints back as the input.
func FuzzParseProxyProtocol(f *testing.F) {
	for _, s := range []string{"", "off", "v1", "v2", "V2", "v3", "default", "off\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProxyProtocol(s)
		switch {
		case err != nil:
			if p != ProxyDefault {
				t.Errorf("ParseProxyProtocol(%q) = %v, %v; want ProxyDefault with the error", s, p, err)
			}
		case s == "":
			if p != ProxyDefault {
				t.Errorf(`ParseProxyProtocol("") = %v; want ProxyDefault`, p)
			}
		case p.String() != s:
			t.Errorf("ParseProxyProtocol(%q) = %v; String() does not give the input back", s, p)
		}
	})
}
