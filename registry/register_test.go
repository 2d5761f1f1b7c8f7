package registry

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
	"github.com/l4lb/l4lb/registry/registrytest"
)

// findDoc returns the document of endpoint, or nil.
func findDoc(t *testing.T, coll *mongo.Collection, endpoint string) bson.M {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var doc bson.M
	err := coll.FindOne(ctx, bson.D{{Key: "endpoint", Value: endpoint}}).Decode(&doc)
	if err == mongo.ErrNoDocuments {
		return nil
	}
	if err != nil {
		t.Fatalf("find %s: %v", endpoint, err)
	}
	return doc
}

func TestRegister(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || !healthy.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
		}
	}))
	defer httpSrv.Close()
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpLn.Close()

	tests := []struct {
		name     string
		check    Check
		endpoint string
		fail     func() // makes the check fail
	}{
		{"http", CheckHTTP, httpSrv.URL, func() { healthy.Store(false) }},
		{"tcp", CheckTCP, "http://" + tcpLn.Addr().String(), func() { tcpLn.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const interval = 100 * time.Millisecond
			srv := registrytest.NewServer(t)
			coll := testCollection(t, srv)
			log, logs := testutil.Logger(t, slog.LevelDebug)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Register(ctx, RegisterConfig{
					URL: srv.URL, Service: "web", Endpoint: tt.endpoint, Balancer: "https://app.example",
					PingInterval: interval, Check: tt.check, CheckPath: "/health", Weight: 2, ProxyProtocol: affinity.ProxyV1, Logger: log,
				})
			}()
			var doc bson.M
			eventually(t, patience, "document written", func() bool { doc = findDoc(t, coll, tt.endpoint); return doc != nil })
			sum := sha1.Sum([]byte(tt.endpoint))
			want := map[string]any{
				"serviceName": "web", "endpoint": tt.endpoint, "endpointHash": hex.EncodeToString(sum[:]),
				"balancer": "https://app.example", "pingInterval": int32(100), "weight": int32(2),
				"proxyProtocol": "v1",
			}
			for k, v := range want {
				if doc[k] != v {
					t.Errorf("document[%q] = %#v; want %#v", k, doc[k], v)
				}
			}
			ts, ok := doc["timestamp"].(bson.DateTime)
			if !ok {
				t.Fatalf("document timestamp = %#v; want a BSON date", doc["timestamp"])
			}
			eventually(t, patience, "timestamp moves", func() bool {
				return findDoc(t, coll, tt.endpoint)["timestamp"].(bson.DateTime) > ts
			})

			// A document deleted under a running sidecar (a balancer's
			// DeleteStaleAfter) comes back whole with the next heartbeat.
			if _, err := coll.DeleteOne(context.Background(), bson.D{{Key: "endpoint", Value: tt.endpoint}}); err != nil {
				t.Fatal(err)
			}
			eventually(t, patience, "document recreated", func() bool { doc = findDoc(t, coll, tt.endpoint); return doc != nil })
			for k, v := range want {
				if doc[k] != v {
					t.Errorf("recreated document[%q] = %#v; want %#v", k, doc[k], v)
				}
			}

			tt.fail()
			logs.WaitLine(t, 0, regexp.MustCompile("health check failed"), patience)
			ts = findDoc(t, coll, tt.endpoint)["timestamp"].(bson.DateTime)
			time.Sleep(5 * interval) // no signal for a heartbeat that does not happen
			if got := findDoc(t, coll, tt.endpoint)["timestamp"].(bson.DateTime); got != ts {
				t.Errorf("timestamp moved from %v to %v while the check failed", ts.Time(), got.Time())
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Register = %v; want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Register did not return within 10s of cancel")
			}
			if doc := findDoc(t, coll, tt.endpoint); doc != nil {
				t.Errorf("document after deregistration = %v; want none", doc)
			}
		})
	}
}

func TestRegisterRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  RegisterConfig
	}{
		{"no service", RegisterConfig{URL: "mongodb://127.0.0.1:1", Endpoint: "http://127.0.0.1:3000"}},
		{"bad endpoint", RegisterConfig{URL: "mongodb://127.0.0.1:1", Service: "web", Endpoint: "nope"}},
		{"bad check", RegisterConfig{URL: "mongodb://127.0.0.1:1", Service: "web", Endpoint: "127.0.0.1:3000", Check: "icmp"}},
		{"no URL", RegisterConfig{Service: "web", Endpoint: "127.0.0.1:3000"}},
		{"bad proxy protocol", RegisterConfig{URL: "mongodb://127.0.0.1:1", Service: "web", Endpoint: "127.0.0.1:3000", ProxyProtocol: affinity.ProxyV2 + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := Register(ctx, tt.cfg); err == nil {
				t.Errorf("Register(%+v) = nil; want an error", tt.cfg)
			}
		})
	}
}
