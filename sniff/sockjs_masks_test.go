package sniff

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSessionPathMasked: the mask split agrees with the IndexByte split on
// random paths made of the bytes that matter, and byteMasks agrees with
// its generic form.
func TestSessionPathMasked(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("/./ab1_")
	buf := make([]byte, 64)
	for range 200000 {
		n := r.IntN(65)
		for i := range buf {
			buf[i] = alphabet[r.IntN(len(alphabet))]
		}
		if r.IntN(2) == 0 {
			buf[0] = '/'
		}
		var m, g [4]uint64
		byteMasks(buf, &pathDelims, &m)
		byteMasksGeneric(buf, &pathDelims, &g)
		if m != g {
			t.Fatalf("byteMasks(%q) = %x; generic %x", buf, m, g)
		}
		rest := buf[:n]
		s1, s2, s3, ok := sessionPath(rest)
		m1, m2, m3, mok := sessionPathMasked(rest, m[0], m[1])
		if ok != mok || !bytes.Equal(s1, m1) || !bytes.Equal(s2, m2) || !bytes.Equal(s3, m3) {
			t.Fatalf("rest %q: sessionPath = %q %q %q %v; masked %q %q %q %v", rest, s1, s2, s3, ok, m1, m2, m3, mok)
		}
	}
}
