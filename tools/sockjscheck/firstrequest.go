package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// firstRequestProxy is the negative control: it routes each connection by
// the SockJS session of its FIRST request head only and then pipes bytes,
// like a balancer that sniffs once (the design engine/doc.go explains the engine does not follow).
// If the check does not catch it, the check proves nothing about l4lb.
type firstRequestProxy struct {
	ln       net.Listener
	backends []string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// startFirstRequestProxy listens on a free loopback port.
func startFirstRequestProxy(backends []string) (*firstRequestProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen 127.0.0.1:0: %w", err)
	}
	p := &firstRequestProxy{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

func (p *firstRequestProxy) addr() string { return p.ln.Addr().String() }

// close stops accepting and closes every proxied connection.
func (p *firstRequestProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *firstRequestProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serveConn(c)
	}
}

func (p *firstRequestProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *firstRequestProxy) serveConn(client net.Conn) {
	defer p.wg.Done()
	p.track(client, true)
	defer p.track(client, false)
	defer client.Close()
	br := bufio.NewReader(client)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	client.SetReadDeadline(time.Time{})
	backend, err := net.DialTimeout("tcp", p.pick(line), 5*time.Second)
	if err != nil {
		return
	}
	p.track(backend, true)
	defer p.track(backend, false)
	defer backend.Close()
	if _, err := io.WriteString(backend, line); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(backend, br); done <- struct{}{} }()
	go func() { io.Copy(client, backend); done <- struct{}{} }()
	<-done
}

// pick hashes "/sockjs/<server>/<session>" of the request line, like
// HAProxy's "balance uri depth 3", onto a backend.
func (p *firstRequestProxy) pick(requestLine string) string {
	f := strings.Fields(requestLine)
	key := ""
	if len(f) >= 2 {
		parts := strings.SplitN(f[1], "/", 5) // "", sockjs, server, session, rest
		key = strings.Join(parts[:min(4, len(parts))], "/")
	}
	h := fnv.New32a()
	io.WriteString(h, key)
	return p.backends[int(h.Sum32()%uint32(len(p.backends)))]
}
