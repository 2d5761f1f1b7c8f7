package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/l4lb/l4lb/accesslog"
)

// openAccessLog opens the access log --access-log names, or returns nil
// for "off".
func (c *serveConfig) openAccessLog(log *slog.Logger) (*accesslog.Logger, error) {
	if c.accessLog == "" || c.accessLog == "off" {
		return nil, nil
	}
	f, err := accesslog.ParseFormat(c.accessLogFormat)
	if err != nil {
		return nil, fmt.Errorf("--access-log-format: %w", err)
	}
	l, err := accesslog.New(accesslog.Config{Path: c.accessLog, Format: f, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--access-log: %w", err)
	}
	log.Info("access log", "path", c.accessLog, "format", f.String())
	return l, nil
}

// reopenOnUSR1 reopens the access log each time a signal arrives on usr1
// (logrotate's postrotate: kill -USR1), until ctx is done.
func reopenOnUSR1(ctx context.Context, usr1 <-chan os.Signal, l *accesslog.Logger, path string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-usr1:
		}
		if l == nil {
			log.Info("SIGUSR1: no access log to reopen")
			continue
		}
		if err := l.Reopen(); err != nil {
			log.Error("SIGUSR1: access log not reopened; writing to the old file", "path", path, "err", err)
			continue
		}
		log.Info("SIGUSR1: access log reopened", "path", path)
	}
}
