// Command backend is one benchmark backend: tools/echobackend served on one
// TCP address, as its own process so that its CPU and memory are not the
// harness's or the balancer's.
//
//	backend -name a -listen 127.0.0.1:9001
//
// With -proxy-protocol it also accepts a PROXY v1/v2 header in front of each
// connection, for runs where the balancers send one. It prints "ready <addr>" on stdout once it listens, and exits on SIGINT or
// SIGTERM. With -backlog it listens with that accept queue, and SIGUSR1
// and SIGUSR2 switch the faults of faults.go on and off.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

func main() {
	name := flag.String("name", "a", "backend name stamped on every answer")
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on")
	disconnect := flag.Duration("disconnect-delay", 0, "SockJS session lifetime after its last request (0: sockjs-go's 5s)")
	proxy := flag.Bool("proxy-protocol", false, "accept (and strip) a PROXY v1/v2 header on each connection")
	backlog := flag.Int("backlog", 0, "accept queue length (0: the system's); with the process stopped, a short queue drops SYNs once full")
	flag.Parse()

	var f faults
	f.watchSignals()
	var ln net.Listener
	var err error
	if *backlog > 0 {
		ln, err = listenBacklog(*listen, *backlog)
	} else {
		ln, err = net.Listen("tcp", *listen)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "backend %s: %v\n", *name, err)
		os.Exit(1)
	}
	ln = f.listener(ln)
	if *proxy {
		ln = acceptProxy(ln)
	}
	srv := &http.Server{
		Handler:           f.handler(echobackend.New(*name, echobackend.Options{DisconnectDelay: *disconnect})),
		ReadHeaderTimeout: 30 * time.Second,
	}
	fmt.Printf("ready %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// WebSockets are hijacked, so Shutdown does not wait for them.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "backend %s: %v\n", *name, err)
		os.Exit(1)
	}
}
