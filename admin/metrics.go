package admin

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/l4lb/l4lb/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// registry builds the /metrics registry: the engine's, the balancer's and
// discovery's metrics (collected at scrape time from their counters), Go
// runtime and process collectors, and Config.Collectors.
func (s *Server) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{s: s},
	)
	for _, c := range s.cfg.Collectors {
		reg.MustRegister(c)
	}
	return reg
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The engine's counters keep the names the hand-written exposition had.
var (
	engineCounters = []struct {
		d  *prometheus.Desc
		of func(engine.Stats) int64
	}{
		{desc("l4lb_engine_accepted_total", "Client connections accepted."), func(s engine.Stats) int64 { return s.Accepted }},
		{desc("l4lb_engine_tunnels_total", "Connections that became raw tunnels (101 or not HTTP)."), func(s engine.Stats) int64 { return s.Tunnels }},
		{desc("l4lb_engine_backend_connects_total", "Backend connections established."), func(s engine.Stats) int64 { return s.BackendConnects }},
		{desc("l4lb_engine_backend_failures_total", "Backend connection attempts that failed or timed out."), func(s engine.Stats) int64 { return s.BackendFailures }},
		{desc("l4lb_engine_backend_reuses_total", "Requests sent on a parked idle backend connection instead of a new one."), func(s engine.Stats) int64 { return s.BackendReuses }},
		{desc("l4lb_engine_backend_replays_total", "Requests sent again on a new backend connection because the reused one closed before answering."), func(s engine.Stats) int64 { return s.BackendReplays }},
		{desc("l4lb_engine_switches_total", "Requests routed to another backend than the previous request of their connection."), func(s engine.Stats) int64 { return s.Switches }},
		{desc("l4lb_engine_header_timeouts_total", "Connections closed by the header timeout."), func(s engine.Stats) int64 { return s.HeaderTimeouts }},
		{desc("l4lb_engine_idle_timeouts_total", "Connections closed by the idle timeout."), func(s engine.Stats) int64 { return s.IdleTimeouts }},
		{desc("l4lb_engine_proxy_invalid_total", "Client connections closed for want of a valid PROXY header (--accept-proxy)."), func(s engine.Stats) int64 { return s.ProxyInvalid }},
		{desc("l4lb_engine_response_timeouts_total", "HTTP requests answered 504 because no response byte came within --response-timeout."), func(s engine.Stats) int64 { return s.ResponseTimeouts }},
		{desc("l4lb_engine_marked_down_answers_total", "HTTP requests answered 502 because their backend was marked down, not answering, while they waited for its response."), func(s engine.Stats) int64 { return s.MarkedDownAnswers }},
		{desc("l4lb_engine_marked_down_redials_total", "Connects in progress moved to the next candidate because their backend was marked down, not answering."), func(s engine.Stats) int64 { return s.MarkedDownRedials }},
		{desc("l4lb_engine_accept_pauses_total", "Times a loop stopped accepting: at the connection limit, or out of file descriptors."), func(s engine.Stats) int64 { return s.AcceptPauses }},
	}
	dActive    = desc("l4lb_engine_active_connections", "Client connections open now.")
	dMaxConns  = desc("l4lb_engine_max_connections", "The bound on open client connections (0: none).")
	dResponses = desc("l4lb_engine_responses_total", "Responses the balancer answered itself, by status.", "code")

	dBackendActive = desc("l4lb_affinity_backend_active_connections", "Backend connections open now, by backend and state.", "backend", "state")

	dRequests  = desc("l4lb_engine_backend_requests_total", "HTTP exchanges (an upgrade counts once) and non-HTTP tunnels served, by backend.", "backend")
	d5xx       = desc("l4lb_engine_backend_responses_5xx_total", "Backend responses with a status of 500 or more, by backend.", "backend")
	dFailures  = desc("l4lb_engine_backend_connect_failures_total", "Connect attempts that failed or timed out, by backend.", "backend")
	dTunnels   = desc("l4lb_engine_backend_tunnels", "Tunnels (WebSockets) open now, by backend.", "backend")
	dConnect   = desc("l4lb_engine_backend_connect_seconds", "Time from the start of a backend connect to its success.", "backend")
	dFirstByte = desc("l4lb_engine_backend_first_byte_seconds", "Time from a request head's arrival to its response's first byte.", "backend")
	dDuration  = desc("l4lb_engine_request_duration_seconds", "Time from a request head's arrival to the end of its response (tunnels not counted).", "backend")

	dPolls      = desc("l4lb_registry_polls_total", "Discovery queries that succeeded.")
	dPollErrors = desc("l4lb_registry_poll_errors_total", "Discovery queries that failed.")
	dPollTime   = desc("l4lb_registry_poll_seconds_total", "Time spent in successful discovery queries.")
	dUpdates    = desc("l4lb_registry_updates_total", "Backend sets handed to the balancer.")
	dDeleted    = desc("l4lb_registry_deleted_total", "Stale endpoint documents deleted.")
	dFailing    = desc("l4lb_registry_failing", "Discovery poll loops whose watches serve their last known sets because the query fails.")
	dStaleness  = desc("l4lb_registry_staleness_seconds", "Time since the last successful discovery query.")
)

// bucketBounds are engine.HistogramBounds in seconds.
var bucketBounds = func() []float64 {
	b := make([]float64, len(engine.HistogramBounds))
	for i, d := range engine.HistogramBounds {
		b[i] = d.Seconds()
	}
	return b
}()

// collector reads the counters at scrape time: the data path keeps only
// plain counters and per-loop histogram buckets, and nothing here runs
// per request.
type collector struct{ s *Server }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, e := range engineCounters {
		ch <- e.d
	}
	for _, d := range []*prometheus.Desc{dActive, dMaxConns, dResponses, dBackendActive,
		dRequests, d5xx, dFailures, dTunnels, dConnect, dFirstByte, dDuration,
		dPolls, dPollErrors, dPollTime, dUpdates, dDeleted, dFailing, dStaleness} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if e := s.cfg.Engine; e != nil {
		st := e.Stats()
		for _, m := range engineCounters {
			counter(m.d, float64(m.of(st)))
		}
		gauge(dActive, float64(st.Active))
		gauge(dMaxConns, float64(e.MaxConns()))
		for _, r := range []struct {
			code int
			v    int64
		}{{400, st.Status400}, {414, st.Status414}, {431, st.Status431}, {502, st.Status502}, {503, st.Status503}, {504, st.Status504}} {
			counter(dResponses, float64(r.v), strconv.Itoa(r.code))
		}
		for _, b := range e.BackendStats() {
			counter(dRequests, float64(b.Requests), b.Endpoint)
			counter(d5xx, float64(b.Responses5xx), b.Endpoint)
			counter(dFailures, float64(b.Failures), b.Endpoint)
			gauge(dTunnels, float64(b.Tunnels), b.Endpoint)
			ch <- constHistogram(dConnect, &b.Connect, b.Endpoint)
			ch <- constHistogram(dFirstByte, &b.FirstByte, b.Endpoint)
			ch <- constHistogram(dDuration, &b.Duration, b.Endpoint)
		}
	}
	for _, m := range s.cfg.Balancer.Snapshot().Members() {
		b := m.Backend()
		gauge(dBackendActive, float64(m.Active()), b.Endpoint, b.State.String())
	}
	if s.cfg.Registry != nil {
		r := s.cfg.Registry.Snapshot()
		counter(dPolls, float64(r.Polls))
		counter(dPollErrors, float64(r.PollErrors))
		counter(dPollTime, r.PollTime.Seconds())
		counter(dUpdates, float64(r.Updates))
		counter(dDeleted, float64(r.Deleted))
		gauge(dFailing, float64(r.Failing))
		gauge(dStaleness, r.Staleness.Seconds())
	}
}

// constHistogram turns an engine histogram into a Prometheus one, with
// cumulative buckets.
func constHistogram(d *prometheus.Desc, h *engine.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bucketBounds))
	var cum uint64
	for i, b := range bucketBounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	cum += h.Counts[len(bucketBounds)]
	return prometheus.MustNewConstHistogram(d, cum, h.Sum.Seconds(), buckets, labels...)
}

// slogPrinter lets promhttp log its errors through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics: " + fmt.Sprint(v...)) }
