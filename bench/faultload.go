package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// The fault suite's load: SockJS xhr-polling sessions and plain keep-alive
// requests at a fixed pace, each request recorded with its start, its
// duration, the backend that answered and what went wrong, so that the
// effect of a fault can be read off a timeline. The pace is fixed (not as
// fast as possible) so that both balancers see the same requests whatever
// their speed, and errors compare as counts.

// faultLoad shapes the load.
type faultLoad struct {
	tabs       int           // browser tabs, each with two polling sessions sharing its connections
	keepalives int           // keep-alive workers, GET / on one connection each
	every      time.Duration // one request (a poll cycle: two) per session or worker per every
	timeout    time.Duration // per request, as loadgen's default
	// Churn, as visitors come and go: a session ends after sessionLife
	// cycles and a new one opens; a keep-alive worker opens a new
	// connection every connLife requests.
	sessionLife, connLife int
}

var defaultFaultLoad = faultLoad{tabs: 4, keepalives: 8, every: 50 * time.Millisecond, timeout: 10 * time.Second,
	sessionLife: 100, connLife: 100}

// outcome is what became of one request.
type outcome uint8

const (
	outOK       outcome = iota
	outError            // refused, reset, timed out, or a status the backend would not send
	outMisroute         // answered by another backend than its session's
)

// sample is one request.
type sample struct {
	start, took time.Duration // start since the load began
	backend     string        // X-Backend; "" if none answered
	home        string        // the session's backend (polling); "" for keyless
	out         outcome
	err         string
}

// timeline collects samples from every worker.
type timeline struct {
	mu      sync.Mutex
	begin   time.Time
	samples []sample
}

func (t *timeline) add(s sample) {
	t.mu.Lock()
	t.samples = append(t.samples, s)
	t.mu.Unlock()
}

// run loads target until ctx is done and returns the timeline.
func (l faultLoad) run(ctx context.Context, target string) *timeline {
	tl := &timeline{begin: time.Now()}
	var wg sync.WaitGroup
	for range l.tabs {
		// A tab's sessions share its keep-alive connections, as a
		// browser's do, but a hung request holds only its own.
		tab := newFaultClient(l.timeout, 6)
		defer tab.CloseIdleConnections()
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := &faultWorker{l: l, tl: tl, base: "http://" + target, client: tab}
				w.poll(ctx)
			}()
		}
	}
	for range l.keepalives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &faultWorker{l: l, tl: tl, base: "http://" + target, client: newFaultClient(l.timeout, 1)}
			defer w.client.CloseIdleConnections()
			w.keepAlive(ctx)
		}()
	}
	wg.Wait()
	return tl
}

// newFaultClient is a client with at most conns keep-alive connections.
func newFaultClient(timeout time.Duration, conns int) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
		IdleConnTimeout: 60 * time.Second,
	}}
}

type faultWorker struct {
	l      faultLoad
	tl     *timeline
	base   string
	client *http.Client
	seq    int
}

// pace waits for the worker's next slot; it reports false when ctx is
// done.
func (w *faultWorker) pace(ctx context.Context, next *time.Time) bool {
	*next = next.Add(w.l.every)
	if d := time.Until(*next); d > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
		}
	} else {
		*next = time.Now() // behind (a slow request): no burst to catch up
	}
	return ctx.Err() == nil
}

func (w *faultWorker) keepAlive(ctx context.Context) {
	next := time.Now()
	for i := 1; w.pace(ctx, &next); i++ {
		if i%w.l.connLife == 0 {
			w.client.CloseIdleConnections()
		}
		start := time.Now()
		status, backend, body, err := w.do(ctx, http.MethodGet, "/", "")
		s := sample{start: start.Sub(w.tl.begin), took: time.Since(start), backend: backend}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.out, s.err = outError, err.Error()
		case status != 200 || !strings.HasPrefix(body, "backend "):
			s.out, s.err = outError, fmt.Sprintf("GET / answered %d %q", status, trim(body))
		}
		w.tl.add(s)
	}
}

// pollSession is one SockJS xhr-polling session.
type pollSession struct {
	path string // <prefix>/<server>/<session>
	home string // backend that answered its opening; "" until open
}

func newPollSession() *pollSession {
	var b [8]byte
	rand.Read(b[:])
	return &pollSession{path: fmt.Sprintf("%s/%03d/%s", echobackend.Prefix, int(b[0])%1000, hex.EncodeToString(b[1:]))}
}

// poll runs one session after another: open, then (xhr_send, xhr)
// cycles, each echo checked. A session that fails or is misrouted is
// dropped for a new one, as a SockJS client reconnects, and one that has
// lived sessionLife cycles for a new one, as visitors come and go.
func (w *faultWorker) poll(ctx context.Context) {
	s := newPollSession()
	next := time.Now()
	for i := 1; w.pace(ctx, &next); i++ {
		if !w.cycle(ctx, s) || i%w.l.sessionLife == 0 {
			if ctx.Err() != nil {
				return
			}
			s = newPollSession()
		}
	}
}

// cycle opens s, or sends it a message and polls for the echo. It reports
// whether the session goes on.
func (w *faultWorker) cycle(ctx context.Context, s *pollSession) bool {
	if s.home == "" {
		start := time.Now()
		status, backend, body, err := w.do(ctx, http.MethodPost, s.path+"/xhr", "")
		smp := sample{start: start.Sub(w.tl.begin), took: time.Since(start), backend: backend}
		switch {
		case ctx.Err() != nil:
			return false
		case err != nil:
			smp.out, smp.err = outError, err.Error()
		case status != 200 || body != "o\n":
			smp.out, smp.err = outError, fmt.Sprintf("open answered %d %q", status, trim(body))
		default:
			s.home = backend
		}
		smp.home = s.home
		w.tl.add(smp)
		return smp.out == outOK
	}
	w.seq++
	msg := strconv.Itoa(w.seq)
	if !w.check(ctx, s, http.MethodPost, s.path+"/xhr_send", `["`+msg+`"]`, func(status int, body string) (outcome, string) {
		switch status {
		case 204, 200:
			return outOK, ""
		case 404:
			// From the session's own backend (another's is a
			// misroute, caught before): it forgot the session.
			return outError, "xhr_send answered 404 by the session's own backend"
		}
		return outError, fmt.Sprintf("xhr_send answered %d %q", status, trim(body))
	}) {
		return false
	}
	want := `a["` + echobackend.Stamp(s.home, msg) + `"]` + "\n"
	for retry := 0; ; retry++ {
		again := false
		ok := w.check(ctx, s, http.MethodPost, s.path+"/xhr", "", func(status int, body string) (outcome, string) {
			switch {
			case status == 200 && body == want:
				return outOK, ""
			case status == 200 && body == "o\n":
				return outError, "poll opened a new session on the session's own backend"
			case status == 200 && strings.HasPrefix(body, "c[2010,") && retry < 5:
				// sockjs-go detaches a finished poll on another
				// goroutine; the next one may race it (loadgen's
				// "retried polls"). Not an error.
				again = true
				return outOK, ""
			}
			return outError, fmt.Sprintf("poll answered %d %q; want %q", status, trim(body), want)
		})
		if !ok || !again {
			return ok
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// check sends one request of session s, classifies it with judge (after
// checking which backend answered) and records it. It reports whether the
// session goes on.
func (w *faultWorker) check(ctx context.Context, s *pollSession, method, path, body string, judge func(status int, body string) (outcome, string)) bool {
	start := time.Now()
	status, backend, resp, err := w.do(ctx, method, path, body)
	smp := sample{start: start.Sub(w.tl.begin), took: time.Since(start), backend: backend, home: s.home}
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		smp.out, smp.err = outError, err.Error()
	case backend != "" && backend != s.home:
		smp.out, smp.err = outMisroute, fmt.Sprintf("answered by %s, the session lives on %s", backend, s.home)
	default:
		smp.out, smp.err = judge(status, resp)
	}
	w.tl.add(smp)
	return smp.out == outOK
}

// do sends one request and returns the status, the answering backend and
// the body.
func (w *faultWorker) do(ctx context.Context, method, path, body string) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(resp.Body, 1<<16)); err != nil {
		return resp.StatusCode, resp.Header.Get(echobackend.HeaderName), "", err
	}
	return resp.StatusCode, resp.Header.Get(echobackend.HeaderName), b.String(), nil
}

func trim(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
