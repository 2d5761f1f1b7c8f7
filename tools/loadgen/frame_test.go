package loadgen

import (
	"reflect"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Frame
	}{
		{"open", "o", Frame{Type: FrameOpen}},
		{"open with xhr newline", "o\n", Frame{Type: FrameOpen}},
		{"heartbeat", "h\n", Frame{Type: FrameHeartbeat}},
		{"one message", `a["a:hello"]`, Frame{Type: FrameArray, Messages: []string{"a:hello"}}},
		{"two messages", "a[\"x\",\"y\"]\n", Frame{Type: FrameArray, Messages: []string{"x", "y"}}},
		{"escapes", `a["q\"\\\u00e9\n"]`, Frame{Type: FrameArray, Messages: []string{"q\"\\é\n"}}},
		{"close", `c[3000,"Go away!"]`, Frame{Type: FrameClose, Code: 3000, Reason: "Go away!"}},
		{"close another connection", "c[2010,\"Another connection still open\"]\n", Frame{Type: FrameClose, Code: 2010, Reason: "Another connection still open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFrame([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseFrame(%q) error = %v; want nil", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFrame(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"only newline", "\n"},
		{"two newlines", "o\n\n"},
		{"unknown type", "x"},
		{"open with junk", "oo"},
		{"heartbeat with junk", "h[]"},
		{"array not json", "a[hello]"},
		{"array of numbers", "a[1,2]"},
		{"array empty", "a[]"},
		{"array null", "anull"},
		{"array object", `a{"a":1}`},
		{"array truncated", `a["x"`},
		{"close one element", "c[3000]"},
		{"close three elements", `c[3000,"a","b"]`},
		{"close code string", `c["3000","a"]`},
		{"close reason number", `c[3000,1]`},
		{"html page", "<html><body>502 Bad Gateway</body></html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseFrame([]byte(tt.in)); err == nil {
				t.Errorf("ParseFrame(%q) = %+v, nil; want an error", tt.in, got)
			}
		})
	}
}

func TestParseFrames(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []FrameType
		wantErr bool
	}{
		{"poll answer", "a[\"x\"]\n", []FrameType{FrameArray}, false},
		{"streaming body", "o\nh\na[\"x\"]\nc[3000,\"bye\"]\n", []FrameType{FrameOpen, FrameHeartbeat, FrameArray, FrameClose}, false},
		{"empty body", "", nil, true},
		{"unterminated last frame", "o\nh", []FrameType{FrameOpen}, true},
		{"bad frame in the middle", "o\nz\nh\n", []FrameType{FrameOpen}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, err := ParseFrames([]byte(tt.in))
			var got []FrameType
			for _, f := range frames {
				got = append(got, f.Type)
			}
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFrames(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAppendSend(t *testing.T) {
	tests := []struct {
		msgs []string
		want string
	}{
		{nil, "[]"},
		{[]string{"a"}, `["a"]`},
		{[]string{"/sockjs/123/abcdefgh#1", "x\"y"}, `["/sockjs/123/abcdefgh#1","x\"y"]`},
		{[]string{"é\n<"}, `["é\n\u003c"]`},
	}
	for _, tt := range tests {
		if got := string(AppendSend(nil, tt.msgs...)); got != tt.want {
			t.Errorf("AppendSend(nil, %q) = %s; want %s", tt.msgs, got, tt.want)
		}
	}
}

// FuzzParseFrame checks ParseFrame against its own encoder as the oracle:
// every frame it accepts renders (Frame.String) to bytes that parse back
// to the same frame, and an 'a' frame built by AppendSend from any strings
// parses to those strings.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{"o", "h\n", `a["x"]`, `a["a:1","b:2"]`, `c[3000,"Go away!"]`, "a[1]", "", "c[]", `a["\ud800"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseFrame(in)
		if err == nil {
			again, err := ParseFrame([]byte(got.String()))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParseFrame(%q) = %+v; rendered %q parses to %+v, %v", in, got, got.String(), again, err)
			}
		}
		msgs := []string{string(in), "fixed"}
		sent := append([]byte{'a'}, AppendSend(nil, msgs...)...)
		back, err := ParseFrame(sent)
		if err != nil {
			t.Fatalf("ParseFrame(%q) error = %v; want the messages %q", sent, err, msgs)
		}
		// JSON cannot carry invalid UTF-8; encoding/json replaces it.
		if back.Messages[1] != "fixed" || len(back.Messages) != 2 {
			t.Fatalf("ParseFrame(%q) = %q; want 2 messages ending in fixed", sent, back.Messages)
		}
	})
}
