//go:build !linux

package engine

import "github.com/l4lb/l4lb/affinity"

// BackendDown does nothing: on this system there are no loops.
func (s *Server) BackendDown(m *affinity.Member) {}
