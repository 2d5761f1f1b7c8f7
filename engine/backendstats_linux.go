package engine

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// observer is a Server's exchange recording (Config.Exchanges) and
// per-backend counting (Config.BackendStats).
type observer struct {
	rec   ExchangeRecorder
	stats bool
	loops []*loopObs // by loop index; nil when neither is on
}

func newObserver(cfg *Config) observer {
	o := observer{rec: cfg.Exchanges, stats: cfg.BackendStats}
	if o.rec != nil || o.stats {
		o.loops = make([]*loopObs, cfg.Loops)
		for i := range o.loops {
			o.loops[i] = &loopObs{free: freeList[*connObs]{max: maxFreeStates}}
		}
	}
	return o
}

// loopObs is one loop's share of the observer. The loop alone writes
// backends, and does so holding mu; BackendStats reads it holding mu.
// The counters are atomic so that they can be read while the loop counts;
// no other loop writes them, so the adds do not contend.
type loopObs struct {
	mu       sync.Mutex
	backends map[string]*backendShard
	other    *backendShard // past MaxStatsBackends

	// The loop's alone:
	free  freeList[*connObs]
	names []string // listener names, by index in Server.listeners
	rec   Exchange // the record handed to the recorder
}

// Histograms of a backendShard.
const (
	histConnect = iota
	histFirstByte
	histDuration
	numHists
)

// backendShard is one loop's counters for one backend.
type backendShard struct {
	endpoint                             string
	requests, resp5xx, failures, tunnels atomic.Int64
	hist                                 [numHists]histShard
}

// histShard is one loop's buckets of one histogram.
type histShard struct {
	counts [len(HistogramBounds) + 1]atomic.Uint64
	sum    atomic.Int64
}

// observe counts one observation of d ns.
func (h *histShard) observe(d int64) {
	i := 0
	for i < len(HistogramBounds) && d > int64(HistogramBounds[i]) {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(d)
}

func (h *histShard) addTo(dst *Histogram) {
	for i := range h.counts {
		dst.Counts[i] += h.counts[i].Load()
	}
	dst.Sum += time.Duration(h.sum.Load())
}

// shardOf returns the counters of m's backend on c's loop, remembering
// the last one so that a keep-alive connection looks it up once.
func (x *connObs) shardOf(l *loop, m *affinity.Member) *backendShard {
	ep := m.Backend().Endpoint
	if x.shard != nil && x.shard.endpoint == ep {
		return x.shard
	}
	x.shard = x.lo.shard(l, ep)
	return x.shard
}

// shard returns the loop's counters of the backend ep, making them on
// first use.
func (lo *loopObs) shard(l *loop, ep string) *backendShard {
	if sh := lo.backends[ep]; sh != nil {
		return sh
	}
	lo.mu.Lock()
	defer lo.mu.Unlock()
	if len(lo.backends) >= MaxStatsBackends {
		lo.forgetGone(l.s.cfg.Balancer.Snapshot())
	}
	if len(lo.backends) >= MaxStatsBackends {
		if lo.other == nil {
			lo.other = &backendShard{endpoint: OtherBackends}
		}
		return lo.other
	}
	if lo.backends == nil {
		lo.backends = make(map[string]*backendShard)
	}
	sh := &backendShard{endpoint: ep}
	lo.backends[ep] = sh
	return sh
}

// forgetGone drops the counters of backends that are not in snap. The
// caller holds mu.
func (lo *loopObs) forgetGone(snap *affinity.Snapshot) {
	in := make(map[string]bool, snap.Len())
	for _, m := range snap.Members() {
		in[m.Backend().Endpoint] = true
	}
	for ep := range lo.backends {
		if !in[ep] {
			delete(lo.backends, ep)
		}
	}
}

// listenerIndex returns the index of the listener whose socket lfd is,
// filling lo.names on first use.
func (lo *loopObs) listenerIndex(l *loop, lfd int) int {
	if lo.names == nil {
		for _, ln := range l.s.listeners {
			lo.names = append(lo.names, ln.addr.String())
		}
	}
	for i, ln := range l.s.listeners {
		if slices.Contains(ln.fds, lfd) {
			return i
		}
	}
	return 0
}

// BackendStats returns what the loops counted per backend, in endpoint
// order (OtherBackends last, if any), or nil unless Config.BackendStats
// is set. Safe for concurrent use; it takes each loop's lock briefly and
// does not stop the loops.
func (s *Server) BackendStats() []BackendStats {
	if !s.obs.stats {
		return nil
	}
	by := map[string]*BackendStats{}
	var out []*BackendStats
	add := func(sh *backendShard) {
		b := by[sh.endpoint]
		if b == nil {
			b = &BackendStats{Endpoint: sh.endpoint}
			by[sh.endpoint] = b
			out = append(out, b)
		}
		b.Requests += sh.requests.Load()
		b.Responses5xx += sh.resp5xx.Load()
		b.Failures += sh.failures.Load()
		b.Tunnels += sh.tunnels.Load()
		sh.hist[histConnect].addTo(&b.Connect)
		sh.hist[histFirstByte].addTo(&b.FirstByte)
		sh.hist[histDuration].addTo(&b.Duration)
	}
	for _, lo := range s.obs.loops {
		lo.mu.Lock()
		for _, sh := range lo.backends {
			add(sh)
		}
		if lo.other != nil {
			add(lo.other)
		}
		lo.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b *BackendStats) int {
		switch {
		case a.Endpoint == OtherBackends:
			return 1
		case b.Endpoint == OtherBackends:
			return -1
		}
		return strings.Compare(a.Endpoint, b.Endpoint)
	})
	res := make([]BackendStats, len(out))
	for i, b := range out {
		res[i] = *b
	}
	return res
}
