package engine

import (
	"math"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
	"golang.org/x/sys/unix"
)

// httpState is what a connection that is not (yet) a tunnel needs to frame
// and route its requests. It is dropped when the connection becomes a
// tunnel, so an idle WebSocket costs nothing of it.
type httpState struct {
	req, resp framer // request framing (c.up), response framing (c.down)

	held    reqInfo    // the head in frHeld
	out     reqInfo    // the last request released to the backend
	closing bool       // the last final response said the backend closes after it
	waiting bool       // h.out went out and no byte of its response came yet
	invalid int        // frInvalid: the status to answer once the response in flight ended
	timing  bool       // the header timer runs for the head being read
	dial    *dialState // while phConnecting (connect_linux.go); kept for a replay

	beAddr   unix.Sockaddr // the address c.be is connected to, for the pool (reuse_linux.go)
	rp       replayState   // a request on a reused backend connection (reuse_linux.go)
	replayAt int32         // rpHeld: where the request starts in c.up.buf

	// The X-Forwarded-For line for this connection's client, formatted
	// at accept (Config.ForwardedFor); xffLen is 0 when there is none.
	xff    [xffMax]byte
	xffLen uint8
	// tls: an inbound PROXY v2 header said the client came over TLS
	// (its inserted sticky cookies are Secure).
	tls bool
}

// reqInfo is what routing and framing need of a sniffed request head; the
// loop's scratch sniff.Request is reused by other connections.
type reqInfo struct {
	headLen int
	hash    uint64
	keyed   bool
	head    bool // a HEAD request: its response has no body
	upgrade bool
	close   bool // Connection: close, or HTTP/1.0 without keep-alive
	// closeOff: the backend's copy has "Connection: close" blanked, so
	// its connection may be parked after the response (reuse_linux.go).
	closeOff bool
	chunked  bool
	length   int64
	svcInfo  // services_linux.go
}

// startHTTP gives c an HTTP state from the loop's free list.
func (c *conn) startHTTP() {
	h, ok := c.l.https.get()
	if !ok {
		h = &httpState{}
	}
	c.h = h
}

// framerOf is the framer of flow f (c.up or c.down) while c is HTTP.
func (c *conn) framerOf(f *flow) *framer {
	if f == &c.up {
		return &c.h.req
	}
	return &c.h.resp
}

// dropHTTP returns c's HTTP state to the free list.
func (c *conn) dropHTTP() {
	h := c.h
	if h == nil {
		return
	}
	c.dropDial()
	c.h = nil
	if len(c.up.ins) > 0 {
		// A backend answered 101 before it had the whole head: the line
		// still in flight lives in h, which therefore is not recycled
		// (the GC takes it with the connection).
		return
	}
	*h = httpState{}
	c.l.https.put(h)
}

// frameHTTP advances f's framer over the bytes read: it finds heads and
// the ends of bodies, releases bytes whose framing is known for writing
// (f.p), and hands each head to the direction's handler. It reports
// progress.
func (c *conn) frameHTTP(f *flow) bool {
	progress := false
	for {
		switch c.framerOf(f).st {
		case frHead:
			if f.p == f.w {
				return progress
			}
			var moved bool
			if f == &c.up {
				moved = c.requestHead(f)
			} else {
				moved = c.responseHead(f)
			}
			if !moved {
				return progress
			}
		case frHeld:
			if !c.routeHeld(f) {
				return progress
			}
		case frRouted:
			if !c.releaseHeld(f) {
				return progress
			}
		case frBody, frChunked, frUntilClose:
			if f.p == f.w {
				return progress
			}
			n, done, err := c.framerOf(f).body(f.buf[f.p:f.w])
			if err != nil {
				if f == &c.up {
					c.abort(&c.cli)
				} else {
					c.abort(&c.be)
				}
				return false
			}
			f.p += int32(n)
			c.xBytes(f, n)
			if done && f == &c.down {
				c.responseEnded()
			}
		default: // frUpgrade, frInvalid
			return progress
		}
		progress = true
		if !c.phase.http() {
			return true
		}
	}
}

// requestHead sniffs the request head at f.buf[f.p:]. It reports whether
// the framer moved (a head is held, or the connection went elsewhere).
func (c *conn) requestHead(f *flow) bool {
	l, h := c.l, c.h
	if c.phase == phProxy {
		return c.readProxyHeader(f)
	}
	req := &l.req
	switch l.s.sniffer.Request(&c.framerOf(f).scan, f.buf[f.p:f.w], req) {
	case sniff.NeedMore:
		if c.phase != phSniff && !h.timing {
			// A later head on a keep-alive connection: the header
			// timeout runs from its first byte.
			l.arm(&c.timer, timerHeader)
			h.timing = true
		}
		return false
	case sniff.Done:
		h.held = reqInfo{
			headLen: req.HeadLen,
			keyed:   req.KeyKind != sniff.KeyNone,
			head:    string(req.Method) == "HEAD",
			upgrade: req.Upgrade,
			close:   req.Close,
			chunked: req.Chunked,
			length:  req.ContentLength,
		}
		if h.held.keyed {
			h.held.hash = affinity.HashKey(req.Key)
		}
		c.requestService(f, req)
		c.xHead(req)
		if l.s.debug {
			l.s.log.Debug("request", "method", string(req.Method), "path", string(req.Path),
				"key", string(req.Key), "remote", c.remote())
		}
		c.framerOf(f).scan.Reset()
		c.framerOf(f).st = frHeld
		return true
	case sniff.NotHTTP:
		if c.phase == phSniff {
			// Not HTTP: a layer-4 balancer pipes it, routed by load.
			f.p = f.w
			c.tunnelService(req)
			c.routeTunnel()
			return true
		}
		c.fail(400)
		return true
	}
	status := req.Status
	if status == 0 {
		status = 400
	}
	if c.phase == phExchange {
		h.invalid, c.framerOf(f).st = status, frInvalid
		return false
	}
	c.fail(status)
	return true
}

// routeHeld routes the held head once the previous exchange has ended
// and every byte before the head is out (route_linux.go). Responses stay
// in order that way: a pipelining client is served one request at a time,
// and a switch of backends never drops response bytes. It reports whether
// the head was routed (or the connection failed).
func (c *conn) routeHeld(f *flow) bool {
	if c.phase == phExchange || f.r < f.p || c.down.pending() {
		return false
	}
	c.route()
	return true
}

// releaseHeld sends the routed head to the backend once it is connected,
// with an X-Forwarded-For line if configured, and sets up the request's
// body framing. It reports whether the head went out.
func (c *conn) releaseHeld(f *flow) bool {
	if c.phase != phIdle {
		return false // connecting
	}
	h := c.h
	if h.xffLen > 0 {
		c.insertForwardedFor(f)
	}
	if h.held.close && !h.held.closeOff {
		c.keepBackendOpen(f)
	}
	again := h.rp != rpOff && c.keepRequest(f.p)
	f.p += int32(h.held.headLen)
	h.out = h.held
	c.rememberSession(&h.out)
	if !again {
		c.xRelease()
	}
	c.phase = phExchange
	if h.out.upgrade && !h.out.chunked && h.out.length <= 0 {
		c.framerOf(f).scan.Reset()
		c.framerOf(f).st = frUpgrade
	} else {
		c.framerOf(f).startBody(h.out.chunked, h.out.length, false)
	}
	c.awaitResponse()
	return true
}

// responseHead parses the response head at f.buf[f.p:]. It reports
// whether the framer moved.
func (c *conn) responseHead(f *flow) bool {
	c.responseStarted()
	l, h := c.l, c.h
	if h.rp == rpHeld {
		c.giveUpReplay() // the backend answers: no replay
	}
	resp := &l.resp
	c.xResponseBytes()
	switch l.s.sniffer.Response(&c.framerOf(f).scan, f.buf[f.p:f.w], h.out.head, resp) {
	case sniff.NeedMore:
		return false
	case sniff.Done:
	default:
		c.fail(502)
		return true
	}
	if l.s.svcs.insert && !resp.Interim && resp.StatusCode != 101 {
		c.insertStickyCookie(f, resp.HeadLen)
	}
	f.p += int32(resp.HeadLen)
	c.xResponseHead(resp)
	c.framerOf(f).scan.Reset()
	if resp.StatusCode == 101 && h.out.upgrade {
		c.becomeTunnel()
		return true
	}
	if resp.Interim {
		return true // 100 Continue and friends: the final response follows
	}
	h.closing = resp.Close
	if c.l.stopping && !h.closing {
		c.announceClose(f, resp.HeadLen)
	}
	if c.h.req.st == frUpgrade {
		c.h.req.st = frHead // upgrade refused: plain HTTP goes on
	}
	var length int64
	if resp.Body == sniff.Length {
		length = resp.ContentLength // a HEAD or 304 response has the header but no body
	}
	if !c.framerOf(f).startBody(resp.Body == sniff.Chunked, length, resp.Body == sniff.UntilClose) {
		c.responseEnded()
	}
	return true
}

// responseEnded runs when a final response ended: the exchange is over,
// and so is the connection if an invalid head waits behind it or the
// exchange closes it.
func (c *conn) responseEnded() {
	c.xResponseEnded()
	h := c.h
	c.phase = phIdle
	switch {
	case h.invalid != 0:
		c.fail(h.invalid)
	case h.out.close || h.closing:
		c.endAfterResponse()
	}
}

// settleHTTP handles end of stream on either side of an HTTP connection.
// It reports whether run should take another pass.
func (c *conn) settleHTTP() bool {
	h := c.h
	if c.down.eof && !c.down.pending() {
		switch {
		case c.phase == phExchange && h.resp.st == frHead && c.down.p == c.down.w && c.down.r == 0:
			// The backend closed without answering.
			if c.replayable() {
				c.replay() // the keep-alive race (reuse_linux.go)
				return true
			}
			c.noResponse()
			c.fail(502)
			return true
		case c.phase == phExchange || h.resp.st != frHead || c.down.p < c.down.w:
			// The response ends with the connection (no length), or was
			// cut short: either way the client's connection ends.
			c.close(false)
			return false
		}
		// An idle keep-alive backend connection closed; the next
		// request connects again.
		c.closeBackend()
		if h.req.st == frRouted {
			h.req.st = frHeld
		}
		return true
	}
	if c.up.eof && !c.up.pending() {
		switch h.req.st {
		case frHead, frInvalid, frUpgrade:
			if c.phase != phExchange {
				if !c.down.pending() {
					c.close(false)
				}
				return false
			}
			if !c.up.shut && c.be.fd >= 0 {
				shutdownWrite(c.be.fd)
				c.up.shut = true
			}
		case frBody, frChunked:
			c.close(false) // request cut short
			return false
		}
	}
	if c.l.stopping && c.phase == phIdle && h.req.st == frHead && c.up.p == c.up.w &&
		!c.up.pending() && !c.down.pending() {
		c.closeWhenQuiet()
	}
	return false
}

// readProxyHeader reads the inbound PROXY header (Config.AcceptProxy, see
// proxyin_linux.go) at the start of the client's bytes and drops it. It reports
// whether the framer moved.
func (c *conn) readProxyHeader(f *flow) bool {
	l := c.l
	var ph sniff.ProxyHeader
	switch sniff.Proxy(f.buf[f.p:f.w], &ph) {
	case sniff.NeedMore:
		return false
	case sniff.Done:
	default:
		l.s.stats.proxyInvalid.Add(1)
		l.warn("no valid PROXY header; closing", "remote", c.remote())
		c.close(true)
		return true
	}
	c.h.tls = ph.TLS
	if !ph.Local {
		c.client = &clientAddrs{src: ph.Src, dst: ph.Dst}
		if l.s.cfg.ForwardedFor {
			c.h.setForwardedForIP(ph.Src.Addr(), ph.TLS)
		}
	}
	f.r += int32(ph.Len) // never forwarded
	f.p += int32(ph.Len)
	c.phase = phSniff
	return true
}

// defaultBodySpliceMin is the body size (what is left of it when a read is
// due) from which an HTTP body moves through a pipe with splice(2) instead
// of through the flow's buffer: below it the two cost the same, above it
// the pipe saves the copies (docs/engine-measurements.md, "HTTP bodies").
const defaultBodySpliceMin = 16 << 10

// spliceableBody is how many bytes f's next read may splice: on the splice
// data path, in an HTTP body whose framing says at least Server.bodySpliceMin
// bytes of it are still to come, with f's buffer drained (heads, chunk-size
// lines and trailers, and bodies below the threshold, go through the
// buffer and the framer). 0 means read into the buffer.
func (c *conn) spliceableBody(f *flow) int {
	if f.buf != nil || !c.phase.http() || c.l.s.path != pathSplice {
		return 0
	}
	n := c.framerOf(f).spliceable()
	if n < c.l.s.bodySpliceMin {
		return 0
	}
	return int(min(n, int64(c.l.s.spliceMax)))
}

// bodySpliced accounts the body bytes a read just spliced into f's pipe:
// the framer advances over them without seeing them, and a response whose
// body ended with them ends its exchange, as in frameHTTP.
func (c *conn) bodySpliced(f *flow) {
	n := int(f.inPipe)
	c.l.s.stats.splicedBodyBytes.Add(int64(n))
	c.xBytes(f, n)
	if c.framerOf(f).skip(int64(n)) && f == &c.down {
		c.responseEnded()
	}
}

// chunkLineRead is what a read needs beyond a chunk's data for its CRLF
// and the next chunk-size line.
const chunkLineRead = 128

// readLimit is the most f's next buffered read may take. In a chunked body
// on the splice path it stops after the next chunk-size line: right after
// a spliced chunk, or when the buffer ended inside a chunk's data; the
// next chunk's data is then left in the socket, to be spliced if it is
// large. Otherwise (small chunks read many at a time, everything else) it
// is the buffer's room.
func (c *conn) readLimit(f *flow) int {
	if c.phase.http() && c.l.s.path == pathSplice {
		if fr := c.framerOf(f); fr.st == frChunked {
			if fr.spliced {
				return chunkLineRead
			}
			if rem := fr.chunk.DataRemaining(); rem > 0 {
				return int(rem) + chunkLineRead // below the threshold, or it would be spliced
			}
		}
	}
	return math.MaxInt32 // more than any buffer
}
