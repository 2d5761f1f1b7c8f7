package registry

import (
	"fmt"
	"math"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/l4lb/l4lb/affinity"
)

// Field names of a clusterEndpoints document. The first six are
// meteorhacks:cluster's and must not change; the last three are ours and
// optional.
const (
	fieldService       = "serviceName"
	fieldEndpoint      = "endpoint"
	fieldEndpointHash  = "endpointHash"
	fieldBalancer      = "balancer"
	fieldTimestamp     = "timestamp"
	fieldPingInterval  = "pingInterval"
	fieldWeight        = "weight"
	fieldState         = "state"
	fieldProxyProtocol = "proxyProtocol"
)

// projection is what a poll reads of each document: enough to decide
// liveness, hand it to its service's watch and build a Backend, nothing
// else (no _id, hash or balancer).
var projection = bson.D{
	{Key: "_id", Value: 0},
	{Key: fieldService, Value: 1},
	{Key: fieldEndpoint, Value: 1},
	{Key: fieldTimestamp, Value: 1},
	{Key: fieldPingInterval, Value: 1},
	{Key: fieldWeight, Value: 1},
	{Key: fieldState, Value: 1},
	{Key: fieldProxyProtocol, Value: 1},
}

// endpointDoc is the part of a clusterEndpoints document that decides
// whether and how its endpoint is in the set.
type endpointDoc struct {
	service      string        // serviceName
	endpoint     string        // as written, not yet normalized
	timestamp    time.Time     // last heartbeat
	pingInterval time.Duration // as announced; 0 if absent or invalid
	weight       int
	state        string
	proxy        string // proxyProtocol as written
}

// decodeDoc reads one document leniently: meteorhacks:cluster wrote from
// JavaScript, so numbers may be int32, int64 or double, and a timestamp is
// a BSON date (a number of milliseconds is accepted too). It reports false
// when the endpoint or the timestamp is missing or of the wrong type.
func decodeDoc(raw bson.Raw) (endpointDoc, bool) {
	var d endpointDoc
	ep, ok := raw.Lookup(fieldEndpoint).StringValueOK()
	if !ok || ep == "" {
		return d, false
	}
	d.endpoint = ep
	d.service, _ = raw.Lookup(fieldService).StringValueOK()
	ts := raw.Lookup(fieldTimestamp)
	if ms, ok := ts.DateTimeOK(); ok {
		d.timestamp = time.UnixMilli(ms)
	} else if ms, ok := number(ts); ok {
		d.timestamp = time.UnixMilli(int64(ms))
	} else {
		return d, false
	}
	if ms, ok := number(raw.Lookup(fieldPingInterval)); ok && ms > 0 {
		d.pingInterval = time.Duration(ms * float64(time.Millisecond))
	}
	if w, ok := number(raw.Lookup(fieldWeight)); ok && w >= 0 && w <= math.MaxInt32 {
		d.weight = int(w)
	}
	d.state, _ = raw.Lookup(fieldState).StringValueOK()
	d.proxy, _ = raw.Lookup(fieldProxyProtocol).StringValueOK()
	return d, true
}

// number reads an int32, int64 or double.
func number(v bson.RawValue) (float64, bool) {
	if i, ok := v.Int32OK(); ok {
		return float64(i), true
	}
	if i, ok := v.Int64OK(); ok {
		return float64(i), true
	}
	if f, ok := v.DoubleOK(); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f, true
	}
	return 0, false
}

// liveness is the staleness rule, meteorhacks:cluster's
// now - timestamp < pingInterval + grace, with two guards: a missing
// pingInterval counts as DefaultPingInterval and a huge one is capped at
// maxPing, so a bogus document cannot stay live for ever.
type liveness struct {
	grace, maxPing time.Duration
}

// live reports whether d is live at now.
func (l liveness) live(d endpointDoc, now time.Time) bool {
	ping := d.pingInterval
	if ping <= 0 {
		ping = DefaultPingInterval
	}
	ping = min(ping, l.maxPing)
	return now.Sub(d.timestamp) < ping+l.grace
}

// horizon is the oldest timestamp that can still be live at now; the poll
// query leaves older documents on the server.
func (l liveness) horizon(now time.Time) time.Time {
	return now.Add(-(l.maxPing + l.grace))
}

// backend turns a live document into a Backend. Unknown states count as
// Ready so that a newer writer cannot take an instance out by accident. A
// proxyProtocol that affinity.ParseProxyProtocol rejects is an error:
// sending or not sending a PROXY header that the instance does not expect
// breaks every connection to it, so such a document is left out, and
// logged.
func (d endpointDoc) backend() (affinity.Backend, error) {
	ep, err := NormalizeEndpoint(d.endpoint)
	if err != nil {
		return affinity.Backend{}, err
	}
	st, _ := parseState(strings.TrimSpace(d.state))
	pp, err := affinity.ParseProxyProtocol(d.proxy)
	if err != nil {
		return affinity.Backend{}, fmt.Errorf("endpoint %s: %w", ep, err)
	}
	return affinity.Backend{Endpoint: ep, Weight: d.weight, State: st, ProxyProtocol: pp,
		EndpointHash: EndpointHash(d.endpoint)}, nil
}
