package loadgen

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency percentiles, in microseconds, from an HDR histogram (1 µs to
// MaxDuration, 3 significant digits).
type Latency struct {
	P50  float64 `json:"p50_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// Result is the outcome of one run. It marshals to the JSON line that
// cmd/loadgen prints and bench/ reads.
type Result struct {
	Scenario string   `json:"scenario"`
	Label    string   `json:"label,omitempty"`
	Targets  []string `json:"targets"`
	Workers  int      `json:"workers"`
	// Seconds is the measured time: from the first request to the last
	// answer (for ws-idle: the holding period, after all connections are up).
	Seconds float64 `json:"seconds"`
	// Unit names what Ops counts: "req" (HTTP requests), "msg" (message
	// round trips: WebSocket, or xhr_send and its echo on an xhr_streaming
	// stream), "transfer" (bulk downloads and uploads).
	Unit string `json:"unit"`
	// Ops counts the operations that succeeded; Rate is Ops per second.
	Ops  int64   `json:"ops"`
	Rate float64 `json:"rate"`
	// Bytes counts payload bytes moved (bulk); BytesPerSec is their rate.
	Bytes       int64   `json:"bytes"`
	BytesPerSec float64 `json:"bytes_per_sec"`
	// Conns counts the TCP connections opened; for ws-idle, the WebSocket
	// connections that were up when holding began.
	Conns int64 `json:"conns"`
	// Errors counts operations that failed: refused, reset or timed-out
	// connections, unexpected statuses, wrong echoes, broken frames.
	Errors int64 `json:"errors"`
	// Misroutes counts responses that came from a backend other than their
	// SockJS session's (see the package doc). They are not Errors.
	Misroutes int64 `json:"misroutes"`
	// Retries counts polls refused with c[2010,...] ("Another connection
	// still open") and repeated: sockjs-go detaches a finished poll on
	// another goroutine, so the next poll can race it. Not errors.
	Retries int64 `json:"retries,omitempty"`
	// Reopens counts xhr-streaming streams that the server ended (at its
	// response byte limit) and the client reopened for the same session.
	Reopens int64 `json:"reopens,omitempty"`
	// Sessions counts SockJS sessions opened (connrate, polling, ws-idle).
	Sessions int64 `json:"sessions,omitempty"`
	// Backends counts answers per backend name (X-Backend), to show spread.
	Backends map[string]int64 `json:"backends,omitempty"`
	Latency  Latency          `json:"latency"`
	// ErrorSamples holds up to five distinct error messages.
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// ErrorRate is Errors over all attempted operations (Ops + Errors).
func (r *Result) ErrorRate() float64 {
	if r.Ops+r.Errors == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Ops+r.Errors)
}

// Summary renders r for people, a few lines.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s -> %s, %d workers, %.1fs\n", r.Scenario, r.Label, strings.Join(r.Targets, ","), r.Workers, r.Seconds)
	fmt.Fprintf(&b, "  %d %s ok, %.0f %s/s", r.Ops, r.Unit, r.Rate, r.Unit)
	if r.Bytes > 0 {
		fmt.Fprintf(&b, ", %.1f MB/s", r.BytesPerSec/1e6)
	}
	fmt.Fprintf(&b, ", %d conns\n", r.Conns)
	fmt.Fprintf(&b, "  latency p50 %.0fµs  p99 %.0fµs  p99.9 %.0fµs  max %.0fµs\n", r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	fmt.Fprintf(&b, "  errors %d (%.3f%%)  misroutes %d", r.Errors, 100*r.ErrorRate(), r.Misroutes)
	if r.Sessions > 0 {
		fmt.Fprintf(&b, "  sessions %d", r.Sessions)
	}
	if r.Retries > 0 {
		fmt.Fprintf(&b, "  retried polls %d", r.Retries)
	}
	if r.Reopens > 0 {
		fmt.Fprintf(&b, "  reopened streams %d", r.Reopens)
	}
	b.WriteString("\n")
	if len(r.Backends) > 0 {
		names := make([]string, 0, len(r.Backends))
		for n := range r.Backends {
			names = append(names, n)
		}
		sort.Strings(names)
		b.WriteString("  backends")
		for _, n := range names {
			fmt.Fprintf(&b, " %s=%d", n, r.Backends[n])
		}
		b.WriteString("\n")
	}
	for _, e := range r.ErrorSamples {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	return b.String()
}

// stats collects one shard of a run's measurements. Workers share shards
// (worker i uses shard i mod the shard count) so that ten thousand
// connections do not each carry a histogram; a shard is locked briefly per
// operation, which is cheap when uncontended.
type stats struct {
	mu        sync.Mutex
	hist      *hdrhistogram.Histogram
	ops       int64
	bytes     int64
	conns     int64
	errors    int64
	misroutes int64
	sessions  int64
	retries   int64
	reopens   int64
	backends  map[string]int64
	samples   []string
}

// maxShards bounds the histograms (170 KB each at 1 µs – 10 min, 3 digits)
// a run allocates: 32 shards keep a run under 6 MB and contention low with
// the few dozen workers the scenarios use.
const maxShards = 32

func newShards(workers int) []*stats {
	n := max(1, min(workers, maxShards))
	s := make([]*stats, n)
	for i := range s {
		s[i] = &stats{
			hist:     hdrhistogram.New(1, MaxDuration.Microseconds(), 3),
			backends: map[string]int64{},
		}
	}
	return s
}

// ok records one successful operation that took d.
func (s *stats) ok(d time.Duration, bytes int64) {
	s.mu.Lock()
	s.hist.RecordValue(max(1, d.Microseconds()))
	s.ops++
	s.bytes += bytes
	s.mu.Unlock()
}

func (s *stats) fail(err error) {
	s.mu.Lock()
	s.errors++
	if len(s.samples) < 5 {
		s.samples = append(s.samples, err.Error())
	}
	s.mu.Unlock()
}

func (s *stats) add(field *int64, n int64) {
	s.mu.Lock()
	*field += n
	s.mu.Unlock()
}

func (s *stats) backend(name string) {
	if name == "" {
		return
	}
	s.mu.Lock()
	s.backends[name]++
	s.mu.Unlock()
}

// merge folds shards into a Result; elapsed is the measured time.
func merge(shards []*stats, r *Result, elapsed time.Duration) {
	h := hdrhistogram.New(1, MaxDuration.Microseconds(), 3)
	r.Backends = map[string]int64{}
	seen := map[string]bool{}
	for _, s := range shards {
		s.mu.Lock()
		h.Merge(s.hist)
		r.Ops += s.ops
		r.Bytes += s.bytes
		r.Conns += s.conns
		r.Errors += s.errors
		r.Misroutes += s.misroutes
		r.Sessions += s.sessions
		r.Retries += s.retries
		r.Reopens += s.reopens
		for n, c := range s.backends {
			r.Backends[n] += c
		}
		for _, e := range s.samples {
			if !seen[e] && len(r.ErrorSamples) < 5 {
				seen[e] = true
				r.ErrorSamples = append(r.ErrorSamples, e)
			}
		}
		s.mu.Unlock()
	}
	if len(r.Backends) == 0 {
		r.Backends = nil
	}
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.Rate = float64(r.Ops) / r.Seconds
		r.BytesPerSec = float64(r.Bytes) / r.Seconds
	}
	if h.TotalCount() > 0 {
		r.Latency = Latency{
			P50:  float64(h.ValueAtQuantile(50)),
			P99:  float64(h.ValueAtQuantile(99)),
			P999: float64(h.ValueAtQuantile(99.9)),
			Max:  float64(h.Max()),
			Mean: h.Mean(),
		}
	}
}
