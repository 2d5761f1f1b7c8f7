// Command loadgen runs one tools/loadgen scenario against loopback targets
// and prints a human summary on stderr and one JSON line (loadgen.Result)
// on stdout.
//
//	loadgen -scenario polling -target 127.0.0.1:8080 -duration 10s
//	loadgen -scenario ws-idle -target 127.0.0.1:8080 -conns 5000 -interval 1s
//	loadgen -scenario keepalive -target 127.0.0.1:9001,127.0.0.1:9002
//
// Exit status: 0 after a run, whatever it counted; 1 when the run could
// not start; 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/l4lb/l4lb/tools/loadgen"
)

func main() {
	var cfg loadgen.Config
	var targets string
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	fs.StringVar(&cfg.Scenario, "scenario", loadgen.Polling, "one of "+strings.Join(loadgen.Scenarios, ", "))
	fs.StringVar(&targets, "target", "", "comma-separated loopback host:port targets; worker i uses target i mod n")
	fs.BoolVar(&cfg.AlternateTargets, "alternate", false, "polling, connrate: each new connection goes to the next target in turn (a client in front of several balancers)")
	fs.StringVar(&cfg.Label, "label", "", "label copied into the JSON result")
	fs.StringVar(&cfg.Prefix, "prefix", loadgen.DefaultPrefix, "SockJS prefix")
	fs.IntVar(&cfg.Workers, "workers", loadgen.DefaultWorkers, "concurrent workers (not ws-idle)")
	fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "measured time, at most 10m")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after this many operations (0: duration only)")
	fs.DurationVar(&cfg.Timeout, "timeout", loadgen.DefaultTimeout, "timeout of each network operation")
	fs.IntVar(&cfg.Sources, "sources", loadgen.DefaultSources, "source addresses 127.0.0.2.. to spread connections over (negative: kernel's choice)")
	fs.IntVar(&cfg.PollConns, "poll-conns", loadgen.DefaultPollConns, "polling, xhr-streaming: keep-alive connections per worker (for xhr-streaming's sends)")
	fs.IntVar(&cfg.SessionsPerConn, "sessions-per-conn", loadgen.DefaultSessionsPerConn, "polling, xhr-streaming, connrate: SockJS sessions per connection (per worker for connrate)")
	fs.IntVar(&cfg.MessageSize, "message-size", 0, "xhr-streaming: pad each message to this many bytes (0: no padding)")
	fs.IntVar(&cfg.Conns, "conns", loadgen.DefaultConns, "ws-idle: WebSocket connections to hold")
	fs.DurationVar(&cfg.Interval, "interval", loadgen.DefaultInterval, "ws-idle: message interval per connection")
	fs.BoolVar(&cfg.RawWebSocket, "raw-ws", false, "ws-idle: use the raw /websocket endpoint instead of SockJS's")
	fs.IntVar(&cfg.DialParallel, "dial-parallel", loadgen.DefaultDialParallel, "ws-idle: connections set up at once")
	fs.Int64Var(&cfg.Size, "size", loadgen.DefaultSize, "bulk: bytes per download and upload")
	fs.StringVar(&cfg.BulkMode, "bulk-mode", "", "bulk: download, upload, or empty for both")
	quiet := fs.Bool("quiet", false, "no summary on stderr, only the JSON line")
	fs.Parse(os.Args[1:])
	for _, t := range strings.Split(targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.Targets = append(cfg.Targets, t)
		}
	}
	if !*quiet {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...) }
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !*quiet {
		fmt.Fprint(os.Stderr, res.Summary())
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: write result:", err)
		os.Exit(1)
	}
}
