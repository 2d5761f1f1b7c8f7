package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// runner holds what the workers of one run share.
type runner struct {
	cfg      Config
	dial     *dialer
	attempts atomic.Int64
	conns    atomic.Uint64 // connections dialed; picks the target with AlternateTargets
	upload   *uploadBody   // bulk only, built once
}

// workerFunc is one worker's loop: it runs operations until take says stop,
// recording into s. id picks the worker's target.
type workerFunc func(ctx context.Context, id int, s *stats)

// take reports whether one more operation may start: the run's time is not
// up and its request budget, if any, is not spent.
func (r *runner) take(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	return r.cfg.Requests <= 0 || r.attempts.Add(1) <= r.cfg.Requests
}

func (r *runner) target(id int) string { return r.cfg.Targets[id%len(r.cfg.Targets)] }

// connTarget returns the target of a new connection of a worker whose
// target is target.
func (r *runner) connTarget(target string) string {
	if !r.cfg.AlternateTargets {
		return target
	}
	return r.cfg.Targets[(r.conns.Add(1)-1)%uint64(len(r.cfg.Targets))]
}

// runWorkers runs cfg.Workers copies of fn for cfg.Duration. Operations in
// flight when the time is up are finished, not cut (they have their own
// timeouts), so they count as what they were and the elapsed time covers
// them.
func (r *runner) runWorkers(ctx context.Context, res *Result, fn workerFunc) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	shards := newShards(r.cfg.Workers)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range r.cfg.Workers {
		wg.Go(func() { fn(ctx, i, shards[i%len(shards)]) })
	}
	wg.Wait()
	merge(shards, res, time.Since(start))
	return nil
}

// sessionAlphabet is what the SockJS browser client draws session ids from.
const sessionAlphabet = "abcdefghijklmnopqrstuvwxyz012345"

// newSessionPath returns "<prefix>/<server>/<session>" with a three-digit
// server and an eight-character session, as sockjs-client makes them
// (SockJS URL layout: <prefix>/<server>/<session>/<transport>).
func newSessionPath(prefix string) string {
	b := make([]byte, 0, len(prefix)+14)
	b = append(b, prefix...)
	b = append(b, '/')
	n := rand.IntN(1000)
	b = append(b, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10), '/')
	for range 8 {
		b = append(b, sessionAlphabet[rand.IntN(len(sessionAlphabet))])
	}
	return string(b)
}
