package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// requestLogs follows the backends' request logs (one line per finished
// request: "<backend> <client port> <method> <url> <status>") so that each
// run's lines can be cut out and kept next to its result.
type requestLogs struct {
	paths   []string
	offsets []int64
}

// mark remembers the current end of every log; cut returns what came after.
func (l *requestLogs) mark() {
	l.offsets = make([]int64, len(l.paths))
	for i, p := range l.paths {
		if st, err := os.Stat(p); err == nil {
			l.offsets[i] = st.Size()
		}
	}
}

// cut returns the log lines written since mark, every backend's in turn.
func (l *requestLogs) cut() ([]string, error) {
	var lines []string
	for i, p := range l.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read request log %s: %w", p, err)
		}
		if int64(len(b)) < l.offsets[i] {
			continue
		}
		for _, line := range strings.Split(string(b[l.offsets[i]:]), "\n") {
			if line != "" {
				lines = append(lines, line)
			}
		}
	}
	return lines, nil
}

// SockJS URL layout: <prefix>/<server>/<session>/<transport>.
var sessionPath = regexp.MustCompile(`^/sockjs/[^/]+/([^/]+)/`)

// splitSessions returns the sessions whose requests reached more than one
// backend, each with the backends in the order of the log.
func splitSessions(lines []string) []string {
	seen := map[string][]string{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		m := sessionPath.FindStringSubmatch(f[3])
		if m == nil {
			continue
		}
		bs := seen[m[1]]
		if !contains(bs, f[0]) {
			seen[m[1]] = append(bs, f[0])
		}
	}
	var out []string
	for s, bs := range seen {
		if len(bs) > 1 {
			out = append(out, s+"@"+strings.Join(bs, "+"))
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sharedConns counts the backend-side connections (backend, client port)
// that carried requests of two or more sessions. Seen at a backend the
// client talks to directly, it shows the client's pool sharing connections
// between sessions.
func sharedConns(lines []string) int {
	sessions := map[string][]string{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		m := sessionPath.FindStringSubmatch(f[3])
		if m == nil {
			continue
		}
		conn := f[0] + " " + f[1]
		if !contains(sessions[conn], m[1]) {
			sessions[conn] = append(sessions[conn], m[1])
		}
	}
	n := 0
	for _, s := range sessions {
		if len(s) > 1 {
			n++
		}
	}
	return n
}
