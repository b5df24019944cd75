/*  =========================================================================
    zi_act - activations applied by an op to its own output

    The fusion pass folds an activation node into the op that produces its
    input (Conv, Gemm, MatMul, Add). The math here is the same as the
    stand-alone activation kernels use, so a fused and an unfused graph
    agree to the last bit for every activation but the sigmoid family,
    whose results agree to float rounding.

    NaN in gives NaN out, as in PyTorch: every comparison below is false
    for NaN, so each is written to fall through to x (relu tests x < 0,
    not x > 0), never to a bound.

    zi_act_apply runs the AVX-512 or AVX2 + FMA forms of act_simd.h when
    the level in use (zi_isa_level) allows, the portable loops below
    otherwise. Relu, Clip and LeakyRelu give the same bits at every level;
    HardSigmoid and HardSwish differ by the rounding of a fused
    multiply-add; Sigmoid and Tanh are libm's expf and tanhf in the
    portable loops and act_simd.h's approximations (within 3 and 5 ulp)
    in the vector ones, where AVX2 and AVX-512 agree to the bit. One
    process runs one level, so its results do not depend on where an
    activation runs.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"

float
zi_act_one (const zi_act_t *act, float x)
{
    switch (act->kind) {
        case ZI_ACT_NONE:
            return x;
        case ZI_ACT_RELU:
            return x < 0? 0: x;
        case ZI_ACT_CLIP:
            return x < act->alpha? act->alpha: (x > act->beta? act->beta: x);
        case ZI_ACT_LEAKY_RELU:
            return x >= 0? x: x * act->alpha;
        case ZI_ACT_SIGMOID:
            return 1.0f / (1.0f + expf (-x));
        case ZI_ACT_HARD_SIGMOID: {
            float y = act->alpha * x + act->beta;
            return y < 0? 0: (y > 1? 1: y);
        }
        case ZI_ACT_HARD_SWISH: {
            float y = x * (1.0f / 6.0f) + 0.5f;
            return x * (y < 0? 0: (y > 1? 1: y));
        }
        case ZI_ACT_TANH:
            return tanhf (x);
    }
    return x;
}

#if defined (ZI_HAVE_AVX512)
//  expr of v over every sixteen floats, the last ones masked
#define S_EACH16(expr)                                                      \
    do {                                                                    \
        size_t item = 0;                                                    \
        for (; item + 16 <= n; item += 16) {                                \
            __m512 v = _mm512_loadu_ps (data + item);                       \
            _mm512_storeu_ps (data + item, (expr));                         \
        }                                                                   \
        if (item < n) {                                                     \
            __mmask16 mask = (__mmask16) ((1u << (n - item)) - 1);          \
            __m512 v = _mm512_maskz_loadu_ps (mask, data + item);           \
            _mm512_mask_storeu_ps (data + item, mask, (expr));              \
        }                                                                   \
    } while (0)

static ZI_AVX512 void
s_apply_avx512 (const zi_act_t *act, float *data, size_t n)
{
    __m512 alpha = _mm512_set1_ps (act->alpha), beta = _mm512_set1_ps (act->beta);
    switch (act->kind) {
        case ZI_ACT_NONE:
            return;
        case ZI_ACT_RELU:
            S_EACH16 (zi_act16_avx512 (v, ZI_ACT_RELU, alpha, beta));
            return;
        case ZI_ACT_CLIP:
            S_EACH16 (zi_act16_avx512 (v, ZI_ACT_CLIP, alpha, beta));
            return;
        case ZI_ACT_LEAKY_RELU:
            S_EACH16 (zi_act16_avx512 (v, ZI_ACT_LEAKY_RELU, alpha, beta));
            return;
        case ZI_ACT_HARD_SIGMOID:
            S_EACH16 (zi_act16_avx512 (v, ZI_ACT_HARD_SIGMOID, alpha, beta));
            return;
        case ZI_ACT_HARD_SWISH:
            S_EACH16 (zi_act16_avx512 (v, ZI_ACT_HARD_SWISH, alpha, beta));
            return;
        case ZI_ACT_SIGMOID:
            S_EACH16 (zi_sigmoid16_avx512 (v));
            return;
        case ZI_ACT_TANH:
            S_EACH16 (zi_tanh16_avx512 (v));
            return;
    }
}
#endif

#if defined (ZI_HAVE_AVX2)
//  expr of v over every eight floats, the last ones masked
#define S_EACH8(expr)                                                       \
    do {                                                                    \
        size_t item = 0;                                                    \
        for (; item + 8 <= n; item += 8) {                                  \
            __m256 v = _mm256_loadu_ps (data + item);                       \
            _mm256_storeu_ps (data + item, (expr));                         \
        }                                                                   \
        if (item < n) {                                                     \
            __m256i mask = zi_tail_mask_avx2 ((int64_t) (n - item));        \
            __m256 v = _mm256_maskload_ps (data + item, mask);              \
            _mm256_maskstore_ps (data + item, mask, (expr));                \
        }                                                                   \
    } while (0)

static ZI_AVX2 void
s_apply_avx2 (const zi_act_t *act, float *data, size_t n)
{
    __m256 alpha = _mm256_set1_ps (act->alpha), beta = _mm256_set1_ps (act->beta);
    switch (act->kind) {
        case ZI_ACT_NONE:
            return;
        case ZI_ACT_RELU:
            S_EACH8 (zi_act8_avx2 (v, ZI_ACT_RELU, alpha, beta));
            return;
        case ZI_ACT_CLIP:
            S_EACH8 (zi_act8_avx2 (v, ZI_ACT_CLIP, alpha, beta));
            return;
        case ZI_ACT_LEAKY_RELU:
            S_EACH8 (zi_act8_avx2 (v, ZI_ACT_LEAKY_RELU, alpha, beta));
            return;
        case ZI_ACT_HARD_SIGMOID:
            S_EACH8 (zi_act8_avx2 (v, ZI_ACT_HARD_SIGMOID, alpha, beta));
            return;
        case ZI_ACT_HARD_SWISH:
            S_EACH8 (zi_act8_avx2 (v, ZI_ACT_HARD_SWISH, alpha, beta));
            return;
        case ZI_ACT_SIGMOID:
            S_EACH8 (zi_sigmoid8_avx2 (v));
            return;
        case ZI_ACT_TANH:
            S_EACH8 (zi_tanh8_avx2 (v));
            return;
    }
}
#endif

void
zi_act_apply (const zi_act_t *act, float *data, size_t n)
{
    if (act->kind == ZI_ACT_NONE || n == 0)
        return;
#if defined (ZI_HAVE_AVX512)
    if (zi_use_avx512 ()) {
        s_apply_avx512 (act, data, n);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX2)
    if (zi_use_avx2 ()) {
        s_apply_avx2 (act, data, n);
        return;
    }
#endif
    //  The common cases get their own loops so the compiler vectorises them
    switch (act->kind) {
        case ZI_ACT_NONE:
            return;
        case ZI_ACT_RELU:
            //  A compare and a mask a vector, as x > 0? x: 0 took
            for (size_t item = 0; item < n; item++)
                data [item] = data [item] < 0? 0: data [item];
            return;
        case ZI_ACT_CLIP: {
            float low = act->alpha, high = act->beta;
            for (size_t item = 0; item < n; item++) {
                float x = data [item];
                data [item] = x < low? low: (x > high? high: x);
            }
            return;
        }
        case ZI_ACT_HARD_SWISH:
            for (size_t item = 0; item < n; item++) {
                float x = data [item];
                float y = x * (1.0f / 6.0f) + 0.5f;
                data [item] = x * (y < 0? 0: (y > 1? 1: y));
            }
            return;
        case ZI_ACT_LEAKY_RELU: {
            float alpha = act->alpha;
            for (size_t item = 0; item < n; item++) {
                float x = data [item];
                data [item] = x >= 0? x: x * alpha;
            }
            return;
        }
        case ZI_ACT_HARD_SIGMOID: {
            float alpha = act->alpha, beta = act->beta;
            for (size_t item = 0; item < n; item++) {
                float y = alpha * data [item] + beta;
                data [item] = y < 0? 0: (y > 1? 1: y);
            }
            return;
        }
        default:
            for (size_t item = 0; item < n; item++)
                data [item] = zi_act_one (act, data [item]);
    }
}
