package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// Glob is a Source of the UNIX sockets whose paths match a pattern, the
// shape of Meteor cluster workers, which listen on
// "<UNIX_SOCKET_PATH>.<worker>.sock" and get a new worker id each time
// one is restarted.
//
// The directory is globbed every Options.Interval (a readdir(3) and an
// lstat(2) per match); only socket files count, so a regular file or a
// directory that happens to match is ignored. A socket file left behind by
// a worker that crashed stays in the set until it is removed: the engine
// fails over from a backend that refuses connections, and Meteor removes
// stale socket files when it starts a worker.
type Glob struct {
	pattern string // filesystem pattern, without "unix:"
	opts    Options
}

var _ Source = (*Glob)(nil)

// IsGlob reports whether endpoint is a glob pattern that NewGlob takes
// rather than one endpoint: "unix:" followed by a path with *, ? or [.
func IsGlob(endpoint string) bool {
	rest, ok := strings.CutPrefix(endpoint, "unix:")
	return ok && strings.ContainsAny(rest, "*?[")
}

// NewGlob returns a Source of the sockets matching pattern, written
// "unix:/run/app/meteor.sock.*.sock" (or without the "unix:" prefix);
// the pattern syntax is filepath.Match's. The path must be absolute. The
// service passed to Watch is ignored.
func NewGlob(pattern string, opts Options) (Source, error) {
	p := strings.TrimPrefix(pattern, "unix:")
	p = strings.TrimPrefix(p, "//")
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("unix glob %q: path must be absolute", pattern)
	}
	if _, err := filepath.Match(p, ""); err != nil {
		return nil, fmt.Errorf("unix glob %q: %w", pattern, err)
	}
	return &Glob{pattern: filepath.Clean(p), opts: opts}, nil
}

// Watch calls update with the matching sockets now (possibly none), then
// after each change. It blocks until ctx is done.
func (g *Glob) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	log := g.opts.logger().With("source", "glob", "pattern", g.pattern)
	var last []affinity.Backend
	first := true
	scan := func() {
		set := g.scan()
		if !first && sameSet(set, last) {
			return
		}
		first, last = false, set
		log.Debug("sockets changed", "backends", len(set))
		update(slices.Clone(set))
	}
	scan()
	t := time.NewTicker(g.opts.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			scan()
		}
	}
}

// scan lists the matching sockets as a sorted set.
func (g *Glob) scan() []affinity.Backend {
	// The pattern was validated by NewGlob, so Glob cannot fail.
	paths, _ := filepath.Glob(g.pattern)
	set := make([]affinity.Backend, 0, len(paths))
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode().Type() != os.ModeSocket {
			continue
		}
		set = append(set, affinity.Backend{Endpoint: "unix:" + p, State: affinity.Ready})
	}
	return sortBackends(set)
}
