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
// RecordExchange formats the line on the event loop, into a buffer on
// its stack, and appends it to the queue, a byte buffer of bounded size
// under a lock held for the copy; a line that does not fit is dropped
// and counted, never waited for. A writer goroutine swaps the queue for
// an empty one every flushEvery, or as soon as it is half full, and
// writes it in one write(2). Safe for concurrent use.
type Logger struct {
	cfg    Config
	reopen chan chan error
	wake   chan struct{} // the queue is half full
	done   chan struct{}
	exited chan struct{}
	stop   sync.Once

	mu    sync.Mutex
	queue []byte // lines waiting, cap cfg.QueueBytes
	spare []byte // the writer's, while it writes

	out io.WriteCloser // the writer goroutine's own after New

	lines, dropped, writeErrors atomic.Int64
	queued                      atomic.Int64 // lines put in the queue
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

// maxLine is the stack buffer a line is formatted in; a longer line
// (only with very long endpoints) grows on the heap.
const maxLine = 1024

// RecordExchange queues e's line. It runs on the event loop: it formats
// on the stack and copies into the queue under a lock, and never waits
// for the writer.
func (l *Logger) RecordExchange(e *engine.Exchange) {
	var buf [maxLine]byte
	line := AppendLine(buf[:0], e, l.cfg.Format)
	l.mu.Lock()
	q := l.queue
	if len(q)+len(line) > cap(q) {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	l.queue = append(q, line...)
	l.queued.Add(1)
	half := len(q) < cap(q)/2 && len(l.queue) >= cap(q)/2
	l.mu.Unlock()
	if half {
		select {
		case l.wake <- struct{}{}:
		default:
		}
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

// flushEvery is how often the writer takes the queued lines and writes
// them; a line is at most this late on disk.
const flushEvery = 20 * time.Millisecond

// write is the writer goroutine. It takes the queue every flushEvery, or
// when it is half full, and writes it in one write(2): waiting for each
// line instead would cost the event loop a wake-up per line.
func (l *Logger) write() {
	defer close(l.exited)
	failing := false
	// drain writes what is queued now.
	drain := func() {
		l.mu.Lock()
		batch := l.queue
		l.queue, l.spare = l.spare[:0], nil
		n := l.queued.Swap(0)
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
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			drain()
		case <-l.wake:
			drain()
		case done := <-l.reopen:
			drain()
			if l.cfg.Path == Stdout {
				done <- nil
				continue
			}
			out, err := open(l.cfg.Path)
			if err != nil {
				l.cfg.Logger.Error("access log not reopened; writing to the old file", "path", l.cfg.Path, "err", err)
				done <- err
				continue
			}
			l.out.Close()
			l.out = out
			done <- nil
		case <-l.done:
			drain()
			if err := l.out.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
				l.cfg.Logger.Error("access log close", "path", l.cfg.Path, "err", err)
			}
			return
		}
	}
}
