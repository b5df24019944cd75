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

//  NaN if any x is, as torch.amax. The max loop (one maxps a vector)
//  drops NaN; a sum beside it keeps one, and only when the sum is NaN (a
//  NaN, or infinities of both signs) is the row searched for a NaN. A
//  NaN-keeping max in the loop would cost three instructions in the chain
//  of each partial instead of one add beside it.
float
zi_vec_max (const float *x, int64_t n)
{
    float partial [8], probe [8] = {0};
    for (int lane = 0; lane < 8; lane++)
        partial [lane] = -INFINITY;
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++) {
            partial [lane] = x [item + lane] > partial [lane]? x [item + lane]: partial [lane];
            probe [lane] += x [item + lane];
        }
    float best = -INFINITY, sum = 0;
    for (int lane = 0; lane < 8; lane++) {
        best = partial [lane] > best? partial [lane]: best;
        sum += probe [lane];
    }
    for (; item < n; item++) {
        best = x [item] > best? x [item]: best;
        sum += x [item];
    }
    if (sum != sum)
        for (item = 0; item < n; item++)
            if (x [item] != x [item])
                return x [item];
    return best;
}

void
zi_vec_add (float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t item = 0; item < n; item++)
        y [item] += x [item];
}
