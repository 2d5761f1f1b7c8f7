//go:build ignore

// Command proxy records the bytes of every connection it forwards, one file
// per connection and direction: <dir>/<n>.c2s and <dir>/<n>.s2c. It is how
// the seed heads under ../../testdata were captured (see README.md).
//
//	go run proxy.go -listen 127.0.0.1:8180 -backend 127.0.0.1:8181 -dir out
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8180", "address to accept on")
	backend := flag.String("backend", "127.0.0.1:8181", "address to forward to")
	dir := flag.String("dir", "out", "directory for the recordings")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	var n atomic.Int64
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go forward(c, *backend, filepath.Join(*dir, fmt.Sprintf("%04d", n.Add(1))))
	}
}

func forward(c net.Conn, backend, base string) {
	defer c.Close()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		log.Print(err)
		return
	}
	defer b.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go record(&wg, b, c, base+".c2s")
	go record(&wg, c, b, base+".s2c")
	wg.Wait()
}

func record(wg *sync.WaitGroup, dst, src net.Conn, name string) {
	defer wg.Done()
	f, err := os.Create(name)
	if err != nil {
		log.Print(err)
		return
	}
	defer f.Close()
	io.Copy(io.MultiWriter(dst, f), src)
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
