package testutil

import "syscall"

// childProcAttr has the kernel kill a child when the test binary dies, so
// that a crashed or killed test leaves no process behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
