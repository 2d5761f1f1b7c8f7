package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeGracefulShutdown: after SIGTERM the balancer refuses new
// connections, lets an in-flight request finish, and exits cleanly.
func TestServeGracefulShutdown(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "finished after SIGTERM")
	}))
	defer backend.Close()
	// Runs before backend.Close, whose wait for the handler would hang a
	// test that failed before releasing it.
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	p := startServe(t, "--backend", backend.Listener.Addr().String(), "--drain-timeout", "30s")

	client := &http.Client{Timeout: 30 * time.Second}
	type result struct {
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + p.addr + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{string(b), err}
	}()
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("request did not reach the backend within 20 s")
	}

	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.Out.WaitLine(t, 0, regexp.MustCompile(`msg="shutting down"`), 10*time.Second)
	// The engine stops accepting before Shutdown returns anything; give
	// the signal path a bounded moment, then a new connection must fail.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond) // polling a socket another process closes; nothing signals it
	}

	close(release)
	select {
	case r := <-inflight:
		if r.err != nil || r.body != "finished after SIGTERM" {
			t.Fatalf("in-flight request = %q, %v; want it to complete", r.body, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight request did not complete within 20 s of release")
	}
	if err := p.WaitExit(t, 20*time.Second); err != nil {
		t.Fatalf("l4lb serve exited with %v; want 0", err)
	}
}

// TestServeDrainTimeout: a connection that never finishes is closed when
// the drain timeout runs out, and the process exits then.
func TestServeDrainTimeout(t *testing.T) {
	arrived, stuck := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-stuck
	}))
	defer backend.Close() // after the handler is released below: Close waits for it
	defer close(stuck)
	const drain = 2 * time.Second
	p := startServe(t, "--backend", backend.Listener.Addr().String(), "--drain-timeout", drain.String())

	conn, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("request did not reach the backend within 20 s")
	}

	start := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.WaitExit(t, drain+15*time.Second); err != nil {
		t.Fatalf("l4lb serve exited with %v; want 0", err)
	}
	took := time.Since(start)
	if took < drain-100*time.Millisecond {
		t.Errorf("exited %v after SIGTERM; want it to wait for the %v drain timeout", took, drain)
	}
	// The stuck client connection was closed by the balancer.
	if _, err := conn.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("client read after the drain = %v; want EOF or reset", err)
	}
}
