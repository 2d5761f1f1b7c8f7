package registry

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/internal/testutil"
)

func TestParseBackends(t *testing.T) {
	tests := []struct {
		name, in string
		want     []affinity.Backend
		wantErr  string
	}{
		{"empty", "\n# nothing\n", []affinity.Backend{}, ""},
		{"plain", "10.0.0.6:3000\nhttp://10.0.0.5:3000 # first\n", []affinity.Backend{
			{Endpoint: "tcp://10.0.0.5:3000"}, {Endpoint: "tcp://10.0.0.6:3000"}}, ""},
		{"fields", "unix:/run/a.sock weight=3 state=draining proxy=v1\n", []affinity.Backend{
			{Endpoint: "unix:/run/a.sock", Weight: 3, State: affinity.Draining, ProxyProtocol: affinity.ProxyV1}}, ""},
		{"proxy off", "a:1 proxy=off\n", []affinity.Backend{{Endpoint: "tcp://a:1", ProxyProtocol: affinity.ProxyOff}}, ""},
		{"duplicate", "10.0.0.5:3000\ntcp://10.0.0.5:3000\n", []affinity.Backend{{Endpoint: "tcp://10.0.0.5:3000"}}, ""},
		{"bad endpoint", "ok:1\nnot an endpoint\n", nil, "line 2"},
		{"bad weight", "a:1 weight=-1\n", nil, "weight"},
		{"bad state", "a:1 state=sleepy\n", nil, "state"},
		{"bad proxy", "a:1 proxy=v3\n", nil, `proxy protocol "v3"`},
		{"proxy in capitals", "a:1 proxy=V1\n", nil, `proxy protocol "V1"`},
		{"empty proxy", "a:1 proxy=\n", nil, "proxy"},
		{"unknown field", "a:1 color=red\n", nil, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBackends(strings.NewReader(tt.in), "", "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseBackends(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !sameSet(got, tt.want) {
				t.Errorf("parseBackends(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backends")
	write := func(s string) {
		t.Helper()
		// Write-and-rename, as config management does; the inode changes.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewFile(path, Options{}); err == nil {
		t.Fatalf("NewFile(missing) = nil error; want an error")
	}
	write("127.0.0.1:3001\n")
	log, logs := testutil.Logger(t, slog.LevelDebug)
	src, err := NewFile(path, Options{Interval: 20 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, src, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001"}, 5*time.Second)

	write("127.0.0.1:3001\n127.0.0.1:3002\n")
	w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}, 5*time.Second)

	// In place, same size: the mtime (or nothing, on a coarse clock) tells.
	if err := os.WriteFile(path, []byte("127.0.0.1:3001\n127.0.0.1:3003\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Second)
	os.Chtimes(path, now, now)
	w.waitFor([]string{"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3003"}, 5*time.Second)

	// Fail static: a broken file and a missing file keep the last set.
	write("127.0.0.1:3001\ngarbage\n")
	logs.WaitLine(t, 0, regexp.MustCompile("backends file unusable"), 5*time.Second)
	os.Remove(path)
	w.quiet(200*time.Millisecond, "broken, then missing file")

	write("127.0.0.1:3004\n")
	w.waitFor([]string{"tcp://127.0.0.1:3004"}, 5*time.Second)
}

// TestFileReload: Reload re-reads the file even when stat(2) cannot tell
// it changed (same size, inode and mtime), and its update is made before
// it returns; a failed Reload keeps the last set and leaves the logging to
// its caller.
func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backends")
	if err := os.WriteFile(path, []byte("127.0.0.1:3001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// rewrite changes the content in place and puts the mtime back, so
	// that only a forced read sees it.
	rewrite := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	log, logs := testutil.Logger(t, slog.LevelDebug)
	src, err := NewFile(path, Options{Interval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := src.Reload(); n != 1 || err != nil {
		t.Errorf("Reload() before Watch = %d, %v; want 1, nil", n, err)
	}
	w := startWatch(t, src, "web")
	w.waitFor([]string{"tcp://127.0.0.1:3001"}, 5*time.Second)

	for _, tt := range []struct {
		name, content string
		want          []string // the update Reload makes; nil: none
		n             int
		wantErr       bool
	}{
		{"changed", "127.0.0.1:3002\n", []string{"tcp://127.0.0.1:3002"}, 1, false},
		{"unchanged", "127.0.0.1:3002\n", nil, 1, false},
		{"broken", "127.0.0.1:300x\n", nil, 0, true},
		{"usable again", "127.0.0.1:3003\n", []string{"tcp://127.0.0.1:3003"}, 1, false},
	} {
		rewrite(tt.content)
		n, err := src.Reload()
		if n != tt.n || (err != nil) != tt.wantErr {
			t.Fatalf("%s: Reload() = %d, %v; want %d, error %v", tt.name, n, err, tt.n, tt.wantErr)
		}
		var got []string
		select {
		case set := <-w.updates:
			got = endpointsOf(set)
		default:
		}
		if !slices.Equal(got, tt.want) {
			t.Fatalf("%s: update made by Reload = %v; want %v", tt.name, got, tt.want)
		}
	}
	if strings.Contains(logs.String(), "unusable") {
		t.Errorf("a failed Reload was logged by the source; want it left to the caller:\n%s", logs.String())
	}
}

// TestFileEmptyReportedOnce: an empty file is a set like any other,
// reported once and not again at every check.
func TestFileEmptyReportedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backends")
	if err := os.WriteFile(path, []byte("# nothing yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := NewFile(path, Options{Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, src, "web")
	w.waitFor([]string{}, 5*time.Second)
	w.quiet(200*time.Millisecond, "unchanged empty file")
}

func TestFileService(t *testing.T) {
	const text = "10.0.0.1:3000\n10.0.0.2:3000 service=web\n10.0.0.3:3000 service=api weight=2\n"
	for _, tc := range []struct {
		service, def string
		want         []string
	}{
		{"", "", []string{"tcp://10.0.0.1:3000", "tcp://10.0.0.2:3000", "tcp://10.0.0.3:3000"}},
		{"web", "web", []string{"tcp://10.0.0.1:3000", "tcp://10.0.0.2:3000"}},
		{"api", "web", []string{"tcp://10.0.0.3:3000"}},
		{"api", "", []string{"tcp://10.0.0.1:3000", "tcp://10.0.0.3:3000"}},
		{"jobs", "web", nil},
	} {
		set, err := parseBackends(strings.NewReader(text), tc.service, tc.def)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range set {
			got = append(got, b.Endpoint)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("service %q default %q: %v; want %v", tc.service, tc.def, got, tc.want)
		}
	}
	if _, err := parseBackends(strings.NewReader("10.0.0.1:3000 service=\n"), "", ""); err == nil {
		t.Error("service= without a name accepted")
	}
}
