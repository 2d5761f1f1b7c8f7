package sniff

import (
	"fmt"
	"strings"
	"testing"
)

type chunkedCase struct {
	name string
	body string
	want string // "n done err" of a whole Scan
}

// chunkedTests are also FuzzChunked's hand-written seeds.
var chunkedTests = []chunkedCase{
	{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "15 true <nil>"},
	{"two chunks and the next message", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "26 true <nil>"},
	{"empty body", "0\r\n\r\n", "5 true <nil>"},
	{"hex sizes", "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", "35 true <nil>"},
	{"leading zeros", "0005\r\nhello\r\n0000\r\n\r\n", "21 true <nil>"},
	{"16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "30 true <nil>"},
	{"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "31 true <nil>"},
	{"quoted extension", "5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", "23 true <nil>"},
	{"whitespace after the size", "5 \t\r\nhello\r\n0\r\n\r\n", "17 true <nil>"},
	{"trailer", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n", "41 true <nil>"},
	{"not yet done", "5\r\nhel", "6 false <nil>"},
	{"in the trailer", "0\r\nX: 1\r\n", "9 false <nil>"},

	{"17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", "16 false sniff: chunked body: chunk size too large"},
	{"2^63", "8000000000000000\r\n", "15 false sniff: chunked body: chunk size too large"},
	{"2^63-1", "7fffffffffffffff\r\nab", "20 false <nil>"},
	{"empty size", "\r\nhello\r\n", "0 false sniff: chunked body: malformed chunk size"},
	{"size then garbage", "5x\r\nhello\r\n", "1 false sniff: chunked body: malformed chunk size"},
	{"signed size", "+5\r\nhello\r\n", "0 false sniff: chunked body: malformed chunk size"},
	{"space in size", "5 5\r\n", "2 false sniff: chunked body: malformed chunk size"},
	{"space before extension", "5 ;x\r\nhello\r\n0\r\n\r\n", "2 false sniff: chunked body: malformed chunk size"},
	{"bare LF after size", "5\nhello\r\n0\r\n\r\n", "1 false sniff: chunked body: malformed chunk size"},
	{"bare LF after extension", "5;x\nhello\r\n0\r\n\r\n", "3 false sniff: chunked body: missing CRLF"},
	{"bare CR in extension", "5;x\ry\r\nhello\r\n", "4 false sniff: chunked body: missing CRLF"},
	{"data too long", "5\r\nhello!\r\n0\r\n\r\n", "8 false sniff: chunked body: missing CRLF"},
	{"data too short", "5\r\nhell\r\n0\r\n\r\n", "8 false sniff: chunked body: missing CRLF"},
	{"LF after data", "5\r\nhello\n0\r\n\r\n", "8 false sniff: chunked body: missing CRLF"},
	{"bare LF ends", "0\r\n\n", "3 false sniff: chunked body: malformed trailer section"},
	{"trailer obs-fold", "0\r\nX: 1\r\n 2\r\n\r\n", "9 false sniff: chunked body: malformed trailer section"},
	{"trailer space before colon", "0\r\nX : 1\r\n\r\n", "4 false sniff: chunked body: malformed trailer section"},
	{"trailer without colon", "0\r\nX\r\n\r\n", "4 false sniff: chunked body: malformed trailer section"},
	{"trailer bare LF", "0\r\nX: 1\n\r\n", "7 false sniff: chunked body: malformed trailer section"},
	{"trailer control byte", "0\r\nX: \x01\r\n\r\n", "6 false sniff: chunked body: malformed trailer section"},
	{"long chunk line", "5;" + strings.Repeat("x", 4093) + "\r\nhello\r\n0\r\n\r\n", "4096 false sniff: chunked body: chunk line too long"},
	{"long chunk line at the limit", "5;" + strings.Repeat("x", 4092) + "\r\nhello\r\n0\r\n\r\n", "4108 true <nil>"},
	{"long trailer", "0\r\nX: " + strings.Repeat("v", 5000) + "\r\n\r\n", "4099 false sniff: chunked body: malformed trailer section"},
	{"framing overhead", strings.Repeat("1;"+strings.Repeat("e", 500)+"\r\nx\r\n", 40) + "0\r\n\r\n", "17234 false sniff: chunked body: too much framing overhead"},
}

func TestChunkedBody(t *testing.T) {
	for _, tc := range chunkedTests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.body)
			n, done, err := checkChunkedIncremental(t, data)
			checkChunkedOracle(t, data, n, done, err)
			if got := fmt.Sprint(n, done, err); got != tc.want {
				t.Errorf("Scan(%s) = %s; want %s", abbrev([]byte(tc.body)), got, tc.want)
			}
		})
	}
}

// TestChunkedCorpus walks chunked response bodies sockjs-node sent. The
// streaming ones (xhr_streaming, eventsource, htmlfile) were cut short when
// the client closed the connection: they are valid beginnings, not done.
func TestChunkedCorpus(t *testing.T) {
	complete := 0
	for _, f := range loadCorpus(t, "chunked", ".chunked") {
		n, done, err := checkChunkedIncremental(t, f.data)
		checkChunkedOracle(t, f.data, n, done, err)
		if err != nil || n != len(f.data) {
			t.Errorf("%s: Scan = %d, %v, %v; want %d", f.name, n, done, err, len(f.data))
		}
		if done {
			complete++
		}
	}
	if complete == 0 {
		t.Errorf("no complete chunked body in the corpus")
	}
}

// TestChunkedSkip passes chunk data on without Scan, as the engine does
// when it splices it.
func TestChunkedSkip(t *testing.T) {
	body := []byte("6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
	var c ChunkedBody
	pos := 0
	for steps := 0; !c.Done(); steps++ {
		if steps > 20 {
			t.Fatal("no progress")
		}
		if r := c.DataRemaining(); r > 0 {
			k := min(r, 2) // a partial splice
			c.Skip(k)
			pos += int(k)
			continue
		}
		n, _, err := c.Scan(body[pos : pos+1])
		if err != nil {
			t.Fatal(err)
		}
		pos += n
	}
	if pos != len(body) {
		t.Errorf("consumed %d bytes; want %d", pos, len(body))
	}
	if c.DataRemaining() != 0 {
		t.Errorf("DataRemaining after the end = %d", c.DataRemaining())
	}
	n, done, err := c.Scan([]byte("GET"))
	if n != 0 || !done || err != nil {
		t.Errorf("Scan after done = %d, %v, %v; want 0, true, nil", n, done, err)
	}

	defer func() {
		if recover() == nil {
			t.Errorf("Skip past the chunk did not panic")
		}
	}()
	var c2 ChunkedBody
	c2.Scan([]byte("2\r\n"))
	c2.Skip(3)
}
