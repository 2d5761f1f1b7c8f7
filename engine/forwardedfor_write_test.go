//go:build linux

package engine

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteInsertedPartial drives writeOut through partial writev(2)s on a
// socket with a small send buffer, with the head's prefix growing byte by
// byte so that a short write lands before the line, inside it and after
// it: the destination must read the head with the line inserted, then the
// body, byte for byte.
func TestWriteInsertedPartial(t *testing.T) {
	h := &httpState{}
	h.setForwardedFor(&unix.SockaddrInet4{Addr: [4]byte{192, 0, 2, 33}})
	line := "X-Forwarded-For: 192.0.2.33\r\n"
	body := strings.Repeat("body-", 3000)
	var inside, before int // short writes that stopped inside / before the line
	for pad := 0; pad < 6000; pad++ {
		head := "POST /x HTTP/1.1\r\nPad: " + strings.Repeat("p", pad) + "\r\n\r\n"
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 1) // the minimum: short writes every few KiB
		l := &loop{}
		c := &conn{l: l, h: h}
		dst := sock{fd: fds[0], canWrite: true}
		f := &flow{buf: []byte("leftover" + head + body)}
		f.r, f.p = int32(len("leftover")), int32(len("leftover"))
		f.w = int32(len(f.buf))
		h.held.headLen = len(head)
		c.insertForwardedFor(f)
		f.p = f.w // the head and the body are released together
		var got bytes.Buffer
		rd := make([]byte, 1500)
		for f.r < f.p {
			if l.writeOut(f, &dst) == ioFailed {
				t.Fatalf("pad %d: writeOut failed", pad)
			}
			if n := len(f.ins); n > 0 && n < len(line) {
				inside++
			} else if n == len(line) && f.r < f.insAt {
				before++
			}
			if n, _ := unix.Read(fds[1], rd); n > 0 {
				got.Write(rd[:n])
			}
			dst.canWrite = true
		}
		unix.Shutdown(fds[0], unix.SHUT_WR)
		for {
			n, _ := unix.Read(fds[1], rd)
			if n <= 0 {
				break
			}
			got.Write(rd[:n])
		}
		unix.Close(fds[0])
		unix.Close(fds[1])
		want := strings.TrimSuffix(head, "\r\n") + line + "\r\n" + body
		if got.String() != want {
			t.Fatalf("pad %d: destination read %d bytes, want %d; first difference at %d",
				pad, got.Len(), len(want), firstDiff(got.String(), want))
		}
	}
	if inside == 0 || before == 0 {
		t.Errorf("short writes inside the line: %d, before it: %d; want some of each", inside, before)
	}
	t.Logf("short writes inside the line: %d, before it: %d", inside, before)
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
