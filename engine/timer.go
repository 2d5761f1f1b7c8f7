package engine

// Timeouts are kept in one intrusive, doubly linked list per kind and
// loop. Every list has a single duration, so appending at the tail with
// deadline now+duration keeps it sorted by deadline: arming, re-arming and
// disarming are O(1) pointer moves, and a tick pops expired entries from
// the heads only. No goroutine, heap or runtime timer per connection.

type timerKind uint8

const (
	timerNone    timerKind = iota
	timerHeader            // waiting for a request head
	timerConnect           // waiting for a backend connect
	timerIdle              // routed, waiting for any byte
	timerLinger            // error answered; draining the client before close
	timerPool              // a parked backend connection waits to be reused
	numTimers
)

// lingerTimeout bounds how long a connection that got an error response
// is drained before it is closed (closing with unread input would send RST
// and might destroy the response before the client read it).
const lingerTimeout = 2e9 // ns

// maxTouchSlack is how stale an idle deadline may get before touch moves
// it; a tenth of the idle timeout when that is shorter.
const maxTouchSlack = 100e6 // ns

type timerList struct {
	head, tail *conn
	dur        int64 // ns; 0 means the timeout is disabled
}

// arm puts c at the tail of list k with deadline now+dur, leaving any
// list it was on. A disabled kind only disarms.
func (l *loop) arm(c *conn, k timerKind) {
	l.disarm(c)
	tl := &l.timers[k]
	if tl.dur <= 0 {
		return
	}
	c.tkind = k
	c.deadline = l.now + tl.dur
	c.tprev = tl.tail
	c.tnext = nil
	if tl.tail != nil {
		tl.tail.tnext = c
	} else {
		tl.head = c
	}
	tl.tail = c
}

// touch re-arms c's idle timer after activity. It moves the entry only
// when its deadline is more than touchSlack old, so a busy connection
// costs one comparison per event; the list stays sorted either way.
func (l *loop) touch(c *conn) {
	if c.tkind == timerIdle && c.deadline < l.now+l.timers[timerIdle].dur-l.touchSlack {
		l.arm(c, timerIdle)
	}
}

func (l *loop) disarm(c *conn) {
	if c.tkind == timerNone {
		return
	}
	tl := &l.timers[c.tkind]
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		tl.head = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	} else {
		tl.tail = c.tprev
	}
	c.tprev, c.tnext, c.tkind = nil, nil, timerNone
}

// expire fires every timer whose deadline passed.
func (l *loop) expire() {
	for k := timerHeader; k < numTimers; k++ {
		tl := &l.timers[k]
		for tl.head != nil && tl.head.deadline <= l.now {
			c := tl.head
			l.disarm(c)
			c.timeout(k)
		}
	}
}

// nextTimeout returns the epoll_wait timeout in ms: until the earliest
// deadline, or -1 when no timer is armed.
func (l *loop) nextTimeout() int {
	next := int64(-1)
	for k := timerHeader; k < numTimers; k++ {
		if h := l.timers[k].head; h != nil && (next < 0 || h.deadline < next) {
			next = h.deadline
		}
	}
	if next < 0 {
		return -1
	}
	ms := (next-l.now)/1e6 + 1
	if ms < 0 {
		ms = 0
	}
	if ms > 1000 {
		ms = 1000
	}
	return int(ms)
}
