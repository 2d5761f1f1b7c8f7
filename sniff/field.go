package sniff

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Field lines, RFC 9112 §5:
//
//	field-line   = field-name ":" OWS field-value OWS
//	field-name   = token
//	field-value  = *field-content
//	field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
//	field-vchar  = VCHAR / obs-text
//
// No whitespace is allowed between the name and the colon (§5.1: reject
// with 400), and obs-fold (a line starting with SP or HTAB, §5.2) is
// rejected rather than unfolded. Both match what net/http's server refuses
// or, for obs-fold, what RFC 9112 lets a recipient refuse.

// tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// ctlIndex returns the index of the first control byte (below 0x20) or DEL
// in b, or -1. It tests eight bytes at a time: in a word, the lowest byte
// flagged by the classic has-less-than and has-zero tricks is exact (only
// flags above it can be false), so the lowest flag is the answer.
func ctlIndex(b []byte) int {
	const ones = 0x0101010101010101
	const highs = 0x8080808080808080
	i := 0
	for ; i+16 <= len(b); i += 16 {
		x := binary.LittleEndian.Uint64(b[i:])
		y := binary.LittleEndian.Uint64(b[i+8:])
		dx, dy := x^(ones*0x7f), y^(ones*0x7f)
		mx := ((x-ones*0x20)&^x | (dx-ones)&^dx) & highs
		my := ((y-ones*0x20)&^y | (dy-ones)&^dy) & highs
		if mx|my != 0 {
			if mx != 0 {
				return i + bits.TrailingZeros64(mx)>>3
			}
			return i + 8 + bits.TrailingZeros64(my)>>3
		}
	}
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		del := x ^ (ones * 0x7f)
		if m := ((x-ones*0x20)&^x | (del-ones)&^del) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == 0x7f {
			return i
		}
	}
	return -1
}

// validValue reports whether every byte of v is HTAB, SP, VCHAR or
// obs-text: no control byte other than HTAB, no DEL. It or-s the flags of
// ctlIndex's tricks over the whole value without branching, and looks at
// single bytes only when some flag is set (usually a tab).
func validValue(v []byte) bool {
	const ones = 0x0101010101010101
	const highs = 0x8080808080808080
	var m uint64
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		del := x ^ (ones * 0x7f)
		m |= (x-ones*0x20)&^x | (del-ones)&^del
	}
	if m&highs != 0 {
		i = 0
	}
	for _, c := range v[i:] {
		if !validValueByte(c) {
			return false
		}
	}
	return true
}

func validValueByte(c byte) bool {
	return c >= 0x20 && c != 0x7f || c == '\t'
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func trimOWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isOWS(b[i]) {
		i++
	}
	for j > i && isOWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// trimBounds is trimOWS on buf[i:j], in offsets.
func trimBounds(buf []byte, i, j int) (int, int) {
	for i < j && isOWS(buf[i]) {
		i++
	}
	for j > i && isOWS(buf[j-1]) {
		j--
	}
	return i, j
}

// equalFold reports whether b equals s, ignoring ASCII case. s is lower
// case, of letters, digits and '-'. Setting bit 0x20 lower-cases a letter
// and keeps a digit or '-'; the only other bytes it maps onto them are
// control bytes, which never get here (field names are tokens, values have
// been checked).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	const lower = 0x2020202020202020
	n := len(b)
	switch {
	case n >= 8:
		// Whole words, the last one overlapping the one before.
		for i := 0; ; i += 8 {
			if i > n-8 {
				i = n - 8
			}
			if binary.LittleEndian.Uint64(b[i:])|lower != le64(s[i:]) {
				return false
			}
			if i == n-8 {
				return true
			}
		}
	case n >= 4:
		// Two overlapping halves.
		return binary.LittleEndian.Uint32(b)|0x20202020 == le32(s) &&
			binary.LittleEndian.Uint32(b[n-4:])|0x20202020 == le32(s[n-4:])
	}
	for i := 0; i < n; i++ {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// Field names the sniffer acts on.
const (
	hOther = iota
	hHost
	hCookie
	hExpect
	hUpgrade
	hTrailer
	hConnection
	hContentLength
	hTransferEncoding
)

func fieldKind(name []byte) int {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			return hHost
		}
	case 6:
		switch name[0] | 0x20 {
		case 'c':
			if equalFold(name, "cookie") {
				return hCookie
			}
		case 'e':
			if equalFold(name, "expect") {
				return hExpect
			}
		}
	case 7:
		switch name[0] | 0x20 {
		case 'u':
			if equalFold(name, "upgrade") {
				return hUpgrade
			}
		case 't':
			if equalFold(name, "trailer") {
				return hTrailer
			}
		}
	case 10:
		if equalFold(name, "connection") {
			return hConnection
		}
	case 14:
		if equalFold(name, "content-length") {
			return hContentLength
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return hTransferEncoding
		}
	}
	return hOther
}

// nextElement returns the first element of the comma-separated list v
// (RFC 9110 §5.6.1), trimmed of OWS and possibly empty, and the rest of the
// list after its comma. Callers skip empty elements: this is how net/http
// reads Connection (httpguts.HeaderValuesContainsToken) and Trailer. It
// is a plain function, not a callback walk, so that the common one-element
// list costs one IndexByte and no closure call.
func nextElement(v []byte) (e, rest []byte) {
	e = v
	if i := bytes.IndexByte(v, ','); i >= 0 {
		e, rest = v[:i], v[i+1:]
	}
	return trimOWS(e), rest
}

// listHas reports whether the comma-separated list v has the lower-case
// token t as an element, ignoring ASCII case.
func listHas(v []byte, t string) bool {
	for len(v) > 0 {
		var e []byte
		if e, v = nextElement(v); equalFold(e, t) {
			return true
		}
	}
	return false
}

// parseContentLength parses Content-Length = 1*DIGIT (RFC 9110 §8.6), as
// net/http does: no sign, no list, at most 2^63-1.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
