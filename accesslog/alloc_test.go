//go:build linux

package accesslog

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/engine/enginetest"
	"github.com/l4lb/l4lb/internal/testutil"
)

// TestExchangeAllocs proves the whole per-request path with the access
// log on allocates nothing: a keep-alive SockJS request through a real
// engine, observed (per-backend counters on) and recorded by a Logger
// writing to a file, its writer included. The lines reach the file.
func TestExchangeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	const req = "POST /sockjs/000/abcdefgh/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]"
	// A backend that answers every read with the response, allocating
	// nothing after its start, so that AllocsPerRun sees the balancer's.
	ln := testutil.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		buf, out := make([]byte, 4096), []byte(resp)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	})
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: "tcp://" + ln.Addr().String()}}); err != nil {
		t.Fatal(err)
	}
	srv := enginetest.Start(t, engine.Config{Balancer: bal, Exchanges: l, BackendStats: true, Loops: 1})
	c, err := net.Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, buf := []byte(req), make([]byte, len(resp))
	exchange := func() {
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		exchange()
	}
	const runs = 2000 // enough to span several of the writer's flushes
	if n := testing.AllocsPerRun(runs, exchange); n != 0 {
		t.Errorf("AllocsPerRun(keep-alive request, access log on) = %v; want 0", n)
	}
	// The last line is recorded once the loop has ended its exchange,
	// which may be after the client read the response: shut the engine
	// down before closing the log.
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv.Shutdown(ctx)
	l.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"path":"/sockjs/000/abcdefgh/xhr_send"`); n != runs+11 || l.Dropped() != 0 {
		t.Errorf("the log has %d lines of the request, %d dropped; want %d, none", n, l.Dropped(), runs+11)
	}
}
