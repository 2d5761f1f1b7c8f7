package health

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
	proxyproto "github.com/pires/go-proxyproto"
)

// serveOnce listens on addr and answers every connection with resp
// after reading a line, then closes it.
func serveOnce(t testing.TB, network, addr, resp string) (endpoint string) {
	t.Helper()
	ln := testutil.Serve(t, network, addr, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(testTimeout))
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, resp)
	})
	if network == "unix" {
		return "unix:" + addr
	}
	return "tcp://" + ln.Addr().String()
}

func TestProbe(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	httpCheck := Check{Kind: HTTP, Path: "/sockjs/info"}
	for _, tc := range []struct {
		name     string
		endpoint string
		check    Check
		wantErr  string // "" passes
	}{
		{"tcp", serveOnce(t, "tcp", "127.0.0.1:0", ""), Check{Kind: TCP}, ""},
		{"tcp refused", refusing(t), Check{Kind: TCP}, "connection refused"},
		{"http 200", serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 200 OK\r\n\r\n"), httpCheck, ""},
		{"http 302", serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 302 Found\r\n\r\n"), httpCheck, ""},
		{"http 503", serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 503 Service Unavailable\r\n\r\n"), httpCheck, "status 503"},
		{"http 101", serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 101 Switching Protocols\r\n\r\n"), httpCheck, "status 101"},
		{"http garbage", serveOnce(t, "tcp", "127.0.0.1:0", "SSH-2.0-OpenSSH\r\n"), httpCheck, "malformed status line"},
		{"http closes", serveOnce(t, "tcp", "127.0.0.1:0", ""), httpCheck, "read status line"},
		{"http silent", silent(t), httpCheck, "timeout"},
		{"unix http", serveOnce(t, "unix", sock, "HTTP/1.0 204 No Content\r\n\r\n"), httpCheck, ""},
		{"host name", strings.Replace(serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 200 OK\r\n\r\n"), "127.0.0.1", "localhost", 1), httpCheck, ""},
		{"unknown host", "tcp://nonexistent.invalid:80", Check{Kind: TCP}, "nonexistent.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newProbe(affinity.Backend{Endpoint: tc.endpoint}, tc.check, 300*time.Millisecond, affinity.ProxyOff)
			if err != nil {
				t.Fatal(err)
			}
			err = runBatch([]*probe{p})[0].err
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("check = %v; want it to pass", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("check = %v; want an error saying %q", err, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), tc.endpoint):
				t.Errorf("error %q does not name the endpoint", err)
			}
			if tc.name == "http 503" && !errors.Is(err, errStatus) {
				t.Errorf("check = %v; want it to wrap errStatus", err)
			}
		})
	}
}

// TestBatch: the checks of one batch run together; a slow one does not
// hold the others' outcome, nor make their duration its own: each check
// ends, and is timed, when it is done.
func TestBatch(t *testing.T) {
	good := serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 200 OK\r\n\r\n")
	bad := serveOnce(t, "tcp", "127.0.0.1:0", "HTTP/1.1 500 Oops\r\n\r\n")
	const timeout = time.Second
	var ps []*probe
	for _, e := range []string{good, silent(t), bad, refusing(t), good} {
		p, err := newProbe(affinity.Backend{Endpoint: e}, Check{Kind: HTTP, Path: "/"}, timeout, affinity.ProxyOff)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	before := time.Now()
	rs := runBatch(ps)
	after := time.Now()
	for i, want := range []string{"", "timeout", "status 500", "refused", ""} {
		if got := rs[i].err; (want == "") != (got == nil) || got != nil && !strings.Contains(got.Error(), want) {
			t.Errorf("check %d (%s) = %v; want %q", i, ps[i].endpoint, got, want)
		}
		if r := rs[i]; r.at.Before(before) || r.at.After(after) || r.took <= 0 || r.took > after.Sub(before) {
			t.Errorf("check %d (%s) ended at %v after %v; want within the batch's %v", i, ps[i].endpoint, r.at.Sub(before), r.took, after.Sub(before))
		}
	}
	if slow := rs[1].took; slow < timeout {
		t.Errorf("the silent backend's check took %v; want its timeout, %v", slow, timeout)
	}
	for _, i := range []int{0, 2, 3, 4} {
		if rs[i].took >= rs[1].took {
			t.Errorf("check %d (%s) took %v, as long as the one that timed out (%v); want its own time", i, ps[i].endpoint, rs[i].took, rs[1].took)
		}
	}
}

// TestProbeProxyHeader: a backend that requires a PROXY header gets a
// LOCAL one (v2) or UNKNOWN (v1) on its checks, over TCP and UNIX
// sockets, before the HTTP check's request.
func TestProbeProxyHeader(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		for _, pp := range []affinity.ProxyProtocol{affinity.ProxyV1, affinity.ProxyV2} {
			t.Run(network+"/"+pp.String(), func(t *testing.T) {
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = filepath.Join(t.TempDir(), "app.sock")
				}
				raw, err := net.Listen(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				ln := &proxyproto.Listener{Listener: raw, ReadHeaderTimeout: testTimeout,
					ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
				headers := make(chan *proxyproto.Header, 4)
				srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
				srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
					if pc, ok := c.(*proxyproto.Conn); ok {
						headers <- pc.ProxyHeader()
					}
					return ctx
				}
				go srv.Serve(ln)
				defer srv.Close()
				endpoint := "tcp://" + raw.Addr().String()
				if network == "unix" {
					endpoint = "unix:" + addr
				}
				for _, check := range []Check{{Kind: HTTP, Path: "/"}, {Kind: TCP}} {
					p, err := newProbe(affinity.Backend{Endpoint: endpoint}, check, 2*time.Second, pp)
					if err != nil {
						t.Fatal(err)
					}
					if err := runBatch([]*probe{p})[0].err; err != nil {
						t.Errorf("%s check = %v; want it to pass", check, err)
					}
				}
				select {
				case h := <-headers:
					if h == nil || h.Command != proxyproto.LOCAL {
						t.Errorf("header = %+v; want a LOCAL one", h)
					}
				case <-time.After(testTimeout):
					t.Fatal("the HTTP check reached no handler")
				}
			})
		}
	}
}

func TestParseStatusLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r\n", 200, true},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, true},
		{"HTTP/1.1 204\r\n", 204, true},
		{"HTTP/1.1 204 \r\n", 204, true},
		{"HTTP/1.1 200 OK\n", 200, true},
		{"HTTP/1.1 200 tab\tok\r\n", 200, true},
		{"HTTP/2 200 OK\r\n", 0, false},
		{"HTTP/1.1 20 OK\r\n", 0, false},
		{"HTTP/1.1 2000 OK\r\n", 0, false},
		{"HTTP/1.1  200 OK\r\n", 0, false},
		{"HTTP/1.1 200 O\x00K\r\n", 0, false},
		{"http/1.1 200 OK\r\n", 0, false},
		{"HTTP/1.1 200 OK", 0, false},
		{"", 0, false},
	} {
		code, ok := parseStatusLine([]byte(tc.line))
		if code != tc.code || ok != tc.ok {
			t.Errorf("parseStatusLine(%q) = %d, %v; want %d, %v", tc.line, code, ok, tc.code, tc.ok)
		}
	}
}

// FuzzParseStatusLine checks parseStatusLine against net/http: a line it
// accepts, net/http reads with the same status code.
func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n", "HTTP/1.0 503 Service Unavailable\r\n", "HTTP/1.1 204\r\n", "HTTP/1.1 200 OK\n", "HTTP/1.1 999 x\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		code, ok := parseStatusLine(line)
		if !ok {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(line)+"\r\n")), nil)
		if err != nil {
			t.Fatalf("parseStatusLine(%q) = %d, true; net/http: %v", line, code, err)
		}
		if resp.StatusCode != code {
			t.Fatalf("parseStatusLine(%q) = %d; net/http reads %d", line, code, resp.StatusCode)
		}
	})
}
