// Package sniff reads the wire formats a layer-4 balancer must look at
// before it picks a backend — HTTP/1.x request and response heads, chunked
// body framing, a TLS ClientHello's server name and the PROXY protocol
// header — from the bytes received so far, without consuming them.
//
// A Sniffer (from New, with a Config) is immutable and safe for concurrent
// use; a Scan holds one head's progress and lives with the connection.
// Request is called with every byte received since the head started, each
// time more arrive (the balancer's event loop passes the bytes it has read
// and not yet forwarded):
//
//	s, err := sniff.New(sniff.Config{
//		Prefixes: []string{"/sockjs", "/search/sockjs"},
//		Cookies:  []string{"sticky"},
//	})
//	...
//	var sc sniff.Scan     // per connection; zero value ready
//	var req sniff.Request
//	switch s.Request(&sc, buf, &req) {
//	case sniff.NeedMore: // wait for more bytes (and a header timeout)
//	case sniff.Done:     // route by req.Key / req.KeyKind; forward buf as is
//	case sniff.NotHTTP:  // req.TLS, req.SNI
//	case sniff.Invalid:  // answer req.Status (400, 414, 431) and close
//	}
//
// An outcome, once decided, stands: further calls with the same buf
// return it again until sc.Reset. The same bytes give the same outcome
// however they were split over calls. Byte slices in a Request point into
// buf; nothing is copied or kept.
//
// After Done, the body follows at buf[req.HeadLen:]: req.ContentLength
// bytes, a chunked body (walk it with a ChunkedBody), or nothing. The next
// request on a keep-alive connection starts after it: call sc.Reset and
// Request again with the buffer starting there. Response does the same for
// the backend's answer (status, and whether and how a body follows: the
// no-body cases 1xx, 101, 204, 304 and responses to HEAD; Interim for 1xx
// other than 101, Upgrade for 101).
//
// Proxy reads a PROXY protocol header (v1 or v2) that a trusted front puts
// before the client's bytes: NeedMore, Done with the client's address and
// the header's length, or Invalid. It needs no Sniffer and no Scan.
//
// # Keys
//
// Request.Key is the affinity key, the bytes the balancer hashes to pick a
// backend, so that every request of one session reaches the same one:
//
//   - a configured sticky cookie that is present, with a non-empty value,
//     wins (KeyCookie; the first in Config.Cookies order);
//   - otherwise a SockJS polling or streaming transport (xhr, xhr_send,
//     xhr_streaming, eventsource, htmlfile, jsonp, jsonp_send) spreads one
//     session over several requests, so its session id is the key
//     (KeySession), as sockjs-node keys its sessions;
//   - SockJS websocket transports, raw WebSocket (<prefix>/websocket,
//     Meteor's /websocket) and everything else carry their session on one
//     connection: they get KeyNone and are placed by load.
//
// A head that is Invalid or NotHTTP never yields a key.
//
// SockJS URLs follow sockjs-node's dispatcher:
// <prefix>/<server>/<session>/<transport>[/], server and session non-empty
// without '/' or '.'; <prefix>, <prefix>/info, <prefix>/iframe*.html,
// <prefix>/chunking_test and <prefix>/websocket have no session. Paths are
// matched as sent, without percent-decoding, as sockjs-node does.
//
// # Exactness
//
// A key that names the wrong session kills it, and a head two parsers read
// differently is how requests are smuggled. So wherever net/http's server
// (http.ReadRequest plus the checks Server makes before a handler runs)
// accepts a request head, sniff reads the same method, path, Host, cookie
// values and framing; wherever net/http refuses one, so does sniff. The
// same holds for response heads against http.ReadResponse and for chunked
// bodies against net/http's chunked reader. The tests check this on
// captured Chromium, sockjs-client and sockjs-node traffic and by fuzzing
// with net/http as the oracle.
//
// sniff is stricter than net/http, as RFC 9112 allows, and answers 400 for:
//
//   - obs-fold (a field line starting with whitespace), which net/http
//     unfolds (RFC 9112 §5.2);
//   - Transfer-Encoding together with Content-Length, which net/http
//     resolves in favour of chunked (RFC 9112 §6.1: "ought to be handled as
//     an error");
//   - a second Content-Length field even with an equal value;
//   - Transfer-Encoding in an HTTP/1.0 message, which net/http ignores
//     (RFC 9112 §6.1: the framing is faulty);
//   - userinfo, or percent-encoding, in the host of an absolute-form
//     target;
//   - a CONNECT whose target is not authority-form with a non-empty host
//     and port (RFC 9112 §3.2.3, RFC 9110 §9.3.6): net/http also takes an
//     empty target, origin-form such as net/rpc's "CONNECT /_goRPC_", or
//     a path or query after the port.
//
// "PRI * HTTP/2.0" (HTTP/2 with prior knowledge) is NotHTTP. For responses
// sniff also refuses whitespace before a field's colon, a signed status
// code and control bytes in the reason phrase; for chunked bodies, sizes of
// 2^63 or more and trailer fields not in the form above. Other transfer
// codings than chunked are refused, as by net/http.
//
// # Limits and cost
//
// A request line is at most MaxRequestLineBytes (default 8 KiB, else 414)
// and a head at most MaxHeadBytes (default 16 KiB, Node's own limit, else
// 431); Request never looks at a byte past MaxHeadBytes, however long the
// buffer, nor Proxy past the PROXY header's own bound. Each byte is
// examined a bounded number of times over all calls: a client that sends
// one byte at a time costs linear time in total, not quadratic, with the
// state in the fixed-size, pointer-free Scan (TestBytewiseLinear checks
// it). Request, Response, ChunkedBody.Scan and Proxy do not allocate
// (TestAllocs, TestProxyAllocs), with two exceptions: an IPv6 literal in
// an absolute-form or CONNECT target, and an IPv6 address in a v1 PROXY
// header.
//
// Field lines are checked on bitmaps of whole 64-byte blocks rather than
// byte by byte (classify.go, fields.go): with AVX2 on amd64 CPUs that have
// it, and elsewhere with a generic version that TestGenericClassifierHeads
// checks against it. The benchmarks measure the cost:
//
//	go test -run '^$' -bench 'Request|Response' -benchmem -count 5 ./sniff
//
// bench/README.md ("sniff micro-benchmarks") keeps figures from that
// command and the machine they came from.
//
// # What it does not do
//
// It does not decode percent-encoding, unfold, or rewrite anything; it does
// not read bodies (ChunkedBody only walks their framing); it does not parse
// HTTP/2, or TLS beyond the first record's server name (a ClientHello
// split over several records is NotHTTP without SNI); it does not check a
// Host against anything. It does not decide whom to trust: Proxy parses
// any PROXY header it is given, and only the caller knows whether the
// peer may send one (a PROXY header given to Request is NotHTTP). It keeps
// no state between heads other than what the caller keeps in its Scan.
package sniff
