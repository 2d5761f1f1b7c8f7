//go:build linux

package engine

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// countingBackend is an HTTP backend that counts the connections it
// accepted, keeps them so a test can close them, and answers every
// request with "<name> <request URI>".
type countingBackend struct {
	name    string
	ep      string
	accepts atomic.Int64
	mu      sync.Mutex
	conns   []net.Conn
}

type countingListener struct {
	net.Listener
	b *countingBackend
}

func (cl countingListener) Accept() (net.Conn, error) {
	c, err := cl.Listener.Accept()
	if err == nil {
		cl.b.accepts.Add(1)
		cl.b.mu.Lock()
		cl.b.conns = append(cl.b.conns, c)
		cl.b.mu.Unlock()
	}
	return c, err
}

func startCounting(t *testing.T, name string, proxy bool) *countingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBackend{name: name, ep: "tcp://" + ln.Addr().String()}
	var l net.Listener = countingListener{ln, b}
	if proxy {
		l = &proxyproto.Listener{Listener: l}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s", name, r.URL.RequestURI())
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return b
}

// closeServerSide closes every connection b accepted so far.
func (b *countingBackend) closeServerSide() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

// pooled returns the number of parked backend connections over s's loops.
func pooled(s *Server) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, l := range s.loops {
		wg.Add(1)
		l.post(func() { n.Add(int64(l.npooled)); wg.Done() })
	}
	wg.Wait()
	return int(n.Load())
}

// httpClient is one keep-alive client connection speaking raw HTTP/1.1.
type httpClient struct {
	c net.Conn
	r *bufio.Reader
}

func newHTTPClient(t *testing.T, s *Server) *httpClient {
	c := dial(t, s.Addrs()[0])
	return &httpClient{c: c, r: bufio.NewReader(c)}
}

// get sends a GET for path and returns the status and body.
func (hc *httpClient) get(path string) (int, string, error) {
	if _, err := fmt.Fprintf(hc.c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(hc.r, nil)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// sessionPath is a SockJS xhr path keyed by session.
func sessionPath(session string, i int) string {
	return fmt.Sprintf("/sockjs/000/%s/xhr_send?i=%d", session, i)
}

// twoSessions finds one session key per backend (by asking through s).
func twoSessions(t *testing.T, s *Server, a, b *countingBackend) (sa, sb string) {
	t.Helper()
	hc := newHTTPClient(t, s)
	for i := 0; i < 200 && (sa == "" || sb == ""); i++ {
		key := fmt.Sprintf("sess%05d", i)
		code, body, err := hc.get(sessionPath(key, 0))
		if err != nil || code != 200 {
			t.Fatalf("GET = %d %q %v", code, body, err)
		}
		switch {
		case strings.HasPrefix(body, a.name+" ") && sa == "":
			sa = key
		case strings.HasPrefix(body, b.name+" ") && sb == "":
			sb = key
		}
	}
	if sa == "" || sb == "" {
		t.Fatal("no session key found for both backends")
	}
	hc.c.Close()
	return sa, sb
}

// checkGet sends a request keyed by session and checks that the backend
// named want answered this very request.
func checkGet(t *testing.T, hc *httpClient, session string, i int, want string) {
	t.Helper()
	p := sessionPath(session, i)
	code, body, err := hc.get(p)
	if err != nil || code != 200 {
		t.Fatalf("GET %s = %d %q %v", p, code, body, err)
	}
	if wantBody := want + " " + p; body != wantBody {
		t.Fatalf("GET %s = %q; want %q", p, body, wantBody)
	}
}

// TestBackendReuse: alternating keys on one client connection reuse the
// two backend connections instead of connecting per switch; a client that
// leaves between requests leaves its backend connection to the next one.
func TestBackendReuse(t *testing.T) {
	a, b := startCounting(t, "a", false), startCounting(t, "b", false)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, a.ep, b.ep)})
	sa, sb := twoSessions(t, s, a, b)

	before := a.accepts.Load() + b.accepts.Load()
	reuses := s.Stats().BackendReuses
	hc := newHTTPClient(t, s)
	const n = 40
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			checkGet(t, hc, sa, i, "a")
		} else {
			checkGet(t, hc, sb, i, "b")
		}
	}
	accepts := a.accepts.Load() + b.accepts.Load() - before
	if accepts > 4 {
		t.Errorf("%d requests alternating between two backends made %d backend connections; want at most 4", n, accepts)
	}
	if got := s.Stats().BackendReuses - reuses; got < n-4 {
		t.Errorf("BackendReuses grew by %d; want at least %d", got, n-4)
	}

	// A client that closes between requests parks its connection.
	hc.c.Close()
	deadline := time.Now().Add(testTimeout)
	for pooled(s) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before = a.accepts.Load() + b.accepts.Load()
	hc = newHTTPClient(t, s)
	checkGet(t, hc, sa, 0, "a")
	checkGet(t, hc, sb, 1, "b")
	if got := a.accepts.Load() + b.accepts.Load() - before; got != 0 {
		t.Errorf("a new client made %d backend connections; want the 2 parked ones reused", got)
	}
}

// TestReuseBackendClosed: a parked connection the backend closes leaves
// the pool at once and is never used; the next request connects anew.
func TestReuseBackendClosed(t *testing.T) {
	a, b := startCounting(t, "a", false), startCounting(t, "b", false)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, a.ep, b.ep)})
	sa, sb := twoSessions(t, s, a, b)
	hc := newHTTPClient(t, s)
	checkGet(t, hc, sa, 1, "a")
	checkGet(t, hc, sb, 2, "b") // a's connection is parked
	if n := pooled(s); n < 1 {
		t.Fatalf("pooled = %d after a switch; want at least 1", n)
	}
	a.closeServerSide()
	deadline := time.Now().Add(testTimeout)
	for pooled(s) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := pooled(s); n != 0 {
		t.Fatalf("pooled = %d after the backend closed; want 0", n)
	}
	before := a.accepts.Load()
	checkGet(t, hc, sa, 3, "a")
	if a.accepts.Load() != before+1 {
		t.Errorf("backend a accepted %d connections for the request after its close; want 1", a.accepts.Load()-before)
	}
	if st := s.Stats(); st.Status502 != 0 {
		t.Errorf("Status502 = %d; want 0", st.Status502)
	}
}

// TestReusePoolTimeout: a parked connection nobody takes is closed after
// poolIdleTimeout.
func TestReusePoolTimeout(t *testing.T) {
	a, b := startCounting(t, "a", false), startCounting(t, "b", false)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, a.ep, b.ep)})
	sa, sb := twoSessions(t, s, a, b)
	hc := newHTTPClient(t, s)
	checkGet(t, hc, sa, 1, "a")
	checkGet(t, hc, sb, 2, "b")
	if n := pooled(s); n < 1 {
		t.Fatalf("pooled = %d after a switch; want at least 1", n)
	}
	deadline := time.Now().Add(time.Duration(poolIdleTimeout) + testTimeout)
	for pooled(s) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := pooled(s); n != 0 {
		t.Fatalf("pooled = %d long after the pool timeout; want 0", n)
	}
	// The client's own connection to b is not parked and still works.
	checkGet(t, hc, sb, 3, "b")
}

// TestReuseProxyProtocolOff: with a PROXY header (bound to one client) no
// backend connection is ever parked or reused.
func TestReuseProxyProtocol(t *testing.T) {
	a, b := startCounting(t, "a", true), startCounting(t, "b", true)
	s := startServer(t, Config{Loops: 1, ProxyProtocol: ProxyV1, Balancer: newBalancer(t, a.ep, b.ep)})
	sa, sb := twoSessions(t, s, a, b)
	hc := newHTTPClient(t, s)
	before := a.accepts.Load() + b.accepts.Load()
	for i := 0; i < 10; i++ {
		if i%2 == 0 {
			checkGet(t, hc, sa, i, "a")
		} else {
			checkGet(t, hc, sb, i, "b")
		}
		if n := pooled(s); n != 0 {
			t.Fatalf("pooled = %d with PROXY headers on; want 0", n)
		}
	}
	if got := a.accepts.Load() + b.accepts.Load() - before; got != 10 {
		t.Errorf("10 alternating requests made %d backend connections; want 10", got)
	}
	if r := s.Stats().BackendReuses; r != 0 {
		t.Errorf("BackendReuses = %d; want 0", r)
	}
}

// TestReuseNoLeak: clients alternating keys at the same time share the
// pool; every response is the answer to its own request.
func TestReuseNoLeak(t *testing.T) {
	a, b := startCounting(t, "a", false), startCounting(t, "b", false)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, a.ep, b.ep)})
	sa, sb := twoSessions(t, s, a, b)
	const clients, n = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for k := 0; k < clients; k++ {
		hc := newHTTPClient(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				key, want := sa, "a"
				if (i+k)%2 == 1 {
					key, want = sb, "b"
				}
				p := fmt.Sprintf("/sockjs/000/%s/xhr_send?c=%d&r=%d", key, k, i)
				code, body, err := hc.get(p)
				if err != nil || code != 200 || body != want+" "+p {
					errs <- fmt.Errorf("client %d: GET %s = %d %q %v; want %q", k, p, code, body, err, want+" "+p)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.Stats().BackendReuses == 0 {
		t.Error("BackendReuses = 0; want reuse between the clients")
	}
}

// raceBackend is a keep-alive HTTP backend that ends its connections as
// the keep-alive race needs. It answers "<method> <URI> <body>".
type raceBackend struct {
	ep       string
	accepts  atomic.Int64
	answered atomic.Int64
	// maxIdle > 0: a connection waits at most a random time below maxIdle
	// for its next request (not its first), as a short keep-alive timeout
	// drawn anew each time would, and closes when none began.
	maxIdle time.Duration
	mode    atomic.Int32 // what requests after a connection's first get
}

const (
	answerAll   int32 = iota
	dropReused        // read, then the connection is closed without an answer (EOF)
	resetReused       // the connection is reset when its first byte arrives
	dropEvery         // even a connection's first request is dropped
)

func startRaceBackend(t *testing.T, maxIdle time.Duration) *raceBackend {
	t.Helper()
	b := &raceBackend{maxIdle: maxIdle}
	b.ep = startTCP(t, b.serve)
	return b
}

func (b *raceBackend) serve(c net.Conn) {
	b.accepts.Add(1)
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		idle := testTimeout
		if n > 1 && b.maxIdle > 0 {
			idle = rand.N(b.maxIdle)
		}
		c.SetReadDeadline(time.Now().Add(idle))
		if _, err := br.Peek(1); err != nil {
			return // idle too long (or the balancer closed)
		}
		mode := b.mode.Load()
		if mode == resetReused && n > 1 {
			c.(*net.TCPConn).SetLinger(0)
			return
		}
		c.SetReadDeadline(time.Now().Add(testTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil || mode == dropEvery || mode != answerAll && n > 1 {
			return
		}
		out := fmt.Sprintf("%s %s %s", req.Method, req.RequestURI, body)
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(out), out); err != nil {
			return
		}
		b.answered.Add(1)
	}
}

// oneRequest sends one request on a new client connection and checks
// that its own answer came back.
func oneRequest(s *Server, method, uri, body string) error {
	addr := s.Addrs()[0]
	c, err := net.DialTimeout(addr.Network(), addr.String(), testTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", method, uri, len(body), body); err != nil {
		return fmt.Errorf("%s %s: write: %w", method, uri, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, uri, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, uri, err)
	}
	if want := method + " " + uri + " " + body; resp.StatusCode != 200 || string(got) != want {
		return fmt.Errorf("%s %s = %d %.80q; want 200 %.80q", method, uri, resp.StatusCode, got, want)
	}
	return nil
}

// parkOne sends one request through s on a new client connection and
// waits until its backend connection is parked.
func parkOne(t *testing.T, s *Server) {
	t.Helper()
	if err := oneRequest(s, "GET", "/first", ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout)
	for pooled(s) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := pooled(s); n != 1 {
		t.Fatalf("pooled = %d after a client left; want 1", n)
	}
}

// TestReplay: a new client's request that takes a parked connection the
// backend then closes (EOF) or resets before answering is sent again on
// a fresh connection, body included; the client sees only the answer.
func TestReplay(t *testing.T) {
	for _, v := range []struct {
		name string
		mode int32
	}{{"eof", dropReused}, {"reset", resetReused}} {
		t.Run(v.name, func(t *testing.T) {
			b := startRaceBackend(t, 0)
			rec := &exchangeLog{}
			s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, b.ep), ForwardedFor: true, Exchanges: rec})
			parkOne(t, s)
			b.mode.Store(v.mode)
			before := s.Stats()
			body := strings.Repeat("body.", 200)
			if err := oneRequest(s, "POST", "/second", body); err != nil {
				t.Fatal(err)
			}
			// One exchange for the client, with its bytes counted once
			// and the replay's connect.
			reqLen := int64(len(fmt.Sprintf("POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))) + len(body))
			ex := rec.all()
			if len(ex) != 2 {
				t.Fatalf("%d exchanges recorded; want 2: %+v", len(ex), ex)
			}
			if e := ex[1]; e.Status != 200 || e.BytesIn != reqLen || e.Connect < 0 || e.FirstByte < 0 || e.End != EndNormal {
				t.Errorf("replayed exchange: status %d, %d bytes in, connect %v, first byte %v, end %v; want 200, %d, >= 0, >= 0, normal",
					e.Status, e.BytesIn, e.Connect, e.FirstByte, e.End, reqLen)
			}
			st := s.Stats()
			if d := st.BackendReuses - before.BackendReuses; d != 1 {
				t.Errorf("BackendReuses grew by %d; want 1", d)
			}
			if st.BackendReplays != 1 {
				t.Errorf("BackendReplays = %d; want 1", st.BackendReplays)
			}
			if n := b.accepts.Load(); n != 2 {
				t.Errorf("backend accepted %d connections; want 2 (the parked one, the replay's)", n)
			}
			if st.Status502 != 0 {
				t.Errorf("Status502 = %d; want 0", st.Status502)
			}
		})
	}
}

// exchangeLog keeps the exchanges recorded, without Method and Path.
type exchangeLog struct {
	mu sync.Mutex
	ex []Exchange
}

func (r *exchangeLog) RecordExchange(e *Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *e
	c.Method, c.Path = nil, nil
	r.ex = append(r.ex, c)
}

func (r *exchangeLog) all() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.ex...)
}

// TestReplayOnce: a replay that fails too is not replayed again: the
// client gets the 502 it would get without reuse.
func TestReplayOnce(t *testing.T) {
	b := startRaceBackend(t, 0)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, b.ep)})
	parkOne(t, s)
	b.mode.Store(dropEvery)
	err := oneRequest(s, "GET", "/second", "")
	if err == nil || !strings.Contains(err.Error(), "= 502") {
		t.Fatalf("request to a backend that drops every request: %v; want a 502", err)
	}
	st := s.Stats()
	if st.BackendReplays != 1 || st.Status502 != 1 {
		t.Errorf("BackendReplays = %d, Status502 = %d; want 1, 1", st.BackendReplays, st.Status502)
	}
	if n := b.accepts.Load(); n != 2 {
		t.Errorf("backend accepted %d connections; want 2 (the parked one, one replay)", n)
	}
}

// TestReplayNotWhole: a request whose body did not stay whole in the
// buffer is not replayed: the client gets the 502 it would get without
// reuse.
func TestReplayNotWhole(t *testing.T) {
	b := startRaceBackend(t, 0)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, b.ep)})
	parkOne(t, s)
	b.mode.Store(dropReused)
	err := oneRequest(s, "POST", "/big", strings.Repeat("x", 3*defaultBufSize))
	if err == nil {
		t.Fatal("a dropped request with a body larger than the buffer was answered")
	}
	st := s.Stats()
	if st.BackendReplays != 0 {
		t.Errorf("BackendReplays = %d; want 0", st.BackendReplays)
	}
	if n := b.accepts.Load(); n != 1 {
		t.Errorf("backend accepted %d connections; want 1 (no replay)", n)
	}
}

// TestReplayKeepAliveRace forces the keep-alive race with real timing: a
// backend that closes idle connections after a random idle time of up
// to a millisecond or so, and clients that each open a new connection for
// one request, so that most requests take a parked connection and some
// meet its close. With replay no client sees an error and every request
// is answered exactly once; without it, clients see errors.
func TestReplayKeepAliveRace(t *testing.T) {
	// With replay, many requests and some replays; without, until
	// enough errors show (each bounded by maxRequests and a deadline).
	const workers, maxRequests, minRequests, enough = 4, 20000, 1000, 20
	run := func(t *testing.T, replay bool) (errs []error, replays int64, reqs int64, b *raceBackend) {
		b = startRaceBackend(t, 1500*time.Microsecond)
		s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, b.ep)})
		var n atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		deadline := time.Now().Add(testTimeout / 2)
		done := func() bool {
			mu.Lock()
			defer mu.Unlock()
			if n.Load() >= maxRequests || time.Now().After(deadline) {
				return true
			}
			if replay {
				return n.Load() >= minRequests && s.Stats().BackendReplays >= enough
			}
			return len(errs) >= enough
		}
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !done(); i++ {
					n.Add(1)
					method, body := "GET", ""
					if i%2 == 1 {
						method, body = "POST", fmt.Sprintf("[%d,%d]", w, i)
					}
					if err := oneRequest(s, method, fmt.Sprintf("/w%d/r%d", w, i), body); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		st := s.Stats()
		t.Logf("%d requests: %d reused, %d replayed, %d backend connects, %d client errors",
			n.Load(), st.BackendReuses, st.BackendReplays, st.BackendConnects, len(errs))
		return errs, st.BackendReplays, n.Load(), b
	}
	t.Run("replay", func(t *testing.T) {
		errs, replays, reqs, b := run(t, true)
		for i, err := range errs {
			if i == 5 {
				break
			}
			t.Errorf("client error with replay on: %v", err)
		}
		if len(errs) > 0 {
			t.Errorf("%d client errors with replay on; want 0", len(errs))
		}
		if replays == 0 {
			t.Errorf("no request was replayed in %d: the race never happened, so the test proves nothing", reqs)
		}
		if a := b.answered.Load(); a != reqs {
			t.Errorf("backend answered %d requests of %d; want each once", a, reqs)
		}
	})
	t.Run("no replay", func(t *testing.T) {
		replayOff.Store(true)
		defer replayOff.Store(false)
		errs, _, reqs, _ := run(t, false)
		if len(errs) == 0 {
			t.Errorf("no client error in %d requests without replay: the race test cannot fail", reqs)
		}
	})
}

// startDropper starts a backend that answers each connection's first
// request with resp and closes the connection, unanswered, when a second
// one comes: every reused connection meets the keep-alive race. It is
// plain system calls on one goroutine, allocation-free once running, so
// that AllocsPerRun sees only the balancer's allocations. It reads each
// request in one read (the test sends one at a time).
func startDropper(t *testing.T, resp string) string {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 128); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		const maxConns = 255
		fds := make([]unix.PollFd, 0, maxConns+1)
		conns := make([]int32, 0, maxConns)
		served := make([]uint8, 1<<16) // requests seen, by fd
		buf, out := make([]byte, 4096), []byte(resp)
		defer func() {
			for _, c := range conns {
				unix.Close(int(c))
			}
		}()
		for !stop.Load() {
			fds = append(fds[:0], unix.PollFd{Fd: int32(lfd), Events: unix.POLLIN})
			for _, c := range conns {
				fds = append(fds, unix.PollFd{Fd: c, Events: unix.POLLIN})
			}
			if n, err := unix.Poll(fds, 20); n <= 0 || err != nil {
				continue
			}
			keep := conns[:0]
			for i, c := range conns {
				if fds[i+1].Revents == 0 {
					keep = append(keep, c)
					continue
				}
				n, _ := unix.Read(int(c), buf)
				if n > 0 && int(c) < len(served) {
					served[c]++
					if served[c] == 1 {
						if _, err := unix.Write(int(c), out); err == nil {
							keep = append(keep, c)
							continue
						}
					}
				}
				unix.Close(int(c))
			}
			conns = keep
			if fds[0].Revents != 0 && len(conns) < maxConns {
				// accept4 without a peer address: unix.Accept4 would
				// allocate one.
				nfd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
				if errno == 0 && int(nfd) < len(served) {
					served[nfd] = 0
					conns = append(conns, int32(nfd))
				} else if errno == 0 {
					unix.Close(int(nfd))
				}
			}
		}
	}()
	t.Cleanup(func() {
		stop.Store(true)
		<-done
		unix.Close(lfd)
	})
	return fmt.Sprintf("tcp://127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// TestReplayAllocs: a request that takes a parked connection, meets the
// keep-alive race and is replayed on a fresh connection allocates
// nothing in the balancer. One keep-alive client alternates two session
// keys of two backends, so every request parks one connection and takes
// the other backend's, which that backend then drops.
func TestReplayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const respA, respB = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
	a, b := startDropper(t, respA), startDropper(t, respB)
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, a, b)})
	// A key per backend, each asked on a new client connection (which
	// always gets its answer: a fresh connection answers, and a reused
	// one is replayed).
	keys := map[byte]string{}
	for i := 0; i < 200 && len(keys) < 2; i++ {
		key := fmt.Sprintf("sess%05d", i)
		c := dial(t, s.Addrs()[0])
		fmt.Fprintf(c, "GET /sockjs/000/%s/xhr_send HTTP/1.1\r\nHost: x\r\n\r\n", key)
		got := make([]byte, len(respA))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("key %s: %v", key, err)
		}
		c.Close()
		if _, ok := keys[got[len(got)-1]]; !ok {
			keys[got[len(got)-1]] = key
		}
	}
	if len(keys) != 2 {
		t.Fatalf("no session key found for both backends: %v", keys)
	}
	c := dial(t, s.Addrs()[0])
	reqA := []byte("GET /sockjs/000/" + keys['a'] + "/xhr_send HTTP/1.1\r\nHost: x\r\n\r\n")
	reqB := []byte("GET /sockjs/000/" + keys['b'] + "/xhr_send HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, len(respA))
	exchange := func(req []byte, want byte) {
		c.Write(req)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if buf[len(buf)-1] != want {
			t.Fatalf("answer %q; want one from backend %c", buf, want)
		}
	}
	both := func() { exchange(reqA, 'a'); exchange(reqB, 'b') }
	for range 5 {
		both()
	}
	before := s.Stats().BackendReplays
	const runs = 200
	if n := testing.AllocsPerRun(runs, both); n != 0 {
		t.Errorf("AllocsPerRun(replay) = %v; want 0", n)
	}
	if d := s.Stats().BackendReplays - before; d < 2*runs {
		t.Errorf("BackendReplays grew by %d in %d alternating pairs; want every request replayed (%d)", d, runs, 2*runs)
	}
}

// TestReuseConnectionClose: clients that each send one request with
// "Connection: close" on a new connection share backend connections: the
// backend's copy does not ask to close, the client's connection still
// ends after its response. A request the backend must close after (an
// HTTP/1.0 one), or whose Connection field says more than close, leaves
// nothing parked.
func TestReuseConnectionClose(t *testing.T) {
	var closes atomic.Int64 // requests the backend saw asking to close
	b := &countingBackend{name: "a"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.ep = "tcp://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Close {
			closes.Add(1)
		}
		fmt.Fprintf(w, "a %s", r.URL.RequestURI())
	})}
	go srv.Serve(countingListener{ln, b})
	t.Cleanup(func() { srv.Close() })
	s := startServer(t, Config{Loops: 1, Balancer: newBalancer(t, b.ep)})

	ask := func(req string) (status int, body string) {
		t.Helper()
		c := dial(t, s.Addrs()[0])
		defer c.Close()
		io.WriteString(c, req)
		all, err := io.ReadAll(c) // to the balancer's close
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
		if err != nil {
			t.Fatalf("%q: %v in %q", req, err, all)
		}
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}
	const n = 20
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("/one?i=%d", i)
		if code, body := ask("GET " + p + " HTTP/1.1\r\nHost: x\r\nConnection:  CLOSE \r\n\r\n"); code != 200 || body != "a "+p {
			t.Fatalf("GET %s = %d %q", p, code, body)
		}
	}
	if a := b.accepts.Load(); a > 2 {
		t.Errorf("%d one-request clients made %d backend connections; want their requests to share one", n, a)
	}
	if c := closes.Load(); c != 0 {
		t.Errorf("the backend saw %d requests asking to close; want 0", c)
	}
	if r := s.Stats().BackendReuses; r < n-2 {
		t.Errorf("BackendReuses = %d; want at least %d", r, n-2)
	}

	for _, req := range []string{
		"GET /old HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /list HTTP/1.1\r\nHost: x\r\nConnection: close, x-other\r\nX-Other: 1\r\n\r\n",
	} {
		before := closes.Load()
		if code, _ := ask(req); code != 200 {
			t.Fatalf("%q = %d", req, code)
		}
		if closes.Load() != before+1 {
			t.Errorf("%q reached the backend without its close", req)
		}
		deadline := time.Now().Add(testTimeout)
		for pooled(s) != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if p := pooled(s); p != 0 {
			t.Errorf("after %q: %d parked connections; want 0 (the backend closes it)", req, p)
		}
	}
}

func TestBlankClose(t *testing.T) {
	for _, v := range []struct {
		in, out string
		ok      bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nConnection:      \r\n\r\n", true},
		{"GET / HTTP/1.1\nconnection:\tClose  \n\n", "GET / HTTP/1.1\nconnection:\t       \n\n", true},
		{"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", "", false},
		{"GET / HTTP/1.1\r\nConnection: close\r\nConnection: close\r\n\r\n", "", false},
		{"GET / HTTP/1.1\r\nConnection: close, upgrade\r\n\r\n", "", false},
		{"GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n", "", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", false},
		{"GET / HTTP/1.1", "", false},
	} {
		b := []byte(v.in)
		ok := blankClose(b)
		want := v.out
		if !v.ok {
			want = v.in
		}
		if ok != v.ok || string(b) != want {
			t.Errorf("blankClose(%q) = %v, %q; want %v, %q", v.in, ok, b, v.ok, want)
		}
	}
}

// FuzzBlankClose: blankClose changes nothing but the five bytes of one
// "close" (any case) into spaces, and nothing at all when it reports
// false.
func FuzzBlankClose(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nCONNECTION:close\n\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		b := append([]byte(nil), head...)
		if !blankClose(b) {
			if string(b) != string(head) {
				t.Fatalf("blankClose(%q) reported false but changed it to %q", head, b)
			}
			return
		}
		i := 0
		for i < len(b) && b[i] == head[i] {
			i++
		}
		if i+5 > len(b) || !strings.EqualFold(string(head[i:i+5]), "close") || string(b[i:i+5]) != "     " ||
			string(b[i+5:]) != string(head[i+5:]) {
			t.Fatalf("blankClose(%q) = %q: not one close blanked", head, b)
		}
	})
}
