package engine

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
)

// Service is a service behind the same listeners as the default one
// (Config.Balancer): its own backends, table and counters, reached
// through Config.Routes and meteorhacks:cluster's /cluster-ddp/ routes.
type Service struct {
	// Name is the service's name (meteorhacks:cluster's serviceName): a
	// non-empty word of [0-9A-Za-z_-], unique among Config.Service and
	// Config.Services.
	Name string
	// Balancer holds the service's backends. Required.
	Balancer *affinity.Balancer
	// Public reports whether clients may reach the service. A request or
	// TLS connection that a route or a /cluster-ddp/ path sends to a
	// service that is not public is refused: an HTTP request gets 404 and
	// its connection closes, a TLS connection is closed. It never reaches
	// one of the service's backends, whatever its Host, path or SNI say.
	// The default service is always reachable.
	Public bool
	// Prefixes are the service's SockJS prefixes (its instances'
	// ROOT_URL_PATH_PREFIX + "/sockjs"), like Config.Sniff.Prefixes for
	// the default service: a request of the service is keyed by its SockJS
	// session only under one of them, and a /cluster-ddp/ path of the
	// service is rewritten to the first. If nil, the default service's
	// prefixes apply.
	Prefixes []string
	// Cookies are the service's sticky cookies, like Config.Sniff.Cookies
	// for the default service: a request of the service is keyed by the
	// first of them it carries. If nil, the default service's apply.
	Cookies []string
	// StickyInsert is Config.StickyInsert for this service: if not empty,
	// the cookie that responses of the service set and that pins its
	// requests to one of its instances. Services reached on one host
	// (by path) need distinct names: a browser sends every cookie of the
	// host to each of them, and a service ignores the others' cookies.
	StickyInsert string
}

// Route sends matching traffic to a service. Routes are tried in order and
// the first match wins; traffic no route matches goes to the default
// service. A route with Host or PathPrefix matches HTTP requests (both
// must match when both are set); a route with SNI matches TLS
// connections by the server name of their ClientHello. Every request of
// a keep-alive connection is routed on its own.
type Route struct {
	// Host matches the request's host (the Host field, or an absolute-form
	// target's host) without its port, ignoring ASCII case: either exactly
	// ("api.example.com") or, written "*.example.com", any name ending in
	// ".example.com".
	Host string
	// PathPrefix matches a path that equals it or continues with '/' after
	// it ("/api" matches "/api" and "/api/x", not "/apix"); a prefix ending
	// in '/' matches any path starting with it.
	PathPrefix string
	// SNI matches a TLS ClientHello's server name the way Host matches a
	// host. A ClientHello without a server name goes to the default
	// service.
	SNI string
	// Service names the service: Config.Service or one of Config.Services.
	Service string
}

// ClusterEndpointCookiePrefix starts the name of meteorhacks:cluster's
// cookie that pins a browser's requests of a service to one instance
// ("cluster-endpoint::web"); its value is the instance's endpointHash.
const ClusterEndpointCookiePrefix = "cluster-endpoint::"

// svcRefused marks a request that a route sends to a service that is not
// public.
const svcRefused = 255

// maxServices bounds the services, default included, so that an index
// fits in a byte next to svcRefused.
const maxServices = 64

// services is the compiled routing table. Index 0 is the default service.
type services struct {
	names     []string
	balancers []*affinity.Balancer
	public    []bool
	http, tls []rule // routes for HTTP requests and for TLS ClientHellos
	keys      []serviceKeys
	// insert reports whether any service inserts a sticky cookie.
	insert bool
}

// serviceKeys is what keys a service's requests, in terms of the
// sniffer's cookies and prefixes (indexes in the sniff.Config that
// compileServices builds, which holds every service's).
type serviceKeys struct {
	// cookies has bit i set for the sniffer's cookie i when it is one of
	// the service's: its sticky cookies and its pin cookies. pins has the
	// bits of the pin cookies, whose value is an instance's endpointHash
	// (cluster-endpoint::<default>, the StickyInsert cookie).
	cookies, pins uint8
	// prefixes has bit i set for the sniffer's prefix i when it is one of
	// the service's (prefixes from the 64th on always count).
	prefixes uint64
	// own reports that the service's keys differ from the sniffer's: its
	// requests' keys are picked again once the service is known.
	own bool
	// insert is the Set-Cookie line's start, "Set-Cookie: NAME=", or "".
	insert string
	// rewrite replaces a /cluster-ddp/ path's "/cluster-ddp/<h>/<s>".
	rewrite string
}

type rule struct {
	// A cheap first look: the host's last 8 bytes (case folded) and the
	// path's first 8 under masks, compared in one go each (words).
	hostTail, hostMask uint64
	pathHead, pathMask uint64
	host               []byte // lowercase; for a wildcard, ".example.com"
	wildcard           bool
	path               []byte
	dirPath            bool // path ends in '/': a plain prefix
	svc                uint8
}

// fold lowercases the ASCII letters of a word, and maps a few bytes that
// a valid host never holds onto others: good enough for a first look.
const fold = 0x2020202020202020

// tailWord returns b's last 8 bytes (fewer if b is shorter) as a word
// whose most significant byte is b's last.
func tailWord(b []byte) uint64 {
	if n := len(b); n >= 8 {
		return binary.LittleEndian.Uint64(b[n-8:])
	}
	var w uint64
	for _, c := range b {
		w = w>>8 | uint64(c)<<56
	}
	return w
}

// headWord returns b's first 8 bytes (fewer if b is shorter) as a word
// whose least significant byte is b's first.
func headWord(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)
	}
	var w uint64
	for i, c := range b {
		w |= uint64(c) << (8 * i)
	}
	return w
}

// words sets r's first-look words from its host and path.
func (r *rule) words() {
	if k := min(len(r.host), 8); k > 0 {
		r.hostMask = ^uint64(0) << (8 * (8 - k))
		r.hostTail = (tailWord(r.host) | fold) & r.hostMask
	}
	if k := min(len(r.path), 8); k > 0 {
		r.pathMask = ^uint64(0) >> (8 * (8 - k))
		r.pathHead = headWord(r.path) & r.pathMask
	}
}

// compileServices checks the services and routes of cfg and compiles
// them, with the sniffer config that looks for every service's cookies
// and prefixes.
func compileServices(cfg *Config) (*services, sniff.Config, error) {
	s, err := compileRoutes(cfg)
	if err != nil {
		return nil, sniff.Config{}, err
	}
	sc, err := s.compileKeys(cfg)
	return s, sc, err
}

// compileKeys fills s.keys and returns the sniffer config: Config.Sniff
// with the other services' prefixes and cookies appended, then the pin
// cookies (cluster-endpoint::<default>, each distinct StickyInsert name),
// which rank last.
func (s *services) compileKeys(cfg *Config) (sniff.Config, error) {
	sc := cfg.Sniff
	basePrefixes := sc.Prefixes
	if basePrefixes == nil {
		basePrefixes = sniff.DefaultPrefixes
	}
	sc.Prefixes = slices.Clone(basePrefixes)
	sc.Cookies = slices.Clone(sc.Cookies)
	type svcCfg struct {
		prefixes, cookies []string
		insert            string
	}
	all := []svcCfg{{basePrefixes, cfg.Sniff.Cookies, cfg.StickyInsert}}
	for _, sv := range cfg.Services {
		c := svcCfg{sv.Prefixes, sv.Cookies, sv.StickyInsert}
		if c.prefixes == nil {
			c.prefixes = basePrefixes
		}
		if c.cookies == nil {
			c.cookies = cfg.Sniff.Cookies
		}
		all = append(all, c)
	}
	add := func(list *[]string, v string) int {
		if i := slices.Index(*list, v); i >= 0 {
			return i
		}
		*list = append(*list, v)
		return len(*list) - 1
	}
	for _, c := range all[1:] {
		for _, p := range c.prefixes {
			add(&sc.Prefixes, p)
		}
		for _, k := range c.cookies {
			add(&sc.Cookies, k)
		}
	}
	nSticky := len(sc.Cookies)
	cluster := -1
	if cfg.ClusterEndpointCookie {
		cluster = add(&sc.Cookies, ClusterEndpointCookiePrefix+cfg.Service)
	}
	s.keys = make([]serviceKeys, len(all))
	for i, c := range all {
		k := &s.keys[i]
		for _, p := range c.prefixes {
			if j := slices.Index(sc.Prefixes, p); j < 64 {
				k.prefixes |= 1 << j
			}
		}
		for _, name := range c.cookies {
			k.cookies |= 1 << slices.Index(sc.Cookies, name)
		}
		if i == 0 && cluster >= 0 {
			k.cookies |= 1 << cluster
			k.pins |= 1 << cluster
		}
		if c.insert != "" {
			j := add(&sc.Cookies, c.insert)
			if j < nSticky {
				return sc, fmt.Errorf("engine: config: service %q: sticky insert cookie %q is also a sticky cookie", s.names[i], c.insert)
			}
			k.cookies |= 1 << j
			k.pins |= 1 << j
			k.insert = "Set-Cookie: " + c.insert + "="
			s.insert = true
		}
		k.rewrite = clusterDDPRewrite
		if i > 0 && cfg.Services[i-1].Prefixes != nil && len(c.prefixes) > 0 {
			k.rewrite = c.prefixes[0]
		}
		if len(sc.Cookies) > sniff.MaxCookies {
			return sc, fmt.Errorf("engine: config: %d cookies (sticky cookies, cluster-endpoint cookie, sticky insert cookies of every service: %q), at most %d",
				len(sc.Cookies), sc.Cookies, sniff.MaxCookies)
		}
	}
	// Whatever the sniffer keys a request by is right for a service that
	// owns every cookie and prefix; the others pick their key again.
	allCookies := uint8(1)<<len(sc.Cookies) - 1
	allPrefixes := ^uint64(0)
	if len(sc.Prefixes) < 64 {
		allPrefixes = uint64(1)<<len(sc.Prefixes) - 1
	}
	for i := range s.keys {
		k := &s.keys[i]
		k.own = k.cookies != allCookies || k.prefixes != allPrefixes
	}
	return sc, nil
}

// compileRoutes checks the services and routes of cfg and compiles them.
func compileRoutes(cfg *Config) (*services, error) {
	s := &services{names: []string{cfg.Service}, balancers: []*affinity.Balancer{cfg.Balancer}, public: []bool{true}}
	if len(cfg.Services)+1 > maxServices {
		return nil, fmt.Errorf("engine: config: %d services, at most %d", len(cfg.Services)+1, maxServices)
	}
	for _, sv := range cfg.Services {
		if !validServiceName(sv.Name) {
			return nil, fmt.Errorf("engine: config: service name %q: want [0-9A-Za-z_-]+", sv.Name)
		}
		if sv.Balancer == nil {
			return nil, fmt.Errorf("engine: config: service %q has no Balancer", sv.Name)
		}
		if _, ok := s.lookup(sv.Name); ok {
			return nil, fmt.Errorf("engine: config: service %q listed twice", sv.Name)
		}
		s.names = append(s.names, sv.Name)
		s.balancers = append(s.balancers, sv.Balancer)
		s.public = append(s.public, sv.Public)
	}
	for i, r := range cfg.Routes {
		svc, ok := s.lookup(r.Service)
		if !ok || r.Service == "" && cfg.Service == "" {
			return nil, fmt.Errorf("engine: config: route %d: unknown service %q", i+1, r.Service)
		}
		if r.Host == "" && r.PathPrefix == "" && r.SNI == "" {
			return nil, fmt.Errorf("engine: config: route %d: no Host, PathPrefix or SNI", i+1)
		}
		if r.SNI != "" && (r.Host != "" || r.PathPrefix != "") {
			return nil, fmt.Errorf("engine: config: route %d: SNI with Host or PathPrefix", i+1)
		}
		if r.PathPrefix != "" && (r.PathPrefix[0] != '/' || strings.ContainsAny(r.PathPrefix, "?# ")) {
			return nil, fmt.Errorf("engine: config: route %d: path prefix %q", i+1, r.PathPrefix)
		}
		if r.SNI != "" {
			ru := hostRule(r.SNI, svc)
			ru.words()
			s.tls = append(s.tls, ru)
			continue
		}
		ru := hostRule(r.Host, svc)
		ru.path = []byte(r.PathPrefix)
		ru.dirPath = strings.HasSuffix(r.PathPrefix, "/")
		ru.words()
		s.http = append(s.http, ru)
	}
	return s, nil
}

func hostRule(h string, svc uint8) rule {
	h = strings.ToLower(h)
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		return rule{host: []byte("." + rest), wildcard: true, svc: svc}
	}
	if h == "" {
		return rule{svc: svc}
	}
	return rule{host: []byte(h), svc: svc}
}

func validServiceName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// lookup returns the index of the service named n.
func (s *services) lookup(n string) (uint8, bool) {
	for i, m := range s.names {
		if m == n {
			return uint8(i), true
		}
	}
	return 0, false
}

// reachable returns svc, or svcRefused when it is not public.
func (s *services) reachable(svc uint8) uint8 {
	if !s.public[svc] {
		return svcRefused
	}
	return svc
}

// matchHTTP returns the service of a request with this host and path:
// the first matching route's, the default's (0) when none matches, or
// svcRefused. It does not allocate.
func (s *services) matchHTTP(host, path []byte) uint8 {
	if len(s.http) == 0 {
		return 0
	}
	host = stripPort(host)
	ht, ph := tailWord(host)|fold, headWord(path)
	for i := range s.http {
		r := &s.http[i]
		if ht&r.hostMask != r.hostTail || ph&r.pathMask != r.pathHead {
			continue
		}
		if r.host != nil && !matchHost(r, host) {
			continue
		}
		if r.path != nil && !matchPath(r, path) {
			continue
		}
		return s.reachable(r.svc)
	}
	return 0
}

// matchSNI returns the service of a TLS ClientHello with this server name.
func (s *services) matchSNI(sni []byte) uint8 {
	if len(sni) == 0 {
		return 0
	}
	ht := tailWord(sni) | fold
	for i := range s.tls {
		if r := &s.tls[i]; ht&r.hostMask == r.hostTail && matchHost(r, sni) {
			return s.reachable(s.tls[i].svc)
		}
	}
	return 0
}

// matchName returns the service named n (a /cluster-ddp/ path's).
func (s *services) matchName(n []byte) (uint8, bool) {
	for i, m := range s.names {
		if m == string(n) {
			return s.reachable(uint8(i)), true
		}
	}
	return 0, false
}

// stripPort drops a ":port" from a host ("[::1]:80" gives "[::1]").
func stripPort(h []byte) []byte {
	for i := len(h) - 1; i >= 0; i-- {
		c := h[i]
		if c == ':' {
			return h[:i]
		}
		if c < '0' || c > '9' {
			break
		}
	}
	return h
}

// matchHost compares h, ignoring ASCII case, with r's host: equal, or for
// a wildcard ending in it with at least one byte before.
func matchHost(r *rule, h []byte) bool {
	want := r.host
	if r.wildcard {
		if len(h) <= len(want) {
			return false
		}
		h = h[len(h)-len(want):]
	} else if len(h) != len(want) {
		return false
	}
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

func matchPath(r *rule, p []byte) bool {
	if len(p) < len(r.path) || string(p[:len(r.path)]) != string(r.path) {
		return false
	}
	return r.dirPath || len(p) == len(r.path) || p[len(r.path)] == '/'
}

// clusterDDPRewrite is what replaces "/cluster-ddp/<hash>/<service>" for
// a service with no SockJS prefix (else its first prefix does):
// meteorhacks:cluster's balancer sent these requests on as SockJS
// requests under the app's default prefix.
const clusterDDPRewrite = "/sockjs"
