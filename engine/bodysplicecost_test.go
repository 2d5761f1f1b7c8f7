//go:build linux && measure

package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestBodySpliceCost measures the balancer process's CPU time per request
// and per GiB for HTTP downloads and uploads of each body size, with
// bodies through the buffer and with bodies spliced from several
// thresholds on: the figures behind defaultBodySpliceMin. It only reports,
// so it builds only with the measure tag:
//
//	go test -tags measure -run TestBodySpliceCost -v ./engine
func TestBodySpliceCost(t *testing.T) {
	be := startTCP(t, bodyBackend)
	for _, size := range []int{4 << 10, 16 << 10, 64 << 10, 1 << 20} {
		for _, mode := range []string{"buffer", "splice>=4K", "splice>=16K", "splice>=64K"} {
			env := []string{"L4LB_CHILD_PATH=buffer"}
			switch mode {
			case "splice>=4K":
				env = []string{"L4LB_CHILD_BODY_SPLICE_MIN=4096"}
			case "splice>=16K":
				env = []string{"L4LB_CHILD_BODY_SPLICE_MIN=16384"}
			case "splice>=64K":
				env = []string{"L4LB_CHILD_BODY_SPLICE_MIN=65536"}
			}
			ch := startChildEnv(t, 1, env, be)
			c, err := net.Dial("tcp", ch.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			br := bufio.NewReader(c)
			ops := max((512<<20)/size, 2000)
			upload := pattern(size)
			for _, dir := range []string{"download", "upload"} {
				cpu0, start := ch.cpu(t), time.Now()
				for i := 0; i < ops; i++ {
					if dir == "download" {
						fmt.Fprintf(c, "GET /cl/%d HTTP/1.1\r\nHost: x\r\n\r\n", size)
					} else {
						io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n")
						c.Write(upload)
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				cpu, wall := ch.cpu(t)-cpu0, time.Since(start)
				gib := float64(ops) * float64(size) / (1 << 30)
				t.Logf("%-8s %7d B  %-11s balancer CPU %7.1f µs/request  %.3f s/GiB  %6.0f MiB/s",
					dir, size, mode, float64(cpu.Microseconds())/float64(ops), cpu.Seconds()/gib, gib*1024/wall.Seconds())
			}
			c.Close()
		}
	}
}
