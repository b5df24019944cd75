/*  =========================================================================
    act_simd.h - AVX2 + FMA and AVX-512 kernels chosen at run time

    Kernels that have an AVX2 + FMA (or AVX-512) version are compiled for
    those instructions whatever the build's target (the attributes below)
    and used only when zi_isa_level (act_isa.c) says so: the CPU has them
    and ZI_ISA does not cap them. Each has a portable twin that gives the
    same results up to float rounding; the self tests cap the level to run
    the twins, and each SIMD form, on a machine that has more.
    =========================================================================
*/

#ifndef ACT_SIMD_H_INCLUDED
#define ACT_SIMD_H_INCLUDED

#include "zi_classes.h"
#include <stdbool.h>
#include <string.h>

#if defined (__GNUC__) && (defined (__x86_64__) || defined (__i386__))
#   define ZI_HAVE_AVX2 1
#   include <immintrin.h>
#   define ZI_AVX2 __attribute__ ((target ("avx2,fma")))
#   define ZI_AVX2_INLINE __attribute__ ((target ("avx2,fma"), always_inline)) inline
//  AVX-512 kernels may call the AVX2 ones: the target is a superset
#   define ZI_HAVE_AVX512 1
#   define ZI_AVX512_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"
#   define ZI_AVX512 __attribute__ ((target (ZI_AVX512_TARGET)))
#   define ZI_AVX512_INLINE __attribute__ ((target (ZI_AVX512_TARGET), always_inline)) inline
#endif

//  The instruction set of OpenBLAS's kernels, judged by the core it chose
//  (act_isa.c), and whether that is below the level in use: then
//  zinfer's own kernels run the products that OpenBLAS would
zi_isa_t
    zi_isa_blas (void);
bool
    zi_isa_blas_behind (void);

//  Does the CPU have AVX2 and FMA, whatever the cap? (For choices made
//  once at load, such as packing weights, that any level can use.)
static inline bool
zi_cpu_avx2 (void)
{
    return zi_isa_cpu () >= ZI_ISA_AVX2;
}

//  Use the AVX2 + FMA kernels?
static inline bool
zi_use_avx2 (void)
{
    return zi_isa_level () >= ZI_ISA_AVX2;
}

//  Use the AVX-512 kernels?
static inline bool
zi_use_avx512 (void)
{
    return zi_isa_level () >= ZI_ISA_AVX512;
}

#if defined (ZI_HAVE_AVX2)
//  The floats at even offsets of src [0, 16): src [0], src [2] ... src [14],
//  what a stride-2 kernel reads of sixteen consecutive floats
static ZI_AVX2_INLINE __m256
zi_even8_avx2 (const float *src)
{
    __m256 low = _mm256_loadu_ps (src);
    __m256 high = _mm256_loadu_ps (src + 8);
    //  even lanes of each 128-bit half, then the halves in order
    __m256 even = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
    return _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (even),
                                                    _MM_SHUFFLE (3, 1, 2, 0)));
}

//  Sixteen consecutive floats (low, high) split into their even and odd
//  ones, each in order
static ZI_AVX2_INLINE void
zi_split16_avx2 (__m256 low, __m256 high, __m256 *even, __m256 *odd)
{
    __m256 e = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (3, 1, 3, 1));
    *even = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (e),
                                                     _MM_SHUFFLE (3, 1, 2, 0)));
    *odd = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (o),
                                                    _MM_SHUFFLE (3, 1, 2, 0)));
}
#endif

#if defined (ZI_HAVE_AVX2)
//  A mask of the first n lanes (0 <= n <= 8) for masked loads and stores
static ZI_AVX2_INLINE __m256i
zi_tail_mask_avx2 (int64_t n)
{
    static const int32_t lanes [16] = {
        -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0
    };
    return _mm256_loadu_si256 ((const __m256i *) (lanes + 8 - n));
}
#endif

//  The larger (smaller) of tap and value, NaN if either is, as torch.max
//  and max_pool2d: the compare keeps value when either is NaN, and a NaN
//  tap then sets every bit, which is a NaN too. Compilers make a max, a
//  compare and an or of it, where tap > value || tap != tap takes six.
static inline float
zi_max_nan (float tap, float value)
{
    float larger = tap > value? tap: value;
    uint32_t bits, nan = tap != tap? 0xFFFFFFFFu: 0;
    memcpy (&bits, &larger, sizeof bits);
    bits |= nan;
    memcpy (&larger, &bits, sizeof bits);
    return larger;
}

static inline float
zi_min_nan (float tap, float value)
{
    float smaller = tap < value? tap: value;
    uint32_t bits, nan = tap != tap? 0xFFFFFFFFu: 0;
    memcpy (&bits, &smaller, sizeof bits);
    bits |= nan;
    memcpy (&smaller, &bits, sizeof bits);
    return smaller;
}

//  Is the activation one of the few that the SIMD kernels apply to a
//  register before storing it? The others are left to zi_act_apply.
static inline bool
zi_act_inline (const zi_act_t *act)
{
    return act->kind == ZI_ACT_NONE || act->kind == ZI_ACT_RELU || act->kind == ZI_ACT_CLIP
        || act->kind == ZI_ACT_LEAKY_RELU || act->kind == ZI_ACT_HARD_SIGMOID
        || act->kind == ZI_ACT_HARD_SWISH;
}

#if defined (ZI_HAVE_AVX2)
//  The activations zi_act_inline accepts, on a register. maxps and minps
//  return their second operand when either is NaN, so the register comes
//  second wherever it meets a constant: NaN stays NaN, as in zi_act_one
//  and PyTorch, at the cost of no extra instruction.
static ZI_AVX2_INLINE __m256
zi_act8_avx2 (__m256 v, zi_act_kind_t kind, __m256 alpha, __m256 beta)
{
    __m256 zero = _mm256_setzero_ps ();
    __m256 one = _mm256_set1_ps (1.0f);
    switch (kind) {
        case ZI_ACT_RELU:
            return _mm256_max_ps (zero, v);
        case ZI_ACT_CLIP:
            return _mm256_min_ps (beta, _mm256_max_ps (alpha, v));
        case ZI_ACT_LEAKY_RELU:
            return _mm256_blendv_ps (_mm256_mul_ps (v, alpha), v,
                                     _mm256_cmp_ps (v, zero, _CMP_GE_OQ));
        case ZI_ACT_HARD_SIGMOID:
            return _mm256_min_ps (one, _mm256_max_ps (zero, _mm256_fmadd_ps (v, alpha, beta)));
        case ZI_ACT_HARD_SWISH: {
            __m256 gate = _mm256_fmadd_ps (v, _mm256_set1_ps (1.0f / 6.0f),
                                           _mm256_set1_ps (0.5f));
            return _mm256_mul_ps (v, _mm256_min_ps (one, _mm256_max_ps (zero, gate)));
        }
        default:
            return v;
    }
}
#endif

#if defined (ZI_HAVE_AVX512)
//  zi_act8_avx2 on sixteen floats, NaN kept the same way
static ZI_AVX512_INLINE __m512
zi_act16_avx512 (__m512 v, zi_act_kind_t kind, __m512 alpha, __m512 beta)
{
    __m512 zero = _mm512_setzero_ps ();
    __m512 one = _mm512_set1_ps (1.0f);
    switch (kind) {
        case ZI_ACT_RELU:
            return _mm512_max_ps (zero, v);
        case ZI_ACT_CLIP:
            return _mm512_min_ps (beta, _mm512_max_ps (alpha, v));
        case ZI_ACT_LEAKY_RELU:
            return _mm512_mask_blend_ps (_mm512_cmp_ps_mask (v, zero, _CMP_GE_OQ),
                                         _mm512_mul_ps (v, alpha), v);
        case ZI_ACT_HARD_SIGMOID:
            return _mm512_min_ps (one, _mm512_max_ps (zero, _mm512_fmadd_ps (v, alpha, beta)));
        case ZI_ACT_HARD_SWISH: {
            __m512 gate = _mm512_fmadd_ps (v, _mm512_set1_ps (1.0f / 6.0f),
                                           _mm512_set1_ps (0.5f));
            return _mm512_mul_ps (v, _mm512_min_ps (one, _mm512_max_ps (zero, gate)));
        }
        default:
            return v;
    }
}
#endif

//  The activation over n floats: the vector forms of the common cases,
//  the rest (and machines without AVX2) left to zi_act_apply
void
    zi_act_simd (const zi_act_t *act, float *y, int64_t n);
//  The same over rows floats apart
void
    zi_act_rows (const zi_act_t *act, float *y, int64_t rows, int64_t cols, int64_t ld);

#endif
