package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/l4lb/l4lb/affinity"
)

// Defaults of MongoConfig and RegisterConfig.
const (
	// DefaultDatabase is used when the discovery URL names no database.
	// The Node driver of meteorhacks:cluster's time (1.x/2.x, whose
	// url_parser defaults dbName to "admin") handed Meteor that database,
	// so that is where its instances wrote when CLUSTER_DISCOVERY_URL
	// named none.
	DefaultDatabase = "admin"
	// DefaultCollection is meteorhacks:cluster's collection.
	DefaultCollection = "clusterEndpoints"
	// DefaultPingInterval is meteorhacks:cluster's heartbeat period, and
	// the one assumed for a document without a pingInterval.
	DefaultPingInterval = 5 * time.Second
	// DefaultGrace is meteorhacks:cluster's allowance on top of the
	// pingInterval before an endpoint counts as gone.
	DefaultGrace = 15 * time.Second
	// DefaultMaxPingInterval caps the pingInterval a document may claim.
	DefaultMaxPingInterval = 5 * time.Minute
	// DefaultResyncInterval is how often a watch with a working change
	// stream re-reads the set anyway: heartbeats that stop or resume make
	// no change event worth streaming.
	DefaultResyncInterval = 5 * time.Second
	// DefaultQueryTimeout bounds one discovery query or write.
	DefaultQueryTimeout = 5 * time.Second
)

// MongoConfig configures NewMongo.
type MongoConfig struct {
	// URL is the MongoDB connection string, CLUSTER_DISCOVERY_URL. Its
	// path names the database; if it names none, DefaultDatabase is used.
	URL string
	// Collection is the endpoints collection. If empty,
	// DefaultCollection is used.
	Collection string
	// PollInterval is how often a watch queries when it has no change
	// stream. If zero or negative, DefaultInterval is used.
	PollInterval time.Duration
	// ResyncInterval is how often a watch queries while its change stream
	// works. If zero or negative, DefaultResyncInterval is used.
	ResyncInterval time.Duration
	// Grace is added to a document's pingInterval before it counts as
	// stale. If zero, DefaultGrace is used; if negative, no grace.
	Grace time.Duration
	// MaxPingInterval caps the pingInterval a document may claim, and so
	// bounds how far back a poll has to look. If zero or negative,
	// DefaultMaxPingInterval is used.
	MaxPingInterval time.Duration
	// DeleteStaleAfter, if positive, makes each poll loop delete its services'
	// documents whose timestamp is older than that. It must be at least
	// MaxPingInterval + Grace, so that no live document is ever deleted.
	// If zero or negative, nothing is deleted (meteorhacks:cluster's
	// behaviour).
	DeleteStaleAfter time.Duration
	// QueryTimeout bounds each query, write and the opening of a change
	// stream. If zero or negative, DefaultQueryTimeout is used.
	QueryTimeout time.Duration
	// NoChangeStream makes watches poll even where the server offers
	// change streams.
	NoChangeStream bool
	// NoIndex stops the first watch from creating the
	// {serviceName: 1, timestamp: 1} index that keeps polls cheap (useful
	// with read-only credentials; a failure to create it is only logged).
	NoIndex bool
	// Services, if not empty, are the services watched together: Watches
	// of any of them share one query, {serviceName: {$in: Services}},
	// every PollInterval (and one change stream), whose documents are
	// handed out per service. A balancer in front of several services
	// lists them all here, so that its load on MongoDB does not grow with
	// their number. Names must be distinct.
	Services []string
	// Logger receives failures, recoveries and set changes, with the
	// attribute "service" (or "services", for a shared query). If nil, slog.Default() is used.
	Logger *slog.Logger
	// Metrics, if not nil, counts queries, failures and staleness.
	Metrics *Metrics
}

// Mongo is the MongoDB discovery source, compatible with the documents
// meteorhacks:cluster writes (see the package documentation). It is safe
// for concurrent use: several services may be watched at once over one
// client.
type Mongo struct {
	cfg    MongoConfig
	live   liveness
	client *mongo.Client
	coll   *mongo.Collection
	log    *slog.Logger

	indexMu   sync.Mutex
	indexDone bool // created, or refused for good

	shared *mongoGroup // the loop of MongoConfig.Services; nil if none
}

var _ Source = (*Mongo)(nil)

// NewMongo checks cfg and creates the client. It does not wait for the
// server: a MongoDB that is down now is retried by Watch.
func NewMongo(cfg MongoConfig) (*Mongo, error) {
	if cfg.Collection == "" {
		cfg.Collection = DefaultCollection
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultInterval
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	switch {
	case cfg.Grace == 0:
		cfg.Grace = DefaultGrace
	case cfg.Grace < 0:
		cfg.Grace = 0
	}
	if cfg.MaxPingInterval <= 0 {
		cfg.MaxPingInterval = DefaultMaxPingInterval
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.DeleteStaleAfter > 0 && cfg.DeleteStaleAfter < cfg.MaxPingInterval+cfg.Grace {
		return nil, fmt.Errorf("mongo discovery: DeleteStaleAfter %v is shorter than MaxPingInterval+Grace %v: live documents could be deleted",
			cfg.DeleteStaleAfter, cfg.MaxPingInterval+cfg.Grace)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for i, s := range cfg.Services {
		if s == "" || slices.Contains(cfg.Services[:i], s) {
			return nil, fmt.Errorf("mongo discovery: Services %q: empty or repeated name %q", cfg.Services, s)
		}
	}
	client, coll, err := connect(cfg.URL, cfg.Collection, cfg.QueryTimeout)
	if err != nil {
		return nil, err
	}
	m := &Mongo{
		cfg:    cfg,
		live:   liveness{grace: cfg.Grace, maxPing: cfg.MaxPingInterval},
		client: client,
		coll:   coll,
		log:    cfg.Logger,
	}
	if len(cfg.Services) > 0 {
		m.shared = newMongoGroup(m, cfg.Services)
	}
	return m, nil
}

// connect creates a client for url (not yet connected: the driver dials
// lazily and redials on its own) and returns the endpoints collection.
func connect(url, collection string, timeout time.Duration) (*mongo.Client, *mongo.Collection, error) {
	if url == "" {
		return nil, nil, errors.New("mongo discovery: no URL")
	}
	cs, err := connstring.Parse(url)
	if err != nil {
		return nil, nil, fmt.Errorf("mongo discovery: parse URL: %w", err)
	}
	db := cs.Database
	if db == "" {
		db = DefaultDatabase
	}
	opts := options.Client().ApplyURI(url)
	if !cs.ServerSelectionTimeoutSet {
		opts.SetServerSelectionTimeout(timeout)
	}
	if !cs.ConnectTimeoutSet {
		opts.SetConnectTimeout(timeout)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("mongo discovery %s: %w", cs.Hosts, err)
	}
	return client, client.Database(db).Collection(collection), nil
}

// Close disconnects the client; watches still running fail static.
func (m *Mongo) Close(ctx context.Context) error {
	return m.client.Disconnect(ctx)
}

// Watch implements Source. The first update comes after the first
// successful query; until then nothing is known and nothing is reported.
//
// Watches of the services listed in MongoConfig.Services share one poll
// loop: one query (serviceName in the list) every PollInterval, one change
// stream, and each watch gets its own service's documents. A watch of a
// service not listed runs a loop of its own.
//
// Fail static: when a query fails, the last reported set stays in force
// (logged once when the failure starts and once when it ends, and
// counted in Metrics). A query that succeeds but finds no live endpoint
// never replaces a non-empty set: an empty set cannot serve anyone, while
// the last known one may (this is what happens after an outage that also
// kept the instances from heartbeating). For the same reason, after a
// failure ends, endpoints are only added, not removed, for as long as the
// failure lasted (at most Grace), giving instances time to heartbeat
// again.
func (m *Mongo) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	w := &mongoWatch{service: service, update: update, log: m.log.With("service", service)}
	g := m.groupFor(service)
	g.join(w)
	<-ctx.Done()
	g.leave(w)
	return nil
}

// groupFor returns the poll loop that serves service: the shared one of
// MongoConfig.Services if it lists service, else a new one of its own.
func (m *Mongo) groupFor(service string) *mongoGroup {
	if m.shared != nil && slices.Contains(m.shared.services, service) {
		return m.shared
	}
	return newMongoGroup(m, []string{service})
}

// mongoGroup is one poll loop: it queries a list of services at once and
// hands each watch that joined it the set of its service. It runs while
// at least one watch is joined.
type mongoGroup struct {
	m        *Mongo
	services []string
	log      *slog.Logger

	// runMu orders joins and leaves with the loop's start and stop.
	runMu sync.Mutex
	stop  context.CancelFunc // of the running loop; nil when stopped
	done  chan struct{}      // closed when the running loop returned

	// mu guards watches; the loop holds it while it hands out sets, so
	// that once leave returns no update of that watch runs or follows.
	mu      sync.Mutex
	watches []*mongoWatch

	trigger   chan struct{}
	streaming chan bool

	// The loop's own state, touched by its goroutine only.
	failing    bool
	failedAt   time.Time
	failLogged time.Time // last "failing" log line
	holdUntil  time.Time // removals suppressed until then
	nextSweep  time.Time
}

func newMongoGroup(m *Mongo, services []string) *mongoGroup {
	log := m.log.With("service", services[0])
	if len(services) > 1 {
		log = m.log.With("services", strings.Join(services, ","))
	}
	return &mongoGroup{m: m, services: slices.Clone(services), log: log}
}

// join adds w to the watches, starting the loop if it is not running, and
// asks for a query soon so that w gets its first set.
func (g *mongoGroup) join(w *mongoWatch) {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	g.mu.Lock()
	g.watches = append(g.watches, w)
	g.mu.Unlock()
	if g.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		g.stop, g.done = cancel, make(chan struct{})
		g.trigger, g.streaming = make(chan struct{}, 1), make(chan bool, 1)
		done := g.done
		go func() {
			defer close(done)
			g.run(ctx)
		}()
		return
	}
	g.wake()
}

// leave removes w; the last watch to leave stops the loop and waits for
// it to return.
func (g *mongoGroup) leave(w *mongoWatch) {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	g.mu.Lock()
	g.watches = slices.DeleteFunc(g.watches, func(x *mongoWatch) bool { return x == w })
	last := len(g.watches) == 0
	g.mu.Unlock()
	if last && g.stop != nil {
		g.stop()
		<-g.done
		g.stop, g.done = nil, nil
	}
}

// mongoWatch is one Watch call: its service and the fail-static state of
// the sets it was handed. The group's loop alone touches it, under
// mongoGroup.mu.
type mongoWatch struct {
	service string
	update  func([]affinity.Backend)
	log     *slog.Logger

	last        []affinity.Backend // nil until the first set is known
	keptEmpty   bool               // an empty result is being ignored (logged once)
	badEndpoint map[string]bool    // logged once each
}

func (g *mongoGroup) run(ctx context.Context) {
	m := g.m
	g.failing, g.holdUntil, g.nextSweep = false, time.Time{}, time.Time{}
	streaming := false
	if !m.cfg.NoChangeStream {
		// The loop does not return before the stream's goroutine has.
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { g.watchChanges(ctx) })
		defer wg.Wait()
		defer cancel()
	}
	defer func() {
		if g.failing {
			m.cfg.Metrics.setFailing(-1)
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var start time.Time // of the last poll
	for {
		select {
		case <-ctx.Done():
			return
		case streaming = <-g.streaming:
			continue // the next query comes at the new rate
		case <-g.trigger:
			// A burst of change events (a fleet restarting) must not
			// turn into back-to-back queries.
			if since := time.Since(start); since < minTriggerGap {
				timer.Reset(minTriggerGap - since)
				continue
			}
		case <-timer.C:
		}
		start = time.Now()
		g.poll(ctx)
		next := m.cfg.PollInterval
		if streaming {
			next = m.cfg.ResyncInterval
		}
		// Polls start every interval however long a query takes, but a
		// slow server still gets a breather between them.
		timer.Reset(max(next-time.Since(start), next/4))
	}
}

// minTriggerGap is the least time between a poll and one triggered by a
// change event.
const minTriggerGap = 100 * time.Millisecond

// failLogEvery is how often a loop that keeps failing says so again.
const failLogEvery = time.Minute

// poll queries once and hands each watch its service's set.
func (g *mongoGroup) poll(ctx context.Context) {
	m := g.m
	if !m.cfg.NoIndex {
		m.ensureIndex(ctx, g.log)
	}
	start := time.Now()
	docs, err := m.query(ctx, g.services, start)
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.cfg.Metrics.pollFailed()
		switch {
		case !g.failing:
			g.failing, g.failedAt, g.failLogged = true, now, now
			m.cfg.Metrics.setFailing(1)
			g.log.Warn("discovery query failed, keeping the last known sets", "err", err)
		case now.Sub(g.failLogged) >= failLogEvery:
			g.failLogged = now
			g.log.Warn("discovery still failing, keeping the last known sets", "err", err,
				"failed_for", now.Sub(g.failedAt).Round(time.Second))
		}
		return
	}
	m.cfg.Metrics.pollOK(now.Sub(start), now)
	if g.failing {
		g.failing = false
		m.cfg.Metrics.setFailing(-1)
		// Instances heartbeat again within a pingInterval of MongoDB's
		// return, and only an outage about as long as the grace can have
		// made live ones look stale: hold removals as long as the
		// failure lasted, at most Grace, so that a blip costs little.
		g.holdUntil = now.Add(min(m.cfg.Grace, now.Sub(g.failedAt)))
		g.log.Info("discovery query works again", "failed_for", now.Sub(g.failedAt).Round(time.Millisecond))
	}
	g.mu.Lock()
	for _, w := range g.watches {
		w.apply(w.liveSet(m, docs, now), now, g.holdUntil, m.cfg.Metrics)
	}
	g.mu.Unlock()
	if m.cfg.DeleteStaleAfter > 0 && !now.Before(g.nextSweep) {
		g.nextSweep = now.Add(min(max(m.cfg.DeleteStaleAfter/2, m.cfg.PollInterval), time.Minute))
		m.deleteStale(ctx, g.services, now, g.log)
	}
}

// liveSet builds the sorted set of w's service's live, well-formed
// endpoints.
func (w *mongoWatch) liveSet(m *Mongo, docs []endpointDoc, now time.Time) []affinity.Backend {
	set := make([]affinity.Backend, 0, len(docs))
	for _, d := range docs {
		if d.service != w.service || !m.live.live(d, now) {
			continue
		}
		b, err := d.backend()
		if err != nil {
			if !w.badEndpoint[d.endpoint] {
				if w.badEndpoint == nil {
					w.badEndpoint = map[string]bool{}
				}
				w.badEndpoint[d.endpoint] = true
				w.log.Warn("ignoring endpoint document", "err", err)
			}
			continue
		}
		set = append(set, b)
	}
	return sortBackends(set)
}

// apply hands set to update if it differs from the last one, under the
// fail-static rules of Watch; removals wait until holdUntil.
func (w *mongoWatch) apply(set []affinity.Backend, now, holdUntil time.Time, metrics *Metrics) {
	if len(set) == 0 && len(w.last) > 0 {
		if !w.keptEmpty {
			w.keptEmpty = true
			w.log.Warn("discovery found no live endpoint, keeping the last known set", "backends", len(w.last))
		}
		return
	}
	w.keptEmpty = false
	if now.Before(holdUntil) {
		set = withKept(set, w.last)
	}
	if w.last != nil && sameSet(set, w.last) {
		return
	}
	w.last = set
	metrics.updated()
	w.log.Debug("backend set changed", "backends", len(set))
	w.update(slices.Clone(set))
}

// withKept returns set plus the members of old it lacks, sorted.
func withKept(set, old []affinity.Backend) []affinity.Backend {
	out := slices.Clone(set)
	for _, b := range old {
		if !slices.ContainsFunc(set, func(n affinity.Backend) bool { return n.Endpoint == b.Endpoint }) {
			out = append(out, b)
		}
	}
	return sortBackends(out)
}

// query reads the services' documents that can still be live: one
// indexed range scan on {serviceName, timestamp} per service, with only
// the fields a Backend needs.
func (m *Mongo) query(ctx context.Context, services []string, now time.Time) ([]endpointDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.QueryTimeout)
	defer cancel()
	filter := bson.D{
		serviceFilter(services),
		{Key: fieldTimestamp, Value: bson.D{{Key: "$gte", Value: m.live.horizon(now)}}},
	}
	cur, err := m.coll.Find(ctx, filter, options.Find().SetProjection(projection))
	if err != nil {
		return nil, fmt.Errorf("query %s.%s: %w", m.coll.Database().Name(), m.coll.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var docs []endpointDoc
	for cur.Next(ctx) {
		if d, ok := decodeDoc(cur.Current); ok {
			docs = append(docs, d)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("query %s.%s: %w", m.coll.Database().Name(), m.coll.Name(), err)
	}
	return docs, nil
}

// ensureIndex creates the index that makes query a range scan, once per
// Mongo: it is retried at each poll while MongoDB is unreachable, and
// given up (with a log line) when the server refuses it, for instance for
// read-only credentials.
func (m *Mongo) ensureIndex(ctx context.Context, log *slog.Logger) {
	m.indexMu.Lock()
	defer m.indexMu.Unlock()
	if m.indexDone {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.QueryTimeout)
	defer cancel()
	_, err := m.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: fieldService, Value: 1}, {Key: fieldTimestamp, Value: 1}},
	})
	var se mongo.ServerError
	switch {
	case err == nil:
		m.indexDone = true
	case errors.As(err, &se) && !mongo.IsNetworkError(err) && !mongo.IsTimeout(err):
		m.indexDone = true
		log.Warn("cannot create the discovery index, polls will scan the collection", "err", err)
	}
}

// serviceFilter matches the documents of services: serviceName equal to
// the one service, or in the list.
func serviceFilter(services []string) bson.E {
	if len(services) == 1 {
		return bson.E{Key: fieldService, Value: services[0]}
	}
	return bson.E{Key: fieldService, Value: bson.D{{Key: "$in", Value: services}}}
}

// deleteStale removes the services' documents older than DeleteStaleAfter.
func (m *Mongo) deleteStale(ctx context.Context, services []string, now time.Time, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.QueryTimeout)
	defer cancel()
	res, err := m.coll.DeleteMany(ctx, bson.D{
		serviceFilter(services),
		{Key: fieldTimestamp, Value: bson.D{{Key: "$lt", Value: now.Add(-m.cfg.DeleteStaleAfter)}}},
	})
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("deleting stale endpoint documents failed", "err", err)
		}
		return
	}
	if res.DeletedCount > 0 {
		m.cfg.Metrics.deletedDocs(res.DeletedCount)
		log.Info("deleted stale endpoint documents", "count", res.DeletedCount, "older_than", m.cfg.DeleteStaleAfter)
	}
}
