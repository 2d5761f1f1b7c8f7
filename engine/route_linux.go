package engine

import "github.com/l4lb/l4lb/affinity"

// Routing: which backend a request (or a raw tunnel) goes to. Every
// decision is made here; connect_linux.go then walks the candidates in
// order.
//
// A keyed request (SockJS session, sticky cookie) goes to its key's first
// candidate in affinity's deterministic order, the same on every
// balancer, unless the session memory (Config.Sessions) remembers it on
// another backend that is still usable; a keyless one to the two-choices pick. A keep-alive
// connection stays on its current backend while that is still the right
// one: for a keyed request, the key's first candidate; for a keyless one,
// any Ready candidate (it has not left the set, gone down or started
// draining; a draining one if nothing is Ready). Otherwise the
// request, and the client connection from then on, switches: the old
// backend connection is parked for reuse if it is idle and reusable
// (reuse_linux.go), closed otherwise.

// route routes the held head: it stays on the current backend, or starts
// connecting to its candidates. No backend at all answers 503.
func (c *conn) route() {
	h, l := c.h, c.l
	if !c.routeService() {
		return
	}
	cands := c.candidates(h.held.keyed, h.held.hash)
	if cands == nil {
		return
	}
	c.pinFirst(cands)
	c.h.req.st = frRouted
	if c.be.fd >= 0 && c.member != nil {
		if h.held.keyed && c.member.Backend().Endpoint == cands[0].Backend().Endpoint ||
			!h.held.keyed && isCandidate(c.member, cands) {
			return
		}
		l.s.stats.switches.Add(1)
		if c.reusableBackend() {
			l.park(c)
		}
		c.closeBackend()
	}
	c.startConnect(cands, false)
}

// routeTunnel routes a connection whose first bytes are not HTTP: by
// load, as a raw tunnel.
func (c *conn) routeTunnel() {
	if c.svc == svcRefused {
		c.close(false)
		return
	}
	if cands := c.candidates(false, 0); cands != nil {
		c.startConnect(cands, true)
	}
}

// candidates returns the backends to try in order, in the loop's scratch
// slice, or answers 503 and returns nil when there is none.
func (c *conn) candidates(keyed bool, hash uint64) []*affinity.Member {
	l := c.l
	if snap := l.s.svcs.balancers[c.svc].Snapshot(); snap != nil && snap.Len() > 0 {
		if keyed {
			l.cands = l.s.cfg.Sessions.Candidates(snap, hash, l.sessionClock(), l.cands[:0])
		} else {
			l.cands = snap.PickCandidates(l.cands[:0])
		}
		if len(l.cands) > 0 {
			return l.cands
		}
	}
	c.fail(503)
	return nil
}

// isCandidate reports whether a keyless request may stay on m: m is still
// among cands, Ready and not down at runtime, unless no candidate is (a
// draining backend keeps its keyed sessions, not the keyless requests of
// keep-alive connections; one found down by health checking keeps
// neither).
func isCandidate(m *affinity.Member, cands []*affinity.Member) bool {
	e := m.Backend().Endpoint
	for _, c := range cands {
		if c.Backend().Endpoint == e {
			return readyUsable(c) || !readyUsable(cands[0])
		}
	}
	return false
}

// readyUsable reports whether m is Ready and not down at runtime.
func readyUsable(m *affinity.Member) bool {
	return m.Backend().State == affinity.Ready && m.Usable()
}
