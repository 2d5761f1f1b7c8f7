package engine

// freeList keeps up to max released values of one kind for reuse, so that
// states a connection drops often (its HTTP state when it upgrades, its
// dial state once connected, a parked backend connection) and buffers are
// recycled instead of becoming garbage: a balancer holding thousands of
// idle WebSockets would otherwise grow its heap, and its RSS, with every
// upgrade. It belongs to one loop and is not safe for concurrent use.
type freeList[T any] struct {
	free []T
	max  int
}

// get returns a kept value, or ok false when none is kept.
func (fl *freeList[T]) get() (v T, ok bool) {
	n := len(fl.free)
	if n == 0 {
		return v, false
	}
	v = fl.free[n-1]
	var zero T
	fl.free[n-1] = zero
	fl.free = fl.free[:n-1]
	return v, true
}

// put keeps v and reports true, or reports false when the list is full
// (the caller disposes of v: a pipe must be closed).
func (fl *freeList[T]) put(v T) bool {
	if len(fl.free) >= fl.max {
		return false
	}
	fl.free = append(fl.free, v)
	return true
}

// all returns the kept values and empties the list.
func (fl *freeList[T]) all() []T {
	v := fl.free
	fl.free = nil
	return v
}
