package main

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
	"github.com/l4lb/l4lb/tools/loadgen"
)

func TestRenderNginx(t *testing.T) {
	s := settings{Threads: 1, MaxConn: 9000, Prefix: "/sockjs", TunnelTimeout: time.Hour}
	cfg, err := renderNginx(s, "/tmp/x", "127.0.0.1:8000", []string{"127.0.0.1:9001", "127.0.0.1:9002"}, 20000)
	if err != nil {
		t.Fatalf("renderNginx() error = %v", err)
	}
	for _, want := range []string{
		"worker_processes 1;", "worker_connections 18512;", "worker_rlimit_nofile 19512;",
		`"~^/sockjs/[^/?]+/([^/?]+)/" $1;`, "hash $sockjs_session consistent;", "least_conn;",
		"server 127.0.0.1:9001;\n        server 127.0.0.1:9002;", "keepalive 128;", "listen 127.0.0.1:8000;",
		"proxy_pass http://$pool;", "proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;", "proxy_buffering off;", "proxy_read_timeout 3600s;",
		"pid /tmp/x/nginx.pid;",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("renderNginx() lacks %q:\n%s", want, cfg)
		}
	}
	if cfg, _ = renderNginx(s, "/tmp/x", "127.0.0.1:8000", nil, 4096); !strings.Contains(cfg, "worker_rlimit_nofile 4096;") {
		t.Errorf("renderNginx(fd limit 4096) does not stay under the limit:\n%s", cfg)
	}
}

// TestNginxKeepsSessions runs the session scenarios and WebSockets through
// the real nginx with the configuration the bench generates, and checks
// that every session stayed on its backend and that the measured process
// is nginx's worker. It needs nginx (Debian: nginx-light).
func TestNginxKeepsSessions(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx is not installed (apt-get install -y nginx-light)")
		}
	}
	var backends []string
	for _, name := range backendNames {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		// A 128-byte response limit ends xhr-streaming streams often, so
		// that reopened streams are routed too.
		srv := &http.Server{Handler: echobackend.New(name, echobackend.Options{ResponseLimit: 128}), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		backends = append(backends, ln.Addr().String())
	}
	s := settings{Threads: 1, MaxConn: 1000, Prefix: "/sockjs", TunnelTimeout: time.Hour}
	rt, err := startNginx(bin, t.TempDir(), s, backends, 0)
	if err != nil {
		t.Fatalf("startNginx() error = %v", err)
	}
	t.Cleanup(rt.stop)
	if len(rt.proc.measured) != 1 || rt.proc.measured[0] == rt.proc.pid() {
		t.Errorf("startNginx() measures %v; want the one worker, not the master %d", rt.proc.measured, rt.proc.pid())
	}
	if _, err := rt.proc.usage(); err != nil {
		t.Errorf("usage() of nginx's worker: %v", err)
	}
	for _, cfg := range []loadgen.Config{
		{Scenario: loadgen.Polling, Workers: 4, SessionsPerConn: 4, Requests: 200},
		{Scenario: loadgen.ConnRate, Workers: 4, SessionsPerConn: 4, Requests: 200},
		{Scenario: loadgen.XHRStreaming, Workers: 4, SessionsPerConn: 4, Requests: 200},
		{Scenario: loadgen.WSIdle, Conns: 20, Interval: 50 * time.Millisecond, Duration: 300 * time.Millisecond},
		{Scenario: loadgen.Bulk, Workers: 2, Size: 1 << 20, Requests: 4},
	} {
		t.Run(cfg.Scenario, func(t *testing.T) {
			cfg.Targets = rt.targets
			cfg.Timeout = 5 * time.Second
			if cfg.Duration == 0 {
				cfg.Duration = 20 * time.Second // the request budget ends the run
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				t.Fatalf("Run(%s via nginx) error = %v", cfg.Scenario, err)
			}
			if res.Ops == 0 || res.Errors != 0 || res.Misroutes != 0 {
				t.Fatalf("Run(%s via nginx) = %d ops, %d errors (%q), %d misroutes; want ops and no errors or misroutes",
					cfg.Scenario, res.Ops, res.Errors, res.ErrorSamples, res.Misroutes)
			}
			if cfg.Scenario != loadgen.Bulk && len(res.Backends) < 2 {
				t.Errorf("Run(%s via nginx).Backends = %v; want at least 2 backends used", cfg.Scenario, res.Backends)
			}
			if cfg.Scenario == loadgen.XHRStreaming && res.Reopens == 0 {
				t.Errorf("Run(%s via nginx).Reopens = 0; want streams ended and reopened", cfg.Scenario)
			}
		})
	}
}
