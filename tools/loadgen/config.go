package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Scenario names, the values of Config.Scenario.
const (
	ConnRate     = "connrate"
	KeepAlive    = "keepalive"
	Polling      = "polling"
	XHRStreaming = "xhr-streaming"
	WSIdle       = "ws-idle"
	Bulk         = "bulk"
)

// Scenarios lists every scenario name, in the order bench/ runs them.
var Scenarios = []string{ConnRate, KeepAlive, Polling, XHRStreaming, WSIdle, Bulk}

// Defaults for Config fields left zero.
const (
	DefaultPrefix          = "/sockjs"
	DefaultWorkers         = 16
	DefaultDuration        = 5 * time.Second
	DefaultTimeout         = 10 * time.Second
	DefaultSources         = 64
	DefaultConns           = 1000
	DefaultInterval        = time.Second
	DefaultSize            = 16 << 20
	DefaultPollConns       = 2
	DefaultSessionsPerConn = 2
	DefaultDialParallel    = 64
)

// MaxDuration bounds every run, whatever Config says.
const MaxDuration = 10 * time.Minute

// MaxConns bounds ws-idle's connections: each is a file descriptor here and
// two in a balancer, under this machine's limit of 20000 per process.
const MaxConns = 15000

// Config describes one run.
type Config struct {
	// Scenario is one of ConnRate, KeepAlive, Polling, XHRStreaming,
	// WSIdle, Bulk.
	Scenario string
	// Targets are host:port addresses, loopback only. Worker i (ws-idle:
	// connection i) uses Targets[i mod len]: one balancer, or the backends
	// themselves for a direct baseline.
	Targets []string
	// AlternateTargets makes polling and connrate send each new
	// connection to the next of Targets in turn, instead of worker i to
	// Targets[i mod len]: a client behind a DNS round robin or a layer-4
	// balancer in front of several balancers, whose sessions' requests
	// reach all of them.
	AlternateTargets bool
	// Label is copied into the Result (bench/ puts the target name there).
	Label string
	// Prefix is the SockJS prefix. If empty, DefaultPrefix.
	Prefix string
	// Workers is the number of concurrent workers (not ws-idle). If zero or
	// negative, DefaultWorkers.
	Workers int
	// Duration is how long to measure, bounded by MaxDuration. If zero or
	// negative, DefaultDuration.
	Duration time.Duration
	// Requests, if positive, ends the run once that many operations have
	// been attempted, whichever of Requests and Duration comes first.
	Requests int64
	// Timeout bounds every network operation (dial, write, read one
	// response, ws round trip). If zero or negative, DefaultTimeout.
	Timeout time.Duration
	// Sources is how many source addresses (127.0.0.2 upward) client
	// connections are spread over. If zero, DefaultSources; if negative,
	// the kernel picks the source address.
	Sources int
	// PollConns and SessionsPerConn shape polling: each worker runs
	// PollConns × SessionsPerConn sessions over PollConns keep-alive
	// connections, sending each request on the next connection in turn, so
	// every session uses every connection and every connection carries
	// several sessions. xhr-streaming sends the same way, and gives each
	// session's stream a connection of its own. If zero or negative,
	// DefaultPollConns and DefaultSessionsPerConn.
	PollConns       int
	SessionsPerConn int
	// MessageSize pads each xhr-streaming message to at least this many
	// bytes, so that streams reach the server's response byte limit (and
	// are reopened) after fewer round trips. If zero or negative, messages
	// are not padded ("<prefix>/<server>/<session>#<n>", about 30 bytes).
	MessageSize int
	// Conns is the number of WebSocket connections ws-idle holds, at most
	// MaxConns. If zero or negative, DefaultConns.
	Conns int
	// Interval is how often each ws-idle connection sends a message. If
	// zero or negative, DefaultInterval.
	Interval time.Duration
	// RawWebSocket makes ws-idle use the raw /websocket endpoint instead
	// of SockJS's <prefix>/<server>/<session>/websocket.
	RawWebSocket bool
	// DialParallel bounds ws-idle's connections being set up at once, so a
	// balancer's accept backlog does not overflow. If zero or negative,
	// DefaultDialParallel.
	DialParallel int
	// Size is the byte count of each bulk download and upload. If zero or
	// negative, DefaultSize.
	Size int64
	// BulkMode is "download", "upload" or "" (both, alternating).
	BulkMode string
	// Logf, if not nil, receives progress lines (ws-idle's connection
	// phase). If nil, Run is silent.
	Logf func(format string, args ...any)
}

// withDefaults returns c with zero fields filled and bounds applied, or
// an error if c cannot run.
func (c Config) withDefaults() (Config, error) {
	if len(c.Targets) == 0 {
		return c, errors.New("loadgen: no target")
	}
	for _, t := range c.Targets {
		if err := checkLoopback(t); err != nil {
			return c, fmt.Errorf("loadgen: %w", err)
		}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	c.Duration = min(c.Duration, MaxDuration)
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Sources == 0 {
		c.Sources = DefaultSources
	}
	if c.PollConns <= 0 {
		c.PollConns = DefaultPollConns
	}
	if c.SessionsPerConn <= 0 {
		c.SessionsPerConn = DefaultSessionsPerConn
	}
	if c.Conns <= 0 {
		c.Conns = DefaultConns
	}
	if c.Conns > MaxConns {
		return c, fmt.Errorf("loadgen: %d connections over the limit of %d", c.Conns, MaxConns)
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.DialParallel <= 0 {
		c.DialParallel = DefaultDialParallel
	}
	if c.Size <= 0 {
		c.Size = DefaultSize
	}
	switch c.BulkMode {
	case "", "download", "upload":
	default:
		return c, fmt.Errorf("loadgen: bulk mode %q: want download, upload or empty", c.BulkMode)
	}
	return c, nil
}

// Run runs one scenario until its duration or request count is reached or
// ctx is done, and returns what it measured. Errors of individual
// operations are counted in the Result; Run itself fails only when the run
// cannot start.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, dial: newDialer(cfg.Sources, cfg.Timeout)}
	res := &Result{Scenario: cfg.Scenario, Label: cfg.Label, Targets: cfg.Targets, Workers: cfg.Workers}
	switch cfg.Scenario {
	case ConnRate:
		res.Unit = "req"
		return res, r.runWorkers(ctx, res, r.connRateWorker)
	case Polling:
		res.Unit = "req"
		return res, r.runWorkers(ctx, res, r.pollingWorker)
	case XHRStreaming:
		res.Unit = "msg"
		return res, r.runWorkers(ctx, res, r.streamingWorker)
	case KeepAlive:
		res.Unit = "req"
		return res, r.runWorkers(ctx, res, r.keepAliveWorker)
	case Bulk:
		res.Unit = "transfer"
		r.upload = newUploadBody(cfg.Size)
		return res, r.runWorkers(ctx, res, r.bulkWorker)
	case WSIdle:
		res.Unit = "msg"
		res.Workers = cfg.Conns
		return res, r.runWSIdle(ctx, res)
	default:
		return nil, fmt.Errorf("loadgen: unknown scenario %q (want one of %v)", cfg.Scenario, Scenarios)
	}
}
