//go:build linux

package engine_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
)

// An upgrade without a refused connection, with cloudflare/tableflip: on
// SIGUSR2 the binary on disk starts, takes over the listening sockets
// through Config.Sockets and reports ready; then this process stops
// accepting, leaves the UNIX socket file to the new one and drains.
func ExampleConfig_sockets() {
	upg, err := tableflip.New(tableflip.Options{PIDFile: "/run/app/balancer.pid"})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()
	b := affinity.NewBalancer()
	b.Update([]affinity.Backend{{Endpoint: "tcp://127.0.0.1:3000"}})
	s, err := engine.New(engine.Config{
		Listen:   []string{":8080", "/run/app/balancer.sock"},
		Balancer: b,
		Sockets:  upg.Fds,
	})
	if err != nil {
		log.Fatal(err)
	}
	s.KeepSocketFiles(upg.HasParent()) // the old process still serves them
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	if err := upg.Ready(); err != nil { // the old process stops accepting now
		log.Fatal(err)
	}
	s.KeepSocketFiles(false)

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR2)
		for range sig {
			if err := upg.Upgrade(); err != nil {
				log.Print("upgrade failed; still serving: ", err)
			}
		}
	}()
	<-upg.Exit() // a new process took over
	s.KeepSocketFiles(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Shutdown(ctx)
}
