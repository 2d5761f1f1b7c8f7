package registry

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/l4lb/l4lb/registry/registrytest"
)

// BenchmarkPoll measures one poll cycle with 5000 registered endpoints
// across 20 services (250 each), as meteorhacks:cluster writes them, plus
// optionally as many long-stale documents left behind by old deploys
// (nothing deletes them by default). It reports the wire bytes of one
// service's poll (what one balancer does each PollInterval) in each
// direction and the documents returned. "query=l4lb" is Watch's query;
// "query=service-only" reads every document of the service, as a naive
// poll would, for comparison.
//
// FerretDB over SQLite filters in Go rather than in an index, so ns/op
// here is FerretDB's, far above MongoDB's index range scan; the bytes and
// documents are what MongoDB would send too.
//
//	go test -run '^$' -bench Poll -benchtime 20x ./registry
func BenchmarkPoll(b *testing.B) {
	const endpoints, services = 5000, 20
	for _, stale := range []int{0, 5000} {
		b.Run(fmt.Sprintf("endpoints=%d/stale=%d", endpoints, stale), func(b *testing.B) {
			srv := registrytest.NewServer(b)
			var sent, received, replies atomic.Int64
			monitor := &event.CommandMonitor{
				Started: func(_ context.Context, e *event.CommandStartedEvent) { sent.Add(int64(len(e.Command))) },
				Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
					received.Add(int64(len(e.Reply)))
					replies.Add(1)
				},
			}
			client, err := mongo.Connect(options.Client().ApplyURI(srv.URL).SetMonitor(monitor))
			if err != nil {
				b.Fatal(err)
			}
			defer client.Disconnect(context.Background())
			coll := client.Database(srv.Database).Collection(DefaultCollection)
			populate(b, coll, endpoints, services, stale)

			m := &Mongo{
				cfg:  MongoConfig{QueryTimeout: time.Minute},
				live: liveness{grace: DefaultGrace, maxPing: DefaultMaxPingInterval},
				coll: coll,
			}
			m.ensureIndex(context.Background(), slog.New(slog.DiscardHandler))
			for _, query := range []string{"l4lb", "service-only"} {
				b.Run("query="+query, func(b *testing.B) {
					sent.Store(0)
					received.Store(0)
					var docs int
					for i := 0; b.Loop(); i++ {
						service := fmt.Sprintf("svc%02d", i%services)
						if query == "l4lb" {
							got, err := m.query(context.Background(), []string{service}, time.Now())
							if err != nil {
								b.Fatal(err)
							}
							docs += len(got)
							continue
						}
						n, err := findAll(coll, service)
						if err != nil {
							b.Fatal(err)
						}
						docs += n
					}
					b.StopTimer()
					want := b.N * (endpoints + stale) / services
					if query == "l4lb" {
						want = b.N * endpoints / services
					}
					if docs != want {
						b.Fatalf("polls returned %d documents; want %d", docs, want)
					}
					b.ReportMetric(float64(sent.Load())/float64(b.N), "sent-B/op")
					b.ReportMetric(float64(received.Load())/float64(b.N), "received-B/op")
					b.ReportMetric(float64(docs)/float64(b.N), "docs/op")
				})
			}
		})
	}
}

// findAll reads every document of service, whole.
func findAll(coll *mongo.Collection, service string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cur, err := coll.Find(ctx, bson.D{{Key: "serviceName", Value: service}})
	if err != nil {
		return 0, err
	}
	defer cur.Close(ctx)
	n := 0
	for cur.Next(ctx) {
		n++
	}
	return n, cur.Err()
}

// populate inserts live endpoints spread over services and stale ones of
// the same services, shaped as meteorhacks:cluster leaves them.
func populate(b *testing.B, coll *mongo.Collection, live, services, stale int) {
	b.Helper()
	now := time.Now()
	docs := make([]any, 0, live+stale)
	for i := range live + stale {
		ts := now
		if i >= live {
			ts = now.Add(-time.Duration(1+i%48) * time.Hour)
		}
		ep := fmt.Sprintf("http://10.%d.%d.%d:3000", i/65536%256, i/256%256, i%256)
		sum := sha1.Sum([]byte(ep))
		docs = append(docs, bson.D{
			{Key: "serviceName", Value: fmt.Sprintf("svc%02d", i%services)},
			{Key: "endpoint", Value: ep},
			{Key: "timestamp", Value: ts},
			{Key: "pingInterval", Value: int32(5000)},
			{Key: "endpointHash", Value: hex.EncodeToString(sum[:])},
			{Key: "balancer", Value: "https://app.example.com"},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(docs) > 0 {
		n := min(len(docs), 1000)
		if _, err := coll.InsertMany(ctx, docs[:n]); err != nil {
			b.Fatal(err)
		}
		docs = docs[n:]
	}
}
