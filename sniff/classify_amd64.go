package sniff

import "golang.org/x/sys/cpu"

// useAVX2 is a variable so that tests can run the generic classifier too.
var useAVX2 = cpu.X86.HasAVX2

// classifyAVX2 is classifyGeneric for the n blocks at p, into out[0:n],
// with AVX2 (classify_amd64.s).
//
//go:noescape
func classifyAVX2(p *byte, n int, out *blockMasks)

// byteMasksAVX2 is byteMasksGeneric with AVX2 (classify_amd64.s).
//
//go:noescape
func byteMasksAVX2(p *byte, set *[4]byte, out *[4]uint64)
