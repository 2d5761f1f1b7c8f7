package registry

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestNewGlobRejects(t *testing.T) {
	for _, p := range []string{"unix:relative/*.sock", "unix:/run/[.sock"} {
		if _, err := NewGlob(p, Options{}); err == nil {
			t.Errorf("NewGlob(%q) = nil error; want an error", p)
		}
	}
}

func TestIsGlob(t *testing.T) {
	tests := map[string]bool{
		"unix:/run/app/meteor.sock.*.sock": true,
		"unix:/run/app/meteor.sock.1.sock": false,
		"10.0.0.5:3000":                    false,
		"unix:/run/app/w[0-9].sock":        true,
	}
	for in, want := range tests {
		if got := IsGlob(in); got != want {
			t.Errorf("IsGlob(%q) = %v; want %v", in, got, want)
		}
	}
}

// TestGlobFollowsSockets is acceptance 5: Meteor cluster workers come and
// go with new worker ids, and the set follows their socket files.
func TestGlobFollowsSockets(t *testing.T) {
	dir, err := os.MkdirTemp("", "l4lb-glob-") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := func(worker string) string { return filepath.Join(dir, "meteor.sock."+worker+".sock") }
	listenAt := func(path string) net.Listener {
		t.Helper()
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	listen := func(worker string) net.Listener { return listenAt(sock(worker)) }
	listen("1")
	// Neither a regular file nor a non-matching socket counts.
	if err := os.WriteFile(sock("notasocket"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	listenAt(filepath.Join(dir, "other.sock"))

	src, err := NewGlob("unix:"+filepath.Join(dir, "meteor.sock.*.sock"), Options{Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, src, "web")
	w.waitFor([]string{"unix:" + sock("1")}, 5*time.Second)

	l2 := listen("2")
	w.waitFor([]string{"unix:" + sock("1"), "unix:" + sock("2")}, 5*time.Second)

	l2.Close() // a UNIX listener removes its socket file on Close
	w.waitFor([]string{"unix:" + sock("1")}, 5*time.Second)
}
