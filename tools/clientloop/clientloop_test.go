package clientloop

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClients: both clients of an address are served, and a response
// that is not 200 is an error.
func TestClients(t *testing.T) {
	var fail atomic.Bool
	// The most requests one connection carried before the 503s.
	var mu sync.Mutex
	perConn := map[string]int{}
	mostOnOne := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		perConn[r.RemoteAddr]++
		mostOnOne = max(mostOnOne, perConn[r.RemoteAddr])
		mu.Unlock()
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cl := Start(addr)
	if err := cl.WaitServed(50, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The keep-alive client reuses its connection: one connection carries
	// many requests (the closing client's carry one each). The two
	// clients run at their own pace, so wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := mostOnOne
		mu.Unlock()
		if n >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("at most %d requests on one connection; want the keep-alive client to reuse one", n)
		}
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
}
