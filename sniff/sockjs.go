package sniff

import "bytes"

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
// the key (ARCHITECTURE.md, "Which traffic needs a key").
func transport(t []byte) (known, polling bool) {
	switch string(t) {
	case "xhr", "xhr_send", "xhr_streaming", "eventsource", "htmlfile", "jsonp", "jsonp_send":
		return true, true
	case "websocket":
		return true, false
	}
	return false, false
}

// sockJS sets req.SockJS, req.PrefixIndex and req.RawWebSocket from
// req.Path, and reports whether the path names a polling or streaming
// transport of a session.
func (s *Sniffer) sockJS(req *Request) (polling bool) {
	path := req.Path
	// A browser never sends a fragment; sockjs-node's url.parse would cut
	// it off, so cut it here too.
	if i := bytes.IndexByte(path, '#'); i >= 0 {
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
		server, session, t, ok := sessionPath(rest)
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
