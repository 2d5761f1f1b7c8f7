//go:build linux

package engine

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestPipeSize: the pools' pipes have the capacity Config.PipeSize asks
// for, and the kernel's default when it asks for the default.
func TestPipeSize(t *testing.T) {
	for _, tt := range []struct{ ask, want int }{
		{DefaultPipeSize, 64 << 10},
		{256 << 10, 256 << 10},
		{100 << 10, 128 << 10}, // rounded up to a power-of-two number of pages
	} {
		p := newPools(defaultBufSize, tt.ask)
		pp, err := p.getPipe()
		if err != nil {
			t.Fatal(err)
		}
		got, err := unix.FcntlInt(uintptr(pp.w), unix.F_GETPIPE_SZ, 0)
		pp.close()
		if err != nil || got != tt.want {
			t.Errorf("pipe for PipeSize %d: capacity %d, %v; want %d", tt.ask, got, err, tt.want)
		}
	}
	if got := (&Config{}).pipeSize(); got != DefaultPipeSize {
		t.Errorf("Config{}.pipeSize() = %d; want %d", got, DefaultPipeSize)
	}
}
