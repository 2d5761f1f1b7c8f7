package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/registry"
	"github.com/l4lb/l4lb/registry/registrytest"
)

// rawGet sends one request with this Host and path on a new connection
// and returns the status and body; status 0 means the connection closed
// without an answer.
func (b *balancer) rawGet(t *testing.T, host, path string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServicesEndToEnd: web, api and a private jobs service registered in
// MongoDB as meteorhacks:cluster documents, one balancer in front. web is
// the default, api is reached by Host and by path, jobs by nothing; a
// /cluster-ddp/ path reaches the instance of its endpointHash.
func TestServicesEndToEnd(t *testing.T) {
	srv := registrytest.NewServer(t)
	l4lbBinary(t)
	w1, w2 := newNamedBackend(t, "w1"), newNamedBackend(t, "w2")
	a1, j1 := newNamedBackend(t, "a1"), newNamedBackend(t, "j1")
	startRegister(t, srv.URL, w1.url)
	startRegister(t, srv.URL, w2.url)
	startRegister(t, srv.URL, a1.url, "--service", "api")
	// No health check: every connection the jobs instance accepts would
	// be a request that reached it.
	startRegister(t, srv.URL, j1.url, "--service", "jobs", "--check", "off")
	bal := startServe(t, "--discovery", srv.URL, "--service", "web",
		"--public-services", "api",
		"--route", "host=api.example.com,service=api",
		"--route", "path=/api,service=api",
		"--route", "host=jobs.example.com,service=jobs",
		"--route", "path=/jobs,service=jobs",
		"--service-option", "api:sticky-insert=APISESSION,proxy=off,health=tcp")
	bal.waitServed(t, 30*time.Second, "w1", "w2")

	// api's and jobs' sets arrive on their own watches.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := bal.rawGet(t, "api.example.com", "/")
		if code == 200 && body == "a1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("api never served: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"www.example.com", "/api/v1/things", "a1"},
		{"API.example.com:443", "/x", "a1"},
		{"www.example.com", "/cluster-ddp/" + registry.EndpointHash(w1.url) + "/web/123/abc/xhr", "w1"},
		{"www.example.com", "/cluster-ddp/" + registry.EndpointHash(w2.url) + "/web/123/abc/xhr", "w2"},
		{"www.example.com", "/cluster-ddp/" + registry.EndpointHash(a1.url) + "/api/123/abc/xhr", "a1"},
	} {
		for range 5 {
			if code, body := bal.rawGet(t, tc.host, tc.path); code != 200 || body != tc.want {
				t.Fatalf("Host %s %s = %d %q; want 200 %q", tc.host, tc.path, code, body, tc.want)
			}
		}
	}
	// api's own cookie, naming its instance by endpointHash.
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", bal.addr)
		}}}).Get("http://api.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc, want := resp.Header.Get("Set-Cookie"), "APISESSION="+registry.EndpointHash(a1.url)+";"; !strings.HasPrefix(sc, want) {
		t.Errorf("api response Set-Cookie %q; want it to start with %q", sc, want)
	}
	// jobs is private: never watched, so nothing can reach it, and
	// whatever names it gets 404.
	bal.Out.WaitLine(t, 0, regexp.MustCompile(`private service: not watched.*service=jobs`), 30*time.Second)
	jobsHash := registry.EndpointHash(j1.url)
	for _, tc := range []struct{ host, path string }{
		{"jobs.example.com", "/"},
		{"www.example.com", "/jobs"},
		{"www.example.com", "/cluster-ddp/" + jobsHash + "/jobs/123/abc/xhr"},
		{"www.example.com", "/cluster-ddp/" + jobsHash + "/jobs/websocket"},
	} {
		if code, body := bal.rawGet(t, tc.host, tc.path); code != 404 && code != 0 {
			t.Errorf("Host %s %s = %d %q; want 404 or closed", tc.host, tc.path, code, body)
		}
	}
	if n := j1.accepted.Load(); n != 0 {
		t.Errorf("jobs instance accepted %d connections", n)
	}
}

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"host=api.example.com,service=api", "{api.example.com   api}"},
		{"host=*.example.com, path=/api ,service=api", "{*.example.com /api  api}"},
		{"sni=api.example.com,service=api", "{  api.example.com api}"},
		{"host=a", "error"},
		{"host=a,service", "error"},
		{"color=red,service=a", "error"},
	} {
		r, err := parseRoute(tc.in)
		got := fmt.Sprint(r)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("parseRoute(%q) = %s; want %s", tc.in, got, tc.want)
		}
	}
	var f routesFlag
	f.setFromEnv("host=a,service=x; path=/b,service=y;")
	if len(f.values) != 2 || f.values[1] != "path=/b,service=y" {
		t.Errorf("L4LB_ROUTES split into %q", f.values)
	}
}

func TestParseServiceOptions(t *testing.T) {
	got, err := parseServiceOptions([]string{
		"api:sockjs-prefix=/api/sockjs,sticky-insert=APISESSION,proxy=v2",
		"api:sockjs-prefix=/v2/sockjs, health=http:/api/sockjs/info",
		"web:sticky-cookie=S,sticky-cookie=T",
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := got["api"]; a == nil || fmt.Sprint(*a) != "{[/api/sockjs /v2/sockjs] [] APISESSION v2 http:/api/sockjs/info}" {
		t.Errorf("api options = %+v", a)
	}
	if w := got["web"]; w == nil || fmt.Sprint(w.cookies) != "[S T]" {
		t.Errorf("web options = %+v", w)
	}
	for _, bad := range []string{"api", "api:", ":proxy=v1", "api:proxy=v3", "api:health=udp", "api:color=red", "api:proxy"} {
		if _, err := parseServiceOptions([]string{bad}); err == nil {
			t.Errorf("parseServiceOptions(%q) = nil error", bad)
		}
	}
	var f serviceOptionsFlag
	f.setFromEnv("api:proxy=v2,sticky-insert=A; web:sticky-insert=B;")
	if len(f.values) != 2 || f.values[1] != "web:sticky-insert=B" {
		t.Errorf("L4LB_SERVICE_OPTIONS split into %q", f.values)
	}
	c := serveConfig{service: "web"}
	c.serviceOptions.values = []string{"nosuch:proxy=v1"}
	if _, err := c.services(); err == nil {
		t.Errorf("an option of a service nobody routes to: nil error")
	}
}
