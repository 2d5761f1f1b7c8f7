//go:build linux

package engine

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// TestForwardedProto: behind a TLS terminator that sends a PROXY v2 header
// with an SSL TLV (client connected over TLS), every request head gets
// "X-Forwarded-Proto: https" after its X-Forwarded-For line, in the head's
// own line-ending style even when that changes between requests; a header
// without the TLV, or v1, gets X-Forwarded-For alone.
func TestForwardedProto(t *testing.T) {
	client := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	front := &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 443}
	ssl, err := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL, Verify: 1,
		TLV: []proxyproto.TLV{{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")}}}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v2 := func(tlvs ...proxyproto.TLV) string {
		h := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
			SourceAddr: client, DestinationAddr: front}
		if err := h.SetTLVs(tlvs); err != nil {
			t.Fatal(err)
		}
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const crlf, lf = "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\nHost: x\n\n"
	tests := []struct {
		name, header string
		heads        []string // sent one after another on one connection
		want         []string
	}{
		{"tls", v2(ssl), []string{crlf, lf, lf, crlf}, []string{
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n",
			"GET / HTTP/1.1\nHost: x\nX-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: https\n\n",
			"GET / HTTP/1.1\nHost: x\nX-Forwarded-For: 192.0.2.7\nX-Forwarded-Proto: https\n\n",
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n",
		}},
		{"tls with alpn first", v2(proxyproto.TLV{Type: proxyproto.PP2_TYPE_ALPN, Value: []byte("http/1.1")}, ssl), []string{crlf},
			[]string{"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n"}},
		{"plain v2", v2(), []string{lf, crlf}, []string{
			"GET / HTTP/1.1\nHost: x\nX-Forwarded-For: 192.0.2.7\n\n",
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n",
		}},
		{"v1", "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n", []string{crlf},
			[]string{"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend, heads := startHeadRecorder(t)
			s := startServer(t, Config{Balancer: newBalancer(t, backend), AcceptProxy: true, ForwardedFor: true})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			io.WriteString(c, tc.header)
			for i, head := range tc.heads {
				io.WriteString(c, head)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				resp.Body.Close()
				if got := recvHead(t, heads); got != tc.want[i] {
					t.Errorf("request %d: backend got %q; want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

// TestStickyInsertSecure: behind a TLS front (PROXY v2 with the SSL TLV)
// an inserted sticky cookie is Secure; without the TLV it is not.
func TestStickyInsertSecure(t *testing.T) {
	ssl, err := tlvparse.PP2SSL{Client: tlvparse.PP2_BITFIELD_CLIENT_SSL, Verify: 1,
		TLV: []proxyproto.TLV{{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")}}}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	web := []*svcInstance{startInstance(t, "web-1"), startInstance(t, "web-2")}
	s := startServer(t, Config{Balancer: svcBalancer(t, web...), Service: "web", StickyInsert: "JSESSIONID", AcceptProxy: true})
	for _, tc := range []struct {
		name       string
		tlvs       []proxyproto.TLV
		wantSecure bool
	}{{"tls", []proxyproto.TLV{ssl}, true}, {"plain", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
				SourceAddr:      &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000},
				DestinationAddr: &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 443}}
			if err := h.SetTLVs(tc.tlvs); err != nil {
				t.Fatal(err)
			}
			hb, err := h.Format()
			if err != nil {
				t.Fatal(err)
			}
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			c.Write(hb)
			for i := 0; i < 2; i++ { // the second response takes the loop's cached line
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sc := resp.Header.Get("Set-Cookie")
				if !strings.HasPrefix(sc, "JSESSIONID=") || strings.HasSuffix(sc, "; Secure") != tc.wantSecure {
					t.Errorf("request %d: Set-Cookie %q; want JSESSIONID with Secure %v", i, sc, tc.wantSecure)
				}
			}
		})
	}
}
