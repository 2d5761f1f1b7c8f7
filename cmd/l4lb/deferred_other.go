//go:build !linux

package main

import (
	"os"

	"github.com/cloudflare/tableflip"
)

// deferredSockets is the engine's Config.Sockets under tableflip. Off
// Linux the engine serves nothing (engine.New fails), so this only keeps
// the command building: sockets go to tableflip as they come.
type deferredSockets struct{ fds *tableflip.Fds }

func newDeferredSockets(fds *tableflip.Fds) (*deferredSockets, error) {
	return &deferredSockets{fds: fds}, nil
}

func (d *deferredSockets) File(name string) (*os.File, error)    { return d.fds.File(name) }
func (d *deferredSockets) AddFile(name string, f *os.File) error { return d.fds.AddFile(name, f) }
func (d *deferredSockets) offer() error                          { return nil }
func (d *deferredSockets) closeUnused()                          {}
func (d *deferredSockets) close()                                {}
