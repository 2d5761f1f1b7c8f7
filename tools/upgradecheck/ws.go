package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// echoTimeout bounds one WebSocket echo.
const echoTimeout = 5 * time.Second

// webSockets holds n WebSockets to the raw /websocket echo endpoint,
// reopening each one that closes.
type webSockets struct {
	target   string
	n        int
	interval time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	up       atomic.Int64

	mu     sync.Mutex
	closes []time.Time // when the balancer closed a WebSocket
	drains [][2]time.Time
	wsResult
}

// wsResult is what the WebSockets saw.
type wsResult struct {
	echoes, reconnects                      int64
	echoFailures, strayCloses, dialFailures int64
	samples                                 []string
	closeTimes                              []time.Time
}

func (r *wsResult) errors() int64 { return r.echoFailures + r.strayCloses + r.dialFailures }

func startWebSockets(target string, n int, interval time.Duration) *webSockets {
	w := &webSockets{target: target, n: n, interval: interval, stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go w.hold(i)
		if i%64 == 63 {
			time.Sleep(10 * time.Millisecond) // do not overflow the accept queue at start
		}
	}
	return w
}

// waitUp waits until every WebSocket has opened once.
func (w *webSockets) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		failed := w.dialFailures
		w.mu.Unlock()
		if failed > 0 {
			return fmt.Errorf("WebSockets: %d failed to open: %v", failed, w.samples)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("WebSockets: %d up after %v", w.up.Load(), timeout)
		}
		if w.up.Load() >= int64(w.n) {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // the holders count themselves up; polling the count is enough here
	}
}

// addDrain records a window in which an old process drains: closes in it
// are the drain's.
func (w *webSockets) addDrain(from, to time.Time) {
	w.mu.Lock()
	w.drains = append(w.drains, [2]time.Time{from, to})
	w.mu.Unlock()
}

func (w *webSockets) fail(counter *int64, err error) {
	w.mu.Lock()
	*counter++
	if len(w.samples) < 5 {
		w.samples = append(w.samples, err.Error())
	}
	w.mu.Unlock()
}

// hold keeps WebSocket i open and echoing until stopped.
func (w *webSockets) hold(i int) {
	defer w.wg.Done()
	d := websocket.Dialer{HandshakeTimeout: echoTimeout, ReadBufferSize: 512, WriteBufferSize: 512}
	first := true
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		c, _, err := d.Dial("ws://"+w.target+"/websocket", nil)
		if err != nil {
			w.fail(&w.dialFailures, fmt.Errorf("ws %d: dial: %w", i, err))
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if first {
			w.up.Add(1)
			first = false
		} else {
			atomic.AddInt64(&w.reconnects, 1)
		}
		w.echoUntilClosed(i, c)
		c.Close()
	}
}

// echoUntilClosed sends a message every interval (at a random phase) and
// checks its echo, until the balancer closes the connection or the run
// stops.
func (w *webSockets) echoUntilClosed(i int, c *websocket.Conn) {
	echo := make(chan string, 1)
	closed := make(chan error, 1)
	go func() {
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				closed <- err
				return
			}
			echo <- string(m)
		}
	}()
	timer := time.NewTimer(rand.N(w.interval))
	defer timer.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-w.stop:
			return
		case <-closed:
			w.closed()
			return
		case <-timer.C:
		}
		timer.Reset(w.interval)
		msg := "ws " + strconv.Itoa(i) + " #" + strconv.Itoa(seq)
		c.SetWriteDeadline(time.Now().Add(echoTimeout))
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			w.closed()
			return
		}
		select {
		case got := <-echo:
			if got != msg {
				w.fail(&w.echoFailures, fmt.Errorf("ws %d: echo %q; want %q", i, got, msg))
				return
			}
			atomic.AddInt64(&w.echoes, 1)
		case <-closed:
			w.closed()
			return
		case <-time.After(echoTimeout):
			w.fail(&w.echoFailures, fmt.Errorf("ws %d: no echo of %q within %v", i, msg, echoTimeout))
			return
		case <-w.stop:
			return
		}
	}
}

// closed records that the balancer closed a WebSocket (EOF or a reset:
// which one does not matter, only when).
func (w *webSockets) closed() {
	select {
	case <-w.stop:
		return // the run's own end
	default:
	}
	w.mu.Lock()
	w.closes = append(w.closes, time.Now())
	w.mu.Unlock()
}

// finish stops the WebSockets and classifies their closes: each must fall
// in a drain window.
func (w *webSockets) finish() wsResult {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.wsResult
	r.echoes, r.reconnects = atomic.LoadInt64(&w.echoes), atomic.LoadInt64(&w.reconnects)
	r.closeTimes = w.closes
	for _, t := range w.closes {
		in := false
		for _, d := range w.drains {
			in = in || !t.Before(d[0]) && !t.After(d[1])
		}
		if !in {
			r.strayCloses++
			if len(r.samples) < 5 {
				r.samples = append(r.samples, "a WebSocket closed outside a drain at "+t.Format(time.StampMilli))
			}
		}
	}
	return r
}

// closesIn returns the first and last close in [from, to], relative to
// from, and how many there were.
func (r *wsResult) closesIn(from, to time.Time) (first, last time.Duration, n int) {
	for _, t := range r.closeTimes {
		if t.Before(from) || t.After(to) {
			continue
		}
		d := t.Sub(from)
		if n == 0 || d < first {
			first = d
		}
		if d > last {
			last = d
		}
		n++
	}
	return first, last, n
}
