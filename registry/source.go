package registry

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/l4lb/l4lb/affinity"
)

// Source produces the complete backend set of a service.
type Source interface {
	// Watch calls update with the complete current set of service's
	// backends (canonical endpoints, see affinity.Backend) whenever it
	// changes, the first call as soon as the first set is known; never
	// concurrently. update owns the slice it is given. Watch blocks until
	// ctx is done (then it returns nil) or a permanent error.
	Watch(ctx context.Context, service string, update func([]affinity.Backend)) error
}

// NormalizeEndpoint turns "host:port", "http://host:port" and
// "tcp://host:port" into "tcp://host:port", and "unix:/path" or
// "unix:///path" into "unix:/path", the canonical forms of
// affinity.Backend.Endpoint. Anything else is an error naming the input.
func NormalizeEndpoint(s string) (string, error) {
	in := strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(in, "unix:"); ok {
		// "unix:///path" is the URL spelling of "unix:/path" (empty host).
		if strings.HasPrefix(rest, "//") {
			rest = rest[2:]
		}
		path := filepath.Clean(rest)
		if !strings.HasPrefix(rest, "/") || path == "/" || strings.ContainsRune(path, 0) {
			return "", fmt.Errorf("normalize endpoint %q: want an absolute unix socket path", s)
		}
		return "unix:" + path, nil
	}
	hostport := in
	for _, scheme := range []string{"tcp://", "http://"} {
		if rest, ok := strings.CutPrefix(in, scheme); ok {
			hostport = rest
			break
		}
	}
	// meteorhacks:cluster endpoints are ROOT_URL-like and may end in "/".
	hostport = strings.TrimSuffix(hostport, "/")
	host, port, ok := splitHostPort(hostport)
	if !ok {
		return "", fmt.Errorf("normalize endpoint %q: want host:port, http://host:port, tcp://host:port or unix:/path", s)
	}
	if strings.Contains(host, ":") {
		return "tcp://[" + host + "]:" + port, nil
	}
	return "tcp://" + host + ":" + port, nil
}

// splitHostPort is net.SplitHostPort plus the checks an endpoint needs: a
// non-empty host without '/' and a numeric port in 1..65535.
func splitHostPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") || len(host) < 3 {
			return "", "", false
		}
		host = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return "", "", false // unbracketed IPv6
	}
	if strings.ContainsAny(host, "/?#@[]") || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", "", false
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return "", "", false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return "", "", false
		}
	}
	return host, port, n > 0
}

// normalizeAll normalizes every endpoint, drops duplicates and returns the
// set as Ready backends of default weight, sorted by endpoint.
func normalizeAll(endpoints []string) ([]affinity.Backend, error) {
	set := make([]affinity.Backend, 0, len(endpoints))
	for _, e := range endpoints {
		n, err := NormalizeEndpoint(e)
		if err != nil {
			return nil, err
		}
		set = append(set, affinity.Backend{Endpoint: n, State: affinity.Ready})
	}
	return sortBackends(set), nil
}

// sortBackends sorts by endpoint and drops later duplicates so sets compare
// with sameSet.
func sortBackends(set []affinity.Backend) []affinity.Backend {
	slices.SortStableFunc(set, func(a, b affinity.Backend) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return slices.CompactFunc(set, func(a, b affinity.Backend) bool { return a.Endpoint == b.Endpoint })
}

// sameSet reports whether two sorted sets are equal.
func sameSet(a, b []affinity.Backend) bool {
	return slices.Equal(a, b)
}
