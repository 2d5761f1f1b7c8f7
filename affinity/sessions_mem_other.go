//go:build !linux

package affinity

// newSessionTable returns a table of at least entries entries on the
// heap; the function that releases it is nil.
func newSessionTable(entries int) (sessionTable, func()) {
	return heapTable((entries + sessionWays - 1) / sessionWays), nil
}
