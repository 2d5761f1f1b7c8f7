package echobackend

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestXHRSessionEchoesWithStamp(t *testing.T) {
	srv := httptest.NewServer(Handler("a"))
	defer srv.Close()
	base := srv.URL + Prefix + "/123/abcdefgh"

	if code, body := post(t, base+"/xhr", ""); code != 200 || body != "o\n" {
		t.Fatalf("open xhr = %d %q; want 200 \"o\\n\"", code, body)
	}
	if code, _ := post(t, base+"/xhr_send", `["hi"]`); code != 204 {
		t.Fatalf("xhr_send = %d; want 204", code)
	}
	code, body := post(t, base+"/xhr", "")
	if want := fmt.Sprintf("a[%q]\n", Stamp("a", "hi")); code != 200 || body != want {
		t.Fatalf("poll xhr = %d %q; want 200 %q", code, body, want)
	}
}

func TestXHRSendToUnknownSessionIs404(t *testing.T) {
	// A misrouted xhr_send reaches a backend that never saw the session:
	// the real server answers 404, which is how tests detect misroutes.
	srv := httptest.NewServer(Handler("b"))
	defer srv.Close()
	if code, _ := post(t, srv.URL+Prefix+"/123/nosuchsess/xhr_send", `["x"]`); code != http.StatusNotFound {
		t.Fatalf("xhr_send unknown session = %d; want 404", code)
	}
}

func TestRawWebSocketEchoesUnchanged(t *testing.T) {
	srv := httptest.NewServer(Handler("c"))
	defer srv.Close()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/websocket", nil)
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	defer conn.Close()
	conn.NetConn().SetDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := conn.ReadMessage()
	if err != nil || string(msg) != "ping" {
		t.Fatalf("echo = %q, %v; want \"ping\"", msg, err)
	}
}

func TestBytesAndUpload(t *testing.T) {
	srv := httptest.NewServer(Handler("d"))
	defer srv.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(srv.URL + "/bytes?n=300000")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 300000)
	Pattern(want, 0)
	if string(got) != string(want) {
		t.Fatalf("/bytes?n=300000 gave %d bytes not matching Pattern", len(got))
	}
	if resp.Header.Get(HeaderName) != "d" {
		t.Errorf("%s = %q; want \"d\"", HeaderName, resp.Header.Get(HeaderName))
	}
	sum := sha256.Sum256(want)
	if code, body := post(t, srv.URL+"/upload", string(want)); code != 200 || body != hex.EncodeToString(sum[:])+" 300000\n" {
		t.Fatalf("upload = %d %q", code, body)
	}
}

func TestUnstamp(t *testing.T) {
	name, msg, ok := Unstamp(Stamp("a", "x:y"))
	if !ok || name != "a" || msg != "x:y" {
		t.Fatalf("Unstamp(Stamp(a, x:y)) = %q, %q, %v", name, msg, ok)
	}
}
