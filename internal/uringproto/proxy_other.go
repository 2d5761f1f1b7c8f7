//go:build !linux

package uringproto

import "errors"

// Config is what Start needs (see the Linux build).
type Config struct {
	Listen       string
	Backends     []string
	Loops        int
	MaxConns     int
	BufSize      int
	Bufs         int
	SockJSPrefix string
	Epoll        bool
}

// Stats are the prototype's counters (see the Linux build).
type Stats struct{ Enters, CQEs, Accepted, Recvs uint64 }

// Proxy is never started off Linux.
type Proxy struct{}

var errNotLinux = errors.New("uringproto: io_uring needs Linux")

// Available reports that io_uring is missing.
func Available() error { return errNotLinux }

// Start fails: io_uring is Linux's.
func Start(Config) (*Proxy, error) { return nil, errNotLinux }

func (*Proxy) Addr() string          { return "" }
func (*Proxy) Done() <-chan struct{} { return nil }
func (*Proxy) Err() error            { return errNotLinux }
func (*Proxy) Stats() Stats          { return Stats{} }
func (*Proxy) Close() error          { return nil }
