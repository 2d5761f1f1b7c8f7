package main

import (
	"fmt"
	"strings"
)

// haproxyConfig is the reference balancer: http mode routes every request of
// a keep-alive connection by itself, and "balance uri depth 3" hashes
// /sockjs/<server>/<session>, so all requests of a session reach one backend.
func haproxyConfig(listen string, backends []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread 1
    maxconn 2000

defaults
    mode http
    timeout connect 5s
    timeout client 90s
    timeout server 90s
    timeout tunnel 1h
    timeout http-keep-alive 10s

frontend fe
    bind %s
    use_backend sockjs if { path_beg /sockjs/ }
    default_backend sockjs

backend sockjs
    balance uri depth 3
    hash-type consistent
`, listen)
	for i, addr := range backends {
		fmt.Fprintf(&b, "    server b%d %s\n", i, addr)
	}
	return b.String()
}
