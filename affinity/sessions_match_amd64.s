//go:build !race

#include "textflag.h"

// func bucketWordAVX512(bk *sessionBucket, tag uint64) uint64
TEXT ·bucketWordAVX512(SB), NOSPLIT, $0-24
	MOVQ         bk+0(FP), AX
	MOVQ         tag+8(FP), BX
	SHRQ         $32, BX
	VPBROADCASTQ BX, Z1
	VMOVDQU64    (AX), Z0
	VPSRLQ       $32, Z0, Z2
	VPCMPEQQ     Z1, Z2, K1
	VPCOMPRESSQ.Z Z0, K1, Z3
	VMOVQ        X3, AX
	VZEROUPPER
	MOVQ         AX, ret+16(FP)
	RET

// func bucketWordAVX2(bk *sessionBucket, tag uint64) uint64
TEXT ·bucketWordAVX2(SB), NOSPLIT, $0-24
	MOVQ         bk+0(FP), AX
	MOVQ         tag+8(FP), BX
	SHRQ         $32, BX
	MOVQ         BX, X1
	VPBROADCASTQ X1, Y1
	VMOVDQU      (AX), Y2
	VMOVDQU      32(AX), Y3
	VPSRLQ       $32, Y2, Y4
	VPSRLQ       $32, Y3, Y5
	VPCMPEQQ     Y1, Y4, Y4
	VPCMPEQQ     Y1, Y5, Y5
	VMOVMSKPD    Y4, CX
	VMOVMSKPD    Y5, DX
	VZEROUPPER
	SHLQ         $4, DX
	ORQ          DX, CX
	TZCNTQ       CX, DX
	ANDQ         $7, DX
	MOVQ         (AX)(DX*8), BX
	XORL         SI, SI
	TESTQ        CX, CX
	CMOVQEQ      SI, BX
	MOVQ         BX, ret+16(FP)
	RET
