package health

import (
	"errors"
	"fmt"
	"time"

	"github.com/l4lb/l4lb/affinity"
	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// probe is one backend's active check.
type probe struct {
	endpoint         string
	network, address string
	check            Check
	timeout          time.Duration
	// out is what a check writes once connected, formatted once: the
	// PROXY header the backend gets, if any, then the HTTP check's
	// request. Empty for a TCP check without PROXY header.
	out []byte

	// The address to connect to (batch.go): literal reports whether the
	// endpoint names an IP address, resolved when a name was last looked
	// up. Touched only by the batch that runs the check.
	sa       unix.Sockaddr
	literal  bool
	resolved time.Time
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
	}
	return p, nil
}

// errStatus is wrapped by the error of an HTTP check whose status is
// neither 2xx nor 3xx.
var errStatus = errors.New("status")

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
