package sniff

import "testing"

// TestWordTricks checks the word-at-a-time byte tests against the byte
// tables, for every byte value in every position.
func TestWordTricks(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			var w [16]byte
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(c)
			wantEnd := 16
			if !tchar[c] {
				wantEnd = pos
			}
			if got := tokenEnd(w[:]); got != wantEnd {
				t.Errorf("tokenEnd(byte %#x at %d) = %d; want %d", c, pos, got, wantEnd)
			}
			wantCtl := -1
			if c < 0x20 || c == 0x7f {
				wantCtl = pos
			}
			if got := ctlIndex(w[:]); got != wantCtl {
				t.Errorf("ctlIndex(byte %#x at %d) = %d; want %d", c, pos, got, wantCtl)
			}
			if got, want := validValue(w[:]), validValueByte(byte(c)); got != want {
				t.Errorf("validValue(byte %#x at %d) = %v; want %v", c, pos, got, want)
			}
		}
	}
	// Several flagged bytes: the first counts.
	for _, tc := range []struct {
		in       string
		ctl, tok int
	}{
		{"ab\x01\x02cdefghijklmn", 2, 2},
		{"abcdefgh\x7f\x00ijklmnop", 8, 8},
		{"Accept-Language: en-US", -1, 15},
		{"X_Y.Z~!#$%&'*+^`|:", -1, 17},
		{"\xff\x80", -1, 0},
	} {
		if got := ctlIndex([]byte(tc.in)); got != tc.ctl {
			t.Errorf("ctlIndex(%q) = %d; want %d", tc.in, got, tc.ctl)
		}
		if got := tokenEnd([]byte(tc.in)); got != tc.tok {
			t.Errorf("tokenEnd(%q) = %d; want %d", tc.in, got, tc.tok)
		}
	}
}
