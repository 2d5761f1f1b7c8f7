//go:build linux

package admin

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/l4lb/l4lb/affinity"
	"github.com/l4lb/l4lb/engine"
	"github.com/l4lb/l4lb/engine/enginetest"
	"github.com/l4lb/l4lb/health"
)

// checkerHealth is Config.Health for a health.Checker, as serve wires it
// (cmd/l4lb's healthOf, tested there): a backend's last check, nothing
// for one never checked.
func checkerHealth(chk *health.Checker) func(string) (Health, bool) {
	return func(ep string) (Health, bool) {
		for _, b := range chk.Stats().Backends {
			if b.Endpoint == ep && !b.LastChecked.IsZero() {
				h := Health{Checked: b.LastChecked, OK: b.LastError == nil, Latency: b.LastCheck, Ejected: !b.Up}
				if b.LastError != nil {
					h.Error = b.LastError.Error()
				}
				return h, true
			}
		}
		return Health{}, false
	}
}

var updateScreenshot = flag.Bool("update-screenshot", false, "write the status page's screenshots to docs/")

// hostile is a backend endpoint that is markup: a discovery document can
// name any UNIX socket path.
const hostile = `unix:/run/app/<script>document.title='pwned';window.pwned=1</script>.sock`

// chromium starts a headless Chromium for the test: Debian's, which
// .ci/run installs. Without one the test is skipped, unless
// L4LB_REQUIRE_CHROMIUM is set (as .ci/run sets it).
func chromium(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("L4LB_REQUIRE_CHROMIUM") != "" {
			t.Fatal("no chromium on PATH (apt-get install -y chromium)")
		}
		t.Skip("no chromium on PATH (apt-get install -y chromium)")
	}
	// Without the background-networking flags Chromium keeps trying to
	// reach its services, which a closed network only slows down.
	ctx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 800),
	)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(ctx)
	t.Cleanup(cancel2)
	// Start the browser now, on a context without a deadline (a deadline
	// on the first run would end the browser with it).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// eventually evaluates the JavaScript predicate until it is true or d has
// passed; the page may be reloading meanwhile (its meta refresh), which
// makes some evaluations fail: they count as false.
func eventually(ctx context.Context, d time.Duration, predicate string) bool {
	deadline := time.Now().Add(d)
	for {
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](predicate))
		cancel()
		if err == nil && ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // a poll interval: the page gives no signal
	}
}

// stateOf is JavaScript that reads the state shown for an endpoint.
func stateOf(ep string) string {
	return `(() => { for (const tr of document.querySelectorAll("tbody tr[data-endpoint]"))
		if (tr.dataset.endpoint === ` + jsString(ep) + `) return tr.querySelector(".state").textContent; return ""; })()`
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\x3c`)
	return `"` + r.Replace(s) + `"`
}

// TestStatusPageInChromium is acceptance 1: a real headless Chromium shows
// three backends, one up, one drained through the API while the page is
// open, one down, each in its state within one refresh; the backend whose
// endpoint is markup is shown as text and nothing on the page runs; the
// page fits a phone's width.
func TestStatusPageInChromium(t *testing.T) {
	ctx := chromium(t)
	up, drained := startSockJS(t, "a"), startSockJS(t, "b")
	bal := affinity.NewBalancer()
	if err := bal.Update([]affinity.Backend{
		{Endpoint: up}, {Endpoint: drained},
		// Down in discovery: a backend that is gone.
		{Endpoint: hostile, State: affinity.Down},
	}); err != nil {
		t.Fatal(err)
	}
	// Active checks, so that the page shows when each backend was last
	// checked: the hostile one, down in discovery, is not checked.
	const interval = 500 * time.Millisecond
	chk := health.New(bal, health.Config{Check: health.Check{Kind: health.TCP}, Interval: interval})
	ctxChk, stopChk := context.WithCancel(context.Background())
	chkDone := make(chan struct{})
	go func() { chk.Run(ctxChk); close(chkDone) }()
	t.Cleanup(func() { stopChk(); <-chkDone })
	srv := enginetest.Start(t, engine.Config{Balancer: bal, BackendStats: true, Health: chk})
	const refresh = 2 * time.Second
	_, base := startAdmin(t, Config{Balancer: bal, Engine: srv, Version: "test", Refresh: refresh,
		SourceOf: func(string) string { return "static" }, Health: checkerHealth(chk)})
	// Some traffic, so that the rates show.
	for range 20 {
		call(t, "GET", "http://"+srv.Addrs()[0].String()+"/", "", 200)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	if !eventually(ctx, 5*time.Second, stateOf(up)+` === "up" && `+stateOf(drained)+` === "up"`) {
		t.Fatalf("the page does not show %s and %s up", up, drained)
	}

	// Drain through the API while the page is open: the next refresh
	// shows it.
	resp := do(t, mustRequest(t, "POST", base+"/api/backends/"+strings.TrimPrefix(drained, "tcp://")+"/drain"))
	if resp.StatusCode != 200 {
		t.Fatalf("POST drain = %d", resp.StatusCode)
	}
	drainedAt := time.Now()
	all := stateOf(up) + ` === "up" && ` + stateOf(drained) + ` === "draining" && ` + stateOf(hostile) + ` === "down"`
	if !eventually(ctx, refresh+2*time.Second, all) {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("within one refresh (%v) the page does not show up, draining and down:\n%s", refresh, html)
	}
	t.Logf("the page showed the drain %v after it", time.Since(drainedAt).Round(10*time.Millisecond))

	// Each checked backend says how long ago its last check ended: less
	// than an interval and a refresh ago (a check ends some time before
	// the page that shows it, which is at most a refresh old), with
	// slack for a loaded machine; the hostile one was never checked.
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
		const out = {};
		for (const tr of document.querySelectorAll("tbody tr[data-endpoint]"))
			out[tr.dataset.endpoint] = tr.querySelector("td[data-label=health]").textContent;
		return out;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	agoRE := regexp.MustCompile(`^ok \d+\.\d ms\s*checked (\d+(?:\.\d)?) s ago$`)
	for _, ep := range []string{up, drained} {
		m := agoRE.FindStringSubmatch(strings.TrimSpace(cells[ep]))
		if m == nil {
			t.Errorf("health of %s reads %q; want \"ok N.N ms checked N.N s ago\"", ep, cells[ep])
			continue
		}
		if age, _ := strconv.ParseFloat(m[1], 64); age > (interval + refresh + 3*time.Second).Seconds() {
			t.Errorf("health of %s: checked %v s ago; want within an interval and a refresh (%v)", ep, age, interval+refresh)
		}
	}
	if got := strings.TrimSpace(cells[hostile]); got != "not checked" {
		t.Errorf("health of the endpoint down in discovery reads %q; want \"not checked\"", got)
	}

	// The hostile endpoint is text: its cell reads the markup, no script
	// element exists, and the script did not run.
	type check struct {
		Text    string `json:"text"`
		Scripts int    `json:"scripts"`
		Pwned   bool   `json:"pwned"`
		Title   string `json:"title"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[check](`(() => {
		let text = "";
		for (const tr of document.querySelectorAll("tbody tr[data-endpoint]"))
			if (tr.dataset.state === "down") text = tr.querySelector("td.ep").textContent;
		return {text, scripts: document.scripts.length, pwned: !!window.pwned, title: document.title};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != hostile || got.Scripts != 0 || got.Pwned || strings.Contains(got.Title, "pwned") {
		t.Errorf("hostile endpoint: cell %q, %d script elements, ran %v, title %q; want the text %q, no script, not run",
			got.Text, got.Scripts, got.Pwned, got.Title, hostile)
	}

	shot := func(name string, width, height int64) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height), chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if *updateScreenshot {
			dir = filepath.Join("..", "docs")
		}
		if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("status-page.png", 1200, 800)

	// A phone: nothing wider than the screen.
	shot("status-page-phone.png", 390, 844)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Errorf("on a 390 px wide screen the page scrolls sideways")
	}
}
