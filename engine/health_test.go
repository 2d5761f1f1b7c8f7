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
