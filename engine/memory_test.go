//go:build linux

package engine

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pushTotal is how much a fast peer tries to send: the test stops once
// flow control has blocked it, long before.
const pushTotal = 256 << 20

// startPeerServer accepts connections and runs serve on each; the
// endpoint is returned. Connections are closed when the test ends.
func startPeerServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serve(c)
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// writerConn lets push write to an http.ResponseWriter.
type writerConn struct{ http.ResponseWriter }

func (w writerConn) Write(p []byte) (int, error) { return w.ResponseWriter.Write(p) }

type pushWriter interface{ Write([]byte) (int, error) }

// push writes up to pushTotal bytes to c as fast as c takes them, adding
// to *n.
func push(c pushWriter, n *atomic.Int64) {
	buf := make([]byte, 256<<10)
	for done := 0; done < pushTotal; {
		m, err := c.Write(buf)
		n.Add(int64(m))
		done += m
		if err != nil {
			return
		}
	}
}

// slowRead reads from c at about rate bytes per second, adding to *n.
func slowRead(c net.Conn, rate int, n *atomic.Int64, stop <-chan struct{}) {
	buf := make([]byte, rate/16)
	tick := time.NewTicker(time.Second / 16)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		m, err := io.ReadFull(c, buf)
		n.Add(int64(m))
		if err != nil {
			return
		}
	}
}

// waitStalled waits until sent stops growing for a second (the fast peer's
// writes block), sampling the balancer's peak RSS meanwhile.
func waitStalled(t *testing.T, ch *child, sent func() int64) (peak int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last, lastChange := sent(), time.Now()
	for time.Since(lastChange) < time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("fast peer still sending after 60s: %d bytes", sent())
		}
		time.Sleep(50 * time.Millisecond)
		if r := ch.rss(t); r > peak {
			peak = r
		}
		if n := sent(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	return peak
}

// TestBoundedMemory is acceptance 3: slow receivers behind fast senders
// must not grow the balancer; TCP flow control holds the sender back.
func TestBoundedMemory(t *testing.T) {
	const ceiling = 32 << 20
	cases := []struct {
		name   string
		conns  int
		rate   int  // the slow side's bytes per second
		upload bool // the client is the fast side
		http   bool // an HTTP download with Content-Length (buffered path) instead of a tunnel
	}{
		{"slow client, fast backend", 1, 1 << 20, false, false},
		{"slow backend, fast uploading client", 1, 1 << 20, true, false},
		{"100 slow clients", 100, 64 << 10, false, false},
		{"slow client, HTTP download", 1, 1 << 20, false, true},
		{"100 slow clients, HTTP downloads", 100, 64 << 10, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sent, received atomic.Int64
			stop := make(chan struct{})
			defer close(stop)
			var backend string
			if tc.http {
				backend = startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", strconv.Itoa(pushTotal))
					w.WriteHeader(200)
					push(writerConn{w}, &sent)
				}))
			} else {
				backend = startPeerServer(t, func(c net.Conn) {
					buf := make([]byte, 3)
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if tc.upload {
						slowRead(c, tc.rate, &received, stop)
					} else {
						push(c, &sent)
					}
				})
			}
			ch := startChild(t, 2, backend)
			ch.gc(t)
			base := ch.rss(t)
			for i := 0; i < tc.conns; i++ {
				c, err := net.DialTimeout("tcp", ch.addr, testTimeout)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Minute))
				if tc.http {
					io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
				} else {
					c.Write([]byte("\x00go")) // not HTTP: a raw tunnel
				}
				if tc.upload {
					go push(c, &sent)
				} else {
					go slowRead(c, tc.rate, &received, stop)
				}
			}
			peak := waitStalled(t, ch, sent.Load)
			growth := peak - base
			t.Logf("fast side sent %.1f MiB, slow side read %.1f MiB; balancer RSS %.1f MiB -> peak %.1f MiB (+%.1f MiB)",
				float64(sent.Load())/(1<<20), float64(received.Load())/(1<<20),
				float64(base)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20))
			if sent.Load() >= int64(tc.conns)*pushTotal {
				t.Errorf("fast side sent all %d bytes; want it held back by flow control", int64(tc.conns)*pushTotal)
			}
			if growth > ceiling {
				t.Errorf("balancer RSS grew by %d bytes; want under %d", growth, ceiling)
			}
		})
	}
}
