package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/registry"
)

func TestWritePrometheus(t *testing.T) {
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: "tcp://127.0.0.1:1"}, {Endpoint: "unix:/run/app.sock", State: affinity.Draining}}); err != nil {
		t.Fatal(err)
	}
	srv, err := engine.New(engine.Config{Listen: []string{"127.0.0.1:0"}, Loops: 1, Balancer: bal})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	// One connection that gets a 431 moves two counters.
	c, err := net.DialTimeout("tcp", srv.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"))
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	c.Close()
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 431") {
		t.Fatalf("oversized head answered %q; want HTTP/1.1 431", buf[:n])
	}

	var out strings.Builder
	m := metricsSources{engine: srv, balancer: bal, registry: new(registry.Metrics)}
	if err := m.writePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"l4lb_engine_accepted_total 1\n",
		`l4lb_engine_responses_total{code="431"} 1` + "\n",
		`l4lb_affinity_backend_active_connections{backend="tcp://127.0.0.1:1",state="ready"} 0` + "\n",
		`l4lb_affinity_backend_active_connections{backend="unix:/run/app.sock",state="draining"} 0` + "\n",
		"l4lb_registry_polls_total 0\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q; got:\n%s", want, out.String())
		}
	}
}
