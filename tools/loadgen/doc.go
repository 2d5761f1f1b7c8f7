// Package loadgen is a load generator that speaks what Meteor clients speak:
// SockJS polling sessions, SockJS and raw WebSocket connections, and plain
// HTTP. It drives l4lb, HAProxy or the backends directly with the same load
// so bench/ can compare them, and it checks what it gets back: every SockJS
// echo is verified and every response that reached another backend than its
// session's is counted as a misroute.
//
// Scenarios (Config.Scenario):
//
//	connrate   SockJS polling where every request (xhr_send, then xhr) is
//	           made on a new TCP connection that is closed after the answer
//	keepalive  GET / on keep-alive connections, one per worker
//	polling    SockJS xhr-polling sessions that share a small pool of
//	           keep-alive connections per worker, as a browser's tabs do;
//	           every echo verified, misroutes counted
//	xhr-streaming
//	           SockJS xhr-streaming sessions: each receives on a stream of
//	           its own (one long response, reopened when the server ends it
//	           at its byte limit) and sends with xhr_send on keep-alive
//	           connections shared as polling shares them; each send and
//	           its echo on the stream is one timed round trip
//	ws-idle    N upgraded WebSocket connections held open, one small message
//	           per connection per interval, round-trip latency measured
//	bulk       large downloads (GET /bytes?n=N) and uploads (POST /upload),
//	           every byte checked, throughput measured
//
// Misroutes: the backends (tools/echobackend) name themselves in an
// X-Backend header on every HTTP response and stamp every SockJS echo as
// "<name>:<message>". A session's backend is the one that answered its
// opening request; any later response of that session from another backend
// (a reopened stream included), and an xhr_send answered 404 (the session is
// unknown where it landed), is a misroute. The session is then abandoned and a new one opened.
//
// Usage:
//
//	res, err := loadgen.Run(ctx, loadgen.Config{
//		Scenario: loadgen.Polling,
//		Targets:  []string{"127.0.0.1:8080"},
//		Duration: 10 * time.Second,
//	})
//	fmt.Print(res.Summary())
//	json.NewEncoder(os.Stdout).Encode(res)
//
// or from a shell: go run ./tools/loadgen/cmd/loadgen -scenario polling
// -target 127.0.0.1:8080 -duration 10s.
//
// Client connections are bound to source addresses spread over 127.0.0.x
// (Config.Sources) so that connection-heavy scenarios do not run out of
// ephemeral ports.
//
// What it deliberately does not do: it refuses any target that is not a
// loopback address (it is a benchmark tool for this machine, not a load
// tester for other people's hosts); every run is bounded by MaxDuration and
// Config.Requests; it speaks HTTP/1.1 only (no TLS, no HTTP/2, no
// pipelining) and only the SockJS transports Meteor's clients fall back to
// most (xhr polling, xhr streaming and websocket).
package loadgen
