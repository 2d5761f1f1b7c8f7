package registrytest

import "syscall"

// childProcAttr has the kernel kill devmongo when the test binary dies, so
// a crashed or killed test leaves no server behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
