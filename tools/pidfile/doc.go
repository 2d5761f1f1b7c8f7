// Package pidfile follows a process through the PID file it writes, as
// l4lb serve --pid-file does across upgrades: Read the PID, Wait until the
// file names another process, and tell whether a process still runs.
// Tests and tools/upgradecheck use it; it is Linux-only where it reads
// /proc.
//
//	old, _ := pidfile.Read(path)
//	syscall.Kill(old, syscall.SIGUSR2)
//	cur, err := pidfile.Wait(path, old, time.Minute)
//	pidfile.WaitGone(old, 30*time.Second)
//
// It does not write PID files or signal processes.
package pidfile
