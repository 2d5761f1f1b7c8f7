//go:build !linux

package engine

// KeepSocketFiles does nothing on this system: New never returns a Server.
func (s *Server) KeepSocketFiles(keep bool) {}
