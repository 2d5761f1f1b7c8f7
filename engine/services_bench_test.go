package engine

import (
	"fmt"
	"testing"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/sniff"
)

// BenchmarkRoutes measures what routing rules add to a request: the
// sniffed head's Host and path against 20 routes (hosts, wildcards, path
// prefixes) none of which matches, so that every one is tried, plus the
// /cluster-ddp/ look at the path. "none" is the same with no route, as
// every request cost before services.
func BenchmarkRoutes(b *testing.B) {
	head := []byte("POST /sockjs/123/abcdefgh/xhr_send HTTP/1.1\r\nHost: www.example.com\r\n" +
		"Content-Length: 0\r\nCookie: a=b\r\n\r\n")
	sn, err := sniff.New(sniff.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var req sniff.Request
	var sc sniff.Scan
	if sn.Request(&sc, head, &req) != sniff.Done {
		b.Fatal("head not done")
	}
	for _, n := range []int{0, 20} {
		cfg := Config{Balancer: affinity.NewBalancer(), Service: "web",
			Services: []Service{{Name: "api", Balancer: affinity.NewBalancer(), Public: true}}}
		for i := 0; i < n; i++ {
			r := Route{Service: "api"}
			switch i % 3 {
			case 0:
				r.Host = fmt.Sprintf("api%d.example.com", i)
			case 1:
				r.Host = fmt.Sprintf("*.svc%d.example.com", i)
			case 2:
				r.PathPrefix = fmt.Sprintf("/api%d", i)
			}
			cfg.Routes = append(cfg.Routes, r)
		}
		s, _, err := compileServices(&cfg)
		if err != nil {
			b.Fatal(err)
		}
		name := "none"
		if n > 0 {
			name = fmt.Sprintf("%d-rules", n)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var sink uint8
			for b.Loop() {
				sink += s.matchHTTP(req.Host, req.Path)
				if p := req.Path; len(p) > len(sniff.ClusterDDPPrefix) && p[1] == 'c' {
					var d sniff.ClusterDDP
					sniff.ParseClusterDDP(p, &d)
				}
			}
			if sink != 0 {
				b.Fatal("matched")
			}
		})
	}
}

func TestRouteMatch(t *testing.T) {
	cfg := Config{Balancer: affinity.NewBalancer(), Service: "web",
		Services: []Service{{Name: "api", Balancer: affinity.NewBalancer(), Public: true}, {Name: "jobs", Balancer: affinity.NewBalancer()}},
		Routes: []Route{
			{Host: "a.io", Service: "api"},
			{Host: "*.b.io", Service: "api"},
			{Host: "Long-Name.Example.COM", PathPrefix: "/v1", Service: "api"},
			{PathPrefix: "/s/", Service: "api"},
			{PathPrefix: "/jobs", Service: "jobs"},
			{SNI: "*.IO", Service: "api"},
		}}
	s, _, err := compileServices(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, path string
		want       uint8
	}{
		{"a.io", "/", 1}, {"A.IO:80", "/", 1}, {"xa.io", "/", 0}, {"a.i", "/", 0},
		{"x.b.io", "/", 1}, {"b.io", "/", 0}, {".b.io", "/", 0}, {"X.Y.B.IO", "/", 1},
		{"long-name.example.com", "/v1", 1}, {"long-name.example.com", "/v1/x", 1},
		{"long-name.example.com", "/v12", 0}, {"other.example.com", "/v1", 0},
		{"", "/s/", 1}, {"", "/s", 0}, {"", "/sx", 0},
		{"", "/jobs", svcRefused}, {"", "/jobs/x", svcRefused}, {"", "/jobsx", 0},
		{"[::1]:80", "/", 0},
	} {
		if got := s.matchHTTP([]byte(tc.host), []byte(tc.path)); got != tc.want {
			t.Errorf("matchHTTP(%q, %q) = %d; want %d", tc.host, tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct {
		sni  string
		want uint8
	}{{"x.io", 1}, {"X.IO", 1}, {"io", 0}, {"", 0}, {"x.com", 0}} {
		if got := s.matchSNI([]byte(tc.sni)); got != tc.want {
			t.Errorf("matchSNI(%q) = %d; want %d", tc.sni, got, tc.want)
		}
	}
}
