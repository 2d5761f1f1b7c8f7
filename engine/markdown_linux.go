package engine

import "github.com/l4lb/l4lb/affinity"

// What the loops do when health checking marks a backend down because it
// stopped answering (Server.BackendDown; HAProxy's "on-marked-down
// shutdown-sessions", for exchanges). The walk visits only the timer
// lists of connections that wait on a backend: the response list (a
// request went out, no response byte yet) and the connect list. Nothing
// else on the loop is looked at, and nothing is allocated per connection.

// BackendDown tells the engine that m was taken out because it does not
// answer (an active check that got no HTTP answer, or a passive ejection).
// Every loop, as soon as it runs the task:
//   - answers 502 to each exchange waiting for the first byte of its
//     response from m (Stats.MarkedDownAnswers); the request went out and
//     may have been processed, so it is not resent elsewhere;
//   - moves each connect in progress to m on to its next candidate
//     (Stats.MarkedDownRedials); nothing was sent yet.
//
// Only connections whose member is down at runtime when the loop gets to
// them are touched (Member.Usable), so a backend that came back in the
// meantime keeps its traffic. Tunnels (WebSockets) and responses that have
// started are left alone (see "Health reports" in doc.go). Safe for concurrent
// use; it does not wait for the loops.
func (s *Server) BackendDown(m *affinity.Member) {
	if m == nil {
		return
	}
	ep := m.Backend().Endpoint
	s.mu.Lock()
	loops := s.loops
	if s.shutdown {
		loops = nil
	}
	s.mu.Unlock()
	for _, l := range loops {
		l.post(func() { l.backendDown(ep) })
	}
}

// backendDown runs BackendDown's task on the loop.
func (l *loop) backendDown(ep string) {
	// Without a response timeout an exchange waits on the idle list.
	k := timerResponse
	if l.timers.lists[timerResponse].dur <= 0 {
		k = timerIdle
	}
	l.walkDown(k, ep)
	l.walkDown(timerConnect, ep)
}

// walkDown acts on the connections of timer list k that wait on a down
// member of endpoint ep. Acting moves a connection to another list (the
// linger list after a 502), or to the tail of this one (a connect to the
// next candidate); the walk stops at the entry that was the tail when it
// began, so each connection is seen once.
func (l *loop) walkDown(k timerKind, ep string) {
	tl := &l.timers.lists[k]
	last := tl.tail
	for t := tl.head; t != nil; {
		next := t.next
		if c, ok := t.owner.(*conn); ok && c.waitsOnDown(k, ep) {
			if k == timerConnect {
				c.redialFromDown()
			} else {
				c.answerDown()
			}
		}
		if t == last {
			break
		}
		t = next
	}
}

// waitsOnDown reports whether c, on timer list k, waits on a member of
// endpoint ep that is down at runtime.
func (c *conn) waitsOnDown(k timerKind, ep string) bool {
	m := c.member
	if m == nil || m.Usable() || m.Backend().Endpoint != ep {
		return false
	}
	if k == timerConnect {
		return c.phase == phConnecting && c.h != nil && c.h.dial != nil
	}
	return c.phase == phExchange && c.h != nil && c.h.waiting
}

// answerDown answers 502 to c's exchange, whose backend was marked down
// while it waited for the response.
func (c *conn) answerDown() {
	l := c.l
	c.h.waiting = false // the backend is down already: no failure to report
	l.s.stats.markedDownAnswers.Add(1)
	l.warn("backend marked down; waiting request answered 502", "backend", c.member.Backend().Endpoint, "remote", c.remote())
	c.fail(502)
	if c.phase != phClosed {
		c.run()
	}
}

// redialFromDown abandons c's connect to a member marked down meanwhile
// and goes on to the next candidate, as after a failed connect, but
// without reporting the backend again.
func (c *conn) redialFromDown() {
	l := c.l
	l.s.stats.markedDownRedials.Add(1)
	c.xConnectFailed(c.member)
	c.member.Release()
	c.member = nil
	l.closeSock(&c.be)
	c.h.dial.wait = 0 // a lookup it waited for no longer concerns it
	c.connectNext()
	if c.phase != phClosed {
		c.run()
	}
}
