//go:build linux

package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// stopAccepting starts s.Shutdown with a drain of d and returns once new
// connections are refused; the channel gets Shutdown's result.
func stopAccepting(t *testing.T, s *Server, d time.Duration) <-chan error {
	t.Helper()
	addr := s.Addrs()[0]
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	deadline := time.Now().Add(testTimeout)
	for {
		c, err := net.DialTimeout(addr.Network(), addr.String(), time.Second)
		if err != nil {
			return done
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener to close; nothing signals it
	}
}

// TestDrainAnnouncesClose: while a server drains, a request on a
// keep-alive connection that was idle when the drain began is still
// served; its response says "Connection: close" and the connection ends
// after it, so the client goes to whoever accepts now.
func TestDrainAnnouncesClose(t *testing.T) {
	for _, lf := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare LF %v", lf), func(t *testing.T) {
			backend := startMixed(t)
			if lf {
				backend = startTCP(t, func(c net.Conn) {
					br := bufio.NewReader(c)
					for {
						head, err := readHead(br)
						if err != nil {
							return
						}
						if strings.Contains(head, "Upgrade: websocket") {
							io.WriteString(c, "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n")
							echoPlain(c, br)
							return
						}
						io.WriteString(c, "HTTP/1.1 200 OK\nContent-Length: 2\nX-Backend: lf\n\nok")
					}
				})
			}
			s := startServer(t, Config{Balancer: newBalancer(t, backend), Loops: 1})
			c := dial(t, s.Addrs()[0])
			br := bufio.NewReader(c)
			get := func(path string) *http.Response {
				t.Helper()
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				io.Copy(io.Discard, resp.Body)
				return resp
			}
			if resp := get("/before"); resp.Close {
				t.Fatalf("before the drain: response closes the connection")
			}
			tunnel := openTunnel(t, s.Addrs()[0]) // keeps the drain going
			defer tunnel.Close()
			stopAccepting(t, s, testTimeout)
			resp := get("/during")
			if resp.StatusCode != 200 || !resp.Close {
				t.Fatalf("during the drain: %s, Connection %q; want 200 with Connection: close", resp.Status, resp.Header["Connection"])
			}
			expectClosed(t, c, 5*time.Second)
		})
	}
}

// TestDrainSpread: with DrainSpread, 1000 WebSocket-style tunnels still
// open when the window before the drain deadline begins are closed spread
// over the window, not at once.
func TestDrainSpread(t *testing.T) {
	const n = 1000
	const drain, window = 3 * time.Second, 2 * time.Second
	s := startServer(t, Config{Balancer: newBalancer(t, startUpgradeEcho(t)), DrainSpread: window})
	addr := s.Addrs()[0]
	closed := make([]time.Duration, n)
	var wg sync.WaitGroup
	var start time.Time
	var startOnce sync.Once
	began := make(chan struct{})
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(drain + testTimeout))
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
			t.Fatalf("connection %d: upgrade: %v %v", i, resp, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-began
			io.Copy(io.Discard, br) // until the balancer closes the tunnel
			closed[i] = time.Since(start)
		}()
	}
	startOnce.Do(func() { start = time.Now() })
	close(began)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	s.Shutdown(ctx)
	wg.Wait()

	sort.Slice(closed, func(i, j int) bool { return closed[i] < closed[j] })
	first, last := closed[0], closed[n-1]
	const bucket = 200 * time.Millisecond
	counts := map[time.Duration]int{}
	most := 0
	for _, d := range closed {
		k := d / bucket
		counts[k]++
		most = max(most, counts[k])
	}
	t.Logf("%d tunnels closed from %v to %v after Shutdown began; at most %d in one %v", n, first, last, most, bucket)
	// The window begins at drain-window (1 s); an even spread puts 100 in
	// each 200 ms. The bounds leave room for a loaded machine.
	if first < drain-window-200*time.Millisecond {
		t.Errorf("first close after %v; want none before the window (%v)", first, drain-window)
	}
	if last-first < window*3/4 {
		t.Errorf("closes spread over %v; want about the window, %v", last-first, window)
	}
	if most > n/4 {
		t.Errorf("%d of %d closes within one %v; want a spread", most, n, bucket)
	}
}
