package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/health"
)

// TestHealthOf checks what the status page learns of a checker: nothing
// for a backend never checked, and a failed check for one that refuses
// connections, with when it ended and how long it took.
func TestHealthOf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "tcp://" + ln.Addr().String()
	ln.Close() // connections to it are refused from now on
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: refused}}); err != nil {
		t.Fatal(err)
	}
	chk := health.New(bal, health.Config{Check: health.Check{Kind: health.TCP}, Interval: 20 * time.Millisecond, Fall: 1})
	of := healthOf(chk)
	if _, ok := of(refused); ok {
		t.Errorf("healthOf(%s) before any check: ok; want none", refused)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := time.Now()
	go chk.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, ok := of(refused)
		if ok && !h.OK && h.Ejected && h.Error != "" {
			if now := time.Now(); h.Checked.Before(started) || h.Checked.After(now) || h.Latency <= 0 || h.Latency > now.Sub(started) {
				t.Errorf("healthOf(%s): checked %v, latency %v; want a check ended since the start (%v ago) with its duration",
					refused, h.Checked, h.Latency, now.Sub(started))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthOf(%s) = %+v, %v after 10 s; want a failed check holding it out", refused, h, ok)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := of("tcp://127.0.0.1:1"); ok {
		t.Error("healthOf(an endpoint not in the set): ok; want none")
	}
}
