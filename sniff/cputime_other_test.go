//go:build !linux

package sniff

import (
	"testing"
	"time"
)

// threadCPU is not measured here; CPU metrics read zero and tests that
// need them skip.
func threadCPU() time.Duration { return 0 }

type cpuTimer struct{}

func startCPU(*testing.B) *cpuTimer { return &cpuTimer{} }

func (*cpuTimer) stop(int, string) {}
