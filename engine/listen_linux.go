package engine

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenBacklog is the accept queue length asked of the kernel (capped by
// net.core.somaxconn).
const listenBacklog = 4096

// listener is one configured address. A TCP address with a fixed port
// gets one SO_REUSEPORT socket per loop (the kernel spreads new
// connections over them, and another l4lb process may bind the same port
// for a restart). A UNIX path, which can be bound only once, and a TCP
// address with port 0 get one socket that every loop polls with
// EPOLLEXCLUSIVE: port 0 asks for a port of our own, and SO_REUSEPORT
// would let the kernel's automatic port choice land on a port another
// SO_REUSEPORT socket of the same user already listens on.
//
// A listener may also hold sockets another process opened (handover_linux.go):
// a previous l4lb's per-loop sockets, however many loops it had, or the
// service manager's.
type listener struct {
	spec   string
	addr   net.Addr
	unix   bool
	shared bool   // one socket polled by every loop
	fds    []int  // per loop (loop i polls fds[j] for j ≡ i mod loops), or fds[0] for all when shared
	file   fileID // the UNIX socket file, removed on close if the path still names it; zero: never removed
	kept   bool   // the service manager's UNIX socket: its file is never removed
}

// fileID names a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func isUnixSpec(s string) bool { return strings.Contains(s, "/") }

// listen opens the sockets of one address for n loops.
func listen(spec string, n int) (*listener, error) {
	ln := &listener{spec: spec}
	if isUnixSpec(spec) {
		ln.unix, ln.shared = true, true
		fd, file, err := listenUnix(spec)
		if err != nil {
			return nil, fmt.Errorf("listen unix %s: %w", spec, err)
		}
		ln.fds, ln.file = []int{fd}, file
		ln.addr = &net.UnixAddr{Net: "unix", Name: spec}
		return ln, nil
	}
	ta, err := net.ResolveTCPAddr("tcp", spec)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", spec, err)
	}
	if ta.Port == 0 {
		ln.shared = true
		n = 1
	}
	for i := 0; i < n; i++ {
		fd, err := listenTCP(ta, !ln.shared)
		if err != nil {
			ln.close(true)
			return nil, fmt.Errorf("listen tcp %s: %w", spec, err)
		}
		ln.fds = append(ln.fds, fd)
		if i == 0 {
			sa, err := unix.Getsockname(fd)
			if err != nil {
				ln.close(true)
				return nil, fmt.Errorf("listen tcp %s: getsockname: %w", spec, err)
			}
			ln.addr = sockaddrToAddr(sa)
		}
	}
	return ln, nil
}

// listenTCP opens a listening socket for ta. Like Go's
// net.Listen("tcp", ":P"), an empty host and the IPv6 wildcard [::] get
// one dual-stack socket (AF_INET6 with IPV6_V6ONLY off) that accepts IPv6
// clients and IPv4 clients, the latter as IPv4-mapped addresses (peerIP
// and sockaddrToAddr unmap them). Unlike Go, 0.0.0.0 stays IPv4-only, and
// any other IPv6 address is IPv6-only. On a host without IPv6, an empty
// host listens on every IPv4 address.
func listenTCP(ta *net.TCPAddr, reusePort bool) (int, error) {
	family, sa, dualStack := tcpSockaddr(ta)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err == unix.EAFNOSUPPORT && ta.IP == nil {
		family, sa, dualStack = unix.AF_INET, &unix.SockaddrInet4{Port: ta.Port}, false
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// TCP_NODELAY on the listener: Linux copies it to every socket
	// accept4 returns, which saves a setsockopt per client connection.
	opts := [][3]int{{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1}, {unix.IPPROTO_TCP, unix.TCP_NODELAY, 1}}
	if reusePort {
		opts = append(opts, [3]int{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1})
	}
	if family == unix.AF_INET6 {
		// Set either way: the default follows net.ipv6.bindv6only.
		v6only := 1
		if dualStack {
			v6only = 0
		}
		opts = append(opts, [3]int{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
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

// tcpSockaddr is the socket family and address listenTCP binds for ta,
// and whether the socket is dual-stack (see listenTCP).
func tcpSockaddr(ta *net.TCPAddr) (family int, sa unix.Sockaddr, dualStack bool) {
	if ta.IP == nil {
		return unix.AF_INET6, &unix.SockaddrInet6{Port: ta.Port}, true
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		s := &unix.SockaddrInet4{Port: ta.Port}
		copy(s.Addr[:], ip4)
		return unix.AF_INET, s, false
	}
	s := &unix.SockaddrInet6{Port: ta.Port}
	copy(s.Addr[:], ta.IP.To16())
	return unix.AF_INET6, s, ta.IP.IsUnspecified()
}

// listenUnix binds and listens on a UNIX socket at path and returns the
// socket and the file bind created, which close removes only if the path
// still names it.
//
// A socket file already at path is removed first, whether a crashed run
// left it or a running process still listens on it: that is how a new
// process takes over the path for a restart (new connections reach the new
// process, the old one drains the ones it has). A path that is not a
// socket is left alone, and bind then fails.
func listenUnix(path string) (int, fileID, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fileID{}, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fileID{}, os.NewSyscallError("bind", err)
	}
	// The bound socket holds the file's inode until it is closed, so
	// another file at path cannot get the same numbers meanwhile.
	file, err := statFile(path)
	if err == nil {
		err = os.NewSyscallError("listen", unix.Listen(fd, listenBacklog))
	}
	if err != nil {
		unix.Close(fd)
		removeFile(path, file)
		return -1, fileID{}, err
	}
	return fd, file, nil
}

// statFile names the file at path, a symbolic link itself.
func statFile(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileID{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// removeFile removes path if it still names file.
func removeFile(path string, file fileID) {
	if file == (fileID{}) {
		return
	}
	if now, err := statFile(path); err == nil && now == file {
		os.Remove(path)
	}
}

// fdsFor returns the listening fds loop i of n polls: the shared socket,
// or the per-loop sockets whose index is i modulo n (a process that
// inherited more sockets than it has loops polls them all: a socket nobody
// polls would hold the connections the kernel queues on it).
func (ln *listener) fdsFor(i, n int) []int {
	if ln.shared {
		return ln.fds[:1]
	}
	var fds []int
	for j := i; j < len(ln.fds); j += n {
		fds = append(fds, ln.fds[j])
	}
	return fds
}

// close closes every socket. With remove, it also removes a UNIX socket
// file if the path still names the file this listener bound or inherited;
// a process started since may have replaced it with its own (see
// listenUnix), which must stay reachable. Loops must have stopped polling
// the sockets first.
func (ln *listener) close(remove bool) {
	if remove && ln.unix && !ln.kept && ln.fds != nil {
		removeFile(ln.spec, ln.file) // before close: the socket pins the inode
	}
	for _, fd := range ln.fds {
		unix.Close(fd)
	}
	ln.fds = nil
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		// An IPv4 client of a dual-stack listener, and the address it
		// connected to, come as IPv4-mapped IPv6: give them as IPv4, as
		// the client knows them (in logs and the PROXY header).
		ip := netip.AddrFrom16(a.Addr).Unmap()
		return &net.TCPAddr{IP: ip.AsSlice(), Port: a.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Net: "unix", Name: a.Name}
	}
	return nil
}

func isErrno(err error, e syscall.Errno) bool { return err == e }

// accept4 is unix.Accept4 without the getsockopt(SO_PROTOCOL) that
// x/sys/unix makes on the listening socket at every accept (to tell L2TP
// sockets apart, which a TCP or UNIX listener never is): one system call
// less per connection.
func accept4(lfd int) (int, unix.Sockaddr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, nil, errno
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		port := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return int(fd), &unix.SockaddrInet4{Addr: pp.Addr, Port: int(port[0])<<8 | int(port[1])}, nil
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		port := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return int(fd), &unix.SockaddrInet6{Addr: pp.Addr, Port: int(port[0])<<8 | int(port[1]), ZoneId: pp.Scope_id}, nil
	}
	return int(fd), &unix.SockaddrUnix{}, nil
}
