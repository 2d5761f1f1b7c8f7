//go:build linux

package sniff

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time of the calling thread, to the nanosecond
// (CLOCK_THREAD_CPUTIME_ID; getrusage counts in scheduler ticks).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// cpuTimer measures what a benchmark's loop costs in CPU time, reported as
// cpu-ns/op beside ns/op: on a shared machine, wall time also counts the
// time other processes hold the CPU, and swings with their load.
type cpuTimer struct {
	b     *testing.B
	start time.Duration
}

func startCPU(b *testing.B) *cpuTimer {
	runtime.LockOSThread()
	return &cpuTimer{b: b, start: threadCPU()}
}

// stop reports CPU time per op, and per unit when units > 0.
func (c *cpuTimer) stop(units int, unit string) {
	d := threadCPU() - c.start
	runtime.UnlockOSThread()
	perOp := float64(d.Nanoseconds()) / float64(c.b.N)
	c.b.ReportMetric(perOp, "cpu-ns/op")
	if units > 0 {
		c.b.ReportMetric(perOp/float64(units), "cpu-ns/"+unit)
	}
}
