package main

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"
)

// deferredSockets is the engine's Config.Sockets under tableflip. The
// engine's listening sockets do not travel through tableflip itself:
// tableflip keeps what it is given, and opens what a new process inherits,
// as *os.File, and os.NewFile registers a non-blocking socket with the Go
// runtime's poller, edge triggered. Every connection the engine's loops
// accept would then also wake the runtime's idle thread, for nothing (with
// one loop, about a sixth of the balancer's CPU per connection;
// bench/README.md, "The listening socket in Go's poller").
//
// Instead, the sockets are kept as plain descriptors and, when an upgrade
// starts, sent in a parcel: SCM_RIGHTS messages on a UNIX socket pair
// whose other end is the one file given to tableflip for them (parcelName).
// The new process receives them as plain descriptors too, and takes them
// from the parcel.
//
// So that an upgrade to an earlier build (a rollback) still finds its
// sockets, they are also given to tableflip when the first upgrade
// starts. The new process closes those copies once ready, and this one
// once the upgrade succeeded (tableflip closes what it handed on); after
// a failed upgrade this process serves on with them in its Go poller. A
// process started by an earlier build finds its sockets in tableflip
// only, and keeps that registration (File falls back to tableflip's).
type deferredSockets struct {
	fds *tableflip.Fds

	mu        sync.Mutex
	recorded  []namedFd      // the engine's sockets, for the next process
	inherited map[string]int // from the previous process's parcel, not taken yet
	pair      [2]int         // the parcel's socket pair (ours, the new process's); -1 before the first upgrade
}

// namedFd is a socket's name and a descriptor of our own for it.
type namedFd struct {
	name   string
	fd     int
	handed bool // a copy is with tableflip too
}

// parcelName names, among the files tableflip passes on, the socket on
// which the engine's listening sockets arrive.
const parcelName = "l4lb engine sockets"

// parcelMax is how many descriptors one parcel message carries, under
// the kernel's limit per SCM_RIGHTS message (253).
const parcelMax = 200

// newDeferredSockets returns the sockets of fds's process, having received
// the previous process's parcel if there is one.
func newDeferredSockets(fds *tableflip.Fds) (*deferredSockets, error) {
	d := &deferredSockets{fds: fds, pair: [2]int{-1, -1}, inherited: map[string]int{}}
	f, err := fds.File(parcelName)
	if err != nil {
		return nil, fmt.Errorf("inherited sockets: %w", err)
	}
	if f == nil {
		return d, nil
	}
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("inherited sockets: %w", err)
	}
	var recvErr error
	if err := raw.Control(func(fd uintptr) { recvErr = receiveParcel(int(fd), d.inherited) }); err != nil {
		return nil, fmt.Errorf("inherited sockets: %w", err)
	}
	if recvErr != nil {
		d.close()
		return nil, fmt.Errorf("inherited sockets: %w", recvErr)
	}
	return d, nil
}

// File returns the socket the previous process handed over under name;
// it stays recorded for the next process.
func (d *deferredSockets) File(name string) (*os.File, error) {
	d.mu.Lock()
	fd, ok := d.inherited[name]
	delete(d.inherited, name)
	d.mu.Unlock()
	var f *os.File
	if ok {
		f = os.NewFile(uintptr(fd), name)
	} else if tf, err := d.fds.File(name); err != nil || tf == nil {
		return nil, err
	} else {
		f = tf
	}
	if err := d.AddFile(name, f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// AddFile keeps a copy of f's descriptor, for offer.
func (d *deferredSockets) AddFile(name string, f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("record socket %s: %w", name, err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(u uintptr) { fd, dupErr = dupFd(int(u)) }); err != nil {
		return fmt.Errorf("record socket %s: %w", name, err)
	}
	if dupErr != nil {
		return fmt.Errorf("record socket %s: %w", name, dupErr)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recorded = append(d.recorded, namedFd{name: name, fd: fd})
	return nil
}

// offer puts the recorded sockets in a parcel for the process an upgrade
// is about to start; serve calls it before each attempt. The socket pair
// is made, and its far end given to tableflip, once: a parcel a failed
// attempt left unread is dropped before the next is sent.
func (d *deferredSockets) offer() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pair[0] < 0 {
		if err := d.makePair(); err != nil {
			return err
		}
	}
	discardParcels(d.pair[1])
	if err := sendParcel(d.pair[0], d.recorded); err != nil {
		return fmt.Errorf("hand over sockets: %w", err)
	}
	for i := range d.recorded {
		if err := d.handToTableflip(&d.recorded[i]); err != nil {
			return err
		}
	}
	return nil
}

// handToTableflip gives tableflip a copy of s too, once, for a new
// process of an l4lb that looks for its sockets there only (a rollback to
// an earlier build). That copy is in this process's Go poller from then
// on; the new process closes the one it inherits when it is ready
// (tableflip closes what was inherited and not taken).
func (d *deferredSockets) handToTableflip(s *namedFd) error {
	if s.handed {
		return nil
	}
	if err := d.giveTableflip(s.name, s.fd); err != nil {
		return fmt.Errorf("hand over socket %s: %w", s.name, err)
	}
	s.handed = true
	return nil
}

// giveTableflip records a copy of fd with tableflip under name; this
// process keeps fd.
func (d *deferredSockets) giveTableflip(name string, fd int) error {
	dup, err := dupFd(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), name)
	defer f.Close() // tableflip keeps a copy of its own
	return d.fds.AddFile(name, f)
}

// dupFd returns a close-on-exec duplicate of fd.
func dupFd(fd int) (int, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return dup, nil
}

// makePair makes the parcel's socket pair and gives tableflip a copy of
// the new process's end; this process keeps that end too, to drop stale
// parcels.
func (d *deferredSockets) makePair() error {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("hand over sockets: %w", os.NewSyscallError("socketpair", err))
	}
	if err := d.giveTableflip(parcelName, p[1]); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return fmt.Errorf("hand over sockets: %w", err)
	}
	d.pair = [2]int{p[0], p[1]}
	return nil
}

// closeUnused closes the inherited sockets the engine did not take (a
// listener the new configuration dropped); serve calls it once ready.
func (d *deferredSockets) closeUnused() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, fd := range d.inherited {
		unix.Close(fd)
		delete(d.inherited, name)
	}
}

// close closes every copy this process holds: once upgrades end (the
// process drains or stops), nothing may keep the listening sockets open.
func (d *deferredSockets) close() {
	if d == nil {
		return
	}
	d.closeUnused()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.recorded {
		unix.Close(s.fd)
	}
	d.recorded = nil
	for i, fd := range d.pair {
		if fd >= 0 {
			unix.Close(fd)
			d.pair[i] = -1
		}
	}
}

// sendParcel sends socks on fd: messages of up to parcelMax descriptors
// whose data is their names, one per line, in the same order.
func sendParcel(fd int, socks []namedFd) error {
	for len(socks) > 0 {
		n := min(len(socks), parcelMax)
		names := make([]string, n)
		fds := make([]int, n)
		for i, s := range socks[:n] {
			if strings.Contains(s.name, "\n") {
				return fmt.Errorf("socket name %q has a newline", s.name)
			}
			names[i], fds[i] = s.name, s.fd
		}
		if err := unix.Sendmsg(fd, []byte(strings.Join(names, "\n")), unix.UnixRights(fds...), nil, unix.MSG_DONTWAIT); err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		socks = socks[n:]
	}
	return nil
}

// receiveParcel adds the sockets of every parcel message waiting on fd to
// into, by name; the parcel was sent whole before this process started.
func receiveParcel(fd int, into map[string]int) error {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*parcelMax))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err == unix.EAGAIN || (err == nil && n == 0 && oobn == 0) {
			return nil // all read (or the sender closed its end)
		}
		if err != nil {
			return os.NewSyscallError("recvmsg", err)
		}
		fds, err := parcelRights(oob[:oobn])
		if err == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			err = fmt.Errorf("parcel message truncated")
		}
		var names []string
		if n > 0 {
			names = strings.Split(string(buf[:n]), "\n")
		}
		if err == nil && len(names) != len(fds) {
			err = fmt.Errorf("parcel message has %d names for %d sockets", len(names), len(fds))
		}
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return err
		}
		for i, name := range names {
			if old, ok := into[name]; ok {
				unix.Close(old)
			}
			into[name] = fds[i]
		}
	}
}

// parcelRights returns the descriptors of the SCM_RIGHTS messages in oob.
func parcelRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parcel control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, fmt.Errorf("parcel control message: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// discardParcels reads and drops what waits on fd: a parcel no process
// took, whose descriptors it closes.
func discardParcels(fd int) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*parcelMax))
	for {
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return
		}
		fds, _ := parcelRights(oob[:oobn])
		for _, f := range fds {
			unix.Close(f)
		}
	}
}
