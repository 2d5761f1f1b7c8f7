package affinity

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// backends returns n Ready backends with endpoints that look like a Meteor
// deployment's: tcp://10.0.<i/250>.<i%250+1>:3000.
func backends(n int) []Backend {
	bs := make([]Backend, n)
	for i := range bs {
		bs[i] = Backend{Endpoint: fmt.Sprintf("tcp://10.0.%d.%d:3000", i/250, i%250+1)}
	}
	return bs
}

// mustSnapshot builds a snapshot or fails the test.
func mustSnapshot(tb testing.TB, bs []Backend) *Snapshot {
	tb.Helper()
	s, err := NewSnapshot(bs)
	if err != nil {
		tb.Fatalf("NewSnapshot: %v", err)
	}
	return s
}

// keyHashes returns the hashes of n SockJS-like session keys, computed once
// per size and shared by the tests.
func keyHashes(n int) []uint64 {
	keyMu.Lock()
	defer keyMu.Unlock()
	if h, ok := keyCache[n]; ok {
		return h
	}
	h := make([]uint64, n)
	var buf []byte
	for i := range h {
		buf = strconv.AppendInt(append(buf[:0], "session-"...), int64(i), 36)
		h[i] = HashKey(buf)
	}
	keyCache[n] = h
	return h
}

var (
	keyMu    sync.Mutex
	keyCache = map[int][]uint64{}
)
