package clientloop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// timeout bounds every dial, write and response.
const timeout = 10 * time.Second

// Clients are the running clients of Start.
type Clients struct {
	ok   chan struct{} // one per request served, dropped when full
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	errs   []error
	served map[string]int
}

// Start starts two clients per address (see the package doc).
func Start(addrs ...string) *Clients {
	c := &Clients{ok: make(chan struct{}, 1), stop: make(chan struct{}), served: map[string]int{}}
	for _, a := range addrs {
		for _, keepAlive := range []bool{false, true} {
			c.wg.Add(1)
			go c.run(a, keepAlive)
		}
	}
	return c
}

// run is one client's loop.
func (c *Clients) run(addr string, keepAlive bool) {
	defer c.wg.Done()
	network := "tcp"
	if strings.Contains(addr, "/") {
		network = "unix"
	}
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		default:
		}
		if conn == nil {
			var err error
			if conn, err = net.DialTimeout(network, addr, timeout); err != nil {
				c.fail(err)
				time.Sleep(10 * time.Millisecond) // no spinning on an address that refuses
				continue
			}
			br = bufio.NewReader(conn)
		}
		closing, err := request(conn, br, i, keepAlive)
		if err != nil {
			c.fail(fmt.Errorf("%s %s request %d (keep-alive %v): %w", network, addr, i, keepAlive, err))
		} else {
			c.mu.Lock()
			c.served[addr]++
			c.mu.Unlock()
			select {
			case c.ok <- struct{}{}:
			default:
			}
		}
		if err != nil || closing {
			conn.Close()
			conn = nil
		}
	}
}

// request sends request i on conn and reads its answer; closing reports
// that the connection ends after it.
func request(conn net.Conn, br *bufio.Reader, i int, keepAlive bool) (closing bool, err error) {
	conn.SetDeadline(time.Now().Add(timeout))
	header := "Connection: close\r\n"
	if keepAlive {
		header = ""
	}
	if _, err := fmt.Fprintf(conn, "GET /%d HTTP/1.1\r\nHost: x\r\n%s\r\n", i, header); err != nil {
		return true, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return true, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return !keepAlive || resp.Close, err
}

func (c *Clients) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// WaitServed waits until n more requests were served.
func (c *Clients) WaitServed(n int, within time.Duration) error {
	deadline := time.After(within)
	for i := 0; i < n; i++ {
		select {
		case <-c.ok:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			return fmt.Errorf("%d of %d requests served within %v; %d errors %v", i, n, within, len(c.errs), c.errs)
		}
	}
	return nil
}

// Stop stops the clients (at most one request's time) and returns their
// errors and the requests served per address. It may be called again.
func (c *Clients) Stop() (errs []error, served map[string]int) {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errs, c.served
}
