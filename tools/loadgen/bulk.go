package loadgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// patternPeriod is the period of echobackend.Pattern.
const patternPeriod = 251

// pattern holds echobackend.Pattern from offset 0, long enough that any
// piece of up to 64 KiB at any phase is a subslice of it.
var pattern = func() []byte {
	p := make([]byte, patternPeriod*(1+(64<<10)/patternPeriod)+patternPeriod)
	echobackend.Pattern(p, 0)
	return p
}()

// uploadBody is what bulk uploads send: Size bytes of the pattern, and the
// answer /upload must give for them.
type uploadBody struct {
	size int64
	want string // "<sha256 hex> <size>"
}

func newUploadBody(size int64) *uploadBody {
	h := sha256.New()
	for off := int64(0); off < size; {
		n := min(int64(64<<10), size-off)
		ph := off % patternPeriod
		h.Write(pattern[ph : ph+n])
		off += n
	}
	return &uploadBody{size: size, want: hex.EncodeToString(h.Sum(nil)) + " " + strconv.FormatInt(size, 10)}
}

// bulkWorker alternates downloads and uploads of cfg.Size bytes on one
// keep-alive connection (odd workers start with an upload, so both
// directions are always in flight), or does only the one cfg.BulkMode names.
// Every downloaded byte is compared with the pattern; every upload's
// SHA-256 is checked.
func (r *runner) bulkWorker(ctx context.Context, id int, s *stats) {
	target := r.target(id)
	var hc *httpConn
	defer func() {
		if hc != nil {
			hc.Close()
		}
	}()
	upload := id%2 == 1
	for r.take(ctx) {
		switch r.cfg.BulkMode {
		case "download":
			upload = false
		case "upload":
			upload = true
		}
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
		var resp response
		var err error
		if upload {
			resp, err = r.uploadOnce(hc, target)
		} else {
			resp, err = r.downloadOnce(hc, target)
		}
		if err != nil || resp.close {
			hc.Close()
			hc = nil
		}
		upload = !upload
		if err != nil {
			s.fail(err)
			continue
		}
		s.ok(time.Since(start), r.cfg.Size)
		s.backend(resp.backend)
	}
}

func (r *runner) downloadOnce(hc *httpConn, target string) (response, error) {
	size := r.cfg.Size
	req := "GET /bytes?n=" + strconv.FormatInt(size, 10) + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
	if err := hc.write([]byte(req)); err != nil {
		return response{}, err
	}
	var off int64
	resp, err := hc.readResponse(func(p []byte) error {
		ph := off % patternPeriod
		if off+int64(len(p)) > size || !bytes.Equal(p, pattern[ph:ph+int64(len(p))]) {
			return fmt.Errorf("download: bytes %d..%d differ from the pattern", off, off+int64(len(p)))
		}
		off += int64(len(p))
		return nil
	})
	if err != nil {
		return resp, err
	}
	if resp.status != 200 || resp.n != size {
		return resp, fmt.Errorf("GET /bytes?n=%d: got status %d and %d bytes; want 200 and %d", size, resp.status, resp.n, size)
	}
	return resp, nil
}

func (r *runner) uploadOnce(hc *httpConn, target string) (response, error) {
	if r.upload == nil || r.upload.size != r.cfg.Size {
		panic("loadgen: upload body not prepared") // Run prepares it
	}
	size := r.cfg.Size
	head := "POST /upload HTTP/1.1\r\nHost: " + target + "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.FormatInt(size, 10) + "\r\n\r\n"
	if err := hc.write([]byte(head)); err != nil {
		return response{}, err
	}
	for off := int64(0); off < size; {
		n := min(int64(64<<10), size-off)
		ph := off % patternPeriod
		if err := hc.write(pattern[ph : ph+n]); err != nil {
			return response{}, err
		}
		off += n
	}
	resp, err := hc.readResponse(nil)
	if err != nil {
		return resp, err
	}
	if got := string(bytes.TrimSpace(resp.body)); resp.status != 200 || got != r.upload.want {
		return resp, fmt.Errorf("POST /upload of %d bytes: got status %d %q; want 200 %q", size, resp.status, truncate(resp.body), r.upload.want)
	}
	return resp, nil
}
