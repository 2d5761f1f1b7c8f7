// Package registry discovers backends: it turns a source of endpoints into
// a stream of complete backend sets per service, which the engine swaps in
// (new connections use the new set at once; established ones are left
// alone, and connections to removed backends are left to finish).
//
// Every source implements one interface:
//
//	type Source interface {
//		Watch(ctx context.Context, service string, update func([]affinity.Backend)) error
//	}
//
// Watch calls update with the whole current set (never a diff), sorted by
// endpoint, whenever it changes, never concurrently, and blocks until ctx
// is done. Endpoints are canonical (see NormalizeEndpoint):
// "tcp://host:port" or "unix:/path".
//
// # Sources
//
//   - NewStatic: a fixed list (--backend).
//   - NewFile: a file of endpoints, one a line, with optional "weight=N",
//     "state=draining", "proxy=v2" and "service=api" (see
//     Options.DefaultService); re-read when its size, mtime or
//     inode changes, and whenever File.Reload asks.
//   - NewGlob: the UNIX sockets matching a pattern such as
//     "unix:/run/app/meteor.sock.*.sock" (Meteor cluster workers).
//   - NewMongo: the meteorhacks:cluster collection in MongoDB.
//   - NewMerged: the union of other sources, the first one that names an
//     endpoint deciding its weight, state and PROXY setting; published
//     once every source has reported.
//
// Usage:
//
//	src, err := registry.NewMongo(registry.MongoConfig{URL: os.Getenv("CLUSTER_DISCOVERY_URL"), Logger: log})
//	if err != nil { ... }
//	err = src.Watch(ctx, "web", func(set []affinity.Backend) { balancer.Update(set) })
//
// # The collection, and the compatibility promise
//
// Collection "clusterEndpoints" (MongoConfig.Collection) in the database
// named by the URL's path, or "admin" (DefaultDatabase) if it names none,
// which is where the Node driver of its time, and so meteorhacks:cluster,
// wrote then. Name the database in the URL.
// One document per instance and service:
//
//	{
//	  serviceName:  "web",                  // CLUSTER_SERVICE
//	  endpoint:     "http://10.0.0.5:3000", // CLUSTER_ENDPOINT_URL, verbatim
//	  endpointHash: "5f1b…",                // SHA-1 hex of endpoint (first ping)
//	  balancer:     "https://app.example",  // CLUSTER_BALANCER_URL or null (first ping)
//	  timestamp:    ISODate(…),             // last heartbeat
//	  pingInterval: 5000,                   // milliseconds, int32 or double
//	  // ours, all optional:
//	  weight:        2,                     // relative share; absent or 0 means 1
//	  state:         "draining",            // "ready" (default), "draining" or "down"
//	  proxyProtocol: "v2"                   // "off", "v1" or "v2" exactly: overrides --proxy-protocol for this instance
//	}
//
// Instances upsert {serviceName, endpoint} with $set {timestamp,
// pingInterval} every pingInterval. An endpoint is live while
// now - timestamp < pingInterval + grace (15 s by default, meteorhacks'
// value); a document without pingInterval is read as 5000 ms, and a
// pingInterval above MongoConfig.MaxPingInterval (5 min) is capped.
//
// The promise: instances running meteorhacks:cluster keep working with no
// change, and the documents `l4lb register` writes are read correctly by
// meteorhacks:cluster balancers (same fields, same types: numbers as
// int32, dates as BSON dates, a missing balancer as null). The extra
// fields are additive; meteorhacks:cluster ignores them. Endpoints are
// "http://host:port" (as meteorhacks writes them), "tcp://host:port",
// "host:port" or "unix:/path"; https endpoints are refused (l4lb does not
// originate TLS) and logged once.
//
// A document whose proxyProtocol is anything else is left out of the set,
// and logged: a PROXY header the instance does not expect, or the lack of
// one it does, breaks every connection to it.
//
// # Polling, change streams and cost
//
// A watch polls its service every PollInterval (1 s): one find on
// {serviceName, timestamp >= now - (MaxPingInterval + grace)} with a
// projection of the six fields it needs; watches of the services listed in
// MongoConfig.Services share one such find, with serviceName $in the list,
// and each gets its own service's documents. The find is served by the index
// {serviceName: 1, timestamp: 1} that the first watch creates (NoIndex
// skips that). Long-dead documents, which meteorhacks:cluster never
// deleted, are never read. Where the server offers change streams (a
// replica set), each poll loop also follows one, filtered so that heartbeats
// make no events: inserts, deletes and changes of weight, state or
// proxyProtocol trigger a query at once, and the periodic query slows to
// ResyncInterval (5 s).
// FerretDB and standalone mongod answer that change streams are not
// supported, and the watch keeps polling.
//
// BenchmarkPoll, 5000 live endpoints across 20 services (250 each), as
// meteorhacks:cluster writes them: one poll receives 250 documents in
// 26.8 KB and sends 419 bytes, also with 5000 long-dead documents beside
// them (a find of whole documents by serviceName: 55 KB, and 111 KB / 500
// documents with the dead ones). Ten balancers polling every second are
// 10 indexed finds a second reading 2500 index keys and documents and
// sending 268 KB/s: negligible for MongoDB. (Against FerretDB, which
// filters in Go over SQLite rather than in an index, a poll took 0.26 s
// on the loaded 2-core test machine; that is FerretDB's cost, not
// MongoDB's.)
//
// # Failing static
//
// If a query fails (MongoDB unreachable, timing out or answering errors)
// the last set stays in force; the failure is logged once when it starts
// and once when it ends, and Metrics counts it (l4lb_registry_failing,
// l4lb_registry_staleness_seconds). A query that succeeds but finds no
// live endpoint never replaces a non-empty set, and after a failure ends
// endpoints are only added, not removed, for as long as it lasted (at
// most Grace): during an outage the instances themselves may not have
// been able to heartbeat.
//
// Optionally (MongoConfig.DeleteStaleAfter, off by default) a watch
// deletes its service's documents that have been stale that long.
//
// # Registering
//
// Register (`l4lb register`) is the sidecar of one instance: it writes the
// document above every pingInterval while its health check (TCP connect,
// HTTP GET, or none) passes, stops while it fails, and deletes the
// document when its context ends (SIGTERM).
//
// # What it does not do
//
// It does not check backends' health itself (the engine fails over from a
// refused connect; instances check themselves through Register), does not
// use TTL indexes (FerretDB lacks them, and meteorhacks:cluster balancers
// must still see stale documents as stale, not gone), and does not write
// to MongoDB except for the index, Register's heartbeats and the optional
// deletion.
package registry
