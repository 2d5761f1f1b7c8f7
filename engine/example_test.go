//go:build linux

package engine_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/sniff"
)

// A balancer in front of two Meteor instances: one on TCP, one a cluster
// worker on a UNIX socket, with a sticky cookie taking precedence over
// SockJS session ids.
func ExampleNew() {
	b := affinity.NewBalancer()
	if err := b.Update([]affinity.Backend{
		{Endpoint: "tcp://127.0.0.1:3000"},
		{Endpoint: "unix:/tmp/meteor.sock.1.sock"},
	}); err != nil {
		log.Fatal(err)
	}
	s, err := engine.New(engine.Config{
		Listen:   []string{"127.0.0.1:0"},
		Balancer: b,
		Sniff:    sniff.Config{Cookies: []string{"route"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", s.Addrs()[0].Network())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: listening on tcp
}
