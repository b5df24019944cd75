/*  =========================================================================
    zi_vec - loops over a contiguous row of floats, shared by the kernels
    that need them (softmax, pooling, reductions, fused residuals)

    Eight independent partial results let the compiler use SIMD without
    reassociating float math on its own; the order of additions is fixed,
    so every kernel gets the same bits for the same row.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#if defined (__SSE2__)
#   include <emmintrin.h>
#endif

float
zi_vec_sum (const float *x, int64_t n)
{
    float partial [8] = {0};
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++)
            partial [lane] += x [item + lane];
    float sum = 0;
    for (int lane = 0; lane < 8; lane++)
        sum += partial [lane];
    for (; item < n; item++)
        sum += x [item];
    return sum;
}

//  NaN if any x is, as torch.amax. Eight partial maxima, lane = item % 8,
//  each taking x > partial? x: partial, which keeps partial when either is
//  NaN; a NaN is noted beside them and wins at the end. With SSE2 (every
//  x86-64) that is maxps and one unordered compare per eight floats, the
//  same bits as the portable loop; compilers leave the portable loop's
//  max scalar, and it notes NaN by a sum (one add a float, NaN when a NaN
//  went in) and searches the row only when the sum is NaN.
float
zi_vec_max (const float *x, int64_t n)
{
    float partial [8], probe [8] = {0};
    int64_t item = 0;
    bool nan = false;
#if defined (__SSE2__)
    __m128 low = _mm_set1_ps (-INFINITY), high = low, unordered = _mm_setzero_ps ();
    for (; item + 8 <= n; item += 8) {
        __m128 first = _mm_loadu_ps (x + item), second = _mm_loadu_ps (x + item + 4);
        low = _mm_max_ps (first, low);
        high = _mm_max_ps (second, high);
        unordered = _mm_or_ps (unordered, _mm_cmpunord_ps (first, second));
    }
    _mm_storeu_ps (partial, low);
    _mm_storeu_ps (partial + 4, high);
    nan = _mm_movemask_ps (unordered) != 0;
#else
    for (int lane = 0; lane < 8; lane++)
        partial [lane] = -INFINITY;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++) {
            partial [lane] = x [item + lane] > partial [lane]? x [item + lane]: partial [lane];
            probe [lane] += x [item + lane];
        }
#endif
    float best = -INFINITY, sum = 0;
    for (int lane = 0; lane < 8; lane++) {
        best = partial [lane] > best? partial [lane]: best;
        sum += probe [lane];
    }
    for (; item < n; item++) {
        best = x [item] > best? x [item]: best;
        nan = nan || x [item] != x [item];
    }
    if (sum != sum)
        for (int64_t at = 0; at < n && !nan; at++)
            nan = x [at] != x [at];
    return nan? NAN: best;
}

//  y += x at the level in use, the last floats masked; every lane is
//  the one IEEE sum, so each level gives the same bits. (zi_vec_sum and
//  zi_vec_max keep to eight lanes whatever the level: their order of
//  operations is what makes every kernel's bits agree, and a wider vector
//  would change it.)
#if defined (ZI_HAVE_AVX512)
static ZI_AVX512 void
s_add_avx512 (float *restrict y, const float *restrict x, int64_t n)
{
    int64_t item = 0;
    for (; item + 16 <= n; item += 16)
        _mm512_storeu_ps (y + item, _mm512_add_ps (_mm512_loadu_ps (y + item),
                                                   _mm512_loadu_ps (x + item)));
    if (item < n) {
        __mmask16 mask = (__mmask16) ((1u << (n - item)) - 1);
        _mm512_mask_storeu_ps (y + item, mask,
                               _mm512_add_ps (_mm512_maskz_loadu_ps (mask, y + item),
                                              _mm512_maskz_loadu_ps (mask, x + item)));
    }
}
#endif

#if defined (ZI_HAVE_AVX2)
static ZI_AVX2 void
s_add_avx2 (float *restrict y, const float *restrict x, int64_t n)
{
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        _mm256_storeu_ps (y + item, _mm256_add_ps (_mm256_loadu_ps (y + item),
                                                   _mm256_loadu_ps (x + item)));
    if (item < n) {
        __m256i mask = zi_tail_mask_avx2 (n - item);
        _mm256_maskstore_ps (y + item, mask,
                             _mm256_add_ps (_mm256_maskload_ps (y + item, mask),
                                            _mm256_maskload_ps (x + item, mask)));
    }
}
#endif

void
zi_vec_add (float *restrict y, const float *restrict x, int64_t n)
{
#if defined (ZI_HAVE_AVX512)
    if (zi_use_avx512 ()) {
        s_add_avx512 (y, x, n);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX2)
    if (zi_use_avx2 ()) {
        s_add_avx2 (y, x, n);
        return;
    }
#endif
    for (int64_t item = 0; item < n; item++)
        y [item] += x [item];
}
