package main

import (
	"github.com/l4lb/l4lb/health"
	"github.com/prometheus/client_golang/prometheus"
)

// healthCollector exposes a health checker's state and counters on the
// admin listener's /metrics.
type healthCollector struct{ chk *health.Checker }

var (
	dBackendUp        = prometheus.NewDesc("l4lb_backend_up", "Whether health checking lets the backend take traffic (1) or holds it out (0); the log says why.", []string{"backend"}, nil)
	dBackendShare     = prometheus.NewDesc("l4lb_backend_share", "Share of its weight of keyless traffic a backend takes (below 1 while it ramps up).", []string{"backend"}, nil)
	dHealthChecks     = prometheus.NewDesc("l4lb_health_checks_total", "Active health checks, by result.", []string{"result"}, nil)
	dHealthDuration   = prometheus.NewDesc("l4lb_health_check_duration_seconds", "Duration of active health checks.", nil, nil)
	dHealthFailures   = prometheus.NewDesc("l4lb_health_failures_total", "Failures of real traffic reported by the data plane, by reason.", []string{"reason"}, nil)
	dHealthEjections  = prometheus.NewDesc("l4lb_health_ejections_total", "Backends ejected by passive health checking, by reason.", []string{"reason"}, nil)
	dHealthEjRefused  = prometheus.NewDesc("l4lb_health_ejections_refused_total", "Ejections not made because --eject-max-share of the backends was out already.", nil, nil)
	healthDescriptors = []*prometheus.Desc{dBackendUp, dBackendShare, dHealthChecks, dHealthDuration, dHealthFailures, dHealthEjections, dHealthEjRefused}
)

func (healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range healthDescriptors {
		ch <- d
	}
}

func (h healthCollector) Collect(ch chan<- prometheus.Metric) {
	s := h.chk.Stats()
	for _, b := range s.Backends {
		up := 0.0
		if b.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(dBackendUp, prometheus.GaugeValue, up, b.Endpoint)
		ch <- prometheus.MustNewConstMetric(dBackendShare, prometheus.GaugeValue, b.Share, b.Endpoint)
	}
	ch <- prometheus.MustNewConstMetric(dHealthChecks, prometheus.CounterValue, float64(s.ChecksPassed), "pass")
	ch <- prometheus.MustNewConstMetric(dHealthChecks, prometheus.CounterValue, float64(s.ChecksFailed), "fail")
	buckets := make(map[float64]uint64, len(health.CheckBuckets))
	var cum uint64
	for i, n := range s.CheckDurations {
		cum += uint64(n)
		if i < len(health.CheckBuckets) {
			buckets[health.CheckBuckets[i].Seconds()] = cum
		}
	}
	ch <- prometheus.MustNewConstHistogram(dHealthDuration, cum, s.CheckTime.Seconds(), buckets)
	for i, f := range health.Failures {
		reason := f.String()
		ch <- prometheus.MustNewConstMetric(dHealthFailures, prometheus.CounterValue, float64(s.Failures[i]), reason)
		ch <- prometheus.MustNewConstMetric(dHealthEjections, prometheus.CounterValue, float64(s.Ejections[i]), reason)
	}
	ch <- prometheus.MustNewConstMetric(dHealthEjRefused, prometheus.CounterValue, float64(s.EjectionsRefused))
}
