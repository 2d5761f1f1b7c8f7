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
// connections.
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
	go chk.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, ok := of(refused)
		if ok && !h.OK && h.Ejected && h.Error != "" {
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
