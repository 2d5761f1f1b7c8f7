package admin

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// guard wraps the handlers that need protection: the token when there is
// one; without one, a loopback Host, so that a page from elsewhere cannot
// reach a loopback listener through DNS rebinding; and, for state changes
// from a browser, the same origin (http.CrossOriginProtection), so that a
// page elsewhere cannot drain a backend with a form.
func (s *Server) guard(next http.Handler) http.Handler {
	next = http.NewCrossOriginProtection().Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.cfg.Token != "":
			if !s.tokenOK(r) {
				w.Header().Set("WWW-Authenticate", `Basic realm="l4lb admin", charset="UTF-8"`)
				httpError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token>")
				return
			}
		case !isUnixPath(s.cfg.Listen) && !loopbackRequestHost(r.Host):
			httpError(w, http.StatusForbidden, "the admin listener answers only requests for a loopback host")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenOK reports whether r carries the token, as a bearer token or as a
// basic-authentication password.
func (s *Server) tokenOK(r *http.Request) bool {
	var got string
	if h := r.Header.Get("Authorization"); len(h) > len("bearer ") && strings.EqualFold(h[:len("bearer ")], "bearer ") {
		got = h[len("bearer "):]
	} else if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// loopbackRequestHost reports whether a request's Host names a loopback
// address or localhost.
func loopbackRequestHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return isLoopbackHost(host)
}
