package engine

import (
	"errors"
	"fmt"

	"github.com/l4lb/l4lb/affinity"
)

// ErrServerClosed is returned by Start after Shutdown.
var ErrServerClosed = errors.New("engine: server closed")

// check reports what makes cfg unusable, the same on every platform.
func (cfg *Config) check() error {
	if cfg.Balancer == nil {
		return errors.New("engine: config: Balancer is required")
	}
	if _, _, err := compileServices(cfg); err != nil {
		return err
	}
	if len(cfg.Listen) == 0 {
		return errors.New("engine: config: no listen address")
	}
	if cfg.ProxyProtocol > affinity.ProxyV2 {
		return fmt.Errorf("engine: config: unknown proxy protocol %d", cfg.ProxyProtocol)
	}
	return nil
}
