package registry

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/l4lb/l4lb/affinity"
)

func TestDecodeDoc(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name string
		doc  bson.D
		want endpointDoc
		ok   bool
	}{
		{"meteorhacks int32", bson.D{{Key: "endpoint", Value: "http://a:1"}, {Key: "timestamp", Value: ts}, {Key: "pingInterval", Value: int32(5000)}},
			endpointDoc{endpoint: "http://a:1", timestamp: ts, pingInterval: 5 * time.Second}, true},
		{"double and ours", bson.D{{Key: "endpoint", Value: "http://a:1"}, {Key: "timestamp", Value: ts}, {Key: "pingInterval", Value: 2500.0},
			{Key: "weight", Value: int64(4)}, {Key: "state", Value: "draining"}, {Key: "proxyProtocol", Value: "v2"}},
			endpointDoc{endpoint: "http://a:1", timestamp: ts, pingInterval: 2500 * time.Millisecond, weight: 4, state: "draining", proxy: "v2"}, true},
		{"timestamp in ms", bson.D{{Key: "endpoint", Value: "http://a:1"}, {Key: "timestamp", Value: float64(ts.UnixMilli())}},
			endpointDoc{endpoint: "http://a:1", timestamp: ts}, true},
		{"bad optional fields ignored", bson.D{{Key: "endpoint", Value: "http://a:1"}, {Key: "timestamp", Value: ts},
			{Key: "pingInterval", Value: "5000"}, {Key: "weight", Value: int32(-1)}, {Key: "state", Value: 3}},
			endpointDoc{endpoint: "http://a:1", timestamp: ts}, true},
		{"no endpoint", bson.D{{Key: "timestamp", Value: ts}}, endpointDoc{}, false},
		{"endpoint not a string", bson.D{{Key: "endpoint", Value: 1}, {Key: "timestamp", Value: ts}}, endpointDoc{}, false},
		{"no timestamp", bson.D{{Key: "endpoint", Value: "http://a:1"}}, endpointDoc{}, false},
		{"timestamp a string", bson.D{{Key: "endpoint", Value: "http://a:1"}, {Key: "timestamp", Value: "now"}}, endpointDoc{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bson.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := decodeDoc(raw)
			if ok != tt.ok || (ok && (got.endpoint != tt.want.endpoint || !got.timestamp.Equal(tt.want.timestamp) ||
				got.pingInterval != tt.want.pingInterval || got.weight != tt.want.weight || got.state != tt.want.state ||
				got.proxy != tt.want.proxy)) {
				t.Errorf("decodeDoc(%v) = %+v, %v; want %+v, %v", tt.doc, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLiveness(t *testing.T) {
	now := time.Now()
	l := liveness{grace: 15 * time.Second, maxPing: 5 * time.Minute}
	tests := []struct {
		name string
		age  time.Duration
		ping time.Duration
		want bool
	}{
		{"fresh", time.Second, 5 * time.Second, true},
		{"just live", 20*time.Second - time.Millisecond, 5 * time.Second, true},
		{"just stale", 20 * time.Second, 5 * time.Second, false},
		{"missing ping is 5s", 19 * time.Second, 0, true},
		{"missing ping is 5s, stale", 21 * time.Second, 0, false},
		{"long ping", 70 * time.Second, time.Minute, true},
		{"huge ping capped", 6 * time.Minute, time.Hour, false},
		{"future timestamp", -time.Minute, 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := endpointDoc{endpoint: "http://a:1", timestamp: now.Add(-tt.age), pingInterval: tt.ping}
			if got := l.live(d, now); got != tt.want {
				t.Errorf("live(age %v, ping %v) = %v; want %v", tt.age, tt.ping, got, tt.want)
			}
		})
	}
	if h := l.horizon(now); !h.Equal(now.Add(-5*time.Minute - 15*time.Second)) {
		t.Errorf("horizon(now) = now-%v; want now-5m15s", now.Sub(h))
	}
}

func TestDocBackend(t *testing.T) {
	tests := []struct {
		doc  endpointDoc
		want affinity.Backend
	}{
		{endpointDoc{endpoint: "http://a:1"}, affinity.Backend{Endpoint: "tcp://a:1"}},
		{endpointDoc{endpoint: "http://a:1", weight: 3, state: " Draining "}, affinity.Backend{Endpoint: "tcp://a:1", Weight: 3, State: affinity.Draining}},
		{endpointDoc{endpoint: "unix:/s", state: "down"}, affinity.Backend{Endpoint: "unix:/s", State: affinity.Down}},
		{endpointDoc{endpoint: "http://a:1", state: "paused"}, affinity.Backend{Endpoint: "tcp://a:1"}},
		{endpointDoc{endpoint: "http://a:1", proxy: "off"}, affinity.Backend{Endpoint: "tcp://a:1", ProxyProtocol: affinity.ProxyOff}},
		{endpointDoc{endpoint: "http://a:1", proxy: "v2"}, affinity.Backend{Endpoint: "tcp://a:1", ProxyProtocol: affinity.ProxyV2}},
	}
	for _, tt := range tests {
		tt.want.EndpointHash = EndpointHash(tt.doc.endpoint) // of the URL as registered
		got, err := tt.doc.backend()
		if err != nil || got != tt.want {
			t.Errorf("%+v.backend() = %+v, %v; want %+v", tt.doc, got, err, tt.want)
		}
	}
	for _, d := range []endpointDoc{{endpoint: "https://a:1"}, {endpoint: "http://a:1", proxy: "v3"}, {endpoint: "http://a:1", proxy: "V2"}} {
		if got, err := d.backend(); err == nil {
			t.Errorf("%+v.backend() = %+v, nil; want an error", d, got)
		}
	}
}

func TestWithKept(t *testing.T) {
	set := []affinity.Backend{{Endpoint: "tcp://b:1"}, {Endpoint: "tcp://c:1", State: affinity.Draining}}
	old := []affinity.Backend{{Endpoint: "tcp://a:1"}, {Endpoint: "tcp://c:1"}}
	got := withKept(set, old)
	want := []affinity.Backend{{Endpoint: "tcp://a:1"}, {Endpoint: "tcp://b:1"}, {Endpoint: "tcp://c:1", State: affinity.Draining}}
	if !sameSet(got, want) {
		t.Errorf("withKept(%v, %v) = %v; want %v (new entries win)", set, old, got, want)
	}
}

func TestMetrics(t *testing.T) {
	var nilMetrics *Metrics
	nilMetrics.pollOK(time.Second, time.Now())
	nilMetrics.pollFailed()
	nilMetrics.setFailing(1)
	nilMetrics.updated()
	nilMetrics.deletedDocs(1)
	if s := nilMetrics.Snapshot(); s != (MetricsSnapshot{}) {
		t.Errorf("nil Metrics Snapshot() = %+v; want zeros", s)
	}

	m := &Metrics{}
	m.pollOK(250*time.Millisecond, time.Now().Add(-2*time.Second))
	m.pollFailed()
	m.setFailing(1)
	m.updated()
	m.deletedDocs(3)
	s := m.Snapshot()
	if s.Polls != 1 || s.PollErrors != 1 || s.Failing != 1 || s.Updates != 1 || s.Deleted != 3 || s.PollTime != 250*time.Millisecond || s.Staleness < 2*time.Second {
		t.Errorf("Snapshot() = %+v; want one of each, 3 deleted, 250ms, staleness >= 2s", s)
	}
	var buf bytes.Buffer
	if err := m.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"l4lb_registry_polls_total 1\n", "l4lb_registry_poll_errors_total 1\n", "l4lb_registry_failing 1\n", "l4lb_registry_deleted_total 3\n", "l4lb_registry_staleness_seconds 2."} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("WritePrometheus output lacks %q:\n%s", line, buf.String())
		}
	}
}

// TestEndpointHash pins meteorhacks:cluster's endpointHash: SHA-1 hex of
// the endpoint URL (the value `echo -n http://10.0.0.5:3000 | sha1sum`
// gives).
func TestEndpointHash(t *testing.T) {
	if got, want := EndpointHash("http://10.0.0.5:3000"), "445d03142adf038eab14dc962e3992fe80692968"; got != want {
		t.Errorf("EndpointHash = %s; want %s", got, want)
	}
}
