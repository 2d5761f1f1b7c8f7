//go:build linux

package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// healthEvent is one report to a HealthObserver.
type healthEvent struct {
	endpoint string
	why      Failure // 0: answered
}

// recorder is a HealthObserver that queues what it hears; it never blocks
// (a full queue drops) and counts answers.
type recorder struct {
	events   chan healthEvent
	answered atomic.Int64
}

func newRecorder() *recorder { return &recorder{events: make(chan healthEvent, 64)} }

func (r *recorder) BackendFailed(m *affinity.Member, why Failure) {
	select {
	case r.events <- healthEvent{m.Backend().Endpoint, why}:
	default:
	}
}

func (r *recorder) BackendAnswered(m *affinity.Member) { r.answered.Add(1) }

// next returns the next failure report, failing the test if none comes.
func (r *recorder) next(t *testing.T) healthEvent {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(testTimeout):
		t.Fatal("no failure reported")
	}
	return healthEvent{}
}

var _ HealthObserver = (*recorder)(nil)

// silentHTTP returns a backend that reads request heads and never
// answers.
func silentHTTP(t *testing.T) string {
	t.Helper()
	return startTCP(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
	})
}

func TestHealthReports(t *testing.T) {
	closing := startTCP(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
	})
	resetting := startTCP(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.(*net.TCPConn).SetLinger(0)
	})
	for _, tc := range []struct {
		name     string
		backend  string
		cfg      Config
		status   int
		why      Failure
		response bool // Stats.ResponseTimeouts counts it
	}{
		{"refused", refusingEndpoint(t), Config{}, 502, FailConnect, false},
		{"connect timeout", blackhole(t), Config{ConnectTimeout: 200 * time.Millisecond}, 504, FailConnectTimeout, false},
		{"closed before answering", closing, Config{}, 502, FailNoResponse, false},
		{"reset before answering", resetting, Config{}, 0, FailNoResponse, false},
		{"response timeout", silentHTTP(t), Config{ResponseTimeout: 300 * time.Millisecond}, 504, FailResponseTimeout, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := tc.cfg
			cfg.Balancer, cfg.Health = newBalancer(t, tc.backend), rec
			s := startServer(t, cfg)
			c := dial(t, s.Addrs()[0])
			start := time.Now()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if tc.status != 0 {
				if got := readStatus(t, c); got != tc.status {
					t.Errorf("status = %d; want %d", got, tc.status)
				}
			} else {
				expectClosed(t, c, testTimeout)
			}
			if got := rec.next(t); got != (healthEvent{tc.backend, tc.why}) {
				t.Errorf("reported %v; want %v", got, healthEvent{tc.backend, tc.why})
			}
			if tc.response {
				if d := time.Since(start); d < 250*time.Millisecond {
					t.Errorf("504 after %v; want it after the 300ms response timeout", d)
				}
				if got := s.Stats().ResponseTimeouts; got != 1 {
					t.Errorf("Stats().ResponseTimeouts = %d; want 1", got)
				}
			}
			if got := rec.answered.Load(); got != 0 {
				t.Errorf("%d answers reported; want 0", got)
			}
		})
	}
}

// TestHealthAnswered: every exchange's first response byte is reported,
// once.
func TestHealthAnswered(t *testing.T) {
	rec := newRecorder()
	s := startServer(t, Config{Balancer: newBalancer(t, startHTTP(t, named("a"))), Health: rec})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got := rec.answered.Load(); got != 3 {
		t.Errorf("answers reported = %d; want 3", got)
	}
}

// TestResponseTimeoutScope: the response timeout bounds the wait for a
// response's first byte only: not a slow upload, not a response that has
// started, not a tunnel after its 101.
func TestResponseTimeoutScope(t *testing.T) {
	const timeout = 300 * time.Millisecond
	slowBody := startTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(fmt.Sprint(n)), fmt.Sprint(n))
	})
	slowResponse := startTCP(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
		for _, b := range "done" {
			time.Sleep(timeout / 2)
			io.WriteString(c, string(b))
		}
	})
	upgrade := startTCP(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		time.Sleep(3 * timeout)
		io.WriteString(c, "late")
	})
	t.Run("slow upload", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, slowBody), ResponseTimeout: timeout})
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
		for _, b := range "body" {
			time.Sleep(timeout / 2)
			io.WriteString(c, string(b))
		}
		if got := readStatus(t, c); got != 200 {
			t.Errorf("status = %d; want 200", got)
		}
	})
	t.Run("slow response", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, slowResponse), ResponseTimeout: timeout})
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "done" {
			t.Errorf("body = %q, %v; want \"done\"", body, err)
		}
	})
	t.Run("tunnel", func(t *testing.T) {
		s := startServer(t, Config{Balancer: newBalancer(t, upgrade), ResponseTimeout: timeout})
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v, %v", resp, err)
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "late" {
			t.Errorf("tunnel read %q, %v; want \"late\" after 3 response timeouts", got, err)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		late := startTCP(t, func(c net.Conn) {
			bufio.NewReader(c).ReadString('\n')
			time.Sleep(3 * timeout)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		})
		s := startServer(t, Config{Balancer: newBalancer(t, late), ResponseTimeout: -1, IdleTimeout: 10 * timeout})
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("response: %v, %v", resp, err)
		}
	})
}

// heldBackend is a backend that reports the path of every request it
// reads and answers 200 "<name>" only once released (never, if hung).
type heldBackend struct {
	endpoint string
	got      chan string
	release  chan struct{}
}

func startHeld(t *testing.T, name string) *heldBackend {
	t.Helper()
	hb := &heldBackend{got: make(chan string, 16), release: make(chan struct{})}
	hb.endpoint = startTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			hb.got <- req.URL.Path
			<-hb.release
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(name), name)
		}
	})
	return hb
}

// received waits until the backend has read a request for path.
func (hb *heldBackend) received(t *testing.T, path string) {
	t.Helper()
	select {
	case got := <-hb.got:
		if got != path {
			t.Fatalf("backend %s read %s; want %s", hb.endpoint, got, path)
		}
	case <-time.After(testTimeout):
		t.Fatalf("backend %s did not get %s", hb.endpoint, path)
	}
}

func memberOf(t *testing.T, b *affinity.Balancer, endpoint string) *affinity.Member {
	t.Helper()
	for _, m := range b.Snapshot().Members() {
		if m.Backend().Endpoint == endpoint {
			return m
		}
	}
	t.Fatalf("no member %s", endpoint)
	return nil
}

// sendKeyed sends a GET of path with the sticky key on a new connection.
func sendKeyed(t *testing.T, s *Server, key, path string) net.Conn {
	t.Helper()
	c := dial(t, s.Addrs()[0])
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nCookie: sticky=%s\r\n\r\n", path, key)
	return c
}

// TestBackendDownAnswersWaiting: when a backend is marked down, a request
// waiting for its response is answered 502 at once, long before the
// response (or idle) timeout, and counted; a request waiting on another
// backend is not touched, and the down backend is not reported again.
func TestBackendDownAnswersWaiting(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"response timeout", Config{ResponseTimeout: 10 * time.Minute}},
		{"response timeout off", Config{ResponseTimeout: -1, IdleTimeout: 10 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hung, other := startHeld(t, "hung"), startHeld(t, "other")
			defer close(other.release)
			b := newBalancer(t, hung.endpoint, other.endpoint)
			rec := newRecorder()
			cfg := tc.cfg
			cfg.Balancer, cfg.Health, cfg.Sniff = b, rec, testSniff
			s := startServer(t, cfg)
			a := sendKeyed(t, s, keyFor(t, b, hung.endpoint), "/a")
			o := sendKeyed(t, s, keyFor(t, b, other.endpoint), "/o")
			hung.received(t, "/a")
			other.received(t, "/o")

			m := memberOf(t, b, hung.endpoint)
			m.SetDown(true)
			s.BackendDown(m)
			a.SetReadDeadline(time.Now().Add(testTimeout))
			if got := readStatus(t, a); got != 502 {
				t.Errorf("request waiting on the down backend: status %d; want 502", got)
			}
			st := s.Stats()
			if st.MarkedDownAnswers != 1 || st.Status502 != 1 || st.ResponseTimeouts != 0 {
				t.Errorf("MarkedDownAnswers %d, Status502 %d, ResponseTimeouts %d; want 1, 1, 0",
					st.MarkedDownAnswers, st.Status502, st.ResponseTimeouts)
			}
			other.release <- struct{}{}
			o.SetReadDeadline(time.Now().Add(testTimeout))
			if got := readStatus(t, o); got != 200 {
				t.Errorf("request waiting on the other backend: status %d; want 200", got)
			}
			select {
			case e := <-rec.events:
				t.Errorf("reported %v; BackendDown must not report the backend again", e)
			default:
			}
		})
	}
}

// TestBackendDownCameBack: BackendDown for a member that is up again by
// the time the loop looks leaves its exchanges alone.
func TestBackendDownCameBack(t *testing.T) {
	slow, quick := startHeld(t, "slow"), startHTTP(t, named("quick"))
	b := newBalancer(t, slow.endpoint, quick)
	s := startServer(t, Config{Balancer: b, Loops: 1, Sniff: testSniff, ResponseTimeout: 10 * time.Minute})
	c := sendKeyed(t, s, keyFor(t, b, slow.endpoint), "/slow")
	slow.received(t, "/slow")
	m := memberOf(t, b, slow.endpoint)
	m.SetDown(true)
	m.SetDown(false)
	s.BackendDown(m)
	// A round trip through the one loop: the task posted before it has
	// run by the time its answer comes.
	if got := getVia(t, s, keyFor(t, b, quick)); got != "200 quick / 0" {
		t.Fatalf("through the loop: %q; want 200 quick / 0", got)
	}
	close(slow.release)
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if got := readStatus(t, c); got != 200 {
		t.Errorf("status %d; want 200 from the backend that is up", got)
	}
	if got := s.Stats().MarkedDownAnswers; got != 0 {
		t.Errorf("MarkedDownAnswers = %d; want 0", got)
	}
}

// TestBackendDownRedials: a connect in progress to a backend marked down
// moves on to the next candidate at once instead of waiting out the
// connect timeout.
func TestBackendDownRedials(t *testing.T) {
	hole, good := blackhole(t), startHTTP(t, named("good"))
	b := newBalancer(t, hole, good)
	s := startServer(t, Config{Balancer: b, Sniff: testSniff, ConnectTimeout: 10 * time.Minute})
	m := memberOf(t, b, hole)
	c := sendKeyed(t, s, keyFor(t, b, hole), "/")
	// The connect is under way once the member counts it.
	for deadline := time.Now().Add(testTimeout); m.Active() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no connect to the blackholed backend started")
		}
	}
	m.SetDown(true)
	s.BackendDown(m)
	c.SetReadDeadline(time.Now().Add(testTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "good / 0" {
		t.Errorf("answer %d %q; want 200 \"good / 0\" from the next candidate", resp.StatusCode, body)
	}
	if got := s.Stats().MarkedDownRedials; got != 1 {
		t.Errorf("MarkedDownRedials = %d; want 1", got)
	}
	if got := m.Active(); got != 0 {
		t.Errorf("the down member still counts %d connections", got)
	}
}
