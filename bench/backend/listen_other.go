//go:build !linux

package main

import "net"

// listenBacklog listens on addr with the system's accept queue: the
// backlog is only set on Linux, where the harness runs its faults.
func listenBacklog(addr string, backlog int) (net.Listener, error) {
	return net.Listen("tcp", addr)
}
