package engine

import "golang.org/x/sys/unix"

// flow is one direction's bytes in flight: buf[r:p] is ready to be written
// to the destination, buf[p:w] was read but not yet classified (a partial
// request or response head). pre goes out before anything else (a PROXY
// header, an engine error response), and ins (an X-Forwarded-For line,
// see forwardedfor_linux.go) in front of buf[insAt]; while ins is pending,
// r <= insAt < p. In a tunnel that splices, the bytes in flight sit in
// pipe instead (inPipe of them), borrowed from the loop only while they
// are there.
type flow struct {
	buf    []byte
	pre    []byte
	ins    []byte
	pipe   pipe
	r, p   int32 // int32 offsets keep an idle tunnel's conn in a smaller size class
	w      int32
	insAt  int32
	inPipe int32
	eof    bool // the source sent FIN
	shut   bool // the destination's write side was shut down
}

// ioResult is what one read or write step did.
type ioResult uint8

const (
	ioBlocked ioResult = iota // nothing moved: EAGAIN
	ioDone                    // progress (for a read, EOF too: flow.eof is set)
	ioFailed                  // a socket error (or, for discard, the end)
)

func (f *flow) pending() bool { return len(f.pre) > 0 || f.r < f.p || f.inPipe > 0 }

// idle reports whether f holds a buffer with nothing in it.
func (f *flow) idle() bool { return f.buf != nil && f.r == f.w && f.inPipe == 0 }

// full reports whether f's buffer has no room left for a read even after
// compaction: a head longer than the buffer.
func (f *flow) full() bool { return f.buf != nil && int(f.w) == len(f.buf) && f.r == 0 }

// releaseBuf returns f's empty buffer to the loop's pool.
func (f *flow) releaseBuf(l *loop) {
	l.bufs.put(f.buf)
	f.buf, f.r, f.p, f.w = nil, 0, 0, 0
}

// release drops everything f holds.
func (f *flow) release(l *loop) {
	if f.buf != nil {
		l.bufs.put(f.buf)
	}
	if f.pipe.r >= 0 {
		if f.inPipe > 0 {
			f.pipe.close() // holds bytes nobody will read
		} else {
			l.putPipe(f.pipe)
		}
	}
	*f = flow{pipe: noPipe}
}

// consume marks n written bytes of pre, buf[r:insAt], ins and buf[insAt:p]
// as gone, in that order.
func (f *flow) consume(n int) {
	k := min(n, len(f.pre))
	f.pre, n = f.pre[k:], n-k
	if n == 0 {
		return
	}
	if len(f.ins) > 0 {
		before := int(f.insAt - f.r)
		if n < before {
			f.r += int32(n)
			return
		}
		f.r, n = f.insAt, n-before
		if n < len(f.ins) {
			f.ins = f.ins[n:]
			return
		}
		n -= len(f.ins)
		f.ins = nil
	}
	f.r += int32(n)
}

// writeOut writes what f has for dst until it is all out, dst would block
// or dst fails: pre, then the pipe or the buffer (with ins in its place).
// It is the engine's one write loop.
func (l *loop) writeOut(f *flow, dst *sock) ioResult {
	for {
		var n int
		var err error
		switch {
		case len(f.pre) > 0 && f.inPipe > 0:
			n, err = unix.Write(dst.fd, f.pre)
		case len(f.pre) > 0 || len(f.ins) > 0:
			n, err = l.writev(dst.fd, f)
		case f.inPipe > 0:
			var m int64
			m, err = unix.Splice(int(f.pipe.r), nil, dst.fd, nil, int(f.inPipe), unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			if m > 0 {
				f.inPipe -= int32(m)
				if f.inPipe == 0 {
					l.putPipe(f.pipe) // an idle direction holds no pipe
					f.pipe = noPipe
				}
				continue
			}
		case f.r < f.p:
			n, err = unix.Write(dst.fd, f.buf[f.r:f.p])
		default:
			return ioDone
		}
		if n > 0 {
			f.consume(n)
			continue
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			dst.canWrite = false
			return ioDone
		}
		return ioFailed
	}
}

// writev writes pre, buf[r:insAt], ins and buf[insAt:p] (the pieces that
// are not empty) in one writev(2).
func (l *loop) writev(fd int, f *flow) (int, error) {
	iov := l.iov[:0]
	if len(f.pre) > 0 {
		iov = append(iov, f.pre)
	}
	if len(f.ins) > 0 {
		if f.r < f.insAt {
			iov = append(iov, f.buf[f.r:f.insAt])
		}
		iov = append(iov, f.ins, f.buf[f.insAt:f.p])
	} else if f.r < f.p {
		iov = append(iov, f.buf[f.r:f.p])
	}
	n, err := unix.Writev(fd, iov)
	clear(l.iov[:])
	return n, err
}

// readBuf reads up to max bytes from src into f's buffer, borrowing one
// from the pool.
func (l *loop) readBuf(f *flow, src *sock, max int) ioResult {
	if f.buf == nil {
		f.buf = l.getBuf()
	}
	if int(f.w) == len(f.buf) && f.r > 0 {
		// Only ever with everything written (reads wait for that), so
		// nothing but unclassified bytes moves.
		n := copy(f.buf, f.buf[f.r:f.w])
		f.p -= f.r
		f.w = int32(n)
		f.r = 0
	}
	room := f.buf[f.w:]
	if len(room) > max {
		room = room[:max]
	}
	n, err := unix.Read(src.fd, room)
	switch {
	case n > 0:
		if n < len(room) {
			src.canRead = false // drained; level-triggered epoll tells us when more comes
		}
		f.w += int32(n)
		return ioDone
	case err == unix.EAGAIN || err == unix.EINTR:
		src.canRead = false
		return ioBlocked
	case err == nil: // n == 0: FIN
		f.eof = true
		src.canRead = false
		return ioDone
	}
	return ioFailed
}

// spliceIn moves up to max bytes of what src has into f's pipe, borrowing
// a pipe from the pool (or, out of descriptors, reads into the buffer
// instead).
func (l *loop) spliceIn(f *flow, src *sock, max int) ioResult {
	if f.pipe.r < 0 {
		p, err := l.getPipe()
		if err != nil {
			return l.readBuf(f, src, max)
		}
		f.pipe = p
	}
	n, err := unix.Splice(src.fd, nil, int(f.pipe.w), nil, max, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	switch {
	case n > 0:
		f.inPipe = int32(n)
		if n < int64(max) {
			src.canRead = false
		}
		return ioDone
	case err == unix.EAGAIN || err == unix.EINTR:
		src.canRead = false
		l.putPipe(f.pipe)
		f.pipe = noPipe
		return ioBlocked
	case err == nil:
		f.eof = true
		src.canRead = false
		l.putPipe(f.pipe)
		f.pipe = noPipe
		return ioDone
	}
	return ioFailed
}

// discard reads from src and drops the bytes (a lingering client); it
// answers ioFailed at EOF or on an error.
func (l *loop) discard(f *flow, src *sock) ioResult {
	if f.buf == nil {
		f.buf = l.getBuf()
	}
	n, err := unix.Read(src.fd, f.buf)
	switch {
	case n > 0:
		return ioDone
	case err == unix.EAGAIN || err == unix.EINTR:
		src.canRead = false
		return ioBlocked
	}
	return ioFailed
}
