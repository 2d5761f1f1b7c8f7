package main

import (
	"fmt"
	"io"

	"github.com/l4lb/l4lb/health"
)

// writeHealth writes the health checker's metrics, and the engine's
// response timeouts, in the Prometheus text format.
func (m metricsSources) writeHealth(w io.Writer) {
	if m.engine != nil {
		fmt.Fprintf(w, "# HELP l4lb_engine_response_timeouts_total HTTP requests answered 504 because no response byte came within --response-timeout.\n# TYPE l4lb_engine_response_timeouts_total counter\nl4lb_engine_response_timeouts_total %d\n", m.engine.Stats().ResponseTimeouts)
	}
	if m.health == nil {
		return
	}
	s := m.health.Stats()
	fmt.Fprintf(w, "# HELP l4lb_backend_up Whether health checking lets the backend take traffic (1) or holds it out (0); the log says why.\n# TYPE l4lb_backend_up gauge\n")
	for _, b := range s.Backends {
		up := 0
		if b.Up {
			up = 1
		}
		fmt.Fprintf(w, "l4lb_backend_up{backend=%q} %d\n", b.Endpoint, up)
	}
	fmt.Fprintf(w, "# HELP l4lb_backend_share Share of its weight of keyless traffic a backend takes (below 1 while it ramps up).\n# TYPE l4lb_backend_share gauge\n")
	for _, b := range s.Backends {
		fmt.Fprintf(w, "l4lb_backend_share{backend=%q} %g\n", b.Endpoint, b.Share)
	}
	fmt.Fprintf(w, "# HELP l4lb_health_checks_total Active health checks, by result.\n# TYPE l4lb_health_checks_total counter\n")
	fmt.Fprintf(w, "l4lb_health_checks_total{result=\"pass\"} %d\nl4lb_health_checks_total{result=\"fail\"} %d\n", s.ChecksPassed, s.ChecksFailed)
	fmt.Fprintf(w, "# HELP l4lb_health_check_duration_seconds Duration of active health checks.\n# TYPE l4lb_health_check_duration_seconds histogram\n")
	var cum int64
	for i, n := range s.CheckDurations {
		cum += n
		le := "+Inf"
		if i < len(health.CheckBuckets) {
			le = fmt.Sprint(health.CheckBuckets[i].Seconds())
		}
		fmt.Fprintf(w, "l4lb_health_check_duration_seconds_bucket{le=%q} %d\n", le, cum)
	}
	fmt.Fprintf(w, "l4lb_health_check_duration_seconds_sum %g\nl4lb_health_check_duration_seconds_count %d\n", s.CheckTime.Seconds(), cum)
	fmt.Fprintf(w, "# HELP l4lb_health_failures_total Failures of real traffic reported by the data plane, by reason.\n# TYPE l4lb_health_failures_total counter\n")
	for i, f := range health.Failures {
		fmt.Fprintf(w, "l4lb_health_failures_total{reason=%q} %d\n", f, s.Failures[i])
	}
	fmt.Fprintf(w, "# HELP l4lb_health_ejections_total Backends ejected by passive health checking, by reason.\n# TYPE l4lb_health_ejections_total counter\n")
	for i, f := range health.Failures {
		fmt.Fprintf(w, "l4lb_health_ejections_total{reason=%q} %d\n", f, s.Ejections[i])
	}
	fmt.Fprintf(w, "# HELP l4lb_health_ejections_refused_total Ejections not made because --eject-max-share of the backends was out already.\n# TYPE l4lb_health_ejections_refused_total counter\nl4lb_health_ejections_refused_total %d\n", s.EjectionsRefused)
}
