package admin

import (
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

//go:embed page.html
var pageHTML string

// pageTemplate is the status page. html/template escapes every value
// by its context: endpoints, reasons and errors come from discovery
// documents and backends, and are shown as text, never as markup.
var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"pathEscape": url.PathEscape,
	"duration": func(seconds float64) string {
		return time.Duration(seconds * float64(time.Second)).Round(time.Second).String()
	},
	"ms":  func(seconds float64) string { return fmt.Sprintf("%.1f ms", seconds*1000) },
	"ago": ago,
}).Parse(pageHTML))

// ago says how long ago an event seconds old was, as the page shows it:
// "1.2 s ago", "42 s ago", "3 min ago", "2h5m0s ago".
func ago(seconds float64) string {
	switch {
	case seconds < 10:
		return fmt.Sprintf("%.1f s ago", seconds)
	case seconds < 60:
		return fmt.Sprintf("%.0f s ago", seconds)
	case seconds < 3600:
		return fmt.Sprintf("%.0f min ago", seconds/60)
	}
	return time.Duration(seconds*float64(time.Second)).Round(time.Minute).String() + " ago"
}

// pageData is what the template shows.
type pageData struct {
	Now            time.Time
	RefreshSeconds int
	Status         Status
	Backends       []Backend
}

// page serves the status page: server-rendered, reloading itself with a
// meta refresh, no script.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{
		Now:            time.Now(),
		RefreshSeconds: max(1, int(s.cfg.Refresh.Round(time.Second)/time.Second)),
		Status:         s.status(),
		Backends:       s.backends(),
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Nothing on the page runs or loads anything: a value that escaped
	// the template's escaping still could not run.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := pageTemplate.Execute(w, d); err != nil {
		s.cfg.Logger.Error("status page", "err", err)
	}
}
