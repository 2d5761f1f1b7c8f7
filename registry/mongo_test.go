package registry

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
	"github.com/l4lb/l4lb/registry/registrytest"
)

// patience bounds waits for things that normally take milliseconds: it
// only matters when the machine is so loaded that FerretDB takes seconds
// per write, as it does with CI's parallel packages on two cores.
const patience = 30 * time.Second

// testCollection connects a plain driver client, standing in for the
// instances that write the collection.
func testCollection(t *testing.T, srv *registrytest.Server) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URL).
		SetServerSelectionTimeout(2 * time.Second).SetConnectTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	return client.Database(srv.Database).Collection(DefaultCollection)
}

// meteorhacksPing writes exactly what meteorhacks:cluster's
// Discovery.register does on each ping: an upsert of {serviceName,
// endpoint} with $set timestamp and pingInterval, plus endpointHash and
// balancer on the first ping. pingInterval is whatever number type the
// caller passes (JavaScript numbers reach BSON as int32 or double).
func meteorhacksPing(ctx context.Context, coll *mongo.Collection, service, endpoint string, ts time.Time, pingInterval any, first bool, extra ...bson.E) error {
	set := bson.D{{Key: "timestamp", Value: ts}, {Key: "pingInterval", Value: pingInterval}}
	if first {
		sum := sha1.Sum([]byte(endpoint))
		set = append(set, bson.E{Key: "endpointHash", Value: hex.EncodeToString(sum[:])}, bson.E{Key: "balancer", Value: nil})
	}
	set = append(set, extra...)
	_, err := coll.UpdateOne(ctx,
		bson.D{{Key: "serviceName", Value: service}, {Key: "endpoint", Value: endpoint}},
		bson.D{{Key: "$set", Value: set}}, options.UpdateOne().SetUpsert(true))
	return err
}

func mustPing(t *testing.T, coll *mongo.Collection, service, endpoint string, ts time.Time, pingInterval any, extra ...bson.E) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := meteorhacksPing(ctx, coll, service, endpoint, ts, pingInterval, true, extra...); err != nil {
		t.Fatalf("ping %s: %v", endpoint, err)
	}
}

// heartbeat pings endpoint every period, as a live instance does, until
// the returned stop is called or the test ends; errors (the server may be
// down on purpose) are ignored. stop returns the timestamp of the last
// ping that was written.
func heartbeat(t *testing.T, coll *mongo.Collection, service, endpoint string, pingMS int32, period time.Duration) (stop func() time.Time) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var last time.Time
	wg.Go(func() {
		for first := true; ; first = false {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			ts := time.Now()
			if meteorhacksPing(pctx, coll, service, endpoint, ts, pingMS, first) == nil {
				last = ts
			}
			pcancel()
			select {
			case <-ctx.Done():
				return
			case <-time.After(period):
			}
		}
	})
	stop = func() time.Time { cancel(); wg.Wait(); return last }
	t.Cleanup(func() { stop() })
	return stop
}

func newTestMongo(t *testing.T, srv *registrytest.Server, cfg MongoConfig) (*Mongo, *testutil.Buffer) {
	t.Helper()
	log, logs := testutil.Logger(t, slog.LevelDebug)
	cfg.URL = srv.URL
	cfg.Logger = log
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.QueryTimeout == 0 {
		// A query timing out on a loaded machine would start a fail-static
		// episode that the test did not ask for.
		cfg.QueryTimeout = patience
	}
	m, err := NewMongo(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m, logs
}

// TestMongoDiscoversMeteorhacksDocuments is acceptance 1, first half:
// documents as meteorhacks:cluster writes them, with its number types,
// are discovered with its staleness rule; our optional fields apply.
func TestMongoDiscoversMeteorhacksDocuments(t *testing.T) {
	srv := registrytest.NewServer(t)
	coll := testCollection(t, srv)
	now := time.Now()
	mustPing(t, coll, "web", "http://127.0.0.1:3001", now, int32(5000))
	mustPing(t, coll, "web", "http://127.0.0.1:3002", now.Add(-3*time.Second), float64(5000),
		bson.E{Key: "weight", Value: int32(3)}, bson.E{Key: "state", Value: "draining"})
	mustPing(t, coll, "web", "unix:/run/app/meteor.sock", now, int64(5000))
	mustPing(t, coll, "web", "http://127.0.0.1:3004", now.Add(-25*time.Second), int32(5000))  // stale: 25s >= 5s+15s
	mustPing(t, coll, "web", "http://127.0.0.1:3005", now.Add(-time.Hour), int32(5000))       // long stale
	mustPing(t, coll, "web", "http://127.0.0.1:3006", now.Add(-50*time.Second), int32(60000), // live: 50s < 60s+15s
		bson.E{Key: "proxyProtocol", Value: "v2"})
	mustPing(t, coll, "web", "not an endpoint", now, int32(5000))
	mustPing(t, coll, "web", "http://127.0.0.1:3007", now, int32(5000), bson.E{Key: "proxyProtocol", Value: "v3"}) // left out, logged
	mustPing(t, coll, "api", "http://127.0.0.1:4001", now, int32(5000))

	m, logs := newTestMongo(t, srv, MongoConfig{})
	w := startWatch(t, m, "web")
	set, _ := w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002", "tcp://127.0.0.1:3006", "unix:/run/app/meteor.sock"}, patience)
	want := []affinity.Backend{
		{Endpoint: "tcp://127.0.0.1:3001"},
		{Endpoint: "tcp://127.0.0.1:3002", Weight: 3, State: affinity.Draining},
		{Endpoint: "tcp://127.0.0.1:3006", ProxyProtocol: affinity.ProxyV2},
		{Endpoint: "unix:/run/app/meteor.sock"},
	}
	for i, u := range []string{"http://127.0.0.1:3001", "http://127.0.0.1:3002", "http://127.0.0.1:3006", "unix:/run/app/meteor.sock"} {
		want[i].EndpointHash = EndpointHash(u) // of the URL as registered
	}
	if !sameSet(set, want) {
		t.Errorf("Mongo.Watch(web) = %v; want %v", set, want)
	}
	if !strings.Contains(logs.String(), "not an endpoint") {
		t.Errorf("log does not mention the malformed endpoint document:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `proxy protocol \"v3\"`) {
		t.Errorf("log does not mention the document with proxyProtocol v3:\n%s", logs.String())
	}
	if !srv.Real {
		logs.WaitLine(t, 0, regexp.MustCompile("change streams unavailable, polling"), patience)
	}
	if !hasDiscoveryIndex(t, coll) {
		t.Errorf("no {serviceName: 1, timestamp: 1} index after the first poll")
	}
	api := startWatch(t, m, "api")
	api.waitFor([]string{"tcp://127.0.0.1:4001"}, patience)
}

// TestMongoStaleDocumentDropsOut is acceptance 1, second half: a
// document whose timestamp stops moving drops out after pingInterval +
// grace, not before.
func TestMongoStaleDocumentDropsOut(t *testing.T) {
	const ping, grace = 300 * time.Millisecond, 300 * time.Millisecond
	srv := registrytest.NewServer(t)
	coll := testCollection(t, srv)
	// The one that stays has a wide window, so a loaded machine cannot
	// make it miss a beat; the other beats until it has been seen.
	heartbeat(t, coll, "web", "http://127.0.0.1:3001", 5000, 100*time.Millisecond)
	stop := heartbeat(t, coll, "web", "http://127.0.0.1:3002", int32(ping/time.Millisecond), 100*time.Millisecond)

	m, _ := newTestMongo(t, srv, MongoConfig{Grace: grace})
	w := startWatch(t, m, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}, patience)
	lastPing := stop()
	_, droppedAt := w.waitFor([]string{"tcp://127.0.0.1:3001"}, patience)
	// The stored timestamp has millisecond precision, hence the 2ms; the
	// upper bound is loose for loaded machines.
	if got, low, high := droppedAt.Sub(lastPing), ping+grace-2*time.Millisecond, ping+grace+5*time.Second; got < low || got > high {
		t.Errorf("stale document dropped %v after its last ping; want between %v and %v", got, low, high)
	}
}

// TestMongoFailStatic is acceptance 4 at the source's level: with the
// server stopped the last set stays and the failure is logged and
// counted; when it returns, changes are picked up again.
func TestMongoFailStatic(t *testing.T) {
	srv := registrytest.NewServer(t)
	if srv.Real {
		t.Skip("needs a MongoDB the test can stop")
	}
	coll := testCollection(t, srv)
	heartbeat(t, coll, "web", "http://127.0.0.1:3001", 200, 100*time.Millisecond)
	heartbeat(t, coll, "web", "http://127.0.0.1:3002", 200, 100*time.Millisecond)
	metrics := &Metrics{}
	const grace = 3 * time.Second // wide enough that a loaded machine cannot make a heartbeat late
	m, logs := newTestMongo(t, srv, MongoConfig{Grace: grace, Metrics: metrics, QueryTimeout: time.Second})
	w := startWatch(t, m, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}, patience)

	srv.Stop()
	logs.WaitLine(t, 0, regexp.MustCompile("discovery query failed"), patience)
	eventually(t, patience, "failing gauge", func() bool { return metrics.Snapshot().Failing == 1 })
	// Long enough for every document to be stale by the time the server
	// returns: nothing may change meanwhile.
	const down = 200*time.Millisecond + grace + time.Second
	w.quiet(down, "server down")
	s := metrics.Snapshot()
	if s.PollErrors == 0 || s.Staleness < down {
		t.Errorf("metrics while down = %+v; want PollErrors > 0 and Staleness >= %v", s, down)
	}

	srv.Restart()
	mustPing(t, coll, "web", "http://127.0.0.1:3003", time.Now(), int32(200))
	heartbeat(t, coll, "web", "http://127.0.0.1:3003", 200, 100*time.Millisecond)
	w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002", "tcp://127.0.0.1:3003"}, patience)
	logs.WaitLine(t, 0, regexp.MustCompile("discovery query works again"), patience)
	if f := metrics.Snapshot().Failing; f != 0 {
		t.Errorf("failing gauge after recovery = %d; want 0", f)
	}
}

// TestMongoEmptyResultKeepsSet: a successful query that finds nothing
// live never empties a set.
func TestMongoEmptyResultKeepsSet(t *testing.T) {
	srv := registrytest.NewServer(t)
	coll := testCollection(t, srv)
	mustPing(t, coll, "web", "http://127.0.0.1:3001", time.Now(), int32(5000))
	metrics := &Metrics{}
	m, logs := newTestMongo(t, srv, MongoConfig{Metrics: metrics})
	w := startWatch(t, m, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001"}, patience)

	if _, err := coll.DeleteMany(context.Background(), bson.D{}); err != nil {
		t.Fatal(err)
	}
	polls := metrics.Snapshot().Polls
	eventually(t, patience, "three more polls", func() bool { return metrics.Snapshot().Polls >= polls+3 })
	w.quiet(0, "empty result")
	if !strings.Contains(logs.String(), "no live endpoint") {
		t.Errorf("empty result not logged:\n%s", logs.String())
	}
	mustPing(t, coll, "web", "http://127.0.0.1:3002", time.Now(), int32(5000))
	w.waitFor([]string{"tcp://127.0.0.1:3002"}, patience)
}

func TestMongoDeletesStaleDocuments(t *testing.T) {
	srv := registrytest.NewServer(t)
	coll := testCollection(t, srv)
	mustPing(t, coll, "web", "http://127.0.0.1:3001", time.Now(), int32(200))
	mustPing(t, coll, "web", "http://127.0.0.1:3002", time.Now().Add(-time.Hour), int32(200))
	mustPing(t, coll, "api", "http://127.0.0.1:3003", time.Now().Add(-time.Hour), int32(200))
	metrics := &Metrics{}
	m, _ := newTestMongo(t, srv, MongoConfig{
		MaxPingInterval: 200 * time.Millisecond, Grace: 5 * time.Second,
		DeleteStaleAfter: 6 * time.Second, Metrics: metrics,
	})
	w := startWatch(t, m, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001"}, patience)
	eventually(t, patience, "stale document deleted", func() bool { return metrics.Snapshot().Deleted == 1 })
	count := func(endpoint string) int64 {
		n, err := coll.CountDocuments(context.Background(), bson.D{{Key: "endpoint", Value: endpoint}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for ep, want := range map[string]int64{"http://127.0.0.1:3001": 1, "http://127.0.0.1:3002": 0, "http://127.0.0.1:3003": 1} {
		if got := count(ep); got != want {
			t.Errorf("documents of %s after the sweep = %d; want %d (only the watched service's stale ones go)", ep, got, want)
		}
	}
}

func TestNewMongoRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  MongoConfig
	}{
		{"no URL", MongoConfig{}},
		{"bad URL", MongoConfig{URL: "http://x"}},
		{"delete before stale", MongoConfig{URL: "mongodb://127.0.0.1:1/db", DeleteStaleAfter: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := NewMongo(tt.cfg); err == nil {
				m.Close(context.Background())
				t.Errorf("NewMongo(%+v) = nil error; want an error", tt.cfg)
			}
		})
	}
}

// TestMongoChangeStream runs only against a real MongoDB replica set
// (L4LB_TEST_MONGODB_URL): with polling slowed to an hour, inserts and
// deletes still reach the set at once, through the change stream.
func TestMongoChangeStream(t *testing.T) {
	srv := registrytest.NewServer(t)
	if !srv.Real {
		t.Skip("FerretDB has no change streams; set " + registrytest.EnvURL + " to a MongoDB replica set")
	}
	coll := testCollection(t, srv)
	mustPing(t, coll, "web", "http://127.0.0.1:3001", time.Now(), int32(5000))
	m, logs := newTestMongo(t, srv, MongoConfig{PollInterval: time.Hour, ResyncInterval: time.Hour})
	w := startWatch(t, m, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001"}, patience)
	time.Sleep(time.Second) // the stream opens after the first poll; nothing signals it
	if strings.Contains(logs.String(), "change streams unavailable") {
		t.Skip("this MongoDB has no change streams (standalone?)")
	}
	mustPing(t, coll, "web", "http://127.0.0.1:3002", time.Now(), int32(5000))
	w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}, patience)
	// A heartbeat makes no event worth a query, but a state change does.
	mustPing(t, coll, "web", "http://127.0.0.1:3002", time.Now(), int32(5000), bson.E{Key: "state", Value: "draining"})
	set, _ := w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}, patience)
	if set[1].State != affinity.Draining {
		t.Errorf("after a state change: %v; want 3002 draining", set)
	}
	if _, err := coll.DeleteOne(context.Background(), bson.D{{Key: "endpoint", Value: "http://127.0.0.1:3001"}}); err != nil {
		t.Fatal(err)
	}
	w.waitFor([]string{"tcp://127.0.0.1:3002"}, patience)
}

// hasDiscoveryIndex reports whether the {serviceName, timestamp} index
// exists.
func hasDiscoveryIndex(t *testing.T, coll *mongo.Collection) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return false // the collection may not exist yet
	}
	want := bson.D{{Key: "serviceName", Value: int32(1)}, {Key: "timestamp", Value: int32(1)}}
	for _, s := range specs {
		var keys bson.D
		if err := bson.Unmarshal(s.KeysDocument, &keys); err == nil && len(keys) == 2 &&
			keys[0].Key == want[0].Key && keys[1].Key == want[1].Key {
			return true
		}
	}
	return false
}

// TestMongoStartsWhileServerDown: a balancer may start before MongoDB; it
// reports nothing until the first query works, then the set, and creates
// its index then.
func TestMongoStartsWhileServerDown(t *testing.T) {
	srv := registrytest.NewServer(t)
	if srv.Real {
		t.Skip("needs a MongoDB the test can stop")
	}
	coll := testCollection(t, srv)
	mustPing(t, coll, "web", "http://127.0.0.1:3001", time.Now(), int32(5000))
	srv.Stop()
	metrics := &Metrics{}
	m, logs := newTestMongo(t, srv, MongoConfig{Metrics: metrics, QueryTimeout: time.Second})
	w := startWatch(t, m, "web")
	logs.WaitLine(t, 0, regexp.MustCompile("discovery query failed"), patience)
	w.quiet(0, "server down from the start")
	srv.Restart()
	w.waitFor([]string{"tcp://127.0.0.1:3001"}, patience)
	eventually(t, patience, "index created", func() bool { return hasDiscoveryIndex(t, coll) })
	if strings.Contains(logs.String(), "cannot create the discovery index") {
		t.Errorf("index creation given up while the server was down:\n%s", logs.String())
	}
}
