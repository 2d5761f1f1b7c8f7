package accesslog

import (
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/sniff"
)

func sampleExchange() *engine.Exchange {
	return &engine.Exchange{
		Time:      time.Date(2026, 12, 2, 10, 4, 5, 123456789, time.UTC),
		Client:    netip.MustParseAddrPort("203.0.113.7:51234"),
		Listener:  "0.0.0.0:80",
		Backend:   "tcp://10.0.0.5:3000",
		Key:       sniff.KeySession,
		Method:    []byte("POST"),
		Path:      []byte("/sockjs/123/a1b2c3d4/xhr_send"),
		Status:    204,
		BytesIn:   187,
		BytesOut:  112,
		Connect:   -1,
		FirstByte: 412345 * time.Nanosecond,
		Total:     415 * time.Microsecond,
		End:       engine.EndNormal,
	}
}

func TestAppendLine(t *testing.T) {
	e := sampleExchange()
	for _, tc := range []struct {
		name string
		edit func(e *engine.Exchange)
		f    Format
		want string
	}{
		{"json", nil, JSON,
			`{"time":"2026-12-02T10:04:05.123Z","client":"203.0.113.7:51234","listener":"0.0.0.0:80","backend":"tcp://10.0.0.5:3000","key":"session","method":"POST","path":"/sockjs/123/a1b2c3d4/xhr_send","status":204,"bytes_in":187,"bytes_out":112,"connect_ms":-1,"first_byte_ms":0.412,"total_ms":0.415,"end":"normal","tunnel":false}` + "\n"},
		{"text", nil, Text,
			`203.0.113.7:51234 [02/Dec/2026:10:04:05.123] 0.0.0.0:80 tcp://10.0.0.5:3000 -1/0.412/0.415 204 112 187 session normal - "POST /sockjs/123/a1b2c3d4/xhr_send"` + "\n"},
		{"json, hostile path, unix client, no backend", func(e *engine.Exchange) {
			e.Client, e.Listener, e.Backend = netip.AddrPort{}, "/run/l4lb.sock", ""
			e.Path = []byte("/a\"b\\c\x01\n\xff<script>")
			e.Status, e.End, e.Tunnel = 0, engine.EndClientReset, true
			e.Total = 61*time.Second + 5*time.Microsecond
		}, JSON,
			`{"time":"2026-12-02T10:04:05.123Z","client":"unix","listener":"/run/l4lb.sock","backend":"","key":"session","method":"POST","path":"/a\"b\\c\u0001\n\ufffd<script>","status":0,"bytes_in":187,"bytes_out":112,"connect_ms":-1,"first_byte_ms":0.412,"total_ms":61000.005,"end":"client_reset","tunnel":true}` + "\n"},
		{"text, hostile path, unix client, no backend", func(e *engine.Exchange) {
			e.Client, e.Listener, e.Backend = netip.AddrPort{}, "/run/l4lb.sock", ""
			e.Path = []byte("/a\"b\\c\x01\n\xff <x>")
			e.Status, e.End, e.Tunnel = 0, engine.EndClientReset, true
		}, Text,
			`unix [02/Dec/2026:10:04:05.123] /run/l4lb.sock - -1/0.412/0.415 -1 112 187 session client_reset tunnel "POST /a\x22b\x5cc\x01\x0a\xff <x>"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := *e
			if tc.edit != nil {
				tc.edit(&x)
			}
			got := string(AppendLine(nil, &x, tc.f))
			if got != tc.want {
				t.Errorf("AppendLine(%s) =\n%s\nwant\n%s", tc.f, got, tc.want)
			}
			if tc.f == JSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(got), &m); err != nil {
					t.Errorf("encoding/json rejects the line: %v", err)
				}
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{{"json", JSON, true}, {"text", Text, true}, {"", JSON, false}, {"JSON", JSON, false}, {"httplog", JSON, false}} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseFormat(%q).String() = %q", tc.in, got.String())
		}
	}
}

// FuzzJSONLine checks the JSON escaping against encoding/json: every line
// decodes, and the path and method decode to what encoding/json makes of
// the same bytes (invalid UTF-8 as U+FFFD).
func FuzzJSONLine(f *testing.F) {
	for _, s := range []string{"/", "/sockjs/1/a/xhr", "\"\\\x00\x1f\x7f", "\xff\xfe", "é€𝄞", "\xe2\x82", "\u2028\u2029"} {
		f.Add([]byte("GET"), []byte(s))
	}
	f.Fuzz(func(t *testing.T, method, path []byte) {
		e := sampleExchange()
		e.Method, e.Path = method, path
		line := AppendLine(nil, e, JSON)
		var got struct{ Method, Path string }
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line does not decode: %v\n%q", err, line)
		}
		for _, c := range []struct {
			name string
			in   []byte
			got  string
		}{{"method", method, got.Method}, {"path", path, got.Path}} {
			oracle, _ := json.Marshal(string(c.in))
			var want string
			json.Unmarshal(oracle, &want)
			if c.got != want {
				t.Errorf("%s %q decodes to %q; encoding/json makes %q", c.name, c.in, c.got, want)
			}
		}
		if line[len(line)-1] != '\n' || countByte(line, '\n') != 1 {
			t.Errorf("line is not one line: %q", line)
		}
		checkSpliced(t, e, JSON, line)
	})
}

// checkSpliced checks that the line a Logger makes, formatted without its
// time and the time put in at the cut, is want (AppendLine's), and that
// lineBound bounds it.
func checkSpliced(t *testing.T, e *engine.Exchange, f Format, want []byte) {
	t.Helper()
	cut := -1
	rest := appendLine(nil, e, f, nil, &cut)
	var st stamp
	got := append(st.append(append([]byte(nil), rest[:cut]...), e.Time, f), rest[cut:]...)
	if string(got) != string(want) {
		t.Errorf("spliced line\n%q\nwant\n%q", got, want)
	}
	if len(want) > lineBound(e) {
		t.Errorf("line of %d bytes; lineBound %d", len(want), lineBound(e))
	}
}

// FuzzTextLine checks that a text line is one line of printable ASCII
// with exactly two unescaped double quotes, whatever the client sent.
func FuzzTextLine(f *testing.F) {
	for _, s := range []string{"/", "/a b", "\"\\\x00\x1f\x7f", "\xff\xfe", "é"} {
		f.Add([]byte("GET"), []byte(s))
	}
	f.Fuzz(func(t *testing.T, method, path []byte) {
		e := sampleExchange()
		e.Method, e.Path = method, path
		line := AppendLine(nil, e, Text)
		body := line[:len(line)-1]
		for _, c := range body {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("line has byte %#x: %q", c, line)
			}
		}
		if line[len(line)-1] != '\n' || countByte(body, '"') != 2 {
			t.Fatalf("line is not one line with one quoted field: %q", line)
		}
		checkSpliced(t, e, Text, line)
	})
}

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}

// TestTimeLayouts checks the hand-written date layouts against
// time.Format over a range of instants, through one stamp as a Logger
// keeps it (steps of less than a second reuse its second, longer ones
// and a change of format replace it) and through a fresh one.
func TestTimeLayouts(t *testing.T) {
	start := time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.FixedZone("x", 3600))
	var kept stamp
	tm := start
	for i := range 6000 {
		step := time.Duration(i) * 7777777777777
		if i%3 != 0 {
			step = time.Duration(i%7) * 99 * time.Millisecond
		}
		tm = tm.Add(step)
		for _, c := range []struct {
			f      Format
			layout string
		}{{JSON, "2006-01-02T15:04:05.000"}, {Text, "02/Jan/2006:15:04:05.000"}} {
			want := tm.UTC().Format(c.layout)
			var fresh stamp
			if got := string(fresh.append(nil, tm, c.f)); got != want {
				t.Fatalf("stamp.append(%v, %v) = %q; want %q", tm, c.f, got, want)
			}
			if got := string(kept.append(nil, tm, c.f)); got != want {
				t.Fatalf("kept stamp.append(%v, %v) = %q; want %q", tm, c.f, got, want)
			}
		}
	}
}

// TestLineBound checks lineBound against lines with every number at its
// widest, the longest client address, and strings whose every byte is
// escaped, in both formats.
func TestLineBound(t *testing.T) {
	e := sampleExchange()
	e.Time = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
	e.Client = netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535")
	e.Status = math.MinInt
	e.BytesIn, e.BytesOut = math.MinInt64, math.MinInt64
	e.Connect, e.FirstByte, e.Total = math.MaxInt64, math.MaxInt64, math.MaxInt64
	e.End = engine.EndReason(255)
	e.Key = sniff.KeyKind(255)
	for _, s := range []string{"", "x", "\x00\xff\"\\", strings.Repeat("\xff", 200), strings.Repeat("\x01", 128)} {
		e.Listener, e.Backend = s, s
		e.Method, e.Path = []byte(s), []byte(s)
		for _, f := range []Format{JSON, Text} {
			if n, bound := len(AppendLine(nil, e, f)), lineBound(e); n > bound {
				t.Errorf("%v line of %q: %d bytes; lineBound %d", f, s, n, bound)
			}
		}
	}
}
