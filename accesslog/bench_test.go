package accesslog

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/bytebufferpool"
)

// BenchmarkLineBuffer compares ways to get the buffer that the event loop
// formats a line into: bytebufferpool, a sync.Pool of byte slices, a
// buffer on the stack copied into the queue under a lock (what
// RecordExchange does), the queue itself under the lock (what it does
// with a line too long for its stack buffer), and a new slice per line.
// Parallel, as several loops record at once.
func BenchmarkLineBuffer(b *testing.B) {
	e := sampleExchange()
	b.Run("bytebufferpool", func(b *testing.B) {
		var p bytebufferpool.Pool
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				buf := p.Get()
				buf.B = AppendLine(buf.B, e, JSON)
				p.Put(buf)
			}
		})
	})
	b.Run("sync.Pool", func(b *testing.B) {
		p := sync.Pool{New: func() any { s := make([]byte, 0, 512); return &s }}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				buf := p.Get().(*[]byte)
				*buf = AppendLine((*buf)[:0], e, JSON)
				p.Put(buf)
			}
		})
	})
	b.Run("stack, copied into the queue", func(b *testing.B) {
		var mu sync.Mutex
		queue := make([]byte, 0, 1<<20)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var buf [maxLine]byte
				line := AppendLine(buf[:0], e, JSON)
				mu.Lock()
				if len(queue)+len(line) > cap(queue) {
					queue = queue[:0] // the writer took it
				}
				queue = append(queue, line...)
				mu.Unlock()
			}
		})
	})
	b.Run("into the queue, under the lock", func(b *testing.B) {
		var mu sync.Mutex
		var st stamp
		queue := make([]byte, 0, 1<<20)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				need := lineBound(e)
				mu.Lock()
				if cap(queue)-len(queue) < need {
					queue = queue[:0] // the writer took it
				}
				queue = appendLine(queue, e, JSON, &st, nil)
				mu.Unlock()
			}
		})
	})
	b.Run("new slice", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lineSink.Store(AppendLine(make([]byte, 0, 512), e, JSON)) // the line leaves, as it does to the writer
			}
		})
	})
}

var lineSink atomic.Value

// BenchmarkRecordExchange is what the event loop pays per line: format
// into the queue. The benchmark empties the queue itself every 1000
// lines, as the writer would, so that no line is dropped (a dropped line
// costs nearly nothing, and the loop records far faster than any writer
// would be woken).
func BenchmarkRecordExchange(b *testing.B) {
	for _, f := range []Format{JSON, Text} {
		b.Run(f.String(), func(b *testing.B) {
			l, err := New(Config{Path: "/dev/null", Format: f})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			e := sampleExchange()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.RecordExchange(e)
				if i++; i%1000 == 0 {
					l.mu.Lock()
					l.queue, l.queued = l.queue[:0], 0
					l.mu.Unlock()
				}
			}
			b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
		})
	}
}

// TestRecordExchangeAllocs checks that recording a line allocates
// nothing: it is formatted on the stack and copied into the queue.
func TestRecordExchangeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, err := New(Config{Path: "/dev/null"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := sampleExchange()
	if n := testing.AllocsPerRun(1000, func() { l.RecordExchange(e) }); n != 0 {
		t.Errorf("AllocsPerRun(RecordExchange) = %v; want 0", n)
	}
}

// BenchmarkAppendLine is the formatting alone, with the time's second
// formatted for each line (AppendLine) and once (as a Logger does).
func BenchmarkAppendLine(b *testing.B) {
	e := sampleExchange()
	for _, f := range []Format{JSON, Text} {
		b.Run(f.String(), func(b *testing.B) {
			var buf [1024]byte
			b.ReportAllocs()
			for b.Loop() {
				AppendLine(buf[:0], e, f)
			}
		})
		b.Run(f.String()+", second kept", func(b *testing.B) {
			var buf [1024]byte
			var st stamp
			b.ReportAllocs()
			for b.Loop() {
				appendLine(buf[:0], e, f, &st, nil)
			}
		})
	}
}
