//go:build linux

package engine

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptedNoDelay: the client sockets the loops accept have
// TCP_NODELAY without a setsockopt of their own, from the listeners
// listenTCP opens and from inherited ones (a service manager's socket
// need not have it), since Linux copies it from the listener.
func TestAcceptedNoDelay(t *testing.T) {
	ta := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	own, err := listenTCP(ta, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(own)

	// An inherited socket as a service manager makes it: no TCP_NODELAY.
	inherited, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(inherited)
	if err := unix.Bind(inherited, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(inherited, 16); err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{Loops: 1}}
	if err := s.completeTCP(&listener{spec: "127.0.0.1:0", fds: []int{inherited}}); err != nil {
		t.Fatal(err)
	}

	for name, lfd := range map[string]int{"listenTCP": own, "inherited": inherited} {
		sa, err := unix.Getsockname(lfd)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", sockaddrToAddr(sa).String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fd := acceptWithin(t, lfd, 5*time.Second)
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		unix.Close(fd)
		c.Close()
		if err != nil || v == 0 {
			t.Errorf("%s: accepted socket TCP_NODELAY = %d, %v; want it set", name, v, err)
		}
	}
}

// acceptWithin accepts one connection on the non-blocking listener lfd.
func acceptWithin(t *testing.T, lfd int, d time.Duration) int {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, int(d/time.Millisecond)); n != 1 || err != nil {
		t.Fatalf("poll listener: %d, %v", n, err)
	}
	fd, _, err := accept4(lfd)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}
