package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// keepAliveWorker sends GET / on one keep-alive connection (redialled when
// the server closes it or an operation fails) and checks each answer: 200
// and the page naming the backend that its X-Backend header names.
func (r *runner) keepAliveWorker(ctx context.Context, id int, s *stats) {
	target := r.target(id)
	req := []byte("GET / HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: l4lb-loadgen\r\n\r\n")
	var hc *httpConn
	defer func() {
		if hc != nil {
			hc.Close()
		}
	}()
	for r.take(ctx) {
		start := time.Now()
		if hc == nil {
			conn, err := r.dial.DialContext(context.Background(), "tcp", target)
			if err != nil {
				s.fail(err)
				continue
			}
			s.add(&s.conns, 1)
			hc = newHTTPConn(conn, r.cfg.Timeout)
		}
		err := hc.write(req)
		var resp response
		if err == nil {
			resp, err = hc.readResponse(nil)
		}
		if err == nil {
			err = checkPage(resp)
		}
		if err != nil || resp.close {
			hc.Close()
			hc = nil
		}
		if err != nil {
			s.fail(err)
			continue
		}
		s.ok(time.Since(start), 0)
		s.backend(resp.backend)
	}
}

// checkPage checks an answer to GET /: "backend <name>\n", name matching
// X-Backend when the backend sends one.
func checkPage(resp response) error {
	if resp.status != 200 {
		return fmt.Errorf("GET /: got status %d; want 200", resp.status)
	}
	name, ok := bytes.CutPrefix(bytes.TrimSuffix(resp.body, []byte("\n")), []byte("backend "))
	if !ok || (resp.backend != "" && string(name) != resp.backend) {
		return fmt.Errorf("GET /: got body %q from X-Backend %q; want \"backend %s\\n\"", truncate(resp.body), resp.backend, resp.backend)
	}
	return nil
}
