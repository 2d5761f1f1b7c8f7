package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A batch runs the checks due in one slot together, on one goroutine:
// non-blocking sockets, one poll(2) over all of them, no goroutine or
// netpoller round trip per check. It costs a third of what net.Dial and a
// goroutine per check did (TestCheckCost).

// inflight is one check of a batch.
type inflight struct {
	p     *probe
	fd    int
	phase uint8 // phConnect, phWrite, phRead, phDone
	out   []byte
	buf   [maxStatusLine]byte
	n     int
	err   error
	end   time.Time // when it was done; zero until then
}

const (
	phConnect = iota
	phWrite
	phRead
	phDone
)

// resolveEvery is how long a backend's looked-up address is used before
// it is looked up again.
const resolveEvery = 30 * time.Second

// runBatch runs the checks of ps, which must not run elsewhere meanwhile,
// and returns their results in order.
func runBatch(ps []*probe) []result {
	start := time.Now()
	fs := make([]inflight, len(ps))
	for i, p := range ps {
		f := &fs[i]
		f.p, f.fd, f.out = p, -1, p.out
		f.start()
	}
	pfds := make([]unix.PollFd, 0, len(fs))
	idx := make([]int, 0, len(fs))
	for {
		pfds, idx = pfds[:0], idx[:0]
		wait := time.Duration(-1)
		now := time.Now()
		for i := range fs {
			f := &fs[i]
			if f.phase == phDone {
				if f.end.IsZero() {
					f.end = now // done by the last poll's events, or at start
				}
				continue
			}
			left := f.p.timeout - now.Sub(start)
			if left <= 0 {
				f.fail(fmt.Errorf("%s: %w", f.op(), os.ErrDeadlineExceeded))
				f.end = now
				continue
			}
			if wait < 0 || left < wait {
				wait = left
			}
			ev := int16(unix.POLLOUT)
			if f.phase == phRead {
				ev = unix.POLLIN
			}
			pfds = append(pfds, unix.PollFd{Fd: int32(f.fd), Events: ev})
			idx = append(idx, i)
		}
		if len(pfds) == 0 {
			break
		}
		ms := int((wait + time.Millisecond - 1) / time.Millisecond)
		n, err := unix.Poll(pfds, ms)
		if err != nil && err != unix.EINTR {
			for _, i := range idx {
				fs[i].fail(fmt.Errorf("poll: %w", err))
			}
			break
		}
		for k := 0; k < len(pfds) && n > 0; k++ {
			if pfds[k].Revents != 0 {
				fs[idx[k]].ready(pfds[k].Revents)
			}
		}
	}
	rs := make([]result, len(fs))
	for i := range fs {
		f := &fs[i]
		if f.fd >= 0 {
			// Reset rather than close, as HAProxy's checks do: no FIN
			// handshake, no TIME_WAIT socket per check.
			unix.SetsockoptLinger(f.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
			unix.Close(f.fd)
		}
		if f.end.IsZero() {
			f.end = time.Now() // poll(2) failed
		}
		// Each check's own time, not the batch's: a backend that times
		// out must not make the others of its batch look slow.
		rs[i] = result{endpoint: f.p.endpoint, err: f.err, took: f.end.Sub(start), at: f.end}
		if f.err != nil {
			rs[i].err = fmt.Errorf("health check %s: %w", f.p.endpoint, f.err)
		}
	}
	return rs
}

// op names what f was doing, for its error.
func (f *inflight) op() string {
	switch f.phase {
	case phConnect:
		return "dial " + f.p.network + " " + f.p.address
	case phWrite:
		return "write"
	}
	return fmt.Sprintf("GET %s: read status line", f.p.check.Path)
}

func (f *inflight) fail(err error) { f.phase, f.err = phDone, err }

// start opens f's socket and starts connecting.
func (f *inflight) start() {
	sa, err := f.p.sockaddr()
	if err != nil {
		f.fail(fmt.Errorf("%s: %w", f.op(), err))
		return
	}
	family := unix.AF_UNIX
	switch sa.(type) {
	case *unix.SockaddrInet4:
		family = unix.AF_INET
	case *unix.SockaddrInet6:
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		f.fail(fmt.Errorf("%s: socket: %w", f.op(), err))
		return
	}
	f.fd = fd
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		f.fail(fmt.Errorf("%s: %w", f.op(), err))
		return
	}
	switch err := unix.Connect(fd, sa); err {
	case nil:
		f.connected()
	case unix.EINPROGRESS:
		// poll(2) says when it is done
	default: // EAGAIN included: a UNIX socket's full accept queue
		f.fail(fmt.Errorf("%s: connect: %w", f.op(), err))
	}
}

// ready moves f on after poll(2) reported its socket with revents.
func (f *inflight) ready(revents int16) {
	switch f.phase {
	case phConnect:
		if revents&(unix.POLLERR|unix.POLLHUP) == 0 {
			// Writable without an error or hangup: established, no
			// SO_ERROR to ask (a system call less per check).
			f.connected()
			return
		}
		errno, err := unix.GetsockoptInt(f.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			err = unix.Errno(errno)
		}
		if err != nil {
			f.fail(fmt.Errorf("%s: connect: %w", f.op(), err))
			return
		}
		f.connected()
	case phWrite:
		f.write()
	case phRead:
		f.read()
	}
}

// connected sends what the check sends, if anything.
func (f *inflight) connected() {
	if len(f.out) == 0 {
		f.phase = phDone
		return
	}
	f.phase = phWrite
	f.write()
}

func (f *inflight) write() {
	n, err := unix.Write(f.fd, f.out)
	if err == unix.EAGAIN {
		return
	}
	if err != nil {
		f.fail(fmt.Errorf("write: %w", err))
		return
	}
	if f.out = f.out[n:]; len(f.out) > 0 {
		return
	}
	if f.p.check.Kind != HTTP {
		f.phase = phDone
		return
	}
	f.phase = phRead
}

// read reads the status line (RFC 9112 §4) and judges it.
func (f *inflight) read() {
	n, err := unix.Read(f.fd, f.buf[f.n:])
	switch {
	case err == unix.EAGAIN:
		return
	case err != nil:
		f.fail(fmt.Errorf("%s: %w", f.op(), err))
		return
	case n == 0:
		f.fail(fmt.Errorf("%s: %w", f.op(), errors.New("EOF")))
		return
	}
	f.n += n
	end := bytes.IndexByte(f.buf[:f.n], '\n')
	if end < 0 {
		if f.n == len(f.buf) {
			f.fail(fmt.Errorf("GET %s: status line longer than %d bytes", f.p.check.Path, maxStatusLine))
		}
		return
	}
	line := f.buf[:end+1]
	code, ok := parseStatusLine(line)
	switch {
	case !ok:
		f.fail(fmt.Errorf("GET %s: malformed status line %q", f.p.check.Path, line))
	case code < 200 || code >= 400:
		f.fail(fmt.Errorf("GET %s: %w %d", f.p.check.Path, errStatus, code))
	default:
		f.phase = phDone
	}
}

// sockaddr returns where to connect: a UNIX path, an IP address, or an
// address a host name resolves to (IPv4 first), looked up again every
// resolveEvery (while a lookup fails, the last address found stays).
func (p *probe) sockaddr() (unix.Sockaddr, error) {
	if p.network == "unix" {
		return &unix.SockaddrUnix{Name: p.address}, nil
	}
	if p.sa != nil && (p.literal || time.Since(p.resolved) < resolveEvery) {
		return p.sa, nil
	}
	host, port, err := net.SplitHostPort(p.address)
	if err != nil {
		return nil, err
	}
	portNum, err := net.LookupPort("tcp", port)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err == nil {
		p.literal = true
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		defer cancel()
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		switch {
		case lerr != nil && p.sa != nil:
			return p.sa, nil
		case lerr != nil:
			return nil, lerr
		case len(ips) == 0:
			return nil, fmt.Errorf("lookup %s: no address", host)
		}
		// IPv4 first, as the engine (and net.ResolveTCPAddr) prefers it.
		ip = ips[0]
		for _, a := range ips {
			if a.Unmap().Is4() {
				ip = a
				break
			}
		}
		p.resolved = time.Now()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		p.sa = &unix.SockaddrInet4{Addr: ip.As4(), Port: portNum}
	} else {
		p.sa = &unix.SockaddrInet6{Addr: ip.As16(), Port: portNum}
	}
	return p.sa, nil
}
