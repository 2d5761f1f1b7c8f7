package main

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/health"
)

// healthConfig is what `l4lb serve` is told about health checking.
type healthConfig struct {
	check                  string
	interval, timeout      time.Duration
	rise, fall             int
	responseTimeout        time.Duration
	slowStart              time.Duration
	ejectAfter             int
	ejectTime, maxEjectFor time.Duration
	maxEjectedShare        float64
}

func (c *healthConfig) flags(fs *flag.FlagSet) []envBinding {
	fs.StringVar(&c.check, "health-check", "auto", "active check: off, tcp, or http:<path> (GET <path> must answer 2xx or 3xx; Meteor: http:/sockjs/info); auto: tcp while there is more than one backend")
	fs.DurationVar(&c.interval, "health-interval", health.DefaultInterval, "time between two checks of a backend (jittered by ±10%)")
	fs.DurationVar(&c.timeout, "health-timeout", health.DefaultTimeout, "time a check may take")
	fs.IntVar(&c.rise, "health-rise", health.DefaultRise, "passed checks in a row that bring a down backend up")
	fs.IntVar(&c.fall, "health-fall", health.DefaultFall, "failed checks in a row that take a backend down")
	fs.DurationVar(&c.responseTimeout, "response-timeout", 0, "an HTTP request with no response byte in this time gets 504 and counts against its backend (0: 60s; negative: off); WebSocket tunnels keep --idle-timeout")
	fs.DurationVar(&c.slowStart, "slow-start", 0, "a backend that comes up or joins takes a share of keyless traffic growing from a tenth to all of it over this time (0: off)")
	fs.IntVar(&c.ejectAfter, "eject-after", health.DefaultEjectAfter, "failures of real traffic in a row (connect failed or timed out, closed or reset before answering, response timeout) that eject a backend (0: never)")
	fs.DurationVar(&c.ejectTime, "eject-time", health.DefaultEjectTime, "how long a first ejection lasts; the n-th in a row lasts n times as long")
	fs.DurationVar(&c.maxEjectFor, "eject-max-time", health.DefaultMaxEjectTime, "the longest ejection")
	fs.Float64Var(&c.maxEjectedShare, "eject-max-share", health.DefaultMaxEjectedShare, "share of the backends that may be ejected at once (one always may)")
	return []envBinding{
		{"health-check", "L4LB_HEALTH_CHECK"},
		{"health-interval", "L4LB_HEALTH_INTERVAL"},
		{"health-timeout", "L4LB_HEALTH_TIMEOUT"},
		{"health-rise", "L4LB_HEALTH_RISE"},
		{"health-fall", "L4LB_HEALTH_FALL"},
		{"response-timeout", "L4LB_RESPONSE_TIMEOUT"},
		{"slow-start", "L4LB_SLOW_START"},
		{"eject-after", "L4LB_EJECT_AFTER"},
		{"eject-time", "L4LB_EJECT_TIME"},
		{"eject-max-time", "L4LB_EJECT_MAX_TIME"},
		{"eject-max-share", "L4LB_EJECT_MAX_SHARE"},
	}
}

// checker builds the health checker of bal; pp is the balancer's PROXY
// setting, which checks follow; checkSpec, if not empty, replaces
// --health-check (a service's own).
func (c *healthConfig) checker(bal *affinity.Balancer, pp affinity.ProxyProtocol, checkSpec string, log *slog.Logger) (*health.Checker, error) {
	if checkSpec == "" {
		checkSpec = c.check
	}
	check, err := health.ParseCheck(checkSpec)
	if err != nil {
		return nil, fmt.Errorf("--health-check: %w", err)
	}
	switch {
	case c.interval <= 0:
		return nil, fmt.Errorf("--health-interval %v: want a positive duration", c.interval)
	case c.timeout <= 0:
		return nil, fmt.Errorf("--health-timeout %v: want a positive duration", c.timeout)
	case c.rise <= 0 || c.fall <= 0:
		return nil, fmt.Errorf("--health-rise %d, --health-fall %d: want positive counts", c.rise, c.fall)
	case c.ejectAfter < 0:
		return nil, fmt.Errorf("--eject-after %d: want a count, 0 for never", c.ejectAfter)
	case c.maxEjectedShare < 0 || c.maxEjectedShare > 1:
		return nil, fmt.Errorf("--eject-max-share %v: want a share in [0, 1]", c.maxEjectedShare)
	}
	cfg := health.Config{
		Check: check, Interval: c.interval, Timeout: c.timeout, Rise: c.rise, Fall: c.fall,
		ProxyProtocol: pp,
		EjectAfter:    c.ejectAfter, EjectTime: c.ejectTime, MaxEjectTime: c.maxEjectFor,
		MaxEjectedShare: c.maxEjectedShare,
		SlowStart:       c.slowStart,
		Logger:          log,
	}
	if c.ejectAfter == 0 {
		cfg.EjectAfter = -1
	}
	if c.maxEjectedShare == 0 {
		cfg.MaxEjectedShare = -1 // one backend
	}
	log.Info("health checks", "check", check.String(), "interval", c.interval, "timeout", c.timeout,
		"rise", c.rise, "fall", c.fall, "eject_after", c.ejectAfter, "slow_start", c.slowStart)
	return health.New(bal, cfg), nil
}
