package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/l4lb/l4lb/affinity"
)

// Check is how Register checks its instance before each heartbeat.
type Check string

const (
	// CheckTCP connects to the endpoint (TCP or UNIX socket) and closes.
	CheckTCP Check = "tcp"
	// CheckHTTP sends GET CheckPath and wants a 2xx or 3xx answer.
	CheckHTTP Check = "http"
	// CheckOff heartbeats without checking.
	CheckOff Check = "off"
)

// DefaultCheckTimeout bounds one health check, unless the ping interval
// is shorter.
const DefaultCheckTimeout = 2 * time.Second

// RegisterConfig configures Register.
type RegisterConfig struct {
	// URL is the MongoDB connection string, CLUSTER_DISCOVERY_URL; its
	// path names the database, DefaultDatabase if none.
	URL string
	// Collection is the endpoints collection. If empty, DefaultCollection.
	Collection string
	// Service is the serviceName to register under, CLUSTER_SERVICE.
	// Required.
	Service string
	// Endpoint is the instance's URL, CLUSTER_ENDPOINT_URL, stored
	// verbatim as meteorhacks:cluster stores it ("http://10.0.0.5:3000");
	// it must be something NormalizeEndpoint accepts. Required.
	Endpoint string
	// Balancer is the public balancer URL, CLUSTER_BALANCER_URL, stored
	// for meteorhacks:cluster clients. If empty, null is stored.
	Balancer string
	// PingInterval is the heartbeat period, also written into each
	// document. If zero or negative, DefaultPingInterval is used.
	PingInterval time.Duration
	// Weight, if positive, is written as the document's weight.
	Weight int
	// ProxyProtocol, unless ProxyDefault, is written as the document's
	// proxyProtocol ("off", "v1" or "v2"): the PROXY header balancers send
	// this instance whatever their own --proxy-protocol.
	ProxyProtocol affinity.ProxyProtocol
	// Check is the health check; if empty, CheckTCP.
	Check Check
	// CheckPath is the path CheckHTTP requests. If empty, "/".
	CheckPath string
	// CheckTimeout bounds one check. If zero or negative, the smaller of
	// DefaultCheckTimeout and PingInterval is used.
	CheckTimeout time.Duration
	// QueryTimeout bounds each write. If zero or negative,
	// DefaultQueryTimeout is used.
	QueryTimeout time.Duration
	// Logger receives heartbeat and check failures and recoveries. If
	// nil, slog.Default() is used.
	Logger *slog.Logger
}

// Register heartbeats one instance into the endpoints collection the way
// meteorhacks:cluster does, so both its balancers and ours see it: every
// PingInterval it upserts {serviceName, endpoint} with $set timestamp and
// pingInterval, and on its first successful ping also endpointHash (SHA-1
// hex of the endpoint) and balancer (later pings carry them in
// $setOnInsert, so a document deleted meanwhile comes back whole). Numbers
// are written as int32, as the Node driver writes small JavaScript
// numbers.
//
// Before each heartbeat it checks the instance; while the check fails it
// skips the heartbeat, so the document goes stale and balancers drop the
// instance after pingInterval + grace. MongoDB failures are logged and
// retried at the next tick. When ctx is done Register deletes the
// document (so balancers drop the instance at their next query) and
// returns nil, or the error of that delete.
func Register(ctx context.Context, cfg RegisterConfig) error {
	if cfg.Service == "" {
		return errors.New("register: no service name")
	}
	target, err := NormalizeEndpoint(cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if cfg.ProxyProtocol > affinity.ProxyV2 {
		return fmt.Errorf("register: unknown proxy protocol %d", cfg.ProxyProtocol)
	}
	if cfg.Collection == "" {
		cfg.Collection = DefaultCollection
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = min(DefaultCheckTimeout, cfg.PingInterval)
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.CheckPath == "" {
		cfg.CheckPath = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	check, err := newChecker(cfg.Check, target, cfg.CheckPath, cfg.CheckTimeout)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	client, coll, err := connect(cfg.URL, cfg.Collection, cfg.QueryTimeout)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	r := &registrar{cfg: cfg, coll: coll, check: check,
		log: cfg.Logger.With("service", cfg.Service, "backend", cfg.Endpoint)}
	r.heartbeatLoop(ctx)
	return r.deregister(context.WithoutCancel(ctx))
}

type registrar struct {
	cfg   RegisterConfig
	coll  *mongo.Collection
	check func(context.Context) error
	log   *slog.Logger

	announced bool // endpointHash and balancer are written
	unhealthy bool
	failing   bool // the last heartbeat failed
}

// heartbeatLoop beats at once, then every PingInterval, until ctx is done.
// A beat under way when ctx is done is finished, not cancelled: a
// cancelled write may still be applied by the server after the
// deregistering delete and bring the document back.
func (r *registrar) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.PingInterval)
	defer t.Stop()
	for {
		r.beat(context.WithoutCancel(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beat checks the instance and, if it is healthy, heartbeats once.
func (r *registrar) beat(ctx context.Context) {
	if err := r.check(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		if !r.unhealthy {
			r.unhealthy = true
			r.log.Warn("health check failed, heartbeats stop until it passes", "err", err)
		}
		return
	}
	if r.unhealthy {
		r.unhealthy = false
		r.log.Info("health check passes again, heartbeating")
	}
	set := bson.D{
		{Key: fieldTimestamp, Value: time.Now()},
		{Key: fieldPingInterval, Value: int32(min(r.cfg.PingInterval.Milliseconds(), math.MaxInt32))},
	}
	var balancer any // null, as meteorhacks:cluster stores a missing one
	if r.cfg.Balancer != "" {
		balancer = r.cfg.Balancer
	}
	identity := bson.D{
		{Key: fieldEndpointHash, Value: EndpointHash(r.cfg.Endpoint)},
		{Key: fieldBalancer, Value: balancer},
	}
	if r.cfg.Weight > 0 {
		identity = append(identity, bson.E{Key: fieldWeight, Value: int32(min(r.cfg.Weight, math.MaxInt32))})
	}
	if r.cfg.ProxyProtocol != affinity.ProxyDefault {
		identity = append(identity, bson.E{Key: fieldProxyProtocol, Value: r.cfg.ProxyProtocol.String()})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if !r.announced {
		// The first ping sets the identity fields, as meteorhacks:cluster
		// does, overwriting what an earlier run left.
		update[0].Value = append(set, identity...)
	} else {
		// Later pings only heartbeat, but if the document was deleted
		// meanwhile (DeleteStaleAfter while the check failed) the upsert
		// recreates it whole.
		update = append(update, bson.E{Key: "$setOnInsert", Value: identity})
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	_, err := r.coll.UpdateOne(wctx, r.key(), update, options.UpdateOne().SetUpsert(true))
	if err != nil {
		if ctx.Err() == nil && !r.failing {
			r.failing = true
			r.log.Warn("heartbeat failed", "err", err)
		}
		return
	}
	if r.failing || !r.announced {
		r.log.Info("heartbeating", "interval", r.cfg.PingInterval)
	}
	r.failing, r.announced = false, true
}

func (r *registrar) key() bson.D {
	return bson.D{{Key: fieldService, Value: r.cfg.Service}, {Key: fieldEndpoint, Value: r.cfg.Endpoint}}
}

// deregister deletes the instance's document.
func (r *registrar) deregister(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	res, err := r.coll.DeleteOne(ctx, r.key())
	if err != nil {
		return fmt.Errorf("register: deregister %s: %w", r.cfg.Endpoint, err)
	}
	r.log.Info("deregistered", "deleted", res.DeletedCount)
	return nil
}

// newChecker returns the health check of kind for the canonical endpoint
// target.
func newChecker(kind Check, target, path string, timeout time.Duration) (func(context.Context) error, error) {
	network, address := "tcp", target[len("tcp://"):]
	if target[:len("unix:")] == "unix:" {
		network, address = "unix", target[len("unix:"):]
	}
	dialer := &net.Dialer{Timeout: timeout}
	switch kind {
	case CheckOff:
		return func(context.Context) error { return nil }, nil
	case CheckTCP, "":
		return func(ctx context.Context) error {
			c, err := dialer.DialContext(ctx, network, address)
			if err != nil {
				return err
			}
			return c.Close()
		}, nil
	case CheckHTTP:
		host := address
		if network == "unix" {
			host = "localhost" // the Host header a UNIX-socket Meteor ignores
		}
		url := "http://" + host + path
		client := &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, network, address)
				},
				DisableKeepAlives: true,
			},
			// A redirect is an answer; following it could leave the instance.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode > 399 {
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("health check %q: want tcp, http or off", kind)
}
