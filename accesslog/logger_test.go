package accesslog

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReopen is logrotate's sequence: move the file, reopen, and no line
// is lost: those recorded before Reopen are in the moved file, the later
// ones in a new file at the path.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := New(Config{Path: path, Format: Text})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := sampleExchange()
	e.Path = []byte("/before")
	l.RecordExchange(e)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatalf("Reopen = %v", err)
	}
	e.Path = []byte("/after")
	l.RecordExchange(e)
	l.Close()
	for file, want := range map[string]string{path + ".1": "/before", path: "/after"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), `"POST `+want+`"`) {
			t.Errorf("%s = %q; want the one line of %s", file, b, want)
		}
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("reopened file mode %v; want 0640", info.Mode().Perm())
	}
}

// TestFullQueueDrops blocks the writer on a FIFO nobody reads: recording
// goes on without waiting, and the lines that find the queue full are
// dropped and counted.
func TestFullQueueDrops(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A reader that never reads, so the writer's open does not wait.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := New(Config{Path: fifo, QueueBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000 // far more than the pipe, the writer's buffer and the queue hold
	recorded := make(chan struct{})
	go func() {
		e := sampleExchange()
		for range n {
			l.RecordExchange(e)
		}
		close(recorded)
	}()
	select {
	case <-recorded:
	case <-time.After(testTimeout):
		t.Fatal("RecordExchange blocked on a full queue")
	}
	if l.Dropped() == 0 {
		t.Errorf("Dropped() = 0 after %d lines to a writer that cannot write; want some", n)
	}
	// Unblock the writer and finish: the reader sees EOF once Close
	// closed the writing end.
	r.SetDeadline(time.Now().Add(testTimeout))
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		read <- err
	}()
	l.Close()
	if err := <-read; err != nil {
		t.Errorf("reading the FIFO: %v", err)
	}
	if got := l.Lines() + l.Dropped(); got != n {
		t.Errorf("Lines() + Dropped() = %d; want %d", got, n)
	}
}

// TestLoggerLines checks that a Logger writes exactly AppendLine's lines,
// in both formats: the time put in its place in a line formatted without
// it, the second kept from line to line and replaced when it changes,
// and a line too long for the stack buffer formatted in the queue.
func TestLoggerLines(t *testing.T) {
	for _, f := range []Format{JSON, Text} {
		t.Run(f.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			l, err := New(Config{Path: path, Format: f})
			if err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			e := sampleExchange()
			long := sampleExchange()
			long.Listener = "/run/" + strings.Repeat("l4lb/", 20) + "l4lb.sock"
			long.Path = []byte(strings.Repeat("\x01\xff", 64))
			if lineBound(long) <= maxLine {
				t.Fatalf("the long exchange's bound %d fits the stack buffer (%d)", lineBound(long), maxLine)
			}
			for i := range 40 {
				x := e
				if i%7 == 3 {
					x = long
				}
				x.Time = e.Time.Add(time.Duration(i) * 333 * time.Millisecond)
				l.RecordExchange(x)
				want.Write(AppendLine(nil, x, f))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want.String() {
				t.Errorf("the file holds\n%s\nwant\n%s", got, want.String())
			}
		})
	}
}
