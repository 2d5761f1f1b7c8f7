package registry

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/l4lb/l4lb/affinity"
)

// formatBackends writes a set in the File format, the inverse of
// parseBackends for what parseBackends returns.
func formatBackends(set []affinity.Backend) string {
	var b strings.Builder
	for _, be := range set {
		fmt.Fprintf(&b, "%s weight=%d state=%s\n", be.Endpoint, be.Weight, be.State)
	}
	return b.String()
}

// FuzzParseBackends checks the backends-file parser: whatever it accepts
// is a set of canonical endpoints, sorted and without duplicates, that
// survives a round trip through formatBackends unchanged.
func FuzzParseBackends(f *testing.F) {
	for _, s := range []string{
		"10.0.0.5:3000\n10.0.0.6:3000\n",
		"# meteor workers\nunix:/run/app/meteor.sock.1.sock weight=2\nunix:/run/app/meteor.sock.2.sock state=draining # leaving\n",
		"http://app:3000/ weight=0 state=DOWN\r\n\n\t tcp://app:3000\n",
		"x:1 weight=-1\n", "x:1 colour=red\n", "x:1 state=gone\n", "x:1 weight=99999999999999999999\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, err := parseBackends(strings.NewReader(in), "", "")
		if err != nil {
			return
		}
		for i, b := range set {
			if n, err := NormalizeEndpoint(b.Endpoint); err != nil || n != b.Endpoint {
				t.Fatalf("parseBackends(%q) gave endpoint %q, not canonical (%q, %v)", in, b.Endpoint, n, err)
			}
			if i > 0 && set[i-1].Endpoint >= b.Endpoint {
				t.Fatalf("parseBackends(%q) = %v: not sorted and unique", in, set)
			}
			if b.Weight < 0 {
				t.Fatalf("parseBackends(%q) gave weight %d", in, b.Weight)
			}
		}
		again, err := parseBackends(strings.NewReader(formatBackends(set)), "", "")
		if err != nil || !slices.Equal(again, set) {
			t.Fatalf("round trip of parseBackends(%q) = %v, %v; want %v", in, again, err, set)
		}
	})
}

// FuzzDecodeDoc checks the lenient clusterEndpoints decoder against
// bson.Unmarshal: whenever it accepts a document, the endpoint is the
// document's endpoint string and the timestamp its date.
func FuzzDecodeDoc(f *testing.F) {
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	for _, d := range []bson.D{
		// As meteorhacks:cluster writes it from JavaScript.
		{{Key: "serviceName", Value: "web"}, {Key: "endpoint", Value: "http://10.0.0.5:3000"},
			{Key: "endpointHash", Value: "3f7a"}, {Key: "balancer", Value: nil},
			{Key: "timestamp", Value: bson.NewDateTimeFromTime(now)}, {Key: "pingInterval", Value: int32(5000)}},
		{{Key: "endpoint", Value: "unix:/run/m.sock"}, {Key: "timestamp", Value: float64(now.UnixMilli())},
			{Key: "pingInterval", Value: 5000.0}, {Key: "weight", Value: int64(3)}, {Key: "state", Value: "draining"}},
		{{Key: "endpoint", Value: ""}, {Key: "timestamp", Value: bson.NewDateTimeFromTime(now)}},
		{{Key: "endpoint", Value: 42}, {Key: "timestamp", Value: "yesterday"}},
	} {
		raw, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		raw := bson.Raw(in)
		if raw.Validate() != nil {
			return
		}
		d, ok := decodeDoc(raw)
		if !ok {
			return
		}
		var m bson.M
		if err := bson.Unmarshal(in, &m); err != nil {
			return // the oracle refuses what Validate let through; nothing to compare
		}
		if ep, _ := m["endpoint"].(string); ep != d.endpoint || ep == "" {
			t.Fatalf("decodeDoc endpoint = %q; bson.Unmarshal says %v", d.endpoint, m["endpoint"])
		}
		if dt, isDate := m["timestamp"].(bson.DateTime); isDate && !d.timestamp.Equal(dt.Time()) {
			t.Fatalf("decodeDoc timestamp = %v; bson.Unmarshal says %v", d.timestamp, dt.Time())
		}
		if d.weight < 0 || d.pingInterval < 0 {
			t.Fatalf("decodeDoc = %+v: negative weight or pingInterval", d)
		}
		if b, err := d.backend(); err == nil {
			if n, _ := NormalizeEndpoint(b.Endpoint); n != b.Endpoint {
				t.Fatalf("backend() endpoint %q is not canonical", b.Endpoint)
			}
		}
	})
}
