//go:build linux

package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	proxyproto "github.com/pires/go-proxyproto"
)

// xffReport is what xffBackend answers: who served the request, the
// X-Forwarded-For lines it received (one entry per line, as net/http
// keeps them), the remote address it saw and the SHA-256 of the body.
type xffReport struct {
	Backend string
	XFF     []string
	Remote  string
	Body    string
}

func xffBackend(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		io.Copy(h, r.Body)
		json.NewEncoder(w).Encode(xffReport{name, r.Header["X-Forwarded-For"], r.RemoteAddr, hex.EncodeToString(h.Sum(nil))})
	})
}

// xffDo sends one raw request on c and decodes the backend's report.
func xffDo(t *testing.T, c net.Conn, br *bufio.Reader, req string) xffReport {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write %q: %v", firstLine(req), err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response to %q: %v", firstLine(req), err)
	}
	defer resp.Body.Close()
	var rep xffReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("response to %q: %v", firstLine(req), err)
	}
	return rep
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// clientIP is the IP the balancer sees for c.
func clientIP(c net.Conn) string {
	return c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().String()
}

// keysOn returns a SockJS session id whose key lives on each of two
// different members of b, in the order of b's members.
func keysOn(t *testing.T, b *affinity.Balancer) (string, string) {
	t.Helper()
	snap := b.Snapshot()
	var first, second string
	var firstOn *affinity.Member
	for i := 0; i < 1000 && second == ""; i++ {
		k := fmt.Sprintf("sess%03d", i)
		m := snap.Lookup(affinity.HashKey([]byte(k)))
		switch {
		case firstOn == nil:
			first, firstOn = k, m
		case m != firstOn:
			second = k
		}
	}
	if second == "" {
		t.Fatal("no two session keys on different backends")
	}
	return first, second
}

// TestForwardedFor checks Config.ForwardedFor on a keep-alive connection
// through two backends: off adds nothing, on adds exactly one line, the
// client's IP, after the client's own, on every request.
func TestForwardedFor(t *testing.T) {
	b := newBalancer(t, startHTTP(t, xffBackend("a")), startHTTP(t, xffBackend("b")))
	k1, k2 := keysOn(t, b)
	reqs := []struct {
		key, clientXFF string
	}{
		{k1, ""},
		{k2, ""}, // a switch
		{k2, "203.0.113.7"},
		{k1, "198.51.100.1, 203.0.113.7"}, // a switch, a client-sent list
		{"", ""},                          // keyless: stays
		{k1, "192.0.2.1\r\nX-Forwarded-For: 192.0.2.2"},
	}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("on=%v", on), func(t *testing.T) {
			s := startServer(t, Config{Balancer: b, ForwardedFor: on})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			backends := map[string]bool{}
			for i, r := range reqs {
				path := "/other"
				if r.key != "" {
					path = "/sockjs/000/" + r.key + "/xhr"
				}
				var want []string
				head := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
				if r.clientXFF != "" {
					head += "X-Forwarded-For: " + r.clientXFF + "\r\n"
					for _, line := range strings.Split(r.clientXFF, "\r\n") {
						want = append(want, strings.TrimPrefix(line, "X-Forwarded-For: "))
					}
				}
				if on {
					want = append(want, clientIP(c))
				}
				rep := xffDo(t, c, br, head+"Accept: */*\r\n\r\n")
				backends[rep.Backend] = true
				if fmt.Sprint(rep.XFF) != fmt.Sprint(want) || (len(want) == 0) != (rep.XFF == nil) {
					t.Errorf("request %d (%s): backend %s got X-Forwarded-For %q; want %q", i, path, rep.Backend, rep.XFF, want)
				}
			}
			if st := s.Stats(); len(backends) != 2 || st.Switches < 2 || st.Accepted != 1 {
				t.Errorf("backends %v, Stats() = %+v; want both backends, >= 2 switches, 1 connection", backends, st)
			}
		})
	}
}

// TestForwardedForBodies checks that request framing still holds with the
// line inserted: Content-Length and chunked bodies (larger than one read)
// arrive intact, and the request after each is found and routed.
func TestForwardedForBodies(t *testing.T) {
	b := newBalancer(t, startHTTP(t, xffBackend("a")), startHTTP(t, xffBackend("b")))
	k1, k2 := keysOn(t, b)
	s := startServer(t, Config{Balancer: b, ForwardedFor: true})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	ip := clientIP(c)
	body := strings.Repeat("0123456789abcdef", 20000) // 320 KB: several buffers
	sum := sha256.Sum256([]byte(body))
	var chunked strings.Builder
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 9000)
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	chunked.WriteString("0\r\nTrailer-Field: x\r\n\r\n")
	empty := sha256.Sum256(nil)
	backendOf := map[string]string{}
	for i, tc := range []struct {
		key, req string
		sum      [32]byte
	}{
		{k1, "POST /sockjs/000/" + k1 + "/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body, sum},
		{k2, "GET /sockjs/000/" + k2 + "/xhr HTTP/1.1\r\nHost: x\r\n\r\n", empty},
		{k2, "POST /sockjs/000/" + k2 + "/xhr_send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked.String(), sum},
		{k1, "GET /sockjs/000/" + k1 + "/xhr HTTP/1.1\r\nHost: x\r\n\r\n", empty},
		{k1, "POST /sockjs/000/" + k1 + "/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", sha256.Sum256([]byte("hello"))},
		{k1, "GET /sockjs/000/" + k1 + "/xhr HTTP/1.1\r\nHost: x\r\n\r\n", empty},
	} {
		rep := xffDo(t, c, br, tc.req)
		if rep.Body != hex.EncodeToString(tc.sum[:]) {
			t.Errorf("request %d (%s): body sha256 %s; want %x", i, firstLine(tc.req), rep.Body, tc.sum)
		}
		if len(rep.XFF) != 1 || rep.XFF[0] != ip {
			t.Errorf("request %d (%s): X-Forwarded-For %q; want [%s]", i, firstLine(tc.req), rep.XFF, ip)
		}
		if prev, ok := backendOf[tc.key]; ok && prev != rep.Backend {
			t.Errorf("request %d (%s): served by %s; key %s is on %s", i, firstLine(tc.req), rep.Backend, tc.key, prev)
		}
		backendOf[tc.key] = rep.Backend
	}
	if backendOf[k1] == backendOf[k2] {
		t.Errorf("keys %s and %s both on %s; want two backends", k1, k2, backendOf[k1])
	}
}

// TestForwardedForProxyProtocol checks that the PROXY header still comes
// first, once, with the line in every head after it.
func TestForwardedForProxyProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &proxyproto.Listener{Listener: ln, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
		return proxyproto.REQUIRE, nil
	}}
	srv := &http.Server{Handler: xffBackend("a")}
	go srv.Serve(pl)
	t.Cleanup(func() { srv.Close() })
	for _, pp := range []affinity.ProxyProtocol{affinity.ProxyV1, affinity.ProxyV2} {
		t.Run(pp.String(), func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, "tcp://"+ln.Addr().String()), ProxyProtocol: pp, ForwardedFor: true})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			for i := 0; i < 3; i++ {
				rep := xffDo(t, c, br, fmt.Sprintf("POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", i))
				if rep.Remote != c.LocalAddr().String() || len(rep.XFF) != 1 || rep.XFF[0] != clientIP(c) {
					t.Errorf("request %d: remote %s, X-Forwarded-For %q; want %s, [%s]", i, rep.Remote, rep.XFF, c.LocalAddr(), clientIP(c))
				}
			}
		})
	}
}

// startHeadRecorder starts a backend that sends every request head it
// reads, byte for byte, to the returned channel. It answers an Upgrade
// request with 101 and then echoes raw bytes, anything else with an empty
// 200 (requests must not have bodies).
func startHeadRecorder(t *testing.T) (string, <-chan string) {
	t.Helper()
	heads := make(chan string, 16)
	endpoint := startTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				head.WriteString(line)
				if err != nil {
					return
				}
				if line == "\r\n" || line == "\n" {
					break
				}
			}
			heads <- head.String()
			if strings.Contains(head.String(), "\nUpgrade:") {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				echoPlain(c, br)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	return endpoint, heads
}

func recvHead(t *testing.T, heads <-chan string) string {
	t.Helper()
	select {
	case h := <-heads:
		return h
	case <-time.After(testTimeout):
		t.Fatal("no head reached the backend")
		return ""
	}
}

// TestForwardedForBytes checks the exact bytes a backend receives: the
// head with one line inserted before its blank line, in the blank line's
// style, or untouched when the option is off; and after a 101, tunnel
// bytes (even ones that look like an HTTP head) untouched.
func TestForwardedForBytes(t *testing.T) {
	backend, heads := startHeadRecorder(t)
	for _, tc := range []struct {
		name string
		on   bool
		head string
		want string // %s is the client IP
	}{
		{"off", false, "GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n", "GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"},
		{"crlf", true, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n\r\n"},
		{"no fields", true, "GET /a HTTP/1.0\r\n\r\n", "GET /a HTTP/1.0\r\nX-Forwarded-For: %s\r\n\r\n"},
		{"bare lf", true, "GET /a HTTP/1.1\nHost: x\n\n", "GET /a HTTP/1.1\nHost: x\nX-Forwarded-For: %s\n\n"},
		{"mixed, lf blank line", true, "GET /a HTTP/1.1\r\nHost: x\r\n\n", "GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\n\n"},
		{"mixed, crlf blank line", true, "GET /a HTTP/1.1\nHost: x\n\r\n", "GET /a HTTP/1.1\nHost: x\nX-Forwarded-For: %s\r\n\r\n"},
		{"http/1.0", true, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\nX-Forwarded-For: %s\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, backend), ForwardedFor: tc.on})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, clientIP(c))
			}
			n := 2 // the first head and a keep-alive one
			if strings.HasSuffix(firstLine(tc.head), "HTTP/1.0\r") && !strings.Contains(tc.head, "keep-alive") {
				n = 1
			}
			for i := 0; i < n; i++ {
				io.WriteString(c, tc.head)
				if got := recvHead(t, heads); got != want {
					t.Errorf("head %d: backend got %q; want %q", i, got, want)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
	t.Run("not http", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, startEcho(t)), ForwardedFor: true})
		c := dial(t, s.Addrs()[0])
		msg := "\x00raw\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
		io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Errorf("raw tunnel echo = %q, %v; want %q", got, err, msg)
		}
	})
	t.Run("upgrade", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, backend), ForwardedFor: true})
		c := dial(t, s.Addrs()[0])
		br := bufio.NewReader(c)
		// The tunnel's first bytes ride in the same write as the
		// upgrade request.
		inTunnel := "GET /not-a-head HTTP/1.1\r\nHost: y\r\n\r\n"
		io.WriteString(c, upgradeRequest+inTunnel)
		want := strings.TrimSuffix(upgradeRequest, "\r\n") + "X-Forwarded-For: " + clientIP(c) + "\r\n\r\n"
		if got := recvHead(t, heads); got != want {
			t.Errorf("upgrade head: backend got %q; want %q", got, want)
		}
		head, err := readHead(br)
		if err != nil || !strings.HasPrefix(head, "HTTP/1.1 101") {
			t.Fatalf("upgrade answer %q, %v; want 101", head, err)
		}
		more := "\x81\x05hello\r\n\r\n"
		io.WriteString(c, more)
		got := make([]byte, len(inTunnel)+len(more))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != inTunnel+more {
			t.Errorf("tunnel echo = %q; want %q", got, inTunnel+more)
		}
	})
}

// TestForwardedForPeers checks the address forms: a UNIX-socket client
// has no IP and gets no line; an IPv6 client's IP has no brackets; an IPv4
// client of a dual-stack listener is written as IPv4.
func TestForwardedForPeers(t *testing.T) {
	backend := startHTTP(t, xffBackend("a"))
	get := func(t *testing.T, addr net.Addr) (xffReport, net.Conn) {
		t.Helper()
		c := dial(t, addr)
		return xffDo(t, c, bufio.NewReader(c), "GET /x HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\n\r\n"), c
	}
	t.Run("unix", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l4lb.sock")
		s := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{path}, ForwardedFor: true})
		if rep, _ := get(t, s.Addrs()[0]); len(rep.XFF) != 1 || rep.XFF[0] != "192.0.2.9" {
			t.Errorf("X-Forwarded-For = %q; want the client's own [192.0.2.9] only", rep.XFF)
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		} else {
			ln.Close()
		}
		s := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{"[::1]:0"}, ForwardedFor: true})
		if rep, _ := get(t, s.Addrs()[0]); fmt.Sprint(rep.XFF) != "[192.0.2.9 ::1]" {
			t.Errorf("X-Forwarded-For = %q; want [192.0.2.9 ::1]", rep.XFF)
		}
	})
	t.Run("ipv4 on dual stack", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{"[::]:0"}, ForwardedFor: true})
		port := s.Addrs()[0].(*net.TCPAddr).Port
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), testTimeout); err != nil {
			t.Skipf("listener is not dual-stack: %v", err)
		} else {
			c.Close()
		}
		rep, _ := get(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if fmt.Sprint(rep.XFF) != "[192.0.2.9 127.0.0.1]" {
			t.Errorf("X-Forwarded-For = %q; want [192.0.2.9 127.0.0.1]", rep.XFF)
		}
	})
}
