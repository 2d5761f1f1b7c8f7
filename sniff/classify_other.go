//go:build !amd64

package sniff

// useAVX2 is false here; a variable, as on amd64, for the tests.
var useAVX2 = false

func classifyAVX2(p *byte, n int, out *blockMasks) { panic("sniff: no AVX2 here") }

func byteMasksAVX2(p *byte, set *[4]byte, out *[4]uint64) { panic("sniff: no AVX2 here") }
