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
		in  string
		ctl int
	}{
		{"ab\x01\x02cdefghijklmn", 2},
		{"abcdefgh\x7f\x00ijklmnop", 8},
		{"Accept-Language: en-US", -1},
		{"\xff\x80", -1},
	} {
		if got := ctlIndex([]byte(tc.in)); got != tc.ctl {
			t.Errorf("ctlIndex(%q) = %d; want %d", tc.in, got, tc.ctl)
		}
	}
}

// TestEqualFoldWords: the word compares of equalFold agree with the byte
// loop.
func TestEqualFoldWords(t *testing.T) {
	ref := func(b []byte, s string) bool {
		if len(b) != len(s) {
			return false
		}
		for i := range b {
			if b[i]|0x20 != s[i] {
				return false
			}
		}
		return true
	}
	for _, s := range []string{"", "a", "ab", "abc", "host", "close", "cookie", "upgrade", "trailer", "chunked", "connection", "keep-alive", "content-length", "transfer-encoding", "100-continue", "websocket", "http", "https"} {
		for n := 0; n <= len(s); n++ {
			for i := 0; i < len(s); i++ {
				for _, c := range []byte{0, 'A', 'z', '-', s[i] ^ 0x20, s[i] ^ 1, s[i] &^ 0x20} {
					b := []byte(s)
					b[i] = c
					if g, w := equalFold(b[:n], s), ref(b[:n], s); g != w {
						t.Fatalf("%q %q: %v", b[:n], s, g)
					}
					if g, w := equalFold(b, s), ref(b, s); g != w {
						t.Fatalf("%q %q: %v", b, s, g)
					}
				}
			}
		}
	}
}
