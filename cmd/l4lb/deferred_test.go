//go:build linux

package main

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestParcel: sockets sent in a parcel arrive under their names as
// descriptors of the same sockets, across more messages than one when
// there are more than parcelMax; a parcel left unread is dropped and its
// descriptors closed.
func TestParcel(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])

	// Two sockets to send, each under many names.
	a, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a)
	b, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(b)
	const n = 2*parcelMax + 7
	var socks []namedFd
	want := map[string]int{}
	for i := 0; i < n; i++ {
		fd := a
		if i%3 == 0 {
			fd = b
		}
		name := fmt.Sprintf("l4lb tcp 127.0.0.1:%d 0", 1000+i)
		socks = append(socks, namedFd{name: name, fd: fd})
		want[name] = fd
	}

	if err := sendParcel(pair[0], socks); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	if err := receiveParcel(pair[1], got); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("received %d sockets; want %d", len(got), n)
	}
	for name, fd := range got {
		if !sameSocket(t, fd, want[name]) {
			t.Errorf("%s: received descriptor %d is not the socket sent (%d)", name, fd, want[name])
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: received descriptor %d is not close-on-exec (flags %#x, %v)", name, fd, flags, err)
		}
		unix.Close(fd)
	}

	// A parcel nobody took: dropped, its descriptors closed.
	before := openFds(t)
	if err := sendParcel(pair[0], socks[:3]); err != nil {
		t.Fatal(err)
	}
	discardParcels(pair[1])
	if after := openFds(t); after != before {
		t.Errorf("%d descriptors open after discardParcels; want %d, as before the parcel", after, before)
	}
	left := map[string]int{}
	if err := receiveParcel(pair[1], left); err != nil || len(left) != 0 {
		t.Fatalf("after discardParcels, %d sockets still waited (%v); want none", len(left), err)
	}
}

// openFds counts this process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// sameSocket reports whether descriptors x and y are the same socket.
func sameSocket(t *testing.T, x, y int) bool {
	t.Helper()
	var sx, sy unix.Stat_t
	if err := unix.Fstat(x, &sx); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(y, &sy); err != nil {
		t.Fatal(err)
	}
	return sx.Ino == sy.Ino && sx.Dev == sy.Dev
}
