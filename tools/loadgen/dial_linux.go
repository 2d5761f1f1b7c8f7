package loadgen

import "golang.org/x/sys/unix"

// bindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT on the socket fd. Without
// it, bind(src, 0) must pick a port unused toward every destination; with
// it, connect picks the port and only the full 4-tuple has to be unique.
func bindAddressNoPort(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
}
