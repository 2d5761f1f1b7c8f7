package sniff

import (
	"bytes"
	"fmt"
	"testing"
)

// The fuzz targets' seed corpora are committed under testdata/fuzz/<name>/
// (heads and bodies captured from Chromium, sockjs-client and sockjs-node;
// regenerate them with go test -run TestWriteSeeds -write-seeds); the
// table tests' inputs are added as seeds too. All run under plain go test.
// Each target checks, for every input: no panic; the same outcome whole
// and one byte at a time; a decision within the limit; and agreement with
// net/http (oracle_test.go).

// smallConfig has limits small enough for the fuzzer to reach.
var smallConfig = Config{
	Prefixes:            testConfig.Prefixes,
	Cookies:             testConfig.Cookies,
	MaxHeadBytes:        256,
	MaxRequestLineBytes: 64,
}

func FuzzSniff(f *testing.F) {
	for _, tc := range requestTests {
		f.Add([]byte(tc.head))
	}
	s := newSniffer(f, testConfig)
	small := newSniffer(f, smallConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range []*Sniffer{s, small} {
			st, req := checkIncremental(t, s, data)
			checkRequestOracle(t, s, testConfig.Cookies, data, st, &req)
			checkKey(t, data, st, &req)
		}
	})
}

// checkKey checks that a key comes only from a Done head, and from where
// KeyKind says.
func checkKey(t *testing.T, data []byte, st Status, req *Request) {
	t.Helper()
	switch {
	case st != Done:
		if req.KeyKind != KeyNone || req.Key != nil {
			t.Fatalf("Request(%s) = %v with key %v %q", abbrev(data), st, req.KeyKind, req.Key)
		}
	case req.KeyKind == KeySession:
		if !bytes.Equal(req.Key, req.SockJS.Session) || len(req.Key) == 0 {
			t.Fatalf("Request(%s) session key %q, session %q", abbrev(data), req.Key, req.SockJS.Session)
		}
	case req.KeyKind == KeyCookie:
		for _, c := range req.Cookies {
			if len(c) > 0 {
				if !bytes.Equal(c, req.Key) {
					t.Fatalf("Request(%s) cookie key %q; first cookie %q", abbrev(data), req.Key, c)
				}
				return
			}
		}
		t.Fatalf("Request(%s) cookie key %q with no cookie", abbrev(data), req.Key)
	}
}

func FuzzResponse(f *testing.F) {
	for _, tc := range responseTests {
		f.Add([]byte(tc.head), tc.toHEAD)
	}
	s := newSniffer(f, testConfig)
	small := newSniffer(f, smallConfig)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		for _, s := range []*Sniffer{s, small} {
			st, resp := checkResponseIncremental(t, s, data, head)
			checkResponseOracle(t, s, data, head, st, &resp)
		}
	})
}

func checkResponseIncremental(t testing.TB, s *Sniffer, data []byte, head bool) (Status, Response) {
	t.Helper()
	orig := bytes.Clone(data)
	var sc Scan
	var whole Response
	st := s.Response(&sc, data, head, &whole)
	if !bytes.Equal(orig, data) {
		t.Fatalf("Response modified its buffer")
	}
	var sc2 Scan
	var inc Response
	for i := 0; i <= len(data); i++ {
		st2 := s.Response(&sc2, data[:i], head, &inc)
		if st2 == NeedMore && i < len(data) {
			continue
		}
		if st2 != st || inc != whole {
			t.Fatalf("Response(%s):\nwhole:    %v %+v\nbytewise: %v %+v (at %d)", abbrev(data), st, whole, st2, inc, i)
		}
		if st2 != NeedMore && i > s.maxHead {
			t.Fatalf("Response(%s) decided after %d bytes, past MaxHeadBytes %d", abbrev(data), i, s.maxHead)
		}
		break
	}
	return st, whole
}

func FuzzChunked(f *testing.F) {
	for _, tc := range chunkedTests {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, done, err := checkChunkedIncremental(t, data)
		checkChunkedOracle(t, data, n, done, err)
	})
}

// checkChunkedIncremental scans data whole, one byte at a time, and in
// two pieces at every split, and checks that all agree.
func checkChunkedIncremental(t testing.TB, data []byte) (int, bool, error) {
	t.Helper()
	var c ChunkedBody
	n, done, err := c.Scan(data)
	if n < 0 || n > len(data) || (done || err != nil) == false && n != len(data) {
		t.Fatalf("Scan(%s) = %d, %v, %v", abbrev(data), n, done, err)
	}
	want := fmt.Sprint(n, done, err)
	split := func(parts ...[]byte) string {
		var c ChunkedBody
		total := 0
		for _, p := range parts {
			k, done, err := c.Scan(p)
			total += k
			if done || err != nil {
				return fmt.Sprint(total, done, err)
			}
		}
		return fmt.Sprint(total, false, nil)
	}
	bytewise := make([][]byte, len(data))
	for i := range data {
		bytewise[i] = data[i : i+1]
	}
	if got := split(bytewise...); got != want {
		t.Fatalf("Scan(%s) whole = %s; byte at a time = %s", abbrev(data), want, got)
	}
	for i := 0; i <= len(data) && i < 64; i++ {
		if got := split(data[:i], data[i:]); got != want {
			t.Fatalf("Scan(%s) whole = %s; split at %d = %s", abbrev(data), want, i, got)
		}
	}
	return n, done, err
}
