package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"
)

// deferredSockets is the engine's Config.Sockets under tableflip: it
// hands the engine's listening sockets to tableflip only when an upgrade
// starts. tableflip keeps what it is given as an *os.File, and os.NewFile
// registers a non-blocking socket with the Go runtime's poller, edge
// triggered: every connection the engine's loops accept would then also
// wake the runtime's idle thread, for nothing (with one loop, about a
// sixth of the balancer's CPU per connection; bench/README.md, "The
// listening socket in Go's poller"). Until then the copies are plain
// descriptors that nothing polls.
//
// A process started by an upgrade still has that registration: tableflip
// opens what it inherits as *os.File before serve runs, and keeps the
// ones taken for the next upgrade.
type deferredSockets struct {
	fds *tableflip.Fds

	mu      sync.Mutex
	pending []pendingSocket // recorded, not yet handed to tableflip
	flushed bool            // an upgrade started: record straight through
}

// pendingSocket is a recorded socket's name and its own descriptor.
type pendingSocket struct {
	name string
	fd   int
}

// File returns the socket the previous process handed over under name.
func (d *deferredSockets) File(name string) (*os.File, error) { return d.fds.File(name) }

// AddFile keeps a copy of f's descriptor, handed to tableflip by flush.
func (d *deferredSockets) AddFile(name string, f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("record socket %s: %w", name, err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(u uintptr) { fd, dupErr = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return fmt.Errorf("record socket %s: %w", name, err)
	}
	if dupErr != nil {
		return fmt.Errorf("record socket %s: %w", name, os.NewSyscallError("fcntl", dupErr))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.flushed {
		return d.hand(pendingSocket{name, fd})
	}
	d.pending = append(d.pending, pendingSocket{name, fd})
	return nil
}

// flush hands the recorded sockets to tableflip; serve calls it before
// an upgrade. After a failed upgrade they stay with tableflip (and in the
// runtime's poller) for the next attempt.
func (d *deferredSockets) flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flushed = true
	for len(d.pending) > 0 {
		if err := d.hand(d.pending[0]); err != nil {
			return err
		}
		d.pending = d.pending[1:]
	}
	return nil
}

// close closes the copies not handed over: once upgrades end (the
// process drains or stops), nothing may keep the listening sockets open.
func (d *deferredSockets) close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.pending {
		unix.Close(p.fd)
	}
	d.pending = nil
}

// hand gives tableflip a copy of p and closes p's descriptor.
func (d *deferredSockets) hand(p pendingSocket) error {
	f := os.NewFile(uintptr(p.fd), p.name)
	defer f.Close()
	if err := d.fds.AddFile(p.name, f); err != nil {
		return fmt.Errorf("hand over socket %s: %w", p.name, err)
	}
	return nil
}
