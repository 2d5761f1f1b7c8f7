//go:build linux

package engine

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// settled returns pollNow's answer for fd once the connect has finished:
// on loopback it usually has by the time connect returns, but a loaded
// machine may run the handshake a little later.
func settled(t *testing.T, l *loop, fd int) int16 {
	t.Helper()
	if ev := l.pollNow(fd); ev != 0 {
		return ev
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if n, err := unix.Poll(pfd, 5000); err != nil || n == 0 {
		t.Fatalf("connect not finished within 5 s: %v", err)
	}
	return l.pollNow(fd)
}

// TestPollNow checks the three answers connecting relies on, right after
// a non-blocking connect(2) on loopback: established (writable, no error:
// no SO_ERROR asked), refused (error or hangup: SO_ERROR names it), and
// still in progress (0: wait for EPOLLOUT).
func TestPollNow(t *testing.T) {
	l := &loop{}
	connectTo := func(t *testing.T, endpoint string) (fd int, err error) {
		t.Helper()
		ap := netip.MustParseAddrPort(endpoint[len("tcp://"):])
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd, unix.Connect(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())})
	}

	t.Run("established", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		fd, err := connectTo(t, "tcp://"+ln.Addr().String())
		if err != nil && err != unix.EINPROGRESS {
			t.Fatalf("connect: %v", err)
		}
		ev := settled(t, l, fd)
		if ev&unix.POLLOUT == 0 || ev&(unix.POLLERR|unix.POLLHUP) != 0 {
			t.Fatalf("pollNow = %#x; want POLLOUT alone", ev)
		}
	})

	t.Run("refused", func(t *testing.T) {
		fd, err := connectTo(t, refusingEndpoint(t))
		if err == unix.ECONNREFUSED {
			t.Skip("connect failed at once; dialAddr reports that itself")
		}
		if err != unix.EINPROGRESS {
			t.Fatalf("connect: %v", err)
		}
		ev := settled(t, l, fd)
		if ev&(unix.POLLERR|unix.POLLHUP) == 0 {
			t.Fatalf("pollNow = %#x; want POLLERR or POLLHUP", ev)
		}
		if errno, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); unix.Errno(errno) != unix.ECONNREFUSED {
			t.Fatalf("SO_ERROR = %v; want ECONNREFUSED", unix.Errno(errno))
		}
	})

	t.Run("in progress", func(t *testing.T) {
		fd, err := connectTo(t, blackhole(t))
		if err != unix.EINPROGRESS {
			t.Fatalf("connect: %v", err)
		}
		if ev := l.pollNow(fd); ev != 0 {
			t.Fatalf("pollNow = %#x; want 0 while the SYN goes unanswered", ev)
		}
	})
}
