//go:build linux

package uringproto

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config is what Start needs.
type Config struct {
	Listen   string   // IPv4 host:port to accept on (port 0: any)
	Backends []string // IPv4 host:port of the backends
	// SockJSPrefix, if set, routes a connection whose first request is
	// for <prefix>/<server>/<session>/... by a hash of the session (so
	// connrate's sessions stay on one backend); others go round robin.
	SockJSPrefix string
	Loops        int // rings, each on its own thread and SO_REUSEPORT listener (0: 1)
	MaxConns     int // client connections each loop holds at once (0: 9000)
	BufSize      int // bytes per provided buffer (0: 16384)
	Bufs         int // provided buffers per loop, a power of two (0: 1024)
	// Epoll runs the same proxy on epoll with read(2) and write(2)
	// instead of io_uring: the control of the measurement.
	Epoll bool
}

// runner is a loop of either kind.
type runner interface {
	run(ready chan<- error)
	base() (stats *Stats, efd *int, err *error)
}

func (l *loop) base() (*Stats, *int, *error) { return &l.stats, &l.efd, &l.err }

// Stats are counters summed over the loops.
type Stats struct {
	Enters   uint64 // io_uring_enter (epoll: epoll_wait) system calls
	CQEs     uint64 // completions reaped (epoll: events)
	Accepted uint64 // client connections accepted
	Recvs    uint64 // receive completions that carried data
}

// Proxy is a running prototype; Close stops it.
type Proxy struct {
	addr  string
	loops []runner
	done  chan struct{}
	err   error
}

// Start listens on cfg.Listen and runs cfg.Loops rings until Close.
func Start(cfg Config) (*Proxy, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = 1
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 9000
	}
	if cfg.BufSize <= 0 {
		cfg.BufSize = 16384
	}
	if cfg.Bufs <= 0 {
		cfg.Bufs = 1024
	}
	if len(cfg.Backends) == 0 {
		return nil, errors.New("uringproto: no backend")
	}
	var bsa []unix.RawSockaddrInet4
	for _, b := range cfg.Backends {
		sa, err := sockaddr(b)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", b, err)
		}
		bsa = append(bsa, sa)
	}
	p := &Proxy{done: make(chan struct{})}
	listen := cfg.Listen
	var wg sync.WaitGroup
	for i := range cfg.Loops {
		lfd, addr, err := listenTCP(listen)
		if err != nil {
			p.stop()
			return nil, err
		}
		if i == 0 {
			p.addr, listen = addr, addr // later loops share the port chosen
		}
		var l runner = &loop{lfd: lfd, bsa: bsa, prefix: []byte(cfg.SockJSPrefix), maxConns: cfg.MaxConns, bufSize: cfg.BufSize, nbufs: cfg.Bufs, efd: -1}
		if cfg.Epoll {
			el := &eloop{lfd: lfd, prefix: []byte(cfg.SockJSPrefix), maxConns: cfg.MaxConns, efd: -1, ep: -1}
			for _, sa := range bsa {
				el.bsa = append(el.bsa, unix.SockaddrInet4{Port: int(sa.Port>>8 | sa.Port<<8), Addr: sa.Addr})
			}
			l = el
		}
		ready := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ready)
		}()
		if err := <-ready; err != nil {
			p.stop()
			wg.Wait()
			return nil, fmt.Errorf("loop %d on %s: %w", i, addr, err)
		}
		p.loops = append(p.loops, l)
	}
	go func() {
		wg.Wait()
		for _, l := range p.loops {
			if _, _, err := l.base(); *err != nil && p.err == nil {
				p.err = *err
			}
		}
		close(p.done)
	}()
	return p, nil
}

// Addr is the address the proxy accepts on.
func (p *Proxy) Addr() string { return p.addr }

// Done is closed when every loop has stopped (after Close, or on a
// loop's error, which Err returns).
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Err is the first loop's error once Done is closed.
func (p *Proxy) Err() error { return p.err }

// Stats sums the loops' counters (updated once per loop iteration).
func (p *Proxy) Stats() Stats {
	var s Stats
	for _, l := range p.loops {
		st, _, _ := l.base()
		s.Enters += atomic.LoadUint64(&st.Enters)
		s.CQEs += atomic.LoadUint64(&st.CQEs)
		s.Accepted += atomic.LoadUint64(&st.Accepted)
		s.Recvs += atomic.LoadUint64(&st.Recvs)
	}
	return s
}

// Close stops the loops and closes every connection.
func (p *Proxy) Close() error {
	p.stop()
	<-p.done
	if errors.Is(p.err, errClosed) {
		return nil
	}
	return p.err
}

func (p *Proxy) stop() {
	for _, l := range p.loops {
		one := uint64(1)
		_, efd, _ := l.base()
		unix.Write(*efd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

func sockaddr(hostport string) (unix.RawSockaddrInet4, error) {
	var sa unix.RawSockaddrInet4
	a, err := net.ResolveTCPAddr("tcp4", hostport)
	if err != nil {
		return sa, err
	}
	ip4 := a.IP.To4()
	if ip4 == nil {
		ip4 = net.IPv4zero.To4()
	}
	sa.Family = unix.AF_INET
	sa.Port = uint16(a.Port>>8) | uint16(a.Port&0xff)<<8 // network order
	copy(sa.Addr[:], ip4)
	return sa, nil
}

// listenTCP opens a blocking listening socket (io_uring never blocks on
// it: it tries without waiting and then arms a poll) with SO_REUSEPORT for
// the loops' shared port and TCP_NODELAY, which accepted sockets inherit.
func listenTCP(hostport string) (int, string, error) {
	a, err := net.ResolveTCPAddr("tcp4", hostport)
	if err != nil {
		return -1, "", fmt.Errorf("listen %s: %w", hostport, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("listen %s: socket: %w", hostport, err)
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("listen %s: bind: %w", hostport, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("listen %s: %w", hostport, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("listen %s: getsockname: %w", hostport, err)
	}
	g := got.(*unix.SockaddrInet4)
	return fd, net.JoinHostPort(net.IP(g.Addr[:]).String(), strconv.Itoa(g.Port)), nil
}

// Kinds of request, the top byte of an SQE's user data; below it the
// connection slot (24 bits) and its generation (32 bits).
const (
	kAccept = iota + 1
	kWake
	kConnect
	kRecv0 // receive from the client (direction 0: client to backend)
	kRecv1 // receive from the backend (direction 1)
	kSend0 // send direction 0's data to the backend
	kSend1 // send direction 1's data to the client
	kShutdown
	kClose
)

func userData(kind, slot int, gen uint32) uint64 {
	return uint64(kind)<<56 | uint64(slot)<<32 | uint64(gen)
}

// conn is a client connection and its own backend connection. Side 0 is
// the client, side 1 the backend; direction d carries what side d sent to
// side 1-d.
type conn struct {
	gen       uint32
	fd        [2]int32
	inflight  int32    // SQEs whose last completion has not come
	q         [2]queue // received buffers waiting to be sent, per direction
	sent      [2]int32 // bytes of q[d]'s first buffer already sent
	sending   [2]bool  // a send of direction d is in flight (one at a time keeps order)
	connected bool
	eof       bool // a side ended: close once the queues are sent
	closing   bool
}

// queue is a FIFO of provided-buffer ids linked through loop.next.
type queue struct{ head, tail int32 }

type starved struct {
	slot int32
	gen  uint32
	side uint8
}

// loop is one ring and the connections accepted on its listener; run is
// its only goroutine, locked to one thread (SINGLE_ISSUER).
type loop struct {
	r        *ring
	bufs     *bufRing
	lfd      int
	efd      int
	scratch  []byte // outside the Go heap: the eventfd's read buffer, the backends' addresses
	bsa      []unix.RawSockaddrInet4
	bsaAddr  []uint64
	rr       int
	prefix   []byte
	maxConns int
	bufSize  int
	nbufs    int
	conns    []conn
	free     []int32
	next     []int32 // per buffer id: the next buffer in its queue
	blen     []int32 // per buffer id: bytes received into it
	freeBufs int
	dirty    bool // buffers given back since the last publish
	hungry   []starved
	stopping bool
	stats    Stats // published once per iteration, read by Proxy.Stats
	count    Stats // the loop's own counting
	err      error
}

func (l *loop) run(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := l.setup(); err != nil {
		l.teardown()
		ready <- err
		return
	}
	ready <- nil
	defer l.teardown()
	for !l.stopping {
		if l.dirty {
			l.bufs.publish()
			l.dirty = false
		}
		if len(l.hungry) > 0 && l.freeBufs > l.nbufs/4 {
			l.rearmHungry()
		}
		if err := l.r.enter(1); err != nil {
			l.err = err
			return
		}
		// Reap every completion there is; the SQEs they queue go out
		// with the next enter, all connections' together.
		r := l.r
		head := *r.cqHead
		tail := atomic.LoadUint32(r.cqTail)
		for ; head != tail; head++ {
			c := (*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*unsafe.Sizeof(cqe{})))
			l.handle(c.userData, c.res, c.flags)
			l.count.CQEs++
		}
		atomic.StoreUint32(r.cqHead, head)
		atomic.StoreUint64(&l.stats.Enters, r.enters)
		atomic.StoreUint64(&l.stats.CQEs, l.count.CQEs)
		atomic.StoreUint64(&l.stats.Accepted, l.count.Accepted)
		atomic.StoreUint64(&l.stats.Recvs, l.count.Recvs)
	}
	l.err = errClosed
}

func (l *loop) setup() error {
	var err error
	l.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	if l.r, err = newRing(1024, 8192); err != nil {
		return err
	}
	if l.bufs, err = newBufRing(l.r, 0, l.nbufs, l.bufSize); err != nil {
		return err
	}
	if l.scratch, err = unix.Mmap(-1, 0, 8+16*len(l.bsa), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	for i, sa := range l.bsa {
		p := unsafe.Pointer(&l.scratch[8+16*i])
		*(*unix.RawSockaddrInet4)(p) = sa
		l.bsaAddr = append(l.bsaAddr, uint64(uintptr(p)))
	}
	l.conns = make([]conn, l.maxConns)
	l.free = make([]int32, l.maxConns)
	for i := range l.free {
		l.free[i] = int32(l.maxConns - 1 - i)
	}
	l.next = make([]int32, l.nbufs)
	l.blen = make([]int32, l.nbufs)
	l.freeBufs = l.nbufs
	l.armAccept()
	s := l.r.get()
	s.opcode, s.fd = opRead, int32(l.efd)
	s.addr, s.len = uint64(uintptr(unsafe.Pointer(&l.scratch[0]))), 8
	s.userData = userData(kWake, 0, 0)
	return l.r.enter(0)
}

// teardown closes what the loop holds; the ring goes first, which cancels
// its requests before the sockets close.
func (l *loop) teardown() {
	if l.r != nil {
		l.r.close()
	}
	for i := range l.conns {
		c := &l.conns[i]
		if c.fd[0] > 0 || c.fd[1] > 0 {
			for _, fd := range c.fd {
				if fd > 0 {
					unix.Close(int(fd))
				}
			}
		}
	}
	if l.bufs != nil {
		l.bufs.free()
	}
	if l.scratch != nil {
		unix.Munmap(l.scratch)
	}
	unix.Close(l.lfd)
	// efd stays open: a late Close may still write to it.
}

func (l *loop) armAccept() {
	s := l.r.get()
	s.opcode, s.fd, s.ioprio = opAccept, int32(l.lfd), acceptMultishot
	s.opFlags = unix.SOCK_CLOEXEC
	s.userData = userData(kAccept, 0, 0)
}

func (l *loop) armRecv(slot int32, side int) {
	c := &l.conns[slot]
	s := l.r.get()
	s.opcode, s.fd, s.ioprio = opRecv, c.fd[side], recvMultishot
	s.flags, s.bufGroup = sqeBufferSelect, l.bufs.bgid
	s.userData = userData(kRecv0+side, int(slot), c.gen)
	c.inflight++
}

func (l *loop) handle(ud uint64, res int32, flags uint32) {
	kind := int(ud >> 56)
	slot := int32(ud >> 32 & 0xffffff)
	gen := uint32(ud)
	switch kind {
	case kWake:
		l.stopping = true
		return
	case kAccept:
		if flags&cqeFMore == 0 {
			l.armAccept()
		}
		if res >= 0 {
			l.count.Accepted++
			l.open(int(res))
		}
		return
	}
	c := &l.conns[slot]
	if c.gen != gen {
		return // a failed skip-success request of a connection already gone
	}
	switch kind {
	case kConnect:
		c.inflight--
		if res < 0 {
			l.fail(slot)
			break
		}
		c.connected = true
		if !c.closing {
			l.armRecv(slot, 1)
			l.send(slot, 0)
		}
	case kRecv0, kRecv1:
		d := kind - kRecv0
		more := flags&cqeFMore != 0
		if !more {
			c.inflight--
		}
		switch {
		case res > 0:
			l.count.Recvs++
			bid := int32(flags >> cqeBufShift)
			l.freeBufs--
			if c.closing {
				l.putBuf(bid)
				break
			}
			l.blen[bid], l.next[bid] = res, -1
			if c.q[d].head < 0 {
				c.q[d].head = bid
			} else {
				l.next[c.q[d].tail] = bid
			}
			c.q[d].tail = bid
			if d == 0 && c.fd[1] < 0 {
				l.connect(slot, l.bufs.buf(uint16(bid))[:res])
			}
			l.send(slot, d)
			if !more {
				l.armRecv(slot, d)
			}
		case res == -int32(unix.ENOBUFS):
			// The buffer ring ran dry, which ended this multishot
			// receive: re-armed once buffers come back.
			if !c.closing {
				l.hungry = append(l.hungry, starved{slot: slot, gen: c.gen, side: uint8(d)})
			}
		case res == 0:
			c.eof = true
			l.maybeClose(slot)
		default:
			l.fail(slot)
		}
	case kSend0, kSend1:
		d := kind - kSend0
		c.inflight--
		if res < 0 {
			l.fail(slot) // keeps this send's buffer: sending[d] is still set
		}
		c.sending[d] = false
		bid := c.q[d].head
		if c.closing {
			c.q[d] = queue{-1, -1}
			l.putBuf(bid)
			break
		}
		c.sent[d] += res
		if c.sent[d] >= l.blen[bid] {
			c.sent[d] = 0
			c.q[d].head = l.next[bid]
			l.putBuf(bid)
		}
		l.send(slot, d)
		if c.eof {
			l.maybeClose(slot)
		}
	case kShutdown, kClose:
		// Only failures come (CQE_SKIP_SUCCESS) and change nothing.
	}
	if c.closing && c.inflight == 0 {
		l.release(slot)
	}
}

// open takes an accepted client socket and arms its receive; the backend
// is picked and connected when the first request arrives (connect).
func (l *loop) open(fd int) {
	if len(l.free) == 0 {
		unix.Close(fd)
		return
	}
	slot := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	c := &l.conns[slot]
	*c = conn{gen: c.gen, fd: [2]int32{int32(fd), -1}, q: [2]queue{{-1, -1}, {-1, -1}}}
	l.armRecv(slot, 0)
}

// connect opens the backend connection of slot for a first request that
// starts with head: a socket(2) and setsockopt(2), then an io_uring
// connect submitted with the next enter.
func (l *loop) connect(slot int32, head []byte) {
	c := &l.conns[slot]
	bfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.fail(slot)
		return
	}
	unix.SetsockoptInt(bfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c.fd[1] = int32(bfd)
	b := pick(head, l.prefix, len(l.bsaAddr))
	if b < 0 {
		b = l.rr % len(l.bsaAddr)
		l.rr++
	}
	s := l.r.get()
	s.opcode, s.fd = opConnect, int32(bfd)
	s.addr, s.off = l.bsaAddr[b], uint64(unsafe.Sizeof(unix.RawSockaddrInet4{}))
	s.userData = userData(kConnect, int(slot), c.gen)
	c.inflight++
}

// send starts the send of direction d's first queued buffer unless one is
// in flight. MSG_WAITALL makes io_uring retry short sends on a stream
// socket itself; a short completion is still handled.
func (l *loop) send(slot int32, d int) {
	c := &l.conns[slot]
	if c.sending[d] || c.closing || c.q[d].head < 0 || (d == 0 && !c.connected) {
		return
	}
	bid := c.q[d].head
	buf := l.bufs.buf(uint16(bid))
	s := l.r.get()
	s.opcode, s.fd = opSend, c.fd[1-d]
	s.addr, s.len = uint64(uintptr(unsafe.Pointer(&buf[c.sent[d]]))), uint32(l.blen[bid]-c.sent[d])
	s.opFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
	s.userData = userData(kSend0+d, int(slot), c.gen)
	c.sending[d] = true
	c.inflight++
}

func (l *loop) putBuf(bid int32) {
	l.bufs.add(uint16(bid))
	l.freeBufs++
	l.dirty = true
}

// maybeClose closes a connection one side of which ended once nothing is
// left to send. Half-closes are not forwarded: the prototype serves
// request/response keep-alive traffic, where either side's EOF ends it.
func (l *loop) maybeClose(slot int32) {
	c := &l.conns[slot]
	if !c.closing && !c.sending[0] && !c.sending[1] && c.q[0].head < 0 && c.q[1].head < 0 {
		l.fail(slot)
	}
}

// fail starts closing: queued buffers go back (but for those a send in
// flight still reads, which its completion gives back), both sockets are
// shut down so that their multishot receives end; release follows once no
// request of the connection is left in flight. The shutdowns are system
// calls: IORING_OP_SHUTDOWN runs in an io-wq worker that looks the
// descriptor up only then, after release's close may have freed its
// number for another socket.
func (l *loop) fail(slot int32) {
	c := &l.conns[slot]
	if c.closing {
		return
	}
	c.closing = true
	for d := range c.q {
		bid := c.q[d].head
		if c.sending[d] {
			bid = l.next[bid]
			c.q[d].tail = c.q[d].head
			l.next[c.q[d].head] = -1
		} else {
			c.q[d] = queue{-1, -1}
		}
		for ; bid >= 0; bid = l.next[bid] {
			l.putBuf(bid)
		}
	}
	for _, fd := range c.fd {
		if fd >= 0 {
			unix.Shutdown(int(fd), unix.SHUT_RDWR)
		}
	}
}

func (l *loop) release(slot int32) {
	c := &l.conns[slot]
	for _, fd := range c.fd {
		if fd < 0 {
			continue
		}
		s := l.r.get()
		s.opcode, s.fd = opClose, fd
		s.flags = sqeCQESkipSuccess
		s.userData = userData(kClose, int(slot), c.gen)
	}
	*c = conn{gen: c.gen + 1, fd: [2]int32{-1, -1}}
	l.free = append(l.free, slot)
}

func (l *loop) rearmHungry() {
	for _, h := range l.hungry {
		c := &l.conns[h.slot]
		if c.gen == h.gen && !c.closing {
			l.armRecv(h.slot, int(h.side))
		}
	}
	l.hungry = l.hungry[:0]
}
