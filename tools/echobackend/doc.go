// Package echobackend is the stand-in Meteor instance that l4lb's tests,
// demo and benchmarks put behind the balancer: a real SockJS server
// (github.com/igm/sockjs-go/v3, the same protocol sockjs-node speaks) that
// stamps its own name on everything it answers, so a client can tell which
// backend served it and count misroutes.
//
// Handler(name) serves:
//
//	/sockjs/...        SockJS echo service (every transport, /info, iframe,
//	                   raw /sockjs/websocket); each message is echoed as
//	                   "<name>:<message>" (see Stamp)
//	/websocket         raw WebSocket echo (Meteor's raw DDP endpoint); each
//	                   message comes back unchanged
//	/                  "backend <name>\n"
//	/name              "<name>"
//	/bytes?n=N         N bytes of a fixed pattern (see Pattern), for downloads
//	/upload  (POST)    "<sha256 hex> <length>\n" of the request body
//
// Every plain HTTP response, SockJS's included, carries "X-Backend: <name>".
// A WebSocket upgrade response does not (the upgrader writes its own head).
//
// Usage:
//
//	srv := &http.Server{Handler: echobackend.Handler("a")}
//	go srv.Serve(ln)
//
// It is a test peer, not a product: no auth, no limits beyond net/http's.
package echobackend
