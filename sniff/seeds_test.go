package sniff

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/* from the captured heads and bodies")

// TestWriteSeeds writes the committed seed corpora of the fuzz targets from
// the captured traffic under testdata/heads and testdata/chunked, and
// FuzzProxy's from the headers go-proxyproto writes (proxySeeds), in the
// go test fuzz v1 format. Run it after capturing new traffic:
//
//	go test -run TestWriteSeeds -write-seeds ./sniff
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds")
	}
	write := func(target, name string, values ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case bool:
				fmt.Fprintf(&b, "bool(%v)\n", v)
			}
		}
		name = strings.NewReplacer("/", "-", ".", "-").Replace(name)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range loadCorpus(t, "heads", ".request") {
		write("FuzzSniff", f.name, f.data)
	}
	for _, f := range loadCorpus(t, "heads", ".response") {
		write("FuzzResponse", f.name, f.data, false)
	}
	for _, f := range loadCorpus(t, "chunked", ".chunked") {
		write("FuzzChunked", f.name, f.data)
	}
	for name, data := range proxySeeds(t) {
		write("FuzzProxy", name, data)
	}
}
