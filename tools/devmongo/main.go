// Command devmongo is a throwaway MongoDB wire-protocol server for tests:
// FerretDB v1.24.0 embedded over SQLite in a directory of the caller's
// choosing. It is a separate module so that FerretDB never enters the
// product's dependency graph.
//
// Usage:
//
//	devmongo -data DIR [-listen 127.0.0.1:0] [-v]
//
// The first line on stdout is "listening HOST:PORT" once the server accepts
// connections (so -listen 127.0.0.1:0 picks a free port and reports it).
// It exits on SIGINT or SIGTERM. Restarting with the same -data and -listen
// brings the same data back on the same port.
//
// FerretDB answers NotImplemented for change streams and TTL indexes; it is
// not a substitute for MongoDB beyond plain CRUD and queries.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP `address` to listen on (loopback; port 0 picks a free one)")
	data := flag.String("data", "", "`directory` for the SQLite databases (created if missing; required)")
	verbose := flag.Bool("v", false, "log FerretDB's info messages to stderr")
	flag.Parse()
	if err := run(*listen, *data, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "devmongo:", err)
		os.Exit(1)
	}
}

func run(listen, data string, verbose bool) error {
	if data == "" {
		return fmt.Errorf("-data is required")
	}
	dir, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return fmt.Errorf("start ferretdb on %s: %w", listen, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI waits until Run has bound the listener.
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return fmt.Errorf("listener address %q: %w", u.Host, err)
	}
	fmt.Printf("listening %s\n", u.Host)
	return <-done
}
