// Package testutil holds the test helpers that several packages' tests
// share, so that each exists once: Buffer, a concurrency-safe capture of
// slog output or of a child process's output that a test can wait on, and
// Child, the protocol for running a process (the test binary again, or a
// built command) beside a test and waiting until it is ready.
//
// Only _test.go files import it.
//
//	func TestMain(m *testing.M) {
//		if os.Getenv("EXAMPLE_CHILD") != "" {
//			serveAsChild() // prints "ADDR host:port" once it listens
//			return
//		}
//		os.Exit(m.Run())
//	}
//
//	func TestSomething(t *testing.T) {
//		c := testutil.Start(t, testutil.Reexec("EXAMPLE_CHILD=1"))
//		line, _ := c.Out.WaitLine(t, 0, regexp.MustCompile(`^ADDR `), 30*time.Second)
//		...
//	}
//
// A Child is stopped when its test ends (SIGTERM, then SIGKILL), and on
// Linux the kernel kills it if the test binary dies first. Waits never
// sleep to synchronize: WaitLine wakes on each write, and every wait has
// a deadline.
package testutil
