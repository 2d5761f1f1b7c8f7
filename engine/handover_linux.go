package engine

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Listening sockets another process opened, and handing this server's to
// the next one (Config.Sockets, Config.Inherited; "Upgrades" in doc.go).

// openListener returns spec's listener: the sockets the previous process
// handed over in Config.Sockets, else the service manager's socket for
// the same address in Config.Inherited, else new sockets. Every socket
// that Config.Sockets does not hold yet is then recorded there for the
// next process.
func (s *Server) openListener(spec string) (*listener, error) {
	ln, taken, err := s.takeOver(spec)
	if err == nil && ln == nil {
		ln, err = s.takeInherited(spec)
	}
	if err == nil && ln == nil {
		ln, err = listen(spec, s.cfg.Loops)
	}
	if err != nil {
		return nil, err
	}
	if err := s.record(ln, taken); err != nil {
		ln.close(!s.keepFiles)
		return nil, err
	}
	return ln, nil
}

// takeOver takes spec's sockets from Config.Sockets; taken is how many of
// ln.fds came from there. It returns a nil listener if there are none.
func (s *Server) takeOver(spec string) (ln *listener, taken int, err error) {
	if s.cfg.Sockets == nil {
		return nil, 0, nil
	}
	if isUnixSpec(spec) {
		for _, kept := range []bool{false, true} {
			name := unixSocketName(spec)
			if kept {
				name = keptUnixSocketName(spec)
			}
			fd, err := s.takeFile(name)
			if err != nil || fd < 0 {
				if err != nil {
					return nil, 0, fmt.Errorf("listen unix %s: %w", spec, err)
				}
				continue
			}
			ln := &listener{spec: spec, unix: true, shared: true, kept: kept, fds: []int{fd},
				addr: &net.UnixAddr{Net: "unix", Name: spec}}
			if !kept {
				// The path names the socket file the previous process
				// bound, unless someone replaced or removed it since.
				if fi, err := os.Lstat(spec); err != nil || fi.Mode()&os.ModeSocket == 0 {
					s.log.Warn("inherited UNIX socket has no socket file at its path; clients cannot reach it", "listener", spec)
				} else {
					ln.file, _ = statFile(spec)
				}
			}
			return ln, 1, nil
		}
		return nil, 0, nil
	}
	ln = &listener{spec: spec}
	for i := 0; ; i++ {
		fd, err := s.takeFile(tcpSocketName(spec, i))
		if err != nil {
			ln.close(false)
			return nil, 0, fmt.Errorf("listen tcp %s: %w", spec, err)
		}
		if fd < 0 {
			break
		}
		ln.fds = append(ln.fds, fd)
	}
	if len(ln.fds) == 0 {
		return nil, 0, nil
	}
	taken = len(ln.fds)
	if err := s.completeTCP(ln); err != nil {
		ln.close(false)
		return nil, 0, err
	}
	return ln, taken, nil
}

// takeFile takes the socket recorded under name from Config.Sockets and
// returns its descriptor, or -1 if there is none.
func (s *Server) takeFile(name string) (int, error) {
	f, err := s.cfg.Sockets.File(name)
	if err != nil || f == nil {
		return -1, err
	}
	defer f.Close()
	fd, err := dupListener(f)
	if err != nil {
		return -1, fmt.Errorf("inherited socket %q: %w", name, err)
	}
	return fd, nil
}

// takeInherited finds spec's socket among Config.Inherited by its bound
// address, or returns nil. The service manager keeps its own copy.
func (s *Server) takeInherited(spec string) (*listener, error) {
	for i, f := range s.cfg.Inherited {
		if f == nil || s.inheritedUsed[i] {
			continue
		}
		fd, err := dupListener(f)
		if err != nil {
			continue // not a listening stream socket: not ours to serve
		}
		sa, err := unix.Getsockname(fd)
		if err != nil || !specMatches(spec, sa) {
			unix.Close(fd)
			continue
		}
		s.inheritedUsed[i] = true
		ln := &listener{spec: spec, fds: []int{fd}}
		if isUnixSpec(spec) {
			ln.unix, ln.shared, ln.kept = true, true, true
			ln.addr = &net.UnixAddr{Net: "unix", Name: spec}
			return ln, nil
		}
		if err := s.completeTCP(ln); err != nil {
			ln.close(false)
			return nil, err
		}
		return ln, nil
	}
	return nil, nil
}

// specMatches reports whether a socket bound to sa serves the Listen
// address spec: the same UNIX path, or the address and port listenTCP
// would bind for spec.
func specMatches(spec string, sa unix.Sockaddr) bool {
	if isUnixSpec(spec) {
		u, ok := sa.(*unix.SockaddrUnix)
		if !ok {
			return false
		}
		want, err := filepath.Abs(spec)
		return err == nil && filepath.Clean(u.Name) == want
	}
	ta, err := net.ResolveTCPAddr("tcp", spec)
	if err != nil || ta.Port == 0 {
		return false
	}
	_, want, _ := tcpSockaddr(ta)
	return want != nil && sameAddr(want, sa)
}

// completeTCP finishes a TCP listener built of inherited sockets: its
// address, and how the loops share them. Sockets with SO_REUSEPORT are
// per-loop sockets; if there are fewer than loops, more are opened beside
// them. A socket without it (a port-0 listener, or the service manager's
// default) is polled by every loop.
func (s *Server) completeTCP(ln *listener) error {
	sa, err := unix.Getsockname(ln.fds[0])
	if err != nil {
		return fmt.Errorf("listen tcp %s: inherited socket: %w", ln.spec, os.NewSyscallError("getsockname", err))
	}
	ln.addr = sockaddrToAddr(sa)
	// Accepted sockets inherit TCP_NODELAY from their listener (listenTCP);
	// a socket the service manager made may not have it yet.
	for _, fd := range ln.fds {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("listen tcp %s: inherited socket: %w", ln.spec, os.NewSyscallError("setsockopt TCP_NODELAY", err))
		}
	}
	reuse, err := unix.GetsockoptInt(ln.fds[0], unix.SOL_SOCKET, unix.SO_REUSEPORT)
	if err != nil || reuse == 0 {
		ln.shared = true
		return nil
	}
	if len(ln.fds) >= s.cfg.Loops {
		return nil
	}
	ta, err := net.ResolveTCPAddr("tcp", ln.spec)
	if err != nil {
		return fmt.Errorf("listen tcp %s: %w", ln.spec, err)
	}
	for len(ln.fds) < s.cfg.Loops {
		fd, err := listenTCP(ta, true)
		if err != nil {
			return fmt.Errorf("listen tcp %s: %w", ln.spec, err)
		}
		ln.fds = append(ln.fds, fd)
	}
	return nil
}

// record gives Config.Sockets a copy of each of ln's sockets from index
// taken on (the ones it does not hold yet).
func (s *Server) record(ln *listener, taken int) error {
	if s.cfg.Sockets == nil {
		return nil
	}
	for i := taken; i < len(ln.fds); i++ {
		name := tcpSocketName(ln.spec, i)
		switch {
		case ln.unix && ln.kept:
			name = keptUnixSocketName(ln.spec)
		case ln.unix:
			name = unixSocketName(ln.spec)
		}
		dup, err := unix.FcntlInt(uintptr(ln.fds[i]), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("listen %s: hand over: %w", ln.spec, os.NewSyscallError("fcntl", err))
		}
		f := os.NewFile(uintptr(dup), name)
		err = s.cfg.Sockets.AddFile(name, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("listen %s: hand over: %w", ln.spec, err)
		}
	}
	return nil
}

// dupListener returns a non-blocking, close-on-exec duplicate of f's
// descriptor if f is a listening stream socket. It does not use f.Fd,
// which would put the shared file description in blocking mode.
func dupListener(f *os.File) (int, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(u uintptr) {
		fd, derr = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	typ, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	acc, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err1 != nil || err2 != nil || typ != unix.SOCK_STREAM || acc == 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not a listening stream socket", f.Name())
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}

// KeepSocketFiles sets whether Shutdown (and a failing Start) leaves the
// files of UNIX-socket listeners in place. Set it while another process
// serves the same sockets: the new process of an upgrade until it is
// ready, the old one once it has handed them over. By default the files a
// server bound or took over are removed (the service manager's never are).
// Safe for concurrent use.
func (s *Server) KeepSocketFiles(keep bool) {
	s.mu.Lock()
	s.keepFiles = keep
	s.mu.Unlock()
}
