package affinity

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

// hugePageShare returns the share of the mapping holding t's buckets that
// the kernel backs with transparent huge pages (AnonHugePages over Size
// in /proc/self/smaps), or -1 if it cannot tell.
func hugePageShare(t *sessionTable) float64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return -1
	}
	defer f.Close()
	addr := uint64(uintptr(unsafe.Pointer(&t.buckets[0])))
	var in bool
	var size float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && l <= addr && addr < h
			continue
		}
		if !in || len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Size:":
			size = kb
		case "AnonHugePages:":
			if size > 0 {
				return kb / size
			}
			return -1
		}
	}
	return -1
}
