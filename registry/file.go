package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// File is a Source read from a text file, reloaded when it changes.
//
// The format is one backend a line: an endpoint (see NormalizeEndpoint),
// optionally followed by "weight=N", "state=ready|draining|down" and
// "proxy=off|v1|v2" (the PROXY header for this backend, instead of the
// balancer's --proxy-protocol) and "service=NAME" (the service the backend
// belongs to, see Options.DefaultService; a Watch of another service
// leaves the line out);
// blank lines and everything after '#' are ignored:
//
//	# web tier
//	10.0.0.5:3000
//	http://10.0.0.6:3000 weight=2
//	unix:/run/app/meteor.sock.1.sock state=draining
//
// The file is checked every Options.Interval by stat(2) (size, mtime,
// inode), so a rewrite in place and an atomic rename are both seen; it is
// only read when one of them changed, or when Reload asks. A file that
// disappears or stops parsing keeps the last good set in service (fail
// static) and is logged.
type File struct {
	path string
	opts Options

	mu      sync.Mutex
	watches map[*fileWatch]struct{} // the running Watch calls, for Reload
}

var _ Source = (*File)(nil)

// NewFile returns a Source that reads path. The file must exist and parse
// now, so that a typo fails at startup rather than at the first reload.
// Watch reports the lines of its service (see the service= field).
func NewFile(path string, opts Options) (*File, error) {
	if _, _, err := readFile(path, "", ""); err != nil {
		return nil, err
	}
	return &File{path: path, opts: opts}, nil
}

// Path returns the path of the file.
func (f *File) Path() string { return f.path }

// fileStamp identifies one version of a file cheaply.
type fileStamp struct {
	size, ino int64
	mtime     time.Time
}

func stamp(fi os.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = int64(st.Ino)
	}
	return s
}

// Watch calls update with the file's set, then again after each change
// that parses to a different set. It blocks until ctx is done.
func (f *File) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	w := &fileWatch{path: f.path, service: service, def: f.opts.DefaultService, log: f.opts.logger().With("source", "file", "path", f.path), update: update}
	f.mu.Lock()
	if f.watches == nil {
		f.watches = map[*fileWatch]struct{}{}
	}
	f.watches[w] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watches, w)
		f.mu.Unlock()
		w.stop()
	}()

	w.load(false)
	t := time.NewTicker(f.opts.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.load(false)
		}
	}
}

// Reload re-reads the file now for every running Watch, even if its size,
// mtime and inode look unchanged, and returns once each has called update
// (if its set changed). It returns the number of backends read, or the
// error that kept the last set in service; that error is not logged, as
// the caller, who asked, reports it. With no Watch running it only reads
// the file. Safe for concurrent use.
func (f *File) Reload() (int, error) {
	f.mu.Lock()
	ws := make([]*fileWatch, 0, len(f.watches))
	for w := range f.watches {
		ws = append(ws, w)
	}
	f.mu.Unlock()
	if len(ws) == 0 {
		set, _, err := readFile(f.path, "", "")
		return len(set), err
	}
	var (
		n   int
		err error
	)
	for _, w := range ws {
		n, err = w.load(true)
	}
	return n, err
}

// fileWatch is the state of one running Watch: the set it last reported
// and the version of the file that set came from. Its mutex keeps update
// calls from the ticker and from Reload apart.
type fileWatch struct {
	path         string
	service, def string // the service watched, Options.DefaultService
	log          *slog.Logger
	update       func([]affinity.Backend)

	mu      sync.Mutex
	last    []affinity.Backend
	lastSt  fileStamp
	loaded  bool // last and lastSt hold a set that was reported
	failing bool
	stopped bool // Watch has returned: update must not be called
}

// load reads the file if its stamp changed since the last set, or always
// if force, and calls update if the set changed. It returns the number of
// backends read, or the error that kept the last set; only unforced
// failures are logged (once, until the file is usable again).
func (w *fileWatch) load(force bool) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		set, _, err := readFile(w.path, w.service, w.def)
		return len(set), err
	}
	fi, err := os.Stat(w.path)
	if err == nil && !force && w.loaded && stamp(fi) == w.lastSt {
		return len(w.last), nil
	}
	var set []affinity.Backend
	var st fileStamp
	if err == nil {
		set, st, err = readFile(w.path, w.service, w.def)
	}
	if err != nil {
		if !w.failing && !force {
			w.log.Warn("backends file unusable, keeping the last known set", "err", err, "backends", len(w.last))
		}
		w.failing = true
		return 0, err
	}
	if w.failing {
		w.log.Info("backends file usable again")
	}
	w.failing, w.lastSt = false, st
	if w.loaded && sameSet(set, w.last) {
		return len(set), nil
	}
	w.last, w.loaded = set, true
	w.update(slices.Clone(set))
	return len(set), nil
}

func (w *fileWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// readFile parses path and keeps the lines of service (see lineService),
// or all of them for service "". The stamp is taken from the open file so
// that it describes the version that was read.
func readFile(path, service, def string) ([]affinity.Backend, fileStamp, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("read backends file: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("read backends file: %w", err)
	}
	set, err := parseBackends(fh, service, def)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("read backends file %s: %w", path, err)
	}
	return set, stamp(fi), nil
}

// parseBackends reads the File format.
func parseBackends(r io.Reader, service, def string) ([]affinity.Backend, error) {
	var set []affinity.Backend
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		b, svc, err := parseBackendLine(fields)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if lineService(svc, service, def) {
			set = append(set, b)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return sortBackends(set), nil
}

// lineService reports whether a line naming svc ("" for none) belongs to
// service, "" standing for every service, when def is the service of a
// line that names none.
func lineService(svc, service, def string) bool {
	if service == "" || svc == service {
		return true
	}
	return svc == "" && (def == "" || def == service)
}

func parseBackendLine(fields []string) (affinity.Backend, string, error) {
	var svc string
	b, err := parseBackendFields(fields, &svc)
	return b, svc, err
}

func parseBackendFields(fields []string, svc *string) (affinity.Backend, error) {
	ep, err := NormalizeEndpoint(fields[0])
	if err != nil {
		return affinity.Backend{}, err
	}
	b := affinity.Backend{Endpoint: ep, State: affinity.Ready}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "weight":
			w, err := strconv.Atoi(v)
			if err != nil || w < 0 {
				return b, fmt.Errorf("weight %q: want a non-negative integer", v)
			}
			b.Weight = w
		case "state":
			s, ok := parseState(v)
			if !ok {
				return b, fmt.Errorf("state %q: want ready, draining or down", v)
			}
			b.State = s
		case "proxy":
			if v == "" { // a line leaves proxy= out for the balancer's own setting
				return b, errors.New("proxy= without a value: want off, v1 or v2")
			}
			p, err := affinity.ParseProxyProtocol(v)
			if err != nil {
				return b, err
			}
			b.ProxyProtocol = p
		case "service":
			if v == "" {
				return b, errors.New("service= without a name")
			}
			*svc = v
		default:
			return b, errors.New("unknown field " + strconv.Quote(f) + ": want weight=N, state=S, proxy=P or service=NAME")
		}
	}
	return b, nil
}

// parseState maps the spellings of affinity.State.String back; the empty
// string is Ready, the meaning of a document without a state.
func parseState(s string) (affinity.State, bool) {
	switch strings.ToLower(s) {
	case "", "ready":
		return affinity.Ready, true
	case "draining":
		return affinity.Draining, true
	case "down":
		return affinity.Down, true
	}
	return affinity.Ready, false
}
