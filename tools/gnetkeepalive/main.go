// Command gnetkeepalive is a measurement prototype, not part of the bench:
// loadgen's keepalive scenario (GET / on keep-alive connections, each
// answer checked for status 200 and a "backend <name>" page) driven by
// gnet's client event loops instead of a goroutine per connection, to
// see what that would save loadgen per request. It checks less than
// loadgen does (no X-Backend cross-check, no per-operation deadline, a
// minimal response parser that needs Content-Length) and prints one JSON
// line: {"ops", "bad", "seconds"}. bench/README.md, "Measured and not
// adopted", has the comparison and the command.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// handler answers each complete response with the next request until the
// deadline, then closes the connection.
type handler struct {
	gnet.BuiltinEventEngine
	req      []byte
	deadline time.Time
	ok, bad  atomic.Int64
	wg       sync.WaitGroup
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) { return nil, gnet.None }

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	h.wg.Done()
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	for {
		buf, _ := c.Peek(-1)
		end := bytes.Index(buf, []byte("\r\n\r\n"))
		if end < 0 {
			return gnet.None
		}
		head := buf[:end]
		cl := 0
		if i := bytes.Index(head, []byte("\r\nContent-Length: ")); i >= 0 {
			rest := head[i+18:]
			if j := bytes.IndexByte(rest, '\r'); j >= 0 {
				rest = rest[:j]
			}
			cl, _ = strconv.Atoi(string(rest))
		}
		total := end + 4 + cl
		if len(buf) < total {
			return gnet.None
		}
		body := buf[end+4 : total]
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) || !bytes.HasPrefix(body, []byte("backend ")) {
			h.bad.Add(1)
		} else {
			h.ok.Add(1)
		}
		c.Discard(total)
		if time.Now().After(h.deadline) {
			return gnet.Close
		}
		c.Write(h.req)
	}
}

func main() {
	target := flag.String("target", "127.0.0.1:29401", "host:port to send GET / to")
	conns := flag.Int("conns", 32, "keep-alive connections")
	loops := flag.Int("loops", 1, "gnet client event loops")
	dur := flag.Duration("duration", 4*time.Second, "how long to send")
	flag.Parse()
	h := &handler{req: []byte("GET / HTTP/1.1\r\nHost: " + *target + "\r\nUser-Agent: l4lb-loadgen\r\n\r\n")}
	cli, err := gnet.NewClient(h, gnet.WithNumEventLoop(*loops))
	if err != nil {
		log.Fatalf("gnet client: %v", err)
	}
	if err := cli.Start(); err != nil {
		log.Fatalf("gnet client: start: %v", err)
	}
	h.deadline = time.Now().Add(*dur)
	start := time.Now()
	for i := 0; i < *conns; i++ {
		nc, err := net.Dial("tcp", *target)
		if err != nil {
			log.Fatalf("dial %s: %v", *target, err)
		}
		h.wg.Add(1)
		c, err := cli.Enroll(nc)
		if err != nil {
			log.Fatalf("enroll connection to %s: %v", *target, err)
		}
		c.AsyncWrite(h.req, nil)
	}
	h.wg.Wait()
	el := time.Since(start)
	cli.Stop()
	fmt.Printf("{\"ops\": %d, \"bad\": %d, \"seconds\": %f}\n", h.ok.Load(), h.bad.Load(), el.Seconds())
}
