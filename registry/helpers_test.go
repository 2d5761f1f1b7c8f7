package registry

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry/registrytest"
)

func TestMain(m *testing.M) { os.Exit(registrytest.Main(m)) }

// watcher runs src.Watch for service until the test ends and collects
// its updates.
type watcher struct {
	t       *testing.T
	updates chan []affinity.Backend
	done    chan error
}

func startWatch(t *testing.T, src Source, service string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{t: t, updates: make(chan []affinity.Backend, 100), done: make(chan error, 1)}
	go func() {
		w.done <- src.Watch(ctx, service, func(set []affinity.Backend) { w.updates <- set })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("Watch(%q) = %v; want nil after cancel", service, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch(%q) did not return within 10s of cancel", service)
		}
	})
	return w
}

// waitFor reads updates until one has exactly the endpoints want, and
// returns that set and when it arrived.
func (w *watcher) waitFor(want []string, timeout time.Duration) ([]affinity.Backend, time.Time) {
	w.t.Helper()
	deadline := time.After(timeout)
	var last []affinity.Backend
	for {
		select {
		case set := <-w.updates:
			last = set
			if slices.Equal(endpointsOf(set), want) {
				return set, time.Now()
			}
		case <-deadline:
			w.t.Fatalf("no update with %v within %v; last update %v", want, timeout, endpointsOf(last))
			return nil, time.Time{}
		}
	}
}

// quiet fails the test if an update arrives within d.
func (w *watcher) quiet(d time.Duration, why string) {
	w.t.Helper()
	select {
	case set := <-w.updates:
		w.t.Fatalf("%s: got update %v; want none", why, endpointsOf(set))
	case <-time.After(d):
	}
}

func endpointsOf(set []affinity.Backend) []string {
	out := make([]string, len(set))
	for i, b := range set {
		out[i] = b.Endpoint
	}
	return out
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
