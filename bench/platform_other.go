//go:build !linux

package main

import "syscall"

// childProcAttr puts a child in its own process group, so a SIGINT at the
// terminal reaches the harness, which then stops children in order. There
// is no parent-death signal here: children outlive a killed harness.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// totalRAM is unknown here (0); the harness reads processes' usage from
// /proc and measures on Linux only.
func totalRAM() uint64 { return 0 }
