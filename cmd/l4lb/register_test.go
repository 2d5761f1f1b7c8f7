package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry"
	"github.com/l4lb/l4lb/registry/registrytest"
)

func TestMain(m *testing.M) { os.Exit(registrytest.Main(m)) }

// syncBuffer collects a subprocess's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// registerProc is one `l4lb register` subprocess.
type registerProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

// startRegister runs `l4lb register` for endpoint with args appended, and
// kills it when the test ends if it is still running.
func startRegister(t *testing.T, discovery, endpoint string, args ...string) *registerProc {
	t.Helper()
	p := &registerProc{out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(l4lbBinary(t), append([]string{"register", "--service", "web", "--interval", "200ms", "--log-level", "debug"}, args...)...)
	// Flags through the environment, as meteorhacks:cluster users set them.
	p.cmd.Env = append(os.Environ(), "CLUSTER_DISCOVERY_URL="+discovery, "CLUSTER_ENDPOINT_URL="+endpoint)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start l4lb register: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("l4lb register %s output:\n%s", endpoint, p.out.String())
		}
	})
	return p
}

// terminate sends SIGTERM.
func (p *registerProc) terminate() { p.cmd.Process.Signal(syscall.SIGTERM) }

// wait waits for a clean exit.
func (p *registerProc) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err != nil {
			t.Errorf("l4lb register after SIGTERM: %v; want exit 0\n%s", err, p.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("l4lb register still running 30s after SIGTERM")
	}
}

// setWatcher runs a MongoDB source, as a balancer would, and remembers
// the latest set.
type setWatcher struct {
	mu     sync.Mutex
	latest []string
	at     time.Time // when latest arrived
	change chan struct{}
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
	w := &setWatcher{change: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Watch(ctx, "web", func(set []affinity.Backend) {
			eps := make([]string, len(set))
			for i, b := range set {
				eps[i] = b.Endpoint
			}
			w.mu.Lock()
			w.latest, w.at = eps, time.Now()
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
	startRegister(t, srv.URL, b.URL, "--check", "tcp")
	startRegister(t, srv.URL, c.URL, "--check", "off")
	all := sorted(tcpEndpoint(a.URL), tcpEndpoint(b.URL), tcpEndpoint(c.URL))
	took := w.waitFor(t, all, 30*time.Second).Sub(started)
	t.Logf("3 instances appeared %v after their sidecars were started", took)
	if took > 2*time.Second {
		t.Errorf("registered instances appeared after %v; want within 2s", took)
	}

	stopped := time.Now()
	pa.terminate()
	// "At once": the next poll (50 ms) after the delete; allow 1.5 s,
	// still short of staleness.
	took = w.waitFor(t, sorted(tcpEndpoint(b.URL), tcpEndpoint(c.URL)), 30*time.Second).Sub(stopped)
	t.Logf("deregistered instance left %v after SIGTERM to its sidecar", took)
	if took > 1500*time.Millisecond {
		t.Errorf("deregistered instance left the set after %v; want within 1.5s", took)
	}
	pa.wait(t)

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
