//go:build linux

package engine

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/l4lb/l4lb/internal/testutil"
)

func TestLogging(t *testing.T) {
	log, out := testutil.Logger(t, slog.LevelInfo)
	bad := refusingEndpoint(t)
	s := startServer(t, Config{
		Balancer: newBalancer(t, bad),
		Logger:   log,
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
