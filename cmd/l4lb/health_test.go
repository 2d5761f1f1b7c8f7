package main

import (
	"bufio"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/health"
)

func TestHealthFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"defaults", nil, nil, ""},
		{"env", map[string]string{"L4LB_HEALTH_CHECK": "http:/sockjs/info", "L4LB_HEALTH_FALL": "5", "L4LB_SLOW_START": "30s"}, nil, ""},
		{"bad check", nil, []string{"--health-check", "http:sockjs"}, "--health-check"},
		{"bad env check", map[string]string{"L4LB_HEALTH_CHECK": "udp"}, nil, "--health-check"},
		{"bad rise", nil, []string{"--health-rise", "0"}, "--health-rise"},
		{"bad share", nil, []string{"--eject-max-share", "2"}, "--eject-max-share"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var c serveConfig
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			if err := parseWithEnv(fs, c.flags(fs), tc.args); err != nil {
				t.Fatalf("parseWithEnv(%v) = %v", tc.args, err)
			}
			_, err := c.health.checker(affinity.NewBalancer(), affinity.ProxyOff, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if (err != nil) != (tc.wantErr != "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("checker() = %v; want an error naming %q: %v", err, tc.wantErr, tc.wantErr != "")
			}
			if tc.name == "env" && (c.health.check != "http:/sockjs/info" || c.health.fall != 5 || c.health.slowStart != 30*time.Second) {
				t.Errorf("from env: %+v", c.health)
			}
		})
	}
}

func TestHealthMetrics(t *testing.T) {
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{{Endpoint: "tcp://127.0.0.1:1"}, {Endpoint: "unix:/run/app.sock"}}); err != nil {
		t.Fatal(err)
	}
	chk := health.New(bal, health.Config{Check: health.Check{Kind: health.Off}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go chk.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for len(chk.Stats().Backends) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the checker did not take in the set")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := gatherText(t, healthCollector{chk})
	for _, want := range []string{
		`l4lb_backend_up{backend="tcp://127.0.0.1:1"} 1` + "\n",
		`l4lb_backend_up{backend="unix:/run/app.sock"} 1` + "\n",
		`l4lb_backend_share{backend="unix:/run/app.sock"} 1` + "\n",
		`l4lb_health_checks_total{result="fail"} 0` + "\n",
		`l4lb_health_check_duration_seconds_bucket{le="+Inf"} 0` + "\n",
		`l4lb_health_ejections_total{reason="connect_timeout"} 0` + "\n",
		`l4lb_health_failures_total{reason="no_response"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q; got:\n%s", want, out)
		}
	}
}

// TestServeAnswersWaitingOnHungBackend: `l4lb serve` hands the checker's
// verdict to the engine: a request waiting on a backend that stops
// answering (its HTTP checks time out) is answered 502 once the backend
// is marked down, not at the 10-minute response timeout.
func TestServeAnswersWaitingOnHungBackend(t *testing.T) {
	var frozen atomic.Bool
	got := make(chan struct{}, 1)
	stop := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			got <- struct{}{}
		}
		if frozen.Load() || r.URL.Path == "/slow" {
			<-stop
			return
		}
		io.WriteString(w, "ok")
	}))
	defer hung.Close()
	defer close(stop) // before Close: the blocked handlers return
	b := startServe(t, "--backend", hung.Listener.Addr().String(), "--health-check", "http:/health",
		"--health-interval", "100ms", "--health-timeout", "300ms", "--response-timeout", "10m")
	c, err := net.DialTimeout("tcp", b.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the backend did not get the request")
	}
	frozen.Store(true)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("status %d; want 502", resp.StatusCode)
	}
	b.Out.WaitLine(t, 0, regexp.MustCompile(`msg="backend down".*waiting_requests=answered`), 10*time.Second)
}
