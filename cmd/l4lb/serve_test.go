package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServeForwardedFor: with --forwarded-for a backend sees the client's
// address in X-Forwarded-For, after any value the client sent; without it,
// the head reaches the backend unchanged.
func TestServeForwardedFor(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(r.Header.Values("X-Forwarded-For"), "|"))
	}))
	defer backend.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(addr string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET through %s: %v", addr, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"off", nil, "203.0.113.7"},
		{"on", []string{"--forwarded-for"}, "203.0.113.7|127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := startServe(t, append([]string{"--backend", backend.Listener.Addr().String()}, tt.args...)...)
			for range 2 { // the second request rides the same keep-alive connection
				if got := get(b.addr); got != tt.want {
					t.Fatalf("backend saw X-Forwarded-For %q; want %q", got, tt.want)
				}
			}
		})
	}
}
