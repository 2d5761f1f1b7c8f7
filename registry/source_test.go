package registry

import (
	"context"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

func TestNormalizeEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"10.0.0.5:3000", "tcp://10.0.0.5:3000", true},
		{"http://10.0.0.5:3000", "tcp://10.0.0.5:3000", true},
		{"http://10.0.0.5:3000/", "tcp://10.0.0.5:3000", true},
		{"tcp://app.internal:80", "tcp://app.internal:80", true},
		{" [::1]:3000 ", "tcp://[::1]:3000", true},
		{"http://[fe80::1]:8080", "tcp://[fe80::1]:8080", true},
		{"unix:/run/app/meteor.sock.1.sock", "unix:/run/app/meteor.sock.1.sock", true},
		{"unix:///run/app/meteor.sock", "unix:/run/app/meteor.sock", true},
		{"unix:/run//app/../app/x.sock", "unix:/run/app/x.sock", true},
		{"unix:relative.sock", "", false},
		{"unix:/", "", false},
		{"10.0.0.5", "", false},
		{"10.0.0.5:", "", false},
		{"10.0.0.5:0", "", false},
		{"10.0.0.5:65536", "", false},
		{"10.0.0.5:http", "", false},
		{"https://10.0.0.5:443", "", false},
		{"http://10.0.0.5:3000/app", "", false},
		{"::1:3000", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeEndpoint(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("NormalizeEndpoint(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	if _, err := NewStatic(nil); err == nil {
		t.Errorf("NewStatic(nil) = nil error; want an error")
	}
	if _, err := NewStatic([]string{"a:1", "bogus"}); err == nil {
		t.Errorf("NewStatic(bogus) = nil error; want an error")
	}
	src, err := NewStatic([]string{"http://127.0.0.1:3002", "127.0.0.1:3001", "tcp://127.0.0.1:3001"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan []affinity.Backend, 1)
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, "ignored", func(set []affinity.Backend) { got <- set }) }()
	select {
	case set := <-got:
		want := []affinity.Backend{{Endpoint: "tcp://127.0.0.1:3001"}, {Endpoint: "tcp://127.0.0.1:3002"}}
		if len(set) != len(want) || set[0] != want[0] || set[1] != want[1] {
			t.Errorf("Static.Watch update = %v; want %v", set, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Static.Watch: no update within 5s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Static.Watch = %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Static.Watch did not return after cancel")
	}
}
