package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Socket activation: systemd (or systemd-socket-activate) opens the
// listening sockets of a .socket unit and starts the service with them as
// descriptors 3, 4, ..., saying so in LISTEN_FDS (how many), LISTEN_PID
// (for which process) and LISTEN_FDNAMES (their FileDescriptorName=,
// colon-separated). See sd_listen_fds(3).

// listenFdsStart is SD_LISTEN_FDS_START, the first passed descriptor.
const listenFdsStart = 3

// activationSocket is one listening socket systemd passed.
type activationSocket struct {
	file *os.File
	name string // its FileDescriptorName=, or "" if none was given
	spec string // its address as --listen spells it: host:port or a UNIX path
}

// activationSockets returns the sockets systemd passed to this process,
// and unsets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES so that a process
// started from this one (an upgrade) does not take them for its own: it
// gets them through the hand-over instead. Without the variables, or when
// they name another process, it returns nothing.
func activationSockets() ([]activationSocket, error) {
	defer func() {
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, nil
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	var out []activationSocket
	for i := 0; i < n; i++ {
		fd := listenFdsStart + i
		syscall.CloseOnExec(fd)
		s := activationSocket{file: os.NewFile(uintptr(fd), "LISTEN_FDS "+strconv.Itoa(fd))}
		if i < len(names) {
			s.name = names[i]
		}
		s.spec, err = socketSpec(fd)
		if err != nil {
			return nil, fmt.Errorf("socket activation: descriptor %d (%q): %w", fd, s.name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// socketSpec is the --listen spelling of the address fd is bound to.
func socketSpec(fd int) (string, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return "", fmt.Errorf("getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	case *syscall.SockaddrUnix:
		if !strings.Contains(a.Name, "/") {
			return "", fmt.Errorf("UNIX socket %q: want a path", a.Name)
		}
		return a.Name, nil
	}
	return "", fmt.Errorf("not a TCP or UNIX socket")
}
