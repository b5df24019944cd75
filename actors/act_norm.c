/*  =========================================================================
    act_norm - normalisations: BatchNormalization (inference), Softmax,
    LogSoftmax, Hardmax, InstanceNormalization, LayerNormalization

    BatchNormalization at inference is a per-channel affine map; prepare
    folds scale, bias, mean and variance into one multiplier and one
    offset per channel when they are constants (they are in every exported
    model), so run is a single multiply-add pass per plane.

    Softmax changed meaning in opset 13: before, the input is coerced to
    2-d at `axis` (default 1) and each row of the flattened trailing dims
    is normalised; from 13 it normalises along the one axis `axis`
    (default -1). Both become "outer x length x inner" here, for Hardmax
    too. Rows are made numerically safe by subtracting their maximum
    before exp. Softmax and LogSoftmax have AVX2 and AVX-512 forms, chosen
    by the level in use (act_isa.c), with the vector exp of act_simd.h.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include <float.h>

//  --------------------------------------------------------------------------
//  Vectorisable reductions: eight independent partials let the compiler
//  use SIMD without reassociating float math on its own

//  Sum of squared distances from mean
static float
s_sum_squares (const float *x, int64_t n, float mean)
{
    float partial [8] = {0};
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++) {
            float diff = x [item + lane] - mean;
            partial [lane] += diff * diff;
        }
    float sum = 0;
    for (int lane = 0; lane < 8; lane++)
        sum += partial [lane];
    for (; item < n; item++)
        sum += (x [item] - mean) * (x [item] - mean);
    return sum;
}

//  True when an optional output beyond the first is wired to a value
static bool
s_uses_extra_outputs (const zi_node_t *node, int from)
{
    for (int slot = from; slot < node->n_outputs; slot++)
        if (node->outputs [slot] >= 0)
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  BatchNormalization

typedef struct {
    float epsilon;              //  added to the variance
    int64_t channels;           //  channels the folded tables hold, 0: none
    float *multiplier;          //  scale / sqrt (var + epsilon), per channel
    float *offset;              //  B - mean * multiplier, per channel
} s_batch_norm_t;

static int
s_batch_norm_init (zi_node_t *node)
{
    const zi_attr_t *spatial = zi_node_attr (node, "spatial");
    if (spatial && zi_node_attr_int (node, "spatial", 1) != 1)
        return zi_error ("attribute 'spatial' = %lld is not supported (supported: 1, "
                         "one mean and variance per channel)",
                         (long long) zi_node_attr_int (node, "spatial", 1));
    int64_t training_mode = zi_node_attr_int (node, "training_mode", 0);
    if (training_mode != 0)
        return zi_error ("attribute 'training_mode' = %lld is not supported (inference only: 0)",
                         (long long) training_mode);
    if (s_uses_extra_outputs (node, 1))
        return zi_error ("outputs beyond Y (running or saved mean and variance) are training "
                         "outputs and are not supported");
    s_batch_norm_t *params = calloc (1, sizeof (s_batch_norm_t));
    if (!params)
        return zi_error ("out of memory");
    params->epsilon = zi_node_attr_float (node, "epsilon", 1e-5f);
    node->params = params;
    return 0;
}

static void
s_batch_norm_destroy (zi_node_t *node)
{
    s_batch_norm_t *params = node->params;
    free (params->multiplier);
    free (params->offset);
    free (params);
}

static int
s_batch_norm_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    static const char *names [] = {"X", "scale", "B", "mean", "var"};
    const zi_tensor_t *x = in [0];
    char shape [128];
    if (x->ndim < 2)
        return zi_error ("input 0 (X): expected [N, C, ...], got %s",
                         zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    for (int slot = 0; slot < 5; slot++) {
        if (!in [slot])
            return zi_error ("input %d (%s) is required", slot, names [slot]);
        if (slot > 0 && (in [slot]->ndim != 1 || in [slot]->dims [0] != x->dims [1]))
            return zi_error ("input %d (%s): expected [%lld] (one per channel), got %s",
                             slot, names [slot], (long long) x->dims [1],
                             zi_shape_str (in [slot]->ndim, in [slot]->dims, shape, sizeof shape));
    }
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, x->dims);
    return 0;
}

static void
s_batch_norm_fold (float epsilon, const zi_tensor_t *const *in, int64_t channels,
                   float *multiplier, float *offset)
{
    const float *scale = zi_tensor_f32 (in [1]);
    const float *bias = zi_tensor_f32 (in [2]);
    const float *mean = zi_tensor_f32 (in [3]);
    const float *var = zi_tensor_f32 (in [4]);
    for (int64_t channel = 0; channel < channels; channel++) {
        multiplier [channel] = scale [channel] / sqrtf (var [channel] + epsilon);
        offset [channel] = bias [channel] - mean [channel] * multiplier [channel];
    }
}

static int
s_batch_norm_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_batch_norm_t *params = node->params;
    free (params->multiplier);
    free (params->offset);
    params->multiplier = params->offset = NULL;
    params->channels = 0;
    for (int slot = 1; slot < 5; slot++)
        if (!in [slot]->data)
            return 0;           //  not constant: run folds them each time
    int64_t channels = in [0]->dims [1];
    params->multiplier = malloc ((channels + 1) * sizeof (float));
    params->offset = malloc ((channels + 1) * sizeof (float));
    if (!params->multiplier || !params->offset)
        return zi_error ("out of memory");
    s_batch_norm_fold (params->epsilon, in, channels, params->multiplier, params->offset);
    params->channels = channels;
    return 0;
}

static int
s_batch_norm_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                  zi_tensor_t *const *out)
{
    const s_batch_norm_t *params = node->params;
    const zi_tensor_t *x = in [0];
    int64_t batch = x->dims [0];
    int64_t channels = x->dims [1];
    int64_t size = zi_shape_count (x->ndim - 2, x->dims + 2);
    const float *multiplier = params->multiplier;
    const float *offset = params->offset;
    if (params->channels != channels || !multiplier) {
        float *tables = zi_exec_scratch (exec, 0, 2 * (channels + 1) * sizeof (float));
        if (!tables)
            return -1;
        s_batch_norm_fold (params->epsilon, in, channels, tables, tables + channels);
        multiplier = tables;
        offset = tables + channels;
    }
    const float *x_data = zi_tensor_f32 (x);
    float *y_data = zi_tensor_f32 (out [0]);
    for (int64_t image = 0; image < batch; image++)
        for (int64_t channel = 0; channel < channels; channel++) {
            const float *source = x_data + (image * channels + channel) * size;
            float *target = y_data + (image * channels + channel) * size;
            float m = multiplier [channel], a = offset [channel];
            for (int64_t item = 0; item < size; item++)
                target [item] = source [item] * m + a;
            zi_act_apply (&node->act, target, size);
        }
    return 0;
}

const zi_op_t zi_op_BatchNormalization = {
    .name = "BatchNormalization", .min_inputs = 5, .max_inputs = 5, .max_outputs = 5,
    .batch = ZI_BATCH_BATCHNORM,
    .fusable = true, .init = s_batch_norm_init, .infer = s_batch_norm_infer,
    .prepare = s_batch_norm_prepare, .run = s_batch_norm_run, .destroy = s_batch_norm_destroy,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

//  --------------------------------------------------------------------------
//  Softmax and LogSoftmax

typedef struct {
    int64_t axis;               //  as given; normalised against the rank later
    bool flatten;               //  opset < 13: coerce to 2-d at axis
    bool logarithm;             //  LogSoftmax
} s_softmax_t;

static int
s_softmax_init_as (zi_node_t *node, bool logarithm)
{
    s_softmax_t *params = calloc (1, sizeof (s_softmax_t));
    if (!params)
        return zi_error ("out of memory");
    params->flatten = node->opset < 13;
    params->axis = zi_node_attr_int (node, "axis", params->flatten? 1: -1);
    params->logarithm = logarithm;
    node->params = params;
    return 0;
}

static int
s_softmax_init (zi_node_t *node)
{
    return s_softmax_init_as (node, false);
}

static int
s_log_softmax_init (zi_node_t *node)
{
    return s_softmax_init_as (node, true);
}

//  Splits the input into outer x length x inner; -1 if axis is out of range
static int
s_softmax_layout (const s_softmax_t *params, const zi_tensor_t *x,
                  int64_t *outer, int64_t *length, int64_t *inner)
{
    int rank = x->ndim;
    int64_t axis = params->axis < 0? params->axis + rank: params->axis;
    if (rank == 0 || axis < 0 || axis >= rank)
        return zi_error ("attribute 'axis' = %lld is out of range for a %d-d input "
                         "(expected %d..%d)", (long long) params->axis, rank, -rank, rank - 1);
    *outer = zi_shape_count ((int) axis, x->dims);
    if (params->flatten) {
        *length = zi_shape_count (rank - (int) axis, x->dims + axis);
        *inner = 1;
    }
    else {
        *length = x->dims [axis];
        *inner = zi_shape_count (rank - (int) axis - 1, x->dims + axis + 1);
    }
    return 0;
}

static int
s_softmax_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    int64_t outer = 0, length = 0, inner = 0;
    if (s_softmax_layout (node->params, x, &outer, &length, &inner))
        return -1;
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, x->dims);
    return 0;
}

//  One contiguous row
static void
s_softmax_row (const float *x, float *y, int64_t length, bool logarithm)
{
    //  A row with a NaN or +inf, or with nothing but -inf, is NaN
    //  throughout, as in torch.softmax; checked once a row, since
    //  zi_exp_nonpositive takes only numbers <= 0 and -inf
    float peak = zi_vec_max (x, length);
    if (!isfinite (peak)) {
        for (int64_t item = 0; item < length; item++)
            y [item] = NAN;
        return;
    }
    if (logarithm) {
        for (int64_t item = 0; item < length; item++)
            y [item] = x [item] - peak;
        float partial [8] = {0};
        int64_t item = 0;
        for (; item + 8 <= length; item += 8)
            for (int lane = 0; lane < 8; lane++)
                partial [lane] += zi_exp_nonpositive (y [item + lane]);
        float sum = 0;
        for (int lane = 0; lane < 8; lane++)
            sum += partial [lane];
        for (; item < length; item++)
            sum += zi_exp_nonpositive (y [item]);
        float log_sum = logf (sum);
        for (int64_t item = 0; item < length; item++)
            y [item] -= log_sum;
    }
    else {
        for (int64_t item = 0; item < length; item++)
            y [item] = zi_exp_nonpositive (x [item] - peak);
        float scale = 1.0f / zi_vec_sum (y, length);
        for (int64_t item = 0; item < length; item++)
            y [item] *= scale;
    }
}

//  One block of length x inner, normalised along length: the inner
//  positions are the vector lanes, so every pass is a straight row sweep.
//  peak has inner floats, sum the larger of inner and length.
static void
s_softmax_block (const float *x, float *y, int64_t length, int64_t inner, bool logarithm,
                 float *peak, float *sum)
{
    for (int64_t lane = 0; lane < inner; lane++) {
        peak [lane] = x [lane];
        sum [lane] = 0;
    }
    for (int64_t step = 1; step < length; step++) {
        const float *row = x + step * inner;
        for (int64_t lane = 0; lane < inner; lane++)
            peak [lane] = zi_max_nan (row [lane], peak [lane]);
    }
    //  Rare: a lane with a NaN or +inf, or nothing but -inf (peak not
    //  finite) is NaN throughout, as in s_softmax_row; its neighbours go
    //  one by one, through the row form
    bool finite = true;
    for (int64_t lane = 0; lane < inner; lane++)
        finite = finite && isfinite (peak [lane]);
    if (!finite) {
        for (int64_t lane = 0; lane < inner; lane++) {
            for (int64_t step = 0; step < length; step++)
                sum [step] = x [step * inner + lane];
            s_softmax_row (sum, sum, length, logarithm);
            for (int64_t step = 0; step < length; step++)
                y [step * inner + lane] = sum [step];
        }
        return;
    }
    for (int64_t step = 0; step < length; step++) {
        const float *row = x + step * inner;
        float *target = y + step * inner;
        for (int64_t lane = 0; lane < inner; lane++) {
            float value = zi_exp_nonpositive (row [lane] - peak [lane]);
            sum [lane] += value;
            target [lane] = logarithm? row [lane] - peak [lane]: value;
        }
    }
    if (logarithm) {
        for (int64_t lane = 0; lane < inner; lane++)
            sum [lane] = logf (sum [lane]);
        for (int64_t step = 0; step < length; step++) {
            float *target = y + step * inner;
            for (int64_t lane = 0; lane < inner; lane++)
                target [lane] -= sum [lane];
        }
    }
    else {
        for (int64_t lane = 0; lane < inner; lane++)
            sum [lane] = 1.0f / sum [lane];
        for (int64_t step = 0; step < length; step++) {
            float *target = y + step * inner;
            for (int64_t lane = 0; lane < inner; lane++)
                target [lane] *= sum [lane];
        }
    }
}

//  The same two at AVX2 and AVX-512: max, exp, sum and scale a vector at a
//  time, exp by zi_exp8_avx2 and zi_exp16_avx512 (act_simd.h: within 2 ulp
//  of exp on [-87, 0], 0 below). The sums run in vector lanes, so the last
//  bits differ from the portable forms' eight partials; outputs agree with
//  a double-precision softmax to about 1e-6 relative (see the self test).
//  A row or block that is not finite is left to the portable form, which
//  makes it NaN as torch.softmax does.

#if defined (ZI_HAVE_AVX512)
static ZI_AVX512 bool
s_softmax_row_avx512 (const float *x, float *y, int64_t length, bool logarithm)
{
    __m512 peaks = _mm512_set1_ps (-INFINITY);
    __mmask16 unordered = 0;
    int64_t item = 0;
    for (; item + 16 <= length; item += 16) {
        __m512 v = _mm512_loadu_ps (x + item);
        peaks = _mm512_max_ps (v, peaks);
        unordered |= _mm512_cmp_ps_mask (v, v, _CMP_UNORD_Q);
    }
    __mmask16 tail = zi_tail_mask_avx512 (length - item);
    __m512 last = _mm512_maskz_loadu_ps (tail, x + item);
    peaks = _mm512_mask_max_ps (peaks, tail, last, peaks);
    unordered |= _mm512_mask_cmp_ps_mask (tail, last, last, _CMP_UNORD_Q);
    float peak = _mm512_reduce_max_ps (peaks);
    if (unordered || !isfinite (peak))
        return false;
    __m512 shift = _mm512_set1_ps (peak), sums = _mm512_setzero_ps ();
    for (item = 0; item + 16 <= length; item += 16) {
        __m512 value = zi_exp16_avx512 (_mm512_sub_ps (_mm512_loadu_ps (x + item), shift));
        sums = _mm512_add_ps (sums, value);
        if (!logarithm)
            _mm512_storeu_ps (y + item, value);
    }
    __m512 value = zi_exp16_avx512 (_mm512_sub_ps (_mm512_maskz_loadu_ps (tail, x + item),
                                                   shift));
    sums = _mm512_mask_add_ps (sums, tail, sums, value);
    if (!logarithm)
        _mm512_mask_storeu_ps (y + item, tail, value);
    float sum = _mm512_reduce_add_ps (sums);
    if (logarithm) {
        __m512 log_sum = _mm512_set1_ps (logf (sum));
        for (item = 0; item < length; item += 16) {
            __mmask16 mask = zi_tail_mask_avx512 (length - item < 16? length - item: 16);
            __m512 shifted = _mm512_sub_ps (_mm512_maskz_loadu_ps (mask, x + item), shift);
            _mm512_mask_storeu_ps (y + item, mask, _mm512_sub_ps (shifted, log_sum));
        }
    }
    else {
        __m512 scale = _mm512_set1_ps (1.0f / sum);
        for (item = 0; item < length; item += 16) {
            __mmask16 mask = zi_tail_mask_avx512 (length - item < 16? length - item: 16);
            _mm512_mask_storeu_ps (y + item, mask,
                                   _mm512_mul_ps (_mm512_maskz_loadu_ps (mask, y + item), scale));
        }
    }
    return true;
}

//  Lanes are inner positions, as in s_softmax_block; peak and sum have
//  inner floats
static ZI_AVX512 bool
s_softmax_block_avx512 (const float *x, float *y, int64_t length, int64_t inner,
                        bool logarithm, float *peak, float *sum)
{
    __mmask16 unordered = 0;
    for (int64_t lane = 0; lane < inner; lane += 16) {
        __mmask16 mask = zi_tail_mask_avx512 (inner - lane < 16? inner - lane: 16);
        __m512 v = _mm512_maskz_loadu_ps (mask, x + lane);
        unordered |= _mm512_mask_cmp_ps_mask (mask, v, v, _CMP_UNORD_Q);
        _mm512_mask_storeu_ps (peak + lane, mask, v);
        _mm512_mask_storeu_ps (sum + lane, mask, _mm512_setzero_ps ());
    }
    for (int64_t step = 1; step < length; step++)
        for (int64_t lane = 0; lane < inner; lane += 16) {
            __mmask16 mask = zi_tail_mask_avx512 (inner - lane < 16? inner - lane: 16);
            __m512 v = _mm512_maskz_loadu_ps (mask, x + step * inner + lane);
            unordered |= _mm512_mask_cmp_ps_mask (mask, v, v, _CMP_UNORD_Q);
            _mm512_mask_storeu_ps (peak + lane, mask,
                                   _mm512_max_ps (v, _mm512_maskz_loadu_ps (mask, peak + lane)));
        }
    bool finite = !unordered;
    for (int64_t lane = 0; lane < inner; lane++)
        finite = finite && isfinite (peak [lane]);
    if (!finite)
        return false;
    for (int64_t step = 0; step < length; step++)
        for (int64_t lane = 0; lane < inner; lane += 16) {
            __mmask16 mask = zi_tail_mask_avx512 (inner - lane < 16? inner - lane: 16);
            int64_t at = step * inner + lane;
            __m512 shifted = _mm512_sub_ps (_mm512_maskz_loadu_ps (mask, x + at),
                                            _mm512_maskz_loadu_ps (mask, peak + lane));
            __m512 value = zi_exp16_avx512 (shifted);
            _mm512_mask_storeu_ps (sum + lane, mask,
                                   _mm512_add_ps (_mm512_maskz_loadu_ps (mask, sum + lane), value));
            _mm512_mask_storeu_ps (y + at, mask, logarithm? shifted: value);
        }
    for (int64_t lane = 0; lane < inner; lane++)
        sum [lane] = logarithm? logf (sum [lane]): 1.0f / sum [lane];
    for (int64_t step = 0; step < length; step++)
        for (int64_t lane = 0; lane < inner; lane += 16) {
            __mmask16 mask = zi_tail_mask_avx512 (inner - lane < 16? inner - lane: 16);
            int64_t at = step * inner + lane;
            __m512 target = _mm512_maskz_loadu_ps (mask, y + at);
            __m512 by = _mm512_maskz_loadu_ps (mask, sum + lane);
            _mm512_mask_storeu_ps (y + at, mask, logarithm? _mm512_sub_ps (target, by)
                                                          : _mm512_mul_ps (target, by));
        }
    return true;
}
#endif

#if defined (ZI_HAVE_AVX2)
static ZI_AVX2_INLINE float
s_hmax8_avx2 (__m256 v)
{
    __m128 half = _mm_max_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
    half = _mm_max_ps (half, _mm_movehl_ps (half, half));
    half = _mm_max_ss (half, _mm_movehdup_ps (half));
    return _mm_cvtss_f32 (half);
}

static ZI_AVX2_INLINE float
s_hsum8_avx2 (__m256 v)
{
    __m128 half = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
    half = _mm_add_ps (half, _mm_movehl_ps (half, half));
    half = _mm_add_ss (half, _mm_movehdup_ps (half));
    return _mm_cvtss_f32 (half);
}

//  The last n floats of a row (0 <= n <= 8), -inf in the lanes past it
static ZI_AVX2_INLINE __m256
s_tail_or_minus_inf_avx2 (const float *x, int64_t n)
{
    __m256i mask = zi_tail_mask_avx2 (n);
    return _mm256_blendv_ps (_mm256_set1_ps (-INFINITY), _mm256_maskload_ps (x, mask),
                             _mm256_castsi256_ps (mask));
}

static ZI_AVX2 bool
s_softmax_row_avx2 (const float *x, float *y, int64_t length, bool logarithm)
{
    __m256 peaks = _mm256_set1_ps (-INFINITY), unordered = _mm256_setzero_ps ();
    int64_t item = 0;
    for (; item + 8 <= length; item += 8) {
        __m256 v = _mm256_loadu_ps (x + item);
        peaks = _mm256_max_ps (v, peaks);
        unordered = _mm256_or_ps (unordered, _mm256_cmp_ps (v, v, _CMP_UNORD_Q));
    }
    int64_t rest = length - item;
    __m256i tail = zi_tail_mask_avx2 (rest);
    __m256 last = s_tail_or_minus_inf_avx2 (x + item, rest);
    peaks = _mm256_max_ps (last, peaks);
    unordered = _mm256_or_ps (unordered, _mm256_cmp_ps (last, last, _CMP_UNORD_Q));
    float peak = s_hmax8_avx2 (peaks);
    if (_mm256_movemask_ps (unordered) || !isfinite (peak))
        return false;
    __m256 shift = _mm256_set1_ps (peak), sums = _mm256_setzero_ps ();
    for (item = 0; item + 8 <= length; item += 8) {
        __m256 value = zi_exp8_avx2 (_mm256_sub_ps (_mm256_loadu_ps (x + item), shift));
        sums = _mm256_add_ps (sums, value);
        if (!logarithm)
            _mm256_storeu_ps (y + item, value);
    }
    //  exp (-inf - peak) is 0: the lanes past the row add nothing
    __m256 value = zi_exp8_avx2 (_mm256_sub_ps (last, shift));
    sums = _mm256_add_ps (sums, value);
    if (!logarithm)
        _mm256_maskstore_ps (y + item, tail, value);
    float sum = s_hsum8_avx2 (sums);
    if (logarithm) {
        __m256 log_sum = _mm256_set1_ps (logf (sum));
        for (item = 0; item < length; item += 8) {
            __m256i mask = zi_tail_mask_avx2 (length - item < 8? length - item: 8);
            __m256 shifted = _mm256_sub_ps (_mm256_maskload_ps (x + item, mask), shift);
            _mm256_maskstore_ps (y + item, mask, _mm256_sub_ps (shifted, log_sum));
        }
    }
    else {
        __m256 scale = _mm256_set1_ps (1.0f / sum);
        for (item = 0; item < length; item += 8) {
            __m256i mask = zi_tail_mask_avx2 (length - item < 8? length - item: 8);
            _mm256_maskstore_ps (y + item, mask,
                                 _mm256_mul_ps (_mm256_maskload_ps (y + item, mask), scale));
        }
    }
    return true;
}

static ZI_AVX2 bool
s_softmax_block_avx2 (const float *x, float *y, int64_t length, int64_t inner,
                      bool logarithm, float *peak, float *sum)
{
    __m256 unordered = _mm256_setzero_ps ();
    for (int64_t lane = 0; lane < inner; lane += 8) {
        __m256i mask = zi_tail_mask_avx2 (inner - lane < 8? inner - lane: 8);
        __m256 v = _mm256_maskload_ps (x + lane, mask);
        unordered = _mm256_or_ps (unordered, _mm256_cmp_ps (v, v, _CMP_UNORD_Q));
        _mm256_maskstore_ps (peak + lane, mask, v);
        _mm256_maskstore_ps (sum + lane, mask, _mm256_setzero_ps ());
    }
    for (int64_t step = 1; step < length; step++)
        for (int64_t lane = 0; lane < inner; lane += 8) {
            __m256i mask = zi_tail_mask_avx2 (inner - lane < 8? inner - lane: 8);
            __m256 v = _mm256_maskload_ps (x + step * inner + lane, mask);
            unordered = _mm256_or_ps (unordered, _mm256_cmp_ps (v, v, _CMP_UNORD_Q));
            _mm256_maskstore_ps (peak + lane, mask,
                                 _mm256_max_ps (v, _mm256_maskload_ps (peak + lane, mask)));
        }
    bool finite = !_mm256_movemask_ps (unordered);
    for (int64_t lane = 0; lane < inner; lane++)
        finite = finite && isfinite (peak [lane]);
    if (!finite)
        return false;
    for (int64_t step = 0; step < length; step++)
        for (int64_t lane = 0; lane < inner; lane += 8) {
            __m256i mask = zi_tail_mask_avx2 (inner - lane < 8? inner - lane: 8);
            int64_t at = step * inner + lane;
            __m256 shifted = _mm256_sub_ps (_mm256_maskload_ps (x + at, mask),
                                            _mm256_maskload_ps (peak + lane, mask));
            __m256 value = zi_exp8_avx2 (shifted);
            _mm256_maskstore_ps (sum + lane, mask,
                                 _mm256_add_ps (_mm256_maskload_ps (sum + lane, mask), value));
            _mm256_maskstore_ps (y + at, mask, logarithm? shifted: value);
        }
    for (int64_t lane = 0; lane < inner; lane++)
        sum [lane] = logarithm? logf (sum [lane]): 1.0f / sum [lane];
    for (int64_t step = 0; step < length; step++)
        for (int64_t lane = 0; lane < inner; lane += 8) {
            __m256i mask = zi_tail_mask_avx2 (inner - lane < 8? inner - lane: 8);
            int64_t at = step * inner + lane;
            __m256 target = _mm256_maskload_ps (y + at, mask);
            __m256 by = _mm256_maskload_ps (sum + lane, mask);
            _mm256_maskstore_ps (y + at, mask, logarithm? _mm256_sub_ps (target, by)
                                                        : _mm256_mul_ps (target, by));
        }
    return true;
}
#endif

//  A row at the level in use
static void
s_softmax_row_any (zi_isa_t level, const float *x, float *y, int64_t length, bool logarithm)
{
#if defined (ZI_HAVE_AVX512)
    if (level >= ZI_ISA_AVX512 && s_softmax_row_avx512 (x, y, length, logarithm))
        return;
#endif
#if defined (ZI_HAVE_AVX2)
    if (level == ZI_ISA_AVX2 && s_softmax_row_avx2 (x, y, length, logarithm))
        return;
#endif
    s_softmax_row (x, y, length, logarithm);
}

//  A block at the level in use
static void
s_softmax_block_any (zi_isa_t level, const float *x, float *y, int64_t length, int64_t inner,
                     bool logarithm, float *peak, float *sum)
{
#if defined (ZI_HAVE_AVX512)
    if (level >= ZI_ISA_AVX512
    &&  s_softmax_block_avx512 (x, y, length, inner, logarithm, peak, sum))
        return;
#endif
#if defined (ZI_HAVE_AVX2)
    if (level == ZI_ISA_AVX2 && s_softmax_block_avx2 (x, y, length, inner, logarithm, peak, sum))
        return;
#endif
    s_softmax_block (x, y, length, inner, logarithm, peak, sum);
}

static int
s_softmax_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
               zi_tensor_t *const *out)
{
    const s_softmax_t *params = node->params;
    int64_t outer = 0, length = 0, inner = 0;
    if (s_softmax_layout (params, in [0], &outer, &length, &inner))
        return -1;
    const float *x = zi_tensor_f32 (in [0]);
    float *y = zi_tensor_f32 (out [0]);
    zi_isa_t level = zi_isa_level ();
    if (length == 0)
        return 0;
    if (inner == 1) {
        for (int64_t row = 0; row < outer; row++)
            s_softmax_row_any (level, x + row * length, y + row * length, length,
                               params->logarithm);
        return 0;
    }
    float *peak = zi_exec_scratch (exec, 0, inner * sizeof (float));
    //  sum also holds one strided lane, for a lane that is not finite
    float *sum = zi_exec_scratch (exec, 1, (inner > length? inner: length) * sizeof (float));
    if (!peak || !sum)
        return -1;
    for (int64_t block = 0; block < outer; block++)
        s_softmax_block_any (level, x + block * length * inner, y + block * length * inner,
                             length, inner, params->logarithm, peak, sum);
    return 0;
}

const zi_op_t zi_op_Softmax = {
    .name = "Softmax", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_SOFTMAX,
    .init = s_softmax_init, .infer = s_softmax_infer, .run = s_softmax_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

const zi_op_t zi_op_LogSoftmax = {
    .name = "LogSoftmax", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_SOFTMAX,
    .init = s_log_softmax_init, .infer = s_softmax_infer, .run = s_softmax_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

//  Hardmax: 1 at the first largest element of each line Softmax would
//  normalise (a NaN counts as largest, as in ArgMax), 0 elsewhere
static int
s_hardmax_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
               zi_tensor_t *const *out)
{
    int64_t outer = 0, length = 0, inner = 0;
    if (s_softmax_layout (node->params, in [0], &outer, &length, &inner))
        return -1;
    const float *x = zi_tensor_f32 (in [0]);
    float *y = zi_tensor_f32 (out [0]);
    memset (y, 0, zi_tensor_count (out [0]) * sizeof (float));
    for (int64_t block = 0; block < outer; block++)
        for (int64_t lane = 0; lane < inner && length > 0; lane++) {
            const float *line = x + block * length * inner + lane;
            int64_t pick = 0;
            for (int64_t step = 1; step < length && line [pick * inner] == line [pick * inner];
                 step++) {
                float value = line [step * inner];
                if (value > line [pick * inner] || value != value)
                    pick = step;
            }
            y [(block * length + pick) * inner + lane] = 1;
        }
    return 0;
}

const zi_op_t zi_op_Hardmax = {
    .name = "Hardmax", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_SOFTMAX,
    .init = s_softmax_init, .infer = s_softmax_infer, .run = s_hardmax_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

//  --------------------------------------------------------------------------
//  InstanceNormalization: each (n, c) plane normalised by its own mean and
//  variance, then scaled and shifted per channel

typedef struct {
    float epsilon;              //  added to the variance
} s_instance_norm_t;

static int
s_instance_norm_init (zi_node_t *node)
{
    s_instance_norm_t *params = calloc (1, sizeof (s_instance_norm_t));
    if (!params)
        return zi_error ("out of memory");
    params->epsilon = zi_node_attr_float (node, "epsilon", 1e-5f);
    node->params = params;
    return 0;
}

static int
s_instance_norm_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    static const char *names [] = {"input", "scale", "B"};
    const zi_tensor_t *x = in [0];
    char shape [128];
    if (x->ndim < 3)
        return zi_error ("input 0 (input): expected [N, C, spatial...], got %s",
                         zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    for (int slot = 0; slot < 3; slot++) {
        if (!in [slot])
            return zi_error ("input %d (%s) is required", slot, names [slot]);
        if (slot > 0 && (in [slot]->ndim != 1 || in [slot]->dims [0] != x->dims [1]))
            return zi_error ("input %d (%s): expected [%lld] (one per channel), got %s",
                             slot, names [slot], (long long) x->dims [1],
                             zi_shape_str (in [slot]->ndim, in [slot]->dims, shape, sizeof shape));
    }
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, x->dims);
    return 0;
}

static int
s_instance_norm_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                     zi_tensor_t *const *out)
{
    const s_instance_norm_t *params = node->params;
    const zi_tensor_t *x = in [0];
    int64_t channels = x->dims [1];
    int64_t planes = x->dims [0] * channels;
    int64_t size = zi_shape_count (x->ndim - 2, x->dims + 2);
    const float *scale = zi_tensor_f32 (in [1]);
    const float *bias = zi_tensor_f32 (in [2]);
    const float *x_data = zi_tensor_f32 (x);
    float *y_data = zi_tensor_f32 (out [0]);
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *source = x_data + plane * size;
        float *target = y_data + plane * size;
        int64_t channel = plane % channels;
        float mean = size? zi_vec_sum (source, size) / (float) size: 0;
        float var = size? s_sum_squares (source, size, mean) / (float) size: 0;
        float m = scale [channel] / sqrtf (var + params->epsilon);
        float a = bias [channel] - mean * m;
        for (int64_t item = 0; item < size; item++)
            target [item] = source [item] * m + a;
        zi_act_apply (&node->act, target, size);
    }
    return 0;
}

const zi_op_t zi_op_InstanceNormalization = {
    .name = "InstanceNormalization", .min_inputs = 3, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .fusable = true, .init = s_instance_norm_init, .infer = s_instance_norm_infer,
    .run = s_instance_norm_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

//  --------------------------------------------------------------------------
//  LayerNormalization (opset 17): each row of the trailing dims from
//  `axis` on is normalised, then scaled and shifted element-wise

typedef struct {
    int64_t axis;               //  first normalised axis, as given
    float epsilon;              //  added to the variance
} s_layer_norm_t;

static int
s_layer_norm_init (zi_node_t *node)
{
    int64_t stash_type = zi_node_attr_int (node, "stash_type", 1);
    if (stash_type != 1)
        return zi_error ("attribute 'stash_type' = %lld is not supported (supported: 1, float)",
                         (long long) stash_type);
    s_layer_norm_t *params = calloc (1, sizeof (s_layer_norm_t));
    if (!params)
        return zi_error ("out of memory");
    params->axis = zi_node_attr_int (node, "axis", -1);
    params->epsilon = zi_node_attr_float (node, "epsilon", 1e-5f);
    node->params = params;
    return 0;
}

static int
s_layer_norm_axis (const s_layer_norm_t *params, const zi_tensor_t *x)
{
    int64_t axis = params->axis < 0? params->axis + x->ndim: params->axis;
    if (axis < 0 || axis > x->ndim)
        return zi_error ("attribute 'axis' = %lld is out of range for a %d-d input "
                         "(expected %d..%d)", (long long) params->axis, x->ndim,
                         -x->ndim, x->ndim);
    return (int) axis;
}

static int
s_layer_norm_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    static const char *names [] = {"X", "Scale", "B"};
    const zi_tensor_t *x = in [0];
    char shape [128], want [128];
    int axis = s_layer_norm_axis (node->params, x);
    if (axis < 0)
        return -1;
    int64_t size = zi_shape_count (x->ndim - axis, x->dims + axis);
    for (int slot = 0; slot < 3 && slot < node->n_inputs; slot++) {
        const zi_tensor_t *tensor = in [slot];
        if (!tensor) {
            if (slot == 2)
                continue;
            return zi_error ("input %d (%s) is required", slot, names [slot]);
        }
        //  Scale and B hold one value per normalised element; leading 1s
        //  (broadcasting) are harmless
        if (slot == 0)
            continue;
        bool fits = zi_shape_count (tensor->ndim, tensor->dims) == size;
        for (int dim = 0; fits && dim < tensor->ndim; dim++) {
            int x_dim = x->ndim - tensor->ndim + dim;
            if (x_dim < axis? tensor->dims [dim] != 1: tensor->dims [dim] != x->dims [x_dim])
                fits = false;
        }
        if (!fits)
            return zi_error ("input %d (%s): expected the normalised shape %s, got %s",
                             slot, names [slot],
                             zi_shape_str (x->ndim - axis, x->dims + axis, want, sizeof want),
                             zi_shape_str (tensor->ndim, tensor->dims, shape, sizeof shape));
    }
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, x->dims);
    int64_t stat_dims [ZI_MAX_DIMS];
    for (int dim = 0; dim < x->ndim; dim++)
        stat_dims [dim] = dim < axis? x->dims [dim]: 1;
    for (int slot = 1; slot < 3 && slot < node->n_outputs; slot++)
        if (out [slot])
            zi_tensor_set_shape (out [slot], ZI_F32, x->ndim, stat_dims);
    return 0;
}

static int
s_layer_norm_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                  zi_tensor_t *const *out)
{
    const s_layer_norm_t *params = node->params;
    const zi_tensor_t *x = in [0];
    int axis = s_layer_norm_axis (params, x);
    if (axis < 0)
        return -1;
    int64_t size = zi_shape_count (x->ndim - axis, x->dims + axis);
    int64_t rows = zi_shape_count (axis, x->dims);
    const float *scale = zi_tensor_f32 (in [1]);
    const float *bias = node->n_inputs > 2 && in [2]? zi_tensor_f32 (in [2]): NULL;
    float *mean_out = node->n_outputs > 1 && out [1]? zi_tensor_f32 (out [1]): NULL;
    float *inv_out = node->n_outputs > 2 && out [2]? zi_tensor_f32 (out [2]): NULL;
    const float *x_data = zi_tensor_f32 (x);
    float *y_data = zi_tensor_f32 (out [0]);
    for (int64_t row = 0; row < rows; row++) {
        const float *source = x_data + row * size;
        float *target = y_data + row * size;
        float mean = size? zi_vec_sum (source, size) / (float) size: 0;
        float var = size? s_sum_squares (source, size, mean) / (float) size: 0;
        float inv_std = 1.0f / sqrtf (var + params->epsilon);
        if (bias)
            for (int64_t item = 0; item < size; item++)
                target [item] = (source [item] - mean) * inv_std * scale [item] + bias [item];
        else
            for (int64_t item = 0; item < size; item++)
                target [item] = (source [item] - mean) * inv_std * scale [item];
        zi_act_apply (&node->act, target, size);
        if (mean_out)
            mean_out [row] = mean;
        if (inv_out)
            inv_out [row] = inv_std;
    }
    return 0;
}

const zi_op_t zi_op_LayerNormalization = {
    .name = "LayerNormalization", .min_inputs = 2, .max_inputs = 3, .max_outputs = 3,
    .batch = ZI_BATCH_LAYERNORM,
    .fusable = true, .init = s_layer_norm_init, .infer = s_layer_norm_infer,
    .run = s_layer_norm_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

//  --------------------------------------------------------------------------
//  Self test: naive references in double precision

//  Runs a node that must fail and checks the message names the problem
static void
s_check_error (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
               int n_outputs, const char *needle)
{
    zi_tensor_t *outputs [5] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, n_outputs, outputs);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle) != NULL,
              "%s rejected with '%s': %s", node->op_type, needle, zi_error_text ());
    for (int slot = 0; slot < 5; slot++)
        zi_tensor_destroy (&outputs [slot]);
    zi_node_destroy (&node);
}

static void
s_test_batch_norm (zi_test_t *t)
{
    int64_t shapes [3][4] = {{2, 3, 4, 5}, {3, 5}, {1, 4, 37}};
    int ranks [3] = {4, 2, 3};
    for (int shape = 0; shape < 3; shape++) {
        for (int fused = 0; fused < 2; fused++) {
            int64_t channels = shapes [shape][1];
            zi_tensor_t *inputs [5];
            inputs [0] = zi_test_random (ranks [shape], shapes [shape], 10 + shape);
            for (int slot = 1; slot < 5; slot++)
                inputs [slot] = zi_test_random (1, &channels, 20 + slot);
            //  Variance must be positive
            float *var = zi_tensor_f32 (inputs [4]);
            for (int64_t channel = 0; channel < channels; channel++)
                var [channel] = fabsf (var [channel]) + 0.1f;
            zi_node_t *node = zi_node_new ("BatchNormalization", "test");
            float epsilon = shape == 1? 1e-3f: 1e-5f;
            if (shape == 1)
                zi_node_set_float (node, "epsilon", epsilon);
            if (shape == 2) {
                node->opset = 7;
                zi_node_set_int (node, "spatial", 1);
            }
            if (fused)
                node->act = (zi_act_t) {.kind = ZI_ACT_RELU};
            zi_tensor_t *y = NULL;
            int rc = zi_test_run_op (node, 5, inputs, 1, &y);
            ZI_CHECK (t, rc == 0, "BatchNormalization runs: %s", rc? zi_error_text (): "ok");
            if (rc == 0) {
                size_t count = zi_tensor_count (inputs [0]);
                int64_t size = count / (shapes [shape][0] * channels);
                float *want = malloc (count * sizeof (float));
                const float *x = zi_tensor_f32 (inputs [0]);
                const float *scale = zi_tensor_f32 (inputs [1]);
                const float *bias = zi_tensor_f32 (inputs [2]);
                const float *mean = zi_tensor_f32 (inputs [3]);
                for (size_t item = 0; item < count; item++) {
                    int64_t channel = (item / size) % channels;
                    double value = (x [item] - mean [channel])
                                 / sqrt ((double) var [channel] + epsilon)
                                 * scale [channel] + bias [channel];
                    want [item] = (float) (fused && value < 0? 0: value);
                }
                ZI_CHECK_CLOSE (t, fused? "BatchNormalization + Relu": "BatchNormalization",
                                zi_tensor_f32 (y), want, count, 1e-5f, 1e-5f);
                free (want);
            }
            zi_tensor_destroy (&y);
            //  Statistics as run-time inputs: folded in run, same result
            if (rc == 0 && !fused) {
                zi_tensor_t *first = NULL;
                zi_node_t *again = zi_node_new ("BatchNormalization", "test");
                zi_test_run_op (again, 5, inputs, 1, &first);
                s_batch_norm_t *params = again->params;
                params->channels = 0;   //  as if prepare saw no constants
                zi_tensor_t *second = zi_tensor_new (ZI_F32, ranks [shape], shapes [shape]);
                zi_exec_t *exec = zi_exec_new ();
                params->epsilon = 1e-5f;
                again->op->run (again, exec, (const zi_tensor_t *const *) inputs, &second);
                ZI_CHECK_CLOSE (t, "BatchNormalization folded in run", zi_tensor_f32 (second),
                                zi_tensor_f32 (first), zi_tensor_count (first), 0, 0);
                zi_exec_destroy (&exec);
                zi_tensor_destroy (&first);
                zi_tensor_destroy (&second);
                zi_node_destroy (&again);
            }
            for (int slot = 0; slot < 5; slot++)
                zi_tensor_destroy (&inputs [slot]);
            zi_node_destroy (&node);
        }
    }
    //  Errors
    int64_t dims [4] = {1, 3, 2, 2}, channels = 3, four = 4;
    zi_tensor_t *inputs [5];
    inputs [0] = zi_test_random (4, dims, 1);
    for (int slot = 1; slot < 5; slot++)
        inputs [slot] = zi_test_random (1, &channels, slot);
    zi_node_t *node = zi_node_new ("BatchNormalization", "test");
    node->opset = 7;
    zi_node_set_int (node, "spatial", 0);
    s_check_error (t, node, 5, inputs, 1, "spatial");
    node = zi_node_new ("BatchNormalization", "test");
    zi_node_set_int (node, "training_mode", 1);
    s_check_error (t, node, 5, inputs, 1, "training_mode");
    node = zi_node_new ("BatchNormalization", "test");
    s_check_error (t, node, 5, inputs, 3, "training outputs");
    zi_tensor_destroy (&inputs [3]);
    inputs [3] = zi_test_random (1, &four, 3);
    node = zi_node_new ("BatchNormalization", "test");
    s_check_error (t, node, 5, inputs, 1, "input 3 (mean): expected [3]");
    zi_tensor_destroy (&inputs [3]);
    inputs [3] = zi_test_ints (3, (int64_t []) {0, 1, 2});
    node = zi_node_new ("BatchNormalization", "test");
    s_check_error (t, node, 5, inputs, 1,
                   "BatchNormalization at node 'test': input 3 is int64, expected float32");
    for (int slot = 0; slot < 5; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

//  Reference softmax with the spec's layout, in double
static void
s_ref_softmax (const float *x, float *y, int64_t outer, int64_t length, int64_t inner,
               bool logarithm)
{
    for (int64_t block = 0; block < outer; block++)
        for (int64_t lane = 0; lane < inner; lane++) {
            const float *source = x + block * length * inner + lane;
            float *target = y + block * length * inner + lane;
            double peak = -INFINITY, sum = 0;
            for (int64_t step = 0; step < length; step++)
                peak = fmax (peak, source [step * inner]);
            for (int64_t step = 0; step < length; step++)
                sum += exp (source [step * inner] - peak);
            for (int64_t step = 0; step < length; step++) {
                double value = source [step * inner] - peak;
                target [step * inner] = (float) (logarithm? value - log (sum): exp (value) / sum);
            }
        }
}

//  Hardmax over the opset forms, with ties (the first wins) and a NaN
static void
s_test_hardmax (zi_test_t *t)
{
    int64_t dims [3] = {3, 4, 5};
    struct {
        int opset;
        bool set_axis;
        int64_t axis;
        int64_t outer, length, inner;   //  the spec's layout for dims
    } cases [] = {
        {11, false, 0, 3, 20, 1}, {11, true, 2, 12, 5, 1}, {11, true, 0, 1, 60, 1},
        {13, false, 0, 12, 5, 1}, {13, true, 1, 3, 4, 5}, {13, true, -3, 1, 3, 20},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        zi_node_t *node = zi_node_new ("Hardmax", "test");
        node->opset = cases [index].opset;
        if (cases [index].set_axis)
            zi_node_set_int (node, "axis", cases [index].axis);
        zi_tensor_t *x = zi_tensor_new (ZI_F32, 3, dims), *y = NULL;
        for (int item = 0; item < 60; item++)   //  few values: ties
            zi_tensor_f32 (x) [item] = (float) ((item * 7 + (int) index) % 5);
        zi_tensor_f32 (x) [17] = NAN;
        int rc = zi_test_run_op (node, 1, &x, 1, &y);
        int64_t wrong = rc == 0? -1: 0;
        int64_t outer = cases [index].outer, length = cases [index].length;
        int64_t inner = cases [index].inner;
        for (int64_t block = 0; rc == 0 && block < outer; block++)
            for (int64_t lane = 0; lane < inner; lane++) {
                int64_t base = block * length * inner + lane, pick = -1;
                for (int64_t step = 0; step < length && pick < 0; step++)
                    if (isnan (zi_tensor_f32 (x) [base + step * inner]))
                        pick = step;
                for (int64_t step = 0; step < length && pick < 0; step++) {
                    bool largest = true;
                    for (int64_t other = 0; other < length; other++)
                        largest &= zi_tensor_f32 (x) [base + other * inner]
                                <= zi_tensor_f32 (x) [base + step * inner];
                    if (largest)
                        pick = step;
                }
                for (int64_t step = 0; step < length; step++)
                    if (zi_tensor_f32 (y) [base + step * inner] != (step == pick) && wrong < 0)
                        wrong = base + step * inner;
            }
        ZI_CHECK (t, wrong < 0, "Hardmax opset %d axis %lld: first wrong at %lld",
                  cases [index].opset, (long long) cases [index].axis, (long long) wrong);
        zi_tensor_destroy (&x);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
}

//  Softmax and LogSoftmax at every level the CPU has, against the double
//  reference: rows of 1, 7, 16 (one AVX-512 vector), 1000 and 1001 (a
//  masked tail), and blocks along an inner axis whose width leaves tails
//  at 8 and 16 lanes. Softmax within 1e-5 relative (exp's 2 ulp and the
//  rounding of a sum over up to 1001 terms, with room), LogSoftmax within
//  1e-5 absolute (log of the sum, then one subtraction)
static void
s_test_softmax_levels (zi_test_t *t)
{
    struct {
        int64_t outer, length, inner;
    } cases [] = {
        {3, 1, 1}, {5, 7, 1}, {4, 16, 1}, {2, 1000, 1}, {3, 1001, 1},
        {2, 7, 19}, {1, 1, 33}, {2, 16, 40}, {1, 1001, 3}, {2, 5, 1000}
    };
    for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (int logarithm = 0; logarithm < 2; logarithm++)
            for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
                int64_t dims [3] = {cases [index].outer, cases [index].length,
                                    cases [index].inner};
                int64_t count = dims [0] * dims [1] * dims [2];
                zi_tensor_t *x = zi_test_random (3, dims, 90 + (uint32_t) index), *y = NULL;
                float *xs = zi_tensor_f32 (x);
                for (int64_t item = 0; item < count; item++)
                    xs [item] *= 12.0f;     //  exp over e^-24 .. 1
                zi_node_t *node = zi_node_new (logarithm? "LogSoftmax": "Softmax", "test");
                zi_node_set_int (node, "axis", 1);
                int rc = zi_test_run_op (node, 1, &x, 1, &y);
                char what [128];
                snprintf (what, sizeof what, "%s %s [%lld, %lld, %lld] along 1", node->op_type,
                          zi_isa_name ((zi_isa_t) level), (long long) dims [0],
                          (long long) dims [1], (long long) dims [2]);
                ZI_CHECK (t, rc == 0, "%s runs: %s", what, rc? zi_error_text (): "ok");
                if (rc == 0) {
                    float *want = malloc (count * sizeof (float));
                    assert (want);
                    s_ref_softmax (xs, want, dims [0], dims [1], dims [2], logarithm);
                    ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, (size_t) count,
                                    logarithm? 1e-5f: 1e-9f, logarithm? 1e-6f: 1e-5f);
                    free (want);
                }
                zi_tensor_destroy (&y);
                zi_tensor_destroy (&x);
                zi_node_destroy (&node);
            }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
}

static void
s_test_softmax (zi_test_t *t)
{
    int64_t dims [4] = {2, 3, 4, 5};
    struct {
        int opset;
        bool set_axis;
        int64_t axis;
        int64_t outer, length, inner;   //  the spec's layout for dims
    } cases [] = {
        {11, false, 0, 2, 60, 1},       //  default axis 1, flattened
        {11, true, 2, 6, 20, 1},
        {11, true, -1, 24, 5, 1},
        {11, true, 0, 1, 120, 1},
        {9, true, 3, 24, 5, 1},
        {13, false, 0, 24, 5, 1},       //  default axis -1
        {13, true, 1, 2, 3, 20},
        {13, true, -3, 2, 3, 20},
        {13, true, 0, 1, 2, 60},
        {13, true, 2, 6, 4, 5},
        {17, true, 3, 24, 5, 1},
    };
    for (int logarithm = 0; logarithm < 2; logarithm++)
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
            const char *op = logarithm? "LogSoftmax": "Softmax";
            zi_node_t *node = zi_node_new (op, "test");
            node->opset = cases [index].opset;
            if (cases [index].set_axis)
                zi_node_set_int (node, "axis", cases [index].axis);
            zi_tensor_t *x = zi_test_random (4, dims, 30 + index);
            //  Large values: only a max-subtracting kernel survives them
            float *xs = zi_tensor_f32 (x);
            for (int item = 0; item < 120; item++)
                xs [item] *= index % 2? 100.0f: 4.0f;
            zi_tensor_t *y = NULL;
            int rc = zi_test_run_op (node, 1, &x, 1, &y);
            char what [96];
            snprintf (what, sizeof what, "%s opset %d axis %lld%s", op, cases [index].opset,
                      (long long) cases [index].axis, cases [index].set_axis? "": " (default)");
            ZI_CHECK (t, rc == 0, "%s runs: %s", what, rc? zi_error_text (): "ok");
            if (rc == 0) {
                float want [120];
                s_ref_softmax (xs, want, cases [index].outer, cases [index].length,
                               cases [index].inner, logarithm);
                ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, 120, 1e-5f, 1e-5f);
            }
            zi_tensor_destroy (&y);
            zi_tensor_destroy (&x);
            zi_node_destroy (&node);
        }
    //  A long row (exercises the eight-lane reductions) and a 1-d input
    int64_t long_dims [2] = {3, 1000};
    zi_tensor_t *x = zi_test_random (2, long_dims, 7);
    zi_node_t *node = zi_node_new ("Softmax", "test");
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    if (rc == 0) {
        float *want = malloc (3000 * sizeof (float));
        s_ref_softmax (zi_tensor_f32 (x), want, 3, 1000, 1, false);
        ZI_CHECK_CLOSE (t, "Softmax 3 x 1000", zi_tensor_f32 (y), want, 3000, 1e-6f, 1e-4f);
        free (want);
    }
    else
        ZI_CHECK (t, false, "Softmax 3 x 1000 runs: %s", zi_error_text ());
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&x);
    zi_node_destroy (&node);

    //  Masked entries (-inf, as attention masks give) become exact zeros
    //  in the sum and negligible in the output
    int64_t masked_dims [2] = {2, 6};
    float masked [12] = {0.5f, -INFINITY, 2, -1, -INFINITY, 0,
                         -INFINITY, -INFINITY, 3, -INFINITY, -INFINITY, -INFINITY};
    x = zi_test_tensor (2, masked_dims, masked);
    node = zi_node_new ("Softmax", "test");
    rc = zi_test_run_op (node, 1, &x, 1, &y);
    if (rc == 0) {
        float want [12];
        s_ref_softmax (masked, want, 2, 6, 1, false);
        ZI_CHECK_CLOSE (t, "Softmax with -inf entries", zi_tensor_f32 (y), want, 12, 1e-6f, 1e-5f);
    }
    else
        ZI_CHECK (t, false, "Softmax with -inf entries runs: %s", zi_error_text ());
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&x);
    zi_node_destroy (&node);

    //  NaN and infinities as in torch.softmax: a row with a NaN, a +inf or
    //  nothing but -inf is NaN throughout; masked rows stay finite. Along
    //  the last axis (rows) and the first (blocks, rows as lanes), at
    //  every level
    for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (int logarithm = 0; logarithm < 2; logarithm++)
            for (int along_rows = 0; along_rows < 2; along_rows++) {
                enum {ROWS = 5, LENGTH = 11};
                float values [ROWS][LENGTH];
                for (int row = 0; row < ROWS; row++)
                    for (int item = 0; item < LENGTH; item++)
                        values [row][item] = (float) ((row * 7 + item * 3) % 5) - 2;
                values [0][9] = NAN;
                values [1][4] = INFINITY;
                for (int item = 0; item < LENGTH; item++)
                    values [2][item] = -INFINITY;
                values [3][1] = values [3][10] = -INFINITY;
                float laid [ROWS * LENGTH];
                for (int row = 0; row < ROWS; row++)
                    for (int item = 0; item < LENGTH; item++)
                        laid [along_rows? row * LENGTH + item: item * ROWS + row]
                            = values [row][item];
                int64_t shape [2] = {along_rows? ROWS: LENGTH, along_rows? LENGTH: ROWS};
                x = zi_test_tensor (2, shape, laid);
                node = zi_node_new (logarithm? "LogSoftmax": "Softmax", "test");
                zi_node_set_int (node, "axis", along_rows? 1: 0);
                rc = zi_test_run_op (node, 1, &x, 1, &y);
                bool right = rc == 0;
                for (int row = 0; right && row < ROWS; row++)
                    for (int item = 0; item < LENGTH; item++) {
                        float got = zi_tensor_f32 (y) [along_rows? row * LENGTH + item:
                                                                   item * ROWS + row];
                        if (row < 3? !isnan (got): isnan (got))
                            right = false;
                    }
                ZI_CHECK (t, right, "%s %s along %s: rows with NaN, +inf or only -inf are NaN, "
                          "the others not", node->op_type, zi_isa_name ((zi_isa_t) level),
                          along_rows? "rows": "columns");
                zi_tensor_destroy (&y);
                zi_tensor_destroy (&x);
                zi_node_destroy (&node);
            }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  Errors: axis out of range, both meanings
    x = zi_test_random (4, dims, 8);
    node = zi_node_new ("Softmax", "test");
    zi_node_set_int (node, "axis", 4);
    s_check_error (t, node, 1, &x, 1, "out of range for a 4-d input");
    node = zi_node_new ("LogSoftmax", "test");
    node->opset = 11;
    zi_node_set_int (node, "axis", -5);
    s_check_error (t, node, 1, &x, 1, "'axis' = -5");
    zi_tensor_destroy (&x);
}

static void
s_test_instance_norm (zi_test_t *t)
{
    int64_t dims [4] = {2, 3, 5, 7}, channels = 3;
    zi_tensor_t *inputs [3];
    inputs [0] = zi_test_random (4, dims, 40);
    inputs [1] = zi_test_random (1, &channels, 41);
    inputs [2] = zi_test_random (1, &channels, 42);
    zi_node_t *node = zi_node_new ("InstanceNormalization", "test");
    zi_node_set_float (node, "epsilon", 1e-3f);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 3, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "InstanceNormalization runs: %s", rc? zi_error_text (): "ok");
    if (rc == 0) {
        float want [210];
        const float *x = zi_tensor_f32 (inputs [0]);
        for (int plane = 0; plane < 6; plane++) {
            double mean = 0, var = 0;
            for (int item = 0; item < 35; item++)
                mean += x [plane * 35 + item] / 35.0;
            for (int item = 0; item < 35; item++)
                var += (x [plane * 35 + item] - mean) * (x [plane * 35 + item] - mean) / 35.0;
            for (int item = 0; item < 35; item++)
                want [plane * 35 + item] = (float) ((x [plane * 35 + item] - mean)
                    / sqrt (var + 1e-3) * zi_tensor_f32 (inputs [1]) [plane % 3]
                    + zi_tensor_f32 (inputs [2]) [plane % 3]);
        }
        ZI_CHECK_CLOSE (t, "InstanceNormalization", zi_tensor_f32 (y), want, 210, 1e-5f, 1e-5f);
    }
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

static void
s_test_layer_norm (zi_test_t *t)
{
    int64_t dims [3] = {2, 3, 8};
    struct {
        int64_t axis;
        bool set_axis;
        bool bias;
        int n_outputs;
    } cases [] = {
        {-1, false, true, 1}, {1, true, true, 3}, {-2, true, false, 2}, {2, true, true, 1}
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        int axis = (int) (cases [index].axis < 0? cases [index].axis + 3: cases [index].axis);
        int64_t rows = 1, size = 1;
        for (int dim = 0; dim < 3; dim++) {
            if (dim < axis)
                rows *= dims [dim];
            else
                size *= dims [dim];
        }
        zi_tensor_t *inputs [3] = {NULL, NULL, NULL};
        inputs [0] = zi_test_random (3, dims, 50 + index);
        inputs [1] = zi_test_random (3 - axis, dims + axis, 60 + index);
        if (cases [index].bias)
            inputs [2] = zi_test_random (3 - axis, dims + axis, 70 + index);
        zi_node_t *node = zi_node_new ("LayerNormalization", "test");
        if (cases [index].set_axis)
            zi_node_set_int (node, "axis", cases [index].axis);
        zi_tensor_t *outputs [3] = {NULL, NULL, NULL};
        int rc = zi_test_run_op (node, cases [index].bias? 3: 2, inputs,
                                 cases [index].n_outputs, outputs);
        ZI_CHECK (t, rc == 0, "LayerNormalization axis %d runs: %s", axis,
                  rc? zi_error_text (): "ok");
        if (rc == 0) {
            float want [48], want_mean [48], want_inv [48];
            const float *x = zi_tensor_f32 (inputs [0]);
            const float *scale = zi_tensor_f32 (inputs [1]);
            for (int64_t row = 0; row < rows; row++) {
                double mean = 0, var = 0;
                for (int64_t item = 0; item < size; item++)
                    mean += x [row * size + item] / (double) size;
                for (int64_t item = 0; item < size; item++)
                    var += (x [row * size + item] - mean) * (x [row * size + item] - mean)
                         / (double) size;
                want_mean [row] = (float) mean;
                want_inv [row] = (float) (1 / sqrt (var + 1e-5));
                for (int64_t item = 0; item < size; item++)
                    want [row * size + item] = (float) ((x [row * size + item] - mean)
                        / sqrt (var + 1e-5) * scale [item]
                        + (inputs [2]? zi_tensor_f32 (inputs [2]) [item]: 0));
            }
            ZI_CHECK_CLOSE (t, "LayerNormalization", zi_tensor_f32 (outputs [0]), want, 48,
                            1e-5f, 1e-5f);
            if (cases [index].n_outputs > 1) {
                ZI_CHECK (t, outputs [1]->ndim == 3 && outputs [1]->dims [2] == 1,
                          "LayerNormalization Mean keeps rank");
                ZI_CHECK_CLOSE (t, "LayerNormalization Mean", zi_tensor_f32 (outputs [1]),
                                want_mean, rows, 1e-5f, 1e-5f);
            }
            if (cases [index].n_outputs > 2)
                ZI_CHECK_CLOSE (t, "LayerNormalization InvStdDev", zi_tensor_f32 (outputs [2]),
                                want_inv, rows, 1e-5f, 1e-5f);
        }
        for (int slot = 0; slot < 3; slot++) {
            zi_tensor_destroy (&outputs [slot]);
            zi_tensor_destroy (&inputs [slot]);
        }
        zi_node_destroy (&node);
    }
    //  Scale of the wrong shape
    int64_t wrong = 3;
    zi_tensor_t *inputs [2] = {zi_test_random (3, dims, 1), zi_test_random (1, &wrong, 2)};
    s_check_error (t, zi_node_new ("LayerNormalization", "test"), 2, inputs, 1,
                   "expected the normalised shape [8]");
    zi_tensor_destroy (&inputs [0]);
    zi_tensor_destroy (&inputs [1]);
}

//  The vector forms of exp that softmax runs, n a multiple of their width
#if defined (ZI_HAVE_AVX2)
static ZI_AVX2 void
s_exp_avx2 (const float *x, float *y, int64_t n)
{
    for (int64_t item = 0; item < n; item += 8)
        _mm256_storeu_ps (y + item, zi_exp8_avx2 (_mm256_loadu_ps (x + item)));
}
#endif
#if defined (ZI_HAVE_AVX512)
static ZI_AVX512 void
s_exp_avx512 (const float *x, float *y, int64_t n)
{
    for (int64_t item = 0; item < n; item += 16)
        _mm512_storeu_ps (y + item, zi_exp16_avx512 (_mm512_loadu_ps (x + item)));
}
#endif

//  zi_exp8_avx2 and zi_exp16_avx512 against libm on every 61st float of
//  [-87, 0] (the range softmax gives them): within 2.5 ulp, as stated in
//  act_simd.h; 0 below -87 and at -inf
//  The float `steps` floats above a negative x, toward zero (0 past it):
//  the bits of a negative float count down in magnitude toward -0
static float
s_float_up (float x, uint32_t steps)
{
    uint32_t bits;
    memcpy (&bits, &x, sizeof bits);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (!(bits & 0x80000000u) || magnitude <= steps)
        return 0;
    bits -= steps;
    memcpy (&x, &bits, sizeof x);
    return x;
}

static void
s_test_exp_vector (zi_test_t *t)
{
    enum {BATCH = 4096};
    float x [BATCH], y [BATCH];
    for (int level = ZI_ISA_AVX2; level <= ZI_ISA_AVX512; level++) {
        if (zi_isa_cpu () < (zi_isa_t) level)
            continue;
        double worst = 0;
        float worst_at = 0, next = -87.0f;
        bool done = false, edges = true;
        while (!done) {
            int filled = 0;
            for (; filled < BATCH && !done; filled++) {
                x [filled] = next;
                done = next == 0;
                next = s_float_up (next, 61);
            }
            for (; filled < BATCH; filled++)
                x [filled] = 0;
            if (level == ZI_ISA_AVX2)
                s_exp_avx2 (x, y, BATCH);
            else
                s_exp_avx512 (x, y, BATCH);
            for (int item = 0; item < BATCH; item++) {
                double want = exp ((double) x [item]);
                double error = fabs ((double) y [item] - want) / want;
                if (error > worst) {
                    worst = error;
                    worst_at = x [item];
                }
            }
        }
        for (int item = 0; item < 16; item++)
            x [item] = item % 2? -INFINITY: -88.0f - 100.0f * (float) item;
        if (level == ZI_ISA_AVX2)
            s_exp_avx2 (x, y, 16);
        else
            s_exp_avx512 (x, y, 16);
        for (int item = 0; item < 16; item++)
            edges = edges && y [item] == 0;
        ZI_CHECK (t, worst < 2.5 * FLT_EPSILON / 2, "exp at %s within 2.5 ulp on [-87, 0]: "
                  "worst %.3g at %g", zi_isa_name ((zi_isa_t) level), worst, (double) worst_at);
        ZI_CHECK (t, edges, "exp at %s is 0 below -87 and at -inf", zi_isa_name ((zi_isa_t) level));
    }
}

//  zi_exp_nonpositive against libm over every 61st float in [-87, 0] (18
//  million, every binade; ZI_TEST_EXHAUSTIVE=1 takes all 1.1 billion, about
//  half a minute that every suite run would pay), then the vector forms
static void
s_test_exp (zi_test_t *t)
{
    double worst = 0;
    float worst_at = 0;
    const char *exhaustive = getenv ("ZI_TEST_EXHAUSTIVE");
    int stride = exhaustive && strcmp (exhaustive, "1") == 0? 1: 61;
    for (float x = -87.0f; x <= 0;) {
        double want = exp ((double) x);
        double error = fabs ((double) zi_exp_nonpositive (x) - want) / want;
        if (error > worst) {
            worst = error;
            worst_at = x;
        }
        if (x == 0)
            break;
        x = s_float_up (x, (uint32_t) stride);
    }
    ZI_CHECK (t, worst < 2.5 * FLT_EPSILON / 2, "zi_exp_nonpositive within 2.5 ulp on "
              "[-87, 0]: worst %.3g at %g", worst, (double) worst_at);
    ZI_CHECK (t, zi_exp_nonpositive (-INFINITY) < 1e-37f
              && zi_exp_nonpositive (-INFINITY) >= 0 && zi_exp_nonpositive (-1000) < 1e-37f
              && zi_exp_nonpositive (0) == 1 && zi_exp_nonpositive (-0.0f) == 1,
              "zi_exp_nonpositive at 0, -0, -1000, -inf");
    s_test_exp_vector (t);
}

void
zi_act_norm_test (zi_test_t *t)
{
    s_test_exp (t);
    s_test_batch_norm (t);
    s_test_softmax (t);
    s_test_softmax_levels (t);
    s_test_hardmax (t);
    s_test_instance_norm (t);
    s_test_layer_norm (t);
}
