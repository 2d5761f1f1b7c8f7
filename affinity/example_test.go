package affinity_test

import (
	"fmt"

	"github.com/l4lb/l4lb/affinity"
)

func Example() {
	b := affinity.NewBalancer()
	err := b.Update([]affinity.Backend{
		{Endpoint: "unix:/run/meteor.sock.1.sock"},
		{Endpoint: "unix:/run/meteor.sock.2.sock", Weight: 2},
		{Endpoint: "tcp://10.0.0.5:3000", State: affinity.Draining},
	})
	if err != nil {
		panic(err)
	}
	s := b.Snapshot()

	// A SockJS xhr request: hash its session id; every balancer agrees.
	m := s.Lookup(affinity.HashKey([]byte("a1b2c3d4")))
	fmt.Println("session a1b2c3d4 ->", m.Backend().Endpoint)

	// A WebSocket: place it by load, and count it while it lasts.
	ws := s.Pick()
	ws.Acquire()
	defer ws.Release()
	fmt.Println("websocket to a ready backend:", ws.Backend().State == affinity.Ready)

	// The dial failed: the next ones to try, the draining backend last.
	dst := make([]*affinity.Member, 0, s.Len())
	for _, c := range s.Candidates(affinity.HashKey([]byte("a1b2c3d4")), dst) {
		fmt.Println(" ", c.Backend().Endpoint)
	}
	// Output:
	// session a1b2c3d4 -> unix:/run/meteor.sock.2.sock
	// websocket to a ready backend: true
	//   unix:/run/meteor.sock.2.sock
	//   unix:/run/meteor.sock.1.sock
	//   tcp://10.0.0.5:3000
}
