package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/health"
	"github.com/l4lb/l4lb/registry"
)

// routesFlag is the repeatable --route flag: "host=H,path=P,service=S" or
// "sni=H,service=S". Its environment variable (L4LB_ROUTES) separates
// routes with ';', since a route holds commas.
type routesFlag struct{ listFlag }

func (r *routesFlag) setFromEnv(v string) { r.setSplit(v, ";") }

// parseRoute reads one --route value.
func parseRoute(v string) (engine.Route, error) {
	var r engine.Route
	for kv := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || val == "" {
			return r, fmt.Errorf("route %q: %q is not key=value", v, kv)
		}
		switch k {
		case "host":
			r.Host = val
		case "path":
			r.PathPrefix = val
		case "sni":
			r.SNI = val
		case "service":
			r.Service = val
		default:
			return r, fmt.Errorf("route %q: unknown key %q: want host, path, sni or service", v, k)
		}
	}
	if r.Service == "" {
		return r, fmt.Errorf("route %q: no service=", v)
	}
	return r, nil
}

// defaultService is the service of traffic no route matches:
// --ui-service, else --service.
func (c *serveConfig) defaultService() string {
	if c.uiService != "" {
		return c.uiService
	}
	return c.service
}

// serviceOptionsFlag is the repeatable --service-option flag:
// "NAME:key=value,key=value". Its environment variable
// (L4LB_SERVICE_OPTIONS) separates services with ';'.
type serviceOptionsFlag struct{ listFlag }

func (f *serviceOptionsFlag) setFromEnv(v string) { f.setSplit(v, ";") }

// serviceOptions are one service's own settings; an empty field leaves
// the balancer-wide flag in force.
type serviceOptions struct {
	prefixes, cookies []string // --sockjs-prefix, --sticky-cookie
	stickyInsert      string   // --sticky-insert
	proxy             string   // --proxy-protocol
	health            string   // --health-check
}

// parseServiceOptions reads the --service-option values into options by
// service name; a service may be named in several values.
func parseServiceOptions(vs []string) (map[string]*serviceOptions, error) {
	out := map[string]*serviceOptions{}
	for _, v := range vs {
		name, rest, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || rest == "" {
			return nil, fmt.Errorf("--service-option %q: want NAME:key=value,...", v)
		}
		o := out[name]
		if o == nil {
			o = &serviceOptions{}
			out[name] = o
		}
		for kv := range strings.SplitSeq(rest, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || val == "" {
				return nil, fmt.Errorf("--service-option %q: %q is not key=value", v, kv)
			}
			switch k {
			case "sockjs-prefix":
				o.prefixes = append(o.prefixes, val)
			case "sticky-cookie":
				o.cookies = append(o.cookies, val)
			case "sticky-insert":
				o.stickyInsert = val
			case "proxy":
				if _, err := affinity.ParseProxyProtocol(val); err != nil {
					return nil, fmt.Errorf("--service-option %q: proxy: %w", v, err)
				}
				o.proxy = val
			case "health":
				if _, err := health.ParseCheck(val); err != nil {
					return nil, fmt.Errorf("--service-option %q: health: %w", v, err)
				}
				o.health = val
			default:
				return nil, fmt.Errorf("--service-option %q: unknown key %q: want sockjs-prefix, sticky-cookie, sticky-insert, proxy or health", v, k)
			}
		}
	}
	return out, nil
}

// serviceSet is the services one balancer serves: the default one first.
type serviceSet struct {
	names     []string
	balancers []*affinity.Balancer
	engine    []engine.Service // all but the default
	routes    []engine.Route
	// watched reports, by index, whether the service is watched and
	// checked: the default and the public ones. A private service is only
	// named by routes that answer 404; its instances are never contacted.
	watched []bool
	// opts are the services' own settings, by index (never nil).
	opts []*serviceOptions
}

// watchedNames returns the names of the services that are watched.
func (s *serviceSet) watchedNames() []string {
	var out []string
	for i, n := range s.names {
		if s.watched[i] {
			out = append(out, n)
		}
	}
	return out
}

// services builds the service set of c: the default service, every
// service a route names and every public service.
func (c *serveConfig) services() (*serviceSet, error) {
	def := c.defaultService()
	opts, err := parseServiceOptions(c.serviceOptions.values)
	if err != nil {
		return nil, err
	}
	optsOf := func(name string) *serviceOptions {
		if o := opts[name]; o != nil {
			return o
		}
		return &serviceOptions{}
	}
	s := &serviceSet{names: []string{def}, balancers: []*affinity.Balancer{affinity.NewBalancer()},
		watched: []bool{true}, opts: []*serviceOptions{optsOf(def)}}
	add := func(name string) {
		if slices.Contains(s.names, name) {
			return
		}
		b, o := affinity.NewBalancer(), optsOf(name)
		public := slices.Contains(c.publicServices.values, name)
		s.names = append(s.names, name)
		s.balancers = append(s.balancers, b)
		s.watched = append(s.watched, public)
		s.opts = append(s.opts, o)
		s.engine = append(s.engine, engine.Service{Name: name, Balancer: b, Public: public,
			Prefixes: o.prefixes, Cookies: o.cookies, StickyInsert: o.stickyInsert})
	}
	for _, v := range c.routes.values {
		r, err := parseRoute(v)
		if err != nil {
			return nil, fmt.Errorf("--route: %w", err)
		}
		s.routes = append(s.routes, r)
		add(r.Service)
	}
	for _, name := range c.publicServices.values {
		add(name)
	}
	for name := range opts {
		if !slices.Contains(s.names, name) {
			return nil, fmt.Errorf("--service-option %s: no such service (the default, a public one or one a --route names)", name)
		}
	}
	return s, nil
}

// withProxy gives every backend of set that has no PROXY setting of its
// own (from discovery or the backends file) the service's, pp; the
// engine's and the health checks' --proxy-protocol applies to the rest.
func withProxy(set []affinity.Backend, pp affinity.ProxyProtocol) {
	for i := range set {
		if set[i].ProxyProtocol == affinity.ProxyDefault {
			set[i].ProxyProtocol = pp
		}
	}
}

// serviceSources returns the sources that can tell the backends of
// service i of s: all of them for the default service; for another, only
// those that know services (a backends file's service= lines, MongoDB
// discovery), since --backend endpoints belong to the default service.
func serviceSources(sources []registry.Source, i int) []registry.Source {
	if i == 0 {
		return sources
	}
	var out []registry.Source
	for _, src := range sources {
		// The source names (sourcenames.go) are the default service's:
		// the other services watch the sources themselves.
		if n, ok := src.(namedSource); ok {
			src = n.src
		}
		switch src.(type) {
		case *registry.File, *registry.Mongo:
			out = append(out, src)
		}
	}
	return out
}

// withEndpointHashes gives every backend of set without an EndpointHash
// (those not from MongoDB) the hash of its canonical endpoint: the
// --sticky-insert cookie names it, the same on every balancer configured
// alike.
func withEndpointHashes(set []affinity.Backend) {
	for i := range set {
		if set[i].EndpointHash == "" {
			set[i].EndpointHash = registry.EndpointHash(set[i].Endpoint)
		}
	}
}
