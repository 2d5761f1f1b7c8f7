package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// errMisroute marks an answer that came from another backend than its
// session's; it is counted in Result.Misroutes, not Errors.
var errMisroute = errors.New("misroute")

// maxPolls bounds the polls that wait for one echo; with the back-off after
// refusals, about a second.
const maxPolls = 10

// closeAnotherConnection is the SockJS close code for a poll refused because
// another one is attached to the session.
const closeAnotherConnection = 2010

// session is one SockJS xhr-polling session as a worker drives it.
type session struct {
	path string // <prefix>/<server>/<session>
	home string // backend that answered the opening request; "" until open
	open bool
	seq  int
}

// pollClient sends a worker's requests. With fresh set (connrate) every
// request gets a new TCP connection, closed after its answer; otherwise
// session i's request of round r goes on keep-alive connection
// (i + r) mod len(conns), so that each session's requests travel on every
// connection in turn and each connection carries several sessions, as a
// browser's connection pool does. A balancer that routes only a
// connection's first request cannot pass this.
type pollClient struct {
	r      *runner
	target string
	s      *stats
	fresh  bool
	conns  []*httpConn
	pick   int // index into conns for the next request
	buf    []byte
	// elapsed is the round trip of the last request, recorded by the
	// worker once the answer has passed its checks.
	elapsed time.Duration
}

func (r *runner) pollingWorker(ctx context.Context, id int, s *stats) {
	r.sessionsWorker(ctx, id, s, false)
}

func (r *runner) connRateWorker(ctx context.Context, id int, s *stats) {
	r.sessionsWorker(ctx, id, s, true)
}

// sessionsWorker runs PollConns × SessionsPerConn sessions (SessionsPerConn
// for connrate), cycling open → (xhr_send → xhr)* over them until the run
// ends. A session that misroutes or fails is abandoned and replaced.
func (r *runner) sessionsWorker(ctx context.Context, id int, s *stats, fresh bool) {
	c := &pollClient{r: r, target: r.target(id), s: s, fresh: fresh, conns: make([]*httpConn, r.cfg.PollConns)}
	defer c.closeAll()
	n := r.cfg.SessionsPerConn
	if !fresh {
		n *= r.cfg.PollConns
	}
	sessions := make([]*session, n)
	for i := range sessions {
		sessions[i] = &session{path: newSessionPath(r.cfg.Prefix)}
	}
	for round := 0; ; round++ {
		for i, sess := range sessions {
			if !r.take(ctx) {
				return
			}
			c.pick = (i + round) % len(c.conns)
			err := c.step(sess)
			switch {
			case err == nil:
				s.ok(c.elapsed, 0)
				continue
			case errors.Is(err, errMisroute):
				s.add(&s.misroutes, 1)
			default:
				s.fail(err)
			}
			sessions[i] = &session{path: newSessionPath(r.cfg.Prefix)}
		}
	}
}

// step makes one request of sess: the opening xhr, or an xhr_send, or the
// xhr that must bring back the echo of that send.
func (c *pollClient) step(sess *session) error {
	if !sess.open {
		resp, err := c.do(sess.path+"/xhr", nil)
		if err != nil {
			return err
		}
		if err := checkStatus(resp, 200, sess.path+"/xhr"); err != nil {
			return err
		}
		f, err := ParseFrame(resp.body)
		if err != nil {
			return err
		}
		if f.Type != FrameOpen {
			return fmt.Errorf("open %s: got frame %s; want o", sess.path, f)
		}
		sess.home, sess.open = resp.backend, true
		c.s.add(&c.s.sessions, 1)
		return nil
	}
	sess.seq++
	msg := strconv.Itoa(sess.seq)
	if sess.seq%2 == 1 {
		c.buf = AppendSend(c.buf[:0], sess.path+"#"+msg)
		resp, err := c.do(sess.path+"/xhr_send", c.buf)
		if err != nil {
			return err
		}
		if sess.home != "" && resp.backend != sess.home {
			return errMisroute // a 404 here: the session is unknown where it landed
		}
		return checkStatus(resp, 204, sess.path+"/xhr_send")
	}
	// The echo of the previous send, "<home>:<path>#<seq-1>".
	want := sess.path + "#" + strconv.Itoa(sess.seq-1)
	refused := 0
	for range maxPolls { // a heartbeat or a refusal ends a poll without data
		resp, err := c.do(sess.path+"/xhr", nil)
		if err != nil {
			return err
		}
		if sess.home != "" && resp.backend != sess.home {
			return errMisroute // typically an 'o': a new session where it landed
		}
		if err := checkStatus(resp, 200, sess.path+"/xhr"); err != nil {
			return err
		}
		f, err := ParseFrame(resp.body)
		if err != nil {
			return err
		}
		switch {
		case f.Type == FrameHeartbeat:
			continue
		case f.Type == FrameClose && f.Code == closeAnotherConnection:
			// sockjs-go detaches a finished poll's receiver on another
			// goroutine, so a poll that follows quickly can find it still
			// attached and be refused; the session and its queued echo
			// are intact. Nothing tells a client when the server's
			// goroutine has run, so back off (1, 2, 4 … ms; on a loaded
			// machine it can take a while) and poll again.
			c.s.add(&c.s.retries, 1)
			time.Sleep(time.Millisecond << refused)
			refused++
			continue
		case f.Type == FrameArray:
			return checkEcho(f.Messages, sess.home, want)
		default:
			return fmt.Errorf("poll %s: got frame %s; want a[%q]", sess.path, f, want)
		}
	}
	return fmt.Errorf("poll %s: %d polls without data; want a[%q]", sess.path, maxPolls, want)
}

// checkEcho checks the messages of an 'a' frame against the one echo
// expected from backend home ("" when the backends send no X-Backend).
func checkEcho(msgs []string, home, want string) error {
	if len(msgs) != 1 {
		return fmt.Errorf("echo: got %d messages %q; want 1", len(msgs), msgs)
	}
	name, got, ok := echobackend.Unstamp(msgs[0])
	if !ok {
		return fmt.Errorf("echo: got %q without a backend stamp", msgs[0])
	}
	if home != "" && name != home {
		return errMisroute
	}
	if got != want {
		return fmt.Errorf("echo from %s: got %q; want %q", name, got, want)
	}
	return nil
}

func checkStatus(resp response, want int, path string) error {
	if resp.status != want {
		return fmt.Errorf("POST %s: got status %d; want %d", path, resp.status, want)
	}
	return nil
}

// do sends one POST and reads its answer, recording the round trip
// (connect included when the connection is new).
func (c *pollClient) do(path string, body []byte) (response, error) {
	start := time.Now()
	i := c.pick
	hc := c.conns[i]
	if hc == nil || c.fresh {
		conn, err := c.r.dial.DialContext(context.Background(), "tcp", c.r.connTarget(c.target))
		if err != nil {
			return response{}, err
		}
		c.s.add(&c.s.conns, 1)
		hc = newHTTPConn(conn, c.r.cfg.Timeout)
		c.conns[i] = hc
	}
	head := make([]byte, 0, 256)
	head = append(head, "POST "...)
	head = append(head, path...)
	head = append(head, " HTTP/1.1\r\nHost: "...)
	head = append(head, c.target...)
	head = append(head, "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "...)
	head = strconv.AppendInt(head, int64(len(body)), 10)
	if c.fresh {
		head = append(head, "\r\nConnection: close"...)
	}
	head = append(head, "\r\n\r\n"...)
	head = append(head, body...)
	err := hc.write(head)
	var resp response
	if err == nil {
		resp, err = hc.readResponse(nil)
	}
	if err != nil || resp.close || c.fresh {
		hc.Close()
		c.conns[i] = nil
	}
	if err != nil {
		return resp, err
	}
	c.elapsed = time.Since(start)
	c.s.backend(resp.backend)
	return resp, nil
}

func (c *pollClient) closeAll() {
	for i, hc := range c.conns {
		if hc != nil {
			hc.Close()
			c.conns[i] = nil
		}
	}
}
