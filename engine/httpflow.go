package engine

import (
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
)

// flowState is where one direction of an HTTP connection is in its
// message framing (RFC 9112 §6: a message body is delimited by
// Content-Length, by chunked transfer coding, or by the connection's close
// for responses only).
type flowState uint8

const (
	stHead       flowState = iota // reading a head
	stRoute                       // up: a whole head waits to be routed and forwarded
	stBody                        // Content-Length body, rem bytes left
	stChunked                     // chunked body
	stUntilClose                  // down: body ends when the backend closes
	stUpgrade                     // up: an Upgrade request went out; wait for 101 or not
	stErrWait                     // up: an invalid head waits for the response in flight
	stTunnel                      // raw bytes
	stProxy                       // up: an inbound PROXY header comes first (Config.AcceptProxy)
)

// httpState is the framing state of a connection that is not (yet) a
// tunnel. It is dropped when the connection becomes one, so an idle
// WebSocket costs nothing of it.
type httpState struct {
	upSt, downSt       flowState
	upScan, downScan   sniff.Scan
	upChunk, downChunk sniff.ChunkedBody
	upRem, downRem     int64

	cur        reqInfo // the head in stRoute
	routed     bool    // cur's backend is chosen (connected or connecting)
	reqPending bool    // a request went out and its final response has not ended
	reqHEAD    bool    // ... and it was a HEAD request
	reqUpgrade bool    // ... and it asked for an upgrade
	reqClose   bool    // ... and it asked to close the connection after its response
	respClose  bool    // the last final response said the backend closes after it
	requests   int     // heads forwarded so far
	headTimer  bool    // the header timer runs for the head being read
	errStatus  int     // stErrWait: the status to answer

	// The X-Forwarded-For line for this connection's client, formatted
	// at accept (Config.ForwardedFor); xffLen is 0 when there is none.
	xff    [xffMax]byte
	xffLen uint8
}

// reqInfo is what routing and framing need of a sniffed request head; the
// loop's scratch sniff.Request is reused by other connections.
type reqInfo struct {
	headLen int
	hash    uint64
	keyed   bool
	head    bool
	upgrade bool
	close   bool // Connection: close, or HTTP/1.0 without keep-alive
	chunked bool
	length  int64
}

// maxFreeStates bounds the per-loop free lists of HTTP and dial states.
const maxFreeStates = 1024

// getHTTP returns a zeroed httpState from the loop's free list. States are
// recycled because a connection that upgrades drops its state at once:
// garbage from thousands of upgrades would otherwise grow the heap (and
// the RSS) of a balancer holding idle WebSockets.
func (l *loop) getHTTP() *httpState {
	if n := len(l.freeHTTP); n > 0 {
		h := l.freeHTTP[n-1]
		l.freeHTTP = l.freeHTTP[:n-1]
		return h
	}
	return &httpState{}
}

// dropHTTP returns c's HTTP state to the free list; c.h must not be used
// afterwards (callers holding it return right away).
func (c *conn) dropHTTP() {
	if c.h == nil {
		return
	}
	if len(c.up.ins) > 0 {
		// A backend answered 101 before it had the whole head: the
		// line still in flight lives in c.h, which therefore is not
		// recycled (the GC takes it with the connection).
		c.h = nil
		return
	}
	*c.h = httpState{}
	if len(c.l.freeHTTP) < maxFreeStates {
		c.l.freeHTTP = append(c.l.freeHTTP, c.h)
	}
	c.h = nil
}

func (l *loop) getDial() *dialState {
	if n := len(l.freeDial); n > 0 {
		d := l.freeDial[n-1]
		l.freeDial = l.freeDial[:n-1]
		return d
	}
	return &dialState{}
}

func (c *conn) dropDial() {
	d := c.dial
	if d == nil {
		return
	}
	clear(d.cands)
	*d = dialState{cands: d.cands[:0]}
	if len(c.l.freeDial) < maxFreeStates {
		c.l.freeDial = append(c.l.freeDial, d)
	}
	c.dial = nil
}

func (h *httpState) resetDown() {
	h.downSt = stHead
	h.downScan.Reset()
	h.downChunk = sniff.ChunkedBody{}
	h.downRem = 0
	h.routed = false
	h.respClose = false
	if h.reqPending {
		h.reqPending = false
	}
}

// classify advances f.p over the bytes whose framing is known. It reports
// whether anything changed.
func (c *conn) classify(f *flow, up bool) bool {
	if c.tunnel || c.phase == phTunnel {
		if f.p < f.w {
			f.p = f.w
			return true
		}
		return false
	}
	if c.h == nil || f.buf == nil {
		return false
	}
	if up {
		return c.classifyUp(f)
	}
	return c.classifyDown(f)
}

func (c *conn) classifyUp(f *flow) bool {
	h, l := c.h, c.l
	progress := false
	for {
		switch h.upSt {
		case stProxy:
			var ph sniff.ProxyHeader
			switch sniff.Proxy(f.buf[f.p:f.w], &ph) {
			case sniff.NeedMore:
				return progress
			case sniff.Invalid:
				l.s.stats.proxyInvalid.Add(1)
				l.warn("no valid PROXY header; closing", "remote", c.remote())
				c.close(true)
				return false
			}
			if !ph.Local {
				c.client = &clientAddrs{src: ph.Src, dst: ph.Dst}
				if l.s.cfg.ForwardedFor {
					h.setForwardedForIP(ph.Src.Addr())
				}
			}
			f.r += ph.Len // never forwarded
			f.p += ph.Len
			h.upSt = stHead
			progress = true
		case stHead:
			if f.p == f.w {
				return progress
			}
			req := &l.req
			switch l.s.sniffer.Request(&h.upScan, f.buf[f.p:f.w], req) {
			case sniff.NeedMore:
				if c.phase == phHTTP && !h.headTimer {
					l.arm(c, timerHeader)
					h.headTimer = true
				}
				return progress
			case sniff.Done:
				h.cur = reqInfo{
					headLen: req.HeadLen,
					keyed:   req.KeyKind != sniff.KeyNone,
					head:    string(req.Method) == "HEAD",
					upgrade: req.Upgrade,
					close:   req.Close,
					chunked: req.Chunked,
					length:  req.ContentLength,
				}
				if h.cur.keyed {
					h.cur.hash = affinity.HashKey(req.Key)
				}
				if l.s.debug {
					l.s.log.Debug("request", "method", string(req.Method), "path", string(req.Path),
						"key", string(req.Key), "remote", c.remote())
				}
				h.upSt, h.routed = stRoute, false
				h.upScan.Reset()
				progress = true
			case sniff.NotHTTP:
				if c.phase == phSniff && h.requests == 0 {
					// Not HTTP: a layer-4 balancer pipes it,
					// routed by load.
					c.tunnel = true
					f.p = f.w
					c.connectKeyless()
					return true
				}
				c.fail(400)
				return false
			default: // Invalid
				status := req.Status
				if status == 0 {
					status = 400
				}
				if h.reqPending {
					h.errStatus, h.upSt = status, stErrWait
					return progress
				}
				c.fail(status)
				return false
			}
		case stRoute:
			if !h.routed {
				// Responses stay in order: the next request goes out
				// only after the previous response ended and reached
				// the client (a pipelining client is served one request
				// at a time, and a switch never drops response bytes).
				if h.reqPending || f.r < f.p || c.down.pending() {
					return progress
				}
				c.route()
				if c.phase == phClosed || c.phase == phFailing {
					return false
				}
			}
			if c.phase != phHTTP {
				return progress // connecting
			}
			c.forwardHead(f)
			progress = true
		case stBody:
			n := int64(f.w - f.p)
			if n == 0 {
				return progress
			}
			if n > h.upRem {
				n = h.upRem
			}
			f.p += int(n)
			h.upRem -= n
			progress = true
			if h.upRem == 0 {
				h.upSt = stHead
			}
		case stChunked:
			if f.p == f.w {
				return progress
			}
			n, done, err := h.upChunk.Scan(f.buf[f.p:f.w])
			if err != nil {
				c.abort(&c.cli)
				return false
			}
			f.p += n
			progress = progress || n > 0
			if !done {
				return progress
			}
			h.upChunk = sniff.ChunkedBody{}
			h.upSt = stHead
		default: // stUpgrade, stErrWait, stTunnel
			return progress
		}
	}
}

// forwardHead releases the routed head in f to the backend and sets up
// the request's body framing.
func (c *conn) forwardHead(f *flow) {
	h := c.h
	if h.xffLen > 0 {
		c.insertForwardedFor(f)
	}
	f.p += h.cur.headLen
	h.requests++
	h.reqPending, h.reqHEAD, h.reqUpgrade, h.reqClose = true, h.cur.head, h.cur.upgrade, h.cur.close
	h.routed = false
	switch {
	case h.cur.chunked:
		h.upSt = stChunked
		h.upChunk = sniff.ChunkedBody{}
	case h.cur.length > 0:
		h.upSt, h.upRem = stBody, h.cur.length
	case h.cur.upgrade:
		h.upSt = stUpgrade
	default:
		h.upSt = stHead
	}
	if h.headTimer || c.tkind != timerIdle {
		h.headTimer = false
		c.l.arm(c, timerIdle)
	}
}

func (c *conn) classifyDown(f *flow) bool {
	h, l := c.h, c.l
	progress := false
	for {
		switch h.downSt {
		case stHead:
			if f.p == f.w {
				return progress
			}
			resp := &l.resp
			switch l.s.sniffer.Response(&h.downScan, f.buf[f.p:f.w], h.reqHEAD, resp) {
			case sniff.NeedMore:
				return progress
			case sniff.Done:
			default:
				c.fail(502)
				return false
			}
			f.p += resp.HeadLen
			h.downScan.Reset()
			progress = true
			if resp.StatusCode == 101 && h.reqUpgrade {
				c.becomeTunnel()
				f.p = f.w
				return true
			}
			if resp.Interim {
				continue // 100 Continue and friends: the final response follows
			}
			h.respClose = resp.Close
			if h.upSt == stUpgrade {
				h.upSt = stHead // upgrade refused: plain HTTP goes on
			}
			switch resp.Body {
			case sniff.Length:
				if resp.ContentLength > 0 {
					h.downSt, h.downRem = stBody, resp.ContentLength
					continue
				}
			case sniff.Chunked:
				h.downSt = stChunked
				h.downChunk = sniff.ChunkedBody{}
				continue
			case sniff.UntilClose:
				h.downSt = stUntilClose
				continue
			}
			if !c.respDone() {
				return false
			}
		case stBody:
			n := int64(f.w - f.p)
			if n == 0 {
				return progress
			}
			if n > h.downRem {
				n = h.downRem
			}
			f.p += int(n)
			h.downRem -= n
			progress = true
			if h.downRem == 0 {
				h.downSt = stHead
				if !c.respDone() {
					return false
				}
			}
		case stChunked:
			if f.p == f.w {
				return progress
			}
			n, done, err := h.downChunk.Scan(f.buf[f.p:f.w])
			if err != nil {
				c.abort(&c.be)
				return false
			}
			f.p += n
			progress = progress || n > 0
			if !done {
				return progress
			}
			h.downSt = stHead
			h.downChunk = sniff.ChunkedBody{}
			if !c.respDone() {
				return false
			}
		default: // stUntilClose, stTunnel
			if f.p < f.w {
				f.p = f.w
				progress = true
			}
			return progress
		}
	}
}

// respDone runs when a final response ended. It reports false if the
// connection stopped being HTTP (an error answer was queued).
func (c *conn) respDone() bool {
	h := c.h
	h.reqPending = false
	if h.errStatus != 0 {
		c.fail(h.errStatus)
		return false
	}
	if h.reqClose || h.respClose {
		c.endAfterResponse()
		return false
	}
	return true
}

// endAfterResponse ends a connection whose last exchange closes it: the
// request said "Connection: close" (or was HTTP/1.0 without keep-alive),
// or the response did. The server closes such a connection after the
// response (RFC 9112 §9.6), and a client may wait for that close rather
// than read the framing, so the balancer closes too, as the backend
// would have, instead of waiting for the client: once the response has
// reached the client its write side is shut, then its input is drained
// until it closes (phLinger, under the linger timeout). Nothing the
// client sent after that request is served; the backend connection, which
// its backend closes, is not parked.
func (c *conn) endAfterResponse() {
	c.dropBackend()
	c.releaseFlow(&c.up)
	c.up.eof = false // a client that already sent its FIN is read once more and closed
	c.dropHTTP()
	c.phase = phLinger
	c.l.disarm(c)
	c.l.arm(c, timerLinger)
}

// becomeTunnel turns an upgraded connection (101) into a raw tunnel and
// drops its HTTP state.
func (c *conn) becomeTunnel() {
	c.tunnel = true
	c.phase = phTunnel
	c.l.s.stats.tunnels.Add(1)
	if c.up.p < c.up.w {
		c.up.p = c.up.w // bytes the client sent after its upgrade request
	}
	c.dropHTTP()
}

// route picks the backend for the head in stRoute: the current backend
// when it still is the key's first candidate (or the request has no key),
// otherwise a new connection to the candidates in order.
func (c *conn) route() {
	h, l := c.h, c.l
	snap := l.s.cfg.Balancer.Snapshot()
	if snap == nil || snap.Len() == 0 {
		c.fail(503)
		return
	}
	if h.cur.keyed {
		l.cands = snap.Candidates(h.cur.hash, l.cands[:0])
	} else {
		l.cands = snap.PickCandidates(l.cands[:0])
	}
	if len(l.cands) == 0 {
		c.fail(503)
		return
	}
	h.routed = true
	if c.be.fd >= 0 && c.member != nil {
		if h.cur.keyed {
			if c.member.Backend().Endpoint == l.cands[0].Backend().Endpoint {
				return
			}
		} else if isCandidate(c.member, l.cands) {
			// Keyless: stay, unless the backend left the set (or went
			// down) since the connection was routed.
			return
		}
		// The key lives elsewhere: this request, and this client
		// connection from now on, go to its backend. The old backend
		// connection is parked in the loop's pool if it is reusable
		// (reuse_linux.go), closed otherwise.
		l.s.stats.switches.Add(1)
		if c.reusableBackend() {
			c.parkBackend()
		}
		c.closeBackend()
		h.routed = true
	}
	c.startConnect(l.cands)
}

func isCandidate(m *affinity.Member, cands []*affinity.Member) bool {
	e := m.Backend().Endpoint
	for _, c := range cands {
		if c.Backend().Endpoint == e {
			return true
		}
	}
	return false
}

// connectKeyless routes a raw tunnel by load.
func (c *conn) connectKeyless() {
	l := c.l
	snap := l.s.cfg.Balancer.Snapshot()
	if snap == nil || snap.Len() == 0 {
		c.fail(503)
		return
	}
	l.cands = snap.PickCandidates(l.cands[:0])
	if len(l.cands) == 0 {
		c.fail(503)
		return
	}
	c.startConnect(l.cands)
}

// settleHTTP handles end of stream on either side of an HTTP connection.
// It reports whether run should take another pass.
func (c *conn) settleHTTP() bool {
	h := c.h
	if c.down.eof && !c.down.pending() {
		switch {
		case h.reqPending && h.downSt == stHead && c.down.p == c.down.w && c.down.r == 0:
			// The backend closed without answering.
			c.fail(502)
			return true
		case h.reqPending || h.downSt != stHead || c.down.p < c.down.w:
			// The response ends with the connection (no length), or
			// was cut short: either way the client's connection ends.
			c.close(false)
			return false
		}
		// An idle keep-alive backend connection closed; the next
		// request connects again.
		c.closeBackend()
		if h.upSt == stRoute {
			h.routed = false
		}
		return true
	}
	if c.up.eof && !c.up.pending() {
		switch h.upSt {
		case stHead, stErrWait, stUpgrade:
			if !h.reqPending {
				if !c.down.pending() {
					c.close(false)
				}
				return false
			}
			if !c.up.shut && c.be.fd >= 0 {
				shutdownWrite(c.be.fd)
				c.up.shut = true
			}
		case stBody, stChunked:
			c.close(false) // request cut short
			return false
		}
	}
	if c.l.stopping && !h.reqPending && h.upSt == stHead && c.up.p == c.up.w &&
		!c.up.pending() && !c.down.pending() {
		c.close(false)
	}
	return false
}
