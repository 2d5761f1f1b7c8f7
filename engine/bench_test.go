//go:build linux

package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// benchTarget is where a benchmark sends its load: straight to the
// backend, or through a balancer using one data path.
type benchTarget struct {
	name string
	addr func(b *testing.B, backend string) string
}

func benchTargets() []benchTarget {
	through := func(path dataPath) func(*testing.B, string) string {
		return throughBalancer(path, Config{})
	}
	return []benchTarget{
		{"direct", func(_ *testing.B, backend string) string { return backend[len("tcp://"):] }},
		{"l4lb-splice", through(pathSplice)},
		{"l4lb-buffer", through(pathBuffer)},
	}
}

// throughBalancer starts a one-loop balancer configured like cfg (Listen,
// Balancer and Loops are set here) in front of the backend.
func throughBalancer(path dataPath, cfg Config) func(*testing.B, string) string {
	return func(b *testing.B, backend string) string {
		cfg.Listen, cfg.Balancer, cfg.Loops = []string{"127.0.0.1:0"}, newBalancer(b, backend), 1
		s, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		s.path = path
		if err := s.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s.Shutdown(ctx)
		})
		return s.Addrs()[0].String()
	}
}

// BenchmarkConnect measures connection setup: dial, one 16-byte round
// trip (the balancer routes on it and connects to the backend), close.
func BenchmarkConnect(b *testing.B) {
	backend := startEcho(b)
	msg := []byte("\x00123456789abcdef")
	for _, tg := range benchTargets() {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.addr(b, backend)
			buf := make([]byte, len(msg))
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Write(msg)
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkEcho measures the round trip of one message on an established
// tunnel, by message size.
func BenchmarkEcho(b *testing.B) {
	backend := startEcho(b)
	for _, size := range []int{16, 1 << 10, 16 << 10, 64 << 10} {
		for _, tg := range benchTargets() {
			b.Run(fmt.Sprintf("size=%d/%s", size, tg.name), func(b *testing.B) {
				addr := tg.addr(b, backend)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				msg := make([]byte, size)
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Write(msg); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBulk measures one-way throughput: the backend streams, the
// client reads 1 MiB per op.
func BenchmarkBulk(b *testing.B) {
	backend := startStreamer(b)
	for _, tg := range benchTargets() {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.addr(b, backend)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("\x00go"))
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTPKeepAlive measures small keep-alive HTTP requests, each
// sniffed and routed (the buffered HTTP path).
func BenchmarkHTTPKeepAlive(b *testing.B) {
	backend := startHTTP(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	targets := append(benchTargets()[:2],
		benchTarget{"l4lb-forwardedfor", throughBalancer(pathSplice, Config{ForwardedFor: true})},
		benchTarget{"l4lb-sessions", throughBalancer(pathSplice, Config{Sessions: affinity.NewSessions(1<<18, 0)})})
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.addr(b, backend)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /sockjs/000/abcdefgh/xhr HTTP/1.1\r\nHost: x\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				c.Write(req)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// startStreamer starts a backend that, after 3 bytes from the client,
// writes a constant stream until the client goes away.
func startStreamer(t testing.TB) string {
	t.Helper()
	return startTCP(t, func(c net.Conn) {
		io.ReadFull(c, make([]byte, 3))
		buf := make([]byte, 256<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}
