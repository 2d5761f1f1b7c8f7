package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/internal/testutil"
)

// TestDemoQuickstart runs `l4lb demo` as the README says (on a free port)
// and replays the commands it prints: a polling session's requests, each on
// a new connection, stay on one backend, other sessions spread, the status
// page it names shows the three backends, and the process stops cleanly on
// SIGTERM.
func TestDemoQuickstart(t *testing.T) {
	demo := testutil.Start(t, exec.Command(l4lbBinary(t), "demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "warn"))
	re := regexp.MustCompile(`behind (http://127\.0\.0\.1:\d+)`)
	line, _ := demo.Out.WaitLine(t, 0, re, 30*time.Second)
	url := re.FindStringSubmatch(line)[1]

	// Every request on its own connection, as the curl commands do.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read %s %s: %v", method, path, err)
		}
		return resp.StatusCode, string(b)
	}

	owners := map[string]bool{}
	echo := regexp.MustCompile(`^a\["(alpha|bravo|charlie):hello"\]\n$`)
	for i := range 12 {
		s := fmt.Sprintf("/sockjs/000/sess%04d", i)
		if code, body := do("POST", s+"/xhr", ""); code != 200 || body != "o\n" {
			t.Fatalf("open %s = %d %q; want 200 \"o\\n\"", s, code, body)
		}
		// A misrouted xhr_send reaches a backend without the session: 404.
		if code, body := do("POST", s+"/xhr_send", `["hello"]`); code != 204 {
			t.Fatalf("xhr_send %s = %d %q; want 204", s, code, body)
		}
		code, body := do("POST", s+"/xhr", "")
		m := echo.FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("poll %s = %d %q; want 200 a[\"<backend>:hello\"]", s, code, body)
		}
		owners[m[1]] = true
	}
	if len(owners) < 2 {
		t.Errorf("12 sessions landed on %v; want them spread over several backends", owners)
	}

	pages := map[string]bool{}
	for range 30 {
		code, body := do("GET", "/", "")
		if code != 200 || !strings.HasPrefix(body, "backend ") {
			t.Fatalf("GET / = %d %q; want 200 \"backend <name>\"", code, body)
		}
		pages[body] = true
	}
	if len(pages) != 3 {
		t.Errorf("30 keyless requests reached %d backends (%v); want all 3", len(pages), pages)
	}

	// The status page, printed before the address, shows the three
	// backends up.
	rePage := regexp.MustCompile(`Status page: (http://127\.0\.0\.1:\d+/) `)
	pageLine, _ := demo.Out.WaitLine(t, 0, rePage, time.Second)
	pageURL := rePage.FindStringSubmatch(pageLine)[1]
	resp, err := client.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(html), `data-state="up"`); resp.StatusCode != 200 || n != 3 {
		t.Errorf("status page %s = %d with %d backends up; want 200 with 3:\n%s", pageURL, resp.StatusCode, n, html)
	}

	if err := demo.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := demo.WaitExit(t, 40*time.Second); err != nil {
		t.Errorf("demo after SIGTERM: %v; want a clean exit", err)
	}
}
