//go:build !linux

package registrytest

import "syscall"

// childProcAttr is nil where there is no parent-death signal: devmongo is
// stopped by the test's cleanup, and outlives a test binary that is
// killed.
func childProcAttr() *syscall.SysProcAttr { return nil }
