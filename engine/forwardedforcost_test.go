//go:build linux && measure

package engine

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestForwardedForCost measures the balancer process's CPU time per
// keep-alive request with Config.ForwardedFor off and on, alternating
// rounds (the machine is shared). It only reports figures, so it
// builds only with the measure tag:
//
//	go test -tags measure -run TestForwardedForCost -v ./engine
func TestForwardedForCost(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	backend := startFixedHTTP(t, resp)
	req := []byte("GET /sockjs/000/abcdefgh/xhr HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n")
	const ops = 50000
	per := map[string][]float64{}
	for round := 0; round < 3; round++ {
		for _, xff := range []string{"0", "1"} {
			ch := startChildEnv(t, 1, []string{"L4LB_CHILD_XFF=" + xff}, backend)
			c, err := net.Dial("tcp", ch.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			buf := make([]byte, len(resp))
			cpu0, start := ch.cpu(t), time.Now()
			for i := 0; i < ops; i++ {
				c.Write(req)
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			}
			cpu := float64((ch.cpu(t) - cpu0).Microseconds()) / ops
			per[xff] = append(per[xff], cpu)
			t.Logf("round %d ForwardedFor=%s: balancer CPU %.2f µs per request, wall %.1f µs",
				round, xff, cpu, float64(time.Since(start).Microseconds())/ops)
			c.Close()
		}
	}
	t.Logf("balancer CPU µs per request: off %.2f, on %.2f", per["0"], per["1"])
}
