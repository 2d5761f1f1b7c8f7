package engine

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenBacklog is the accept queue length asked of the kernel (capped by
// net.core.somaxconn).
const listenBacklog = 4096

// listener is one configured address: for TCP one SO_REUSEPORT socket per
// loop (the kernel spreads new connections over them), for a UNIX path one
// socket shared by every loop with EPOLLEXCLUSIVE (a path can be bound
// only once).
type listener struct {
	spec string
	addr net.Addr
	unix bool
	fds  []int // TCP: fds[i] belongs to loop i; UNIX: fds[0] for all
}

func isUnixSpec(s string) bool { return strings.Contains(s, "/") }

// listen opens the sockets of one address for n loops.
func listen(spec string, n int) (*listener, error) {
	ln := &listener{spec: spec}
	if isUnixSpec(spec) {
		ln.unix = true
		fd, err := listenUnix(spec)
		if err != nil {
			return nil, fmt.Errorf("listen unix %s: %w", spec, err)
		}
		ln.fds = []int{fd}
		ln.addr = &net.UnixAddr{Net: "unix", Name: spec}
		return ln, nil
	}
	ta, err := net.ResolveTCPAddr("tcp", spec)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", spec, err)
	}
	for i := 0; i < n; i++ {
		fd, err := listenTCP(ta)
		if err != nil {
			ln.close()
			return nil, fmt.Errorf("listen tcp %s: %w", spec, err)
		}
		ln.fds = append(ln.fds, fd)
		if i == 0 {
			sa, err := unix.Getsockname(fd)
			if err != nil {
				ln.close()
				return nil, fmt.Errorf("listen tcp %s: getsockname: %w", spec, err)
			}
			ln.addr = sockaddrToAddr(sa)
			// Port 0: the other loops' sockets join the port the
			// kernel picked for the first.
			ta = ln.addr.(*net.TCPAddr)
		}
	}
	return ln, nil
}

func listenTCP(ta *net.TCPAddr) (int, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s := &unix.SockaddrInet4{Port: ta.Port}
		if ip4 != nil {
			copy(s.Addr[:], ip4)
		}
		sa = s
	} else {
		family = unix.AF_INET6
		s := &unix.SockaddrInet6{Port: ta.Port}
		copy(s.Addr[:], ta.IP.To16())
		sa = s
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

func listenUnix(path string) (int, error) {
	// Remove a stale socket left by a previous run, never a regular file.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// fdFor returns the listening fd loop i polls.
func (ln *listener) fdFor(i int) int {
	if ln.unix {
		return ln.fds[0]
	}
	return ln.fds[i]
}

// close closes every socket and removes a UNIX socket file. Loops must have
// stopped polling the sockets first.
func (ln *listener) close() {
	for _, fd := range ln.fds {
		unix.Close(fd)
	}
	ln.fds = nil
	if ln.unix {
		os.Remove(ln.spec)
	}
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Net: "unix", Name: a.Name}
	}
	return nil
}

func isErrno(err error, e syscall.Errno) bool { return err == e }
