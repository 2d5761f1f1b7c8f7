package clientloop

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestClients: both clients of an address are served, and a response
// that is not 200 is an error.
func TestClients(t *testing.T) {
	var fail atomic.Bool
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cl := Start(addr)
	if err := cl.WaitServed(50, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl.mu.Lock()
		n := len(cl.errs)
		cl.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no error recorded for 503 answers")
		}
		time.Sleep(10 * time.Millisecond)
	}
	errs, served := cl.Stop()
	if !strings.Contains(errs[0].Error(), "503") || served[addr] < 50 {
		t.Fatalf("Stop() = %v, %v; want 503 errors after at least 50 served", errs[0], served)
	}
	// The keep-alive client reused its connection: far fewer connections
	// than requests.
	if c := conns.Load(); c >= int64(served[addr]) {
		t.Errorf("%d connections for %d requests; want the keep-alive client to reuse one", c, served[addr])
	}
}
