package main

import (
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// Faults the harness switches on and off by signal (bench/faults.go):
// SIGUSR1 toggles answering 503 to the health check (the SockJS info
// URL) while serving everything else; SIGUSR2 toggles accepting every
// connection and closing it at once, unanswered. SIGSTOP, SIGCONT and
// SIGKILL need no help.
type faults struct {
	sick    atomic.Bool // 503 on <prefix>/info
	closing atomic.Bool // close every connection unanswered
}

// watchSignals flips the faults on SIGUSR1 and SIGUSR2 until the process
// ends.
func (f *faults) watchSignals() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range ch {
			if s == syscall.SIGUSR1 {
				f.sick.Store(!f.sick.Load())
			} else {
				f.closing.Store(!f.closing.Load())
			}
		}
	}()
}

// handler wraps h: the health check answers 503 while sick, and every
// request closes its connection unanswered while closing.
func (f *faults) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.closing.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
				return
			}
		}
		if f.sick.Load() && r.URL.Path == echobackend.Prefix+"/info" {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listener wraps ln: while closing, accepted connections are closed at
// once.
func (f *faults) listener(ln net.Listener) net.Listener { return &closingListener{ln, f} }

type closingListener struct {
	net.Listener
	f *faults
}

func (l *closingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.f.closing.Load() {
			return c, err
		}
		c.Close()
	}
}
