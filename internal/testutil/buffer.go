package testutil

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer that keeps everything written to it, safe for
// concurrent use: the output of a slog handler shared by goroutines, or a
// child process's stdout and stderr. A test can wait for a line in it
// (WaitLine) and ask when a string first appeared (When).
type Buffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes []written     // one per Write, for When
	grew   chan struct{} // closed and replaced by each Write and by Close
	closed bool          // no more writes will come
}

// written is where one Write ended, and when.
type written struct {
	end int
	at  time.Time
}

// errClosed is returned by Write after Close.
var errClosed = errors.New("testutil: write to a closed Buffer")

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed
	}
	n, _ := b.b.Write(p)
	b.writes = append(b.writes, written{b.b.Len(), time.Now()})
	b.wake()
	return n, nil
}

// Close marks the end of the output (the child exited): WaitLine stops
// waiting for more. It always returns nil.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.wake()
	return nil
}

// wake tells waiters that something changed; b.mu is held.
func (b *Buffer) wake() {
	if b.grew != nil {
		close(b.grew)
		b.grew = nil
	}
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len returns the number of bytes written so far: the offset at which
// WaitLine finds only what is written from now on.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// When returns the time of the Write that completed the first occurrence
// of s, or the zero time if s has not been written.
func (b *Buffer) When(s string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := bytes.Index(b.b.Bytes(), []byte(s))
	if i < 0 {
		return time.Time{}
	}
	for _, w := range b.writes {
		if w.end >= i+len(s) {
			return w.at
		}
	}
	return time.Time{} // not reached: every byte came from a Write
}

// WaitLine waits until the text written from offset on holds a whole line
// (ended by '\n') that re matches, and returns that line without its
// newline and the offset just after it, from which the next call can go
// on. It fails t if timeout passes first, or if the buffer is closed (the
// child exited) without such a line.
func (b *Buffer) WaitLine(t testing.TB, offset int, re *regexp.Regexp, timeout time.Duration) (line string, next int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		data := b.b.Bytes()
		for offset < len(data) {
			nl := bytes.IndexByte(data[offset:], '\n')
			if nl < 0 {
				break // an unfinished line: wait for the rest
			}
			l := data[offset : offset+nl]
			offset += nl + 1
			if re.Match(l) {
				b.mu.Unlock()
				return string(l), offset
			}
		}
		if b.closed {
			b.mu.Unlock()
			t.Fatalf("output ended without a line matching %s", re)
			return "", offset
		}
		if b.grew == nil {
			b.grew = make(chan struct{})
		}
		grew := b.grew
		b.mu.Unlock()
		select {
		case <-grew:
		case <-deadline.C:
			t.Fatalf("no line matching %s within %v", re, timeout)
			return "", offset
		}
	}
}

// Logger returns a logger that writes text at level and above to a new
// Buffer, and that Buffer. If t fails, the buffer is logged when it ends.
func Logger(t testing.TB, level slog.Level) (*slog.Logger, *Buffer) {
	t.Helper()
	buf := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("captured log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level})), buf
}
