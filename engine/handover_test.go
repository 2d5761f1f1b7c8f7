//go:build linux

package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/clientloop"
	"golang.org/x/sys/unix"
)

// memSockets is tableflip's hand-over within one process: File takes what
// the previous process recorded, AddFile records a copy, and next is the
// next process's view (everything taken or recorded), as tableflip passes
// it on an upgrade.
type memSockets struct {
	mu   sync.Mutex
	prev map[string]*os.File // recorded by the previous process, not taken yet
	kept map[string]*os.File // taken or recorded: the next process gets these
}

func newMemSockets(t *testing.T) *memSockets {
	m := &memSockets{prev: map[string]*os.File{}, kept: map[string]*os.File{}}
	t.Cleanup(m.closeAll)
	return m
}

func (m *memSockets) File(name string) (*os.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.prev[name]
	if f == nil {
		return nil, nil
	}
	delete(m.prev, name)
	m.kept[name] = f
	return dupFile(f)
}

func (m *memSockets) AddFile(name string, f *os.File) error {
	d, err := dupFile(f)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.kept[name]; old != nil {
		old.Close()
	}
	m.kept[name] = d
	return nil
}

// next hands the recorded sockets to a new process's view; the old view
// keeps nothing, as tableflip's parent closes its copies once the new
// process is ready.
func (m *memSockets) next(t *testing.T) *memSockets {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := &memSockets{prev: m.kept, kept: map[string]*os.File{}}
	m.kept = map[string]*os.File{}
	t.Cleanup(n.closeAll)
	return n
}

func (m *memSockets) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ns []string
	for n := range m.kept {
		ns = append(ns, n)
	}
	return ns
}

func (m *memSockets) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.prev {
		f.Close()
	}
	for _, f := range m.kept {
		f.Close()
	}
	m.prev, m.kept = nil, nil
}

func dupFile(f *os.File) (*os.File, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	raw.Control(func(u uintptr) { fd, derr = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0) })
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// startMixed starts a backend that answers plain requests like named("b")
// and an Upgrade request with 101, then echoes raw bytes.
func startMixed(t *testing.T) string {
	t.Helper()
	return startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			named("b").ServeHTTP(w, r)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		echoPlain(c, brw.Reader)
	}))
}

// openTunnel upgrades a connection to addr into an echo tunnel.
func openTunnel(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c := dial(t, addr)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || br.Buffered() > 0 {
		t.Fatalf("upgrade via %s: %v %v", addr, resp, err)
	}
	return c
}

// echoOnce sends msg through a tunnel and reads it back.
func echoOnce(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo = %q; want %q", got, msg)
	}
	return nil
}

// TestHandOver: a new server takes over a running server's listening
// sockets through Sockets, whatever the two loop counts; the old one
// stops accepting and drains. Clients connecting throughout (a
// connection per request, and keep-alive) see no refused, reset or failed
// request, and a tunnel of the old server keeps echoing while it drains.
func TestHandOver(t *testing.T) {
	port := freePort(t)
	tests := []struct {
		name             string
		listen           string
		oldLoops, nLoops int
	}{
		{"tcp 2 loops to 3", fmt.Sprintf("127.0.0.1:%d", port), 2, 3},
		{"tcp 3 loops to 1", fmt.Sprintf("127.0.0.1:%d", port), 3, 1},
		{"tcp port 0", "127.0.0.1:0", 2, 2},
		{"unix", "", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend := startMixed(t)
			listen := tc.listen
			if listen == "" {
				listen = filepath.Join(t.TempDir(), "l4lb.sock")
			}
			store := newMemSockets(t)
			old := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{listen}, Loops: tc.oldLoops, Sockets: store})
			addr := old.Addrs()[0]
			cl := clientloop.Start(addr.String())
			defer cl.Stop()
			if err := cl.WaitServed(20, testTimeout); err != nil {
				t.Fatal(err)
			}
			tunnel := openTunnel(t, addr)

			cur := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{listen}, Loops: tc.nLoops, Sockets: store.next(t)})
			if got := cur.Addrs()[0].String(); got != addr.String() {
				t.Fatalf("new server listens on %s; want the old server's %s", got, addr)
			}
			if strings.HasPrefix(tc.name, "tcp") && !strings.HasSuffix(listen, ":0") {
				// The old sockets, and new ones beside them for extra loops.
				if got, want := len(cur.listeners[0].fds), max(tc.oldLoops, tc.nLoops); got != want {
					t.Errorf("new server's sockets = %d; want %d", got, want)
				}
			}
			old.KeepSocketFiles(true)
			drained := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				drained <- old.Shutdown(ctx)
			}()
			for i := 0; i < 5; i++ {
				if err := echoOnce(tunnel, fmt.Sprintf("\x00draining %d", i)); err != nil {
					t.Fatalf("old server's tunnel while it drains: %v", err)
				}
				time.Sleep(100 * time.Millisecond) // spread the echoes over the drain
			}
			select {
			case err := <-drained:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("old Shutdown = %v; want the deadline (the tunnel was open)", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("old Shutdown did not return")
			}
			expectClosed(t, tunnel, 5*time.Second)
			acceptedBefore := cur.Stats().Accepted
			if err := cl.WaitServed(50, testTimeout); err != nil {
				t.Fatal(err)
			}
			if errs, _ := cl.Stop(); len(errs) > 0 {
				t.Fatalf("clients saw %d errors during the hand-over, first: %v", len(errs), errs[0])
			}
			if cur.Stats().Accepted <= acceptedBefore {
				t.Fatalf("new server accepted nothing after the old one stopped")
			}
			if tc.listen == "" {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				cur.Shutdown(ctx)
				if _, err := os.Lstat(listen); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("after the new server's Shutdown: Lstat(%s) = %v; want not exist", listen, err)
				}
			}
		})
	}
}

// TestInheritedSockets: sockets a service manager opened (Config.Inherited)
// serve the Listen addresses they are bound to, are recorded for the next
// process, and the UNIX socket file survives every Shutdown: it is the
// service manager's.
func TestInheritedSockets(t *testing.T) {
	backend := startMixed(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "l4lb.sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ul.(*net.UnixListener).SetUnlinkOnClose(false)
	other, err := net.Listen("tcp", "127.0.0.1:0") // matches no Listen address
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for _, ln := range []net.Listener{tl, ul, other} {
		f, err := ln.(interface{ File() (*os.File, error) }).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
		ln.Close() // the file keeps the socket, as the service manager's copy does
	}
	notSocket, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer notSocket.Close()
	files = append(files, notSocket)

	store := newMemSockets(t)
	s, err := New(Config{Balancer: newBalancer(t, backend), Listen: []string{tl.Addr().String(), path}, Loops: 2,
		Inherited: files, Sockets: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start = %v", err)
	}
	if got := s.Addrs()[0].String(); got != tl.Addr().String() {
		t.Fatalf("Addrs()[0] = %s; want the inherited socket's %s", got, tl.Addr())
	}
	for _, a := range s.Addrs() {
		cl := clientloop.Start(a.String())
		if err := cl.WaitServed(5, testTimeout); err != nil {
			t.Fatalf("via %s: %v", a, err)
		}
		if errs, _ := cl.Stop(); len(errs) > 0 {
			t.Fatalf("via %s: %v", a, errs[0])
		}
	}
	if ln := s.listeners[0]; !ln.shared || len(ln.fds) != 1 {
		t.Errorf("inherited TCP socket without SO_REUSEPORT: shared %v, %d sockets; want one shared", ln.shared, len(ln.fds))
	}
	// A socket nobody asked for is left alone, still listening.
	if c, err := net.DialTimeout("tcp", other.Addr().String(), testTimeout); err != nil {
		t.Errorf("unmatched inherited socket: %v", err)
	} else {
		c.Close()
	}
	names := store.names()
	want := []string{tcpSocketName(tl.Addr().String(), 0), keptUnixSocketName(path)}
	for _, w := range want {
		if !strings.Contains(strings.Join(names, "\n"), w) {
			t.Errorf("recorded sockets %q; want %q among them", names, w)
		}
	}
	next := startServer(t, Config{Balancer: newBalancer(t, backend), Listen: []string{tl.Addr().String(), path}, Loops: 1, Sockets: store.next(t)})
	for _, srv := range []*Server{s, next} {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		srv.Shutdown(ctx)
		cancel()
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("after Shutdown: Lstat(%s) = %v; want the service manager's socket file kept", path, err)
		}
	}
	c, err := net.DialTimeout("unix", path, testTimeout)
	if err != nil {
		t.Fatalf("the service manager's socket after both servers stopped: %v", err)
	}
	c.Close() // queued on the service manager's copy, as systemd would start us for it
}
