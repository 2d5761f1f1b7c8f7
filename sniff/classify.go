package sniff

// Field lines are found by classifying the head 64 bytes at a time into
// bitmaps and walking their set bits with word arithmetic (fields.go),
// instead of scanning each line for its colon and then for its end: a
// line's ends fall at offsets no loop can predict, so a scan per line pays
// a mispredicted loop exit or two per line, and that, not the bytes, was
// most of the cost (bench/README.md, "sniff micro-benchmarks"). On amd64
// with AVX2 the blocks are classified by classifyAVX2 (classify_amd64.s:
// two 32-byte loads per block, nibble table lookups, no branches);
// elsewhere by classifyGeneric.

// maxBlocks is how many blocks one classify call does at most: enough for
// the field lines of a typical browser head, few enough that a head
// followed by a large body in the same buffer is not classified far past
// its end.
const maxBlocks = 8

// blockMasks classifies one 64-byte block: bit i describes the block's
// byte i.
type blockMasks struct {
	// stop: a control byte other than HTAB, or DEL. It ends a field value,
	// validly (CR LF, or a bare LF: RFC 9112 §2.2) or not: a value holds
	// field-vchar, obs-text, SP and HTAB only (RFC 9110 §5.5).
	stop uint64
	// nontok: not a tchar (RFC 9110 §5.6.2). It ends a field name, which
	// is valid only when it is the colon.
	nontok        uint64
	lf, cr, colon uint64
}

// Bits of byteClass.
const (
	classStop = 1 << iota
	classNonToken
	classLF
	classCR
	classColon
)

// byteClass defines the classes for both classifiers.
var byteClass = func() (t [256]uint8) {
	for c := range t {
		if c < 0x20 && c != '\t' || c == 0x7f {
			t[c] |= classStop
		}
		if !tchar[c] {
			t[c] |= classNonToken
		}
	}
	t['\n'] |= classLF
	t['\r'] |= classCR
	t[':'] |= classColon
	return t
}()

// classify classifies the len(p)/64 whole blocks of p into out, which
// must have room for them; len(p) must be a multiple of 64.
func classify(p []byte, out []blockMasks) {
	n := len(p) / 64
	if n == 0 {
		return
	}
	_ = out[n-1]
	if useAVX2 {
		classifyAVX2(&p[0], n, &out[0])
		return
	}
	classifyGeneric(p, out)
}

// classifyShort classifies the bytes of p, fewer than 64, one at a time:
// a short head, or the few new bytes of a slow client.
func classifyShort(p []byte, m *blockMasks) {
	*m = blockMasks{}
	for i, c := range p[:min(len(p), 64)] {
		t := uint64(byteClass[c])
		m.stop |= (t & 1) << i
		m.nontok |= (t >> 1 & 1) << i
		m.lf |= (t >> 2 & 1) << i
		m.cr |= (t >> 3 & 1) << i
		m.colon |= (t >> 4 & 1) << i
	}
}

// shift makes m the masks of the block starting s bytes further on.
func (m *blockMasks) shift(s uint) {
	m.stop >>= s
	m.nontok >>= s
	m.lf >>= s
	m.cr >>= s
	m.colon >>= s
}

// classifyGeneric is classify with one table lookup per byte. Eight
// lookups make a word of class bytes; a multiplication gathers one class
// bit of each of its bytes into the word's top byte.
func classifyGeneric(p []byte, out []blockMasks) {
	const ones = 0x0101010101010101
	const gather = 0x0102040810204080 // byte i's bit 0 to bit 56+i
	for k := range len(p) / 64 {
		var m blockMasks
		for j := 0; j < 64; j += 8 {
			b := p[64*k+j : 64*k+j+8 : 64*k+j+8]
			w := uint64(byteClass[b[0]]) | uint64(byteClass[b[1]])<<8 | uint64(byteClass[b[2]])<<16 |
				uint64(byteClass[b[3]])<<24 | uint64(byteClass[b[4]])<<32 | uint64(byteClass[b[5]])<<40 |
				uint64(byteClass[b[6]])<<48 | uint64(byteClass[b[7]])<<56
			m.stop |= (w & ones * gather >> 56) << j
			m.nontok |= (w >> 1 & ones * gather >> 56) << j
			m.lf |= (w >> 2 & ones * gather >> 56) << j
			m.cr |= (w >> 3 & ones * gather >> 56) << j
			m.colon |= (w >> 4 & ones * gather >> 56) << j
		}
		out[k] = m
	}
}

// byteMasks sets out[i] to the mask of the bytes of p[:64] equal to
// set[i]: the positions of a few delimiters in one block, at once.
func byteMasks(p []byte, set *[4]byte, out *[4]uint64) {
	_ = p[63]
	if useAVX2 {
		byteMasksAVX2(&p[0], set, out)
		return
	}
	byteMasksGeneric(p, set, out)
}

func byteMasksGeneric(p []byte, set *[4]byte, out *[4]uint64) {
	*out = [4]uint64{}
	for j, c := range p[:64] {
		for i, d := range set {
			if c == d {
				out[i] |= 1 << j
			}
		}
	}
}
