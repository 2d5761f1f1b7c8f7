package engine

import "github.com/l4lb/l4lb/affinity"

// HealthObserver is told how backend connections and exchanges end, for
// passive health checking (package health implements it). Its methods run
// on the event loops, once per event: they must not block, and should not
// allocate.
type HealthObserver interface {
	// BackendFailed reports that a connection to m, or an exchange on
	// one, failed for the reason given.
	BackendFailed(m *affinity.Member, why Failure)
	// BackendAnswered reports that the first byte of a response came from
	// m: the backend is serving.
	BackendAnswered(m *affinity.Member)
}

// Failure is what went wrong with a backend, as HealthObserver hears it.
type Failure uint8

const (
	// FailConnect: the connect was refused or failed (or the backend's
	// name could not be resolved).
	FailConnect Failure = iota + 1
	// FailConnectTimeout: the connect did not finish within the connect
	// timeout.
	FailConnectTimeout
	// FailNoResponse: the backend closed or reset the connection after a
	// request went out and before any byte of its response.
	FailNoResponse
	// FailResponseTimeout: no byte of a response came within the
	// response timeout (the client got 504).
	FailResponseTimeout
)

// String returns "connect", "connect_timeout", "no_response" or
// "response_timeout": the reason labels of health metrics and logs.
func (f Failure) String() string {
	switch f {
	case FailConnect:
		return "connect"
	case FailConnectTimeout:
		return "connect_timeout"
	case FailNoResponse:
		return "no_response"
	case FailResponseTimeout:
		return "response_timeout"
	}
	return "unknown"
}
