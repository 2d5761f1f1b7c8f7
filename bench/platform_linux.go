package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// childProcAttr puts a child in its own process group, so a SIGINT at the
// terminal reaches the harness, which then stops children in order; and
// has the kernel kill it if the harness dies first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// totalRAM is the machine's memory in bytes, 0 if unknown.
func totalRAM() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}
