package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
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

// serviceSet is the services one balancer serves: the default one first.
type serviceSet struct {
	names     []string
	balancers []*affinity.Balancer
	engine    []engine.Service // all but the default
	routes    []engine.Route
}

// services builds the service set of c: the default service, every
// service a route names and every public service.
func (c *serveConfig) services() (*serviceSet, error) {
	def := c.defaultService()
	s := &serviceSet{names: []string{def}, balancers: []*affinity.Balancer{affinity.NewBalancer()}}
	add := func(name string) {
		if slices.Contains(s.names, name) {
			return
		}
		b := affinity.NewBalancer()
		s.names = append(s.names, name)
		s.balancers = append(s.balancers, b)
		s.engine = append(s.engine, engine.Service{Name: name, Balancer: b, Public: slices.Contains(c.publicServices.values, name)})
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
	return s, nil
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
