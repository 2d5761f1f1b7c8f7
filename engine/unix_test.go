//go:build linux

package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// startUnixHTTP serves h on a UNIX socket at path.
func startUnixHTTP(t *testing.T, path string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "unix:" + path
}

func TestUnixSockets(t *testing.T) {
	dir := t.TempDir()
	// Meteor cluster workers: <UNIX_SOCKET_PATH>.<worker>.sock
	b1 := startUnixHTTP(t, filepath.Join(dir, "meteor.sock.1.sock"), named("w1"))
	b2 := startUnixHTTP(t, filepath.Join(dir, "meteor.sock.2.sock"), named("w2"))
	lnPath := filepath.Join(dir, "l4lb.sock")
	s := startServer(t, Config{
		Balancer: newBalancer(t, b1, b2),
		Listen:   []string{lnPath, "127.0.0.1:0"},
	})
	if a := s.Addrs()[0]; a.Network() != "unix" || a.String() != lnPath {
		t.Fatalf("Addrs()[0] = %s %s; want unix %s", a.Network(), a, lnPath)
	}
	seen := map[string]bool{}
	for _, addr := range s.Addrs() {
		for i := 0; i < 20; i++ {
			c := dial(t, addr)
			fmt.Fprintf(c, "GET /sockjs/000/sess%d/xhr HTTP/1.1\r\nHost: x\r\n\r\n", i)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("via %s: %v", addr, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen[strings.Fields(string(body))[0]] = true
		}
	}
	if !seen["w1"] || !seen["w2"] {
		t.Errorf("workers seen = %v; want both", seen)
	}
}
