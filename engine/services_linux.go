package engine

import (
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
)

// Services on the data path (services.go has the table): requestHead
// picks each request's service and, for a meteorhacks:cluster
// /cluster-ddp/<endpointHash>/<service>/ path, the instance it is pinned
// to; route then takes the candidates from that service's balancer with
// the pinned instance first, and a path's /cluster-ddp/ part is rewritten
// before the head goes out. A TLS connection's service comes from its
// ClientHello's server name.

// svcInfo is the service part of a held request (reqInfo).
type svcInfo struct {
	svc uint8 // index in services, or svcRefused
	// pin is the endpoint of the instance a /cluster-ddp/ path names by
	// its endpointHash; empty for none (or a hash no instance has).
	pin string
	// cut is the length of the path's "/cluster-ddp/<hash>/<service>",
	// replaced by "/sockjs" before the head goes out; pathAt is where the
	// path starts in the head. Both 0 when there is nothing to rewrite.
	cut, pathAt int
	// cookiePinned: pin came from a sticky cookie the request carried.
	cookiePinned bool
}

// insertStickyCookie adds the Set-Cookie line of the service's
// StickyInsert cookie to the response head at f.buf[f.p:f.p+headLen],
// unless the request carried a cookie that pinned it, or the instance has
// no EndpointHash. The line is the loop's, built once per service and
// instance: the head is written with it in place (flow.ins), never
// copied.
func (c *conn) insertStickyCookie(f *flow, headLen int) {
	h, l := c.h, c.l
	// A draining loop leaves the one inserted line to "Connection: close"
	// (drain_linux.go); the client's next request gets its cookie from
	// whoever serves it.
	if h.out.svc == svcRefused || h.out.cookiePinned || c.member == nil || len(f.ins) > 0 || l.stopping {
		return
	}
	start := l.s.svcs.keys[h.out.svc].insert
	b := c.member.Backend()
	if start == "" || b.EndpointHash == "" {
		return
	}
	// The loop's lines are keyed by service index, TLS and endpointHash;
	// the key is built on the stack so that the lookup does not allocate.
	// Behind a TLS front (a PROXY v2 header with the SSL TLV) the cookie
	// is Secure, so a browser never sends it over plain HTTP.
	secure := byte(0)
	if h.tls {
		secure = 1
	}
	var kb [96]byte
	key := kb[:0]
	if 2+len(b.EndpointHash) <= len(kb) {
		key = append(append(key, h.out.svc, secure), b.EndpointHash...)
	} else {
		key = append([]byte{h.out.svc, secure}, b.EndpointHash...)
	}
	line, ok := l.cookieLines[string(key)]
	if !ok {
		if l.cookieLines == nil {
			l.cookieLines = map[string][]byte{}
		}
		attrs := "; Path=/; HttpOnly; SameSite=Lax\r\n"
		if h.tls {
			attrs = "; Path=/; HttpOnly; SameSite=Lax; Secure\r\n"
		}
		line = []byte(start + b.EndpointHash + attrs)
		l.cookieLines[string(key)] = line
	}
	// The head ends with its blank line; a head whose lines end in a bare
	// LF (no Node server sends one) gets no cookie.
	if end := int(f.p) + headLen; headEndsCRLF(f.buf, end) {
		f.insertLines(end, line)
	}
}

// requestService sets the held request's service (and pin) from the
// sniffed head req at f.buf[f.p:]. It does not allocate.
func (c *conn) requestService(f *flow, req *sniff.Request) {
	s, held := c.l.s.svcs, &c.h.held
	held.svcInfo = svcInfo{svc: s.matchHTTP(req.Host, req.Path)}
	if held.svc != svcRefused {
		if k := &s.keys[held.svc]; k.own {
			c.serviceKey(req, k)
		} else if req.KeyKind == sniff.KeyCookie && k.pins != 0 && isPinKey(req, k.pins) {
			c.cookiePin(req, req.Key)
		}
	}
	p := req.Path
	if len(p) <= len(sniff.ClusterDDPPrefix) || p[1] != 'c' {
		return
	}
	var d sniff.ClusterDDP
	if !sniff.ParseClusterDDP(p, &d) {
		return
	}
	svc, ok := s.matchName(d.Service)
	if !ok {
		return // not a service of ours: an ordinary path
	}
	held.svc = svc
	rw := clusterDDPRewrite
	if svc != svcRefused {
		rw = s.keys[svc].rewrite
	}
	// Only an origin-form target ("GET /cluster-ddp/... HTTP/1.1") is
	// rewritten in place: the path follows the method and one space.
	at := len(req.Method) + 1
	head := f.buf[f.p:]
	if svc == svcRefused || len(head) < at+d.Cut || string(head[at:at+len(sniff.ClusterDDPPrefix)]) != sniff.ClusterDDPPrefix || len(rw) > d.Cut {
		return
	}
	held.cut, held.pathAt = d.Cut, at
	if d.Session != nil && req.KeyKind != sniff.KeyCookie {
		held.keyed, held.hash = true, affinity.HashKey(d.Session)
	}
	held.pin = endpointOf(s.balancers[svc], d.Hash)
	if held.pin != "" && !held.keyed {
		held.keyed, held.hash = true, affinity.HashKey(d.Hash)
	}
}

// endpointOf returns the endpoint of b's instance whose endpointHash is
// hash, "" for none.
func endpointOf(b *affinity.Balancer, hash []byte) string {
	if snap := b.Snapshot(); snap != nil {
		for _, m := range snap.Members() {
			if b := m.Backend(); b.EndpointHash != "" && b.EndpointHash == string(hash) {
				return b.Endpoint
			}
		}
	}
	return ""
}

// isPinKey reports whether req's key is one of the cookies in pins.
func isPinKey(req *sniff.Request, pins uint8) bool {
	for i := range sniff.MaxCookies {
		if pins&(1<<i) != 0 && len(req.Cookies[i]) > 0 && &req.Key[0] == &req.Cookies[i][0] {
			return true
		}
	}
	return false
}

// serviceKey keys a request of a service whose cookies and prefixes are
// not all the sniffer's (k): by the first of the service's cookies that
// the request carries, else by its SockJS session under one of the
// service's prefixes, else not at all. A cookie of another service (a
// browser sends every cookie of the host) keys nothing.
func (c *conn) serviceKey(req *sniff.Request, k *serviceKeys) {
	held := &c.h.held
	held.keyed, held.hash = false, 0
	for i := range sniff.MaxCookies {
		v := req.Cookies[i]
		if k.cookies&(1<<i) == 0 || len(v) == 0 {
			continue
		}
		if k.pins&(1<<i) != 0 {
			c.cookiePin(req, v)
			if held.cookiePinned {
				return
			}
			continue
		}
		held.keyed, held.hash = true, affinity.HashKey(v)
		return
	}
	if req.SockJS.Session != nil && string(req.SockJS.Transport) != "websocket" &&
		(req.PrefixIndex >= 64 || req.PrefixIndex >= 0 && k.prefixes&(1<<req.PrefixIndex) != 0) {
		held.keyed, held.hash = true, affinity.HashKey(req.SockJS.Session)
	}
}

// cookiePin pins a request whose key is a pin cookie of its service
// (value v) to the instance of the service the cookie names. When no
// instance has that hash any more the cookie is no key: the request is
// keyed by its SockJS session if it has one, else placed by load.
func (c *conn) cookiePin(req *sniff.Request, v []byte) {
	held := &c.h.held
	if held.pin = endpointOf(c.l.s.svcs.balancers[held.svc], v); held.pin != "" {
		held.cookiePinned = true
		held.keyed, held.hash = true, affinity.HashKey(v)
		return
	}
	if c.l.warnDue() {
		c.l.warn("sticky cookie names no instance of its service (a value shared by all clients, such as sockjs-node's JSESSIONID=dummy, or an instance gone); ignored", "remote", c.remote())
	}
	held.keyed = req.SockJS.Session != nil && string(req.SockJS.Transport) != "websocket"
	held.hash = 0
	if held.keyed {
		held.hash = affinity.HashKey(req.SockJS.Session)
	}
}

// tunnelService sets the service of a connection that is not HTTP: by
// SNI for a TLS ClientHello, else the default.
func (c *conn) tunnelService(req *sniff.Request) {
	c.svc = 0
	if req.TLS {
		c.svc = c.l.s.svcs.matchSNI(req.SNI)
		if c.svc == svcRefused {
			if c.l.warnDue() {
				c.l.warn("TLS connection for a service that is not public closed", "remote", c.remote())
			}
		}
	}
}

// routeService readies the held request for route: it refuses a request
// for a service that is not public (404, then close), rewrites a
// /cluster-ddp/ path, and sets c.svc. It reports whether to go on
// routing. route runs with every byte before the head written (f.r ==
// f.p), so the head may move within the buffer.
func (c *conn) routeService() bool {
	h := c.h
	if h.held.svc == svcRefused {
		if c.l.warnDue() {
			c.l.warn("request for a service that is not public answered 404", "remote", c.remote())
		}
		c.fail(404)
		return false
	}
	c.svc = h.held.svc
	if h.held.cut > 0 {
		c.rewriteClusterDDP(&c.up)
	}
	return true
}

// rewriteClusterDDP replaces the held head's "/cluster-ddp/<hash>/<svc>"
// with the service's rewrite ("/sockjs", or its first prefix) in place:
// that goes at the end of the cut part and the method and its space move
// right to meet it, so the head now starts cut-len(rewrite) bytes later. Only the few bytes of the method move; the rest of
// the head and whatever follows it stay where they are.
func (c *conn) rewriteClusterDDP(f *flow) {
	h := &c.h.held
	rw := c.l.s.svcs.keys[h.svc].rewrite
	d := h.cut - len(rw)
	p := int(f.p)
	copy(f.buf[p+h.pathAt+d:], rw)
	copy(f.buf[p+d:p+d+h.pathAt], f.buf[p:p+h.pathAt])
	f.r += int32(d)
	f.p += int32(d)
	h.headLen -= d
	h.cut, h.pathAt = 0, 0
}

// pinFirst moves the held request's pinned instance, if it is a
// candidate, to the front of cands.
func (c *conn) pinFirst(cands []*affinity.Member) {
	pin := c.h.held.pin
	if pin == "" {
		return
	}
	for i, m := range cands {
		if m.Backend().Endpoint == pin {
			copy(cands[1:i+1], cands[:i])
			cands[0] = m
			return
		}
	}
}

// warnDue reports whether l.warn would log now, so that a caller on a
// path clients can repeat at will builds its arguments only then.
func (l *loop) warnDue() bool { return l.lastWarn == 0 || l.now-l.lastWarn >= warnEvery }
