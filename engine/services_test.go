//go:build linux

package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
	"github.com/l4lb/l4lb/tools/echobackend"
)

// svcInstance is a backend that answers every request with its name and
// the path it got, and logs every request it sees.
type svcInstance struct {
	name     string
	endpoint string
	mu       sync.Mutex
	seen     []string
}

func startInstance(t *testing.T, name string) *svcInstance {
	in := &svcInstance{name: name}
	in.endpoint = startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		in.seen = append(in.seen, r.Method+" "+r.URL.Path)
		in.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	return in
}

func (in *svcInstance) requests() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.seen...)
}

// svcBalancer builds a balancer of the instances, each with the
// endpointHash "hash-<name>".
func svcBalancer(t *testing.T, ins ...*svcInstance) *affinity.Balancer {
	b := affinity.NewBalancer()
	svcUpdate(t, b, ins...)
	return b
}

func svcUpdate(t *testing.T, b *affinity.Balancer, ins ...*svcInstance) {
	var bs []affinity.Backend
	for _, in := range ins {
		bs = append(bs, affinity.Backend{Endpoint: in.endpoint, EndpointHash: "hash" + strings.ReplaceAll(in.name, "-", "")})
	}
	if err := b.Update(bs); err != nil {
		t.Fatal(err)
	}
}

// svcGet sends one request on the keep-alive connection (br, c) and
// returns the status and body; status 0 means the connection closed.
func svcGet(t *testing.T, c net.Conn, br *bufio.Reader, host, path string) (int, string) {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err.Error()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func TestServicesRouting(t *testing.T) {
	web1, web2 := startInstance(t, "web-1"), startInstance(t, "web-2")
	api1 := startInstance(t, "api-1")
	jobs1 := startInstance(t, "jobs-1")
	webB := svcBalancer(t, web1, web2)
	s := startServer(t, Config{
		Balancer: webB, Service: "web",
		Services: []Service{
			{Name: "api", Balancer: svcBalancer(t, api1), Public: true},
			{Name: "jobs", Balancer: svcBalancer(t, jobs1)},
		},
		Routes: []Route{
			{Host: "api.example.com", Service: "api"},
			{Host: "*.api.example.com", Service: "api"},
			{PathPrefix: "/api", Service: "api"},
			{Host: "jobs.example.com", Service: "jobs"},
			{PathPrefix: "/jobs", Service: "jobs"},
		},
	})
	addr := s.Addrs()[0]

	// One keep-alive connection going from service to service.
	c := dial(t, addr)
	br := bufio.NewReader(c)
	for _, tc := range []struct{ host, path, want string }{
		{"www.example.com", "/", "web-"},
		{"API.example.com:8080", "/x", "api-1 /x"},
		{"eu.api.example.com", "/y", "api-1 /y"},
		{"www.example.com", "/api/v1", "api-1 /api/v1"},
		{"www.example.com", "/apix", "web-"},
		{"www.example.com", "/api", "api-1 /api"},
		{"www.example.com", "/", "web-"},
	} {
		code, body := svcGet(t, c, br, tc.host, tc.path)
		if code != 200 || !strings.HasPrefix(body, tc.want) {
			t.Errorf("Host %s %s = %d %q; want 200 %q...", tc.host, tc.path, code, body, tc.want)
		}
	}

	// Every way to jobs: 404 and a closed connection.
	for _, tc := range []struct{ host, path string }{
		{"jobs.example.com", "/"},
		{"www.example.com", "/jobs/run"},
		{"www.example.com", "/cluster-ddp/hashjobs1/jobs/123/abc/xhr"},
		{"www.example.com", "/cluster-ddp/hashweb1/jobs/123/abc/xhr"},
	} {
		c := dial(t, addr)
		br := bufio.NewReader(c)
		if code, body := svcGet(t, c, br, "www.example.com", "/"); code != 200 {
			t.Fatalf("first request = %d %q", code, body)
		}
		if code, body := svcGet(t, c, br, tc.host, tc.path); code != 404 {
			t.Errorf("Host %s %s = %d %q; want 404", tc.host, tc.path, code, body)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("Host %s %s: connection not closed after 404: %v", tc.host, tc.path, err)
		}
	}
	if got := jobs1.requests(); len(got) > 0 {
		t.Errorf("jobs instance saw %q", got)
	}
}

func TestServicesClusterDDP(t *testing.T) {
	web1, web2 := startInstance(t, "web-1"), startInstance(t, "web-2")
	webB := svcBalancer(t, web1, web2)
	s := startServer(t, Config{Balancer: webB, Service: "web", ForwardedFor: true})
	addr := s.Addrs()[0]
	get := func(path string) string {
		t.Helper()
		c := dial(t, addr)
		code, body := svcGet(t, c, bufio.NewReader(c), "www.example.com", path)
		if code != 200 {
			t.Fatalf("GET %s = %d %q", path, code, body)
		}
		return body
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < 20; i++ {
			for _, in := range []*svcInstance{web1, web2} {
				p := fmt.Sprintf("/cluster-ddp/hash%s/web/%03d/sess%d/xhr", strings.ReplaceAll(in.name, "-", ""), i, i)
				want := fmt.Sprintf("%s /sockjs/%03d/sess%d/xhr", in.name, i, i)
				if got := get(p); got != want {
					t.Fatalf("round %d: GET %s = %q; want %q", round, p, got, want)
				}
			}
		}
		// Another instance joins: the hashes still name their instances.
		svcUpdate(t, webB, web1, web2, startInstance(t, "web-3"))
	}
	// A hash nobody has: the session's own owner, as without cluster-ddp.
	spread := map[string]bool{}
	for i := 0; i < 20; i++ {
		owner := strings.Fields(get(fmt.Sprintf("/sockjs/000/sess%d/xhr", i)))[0]
		got := get(fmt.Sprintf("/cluster-ddp/gone/web/000/sess%d/xhr", i))
		if want := owner + fmt.Sprintf(" /sockjs/000/sess%d/xhr", i); got != want {
			t.Errorf("unknown hash: got %q, want %q", got, want)
		}
		spread[owner] = true
	}
	if len(spread) < 2 {
		t.Errorf("20 sessions all on %v", spread)
	}
	// A service name that is not ours: an ordinary path.
	if got := get("/cluster-ddp/hashweb1/other/x"); !strings.HasSuffix(got, " /cluster-ddp/hashweb1/other/x") {
		t.Errorf("foreign service: %q", got)
	}
}

// tlsInstance is a crypto/tls backend answering its name; conns counts
// the connections it accepted.
func tlsInstance(t *testing.T, name string) (string, *atomic.Int64) {
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return "tcp://" + ts.Listener.Addr().String(), &conns
}

func TestServicesSNI(t *testing.T) {
	web, _ := tlsInstance(t, "web")
	api, _ := tlsInstance(t, "api")
	jobs, jobsConns := tlsInstance(t, "jobs")
	s := startServer(t, Config{
		Balancer: newBalancer(t, web), Service: "web",
		Services: []Service{
			{Name: "api", Balancer: newBalancer(t, api), Public: true},
			{Name: "jobs", Balancer: newBalancer(t, jobs)},
		},
		Routes: []Route{
			{SNI: "api.example.com", Service: "api"},
			{SNI: "*.jobs.example.com", Service: "jobs"},
			{Host: "api.example.com", Service: "jobs"}, // HTTP only: not for TLS
		},
	})
	addr := s.Addrs()[0].String()
	get := func(sni string) (string, error) {
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: sni},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{Timeout: testTimeout}).DialContext(ctx, "tcp", addr)
			},
		}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: testTimeout}
		host := sni
		if host == "" {
			host = "127.0.0.1"
		}
		resp, err := cl.Get("https://" + host + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, tc := range []struct{ sni, want string }{
		{"api.example.com", "api"},
		{"API.EXAMPLE.COM", "api"},
		{"www.example.com", "web"},
		{"", "web"},
	} {
		if got, err := get(tc.sni); err != nil || got != tc.want {
			t.Errorf("SNI %q: %q, %v; want %q", tc.sni, got, err, tc.want)
		}
	}
	if got, err := get("x.jobs.example.com"); err == nil {
		t.Errorf("SNI x.jobs.example.com reached %q", got)
	}
	if n := jobsConns.Load(); n != 0 {
		t.Errorf("jobs backend accepted %d connections", n)
	}
}

func TestServicesConfig(t *testing.T) {
	b := affinity.NewBalancer()
	for _, cfg := range []Config{
		{Balancer: b, Service: "web", Routes: []Route{{Host: "a", Service: "api"}}},
		{Balancer: b, Service: "web", Routes: []Route{{Service: "web"}}},
		{Balancer: b, Service: "web", Routes: []Route{{SNI: "a", Host: "b", Service: "web"}}},
		{Balancer: b, Service: "web", Routes: []Route{{PathPrefix: "api", Service: "web"}}},
		{Balancer: b, Service: "web", Services: []Service{{Name: "web", Balancer: b}}},
		{Balancer: b, Service: "web", Services: []Service{{Name: "a b", Balancer: b}}},
		{Balancer: b, Service: "web", Services: []Service{{Name: "api"}}},
	} {
		cfg.Listen = []string{"127.0.0.1:0"}
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

// TestServicesAllocs: a keep-alive request routed by a Host rule (and
// pinned by its service's own cookie, beside another service's), a
// /cluster-ddp/ request pinned by endpointHash and rewritten, a response
// that gets a Set-Cookie and a request pinned by that cookie allocate
// nothing.
func TestServicesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	web := affinity.NewBalancer()
	web.Update([]affinity.Backend{
		{Endpoint: startFixedHTTP(t, resp), EndpointHash: "aaaa"},
		{Endpoint: startFixedHTTP(t, resp), EndpointHash: "bbbb"},
	})
	api := affinity.NewBalancer()
	api.Update([]affinity.Backend{{Endpoint: startFixedHTTP(t, resp), EndpointHash: "cccc"}})
	var routes []Route
	for i := range 19 {
		routes = append(routes, Route{Host: fmt.Sprintf("h%d.example.com", i), Service: "api"})
	}
	routes = append(routes, Route{Host: "api.example.com", Service: "api"})
	s := startServer(t, Config{Balancer: web, Service: "web", ForwardedFor: true, StickyInsert: "S",
		Services: []Service{{Name: "api", Balancer: api, Public: true, StickyInsert: "T"}}, Routes: routes})
	for _, req := range []string{
		"POST /sockjs/000/abcdefgh/xhr_send HTTP/1.1\r\nHost: api.example.com\r\nCookie: T=cccc\r\nContent-Length: 2\r\n\r\n[]",
		"POST /sockjs/000/abcdefgh/xhr_send HTTP/1.1\r\nHost: api.example.com\r\nCookie: S=aaaa; T=cccc\r\nContent-Length: 2\r\n\r\n[]",
		"POST /cluster-ddp/bbbb/web/000/abcdefgh/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", // gets a Set-Cookie
		"GET / HTTP/1.1\r\nHost: x\r\nCookie: S=aaaa\r\n\r\n",
	} {
		c := dial(t, s.Addrs()[0])
		out := []byte(req)
		buf := make([]byte, len(resp))
		if !strings.Contains(req, "Cookie") && strings.HasPrefix(req, "GET") {
			buf = make([]byte, len(resp)+len("Set-Cookie: S=aaaa; Path=/; HttpOnly; SameSite=Lax\r\n"))
		}
		exchange := func() {
			c.Write(out)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
		}
		exchange()
		if n := testing.AllocsPerRun(200, exchange); n != 0 {
			t.Errorf("AllocsPerRun(%q) = %v; want 0", req[:30], n)
		}
	}
}

// TestServicesClusterEndpointCookie: meteorhacks:cluster's
// cluster-endpoint::web cookie pins keyless requests to the instance of
// its endpointHash; a hash nobody has pins nothing.
func TestServicesClusterEndpointCookie(t *testing.T) {
	web1, web2 := startInstance(t, "web-1"), startInstance(t, "web-2")
	s := startServer(t, Config{Balancer: svcBalancer(t, web1, web2), Service: "web", ClusterEndpointCookie: true})
	get := func(cookie string) string {
		t.Helper()
		c := dial(t, s.Addrs()[0])
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=b; cluster-endpoint::web=%s\r\n\r\n", cookie)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return strings.Fields(string(b))[0]
	}
	for _, in := range []*svcInstance{web1, web2} {
		for range 10 {
			if got := get("hash" + strings.ReplaceAll(in.name, "-", "")); got != in.name {
				t.Fatalf("cookie of %s: served by %s", in.name, got)
			}
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < 2; i++ {
		seen[get("gone")] = true
	}
	if len(seen) < 2 {
		t.Errorf("unknown hash: every request on %v", seen)
	}
}

// TestServicesSockJS: real sockjs-go servers behind two services, web by
// default and api by Host and by path prefix (its app under /api, as with
// ROOT_URL_PATH_PREFIX=/api); 20 polling sessions per way, interleaved on
// one browser-like keep-alive pool, each on one instance of its service.
func TestServicesSockJS(t *testing.T) {
	var web, api []string
	for _, n := range []string{"w1", "w2", "w3"} {
		web = append(web, startHTTP(t, echobackend.New(n, echobackend.Options{DisconnectDelay: time.Minute})))
	}
	for _, n := range []string{"a1", "a2"} {
		eb := echobackend.New(n, echobackend.Options{DisconnectDelay: time.Minute})
		mux := http.NewServeMux()
		mux.Handle("/api/", http.StripPrefix("/api", eb))
		mux.Handle("/", eb)
		api = append(api, startHTTP(t, mux))
	}
	s := startServer(t, Config{
		Balancer: newBalancer(t, web...), Service: "web",
		Sniff:    sniff.Config{Prefixes: []string{"/sockjs", "/api/sockjs"}},
		Services: []Service{{Name: "api", Balancer: newBalancer(t, api...), Public: true}},
		Routes:   []Route{{Host: "api.example.com", Service: "api"}, {PathPrefix: "/api", Service: "api"}},
	})
	addr := s.Addrs()[0].String()
	tr := &http.Transport{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	const perWay = 20
	ways := []struct{ base, service string }{
		{"http://www.example.com", "w"},
		{"http://api.example.com", "a"},
		{"http://www.example.com/api", "a"},
	}
	var mu sync.Mutex
	served := map[string]map[string]int{}
	var wg sync.WaitGroup
	for w, way := range ways {
		served[way.base] = map[string]int{}
		for i := range perWay {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := sockjsSession(client, way.base, i, w*perWay+i)
				if err == nil && !strings.HasPrefix(b, way.service) {
					err = fmt.Errorf("served by %s", b)
				}
				if err != nil {
					t.Errorf("%s session %d: %v", way.base, i, err)
					return
				}
				mu.Lock()
				served[way.base][b]++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	t.Logf("sessions per instance: %v", served)
	for _, way := range ways {
		if n := len(served[way.base]); n < 2 {
			t.Errorf("%s: sessions on %v; want spread", way.base, served[way.base])
		}
	}
}

// TestStickyInsert is acceptance 4, for the default service (web,
// JSESSIONID) and for a service reached by Host (api, APISESSION): 200
// clients with a cookie jar each, keyless GET / only, alternating between
// two balancers: the first requests spread over every instance of the
// service, then each client stays on its instance for 20 requests.
// sockjs-node's JSESSIONID=dummy (and APISESSION=dummy) pins nobody.
func TestStickyInsert(t *testing.T) {
	web := []*svcInstance{startInstance(t, "web-1"), startInstance(t, "web-2"), startInstance(t, "web-3")}
	api := []*svcInstance{startInstance(t, "api-1"), startInstance(t, "api-2"), startInstance(t, "api-3")}
	var addrs []string
	for range 2 {
		s := startServer(t, Config{Balancer: svcBalancer(t, web...), Service: "web", StickyInsert: "JSESSIONID",
			Services: []Service{{Name: "api", Balancer: svcBalancer(t, api...), Public: true, StickyInsert: "APISESSION"}},
			Routes:   []Route{{Host: "api.example.com", Service: "api"}}})
		addrs = append(addrs, s.Addrs()[0].String())
	}
	for _, tc := range []struct{ host, cookie, prefix string }{
		{"www.example.com", "JSESSIONID", "web-"},
		{"api.example.com", "APISESSION", "api-"},
	} {
		t.Run(tc.cookie, func(t *testing.T) { checkStickyInsert(t, addrs, tc.host, tc.cookie, tc.prefix) })
	}
}

// dialVia returns a transport that sends every request to addr, whatever
// its URL's host.
func dialVia(addr string) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}}
}

func checkStickyInsert(t *testing.T, addrs []string, host, cookie, prefix string) {
	name := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Fields(string(b))[0]
	}
	base := "http://" + host + "/"
	const clients, requests = 200, 20
	var mu sync.Mutex
	first := map[string]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			jar, _ := cookiejar.New(nil)
			// One pool per balancer, as a browser behind DNS round robin
			// that reconnects to the other address now and then.
			trs := []*http.Transport{dialVia(addrs[0]), dialVia(addrs[1])}
			defer trs[0].CloseIdleConnections()
			defer trs[1].CloseIdleConnections()
			on := ""
			for r := range requests {
				cl := &http.Client{Jar: jar, Transport: trs[(i+r)%2], Timeout: testTimeout}
				resp, err := cl.Get(base)
				if err != nil {
					t.Error(err)
					return
				}
				got := name(resp)
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("client %d request %d on %s; want an instance of %s", i, r, got, prefix)
					return
				}
				if r == 0 {
					on = got
					mu.Lock()
					first[got]++
					mu.Unlock()
				} else if got != on {
					t.Errorf("client %d request %d on %s; first on %s", i, r, got, on)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("clients per instance: %v", first)
	if len(first) != 3 {
		t.Errorf("first requests on %v; want all three instances", first)
	}

	// <cookie>=dummy, as sockjs-node sets JSESSIONID: no pin, a real
	// cookie back.
	seen := map[string]bool{}
	for range 30 {
		req, _ := http.NewRequest("GET", base, nil)
		req.Header.Set("Cookie", cookie+"=dummy")
		tr := dialVia(addrs[0])
		tr.DisableKeepAlives = true
		resp, err := (&http.Client{Timeout: testTimeout, Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := resp.Header.Get("Set-Cookie")
		got := name(resp)
		seen[got] = true
		if want := cookie + "=hash" + strings.ReplaceAll(got, "-", "") + "; Path=/; HttpOnly; SameSite=Lax"; sc != want {
			t.Fatalf("Set-Cookie %q; want %q", sc, want)
		}
	}
	if len(seen) < 2 {
		t.Errorf("%s=dummy: every request on %v", cookie, seen)
	}
}

// TestStickyInsertOtherServicesCookie: services reached on one host by
// path each keep to their own cookie. A request of api carrying web's
// JSESSIONID (the browser sends every cookie of the host) is neither
// pinned nor keyed by it, and gets api's APISESSION; web's requests
// ignore APISESSION.
func TestStickyInsertOtherServicesCookie(t *testing.T) {
	web := []*svcInstance{startInstance(t, "web-1"), startInstance(t, "web-2")}
	api := []*svcInstance{startInstance(t, "api-1"), startInstance(t, "api-2")}
	s := startServer(t, Config{Balancer: svcBalancer(t, web...), Service: "web", StickyInsert: "JSESSIONID",
		Services: []Service{{Name: "api", Balancer: svcBalancer(t, api...), Public: true, StickyInsert: "APISESSION"}},
		Routes:   []Route{{PathPrefix: "/api", Service: "api"}}})
	get := func(path, cookie string) (string, string) {
		t.Helper()
		c := dial(t, s.Addrs()[0])
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", path, cookie)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return strings.Fields(string(b))[0], resp.Header.Get("Set-Cookie")
	}
	apiSeen, webSeen := map[string]bool{}, map[string]bool{}
	for i := range 40 {
		// The same foreign cookie each time: were it a key, every request
		// would land on one instance.
		got, sc := get("/api/x", "JSESSIONID=hashweb1")
		apiSeen[got] = true
		if want := "APISESSION=hash" + strings.ReplaceAll(got, "-", "") + "; Path=/; HttpOnly; SameSite=Lax"; sc != want {
			t.Fatalf("api request %d with web's cookie: served by %s, Set-Cookie %q; want %q", i, got, sc, want)
		}
		got, sc = get("/x", "APISESSION=hashapi1")
		webSeen[got] = true
		if !strings.HasPrefix(got, "web-") || !strings.HasPrefix(sc, "JSESSIONID=hash"+strings.ReplaceAll(got, "-", "")+";") {
			t.Fatalf("web request %d with api's cookie: served by %s, Set-Cookie %q", i, got, sc)
		}
	}
	if len(apiSeen) < 2 || len(webSeen) < 2 {
		t.Errorf("foreign cookies pinned: api requests on %v, web requests on %v", apiSeen, webSeen)
	}
	for _, in := range api {
		for range 5 {
			name := strings.ReplaceAll(in.name, "-", "")
			if got, sc := get("/api/x", "JSESSIONID=hashweb1; APISESSION=hash"+name); got != in.name || sc != "" {
				t.Fatalf("APISESSION=hash%s: served by %s, Set-Cookie %q; want %s and no cookie", name, got, sc, in.name)
			}
		}
	}
}

// TestServicesOwnPrefix: a service with its own SockJS prefix
// (ROOT_URL_PATH_PREFIX=/api) keys its sessions under it, and its
// /cluster-ddp/ paths are rewritten to it rather than to /sockjs.
func TestServicesOwnPrefix(t *testing.T) {
	web := startInstance(t, "web-1")
	api := []*svcInstance{startInstance(t, "api-1"), startInstance(t, "api-2"), startInstance(t, "api-3")}
	s := startServer(t, Config{Balancer: svcBalancer(t, web), Service: "web",
		Services: []Service{{Name: "api", Balancer: svcBalancer(t, api...), Public: true, Prefixes: []string{"/api/sockjs"}}},
		Routes:   []Route{{PathPrefix: "/api", Service: "api"}}})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	for i := range 20 {
		// One session's polls on one keep-alive connection: same instance.
		var on string
		for j := range 3 {
			code, body := svcGet(t, c, br, "x", fmt.Sprintf("/api/sockjs/000/sess%04d/xhr", i))
			if code != 200 {
				t.Fatalf("session %d poll %d: %d %s", i, j, code, body)
			}
			if j == 0 {
				on = strings.Fields(body)[0]
			} else if got := strings.Fields(body)[0]; got != on {
				t.Fatalf("session %d poll %d on %s; first on %s", i, j, got, on)
			}
		}
	}
	code, body := svcGet(t, c, br, "x", "/cluster-ddp/hashapi2/api/000/abcdefgh/xhr")
	if want := "api-2 /api/sockjs/000/abcdefgh/xhr"; code != 200 || body != want {
		t.Errorf("/cluster-ddp/hashapi2/api/...: %d %q; want 200 %q", code, body, want)
	}
}

func TestServicesKeysConfig(t *testing.T) {
	b := affinity.NewBalancer()
	for _, cfg := range []Config{
		// Five cookies: more than the sniffer holds.
		{Balancer: b, Service: "web", StickyInsert: "A", Sniff: sniff.Config{Cookies: []string{"B", "C"}},
			ClusterEndpointCookie: true, Services: []Service{{Name: "api", Balancer: b, StickyInsert: "D"}}},
		// An insert cookie that is also a sticky cookie.
		{Balancer: b, Service: "web", StickyInsert: "A", Sniff: sniff.Config{Cookies: []string{"A"}}},
		{Balancer: b, Service: "web", Services: []Service{{Name: "api", Balancer: b, Prefixes: []string{"api/sockjs"}}}},
	} {
		cfg.Listen = []string{"127.0.0.1:0"}
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
	// One insert name for two services takes one cookie.
	cfg := Config{Balancer: b, Service: "web", StickyInsert: "A", Sniff: sniff.Config{Cookies: []string{"B", "C"}},
		Services: []Service{{Name: "api", Balancer: b, StickyInsert: "A"}}, Listen: []string{"127.0.0.1:0"}}
	if _, err := New(cfg); err != nil {
		t.Errorf("New with a shared insert name: %v", err)
	}
}
