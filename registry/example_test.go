package registry_test

import (
	"context"
	"fmt"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry"
)

func ExampleNormalizeEndpoint() {
	for _, in := range []string{"10.0.0.5:3000", "http://10.0.0.5:3000/", "unix:///run/app/meteor.sock.1.sock", "https://10.0.0.5"} {
		out, err := registry.NormalizeEndpoint(in)
		fmt.Println(out, err)
	}
	// Output:
	// tcp://10.0.0.5:3000 <nil>
	// tcp://10.0.0.5:3000 <nil>
	// unix:/run/app/meteor.sock.1.sock <nil>
	//  normalize endpoint "https://10.0.0.5": want host:port, http://host:port, tcp://host:port or unix:/path
}

func ExampleNewStatic() {
	src, err := registry.NewStatic([]string{"10.0.0.6:3000", "http://10.0.0.5:3000"})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src.Watch(ctx, "web", func(set []affinity.Backend) {
		for _, b := range set {
			fmt.Println(b.Endpoint, b.State)
		}
		cancel() // a balancer would keep watching
	})
	// Output:
	// tcp://10.0.0.5:3000 ready
	// tcp://10.0.0.6:3000 ready
}
