package engine

import "golang.org/x/sys/unix"

// dataPath is how a tunnel moves bytes.
type dataPath uint8

const (
	// pathSplice: splice(2) through a pipe borrowed while bytes are in
	// flight.
	pathSplice dataPath = iota
	// pathBuffer: read(2)/write(2) through a pooled buffer, as HTTP
	// traffic always does.
	pathBuffer
)

// defaultDataPath is the tunnel data path; see doc.go for the measurement
// behind the choice. Tests and benchmarks override Server.path.
const defaultDataPath = pathSplice

// spliceMax is the most one splice moves: the default pipe capacity.
const spliceMax = 64 << 10

// spliceIn moves what src has into f's pipe, borrowing a pipe from the
// pool. It reports progress.
func (c *conn) spliceIn(f *flow, src, dst *sock) bool {
	if f.pipe.r < 0 {
		p, err := c.l.getPipe()
		if err != nil {
			return c.read(f, src, dst, false) // out of fds: fall back to the buffer
		}
		f.pipe = p
	}
	n, err := unix.Splice(src.fd, nil, f.pipe.w, nil, spliceMax, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	switch {
	case n > 0:
		f.inPipe = int(n)
		if n < spliceMax {
			src.canRead = false
		}
		return true
	case err == unix.EAGAIN || err == unix.EINTR:
		src.canRead = false
		c.putPipe(f)
		return false
	case err == nil:
		f.eof = true
		src.canRead = false
		c.putPipe(f)
		return true
	default:
		c.abort(src)
		return false
	}
}

// spliceOut moves f's pipe contents to dst; it returns the emptied pipe
// to the pool, so an idle direction holds no pipe. It reports false if the
// connection was closed.
func (c *conn) spliceOut(f *flow, src, dst *sock) bool {
	for f.inPipe > 0 {
		n, err := unix.Splice(f.pipe.r, nil, dst.fd, nil, f.inPipe, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		if n > 0 {
			f.inPipe -= int(n)
			continue
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			dst.canWrite = false
			return true
		}
		c.abort(dst)
		return false
	}
	c.putPipe(f)
	return true
}

func (c *conn) putPipe(f *flow) {
	if f.pipe.r >= 0 {
		c.l.putPipe(f.pipe)
		f.pipe = pipe{-1, -1}
	}
}
