//go:build linux

package engine

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCloseAfterResponse: an exchange that closes the connection (the
// request or the response says so) ends with the balancer closing the
// client connection after the response, as the backend itself would, so
// that a client reading until the close gets it. A request pipelined
// behind a closing one is not served.
func TestCloseAfterResponse(t *testing.T) {
	goBackend := startHTTP(t, named("go")) // net/http closes after a "close" request
	holding := startHoldingBackend(t)      // says "Connection: close" but keeps the socket open

	tests := []struct {
		name    string
		backend string
		request string
	}{
		{"request Connection: close", goBackend, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"request with several Connection tokens", goBackend, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n"},
		{"HTTP/1.0 without keep-alive", goBackend, "GET /x HTTP/1.0\r\nHost: x\r\n\r\n"},
		{"response Connection: close, backend keeps its socket", holding, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"pipelined request after close is not served", goBackend,
			"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, tt.backend)})
			c := dial(t, s.Addrs()[0])
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			// The client only reads, never closes: EOF must come from
			// the balancer.
			got := expectClosed(t, c, 5*time.Second)
			if n := strings.Count(got, "HTTP/1."); n != 1 {
				t.Fatalf("got %d responses before the close; want 1:\n%s", n, got)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("response: %v\n%s", err, got)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, body %q, err %v", resp.StatusCode, body, err)
			}
			if want := "/x"; !strings.Contains(string(body), want) {
				t.Errorf("body %q does not answer %s", body, want)
			}
		})
	}
}

// TestKeepAliveNotClosed: without a close on either side the connection
// stays open for the next request.
func TestKeepAliveNotClosed(t *testing.T) {
	s := startServer(t, Config{Balancer: newBalancer(t, startHTTP(t, named("go")))})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	for _, path := range []string{"/1", "/2", "/3"} {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), path) {
			t.Fatalf("%s: body %q", path, body)
		}
	}
}

// startHoldingBackend answers the first request on a connection with a
// response that says "Connection: close", and then keeps the connection
// open until the test ends.
func startHoldingBackend(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	ep := startTCP(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		body := "holding " + req.URL.Path
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
		<-done
	})
	t.Cleanup(func() { close(done) }) // runs before startTCP's listener cleanup
	return ep
}

// TestCloseWithoutLinger: a connection whose request asked to close is
// released as soon as its response is out, while the client still holds
// its end open (no shutdown and drain: nothing more may come from it);
// one whose response asked to close, or that was answered before its
// request's body was all sent, lingers, draining the client, since more
// may come from it (a close with unread bytes would reset the connection
// and could destroy the answer).
func TestCloseWithoutLinger(t *testing.T) {
	goBackend := startHTTP(t, named("go"))
	holding := startHoldingBackend(t)
	for _, tt := range []struct {
		name      string
		backend   string
		request   string
		lingering bool
	}{
		{"request asked to close", goBackend, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
		{"response asked to close", holding, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", true},
		// Answered before its body is all sent: the rest may still come.
		{"request asked to close, body still coming", holding,
			"POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100000\r\n\r\npartial", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Config{Balancer: newBalancer(t, tt.backend)})
			c := dial(t, s.Addrs()[0])
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			if got := expectClosed(t, c, 5*time.Second); !strings.HasPrefix(got, "HTTP/1.1 200") {
				t.Fatalf("response %q", got)
			}
			// The client has its EOF and keeps its socket open. A
			// lingering connection stays until the client closes (or
			// the linger timeout, seconds away); one that does not
			// linger is gone at once.
			if tt.lingering {
				if active := s.Stats().Active; active != 1 {
					t.Errorf("%d connections open after the response; want the lingering one", active)
				}
				c.Close()
			}
			// Well before the linger timeout would close it anyway.
			deadline := time.Now().Add(lingerTimeout / 2)
			for s.Stats().Active != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if active := s.Stats().Active; active != 0 {
				t.Errorf("%d connections open; want none", active)
			}
		})
	}
}
