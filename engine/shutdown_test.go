//go:build linux

package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	backend := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "done "+r.URL.Path)
	}))
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Balancer: newBalancer(t, backend), Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0]

	idle := dial(t, addr) // keep-alive connection between requests
	fmt.Fprintf(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readStatus(t, idle); got != 200 {
		t.Fatalf("fast status = %d", got)
	}
	busy := dial(t, addr) // request in flight during shutdown
	fmt.Fprintf(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // let the request reach the handler; no signal crosses the balancer

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()

	deadline := time.Now().Add(testTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			break // refused: not accepting any more
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	expectClosed(t, idle, 5*time.Second)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	default:
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "done /slow" {
		t.Fatalf("in-flight body = %q; want done /slow", body)
	}
	busy.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown = %v; want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return")
	}
}

func TestShutdownDeadline(t *testing.T) {
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Balancer: newBalancer(t, startEcho(t)), Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addrs()[0])
	io.WriteString(c, "\x00tunnel")
	io.ReadFull(c, make([]byte, 7))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v; want deadline exceeded", err)
	}
	expectClosed(t, c, 5*time.Second)
	if got := s.Stats().Active; got != 0 {
		t.Errorf("Active after Shutdown = %d; want 0", got)
	}
}
