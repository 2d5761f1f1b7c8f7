//go:build linux && measure

package engine

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestDataPathCost measures the balancer process's CPU time per message
// and per MiB for both tunnel data paths (splice through a pipe, or
// read/write through a buffer), by message size. CPU time of the balancer
// alone is steadier than throughput on a shared machine. It only reports
// figures, so it builds only with the measure tag:
//
//	go test -tags measure -run TestDataPathCost -v ./engine
func TestDataPathCost(t *testing.T) {
	echo := startEcho(t)
	stream := startStreamer(t)
	for _, path := range []string{"splice", "buffer"} {
		for _, size := range []int{16, 1 << 10, 16 << 10, 64 << 10} {
			ch := startChildEnv(t, 1, []string{"L4LB_CHILD_PATH=" + path}, echo)
			c, err := net.Dial("tcp", ch.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			msg, buf := make([]byte, size), make([]byte, size)
			total := 256 << 20
			ops := max(total/size/16, 2000)
			if size <= 1024 {
				ops = 20000
			}
			cpu0, start := ch.cpu(t), time.Now()
			for i := 0; i < ops; i++ {
				c.Write(msg)
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			}
			cpu := ch.cpu(t) - cpu0
			t.Logf("path=%s echo size=%d: %d round trips, balancer CPU %.2f µs per round trip, wall %.1f µs",
				path, size, ops, float64(cpu.Microseconds())/float64(ops), float64(time.Since(start).Microseconds())/float64(ops))
			c.Close()
		}
		ch := startChildEnv(t, 1, []string{"L4LB_CHILD_PATH=" + path}, stream)
		c, err := net.Dial("tcp", ch.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		c.Write([]byte("\x00go"))
		buf := make([]byte, 1<<20)
		const mib = 4096
		cpu0, start := ch.cpu(t), time.Now()
		for i := 0; i < mib; i++ {
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
		}
		cpu, wall := ch.cpu(t)-cpu0, time.Since(start)
		t.Logf("path=%s bulk: %d MiB, balancer CPU %.3f s per GiB, %.0f MiB/s",
			path, mib, cpu.Seconds()*1024/mib, mib/wall.Seconds())
		c.Close()
	}
}
