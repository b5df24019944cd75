/*  =========================================================================
    act_simd.h - AVX2 + FMA kernels chosen at run time

    Kernels that have an AVX2 + FMA version are compiled for those
    instructions whatever the build's target (the attributes below) and
    used only when the CPU has them; each has a portable twin that gives
    the same results up to float rounding. The self tests set
    zi_simd_portable_only to run the twins on a machine with AVX2 too.
    =========================================================================
*/

#ifndef ACT_SIMD_H_INCLUDED
#define ACT_SIMD_H_INCLUDED

#include <stdbool.h>

#if defined (__GNUC__) && (defined (__x86_64__) || defined (__i386__))
#   define ZI_HAVE_AVX2 1
#   include <immintrin.h>
#   define ZI_AVX2 __attribute__ ((target ("avx2,fma")))
#   define ZI_AVX2_INLINE __attribute__ ((target ("avx2,fma"), always_inline)) inline
#endif

//  Set by self tests: the portable kernels even where AVX2 is there
extern bool zi_simd_portable_only;

//  Does the CPU have AVX2 and FMA? (A test of flags libgcc read at start.)
static inline bool
zi_cpu_avx2 (void)
{
#if defined (ZI_HAVE_AVX2)
    return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
#else
    return false;
#endif
}

//  Use the AVX2 + FMA kernels?
static inline bool
zi_use_avx2 (void)
{
    return zi_cpu_avx2 () && !zi_simd_portable_only;
}

#endif
