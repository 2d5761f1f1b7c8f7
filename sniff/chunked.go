package sniff

import "errors"

// ChunkedBody walks a chunked body (RFC 9112 §7.1) as its bytes stream
// past, without copying or keeping them:
//
//	chunked-body   = *chunk last-chunk trailer-section CRLF
//	chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//	chunk-size     = 1*HEXDIG
//	last-chunk     = 1*("0") [ chunk-ext ] CRLF
//	trailer-section = *( field-line CRLF )
//
// It accepts what net/http accepts (net/http/internal.chunkedReader and
// body.readTrailer): CRLF line ends only; at most 16 hex digits; optional
// whitespace after the size; a chunk-size line of at most 4096 bytes with
// its CRLF; extensions unchecked; a trailer section of at most 4096 bytes;
// and net/http's limit on framing overhead (16 KiB beyond 16 bytes per
// chunk and twice the data). Stricter, as a proxy's input: a chunk size
// must be below 2^63, and trailer fields follow field.go's rules (no
// obs-fold, no space before the colon, CRLF ends).
//
// Its zero value is ready; it is not safe for concurrent use.
type ChunkedBody struct {
	state    uint8
	digits   uint8  // hex digits of the current size
	err      uint8  // index in chunkErrors, 0 for none
	doneFlag bool   //
	lineLen  uint16 // bytes of the current framing line so far
	trailer  uint16 // bytes of the trailer section so far
	size     int64  // current chunk size, then data left in it
	excess   int64  // framing overhead, as net/http counts it
}

const (
	csSize         = iota // in chunk-size
	csSizeWS              // OWS after chunk-size
	csExt                 // in chunk-ext
	csSizeLF              // CR seen, LF next
	csData                // in chunk-data
	csDataCR              // CRLF after chunk-data
	csDataLF              //
	csTrailer             // at the start of a trailer line (or the final CRLF)
	csTrailerName         // in a field-name
	csTrailerValue        // in a field-value
	csTrailerLF           // CR of a field line seen
	csEndLF               // CR of the final CRLF seen
)

const (
	maxChunkLine   = 4096
	maxTrailer     = 4096
	maxChunkExcess = 16 << 10
)

var (
	errChunkSize     = errors.New("sniff: chunked body: malformed chunk size")
	errChunkTooLarge = errors.New("sniff: chunked body: chunk size too large")
	errChunkLine     = errors.New("sniff: chunked body: chunk line too long")
	errChunkCRLF     = errors.New("sniff: chunked body: missing CRLF")
	errChunkExcess   = errors.New("sniff: chunked body: too much framing overhead")
	errTrailer       = errors.New("sniff: chunked body: malformed trailer section")

	// chunkErrors lets a ChunkedBody keep its error in a byte, so that it
	// holds no pointer.
	chunkErrors = [...]error{nil, errChunkSize, errChunkTooLarge, errChunkLine, errChunkCRLF, errChunkExcess, errTrailer}
)

func (c *ChunkedBody) setErr(err error) {
	for i, e := range chunkErrors {
		if e == err {
			c.err = uint8(i)
		}
	}
}

// Scan consumes the framing and data in p, the bytes that follow what
// earlier calls consumed. The first n bytes of p belong to the body; n is
// len(p) unless done or err. done reports that the last chunk and the
// trailer section have ended: p[n:] is the next message. After done or an
// error, Scan returns 0 and the same outcome again.
func (c *ChunkedBody) Scan(p []byte) (n int, done bool, err error) {
	if c.doneFlag || c.err != 0 {
		return 0, c.doneFlag, chunkErrors[c.err]
	}
	i := 0
	for i < len(p) {
		if c.state == csData {
			k := int64(len(p) - i)
			if k >= c.size {
				k = c.size
				c.state = csDataCR
			}
			c.size -= k
			i += int(k)
			continue
		}
		b := p[i]
		i++
		if err := c.step(b); err != nil {
			c.setErr(err)
			return i - 1, false, err
		}
		if c.doneFlag {
			return i, true, nil
		}
	}
	return i, false, nil
}

// DataRemaining is how many bytes of the current chunk's data follow what
// Scan consumed; they can be passed on without looking at them (spliced),
// and reported with Skip. It is 0 between chunks.
func (c *ChunkedBody) DataRemaining() int64 {
	if c.state == csData {
		return c.size
	}
	return 0
}

// Skip records that n bytes of chunk data were passed on without Scan.
// It panics if n is negative or more than DataRemaining.
func (c *ChunkedBody) Skip(n int64) {
	if n < 0 || n > c.DataRemaining() {
		panic("sniff: ChunkedBody.Skip beyond the chunk data")
	}
	if n == 0 {
		return
	}
	c.size -= n
	if c.size == 0 {
		c.state = csDataCR
	}
}

// Done reports whether the body has ended.
func (c *ChunkedBody) Done() bool { return c.doneFlag }

// Reset makes c ready for the next body.
func (c *ChunkedBody) Reset() { *c = ChunkedBody{} }

func (c *ChunkedBody) step(b byte) error {
	switch c.state {
	case csSize, csSizeWS, csExt, csSizeLF:
		c.lineLen++
		if c.lineLen > maxChunkLine {
			return errChunkLine
		}
	}
	switch c.state {
	case csSize:
		if d, ok := hexVal(b); ok {
			if c.digits == 16 {
				return errChunkTooLarge // net/http's limit
			}
			if c.size > (1<<63-1)>>4 {
				return errChunkTooLarge
			}
			c.digits++
			c.size = c.size<<4 | int64(d)
			return nil
		}
		if c.digits == 0 {
			return errChunkSize
		}
		switch {
		case b == ';':
			c.state = csExt
		case isOWS(b):
			c.state = csSizeWS
		case b == '\r':
			c.state = csSizeLF
		default:
			return errChunkSize
		}
	case csSizeWS:
		// net/http trims trailing whitespace, then cuts at ';': so
		// whitespace may end the line but not precede an extension.
		switch {
		case isOWS(b):
		case b == '\r':
			c.state = csSizeLF
		default:
			return errChunkSize
		}
	case csExt:
		switch b {
		case '\r':
			c.state = csSizeLF
		case '\n':
			return errChunkCRLF
		}
	case csSizeLF:
		if b != '\n' {
			return errChunkCRLF
		}
		return c.endSizeLine()
	case csDataCR:
		if b != '\r' {
			return errChunkCRLF
		}
		c.state = csDataLF
	case csDataLF:
		if b != '\n' {
			return errChunkCRLF
		}
		c.state = csSize
	default:
		return c.trailerStep(b)
	}
	return nil
}

// endSizeLine starts the chunk's data, or the trailer section after the
// last chunk.
func (c *ChunkedBody) endSizeLine() error {
	c.excess += int64(c.lineLen)
	if c.size < maxChunkExcess {
		c.excess -= 16 + 2*c.size
	} else {
		c.excess = 0
	}
	c.excess = max(c.excess, 0)
	if c.excess > maxChunkExcess {
		return errChunkExcess
	}
	c.lineLen, c.digits = 0, 0
	if c.size == 0 {
		c.state = csTrailer
	} else {
		c.state = csData
	}
	return nil
}

func (c *ChunkedBody) trailerStep(b byte) error {
	c.trailer++
	if c.trailer > maxTrailer {
		return errTrailer
	}
	switch c.state {
	case csTrailer:
		switch {
		case b == '\r':
			c.state = csEndLF
		case tchar[b]:
			c.state = csTrailerName
		default:
			return errTrailer // obs-fold, bare LF, empty name
		}
	case csTrailerName:
		switch {
		case b == ':':
			c.state = csTrailerValue
		case !tchar[b]:
			return errTrailer
		}
	case csTrailerValue:
		switch {
		case b == '\r':
			c.state = csTrailerLF
		case !validValueByte(b):
			return errTrailer
		}
	case csTrailerLF:
		if b != '\n' {
			return errTrailer
		}
		c.state = csTrailer
	case csEndLF:
		if b != '\n' {
			return errTrailer
		}
		c.doneFlag = true
	}
	return nil
}

func hexVal(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	case 'A' <= b && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
