package sniff

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time of the calling thread (getrusage
// RUSAGE_THREAD).
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
