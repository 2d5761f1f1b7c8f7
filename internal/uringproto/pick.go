package uringproto

import "bytes"

// pick returns the backend (of n) for a connection whose first bytes are
// head: an FNV-1a hash of the SockJS session when the request line's path
// is <prefix>/<server>/<session>/..., else -1 (the caller's round robin).
// It looks at the request line only and allocates nothing.
func pick(head, prefix []byte, n int) int {
	if len(prefix) == 0 || n <= 0 {
		return -1
	}
	sp := bytes.IndexByte(head, ' ')
	if sp < 0 {
		return -1
	}
	path := head[sp+1:]
	if !bytes.HasPrefix(path, prefix) || len(path) <= len(prefix) || path[len(prefix)] != '/' {
		return -1
	}
	path = path[len(prefix)+1:]
	server := bytes.IndexByte(path, '/')
	if server <= 0 {
		return -1
	}
	path = path[server+1:]
	end := bytes.IndexAny(path, "/ ?")
	if end <= 0 {
		return -1
	}
	h := uint32(2166136261)
	for _, b := range path[:end] {
		h = (h ^ uint32(b)) * 16777619
	}
	return int(h % uint32(n))
}
