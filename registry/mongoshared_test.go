package registry

import (
	"context"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry/registrytest"
)

// TestMongoSharedQuery: watches of the services in MongoConfig.Services
// share one poll loop; one query hands every watch its own service's
// set, and a service that is not listed gets a loop of its own.
func TestMongoSharedQuery(t *testing.T) {
	srv := registrytest.NewServer(t)
	coll := testCollection(t, srv)
	now := time.Now()
	mustPing(t, coll, "web", "http://127.0.0.1:3001", now, int32(5000))
	mustPing(t, coll, "api", "http://127.0.0.1:4001", now, int32(5000))
	mustPing(t, coll, "jobs", "http://127.0.0.1:5001", now, int32(5000))
	mustPing(t, coll, "other", "http://127.0.0.1:6001", now, int32(5000))
	metrics := &Metrics{}
	// An hour between polls: every query of the test is one it asks for,
	// or the one a loop makes when it starts or a watch joins.
	m, _ := newTestMongo(t, srv, MongoConfig{Services: []string{"web", "api", "jobs"}, PollInterval: time.Hour, Metrics: metrics})
	web := startWatch(t, m, "web")
	api := startWatch(t, m, "api")
	jobs := startWatch(t, m, "jobs")
	web.waitFor([]string{"tcp://127.0.0.1:3001"}, patience)
	api.waitFor([]string{"tcp://127.0.0.1:4001"}, patience)
	jobs.waitFor([]string{"tcp://127.0.0.1:5001"}, patience)
	m.shared.mu.Lock()
	joined := len(m.shared.watches)
	m.shared.mu.Unlock()
	if joined != 3 {
		t.Fatalf("shared loop has %d watches; want web, api and jobs", joined)
	}

	now = time.Now()
	mustPing(t, coll, "web", "http://127.0.0.1:3002", now, int32(5000))
	mustPing(t, coll, "api", "http://127.0.0.1:4002", now, int32(5000))
	mustPing(t, coll, "jobs", "http://127.0.0.1:5002", now, int32(5000))
	before := metrics.Snapshot().Polls
	m.shared.wake()
	web.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}, patience)
	api.waitFor([]string{"tcp://127.0.0.1:4001", "tcp://127.0.0.1:4002"}, patience)
	jobs.waitFor([]string{"tcp://127.0.0.1:5001", "tcp://127.0.0.1:5002"}, patience)
	if got := metrics.Snapshot().Polls - before; got != 1 {
		t.Errorf("queries for one round of three services' changes = %d; want 1", got)
	}

	// Not listed: a loop of its own, and the shared one is left alone.
	other := startWatch(t, m, "other")
	other.waitFor([]string{"tcp://127.0.0.1:6001"}, patience)
	m.shared.mu.Lock()
	joined = len(m.shared.watches)
	m.shared.mu.Unlock()
	if joined != 3 {
		t.Errorf("shared loop has %d watches after watching an unlisted service; want 3", joined)
	}
}

// TestMongoSharedLoopRestarts: when every watch of the shared loop has
// left, the loop stops; a later watch starts it again and gets its set.
func TestMongoSharedLoopRestarts(t *testing.T) {
	srv := registrytest.NewServer(t)
	coll := testCollection(t, srv)
	mustPing(t, coll, "web", "http://127.0.0.1:3001", time.Now(), int32(5000))
	m, _ := newTestMongo(t, srv, MongoConfig{Services: []string{"web", "api"}})
	for round := range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan []affinity.Backend, 10)
		done := make(chan error, 1)
		go func() { done <- m.Watch(ctx, "web", func(set []affinity.Backend) { got <- set }) }()
		select {
		case set := <-got:
			if len(set) != 1 || set[0].Endpoint != "tcp://127.0.0.1:3001" {
				t.Errorf("round %d: set %v; want 3001", round, endpointsOf(set))
			}
		case <-time.After(patience):
			t.Fatalf("round %d: no set within %v", round, patience)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatalf("round %d: Watch did not return within %v of cancel", round, patience)
		}
		m.shared.runMu.Lock()
		running := m.shared.stop != nil
		m.shared.runMu.Unlock()
		if running {
			t.Errorf("round %d: shared loop still running after its last watch left", round)
		}
	}
}

func TestNewMongoRejectsServices(t *testing.T) {
	for _, s := range [][]string{{"web", "web"}, {"web", ""}} {
		if m, err := NewMongo(MongoConfig{URL: "mongodb://127.0.0.1:1/db", Services: s}); err == nil {
			m.Close(t.Context())
			t.Errorf("NewMongo(Services: %q) = nil error; want an error", s)
		}
	}
}
