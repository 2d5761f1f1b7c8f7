package engine

import "golang.org/x/sys/unix"

// Inbound PROXY protocol (Config.AcceptProxy): a front that terminates TLS
// or balances at layer 4 (a cloud load balancer, stunnel, HAProxy) puts a
// PROXY header (haproxy.org/download/2.9/doc/proxy-protocol.txt) before
// the client's bytes to say who the client is. The header is read
// (sniff.Proxy) and dropped; its source address stands for the client's in
// X-Forwarded-For, in the PROXY header sent to backends and in logs.

// trustedFront reports whether a connection from peer must start with a
// PROXY header: Config.AcceptProxyFrom is empty, the peer is in one of its
// networks, or the peer is on a UNIX socket.
func (s *Server) trustedFront(peer unix.Sockaddr) bool {
	from := s.cfg.AcceptProxyFrom
	if len(from) == 0 {
		return true
	}
	ip, ok := peerIP(peer)
	if !ok {
		return true
	}
	for _, p := range from {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
