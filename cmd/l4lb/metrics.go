package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/health"
	"github.com/l4lb/l4lb/registry"
)

// metricsSources is what /metrics reports on. Each may be nil.
type metricsSources struct {
	engine   *engine.Server
	balancer *affinity.Balancer
	sessions *affinity.Sessions
	registry *registry.Metrics
	health   *health.Checker
}

// writePrometheus writes every metric in the Prometheus text format.
func (m metricsSources) writePrometheus(w io.Writer) error {
	if m.engine != nil {
		s := m.engine.Stats()
		counters := []struct {
			name, help string
			v          int64
		}{
			{"l4lb_engine_accepted_total", "Client connections accepted.", s.Accepted},
			{"l4lb_engine_tunnels_total", "Connections that became raw tunnels (101 or not HTTP).", s.Tunnels},
			{"l4lb_engine_backend_connects_total", "Backend connections established.", s.BackendConnects},
			{"l4lb_engine_backend_failures_total", "Backend connection attempts that failed or timed out.", s.BackendFailures},
			{"l4lb_engine_switches_total", "Requests routed to another backend than the previous request of their connection.", s.Switches},
			{"l4lb_engine_header_timeouts_total", "Connections closed by the header timeout.", s.HeaderTimeouts},
			{"l4lb_engine_idle_timeouts_total", "Connections closed by the idle timeout.", s.IdleTimeouts},
			{"l4lb_engine_proxy_invalid_total", "Client connections closed for want of a valid PROXY header (--accept-proxy).", s.ProxyInvalid},
			{"l4lb_engine_accept_pauses_total", "Times a loop stopped accepting: at the connection limit, or out of file descriptors.", s.AcceptPauses},
		}
		for _, c := range counters {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
		}
		fmt.Fprintf(w, "# HELP l4lb_engine_active_connections Client connections open now.\n# TYPE l4lb_engine_active_connections gauge\nl4lb_engine_active_connections %d\n", s.Active)
		fmt.Fprintf(w, "# HELP l4lb_engine_max_connections The bound on open client connections (0: none).\n# TYPE l4lb_engine_max_connections gauge\nl4lb_engine_max_connections %d\n", m.engine.MaxConns())
		fmt.Fprintf(w, "# HELP l4lb_engine_responses_total Responses the balancer answered itself, by status.\n# TYPE l4lb_engine_responses_total counter\n")
		for _, r := range []struct {
			code int
			v    int64
		}{{400, s.Status400}, {414, s.Status414}, {431, s.Status431}, {502, s.Status502}, {503, s.Status503}, {504, s.Status504}} {
			fmt.Fprintf(w, "l4lb_engine_responses_total{code=\"%d\"} %d\n", r.code, r.v)
		}
	}
	if m.balancer != nil {
		fmt.Fprintf(w, "# HELP l4lb_affinity_backend_active_connections Backend connections open now, by backend and state.\n# TYPE l4lb_affinity_backend_active_connections gauge\n")
		for _, mem := range m.balancer.Snapshot().Members() {
			b := mem.Backend()
			fmt.Fprintf(w, "l4lb_affinity_backend_active_connections{backend=%q,state=%q} %d\n", b.Endpoint, b.State, mem.Active())
		}
	}
	m.writeHealth(w)
	writeSessionMetrics(w, m.sessions)
	if m.registry != nil {
		return m.registry.WritePrometheus(w)
	}
	return nil
}

// serveMetrics answers GET /metrics on addr until ctx is done. It is off
// the data path: a scrape reads atomic counters and one snapshot.
func serveMetrics(ctx context.Context, addr string, listen func(addr string) (net.Listener, error), m metricsSources, log *slog.Logger) error {
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.writePrometheus(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("metrics", "listener", ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "listener", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}
