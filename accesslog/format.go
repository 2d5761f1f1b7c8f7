package accesslog

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/l4lb/l4lb/engine"
)

// Format is the layout of a line.
type Format uint8

const (
	// JSON writes one JSON object per line (JSON Lines), with the keys
	// time, client, listener, backend, key, method, path, status,
	// bytes_in, bytes_out, connect_ms, first_byte_ms, total_ms, end and
	// tunnel, always in that order.
	JSON Format = iota
	// Text writes a line close to HAProxy's httplog:
	//
	//	client [time] listener backend connect/first_byte/total status bytes_out bytes_in key end tunnel "method path"
	Text
)

// ParseFormat reads "json" or "text".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "json":
		return JSON, nil
	case "text":
		return Text, nil
	}
	return JSON, fmt.Errorf("access log format %q: want json or text", s)
}

// String returns "json" or "text".
func (f Format) String() string {
	if f == Text {
		return "text"
	}
	return "json"
}

// AppendLine appends e's line in format f, newline included, to b.
func AppendLine(b []byte, e *engine.Exchange, f Format) []byte {
	var st stamp
	return appendLine(b, e, f, &st, nil)
}

// appendLine is AppendLine with the time's second formatted through st,
// which a Logger keeps from line to line. With st nil it leaves the time
// out, and sets *cut to where in b it goes (stamp.append's stampLen
// bytes): a Logger formats the rest of a line outside its lock.
func appendLine(b []byte, e *engine.Exchange, f Format, st *stamp, cut *int) []byte {
	if f == Text {
		return appendText(b, e, st, cut)
	}
	return appendJSON(b, e, st, cut)
}

// appendTime appends t through st, or notes in *cut where it goes.
func appendTime(b []byte, t time.Time, f Format, st *stamp, cut *int) []byte {
	if st == nil {
		*cut = len(b)
		return b
	}
	return st.append(b, t, f)
}

// maxFixed bounds the bytes of a line other than its client-controlled
// or configured strings (listener, backend, method, path) and the client
// address's IPv6 zone: the keys, the time, an IPv6 client address and
// port, five numbers of at most 20 digits, three times of at most 21
// bytes, and the names of key and end. TestLineBound checks it with
// every number at its widest.
const maxFixed = 512

// lineBound is the most bytes e's line can take in either format: a
// string byte becomes at most 6 (\u00XX, or \ufffd for a byte of invalid
// UTF-8, in JSON; \xHH in text).
func lineBound(e *engine.Exchange) int {
	n := maxFixed + 6*(len(e.Listener)+len(e.Backend)+len(e.Method)+len(e.Path))
	if a := e.Client.Addr(); a.Is6() {
		n += len(a.Zone())
	}
	return n
}

// appendJSON appends e as one JSON object and a newline. Times are
// milliseconds with microsecond precision; a time that was not reached
// (no connect, no response byte) is -1, as HAProxy's timers are.
func appendJSON(b []byte, e *engine.Exchange, st *stamp, cut *int) []byte {
	b = append(b, `{"time":"`...)
	b = appendTime(b, e.Time, JSON, st, cut)
	b = append(b, `Z","client":"`...)
	b = appendClient(b, e)
	b = append(b, `","listener":`...)
	b = appendJSONString(b, e.Listener)
	b = append(b, `,"backend":`...)
	b = appendJSONString(b, e.Backend)
	b = append(b, `,"key":"`...)
	b = append(b, e.Key.String()...)
	b = append(b, `","method":`...)
	b = appendJSONString(b, view(e.Method))
	b = append(b, `,"path":`...)
	b = appendJSONString(b, view(e.Path))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, `,"connect_ms":`...)
	b = appendMillis(b, e.Connect)
	b = append(b, `,"first_byte_ms":`...)
	b = appendMillis(b, e.FirstByte)
	b = append(b, `,"total_ms":`...)
	b = appendMillis(b, e.Total)
	b = append(b, `,"end":"`...)
	b = append(b, e.End.String()...)
	b = append(b, `","tunnel":`...)
	b = strconv.AppendBool(b, e.Tunnel)
	return append(b, "}\n"...)
}

// appendText appends e in the text format and a newline.
func appendText(b []byte, e *engine.Exchange, st *stamp, cut *int) []byte {
	b = appendClient(b, e)
	b = append(b, " ["...)
	b = appendTime(b, e.Time, Text, st, cut)
	b = append(b, "] "...)
	b = appendTextField(b, e.Listener)
	b = append(b, ' ')
	b = appendTextField(b, e.Backend)
	b = append(b, ' ')
	b = appendMillis(b, e.Connect)
	b = append(b, '/')
	b = appendMillis(b, e.FirstByte)
	b = append(b, '/')
	b = appendMillis(b, e.Total)
	b = append(b, ' ')
	if e.Status == 0 {
		b = append(b, "-1"...)
	} else {
		b = strconv.AppendInt(b, int64(e.Status), 10)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, ' ')
	b = append(b, e.Key.String()...)
	b = append(b, ' ')
	b = append(b, e.End.String()...)
	if e.Tunnel {
		b = append(b, " tunnel \""...)
	} else {
		b = append(b, " - \""...)
	}
	b = appendQuoted(b, e.Method)
	b = append(b, ' ')
	b = appendQuoted(b, e.Path)
	return append(b, "\"\n"...)
}

// appendClient appends the client's address, or "unix" for a client of a
// UNIX-socket listener.
func appendClient(b []byte, e *engine.Exchange) []byte {
	if !e.Client.IsValid() {
		return append(b, "unix"...)
	}
	return e.Client.AppendTo(b)
}

// appendMillis appends d in milliseconds with three decimals, or -1 for
// a negative d (not reached).
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		return append(b, "-1"...)
	}
	us := int64(d / time.Microsecond)
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy the run of bytes that need no escape at once.
		j := i
		for j < len(s) && jsonSafe[s[j]] {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// appendTextField appends s, or "-" when empty, with the bytes that could
// break a line's fields escaped (see appendQuoted).
func appendTextField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s, true)
}

// appendQuoted appends s for a double-quoted field: '"', '\\', control
// bytes and bytes from 0x7f up as \xHH, so that a line is one line of
// printable ASCII whatever the client sent.
func appendQuoted(b []byte, s []byte) []byte {
	return appendEscaped(b, view(s), false)
}

func appendEscaped(b []byte, s string, space bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || space && c == ' ' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}

// jsonSafe reports the bytes a JSON string holds as they are: printable
// ASCII but '"' and '\\'.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// view returns b as a string without copying; the string must not outlive
// the call it is passed to (an Exchange's slices are valid only during
// RecordExchange).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// stamp is a line's time but its milliseconds: the date and the time of
// day change once a second, so a Logger formats them once a second, not
// once a line (converting a time.Time to a calendar date is the costliest
// part of a line's time).
type stamp struct {
	sec    int64 // the Unix second formatted in b[:n]
	f      Format
	n      uint8
	prefix [24]byte
}

// maxStamp is the most bytes stamp.append appends.
const maxStamp = len("02/Jan/2006:15:04:05.000")

// append appends t in UTC as 2006-01-02T15:04:05.000 (JSON; the caller
// adds the Z) or as 02/Jan/2006:15:04:05.000 (Text, the layout of
// HAProxy's and the common log format's dates), years of four digits.
func (st *stamp) append(b []byte, t time.Time, f Format) []byte {
	if sec := t.Unix(); st.n == 0 || sec != st.sec || f != st.f {
		var p []byte
		if f == Text {
			p = appendCLFSecond(st.prefix[:0], t)
		} else {
			p = appendISOSecond(st.prefix[:0], t)
		}
		st.sec, st.f, st.n = sec, f, uint8(len(p))
	}
	b = append(b, st.prefix[:st.n]...)
	ms := t.Nanosecond() / 1e6
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// appendISOSecond appends t in UTC as 2006-01-02T15:04:05.
func appendISOSecond(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	return appendClock(b, t)
}

// appendCLFSecond appends t in UTC as 02/Jan/2006:15:04:05.
func appendCLFSecond(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	b = append2(b, d)
	b = append(b, '/')
	b = append(b, mo.String()[:3]...)
	b = append(b, '/')
	b = append4(b, y)
	b = append(b, ':')
	return appendClock(b, t)
}

// appendClock appends t's time of day as 15:04:05.
func appendClock(b []byte, t time.Time) []byte {
	h, mi, s := t.Clock()
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	return append2(b, s)
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000%10), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}
