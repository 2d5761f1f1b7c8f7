package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/registry"
)

func init() {
	commands["register"] = command{summary: "heartbeat one instance into MongoDB discovery (meteorhacks:cluster format)", run: runRegister}
}

// runRegister is `l4lb register`: the sidecar of one instance. It runs
// until SIGINT or SIGTERM, then removes the instance's document.
func runRegister(ctx context.Context, args []string) error {
	var (
		cfg                  registry.RegisterConfig
		check, proxyProtocol string
		logLevel, logFormat  string
	)
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "discovery", "", "MongoDB URL of the discovery database (collection clusterEndpoints)")
	fs.StringVar(&cfg.Collection, "collection", registry.DefaultCollection, "discovery collection")
	fs.StringVar(&cfg.Service, "service", "web", "service name the instance belongs to")
	fs.StringVar(&cfg.Endpoint, "endpoint", "", "the instance's URL as balancers should reach it: http://host:port or unix:/path")
	fs.StringVar(&cfg.Balancer, "balancer", "", "public balancer URL, stored for meteorhacks:cluster clients (optional)")
	fs.DurationVar(&cfg.PingInterval, "interval", registry.DefaultPingInterval, "heartbeat period, also written as the document's pingInterval")
	fs.IntVar(&cfg.Weight, "weight", 0, "relative weight written into the document (0: none, balancers use 1)")
	fs.StringVar(&proxyProtocol, "proxy-protocol", "", "PROXY header balancers send this instance, written as the document's proxyProtocol: off, v1 or v2 (empty: the balancers' own setting)")
	fs.StringVar(&check, "check", string(registry.CheckTCP), "health check before each heartbeat: tcp (connect), http (GET --check-path, 2xx/3xx) or off")
	fs.StringVar(&cfg.CheckPath, "check-path", "/", "path the http check requests")
	fs.DurationVar(&cfg.CheckTimeout, "check-timeout", 0, "timeout of one check (0: the smaller of 2s and --interval)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	err := parseWithEnv(fs, []envBinding{
		{"discovery", "CLUSTER_DISCOVERY_URL"},
		{"collection", "L4LB_DISCOVERY_COLLECTION"},
		{"service", "CLUSTER_SERVICE"},
		{"endpoint", "CLUSTER_ENDPOINT_URL"},
		{"balancer", "CLUSTER_BALANCER_URL"},
		{"interval", "L4LB_PING_INTERVAL"},
		{"weight", "L4LB_WEIGHT"},
		{"proxy-protocol", "L4LB_REGISTER_PROXY_PROTOCOL"},
		{"check", "L4LB_CHECK"},
		{"check-path", "L4LB_CHECK_PATH"},
		{"check-timeout", "L4LB_CHECK_TIMEOUT"},
		{"log-level", "L4LB_LOG_LEVEL"},
		{"log-format", "L4LB_LOG_FORMAT"},
	}, args)
	if err != nil {
		return err
	}
	if cfg.Logger, err = newLogger(logLevel, logFormat); err != nil {
		return err
	}
	if cfg.ProxyProtocol, err = affinity.ParseProxyProtocol(proxyProtocol); err != nil {
		return fmt.Errorf("--proxy-protocol: %w", err)
	}
	cfg.Check = registry.Check(check)
	cfg.QueryTimeout = min(registry.DefaultQueryTimeout, max(cfg.PingInterval, time.Second))
	return registry.Register(ctx, cfg)
}
