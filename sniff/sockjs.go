package sniff

import (
	"bytes"
	"math/bits"
)

// SockJS URLs, as sockjs-node 0.3.x routes them (lib/sockjs.js,
// generate_dispatcher): every route is the regexp
// '^' + prefix + route + '[/]?$' matched against the path without query:
//
//	''                                    welcome screen
//	'/iframe[0-9-.a-z_]*.html'            iframe page
//	'/info', '/chunking_test'             session-less requests
//	'/websocket'                          raw WebSocket
//	'/([^/.]+)/([^/.]+)/<transport>'      a session's transport
//
// Meteor (ddp-server's stream_server.js) also serves its raw WebSocket at
// ROOT_URL_PATH_PREFIX + '/websocket[/]'.

// transport reports whether t is a SockJS transport, and whether it
// spreads a session over several requests, so that the session id must be
// the key: polling and streaming transports are keyed by their session id,
// the websocket transport (like raw /websocket) holds its session on one
// connection and is placed by load. A configured sticky cookie that is
// present overrides both (Sniffer.Request).
func transport(t []byte) (known, polling bool) {
	switch string(t) {
	case "xhr", "xhr_send", "xhr_streaming", "eventsource", "htmlfile", "jsonp", "jsonp_send":
		return true, true
	case "websocket":
		return true, false
	}
	return false, false
}

// pathDelims are the bytes sockJS looks for in a path, by byteMasks.
var pathDelims = [4]byte{'/', '.', '#', '#'}

// sockJS sets req.SockJS, req.PrefixIndex and req.RawWebSocket from
// req.Path, which starts at buf[start], and reports whether the path names
// a polling or streaming transport of a session. A path of up to 64 bytes
// (with 64 bytes of the head from its start) is split on masks of its
// delimiters, from one vector compare; a longer one with IndexByte.
func (s *Sniffer) sockJS(req *Request, buf []byte, start int) (polling bool) {
	path := req.Path
	if len(path) < 2 || len(s.prefixes) == 0 {
		return false // no prefix is that short: each has a '/' and a byte
	}
	var slash, dot uint64
	masked := len(path) <= 64 && start+64 <= len(buf)
	if masked {
		var m [4]uint64
		byteMasks(buf[start:start+64], &pathDelims, &m)
		// A browser never sends a fragment; sockjs-node's url.parse would
		// cut it off, so cut it here too.
		if h := m[2] & (1<<uint(len(path)) - 1); h != 0 {
			path = path[:bits.TrailingZeros64(h)]
		}
		slash, dot = m[0], m[1]
	} else if i := bytes.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	for _, p := range s.prefixes {
		// Every prefix starts with '/' and has a second byte: a cheap
		// look at it spares most comparisons.
		if len(path) < len(p.path) || path[1] != p.path[1] || !bytes.Equal(path[:len(p.path)], p.path) {
			continue
		}
		rest := path[len(p.path):]
		if len(rest) > 0 && rest[0] != '/' {
			continue
		}
		req.PrefixIndex = p.index
		req.SockJS.Prefix = path[:len(p.path):len(p.path)]
		// The optional trailing slash of every route.
		if len(rest) > 1 && rest[len(rest)-1] == '/' {
			rest = rest[:len(rest)-1]
		}
		if string(rest) == "/websocket" {
			req.RawWebSocket = true
			return false
		}
		var server, session, t []byte
		var ok bool
		if masked {
			server, session, t, ok = sessionPathMasked(rest, slash>>uint(len(p.path)), dot>>uint(len(p.path)))
		} else {
			server, session, t, ok = sessionPath(rest)
		}
		if !ok {
			return false
		}
		known, polling := transport(t)
		if known {
			req.SockJS.Server = server
			req.SockJS.Session = session
			req.SockJS.Transport = t
		}
		return polling
	}
	for _, p := range s.prefixes {
		if p.meteorWS == nil || !bytes.HasPrefix(path, p.meteorWS) {
			continue
		}
		if rest := path[len(p.meteorWS):]; len(rest) == 0 || string(rest) == "/" {
			req.PrefixIndex = p.index
			req.RawWebSocket = true
			return false
		}
	}
	return false
}

// sessionPath splits "/<server>/<session>/<transport>", where server and
// session are [^/.]+ and transport is [^/]+. It finds the bytes with
// IndexByte rather than looking at each.
func sessionPath(rest []byte) (server, session, transport []byte, ok bool) {
	if len(rest) < 6 || rest[0] != '/' {
		return nil, nil, nil, false
	}
	r := rest[1:]
	a := bytes.IndexByte(r, '/')
	if a <= 0 {
		return nil, nil, nil, false
	}
	server, r = r[:a:a], r[a+1:]
	b := bytes.IndexByte(r, '/')
	if b <= 0 {
		return nil, nil, nil, false
	}
	session, transport = r[:b:b], r[b+1:]
	if len(transport) == 0 || bytes.IndexByte(transport, '/') >= 0 ||
		bytes.IndexByte(rest[1:1+a+1+b], '.') >= 0 {
		return nil, nil, nil, false
	}
	return server, session, transport, true
}

// sessionPathMasked is sessionPath for a rest of at most 64 bytes, given
// the masks of its '/' and '.' bytes (bits past len(rest) are ignored).
func sessionPathMasked(rest []byte, slash, dot uint64) (server, session, transport []byte, ok bool) {
	n := len(rest)
	if n < 6 || slash&1 == 0 {
		return nil, nil, nil, false
	}
	sl := slash & (1<<uint(n) - 1) &^ 1
	if bits.OnesCount64(sl) != 2 {
		return nil, nil, nil, false // too few parts, or a slash in the transport
	}
	a, b := bits.TrailingZeros64(sl), 63-bits.LeadingZeros64(sl)
	if a <= 1 || b <= a+1 || b == n-1 || dot&(1<<uint(b)-1) != 0 {
		return nil, nil, nil, false // an empty part, or a dot in server or session
	}
	return rest[1:a:a], rest[a+1 : b : b], rest[b+1:], true
}
