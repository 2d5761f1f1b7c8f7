package accesslog

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/bytebufferpool"
)

// BenchmarkLineBuffer compares ways to get the per-line buffer that the
// event loop formats into and the writer gives back: bytebufferpool (what
// RecordExchange uses), a sync.Pool of byte slices, and a new slice per
// line. Parallel, as several loops record at once.
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

// BenchmarkRecordExchange is what the event loop pays per line: format,
// pooled buffer, non-blocking enqueue; the writer writes to /dev/null.
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
			for b.Loop() {
				l.RecordExchange(e)
			}
			b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
		})
	}
}

// TestRecordExchangeAllocs checks that recording a line allocates nothing
// once the buffer pool is warm and the writer keeps up (each line is
// written before the next is recorded). A burst faster than the writer
// allocates buffers for the lines in the queue, at most Config.Queue of
// them, which then serve again.
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
	record := func() {
		n := l.Lines()
		l.RecordExchange(e)
		for l.Lines() == n {
			runtime.Gosched()
		}
	}
	for range 100 {
		record()
	}
	if n := testing.AllocsPerRun(1000, record); n > 0.01 {
		t.Errorf("AllocsPerRun(RecordExchange) = %v; want 0", n)
	}
}
