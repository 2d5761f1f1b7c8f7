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
	// BackendReplays counts requests sent again on a fresh backend
	// connection because the reused one closed before any response byte
	// (the keep-alive race; each is also a BackendReuses).
	BackendReplays int64
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
	// ResponseTimeouts counts exchanges answered 504 because no response
	// byte came within Config.ResponseTimeout (also in Status504).
	ResponseTimeouts int64
	// SplicedBodyBytes counts HTTP body bytes, both directions, that
	// moved through a pipe with splice(2) rather than through a buffer.
	SplicedBodyBytes int64
	// MarkedDownAnswers counts exchanges answered 502 because their
	// backend was marked down, as not answering, while they waited for
	// its response (also in Status502); MarkedDownRedials counts connects
	// in progress that moved on to the next candidate then
	// (Server.BackendDown).
	MarkedDownAnswers int64
	MarkedDownRedials int64
}

// counters is the live, atomically updated form of Stats.
type counters struct {
	accepted, active, tunnels                  atomic.Int64
	backendConnects, backendFailures, switches atomic.Int64
	backendReuses, backendReplays              atomic.Int64
	statuses                                   [len(answered)]atomic.Int64
	headerTimeouts, idleTimeouts               atomic.Int64
	acceptPauses, proxyInvalid                 atomic.Int64
	responseTimeouts                           atomic.Int64
	splicedBodyBytes                           atomic.Int64
	markedDownAnswers, markedDownRedials       atomic.Int64
}

// answered are the statuses the engine answers itself, in the order of
// counters.statuses.
var answered = [...]int{400, 414, 431, 502, 503, 504}

func (c *counters) snapshot() Stats {
	st := &c.statuses
	return Stats{
		Accepted: c.accepted.Load(), Active: c.active.Load(), Tunnels: c.tunnels.Load(),
		BackendConnects: c.backendConnects.Load(), BackendFailures: c.backendFailures.Load(),
		Switches: c.switches.Load(), BackendReuses: c.backendReuses.Load(),
		BackendReplays: c.backendReplays.Load(),
		Status400:      st[0].Load(), Status414: st[1].Load(), Status431: st[2].Load(),
		Status502: st[3].Load(), Status503: st[4].Load(), Status504: st[5].Load(),
		HeaderTimeouts: c.headerTimeouts.Load(), IdleTimeouts: c.idleTimeouts.Load(),
		AcceptPauses: c.acceptPauses.Load(), ProxyInvalid: c.proxyInvalid.Load(),
		ResponseTimeouts: c.responseTimeouts.Load(), SplicedBodyBytes: c.splicedBodyBytes.Load(),
		MarkedDownAnswers: c.markedDownAnswers.Load(), MarkedDownRedials: c.markedDownRedials.Load(),
	}
}

// status counts an answer the engine gave itself.
func (c *counters) status(code int) {
	for i, a := range answered {
		if a == code {
			c.statuses[i].Add(1)
			return
		}
	}
}
