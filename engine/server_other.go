//go:build !linux

package engine

import (
	"context"
	"errors"
	"net"
)

// errLinuxOnly is what New answers on other systems: the event loops are
// built on epoll(7), splice(2) and SO_REUSEPORT as Linux has them.
var errLinuxOnly = errors.New("engine: Linux only: the event loops need epoll(7) and splice(2)")

// Server is a balancer; on this system New never returns one.
type Server struct{}

// New returns an error saying the engine runs on Linux only.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return nil, errLinuxOnly
}

func (s *Server) Start() error                       { return errLinuxOnly }
func (s *Server) Addrs() []net.Addr                  { return nil }
func (s *Server) MaxConns() int                      { return 0 }
func (s *Server) Stats() Stats                       { return Stats{} }
func (s *Server) Shutdown(ctx context.Context) error { return nil }
