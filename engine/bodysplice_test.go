//go:build linux

package engine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pattern is the body bodyBackend sends and the tests upload: n bytes
// that differ from one 64 KiB block to the next, so a lost, repeated or
// reordered block changes the digest.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>16)
	}
	return b
}

// bodyBackend answers, on keep-alive connections:
// GET /cl/N with N bytes under Content-Length, GET /chunked/N with N bytes
// in 64 KiB chunks (and a trailer), GET /close/N with N bytes ended by the
// close, and POST /upload with "<sha256 hex> <length>" of the body it got.
func bodyBackend(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		parts := strings.Split(req.URL.Path, "/")
		n, _ := strconv.Atoi(parts[len(parts)-1])
		switch parts[1] {
		case "cl":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n)
			c.Write(pattern(n))
		case "chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-End\r\n\r\n")
			body := pattern(n)
			for len(body) > 0 {
				k := min(len(body), 64<<10)
				fmt.Fprintf(c, "%x\r\n", k)
				c.Write(body[:k])
				io.WriteString(c, "\r\n")
				body = body[k:]
			}
			io.WriteString(c, "0\r\nX-End: yes\r\n\r\n")
		case "close":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
			c.Write(pattern(n))
			return
		case "upload":
			h := sha256.New()
			m, err := io.Copy(h, req.Body)
			if err != nil {
				return
			}
			answer := fmt.Sprintf("%x %d", h.Sum(nil), m)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer)
		}
	}
}

// TestHTTPBodiesSpliced sends large and small bodies both ways, with every
// framing, on one keep-alive connection: each must arrive whole and in
// order, the heads between them must still be framed, and on the splice
// data path the large bodies must have bypassed the buffer.
func TestHTTPBodiesSpliced(t *testing.T) {
	for _, tc := range []struct {
		name string
		path dataPath
	}{{"splice", pathSplice}, {"buffer", pathBuffer}} {
		t.Run(tc.name, func(t *testing.T) {
			be := startTCP(t, bodyBackend)
			s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Loops: 1, Balancer: newBalancer(t, be)})
			if err != nil {
				t.Fatal(err)
			}
			s.path = tc.path
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s.Shutdown(ctx)
			})
			c := dial(t, s.Addrs()[0])
			c.SetDeadline(time.Now().Add(time.Minute))
			br := bufio.NewReader(c)
			const big = 3<<20 + 12345 // not a multiple of any buffer or pipe size
			want := pattern(big)
			wantSum := sha256.Sum256(want)
			var total int64
			get := func(path string, n int) {
				t.Helper()
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || len(got) != n || sha256.Sum256(got) != sha256.Sum256(pattern(n)) {
					t.Fatalf("GET %s: %d bytes, err %v; want the %d-byte pattern", path, len(got), err, n)
				}
				total += int64(n)
			}
			upload := func(chunked bool, n int) {
				t.Helper()
				body := pattern(n)
				if chunked {
					io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
					for b := body; len(b) > 0; {
						k := min(len(b), 100<<10)
						fmt.Fprintf(c, "%x\r\n", k)
						c.Write(b[:k])
						io.WriteString(c, "\r\n")
						b = b[k:]
					}
					io.WriteString(c, "0\r\n\r\n")
				} else {
					fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n)
					c.Write(body)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("upload of %d (chunked %v): %v", n, chunked, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				sum := sha256.Sum256(body)
				if w := hex.EncodeToString(sum[:]) + " " + strconv.Itoa(n); string(got) != w {
					t.Fatalf("upload of %d (chunked %v): backend got %q; want %q", n, chunked, got, w)
				}
				total += int64(n)
			}
			get(fmt.Sprintf("/cl/%d", big), big)
			get("/cl/10", 10)
			upload(false, big)
			get(fmt.Sprintf("/chunked/%d", big), big)
			upload(true, big)
			upload(false, 100)
			get(fmt.Sprintf("/cl/%d", defaultBodySpliceMin+1), defaultBodySpliceMin+1)
			// Last: a body that ends with the backend's close.
			fmt.Fprintf(c, "GET /close/%d HTTP/1.1\r\nHost: x\r\n\r\n", big)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("GET /close: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || sha256.Sum256(got) != wantSum {
				t.Fatalf("GET /close: %d bytes, err %v; want the %d-byte pattern", len(got), err, big)
			}
			total += big
			spliced := s.Stats().SplicedBodyBytes
			t.Logf("%d of %d body bytes spliced", spliced, total)
			switch {
			case tc.path == pathBuffer && spliced != 0:
				t.Errorf("buffer path spliced %d body bytes", spliced)
			case tc.path == pathSplice && spliced < total*9/10:
				t.Errorf("splice path spliced %d of %d body bytes; want most", spliced, total)
			}
		})
	}
}
