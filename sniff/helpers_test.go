package sniff

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// testConfig is the configuration most tests use: Meteor's prefix, a
// service-prefixed one and a ROOT_URL_PATH_PREFIX one; two sticky cookies.
var testConfig = Config{
	Prefixes: []string{"/sockjs", "/search/sockjs", "/app/sockjs"},
	Cookies:  []string{"sticky", "JSESSIONID"},
}

func newSniffer(t testing.TB, cfg Config) *Sniffer {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return s
}

// corpusFile is one captured message under testdata.
type corpusFile struct {
	name string
	data []byte
}

// loadCorpus reads testdata/<dir>/*/*<suffix>: heads captured from
// Chromium, sockjs-client and sockjs-node (see testdata/capture).
func loadCorpus(t testing.TB, dir, suffix string) []corpusFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", dir, "*", "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []corpusFile
	for _, n := range names {
		if suffix == ".response" && strings.HasSuffix(n, ".head.response") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusFile{strings.TrimPrefix(n, "testdata/"), b})
	}
	if len(out) == 0 {
		t.Fatalf("no testdata/%s/*/*%s files", dir, suffix)
	}
	return out
}

// requestOutcome is everything Request reports, in comparable form.
type requestOutcome struct {
	st  Status
	req string
	at  int // how many bytes were given when the outcome was decided
}

func describeRequest(r *Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "head=%d method=%q path=%q host=%q minor=%d upgrade=%v ",
		r.HeadLen, r.Method, r.Path, r.Host, r.ProtoMinor, r.Upgrade)
	fmt.Fprintf(&b, "sockjs=%q/%q/%q/%q prefix=%d raw=%v ", r.SockJS.Prefix, r.SockJS.Server,
		r.SockJS.Session, r.SockJS.Transport, r.PrefixIndex, r.RawWebSocket)
	for i, c := range r.Cookies {
		if c != nil {
			fmt.Fprintf(&b, "cookie%d=%q ", i, c)
		}
	}
	fmt.Fprintf(&b, "key=%s:%q cl=%d chunked=%v close=%v expect=%v status=%d tls=%v sni=%q",
		r.KeyKind, r.Key, r.ContentLength, r.Chunked, r.Close, r.Expect100, r.Status, r.TLS, r.SNI)
	return b.String()
}

// sniffWhole gives Request all of data at once.
func sniffWhole(s *Sniffer, data []byte) (Status, Request) {
	var sc Scan
	var req Request
	st := s.Request(&sc, data, &req)
	return st, req
}

// sniffBytewise gives Request one more byte per call, as a slow client
// does, until it decides. It also checks that a decided Scan keeps its
// answer.
func sniffBytewise(t testing.TB, s *Sniffer, data []byte) requestOutcome {
	t.Helper()
	var sc Scan
	var req Request
	for i := 0; i <= len(data); i++ {
		st := s.Request(&sc, data[:i], &req)
		if st == NeedMore {
			continue
		}
		out := requestOutcome{st, describeRequest(&req), i}
		var again Request
		if st2 := s.Request(&sc, data[:i], &again); st2 != st || describeRequest(&again) != out.req {
			t.Fatalf("Request called again after %v gave %v %s", st, st2, describeRequest(&again))
		}
		return out
	}
	return requestOutcome{NeedMore, describeRequest(&req), len(data)}
}

// checkIncremental checks that data gives the same outcome whole and one
// byte at a time, that Request does not touch data, and that the outcome
// was decided within the head limit. It returns the whole outcome.
func checkIncremental(t testing.TB, s *Sniffer, data []byte) (Status, Request) {
	t.Helper()
	orig := bytes.Clone(data)
	st, req := sniffWhole(s, data)
	if !bytes.Equal(orig, data) {
		t.Fatalf("Request modified its buffer")
	}
	whole := describeRequest(&req)
	inc := sniffBytewise(t, s, data)
	if inc.st != st || inc.req != whole {
		t.Fatalf("Request(%s):\nwhole:     %v %s\nbytewise:  %v %s (at %d)", abbrev(data), st, whole, inc.st, inc.req, inc.at)
	}
	if inc.at > s.maxHead {
		t.Fatalf("Request(%s) decided after %d bytes, past MaxHeadBytes %d", abbrev(data), inc.at, s.maxHead)
	}
	return st, req
}
