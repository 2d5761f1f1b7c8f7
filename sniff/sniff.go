package sniff

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Defaults for the zero fields of Config.
const (
	// DefaultMaxHeadBytes bounds a request or response head, request line
	// and final blank line included. It is Node's default
	// --max-http-header-size, so a head that a Meteor (Node) backend would
	// accept is never refused here, and one it would refuse is answered
	// here (431) without a backend connection.
	DefaultMaxHeadBytes = 16 << 10
	// DefaultMaxRequestLineBytes bounds the request line, without its line
	// end (nginx's default line buffer).
	DefaultMaxRequestLineBytes = 8 << 10
	// MaxCookies is the largest number of sticky cookie names a Sniffer
	// looks for; Request.Cookies has this many slots.
	MaxCookies = 4

	// maxLimit keeps every offset of a head within an int32 (see Scan).
	maxLimit = 1 << 30
	// minHeadBytes leaves room for a TLS record header.
	minHeadBytes = 64
)

// DefaultPrefixes are the SockJS prefixes of a Config whose Prefixes is nil:
// Meteor's, with no ROOT_URL_PATH_PREFIX.
var DefaultPrefixes = []string{"/sockjs"}

// Config says what a Sniffer looks for.
type Config struct {
	// Prefixes are the SockJS URL prefixes, such as "/sockjs" or
	// "/search/sockjs" (Meteor's ROOT_URL_PATH_PREFIX + "/sockjs"). Each
	// starts with "/", does not end with "/" and holds no '?', '#', space or
	// control byte. If nil, DefaultPrefixes is used; an empty non-nil slice
	// matches no SockJS traffic.
	Prefixes []string
	// Cookies are the names of sticky cookies, in priority order: the first
	// one present with a non-empty value becomes the key. At most
	// MaxCookies; each must be a token (RFC 9110 §5.6.2), or tokens joined
	// by ':' as in meteorhacks:cluster's "cluster-endpoint::web" (which
	// browsers send, though net/http's Request.Cookie does not read it).
	// If nil, no cookie is looked for.
	Cookies []string
	// MaxHeadBytes bounds a head; a request head that does not end within it
	// is answered 431, a response head is Invalid. If zero,
	// DefaultMaxHeadBytes is used. Values below 64 (negative ones
	// included) and above 1 GiB are invalid.
	MaxHeadBytes int
	// MaxRequestLineBytes bounds the request line without its line end; a
	// longer one is answered 414. If zero, DefaultMaxRequestLineBytes is
	// used. Negative values and values above 1 GiB are invalid. When it is
	// not below MaxHeadBytes, MaxHeadBytes is the effective bound (431).
	MaxRequestLineBytes int
}

// Sniffer is a compiled Config. It is immutable and safe for concurrent use;
// all per-connection state lives in a Scan.
type Sniffer struct {
	prefixes []prefix // longest first, so nested prefixes match the deepest
	cookies  [MaxCookies]string
	// cookieNames holds the same names, searched for in Cookie values.
	cookieNames [MaxCookies][]byte
	numCookies  int
	maxHead     int
	maxLine     int
}

type prefix struct {
	path  []byte // "/search/sockjs"
	index int    // in Config.Prefixes
	// meteorWS is Meteor's raw WebSocket path for the prefix,
	// ROOT_URL_PATH_PREFIX + "/websocket" ("/search/websocket"), or nil
	// when the prefix does not end in "/sockjs".
	meteorWS []byte
}

// New compiles cfg. It returns an error for a malformed prefix or cookie
// name, more than MaxCookies cookies, or an out-of-range limit.
func New(cfg Config) (*Sniffer, error) {
	s := &Sniffer{maxHead: cfg.MaxHeadBytes, maxLine: cfg.MaxRequestLineBytes}
	if s.maxHead == 0 {
		s.maxHead = DefaultMaxHeadBytes
	}
	if s.maxLine == 0 {
		s.maxLine = DefaultMaxRequestLineBytes
	}
	if s.maxHead < minHeadBytes || s.maxHead > maxLimit {
		return nil, fmt.Errorf("sniff: MaxHeadBytes %d out of range [%d, %d]", cfg.MaxHeadBytes, minHeadBytes, maxLimit)
	}
	if s.maxLine < 0 || s.maxLine > maxLimit {
		return nil, fmt.Errorf("sniff: MaxRequestLineBytes %d out of range [0, %d]", cfg.MaxRequestLineBytes, maxLimit)
	}

	prefixes := cfg.Prefixes
	if prefixes == nil {
		prefixes = DefaultPrefixes
	}
	for i, p := range prefixes {
		if err := checkPrefix(p); err != nil {
			return nil, fmt.Errorf("sniff: prefix %q: %w", p, err)
		}
		for _, q := range prefixes[:i] {
			if q == p {
				return nil, fmt.Errorf("sniff: prefix %q: listed twice", p)
			}
		}
		pr := prefix{path: []byte(p), index: i}
		if base, ok := strings.CutSuffix(p, "/sockjs"); ok {
			pr.meteorWS = []byte(base + "/websocket")
		}
		s.prefixes = append(s.prefixes, pr)
	}
	sort.SliceStable(s.prefixes, func(i, j int) bool {
		return len(s.prefixes[i].path) > len(s.prefixes[j].path)
	})

	if len(cfg.Cookies) > MaxCookies {
		return nil, fmt.Errorf("sniff: %d cookie names, at most %d", len(cfg.Cookies), MaxCookies)
	}
	for i, c := range cfg.Cookies {
		if !isToken(strings.ReplaceAll(c, ":", "")) || c[0] == ':' || c[len(c)-1] == ':' {
			return nil, fmt.Errorf("sniff: cookie name %q: not a token", c)
		}
		s.cookies[i] = c
		s.cookieNames[i] = []byte(c)
	}
	s.numCookies = len(cfg.Cookies)
	return s, nil
}

func checkPrefix(p string) error {
	switch {
	case len(p) < 2 || p[0] != '/':
		return errors.New("must start with / and name a path")
	case p[len(p)-1] == '/':
		return errors.New("must not end with /")
	case strings.ContainsAny(p, "?#"):
		return errors.New("must not hold ? or #")
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] == 0x7f {
			return errors.New("must not hold spaces or control bytes")
		}
	}
	return nil
}

// MaxHeadBytes returns the effective head limit.
func (s *Sniffer) MaxHeadBytes() int { return s.maxHead }

// Status is the outcome of a Request or Response call.
type Status uint8

const (
	// NeedMore means the bytes so far are a valid beginning; call again
	// when more have arrived.
	NeedMore Status = iota
	// Done means a whole head was parsed; the result struct is filled.
	Done
	// NotHTTP means the bytes cannot start an HTTP/1.x request (Request
	// only): TLS, HTTP/2's preface, a PROXY header, SSH, random bytes.
	NotHTTP
	// Invalid means a protocol error: Request.Status says what to answer.
	// A response is Invalid when it is malformed or ambiguous.
	Invalid
)

// String returns "need-more", "done", "not-http" or "invalid".
func (st Status) String() string {
	switch st {
	case NeedMore:
		return "need-more"
	case Done:
		return "done"
	case NotHTTP:
		return "not-http"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Status(%d)", uint8(st))
}

// KeyKind says where a request's affinity key came from.
type KeyKind uint8

const (
	// KeyNone: the request needs no affinity (place it by load).
	KeyNone KeyKind = iota
	// KeySession: the key is a SockJS session id of a polling or streaming
	// transport.
	KeySession
	// KeyCookie: the key is the value of a configured sticky cookie.
	KeyCookie
)

// String returns "none", "session" or "cookie".
func (k KeyKind) String() string {
	switch k {
	case KeyNone:
		return "none"
	case KeySession:
		return "session"
	case KeyCookie:
		return "cookie"
	}
	return fmt.Sprintf("KeyKind(%d)", uint8(k))
}
