package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// chromiumFlags keep a headless Chromium quiet and self-contained: no QUIC
// (loopback HTTP/1.1 only), no background traffic, no first-run state.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
	"--no-first-run", "--disable-background-networking",
	"--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage",
}

// runBrowser opens js/page.html through target in a fresh headless Chromium.
// The page runs every transport's sessions and POSTs each outcome to
// /result; whichever backend gets it prints "RESULT <json>" on stdout.
func (c *check) runBrowser(ctx context.Context, target string) error {
	tok := make([]byte, 6)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	q := url.Values{
		"token":       {token},
		"transports":  {strings.Join(c.o.transports, ",")},
		"sessions":    {strconv.Itoa(c.o.sessions)},
		"concurrency": {strconv.Itoa(c.o.concurrency)},
		"messages":    {strconv.Itoa(c.o.messages)},
		"timeout":     {strconv.FormatInt(c.o.sessionTimeout.Milliseconds(), 10)},
	}
	page := strings.TrimSuffix(c.urls[target], "/sockjs") + "/page.html?" + q.Encode()
	profile, err := os.MkdirTemp(c.runDir, "chromium-profile-")
	if err != nil {
		return fmt.Errorf("create chromium profile dir: %w", err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+profile, page)
	c.logs.mark()
	defer c.cutBrowserLog(target)
	cmd := exec.Command("chromium", args...)
	if err := c.ps.start(cmd, filepath.Join(c.runDir, "chromium-"+target+".log")); err != nil {
		return err
	}
	defer c.ps.kill(cmd)

	rounds := (c.o.sessions + c.o.concurrency - 1) / c.o.concurrency
	within := time.Duration(len(c.o.transports)*rounds)*c.o.sessionTimeout + 45*time.Second
	deadline := time.Now().Add(within)
	got := map[string]bool{}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done, err := c.browserResults(target, token, got)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("chromium via %s (%s): results for %d of %d transports within %s", target, page, len(got), len(c.o.transports), within)
}

// browserResults records the RESULT lines of token found in the backends'
// stdout logs and reports whether the page said it is done.
func (c *check) browserResults(target, token string, got map[string]bool) (bool, error) {
	done := false
	for _, name := range backendNames {
		path := filepath.Join(c.runDir, "backend-"+name+".log")
		f, err := os.Open(path)
		if err != nil {
			return false, fmt.Errorf("open %s: %w", path, err)
		}
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 64*1024), 1024*1024)
		for s.Scan() {
			line, ok := strings.CutPrefix(s.Text(), "RESULT ")
			if !ok || !strings.Contains(line, token) {
				continue
			}
			var r struct {
				clientResult
				Done bool `json:"done"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				f.Close()
				return false, fmt.Errorf("parse browser result in %s: %w", path, err)
			}
			if r.Done {
				done = true
				continue
			}
			if got[r.Transport] {
				continue
			}
			got[r.Transport] = true
			res := r.clientResult
			c.record(target, "chromium "+r.Transport, &res)
			fmt.Fprintf(os.Stderr, "%-13s %-23s %2d/%d\n", target, "chromium "+r.Transport, res.Completed, res.Sessions)
			if len(res.Failures) > 0 {
				fmt.Fprintf(os.Stderr, "              first failure: %s\n", res.Failures[0])
			}
		}
		f.Close()
	}
	return done, nil
}

// cutBrowserLog keeps the backends' request log lines of one browser run and
// says how they spread.
func (c *check) cutBrowserLog(target string) {
	time.Sleep(300 * time.Millisecond)
	lines, err := c.logs.cut()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockjscheck:", err)
		return
	}
	runLog := filepath.Join(c.runDir, "chromium-"+target+".requests")
	if err := os.WriteFile(runLog, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "sockjscheck: write %s: %v\n", runLog, err)
	}
	split := splitSessions(lines)
	fmt.Fprintf(os.Stderr, "%-13s chromium: backend connections that carried >1 session: %d; sessions split over backends: %d\n", target, sharedConns(lines), len(split))
	if len(split) > 0 {
		fmt.Fprintf(os.Stderr, "              e.g. %s\n", strings.Join(split[:min(3, len(split))], ", "))
	}
}
