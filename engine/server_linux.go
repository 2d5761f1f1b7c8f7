package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/l4lb/l4lb/sniff"
	"golang.org/x/sys/unix"
)

// Server is a running (or ready to run) balancer: listeners, event loops
// and the connections they carry. Its methods are safe for concurrent use.
type Server struct {
	cfg                                        Config
	sniffer                                    *sniff.Sniffer
	svcs                                       *services
	log                                        *slog.Logger
	debug                                      bool
	connectTimeout, headerTimeout, idleTimeout time.Duration
	responseTimeout                            time.Duration // 0: disabled
	maxConns                                   int64         // 0: no bound
	lookupIP                                   func(context.Context, string, string) ([]netip.Addr, error)

	mu            sync.Mutex
	started       bool
	shutdown      bool
	keepFiles     bool   // KeepSocketFiles
	inheritedUsed []bool // by index of cfg.Inherited: serving a listener
	listeners     []*listener
	loops         []*loop
	wg            sync.WaitGroup // one per running loop

	stats counters
	obs   observer // Config.Exchanges, Config.BackendStats
	path  dataPath // set before Start only
	// bodySpliceMin: see defaultBodySpliceMin; set before Start only.
	bodySpliceMin int64
	// spliceMax is the most one splice moves: the pipes' capacity
	// (Config.PipeSize).
	spliceMax int
}

// New checks cfg and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	svcs, sc, err := compileServices(&cfg)
	if err != nil {
		return nil, err
	}
	sn, err := sniff.New(sc)
	if err != nil {
		return nil, fmt.Errorf("engine: config: %w", err)
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	s := &Server{cfg: cfg, sniffer: sn, svcs: svcs, log: cfg.Logger, path: defaultDataPath, bodySpliceMin: defaultBodySpliceMin, spliceMax: cfg.pipeSize(),
		lookupIP: lookupIP}
	s.obs = newObserver(&cfg)
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.debug = s.log.Enabled(context.Background(), slog.LevelDebug)
	s.connectTimeout, s.headerTimeout, s.idleTimeout = cfg.timeouts()
	s.responseTimeout = cfg.responseTimeout()
	switch {
	case cfg.MaxConns > 0:
		s.maxConns = int64(cfg.MaxConns)
	case cfg.MaxConns == 0:
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur != unix.RLIM_INFINITY {
			s.maxConns = int64(DefaultMaxConns(rl.Cur))
		}
	}
	return s, nil
}

// Start opens every listener and starts the event loops. When it returns
// nil the server accepts on every address; on error nothing is left open.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return ErrServerClosed
	}
	if s.started {
		return errors.New("engine: server already started")
	}
	s.inheritedUsed = make([]bool, len(s.cfg.Inherited))
	for _, spec := range s.cfg.Listen {
		ln, err := s.openListener(spec)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.listeners = append(s.listeners, ln)
	}
	for i := 0; i < s.cfg.Loops; i++ {
		l, err := newLoop(s, i)
		if err != nil {
			for _, l := range s.loops {
				l.closeFds()
			}
			s.loops = nil
			s.closeListeners()
			return err
		}
		s.loops = append(s.loops, l)
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	s.started = true
	for _, ln := range s.listeners {
		s.log.Info("listening", "listener", ln.addr.String())
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.close(!s.keepFiles)
	}
	s.listeners = nil
}

// Addrs returns the addresses the server listens on, in Config.Listen
// order, with any port 0 replaced by the port the kernel picked. It
// returns nil before Start.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]net.Addr, len(s.listeners))
	for i, ln := range s.listeners {
		addrs[i] = ln.addr
	}
	return addrs
}

// MaxConns returns the bound on open client connections in effect (see
// Config.MaxConns), or 0 for none.
func (s *Server) MaxConns() int { return int(s.maxConns) }

// Stats returns the current counters. It is a handful of atomic loads.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Shutdown stops accepting at once (listening sockets are closed, so new
// connections are refused unless another process took the sockets over,
// see Config.Sockets) and drains: requests in flight are answered with
// "Connection: close", connections that carry no request are closed after
// a short grace in which a request on its way is still served, tunnels run
// on; at ctx's deadline (or over Config.DrainSpread before it) whatever is
// left is closed. It returns when every loop has stopped: nil if all
// connections finished on their own, ctx.Err() otherwise.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.shutdown = true
	loops := s.loops
	s.mu.Unlock()

	var stopped sync.WaitGroup
	for _, l := range loops {
		stopped.Add(1)
		l.post(func() { l.stopAccepting(); stopped.Done() })
	}
	stopped.Wait()
	s.mu.Lock()
	s.closeListeners()
	s.mu.Unlock()

	s.spread(ctx, loops)
	var err error
	if s.stats.active.Load() > 0 {
		err = ctx.Err()
	}
	for _, l := range loops {
		l.post(l.stop)
	}
	s.wg.Wait()
	return err
}
