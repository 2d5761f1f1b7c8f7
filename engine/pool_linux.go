package engine

import "golang.org/x/sys/unix"

// defaultBufSize is the size of the pooled buffers each direction borrows
// while bytes are in flight. 64 KiB matches the default pipe capacity, so
// both data paths move at most this much per step.
const defaultBufSize = 64 << 10

// Pool limits: free values kept per loop beyond what is in use. Pipes
// cost two fds each, so few are kept.
const (
	maxFreeBufs   = 64
	maxFreePipes  = 8
	maxFreeStates = 1024
)

// pools are a loop's free lists.
type pools struct {
	bufSize  int
	pipeSize int // the capacity getPipe asks for; 0: the kernel's default
	bufs     freeList[[]byte]
	pipes    freeList[pipe]
	https    freeList[*httpState]
	dials    freeList[*dialState]
	parked   freeList[*parked]
}

func newPools(bufSize, pipeSize int) pools {
	if pipeSize == DefaultPipeSize {
		pipeSize = 0 // what Pipe2 gives: no fcntl
	}
	return pools{
		bufSize:  bufSize,
		pipeSize: pipeSize,
		bufs:     freeList[[]byte]{max: maxFreeBufs},
		pipes:    freeList[pipe]{max: maxFreePipes},
		https:    freeList[*httpState]{max: maxFreeStates},
		dials:    freeList[*dialState]{max: maxFreeStates},
		parked:   freeList[*parked]{max: maxFreeStates},
	}
}

// getBuf returns a buffer of bufSize bytes.
func (p *pools) getBuf() []byte {
	if b, ok := p.bufs.get(); ok {
		return b
	}
	return make([]byte, p.bufSize)
}

// pipe is a kernel pipe used as the splice(2) staging area of one
// direction while bytes are in flight.
type pipe struct{ r, w int32 }

// noPipe is the pipe of a flow that holds none.
var noPipe = pipe{-1, -1}

func (p pipe) close() {
	unix.Close(int(p.r))
	unix.Close(int(p.w))
}

func (p *pools) getPipe() (pipe, error) {
	if pp, ok := p.pipes.get(); ok {
		return pp, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return noPipe, err
	}
	if p.pipeSize > 0 {
		// Refused above the kernel's limits: the pipe keeps its default
		// capacity, and splices just move less at a time.
		unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, p.pipeSize)
	}
	return pipe{int32(fds[0]), int32(fds[1])}, nil
}

// putPipe returns an empty pipe to the pool, or closes it.
func (p *pools) putPipe(pp pipe) {
	if !p.pipes.put(pp) {
		pp.close()
	}
}

// closePipes closes the kept pipes (the loop stops).
func (p *pools) closePipes() {
	for _, pp := range p.pipes.all() {
		pp.close()
	}
}
