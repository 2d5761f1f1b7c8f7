package sniff_test

import (
	"fmt"

	"github.com/l4lb/l4lb/sniff"
)

// A keep-alive connection carrying two requests of one SockJS session,
// arriving in pieces: the sniffer waits for each head, reports its key, and
// says where its body ends so the next head can be found.
func Example() {
	s, err := sniff.New(sniff.Config{
		Prefixes: []string{"/sockjs"},
		Cookies:  []string{"sticky"},
	})
	if err != nil {
		panic(err)
	}
	received := []byte("POST /sockjs/123/abcd1234/xhr_send HTTP/1.1\r\n" +
		"Host: app.example.com\r\nContent-Length: 9\r\n\r\n[\"hello\"]" +
		"POST /sockjs/123/abcd1234/xhr HTTP/1.1\r\nHost: app.example.com\r\n" +
		"Cookie: sticky=web-2\r\nContent-Length: 0\r\n\r\n")

	var sc sniff.Scan // lives with the connection
	var req sniff.Request
	start, end := 0, 20 // bytes of the head so far: the first 20 arrived
	for start < len(received) {
		switch s.Request(&sc, received[start:end], &req) {
		case sniff.NeedMore:
			end = min(end+20, len(received)) // more bytes arrive
			continue
		case sniff.Done:
			fmt.Printf("%s %s key=%s:%s body=%d\n", req.Method, req.Path, req.KeyKind, req.Key, req.ContentLength)
			start += req.HeadLen + int(max(req.ContentLength, 0))
			end = max(end, start)
			sc.Reset()
		default:
			fmt.Println("refused with", req.Status)
			return
		}
	}
	// Output:
	// POST /sockjs/123/abcd1234/xhr_send key=session:abcd1234 body=9
	// POST /sockjs/123/abcd1234/xhr key=cookie:web-2 body=0
}

// A connection from a trusted front starts with a PROXY header; the
// client's request follows it.
func ExampleProxy() {
	received := []byte("PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nGET / HTTP/1.1\r\n")
	var h sniff.ProxyHeader
	switch sniff.Proxy(received, &h) {
	case sniff.NeedMore: // wait for more bytes
	case sniff.Done:
		fmt.Printf("client %v via %v; request at byte %d\n", h.Src, h.Dst, h.Len)
	case sniff.Invalid: // close the connection
	}
	// Output:
	// client 192.0.2.7:40000 via 198.51.100.1:443; request at byte 45
}
