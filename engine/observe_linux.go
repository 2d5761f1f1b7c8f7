package engine

import (
	"net/netip"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
	"golang.org/x/sys/unix"
)

// Observation: what Config.Exchanges and Config.BackendStats need to know
// of each exchange. A connection carries a connObs (c.x) only when either
// is on; the hooks the connection's code calls (the x* methods below)
// return at once otherwise, so the data path pays one nil check per hook
// and allocates nothing. With them on, a connObs comes from the loop's
// free list, times are the loop's cached clock (l.now), and counting is a
// few atomic adds on counters of the loop's own (backendstats_linux.go).

// connObs is what a connection has observed of its current exchanges.
type connObs struct {
	lo       *loopObs
	listener int            // index in lo.names
	client   netip.AddrPort // the socket's peer; zero for a UNIX-socket client
	shard    *backendShard  // the counters of the backend last counted on

	connectAt int64 // now when the current connect started
	connect   int64 // the last connect's duration for the next exchange; -1: none

	held          exch // the request head waiting to be routed (heldSet)
	cur           exch // the exchange in flight (open)
	heldSet, open bool

	end   EndReason // set by abort and timeouts (ended)
	ended bool
}

// exch is one exchange as the connection sees it.
type exch struct {
	start     int64 // now when the head arrived
	firstByte int64 // now at the first response byte; -1: none yet
	connect   int64 // ns; -1: none
	in, out   int64
	status    int
	key       sniff.KeyKind
	tunnel    bool
	mlen      uint8
	plen      uint8
	method    [maxExchangeMethod]byte
	path      [MaxExchangePath]byte
}

// observe gives a freshly accepted connection its connObs when the server
// observes exchanges. lfd is the listening socket that accepted it.
func (c *conn) observe(lfd int, peer unix.Sockaddr) {
	l := c.l
	if l.s.obs.loops == nil {
		return
	}
	lo := l.s.obs.loops[l.idx]
	x, ok := lo.free.get()
	if !ok {
		x = new(connObs)
	}
	x.lo, x.connect, x.listener = lo, -1, lo.listenerIndex(l, lfd)
	if ip, ok := peerIP(peer); ok {
		switch a := peer.(type) {
		case *unix.SockaddrInet4:
			x.client = netip.AddrPortFrom(ip, uint16(a.Port))
		case *unix.SockaddrInet6:
			x.client = netip.AddrPortFrom(ip, uint16(a.Port))
		}
	}
	c.x = x
}

// The hooks. Each is small enough to be inlined into its caller.

// xHead records the request head just sniffed (requestHead).
func (c *conn) xHead(req *sniff.Request) {
	if c.x != nil {
		c.x.head(c.l.now, req)
	}
}

// xRelease starts the exchange of the held head as it goes to the backend.
func (c *conn) xRelease() {
	if c.x != nil {
		c.x.release()
	}
}

// xBytes counts n bytes of f classified for the exchange in flight.
func (c *conn) xBytes(f *flow, n int) {
	if c.x != nil && c.x.open {
		if f == &c.up {
			c.x.cur.in += int64(n)
		} else {
			c.x.cur.out += int64(n)
		}
	}
}

// xResponseBytes notes that response bytes arrived (responseHead).
func (c *conn) xResponseBytes() {
	if c.x != nil && c.x.open && c.x.cur.firstByte < 0 {
		c.firstByte()
	}
}

// xResponseHead counts a response head that was parsed.
func (c *conn) xResponseHead(resp *sniff.Response) {
	if c.x != nil && c.x.open {
		c.x.cur.out += int64(resp.HeadLen)
		if !resp.Interim {
			c.x.cur.status = resp.StatusCode
		}
	}
}

// xResponseEnded records the exchange whose response just ended.
func (c *conn) xResponseEnded() {
	if c.x != nil && c.x.open {
		c.finish(&c.x.cur, EndNormal)
	}
}

// xConnectStart notes that connecting to the candidates starts.
func (c *conn) xConnectStart() {
	if c.x != nil {
		c.x.connectAt = c.l.now
	}
}

// xConnected notes that the backend connection is established.
func (c *conn) xConnected() {
	if c.x != nil {
		c.connected1()
	}
}

// xConnectFailed counts a failed connect attempt to m.
func (c *conn) xConnectFailed(m *affinity.Member) {
	if c.x != nil && m != nil && c.l.s.obs.stats {
		c.x.shardOf(c.l, m).failures.Add(1)
	}
}

// xTunnel notes that the connection becomes a tunnel; it runs before the
// bytes still unclassified become raw bytes.
func (c *conn) xTunnel() {
	if c.x != nil {
		c.tunnel()
	}
}

// xFail records the exchange the balancer is about to answer with status.
func (c *conn) xFail(status int) {
	if c.x != nil {
		c.failed(status)
	}
}

// xAbort notes that bad failed or was reset.
func (c *conn) xAbort(bad *sock) {
	if c.x != nil && !c.x.ended {
		c.x.end, c.x.ended = EndClientReset, true
		if bad == &c.be {
			c.x.end = EndBackendReset
		}
	}
}

// xTimeout notes that a timeout closes the connection.
func (c *conn) xTimeout() {
	if c.x != nil && !c.x.ended {
		c.x.end, c.x.ended = EndTimeout, true
	}
}

// xClose records what is still open as the connection closes and gives
// the connObs back; a tunnel that gave it back already is uncounted.
func (c *conn) xClose() {
	if c.x != nil {
		c.closed()
	} else if c.phase == phTunnel && c.member != nil && c.l.s.obs.stats {
		c.l.s.obs.loops[c.l.idx].shard(c.l, c.member.Backend().Endpoint).tunnels.Add(-1)
	}
}

// The work behind the hooks.

func (x *connObs) head(now int64, req *sniff.Request) {
	h := &x.held
	h.start, h.firstByte, h.connect = now, -1, -1
	h.in, h.out, h.status, h.tunnel = int64(req.HeadLen), 0, 0, false
	h.key = req.KeyKind
	h.mlen = uint8(copy(h.method[:], req.Method))
	h.plen = uint8(copy(h.path[:], req.Path))
	x.heldSet = true
}

func (x *connObs) release() {
	x.cur = x.held
	x.cur.connect, x.connect = x.connect, -1
	x.heldSet, x.open, x.ended = false, true, false
}

func (c *conn) firstByte() {
	x := c.x
	x.cur.firstByte = c.l.now
	if c.member != nil && c.l.s.obs.stats {
		x.shardOf(c.l, c.member).hist[histFirstByte].observe(c.l.now - x.cur.start)
	}
}

func (c *conn) connected1() {
	x := c.x
	x.connect = c.l.now - x.connectAt
	if c.member != nil && c.l.s.obs.stats {
		x.shardOf(c.l, c.member).hist[histConnect].observe(x.connect)
	}
}

func (c *conn) tunnel() {
	x := c.x
	if !x.open {
		// Bytes that are not HTTP: the tunnel is the exchange, from the
		// start of its connect, with every byte the client sent so far.
		x.cur = exch{start: x.connectAt, firstByte: -1, connect: x.connect, in: int64(c.up.w - c.up.r)}
		x.connect, x.open, x.ended = -1, true, false
	} else {
		x.cur.in += int64(c.up.w - c.up.p)
		x.cur.out += int64(c.down.w - c.down.p)
	}
	x.cur.tunnel = true
	if c.member != nil && c.l.s.obs.stats {
		sh := x.shardOf(c.l, c.member)
		sh.requests.Add(1)
		sh.tunnels.Add(1)
	}
	if c.l.s.obs.rec == nil {
		// Only counting: a tunnel needs nothing more than its member to
		// be uncounted at close (xClose), so an idle WebSocket carries
		// no connObs.
		c.releaseObs()
	}
}

func (c *conn) failed(status int) {
	x := c.x
	var e *exch
	switch {
	case x.open:
		e = &x.cur
	case x.heldSet:
		e = &x.held
	default:
		// A head that could not be read (over the limits, malformed):
		// an exchange of its own, without method or path.
		x.held = exch{start: c.l.now, firstByte: -1, connect: -1}
		e = &x.held
	}
	e.status = status
	e.out += int64(len(errorResponse(status)))
	end := EndNormal
	switch status {
	case 400:
		end = EndInvalid
	case 414, 431:
		end = EndLimit
	case 504:
		end = EndTimeout
	case 502:
		end = EndBackendReset
		if c.phase == phExchange && !c.down.eof {
			end = EndInvalid // the backend's response could not be read
		}
	}
	c.finish(e, end)
}

func (c *conn) closed() {
	x := c.x
	switch {
	case x.open:
		c.finish(&x.cur, c.closeReason())
	case x.heldSet:
		c.finish(&x.held, c.closeReason())
	}
	if x.cur.tunnel && x.shard != nil {
		// The tunnel was counted open on x.shard: its backend's, since
		// a tunnel never changes backends.
		x.shard.tunnels.Add(-1)
	}
	c.releaseObs()
}

// releaseObs gives c's connObs back to the loop's free list.
func (c *conn) releaseObs() {
	x := c.x
	lo := x.lo
	*x = connObs{}
	lo.free.put(x)
	c.x = nil
}

// closeReason says why a connection with an exchange open closes.
func (c *conn) closeReason() EndReason {
	x := c.x
	switch {
	case x.ended:
		return x.end
	case c.l.done:
		return EndShutdown
	case x.cur.tunnel:
		return EndNormal // both sides closed
	case c.down.eof:
		if c.h != nil && c.h.resp.st == frUntilClose {
			return EndNormal // the body ends with the connection
		}
		return EndBackendReset
	case c.up.eof:
		return EndClientReset
	}
	return EndNormal
}

// finish records e, which ended for end: it counts it for its backend and
// hands it to the recorder. The exchange is no longer open or held.
func (c *conn) finish(e *exch, end EndReason) {
	l, x := c.l, c.x
	if e == &x.cur {
		x.open = false
	} else {
		x.heldSet = false
	}
	if l.s.obs.stats && c.member != nil && !e.tunnel { // tunnel() counted a tunnel
		sh := x.shardOf(l, c.member)
		sh.requests.Add(1)
		if e.status >= 500 {
			sh.resp5xx.Add(1)
		}
		if end == EndNormal && e.status != 0 {
			sh.hist[histDuration].observe(l.now - e.start)
		}
	}
	rec := l.s.obs.rec
	if rec == nil {
		return
	}
	r := &x.lo.rec
	*r = Exchange{
		Time:      l.base.Add(time.Duration(e.start)),
		Client:    x.client,
		Listener:  x.lo.names[x.listener],
		Key:       e.key,
		Method:    e.method[:e.mlen],
		Path:      e.path[:e.plen],
		Status:    e.status,
		Tunnel:    e.tunnel,
		BytesIn:   e.in,
		BytesOut:  e.out,
		Connect:   -1,
		FirstByte: -1,
		Total:     time.Duration(l.now - e.start),
		End:       end,
	}
	if c.client != nil {
		r.Client = c.client.src
	}
	if c.member != nil {
		r.Backend = c.member.Backend().Endpoint
	}
	if e.connect >= 0 {
		r.Connect = time.Duration(e.connect)
	}
	if e.firstByte >= 0 {
		r.FirstByte = time.Duration(e.firstByte - e.start)
	}
	rec.RecordExchange(r)
	r.Method, r.Path = nil, nil
}
