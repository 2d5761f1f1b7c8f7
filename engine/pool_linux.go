package engine

import (
	"golang.org/x/sys/unix"
)

// defaultBufSize is the size of the pooled buffers each direction borrows
// while bytes are in flight. 64 KiB matches the default pipe capacity, so
// both data paths move at most this much per step.
const defaultBufSize = 64 << 10

// Pool limits: free buffers and pipes kept per loop beyond what is in use.
// Pipes cost two fds each, so few are kept.
const (
	maxFreeBufs  = 64
	maxFreePipes = 8
)

// getBuf returns a buffer of l.bufSize bytes. Runs on the loop.
func (l *loop) getBuf() []byte {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs[n-1] = nil
		l.bufs = l.bufs[:n-1]
		return b
	}
	return make([]byte, l.bufSize)
}

func (l *loop) putBuf(b []byte) {
	if len(l.bufs) < maxFreeBufs {
		l.bufs = append(l.bufs, b)
	}
}

// pipe is a kernel pipe used as the splice(2) staging area of one
// direction while bytes are in flight.
type pipe struct{ r, w int }

func (p pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

func (l *loop) getPipe() (pipe, error) {
	if n := len(l.pipes); n > 0 {
		p := l.pipes[n-1]
		l.pipes = l.pipes[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return pipe{-1, -1}, err
	}
	return pipe{fds[0], fds[1]}, nil
}

// putPipe returns an empty pipe to the pool.
func (l *loop) putPipe(p pipe) {
	if len(l.pipes) < maxFreePipes {
		l.pipes = append(l.pipes, p)
		return
	}
	p.close()
}
