package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/l4lb/l4lb/registry"
	"github.com/l4lb/l4lb/tools/echobackend"
)

func init() {
	commands["demo"] = command{summary: "run three demo SockJS backends behind a balancer", run: runDemo}
}

// demoBackends names the demo's backends; each stamps its name on replies.
var demoBackends = []string{"alpha", "bravo", "charlie"}

func runDemo(ctx context.Context, args []string) error {
	var c serveConfig
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	bindings := c.flags(fs)
	if err := parseWithEnv(fs, bindings, args); err != nil {
		return err
	}
	c.parsed(fs)
	if len(c.backends.values) > 0 || c.backendsFile != "" || c.discovery != "" {
		return fmt.Errorf("demo runs its own backends: drop --backend, --backends-file and --discovery, or use 'l4lb serve'")
	}
	log, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		return err
	}

	var endpoints []string
	for _, name := range demoBackends {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo backend %s: %w", name, err)
		}
		// Meteor keeps a SockJS session 60 s after its last request, long
		// enough to paste the next curl command.
		srv := &http.Server{
			Handler:           echobackend.New(name, echobackend.Options{DisconnectDelay: 60 * time.Second}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go srv.Serve(ln)
		defer srv.Close()
		endpoints = append(endpoints, "http://"+ln.Addr().String())
		log.Info("demo backend", "name", name, "backend", ln.Addr().String())
	}
	static, err := registry.NewStatic(endpoints)
	if err != nil {
		return err
	}
	c.names = new(sourceNames)
	return serve(ctx, c, []registry.Source{c.names.wrap("static", static)}, log, func(addrs []net.Addr, adminURL string) {
		for _, a := range addrs {
			if a.Network() == "tcp" {
				printDemoHelp(os.Stdout, a.String(), adminURL)
				return
			}
		}
	}, nil)
}

// printDemoHelp prints the commands that show what the balancer on addr
// does, and where its status page is (adminURL; "" for none).
func printDemoHelp(w io.Writer, addr, adminURL string) {
	base := "http://" + addr
	if strings.HasPrefix(adminURL, "http://") {
		fmt.Fprintf(w, "\nStatus page: %s  (open it now: it fills as you run the commands below)\n", adminURL)
	}
	fmt.Fprint(w, strings.ReplaceAll(`
l4lb demo: backends alpha, bravo and charlie behind BASE (Ctrl-C to stop)

A SockJS polling session: every curl is a new TCP connection, and the
balancer sends all of them to the backend that owns session "demo1234"
(the reply names it: "bravo:hello" came from bravo):

  curl -s -X POST BASE/sockjs/000/demo1234/xhr                          # o      (session opened)
  curl -s -X POST -d '["hello"]' BASE/sockjs/000/demo1234/xhr_send      #        (204, queued)
  curl -s -X POST BASE/sockjs/000/demo1234/xhr                          # a["<backend>:hello"]

Other sessions land on other backends (same key, same backend, on every balancer):

  for s in s1 s2 s3 s4 s5 s6; do curl -s -X POST BASE/sockjs/000/$s/xhr >/dev/null; \
    curl -s -X POST -d '["hi"]' BASE/sockjs/000/$s/xhr_send; curl -s -X POST BASE/sockjs/000/$s/xhr; done

Requests without a session go to the less loaded of two random backends:

  for i in 1 2 3 4 5 6; do curl -s BASE/; done

`, "BASE", base))
}
