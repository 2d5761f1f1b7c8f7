package engine

import (
	"net/netip"
	"time"

	"github.com/l4lb/l4lb/sniff"
)

// Exchange is what the engine records of one HTTP exchange (a request and
// its response) or one tunnel when it ends, for Config.Exchanges. Times
// come from the loop's clock, which is read once per wakeup: two events
// handled in the same wakeup are 0 apart.
type Exchange struct {
	// Time is when the request head had arrived; for a connection whose
	// bytes are not HTTP, when its backend connect started.
	Time time.Time
	// Client is the client's address: an inbound PROXY header's source
	// when one was trusted (Config.AcceptProxy), else the socket's peer;
	// the zero AddrPort for a client on a UNIX-socket listener.
	Client netip.AddrPort
	// Listener is the address of the listener that accepted the client.
	Listener string
	// Backend is the endpoint of the backend that served the exchange, ""
	// if none did (the balancer answered itself).
	Backend string
	// Key is what routed the request: a SockJS session, a sticky cookie,
	// or nothing (placed by load).
	Key sniff.KeyKind
	// Method and Path are the request's, as sent; Path has no query and
	// is cut at MaxExchangePath bytes. Both are empty when no request
	// head was read (bytes that are not HTTP, a head over the limits).
	// They are only valid during RecordExchange.
	Method, Path []byte
	// Status is the final response's status, the balancer's own answer's
	// (400, 414, 431, 502, 503, 504), or 0 when there was none.
	Status int
	// Tunnel reports whether the exchange became a tunnel (a 101 answer,
	// or bytes that are not HTTP); its bytes and Total run to the
	// tunnel's end.
	Tunnel bool
	// BytesIn counts the bytes the client sent in this exchange (the
	// request head and body, or a tunnel's bytes); BytesOut the bytes
	// sent to the client (the response head and body, the balancer's own
	// answer, or a tunnel's bytes). A PROXY header and an inserted
	// X-Forwarded-For line are not counted.
	BytesIn, BytesOut int64
	// Connect is the time spent connecting to a backend for this
	// exchange, failed candidates included; -1 when none was needed (the
	// connection stayed on its backend, or reused a parked connection)
	// or none succeeded.
	Connect time.Duration
	// FirstByte is the time from Time to the response's first byte; -1
	// when no response byte came.
	FirstByte time.Duration
	// Total is the time from Time to the end.
	Total time.Duration
	// End says how the exchange ended.
	End EndReason
}

// MaxExchangePath bounds Exchange.Path.
const MaxExchangePath = 128

// maxExchangeMethod bounds Exchange.Method; longer methods are cut.
const maxExchangeMethod = 16

// EndReason is how an exchange or a tunnel ended.
type EndReason uint8

const (
	// EndNormal: the response ended (also the balancer's own 503), or
	// both sides of a tunnel closed.
	EndNormal EndReason = iota
	// EndClientReset: the client reset or closed the connection before
	// the exchange ended.
	EndClientReset
	// EndBackendReset: the backend refused the connection (502), or
	// reset or closed it before the response ended.
	EndBackendReset
	// EndTimeout: a connect timeout (504) or the idle timeout.
	EndTimeout
	// EndLimit: a request head over the sniffer's limits (414, 431).
	EndLimit
	// EndInvalid: a malformed request (400) or response (502).
	EndInvalid
	// EndShutdown: the balancer closed the connection as it stopped.
	EndShutdown
)

var endReasons = [...]string{"normal", "client_reset", "backend_reset", "timeout", "limit", "invalid", "shutdown"}

// String returns the reason as access logs spell it: "normal",
// "client_reset", "backend_reset", "timeout", "limit", "invalid" or
// "shutdown".
func (r EndReason) String() string {
	if int(r) < len(endReasons) {
		return endReasons[r]
	}
	return "unknown"
}

// ExchangeRecorder receives the record of every exchange and tunnel as it
// ends (Config.Exchanges).
type ExchangeRecorder interface {
	// RecordExchange runs on the event loop that carried the exchange:
	// it must not block, and must not keep e or the slices in it after
	// it returns.
	RecordExchange(e *Exchange)
}

// HistogramBounds are the upper bounds of the buckets of the engine's
// latency histograms (BackendStats); a last bucket takes the rest.
var HistogramBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// Histogram is a latency distribution over HistogramBounds.
type Histogram struct {
	// Counts[i] counts the observations at most HistogramBounds[i] and
	// above the bound before it; the last element those above every
	// bound. They are not cumulative.
	Counts [len(HistogramBounds) + 1]uint64
	// Sum is the sum of the observations.
	Sum time.Duration
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// BackendStats is what the loops counted for one backend since the
// server started (Config.BackendStats), summed over loops.
type BackendStats struct {
	// Endpoint is the backend's; OtherBackends for the backends counted
	// together past MaxStatsBackends.
	Endpoint string
	// Requests counts the HTTP exchanges it served (an upgrade counts
	// once) and the tunnels of bytes that are not HTTP.
	Requests int64
	// Responses5xx counts its responses with a status of 500 or more.
	Responses5xx int64
	// Failures counts connect attempts to it that failed or timed out.
	Failures int64
	// Tunnels is the number of tunnels to it open now.
	Tunnels int64
	// Connect is the time from the start of a connect to its success;
	// FirstByte from a request head's arrival to its response's first
	// byte; Duration from a request head's arrival to the end of its
	// response (tunnels are not counted).
	Connect, FirstByte, Duration Histogram
}

// MaxStatsBackends bounds the backends a loop counts by endpoint; past it,
// backends that are no longer in the set are forgotten, and if that frees
// nothing, new ones are counted together as OtherBackends. It keeps the
// label sets of the metrics built from BackendStats bounded.
const MaxStatsBackends = 256

// OtherBackends is the Endpoint of the BackendStats of the backends past
// MaxStatsBackends.
const OtherBackends = "other"
