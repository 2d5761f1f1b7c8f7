package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/l4lb/l4lb/admin"
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/health"
	"github.com/l4lb/l4lb/registry"
	"github.com/l4lb/l4lb/sniff"
)

// DefaultDrainTimeout is how long serve lets connections finish after
// SIGTERM before it closes them.
const DefaultDrainTimeout = 30 * time.Second

// DefaultFirstSetWait bounds how long serve waits for discovery's first
// backend set before it accepts connections anyway.
const DefaultFirstSetWait = 5 * time.Second

func init() {
	commands["serve"] = command{summary: "run the balancer", run: runServe}
}

// serveConfig is everything `l4lb serve` is told by flags and environment.
type serveConfig struct {
	listen, backends, prefixes, cookies listFlag
	acceptProxyFrom                     listFlag
	backendsFile, discovery, service    string
	proxyProtocol                       string
	connectTimeout, headerTimeout       time.Duration
	idleTimeout, drainTimeout           time.Duration
	drainSpread                         time.Duration
	pidFile                             string
	maxHeaderBytes, loops               int
	logLevel, logFormat                 string
	discoveryPoll, discoveryGrace       time.Duration
	adminListen, adminToken             string
	accessLog, accessLogFormat          string
	forwardedFor                        bool
	maxConns                            int
	pipeSize                            int
	acceptProxy                         bool
	uiService                           string
	publicServices                      listFlag
	routes                              routesFlag
	serviceOptions                      serviceOptionsFlag
	clusterEndpointCookie               bool
	stickyInsert                        string
	health                              healthConfig
	sessionMemory                       int
	sessionIdle                         time.Duration

	// adminExplicit reports whether the admin address was given (flag or
	// environment) rather than defaulted; parsed sets it.
	adminExplicit bool

	// registryMetrics counts discovery queries, and names remembers which
	// source named each endpoint; sources sets them.
	registryMetrics *registry.Metrics
	names           *sourceNames
}

func (c *serveConfig) flags(fs *flag.FlagSet) []envBinding {
	c.listen.values = []string{"127.0.0.1:8080"}
	c.listen.fromEnv = true // the first --listen replaces the default
	fs.Var(&c.listen, "listen", "address to accept on: host:port, or a UNIX socket path; repeatable")
	fs.Var(&c.backends, "backend", "static backend: host:port, http://host:port, tcp://host:port, unix:/path, or a unix:/path glob such as unix:/run/app/meteor.sock.*.sock; repeatable")
	fs.StringVar(&c.backendsFile, "backends-file", "", "file of backend endpoints, one a line, reloaded when it changes and on SIGHUP")
	fs.StringVar(&c.discovery, "discovery", "", "MongoDB URL of meteorhacks:cluster discovery (collection clusterEndpoints)")
	fs.StringVar(&c.service, "service", "web", "service name to balance, as instances register it")
	fs.StringVar(&c.uiService, "ui-service", "", "the default service, of traffic no --route matches (default: --service)")
	fs.Var(&c.publicServices, "public-services", "services besides the default that clients may reach; a request routed to any other gets 404; repeatable")
	fs.Var(&c.routes, "route", "route to a service: host=H (exact or *.suffix), path=/prefix, both, or sni=H for TLS, then service=S, comma-separated; first match wins; repeatable (env: routes separated by ;)")
	fs.Var(&c.serviceOptions, "service-option", "a service's own settings, NAME:key=value,...: sockjs-prefix=/api/sockjs (repeatable), sticky-cookie=NAME (repeatable), sticky-insert=NAME, proxy=off|v1|v2, health=off|tcp|http:/path; unset keys follow the balancer-wide flags (sticky-insert excepted); repeatable (env: services separated by ;)")
	fs.BoolVar(&c.clusterEndpointCookie, "cluster-endpoint-cookie", false, "pin requests carrying meteorhacks:cluster's cluster-endpoint::<default service> cookie to the instance it names")
	fs.StringVar(&c.stickyInsert, "sticky-insert", "", "cookie to set in default-service responses naming the instance (HAProxy's cookie NAME insert; e.g. JSESSIONID); requests carrying it stay on that instance")
	fs.DurationVar(&c.discoveryPoll, "discovery-poll", 0, "how often MongoDB discovery polls without a change stream (0: registry default, 1s)")
	fs.DurationVar(&c.discoveryGrace, "discovery-grace", 0, "added to an endpoint's pingInterval before it counts as gone (0: registry default, 15s)")
	fs.StringVar(&c.adminListen, "admin-listen", admin.DefaultListen, "admin listener: status page at /, JSON API at /api/, /metrics, /healthz, /readyz; host:port (loopback unless --admin-token is set) or a UNIX socket path; off: none")
	fs.StringVar(&c.adminListen, "metrics-listen", admin.DefaultListen, "alias of --admin-listen")
	fs.StringVar(&c.adminToken, "admin-token", "", "bearer token the admin listener requires of every request but /healthz and /readyz; needed to listen on an address that is not loopback (prefer the environment variable: a flag shows in ps)")
	fs.StringVar(&c.accessLog, "access-log", "off", "one line per HTTP exchange and tunnel: off, stdout, or a file path (reopened on SIGUSR1)")
	fs.StringVar(&c.accessLogFormat, "access-log-format", "json", "access log lines: json (JSON Lines) or text (close to HAProxy's httplog)")
	fs.StringVar(&c.proxyProtocol, "proxy-protocol", "off", "PROXY header sent to backends: off, v1 or v2")
	fs.BoolVar(&c.acceptProxy, "accept-proxy", false, "every client connection starts with a PROXY v1/v2 header from a trusted front (TLS terminator, cloud load balancer); its client address is used and the header dropped; connections without one are closed. Only for listeners the front alone can reach")
	fs.Var(&c.acceptProxyFrom, "accept-proxy-from", "with --accept-proxy: the front's network (CIDR or IP) whose PROXY headers are trusted; peers elsewhere are served as direct clients; repeatable (default: every peer)")
	fs.BoolVar(&c.forwardedFor, "forwarded-for", false, "add an X-Forwarded-For line with the client's IP to every request head (Meteor reads client addresses only from it; set HTTP_FORWARDED_COUNT)")
	fs.Var(&c.prefixes, "sockjs-prefix", "SockJS URL prefix; repeatable (default /sockjs)")
	fs.Var(&c.cookies, "sticky-cookie", "cookie whose value pins a client to a backend, wins over the SockJS session; repeatable")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 0, "backend connect timeout (0: engine default)")
	fs.DurationVar(&c.headerTimeout, "header-timeout", 0, "time a client has to send a request head (0: engine default)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 0, "idle timeout of an established tunnel (0: engine default; keep it above SockJS's 45 s heartbeat)")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", DefaultDrainTimeout, "on SIGTERM, or once an upgrade's new process accepts, how long connections may finish before they are closed")
	fs.DurationVar(&c.drainSpread, "drain-spread", 0, "close the connections left over this window before the drain timeout ends, one by one, instead of all at its end (0: all at the end)")
	fs.StringVar(&c.pidFile, "pid-file", "", "file holding the PID of the process that accepts; an upgrade's new process rewrites it once ready (empty: none)")
	fs.IntVar(&c.maxHeaderBytes, "max-header-bytes", 0, "largest request head accepted; larger gets 431 (0: sniff default)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "most client connections open at once; at the bound new ones wait in the accept queue (0: half the open-file limit; negative: no bound)")
	fs.IntVar(&c.pipeSize, "pipe-size", 0, "capacity in bytes of the kernel pipes tunnels and large HTTP bodies are spliced through: more moves a bulk transfer in fewer system calls, and costs as much kernel memory per direction of a stalled transfer and of the user's pipe quota, fs.pipe-user-pages-soft (0: the kernel's 64 KiB)")
	fs.IntVar(&c.loops, "loops", 0, "event loops (0: one per CPU)")
	fs.IntVar(&c.sessionMemory, "session-memory", DefaultSessionMemory, "session keys remembered, 8 bytes each: a running SockJS session stays on its backend when backends join (0: off, sessions follow the table)")
	fs.DurationVar(&c.sessionIdle, "session-idle", affinity.DefaultSessionIdle, "how long a session key is remembered after its last request")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	return append(c.health.flags(fs), []envBinding{
		{"listen", "L4LB_LISTEN"},
		{"backend", "L4LB_BACKENDS"},
		{"backends-file", "L4LB_BACKENDS_FILE"},
		{"discovery", "CLUSTER_DISCOVERY_URL"},
		{"service", "CLUSTER_SERVICE"},
		{"ui-service", "CLUSTER_UI_SERVICE"},
		{"public-services", "CLUSTER_PUBLIC_SERVICES"},
		{"route", "L4LB_ROUTES"},
		{"service-option", "L4LB_SERVICE_OPTIONS"},
		{"cluster-endpoint-cookie", "L4LB_CLUSTER_ENDPOINT_COOKIE"},
		{"sticky-insert", "L4LB_STICKY_INSERT"},
		{"discovery-poll", "L4LB_DISCOVERY_POLL"},
		{"discovery-grace", "L4LB_DISCOVERY_GRACE"},
		{"metrics-listen", "L4LB_METRICS_LISTEN"},
		{"admin-listen", "L4LB_ADMIN_LISTEN"},
		{"admin-token", "L4LB_ADMIN_TOKEN"},
		{"access-log", "L4LB_ACCESS_LOG"},
		{"access-log-format", "L4LB_ACCESS_LOG_FORMAT"},
		{"proxy-protocol", "L4LB_PROXY_PROTOCOL"},
		{"accept-proxy", "L4LB_ACCEPT_PROXY"},
		{"accept-proxy-from", "L4LB_ACCEPT_PROXY_FROM"},
		{"forwarded-for", "L4LB_FORWARDED_FOR"},
		{"sockjs-prefix", "L4LB_SOCKJS_PREFIX"},
		{"sticky-cookie", "L4LB_STICKY_COOKIE"},
		{"connect-timeout", "L4LB_CONNECT_TIMEOUT"},
		{"header-timeout", "L4LB_HEADER_TIMEOUT"},
		{"idle-timeout", "L4LB_IDLE_TIMEOUT"},
		{"drain-timeout", "L4LB_DRAIN_TIMEOUT"},
		{"drain-spread", "L4LB_DRAIN_SPREAD"},
		{"pid-file", "L4LB_PID_FILE"},
		{"max-header-bytes", "L4LB_MAX_HEADER_BYTES"},
		{"max-conns", "L4LB_MAX_CONNS"},
		{"pipe-size", "L4LB_PIPE_SIZE"},
		{"loops", "L4LB_LOOPS"},
		{"session-memory", "L4LB_SESSION_MEMORY"},
		{"session-idle", "L4LB_SESSION_IDLE"},
		{"log-level", "L4LB_LOG_LEVEL"},
		{"log-format", "L4LB_LOG_FORMAT"},
	}...)
}

// parsePrefixes reads networks in CIDR form; a bare IP is its own /32 or
// /128.
func parsePrefixes(vs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vs {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q: want a CIDR network or an IP", v)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

// parsed completes c once fs has parsed its flags.
func (c *serveConfig) parsed(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "admin-listen" || f.Name == "metrics-listen" {
			c.adminExplicit = true
		}
	})
	if c.adminListen == "off" {
		c.adminListen = ""
	}
}

func runServe(ctx context.Context, args []string) error {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := parseWithEnv(fs, c.flags(fs), args); err != nil {
		return err
	}
	c.parsed(fs)
	log, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	h, err := newHandover(c.pidFile, log)
	if err != nil {
		return err
	}
	if specs := h.activationSpecs(); len(specs) > 0 && !listenGiven(fs) {
		// Serve systemd's sockets; the variable carries the addresses to
		// the process of an upgrade, which finds their sockets handed over.
		c.listen.values = specs
		os.Setenv("L4LB_LISTEN", strings.Join(specs, ","))
	}
	sources, err := c.sources(log)
	if err != nil {
		h.stop()
		return err
	}
	return serve(ctx, c, sources, log, nil, h)
}

// listenGiven reports whether --listen was set, on the command line or in
// its environment variable.
func listenGiven(fs *flag.FlagSet) bool {
	given := os.Getenv("L4LB_LISTEN") != ""
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "listen" })
	return given
}

// serve runs a balancer fed by sources until ctx is done, or until an
// upgrade's new process took over (see upgrade.go), then drains. SIGHUP
// re-reads the backends file (see reloadOnHangup) instead of ending the
// process; SIGUSR1 reopens the access log; SIGUSR2 upgrades through h
// (nil: no upgrades). listening, if not nil, is called with the bound
// addresses and the admin status page's URL ("" without one) once the
// balancer accepts connections.
func serve(ctx context.Context, c serveConfig, sources []registry.Source, log *slog.Logger, listening func(addrs []net.Addr, adminURL string), h *handover) error {
	defer h.stop()
	// First, so that a SIGHUP, SIGUSR1 or SIGUSR2 from now on is a
	// request, never the end.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, upgradeSignal)
	defer signal.Stop(usr2)

	pp, err := affinity.ParseProxyProtocol(c.proxyProtocol)
	if err != nil {
		return fmt.Errorf("--proxy-protocol: %w", err)
	}
	fronts, err := parsePrefixes(c.acceptProxyFrom.values)
	if err != nil {
		return fmt.Errorf("--accept-proxy-from: %w", err)
	}
	if c.adminListen != "" {
		if err := admin.CheckListen(c.adminListen, c.adminToken); err != nil {
			return fmt.Errorf("--admin-listen %s: not a loopback address: set --admin-token (L4LB_ADMIN_TOKEN), listen on loopback, or on a UNIX socket path", c.adminListen)
		}
	}
	alog, err := c.openAccessLog(log)
	if err != nil {
		return err
	}
	if alog != nil {
		defer alog.Close() // after the engine's shutdown: the last lines too
	}
	sessions, err := c.newSessions(log)
	if err != nil {
		return err
	}
	svcs, err := c.services()
	if err != nil {
		return err
	}
	bal := svcs.balancers[0]
	// A service's own PROXY setting goes into its backends' entries (see
	// withProxy), so that its health checks send the header too.
	svcPP := make([]affinity.ProxyProtocol, len(svcs.names))
	for i, o := range svcs.opts {
		if o.proxy != "" {
			svcPP[i], _ = affinity.ParseProxyProtocol(o.proxy) // checked by services
		}
	}
	// One checker per watched service: each checks its own set; the
	// engine's reports go to all of them, and each acts on its own
	// members. A private service has none: nothing may contact it.
	var chks healthCheckers
	chkOf := make([]*health.Checker, len(svcs.names))
	for i, b := range svcs.balancers {
		if !svcs.watched[i] {
			log.Info("private service: not watched, routes to it answer 404", "service", svcs.names[i])
			continue
		}
		chk, err := c.health.checker(b, pp, svcs.opts[i].health, log)
		if err != nil {
			return fmt.Errorf("service %s: %w", svcs.names[i], err)
		}
		chks = append(chks, chk)
		chkOf[i] = chk
	}
	sniffCfg := sniff.Config{Prefixes: c.prefixes.values, Cookies: c.cookies.values, MaxHeadBytes: c.maxHeaderBytes}
	stickyInsert := c.stickyInsert
	// The default service's own options are the engine's defaults.
	if o := svcs.opts[0]; o.prefixes != nil {
		sniffCfg.Prefixes = o.prefixes
	}
	if o := svcs.opts[0]; o.cookies != nil {
		sniffCfg.Cookies = o.cookies
	}
	if o := svcs.opts[0]; o.stickyInsert != "" {
		stickyInsert = o.stickyInsert
	}
	cfg := engine.Config{
		Listen:                c.listen.values,
		Loops:                 c.loops,
		Balancer:              bal,
		Sessions:              sessions,
		Service:               svcs.names[0],
		Services:              svcs.engine,
		Routes:                svcs.routes,
		ClusterEndpointCookie: c.clusterEndpointCookie,
		StickyInsert:          stickyInsert,
		Sniff:                 sniffCfg,
		ProxyProtocol:         pp,
		ForwardedFor:          c.forwardedFor,
		AcceptProxy:           c.acceptProxy,
		AcceptProxyFrom:       fronts,
		ConnectTimeout:        c.connectTimeout,
		HeaderTimeout:         c.headerTimeout,
		IdleTimeout:           c.idleTimeout,
		ResponseTimeout:       c.health.responseTimeout,
		Health:                chks,
		MaxConns:              c.maxConns,
		PipeSize:              c.pipeSize,
		DrainSpread:           c.drainSpread,
		BackendStats:          c.adminListen != "",
		Logger:                log,
	}
	if alog != nil {
		cfg.Exchanges = alog
	}
	h.engineConfig(&cfg)
	srv, err := engine.New(cfg)
	if err != nil {
		return err
	}
	// A backend taken out for not answering: the requests waiting on it
	// are answered at once (engine.Server.BackendDown).
	for _, chk := range chks {
		chk.OnUnresponsive(srv.BackendDown)
	}
	// Until this process is ready, the old one of an upgrade serves the
	// same UNIX sockets: failing here must not remove their files.
	srv.KeepSocketFiles(h.isUpgrade())
	log.Info("connection limit", "max_conns", srv.MaxConns())
	adm, err := c.startAdmin(adminSources{engine: srv, balancer: bal, sessions: sessions, health: chks[0], alog: alog}, h.listen, log)
	if err != nil {
		return err
	}
	if adm != nil {
		defer adm.Close()
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	watchErr := make(chan error, len(svcs.names))
	firstSet := make(chan struct{})
	var firstOnce sync.Once
	for _, chk := range chks {
		go chk.Run(watchCtx)
	}
	for i, name := range svcs.names {
		b, chk := svcs.balancers[i], chkOf[i]
		if chk == nil {
			continue // private
		}
		go func() {
			watchErr <- registry.NewMerged(serviceSources(sources, i)...).Watch(watchCtx, name, func(set []affinity.Backend) {
				withEndpointHashes(set)
				if svcPP[i] != affinity.ProxyDefault {
					withProxy(set, svcPP[i])
				}
				if err := b.Update(set); err != nil {
					log.Error("backend set rejected", "service", name, "err", err)
					return
				}
				chk.Update()
				log.Info("backend set", "service", name, "backends", len(set), "endpoints", endpoints(set))
				if i == 0 {
					firstOnce.Do(func() { close(firstSet) })
				}
			})
		}()
	}
	go reloadOnHangup(watchCtx, hup, sources, log)
	go reopenOnUSR1(watchCtx, usr1, alog, c.accessLog, log)

	// Accept only once the first set is known, so a restart does not answer
	// 503 for the moment discovery takes; a discovery that is down must not
	// keep the balancer from starting, though (it answers 503 until then).
	// An upgrade's new process never takes over without a set: the old
	// process, which has one, keeps serving.
	wait := DefaultFirstSetWait
	if h.isUpgrade() {
		wait = DefaultUpgradeWait
	}
	select {
	case <-firstSet:
	case <-time.After(wait):
		if h.isUpgrade() {
			return fmt.Errorf("upgrade: no backend set within %v; the previous process keeps serving", wait)
		}
		log.Warn("no backend set yet; accepting anyway", "service", svcs.names[0], "waited", wait)
	case err := <-watchErr:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return nil
	}

	if err := srv.Start(); err != nil {
		return err
	}
	h.ready(srv)
	go h.upgradeOnSignal(watchCtx, usr2, log)
	if listening != nil {
		url := ""
		if adm != nil {
			url = adm.URL()
		}
		listening(srv.Addrs(), url)
	}

	select {
	case <-ctx.Done():
	case <-h.handedOver():
		// The new process accepts on the same sockets now: stop accepting
		// here, leave the UNIX socket files (and the PID file) to it, and
		// drain.
		h.handed.Store(true)
		srv.KeepSocketFiles(true)
		if adm != nil {
			adm.Close()
		}
		log.Info("upgrade: handed over; draining", "pid", os.Getpid(), "drain_timeout", c.drainTimeout, "drain_spread", c.drainSpread)
		return shutdown(srv, c.drainTimeout, log)
	case err := <-watchErr:
		if err != nil {
			log.Error("discovery stopped", "err", err)
			shutdown(srv, 0, log)
			return err
		}
		<-ctx.Done()
	}
	// The upgrader's copies of the listening sockets would keep them open,
	// queueing connections nobody accepts: new clients must be refused.
	h.endUpgrades()
	log.Info("shutting down", "drain_timeout", c.drainTimeout)
	if adm != nil {
		adm.SetStopping()
	}
	return shutdown(srv, c.drainTimeout, log)
}

func shutdown(srv *engine.Server, drain time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("stopped")
	return nil
}

func endpoints(set []affinity.Backend) string {
	names := make([]string, len(set))
	for i, b := range set {
		names[i] = b.Endpoint
	}
	return strings.Join(names, ",")
}

// healthCheckers hands the engine's health reports to every service's
// checker; a checker acts only on the members of its own service.
type healthCheckers []*health.Checker

var _ engine.HealthObserver = healthCheckers(nil)

func (hs healthCheckers) BackendFailed(m *affinity.Member, why engine.Failure) {
	for _, h := range hs {
		h.BackendFailed(m, why)
	}
}

func (hs healthCheckers) BackendAnswered(m *affinity.Member) {
	for _, h := range hs {
		h.BackendAnswered(m)
	}
}
