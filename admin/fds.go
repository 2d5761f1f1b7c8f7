package admin

import (
	"os"

	"golang.org/x/sys/unix"
)

// openFDs returns the number of open file descriptors of the process, or
// -1 if the system does not list them (/proc/self/fd on Linux, /dev/fd
// elsewhere).
func openFDs() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			return len(names) - 1 // the directory's own descriptor
		}
	}
	return -1
}

// fdLimit returns the process's soft open-file limit, or -1 if unknown or
// unlimited.
func fdLimit() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return -1
	}
	return int64(rl.Cur)
}
