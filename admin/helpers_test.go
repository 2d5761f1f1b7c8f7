package admin

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// testTimeout bounds every network wait in the tests.
const testTimeout = 20 * time.Second

var client = &http.Client{Timeout: testTimeout}

func newBalancer(t testing.TB, endpoints ...string) *affinity.Balancer {
	t.Helper()
	b := affinity.NewBalancer()
	var bs []affinity.Backend
	for _, e := range endpoints {
		bs = append(bs, affinity.Backend{Endpoint: e})
	}
	if err := b.Update(bs); err != nil {
		t.Fatalf("Balancer.Update(%v) = %v", endpoints, err)
	}
	return b
}

// startAdmin starts an admin server on 127.0.0.1:0 (unless cfg.Listen is
// set) and returns it with its base URL; it is closed when the test ends.
func startAdmin(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	a.Start()
	t.Cleanup(func() { a.Close() })
	return a, "http://" + a.Addr().String()
}

// do sends req and reads the whole response; the body is kept in the
// response's Body for the caller to read again.
func do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	return do0(t, client, req)
}

// do0 is do with client c.
func do0(t testing.TB, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return readAll(t, resp)
}

func readAll(t testing.TB, resp *http.Response) *http.Response {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// unixClient talks HTTP over the UNIX socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: testTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}
