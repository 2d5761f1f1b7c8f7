#include "textflag.h"

// func classifyAVX2(p *byte, n int, out *blockMasks)
//
// Classifies the n 64-byte blocks at p into out[0:n]:
//
//	stop:   bytes below 0x20 other than HTAB, and DEL
//	nontok: bytes that are not tchars
//	lf, cr, colon: '\n', '\r', ':'
//
// nontok is found by the nibble method: a byte is a tchar when
// tokLo[low nibble] & tokHi[high nibble] != 0. tokHi gives each high nibble
// 2..7 a bit of its own (0 for the others: controls, non-ASCII); tokLo sets,
// for a low nibble, the bits of the rows in which that column is a tchar.
// Generated from, and tested against, the tchar table.
TEXT ·classifyAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ out+16(FP), DI
	VMOVDQU c1f<>(SB), Y2
	VMOVDQU c09<>(SB), Y3
	VMOVDQU c7f<>(SB), Y4
	VMOVDQU c0f<>(SB), Y5
	VMOVDQU tokLo<>(SB), Y6
	VMOVDQU tokHi<>(SB), Y7
	VMOVDQU c0a<>(SB), Y12
	VMOVDQU c0d<>(SB), Y13
	VMOVDQU c3a<>(SB), Y14
	VPXOR Y15, Y15, Y15
	TESTQ CX, CX
	JEQ done

loop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1

	// stop: min(x, 0x1f) == x, and not HTAB; or DEL.
	VPMINUB Y2, Y0, Y8
	VPCMPEQB Y0, Y8, Y8
	VPCMPEQB Y3, Y0, Y9
	VPANDN Y8, Y9, Y8
	VPCMPEQB Y4, Y0, Y9
	VPOR Y9, Y8, Y8
	VPMOVMSKB Y8, AX
	VPMINUB Y2, Y1, Y10
	VPCMPEQB Y1, Y10, Y10
	VPCMPEQB Y3, Y1, Y11
	VPANDN Y10, Y11, Y10
	VPCMPEQB Y4, Y1, Y11
	VPOR Y11, Y10, Y10
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 0(DI)

	// nontok
	VPAND Y5, Y0, Y8
	VPSRLW $4, Y0, Y9
	VPAND Y5, Y9, Y9
	VPSHUFB Y8, Y6, Y8
	VPSHUFB Y9, Y7, Y9
	VPAND Y9, Y8, Y8
	VPCMPEQB Y15, Y8, Y8
	VPMOVMSKB Y8, AX
	VPAND Y5, Y1, Y10
	VPSRLW $4, Y1, Y11
	VPAND Y5, Y11, Y11
	VPSHUFB Y10, Y6, Y10
	VPSHUFB Y11, Y7, Y11
	VPAND Y11, Y10, Y10
	VPCMPEQB Y15, Y10, Y10
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 8(DI)

	// lf
	VPCMPEQB Y12, Y0, Y8
	VPMOVMSKB Y8, AX
	VPCMPEQB Y12, Y1, Y10
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 16(DI)

	// cr
	VPCMPEQB Y13, Y0, Y8
	VPMOVMSKB Y8, AX
	VPCMPEQB Y13, Y1, Y10
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 24(DI)

	// colon
	VPCMPEQB Y14, Y0, Y8
	VPMOVMSKB Y8, AX
	VPCMPEQB Y14, Y1, Y10
	VPMOVMSKB Y10, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 32(DI)

	ADDQ $64, SI
	ADDQ $40, DI
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET

DATA c0a<>+0(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA c0a<>+8(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA c0a<>+16(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA c0a<>+24(SB)/8, $0x0a0a0a0a0a0a0a0a
GLOBL c0a<>(SB), RODATA|NOPTR, $32

DATA c3a<>+0(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA c3a<>+8(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA c3a<>+16(SB)/8, $0x3a3a3a3a3a3a3a3a
DATA c3a<>+24(SB)/8, $0x3a3a3a3a3a3a3a3a
GLOBL c3a<>(SB), RODATA|NOPTR, $32

DATA c0d<>+0(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA c0d<>+8(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA c0d<>+16(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA c0d<>+24(SB)/8, $0x0d0d0d0d0d0d0d0d
GLOBL c0d<>(SB), RODATA|NOPTR, $32

DATA c1f<>+0(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA c1f<>+8(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA c1f<>+16(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA c1f<>+24(SB)/8, $0x1f1f1f1f1f1f1f1f
GLOBL c1f<>(SB), RODATA|NOPTR, $32

DATA c09<>+0(SB)/8, $0x0909090909090909
DATA c09<>+8(SB)/8, $0x0909090909090909
DATA c09<>+16(SB)/8, $0x0909090909090909
DATA c09<>+24(SB)/8, $0x0909090909090909
GLOBL c09<>(SB), RODATA|NOPTR, $32

DATA c7f<>+0(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA c7f<>+8(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA c7f<>+16(SB)/8, $0x7f7f7f7f7f7f7f7f
DATA c7f<>+24(SB)/8, $0x7f7f7f7f7f7f7f7f
GLOBL c7f<>(SB), RODATA|NOPTR, $32

DATA c0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA c0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA c0f<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA c0f<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL c0f<>(SB), RODATA|NOPTR, $32

// VPSHUFB looks up within each 128-bit lane: both lanes hold the table.
DATA tokLo<>+0(SB)/8, $0x3f3f3f3f3f3e3f3a
DATA tokLo<>+8(SB)/8, $0x1c3d1534153d3e3e
DATA tokLo<>+16(SB)/8, $0x3f3f3f3f3f3e3f3a
DATA tokLo<>+24(SB)/8, $0x1c3d1534153d3e3e
GLOBL tokLo<>(SB), RODATA|NOPTR, $32

DATA tokHi<>+0(SB)/8, $0x2010080402010000
DATA tokHi<>+8(SB)/8, $0x0000000000000000
DATA tokHi<>+16(SB)/8, $0x2010080402010000
DATA tokHi<>+24(SB)/8, $0x0000000000000000
GLOBL tokHi<>(SB), RODATA|NOPTR, $32

// func byteMasksAVX2(p *byte, set *[4]byte, out *[4]uint64)
//
// out[i] has bit j set when p[j] == set[i], for the 64 bytes at p.
TEXT ·byteMasksAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ set+8(FP), DX
	MOVQ out+16(FP), DI
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1

	VPBROADCASTB (DX), Y2
	VPCMPEQB Y2, Y0, Y3
	VPCMPEQB Y2, Y1, Y4
	VPMOVMSKB Y3, AX
	VPMOVMSKB Y4, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 0(DI)

	VPBROADCASTB 1(DX), Y2
	VPCMPEQB Y2, Y0, Y3
	VPCMPEQB Y2, Y1, Y4
	VPMOVMSKB Y3, AX
	VPMOVMSKB Y4, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 8(DI)

	VPBROADCASTB 2(DX), Y2
	VPCMPEQB Y2, Y0, Y3
	VPCMPEQB Y2, Y1, Y4
	VPMOVMSKB Y3, AX
	VPMOVMSKB Y4, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 16(DI)

	VPBROADCASTB 3(DX), Y2
	VPCMPEQB Y2, Y0, Y3
	VPCMPEQB Y2, Y1, Y4
	VPMOVMSKB Y3, AX
	VPMOVMSKB Y4, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 24(DI)

	VZEROUPPER
	RET
