//go:build linux

package engine

import (
	"testing"
	"unsafe"
)

// An idle tunnel (an idle WebSocket) costs its conn struct and two
// sockets, so the struct's size is the balancer's memory per idle client.
// The Go allocator rounds it up to a size class; 352 bytes is the class it
// has had since tunnels stopped holding buffers, and a field that pushes it
// into the next class (384) costs every idle WebSocket 32 bytes. Per-state
// data belongs in httpState or dialState, which an idle tunnel does not
// hold.
func TestConnSizeClass(t *testing.T) {
	const sizeClass = 352
	if n := unsafe.Sizeof(conn{}); n > sizeClass {
		t.Fatalf("conn is %d bytes, above the %d-byte size class: move the new field into httpState, dialState or connObs", n, sizeClass)
	}
}
