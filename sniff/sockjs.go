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

// Which transports spread a session over several requests, and so need
// the session id as key (ARCHITECTURE.md, "Which traffic needs a key").
var transports = [...]struct {
	name    string
	polling bool
}{
	{"xhr", true},
	{"xhr_send", true},
	{"xhr_streaming", true},
	{"eventsource", true},
	{"htmlfile", true},
	{"jsonp", true},
	{"jsonp_send", true},
	{"websocket", false},
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
		if !bytes.HasPrefix(path, p.path) {
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
		server, session, transport, ok := sessionPath(rest)
		if !ok {
			return false
		}
		for _, t := range transports {
			if string(transport) == t.name {
				req.SockJS.Server = server
				req.SockJS.Session = session
				req.SockJS.Transport = transport
				return t.polling
			}
		}
		return false
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
// session are [^/.]+ and transport is [^/]+.
func sessionPath(rest []byte) (server, session, transport []byte, ok bool) {
	var seg [3][]byte
	for i := range seg {
		if len(rest) < 2 || rest[0] != '/' {
			return nil, nil, nil, false
		}
		rest = rest[1:]
		n := bytes.IndexByte(rest, '/')
		if i == 2 {
			if n >= 0 {
				return nil, nil, nil, false
			}
			n = len(rest)
		} else if n <= 0 {
			return nil, nil, nil, false
		}
		seg[i] = rest[:n:n]
		rest = rest[n:]
		if i < 2 && bytes.IndexByte(seg[i], '.') >= 0 {
			return nil, nil, nil, false
		}
	}
	return seg[0], seg[1], seg[2], true
}
