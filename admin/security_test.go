package admin

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/l4lb/l4lb/affinity"
)

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		exposed     bool
	}{
		{"127.0.0.1:9180", "", false},
		{"127.3.4.5:1", "", false},
		{"[::1]:1", "", false},
		{"localhost:1", "", false},
		{"/run/l4lb/admin.sock", "", false},
		{"0.0.0.0:9180", "", true},
		{":9180", "", true},
		{"[::]:9180", "", true},
		{"10.1.2.3:9180", "", true},
		{"admin.example:9180", "", true},
		{"0.0.0.0:9180", "s3cret", false},
	} {
		err := CheckListen(tc.addr, tc.token)
		if got := errors.Is(err, ErrExposed); got != tc.exposed {
			t.Errorf("CheckListen(%q, %q) = %v; want exposed %v", tc.addr, tc.token, err, tc.exposed)
		}
	}
}

// TestNewRefusesExposed is acceptance 3's first part: serving on an
// address that is not loopback without a token is refused before anything
// is bound.
func TestNewRefusesExposed(t *testing.T) {
	_, err := New(Config{Listen: "0.0.0.0:0", Balancer: affinity.NewBalancer()})
	if !errors.Is(err, ErrExposed) {
		t.Fatalf("New(0.0.0.0:0, no token) = %v; want an error wrapping ErrExposed", err)
	}
}

// TestAuth is acceptance 3: 401 without the token, 405 for a GET on a
// state-changing endpoint, and the probes open to all.
func TestAuth(t *testing.T) {
	bal := newBalancer(t, "tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002")
	a, base := startAdmin(t, Config{Token: "s3cret", Balancer: bal})
	_ = a
	bearer := http.Header{"Authorization": {"Bearer s3cret"}}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		user, pass   string
		want         int
	}{
		{"GET", "/api/backends", nil, "", "", 401},
		{"GET", "/", nil, "", "", 401},
		{"GET", "/metrics", nil, "", "", 401},
		{"POST", "/api/backends/127.0.0.1:3001/drain", nil, "", "", 401},
		{"GET", "/api/backends", http.Header{"Authorization": {"Bearer wrong"}}, "", "", 401},
		{"GET", "/api/backends", bearer, "", "", 200},
		{"GET", "/api/backends", nil, "ops", "s3cret", 200},
		{"GET", "/api/backends", nil, "ops", "wrong", 401},
		{"GET", "/api/backends/127.0.0.1:3001/drain", bearer, "", "", 405},
		{"GET", "/api/backends/127.0.0.1:3001/undrain", bearer, "", "", 405},
		{"GET", "/api/backends/127.0.0.1:3001/weight?weight=3", bearer, "", "", 405},
		{"POST", "/api/backends/127.0.0.1:3001/drain", bearer, "", "", 200},
		{"POST", "/api/backends/127.0.0.1:9/drain", bearer, "", "", 404},
		{"POST", "/api/backends/127.0.0.1:3001/weight?weight=300", bearer, "", "", 400},
		{"POST", "/api/backends/127.0.0.1:3001/explode", bearer, "", "", 404},
		{"GET", "/healthz", nil, "", "", 200},
		{"GET", "/readyz", nil, "", "", 200},
		{"POST", "/healthz", nil, "", "", 405},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.header {
			req.Header[k] = v
		}
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp := do(t, req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s (auth %v %s) = %d; want %d", tc.method, tc.path, tc.header, tc.user, resp.StatusCode, tc.want)
		}
		if resp.StatusCode == 405 && strings.HasPrefix(tc.path, "/api/") && resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s %s: Allow = %q; want POST", tc.method, tc.path, resp.Header.Get("Allow"))
		}
	}
	if got := bal.Overlays()["tcp://127.0.0.1:3001"]; !got.Drained {
		t.Errorf("after the authorized POST, overlay = %+v; want drained", got)
	}
}

// TestLoopbackGuards checks what protects a loopback listener without a
// token: a request for another host (DNS rebinding) and a browser's
// cross-origin POST are refused.
func TestLoopbackGuards(t *testing.T) {
	bal := newBalancer(t, "tcp://127.0.0.1:3001")
	_, base := startAdmin(t, Config{Balancer: bal})
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		host               string
		want               int
	}{
		{"page", "GET", "/", nil, "", 200},
		{"page by localhost", "GET", "/", nil, "localhost:9180", 200},
		{"rebinding", "GET", "/api/backends", nil, "evil.example:9180", 403},
		{"cross-site form", "POST", "/api/backends/127.0.0.1:3001/drain", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
		{"cross-origin", "POST", "/api/backends/127.0.0.1:3001/drain", map[string]string{"Origin": "http://evil.example"}, "", 403},
		{"same origin", "POST", "/api/backends/127.0.0.1:3001/drain", map[string]string{"Sec-Fetch-Site": "same-origin"}, "", 200},
		{"curl", "POST", "/api/backends/127.0.0.1:3001/undrain", nil, "", 200},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		if got := do(t, req).StatusCode; got != tc.want {
			t.Errorf("%s: %s %s = %d; want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}
}

// TestUnixSocket serves on a UNIX socket path without a token.
func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	a, err := New(Config{Listen: path, Balancer: newBalancer(t, "tcp://127.0.0.1:3001")})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(func() { a.Close() })
	c := unixClient(path)
	resp, err := c.Get("http://localhost/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("GET /healthz on %s = %d %q; want 200 ok", path, resp.StatusCode, body)
	}
	resp, err = c.Post("http://localhost/api/backends/"+url.PathEscape("tcp://127.0.0.1:3001")+"/drain", "", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST drain on %s = %d; want 200", path, resp.StatusCode)
	}
}
