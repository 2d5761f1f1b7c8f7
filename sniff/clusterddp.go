package sniff

import "bytes"

// meteorhacks:cluster's balancer answered a SockJS /info request with a
// base_url of <balancer>/cluster-ddp/<endpointHash>/<service>, so the
// browser sends every later SockJS request of that connection under
//
//	/cluster-ddp/<endpointHash>/<service>/<server>/<session>/<transport>
//
// (or /cluster-ddp/<endpointHash>/<service>/websocket). The balancer sent
// it to the instance whose endpointHash matches, with the path rewritten
// to /sockjs/<server>/<session>/<transport>: the prefix up to and
// including <service> replaced by "/sockjs".

// ClusterDDPPrefix starts every path of a meteorhacks:cluster route.
const ClusterDDPPrefix = "/cluster-ddp/"

// ClusterDDP is the reading of a /cluster-ddp/ path.
type ClusterDDP struct {
	// Hash is the endpointHash, Service the service name: each one or more
	// word bytes ([0-9A-Za-z_], the \w of meteorhacks' pattern).
	Hash, Service []byte
	// Cut is the length of "/cluster-ddp/<hash>/<service>", the part of
	// the path replaced by "/sockjs" before the request goes on.
	Cut int
	// Session is the SockJS session id when the rest of the path names a
	// polling or streaming transport of a session (the request's affinity
	// key), nil otherwise.
	Session []byte
}

// ParseClusterDDP reads path (a Request.Path) as a meteorhacks:cluster
// route. It reports false when path does not start with ClusterDDPPrefix
// followed by "<hash>/<service>" and then nothing, "/" or "/<more>". It
// does not allocate.
func ParseClusterDDP(path []byte, d *ClusterDDP) bool {
	if len(path) <= len(ClusterDDPPrefix) || string(path[:len(ClusterDDPPrefix)]) != ClusterDDPPrefix {
		return false
	}
	r := path[len(ClusterDDPPrefix):]
	h := wordLen(r)
	if h == 0 || h == len(r) || r[h] != '/' {
		return false
	}
	s := wordLen(r[h+1:])
	if s == 0 {
		return false
	}
	cut := len(ClusterDDPPrefix) + h + 1 + s
	rest := path[cut:]
	if len(rest) > 0 && rest[0] != '/' {
		return false
	}
	if i := bytes.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) > 1 && rest[len(rest)-1] == '/' {
		rest = rest[:len(rest)-1]
	}
	*d = ClusterDDP{Hash: r[:h:h], Service: r[h+1 : h+1+s : h+1+s], Cut: cut}
	if _, session, t, ok := sessionPath(rest); ok {
		if _, polling := transport(t); polling {
			d.Session = session
		}
	}
	return true
}

// wordLen returns the length of the run of word bytes b starts with.
func wordLen(b []byte) int {
	for i, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_') {
			return i
		}
	}
	return len(b)
}
