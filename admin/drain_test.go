//go:build linux

package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/engine/enginetest"
	"github.com/l4lb/l4lb/tools/echobackend"
)

// startSockJS starts an echobackend SockJS server named name and returns
// its endpoint ("tcp://127.0.0.1:port").
func startSockJS(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Meteor's 60 s disconnect delay keeps idle sessions through the test.
	srv := &http.Server{Handler: echobackend.New(name, echobackend.Options{DisconnectDelay: time.Minute})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + ln.Addr().String()
}

// fresh is a client that opens a new connection for every request: each
// request is a new keyless (or keyed) connection to the balancer.
var fresh = &http.Client{Timeout: testTimeout, Transport: &http.Transport{DisableKeepAlives: true}}

// call sends one request through the balancer on a new connection and
// returns the backend that answered and the body.
func call(t testing.TB, method, url, body string, want int) (backend, got string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fresh.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %q; want %d", method, url, resp.StatusCode, b, want)
	}
	return resp.Header.Get(echobackend.HeaderName), string(b)
}

// pollSession is a SockJS xhr-polling session through the balancer.
type pollSession struct {
	url     string // .../sockjs/000/<id>
	backend string
}

func openPoll(t testing.TB, base string, id int) *pollSession {
	t.Helper()
	s := &pollSession{url: fmt.Sprintf("%s%s/000/drain%04d", base, echobackend.Prefix, id)}
	var body string
	s.backend, body = call(t, "POST", s.url+"/xhr", "", 200)
	if body != "o\n" {
		t.Fatalf("open %s = %q; want o", s.url, body)
	}
	return s
}

// roundTrip sends msg and polls for its echo; it reports the backends
// that served the send and the poll, and the echo's stamp.
func (s *pollSession) roundTrip(t testing.TB, msg string) error {
	t.Helper()
	if b, _ := call(t, "POST", s.url+"/xhr_send", `["`+msg+`"]`, 204); b != s.backend {
		return fmt.Errorf("xhr_send of %s served by %s; session is on %s", s.url, b, s.backend)
	}
	b, got := call(t, "POST", s.url+"/xhr", "", 200)
	want := `a["` + echobackend.Stamp(s.backend, msg) + `"]` + "\n"
	if b != s.backend || got != want {
		return fmt.Errorf("poll of %s = %q from %s; want %q from %s", s.url, got, b, want, s.backend)
	}
	return nil
}

// wsSession is a SockJS session on the websocket transport through the
// balancer: one connection, placed by load.
type wsSession struct {
	c       *websocket.Conn
	backend string
}

func openWS(t testing.TB, lb net.Addr, id int) *wsSession {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testTimeout}
	c, _, err := d.Dial(fmt.Sprintf("ws://%s%s/000/ws%04d/websocket", lb, echobackend.Prefix, id), nil)
	if err != nil {
		t.Fatalf("websocket %d: %v", id, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "o" {
		t.Fatalf("websocket %d: open frame %q, %v; want o", id, m, err)
	}
	s := &wsSession{c: c}
	b, err := s.echo("hello")
	if err != nil {
		t.Fatal(err)
	}
	s.backend = b
	return s
}

// echo sends msg and returns the backend that stamped the echo.
func (s *wsSession) echo(msg string) (string, error) {
	if err := s.c.WriteMessage(websocket.TextMessage, []byte(`["`+msg+`"]`)); err != nil {
		return "", err
	}
	for {
		_, m, err := s.c.ReadMessage()
		if err != nil {
			return "", err
		}
		if string(m) == "h" {
			continue // heartbeat
		}
		var msgs []string
		if err := json.Unmarshal([]byte(strings.TrimPrefix(string(m), "a")), &msgs); err != nil || len(msgs) != 1 {
			return "", fmt.Errorf("websocket frame %q: want a[\"<backend>:%s\"]", m, msg)
		}
		name, got, ok := echobackend.Unstamp(msgs[0])
		if !ok || got != msg {
			return "", fmt.Errorf("websocket echo %q; want <backend>:%s", msgs[0], msg)
		}
		return name, nil
	}
}

// TestDrainThroughAPI is acceptance 2: a drain through the API stops new
// keyless connections and new WebSockets from reaching the backend at
// once (within 1 s), while the SockJS sessions it holds, polling and
// WebSocket, keep working on it; an undrain brings it back.
func TestDrainThroughAPI(t *testing.T) {
	names := []string{"a", "b", "c"}
	var eps []string
	byName := map[string]string{}
	for _, n := range names {
		ep := startSockJS(t, n)
		eps = append(eps, ep)
		byName[n] = ep
	}
	bal := newBalancer(t, eps...)
	srv := enginetest.Start(t, engine.Config{Balancer: bal, BackendStats: true})
	_, adminURL := startAdmin(t, Config{Balancer: bal, Engine: srv})
	lb := srv.Addrs()[0]
	base := "http://" + lb.String()

	var polls []*pollSession
	for i := range 30 {
		polls = append(polls, openPoll(t, base, i))
	}
	var wss []*wsSession
	for i := range 9 {
		wss = append(wss, openWS(t, lb, i))
	}
	// Drain the backend of the first WebSocket; it must hold polling
	// sessions too (30 sessions over 3 backends: it does, but say so).
	target := wss[0].backend
	var onTarget []*pollSession
	for _, p := range polls {
		if p.backend == target {
			onTarget = append(onTarget, p)
		}
	}
	if len(onTarget) == 0 {
		t.Fatalf("no polling session on %s; sessions: %v", target, polls)
	}

	// A keep-alive connection whose keyless requests went to the target.
	var ka *http.Client
	var dials atomic.Int64
	for i := 0; ka == nil; i++ {
		if i == 20 {
			t.Fatalf("20 keep-alive connections, none placed on %s", target)
		}
		dials.Store(0)
		c := &http.Client{Timeout: testTimeout, Transport: &http.Transport{
			MaxConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}}
		if keepAlive(t, c, base) == target {
			ka = c
		}
	}

	start := time.Now()
	resp := do(t, mustRequest(t, "POST", adminURL+"/api/backends/"+strings.TrimPrefix(byName[target], "tcp://")+"/drain"))
	var v Backend
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 || v.State != "draining" || !v.Drained {
		t.Fatalf("POST drain = %d %+v, %v; want 200 and state draining", resp.StatusCode, v, err)
	}
	applied := time.Since(start)
	if applied > time.Second {
		t.Errorf("the drain took %v to answer; want under 1 s", applied)
	}

	// From the answer on: new keyless connections and new WebSockets go
	// elsewhere.
	for i := range 30 {
		if b, _ := call(t, "GET", base+"/", "", 200); b == target {
			t.Fatalf("keyless request %d after the drain went to drained %s", i, target)
		}
	}
	if b := keepAlive(t, ka, base); b == target || dials.Load() != 1 {
		t.Errorf("keyless request on a keep-alive connection after the drain: served by %s over %d connections; want another backend over the same one", b, dials.Load())
	}
	var more []*wsSession
	for i := range 6 {
		s := openWS(t, lb, 100+i)
		if s.backend == target {
			t.Fatalf("new websocket %d after the drain went to drained %s", i, target)
		}
		more = append(more, s)
	}
	t.Logf("drain answered in %v; 30 keyless requests and 6 websockets avoided %s, %v after it", applied, target, time.Since(start))

	// The sessions it holds keep working on it.
	for _, p := range onTarget {
		if err := p.roundTrip(t, "still here"); err != nil {
			t.Errorf("polling session on the drained backend: %v", err)
		}
	}
	for i, s := range wss {
		if s.backend != target {
			continue
		}
		if b, err := s.echo("still here"); err != nil || b != target {
			t.Errorf("websocket %d on the drained backend: echo from %q, %v; want %s", i, b, err, target)
		}
	}
	// Sessions elsewhere did not move: a drain leaves the table alone.
	for _, p := range polls {
		if p.backend != target {
			if err := p.roundTrip(t, "elsewhere"); err != nil {
				t.Errorf("polling session elsewhere: %v", err)
			}
		}
	}

	// The API and the page say so.
	var list []Backend
	if err := json.NewDecoder(do(t, mustRequest(t, "GET", adminURL+"/api/backends")).Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, b := range list {
		want := "up"
		if b.Endpoint == byName[target] {
			want = "draining"
		}
		if b.State != want {
			t.Errorf("/api/backends: %s state %q; want %q", b.Endpoint, b.State, want)
		}
	}

	// Undrain: it takes new connections again (it holds the fewest now).
	if resp := do(t, mustRequest(t, "POST", adminURL+"/api/backends/"+strings.TrimPrefix(byName[target], "tcp://")+"/undrain")); resp.StatusCode != 200 {
		t.Fatalf("POST undrain = %d", resp.StatusCode)
	}
	back := 0
	for i := range 12 {
		if openWS(t, lb, 200+i).backend == target {
			back++
		}
	}
	if back == 0 {
		t.Errorf("after the undrain, 0 of 12 new websockets reached %s; want some", target)
	}
	if st := bal.Snapshot(); st.Len() != 3 {
		t.Fatalf("snapshot has %d members", st.Len())
	}
	for _, m := range bal.Snapshot().Members() {
		if m.Backend().State != affinity.Ready {
			t.Errorf("after undrain, %s is %v; want ready", m, m.Backend().State)
		}
	}
}

// keepAlive sends a keyless request with c and returns the backend that
// answered.
func keepAlive(t testing.TB, c *http.Client, base string) string {
	t.Helper()
	resp := do0(t, c, mustRequest(t, "GET", base+"/"))
	return resp.Header.Get(echobackend.HeaderName)
}

func mustRequest(t testing.TB, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
