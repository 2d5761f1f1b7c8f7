package sniff

import (
	"bytes"
	"encoding/binary"
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

func isTokenBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// validValue reports whether every byte of v is HTAB, SP, VCHAR or obs-text:
// no control byte other than HTAB, no DEL. It tests eight bytes at a time
// and looks closer only at a block that holds a byte below 0x20 (usually a
// tab) or a DEL.
func validValue(v []byte) bool {
	const ones = 0x0101010101010101
	const highs = 0x8080808080808080
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		below := (x - ones*0x20) &^ x & highs // some byte < 0x20
		del := x ^ (ones * 0x7f)
		del = (del - ones) &^ del & highs // some byte == 0x7f
		if below|del != 0 {
			for _, c := range v[i : i+8] {
				if !validValueByte(c) {
					return false
				}
			}
		}
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

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
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
		switch lower(name[0]) {
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
		switch lower(name[0]) {
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

// forEachElement calls f with each element of a comma-separated list
// (RFC 9110 §5.6.1), trimmed of OWS, skipping empty ones. This is how
// net/http reads Connection (httpguts.HeaderValuesContainsToken) and
// Trailer.
func forEachElement(v []byte, f func(e []byte)) {
	for len(v) > 0 {
		e := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			e, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if e = trimOWS(e); len(e) > 0 {
			f(e)
		}
	}
}

// listHas reports whether the comma-separated list v has the lower-case
// token t as an element, ignoring ASCII case.
func listHas(v []byte, t string) bool {
	for len(v) > 0 {
		e := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			e, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if equalFold(trimOWS(e), t) {
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
