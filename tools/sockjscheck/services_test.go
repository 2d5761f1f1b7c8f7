package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServices is acceptance 1 of the services issue, run by CI: the
// -services check with its defaults (20 Node sockjs-client sessions per
// way and transport). It needs node and npm (the pinned packages are
// installed on first use) and builds l4lb and devmongo.
func TestServices(t *testing.T) {
	if testing.Short() {
		t.Skip("about a minute and a half: not with -short")
	}
	for _, cmd := range []string{"node", "npm"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s not installed", cmd)
		}
	}
	o := options{
		sessions: 20, concurrency: 4, messages: 5, maxSockets: 6,
		sessionTimeout: 6 * time.Second, total: 10 * time.Minute,
		transports:   []string{"xhr-polling", "xhr-streaming", "eventsource", "websocket"},
		npmDir:       os.TempDir() + "/sockjscheck-npm",
		l4lbLogLevel: "warn",
	}
	ctx, done := checkContext(o)
	defer done()
	var ps procs
	defer ps.killAll()
	c := &check{o: o, ps: &ps}
	r, err := c.runServices(ctx)
	if c.runDir != "" {
		t.Cleanup(func() {
			if !t.Failed() {
				os.RemoveAll(c.runDir)
			} else {
				t.Logf("logs kept in %s", c.runDir)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range r.ways {
		for _, tr := range o.transports {
			res := r.sessions[w][tr]
			if res.Completed != res.Sessions {
				t.Errorf("%s %s: %d/%d sessions; failures %s", w, tr, res.Completed, res.Sessions, strings.Join(res.Failures, "; "))
			}
		}
	}
	if len(r.jobsAttempts) != 6 {
		t.Errorf("%d attempts at jobs; want 6", len(r.jobsAttempts))
	}
	for _, a := range r.jobsAttempts {
		if a[1] != "404" && a[1] != "closed" {
			t.Errorf("jobs via %s: %s; want 404 or closed", a[0], a[1])
		}
	}
	if len(r.jobsLog) != 0 {
		t.Errorf("the jobs instance saw %q", r.jobsLog)
	}
}
