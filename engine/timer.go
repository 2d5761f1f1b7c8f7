package engine

// Timeouts are kept in one intrusive, doubly linked list per kind and
// loop. Every list has a single duration, so appending at the tail with
// deadline now+duration keeps it sorted by deadline: arming, re-arming and
// disarming are O(1) pointer moves, and a tick pops expired entries from
// the heads only. No goroutine, heap or runtime timer per connection.

type timerKind uint8

const (
	timerNone     timerKind = iota
	timerHeader             // waiting for a request head
	timerConnect            // waiting for a backend connect
	timerIdle               // routed, waiting for any byte
	timerLinger             // last bytes sent; draining the client before close
	timerPool               // a parked backend connection waits to be reused
	timerResponse           // a request went out, waiting for its response's first byte
	numTimers
)

// lingerTimeout bounds how long a connection whose last response went out
// is drained before it is closed (closing with unread input would send
// RST and might destroy the response before the client read it).
const lingerTimeout = 2e9 // ns

// maxTouchSlack is how stale an idle deadline may get before touch moves
// it; a tenth of the idle timeout when that is shorter.
const maxTouchSlack = 100e6 // ns

// timed is what a timer list holds: a connection or a parked backend
// connection. timeout runs on the loop when its deadline passed.
type timed interface {
	timeout(k timerKind)
}

// timerLink is the list entry a timed value embeds.
type timerLink struct {
	kind       timerKind
	deadline   int64 // ns since the loop's base
	prev, next *timerLink
	owner      timed
}

type timerList struct {
	head, tail *timerLink
	dur        int64 // ns; 0 means the timeout is disabled
}

// timers are a loop's timer lists, one per kind.
type timers struct {
	lists      [numTimers]timerList
	touchSlack int64
}

// arm puts t at the tail of list k with deadline now+dur, leaving any list
// it was on. A disabled kind only disarms.
func (ts *timers) arm(t *timerLink, k timerKind, now int64) {
	ts.disarm(t)
	tl := &ts.lists[k]
	if tl.dur <= 0 {
		return
	}
	t.kind = k
	t.deadline = now + tl.dur
	t.prev = tl.tail
	t.next = nil
	if tl.tail != nil {
		tl.tail.next = t
	} else {
		tl.head = t
	}
	tl.tail = t
}

// touch re-arms t's idle or response timer after activity. It moves the
// entry only when its deadline is more than touchSlack old, so a busy
// connection costs one comparison per event; the list stays sorted either
// way.
func (ts *timers) touch(t *timerLink, now int64) {
	if (t.kind == timerIdle || t.kind == timerResponse) && t.deadline < now+ts.lists[t.kind].dur-ts.touchSlack {
		ts.arm(t, t.kind, now)
	}
}

func (ts *timers) disarm(t *timerLink) {
	if t.kind == timerNone {
		return
	}
	tl := &ts.lists[t.kind]
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		tl.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		tl.tail = t.prev
	}
	t.prev, t.next, t.kind = nil, nil, timerNone
}

// expire fires every timer whose deadline passed.
func (ts *timers) expire(now int64) {
	for k := timerHeader; k < numTimers; k++ {
		tl := &ts.lists[k]
		for tl.head != nil && tl.head.deadline <= now {
			t := tl.head
			ts.disarm(t)
			t.owner.timeout(k)
		}
	}
}

// nextTimeout returns the epoll_wait timeout in ms: until the earliest
// deadline (at most a second), or -1 when no timer is armed.
func (ts *timers) nextTimeout(now int64) int {
	next := int64(-1)
	for k := timerHeader; k < numTimers; k++ {
		if h := ts.lists[k].head; h != nil && (next < 0 || h.deadline < next) {
			next = h.deadline
		}
	}
	if next < 0 {
		return -1
	}
	ms := (next-now)/1e6 + 1
	if ms < 0 {
		ms = 0
	}
	if ms > 1000 {
		ms = 1000
	}
	return int(ms)
}
