package sniff

import (
	"math/rand/v2"
	"testing"
)

// setAVX2 switches the classifier for one test or benchmark.
func setAVX2(tb testing.TB, on bool) {
	tb.Helper()
	if on && !useAVX2 {
		tb.Skip("no AVX2 on this CPU")
	}
	old := useAVX2
	useAVX2 = on
	tb.Cleanup(func() { useAVX2 = old })
}

// classifyRef is the definition: one byteClass lookup per byte.
func classifyRef(p []byte) (m blockMasks) {
	for i, c := range p[:64] {
		k := byteClass[c]
		if k&classStop != 0 {
			m.stop |= 1 << i
		}
		if k&classNonToken != 0 {
			m.nontok |= 1 << i
		}
		if c == '\n' {
			m.lf |= 1 << i
		}
		if c == '\r' {
			m.cr |= 1 << i
		}
		if c == ':' {
			m.colon |= 1 << i
		}
	}
	return m
}

// TestClassify checks classify (AVX2 where the CPU has it) and
// classifyGeneric against the byte table, for every byte value at every
// position of a block and for random runs of blocks.
func TestClassify(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2: only the generic classifier is checked")
	}
	out := make([]blockMasks, maxBlocks)
	check := func(p []byte) {
		t.Helper()
		for _, f := range []struct {
			name string
			fn   func([]byte, []blockMasks)
		}{{"classify", classify}, {"classifyGeneric", classifyGeneric}} {
			clear(out)
			f.fn(p, out)
			for k := range len(p) / 64 {
				if want := classifyRef(p[64*k:]); out[k] != want {
					t.Fatalf("%s(%q) block %d = %+v; want %+v", f.name, p, k, out[k], want)
				}
			}
		}
	}
	p := make([]byte, 64*maxBlocks)
	for pos := range 64 {
		for c := range 256 {
			for i := range p[:64] {
				p[i] = 'a'
			}
			p[pos] = byte(c)
			check(p[:64])
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		n := 64 * (1 + r.IntN(maxBlocks))
		for i := range p[:n] {
			p[i] = byte(r.UintN(256))
		}
		check(p[:n])
	}
	// Spot checks of the classes themselves.
	for c, want := range map[byte]uint8{
		'a': 0, '~': 0, '-': 0, '\t': classNonToken, ' ': classNonToken, ':': classNonToken | classColon,
		'\r': classStop | classNonToken | classCR, '\n': classStop | classNonToken | classLF,
		0: classStop | classNonToken, 0x7f: classStop | classNonToken,
		0x80: classNonToken, 0xff: classNonToken,
	} {
		if byteClass[c] != want {
			t.Errorf("byteClass[%#x] = %b; want %b", c, byteClass[c], want)
		}
	}
}

// TestGenericClassifierHeads runs the captured heads and the table tests'
// heads through the generic classifier (as on a CPU without AVX2), whole
// and one byte at a time, against net/http, and checks that both
// classifiers give the same results.
func TestGenericClassifierHeads(t *testing.T) {
	s := newSniffer(t, testConfig)
	small := newSniffer(t, smallConfig)
	var heads [][]byte
	for _, f := range loadCorpus(t, "heads", ".request") {
		heads = append(heads, f.data)
	}
	for _, tc := range requestTests {
		heads = append(heads, []byte(tc.head))
	}
	var responses [][]byte
	for _, f := range loadCorpus(t, "heads", ".response") {
		responses = append(responses, f.data)
	}
	for _, tc := range responseTests {
		responses = append(responses, []byte(tc.head))
	}
	type result struct {
		st  Status
		req string
	}
	run := func() (reqs []result, resps []Response) {
		for _, h := range heads {
			for _, s := range []*Sniffer{s, small} {
				st, req := checkIncremental(t, s, h)
				checkRequestOracle(t, s, testConfig.Cookies, h, st, &req)
				reqs = append(reqs, result{st, describeRequest(&req)})
			}
		}
		for _, h := range responses {
			st, resp := checkResponseIncremental(t, s, h, false)
			checkResponseOracle(t, s, h, false, st, &resp)
			resps = append(resps, resp)
		}
		return reqs, resps
	}
	fastReqs, fastResps := run()
	setAVX2(t, false)
	genReqs, genResps := run()
	for i := range fastReqs {
		if fastReqs[i] != genReqs[i] {
			t.Errorf("head %d: %v with the vector classifier, %v with the generic one", i, fastReqs[i], genReqs[i])
		}
	}
	for i := range fastResps {
		if fastResps[i] != genResps[i] {
			t.Errorf("response %d: %+v with the vector classifier, %+v with the generic one", i, fastResps[i], genResps[i])
		}
	}
}
