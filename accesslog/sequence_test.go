//go:build linux

package accesslog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/engine/enginetest"
)

const testTimeout = 20 * time.Second

// rawBackend is a backend whose every byte is known: it reads request
// heads (the test sends no bodies) and answers by path:
//
//	.../xhr            200 with the body <name>, keep-alive
//	/websocket         101, then echoes bytes until the client's FIN
//	.../xhr_streaming  nothing: it reports the head on heads and waits
//	                   for the client to go
type rawBackend struct {
	name  string
	ep    string
	heads chan string
}

func startRaw(t *testing.T, name string) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &rawBackend{name: name, ep: "tcp://" + ln.Addr().String(), heads: make(chan string, 8)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *rawBackend) ok() string {
	return "HTTP/1.1 200 OK\r\nX-Backend: " + b.name + "\r\nContent-Length: " + fmt.Sprint(len(b.name)) + "\r\n\r\n" + b.name
}

func (b *rawBackend) switching() string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Backend: " + b.name + "\r\n\r\n"
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		for { // the rest of the head
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if l == "\r\n" {
				break
			}
		}
		path := strings.Fields(line)[1]
		switch {
		case strings.HasSuffix(path, "/xhr"):
			io.WriteString(c, b.ok())
		case path == "/websocket":
			io.WriteString(c, b.switching())
			io.Copy(c, r) // echo until the client's FIN
			return
		case strings.HasSuffix(path, "/xhr_streaming"):
			b.heads <- path
			io.Copy(io.Discard, r) // until the client goes
			return
		}
	}
}

// tee hands every record to the Logger and says so, so that the test
// knows when a line is in the queue.
type tee struct {
	l    *Logger
	seen chan struct{}
}

func (t tee) RecordExchange(e *engine.Exchange) {
	t.l.RecordExchange(e)
	t.seen <- struct{}{}
}

// keyOn returns a SockJS session id that the balancer routes to ep.
func keyOn(t *testing.T, bal *affinity.Balancer, ep string) string {
	t.Helper()
	for i := range 1000 {
		k := fmt.Sprintf("s%06d", i)
		if bal.Snapshot().Lookup(affinity.HashKey([]byte(k))).Backend().Endpoint == ep {
			return k
		}
	}
	t.Fatalf("no key of 1000 goes to %s", ep)
	return ""
}

// line is a JSON line as the test reads it back.
type line struct {
	Time      time.Time `json:"time"`
	Client    string    `json:"client"`
	Listener  string    `json:"listener"`
	Backend   string    `json:"backend"`
	Key       string    `json:"key"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	BytesIn   int64     `json:"bytes_in"`
	BytesOut  int64     `json:"bytes_out"`
	Connect   float64   `json:"connect_ms"`
	FirstByte float64   `json:"first_byte_ms"`
	Total     float64   `json:"total_ms"`
	End       string    `json:"end"`
	Tunnel    bool      `json:"tunnel"`
}

// TestSequence is acceptance 5's log test: a known sequence (a keep-alive
// connection that switches backends, a WebSocket upgrade, a 502, a client
// reset) through real sockets, logged to a file; every field of every
// line is checked.
func TestSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := tee{l: l, seen: make(chan struct{}, 16)}
	// reused[i] is whether step i's request went on a parked backend
	// connection (the engine's count says), which connects to nothing.
	var reused []bool
	var srv *engine.Server
	reuses := int64(0)
	wait := func(what string) {
		t.Helper()
		select {
		case <-rec.seen:
		case <-time.After(testTimeout):
			t.Fatalf("no record for %s within %v", what, testTimeout)
		}
		n := srv.Stats().BackendReuses
		reused = append(reused, n > reuses)
		reuses = n
	}

	a, b := startRaw(t, "A"), startRaw(t, "B")
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: a.ep}, {Endpoint: b.ep}}); err != nil {
		t.Fatal(err)
	}
	srv = enginetest.Start(t, engine.Config{Balancer: bal, Exchanges: rec, Loops: 1})
	lb := srv.Addrs()[0].String()

	// The 502 comes from a second listener whose only backend refuses,
	// behind a trusted front that sends a PROXY header.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "tcp://" + ln.Addr().String()
	ln.Close()
	bal502 := affinity.NewBalancer()
	if err := bal502.Update([]affinity.Backend{{Endpoint: refused}}); err != nil {
		t.Fatal(err)
	}
	srv502 := enginetest.Start(t, engine.Config{Balancer: bal502, Exchanges: rec, AcceptProxy: true, Loops: 1})
	lb502 := srv502.Addrs()[0].String()

	dial := func(addr string) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testTimeout))
		t.Cleanup(func() { c.Close() })
		return c
	}
	readN := func(c net.Conn, n int) string {
		t.Helper()
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		return string(buf)
	}
	start := time.Now()

	// 1, 2: one keep-alive connection, a session on A, then one on B.
	keyA, keyB := keyOn(t, bal, a.ep), keyOn(t, bal, b.ep)
	reqA := "POST /sockjs/000/" + keyA + "/xhr HTTP/1.1\r\nHost: x\r\n\r\n"
	reqB := "POST /sockjs/000/" + keyB + "/xhr HTTP/1.1\r\nHost: x\r\n\r\n"
	c1 := dial(lb)
	io.WriteString(c1, reqA)
	if got := readN(c1, len(a.ok())); got != a.ok() {
		t.Fatalf("keep-alive request 1 = %q; want %q", got, a.ok())
	}
	wait("keep-alive request 1")
	io.WriteString(c1, reqB)
	if got := readN(c1, len(b.ok())); got != b.ok() {
		t.Fatalf("keep-alive request 2 = %q; want %q", got, b.ok())
	}
	wait("keep-alive request 2")

	// 3: a WebSocket upgrade, five bytes each way, closed by the client.
	reqWS := "GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	c2 := dial(lb)
	io.WriteString(c2, reqWS)
	head := readN(c2, len(a.switching()))
	wsBackend := a
	if head != a.switching() {
		wsBackend = b
		if head != b.switching() {
			t.Fatalf("upgrade answered %q; want a 101 from A or B", head)
		}
	}
	io.WriteString(c2, "hello")
	if got := readN(c2, 5); got != "hello" {
		t.Fatalf("tunnel echo = %q; want hello", got)
	}
	c2.(*net.TCPConn).CloseWrite()
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the client's FIN the tunnel read %d, %v; want EOF", n, err)
	}
	wait("the tunnel")

	// 4: a 502, from a client whose address the PROXY header gives.
	proxyHdr := "PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\n"
	req502 := "GET /app?q=secret HTTP/1.1\r\nHost: x\r\n\r\n"
	c3 := dial(lb502)
	io.WriteString(c3, proxyHdr+req502)
	answer, _ := io.ReadAll(c3)
	if !strings.HasPrefix(string(answer), "HTTP/1.1 502 ") {
		t.Fatalf("refused backend answered %q; want 502", answer)
	}
	wait("the 502")

	// 5: the client resets while its request waits at A.
	reqReset := "POST /sockjs/000/" + keyA + "/xhr_streaming HTTP/1.1\r\nHost: x\r\n\r\n"
	c4 := dial(lb)
	io.WriteString(c4, reqReset)
	select {
	case <-a.heads:
	case <-time.After(testTimeout):
		t.Fatal("the streaming request never reached A")
	}
	c4.(*net.TCPConn).SetLinger(0)
	c4.Close()
	wait("the client reset")
	end := time.Now()

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.TrimSuffix(string(raw), "\n")
	rows := strings.Split(text, "\n")
	if len(rows) != 5 {
		t.Fatalf("the log has %d lines; want 5:\n%s", len(rows), raw)
	}
	var got []line
	for i, r := range rows {
		var x line
		dec := json.NewDecoder(strings.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("line %d is not the JSON we write: %v\n%s", i+1, err, r)
		}
		got = append(got, x)
	}

	const anyTime = -2 // a time that must be >= 0; -1: must be -1
	// A request that went on a parked connection (the switch parks
	// c1's connection to A) connected to nothing.
	connect := func(step int) float64 {
		if reused[step] {
			return -1
		}
		return anyTime
	}
	errResp := "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	want := []struct {
		client, listener, backend, key, method, path string
		status                                       int
		in, out                                      int64
		connect, firstByte                           float64
		end                                          string
		tunnel                                       bool
	}{
		{c1.LocalAddr().String(), lb, a.ep, "session", "POST", "/sockjs/000/" + keyA + "/xhr", 200, int64(len(reqA)), int64(len(a.ok())), connect(0), anyTime, "normal", false},
		// The switch to B connects again.
		{c1.LocalAddr().String(), lb, b.ep, "session", "POST", "/sockjs/000/" + keyB + "/xhr", 200, int64(len(reqB)), int64(len(b.ok())), connect(1), anyTime, "normal", false},
		{c2.LocalAddr().String(), lb, wsBackend.ep, "none", "GET", "/websocket", 101, int64(len(reqWS) + 5), int64(len(wsBackend.switching()) + 5), connect(2), anyTime, "normal", true},
		// The query is not logged.
		{"203.0.113.7:51234", lb502, "", "none", "GET", "/app", 502, int64(len(req502)), int64(len(errResp)), -1, -1, "backend_reset", false},
		{c4.LocalAddr().String(), lb, a.ep, "session", "POST", "/sockjs/000/" + keyA + "/xhr_streaming", 0, int64(len(reqReset)), 0, connect(4), -1, "client_reset", false},
	}
	for i, w := range want {
		g := got[i]
		name := fmt.Sprintf("line %d", i+1)
		check := func(field string, got, want any) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s = %v; want %v\n%s", name, field, got, want, rows[i])
			}
		}
		check("client", g.Client, w.client)
		check("listener", g.Listener, w.listener)
		check("backend", g.Backend, w.backend)
		check("key", g.Key, w.key)
		check("method", g.Method, w.method)
		check("path", g.Path, w.path)
		check("status", g.Status, w.status)
		check("bytes_in", g.BytesIn, w.in)
		check("bytes_out", g.BytesOut, w.out)
		check("end", g.End, w.end)
		check("tunnel", g.Tunnel, w.tunnel)
		for _, tm := range []struct {
			field     string
			got, want float64
		}{{"connect_ms", g.Connect, w.connect}, {"first_byte_ms", g.FirstByte, w.firstByte}} {
			if tm.want == anyTime && tm.got < 0 || tm.want != anyTime && tm.got != tm.want {
				t.Errorf("%s: %s = %v; want %v (-2: any time >= 0)\n%s", name, tm.field, tm.got, tm.want, rows[i])
			}
		}
		if g.Total < 0 || g.Total < g.FirstByte || g.Total < g.Connect {
			t.Errorf("%s: total_ms = %v; want at least connect_ms %v and first_byte_ms %v", name, g.Total, g.Connect, g.FirstByte)
		}
		if g.Time.Before(start.Add(-time.Millisecond)) || g.Time.After(end) || i > 0 && g.Time.Before(got[i-1].Time) {
			t.Errorf("%s: time %v; want in order within [%v, %v]", name, g.Time, start, end)
		}
	}
}
