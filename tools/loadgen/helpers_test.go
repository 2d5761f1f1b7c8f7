package loadgen

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// startBackends starts one echobackend per name on 127.0.0.1:0 and returns
// their addresses.
func startBackends(t *testing.T, names ...string) []string {
	t.Helper()
	return startBackendsWith(t, echobackend.Options{}, names...)
}

// startBackendsWith is startBackends with opts.
func startBackendsWith(t *testing.T, opts echobackend.Options, names ...string) []string {
	t.Helper()
	var addrs []string
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		srv := &http.Server{Handler: echobackend.New(name, opts), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// startConnProxy starts a deliberately misrouting balancer: a TCP proxy that
// sends each new connection to the next backend in turn and then only pipes
// bytes. It routes every request of a connection by the connection's first,
// the mistake the polling and connrate scenarios exist to catch.
func startConnProxy(t *testing.T, backends []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var next atomic.Uint64
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			backend := backends[next.Add(1)%uint64(len(backends))]
			wg.Go(func() { pipeConn(c, backend, done) })
		}
	})
	return ln.Addr().String()
}

func pipeConn(c net.Conn, backend string, done <-chan struct{}) {
	defer c.Close()
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	stop := make(chan struct{}, 2)
	go func() { io.Copy(b, c); stop <- struct{}{} }()
	go func() { io.Copy(c, b); stop <- struct{}{} }()
	select {
	case <-stop:
	case <-done:
	}
}

// startSessionProxy starts an honest balancer: an HTTP reverse proxy that
// routes every request by the hash of its SockJS session segment
// (<prefix>/<server>/<session>/<transport>), and requests without one to
// the first backend.
func startSessionProxy(t *testing.T, backends []string) string {
	t.Helper()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			backend := backends[0]
			if parts := strings.Split(pr.In.URL.Path, "/"); len(parts) == 5 {
				h := fnv.New32a()
				io.WriteString(h, parts[3])
				backend = backends[h.Sum32()%uint32(len(backends))]
			}
			pr.SetURL(&url.URL{Scheme: "http", Host: backend})
		},
		ErrorLog: nil,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// run runs cfg with short test defaults and fails the test if Run does.
func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	if cfg.Duration == 0 {
		cfg.Duration = 400 * time.Millisecond
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	cfg.Timeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run(%s) error = %v", cfg.Scenario, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Run(%s) outlived its test deadline", cfg.Scenario)
	}
	return res
}

// errAny stands for "some error other than errMisroute" in test tables.
var errAny = errors.New("any error")

// closedAddr returns a loopback address where nothing listens any more.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
