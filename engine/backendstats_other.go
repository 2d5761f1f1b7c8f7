//go:build !linux

package engine

// BackendStats returns nil: on this system there is no Server to count.
func (s *Server) BackendStats() []BackendStats { return nil }
