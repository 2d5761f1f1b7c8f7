package engine

import (
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
)

// Defaults for the Config timeouts.
const (
	// DefaultConnectTimeout bounds one backend connect attempt.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultHeaderTimeout bounds the time from the first byte of a
	// request head (or from accept, for the first head) to its end.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a connection on which neither side sent or
	// received a byte for this long. It is well above SockJS's 25 s long
	// poll, its 45 s heartbeat (Meteor's setting) and its 60 s disconnect
	// delay, so a live session never hits it.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultResponseTimeout bounds the wait for the first byte of a
	// response: well above SockJS's 25 s long poll.
	DefaultResponseTimeout = 60 * time.Second
)

// Config configures a Server.
type Config struct {
	// Listen lists the addresses to accept on. A value containing "/" is
	// a UNIX socket path: a stale socket file there is removed first, and
	// on Shutdown the file is removed only if it is still this server's
	// socket (a newer process may have bound the path since). Anything
	// else is a TCP "host:port": an empty host or "[::]" accepts IPv4 and
	// IPv6 clients on one socket, "0.0.0.0" IPv4 only, an IPv6 address
	// IPv6 only; port 0 picks a free port (see Server.Addrs).
	Listen []string
	// Sockets, if not nil, carries listening sockets from one process of
	// the balancer to the next for an upgrade that refuses no connection
	// (see "Upgrades" in doc.go): Start serves a Listen address on the
	// sockets the previous process recorded for it, when there are any,
	// instead of opening new ones, and records every socket it listens on
	// for the next process. *tableflip.Fds satisfies it. If nil, sockets
	// are neither taken over nor recorded.
	Sockets Sockets
	// Inherited are listening sockets the process was started with by a
	// service manager (systemd socket activation, LISTEN_FDS). A Listen
	// address whose socket is among them (the same UNIX path, or the
	// address and port Listen would bind) is served on it instead of a
	// new socket; the UNIX socket file of such a socket is never removed.
	// Start duplicates the sockets it uses; the caller keeps the files.
	// Files that match no Listen address are left alone.
	Inherited []*os.File
	// Loops is the number of event loops (threads). If zero or negative,
	// runtime.NumCPU() is used.
	Loops int
	// Balancer picks backends. Required. Swap backend sets in at any time
	// with Balancer.Update; connections already established stay where
	// they are.
	Balancer *affinity.Balancer
	// Service names the default service, the one Balancer holds: the
	// service of traffic no route matches (meteorhacks:cluster's UI
	// service). It matters only to Routes and /cluster-ddp/ paths that
	// name it.
	Service string
	// Services are further services behind the same listeners, and Routes
	// the rules that send traffic to them (services.go).
	Services []Service
	Routes   []Route
	// ClusterEndpointCookie reports whether meteorhacks:cluster's
	// "cluster-endpoint::<Service>" cookie, whose value is an
	// endpointHash, pins a request of the default service to that
	// instance while it is a candidate (see services.go). It takes one
	// of sniff.MaxCookies and ranks after Sniff.Cookies.
	ClusterEndpointCookie bool
	// StickyInsert, if not empty, names a cookie the engine sets in
	// responses of the default service (Service.StickyInsert for the
	// others), HAProxy's "cookie <name> insert":
	// a response to a request that did not carry it with the value of a
	// current instance gets "Set-Cookie: <name>=<id>; Path=/; HttpOnly;
	// SameSite=Lax" (plus "; Secure" when an inbound PROXY v2 header said
	// the client came over TLS) as the last line of its head, where <id> is the
	// instance's affinity.Backend.EndpointHash (the same on every
	// balancer, and no address). A later request carrying it goes to that
	// instance while it is a candidate. A value that names no instance
	// (sockjs-node's "JSESSIONID=dummy", the same for every client) pins
	// nothing, is logged, and is replaced. Instances without an
	// EndpointHash get no cookie. Each distinct name, of every service,
	// takes one of sniff.MaxCookies and ranks after Sniff.Cookies and the
	// cluster-endpoint cookie.
	StickyInsert string
	// Sessions, if not nil, remembers the backend of every keyed request
	// (SockJS session, sticky cookie) and keeps later requests of the key
	// there while that backend is in the set and not Down, whatever the
	// table says after a change of the set; a key it does not remember
	// goes to its first Ready candidate, never to a Draining backend
	// (affinity.Sessions). Share one between Servers of a process, never
	// between processes. If nil, keyed requests follow the table alone.
	Sessions *affinity.Sessions
	// Sniff configures the request-head sniffer (SockJS prefixes, sticky
	// cookies, head limits).
	Sniff sniff.Config
	// ProxyProtocol selects the PROXY header sent to backends whose own
	// affinity.Backend.ProxyProtocol is ProxyDefault. ProxyDefault (the
	// zero value) and ProxyOff send none.
	ProxyProtocol affinity.ProxyProtocol
	// ForwardedFor reports whether every HTTP/1.x request head sent to a
	// backend (each request of a keep-alive connection, and the Upgrade
	// request that starts a WebSocket) gets an "X-Forwarded-For: <client
	// IP>" line, inserted as the head's last field line so that it comes
	// after any X-Forwarded-For the client sent: a receiver that joins
	// repeated lines and counts from the right (Meteor's
	// HTTP_FORWARDED_COUNT=1) finds the address l4lb saw. The IP is the
	// TCP peer's (IPv6 without brackets or zone, IPv4-mapped IPv6 as
	// IPv4); a client on a UNIX-socket listener has none, and its heads
	// go out unchanged. Bytes that are not HTTP (raw tunnels, WebSocket
	// frames after the 101) are never touched. If false (the default),
	// the bytes forwarded are exactly the bytes the client sent.
	ForwardedFor bool
	// ConnectTimeout bounds each backend connect attempt; on expiry the
	// next candidate is tried, and 504 is answered when none is left. If
	// zero, DefaultConnectTimeout is used. If negative, attempts are only
	// bounded by the kernel's SYN retries.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the arrival of a request head: for the first
	// head it runs from accept, for later heads on a keep-alive connection
	// from their first byte. A connection that has not sent a whole head
	// in time is closed. If zero, DefaultHeaderTimeout is used. If
	// negative, heads may take forever (not recommended: slowloris).
	HeaderTimeout time.Duration
	// IdleTimeout closes a routed connection (HTTP keep-alive or tunnel)
	// on which no byte moved in either direction for this long. If zero,
	// DefaultIdleTimeout is used. If negative, idle connections are kept
	// until a peer closes them.
	IdleTimeout time.Duration
	// ResponseTimeout bounds the wait for the first byte of a response
	// once a request head went out to the backend (re-armed while the
	// request's own bytes keep moving): on expiry the client gets 504,
	// the backend connection is closed, and Health hears of it. It covers
	// Upgrade requests until their 101, not the tunnel after it (which
	// IdleTimeout bounds) nor a response once it has started. If zero,
	// DefaultResponseTimeout is used. If negative, the idle timeout runs
	// instead.
	ResponseTimeout time.Duration
	// Health, if not nil, is told of backend connects that fail or time
	// out, of backends that close or reset a connection or time out
	// before answering a request, and of the first response byte of
	// every exchange (see HealthObserver). If nil, nothing is reported.
	Health HealthObserver
	// AcceptProxy reports whether every client connection starts with a
	// PROXY protocol header (v1 or v2) from a trusted front: a TLS
	// terminator or a layer-4 load balancer. The header is read and
	// dropped, never forwarded; the client address it gives is the one
	// X-Forwarded-For and the PROXY header sent to backends carry. A
	// connection without a valid header is closed. Only enable it on
	// listeners that the front alone can reach, or list the front's
	// networks in AcceptProxyFrom: anyone else who can connect could claim
	// any address. If false (the default), a PROXY header from a client is
	// not HTTP and is piped to a backend as is.
	AcceptProxy bool
	// AcceptProxyFrom, if not empty, limits AcceptProxy to peers in these
	// networks (and to UNIX-socket peers, whom the socket file's
	// permissions already vouch for); other peers are served as direct
	// clients, their own address standing, and a PROXY header from them
	// is not trusted (it is not HTTP and is piped as is).
	AcceptProxyFrom []netip.Prefix
	// MaxConns bounds the client connections open at once. At the bound
	// the loops stop accepting: new connections wait in the kernel's
	// accept queue (up to its backlog) until one closes, as with HAProxy's
	// maxconn, instead of failing for want of file descriptors. If zero,
	// DefaultMaxConns of the process's open-file limit is used. If
	// negative, there is no bound (and when descriptors run out, accepting
	// pauses briefly and is retried).
	MaxConns int
	// PipeSize is the capacity, in bytes, of the kernel pipes that
	// splice(2) moves bytes through (tunnels, and HTTP bodies from
	// defaultBodySpliceMin up): one splice moves at most that much, so a
	// larger pipe moves a bulk transfer in fewer system calls, and a
	// client that does not read holds at most that much kernel memory
	// per direction. The kernel rounds it up to a power-of-two number
	// of pages, and keeps a pipe at its default (64 KiB) when the size is
	// above /proc/sys/fs/pipe-max-size (1 MiB by default). A pipe's
	// capacity counts against its user's pipe quota whether or not it
	// holds bytes: past /proc/sys/fs/pipe-user-pages-soft (64 MiB by
	// default, for users without CAP_SYS_RESOURCE) the kernel gives new
	// pipes one page, so raise the quota with the size. If zero or
	// negative, DefaultPipeSize is used: the default stays the kernel's
	// because of that quota (bench/README.md has the measurement).
	PipeSize int
	// Exchanges, if not nil, receives the record of every HTTP exchange
	// and tunnel as it ends (an access log), on the event loop that
	// carried it; see Exchange. With it, each connection carries about
	// half a KiB more while it is open, tunnels included. If nil,
	// nothing is recorded.
	Exchanges ExchangeRecorder
	// BackendStats reports whether the loops count, per backend,
	// requests, 5xx responses, connect failures, open tunnels and
	// histograms of connect time, time to first response byte and
	// request duration (Server.BackendStats): a few atomic adds per
	// request on counters of the loop's own, and about half a KiB per
	// connection while it is HTTP (a tunnel carries nothing more). If
	// false, nothing is counted and Server.BackendStats returns nil.
	BackendStats bool
	// DrainSpread, if positive, closes the connections still open this
	// long before the Shutdown context's deadline one by one, spread evenly
	// over that window, instead of all at the deadline: WebSocket clients
	// then reconnect in a ramp rather than in one storm. A window longer
	// than the time left starts at once. If zero or negative, or when the
	// context has no deadline, whatever is open at the deadline is closed
	// then.
	DrainSpread time.Duration
	// Logger receives connection-level errors and lifecycle messages with
	// the keys "remote", "backend" and "listener". Nothing is logged per
	// request unless the logger is enabled for slog.LevelDebug. If nil,
	// logs are discarded.
	Logger *slog.Logger
}

// DefaultPipeSize is Config.PipeSize's default: the kernel's own pipe
// capacity.
const DefaultPipeSize = 64 << 10

func (c *Config) pipeSize() int {
	if c.PipeSize > 0 {
		return c.PipeSize
	}
	return DefaultPipeSize
}

// DefaultMaxConns is the connection bound used when Config.MaxConns is
// zero, for an open-file limit of nofile: two descriptors per connection
// (client and backend socket), after 128 kept for listeners, the loops'
// epoll and event fds and the pipes that splice borrows while bytes are in
// flight. At the limit of 20000 that is 9936.
func DefaultMaxConns(nofile uint64) int {
	const reserve = 128
	if nofile <= 2*reserve {
		return int(nofile / 4)
	}
	return int(min((nofile-reserve)/2, 1<<30))
}

// responseTimeout is ResponseTimeout with its default applied; 0 means
// disabled.
func (c *Config) responseTimeout() time.Duration {
	switch {
	case c.ResponseTimeout == 0:
		return DefaultResponseTimeout
	case c.ResponseTimeout < 0:
		return 0
	}
	return c.ResponseTimeout
}

func (c *Config) timeouts() (connect, header, idle time.Duration) {
	pick := func(v, def time.Duration) time.Duration {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0 // disabled
		}
		return v
	}
	return pick(c.ConnectTimeout, DefaultConnectTimeout),
		pick(c.HeaderTimeout, DefaultHeaderTimeout),
		pick(c.IdleTimeout, DefaultIdleTimeout)
}
