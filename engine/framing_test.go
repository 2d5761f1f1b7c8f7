//go:build linux

package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/l4lb/l4lb/sniff"
)

// framingBackend answers by path: /204, /304, /upgrade (refused with 400),
// /upload (SHA-256 of the body), anything else "<name> <path>".
func framingBackend(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		switch {
		case strings.HasSuffix(r.URL.Path, "/204"):
			w.WriteHeader(204)
		case strings.HasSuffix(r.URL.Path, "/304"):
			w.Header().Set("ETag", `"x"`)
			w.WriteHeader(304)
		case strings.HasSuffix(r.URL.Path, "/upgrade"):
			http.Error(w, "no upgrade here", 400)
		case strings.HasSuffix(r.URL.Path, "/upload"):
			h := sha256.New()
			io.Copy(h, r.Body)
			fmt.Fprintf(w, "%s %x", name, h.Sum(nil))
		default:
			fmt.Fprintf(w, "%s %s", name, r.URL.Path)
		}
	})
}

// TestRequestFraming is acceptance 1b: on one keep-alive connection,
// requests with every body framing and responses without bodies follow
// each other, switching backends by session key, and each answer belongs
// to its request.
func TestRequestFraming(t *testing.T) {
	var eps []string
	for _, n := range []string{"a", "b", "c"} {
		eps = append(eps, startHTTP(t, framingBackend(n)))
	}
	s := startServer(t, Config{Balancer: newBalancer(t, eps...), Sniff: sniff.Config{Cookies: []string{"route"}}})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	body := strings.Repeat("0123456789", 10000)
	sum := sha256.Sum256([]byte(body))
	chunked := func(s string) string {
		var b strings.Builder
		for len(s) > 0 {
			n := min(len(s), 7000)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, s[:n])
			s = s[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.String()
	}
	backendOf := map[string]string{}
	for i, tc := range []struct {
		name, method, path, headers, body string
		expect100                         bool
		wantStatus                        int
		wantBody                          string // prefix after "<backend> "; "" for no body
	}{
		{"content-length body", "POST", "/upload", "Content-Length: 100000\r\n", body, false, 200, hex.EncodeToString(sum[:])},
		{"chunked body", "POST", "/upload", "Transfer-Encoding: chunked\r\n", chunked(body), false, 200, hex.EncodeToString(sum[:])},
		{"expect 100-continue", "POST", "/upload", "Content-Length: 100000\r\nExpect: 100-continue\r\n", body, true, 200, hex.EncodeToString(sum[:])},
		{"HEAD", "HEAD", "/page", "", "", false, 200, ""},
		{"204", "GET", "/204", "", "", false, 204, ""},
		{"304", "GET", "/304", "", "", false, 304, ""},
		{"refused upgrade", "GET", "/upgrade", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", false, 400, "no upgrade here"},
		{"after the refused upgrade", "GET", "/page", "", "", false, 200, "/page"},
	} {
		for _, sess := range []string{"s1", "s2", "s3", "s4"} {
			path := "/" + sess + tc.path
			head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nCookie: route=%s\r\n%s\r\n", tc.method, path, sess, tc.headers)
			io.WriteString(c, head)
			req := &http.Request{Method: tc.method}
			if tc.expect100 {
				resp, err := http.ReadResponse(br, req)
				if err != nil || resp.StatusCode != 100 {
					t.Fatalf("%s: interim = %v, %v; want 100 Continue", tc.name, resp, err)
				}
			}
			io.WriteString(c, tc.body)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("%d %s %s: %v", i, tc.name, sess, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s %s: body: %v", tc.name, sess, err)
			}
			be := resp.Header.Get("X-Backend")
			if prev, ok := backendOf[sess]; ok && prev != be {
				t.Fatalf("%s: session %s served by %s, before by %s", tc.name, sess, be, prev)
			}
			backendOf[sess] = be
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("%s %s: status %d; want %d", tc.name, sess, resp.StatusCode, tc.wantStatus)
			}
			if tc.wantBody == "" && len(got) != 0 {
				t.Fatalf("%s %s: body %q; want none", tc.name, sess, got)
			}
			if tc.wantBody != "" && !strings.Contains(string(got), tc.wantBody) {
				t.Fatalf("%s %s: body %q; want it to contain %q", tc.name, sess, got, tc.wantBody)
			}
		}
	}
	if st := s.Stats(); st.Accepted != 1 || st.Switches == 0 {
		t.Errorf("Stats() = %+v; want one connection with switches", st)
	}
}

// TestByteAtATime sends requests one byte per write: heads, a chunked body
// and the switch between backends must survive any split.
func TestByteAtATime(t *testing.T) {
	var eps []string
	for _, n := range []string{"a", "b", "c"} {
		eps = append(eps, startHTTP(t, framingBackend(n)))
	}
	s := startServer(t, Config{Balancer: newBalancer(t, eps...), Sniff: sniff.Config{Cookies: []string{"route"}}})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	body := "hello, chunked world"
	sum := sha256.Sum256([]byte(body))
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		req := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nCookie: route=%s\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nf\r\n, chunked world\r\n0\r\n\r\n", k)
		for i := 0; i < len(req); i++ {
			if _, err := c.Write([]byte{req[i]}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("key %s: %v", k, err)
		}
		got, _ := io.ReadAll(resp.Body)
		if !strings.HasSuffix(string(got), hex.EncodeToString(sum[:])) {
			t.Fatalf("key %s: body %q; want the SHA-256 of %q", k, got, body)
		}
	}
}
