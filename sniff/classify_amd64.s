#include "textflag.h"

// STOP32 sets the low 32 bits of r to the stop mask of x (32 bytes):
// min(x, 0x1f) == x, and not HTAB; or DEL. Clobbers t, u.
#define STOP32(x, t, u, r) \
	VPMINUB Y2, x, t; \
	VPCMPEQB x, t, t; \
	VPCMPEQB Y3, x, u; \
	VPANDN t, u, t; \
	VPCMPEQB Y4, x, u; \
	VPOR u, t, t; \
	VPMOVMSKB t, r

// NONTOK32 sets the low 32 bits of r to the nontok mask of x: the nibble
// lookups and-ed, compared with zero. Clobbers t, u.
#define NONTOK32(x, t, u, r) \
	VPAND Y5, x, t; \
	VPSRLW $4, x, u; \
	VPAND Y5, u, u; \
	VPSHUFB t, Y6, t; \
	VPSHUFB u, Y7, u; \
	VPAND u, t, t; \
	VPCMPEQB Y15, t, t; \
	VPMOVMSKB t, r

// BCAST32 defines the 32-byte read-only constant name<> as four copies
// of the 8-byte v.
#define BCAST32(name, v) \
	DATA name<>+0(SB)/8, v; \
	DATA name<>+8(SB)/8, v; \
	DATA name<>+16(SB)/8, v; \
	DATA name<>+24(SB)/8, v; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

// EQMASK stores at dst the 64-bit mask of the bytes of Y0 (low half) and
// Y1 (high half) equal to the bytes of c. Clobbers Y8, Y10, AX, BX.
#define EQMASK(c, dst) \
	VPCMPEQB c, Y0, Y8; \
	VPMOVMSKB Y8, AX; \
	VPCMPEQB c, Y1, Y10; \
	VPMOVMSKB Y10, BX; \
	SHLQ $32, BX; \
	ORQ BX, AX; \
	MOVQ AX, dst

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

	STOP32(Y0, Y8, Y9, AX)
	STOP32(Y1, Y10, Y11, BX)
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 0(DI)
	NONTOK32(Y0, Y8, Y9, AX)
	NONTOK32(Y1, Y10, Y11, BX)
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, 8(DI)

	EQMASK(Y12, 16(DI)) // lf
	EQMASK(Y13, 24(DI)) // cr
	EQMASK(Y14, 32(DI)) // colon

	ADDQ $64, SI
	ADDQ $40, DI
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET

BCAST32(c0a, $0x0a0a0a0a0a0a0a0a)

BCAST32(c3a, $0x3a3a3a3a3a3a3a3a)

BCAST32(c0d, $0x0d0d0d0d0d0d0d0d)

BCAST32(c1f, $0x1f1f1f1f1f1f1f1f)

BCAST32(c09, $0x0909090909090909)

BCAST32(c7f, $0x7f7f7f7f7f7f7f7f)

BCAST32(c0f, $0x0f0f0f0f0f0f0f0f)

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
	EQMASK(Y2, 0(DI))
	VPBROADCASTB 1(DX), Y2
	EQMASK(Y2, 8(DI))
	VPBROADCASTB 2(DX), Y2
	EQMASK(Y2, 16(DI))
	VPBROADCASTB 3(DX), Y2
	EQMASK(Y2, 24(DI))

	VZEROUPPER
	RET
