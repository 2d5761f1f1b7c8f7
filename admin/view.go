package admin

import (
	"net"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// Backend is one backend as /api/backends and the status page show it.
type Backend struct {
	Endpoint string `json:"endpoint"`
	// Source is the discovery source that named it: "static", "file",
	// "glob" or "mongodb"; empty if unknown.
	Source string `json:"source,omitempty"`
	// State is "up", "draining", "down" or "ejected" (a health checker
	// took it out); Reason says why it is not up.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// DiscoveredState is what discovery says: "ready", "draining" or
	// "down".
	DiscoveredState string `json:"discovered_state"`
	// Weight is the weight in force; DiscoveredWeight discovery's.
	Weight           int `json:"weight"`
	DiscoveredWeight int `json:"discovered_weight"`
	// Drained reports a drain through the API; WeightOverride a weight
	// set through the API (null when none). Both last until undone or
	// until the balancer restarts.
	Drained        bool `json:"drained"`
	WeightOverride *int `json:"weight_override"`
	// Active is the connections open to it now, Tunnels the tunnels
	// among them (WebSockets).
	Active  int64 `json:"active_connections"`
	Tunnels int64 `json:"tunnels"`
	// RequestsPerSecond, Responses5xx and Failures (connect attempts that
	// failed) are over the last minute.
	RequestsPerSecond float64 `json:"requests_per_second"`
	Responses5xx      int64   `json:"responses_5xx_last_minute"`
	Failures          int64   `json:"failures_last_minute"`
	// Health is the last health check; null if none.
	Health *HealthView `json:"health"`
}

// HealthView is Health in JSON.
type HealthView struct {
	// Checked is when the last active check ended, absent if unknown
	// (the backend was ejected by traffic before any check);
	// CheckedSecondsAgo is the time since, as of the answer, or -1.
	Checked           time.Time `json:"checked,omitzero"`
	CheckedSecondsAgo float64   `json:"checked_seconds_ago"`
	OK                bool      `json:"ok"`
	LatencySeconds    float64   `json:"latency_seconds"`
	Error             string    `json:"error,omitempty"`
	Ejected           bool      `json:"ejected"`
}

// Status is /api/status: the balancer itself.
type Status struct {
	Version       string    `json:"version"`
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Listeners     []string  `json:"listeners"`
	// Ready is what /readyz answers.
	Ready bool `json:"ready"`
	// Connections open now, and the bound (0: none).
	Connections int64 `json:"active_connections"`
	MaxConns    int   `json:"max_connections"`
	// Open file descriptors and their limit; -1 when unknown.
	OpenFDs int   `json:"open_fds"`
	FDLimit int64 `json:"fd_limit"`
	// Backends by state.
	Backends map[string]int `json:"backends"`
	// Discovery is MongoDB discovery's state; null without one.
	Discovery *DiscoveryView `json:"discovery"`
	// Engine holds the engine's counters since start.
	Engine *EngineView `json:"engine"`
}

// DiscoveryView is the MongoDB source's state.
type DiscoveryView struct {
	// StalenessSeconds is the time since the last successful query; -1
	// before the first.
	StalenessSeconds float64 `json:"staleness_seconds"`
	Failing          int64   `json:"failing"`
	Polls            int64   `json:"polls"`
	PollErrors       int64   `json:"poll_errors"`
}

// EngineView is engine.Stats in JSON.
type EngineView struct {
	Accepted        int64         `json:"accepted"`
	Tunnels         int64         `json:"tunnels"`
	BackendConnects int64         `json:"backend_connects"`
	BackendFailures int64         `json:"backend_failures"`
	BackendReuses   int64         `json:"backend_reuses"`
	BackendReplays  int64         `json:"backend_replays"`
	Switches        int64         `json:"switches"`
	Answered        map[int]int64 `json:"answered"` // the balancer's own answers, by status
	HeaderTimeouts  int64         `json:"header_timeouts"`
	IdleTimeouts    int64         `json:"idle_timeouts"`
	AcceptPauses    int64         `json:"accept_pauses"`
	ProxyInvalid    int64         `json:"proxy_invalid"`
}

// backends builds the view of every backend in the current snapshot, in
// endpoint order.
func (s *Server) backends() []Backend {
	b := s.cfg.Balancer
	discovered := map[string]affinity.Backend{}
	for _, d := range b.Discovered() {
		discovered[d.Endpoint] = d
	}
	overlays := b.Overlays()
	window := s.rates.window()
	now := time.Now()
	var out []Backend
	for _, m := range b.Snapshot().Members() {
		eff := m.Backend()
		d, ok := discovered[eff.Endpoint]
		if !ok {
			d = eff
		}
		if d.Weight == 0 {
			d.Weight = affinity.DefaultWeight
		}
		o := overlays[eff.Endpoint]
		v := Backend{
			Endpoint:         eff.Endpoint,
			DiscoveredState:  d.State.String(),
			Weight:           eff.Weight,
			DiscoveredWeight: d.Weight,
			Drained:          o.Drained,
			Active:           m.Active(),
		}
		if o.WeightSet {
			w := o.Weight
			v.WeightOverride = &w
		}
		if s.cfg.SourceOf != nil {
			v.Source = s.cfg.SourceOf(eff.Endpoint)
		}
		switch eff.State {
		case affinity.Ready:
			v.State = "up"
		case affinity.Draining:
			v.State = "draining"
			switch {
			case o.Drained:
				v.Reason = "drained through the API"
			case o.WeightSet && o.Weight == 0:
				v.Reason = "weight 0 set through the API"
			default:
				v.Reason = "discovery: state draining"
			}
		default:
			v.State, v.Reason = "down", "discovery: state down"
		}
		if s.cfg.Health != nil {
			if h, ok := s.cfg.Health(eff.Endpoint); ok {
				v.Health = &HealthView{Checked: h.Checked, CheckedSecondsAgo: -1, OK: h.OK, LatencySeconds: h.Latency.Seconds(), Error: h.Error, Ejected: h.Ejected}
				if !h.Checked.IsZero() {
					v.Health.CheckedSecondsAgo = max(0, now.Sub(h.Checked).Seconds())
				}
				switch {
				case h.Ejected && v.State != "down":
					v.State, v.Reason = "ejected", "health: "+h.Error
				case !h.OK && v.State == "up":
					v.State, v.Reason = "down", "health: "+h.Error
				}
			}
		}
		if r, ok := window[eff.Endpoint]; ok {
			v.RequestsPerSecond, v.Responses5xx, v.Failures, v.Tunnels = r.perSecond, r.resp5xx, r.failures, r.tunnels
		}
		out = append(out, v)
	}
	return out
}

// status builds /api/status.
func (s *Server) status() Status {
	now := time.Now()
	st := Status{
		Version:       s.cfg.Version,
		Started:       s.started,
		UptimeSeconds: now.Sub(s.started).Seconds(),
		Ready:         s.ready(),
		OpenFDs:       openFDs(),
		FDLimit:       fdLimit(),
		Backends:      map[string]int{"up": 0, "draining": 0, "down": 0},
	}
	for _, b := range s.backends() {
		st.Backends[b.State]++
	}
	if e := s.cfg.Engine; e != nil {
		st.Listeners = addrStrings(e.Addrs())
		es := e.Stats()
		st.Connections, st.MaxConns = es.Active, e.MaxConns()
		st.Engine = &EngineView{
			Accepted: es.Accepted, Tunnels: es.Tunnels, BackendConnects: es.BackendConnects,
			BackendFailures: es.BackendFailures, BackendReuses: es.BackendReuses,
			BackendReplays: es.BackendReplays, Switches: es.Switches,
			Answered: map[int]int64{400: es.Status400, 414: es.Status414, 431: es.Status431,
				502: es.Status502, 503: es.Status503, 504: es.Status504},
			HeaderTimeouts: es.HeaderTimeouts, IdleTimeouts: es.IdleTimeouts,
			AcceptPauses: es.AcceptPauses, ProxyInvalid: es.ProxyInvalid,
		}
	}
	if s.cfg.Registry != nil {
		r := s.cfg.Registry.Snapshot()
		d := &DiscoveryView{StalenessSeconds: -1, Failing: r.Failing, Polls: r.Polls, PollErrors: r.PollErrors}
		if r.Polls > 0 {
			d.StalenessSeconds = r.Staleness.Seconds()
		}
		st.Discovery = d
	}
	return st
}

// ready reports whether the balancer can take traffic: it is not
// stopping and some backend is up or draining.
func (s *Server) ready() bool {
	if s.stopping.Load() {
		return false
	}
	for _, m := range s.cfg.Balancer.Snapshot().Members() {
		if m.Backend().State != affinity.Down {
			return true
		}
	}
	return false
}

func addrStrings(as []net.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}
