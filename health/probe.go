package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/l4lb/l4lb/affinity"
	proxyproto "github.com/pires/go-proxyproto"
)

// probe is one backend's active check, as its prober goroutine runs it.
type probe struct {
	endpoint         string
	network, address string
	check            Check
	timeout          time.Duration
	// out is what a check writes once connected, formatted once: the
	// PROXY header the backend gets, if any, then the HTTP check's
	// request. Empty for a TCP check without PROXY header.
	out    []byte
	dialer net.Dialer
	br     *bufio.Reader
}

// maxStatusLine bounds the status line an HTTP check reads (RFC 9112 §4:
// "HTTP/1.1 200 OK" and a reason phrase).
const maxStatusLine = 512

// newProbe prepares the check of b, whose PROXY header is pp (already
// resolved against the balancer's default: never ProxyDefault).
func newProbe(b affinity.Backend, check Check, timeout time.Duration, pp affinity.ProxyProtocol) (*probe, error) {
	network, address, ok := b.Addr()
	if !ok {
		return nil, fmt.Errorf("health check %s: not a tcp:// or unix: endpoint", b.Endpoint)
	}
	p := &probe{endpoint: b.Endpoint, network: network, address: address, check: check, timeout: timeout}
	if pp == affinity.ProxyV1 || pp == affinity.ProxyV2 {
		v := byte(1)
		if pp == affinity.ProxyV2 {
			v = 2
		}
		hdr, err := (&proxyproto.Header{Version: v, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
		if err != nil {
			return nil, fmt.Errorf("health check %s: proxy header: %w", b.Endpoint, err)
		}
		p.out = hdr
	}
	if check.Kind == HTTP {
		host := address
		if network == "unix" {
			host = "localhost"
		}
		p.out = fmt.Appendf(p.out, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: l4lb-health-check\r\nConnection: close\r\n\r\n", check.Path, host)
		p.br = bufio.NewReaderSize(nil, maxStatusLine)
	}
	return p, nil
}

// errStatus is wrapped by the error of an HTTP check whose status is
// neither 2xx nor 3xx.
var errStatus = errors.New("status")

// run runs one check and reports nil if it passed. The error names the
// operation and the endpoint.
func (p *probe) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := p.dialer.DialContext(ctx, p.network, p.address)
	if err != nil {
		return fmt.Errorf("health check %s: %w", p.endpoint, err)
	}
	defer c.Close()
	if len(p.out) == 0 {
		return nil
	}
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := c.Write(p.out); err != nil {
		return fmt.Errorf("health check %s: write: %w", p.endpoint, err)
	}
	if p.check.Kind != HTTP {
		return nil
	}
	p.br.Reset(c)
	line, err := p.br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("health check %s: GET %s: read status line: %w", p.endpoint, p.check.Path, err)
	}
	code, ok := parseStatusLine(line)
	switch {
	case !ok:
		return fmt.Errorf("health check %s: GET %s: malformed status line %q", p.endpoint, p.check.Path, line)
	case code < 200 || code >= 400:
		return fmt.Errorf("health check %s: GET %s: %w %d", p.endpoint, p.check.Path, errStatus, code)
	}
	return nil
}

// parseStatusLine reads the status code of an HTTP/1.x status line,
// RFC 9112 §4:
//
//	status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
//	HTTP-version = "HTTP/" DIGIT "." DIGIT
//	status-code  = 3DIGIT
//
// line ends with LF; a bare LF ending is accepted (§2.2). ok is false for
// anything else.
func parseStatusLine(line []byte) (code int, ok bool) {
	const prefix = "HTTP/1."
	if len(line) < len(prefix)+1+1+3+1 || string(line[:len(prefix)]) != prefix {
		return 0, false
	}
	rest := line[len(prefix):]
	if !isDigit(rest[0]) || rest[1] != ' ' {
		return 0, false
	}
	rest = rest[2:]
	for i := 0; i < 3; i++ {
		if !isDigit(rest[i]) {
			return 0, false
		}
		code = code*10 + int(rest[i]-'0')
	}
	rest = rest[3:]
	switch {
	case len(rest) == 1 && rest[0] == '\n', len(rest) == 2 && rest[0] == '\r' && rest[1] == '\n':
		return code, true
	case rest[0] != ' ' || rest[len(rest)-1] != '\n':
		return 0, false
	}
	// reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
	reason := rest[1 : len(rest)-1]
	if len(reason) > 0 && reason[len(reason)-1] == '\r' {
		reason = reason[:len(reason)-1]
	}
	for _, b := range reason {
		if b != '\t' && (b < ' ' || b == 0x7f) {
			return 0, false
		}
	}
	return code, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
