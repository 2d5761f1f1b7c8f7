package accesslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l4lb/l4lb/engine"
	"github.com/valyala/bytebufferpool"
)

// DefaultQueue is how many lines wait for the writer before new ones are
// dropped, when Config.Queue is zero: the writer takes them every
// flushEvery, so it holds 400,000 lines a second.
const DefaultQueue = 8192

// Stdout is the Config.Path that writes to the standard output.
const Stdout = "stdout"

// Config configures a Logger.
type Config struct {
	// Path is the file lines are appended to (created mode 0640 if
	// missing), or Stdout.
	Path string
	// Format is JSON (the zero value) or Text.
	Format Format
	// Queue bounds the lines waiting for the writer; past it, lines are
	// dropped and counted. If zero or negative, DefaultQueue is used.
	Queue int
	// Logger receives write and reopen errors (rate-limited to one per
	// failure streak). If nil, they are discarded.
	Logger *slog.Logger
}

// Logger writes access log lines. It implements engine.ExchangeRecorder:
// RecordExchange formats the line into a pooled buffer on the event loop
// and puts it on a bounded queue, never blocking; a full queue drops the
// line and counts it. A writer goroutine empties the queue every 20 ms.
// Safe for concurrent use.
type Logger struct {
	cfg    Config
	queue  chan *bytebufferpool.ByteBuffer
	reopen chan chan error
	done   chan struct{}
	exited chan struct{}
	stop   sync.Once

	out io.WriteCloser // the writer goroutine's own after New

	lines, dropped, writeErrors atomic.Int64
}

var _ engine.ExchangeRecorder = (*Logger)(nil)

// pool holds the line buffers: bytebufferpool sizes new buffers from the
// lines it has seen, so a buffer is allocated only while the pool warms up
// or when a line outgrows the others.
var pool bytebufferpool.Pool

// New opens cfg.Path and starts the writer goroutine; Close stops it.
func New(cfg Config) (*Logger, error) {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
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
		queue:  make(chan *bytebufferpool.ByteBuffer, cfg.Queue),
		reopen: make(chan chan error),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
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

// RecordExchange queues e's line. It runs on the event loop: it formats
// into a pooled buffer and never waits.
func (l *Logger) RecordExchange(e *engine.Exchange) {
	b := pool.Get()
	b.B = AppendLine(b.B, e, l.cfg.Format)
	select {
	case l.queue <- b:
	default:
		l.dropped.Add(1)
		pool.Put(b)
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

// Lines returns the lines written; Dropped the lines dropped for a full
// queue; WriteErrors the writes that failed.
func (l *Logger) Lines() int64       { return l.lines.Load() }
func (l *Logger) Dropped() int64     { return l.dropped.Load() }
func (l *Logger) WriteErrors() int64 { return l.writeErrors.Load() }

// flushEvery is how often the writer takes the queued lines and writes
// them; a line is at most this late on disk.
const flushEvery = 20 * time.Millisecond

// write is the writer goroutine. It wakes every flushEvery, takes what
// is queued and writes it in one write(2) (more for more than 64 KiB):
// waiting on the queue instead would wake it, and cost the event loop a
// wake-up, for every line.
func (l *Logger) write() {
	defer close(l.exited)
	w := bufio.NewWriterSize(l.out, 64<<10)
	failing := false
	flush := func() {
		if err := w.Flush(); err != nil {
			l.writeErrors.Add(1)
			if !failing {
				l.cfg.Logger.Error("access log write failed; lines are lost until it works again", "path", l.cfg.Path, "err", err)
			}
			failing = true
			w.Reset(l.out) // drop what could not be written
			return
		}
		failing = false
	}
	// drain writes what is queued now.
	drain := func() {
		for {
			select {
			case b := <-l.queue:
				w.Write(b.B)
				pool.Put(b)
				l.lines.Add(1)
			default:
				flush()
				return
			}
		}
	}
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
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
			w.Reset(out)
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
