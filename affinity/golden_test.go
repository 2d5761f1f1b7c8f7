package affinity

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt from the current implementation")

const goldenFile = "testdata/golden.txt"

// goldenBackends is the set the golden vectors are computed for: TCP and
// UNIX endpoints, several weights, a draining and a down backend.
func goldenBackends() []Backend {
	bs := []Backend{
		{Endpoint: "unix:/run/meteor.sock.1.sock"},
		{Endpoint: "unix:/run/meteor.sock.2.sock", Weight: 2},
		{Endpoint: "tcp://10.0.0.5:3000", State: Draining},
		{Endpoint: "tcp://10.0.0.6:3000", Weight: 3},
		{Endpoint: "tcp://10.0.0.7:3000", State: Down},
		{Endpoint: "tcp://[fd00::8]:3000"},
		{Endpoint: "tcp://app-9.internal:3000", Weight: 1},
	}
	for i := range 10 {
		bs = append(bs, Backend{Endpoint: fmt.Sprintf("tcp://10.1.0.%d:3000", i+1)})
	}
	return bs
}

// goldenKeys are SockJS-like session ids and cookie values.
func goldenKeys() []string {
	keys := []string{"", "a", "abc", "JSESSIONID=dummy", "0123456789abcdef"}
	for i := range 400 {
		keys = append(keys, fmt.Sprintf("%08x", mix64(uint64(i)))[:8])
	}
	return keys
}

// goldenLine is one key's vector: the key, its hash, and the endpoints of
// its candidates in order (the first is Lookup's).
func goldenLine(s *Snapshot, key string) string {
	h := HashKey([]byte(key))
	return fmt.Sprintf("%q %016x %s", key, h, strings.Join(endpoints(s.Candidates(h, nil)), " "))
}

// TestGolden compares Lookup and Candidates with vectors committed to the
// repository: a change that moves sessions between balancer versions fails
// here. The set is built in several orders. Run with -update only for a
// deliberate, documented break of the compatibility promise.
func TestGolden(t *testing.T) {
	bs := goldenBackends()
	s := mustSnapshot(t, bs)
	keys := goldenKeys()
	if *update {
		var b strings.Builder
		b.WriteString("# affinity golden vectors: key, HashKey(key), Candidates (Lookup first).\n")
		b.WriteString("# Backend set (endpoint weight state):\n")
		for _, m := range s.Members() {
			fmt.Fprintf(&b, "# %s %d %s\n", m.backend.Endpoint, m.backend.Weight, m.backend.State)
		}
		for _, k := range keys {
			b.WriteString(goldenLine(s, k) + "\n")
		}
		if err := os.WriteFile(goldenFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			want = append(want, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(keys) {
		t.Fatalf("%s has %d vectors; want %d", goldenFile, len(want), len(keys))
	}
	reversed := make([]Backend, len(bs))
	for i, b := range bs {
		reversed[len(bs)-1-i] = b
	}
	for name, snap := range map[string]*Snapshot{"given order": s, "reversed": mustSnapshot(t, reversed)} {
		bad := 0
		for i, k := range keys {
			if got := goldenLine(snap, k); got != want[i] {
				if bad++; bad <= 3 {
					t.Errorf("%s: vector of key %s:\n got %s\nwant %s", name, strconv.Quote(k), got, want[i])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d golden vectors differ", name, bad, len(keys))
		}
	}
}
