package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the admin surface's handler: what Start serves.
//
//	GET  /                                  the status page
//	GET  /api/status                        the balancer (Status)
//	GET  /api/backends                      every backend ([]Backend)
//	POST /api/backends/{endpoint}/drain     drain it (an overlay, see affinity.Overlay)
//	POST /api/backends/{endpoint}/undrain   undo drain
//	POST /api/backends/{endpoint}/weight    weight=N (0-256), or weight=discovery to undo
//	GET  /metrics                           Prometheus metrics
//	GET  /healthz                           200 while the process serves (no token needed)
//	GET  /readyz                            200 with a backend to send to, 503 otherwise (no token needed)
//
// {endpoint} is a backend's endpoint as /api/backends lists it,
// percent-encoded, or in a short form: "host:port" for "tcp://host:port",
// and "unix:/path" as is.
func (s *Server) Handler() http.Handler {
	guarded := http.NewServeMux()
	guarded.HandleFunc("GET /{$}", s.page)
	guarded.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.status()) })
	guarded.HandleFunc("GET /api/backends", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.backends()) })
	guarded.HandleFunc("POST /api/backends/{rest...}", s.change)
	guarded.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.cfg.Logger}}))

	// The probes need no token: a cloud load balancer or an orchestrator
	// cannot send one.
	probes := http.NewServeMux()
	probes.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	probes.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.ready() {
			writeText(w, http.StatusOK, "ready\n")
			return
		}
		writeText(w, http.StatusServiceUnavailable, "not ready: no backend up, or shutting down\n")
	})
	mux := http.NewServeMux()
	mux.Handle("/healthz", probes)
	mux.Handle("/readyz", probes)
	mux.Handle("/", s.guard(guarded))
	return mux
}

// change applies POST /api/backends/{endpoint}/{action}.
func (s *Server) change(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		httpError(w, http.StatusNotFound, "want /api/backends/{endpoint}/drain, /undrain or /weight")
		return
	}
	action := rest[i+1:]
	ep, err := endpointOf(rest[:i])
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	b := s.cfg.Balancer
	log := s.cfg.Logger.With("backend", ep, "remote", r.RemoteAddr)
	switch action {
	case "drain":
		err = b.Drain(ep)
		if err == nil {
			log.Info("backend drained through the admin API")
		}
	case "undrain":
		err = b.Undrain(ep)
		if err == nil {
			log.Info("backend undrained through the admin API")
		}
	case "weight":
		v := r.FormValue("weight")
		if v == "discovery" {
			err = b.ResetWeight(ep)
			if err == nil {
				log.Info("backend weight back to discovery's through the admin API")
			}
			break
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > affinity.MaxOverlayWeight {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("weight %q: want an integer in [0, %d], or discovery", v, affinity.MaxOverlayWeight))
			return
		}
		err = b.SetWeight(ep, n)
		if err == nil {
			log.Info("backend weight set through the admin API", "weight", n)
		}
	default:
		httpError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q: want drain, undrain or weight", action))
		return
	}
	switch {
	case errors.Is(err, affinity.ErrUnknownBackend):
		httpError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.FormValue("then") == "page" {
		// The status page's buttons: back to the page.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	for _, v := range s.backends() {
		if v.Endpoint == ep {
			writeJSON(w, v)
			return
		}
	}
	// Undone for an endpoint that is not in the set: nothing to show.
	writeJSON(w, map[string]string{"endpoint": ep})
}

// endpointOf reads an endpoint from a request path: canonical, or a short
// form registry.NormalizeEndpoint reads.
func endpointOf(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty endpoint")
	}
	ep, err := registry.NormalizeEndpoint(s)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: want tcp://host:port, host:port or unix:/path (percent-encoded as needed)", s)
	}
	return ep, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write([]byte(msg))
}

// httpError answers code with a JSON error body.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
