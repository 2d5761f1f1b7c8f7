package engine

import "sync/atomic"

// Stats is a snapshot of a Server's counters.
type Stats struct {
	Accepted int64 // client connections accepted
	Active   int64 // client connections open now
	Tunnels  int64 // connections that became raw tunnels (101 or not HTTP)
	// BackendConnects counts backend connections established;
	// BackendFailures counts attempts that failed or timed out (each
	// failure moves on to the next candidate).
	BackendConnects int64
	BackendFailures int64
	// Switches counts requests routed to another backend than the
	// previous request of the same client connection.
	Switches int64
	// BackendReuses counts requests sent on a parked idle backend
	// connection (another client's, or this client's earlier one)
	// instead of a new connection; such a request does not count in
	// BackendConnects.
	BackendReuses int64
	// Responses the engine answered itself, by status.
	Status400, Status414, Status431, Status502, Status503, Status504 int64
	// HeaderTimeouts and IdleTimeouts count connections closed by those
	// timeouts.
	HeaderTimeouts int64
	IdleTimeouts   int64
	// AcceptPauses counts the times a loop stopped accepting: at the
	// connection bound (MaxConns), or when accept failed for want of file
	// descriptors or memory.
	AcceptPauses int64
	// ProxyInvalid counts client connections closed because they did not
	// start with a valid PROXY header (Config.AcceptProxy).
	ProxyInvalid int64
}

// counters is the live, atomically updated form of Stats.
type counters struct {
	accepted, active, tunnels                  atomic.Int64
	backendConnects, backendFailures, switches atomic.Int64
	backendReuses                              atomic.Int64
	s400, s414, s431, s502, s503, s504         atomic.Int64
	headerTimeouts, idleTimeouts               atomic.Int64
	acceptPauses, proxyInvalid                 atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Accepted: c.accepted.Load(), Active: c.active.Load(), Tunnels: c.tunnels.Load(),
		BackendConnects: c.backendConnects.Load(), BackendFailures: c.backendFailures.Load(),
		Switches: c.switches.Load(), BackendReuses: c.backendReuses.Load(),
		Status400: c.s400.Load(), Status414: c.s414.Load(), Status431: c.s431.Load(),
		Status502: c.s502.Load(), Status503: c.s503.Load(), Status504: c.s504.Load(),
		HeaderTimeouts: c.headerTimeouts.Load(), IdleTimeouts: c.idleTimeouts.Load(),
		AcceptPauses: c.acceptPauses.Load(), ProxyInvalid: c.proxyInvalid.Load(),
	}
}

func (c *counters) status(code int) {
	switch code {
	case 400:
		c.s400.Add(1)
	case 414:
		c.s414.Add(1)
	case 431:
		c.s431.Add(1)
	case 502:
		c.s502.Add(1)
	case 503:
		c.s503.Add(1)
	case 504:
		c.s504.Add(1)
	}
}
