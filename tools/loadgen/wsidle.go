package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/l4lb/l4lb/tools/echobackend"
)

// runWSIdle opens cfg.Conns WebSocket connections (at most cfg.DialParallel
// being set up at once), then holds them for cfg.Duration while each sends
// one small message per cfg.Interval, at a random phase so the messages
// are spread evenly, and times the echo. Only the holding period is
// measured; connections that fail to open count as errors.
func (r *runner) runWSIdle(ctx context.Context, res *Result) error {
	cfg := r.cfg
	shards := newShards(cfg.Conns)
	d := websocket.Dialer{
		NetDialContext:   r.dial.DialContext,
		HandshakeTimeout: cfg.Timeout,
		ReadBufferSize:   512,
		WriteBufferSize:  512,
	}
	conns := make([]*wsConn, cfg.Conns)
	sem := make(chan struct{}, cfg.DialParallel)
	var wg sync.WaitGroup
	var up atomic.Int64
	for i := range cfg.Conns {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s := shards[i%len(shards)]
			c, err := r.dialWS(ctx, &d, r.target(i))
			if err != nil {
				s.fail(err)
				return
			}
			s.add(&s.conns, 1)
			if c.stamped {
				s.add(&s.sessions, 1)
			}
			conns[i] = c
			up.Add(1)
		})
	}
	wg.Wait()
	if cfg.Logf != nil {
		cfg.Logf("ws-idle: %d/%d connections up", up.Load(), cfg.Conns)
	}

	hold, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() { r.wsHolder(hold, c, shards[i%len(shards)]) })
	}
	wg.Wait()
	merge(shards, res, time.Since(start))
	for _, c := range conns {
		if c != nil {
			c.conn.Close()
		}
	}
	return nil
}

// wsConn is one held WebSocket connection.
type wsConn struct {
	conn    *websocket.Conn
	stamped bool   // SockJS framing; echoes carry the backend's name
	name    string // a unique message prefix
	seq     int
}

// dialWS opens one connection: SockJS's <prefix>/<server>/<session>/websocket
// (and reads its 'o' frame), or the raw /websocket endpoint.
func (r *runner) dialWS(ctx context.Context, d *websocket.Dialer, target string) (*wsConn, error) {
	path := "/websocket"
	sessionPath := newSessionPath(r.cfg.Prefix)
	if !r.cfg.RawWebSocket {
		path = sessionPath + "/websocket"
	}
	url := "ws://" + target + path
	conn, resp, err := d.DialContext(ctx, url, http.Header{"Origin": {"http://" + target}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: status %d: %w", url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &wsConn{conn: conn, stamped: !r.cfg.RawWebSocket, name: sessionPath}
	if c.stamped {
		conn.SetReadDeadline(time.Now().Add(r.cfg.Timeout))
		f, err := c.readFrame()
		if err == nil && f.Type != FrameOpen {
			err = fmt.Errorf("got frame %s; want o", f)
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("open %s: %w", url, err)
		}
	}
	return c, nil
}

func (c *wsConn) readFrame() (Frame, error) {
	_, msg, err := c.conn.ReadMessage()
	if err != nil {
		return Frame{}, err
	}
	return ParseFrame(msg)
}

// wsHolder sends one message per interval on c until ctx is done and
// records each round trip. A connection that fails is closed and not
// replaced: ws-idle measures holding, not reconnecting.
func (r *runner) wsHolder(ctx context.Context, c *wsConn, s *stats) {
	interval := r.cfg.Interval
	timer := time.NewTimer(rand.N(interval))
	defer timer.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		c.seq++
		msg := c.name + "#" + strconv.Itoa(c.seq)
		payload := []byte(msg)
		if c.stamped {
			buf = AppendSend(buf[:0], msg)
			payload = buf
		}
		start := time.Now()
		deadline := start.Add(r.cfg.Timeout)
		c.conn.SetWriteDeadline(deadline)
		c.conn.SetReadDeadline(deadline)
		err := c.conn.WriteMessage(websocket.TextMessage, payload)
		var name string
		if err == nil {
			name, err = c.readEcho(msg)
		}
		if err != nil {
			s.fail(fmt.Errorf("ws round trip %s: %w", c.conn.RemoteAddr(), err))
			c.conn.Close()
			return
		}
		s.ok(time.Since(start), 0)
		s.backend(name)
	}
}

// readEcho reads until the echo of msg, skipping SockJS heartbeats, and
// returns the name of the backend that stamped it ("" for raw).
func (c *wsConn) readEcho(msg string) (string, error) {
	if !c.stamped {
		_, got, err := c.conn.ReadMessage()
		if err != nil {
			return "", err
		}
		if string(got) != msg {
			return "", fmt.Errorf("echo: got %q; want %q", truncate(got), msg)
		}
		return "", nil
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return "", err
		}
		switch f.Type {
		case FrameHeartbeat:
			continue
		case FrameArray:
			if len(f.Messages) != 1 {
				return "", fmt.Errorf("echo: got %d messages; want 1", len(f.Messages))
			}
			name, got, ok := echobackend.Unstamp(f.Messages[0])
			if !ok || got != msg {
				return "", fmt.Errorf("echo: got %q; want %q", f.Messages[0], echobackend.Stamp("<backend>", msg))
			}
			return name, nil
		case FrameClose:
			return "", fmt.Errorf("echo: session closed: %d %q", f.Code, f.Reason)
		default:
			return "", errors.New("echo: unexpected frame " + f.String())
		}
	}
}
