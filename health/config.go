package health

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// Defaults for the Config fields left zero.
const (
	// DefaultInterval is the time between two active checks of a backend,
	// before jitter.
	DefaultInterval = 2 * time.Second
	// DefaultTimeout bounds one active check: connect, and for HTTP the
	// status line.
	DefaultTimeout = 2 * time.Second
	// DefaultRise and DefaultFall are the consecutive passed checks that
	// bring a down backend up, and failed checks that take an up one down
	// (HAProxy's defaults).
	DefaultRise = 2
	DefaultFall = 3
	// DefaultEjectAfter is the run of consecutive failures of real traffic
	// (connect failures and timeouts, closes and resets before a response,
	// response timeouts) that ejects a backend.
	DefaultEjectAfter = 3
	// DefaultEjectTime is the first ejection's length; each ejection of
	// the same backend lasts one DefaultEjectTime longer than the one
	// before, up to DefaultMaxEjectTime.
	DefaultEjectTime    = 10 * time.Second
	DefaultMaxEjectTime = 5 * time.Minute
	// DefaultMaxEjectedShare is the share of the set that passive
	// ejection may hold out at once; one backend can always be ejected.
	DefaultMaxEjectedShare = 0.5
)

// jitter is how far an interval strays from Config.Interval, either way,
// so that checks of many backends (and of several balancers) spread out.
const jitter = 0.1

// Kind is the kind of active check.
type Kind uint8

const (
	// Off runs no active check.
	Off Kind = iota
	// TCP connects (and sends the PROXY header the backend gets, if any).
	TCP
	// HTTP connects and sends GET Check.Path; a 2xx or 3xx status passes.
	HTTP
)

// Check is the active check to run: the value of --health-check.
type Check struct {
	Kind Kind
	// Path is the HTTP check's request target, from "/".
	Path string
	// Auto is the default: TCP checks only while the set has more than one
	// backend (with one, there is nowhere else to send its traffic).
	Auto bool
}

// ParseCheck reads the spelling of --health-check: "off", "tcp",
// "http:<path>" (path from "/", without spaces or control characters), or
// "" or "auto" for the default (TCP while the set has more than one
// backend).
func ParseCheck(s string) (Check, error) {
	switch s {
	case "", "auto":
		return Check{Kind: TCP, Auto: true}, nil
	case "off":
		return Check{Kind: Off}, nil
	case "tcp":
		return Check{Kind: TCP}, nil
	}
	path, ok := strings.CutPrefix(s, "http:")
	if !ok {
		return Check{}, fmt.Errorf("health check %q: want off, tcp or http:<path>", s)
	}
	if !strings.HasPrefix(path, "/") {
		return Check{}, fmt.Errorf("health check %q: the path must start with /", s)
	}
	for i := 0; i < len(path); i++ {
		if b := path[i]; b <= ' ' || b == 0x7f {
			return Check{}, fmt.Errorf("health check %q: the path has a space or control character", s)
		}
	}
	return Check{Kind: HTTP, Path: path}, nil
}

// String returns the spelling ParseCheck reads.
func (c Check) String() string {
	switch {
	case c.Auto:
		return "auto"
	case c.Kind == TCP:
		return "tcp"
	case c.Kind == HTTP:
		return "http:" + c.Path
	}
	return "off"
}

// Config configures a Checker. The zero value runs the default checks:
// TCP while the set has more than one backend, every 2 s, rise 2, fall 3,
// passive ejection after 3 consecutive failures, no slow start.
type Config struct {
	// Check is the active check. The zero Check is Off; use ParseCheck("")
	// for the default.
	Check Check
	// Interval is the time between two checks of a backend, jittered by
	// ±10%. If zero or negative, DefaultInterval.
	Interval time.Duration
	// Timeout bounds one check. If zero or negative, DefaultTimeout.
	Timeout time.Duration
	// Rise and Fall are the consecutive passed checks that bring a down
	// backend up and the consecutive failed checks that take an up one
	// down. If zero or negative, DefaultRise and DefaultFall. A backend
	// new to the set counts as up, and goes down on its first failed
	// check until one has passed.
	Rise, Fall int
	// ProxyProtocol is the PROXY header of backends whose own
	// affinity.Backend.ProxyProtocol is ProxyDefault, as in
	// engine.Config. Checks of a backend that gets a header start with a
	// LOCAL header (v2) or "PROXY UNKNOWN" (v1), which the PROXY protocol
	// specification reserves for health checks.
	ProxyProtocol affinity.ProxyProtocol
	// EjectAfter is the run of consecutive failures of real traffic that
	// ejects a backend. If zero, DefaultEjectAfter; if negative, real
	// traffic never ejects.
	EjectAfter int
	// EjectTime is the first ejection's length; the n-th ejection in a
	// row lasts n times as long, at most MaxEjectTime. An ejected backend
	// comes back once its ejection is over and, with active checks, Rise
	// checks passed since it was ejected. If zero or negative,
	// DefaultEjectTime and DefaultMaxEjectTime. A backend up for one
	// EjectTime forgets one ejection.
	EjectTime, MaxEjectTime time.Duration
	// MaxEjectedShare is the share of the set (backends not Down in
	// discovery) that may be ejected at once; one backend always may. If
	// zero, DefaultMaxEjectedShare; if negative, only one.
	MaxEjectedShare float64
	// SlowStart, if positive, is how long a backend that comes up again
	// or joins the set (not the first set the checker sees) ramps its
	// share of keyless traffic from a tenth to all of its weight.
	SlowStart time.Duration
	// Logger receives one line per transition. If nil, logs are discarded.
	Logger *slog.Logger
}

// withDefaults returns c with zero fields filled.
func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Rise <= 0 {
		c.Rise = DefaultRise
	}
	if c.Fall <= 0 {
		c.Fall = DefaultFall
	}
	if c.EjectAfter == 0 {
		c.EjectAfter = DefaultEjectAfter
	}
	if c.EjectTime <= 0 {
		c.EjectTime = DefaultEjectTime
	}
	if c.MaxEjectTime <= 0 {
		c.MaxEjectTime = max(DefaultMaxEjectTime, c.EjectTime)
	}
	if c.MaxEjectedShare == 0 {
		c.MaxEjectedShare = DefaultMaxEjectedShare
	}
	return c
}
