// Package admin is l4lb's admin listener: a status page for people, a
// JSON API to drain and weigh backends at run time, health and readiness
// endpoints, and Prometheus metrics. It reads the data plane (engine), the
// balancer (affinity) and discovery's counters (registry); it is never on
// the data path, and nothing of it is reachable from the public listeners.
//
//	a, err := admin.New(admin.Config{Listen: "127.0.0.1:9180", Balancer: bal, Engine: srv})
//	if err != nil { ... } // a non-loopback address without a token is refused
//	a.Start()
//	defer a.Close()
//
// # Endpoints
//
//	GET  /                                  status page (HTML, reloads itself every 5 s)
//	GET  /api/status                        the balancer: version, uptime, listeners, connections, fds, discovery
//	GET  /api/backends                      every backend: state and why, source, weight, connections, rates
//	POST /api/backends/{endpoint}/drain     drain: keeps its sessions, takes no new keyless traffic
//	POST /api/backends/{endpoint}/undrain   undo drain
//	POST /api/backends/{endpoint}/weight    weight=N in [0, 256] (0 drains), or weight=discovery to undo
//	GET  /metrics                           Prometheus text exposition
//	GET  /healthz                           200 while the process serves
//	GET  /readyz                            200 while some backend can take traffic and no shutdown runs
//
// {endpoint} is "host:port" for "tcp://host:port", "unix:/path" as is, or
// any endpoint percent-encoded ("tcp%3A%2F%2Fhost%3A3000"). A drain or a
// weight is an overlay on what discovery says (affinity.Overlay): it lasts
// until it is undone through the API or the balancer restarts; it is not
// written back to discovery, and other balancer processes do not see it.
//
// # Security
//
// State changes need POST (anything else gets 405). A TCP address that
// is not loopback is refused unless Config.Token is set; with a token,
// every request but /healthz and /readyz needs it (401 otherwise), as a
// bearer token or as the basic-authentication password that a browser
// asks for. A UNIX socket path is created mode 0600 and needs no token.
// Without a token, requests must name a loopback host, so that a web page
// cannot reach the listener by DNS rebinding, and cross-origin POSTs from
// browsers are refused (http.CrossOriginProtection), so that a page
// elsewhere cannot drain a backend with a form. Values that come from
// discovery (endpoints, reasons) are escaped by html/template, and the page
// is served with a Content-Security-Policy that allows no script at all.
//
// # Metrics
//
// Metrics are collected at scrape time from counters the engine keeps
// per event loop (engine.Config.BackendStats): the data path does a few
// atomic adds on counters of its own loop and never touches a Prometheus
// type. The engine's counters keep the names of the earlier hand-written
// exposition (l4lb_engine_*, l4lb_affinity_backend_active_connections,
// l4lb_registry_*); the histograms are l4lb_engine_backend_connect_seconds,
// l4lb_engine_backend_first_byte_seconds and
// l4lb_engine_request_duration_seconds, labelled by backend. Backend label
// values are bounded by engine.MaxStatsBackends per loop.
//
// # What it does not do
//
// It does not persist overlays, share them between balancer processes,
// edit discovery documents, or check backends' health itself (Config.Health
// shows what a checker reports). The page has no JavaScript; it reloads
// with a meta refresh.
package admin
