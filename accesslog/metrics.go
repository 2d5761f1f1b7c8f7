package accesslog

import "github.com/prometheus/client_golang/prometheus"

var (
	dLines       = prometheus.NewDesc("l4lb_accesslog_lines_total", "Access log lines written.", nil, nil)
	dDropped     = prometheus.NewDesc("l4lb_accesslog_dropped_total", "Access log lines dropped because the writer's queue was full.", nil, nil)
	dWriteErrors = prometheus.NewDesc("l4lb_accesslog_write_errors_total", "Access log writes that failed.", nil, nil)
)

// Collector returns the Logger's metrics for a Prometheus registry.
func (l *Logger) Collector() prometheus.Collector { return collector{l} }

type collector struct{ l *Logger }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dLines
	ch <- dDropped
	ch <- dWriteErrors
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dLines, prometheus.CounterValue, float64(c.l.Lines()))
	ch <- prometheus.MustNewConstMetric(dDropped, prometheus.CounterValue, float64(c.l.Dropped()))
	ch <- prometheus.MustNewConstMetric(dWriteErrors, prometheus.CounterValue, float64(c.l.WriteErrors()))
}
