package engine

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
	"golang.org/x/sys/unix"
)

// yieldEvery is how often a busy loop yields to the scheduler: well
// within the runtime's 10 ms time slice, after which sysmon would take the
// loop's P (see "Loops" in doc.go).
const yieldEvery = int64(5 * time.Millisecond)

// maxEvents is how many epoll events one epoll_wait returns at most.
const maxEvents = 256

// acceptBatch bounds the accepts per readiness event so that one busy
// listener cannot starve the connections already on the loop.
const acceptBatch = 64

// loop is one event loop: an epoll set served by one goroutine that owns
// the connections it accepted, their backend connections, its share of
// the listening sockets and its pools. Everything on a loop runs on that
// goroutine; others reach it only through post.
type loop struct {
	s *Server
	// cookieLines are Config.StickyInsert's Set-Cookie lines, by
	// EndpointHash (services_linux.go).
	cookieLines map[string][]byte
	idx         int
	epfd        int
	evfd        int // eventfd that wakes epoll_wait for posted tasks

	mu        sync.Mutex
	tasks     []func()
	fdsClosed bool // closeFds ran; post drops tasks

	accepting
	socks    []*sock // by fd: the sockets of this loop's connections and parked connections
	nconns   int
	ready    []*conn // connections that ran out of budget with work left
	spare    []*conn // the other ready slice, reused
	stopping bool    // Shutdown: close connections as soon as they are idle
	done     bool

	base    time.Time
	now     int64 // ns since base, refreshed once per wakeup
	yielded int64 // now at the last runtime.Gosched
	timers  timers

	pools
	pool    map[string][]*parked // parked backend connections by endpoint, oldest first (reuse_linux.go)
	npooled int
	addrs   map[string]*addrEntry // backend endpoints' addresses (resolve_linux.go)
	dnsWait uint32                // the last lookup waiter's token

	scratch
	lastWarn int64 // now at the last warn; see warn
}

// accepting is a loop's share of the listening sockets.
type accepting struct {
	lnfds    []int    // listening sockets this loop polls
	lnev     []uint32 // their epoll events
	paused   bool     // lnfds are out of the epoll set (see pauseAccept)
	resumeAt int64    // now before which a paused loop does not resume
}

// scratch is space for the connection being processed; nothing in it
// outlives one call.
type scratch struct {
	req    sniff.Request
	resp   sniff.Response
	cands  []*affinity.Member
	iov    [4][]byte      // writev's pieces
	pollfd [1]unix.PollFd // pollNow's argument, kept off the heap
}

// warnEvery is the least time between two warnings of one loop, so that a
// backend going down under load does not flood the log.
const warnEvery = int64(time.Second)

// warn logs at Warn level at most once per warnEvery; the rest is counted
// in Stats only.
func (l *loop) warn(msg string, args ...any) {
	if l.lastWarn != 0 && l.now-l.lastWarn < warnEvery {
		return
	}
	l.lastWarn = l.now
	if l.lastWarn == 0 {
		l.lastWarn = 1
	}
	l.s.log.Warn(msg, args...)
}

// sock is one socket of a connection, client or backend side, or of a
// parked backend connection.
type sock struct {
	fd       int
	ev       uint32 // interest registered with epoll; 0 = not registered
	canRead  bool   // epoll said readable since the last EAGAIN
	canWrite bool   // no EAGAIN since the last writable event
	c        *conn  // the connection it belongs to, or nil when parked
}

func newLoop(s *Server, idx int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("engine: loop %d: %w", idx, os.NewSyscallError("epoll_create1", err))
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("engine: loop %d: %w", idx, os.NewSyscallError("eventfd", err))
	}
	bufSize := defaultBufSize
	if n := s.cfg.Sniff.MaxHeadBytes + s.cfg.Sniff.MaxRequestLineBytes + 4096; n > bufSize {
		bufSize = n
	}
	l := &loop{s: s, idx: idx, epfd: epfd, evfd: evfd, base: time.Now(), pools: newPools(bufSize, s.spliceMax)}
	ts := &l.timers.lists
	ts[timerHeader].dur = int64(s.headerTimeout)
	ts[timerConnect].dur = int64(s.connectTimeout)
	ts[timerIdle].dur = int64(s.idleTimeout)
	ts[timerLinger].dur = lingerTimeout
	ts[timerPool].dur = poolIdleTimeout
	ts[timerResponse].dur = int64(s.responseTimeout)
	l.timers.touchSlack = min(maxTouchSlack, ts[timerIdle].dur/10)
	if err := l.ctl(unix.EPOLL_CTL_ADD, evfd, unix.EPOLLIN); err != nil {
		l.closeFds()
		return nil, err
	}
	for _, ln := range s.listeners {
		ev := uint32(unix.EPOLLIN)
		if ln.shared {
			ev |= unix.EPOLLEXCLUSIVE
		}
		for _, fd := range ln.fdsFor(idx, s.cfg.Loops) {
			if err := l.ctl(unix.EPOLL_CTL_ADD, fd, ev); err != nil {
				l.closeFds()
				return nil, err
			}
			l.lnfds = append(l.lnfds, fd)
			l.lnev = append(l.lnev, ev)
		}
	}
	return l, nil
}

func (l *loop) ctl(op, fd int, ev uint32) error {
	e := unix.EpollEvent{Events: ev, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, op, fd, &e); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

func (l *loop) closeFds() {
	l.mu.Lock()
	l.fdsClosed = true
	l.mu.Unlock()
	unix.Close(l.evfd)
	unix.Close(l.epfd)
	l.closePipes()
}

// post runs f on the loop's goroutine. Safe for concurrent use. After the
// loop has closed its descriptors, f is dropped: a late poster (a
// lookup that finishes after Shutdown) must not write to an eventfd
// number the process may have reused.
func (l *loop) post(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fdsClosed {
		return
	}
	l.tasks = append(l.tasks, f)
	var one = [8]byte{1}
	unix.Write(l.evfd, one[:])
}

func (l *loop) runTasks() {
	var b [8]byte
	unix.Read(l.evfd, b[:])
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, f := range tasks {
		f()
	}
}

// run is the loop's body; it returns after stop.
func (l *loop) run() {
	events := make([]unix.EpollEvent, maxEvents)
	for !l.done {
		timeout := l.timers.nextTimeout(l.now)
		if len(l.ready) > 0 {
			timeout = 0
		} else if l.paused && (timeout < 0 || timeout > pausePoll) {
			timeout = pausePoll // connections closing on other loops free room too
		}
		if l.now-l.yielded >= yieldEvery {
			runtime.Gosched()
			l.yielded = l.now
		}
		n, err := unix.EpollWait(l.epfd, events, timeout)
		l.now = int64(time.Since(l.base))
		if err != nil && err != unix.EINTR {
			l.s.log.Error("epoll_wait failed; loop stops", "loop", l.idx, "err", err)
			break
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == l.evfd {
				l.runTasks()
				continue
			}
			if fd < len(l.socks) && l.socks[fd] != nil {
				s := l.socks[fd]
				if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
					s.canRead = true
				}
				if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					s.canWrite = true
				}
				if s.c != nil {
					s.c.event(s)
				} else {
					l.parkedEvent(fd)
				}
				continue
			}
			if l.isListener(fd) {
				l.accept(fd)
			}
		}
		l.timers.expire(l.now)
		l.runReady()
		if l.paused {
			l.maybeResumeAccept()
		}
	}
	l.closeAll()
	l.closeFds()
}

// runReady gives the connections that ran out of budget another turn.
func (l *loop) runReady() {
	if len(l.ready) == 0 {
		return
	}
	ready := l.ready
	l.ready = l.spare[:0]
	for i, c := range ready {
		ready[i] = nil
		c.queued = false
		if c.phase != phClosed {
			c.run()
		}
	}
	l.spare = ready[:0]
}

func (l *loop) listenerName(fd int) string {
	for _, ln := range l.s.listeners {
		for _, f := range ln.fds {
			if f == fd {
				return ln.addr.String()
			}
		}
	}
	return ""
}

func (l *loop) isListener(fd int) bool {
	for _, f := range l.lnfds {
		if f == fd {
			return true
		}
	}
	return false
}

func (l *loop) accept(lfd int) {
	for i := 0; i < acceptBatch; i++ {
		if max := l.s.maxConns; max > 0 && l.s.stats.active.Load() >= max {
			l.pauseAccept(0)
			l.warn("connection limit reached; accepting paused", "listener", l.listenerName(lfd), "max_conns", max)
			return
		}
		fd, peer, err := accept4(lfd)
		if err != nil {
			switch err {
			case unix.EAGAIN, unix.ECONNABORTED, unix.EINTR:
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				// The pending connection stays queued, and the
				// level-triggered listener would wake the loop again at
				// once: pause instead of spinning.
				l.pauseAccept(acceptBackoff)
				l.warn("accept failed; accepting paused", "listener", l.listenerName(lfd), "err", os.NewSyscallError("accept4", err))
			}
			return
		}
		l.s.stats.accepted.Add(1)
		l.s.stats.active.Add(1)
		newConn(l, fd, peer, lfd)
	}
}

// pausePoll is how often a paused loop looks whether it may accept again,
// at the latest; acceptBackoff is how long it waits after accept failed
// for want of descriptors or memory.
const (
	pausePoll     = 50 // ms
	acceptBackoff = int64(100 * time.Millisecond)
)

// pauseAccept takes the loop's listeners out of its epoll set, for at least
// wait ns: the connections wait in the kernel's accept queue meanwhile.
func (l *loop) pauseAccept(wait int64) {
	if l.paused {
		return
	}
	for _, fd := range l.lnfds {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	l.paused = true
	l.resumeAt = l.now + wait
	l.s.stats.acceptPauses.Add(1)
}

// maybeResumeAccept puts the listeners back once the wait is over and the
// connection count is below the bound. A loop that is stopping has no
// listeners left to put back.
func (l *loop) maybeResumeAccept() {
	if l.stopping || l.now < l.resumeAt {
		return
	}
	if max := l.s.maxConns; max > 0 && l.s.stats.active.Load() >= max {
		return
	}
	for i, fd := range l.lnfds {
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, l.lnev[i]); err != nil {
			l.warn("resume accepting failed", "listener", l.listenerName(fd), "err", err)
		}
	}
	l.paused = false
}

// register adds or changes s's epoll interest to ev (0 removes it).
func (l *loop) setInterest(s *sock, ev uint32) {
	if s.fd < 0 || s.ev == ev {
		return
	}
	var err error
	switch {
	case s.ev == 0:
		err = l.ctl(unix.EPOLL_CTL_ADD, s.fd, ev)
	case ev == 0:
		err = l.ctl(unix.EPOLL_CTL_DEL, s.fd, 0)
	default:
		err = l.ctl(unix.EPOLL_CTL_MOD, s.fd, ev)
	}
	if err != nil {
		l.warn("epoll_ctl failed", "err", err)
	}
	s.ev = ev
}

// track makes s's fd dispatch to s.
func (l *loop) track(s *sock) {
	for s.fd >= len(l.socks) {
		l.socks = append(l.socks, make([]*sock, len(l.socks)+1024)...)
	}
	l.socks[s.fd] = s
}

// closeSock unregisters and closes s's fd.
func (l *loop) closeSock(s *sock) {
	if s.fd < 0 {
		return
	}
	// close(2) removes the fd from the epoll set; no EPOLL_CTL_DEL needed.
	if s.fd < len(l.socks) {
		l.socks[s.fd] = nil
	}
	unix.Close(s.fd)
	s.fd, s.ev, s.canRead, s.canWrite = -1, 0, false, false
}

// stopAccepting removes the loop's listeners from its epoll set. Runs on
// the loop. The Server closes the sockets once every loop has done so.
func (l *loop) stopAccepting() {
	for _, fd := range l.lnfds {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	l.lnfds, l.lnev = nil, nil
	l.paused = false
	l.stopping = true
	l.closePool()
	for _, s := range l.socks {
		if s != nil && s.c != nil && s == &s.c.cli {
			s.c.drainIdle()
		}
	}
}

// arm and disarm put t on the loop's timer list k, or take it off.
func (l *loop) arm(t *timerLink, k timerKind) { l.timers.arm(t, k, l.now) }
func (l *loop) disarm(t *timerLink)           { l.timers.disarm(t) }

// stop closes every connection and ends run. Runs on the loop.
func (l *loop) stop() { l.done = true }

func (l *loop) closeAll() {
	l.stopping = true // nothing is parked from here on
	for _, s := range l.socks {
		if s != nil && s.c != nil && s == &s.c.cli {
			s.c.close(false)
		}
	}
	l.closePool()
}
