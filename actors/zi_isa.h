/*  =========================================================================
    zi_isa.h - instruction sets: the CPU's best and the one the kernels use

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_ISA_H_INCLUDED
#define ZI_ISA_H_INCLUDED

#include "zinfer.h"
#include "zi_test.h"

//  Instruction sets (actors/act_isa.c): the CPU's best, asked once, and the
//  one in use, capped by ZI_ISA=portable|avx2|avx512 or zi_isa_set_cap

typedef enum {
    ZI_ISA_DEFAULT = -1,        //  a cap: back to ZI_ISA's, or none
    ZI_ISA_PORTABLE,            //  plain C, vectorised for the build's target
    ZI_ISA_AVX2,                //  AVX2 + FMA
    ZI_ISA_AVX512               //  AVX-512 F, BW, VL and DQ
} zi_isa_t;

//  The best level the CPU (and OS) supports
zi_isa_t
    zi_isa_cpu (void);
//  The level the kernels use: the CPU's, capped
zi_isa_t
    zi_isa_level (void);
//  Caps the level (a cap above the CPU's changes nothing); ZI_ISA_DEFAULT
//  restores ZI_ISA's cap. For tests and benchmarks, between runs.
void
    zi_isa_set_cap (zi_isa_t cap);
//  The level named portable, avx2 or avx512; -1 for any other name
int
    zi_isa_parse (const char *name, zi_isa_t *isa);
const char *
    zi_isa_name (zi_isa_t isa);
//  0 if ZI_ISA is unset or names a level, else -1 and a one-line message
int
    zi_isa_check_env (char *message, size_t size);
//  Has the CPU AVX-512 VNNI (or AVX-VNNI), AVX-512 BF16? For int8 and
//  bf16 kernels to come; the level does not depend on them.
bool
    zi_isa_has_vnni (void);
//  AVX-512 VNNI itself (vpdpbusd on 512-bit registers), for the int8
//  kernels of act_quant.c, which use it at the avx512 level
bool
    zi_isa_has_avx512_vnni (void);
bool
    zi_isa_has_bf16 (void);
//  The CPU's model name from /proc/cpuinfo, or "unknown CPU"; returns model
const char *
    zi_isa_cpu_model (char *model, size_t size);
//  "avx512 (cpu: avx512, vnni, bf16; ZI_ISA unset)"; returns text
const char *
    zi_isa_describe (char *text, size_t size);

//  Caps the instruction set at level for a test's round: false, after a
//  printed line saying so, when the CPU lacks it and the round is to be
//  skipped. zi_isa_set_cap (ZI_ISA_DEFAULT) after the last round.
bool
    zi_test_isa (zi_test_t *t, zi_isa_t level);

#endif
