//go:build linux

package engine

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// named returns a handler that answers every request with its name, the
// request path, and the body's length.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s %d", name, r.URL.Path, n)
	})
}

func TestHTTPKeepAliveRoutesEveryRequest(t *testing.T) {
	var eps []string
	for _, n := range []string{"a", "b", "c"} {
		eps = append(eps, startHTTP(t, named(n)))
	}
	s := startServer(t, Config{Balancer: newBalancer(t, eps...)})
	c := dial(t, s.Addrs()[0])
	br := bufio.NewReader(c)
	seen := map[string]string{} // session -> backend
	backends := map[string]bool{}
	// The backends' ports, and so the hash table, differ from run to
	// run: with 20 sessions one backend got none in about 1 run of 900
	// (0.11% of port sets, simulated), failing the spread check below;
	// with 60 that chance is about 3 x (2/3)^60, below 1e-10.
	for round := 0; round < 3; round++ {
		for i := 0; i < 60; i++ {
			sess := fmt.Sprintf("s%02d", i)
			path := fmt.Sprintf("/sockjs/000/%s/xhr_send", sess)
			body := "[\"hello\"]"
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("round %d session %s: %v", round, sess, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			f := strings.Fields(string(got))
			if len(f) != 3 || f[1] != path || f[2] != fmt.Sprint(len(body)) {
				t.Fatalf("response = %q; want <backend> %s %d", got, path, len(body))
			}
			if prev, ok := seen[sess]; ok && prev != f[0] {
				t.Fatalf("session %s served by %s then %s", sess, prev, f[0])
			}
			seen[sess] = f[0]
			backends[f[0]] = true
		}
	}
	if len(backends) != 3 {
		t.Errorf("sessions spread over %v; want all 3 backends", backends)
	}
	if st := s.Stats(); st.Switches == 0 || st.Accepted != 1 {
		t.Errorf("Stats() = %+v; want switches > 0 on 1 connection", st)
	}
}
