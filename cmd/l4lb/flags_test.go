package main

import (
	"flag"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseWithEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantListen  []string
		wantBackend []string
		wantIdle    time.Duration
	}{
		{"defaults", nil, nil, []string{"127.0.0.1:8080"}, nil, 0},
		{"env list", map[string]string{"L4LB_LISTEN": ":80, /run/l4lb.sock", "L4LB_BACKENDS": "a:1,b:2"}, nil,
			[]string{":80", "/run/l4lb.sock"}, []string{"a:1", "b:2"}, 0},
		{"flag replaces env list", map[string]string{"L4LB_BACKENDS": "a:1,b:2"}, []string{"--backend", "c:3", "--backend", "d:4"},
			[]string{"127.0.0.1:8080"}, []string{"c:3", "d:4"}, 0},
		{"flag replaces default listen", nil, []string{"--listen", ":9", "--listen", ":10"}, []string{":9", ":10"}, nil, 0},
		{"env scalar", map[string]string{"L4LB_IDLE_TIMEOUT": "2m"}, nil, []string{"127.0.0.1:8080"}, nil, 2 * time.Minute},
		{"flag wins over env scalar", map[string]string{"L4LB_IDLE_TIMEOUT": "2m"}, []string{"--idle-timeout", "3m"},
			[]string{"127.0.0.1:8080"}, nil, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var c serveConfig
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			if err := parseWithEnv(fs, c.flags(fs), tt.args); err != nil {
				t.Fatalf("parseWithEnv(%v) = %v", tt.args, err)
			}
			if !slices.Equal(c.listen.values, tt.wantListen) {
				t.Errorf("listen = %q; want %q", c.listen.values, tt.wantListen)
			}
			if !slices.Equal(c.backends.values, tt.wantBackend) {
				t.Errorf("backend = %q; want %q", c.backends.values, tt.wantBackend)
			}
			if c.idleTimeout != tt.wantIdle {
				t.Errorf("idle timeout = %v; want %v", c.idleTimeout, tt.wantIdle)
			}
		})
	}
}

func TestParseWithEnvRejectsBadEnv(t *testing.T) {
	t.Setenv("L4LB_LOOPS", "many")
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := parseWithEnv(fs, c.flags(fs), nil); err == nil {
		t.Fatal("parseWithEnv with L4LB_LOOPS=many = nil; want an error naming the variable")
	}
}

// TestProxyProtocolFlag: serve and register accept exactly the spellings
// of affinity.ParseProxyProtocol, and name the flag when a value is not one.
func TestProxyProtocolFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "register"} {
		for _, v := range []string{"V1", "none", "2"} {
			t.Run(cmd+"/"+v, func(t *testing.T) {
				err := commands[cmd].run(t.Context(), []string{"--proxy-protocol", v, "--log-level", "error"})
				if err == nil || !strings.Contains(err.Error(), "--proxy-protocol") || !strings.Contains(err.Error(), strconv.Quote(v)) {
					t.Errorf("l4lb %s --proxy-protocol %s = %v; want an error naming the flag and the value", cmd, v, err)
				}
			})
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes([]string{"10.1.2.3/8", "192.0.2.7", "2001:db8::/32", "::ffff:192.0.2.8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "192.0.2.8/32"}
	if len(got) != len(want) {
		t.Fatalf("parsePrefixes = %v; want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("parsePrefixes[%d] = %v; want %s", i, got[i], want[i])
		}
	}
	if _, err := parsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("parsePrefixes(10.0.0.0/33) = nil error; want one")
	}
	if _, err := parsePrefixes([]string{"front.example"}); err == nil {
		t.Error("parsePrefixes(front.example) = nil error; want one")
	}
}
