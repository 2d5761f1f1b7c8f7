package affinity_test

import (
	"fmt"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

func ExampleSessions() {
	b := affinity.NewBalancer()
	three := []affinity.Backend{{Endpoint: "tcp://10.0.0.1:3000"}, {Endpoint: "tcp://10.0.0.2:3000"}, {Endpoint: "tcp://10.0.0.3:3000"}}
	if err := b.Update(three); err != nil {
		panic(err)
	}
	mem := affinity.NewSessions(1<<16, affinity.DefaultSessionIdle)
	route := func(key string) string {
		h := affinity.HashKey([]byte(key))
		now := time.Now()
		cands := mem.Candidates(b.Snapshot(), h, now, nil)
		// ... connect to cands[0], or to the next candidate that answers ...
		mem.Remember(h, cands[0], now)
		return cands[0].Backend().Endpoint
	}
	fmt.Println("session x9y8z7w6 opens on", route("x9y8z7w6"))

	// A fourth instance joins: the table gives it a quarter of the keys,
	// this one among them, but the running session stays where it is.
	if err := b.Update(append(three, affinity.Backend{Endpoint: "tcp://10.0.0.4:3000"})); err != nil {
		panic(err)
	}
	fmt.Println("the table now says", b.Snapshot().Lookup(affinity.HashKey([]byte("x9y8z7w6"))))
	fmt.Println("session x9y8z7w6 stays on", route("x9y8z7w6"))
	// Output:
	// session x9y8z7w6 opens on tcp://10.0.0.2:3000
	// the table now says tcp://10.0.0.4:3000
	// session x9y8z7w6 stays on tcp://10.0.0.2:3000
}
