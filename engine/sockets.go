package engine

import (
	"os"
	"strconv"
)

// Sockets passes listening sockets from one process to the next, so that
// a new process of the balancer takes over its addresses without a moment
// in which a connection is refused (see "Upgrades" in doc.go).
// *tableflip.Fds (github.com/cloudflare/tableflip) satisfies it.
type Sockets interface {
	// File returns the socket the previous process recorded under name,
	// or nil, nil if there is none. The caller owns the returned file; the
	// socket stays recorded for the next process.
	File(name string) (*os.File, error)
	// AddFile records a copy of f under name for the next process; the
	// caller keeps f.
	AddFile(name string, f *os.File) error
}

// Names under which a Server records its sockets in Sockets. A TCP
// address with a fixed port has one SO_REUSEPORT socket per loop, named
// by the loop's index; a UNIX path or a TCP port 0 has one socket, index
// 0. A UNIX socket that came from the service manager (Config.Inherited)
// is recorded under its own name, so that no later process removes its
// file either.
func tcpSocketName(spec string, i int) string { return "l4lb tcp " + spec + " " + strconv.Itoa(i) }
func unixSocketName(spec string) string       { return "l4lb unix " + spec }
func keptUnixSocketName(spec string) string   { return "l4lb unix-kept " + spec }
