package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/l4lb/l4lb/engine"
)

// Start starts a server with cfg, listening on 127.0.0.1:0 with two
// loops unless cfg says otherwise, and shuts it down (5 s of drain at
// most) when the test ends.
func Start(t testing.TB, cfg engine.Config) *engine.Server {
	t.Helper()
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s, err := engine.New(cfg)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("engine Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}
