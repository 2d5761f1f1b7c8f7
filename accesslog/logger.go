package accesslog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l4lb/l4lb/engine"
)

// DefaultQueueBytes bounds the bytes of lines waiting for the writer when
// Config.QueueBytes is zero.
const DefaultQueueBytes = 1 << 20

// Stdout is the Config.Path that writes to the standard output.
const Stdout = "stdout"

// Config configures a Logger.
type Config struct {
	// Path is the file lines are appended to (created mode 0640 if
	// missing), or Stdout.
	Path string
	// Format is JSON (the zero value) or Text.
	Format Format
	// QueueBytes bounds the lines waiting for the writer, in bytes; a
	// line that does not fit is dropped and counted. If zero or
	// negative, DefaultQueueBytes is used.
	QueueBytes int
	// Logger receives write and reopen errors (one per failure streak).
	// If nil, they are discarded.
	Logger *slog.Logger
}

// Logger writes access log lines. It implements engine.ExchangeRecorder:
// RecordExchange formats the line on the event loop and copies it into
// the queue, a byte buffer of bounded size, under a lock; a line that
// does not fit is dropped and counted, never waited for. A writer goroutine
// sleeps until a line comes, lets lines gather for flushEvery (less if
// the queue gets half full), swaps the queue for an empty one and writes
// it in one write(2). Safe for concurrent use.
type Logger struct {
	cfg    Config
	reopen chan chan error
	wake   chan struct{} // a line came into an empty queue
	full   chan struct{} // the queue got half full
	done   chan struct{}
	exited chan struct{}
	stop   sync.Once

	mu     sync.Mutex
	queue  []byte // lines waiting, cap cfg.QueueBytes
	queued int64  // lines in queue
	spare  []byte // the writer's, while it writes
	stamp  stamp  // the last line's second, formatted

	out io.WriteCloser // the writer goroutine's own after New

	lines, dropped, writeErrors atomic.Int64
}

var _ engine.ExchangeRecorder = (*Logger)(nil)

// New opens cfg.Path and starts the writer goroutine; Close stops it.
func New(cfg Config) (*Logger, error) {
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	out, err := open(cfg.Path)
	if err != nil {
		return nil, err
	}
	l := &Logger{
		cfg:    cfg,
		reopen: make(chan chan error),
		wake:   make(chan struct{}, 1),
		full:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		queue:  make([]byte, 0, cfg.QueueBytes),
		spare:  make([]byte, 0, cfg.QueueBytes),
		out:    out,
	}
	go l.write()
	return l, nil
}

// open opens path for appending, or the standard output.
func open(path string) (io.WriteCloser, error) {
	if path == Stdout {
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// maxLine is the stack buffer RecordExchange formats a line in, when the
// line cannot be longer (lineBound); a longer one (long endpoints or
// paths full of escaped bytes) is formatted in the queue, under the lock.
const maxLine = 2048

// RecordExchange queues e's line. It runs on the event loop and never
// waits for the writer. It formats the line, but its time, in a buffer on
// its stack, then under the lock copies it into the queue with the time
// in its place: the time's second is formatted once a second, under the
// lock, and the lock is held for copies only, so that several loops
// recording at once seldom wait for each other.
func (l *Logger) RecordExchange(e *engine.Exchange) {
	need := lineBound(e)
	if need > maxLine {
		l.recordLong(e, need)
		return
	}
	var buf [maxLine]byte
	cut := 0
	line := appendLine(buf[:0], e, l.cfg.Format, nil, &cut)
	l.mu.Lock()
	q := l.queue
	if cap(q)-len(q) < len(line)+maxStamp {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	before := len(q)
	q = append(q, line[:cut]...)
	q = l.stamp.append(q, e.Time, l.cfg.Format)
	l.queue = append(q, line[cut:]...)
	l.queued++
	l.queuedLocked(before)
}

// recordLong queues a line that might not fit the stack buffer: it is
// formatted straight into the queue, under the lock, if it fits there
// at its longest (need bytes).
func (l *Logger) recordLong(e *engine.Exchange, need int) {
	l.mu.Lock()
	q := l.queue
	if cap(q)-len(q) < need {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	l.queue = appendLine(q, e, l.cfg.Format, &l.stamp, nil)
	l.queued++
	l.queuedLocked(len(q))
}

// queuedLocked, called with the lock held after a line was appended to a
// queue of before bytes, unlocks and wakes the writer if the line was the
// first in the queue or filled it half.
func (l *Logger) queuedLocked(before int) {
	after, c := len(l.queue), cap(l.queue)
	l.mu.Unlock()
	if before == 0 {
		signal(l.wake)
	}
	if before < c/2 && after >= c/2 {
		signal(l.full)
	}
}

// signal sends on c, of capacity 1, unless a signal is pending already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Reopen makes the writer write the lines queued so far, then close and
// reopen the file (after logrotate moved it); a no-op for Stdout. It
// returns once the file is reopened, with the error that kept it from
// being (the old file then stays in use).
func (l *Logger) Reopen() error {
	done := make(chan error, 1)
	select {
	case l.reopen <- done:
		return <-done
	case <-l.exited:
		return nil
	}
}

// Close writes the lines queued so far, stops the writer and closes the
// file. Lines recorded after Close are dropped.
func (l *Logger) Close() error {
	l.stop.Do(func() { close(l.done) })
	<-l.exited
	return nil
}

// Lines returns the lines handed to the writer; Dropped the lines
// dropped for a full queue; WriteErrors the writes that failed.
func (l *Logger) Lines() int64       { return l.lines.Load() }
func (l *Logger) Dropped() int64     { return l.dropped.Load() }
func (l *Logger) WriteErrors() int64 { return l.writeErrors.Load() }

// flushEvery is how long the writer lets lines gather after the first
// one before it writes them, unless the queue gets half full first: a
// line is at most this late on disk. Each flush costs a wake-up of the
// writer goroutine and a write(2); 100 ms makes that 10 a second at most,
// and none while no line comes.
const flushEvery = 100 * time.Millisecond

// write is the writer goroutine. It sleeps until a line comes into the
// empty queue, waits flushEvery or until the queue is half full, takes
// the queue and writes it in one write(2): waking it for each line, or
// on a ticker while nothing is logged, would cost wake-ups for nothing.
func (l *Logger) write() {
	defer close(l.exited)
	failing := false
	// drain writes what is queued now.
	drain := func() {
		l.mu.Lock()
		batch := l.queue
		l.queue, l.spare = l.spare[:0], nil
		n := l.queued
		l.queued = 0
		l.mu.Unlock()
		if len(batch) > 0 {
			if _, err := l.out.Write(batch); err != nil {
				l.writeErrors.Add(1)
				if !failing {
					l.cfg.Logger.Error("access log write failed; lines are lost until it works again", "path", l.cfg.Path, "err", err)
				}
				failing = true
			} else {
				failing = false
			}
		}
		l.lines.Add(n)
		l.mu.Lock()
		l.spare = batch[:0]
		l.mu.Unlock()
	}
	reopen := func(done chan error) {
		drain()
		if l.cfg.Path == Stdout {
			done <- nil
			return
		}
		out, err := open(l.cfg.Path)
		if err != nil {
			l.cfg.Logger.Error("access log not reopened; writing to the old file", "path", l.cfg.Path, "err", err)
			done <- err
			return
		}
		l.out.Close()
		l.out = out
		done <- nil
	}
	stop := func() {
		drain()
		if err := l.out.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			l.cfg.Logger.Error("access log close", "path", l.cfg.Path, "err", err)
		}
	}
	gather := time.NewTimer(flushEvery)
	gather.Stop()
	for {
		select {
		case <-l.wake:
		case <-l.full:
		case done := <-l.reopen:
			reopen(done)
			continue
		case <-l.done:
			stop()
			return
		}
		gather.Reset(flushEvery)
		select {
		case <-gather.C:
		case <-l.full:
			gather.Stop()
		case done := <-l.reopen:
			gather.Stop()
			reopen(done)
			continue
		case <-l.done:
			stop()
			return
		}
		drain()
	}
}
