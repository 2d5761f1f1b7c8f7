package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// streamSession is one SockJS session that receives on xhr_streaming
// (SockJS protocol 0.3: POST <prefix>/<server>/<session>/xhr_streaming
// answers with one long response whose body is the session's frames, one
// per line) and sends with xhr_send.
type streamSession struct {
	session
	hc   *httpConn   // the stream's connection; nil before the first stream
	body *streamBody // the stream being read; nil between streams
	// closeAfter says the server closes hc when the current stream ends.
	closeAfter bool
}

func (ss *streamSession) close() {
	if ss.hc != nil {
		ss.hc.Close()
		ss.hc, ss.body = nil, nil
	}
}

// streamClient drives a worker's xhr-streaming sessions: each has its own
// connection for its stream, and their sends share the worker's keep-alive
// connections the way polling's requests do (session i's send of round r
// goes on connection (i + r) mod PollConns), as a browser's tabs share its
// connection pool while each tab's stream holds a connection of its own.
type streamClient struct {
	sends *pollClient
	pad   string // what messages are padded with, MessageSize bytes
	buf   []byte
}

func (r *runner) streamingWorker(ctx context.Context, id int, s *stats) {
	c := &streamClient{
		sends: &pollClient{r: r, target: r.target(id), s: s, conns: make([]*httpConn, r.cfg.PollConns)},
		pad:   strings.Repeat("x", max(0, r.cfg.MessageSize)),
	}
	defer c.sends.closeAll()
	sessions := make([]*streamSession, r.cfg.PollConns*r.cfg.SessionsPerConn)
	for i := range sessions {
		sessions[i] = &streamSession{session: session{path: newSessionPath(r.cfg.Prefix)}}
	}
	defer func() {
		for _, ss := range sessions {
			ss.close()
		}
	}()
	for round := 0; ; round++ {
		for i, ss := range sessions {
			if !r.take(ctx) {
				return
			}
			c.sends.pick = (i + round) % len(c.sends.conns)
			err := c.open(ss)
			var elapsed time.Duration
			if err == nil {
				start := time.Now()
				err = c.roundTrip(ss)
				elapsed = time.Since(start)
			}
			switch {
			case err == nil:
				s.ok(elapsed, 0)
				continue
			case errors.Is(err, errMisroute):
				s.add(&s.misroutes, 1)
			default:
				s.fail(err)
			}
			ss.close()
			sessions[i] = &streamSession{session: session{path: newSessionPath(r.cfg.Prefix)}}
		}
	}
}

// open starts ss's first stream and waits for its 'o' frame, if ss is not
// open yet; the session belongs to the backend that answered.
func (c *streamClient) open(ss *streamSession) error {
	if ss.open {
		return nil
	}
	if err := c.startStream(ss); err != nil {
		return err
	}
	f, err := c.nextFrame(ss)
	if err != nil {
		return err
	}
	if f.Type != FrameOpen {
		return fmt.Errorf("open %s: got frame %s; want o", ss.path, f)
	}
	ss.open = true
	c.sends.s.add(&c.sends.s.sessions, 1)
	return nil
}

// roundTrip sends one message with xhr_send and waits for its echo on the
// stream. A stream the server ended in between is reopened inside the
// round trip, as it is for a client that sends right after a message.
func (c *streamClient) roundTrip(ss *streamSession) error {
	ss.seq++
	msg := ss.path + "#" + strconv.Itoa(ss.seq)
	if n := len(c.pad) - len(msg); n > 0 {
		msg += c.pad[:n]
	}
	c.buf = AppendSend(c.buf[:0], msg)
	resp, err := c.sends.do(ss.path+"/xhr_send", c.buf)
	if err != nil {
		return err
	}
	if ss.home != "" && resp.backend != ss.home {
		return errMisroute // a 404 here: the session is unknown where it landed
	}
	if err := checkStatus(resp, 204, ss.path+"/xhr_send"); err != nil {
		return err
	}
	f, err := c.nextFrame(ss)
	if err != nil {
		return err
	}
	if f.Type != FrameArray {
		return fmt.Errorf("stream %s: got frame %s; want a[%q]", ss.path, f, msg)
	}
	return checkEcho(f.Messages, ss.home, msg)
}

// startStream sends POST <session>/xhr_streaming on ss's connection (a new
// one if it has none) and reads the response head. An answer from another
// backend than the session's is a misroute.
func (c *streamClient) startStream(ss *streamSession) error {
	r, s := c.sends.r, c.sends.s
	if ss.hc == nil {
		conn, err := r.dial.DialContext(context.Background(), "tcp", c.sends.target)
		if err != nil {
			return err
		}
		s.add(&s.conns, 1)
		ss.hc = newHTTPConn(conn, r.cfg.Timeout)
	}
	path := ss.path + "/xhr_streaming"
	head := "POST " + path + " HTTP/1.1\r\nHost: " + c.sends.target + "\r\nContent-Length: 0\r\n\r\n"
	if err := ss.hc.write([]byte(head)); err != nil {
		return err
	}
	resp, fr, length, err := ss.hc.readHead()
	if err != nil {
		return err
	}
	s.backend(resp.backend)
	if ss.home != "" && resp.backend != ss.home {
		return errMisroute // a new session where it landed
	}
	if resp.status != 200 || fr == framingNone {
		return fmt.Errorf("POST %s: got status %d; want 200 and a stream", path, resp.status)
	}
	ss.home = resp.backend
	ss.body, ss.closeAfter = newStreamBody(ss.hc, fr, length), resp.close
	return nil
}

// nextFrame returns ss's next frame other than a heartbeat. When the
// server ends the stream (it does after a byte limit, 128 KiB by default
// in sockjs-node and sockjs-go) the stream is reopened, as sockjs-client
// does; a reopened stream that is refused with c[2010,...] because the
// server has not yet detached the one before is retried after a back-off,
// as polling retries a refused poll.
func (c *streamClient) nextFrame(ss *streamSession) (Frame, error) {
	s := c.sends.s
	refused, reopened := 0, 0
	for {
		line, err := ss.body.readLine()
		if errors.Is(err, io.EOF) {
			if reopened == maxPolls {
				return Frame{}, fmt.Errorf("stream %s: ended %d times without a frame", ss.path, reopened)
			}
			if ss.closeAfter {
				ss.close()
			}
			if refused > 0 {
				time.Sleep(time.Millisecond << (refused - 1))
			}
			if err := c.startStream(ss); err != nil {
				return Frame{}, err
			}
			reopened++
			s.add(&s.reopens, 1)
			continue
		}
		if err != nil {
			return Frame{}, err
		}
		if isHeartbeats(line) {
			continue
		}
		f, err := ParseFrame(line)
		if err != nil {
			return Frame{}, err
		}
		if f.Type == FrameClose && f.Code == closeAnotherConnection {
			s.add(&s.retries, 1)
			refused++
			continue // the server ends this stream next
		}
		return f, nil
	}
}

// isHeartbeats reports whether line is one or more 'h' frames run
// together: a heartbeat, or the 2048-byte prelude of 'h' that SockJS
// servers send first on xhr_streaming (for browsers that buffer the start
// of a response), which sockjs-client reads as heartbeats.
func isHeartbeats(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	for _, b := range line {
		if b != 'h' {
			return false
		}
	}
	return true
}
