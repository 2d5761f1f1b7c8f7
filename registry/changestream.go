package registry

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// changePipeline keeps the events that can change the services' sets and
// drops heartbeats, which only $set timestamp and pingInterval and would
// otherwise stream thousands of events a second: inserts and replaces of
// the service, deletes (which carry only the _id, so any service's), and
// updates touching any other field. Heartbeats that stop or resume are
// seen by the resync query instead.
func changePipeline(services []string) mongo.Pipeline {
	exists := func(field string) bson.D {
		return bson.D{{Key: "updateDescription.updatedFields." + field, Value: bson.D{{Key: "$exists", Value: true}}}}
	}
	return mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "$or", Value: bson.A{
		bson.D{
			{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"insert", "replace"}}}},
			{Key: "fullDocument." + fieldService, Value: bson.D{{Key: "$in", Value: services}}},
		},
		bson.D{{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"delete", "drop", "rename", "dropDatabase", "invalidate"}}}}},
		bson.D{
			{Key: "operationType", Value: "update"},
			{Key: "$or", Value: bson.A{exists(fieldState), exists(fieldWeight), exists(fieldProxyProtocol), exists(fieldEndpoint), exists(fieldService)}},
		},
	}}}}}}
}

// watchChanges runs the change stream of one poll loop: each event wakes
// the loop for an immediate query, and g.streaming tells it whether to poll
// at PollInterval or only resync at ResyncInterval. If the server does not
// support change streams (a standalone mongod, FerretDB), it returns and
// the loop keeps polling. Network failures are retried.
func (g *mongoGroup) watchChanges(ctx context.Context) {
	m := g.m
	for ctx.Err() == nil {
		openCtx, cancel := context.WithTimeout(ctx, m.cfg.QueryTimeout)
		cs, err := m.coll.Watch(openCtx, changePipeline(g.services), options.ChangeStream())
		cancel()
		if err != nil {
			var se mongo.ServerError
			if errors.As(err, &se) && !mongo.IsNetworkError(err) {
				g.log.Info("change streams unavailable, polling", "interval", m.cfg.PollInterval, "err", err)
				return
			}
			if !sleep(ctx, m.cfg.ResyncInterval) {
				return
			}
			continue
		}
		g.setStreaming(ctx, true)
		g.wake() // events between our last query and the stream's start
		for cs.Next(ctx) {
			g.wake()
		}
		err = cs.Err()
		cs.Close(context.WithoutCancel(ctx))
		g.setStreaming(ctx, false)
		if ctx.Err() == nil {
			g.log.Info("change stream ended, polling until it is back", "err", err)
			if !sleep(ctx, m.cfg.ResyncInterval) {
				return
			}
		}
	}
}

// wake asks the loop for a query soon; wakes coalesce.
func (g *mongoGroup) wake() {
	select {
	case g.trigger <- struct{}{}:
	default:
	}
}

func (g *mongoGroup) setStreaming(ctx context.Context, on bool) {
	select {
	case g.streaming <- on:
	case <-ctx.Done():
	}
}

// sleep waits d or until ctx is done, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
