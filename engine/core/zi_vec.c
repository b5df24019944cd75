/*  =========================================================================
    zi_vec - loops over a contiguous row of floats, shared by the kernels
    that need them (softmax, pooling, reductions, fused residuals)

    Eight independent partial results let the compiler use SIMD without
    reassociating float math on its own; the order of additions is fixed,
    so every kernel gets the same bits for the same row.
    =========================================================================
*/

#include "zi_classes.h"
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

void
zi_vec_add (float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t item = 0; item < n; item++)
        y [item] += x [item];
}
