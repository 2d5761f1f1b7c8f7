// Command uringproxy runs the io_uring prototype (internal/uringproto)
// with the flags the bench gives l4lb serve, so that the bench measures it
// as its l4lb target:
//
//	go build -o /tmp/uringproxy ./tools/uringproxy
//	go run ./bench --targets l4lb --scenarios keepalive --l4lb-bin /tmp/uringproxy
//	go run ./bench --targets l4lb --scenarios keepalive --l4lb-bin /tmp/uringproxy --l4lb-args "--engine epoll"
//
// Flags the prototype has no use for (timeouts, admin
// listener, log level) are accepted and ignored; a PROXY header other than
// off is refused, as the prototype cannot send one.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/l4lb/l4lb/internal/uringproto"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("uringproxy", flag.ExitOnError)
	var cfg uringproto.Config
	var backends list
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "IPv4 address to accept on")
	fs.Var(&backends, "backend", "backend IPv4 host:port (repeat)")
	fs.IntVar(&cfg.Loops, "loops", 1, "rings, one thread each")
	fs.IntVar(&cfg.MaxConns, "max-conns", 9000, "client connections per loop")
	fs.IntVar(&cfg.BufSize, "buf-size", 16384, "bytes per provided buffer")
	fs.IntVar(&cfg.Bufs, "bufs", 1024, "provided buffers per loop (a power of two)")
	engine := fs.String("engine", "uring", "uring, or epoll: the same proxy on epoll, read(2) and write(2), the control")
	pp := fs.String("proxy-protocol", "off", "only off")
	fs.StringVar(&cfg.SockJSPrefix, "sockjs-prefix", "/sockjs", "SockJS prefix: a first request for <prefix>/<server>/<session>/ picks the backend by the session")
	for _, name := range []string{"connect-timeout", "header-timeout", "idle-timeout", "log-level", "admin-listen"} {
		fs.String(name, "", "ignored (l4lb serve's flag)")
	}
	fs.Parse(args)
	if *pp != "off" {
		fmt.Fprintf(os.Stderr, "uringproxy: --proxy-protocol %s: the prototype sends no PROXY header\n", *pp)
		os.Exit(2)
	}
	cfg.Backends = backends
	switch *engine {
	case "uring":
	case "epoll":
		cfg.Epoll = true
	default:
		fmt.Fprintf(os.Stderr, "uringproxy: --engine %q: want uring or epoll\n", *engine)
		os.Exit(2)
	}
	p, err := uringproto.Start(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "uringproxy: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "uringproxy: %s engine listening on %s, %d loop(s), backends %s\n", *engine, p.Addr(), cfg.Loops, backends.String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-p.Done():
	}
	st := p.Stats()
	err = p.Close()
	fmt.Fprintf(os.Stderr, "uringproxy: %d accepted, %d receives with data, %d io_uring_enter or epoll_wait, %d completions or events\n", st.Accepted, st.Recvs, st.Enters, st.CQEs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "uringproxy: %v\n", err)
		os.Exit(1)
	}
}
