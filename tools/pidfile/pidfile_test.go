package pidfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pid")
	if _, err := Wait(path, 0, 50*time.Millisecond); err == nil {
		t.Fatal("Wait on a missing file = nil error; want a timeout")
	}
	os.WriteFile(path, []byte("41\n"), 0o644)
	if pid, err := Wait(path, 0, time.Second); pid != 41 || err != nil {
		t.Fatalf("Wait(any) = %d, %v; want 41", pid, err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		os.WriteFile(path, []byte("42"), 0o644)
	}()
	if pid, err := Wait(path, 41, 10*time.Second); pid != 42 || err != nil {
		t.Fatalf("Wait(not 41) = %d, %v; want 42", pid, err)
	}
}

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("Alive(own PID) = false")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep(1): %v", err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Fatalf("Alive(%d) = false for a running child", pid)
	}
	cmd.Process.Kill()
	// Not reaped yet: a zombie counts as gone.
	if !WaitGone(pid, 10*time.Second) {
		t.Fatalf("WaitGone(%d) = false after SIGKILL", pid)
	}
	cmd.Wait()
	if Alive(pid) {
		t.Fatalf("Alive(%s) after Wait", strconv.Itoa(pid))
	}
}
