package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
	"github.com/l4lb/l4lb/registry"
	"github.com/l4lb/l4lb/registry/registrytest"
)

func TestMain(m *testing.M) {
	code := registrytest.Main(m) // runs the tests, removes devmongo
	if binaryPath != "" {
		os.RemoveAll(filepath.Dir(binaryPath)) // the l4lb built by l4lbBinary
	}
	os.Exit(code)
}

// Marks in the sidecar's log: its first heartbeat is written (the
// instance is registered), and its document is deleted.
const (
	markRegistered   = "msg=heartbeating"
	markDeregistered = "msg=deregistered"
)

// registerProc is one `l4lb register` subprocess.
type registerProc struct {
	*testutil.Child
}

// startRegister runs `l4lb register` for endpoint with args appended; it
// is stopped when the test ends if it is still running.
func startRegister(t *testing.T, discovery, endpoint string, args ...string) *registerProc {
	t.Helper()
	cmd := exec.Command(l4lbBinary(t), append([]string{"register", "--service", "web", "--interval", "200ms", "--log-level", "debug"}, args...)...)
	// Flags through the environment, as meteorhacks:cluster users set them.
	cmd.Env = append(os.Environ(), "CLUSTER_DISCOVERY_URL="+discovery, "CLUSTER_ENDPOINT_URL="+endpoint)
	return &registerProc{testutil.Start(t, cmd)}
}

// terminate sends SIGTERM.
func (p *registerProc) terminate() { p.Cmd.Process.Signal(syscall.SIGTERM) }

// wait waits for a clean exit.
func (p *registerProc) wait(t *testing.T) {
	t.Helper()
	if err := p.WaitExit(t, 30*time.Second); err != nil {
		t.Errorf("l4lb register after SIGTERM: %v; want exit 0", err)
	}
}

// setWatcher runs a MongoDB source, as a balancer would, and remembers
// the latest set.
type setWatcher struct {
	mu     sync.Mutex
	latest []string
	at     time.Time            // when latest arrived
	first  map[string]time.Time // when each endpoint was first in a set
	change chan struct{}
}

// firstSeen returns when endpoint was first in a set, or the zero time.
func (w *setWatcher) firstSeen(endpoint string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[endpoint]
}

func watchDiscovery(t *testing.T, url string, grace time.Duration) *setWatcher {
	t.Helper()
	m, err := registry.NewMongo(registry.MongoConfig{
		// A long query timeout: a query timing out on a loaded machine
		// would start a fail-static episode the test did not ask for.
		URL: url, PollInterval: 50 * time.Millisecond, Grace: grace, QueryTimeout: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &setWatcher{change: make(chan struct{}, 1), first: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Watch(ctx, "web", func(set []affinity.Backend) {
			eps := make([]string, len(set))
			for i, b := range set {
				eps[i] = b.Endpoint
			}
			now := time.Now()
			w.mu.Lock()
			w.latest, w.at = eps, now
			for _, ep := range eps {
				if _, ok := w.first[ep]; !ok {
					w.first[ep] = now
				}
			}
			w.mu.Unlock()
			select {
			case w.change <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done; m.Close(context.Background()) })
	return w
}

// waitFor waits until the latest set is want and returns when it arrived.
func (w *setWatcher) waitFor(t *testing.T, want []string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		got, at := slices.Clone(w.latest), w.at
		w.mu.Unlock()
		slices.Sort(got)
		if slices.Equal(got, want) {
			return at
		}
		select {
		case <-w.change:
		case <-deadline:
			t.Fatalf("discovered set = %v; want %v within %v", got, want, timeout)
		}
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func tcpEndpoint(url string) string { return "tcp://" + url[len("http://"):] }

// TestRegisterCommand is acceptance 2: `l4lb register` as a subprocess
// makes its instance appear within 2 s, disappear at once on SIGTERM, and
// disappear when its health check fails.
func TestRegisterCommand(t *testing.T) {
	// Wide enough that a loaded machine cannot make a heartbeat late, and
	// that removal by staleness (>= 2.2 s) is told apart from removal by
	// deregistration ("at once").
	const grace = 2 * time.Second
	srv := registrytest.NewServer(t)
	l4lbBinary(t) // build before timing anything
	instance := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(s.Close)
		return s
	}
	a, b, c := instance(), instance(), instance()
	w := watchDiscovery(t, srv.URL, grace)

	started := time.Now()
	pa := startRegister(t, srv.URL, a.URL, "--check", "http")
	pb := startRegister(t, srv.URL, b.URL, "--check", "tcp")
	pc := startRegister(t, srv.URL, c.URL, "--check", "off")
	all := sorted(tcpEndpoint(a.URL), tcpEndpoint(b.URL), tcpEndpoint(c.URL))
	appeared := w.waitFor(t, all, 30*time.Second)
	t.Logf("3 instances appeared %v after their sidecars were started", appeared.Sub(started))
	// From registration (the first heartbeat written) to the set: starting
	// three race-instrumented processes on a loaded machine is not the
	// discovery's time.
	for _, r := range []struct {
		p   *registerProc
		url string
	}{{pa, a.URL}, {pb, b.URL}, {pc, c.URL}} {
		// The set can show an instance before its sidecar's log line
		// about that first heartbeat has been read: wait for the line.
		r.p.Out.WaitLine(t, 0, regexp.MustCompile(regexp.QuoteMeta(markRegistered)), 30*time.Second)
		registered, seen := r.p.Out.When(markRegistered), w.firstSeen(tcpEndpoint(r.url))
		// About 1 s on a quiet machine (logged); the bound only catches
		// an update that takes several polls.
		t.Logf("%s appeared %v after it registered", r.url, seen.Sub(registered))
		if took := seen.Sub(registered); took > 10*time.Second {
			t.Errorf("%s appeared %v after it registered; want within a few polls (10s)", r.url, took)
		}
	}

	stopped := time.Now()
	pa.terminate()
	left := w.waitFor(t, sorted(tcpEndpoint(b.URL), tcpEndpoint(c.URL)), 30*time.Second)
	pa.wait(t)
	// "At once": the next poll (50 ms) after the sidecar deleted its
	// document (it may even be seen before the sidecar's log line).
	deregistered := pa.Out.When(markDeregistered)
	if deregistered.IsZero() {
		t.Fatalf("sidecar of %s did not log its deregistration", a.URL)
	}
	took := left.Sub(deregistered)
	t.Logf("deregistered instance left %v after SIGTERM to its sidecar, %v after the sidecar deleted its document", left.Sub(stopped), took)
	if took > time.Second {
		t.Errorf("deregistered instance left the set %v after its document was deleted; want within 1s", took)
	}

	// b's instance stops accepting: its sidecar stops heartbeating and the
	// document goes stale after pingInterval (200 ms) + grace (2 s).
	failed := time.Now()
	b.Close()
	took = w.waitFor(t, []string{tcpEndpoint(c.URL)}, 30*time.Second).Sub(failed)
	t.Logf("instance failing its check left %v after it stopped", took)
	if took > 5*time.Second {
		t.Errorf("instance failing its check left the set after %v; want within 5s (pingInterval + grace = 2.2s)", took)
	}
}
