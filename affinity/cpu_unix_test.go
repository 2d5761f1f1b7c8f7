//go:build unix

package affinity

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the process's CPU time per operation as "cpu-ns/op"
// when the benchmark ends: on a machine shared with other work, wall time
// per operation includes the time the benchmark waited for a CPU, CPU
// time does not. It stays comparable to ns/op for a benchmark that keeps
// one thread busy and others idle.
func reportCPU(b *testing.B) {
	b.Helper()
	start := cpuTime()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
