package sniff

import "math/bits"

// Results of fieldLines.
const (
	fieldMore    = iota // the bytes end before the head does
	fieldEnd            // the blank line ends the head
	fieldBad            // a line breaks RFC 9112 §5
	fieldDecided        // a field handler decided the outcome (sc.state is stFinal)
)

// fieldLines reads the field lines from where the last call stopped to the
// blank line that ends the head. For fieldEnd it returns the offset of the
// head's final LF. It calls the request or response field handler for
// each complete line whose name might be one the sniffer acts on (by its
// length and first letter: most lines are of no interest and are only
// checked).
//
// The checks of RFC 9112 §5 and of net/http are done on bitmaps of whole
// 64-byte blocks (see classify.go) with word arithmetic, instead of a
// branch per byte or a scan per line:
//
//   - a stop byte (a control byte other than HTAB, or DEL) is valid only as
//     a line end: a CR before an LF, or an LF;
//   - a field name is the run of tchars from its line's start, and the
//     byte ending it, the line's first non-tchar, must be the colon. Those
//     bytes are found for all lines at once by adding the line-start bits
//     to the tchar bits: the carry from each line start runs to the end of
//     the run of tchars it starts and lands on the first non-tchar (a line
//     starting with a non-tchar, as obs-fold does, gets a bit on its first
//     byte, which is refused).
//
// A line is refused as soon as its first bad byte arrives. Between calls
// the Scan keeps where the scan stopped (sc.pos), where its line started
// (sc.line) and whether its name has ended (sc.nameEnd); the carries are
// recomputed from those. So the outcome is the same however the bytes
// arrive, and each byte is classified a bounded number of times over all
// calls.
func (s *Sniffer) fieldLines(sc *Scan, buf []byte) (res, lf int) {
	// Field by field, not a composite literal: the compiler builds one in
	// a temporary with word stores and copies it with wider loads, which
	// stalls store forwarding (measured: a third of a one-byte call).
	p0 := int(sc.pos)
	if n := len(buf) - p0; n > 0 && n <= 8 && p0 > int(sc.line) {
		// The few bytes a slow client just sent, in the middle of a name
		// or a value: unless one ends it (a non-tchar in a name, a stop
		// byte in a value), only the position moves.
		end := uint8(classStop)
		if sc.nameEnd <= sc.line {
			end = classNonToken
		}
		quiet := true
		for _, c := range buf[p0:] {
			if byteClass[c]&end != 0 {
				quiet = false
				break
			}
		}
		if quiet {
			sc.pos = int32(len(buf))
			return fieldMore, 0
		}
	}
	var w lineWalk
	w.s, w.sc, w.buf = s, sc, buf
	w.ls, w.ne = int(sc.line), int(sc.nameEnd)
	if w.ne <= w.ls {
		w.ne = -1 // the name has not ended
	}
	switch {
	case p0 == w.ls:
		w.startBit = 1 // a line starts at p0 (ls already holds it)
	case w.ne < 0:
		w.runCarry = 1 // a name goes on from before p0
	}
	for base := p0; ; {
		switch n := len(buf) - base; {
		case n > 64:
			// Whole blocks, classified in place, as many as needed up to
			// maxBlocks at a time (the rest of the buffer may be a body);
			// the last block is left to the case below.
			var masks [maxBlocks]blockMasks
			nb := min((n-1)/64, maxBlocks)
			classify(buf[base:base+64*nb], masks[:])
			for k := range nb {
				if res, lf, done := w.block(&masks[k], base, 64); done {
					return res, lf
				}
				base += 64
			}
		case n > 0:
			var last [1]blockMasks
			m := &last[0]
			if n > 16 && len(buf) >= 64 {
				// The buffer's last 64 bytes, shifted to start at base.
				classify(buf[len(buf)-64:], last[:])
				m.shift(uint(64 - n))
			} else {
				// A few bytes, often the one a slow client sent: a byte
				// loop costs less than the vector setup.
				classifyShort(buf[base:], m)
			}
			if res, lf, done := w.block(m, base, n); done {
				return res, lf
			}
			if w.lfCarry != 0 {
				// The last byte is an LF: the next line's start, past the
				// end, completes the line it ends.
				*m = blockMasks{}
				if res, lf, done := w.block(m, len(buf), 0); done {
					return res, lf
				}
			}
			end := len(buf)
			if buf[end-1] == '\r' {
				end-- // decided by the byte after it: scan it again then
			}
			w.save(end)
			return fieldMore, 0
		default:
			w.save(len(buf))
			return fieldMore, 0
		}
	}
}

// lineWalk is the state of fieldLines from one block to the next.
type lineWalk struct {
	s   *Sniffer
	sc  *Scan
	buf []byte
	ls  int // the current line's start
	ne  int // its name's end, the colon; -1 until known

	startBit uint64 // a line starts at the first block's bit 0
	runCarry uint64 // a name's run of tchars goes on into the next block
	lfCarry  uint64 // the last byte of the block before is an LF
	crCarry  uint64 // ... is a CR
}

// block walks one block at base, of whose bytes n (at most 64) are here,
// and reports done with a result when the head is decided, or when it
// needs more bytes past a CR at its end.
func (w *lineWalk) block(m *blockMasks, base, n int) (res, lf int, done bool) {
	valid := uint64(1)<<uint(n) - 1
	nontok := m.nontok | ^valid
	lfm, crm := m.lf&valid, m.cr&valid

	// Line starts, after each LF; one just past the valid bytes is kept:
	// it completes the line before it.
	starts := lfm<<1 | w.lfCarry
	w.lfCarry = lfm >> 63
	allStarts := starts | w.startBit
	w.startBit = 0
	sum, carry := bits.Add64(^nontok, allStarts, w.runCarry)
	w.runCarry = carry
	nameEnds := sum & nontok & valid

	// The blank line ends the head: nothing from its start on is a field
	// line.
	limit := valid
	blank := allStarts & (lfm | crm)
	if blank != 0 {
		limit = blank&-blank - 1
	}
	bad := m.stop&^(lfm|crm) | // a stop byte that is no line end
		(crm<<1|w.crCarry)&^lfm | // a CR not before an LF
		nameEnds&^m.colon | // a name that does not end in the colon
		nameEnds&allStarts // an empty name: obs-fold, a line starting with ':'
	w.crCarry = crm >> 63
	if bad&limit != 0 {
		return fieldBad, 0, true
	}
	nameEnds &= limit
	starts &= limit<<1 | 1

	// The lines: a name's end, then the next line's start, which completes
	// the line. (In locals: the field handler's call would make the
	// compiler reload fields of w.)
	buf, ls, ne := w.buf, w.ls, w.ne
	for {
		if ne < 0 {
			if nameEnds == 0 {
				break
			}
			ne = base + bits.TrailingZeros64(nameEnds)
			nameEnds &= nameEnds - 1
		}
		if starts == 0 {
			break
		}
		next := base + bits.TrailingZeros64(starts)
		starts &= starts - 1
		if n := ne - ls; n < len(fieldFirst) && fieldFirst[n]>>(buf[ls]|0x20-'a')&1 != 0 {
			lf := next - 1
			ce := lf
			if buf[lf-1] == '\r' {
				ce--
			}
			if w.s.field(w.sc, buf, ls, ne, ce); w.sc.state != stFields {
				return fieldDecided, 0, true
			}
		}
		ls, ne = next, -1
	}
	w.ls, w.ne = ls, ne

	if blank != 0 {
		h := base + bits.TrailingZeros64(blank)
		switch {
		case buf[h] == '\n':
			return fieldEnd, h, true
		case h+1 < len(buf):
			if buf[h+1] != '\n' {
				return fieldBad, 0, true
			}
			return fieldEnd, h + 1, true
		}
		// A CR, and what follows it is not here yet.
		w.save(h)
		return fieldMore, 0, true
	}
	return 0, 0, false
}

// save keeps the walk's state in the Scan, the scan having stopped at end.
func (w *lineWalk) save(end int) {
	w.sc.pos, w.sc.line, w.sc.nameEnd = int32(end), int32(w.ls), int32(w.ls)
	if w.ne >= 0 {
		w.sc.nameEnd = int32(w.ne)
	}
}

// fieldFirst, by the length of a field name, has bit c-'a' set when
// fieldKind knows a name of that length starting with letter c (either
// case): the lines whose names can matter.
var fieldFirst = func() (t [18]uint32) {
	for _, name := range []string{"host", "cookie", "expect", "upgrade", "trailer", "connection", "content-length", "transfer-encoding"} {
		t[len(name)] |= 1 << (name[0] - 'a')
	}
	return t
}()

// field acts on one complete field line: the name is buf[ls:ne], the value
// buf[ne+1:ce].
func (s *Sniffer) field(sc *Scan, buf []byte, ls, ne, ce int) {
	if sc.flags&fResponse != 0 {
		vs, ve := trimBounds(buf, ne+1, ce)
		if !sc.framingField(fieldKind(buf[ls:ne]), buf[vs:ve]) {
			sc.finish(Invalid)
		}
		return
	}
	s.requestField(sc, buf, ls, ne, ce)
}
