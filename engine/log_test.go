//go:build linux

package engine

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the loops' concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogging(t *testing.T) {
	var out syncBuffer
	bad := refusingEndpoint(t)
	s := startServer(t, Config{
		Balancer: newBalancer(t, bad),
		Logger:   slog.New(slog.NewTextHandler(&out, nil)),
	})
	for i := 0; i < 20; i++ {
		c := dial(t, s.Addrs()[0])
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if got := readStatus(t, c); got != 502 {
			t.Fatalf("status = %d; want 502", got)
		}
	}
	s.Shutdown(t.Context())
	logs := out.String()
	want := fmt.Sprintf("backend=%s", bad)
	if !strings.Contains(logs, "backend connect failed") || !strings.Contains(logs, want) || !strings.Contains(logs, "remote=127.0.0.1:") {
		t.Errorf("logs = %q; want a connect failure with %s and remote", logs, want)
	}
	// 20 failures within a second are rate-limited to one line per loop.
	if n := strings.Count(logs, "backend connect failed"); n > 2 {
		t.Errorf("%d connect-failure lines for 20 failures in a burst; want at most one per loop", n)
	}
	if !strings.Contains(logs, "listening") || !strings.Contains(logs, "listener=127.0.0.1:") {
		t.Errorf("logs = %q; want the listening line with its listener", logs)
	}
}
