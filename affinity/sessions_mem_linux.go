package affinity

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on Linux.
const hugePage = 2 << 20

// newSessionTable returns a table of at least entries entries, and a
// function that releases its memory (nil when the garbage collector
// does). A table of 2 MiB or more is mapped on its own, aligned to 2 MiB
// and advised to use transparent huge pages: a lookup reads a random
// cache line, and on 4 KiB pages most of them would also miss the TLB
// (16 MiB is 4096 pages). Whether the kernel gives huge pages depends on
// /sys/kernel/mm/transparent_hugepage (enabled: always or madvise); the
// table works the same without. Such a table's capacity is rounded up to
// a multiple of 2 MiB of entries. Its pages are touched here, so that no
// request pays for faulting them in.
func newSessionTable(entries int) (sessionTable, func()) {
	n := (entries + sessionWays - 1) / sessionWays
	size := n * int(unsafe.Sizeof(sessionBucket{}))
	if size >= hugePage {
		if m, ok := mapHuge(size); ok {
			// The whole mapping is buckets: the capacity is rounded up
			// to a huge page.
			bks := unsafe.Slice((*sessionBucket)(unsafe.Pointer(&m[0])), len(m)/int(unsafe.Sizeof(sessionBucket{})))
			for off := 0; off < len(m); off += 4096 {
				(*atomic.Uint64)(unsafe.Pointer(&m[off])).Store(0)
			}
			return sessionTable{buckets: bks}, func() { _ = syscall.Munmap(m) }
		}
	}
	return heapTable(n), nil
}

// mapHuge maps size bytes (rounded up to huge pages) of anonymous memory
// at a 2 MiB boundary, advised MADV_HUGEPAGE.
func mapHuge(size int) ([]byte, bool) {
	size = (size + hugePage - 1) &^ (hugePage - 1)
	m, err := syscall.Mmap(-1, 0, size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, false
	}
	skip := int((hugePage - uintptr(unsafe.Pointer(&m[0]))%hugePage) % hugePage)
	// Give back the unaligned head and tail.
	if skip > 0 {
		_ = syscall.Munmap(m[:skip])
	}
	if tail := m[skip+size:]; len(tail) > 0 {
		_ = syscall.Munmap(tail)
	}
	m = m[skip : skip+size : skip+size]
	_ = syscall.Madvise(m, syscall.MADV_HUGEPAGE) // advice: without it, 4 KiB pages
	return m, true
}
