package sniff

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The oracle is net/http: a second, independent implementation of the same
// grammar. A head is "accepted by net/http" when http.ReadRequest accepts
// it and so do the checks net/http's server adds before calling a handler
// (net/http/server.go, conn.readRequest): HTTP/1.x only, Host required in
// HTTP/1.1, valid Host, valid field names and values.
//
// Where sniff is deliberately stricter, stricterRequest and
// stricterResponse name the reason; everywhere else the two must agree.
// One of these rules is about CONNECT: RFC 9112 §3.2.3 and RFC 9110
// §9.3.6 allow its target only in authority-form, uri-host ":" port, and
// net/http also accepts an empty target ("CONNECT  HTTP/1.0", which the
// fuzzer found), origin-form ("CONNECT /_goRPC_", net/rpc's), "*", a path
// or query after the authority, and a missing port or host. None of these
// names a tunnel's destination, so none is a request a backend should get:
// sniff answers 400 to a CONNECT unless, as net/http reads it, the whole
// target is the URL's host with a non-empty host name and port.

// netHTTPRequest reads data as net/http's server would, and returns the
// request and the length of its head.
func netHTTPRequest(data []byte) (*http.Request, int, error) {
	r := bytes.NewReader(data)
	br := bufio.NewReader(r)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, 0, err
	}
	used := len(data) - r.Len() - br.Buffered()
	if req.ProtoMajor != 1 {
		return req, used, errors.New("505 unsupported protocol version")
	}
	// ReadRequest has taken Host out of req.Header; the server reads it
	// before that. ReadRequest has refused a second one.
	hosts := fieldValues(headLines(data), "Host")
	if req.ProtoAtLeast(1, 1) && len(hosts) == 0 && req.Method != "CONNECT" {
		return nil, 0, errors.New("missing required Host header")
	}
	if len(hosts) == 1 && !oracleValidHost(hosts[0]) {
		return nil, 0, errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !oracleToken(k) {
			return nil, 0, errors.New("invalid header name")
		}
		for _, v := range vv {
			if strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
				return nil, 0, errors.New("invalid header value")
			}
		}
	}
	return req, used, nil
}

// oracleToken is httpguts.ValidHeaderFieldName, written out again.
func oracleToken(s string) bool {
	const extra = "!#$%&'*+-.^_`|~"
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// oracleValidHost is httpguts.ValidHostHeader, written out again.
func oracleValidHost(s string) bool {
	const extra = "!$%&()*+,-.:;=[']_~"
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// headLines splits the head at the start of data into its lines, without
// line ends, up to the blank line.
func headLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimSuffix(data[:i], []byte("\r")))
		data = data[i+1:]
		if line == "" {
			break
		}
		lines = append(lines, line)
	}
	return lines
}

// fieldValues returns the values of the field lines named name, ignoring
// case, trimmed as textproto trims them.
func fieldValues(lines []string, name string) []string {
	var vs []string
	for _, l := range lines[min(1, len(lines)):] {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			vs = append(vs, strings.Trim(v, " \t"))
		}
	}
	return vs
}

// abbrev quotes b, cut short if long, for failure messages.
func abbrev(b []byte) string {
	if len(b) > 120 {
		return fmt.Sprintf("%q...(%d bytes)", b[:120], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// fieldCount counts the field lines named name, ignoring case.
func fieldCount(lines []string, name string) int {
	n := 0
	for _, l := range lines[min(1, len(lines)):] {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			n++
		}
	}
	return n
}

func hasObsFold(lines []string) bool {
	for _, l := range lines[min(1, len(lines)):] {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			return true
		}
	}
	return false
}

func hasSpaceBeforeColon(lines []string) bool {
	for _, l := range lines[min(1, len(lines)):] {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.ContainsAny(k, " \t") {
			return true
		}
	}
	return false
}

// stricterRequest says why sniff refuses a request head that net/http's
// server accepts, or "" when it does not.
func stricterRequest(data []byte, req *http.Request) string {
	lines := headLines(data)
	switch {
	case req.Method == "PRI" && req.RequestURI == "*" && req.Proto == "HTTP/2.0":
		return "HTTP/2 preface is NotHTTP"
	case hasObsFold(lines):
		return "obs-fold"
	case fieldCount(lines, "Content-Length") > 1:
		return "repeated Content-Length"
	case fieldCount(lines, "Transfer-Encoding") > 0 && fieldCount(lines, "Content-Length") > 0:
		return "Transfer-Encoding with Content-Length"
	case fieldCount(lines, "Transfer-Encoding") > 0 && !req.ProtoAtLeast(1, 1):
		return "Transfer-Encoding in HTTP/1.0"
	case req.URL.User != nil:
		return "userinfo in the target"
	case strings.Contains(hostOfTarget(req), "%"):
		return "percent-encoded host in the target"
	case req.Method == "CONNECT" && (req.URL.Host != req.RequestURI || req.URL.Hostname() == "" || req.URL.Port() == ""):
		return "CONNECT target not host:port"
	}
	return ""
}

// hostOfTarget returns the raw authority of an absolute-form target.
func hostOfTarget(req *http.Request) string {
	t := req.RequestURI
	if req.Method == "CONNECT" && !strings.HasPrefix(t, "/") {
		return t
	}
	if i := strings.Index(t, "://"); i >= 0 {
		a := t[i+3:]
		if j := strings.IndexAny(a, "/?"); j >= 0 {
			a = a[:j]
		}
		return a
	}
	return ""
}

// checkRequestOracle compares what s made of data (st, req) with net/http.
func checkRequestOracle(t testing.TB, s *Sniffer, cookies []string, data []byte, st Status, got *Request) {
	t.Helper()
	want, used, err := netHTTPRequest(data)
	if err == nil && used > s.maxHead {
		// Too long; or refused earlier for a reason of its own.
		tooLong := st == Invalid && (got.Status == 431 || got.Status == 414)
		stricter := st == Invalid && got.Status == 400 && stricterRequest(data, want) != ""
		if !tooLong && !stricter {
			t.Fatalf("Request(%s) = %v %d; want 414 or 431 for a %d-byte head", abbrev(data), st, got.Status, used)
		}
		return
	}
	switch st {
	case NeedMore:
		if err == nil {
			t.Fatalf("Request(%s) = NeedMore; net/http read a %d-byte head", abbrev(data), used)
		}
		return
	case NotHTTP, Invalid:
		if st == Invalid && (got.Status == 414 || got.Status == 431) {
			checkLimitStatus(t, s, data, got.Status)
			return
		}
		if st == Invalid && got.Status != 400 {
			t.Fatalf("Request(%s) = Invalid with status %d", abbrev(data), got.Status)
		}
		if err != nil {
			return
		}
		if why := stricterRequest(data, want); why != "" {
			if want.Method == "PRI" && st != NotHTTP {
				t.Fatalf("Request(%s) = %v; want NotHTTP for the HTTP/2 preface", abbrev(data), st)
			}
			return
		}
		t.Fatalf("Request(%s) = %v %d; net/http accepts it: %s %q Host %q", abbrev(data), st, got.Status, want.Method, want.RequestURI, want.Host)
	}

	// Done: net/http must accept it, and agree.
	if err != nil {
		t.Fatalf("Request(%s) = Done; net/http refuses it: %v", abbrev(data), err)
	}
	if why := stricterRequest(data, want); why != "" {
		t.Fatalf("Request(%s) = Done; want Invalid (%s)", abbrev(data), why)
	}
	if got.HeadLen != used {
		t.Errorf("Request(%s).HeadLen = %d; net/http read %d", abbrev(data), got.HeadLen, used)
	}
	if string(got.Method) != want.Method {
		t.Errorf("Request(%s).Method = %q; net/http %q", abbrev(data), got.Method, want.Method)
	}
	if p, err := url.PathUnescape(string(got.Path)); err != nil || p != want.URL.Path {
		t.Errorf("Request(%s).Path = %q (decoded %q, %v); net/http %q", abbrev(data), got.Path, p, err, want.URL.Path)
	}
	if string(got.Host) != want.Host {
		t.Errorf("Request(%s).Host = %q; net/http %q", abbrev(data), got.Host, want.Host)
	}
	for i, name := range cookies {
		c, err := want.Cookie(name)
		switch {
		case err != nil && got.Cookies[i] != nil:
			t.Errorf("Request(%s).Cookies[%d] = %q; net/http has no %s", abbrev(data), i, got.Cookies[i], name)
		case err == nil && (got.Cookies[i] == nil || string(got.Cookies[i]) != c.Value):
			t.Errorf("Request(%s).Cookies[%d] = %q; net/http %s=%q", abbrev(data), i, got.Cookies[i], name, c.Value)
		}
	}
	chunked := len(want.TransferEncoding) > 0
	if got.Chunked != chunked {
		t.Errorf("Request(%s).Chunked = %v; net/http %v", abbrev(data), got.Chunked, chunked)
	}
	wantCL := want.ContentLength
	if !chunked && wantCL == 0 && fieldCount(headLines(data), "Content-Length") == 0 {
		wantCL = -1 // net/http says 0 for "no body"; sniff says absent
	}
	if got.ContentLength != wantCL {
		t.Errorf("Request(%s).ContentLength = %d; net/http %d", abbrev(data), got.ContentLength, wantCL)
	}
	if got.Close != want.Close {
		t.Errorf("Request(%s).Close = %v; net/http %v", abbrev(data), got.Close, want.Close)
	}
}

// checkLimitStatus checks a 414 or 431 against the head itself.
func checkLimitStatus(t testing.TB, s *Sniffer, data []byte, status int) {
	t.Helper()
	line := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line = bytes.TrimSuffix(data[:i], []byte("\r"))
	}
	switch status {
	case 414:
		if len(line) <= s.maxLine {
			t.Fatalf("Request(%s) = 414; the request line has %d bytes, limit %d", abbrev(data), len(line), s.maxLine)
		}
	case 431:
		end := bytes.Index(data, []byte("\n\r\n"))
		if e2 := bytes.Index(data, []byte("\n\n")); e2 >= 0 && (end < 0 || e2 < end) {
			end = e2 - 1
		}
		if end >= 0 && end+3 <= s.maxHead && len(line) < s.maxHead {
			t.Fatalf("Request(%s) = 431; the head ends within %d bytes", abbrev(data), s.maxHead)
		}
	}
}

// netHTTPResponse reads data as net/http's client would, answering a
// request with the given method.
func netHTTPResponse(data []byte, method string) (*http.Response, int, error) {
	r := bytes.NewReader(data)
	br := bufio.NewReader(r)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, 0, err
	}
	return resp, len(data) - r.Len() - br.Buffered(), nil
}

// stricterResponse says why sniff refuses a response head net/http
// accepts, or "".
func stricterResponse(data []byte, resp *http.Response) string {
	lines := headLines(data)
	code := ""
	if len(lines) > 0 {
		_, rest, _ := strings.Cut(lines[0], " ")
		rest = strings.TrimLeft(rest, " ")
		code, rest, _ = strings.Cut(rest, " ")
		if strings.IndexFunc(rest, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
			return "control byte in the reason phrase"
		}
	}
	switch {
	case strings.ContainsAny(code, "+-"):
		return "signed status code"
	case hasObsFold(lines):
		return "obs-fold"
	case hasSpaceBeforeColon(lines):
		return "whitespace before a colon"
	case fieldCount(lines, "Content-Length") > 1:
		return "repeated Content-Length"
	case fieldCount(lines, "Transfer-Encoding") > 0 && fieldCount(lines, "Content-Length") > 0:
		return "Transfer-Encoding with Content-Length"
	case fieldCount(lines, "Transfer-Encoding") > 0 && !resp.ProtoAtLeast(1, 1):
		return "Transfer-Encoding in HTTP/1.0"
	}
	return ""
}

func checkResponseOracle(t testing.TB, s *Sniffer, data []byte, head bool, st Status, got *Response) {
	t.Helper()
	method := "GET"
	if head {
		method = "HEAD"
	}
	want, used, err := netHTTPResponse(data, method)
	if err == nil && used > s.maxHead {
		if st != Invalid {
			t.Fatalf("Response(%s) = %v; want Invalid for a %d-byte head", abbrev(data), st, used)
		}
		return
	}
	switch st {
	case NeedMore:
		if err == nil {
			t.Fatalf("Response(%s) = NeedMore; net/http read a %d-byte head", abbrev(data), used)
		}
		return
	case Invalid:
		if err != nil || stricterResponse(data, want) != "" {
			return
		}
		t.Fatalf("Response(%s, HEAD=%v) = Invalid; net/http accepts status %d", abbrev(data), head, want.StatusCode)
	case NotHTTP:
		t.Fatalf("Response(%s) = NotHTTP", abbrev(data))
	}
	if err != nil {
		t.Fatalf("Response(%s, HEAD=%v) = Done; net/http refuses it: %v", abbrev(data), head, err)
	}
	if why := stricterResponse(data, want); why != "" {
		t.Fatalf("Response(%s) = Done; want Invalid (%s)", abbrev(data), why)
	}
	if got.HeadLen != used || got.StatusCode != want.StatusCode || got.ContentLength != want.ContentLength || got.Close != want.Close {
		t.Errorf("Response(%q, HEAD=%v) = head %d status %d length %d close %v; net/http head %d status %d length %d close %v",
			data, head, got.HeadLen, got.StatusCode, got.ContentLength, got.Close, used, want.StatusCode, want.ContentLength, want.Close)
	}
	var body BodyKind
	switch {
	case want.Body == http.NoBody:
		body = NoBody
	case len(want.TransferEncoding) > 0:
		body = Chunked
	case want.ContentLength >= 0:
		body = Length
	default:
		body = UntilClose
	}
	if got.Body != body {
		t.Errorf("Response(%s, HEAD=%v).Body = %v; net/http %v", abbrev(data), head, got.Body, body)
	}
}

// chunkPrefix turns a chunked body into a request net/http can read.
const chunkPrefix = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

// netHTTPChunked reads data as a chunked body with net/http, and returns
// how many bytes the body took.
func netHTTPChunked(data []byte) (int, error) {
	full := append([]byte(chunkPrefix), data...)
	r := bytes.NewReader(full)
	br := bufio.NewReader(r)
	req, err := http.ReadRequest(br)
	if err != nil {
		panic(err)
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return 0, err
	}
	return len(full) - r.Len() - br.Buffered() - len(chunkPrefix), nil
}

// stricterChunked says why ChunkedBody refuses a body net/http accepts.
func stricterChunked(data []byte) string {
	// Find the trailer section: after the last chunk's line.
	var c ChunkedBody
	for i := range data {
		if _, _, err := c.Scan(data[i : i+1]); err != nil {
			switch err {
			case errChunkTooLarge:
				return "chunk size of 2^63 or more"
			case errTrailer:
				return "trailer section not in field.go's form"
			}
			return ""
		}
	}
	return ""
}

func checkChunkedOracle(t testing.TB, data []byte, n int, done bool, err error) {
	t.Helper()
	used, werr := netHTTPChunked(data)
	switch {
	case done:
		if werr != nil || used != n {
			t.Fatalf("Scan(%s) = %d, done; net/http: %d, %v", abbrev(data), n, used, werr)
		}
	case err != nil:
		if werr == nil && stricterChunked(data) == "" {
			t.Fatalf("Scan(%s) = %v; net/http reads %d bytes", abbrev(data), err, used)
		}
	default:
		if werr == nil {
			t.Fatalf("Scan(%s) = %d, not done; net/http reads %d bytes", abbrev(data), n, used)
		}
	}
}
