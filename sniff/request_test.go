package sniff

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"crypto/tls"
)

// fieldsOf renders a Request as key=value words, for tables that name only
// the fields they care about.
func fieldsOf(r *Request) map[string]string {
	b := func(v bool) string { return fmt.Sprint(v) }
	m := map[string]string{
		"headLen":   fmt.Sprint(r.HeadLen),
		"method":    string(r.Method),
		"path":      string(r.Path),
		"host":      string(r.Host),
		"minor":     fmt.Sprint(r.ProtoMinor),
		"upgrade":   b(r.Upgrade),
		"prefix":    string(r.SockJS.Prefix),
		"server":    string(r.SockJS.Server),
		"session":   string(r.SockJS.Session),
		"transport": string(r.SockJS.Transport),
		"index":     fmt.Sprint(r.PrefixIndex),
		"raw":       b(r.RawWebSocket),
		"key":       fmt.Sprintf("%s:%s", r.KeyKind, r.Key),
		"cl":        fmt.Sprint(r.ContentLength),
		"chunked":   b(r.Chunked),
		"close":     b(r.Close),
		"expect":    b(r.Expect100),
		"status":    fmt.Sprint(r.Status),
		"tls":       b(r.TLS),
		"sni":       string(r.SNI),
	}
	for i, c := range r.Cookies {
		if c == nil {
			m[fmt.Sprintf("cookie%d", i)] = "<nil>"
		} else {
			m[fmt.Sprintf("cookie%d", i)] = string(c)
		}
	}
	return m
}

// checkFields checks the words of want ("path=/x key=session:abc").
func checkFields(t *testing.T, call string, got map[string]string, want string) {
	t.Helper()
	for _, w := range strings.Fields(want) {
		k, v, _ := strings.Cut(w, "=")
		v = strings.ReplaceAll(v, "␠", " ")
		g, ok := got[k]
		if !ok {
			t.Fatalf("bad table key %q", k)
		}
		if g != v {
			t.Errorf("%s: %s = %q; want %q", call, k, g, v)
		}
	}
}

const (
	h11  = " HTTP/1.1\r\nHost: app.example\r\n"
	end  = "\r\n"
	keep = "Host: app.example\r\n"
)

type requestCase struct {
	name string
	head string
	st   Status
	want string // fields, as checkFields reads them ("␠" is a space)
}

// requestTests are also FuzzSniff's hand-written seeds.
var requestTests = []requestCase{
	// Framing.
	{"GET without body", "GET /" + h11 + end, Done, "method=GET path=/ host=app.example minor=1 cl=-1 chunked=false close=false headLen=37"},
	{"POST with Content-Length", "POST /x" + h11 + "Content-Length: 5\r\n" + end + "hello", Done, "cl=5 chunked=false headLen=58"},
	{"POST chunked", "POST /x" + h11 + "Transfer-Encoding: chunked\r\n" + end + "5\r\nhello\r\n0\r\n\r\n", Done, "cl=-1 chunked=true"},
	{"chunked any case, trailing space", "POST /x" + h11 + "transfer-encoding: Chunked \r\n" + end, Done, "chunked=true"},
	{"Content-Length leading zeros", "POST /x" + h11 + "Content-Length: 007\r\n" + end, Done, "cl=7"},
	{"Content-Length max", "POST /x" + h11 + "Content-Length: 9223372036854775807\r\n" + end, Done, "cl=9223372036854775807"},
	{"Content-Length overflow", "POST /x" + h11 + "Content-Length: 9223372036854775808\r\n" + end, Invalid, "status=400"},
	{"Content-Length plus", "POST /x" + h11 + "Content-Length: +5\r\n" + end, Invalid, "status=400"},
	{"Content-Length minus", "POST /x" + h11 + "Content-Length: -1\r\n" + end, Invalid, "status=400"},
	{"Content-Length list", "POST /x" + h11 + "Content-Length: 5, 5\r\n" + end, Invalid, "status=400"},
	{"Content-Length space inside", "POST /x" + h11 + "Content-Length: 5 5\r\n" + end, Invalid, "status=400"},
	{"Content-Length empty", "POST /x" + h11 + "Content-Length:\r\n" + end, Invalid, "status=400"},
	{"Content-Length hex", "POST /x" + h11 + "Content-Length: 0x5\r\n" + end, Invalid, "status=400"},
	{"Content-Length twice, equal", "POST /x" + h11 + "Content-Length: 5\r\nContent-Length: 5\r\n" + end, Invalid, "status=400"},
	{"Content-Length twice, different", "POST /x" + h11 + "Content-Length: 5\r\ncontent-length: 6\r\n" + end, Invalid, "status=400"},
	{"Content-Length then Transfer-Encoding", "POST /x" + h11 + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding then Content-Length", "POST /x" + h11 + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding gzip, chunked", "POST /x" + h11 + "Transfer-Encoding: gzip, chunked\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding chunked twice in a list", "POST /x" + h11 + "Transfer-Encoding: chunked, chunked\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding twice", "POST /x" + h11 + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding identity", "POST /x" + h11 + "Transfer-Encoding: identity\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding in HTTP/1.0", "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n" + end, Invalid, "status=400"},
	{"Transfer-Encoding with a space before the colon", "POST /x" + h11 + "Transfer-Encoding : chunked\r\n" + end, Invalid, "status=400"},
	{"Trailer names Content-Length, chunked", "POST /x" + h11 + "Transfer-Encoding: chunked\r\nTrailer: Expires, content-length\r\n" + end, Invalid, "status=400"},
	{"Trailer names Content-Length, not chunked", "POST /x" + h11 + "Trailer: Content-Length\r\n" + end, Done, "chunked=false"},
	{"Trailer, chunked", "POST /x" + h11 + "Transfer-Encoding: chunked\r\nTrailer: Expires\r\n" + end, Done, "chunked=true"},
	{"Connection close", "GET /" + h11 + "Connection: close\r\n" + end, Done, "close=true"},
	{"Connection list with close", "GET /" + h11 + "Connection: TE, Close\r\n" + end, Done, "close=true"},
	{"HTTP/1.0 closes", "GET / HTTP/1.0\r\n" + end, Done, "close=true minor=0 host="},
	{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n" + end, Done, "close=false"},
	{"HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n" + end, Done, "close=true"},
	{"Expect 100-continue", "POST /x" + h11 + "Expect: 100-Continue\r\nContent-Length: 3\r\n" + end, Done, "expect=true cl=3"},
	{"bare LF line ends", "GET /sockjs/1/abc/xhr HTTP/1.1\nHost: a\n\n", Done, "host=a key=session:abc headLen=40"},
	{"mixed line ends", "GET / HTTP/1.1\r\nHost: a\n\r\n", Done, "host=a"},

	// Field syntax.
	{"obs-fold", "GET /" + h11 + "X-A: 1\r\n  2\r\n" + end, Invalid, "status=400"},
	{"obs-fold with a tab", "GET /" + h11 + "X-A: 1\r\n\t2\r\n" + end, Invalid, "status=400"},
	{"whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n" + end, Invalid, "status=400"},
	{"space before colon", "GET /" + h11 + "X-A : 1\r\n" + end, Invalid, "status=400"},
	{"tab before colon", "GET /" + h11 + "X-A\t: 1\r\n" + end, Invalid, "status=400"},
	{"space before colon in Host", "GET / HTTP/1.1\r\nHost : a\r\n" + end, Invalid, "status=400"},
	{"empty field name", "GET /" + h11 + ": 1\r\n" + end, Invalid, "status=400"},
	{"separator in field name", "GET /" + h11 + "X(A): 1\r\n" + end, Invalid, "status=400"},
	{"missing colon", "GET /" + h11 + "X-A 1\r\n" + end, Invalid, "status=400"},
	{"bare CR in a value", "GET /" + h11 + "X-A: 1\r2\r\n" + end, Invalid, "status=400"},
	{"bare CR before CRLF", "GET /" + h11 + "X-A: 1\r\r\n" + end, Invalid, "status=400"},
	{"bare CR ends the head", "GET /" + h11 + "\r\r\n", Invalid, "status=400"},
	{"NUL in a value", "GET /" + h11 + "X-A: 1\x002\r\n" + end, Invalid, "status=400"},
	{"DEL in a value", "GET /" + h11 + "X-A: 1\x7f\r\n" + end, Invalid, "status=400"},
	{"obs-text in a value", "GET /" + h11 + "X-A: caf\xc3\xa9\r\n" + end, Done, "method=GET"},
	{"tab in a value", "GET /" + h11 + "X-A: a\tb\r\n" + end, Done, "method=GET"},
	{"empty value", "GET /" + h11 + "X-A:\r\n" + end, Done, "method=GET"},

	// Host.
	{"Host missing in HTTP/1.1", "GET / HTTP/1.1\r\n" + end, Invalid, "status=400"},
	{"Host missing in CONNECT", "CONNECT a.example:443 HTTP/1.1\r\n" + end, Done, "host=a.example:443 path="},
	{"Host twice", "GET /" + h11 + "Host: b.example\r\n" + end, Invalid, "status=400"},
	{"Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n" + end, Invalid, "status=400"},
	{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n" + end, Invalid, "status=400"},
	{"Host empty", "GET / HTTP/1.1\r\nHost:\r\n" + end, Done, "host="},
	{"Host with port and spaces", "GET / HTTP/1.1\r\nHost:  a.example:3000  \r\n" + end, Done, "host=a.example:3000"},
	{"Host IPv6", "GET / HTTP/1.1\r\nHost: [::1]:3000\r\n" + end, Done, "host=[::1]:3000"},

	// Request-target forms (RFC 9112 §3.2).
	{"absolute-form", "GET http://a.example/sockjs/1/abc/xhr?t=1 HTTP/1.1\r\nHost: other\r\n" + end, Done, "host=a.example path=/sockjs/1/abc/xhr key=session:abc"},
	{"absolute-form https, port", "GET HTTPS://a.example:8443/x HTTP/1.1\r\nHost: other\r\n" + end, Done, "host=a.example:8443 path=/x"},
	{"absolute-form without path", "GET http://a.example HTTP/1.1\r\nHost: other\r\n" + end, Done, "host=a.example path="},
	{"absolute-form with empty host", "GET http:///x HTTP/1.1\r\nHost: other\r\n" + end, Done, "host=other path=/x"},
	{"absolute-form IPv6", "GET http://[::1]:80/x HTTP/1.1\r\nHost: other\r\n" + end, Done, "host=[::1]:80 path=/x"},
	{"absolute-form IPv4 in brackets", "GET http://[1.2.3.4]/x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"absolute-form userinfo", "GET http://u:p@a.example/x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"absolute-form percent host", "GET http://a%C3%A9.example/x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"absolute-form bad port", "GET http://a.example:8o/x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"absolute-form two colons", "GET http://a:1:2/x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"absolute-form other scheme, two colons", "GET mongodb://a:1,b:2/x HTTP/1.1\r\nHost: other\r\n" + end, Done, "host=a:1,b:2 path=/x"},
	{"absolute-form fragment in host", "GET http://a#b/x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"opaque target", "GET mailto:x HTTP/1.1\r\nHost: other\r\n" + end, Done, "path= host=other"},
	{"scheme-less colon", "GET :x HTTP/1.1\r\nHost: other\r\n" + end, Invalid, "status=400"},
	{"authority-form", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n" + end, Done, "method=CONNECT host=a.example:443 path="},
	{"authority-form IPv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n" + end, Done, "method=CONNECT host=[2001:db8::1]:443 path="},
	{"CONNECT empty target", "CONNECT  HTTP/1.0\n\n", Invalid, "status=400"},
	{"CONNECT empty target HTTP/1.1", "CONNECT  HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT origin-form", "CONNECT /path HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT net/rpc", "CONNECT /_goRPC_ HTTP/1.0\r\n" + end, Invalid, "status=400"},
	{"CONNECT asterisk", "CONNECT * HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT absolute-form", "CONNECT http://a.example:443 HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT without port", "CONNECT a.example HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT empty port", "CONNECT a.example: HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT empty host", "CONNECT :443 HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT colon only", "CONNECT : HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT path after port", "CONNECT a.example:443/x HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT query after port", "CONNECT a.example:443?x HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT query only", "CONNECT ?x HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT IPv6 without port", "CONNECT [2001:db8::1] HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"CONNECT bad port", "CONNECT a.example:44x HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"connect is not CONNECT", "connect /path HTTP/1.1\r\nHost: a\r\n" + end, Done, "method=connect path=/path"},
	{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n" + end, Done, "path=*"},
	{"relative target", "GET foo HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"query only", "GET ?a HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"bad percent", "GET /a%zz HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"short percent", "GET /a%2 HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"percent stays encoded", "GET /a%20b HTTP/1.1\r\nHost: a\r\n" + end, Done, "path=/a%20b"},
	{"query is not checked", "GET /x?a=%zz&b HTTP/1.1\r\nHost: a\r\n" + end, Done, "path=/x"},
	{"double slash path", "GET //x/y HTTP/1.1\r\nHost: a\r\n" + end, Done, "path=//x/y host=a"},
	{"control byte in target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"DEL in query", "GET /a?\x7f HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"non-ASCII in path", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n" + end, Done, "path=/caf\xc3\xa9"},

	// Request line (RFC 9112 §3).
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n" + end, Done, "minor=2 close=false"},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"HTTP/0.9 version", "GET / HTTP/0.9\r\n" + end, Invalid, "status=400"},
	{"HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n" + end, Invalid, "status=400"},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n" + end, NotHTTP, "tls=false"},
	{"HTTP/0.9 request", "GET /\r\n", NotHTTP, "tls=false"},
	{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n" + end, Done, "method=get"},
	{"extension method", "M-SEARCH * HTTP/1.1\r\nHost: a\r\n" + end, Done, "method=M-SEARCH path=*"},
	{"separator in method", "GE(T / HTTP/1.1\r\n", NotHTTP, "tls=false"},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n" + end, NotHTTP, "tls=false"},
	{"CR in version", "GET / HTTP/1.1\rX\r\nHost: a\r\n" + end, Invalid, "status=400"},

	// Upgrade.
	{"WebSocket upgrade", "GET /sockjs/websocket" + h11 + "Connection: Upgrade\r\nUpgrade: websocket\r\n" + end, Done, "upgrade=true raw=true key=none:"},
	{"Firefox upgrade", "GET /websocket" + h11 + "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n" + end, Done, "upgrade=true raw=true index=0"},
	{"Upgrade without Connection", "GET /x" + h11 + "Upgrade: websocket\r\n" + end, Done, "upgrade=false"},
	{"Upgrade h2c", "GET /x" + h11 + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n" + end, Done, "upgrade=false"},

	// SockJS URLs (sockjs-node's dispatcher), every transport and
	// session-less path, each prefix form.
	{"xhr", "POST /sockjs/123/abcd1234/xhr" + h11 + "Content-Length: 0\r\n" + end, Done, "prefix=/sockjs server=123 session=abcd1234 transport=xhr index=0 key=session:abcd1234"},
	{"xhr_send", "POST /sockjs/123/abcd1234/xhr_send" + h11 + "Content-Length: 5\r\n" + end, Done, "transport=xhr_send key=session:abcd1234"},
	{"xhr_streaming", "POST /sockjs/123/abcd1234/xhr_streaming" + h11 + end, Done, "transport=xhr_streaming key=session:abcd1234"},
	{"eventsource", "GET /sockjs/123/abcd1234/eventsource" + h11 + end, Done, "transport=eventsource key=session:abcd1234"},
	{"htmlfile", "GET /sockjs/123/abcd1234/htmlfile?c=_jp.abc" + h11 + end, Done, "transport=htmlfile key=session:abcd1234"},
	{"jsonp", "GET /sockjs/123/abcd1234/jsonp?c=_jp.abc" + h11 + end, Done, "transport=jsonp key=session:abcd1234"},
	{"jsonp_send", "POST /sockjs/123/abcd1234/jsonp_send" + h11 + end, Done, "transport=jsonp_send key=session:abcd1234"},
	{"websocket transport", "GET /sockjs/123/abcd1234/websocket" + h11 + "Connection: Upgrade\r\nUpgrade: websocket\r\n" + end, Done, "transport=websocket session=abcd1234 key=none: upgrade=true raw=false"},
	{"OPTIONS preflight of xhr_send", "OPTIONS /sockjs/123/abcd1234/xhr_send" + h11 + end, Done, "key=session:abcd1234"},
	{"trailing slash", "POST /sockjs/123/abcd1234/xhr/" + h11 + end, Done, "transport=xhr key=session:abcd1234"},
	{"two trailing slashes", "POST /sockjs/123/abcd1234/xhr//" + h11 + end, Done, "prefix=/sockjs session= key=none:"},
	{"query and fragment", "POST /sockjs/123/abcd1234/xhr?t=1#x" + h11 + end, Done, "key=session:abcd1234"},
	{"fragment in the path", "POST /sockjs/123/abcd1234/xhr#x" + h11 + end, Done, "key=session:abcd1234 path=/sockjs/123/abcd1234/xhr#x"},
	{"service prefix", "POST /search/sockjs/1/s/xhr" + h11 + end, Done, "prefix=/search/sockjs index=1 key=session:s"},
	{"ROOT_URL_PATH_PREFIX prefix", "POST /app/sockjs/1/s/xhr_send" + h11 + end, Done, "prefix=/app/sockjs index=2 key=session:s"},
	{"any server and session bytes", "POST /sockjs/x~y/%20-_!/xhr" + h11 + end, Done, "server=x~y key=session:%20-_!"},
	{"dot in session", "POST /sockjs/123/abc.d/xhr" + h11 + end, Done, "prefix=/sockjs key=none: session="},
	{"dot in server", "POST /sockjs/1.2/abcd/xhr" + h11 + end, Done, "key=none:"},
	{"empty server", "POST /sockjs//abcd/xhr" + h11 + end, Done, "key=none:"},
	{"empty session", "POST /sockjs/1//xhr" + h11 + end, Done, "key=none:"},
	{"too many segments", "POST /sockjs/1/abcd/xhr/more" + h11 + end, Done, "key=none:"},
	{"unknown transport", "POST /sockjs/1/abcd/xhr_polling" + h11 + end, Done, "prefix=/sockjs key=none: transport="},
	{"transport case matters", "POST /sockjs/1/abcd/XHR" + h11 + end, Done, "key=none:"},
	{"not under the prefix", "POST /sockjsx/1/abcd/xhr" + h11 + end, Done, "prefix= index=-1 key=none:"},
	{"prefix only", "GET /sockjs" + h11 + end, Done, "prefix=/sockjs index=0 key=none:"},
	{"prefix slash", "GET /sockjs/" + h11 + end, Done, "prefix=/sockjs key=none:"},
	{"info", "GET /sockjs/info?t=1700000000000" + h11 + end, Done, "prefix=/sockjs key=none: raw=false"},
	{"info slash", "GET /search/sockjs/info/" + h11 + end, Done, "prefix=/search/sockjs key=none:"},
	{"iframe", "GET /sockjs/iframe.html" + h11 + end, Done, "prefix=/sockjs key=none:"},
	{"iframe versioned", "GET /sockjs/iframe-1.6.1.html?x" + h11 + end, Done, "prefix=/sockjs key=none:"},
	{"chunking_test", "POST /sockjs/chunking_test" + h11 + end, Done, "prefix=/sockjs key=none:"},
	{"raw websocket", "GET /sockjs/websocket" + h11 + end, Done, "raw=true prefix=/sockjs index=0 key=none:"},
	{"raw websocket slash", "GET /app/sockjs/websocket/" + h11 + end, Done, "raw=true index=2"},
	{"Meteor /websocket", "GET /websocket" + h11 + end, Done, "raw=true prefix= index=0 key=none:"},
	{"Meteor /websocket/", "GET /websocket/?x=1" + h11 + end, Done, "raw=true index=0"},
	{"Meteor service /websocket", "GET /search/websocket" + h11 + end, Done, "raw=true index=1"},
	{"Meteor prefixed /websocket", "GET /app/websocket" + h11 + end, Done, "raw=true index=2"},
	{"not Meteor /websocket", "GET /websockets" + h11 + end, Done, "raw=false index=-1"},
	{"percent-encoded session", "POST /sockjs/1/a%2Fb/xhr" + h11 + end, Done, "key=session:a%2Fb"},
	{"absolute-form SockJS", "POST http://a/app/sockjs/1/s/xhr" + h11 + end, Done, "index=2 key=session:s host=a"},

	// Cookies, as net/http's Request.Cookie finds them.
	{"sticky cookie", "POST /sockjs/1/s/xhr" + h11 + "Cookie: a=1; sticky=web-2; JSESSIONID=j\r\n" + end, Done, "cookie0=web-2 cookie1=j key=cookie:web-2"},
	{"second cookie", "POST /sockjs/1/s/xhr" + h11 + "Cookie: JSESSIONID=j\r\n" + end, Done, "cookie0=<nil> cookie1=j key=cookie:j"},
	{"no cookie, session", "POST /sockjs/1/s/xhr" + h11 + "Cookie: other=1\r\n" + end, Done, "cookie0=<nil> cookie1=<nil> key=session:s"},
	{"cookie on a websocket", "GET /sockjs/1/s/websocket" + h11 + "Cookie: sticky=w\r\n" + end, Done, "key=cookie:w"},
	{"cookie on a plain request", "GET /" + h11 + "Cookie: sticky=w\r\n" + end, Done, "key=cookie:w"},
	{"several Cookie lines", "GET /" + h11 + "Cookie: a=1\r\nCookie: JSESSIONID=j\r\nCookie: sticky=s\r\n" + end, Done, "cookie0=s cookie1=j key=cookie:s"},
	{"first occurrence wins", "GET /" + h11 + "Cookie: sticky=1; sticky=2\r\nCookie: sticky=3\r\n" + end, Done, "cookie0=1"},
	{"quoted value", "GET /" + h11 + "Cookie: sticky=\"web-2\"\r\n" + end, Done, "cookie0=web-2 key=cookie:web-2"},
	{"lone quote", "GET /" + h11 + "Cookie: sticky=\"\r\n" + end, Done, "cookie0=<nil>"},
	{"invalid value skipped", "GET /" + h11 + "Cookie: sticky=a\\b; sticky=c\r\n" + end, Done, "cookie0=c"},
	{"empty value is no key", "POST /sockjs/1/s/xhr" + h11 + "Cookie: sticky=; JSESSIONID=\"\"\r\n" + end, Done, "cookie0= cookie1= key=session:s"},
	{"name only", "GET /" + h11 + "Cookie: sticky\r\n" + end, Done, "cookie0= key=none:"},
	{"names are case-sensitive", "GET /" + h11 + "Cookie: Sticky=1; STICKY=2\r\n" + end, Done, "cookie0=<nil>"},
	{"spaces around =", "GET /" + h11 + "Cookie: sticky = 1 ;JSESSIONID=2\r\n" + end, Done, "cookie0=␠1 cookie1=2"},
	{"space and comma in a value", "GET /" + h11 + "Cookie: sticky=a b,c\r\n" + end, Done, "cookie0=a␠b,c"},
	{"empty parts", "GET /" + h11 + "Cookie: ;; sticky=1 ;\r\n" + end, Done, "cookie0=1"},
	{"cookie in a field named like it", "GET /" + h11 + "Cookie2: sticky=1\r\nSet-Cookie: sticky=2\r\n" + end, Done, "cookie0=<nil>"},

	// Not HTTP.
	{"PROXY v1", "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\nGET / HTTP/1.1\r\n", NotHTTP, "tls=false"},
	{"PROXY v1 unknown", "PROXY UNKNOWN\r\n", NotHTTP, "tls=false"},
	{"PROXY v2", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c", NotHTTP, "tls=false"},
	{"SSH", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", NotHTTP, "tls=false"},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NotHTTP, "tls=false"},
	{"random bytes", "\x8f\x03\xa1\x00\x17\xfe", NotHTTP, "tls=false"},
	{"NUL", "\x00", NotHTTP, "tls=false"},
	{"TLS record, not a handshake", "\x17\x03\x03\x00\x05hello", NotHTTP, "tls=false"},
	{"TLS handshake, not a ClientHello", "\x16\x03\x03\x00\x04\x02\x00\x00\x00", NotHTTP, "tls=false"},
	{"SSL 2", "\x16\x02\x00", NotHTTP, "tls=false"},
	{"empty", "", NeedMore, ""},
	{"partial head", "GET /sockjs/1/s/xhr HTTP/1.1\r\nHost: a\r\n", NeedMore, ""},
}

func TestRequest(t *testing.T) {
	s := newSniffer(t, testConfig)
	for _, tc := range requestTests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.head)
			st, req := checkIncremental(t, s, data)
			checkRequestOracle(t, s, testConfig.Cookies, data, st, &req)
			if st != tc.st {
				t.Fatalf("Request(%s) = %v, %s; want %v", abbrev([]byte(tc.head)), st, describeRequest(&req), tc.st)
			}
			if st == NeedMore {
				return
			}
			checkFields(t, fmt.Sprintf("Request(%q)", tc.head), fieldsOf(&req), tc.want)
		})
	}
}

func TestRequestLimits(t *testing.T) {
	s := newSniffer(t, Config{MaxHeadBytes: 1024, MaxRequestLineBytes: 100})
	line := func(n int) string { return "GET /" + strings.Repeat("a", n-len("GET / HTTP/1.1")) + " HTTP/1.1" }
	field := func(n int) string { return "X: " + strings.Repeat("v", n-3) + "\r\n" }
	tests := []struct {
		name string
		head string
		st   Status
		code int
	}{
		{"request line at the limit", line(100) + "\r\nHost: a\r\n\r\n", Done, 0},
		{"request line at the limit, bare LF", line(100) + "\nHost: a\n\n", Done, 0},
		{"request line one past", line(101) + "\r\nHost: a\r\n\r\n", Invalid, 414},
		{"request line one past, bare LF", line(101) + "\nHost: a\r\n\r\n", Invalid, 414},
		{"request line long, unfinished", line(300), Invalid, 414},
		// The CR that would end a 101-byte line is the last byte the line
		// may have: what follows it is past the limit and decides nothing.
		{"CR just past the limit, then junk", line(101) + "\rX\r\n\r\n", Invalid, 414},
		{"CR just past the limit, then LF", line(101) + "\r\nHost: a\r\n\r\n", Invalid, 414},
		{"CR at the limit, then junk", line(100) + "\rX\r\nHost: a\r\n\r\n", Invalid, 400},
		{"long method", strings.Repeat("G", 200), Invalid, 414},
		{"head at the limit", "GET / HTTP/1.1\r\nHost: a\r\n" + field(1024-25-2-2) + "\r\n", Done, 0},
		{"head one past", "GET / HTTP/1.1\r\nHost: a\r\n" + field(1024-25-2-1) + "\r\n", Invalid, 431},
		{"head long, unfinished", "GET / HTTP/1.1\r\nHost: a\r\n" + field(2000), Invalid, 431},
		{"many fields", "GET / HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", 200), Invalid, 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.head)
			st, req := checkIncremental(t, s, data)
			checkRequestOracle(t, s, nil, data, st, &req)
			if st != tc.st || req.Status != tc.code {
				t.Fatalf("Request(%d bytes) = %v %d; want %v %d", len(data), st, req.Status, tc.st, tc.code)
			}
		})
	}

	// The line limit above the head limit: the head limit answers.
	s = newSniffer(t, Config{MaxHeadBytes: 100, MaxRequestLineBytes: 1000})
	if st, req := checkIncremental(t, s, []byte(line(300))); st != Invalid || req.Status != 431 {
		t.Errorf("Request(300-byte line, 100-byte head limit) = %v %d; want Invalid 431", st, req.Status)
	}
}

// TestRequestCookieLimit: net/http ignores every cookie of a head with more
// than 3000 of them; so does sniff, so that both find the same.
func TestRequestCookieLimit(t *testing.T) {
	s := newSniffer(t, testConfig)
	for _, n := range []int{2999, 3000, 3001} {
		head := "GET /" + h11 + "Cookie: sticky=1" + strings.Repeat(";", n-1) + "\r\n" + end
		data := []byte(head)
		st, req := checkIncremental(t, s, data)
		checkRequestOracle(t, s, testConfig.Cookies, data, st, &req)
		if want := n <= 3000; (req.Cookies[0] != nil) != want {
			t.Errorf("Request(%d cookies).Cookies[0] = %q; want present=%v", n, req.Cookies[0], want)
		}
	}
}

// TestRequestCorpus runs heads captured from Chromium and sockjs-client
// (testdata/heads) against net/http, whole and byte at a time.
func TestRequestCorpus(t *testing.T) {
	s := newSniffer(t, testConfig)
	sessions := 0
	for _, f := range loadCorpus(t, "heads", ".request") {
		st, req := checkIncremental(t, s, f.data)
		checkRequestOracle(t, s, testConfig.Cookies, f.data, st, &req)
		if st != Done || req.HeadLen != len(f.data) {
			t.Errorf("%s: %v, head %d of %d bytes", f.name, st, req.HeadLen, len(f.data))
		}
		if req.SockJS.Session != nil {
			sessions++
		}
		// Without sticky cookies, every polling request has its session
		// as key.
		s2 := newSniffer(t, Config{Prefixes: testConfig.Prefixes})
		_, req2 := sniffWhole(s2, f.data)
		polling := req2.SockJS.Session != nil && string(req2.SockJS.Transport) != "websocket"
		if polling != (req2.KeyKind == KeySession) {
			t.Errorf("%s: %s/%s has key %v", f.name, req2.SockJS.Session, req2.SockJS.Transport, req2.KeyKind)
		}
	}
	if sessions < 20 {
		t.Errorf("the corpus has %d session requests; want the captured ones", sessions)
	}
}

// clientHello captures the first flight of a crypto/tls client.
func clientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		tc := tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: serverName == ""})
		tc.Handshake()
		c.Close()
	}()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := s.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if len(buf) >= 5 && len(buf) >= 5+(int(buf[3])<<8|int(buf[4])) {
			return buf
		}
		if err != nil {
			t.Fatalf("reading a ClientHello: %v", err)
		}
	}
}

func TestRequestTLS(t *testing.T) {
	s := newSniffer(t, testConfig)
	hello := clientHello(t, "app.example.com")
	st, req := checkIncremental(t, s, hello)
	if st != NotHTTP || !req.TLS || string(req.SNI) != "app.example.com" || req.KeyKind != KeyNone {
		t.Errorf("Request(ClientHello) = %v TLS %v SNI %q key %v; want NotHTTP TLS true SNI app.example.com", st, req.TLS, req.SNI, req.KeyKind)
	}
	// Without SNI (an IP address as server name).
	st, req = checkIncremental(t, s, clientHello(t, ""))
	if st != NotHTTP || !req.TLS || req.SNI != nil {
		t.Errorf("Request(ClientHello without SNI) = %v TLS %v SNI %q; want NotHTTP TLS true no SNI", st, req.TLS, req.SNI)
	}
	// Until the first record is complete, it waits.
	for _, n := range []int{1, 5, 6, len(hello) - 1} {
		var sc Scan
		if st := s.Request(&sc, hello[:n], &req); st != NeedMore {
			t.Errorf("Request(ClientHello[:%d]) = %v; want NeedMore", n, st)
		}
	}
	// A first record longer than the head limit is reported at once,
	// without SNI.
	small := newSniffer(t, Config{MaxHeadBytes: 100})
	st, req = checkIncremental(t, small, hello)
	if st != NotHTTP || !req.TLS || req.SNI != nil {
		t.Errorf("Request(ClientHello, 100-byte limit) = %v TLS %v SNI %q; want NotHTTP TLS true no SNI", st, req.TLS, req.SNI)
	}
	// A truncated or corrupt ClientHello has no SNI, and no panic.
	for i := 5; i < len(hello); i += 7 {
		bad := bytes.Clone(hello)
		bad[i] ^= 0xff
		checkIncremental(t, s, bad)
	}
}

// TestRequestScanReuse: Reset readies a Scan for the next request on a
// keep-alive connection.
func TestRequestScanReuse(t *testing.T) {
	s := newSniffer(t, testConfig)
	conn := "POST /sockjs/1/aaaa/xhr_send HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n[]" +
		"POST /sockjs/1/bbbb/xhr HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /sockjs/info HTTP/1.1\r\nHost: a\r\n\r\n"
	buf := []byte(conn)
	var sc Scan
	var req Request
	var keys []string
	for len(buf) > 0 {
		if st := s.Request(&sc, buf, &req); st != Done {
			t.Fatalf("Request(%q) = %v", buf, st)
		}
		keys = append(keys, fmt.Sprintf("%s:%s", req.KeyKind, req.Key))
		next := req.HeadLen + int(max(req.ContentLength, 0))
		buf = buf[next:]
		sc.Reset()
	}
	if got := strings.Join(keys, " "); got != "session:aaaa session:bbbb none:" {
		t.Errorf("keys = %s; want session:aaaa session:bbbb none:", got)
	}
}

func TestNew(t *testing.T) {
	bad := []Config{
		{Prefixes: []string{"sockjs"}},
		{Prefixes: []string{"/sockjs/"}},
		{Prefixes: []string{"/"}},
		{Prefixes: []string{""}},
		{Prefixes: []string{"/a?b"}},
		{Prefixes: []string{"/a b"}},
		{Prefixes: []string{"/a", "/a"}},
		{Cookies: []string{"a", "b", "c", "d", "e"}},
		{Cookies: []string{"a b"}},
		{Cookies: []string{""}},
		{MaxHeadBytes: -1},
		{MaxHeadBytes: 32},
		{MaxRequestLineBytes: -1},
		{MaxHeadBytes: 2 << 30},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.maxHead != DefaultMaxHeadBytes || s.maxLine != DefaultMaxRequestLineBytes || len(s.prefixes) != 1 || s.numCookies != 0 {
		t.Errorf("New(Config{}) = %+v", s)
	}
	// An empty prefix list matches nothing.
	s = newSniffer(t, Config{Prefixes: []string{}})
	if _, req := sniffWhole(s, []byte("POST /sockjs/1/s/xhr"+h11+end)); req.KeyKind != KeyNone || req.PrefixIndex != -1 {
		t.Errorf("with no prefixes: key %v, prefix %d", req.KeyKind, req.PrefixIndex)
	}
	// Nested prefixes: the deepest wins, whatever the order.
	s = newSniffer(t, Config{Prefixes: []string{"/a", "/a/sockjs"}})
	if _, req := sniffWhole(s, []byte("POST /a/sockjs/1/s/xhr"+h11+end)); req.PrefixIndex != 1 || string(req.Key) != "s" {
		t.Errorf("nested prefixes: prefix %d key %q; want 1, s", req.PrefixIndex, req.Key)
	}
}
