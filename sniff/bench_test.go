package sniff

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// xhrSend is a ~500-byte browser xhr_send head with cookies (Firefox's
// header set, as sockjs-client sends it).
const xhrSend = "POST /sockjs/123/abcd1234/xhr_send?t=1700000000000 HTTP/1.1\r\n" +
	"Host: app.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Content-Type: text/plain;charset=UTF-8\r\n" +
	"Content-Length: 110\r\n" +
	"Origin: https://app.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Referer: https://app.example.com/\r\n" +
	"Cookie: _ga=GA1.1.1234567890.1700000000; sticky=web-2\r\n" +
	"\r\n"

// bigHead is an 8 KiB head: the same request with a long Cookie field, as
// sites with many analytics cookies send.
var bigHead = func() string {
	filler := 8192 - len(xhrSend) - len("Cookie: \r\n")
	var b strings.Builder
	for i := 0; b.Len() < filler-40; i++ {
		fmt.Fprintf(&b, "_c%d=%s; ", i, strings.Repeat("v", 24))
	}
	cookie := b.String() + strings.Repeat("x", filler-b.Len()-len("sticky=web-2")) + "sticky=web-2"
	h := strings.Replace(xhrSend, "\r\n\r\n", "\r\nCookie: "+cookie+"\r\n\r\n", 1)
	if len(h) != 8192 {
		panic(fmt.Sprintf("bigHead is %d bytes", len(h)))
	}
	return h
}()

const sockjsResponse = "HTTP/1.1 204 No Content\r\n" +
	"Cache-Control: no-store, no-cache, no-transform, must-revalidate, max-age=0\r\n" +
	"Access-Control-Allow-Credentials: true\r\n" +
	"Access-Control-Allow-Origin: https://app.example.com\r\n" +
	"Vary: Origin\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Date: Sun, 22 Nov 2026 02:25:53 GMT\r\n" +
	"Connection: keep-alive\r\n" +
	"Keep-Alive: timeout=5\r\n" +
	"\r\n"

func benchHeads(b *testing.B) []struct {
	name string
	head []byte
} {
	chromium, err := os.ReadFile("testdata/heads/browser/0008-00.request")
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		head []byte
	}{
		{fmt.Sprintf("xhr_send=%dB", len(xhrSend)), []byte(xhrSend)},
		{fmt.Sprintf("chromium_xhr_send=%dB", len(chromium)), chromium},
		{fmt.Sprintf("cookies=%dB", len(bigHead)), []byte(bigHead)},
	}
}

var sinkRequest Request

// BenchmarkRequest sniffs a whole head per call.
func BenchmarkRequest(b *testing.B) {
	s := newSniffer(b, testConfig)
	for _, h := range benchHeads(b) {
		b.Run(h.name, func(b *testing.B) {
			var sc Scan
			b.SetBytes(int64(len(h.head)))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				sc.Reset()
				if s.Request(&sc, h.head, &sinkRequest) != Done {
					b.Fatal("not Done")
				}
			}
			cpu.stop(0, "")
		})
	}
}

// BenchmarkRequestBytewise feeds a head one byte per call, as a slow
// client makes the event loop do; ns/call is the cost of one such call.
func BenchmarkRequestBytewise(b *testing.B) {
	s := newSniffer(b, testConfig)
	for _, h := range benchHeads(b) {
		b.Run(h.name, func(b *testing.B) {
			var sc Scan
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				sc.Reset()
				for i := 1; i <= len(h.head); i++ {
					s.Request(&sc, h.head[:i], &sinkRequest)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(h.head)), "ns/call")
			cpu.stop(len(h.head), "call")
		})
	}
}

var sinkResponse Response

func BenchmarkResponse(b *testing.B) {
	s := newSniffer(b, testConfig)
	head := []byte(sockjsResponse)
	var sc Scan
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		sc.Reset()
		if s.Response(&sc, head, false, &sinkResponse) != Done {
			b.Fatal("not Done")
		}
	}
	cpu.stop(0, "")
}

// BenchmarkChunked walks a chunked body of 1 KiB chunks.
func BenchmarkChunked(b *testing.B) {
	body := []byte(strings.Repeat("400\r\n"+strings.Repeat("x", 1024)+"\r\n", 64) + "0\r\n\r\n")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		var c ChunkedBody
		if _, done, _ := c.Scan(body); !done {
			b.Fatal("not done")
		}
	}
	cpu.stop(0, "")
}

// TestAllocs: the hot paths do not allocate.
func TestAllocs(t *testing.T) {
	s := newSniffer(t, testConfig)
	var sc Scan
	var req Request
	var resp Response
	head, big, resp204 := []byte(xhrSend), []byte(bigHead), []byte(sockjsResponse)
	absolute := []byte("GET http://a.example:80/sockjs/1/s/xhr HTTP/1.1\r\nHost: a\r\n\r\n")
	invalid := []byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
	hello := clientHello(t, "app.example.com")
	body, bad := []byte("5;x\r\nhello\r\n0\r\nX: y\r\n\r\n"), []byte("bad")
	cases := []struct {
		name string
		f    func()
	}{
		{"Request", func() {
			sc.Reset()
			s.Request(&sc, head, &req)
		}},
		{"Request bytewise", func() {
			sc.Reset()
			for i := 1; i <= len(head); i++ {
				s.Request(&sc, head[:i], &req)
			}
		}},
		{"Request 8 KiB", func() {
			sc.Reset()
			s.Request(&sc, big, &req)
		}},
		{"Request absolute-form", func() {
			sc.Reset()
			s.Request(&sc, absolute, &req)
		}},
		{"Request invalid", func() {
			sc.Reset()
			s.Request(&sc, invalid, &req)
		}},
		{"Request TLS", func() {
			sc.Reset()
			s.Request(&sc, hello, &req)
		}},
		{"Response", func() {
			sc.Reset()
			s.Response(&sc, resp204, false, &resp)
		}},
		{"ChunkedBody", func() {
			var c ChunkedBody
			c.Scan(body)
			c.Scan(bad)
		}},
	}
	for _, tc := range cases {
		if n := testing.AllocsPerRun(100, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per run; want 0", tc.name, n)
		}
	}
}

// TestBytewiseLinear: sniffing a head one byte per call costs about the
// same per call whatever the head's size; quadratic work would make a
// 64 KiB head's calls 64 times dearer than a 1 KiB head's. It measures the
// thread's CPU time, which other processes on the machine do not inflate.
func TestBytewiseLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if threadCPU() == 0 {
		t.Skip("no thread CPU clock here")
	}
	s := newSniffer(t, Config{Cookies: []string{"sticky"}, MaxHeadBytes: 128 << 10})
	perCall := func(size int) float64 {
		head := []byte(strings.Replace(xhrSend, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("p", size-len(xhrSend)-11)+"\r\n\r\n", 1))
		best := time.Duration(1 << 62)
		for range 5 {
			var sc Scan
			var req Request
			start := threadCPU()
			for range max(1, (64<<10)/size) { // as many calls for each size
				sc.Reset()
				for i := 1; i <= len(head); i++ {
					s.Request(&sc, head[:i], &req)
				}
			}
			best = min(best, threadCPU()-start)
		}
		return float64(best) / float64(max(1, (64<<10)/size)*len(head))
	}
	small, large := perCall(1<<10), perCall(64<<10)
	t.Logf("per call: %.1f ns at 1 KiB, %.1f ns at 64 KiB", small, large)
	if large > 4*small {
		t.Errorf("per-call cost grows with the head: %.1f ns at 1 KiB, %.1f ns at 64 KiB", small, large)
	}
}

var sinkInt int

// BenchmarkBaselineByteLoop is the yardstick for BenchmarkRequest: one
// table lookup per byte over the same 466-byte head, the least any
// byte-at-a-time parser of it does. Compare BenchmarkRequest with it on
// the machine that runs both; bench/README.md ("sniff micro-benchmarks")
// has figures for both and how they vary between runs.
func BenchmarkBaselineByteLoop(b *testing.B) {
	head := []byte(xhrSend)
	cpu := startCPU(b)
	for b.Loop() {
		n := 0
		for _, c := range head {
			n += int(byteClass[c])
		}
		sinkInt += n
	}
	cpu.stop(len(head), "byte")
}

// BenchmarkClassify is the bitmap classification of the same head's whole
// blocks, with AVX2 where the CPU has it and with the generic table loop.
func BenchmarkClassify(b *testing.B) {
	head := []byte(xhrSend)
	head = head[:len(head)/64*64]
	for _, avx2 := range []bool{true, false} {
		if avx2 && !useAVX2 {
			continue
		}
		b.Run(fmt.Sprintf("avx2=%v", avx2), func(b *testing.B) {
			setAVX2(b, avx2)
			var m [maxBlocks]blockMasks
			cpu := startCPU(b)
			for b.Loop() {
				classify(head, m[:])
			}
			cpu.stop(len(head), "byte")
		})
	}
}
