package main

import (
	"context"
	"sync"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry"
)

// sourceNames remembers which discovery source named each endpoint, for
// the admin status page. Safe for concurrent use.
type sourceNames struct {
	mu    sync.Mutex
	names []string          // by source, in the order given to registry.NewMerged
	sets  []map[string]bool // each source's latest endpoints
}

// wrap returns src reporting its sets to n under name ("static", "file",
// "glob", "mongodb"). Wrap sources in the order they are merged.
func (n *sourceNames) wrap(name string, src registry.Source) registry.Source {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.names = append(n.names, name)
	n.sets = append(n.sets, nil)
	return namedSource{src: src, n: n, i: len(n.names) - 1}
}

// of returns the name of the first source that names endpoint (the one
// whose settings registry.Merged takes), or "".
func (n *sourceNames) of(endpoint string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, set := range n.sets {
		if set[endpoint] {
			return n.names[i]
		}
	}
	return ""
}

type namedSource struct {
	src registry.Source
	n   *sourceNames
	i   int
}

func (s namedSource) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	return s.src.Watch(ctx, service, func(set []affinity.Backend) {
		eps := make(map[string]bool, len(set))
		for _, b := range set {
			eps[b.Endpoint] = true
		}
		s.n.mu.Lock()
		s.n.sets[s.i] = eps
		s.n.mu.Unlock()
		update(set)
	})
}
