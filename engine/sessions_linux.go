package engine

import "time"

// The session memory (Config.Sessions): candidates asks it where a keyed
// request goes (route_linux.go), and releaseHeld tells it where the
// request went once its head leaves for the backend (http_linux.go):
// after a fallback in the connect walk, that is not the first candidate,
// and the session stays on the backend that answered.

// sessionClock is the loop's cached time as the memory takes it: the
// loops' clocks differ only in their base, which the memory subtracts.
func (l *loop) sessionClock() time.Time { return l.base.Add(time.Duration(l.now)) }

// rememberSession records the backend of the keyed request being
// released. Without a memory, or for a keyless request, it does nothing.
func (c *conn) rememberSession(req *reqInfo) {
	if mem := c.l.s.cfg.Sessions; mem != nil && req.keyed {
		mem.Remember(req.hash, c.member, c.l.sessionClock())
	}
}
