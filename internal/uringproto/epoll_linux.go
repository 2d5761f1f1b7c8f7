//go:build linux

package uringproto

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// eloop is the control: the same proxy (first-request pick, one backend
// connection per client connection, byte forwarding, close on either EOF)
// on a level-triggered epoll loop with read(2) and write(2) on
// non-blocking sockets, as the engine does it. Measured next to loop, it
// separates what io_uring saves from what the prototype leaves out.
type eloop struct {
	lfd, efd, ep int
	bsa          []unix.SockaddrInet4
	prefix       []byte
	rr           int
	maxConns     int
	conns        []econn
	free         []int32
	buf          []byte
	events       []unix.EpollEvent
	stats        Stats // published once per iteration, read by Proxy.Stats
	count        Stats // the loop's own counting
	err          error
}

// econn: side 0 the client, side 1 the backend; pend[d] holds what side d
// sent that side 1-d has not taken yet (reading side d stops meanwhile).
type econn struct {
	gen        uint32 // in every epoll event's data: one for a closed connection is stale
	fd         [2]int
	pend       [2][]byte
	ev         [2]uint32 // registered interest per side
	connecting bool
	open       bool
}

const (
	eListener = -1
	eWake     = -2
)

func (l *eloop) run(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := l.setup(); err != nil {
		l.teardown()
		ready <- err
		return
	}
	ready <- nil
	defer l.teardown()
	for {
		n, err := unix.EpollWait(l.ep, l.events, -1)
		l.count.Enters++
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			l.err = fmt.Errorf("epoll_wait: %w", err)
			return
		}
		for _, e := range l.events[:n] {
			l.count.CQEs++
			switch e.Fd {
			case eWake:
				l.err = errClosed
				return
			case eListener:
				l.accept()
			default:
				l.ready(e.Fd>>1, int(e.Fd&1), uint32(e.Pad), e.Events)
			}
		}
		atomic.StoreUint64(&l.stats.Enters, l.count.Enters)
		atomic.StoreUint64(&l.stats.CQEs, l.count.CQEs)
		atomic.StoreUint64(&l.stats.Accepted, l.count.Accepted)
		atomic.StoreUint64(&l.stats.Recvs, l.count.Recvs)
	}
}

func (l *eloop) base() (*Stats, *int, *error) { return &l.stats, &l.efd, &l.err }

func (l *eloop) setup() error {
	var err error
	if l.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(l.lfd, true); err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	for fd, tag := range map[int]int32{l.lfd: eListener, l.efd: eWake} {
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: tag}); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	l.conns = make([]econn, l.maxConns)
	for i := range l.maxConns {
		l.free = append(l.free, int32(l.maxConns-1-i))
	}
	l.buf = make([]byte, 16384)
	l.events = make([]unix.EpollEvent, 256)
	return nil
}

func (l *eloop) teardown() {
	for i := range l.conns {
		if l.conns[i].open {
			l.close(int32(i))
		}
	}
	unix.Close(l.ep)
	unix.Close(l.lfd)
}

func (l *eloop) accept() {
	for {
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: all taken; others: the next readiness retries
		}
		l.count.Accepted++
		if len(l.free) == 0 {
			unix.Close(fd)
			continue
		}
		slot := l.free[len(l.free)-1]
		l.free = l.free[:len(l.free)-1]
		c := &l.conns[slot]
		*c = econn{gen: c.gen, fd: [2]int{fd, -1}, open: true, pend: c.pend}
		c.ev[0] = unix.EPOLLIN
		unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: slot << 1, Pad: int32(c.gen)})
	}
}

// ready handles readiness of one side: a finished connect, room to write
// what is pending towards it, data to read from it.
func (l *eloop) ready(slot int32, side int, gen, ev uint32) {
	c := &l.conns[slot]
	if !c.open || c.gen != gen {
		return // closed, maybe reused, earlier in this batch of events
	}
	if side == 1 && c.connecting && ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		if e, _ := unix.GetsockoptInt(c.fd[1], unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
			l.close(slot)
			return
		}
		c.connecting = false
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && len(c.pend[1-side]) > 0 && !c.connecting {
		if !l.flush(slot, 1-side) {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 && len(c.pend[side]) == 0 {
		n, err := unix.Read(c.fd[side], l.buf)
		if err == unix.EAGAIN {
			return
		}
		if n <= 0 {
			l.close(slot)
			return
		}
		l.count.Recvs++
		data := l.buf[:n]
		if side == 0 && c.fd[1] < 0 && !l.connect(slot, data) {
			return
		}
		if !(side == 0 && c.connecting) {
			w, err := unix.Write(c.fd[1-side], data)
			if err == unix.EAGAIN {
				w = 0
			} else if err != nil {
				l.close(slot)
				return
			}
			data = data[w:]
		}
		if len(data) > 0 {
			c.pend[side] = append(c.pend[side][:0], data...)
		}
	}
	l.interest(slot)
}

// flush writes direction d's pending bytes to side 1-d; false if the
// connection was closed.
func (l *eloop) flush(slot int32, d int) bool {
	c := &l.conns[slot]
	for len(c.pend[d]) > 0 {
		n, err := unix.Write(c.fd[1-d], c.pend[d])
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.close(slot)
			return false
		}
		c.pend[d] = c.pend[d][n:]
	}
	if len(c.pend[d]) == 0 {
		c.pend[d] = c.pend[d][:0:cap(c.pend[d])]
	}
	l.interest(slot)
	return true
}

func (l *eloop) connect(slot int32, head []byte) bool {
	c := &l.conns[slot]
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.close(slot)
		return false
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c.fd[1] = fd
	b := pick(head, l.prefix, len(l.bsa))
	if b < 0 {
		b = l.rr % len(l.bsa)
		l.rr++
	}
	switch err := unix.Connect(fd, &l.bsa[b]); err {
	case nil:
	case unix.EINPROGRESS:
		c.connecting = true
	default:
		l.close(slot)
		return false
	}
	c.ev[1] = unix.EPOLLOUT
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: slot<<1 | 1, Pad: int32(c.gen)})
	return true
}

// interest registers, per side, EPOLLIN while nothing it sent is pending
// and EPOLLOUT while something for it is (or its connect is under way).
func (l *eloop) interest(slot int32) {
	c := &l.conns[slot]
	for s := range 2 {
		if c.fd[s] < 0 {
			continue
		}
		var want uint32
		if len(c.pend[s]) == 0 && !(s == 1 && c.connecting) {
			want |= unix.EPOLLIN
		}
		if len(c.pend[1-s]) > 0 || (s == 1 && c.connecting) {
			want |= unix.EPOLLOUT
		}
		if want != c.ev[s] {
			c.ev[s] = want
			unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, c.fd[s], &unix.EpollEvent{Events: want, Fd: slot<<1 | int32(s), Pad: int32(c.gen)})
		}
	}
}

func (l *eloop) close(slot int32) {
	c := &l.conns[slot]
	for _, fd := range c.fd {
		if fd >= 0 {
			unix.Close(fd) // also leaves the epoll set
		}
	}
	p0, p1 := c.pend[0][:0], c.pend[1][:0]
	*c = econn{gen: c.gen + 1, fd: [2]int{-1, -1}, pend: [2][]byte{p0, p1}}
	l.free = append(l.free, slot)
}
