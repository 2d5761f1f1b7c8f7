package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultListen is the admin listener's address when none is given.
const DefaultListen = "127.0.0.1:9180"

// ErrExposed is wrapped by New's error for a TCP address that is not
// loopback when Config.Token is empty.
var ErrExposed = errors.New("not a loopback address, and no token")

// Engine is what the admin surface reads of the data plane;
// *engine.Server implements it.
type Engine interface {
	Stats() engine.Stats
	Addrs() []net.Addr
	MaxConns() int
	BackendStats() []engine.BackendStats
}

var _ Engine = (*engine.Server)(nil)

// Health is the last health check of a backend, as a health checker
// reports it (Config.Health).
type Health struct {
	Checked time.Time     // when the last check ended; zero if unknown
	OK      bool          // whether it passed
	Latency time.Duration // how long it took
	Error   string        // why it failed; empty if OK
	Ejected bool          // the checker took the backend out of rotation
}

// Config configures a Server.
type Config struct {
	// Listen is a "host:port" or, when it contains "/", a UNIX socket
	// path (created mode 0600; a stale socket file there is removed
	// first). If empty, DefaultListen is used.
	Listen string
	// ListenTCP, if not nil, opens a TCP Listen address instead of
	// net.Listen (a process upgrade hands its sockets over through it).
	// UNIX socket paths are opened by the server itself.
	ListenTCP func(addr string) (net.Listener, error)
	// Token, if not empty, is required of every request except /healthz
	// and /readyz, as "Authorization: Bearer <token>" or as the password
	// of HTTP basic authentication (any user name), which browsers ask
	// for. Without a token, a TCP Listen address must be loopback, and
	// requests must name a loopback host (against DNS rebinding).
	Token string
	// Balancer is the balancer shown and drained. Required.
	Balancer *affinity.Balancer
	// Engine is the data plane shown. If nil, nothing of it is shown.
	Engine Engine
	// Registry holds the MongoDB discovery's counters; nil if there is
	// none.
	Registry *registry.Metrics
	// SourceOf names the discovery source of an endpoint ("static",
	// "file", "glob", "mongodb"); nil or "" shows none.
	SourceOf func(endpoint string) string
	// Health returns a backend's last health check, ok false if it was
	// never checked; nil when nothing checks health.
	Health func(endpoint string) (h Health, ok bool)
	// Collectors are more metrics for /metrics (the access log's).
	Collectors []prometheus.Collector
	// Version is shown on the status page and in /api/status.
	Version string
	// Logger receives the listener's lifecycle and every runtime change
	// made through the API (key "backend"). If nil, logs are discarded.
	Logger *slog.Logger
	// Refresh is how often the status page reloads itself. If zero,
	// DefaultRefresh is used.
	Refresh time.Duration
}

// DefaultRefresh is how often the status page reloads itself.
const DefaultRefresh = 5 * time.Second

// Server is the admin listener. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	ln      net.Listener
	srv     *http.Server
	started time.Time
	rates   *rates
	reg     *prometheus.Registry

	stopping  atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
}

// New checks cfg and binds its listener; Start serves it. A TCP address
// that is not loopback without a Token is refused with an error wrapping
// ErrExposed: the API drains backends, and the page shows the topology.
func New(cfg Config) (*Server, error) {
	if cfg.Balancer == nil {
		return nil, errors.New("admin: config: Balancer is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := CheckListen(cfg.Listen, cfg.Token); err != nil {
		return nil, err
	}
	ln, err := listen(cfg.Listen, cfg.ListenTCP)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ln: ln, started: time.Now(), done: make(chan struct{})}
	s.rates = newRates(s.backendStats)
	s.reg = s.registry()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return s, nil
}

// CheckListen reports what is wrong with serving the admin surface on
// addr with token: a TCP address other than loopback needs a token. A
// host name other than "localhost" counts as not loopback.
func CheckListen(addr, token string) error {
	if isUnixPath(addr) || token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("admin: listen %s: %w", addr, ErrExposed)
	}
	return nil
}

func isUnixPath(addr string) bool { return strings.Contains(addr, "/") }

// isLoopbackHost reports whether host names a loopback address: an IP in
// 127.0.0.0/8 or ::1, or "localhost".
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func listen(addr string, listenTCP func(string) (net.Listener, error)) (net.Listener, error) {
	if !isUnixPath(addr) {
		if listenTCP == nil {
			listenTCP = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
		}
		ln, err := listenTCP(addr)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		return ln, nil
	}
	if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(addr) // a stale socket of an earlier run
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Chmod(addr, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	return ln, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the status page's URL ("http://127.0.0.1:9180/"), or the
// socket path for a UNIX listener.
func (s *Server) URL() string {
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return "http://" + a.String() + "/"
	}
	return s.ln.Addr().String()
}

// Start serves requests in the background until Close.
func (s *Server) Start() {
	s.cfg.Logger.Info("admin", "listener", s.ln.Addr().String(), "page", s.URL())
	go s.rates.run(s.done)
	go serveHTTP(s.srv, s.ln, s.cfg.Logger)
}

// serveHTTP runs srv on ln until it is closed.
func serveHTTP(srv *http.Server, ln net.Listener, log *slog.Logger) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("admin server stopped", "listener", ln.Addr().String(), "err", err)
	}
}

// SetStopping makes /readyz answer 503 from now on: the balancer is
// shutting down and an orchestrator should send nothing new.
func (s *Server) SetStopping() { s.stopping.Store(true) }

// Close stops serving: the listener closes and requests in progress are
// cut.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.srv.Close()
		if isUnixPath(s.cfg.Listen) {
			os.Remove(s.cfg.Listen)
		}
	})
	return err
}

// Shutdown stops serving after the requests in progress, until ctx is
// done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.Close()
	return err
}

// backendStats returns the engine's per-backend counters, or nil.
func (s *Server) backendStats() []engine.BackendStats {
	if s.cfg.Engine == nil {
		return nil
	}
	return s.cfg.Engine.BackendStats()
}
