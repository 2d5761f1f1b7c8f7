package registry

import (
	"context"
	"slices"
	"sync"

	"github.com/l4lb/l4lb/affinity"
)

// Merged is a Source whose set is the union of the sets of other sources,
// for a balancer fed by several (--backend, --backends-file and
// --discovery together).
//
// When sources disagree on an endpoint, the first source in the list that
// names it decides its weight, state and PROXY setting; the others' entries
// for it are ignored.
//
// The merged set is published only once every source has reported its
// first set, so that a slow source (MongoDB at startup) does not briefly
// shrink a set the others already fill; after that, whenever a report
// changes the merged set. Like every Source it is sorted by endpoint and
// update is never called concurrently.
//
// When one source's Watch returns an error, Watch stops the others, waits
// for them to return, and returns that error; the caller keeps the last
// merged set. With no sources, Watch reports nothing and waits for ctx.
type Merged struct {
	sources []Source
}

var _ Source = (*Merged)(nil)

// NewMerged returns a Source that merges sources, in this order of
// precedence.
func NewMerged(sources ...Source) Source {
	return &Merged{sources: slices.Clone(sources)}
}

// Watch runs every source's Watch for service and calls update with their
// union, as described on Merged.
func (m *Merged) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	if len(m.sources) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	u := &union{latest: make([][]affinity.Backend, len(m.sources)), seen: make([]bool, len(m.sources)), update: update}
	errs := make(chan error, len(m.sources))
	for i, src := range m.sources {
		go func() {
			errs <- src.Watch(ctx, service, func(set []affinity.Backend) { u.report(i, set) })
		}()
	}
	var first error
	for range m.sources {
		if err := <-errs; err != nil && first == nil {
			first = err
			stop() // the others return nil once they see it
		}
	}
	return first
}

// union holds each source's latest set and publishes their union.
type union struct {
	mu        sync.Mutex
	latest    [][]affinity.Backend
	seen      []bool
	published []affinity.Backend // the last set given to update
	once      bool               // whether update was called yet
	update    func([]affinity.Backend)
}

// report records source i's set and publishes the union if every source
// has reported and it differs from the last one published.
func (u *union) report(i int, set []affinity.Backend) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.latest[i], u.seen[i] = set, true
	n := 0
	for j, ok := range u.seen {
		if !ok {
			return
		}
		n += len(u.latest[j])
	}
	all := make([]affinity.Backend, 0, n)
	for _, s := range u.latest {
		all = append(all, s...)
	}
	// The stable sort keeps sources' order among equal endpoints, and
	// compacting keeps the first: the earlier source wins.
	all = sortBackends(all)
	if u.once && sameSet(all, u.published) {
		return
	}
	u.published, u.once = all, true
	u.update(slices.Clone(all))
}
