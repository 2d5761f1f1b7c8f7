package sniff

import (
	"fmt"
	"strings"
	"testing"
)

type responseCase struct {
	name   string
	head   string
	toHEAD bool
	st     Status
	want   string // "status body cl close interim upgrade", "" for not Done
}

func describeResponse(r *Response) string {
	return fmt.Sprintf("%d %v %d close=%v interim=%v upgrade=%v", r.StatusCode, r.Body, r.ContentLength, r.Close, r.Interim, r.Upgrade)
}

// responseTests are also FuzzResponse's hand-written seeds.
var responseTests = []responseCase{
	{"Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, Done, "200 length 5 close=false interim=false upgrade=false"},
	{"Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, Done, "200 no-body 0 close=false interim=false upgrade=false"},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, Done, "200 chunked -1 close=false interim=false upgrade=false"},
	{"until close", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", false, Done, "200 until-close -1 close=true interim=false upgrade=false"},
	{"HTTP/1.0 until close", "HTTP/1.0 200 OK\r\n\r\n", false, Done, "200 until-close -1 close=true interim=false upgrade=false"},
	{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", false, Done, "200 length 2 close=false interim=false upgrade=false"},
	{"HTTP/1.0 close", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", false, Done, "200 length 2 close=true interim=false upgrade=false"},
	{"Connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", false, Done, "200 length 2 close=true interim=false upgrade=false"},
	{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, Done, "200 no-body 5 close=false interim=false upgrade=false"},
	{"HEAD chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, Done, "200 no-body -1 close=false interim=false upgrade=false"},
	{"HEAD, no length", "HTTP/1.1 200 OK\r\n\r\n", true, Done, "200 no-body -1 close=false interim=false upgrade=false"},
	{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", false, Done, "100 no-body 0 close=false interim=true upgrade=false"},
	{"103 Early Hints", "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", false, Done, "103 no-body 0 close=false interim=true upgrade=false"},
	{"101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", false, Done, "101 no-body 0 close=false interim=false upgrade=true"},
	{"204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false, Done, "204 no-body 0 close=false interim=false upgrade=false"},
	{"204 chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", false, Done, "204 no-body 0 close=false interim=false upgrade=false"},
	{"304", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false, Done, "304 no-body 0 close=false interim=false upgrade=false"},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, Done, "200 no-body 0 close=false interim=false upgrade=false"},
	{"spaces before the code", "HTTP/1.1   404 Not Found\r\nContent-Length: 0\r\n\r\n", false, Done, "404 no-body 0 close=false interim=false upgrade=false"},
	{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 1\n\nx", false, Done, "200 length 1 close=false interim=false upgrade=false"},
	{"HTTP/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\n", false, Done, "200 length 1 close=false interim=false upgrade=false"},
	{"status 000", "HTTP/1.1 000 X\r\nContent-Length: 1\r\n\r\n", false, Done, "0 length 1 close=false interim=false upgrade=false"},
	{"obs-text in reason", "HTTP/1.1 200 \xc3\x84\r\nContent-Length: 1\r\n\r\n", false, Done, "200 length 1 close=false interim=false upgrade=false"},

	{"Content-Length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false, Invalid, ""},
	{"Content-Length and chunked, HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", true, Invalid, ""},
	{"Content-Length twice, equal", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", false, Invalid, ""},
	{"Content-Length twice, different", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false, Invalid, ""},
	{"Content-Length bad", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", false, Invalid, ""},
	{"Content-Length bad on 204", "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n", false, Invalid, ""},
	{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, Invalid, ""},
	{"chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, Invalid, ""},
	{"Trailer: Content-Length, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n", false, Invalid, ""},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", false, Invalid, ""},
	{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", false, Invalid, ""},
	{"bare CR", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\n\r\n", false, Invalid, ""},
	{"CR in reason", "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n", false, Invalid, ""},
	{"signed status", "HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n", false, Invalid, ""},
	{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", false, Invalid, ""},
	{"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", false, Invalid, ""},
	{"no status", "HTTP/1.1\r\n\r\n", false, Invalid, ""},
	{"bad version", "HTTP/1.x 200 OK\r\n\r\n", false, Invalid, ""},
	{"not HTTP", "SSH-2.0-OpenSSH\r\n", false, Invalid, ""},
	{"lower-case", "http/1.1 200 OK\r\n\r\n", false, Invalid, ""},
	{"empty", "", false, NeedMore, ""},
	{"partial", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false, NeedMore, ""},
}

func TestResponse(t *testing.T) {
	s := newSniffer(t, testConfig)
	for _, tc := range responseTests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.head)
			st, resp := checkResponseIncremental(t, s, data, tc.toHEAD)
			checkResponseOracle(t, s, data, tc.toHEAD, st, &resp)
			if st != tc.st {
				t.Fatalf("Response(%s, HEAD=%v) = %v, %s; want %v", abbrev([]byte(tc.head)), tc.toHEAD, st, describeResponse(&resp), tc.st)
			}
			if st != Done {
				return
			}
			if got := describeResponse(&resp); got != tc.want {
				t.Errorf("Response(%s, HEAD=%v) = %s; want %s", abbrev([]byte(tc.head)), tc.toHEAD, got, tc.want)
			}
			if head := strings.Index(tc.head, "\r\n\r\n") + 4; head > 3 && resp.HeadLen != head {
				t.Errorf("Response(%s).HeadLen = %d; want %d", abbrev([]byte(tc.head)), resp.HeadLen, head)
			}
		})
	}
}

func TestResponseLimit(t *testing.T) {
	s := newSniffer(t, Config{MaxHeadBytes: 100})
	long := "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("v", 200) + "\r\n\r\n"
	if st, _ := checkResponseIncremental(t, s, []byte(long), false); st != Invalid {
		t.Errorf("Response(%d-byte head, limit 100) = %v; want Invalid", len(long), st)
	}
}

// TestResponseCorpus runs response heads captured from sockjs-node
// (testdata/heads) against net/http, whole and byte at a time.
func TestResponseCorpus(t *testing.T) {
	s := newSniffer(t, testConfig)
	kinds := map[BodyKind]int{}
	for _, f := range loadCorpus(t, "heads", ".response") {
		st, resp := checkResponseIncremental(t, s, f.data, false)
		checkResponseOracle(t, s, f.data, false, st, &resp)
		if st != Done || resp.HeadLen != len(f.data) {
			t.Errorf("%s: %v, head %d of %d bytes", f.name, st, resp.HeadLen, len(f.data))
		}
		kinds[resp.Body]++
	}
	// sockjs-node answers with lengths, chunked streams, 204s and 101s.
	for _, k := range []BodyKind{NoBody, Length, Chunked} {
		if kinds[k] == 0 {
			t.Errorf("no %v response in the corpus: %v", k, kinds)
		}
	}
}

// TestScanMisuse: a Scan holds a request head or a response head, never
// both; mixing them up is a caller's bug and panics.
func TestScanMisuse(t *testing.T) {
	s := newSniffer(t, testConfig)
	var req Request
	var resp Response
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	for _, partial := range []string{"GET", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"} {
		var sc Scan
		s.Request(&sc, []byte(partial), &req)
		mustPanic("Response after Request("+partial+")", func() { s.Response(&sc, []byte("HTTP/1.1 200 OK\r\n\r\n"), false, &resp) })
	}
	for _, partial := range []string{"HTTP", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\n\r\n"} {
		var sc Scan
		s.Response(&sc, []byte(partial), false, &resp)
		mustPanic("Request after Response("+partial+")", func() { s.Request(&sc, []byte("GET / HTTP/1.1\r\n\r\n"), &req) })
	}
}
