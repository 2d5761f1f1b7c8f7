package engine

import (
	"context"
	"time"
)

// Draining (Server.Shutdown): a server that stops accepting, in a restart
// or when an upgrade handed its sockets to a new process, still serves
// every connection it has. Requests on their way are answered; nothing is
// cut that a client could see as a failed request:
//
//   - a response sent while draining says "Connection: close" and the
//     connection ends after it (endAfterResponse), so a keep-alive client
//     opens its next connection to whoever accepts now;
//   - a connection that carries no request is closed only after the
//     linger time, because a client may have sent one that is still on
//     its way (closing with it unread would reset the connection);
//   - tunnels run until they end or the drain's deadline; with
//     Config.DrainSpread the ones left are closed spread over a window
//     before the deadline, so clients reconnect in a ramp.

// closeWhenQuiet closes c, which carries no request now, after the linger
// time unless a request arrives first.
func (c *conn) closeWhenQuiet() {
	if c.timer.kind != timerLinger {
		c.l.arm(&c.timer, timerLinger)
	}
}

// drainIdle starts the drain of c when the loop stops accepting.
func (c *conn) drainIdle() {
	switch c.phase {
	case phProxy, phSniff:
		if c.up.w == 0 {
			c.closeWhenQuiet()
		}
	case phIdle:
		if c.h.req.st == frHead && c.up.w == c.up.p && !c.up.pending() {
			c.closeWhenQuiet()
		}
	}
}

// connClose is the field line a response sent while draining gets; the
// bare-LF form is for a head whose lines end in LF alone.
var (
	connClose   = []byte("Connection: close\r\n")
	connCloseLF = []byte("Connection: close\n")
)

// announceClose adds "Connection: close" to the final response head that
// ends at f.buf[f.p-1] (headLen bytes) and makes the connection end after
// this response, as if the backend had said so. Runs while draining.
func (c *conn) announceClose(f *flow, headLen int) {
	if len(f.ins) > 0 {
		return // cannot happen: one head at a time carries a line
	}
	if headEndsCRLF(f.buf, int(f.p)) {
		f.insertLines(int(f.p), connClose)
	} else {
		f.insertLines(int(f.p), connCloseLF)
	}
	c.h.closing = true
}

// spread closes the connections left, spread evenly over the window that
// ends at ctx's deadline (Config.DrainSpread), until ctx is done or no
// connection is left. Without a deadline or a window it only waits.
func (s *Server) spread(ctx context.Context, loops []*loop) {
	deadline, ok := ctx.Deadline()
	window := s.cfg.DrainSpread
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var start time.Time
	var n0 int64
	for s.stats.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !ok || window <= 0 || now.Before(deadline.Add(-window)) {
				continue
			}
			if start.IsZero() {
				start, n0 = now, s.stats.active.Load()
				if w := deadline.Sub(start); w < window {
					window = w
				}
			}
			left := deadline.Sub(now)
			target := int64(float64(n0) * float64(left) / float64(window))
			excess := s.stats.active.Load() - target
			for i, l := range loops {
				k := int(excess) / len(loops)
				if i < int(excess)%len(loops) {
					k++
				}
				if k > 0 {
					l.post(func() { l.closeSome(k) })
				}
			}
		}
	}
}

// closeSome closes up to n of the loop's client connections. Runs on the
// loop.
func (l *loop) closeSome(n int) {
	for _, s := range l.socks {
		if n == 0 {
			return
		}
		if s != nil && s.c != nil && s == &s.c.cli {
			s.c.close(false)
			n--
		}
	}
}
