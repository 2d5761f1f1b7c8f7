//go:build linux && measure

package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/sniff"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// TestGnetCompare measures what docs/engine-measurements.md's "Why not gnet for accept and the
// first sniff" rests on: the server-side CPU time per accepted connection
// of
//
//   - gnet: a gnet v2.10.0 listener with one loop that sniffs the head in
//     OnTraffic (Peek, sniff.Request with the Scan in the conn context),
//     Dups the fd, hands it with the received bytes to a separate epoll
//     loop of our own (mutex-guarded queue plus an eventfd wake-up, as the
//     engine's post does) and closes the gnet conn; the own loop does
//     epoll_ctl ADD, TCP_NODELAY, writes a fixed 204 and closes;
//   - gnet-direct: the same gnet server answering on its own loop without
//     the hand-off (Write, then Close), which splits the gnet cost into
//     gnet's own and the hand-off's;
//   - own: one epoll loop of our own on a SO_REUSEPORT listener, as the
//     engine's (listenTCP, accept4 nonblocking, TCP_NODELAY, epoll_ctl
//     ADD, read, sniff.Request, the same 204, close).
//
// Both are minimal servers doing identical work apart from the accept,
// sniff and hand-off, so the difference is exactly that. Each runs in a
// child process (one per round, fresh port) and is driven by the same
// client load: short connections that send a 500-byte SockJS xhr_send
// request, read the answer to EOF and close. Rounds alternate gnet, own,
// gnet, own... on a machine that may be shared; medians with min-max are
// reported. It then counts the fds and RSS per idle connection (nothing
// sent) for gnet, the minimal own loop and the real engine (one loop).
//
// It only reports figures, and it is the only user of gnet (which
// go.mod keeps for it alone), so it builds only with the measure tag:
//
//	go test -tags measure -run TestGnetCompare -v ./engine
//
// L4LB_GNETCMP_CONNS (default 20000), L4LB_GNETCMP_ROUNDS (5) and
// L4LB_GNETCMP_IDLE (5000) change the sizes.
func TestGnetCompare(t *testing.T) {
	n := gnetCmpEnvInt("L4LB_GNETCMP_CONNS", 20000)
	rounds := gnetCmpEnvInt("L4LB_GNETCMP_ROUNDS", 5)
	idle := gnetCmpEnvInt("L4LB_GNETCMP_IDLE", 5000)
	const workers = 16
	modes := []string{"gnet", "own", "gnet-direct"}
	cpuPer := map[string][]float64{}
	rate := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for _, mode := range modes {
			ch := startChildEnv(t, 1, []string{gnetCmpEnv + "=" + mode})
			if err := gnetCmpDrive(ch.addr, 1000, workers); err != nil { // warm-up
				t.Fatalf("%s warm-up: %v", mode, err)
			}
			cpu0, start := ch.cpu(t), time.Now()
			if err := gnetCmpDrive(ch.addr, n, workers); err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			wall, cpu := time.Since(start), ch.cpu(t)-cpu0
			st := ch.stats(t)
			if want := fmt.Sprintf("served=%d errors=0", n+1000); st != want {
				t.Fatalf("%s: child says %q; want %q", mode, st, want)
			}
			gnetCmpStop(ch)
			us := float64(cpu.Microseconds()) / float64(n)
			cps := float64(n) / wall.Seconds()
			cpuPer[mode] = append(cpuPer[mode], us)
			rate[mode] = append(rate[mode], cps)
			t.Logf("round %d %-4s: %d connections, server CPU %.1f µs per connection, %.0f connections/s", r+1, mode, n, us, cps)
		}
	}
	for _, mode := range modes {
		t.Logf("%-4s: server CPU per connection %s µs, %s connections/s (median [min-max] of %d rounds of %d)",
			mode, gnetCmpMed(cpuPer[mode], "%.1f"), gnetCmpMed(rate[mode], "%.0f"), rounds, n)
	}
	for _, mode := range []string{"gnet", "gnet-direct"} {
		// Paired by round, which cancels most of a shared machine's drift.
		var ratio []float64
		for r := range cpuPer["own"] {
			ratio = append(ratio, cpuPer[mode][r]/cpuPer["own"][r])
		}
		t.Logf("%s / own CPU per connection, paired by round: %s", mode, gnetCmpMed(ratio, "%.2f"))
	}

	// Idle connections, client side only: nothing sent, so no backend is
	// involved even for the real engine.
	echo := startEcho(t)
	for _, mode := range []string{"gnet", "own", "engine"} {
		var ch *child
		if mode == "engine" {
			ch = startChild(t, 1, echo)
		} else {
			ch = startChildEnv(t, 1, []string{gnetCmpEnv + "=" + mode})
		}
		gnetCmpDrive(ch.addr, 1000, workers) // warm-up: buffers, pools, thread stacks
		ch.gc(t)
		fds0, rss0 := ch.fds(t), ch.rss(t)
		conns := make([]net.Conn, 0, idle)
		for i := 0; i < idle; i++ {
			c, err := net.Dial("tcp", ch.addr)
			if err != nil {
				t.Fatalf("%s: idle connection %d: %v", mode, i, err)
			}
			conns = append(conns, c)
		}
		time.Sleep(time.Second) // let the server accept them all
		fds1, rss1 := ch.fds(t), ch.rss(t)
		ch.gc(t)
		rss2 := ch.rss(t)
		t.Logf("%-6s: %d idle connections: %.2f fds and %.0f B RSS per connection (%.0f B after a forced GC)",
			mode, idle, float64(fds1-fds0)/float64(idle), float64(rss1-rss0)/float64(idle), float64(rss2-rss0)/float64(idle))
		for _, c := range conns {
			c.Close()
		}
		gnetCmpStop(ch)
	}
}

// gnetCmpEnv selects a minimal server in a child process (see init).
const gnetCmpEnv = "L4LB_GNETCMP_CHILD"

func init() {
	// Runs before TestMain, so a child started with gnetCmpEnv set serves
	// the minimal server instead of the engine.
	if mode := os.Getenv(gnetCmpEnv); mode != "" {
		gnetCmpChild(mode)
		os.Exit(0)
	}
}

func gnetCmpEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func gnetCmpStop(ch *child) {
	ch.in.Close()
	done := make(chan struct{})
	go func() { ch.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		ch.cmd.Process.Kill()
	}
}

func gnetCmpMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func gnetCmpMed(v []float64, f string) string {
	return fmt.Sprintf(f+" ["+f+"-"+f+"]", gnetCmpMedian(v), slices.Min(v), slices.Max(v))
}

// gnetCmpHead is a SockJS xhr_send request as Chromium sends it, about 500
// bytes with its body.
var gnetCmpHead = func() []byte {
	body := `["{\"msg\":\"method\",\"id\":\"7\",\"method\":\"ping\",\"params\":[]}"]`
	h := "POST /sockjs/123/a1b2c3d4/xhr_send HTTP/1.1\r\n" +
		"Host: app.example.com\r\n" +
		"Connection: keep-alive\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n" +
		"Content-Type: text/plain;charset=UTF-8\r\n" +
		"Accept: */*\r\n" +
		"Origin: https://app.example.com\r\n" +
		"Sec-Fetch-Site: same-origin\r\n" +
		"Sec-Fetch-Mode: cors\r\n" +
		"Sec-Fetch-Dest: empty\r\n" +
		"Referer: https://app.example.com/\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\n" +
		"\r\n" + body
	return []byte(h)
}()

var gnetCmpResponse = []byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

// gnetCmpDrive makes n short connections to addr from workers goroutines:
// connect, send gnetCmpHead, read the answer to EOF, close.
func gnetCmpDrive(addr string, n, workers int) error {
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for next.Add(1) <= int64(n) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				c.SetDeadline(time.Now().Add(testTimeout))
				if _, err := c.Write(gnetCmpHead); err != nil {
					c.Close()
					errs <- err
					return
				}
				m := 0
				for {
					k, err := c.Read(buf[m:])
					m += k
					if err == io.EOF {
						break
					}
					if err != nil {
						c.Close()
						errs <- err
						return
					}
				}
				c.Close()
				if !bytes.Equal(buf[:m], gnetCmpResponse) {
					errs <- fmt.Errorf("answer %q", buf[:m])
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// gnetCmpChild runs the minimal server mode ("gnet" or "own") on
// 127.0.0.1 and speaks childMain's protocol on stdin/stdout: it prints
// "ADDR host:port", then answers "gc" with "ok" and "stats" with
// "served=N errors=M" until EOF.
func gnetCmpChild(mode string) {
	sn, err := sniff.New(sniff.Config{Prefixes: []string{"/sockjs"}})
	if err != nil {
		panic(err)
	}
	var served, errs atomic.Int64
	var addr string
	switch mode {
	case "own":
		fd, err := listenTCP(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, true)
		if err != nil {
			panic(err)
		}
		sa, _ := unix.Getsockname(fd)
		addr = sockaddrToAddr(sa).String()
		o := &ownLoop{sn: sn, lfd: fd, served: &served, errs: &errs}
		go o.run()
	case "gnet", "gnet-direct":
		h := &gnetCmpHandler{sn: sn, errs: &errs, served: &served, boot: make(chan string, 1)}
		if mode == "gnet" {
			h.ho = newHandoffLoop(&served)
			go h.ho.run()
		}
		go func() {
			err := gnet.Run(h, "tcp://127.0.0.1:0", gnet.WithMulticore(false), gnet.WithNumEventLoop(1),
				gnet.WithReusePort(true), gnet.WithLockOSThread(true), gnet.WithLogger(gnetCmpLog{}))
			if err != nil {
				panic(err)
			}
		}()
		addr = <-h.boot
	default:
		panic("unknown mode " + mode)
	}
	fmt.Println("ADDR", addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println("ok")
		case "stats":
			fmt.Printf("served=%d errors=%d\n", served.Load(), errs.Load())
		}
	}
}

// gnetCmpLog keeps gnet's log off stdout, which carries the child's
// answers; only warnings and errors go to stderr.
type gnetCmpLog struct{}

func (gnetCmpLog) Debugf(string, ...any)        {}
func (gnetCmpLog) Infof(string, ...any)         {}
func (gnetCmpLog) Warnf(f string, args ...any)  { fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", args...) }
func (gnetCmpLog) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", args...) }
func (gnetCmpLog) Fatalf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", args...)
	os.Exit(1)
}

// gnetCmpHandler is the gnet side: sniff the first head, hand off.
type gnetCmpHandler struct {
	gnet.BuiltinEventEngine
	sn     *sniff.Sniffer
	ho     *handoffLoop // nil: answer on gnet's loop (gnet-direct)
	errs   *atomic.Int64
	served *atomic.Int64
	boot   chan string
	req    sniff.Request // scratch, as the engine's loop keeps it
	free   []*sniff.Scan // per-connection Scans, reused
}

func (h *gnetCmpHandler) OnBoot(eng gnet.Engine) gnet.Action {
	fd, err := eng.Dup()
	if err != nil {
		panic(err)
	}
	sa, _ := unix.Getsockname(fd)
	unix.Close(fd)
	h.boot <- sockaddrToAddr(sa).String()
	return gnet.None
}

func (h *gnetCmpHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	var sc *sniff.Scan
	if k := len(h.free); k > 0 {
		sc, h.free = h.free[k-1], h.free[:k-1]
	} else {
		sc = new(sniff.Scan)
	}
	c.SetContext(sc)
	return nil, gnet.None
}

func (h *gnetCmpHandler) OnClose(c gnet.Conn, _ error) gnet.Action {
	if sc, ok := c.Context().(*sniff.Scan); ok {
		sc.Reset()
		h.free = append(h.free, sc)
		c.SetContext(nil)
	}
	return gnet.None
}

func (h *gnetCmpHandler) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	switch h.sn.Request(c.Context().(*sniff.Scan), buf, &h.req) {
	case sniff.NeedMore:
		return gnet.None
	case sniff.Done:
		if h.ho == nil {
			c.SetNoDelay(true)
			c.Write(gnetCmpResponse)
			h.served.Add(1)
			return gnet.Close
		}
		fd, err := c.Dup()
		if err != nil {
			h.errs.Add(1)
			return gnet.Close
		}
		h.ho.post(fd, buf)
		// Returning Close closes at once on the loop (poller.Delete,
		// close(2)); Conn.Close() would queue the same through the
		// poller's task queue.
		return gnet.Close
	default:
		h.errs.Add(1)
		return gnet.Close
	}
}

// handoffLoop is the receiving epoll loop of the gnet variant: what the
// engine's loop would do with a routed fd, minus the backend.
type handoffLoop struct {
	epfd, evfd int
	mu         sync.Mutex
	q          []handoff
	served     *atomic.Int64
}

type handoff struct {
	fd   int
	data *[]byte // the bytes gnet read, to be forwarded
}

var handoffBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func newHandoffLoop(served *atomic.Int64) *handoffLoop {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		panic(err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		panic(err)
	}
	return &handoffLoop{epfd: epfd, evfd: evfd, served: served}
}

// post queues fd and a copy of p; it wakes the loop only when the queue was
// empty (a loop that is draining it will see the new entry).
func (ho *handoffLoop) post(fd int, p []byte) {
	b := handoffBufs.Get().(*[]byte)
	*b = append((*b)[:0], p...)
	ho.mu.Lock()
	wake := len(ho.q) == 0
	ho.q = append(ho.q, handoff{fd, b})
	ho.mu.Unlock()
	if wake {
		one := [8]byte{1}
		unix.Write(ho.evfd, one[:])
	}
}

func (ho *handoffLoop) run() {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, maxEvents)
	var spare []handoff
	var cnt [8]byte
	for {
		n, err := unix.EpollWait(ho.epfd, events, -1)
		if err != nil && err != unix.EINTR {
			panic(err)
		}
		for i := 0; i < n; i++ {
			if int(events[i].Fd) != ho.evfd {
				continue
			}
			unix.Read(ho.evfd, cnt[:])
			ho.mu.Lock()
			q := ho.q
			ho.q = spare[:0]
			ho.mu.Unlock()
			for _, h := range q {
				ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(h.fd)}
				unix.EpollCtl(ho.epfd, unix.EPOLL_CTL_ADD, h.fd, &ev)
				unix.SetsockoptInt(h.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				unix.Write(h.fd, gnetCmpResponse)
				unix.Close(h.fd)
				handoffBufs.Put(h.data)
				ho.served.Add(1)
			}
			spare = q
		}
	}
}

// ownLoop is the engine's way: accept, sniff and answer in one epoll loop.
type ownLoop struct {
	sn        *sniff.Sniffer
	lfd, epfd int
	served    *atomic.Int64
	errs      *atomic.Int64
	conns     []*ownConn // by fd
	free      []*ownConn
	req       sniff.Request
}

type ownConn struct {
	sc  sniff.Scan
	buf []byte
	n   int
}

func (o *ownLoop) run() {
	runtime.LockOSThread()
	var err error
	if o.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		panic(err)
	}
	if err := unix.EpollCtl(o.epfd, unix.EPOLL_CTL_ADD, o.lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(o.lfd)}); err != nil {
		panic(err)
	}
	events := make([]unix.EpollEvent, maxEvents)
	for {
		n, err := unix.EpollWait(o.epfd, events, -1)
		if err != nil && err != unix.EINTR {
			panic(err)
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == o.lfd {
				o.accept()
			} else if fd < len(o.conns) && o.conns[fd] != nil {
				o.read(fd, o.conns[fd])
			}
		}
	}
}

func (o *ownLoop) accept() {
	for i := 0; i < acceptBatch; i++ {
		fd, _, err := unix.Accept4(o.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		var c *ownConn
		if k := len(o.free); k > 0 {
			c, o.free = o.free[k-1], o.free[:k-1]
		} else {
			c = &ownConn{}
		}
		for fd >= len(o.conns) {
			o.conns = append(o.conns, make([]*ownConn, len(o.conns)+1024)...)
		}
		o.conns[fd] = c
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		unix.EpollCtl(o.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
}

func (o *ownLoop) read(fd int, c *ownConn) {
	if c.buf == nil {
		// A read buffer only once bytes arrive, as the engine takes one
		// from its pool.
		c.buf = make([]byte, 32<<10)
	}
	k, err := unix.Read(fd, c.buf[c.n:])
	if err == unix.EAGAIN {
		return
	}
	if k <= 0 {
		o.close(fd, c, true)
		return
	}
	c.n += k
	switch o.sn.Request(&c.sc, c.buf[:c.n], &o.req) {
	case sniff.NeedMore:
		return
	case sniff.Done:
		unix.Write(fd, gnetCmpResponse)
		o.served.Add(1)
		o.close(fd, c, false)
	default:
		o.close(fd, c, true)
	}
}

func (o *ownLoop) close(fd int, c *ownConn, failed bool) {
	if failed {
		o.errs.Add(1)
	}
	unix.Close(fd)
	o.conns[fd] = nil
	c.sc.Reset()
	c.n = 0
	o.free = append(o.free, c)
}
