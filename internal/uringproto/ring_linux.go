//go:build linux

package uringproto

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// System call numbers and constants of the io_uring ABI
// (include/uapi/linux/io_uring.h); golang.org/x/sys/unix has the numbers
// but none of the structures.
const (
	sysSetup    = 425
	sysEnter    = 426
	sysRegister = 427

	setupCQSize        = 1 << 3
	setupSubmitAll     = 1 << 7
	setupSingleIssuer  = 1 << 12
	setupDeferTaskrun  = 1 << 13
	featSingleMmap     = 1 << 0
	offSQRing          = 0
	offCQRing          = 0x8000000
	offSQEs            = 0x10000000
	enterGetEvents     = 1 << 0
	registerPbufRing   = 22
	unregisterPbufRing = 23

	opRead     = 22
	opAccept   = 13
	opConnect  = 16
	opClose    = 19
	opSend     = 26
	opRecv     = 27
	opShutdown = 34

	sqeBufferSelect   = 1 << 5
	sqeCQESkipSuccess = 1 << 6

	acceptMultishot = 1 << 0
	recvMultishot   = 1 << 1

	cqeFBuffer  = 1 << 0
	cqeFMore    = 1 << 1
	cqeBufShift = 16
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// sqe is struct io_uring_sqe (64 bytes) with the unions named as this
// package uses them.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64 // addr2: connect's address length
	addr        uint64
	len         uint32
	opFlags     uint32 // msg_flags, accept_flags
	userData    uint64
	bufGroup    uint16
	personality uint16
	fileIndex   int32
	addr3       uint64
	pad         uint64
}

// cqe is struct io_uring_cqe without IORING_SETUP_CQE32.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// bufReg is struct io_uring_buf_reg.
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

func init() {
	if unsafe.Sizeof(params{}) != 120 || unsafe.Sizeof(sqe{}) != 64 || unsafe.Sizeof(cqe{}) != 16 || unsafe.Sizeof(bufReg{}) != 40 {
		panic("uringproto: io_uring ABI structure sizes are wrong")
	}
}

// ring is one io_uring instance used by one thread only: the submission
// queue's tail and the completion queue's head are written by that thread
// alone, so they need no locks, only ordered loads and stores against the
// kernel (sync/atomic).
type ring struct {
	fd     int
	sqMem  []byte
	cqMem  []byte
	sqeMem []byte
	sqHead *uint32
	sqTail *uint32
	sqMask uint32
	sqN    uint32
	cqHead *uint32
	cqTail *uint32
	cqMask uint32
	cqes   unsafe.Pointer
	tail   uint32 // local SQ tail: SQEs handed out, published at submit
	enters uint64 // io_uring_enter calls made
}

// newRing sets up a ring of sqEntries submissions and cqEntries
// completions for the calling thread only: the caller must be locked to
// its thread (runtime.LockOSThread) for the ring's life. With SINGLE_ISSUER and DEFER_TASKRUN (kernel 6.1) the
// kernel posts completions only when this thread enters the ring, which is
// the batching the prototype is about. Kernels before 6.1 are refused.
func newRing(sqEntries, cqEntries uint32) (*ring, error) {
	p := params{flags: setupCQSize | setupSubmitAll | setupSingleIssuer | setupDeferTaskrun, cqEntries: cqEntries}
	r1, _, errno := unix.Syscall(sysSetup, uintptr(sqEntries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == unix.EINVAL {
		return nil, fmt.Errorf("io_uring_setup(%d entries, DEFER_TASKRUN): %w (the prototype needs Linux 6.1: DEFER_TASKRUN, multishot receive, provided-buffer rings)", sqEntries, errno)
	}
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup(%d entries): %w", sqEntries, errno)
	}
	fd := int(r1)
	r := &ring{fd: fd}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	if p.features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqMem, err = unix.Mmap(fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring SQ ring: %w", err)
	}
	r.cqMem = r.sqMem
	if p.features&featSingleMmap == 0 {
		if r.cqMem, err = unix.Mmap(fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			r.close()
			return nil, fmt.Errorf("mmap io_uring CQ ring: %w", err)
		}
	}
	if r.sqeMem, err = unix.Mmap(fd, offSQEs, int(p.sqEntries)*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail = u32(r.sqMem, p.sqOff.head), u32(r.sqMem, p.sqOff.tail)
	r.sqMask, r.sqN = *u32(r.sqMem, p.sqOff.ringMask), p.sqEntries
	r.cqHead, r.cqTail = u32(r.cqMem, p.cqOff.head), u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32(r.cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Pointer(&r.cqMem[p.cqOff.cqes])
	// The SQ index array maps ring slots to SQEs one to one, once.
	for i := range p.sqEntries {
		*u32(r.sqMem, p.sqOff.array+4*i) = i
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

func (r *ring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && (r.sqMem == nil || &r.cqMem[0] != &r.sqMem[0]) {
		unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
	}
	r.sqeMem, r.cqMem, r.sqMem = nil, nil, nil
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// pending is the number of SQEs handed out and not yet consumed by the
// kernel.
func (r *ring) pending() uint32 { return r.tail - atomic.LoadUint32(r.sqHead) }

// get returns a zeroed SQE, submitting what is queued first (without
// waiting) when the queue is full.
func (r *ring) get() *sqe {
	if r.pending() >= r.sqN {
		r.enter(0)
	}
	s := (*sqe)(unsafe.Pointer(&r.sqeMem[(r.tail&r.sqMask)*64]))
	*s = sqe{}
	r.tail++
	return s
}

// enter publishes the queued SQEs and makes one io_uring_enter: submit
// them all and, with wait > 0, wait until that many completions are
// there. It is the only system call of the loop's steady state.
func (r *ring) enter(wait uint32) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		n := r.pending()
		flags := uintptr(0)
		if wait > 0 {
			flags = enterGetEvents
		}
		if n == 0 && wait == 0 {
			return nil
		}
		r.enters++
		_, _, e := unix.Syscall6(sysEnter, uintptr(r.fd), uintptr(n), uintptr(wait), flags, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			// The runtime's preemption signals interrupt the wait; the
			// submissions were taken before it (pending() says).
			if r.cqReady() > 0 && r.pending() == 0 {
				return nil
			}
			continue
		case unix.EBUSY, unix.EAGAIN:
			// Completion queue overflowing: the caller must reap first.
			return nil
		default:
			return fmt.Errorf("io_uring_enter: %w", e)
		}
	}
}

// cqReady is the number of completions waiting to be reaped.
func (r *ring) cqReady() uint32 { return atomic.LoadUint32(r.cqTail) - *r.cqHead }

// reap calls fn on every waiting completion and returns their number.
func (r *ring) reap(fn func(c *cqe)) int {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := (*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*unsafe.Sizeof(cqe{})))
		fn(c)
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// bufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING, kernel
// 5.19): count buffers of size bytes, in memory outside the Go heap, that
// the kernel picks from for receives with IOSQE_BUFFER_SELECT, so a
// receive armed on an idle connection holds no buffer.
type bufRing struct {
	ringMem []byte // count struct io_uring_buf entries
	data    []byte // count*size bytes
	size    int
	mask    uint16
	tail    uint16 // local tail, published by publish
	bgid    uint16
}

func newBufRing(r *ring, bgid uint16, count, size int) (*bufRing, error) {
	if count&(count-1) != 0 || count > 1<<15 {
		return nil, fmt.Errorf("provided buffers: count %d is not a power of two up to 32768", count)
	}
	b := &bufRing{size: size, mask: uint16(count - 1), bgid: bgid}
	var err error
	if b.ringMem, err = unix.Mmap(-1, 0, count*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("mmap buffer ring: %w", err)
	}
	if b.data, err = unix.Mmap(-1, 0, count*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		unix.Munmap(b.ringMem)
		return nil, fmt.Errorf("mmap %d buffers of %d bytes: %w", count, size, err)
	}
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.ringMem[0]))), ringEntries: uint32(count), bgid: bgid}
	if _, _, e := unix.Syscall6(sysRegister, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0); e != 0 {
		b.free()
		return nil, fmt.Errorf("io_uring_register PBUF_RING: %w", e)
	}
	for i := range count {
		b.add(uint16(i))
	}
	b.publish()
	return b, nil
}

func (b *bufRing) free() {
	unix.Munmap(b.ringMem)
	unix.Munmap(b.data)
}

// buf is buffer bid.
func (b *bufRing) buf(bid uint16) []byte {
	off := int(bid) * b.size
	return b.data[off : off+b.size : off+b.size]
}

// add queues buffer bid for the kernel; publish makes it visible.
func (b *bufRing) add(bid uint16) {
	e := unsafe.Pointer(&b.ringMem[int(b.tail&b.mask)*16])
	*(*uint64)(e) = uint64(uintptr(unsafe.Pointer(&b.data[int(bid)*b.size])))
	*(*uint32)(unsafe.Add(e, 8)) = uint32(b.size)
	if b.tail&b.mask == 0 {
		// Entry 0's bid shares a 32-bit word with the ring's tail:
		// written together in publish's atomic store.
		w := (*uint32)(unsafe.Pointer(&b.ringMem[12]))
		atomic.StoreUint32(w, atomic.LoadUint32(w)&0xffff0000|uint32(bid))
	} else {
		*(*uint16)(unsafe.Add(e, 12)) = bid
	}
	b.tail++
}

// publish stores the tail (the resv field of entry 0) after the entries,
// as the kernel's smp_load_acquire of it expects.
func (b *bufRing) publish() {
	w := (*uint32)(unsafe.Pointer(&b.ringMem[12]))
	atomic.StoreUint32(w, atomic.LoadUint32(w)&0xffff|uint32(b.tail)<<16)
}

// Available reports whether this kernel lets the process set up an
// io_uring with provided-buffer rings (not disabled by
// /proc/sys/kernel/io_uring_disabled, seccomp or an old kernel).
func Available() error {
	// A SINGLE_ISSUER ring refuses io_uring_register (EEXIST) from any
	// thread but its creator's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := newRing(8, 16)
	if err != nil {
		return err
	}
	defer r.close()
	b, err := newBufRing(r, 0, 8, 64)
	if err != nil {
		return err
	}
	b.free()
	return nil
}

var errClosed = errors.New("uringproto: proxy closed")
