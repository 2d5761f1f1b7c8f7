//go:build !linux

package loadgen

// bindAddressNoPort does nothing: IP_BIND_ADDRESS_NO_PORT is Linux's, and
// elsewhere each source address gets the ports bind(src, 0) leaves it.
// The sources beyond 127.0.0.1 must exist there (on macOS, as lo0
// aliases).
func bindAddressNoPort(fd uintptr) error { return nil }
