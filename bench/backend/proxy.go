package main

import (
	"net"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// acceptProxy wraps ln so that a PROXY v1 or v2 header, when a connection
// starts with one, is read and stripped before HTTP sees the bytes; a
// connection without a header is served as it is, so the same backend works
// behind a balancer that sends PROXY and for the direct baseline.
func acceptProxy(ln net.Listener) net.Listener {
	return &proxyproto.Listener{
		Listener: ln,
		// USE: the header is optional (the library's default, REQUIRE,
		// would refuse the direct baseline's plain connections).
		ConnPolicy:        func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.USE, nil },
		ReadHeaderTimeout: 10 * time.Second,
	}
}
