/*  =========================================================================
    zi_vec - loops over a contiguous row of floats, shared by the kernels
    that need them (softmax, pooling, reductions, fused residuals)

    Eight independent partial results let the compiler use SIMD without
    reassociating float math on its own; the order of additions is fixed,
    so every kernel gets the same bits for the same row.
    =========================================================================
*/

#include "zi_classes.h"

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

float
zi_vec_max (const float *x, int64_t n)
{
    float partial [8];
    for (int lane = 0; lane < 8; lane++)
        partial [lane] = -INFINITY;
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++)
            partial [lane] = x [item + lane] > partial [lane]? x [item + lane]: partial [lane];
    float best = -INFINITY;
    for (int lane = 0; lane < 8; lane++)
        best = partial [lane] > best? partial [lane]: best;
    for (; item < n; item++)
        best = x [item] > best? x [item]: best;
    return best;
}

void
zi_vec_add (float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t item = 0; item < n; item++)
        y [item] += x [item];
}
