//go:build !linux

package testutil

import "syscall"

// childProcAttr is nil where there is no parent-death signal: a child is
// stopped by its test's cleanup, and outlives a test binary that is
// killed.
func childProcAttr() *syscall.SysProcAttr { return nil }
