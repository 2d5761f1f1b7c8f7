package sniff

import (
	"bytes"
	"testing"
)

func TestParseClusterDDP(t *testing.T) {
	for _, tc := range []struct {
		path                   string
		ok                     bool
		hash, service, session string
		cut                    int
	}{
		{"/cluster-ddp/5f1b/web/123/abcd/xhr", true, "5f1b", "web", "abcd", 21},
		{"/cluster-ddp/5f1b/web/123/abcd/xhr_send/", true, "5f1b", "web", "abcd", 21},
		{"/cluster-ddp/5f1b/web/123/abcd/websocket", true, "5f1b", "web", "", 21},
		{"/cluster-ddp/5f1b/web/info", true, "5f1b", "web", "", 21},
		{"/cluster-ddp/5f1b/web", true, "5f1b", "web", "", 21},
		{"/cluster-ddp/5f1b/web/", true, "5f1b", "web", "", 21},
		{"/cluster-ddp/5f1b/web/1.2/abcd/xhr", true, "5f1b", "web", "", 21},
		{"/cluster-ddp/5f1b/we-b/x", false, "", "", "", 0},
		{"/cluster-ddp/5f1b", false, "", "", "", 0},
		{"/cluster-ddp//web/x", false, "", "", "", 0},
		{"/cluster-ddp/5f1b/", false, "", "", "", 0},
		{"/cluster-ddpx/5f1b/web", false, "", "", "", 0},
		{"/sockjs/123/abcd/xhr", false, "", "", "", 0},
	} {
		var d ClusterDDP
		ok := ParseClusterDDP([]byte(tc.path), &d)
		if ok != tc.ok || ok && (string(d.Hash) != tc.hash || string(d.Service) != tc.service ||
			string(d.Session) != tc.session || d.Cut != tc.cut) {
			t.Errorf("%q: got %v %+v, want %v %s %s %s %d", tc.path, ok, d, tc.ok, tc.hash, tc.service, tc.session, tc.cut)
		}
	}
}

func TestParseClusterDDPAllocs(t *testing.T) {
	p := []byte("/cluster-ddp/5f1b/web/123/abcd/xhr")
	var d ClusterDDP
	if n := testing.AllocsPerRun(100, func() { ParseClusterDDP(p, &d) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// FuzzClusterDDP checks that every accepted path splits into the parts it
// claims: the prefix, the hash, the service and what follows the cut.
func FuzzClusterDDP(f *testing.F) {
	for _, s := range []string{"/cluster-ddp/5f1b/web/123/abcd/xhr", "/cluster-ddp/a/b", "/cluster-ddp/a/b/c/d/e/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		var d ClusterDDP
		p := []byte(path)
		if !ParseClusterDDP(p, &d) {
			return
		}
		want := ClusterDDPPrefix + string(d.Hash) + "/" + string(d.Service)
		if d.Cut != len(want) || path[:d.Cut] != want || wordLen(d.Hash) != len(d.Hash) || wordLen(d.Service) != len(d.Service) {
			t.Fatalf("%q: %+v", path, d)
		}
		if rest := p[d.Cut:]; len(rest) > 0 && rest[0] != '/' {
			t.Fatalf("%q: rest %q", path, rest)
		}
		if d.Session != nil && !bytes.Contains(p[d.Cut:], d.Session) {
			t.Fatalf("%q: session %q", path, d.Session)
		}
	})
}
