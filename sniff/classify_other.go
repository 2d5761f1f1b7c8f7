//go:build !amd64

package sniff

const useAVX2 = false

func classifyAVX2(p *byte, n int, out *blockMasks) { panic("sniff: no AVX2 here") }
