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
    =========================================================================
*/

#include "zi_classes.h"

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

void
zi_act_apply (const zi_act_t *act, float *data, size_t n)
{
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
