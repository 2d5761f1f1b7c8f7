//go:build linux

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/tools/echobackend"
)

// pollSession is one SockJS xhr-polling session driven step by step by a
// test, through a client whose keep-alive pool all sessions share.
type pollSession struct {
	path string // <prefix>/<server>/<session>
	home string // backend that opened it
	sent int
	// seen, if not nil, records the balancer each request went through
	// (see alternatingClient).
	seen map[string]bool
}

// errMoved marks a request of the session answered by another backend.
var errMoved = errors.New("session moved")

func (p *pollSession) do(client *http.Client, base, path, body string, want int) (string, error) {
	req, err := http.NewRequest("POST", base+p.path+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	var via string
	if p.seen != nil {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if c, ok := info.Conn.(*taggedConn); ok {
				via = c.tag
			}
		}}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if via != "" {
		p.seen[via] = true
	}
	name := resp.Header.Get(echobackend.HeaderName)
	if p.home != "" && name != p.home {
		return "", fmt.Errorf("%s%s answered %d by %s; session lives on %s: %w", p.path, path, resp.StatusCode, name, p.home, errMoved)
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s%s = %d %q; want %d", p.path, path, resp.StatusCode, b, want)
	}
	p.home = name
	return string(b), nil
}

// open opens the session (its first poll answers "o").
func (p *pollSession) open(client *http.Client, base string) error {
	got, err := p.do(client, base, "/xhr", "", 200)
	if err == nil && got != "o\n" {
		err = fmt.Errorf("%s/xhr = %q; want o", p.path, got)
	}
	return err
}

// echo sends one message and polls until its echo, stamped by the
// session's backend, comes back.
func (p *pollSession) echo(client *http.Client, base string) error {
	p.sent++
	msg := fmt.Sprintf("m%d", p.sent)
	if _, err := p.do(client, base, "/xhr_send", `["`+msg+`"]`, 204); err != nil {
		return err
	}
	want := `a["` + echobackend.Stamp(p.home, msg) + `"]` + "\n"
	for refused := range 8 {
		got, err := p.do(client, base, "/xhr", "", 200)
		if err != nil {
			return err
		}
		if strings.HasPrefix(got, "c[2010,") {
			// sockjs-go detaches a finished poll on another goroutine: the
			// next may find it attached. The session is intact; poll again.
			time.Sleep(time.Millisecond << refused)
			continue
		}
		if got != want {
			return fmt.Errorf("%s/xhr = %q; want %q", p.path, got, want)
		}
		return nil
	}
	return fmt.Errorf("%s/xhr: refused 8 times", p.path)
}

// restartable is a SockJS echo backend that can fail (its listener and
// connections closed: connects are refused) and come back on the same
// address with no session, as a restarted instance does.
type restartable struct {
	name, addr string
	mu         sync.Mutex
	srv        *http.Server
}

func startRestartable(t *testing.T, name string) *restartable {
	t.Helper()
	r := &restartable{name: name}
	r.start(t, "127.0.0.1:0")
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) endpoint() string { return "tcp://" + r.addr }

func (r *restartable) start(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("backend %s: %v", r.name, err)
	}
	// Meteor's disconnect delay: a session survives the test's pauses.
	srv := &http.Server{Handler: echobackend.New(r.name, echobackend.Options{DisconnectDelay: time.Minute})}
	go srv.Serve(ln)
	r.mu.Lock()
	r.addr, r.srv = ln.Addr().String(), srv
	r.mu.Unlock()
}

func (r *restartable) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// sessionRun drives sessions concurrently, a step at a time, and keeps
// the ones that broke out of later steps.
type sessionRun struct {
	client   *http.Client
	base     string
	sessions []*pollSession
	broken   map[*pollSession]error
}

func newSessionRun(client *http.Client, base string, n, first int, seen bool) *sessionRun {
	r := &sessionRun{client: client, base: base, broken: map[*pollSession]error{}}
	for i := range n {
		p := &pollSession{path: fmt.Sprintf("%s/%03d/ses%05d", echobackend.Prefix, i%1000, first+i)}
		if seen {
			p.seen = map[string]bool{}
		}
		r.sessions = append(r.sessions, p)
	}
	return r
}

// step runs f on every session that has not broken, all at once. An
// error other than a move fails the test: only moves are measured.
func (r *sessionRun) step(t *testing.T, f func(p *pollSession) error) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range r.sessions {
		if r.broken[p] != nil {
			continue
		}
		wg.Go(func() {
			if err := f(p); err != nil {
				mu.Lock()
				r.broken[p] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for p, err := range r.broken {
		if !errors.Is(err, errMoved) && !strings.Contains(err.Error(), " = 404 ") {
			t.Fatalf("session %s: %v", p.path, err)
		}
	}
}

func (r *sessionRun) echo(t *testing.T) {
	t.Helper()
	r.step(t, func(p *pollSession) error { return p.echo(r.client, r.base) })
}

// sharedPool is a browser's connection pool: a few keep-alive
// connections that every session's requests share.
func sharedPool(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4, DialContext: dial}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

func updateSet(t *testing.T, b *affinity.Balancer, set []affinity.Backend) {
	t.Helper()
	if err := b.Update(set); err != nil {
		t.Fatalf("Balancer.Update: %v", err)
	}
}

// TestSessionMemoryJoinDrain is the scale-out: polling sessions
// run through the balancer while a fourth backend joins and then one of
// the first three drains. With the session memory, every session
// completes and no new session goes to the draining backend. Without it
// (the control), the join breaks the sessions the table moves.
func TestSessionMemoryJoinDrain(t *testing.T) {
	const sessions = 40
	for _, mem := range []bool{true, false} {
		t.Run(fmt.Sprintf("memory=%v", mem), func(t *testing.T) {
			var eps []string
			for _, n := range []string{"a", "b", "c", "d"} {
				eps = append(eps, startRestartable(t, n).endpoint())
			}
			set := []affinity.Backend{{Endpoint: eps[0]}, {Endpoint: eps[1]}, {Endpoint: eps[2]}}
			bal := newBalancer(t, eps[:3]...)
			cfg := Config{Balancer: bal}
			if mem {
				cfg.Sessions = affinity.NewSessions(1<<12, 0)
			}
			s := startServer(t, cfg)
			client := sharedPool(t, nil)
			run := newSessionRun(client, "http://"+s.Addrs()[0].String(), sessions, 0, false)
			run.step(t, func(p *pollSession) error { return p.open(client, run.base) })
			run.echo(t)

			set = append(set, affinity.Backend{Endpoint: eps[3]})
			updateSet(t, bal, set)
			run.echo(t)
			run.echo(t)
			joinBroken := len(run.broken)

			set[0].State = affinity.Draining
			updateSet(t, bal, set)
			run.echo(t)
			fresh := newSessionRun(client, run.base, sessions, sessions, false)
			fresh.step(t, func(p *pollSession) error { return p.open(client, run.base) })
			fresh.echo(t)
			run.echo(t)
			onDrained := 0
			for _, p := range fresh.sessions {
				if p.home == "a" {
					onDrained++
				}
			}
			t.Logf("%d sessions: %d broken by the join, %d in all; %d of %d new sessions went to the draining backend",
				sessions, joinBroken, len(run.broken), onDrained, sessions)
			if mem {
				for p, err := range run.broken {
					t.Errorf("session %s broke: %v", p.path, err)
				}
				if onDrained != 0 {
					t.Errorf("%d new sessions went to the draining backend; want 0", onDrained)
				}
				if st := cfg.Sessions.Stats(time.Now()); st.Overrides == 0 {
					t.Errorf("Sessions.Stats() = %+v; want overrides (the table moved some sessions)", st)
				}
			} else if joinBroken == 0 {
				t.Errorf("without the memory the join broke no session; the test proves nothing")
			}
		})
	}
}

// TestSessionMemoryBackendReturns is an instance that fails and comes
// back (restarted, without sessions) while the backend set stays the
// same: sessions opened on its fallback meanwhile keep working with the
// memory, and break without it when their key goes back to it.
func TestSessionMemoryBackendReturns(t *testing.T) {
	const sessions = 40
	for _, mem := range []bool{true, false} {
		t.Run(fmt.Sprintf("memory=%v", mem), func(t *testing.T) {
			var bs []*restartable
			var eps []string
			for _, n := range []string{"a", "b", "c"} {
				r := startRestartable(t, n)
				bs, eps = append(bs, r), append(eps, r.endpoint())
			}
			cfg := Config{Balancer: newBalancer(t, eps...)}
			if mem {
				cfg.Sessions = affinity.NewSessions(1<<12, 0)
			}
			s := startServer(t, cfg)
			client := sharedPool(t, nil)
			bs[1].stop()
			run := newSessionRun(client, "http://"+s.Addrs()[0].String(), sessions, 0, false)
			run.step(t, func(p *pollSession) error { return p.open(client, run.base) })
			run.echo(t)
			if len(run.broken) > 0 {
				t.Fatalf("%d sessions broke while b was down", len(run.broken))
			}
			bs[1].start(t, bs[1].addr)
			run.echo(t)
			run.echo(t)
			t.Logf("%d sessions opened while b was down: %d broke once it was back", sessions, len(run.broken))
			if mem {
				for p, err := range run.broken {
					t.Errorf("session %s broke: %v", p.path, err)
				}
			} else if len(run.broken) == 0 {
				t.Errorf("without the memory no session broke when b came back; the test proves nothing")
			}
		})
	}
}

// taggedConn is a client connection that knows which balancer it goes to.
type taggedConn struct {
	net.Conn
	tag string
}

// alternatingClient is a client in front of two balancers that sends
// each new connection to the other one, as a DNS round robin or a
// layer-4 load balancer in front of them does.
func alternatingClient(t *testing.T, addrs [2]string) *http.Client {
	var mu sync.Mutex
	next := 0
	d := &net.Dialer{}
	return sharedPool(t, func(ctx context.Context, network, _ string) (net.Conn, error) {
		mu.Lock()
		i := next
		next = 1 - next
		mu.Unlock()
		c, err := d.DialContext(ctx, network, addrs[i])
		if err != nil {
			return nil, err
		}
		return &taggedConn{Conn: c, tag: addrs[i]}, nil
	})
}

// TestSessionMemoryTwoBalancers runs the join and the drain through two
// balancers, each with its own memory, behind a client that alternates
// between them per connection. They can disagree only about a session
// one of them has not seen before the change: the test checks that every
// session that broke is such a one, and reports how many there were.
func TestSessionMemoryTwoBalancers(t *testing.T) {
	const sessions = 60
	var eps []string
	for _, n := range []string{"a", "b", "c", "d"} {
		eps = append(eps, startRestartable(t, n).endpoint())
	}
	set := []affinity.Backend{{Endpoint: eps[0]}, {Endpoint: eps[1]}, {Endpoint: eps[2]}}
	var bals [2]*affinity.Balancer
	var addrs [2]string
	for i := range bals {
		bals[i] = newBalancer(t, eps[:3]...)
		s := startServer(t, Config{Balancer: bals[i], Sessions: affinity.NewSessions(1<<12, 0)})
		addrs[i] = s.Addrs()[0].String()
	}
	update := func() {
		for _, b := range bals {
			updateSet(t, b, set)
		}
	}
	client := alternatingClient(t, addrs)
	run := newSessionRun(client, "http://"+addrs[0], sessions, 0, true)
	run.step(t, func(p *pollSession) error { return p.open(client, run.base) })
	run.echo(t)

	// Which sessions each balancer has seen before the change.
	unseen := func() map[*pollSession]bool {
		u := map[*pollSession]bool{}
		for _, p := range run.sessions {
			if run.broken[p] == nil && len(p.seen) < 2 {
				u[p] = true
			}
		}
		return u
	}
	check := func(change string, unseenBefore map[*pollSession]bool, brokenBefore map[*pollSession]error) {
		t.Helper()
		n := 0
		for p, err := range run.broken {
			if brokenBefore[p] != nil {
				continue
			}
			n++
			if !unseenBefore[p] {
				t.Errorf("after the %s, session %s broke although both balancers had seen it: %v", change, p.path, err)
			}
		}
		t.Logf("%s: %d of %d sessions had been seen by one balancer only; %d broke", change, len(unseenBefore), sessions, n)
	}
	brokenNow := func() map[*pollSession]error { return maps.Clone(run.broken) }

	u, before := unseen(), brokenNow()
	set = append(set, affinity.Backend{Endpoint: eps[3]})
	update()
	run.echo(t)
	run.echo(t)
	check("join", u, before)

	u, before = unseen(), brokenNow()
	set[0].State = affinity.Draining
	update()
	run.echo(t)
	run.echo(t)
	check("drain", u, before)
}
