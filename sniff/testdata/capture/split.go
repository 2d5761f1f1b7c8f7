//go:build ignore

// Command split cuts recordings made by proxy.go into messages, using
// net/http to find where each one ends, and writes every request head,
// response head and chunked response body as a file:
//
//	<out>/heads/<name>/<conn>-<k>.request
//	<out>/heads/<name>/<conn>-<k>.response     (".head.response" after HEAD)
//	<out>/chunked/<name>/<conn>-<k>[.request].chunked  (bodies up to 8 KiB)
//
//	go run split.go -in /tmp/cap/browser -name browser -out ..
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	in := flag.String("in", "", "directory of .c2s/.s2c recordings")
	name := flag.String("name", "", "name of the source (browser, node)")
	out := flag.String("out", "..", "testdata directory")
	flag.Parse()
	files, err := filepath.Glob(filepath.Join(*in, "*.c2s"))
	if err != nil {
		log.Fatal(err)
	}
	sort.Strings(files)
	for _, f := range files {
		conn := strings.TrimSuffix(filepath.Base(f), ".c2s")
		c2s, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		s2c, err := os.ReadFile(strings.TrimSuffix(f, ".c2s") + ".s2c")
		if err != nil {
			log.Fatal(err)
		}
		methods := split(c2s, nil, func(k int, head, chunked []byte) {
			write(filepath.Join(*out, "heads", *name), fmt.Sprintf("%s-%02d.request", conn, k), head)
			if chunked != nil && len(chunked) <= 8<<10 {
				write(filepath.Join(*out, "chunked", *name), fmt.Sprintf("%s-%02d.request.chunked", conn, k), chunked)
			}
		})
		split(s2c, methods, func(k int, head, chunked []byte) {
			ext := ".response"
			if k < len(methods) && methods[k] == "HEAD" {
				ext = ".head.response"
			}
			write(filepath.Join(*out, "heads", *name), fmt.Sprintf("%s-%02d%s", conn, k, ext), head)
			if chunked != nil && len(chunked) <= 8<<10 {
				write(filepath.Join(*out, "chunked", *name), fmt.Sprintf("%s-%02d.chunked", conn, k), chunked)
			}
		})
	}
}

// split walks the messages of one direction. With methods nil it reads
// requests and returns their methods; otherwise responses to them.
func split(data []byte, methods []string, f func(k int, head, chunked []byte)) []string {
	var seen []string
	off := 0
	for k := 0; off < len(data); k++ {
		rest := data[off:]
		end := bytes.Index(rest, []byte("\r\n\r\n"))
		if end < 0 {
			return seen
		}
		head := rest[:end+4]
		r := bytes.NewReader(rest)
		br := bufio.NewReader(r)
		var body io.Reader
		var chunked, upgraded bool
		if methods == nil {
			req, err := http.ReadRequest(br)
			if err != nil {
				log.Printf("request %d: %v", k, err)
				return seen
			}
			seen = append(seen, req.Method)
			body, chunked = req.Body, len(req.TransferEncoding) > 0
			upgraded = req.Header.Get("Upgrade") != ""
		} else {
			req := &http.Request{Method: "GET"}
			if k < len(methods) {
				req.Method = methods[k]
			}
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				log.Printf("response %d: %v", k, err)
				return nil
			}
			body, chunked = resp.Body, len(resp.TransferEncoding) > 0
			upgraded = resp.StatusCode == 101
		}
		if _, err := io.Copy(io.Discard, body); err != nil && err != io.ErrUnexpectedEOF {
			log.Printf("body %d: %v", k, err)
		}
		used := len(rest) - r.Len() - br.Buffered()
		var raw []byte
		if chunked {
			raw = rest[len(head):used]
		}
		f(k, head, raw)
		off += used
		if upgraded || used == len(head) && chunked {
			return seen
		}
	}
	return seen
}

func write(dir, name string, b []byte) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		log.Fatal(err)
	}
}
