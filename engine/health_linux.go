package engine

import "github.com/l4lb/l4lb/affinity"

// What the engine tells Config.Health, and the response timeout. Every
// report is one interface call on the loop; nothing here allocates.

// backendFailed reports a failure of m to Config.Health, if any.
func (s *Server) backendFailed(m *affinity.Member, why Failure) {
	if h := s.cfg.Health; h != nil && m != nil {
		h.BackendFailed(m, why)
	}
}

// awaitResponse runs when a request head went out: the response timeout
// runs until the first byte of its response (responseStarted), re-armed
// while the request's own bytes keep moving; with the response timeout
// disabled, the idle timeout runs.
func (c *conn) awaitResponse() {
	h, l := c.h, c.l
	h.waiting = true
	if l.timers.lists[timerResponse].dur > 0 {
		h.timing = false
		l.arm(&c.timer, timerResponse)
		return
	}
	if h.timing || c.timer.kind != timerIdle {
		h.timing = false
		l.arm(&c.timer, timerIdle)
	}
}

// responseStarted runs when bytes of a response arrived: the first time
// in an exchange, the backend is reported as serving and the idle timeout
// takes over from the response timeout.
func (c *conn) responseStarted() {
	h := c.h
	if !h.waiting {
		return
	}
	h.waiting = false
	if hs := c.l.s.cfg.Health; hs != nil && c.member != nil {
		hs.BackendAnswered(c.member)
	}
	if c.timer.kind == timerResponse {
		c.l.arm(&c.timer, timerIdle)
	}
}

// noResponse runs when the backend connection ends (EOF, reset, write
// error) and reports it if a request was waiting for its first response
// byte.
func (c *conn) noResponse() {
	if c.h != nil && c.h.waiting {
		c.h.waiting = false
		c.l.s.backendFailed(c.member, FailNoResponse)
	}
}

// responseTimedOut runs when the response timeout expired: the client gets
// 504 and the backend is reported, unless the request itself is still on
// its way (a slow upload is the client's time, not the backend's): then
// the idle timeout takes over.
func (c *conn) responseTimedOut() {
	l := c.l
	if c.h == nil || !c.h.waiting || c.h.req.st == frBody || c.h.req.st == frChunked {
		l.arm(&c.timer, timerIdle)
		return
	}
	c.h.waiting = false
	l.s.stats.responseTimeouts.Add(1)
	if c.member != nil {
		l.warn("backend response timed out", "backend", c.member.Backend().Endpoint, "remote", c.remote(),
			"timeout", l.s.responseTimeout)
	}
	l.s.backendFailed(c.member, FailResponseTimeout)
	c.fail(504)
	c.run()
}
