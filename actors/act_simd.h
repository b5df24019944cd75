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
//  Is OpenBLAS on its Zen core (AMD Zen 1-3, and later ones it takes for
//  those)? Its sgemm there trails the AVX2 tile on deep products
bool
    zi_isa_blas_zen (void);

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

#if defined (ZI_HAVE_AVX512)
//  A mask of the first n lanes (0 <= n <= 16): masked loads read nothing,
//  and so cannot fault, past the end of a row
static ZI_AVX512_INLINE __mmask16
zi_tail_mask_avx512 (int64_t n)
{
    return (__mmask16) ((1u << n) - 1);
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

//  exp (x) for x <= 0 (softmax after subtracting the row maximum), in
//  plain float arithmetic the compiler vectorises, where libm's expf is a
//  call per element. x = n ln2 + r with |r| <= ln2 / 2; exp (r) by its
//  Taylor series to r^7 (truncation below 1e-8 relative), times 2^n built
//  in the exponent bits. Within 2 ulp of exp over all of [-87, 0].
static inline float
zi_exp_nonpositive (float x)
{
    //  Clamp at -87 (and -inf, from masked inputs) so 2^n stays a normal
    //  float. As unsigned bits, negative floats sort by magnitude above
    //  every positive one, and an integer min compiles without a branch,
    //  where a float compare would block vectorisation.
    union {
        float value;
        uint32_t bits;
    } clamp = {.value = x};
    clamp.bits = clamp.bits < 0xC2AE0000u? clamp.bits: 0xC2AE0000u;     //  -87.0f
    x = clamp.value;
    //  Adding then subtracting 1.5 * 2^23 rounds to the nearest integer
    float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145752f;         //  ln2, high bits: n * this is exact
    r = r - n * 1.42860677e-6f;             //  ln2, remaining bits
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        int32_t bits;
        float value;
    } scale = {.bits = ((int32_t) n + 127) << 23};
    return p * scale.value;
}

#if defined (ZI_HAVE_AVX2)
//  exp (x) on eight floats by zi_exp_nonpositive's method: x = n ln2 + r with
//  |r| <= ln2 / 2, exp (r) by its Taylor series to r^7, times 2^n built in
//  the exponent bits; x clamped to [-87, 88] so that 2^n stays a normal
//  float. Within 2 ulp of exp there, 0 below and infinity above (so that
//  the sigmoid of -inf is 0, as libm's); NaN stays NaN (the clamps keep
//  their second operand, x, when it is NaN). The AVX-512 twin below runs
//  the same operations in the same order, so the two agree to the bit.
static ZI_AVX2_INLINE __m256
zi_exp8_avx2 (__m256 x)
{
    __m256 above = _mm256_cmp_ps (x, _mm256_set1_ps (88.0f), _CMP_GT_OQ);
    __m256 below = _mm256_cmp_ps (x, _mm256_set1_ps (-87.0f), _CMP_LT_OQ);
    x = _mm256_max_ps (_mm256_set1_ps (-87.0f), x);
    x = _mm256_min_ps (_mm256_set1_ps (88.0f), x);
    __m256 n = _mm256_round_ps (_mm256_mul_ps (x, _mm256_set1_ps (1.44269504f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps (n, _mm256_set1_ps (0.693145752f), x);
    r = _mm256_fnmadd_ps (n, _mm256_set1_ps (1.42860677e-6f), r);
    __m256 p = _mm256_set1_ps (1.0f / 5040);
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 720));
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 120));
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 24));
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 6));
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (0.5f));
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
    p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
    __m256i scale = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
                                                         _mm256_set1_epi32 (127)), 23);
    __m256 y = _mm256_mul_ps (p, _mm256_castsi256_ps (scale));
    y = _mm256_blendv_ps (y, _mm256_set1_ps (INFINITY), above);
    return _mm256_andnot_ps (below, y);
}

//  1 / (1 + exp (-x)): within 3 ulp of the sigmoid (exp's 2 and the
//  division's rounding) where it is a normal float, 0 below -88 and 1
//  above 87 (as libm's), NaN for NaN
static ZI_AVX2_INLINE __m256
zi_sigmoid8_avx2 (__m256 x)
{
    __m256 minus = _mm256_xor_ps (x, _mm256_set1_ps (-0.0f));
    return _mm256_div_ps (_mm256_set1_ps (1.0f),
                          _mm256_add_ps (_mm256_set1_ps (1.0f), zi_exp8_avx2 (minus)));
}

//  tanh: below |x| = 0.5 its Taylor series to x^15 (truncation under
//  1e-8 relative), so that small x keep their relative precision; above,
//  1 - 2 / (exp (2 |x|) + 1), where no digits cancel. Sign copied from
//  x (tanh (-0) is -0); within 5 ulp of tanh, NaN for NaN.
static ZI_AVX2_INLINE __m256
zi_tanh8_avx2 (__m256 x)
{
    __m256 sign = _mm256_set1_ps (-0.0f), one = _mm256_set1_ps (1.0f);
    __m256 ax = _mm256_andnot_ps (sign, x);
    __m256 s = _mm256_mul_ps (ax, ax);
    __m256 p = _mm256_set1_ps (-929569.0f / 638512875.0f);
    p = _mm256_fmadd_ps (p, s, _mm256_set1_ps (21844.0f / 6081075));
    p = _mm256_fmadd_ps (p, s, _mm256_set1_ps (-1382.0f / 155925));
    p = _mm256_fmadd_ps (p, s, _mm256_set1_ps (62.0f / 2835));
    p = _mm256_fmadd_ps (p, s, _mm256_set1_ps (-17.0f / 315));
    p = _mm256_fmadd_ps (p, s, _mm256_set1_ps (2.0f / 15));
    p = _mm256_fmadd_ps (p, s, _mm256_set1_ps (-1.0f / 3));
    __m256 small = _mm256_fmadd_ps (_mm256_mul_ps (p, s), ax, ax);
    __m256 e = zi_exp8_avx2 (_mm256_add_ps (ax, ax));
    __m256 large = _mm256_sub_ps (one, _mm256_div_ps (_mm256_set1_ps (2.0f),
                                                      _mm256_add_ps (e, one)));
    __m256 y = _mm256_blendv_ps (large, small,
                                 _mm256_cmp_ps (ax, _mm256_set1_ps (0.5f), _CMP_LT_OQ));
    return _mm256_or_ps (y, _mm256_and_ps (x, sign));
}
#endif

#if defined (ZI_HAVE_AVX512)
//  zi_exp8_avx2 on sixteen floats, the same bits
static ZI_AVX512_INLINE __m512
zi_exp16_avx512 (__m512 x)
{
    __mmask16 above = _mm512_cmp_ps_mask (x, _mm512_set1_ps (88.0f), _CMP_GT_OQ);
    __mmask16 below = _mm512_cmp_ps_mask (x, _mm512_set1_ps (-87.0f), _CMP_LT_OQ);
    x = _mm512_max_ps (_mm512_set1_ps (-87.0f), x);
    x = _mm512_min_ps (_mm512_set1_ps (88.0f), x);
    __m512 n = _mm512_roundscale_ps (_mm512_mul_ps (x, _mm512_set1_ps (1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps (n, _mm512_set1_ps (0.693145752f), x);
    r = _mm512_fnmadd_ps (n, _mm512_set1_ps (1.42860677e-6f), r);
    __m512 p = _mm512_set1_ps (1.0f / 5040);
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 720));
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 120));
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 24));
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 6));
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (0.5f));
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
    p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
    __m512i scale = _mm512_slli_epi32 (_mm512_add_epi32 (_mm512_cvtps_epi32 (n),
                                                         _mm512_set1_epi32 (127)), 23);
    __m512 y = _mm512_mul_ps (p, _mm512_castsi512_ps (scale));
    y = _mm512_mask_blend_ps (above, y, _mm512_set1_ps (INFINITY));
    return _mm512_maskz_mov_ps ((__mmask16) ~below, y);
}

static ZI_AVX512_INLINE __m512
zi_sigmoid16_avx512 (__m512 x)
{
    __m512 minus = _mm512_xor_ps (x, _mm512_set1_ps (-0.0f));
    return _mm512_div_ps (_mm512_set1_ps (1.0f),
                          _mm512_add_ps (_mm512_set1_ps (1.0f), zi_exp16_avx512 (minus)));
}

static ZI_AVX512_INLINE __m512
zi_tanh16_avx512 (__m512 x)
{
    __m512 sign = _mm512_set1_ps (-0.0f), one = _mm512_set1_ps (1.0f);
    __m512 ax = _mm512_andnot_ps (sign, x);
    __m512 s = _mm512_mul_ps (ax, ax);
    __m512 p = _mm512_set1_ps (-929569.0f / 638512875.0f);
    p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (21844.0f / 6081075));
    p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (-1382.0f / 155925));
    p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (62.0f / 2835));
    p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (-17.0f / 315));
    p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (2.0f / 15));
    p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (-1.0f / 3));
    __m512 small = _mm512_fmadd_ps (_mm512_mul_ps (p, s), ax, ax);
    __m512 e = zi_exp16_avx512 (_mm512_add_ps (ax, ax));
    __m512 large = _mm512_sub_ps (one, _mm512_div_ps (_mm512_set1_ps (2.0f),
                                                      _mm512_add_ps (e, one)));
    __m512 y = _mm512_mask_blend_ps (_mm512_cmp_ps_mask (ax, _mm512_set1_ps (0.5f), _CMP_LT_OQ),
                                     large, small);
    return _mm512_or_ps (y, _mm512_and_ps (x, sign));
}
#endif

//  The activation over n floats: zi_act_apply, whose vector forms are
//  chosen by the level in use
void
    zi_act_simd (const zi_act_t *act, float *y, int64_t n);
//  The same over rows floats apart
void
    zi_act_rows (const zi_act_t *act, float *y, int64_t rows, int64_t cols, int64_t ld);

#endif
