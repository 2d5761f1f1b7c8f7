package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/l4lb/l4lb/accesslog"
	"github.com/l4lb/l4lb/admin"
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/health"
)

// adminSources is what the admin listener shows and acts on: the default
// service's balancer (drained and reweighted from the status page) and
// health checker. Each but engine and balancer may be nil.
type adminSources struct {
	engine   *engine.Server
	balancer *affinity.Balancer
	sessions *affinity.Sessions
	health   *health.Checker
	alog     *accesslog.Logger
}

// startAdmin starts the admin listener, or returns nil without one. Its
// TCP socket is opened through listen (the upgrade hand-over). When the
// default address cannot be bound (another l4lb on this host has it),
// serve goes on without it; an address that was asked for must bind.
func (c *serveConfig) startAdmin(src adminSources, listen func(addr string) (net.Listener, error), log *slog.Logger) (*admin.Server, error) {
	if c.adminListen == "" {
		return nil, nil
	}
	cfg := admin.Config{
		Listen:    c.adminListen,
		ListenTCP: listen,
		Token:     c.adminToken,
		Balancer:  src.balancer,
		Engine:    src.engine,
		Registry:  c.registryMetrics,
		Version:   version(),
		Logger:    log,
	}
	if c.names != nil {
		cfg.SourceOf = c.names.of
	}
	if src.sessions != nil {
		cfg.Collectors = append(cfg.Collectors, sessionCollector{src.sessions})
	}
	if src.health != nil {
		cfg.Health = healthOf(src.health)
		cfg.Collectors = append(cfg.Collectors, healthCollector{src.health})
	}
	if src.alog != nil {
		cfg.Collectors = append(cfg.Collectors, src.alog.Collector())
	}
	adm, err := admin.New(cfg)
	if err != nil {
		if !c.adminExplicit {
			log.Warn("admin listener off: its default address is taken; set --admin-listen", "listener", c.adminListen, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	adm.Start()
	return adm, nil
}

// healthOf adapts a checker to admin.Config.Health: the backend's last
// active check (when it ended, its duration and error) and whether health
// holds it out.
func healthOf(chk *health.Checker) func(endpoint string) (admin.Health, bool) {
	return func(endpoint string) (admin.Health, bool) {
		for _, b := range chk.Stats().Backends {
			if b.Endpoint != endpoint {
				continue
			}
			if b.LastChecked.IsZero() && b.Up {
				return admin.Health{}, false // never checked, never ejected
			}
			h := admin.Health{Checked: b.LastChecked, OK: b.LastError == nil, Latency: b.LastCheck, Ejected: !b.Up}
			switch {
			case b.LastError != nil:
				h.Error = b.LastError.Error()
			case !b.Up:
				h.Error = b.Reason
			}
			return h, true
		}
		return admin.Health{}, false
	}
}
