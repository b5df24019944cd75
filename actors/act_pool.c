/*  =========================================================================
    act_pool - pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool

    Windowed pools work on [N, C, H, W] (2-d) or [N, C, L] (1-d, run as a
    2-d pool with H = 1). Max and sum windows are separable, so each output
    row is made by a column pass, which combines the kernel-height input
    rows its windows cover into one scratch row (unit stride throughout),
    then a row pass over that row (kernel width). In the row pass, border
    columns, whose windows may stick out into the padding, are
    bounds-checked tap by tap; interior columns, whose windows lie wholly
    inside the input, take one straight (possibly strided) pass per tap,
    with AVX2 where the stride is 2. With AVX-512 or AVX2 a 3x3 max window
    at stride 2 (most networks' pools) does both passes at once, the column
    maxima kept in registers and the padding loaded as -FLT_MAX, for every
    output row whose window has its three input rows. GlobalAveragePool
    sums each plane
    with AVX-512 where the level allows, else with zi_vec_sum.

    Output extents follow ONNX, with the ceil_mode rule PyTorch and ONNX
    Runtime apply: a window that would start in the right padding is
    dropped, so every window starts inside the input or its left padding.
    Average pools with count_include_pad count the window positions that
    lie within the padded extent [-pad_begin, in + pad_end); positions a
    ceil_mode window has beyond that are never counted.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include <float.h>

typedef enum {
    S_POOL_MAX,
    S_POOL_AVERAGE
} s_pool_kind_t;

typedef enum {
    S_AUTO_PAD_NOTSET,
    S_AUTO_PAD_SAME_UPPER,
    S_AUTO_PAD_SAME_LOWER,
    S_AUTO_PAD_VALID
} s_auto_pad_t;

typedef struct {
    s_pool_kind_t kind;         //  max or average
    int n_spatial;              //  spatial axes, 1 or 2 (from kernel_shape)
    int64_t kernel [2];         //  kernel extent per spatial axis
    int64_t strides [2];        //  stride per spatial axis
    int64_t dilations [2];      //  dilation per spatial axis
    int64_t pads [4];           //  explicit pads: begins, then ends
    s_auto_pad_t auto_pad;      //  how pads are chosen
    bool ceil_mode;             //  round the output extent up
    bool count_include_pad;     //  average divides by the padded count
} s_pool_t;

//  Where the windows of one spatial axis fall for a given input extent
typedef struct {
    int64_t in;                 //  input extent
    int64_t out;                //  output extent
    int64_t kernel;             //  taps per window
    int64_t stride;             //  step between windows
    int64_t dilation;           //  step between taps
    int64_t pad_begin;          //  padding before the input, after auto_pad
    int64_t pad_end;            //  padding after the input, after auto_pad
    int64_t inner_first;        //  first output whose window is all inside
    int64_t inner_end;          //  one past the last such output
} s_axis_t;

//  --------------------------------------------------------------------------
//  Attributes

static bool
s_streq (const char *a, const char *b)
{
    return strcmp (a, b) == 0;
}

static int
s_pool_init (zi_node_t *node, s_pool_kind_t kind)
{
    if (node->n_outputs > 1 && node->outputs [1] >= 0)
        return zi_error ("output 1 (Indices) is not supported; only Y may be used");

    s_pool_t params = {.kind = kind};
    int64_t values [8];
    int count = zi_node_attr_ints (node, "kernel_shape", values, 8);
    if (count < 0)
        return -1;
    if (count == 0)
        return zi_error ("attribute 'kernel_shape' is required");
    if (count > 2)
        return zi_error ("attribute 'kernel_shape' has %d axes; only 1-d and 2-d pooling "
                         "are supported", count);
    params.n_spatial = count;
    for (int axis = 0; axis < count; axis++) {
        params.kernel [axis] = values [axis];
        params.strides [axis] = 1;
        params.dilations [axis] = 1;
        if (values [axis] < 1)
            return zi_error ("attribute 'kernel_shape' [%d] = %lld; expected >= 1",
                             axis, (long long) values [axis]);
    }
    count = zi_node_attr_ints (node, "strides", values, 8);
    if (count < 0)
        return -1;
    if (count && count != params.n_spatial)
        return zi_error ("attribute 'strides' has %d values; expected %d (one per spatial axis)",
                         count, params.n_spatial);
    for (int axis = 0; axis < count; axis++) {
        if (values [axis] < 1)
            return zi_error ("attribute 'strides' [%d] = %lld; expected >= 1",
                             axis, (long long) values [axis]);
        params.strides [axis] = values [axis];
    }
    count = zi_node_attr_ints (node, "dilations", values, 8);
    if (count < 0)
        return -1;
    if (count && count != params.n_spatial)
        return zi_error ("attribute 'dilations' has %d values; expected %d (one per spatial axis)",
                         count, params.n_spatial);
    for (int axis = 0; axis < count; axis++) {
        if (values [axis] < 1)
            return zi_error ("attribute 'dilations' [%d] = %lld; expected >= 1",
                             axis, (long long) values [axis]);
        params.dilations [axis] = values [axis];
    }
    count = zi_node_attr_ints (node, "pads", values, 8);
    if (count < 0)
        return -1;
    if (count && count != 2 * params.n_spatial)
        return zi_error ("attribute 'pads' has %d values; expected %d (begins, then ends)",
                         count, 2 * params.n_spatial);
    for (int index = 0; index < count; index++) {
        if (values [index] < 0)
            return zi_error ("attribute 'pads' [%d] = %lld; expected >= 0",
                             index, (long long) values [index]);
        params.pads [index] = values [index];
    }
    const char *auto_pad = zi_node_attr_string (node, "auto_pad", "NOTSET");
    if (s_streq (auto_pad, "NOTSET") || s_streq (auto_pad, ""))
        params.auto_pad = S_AUTO_PAD_NOTSET;
    else
    if (s_streq (auto_pad, "SAME_UPPER"))
        params.auto_pad = S_AUTO_PAD_SAME_UPPER;
    else
    if (s_streq (auto_pad, "SAME_LOWER"))
        params.auto_pad = S_AUTO_PAD_SAME_LOWER;
    else
    if (s_streq (auto_pad, "VALID"))
        params.auto_pad = S_AUTO_PAD_VALID;
    else
        return zi_error ("attribute 'auto_pad' = '%s' is not supported "
                         "(supported: NOTSET, SAME_UPPER, SAME_LOWER, VALID)", auto_pad);

    int64_t ceil_mode = zi_node_attr_int (node, "ceil_mode", 0);
    if (ceil_mode != 0 && ceil_mode != 1)
        return zi_error ("attribute 'ceil_mode' = %lld; expected 0 or 1", (long long) ceil_mode);
    params.ceil_mode = ceil_mode == 1;
    int64_t storage_order = zi_node_attr_int (node, "storage_order", 0);
    if (storage_order != 0)
        return zi_error ("attribute 'storage_order' = %lld is not supported (supported: 0)",
                         (long long) storage_order);
    int64_t count_include_pad = zi_node_attr_int (node, "count_include_pad", 0);
    if (count_include_pad != 0 && count_include_pad != 1)
        return zi_error ("attribute 'count_include_pad' = %lld; expected 0 or 1",
                         (long long) count_include_pad);
    params.count_include_pad = count_include_pad == 1;

    node->params = malloc (sizeof (s_pool_t));
    if (!node->params)
        return zi_error ("out of memory");
    memcpy (node->params, &params, sizeof params);
    return 0;
}

static int
s_max_pool_init (zi_node_t *node)
{
    return s_pool_init (node, S_POOL_MAX);
}

static int
s_average_pool_init (zi_node_t *node)
{
    //  The windows are walked tap by tap with their dilation for max and
    //  average alike, so opset 19's dilations need nothing more
    if (zi_node_attr (node, "dilations") && node->opset < 19)
        return zi_error ("attribute 'dilations' is part of AveragePool from opset 19; the "
                         "model imports opset %d", node->opset);
    return s_pool_init (node, S_POOL_AVERAGE);
}

//  --------------------------------------------------------------------------
//  Geometry

//  The range [*first, *end) of taps k in 0..kernel-1 for which
//  start + k * dilation lies in [low, high)
static void
s_tap_range (int64_t start, int64_t kernel, int64_t dilation, int64_t low, int64_t high,
             int64_t *first, int64_t *end)
{
    int64_t lo = start >= low? 0: (low - start + dilation - 1) / dilation;
    int64_t hi = start >= high? 0: (high - start + dilation - 1) / dilation;
    if (hi > kernel)
        hi = kernel;
    if (lo > hi)
        lo = hi;
    *first = lo;
    *end = hi;
}

static int
s_axis_plan (const s_pool_t *params, int axis, int64_t in, s_axis_t *self)
{
    int n_spatial = params->n_spatial;
    self->in = in;
    self->kernel = params->kernel [axis];
    self->stride = params->strides [axis];
    self->dilation = params->dilations [axis];
    int64_t span = (self->kernel - 1) * self->dilation + 1;
    int64_t stride = self->stride;

    if (params->auto_pad == S_AUTO_PAD_SAME_UPPER || params->auto_pad == S_AUTO_PAD_SAME_LOWER) {
        self->out = (in + stride - 1) / stride;
        int64_t total = (self->out - 1) * stride + span - in;
        if (total < 0)
            total = 0;
        self->pad_begin = params->auto_pad == S_AUTO_PAD_SAME_UPPER? total / 2: total - total / 2;
        self->pad_end = total - self->pad_begin;
    }
    else {
        if (params->auto_pad == S_AUTO_PAD_VALID)
            self->pad_begin = self->pad_end = 0;
        else {
            self->pad_begin = params->pads [axis];
            self->pad_end = params->pads [axis + n_spatial];
        }
        int64_t room = in + self->pad_begin + self->pad_end - span;
        if (room < 0)
            return zi_error ("spatial axis %d: window of %lld (kernel %lld, dilation %lld) is "
                             "larger than the padded input of %lld",
                             axis, (long long) span, (long long) self->kernel,
                             (long long) self->dilation,
                             (long long) (in + self->pad_begin + self->pad_end));
        if (params->ceil_mode) {
            self->out = (room + stride - 1) / stride + 1;
            //  The last window must start inside the input or its left
            //  padding, else it would pool nothing but right padding
            if ((self->out - 1) * stride >= in + self->pad_begin)
                self->out--;
        }
        else
            self->out = room / stride + 1;
    }
    //  Interior: o * stride - pad_begin >= 0 and
    //  o * stride - pad_begin + span <= in
    int64_t first = (self->pad_begin + stride - 1) / stride;
    int64_t end = in - span + self->pad_begin >= 0? (in - span + self->pad_begin) / stride + 1: 0;
    if (first > self->out)
        first = self->out;
    if (end > self->out)
        end = self->out;
    if (end < first)
        end = first;
    self->inner_first = first;
    self->inner_end = end;
    return 0;
}

//  Plans both axes; a 1-d pool gets a trivial H axis
static int
s_plan (const s_pool_t *params, const zi_tensor_t *x, s_axis_t *h, s_axis_t *w)
{
    if (params->n_spatial == 2) {
        if (s_axis_plan (params, 0, x->dims [2], h) || s_axis_plan (params, 1, x->dims [3], w))
            return -1;
    }
    else {
        *h = (s_axis_t) {.in = 1, .out = 1, .kernel = 1, .stride = 1, .dilation = 1,
                         .inner_first = 0, .inner_end = 1};
        if (s_axis_plan (params, 0, x->dims [2], w))
            return -1;
    }
    return 0;
}

static int
s_pool_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_pool_t *params = node->params;
    const zi_tensor_t *x = in [0];
    char shape [128];
    if (x->ndim != 2 + params->n_spatial)
        return zi_error ("input 0: expected %d-d input [N, C%s] for a %d-d kernel, got %s",
                         2 + params->n_spatial, params->n_spatial == 2? ", H, W": ", L",
                         params->n_spatial, zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    s_axis_t h, w;
    if (s_plan (params, x, &h, &w))
        return -1;
    int64_t dims [4] = {x->dims [0], x->dims [1], h.out, w.out};
    if (params->n_spatial == 1)
        dims [2] = w.out;
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, dims);
    return 0;
}

//  --------------------------------------------------------------------------
//  Windowed pools
//
//  Max and sum are separable: a k x k window is the k-row combination of
//  k-column combinations. The horizontal pass reduces each input row over
//  the kernel width into a row of output width; the vertical pass then
//  combines kernel-height of those rows, which is unit-stride and
//  vectorises fully. A 5 x 5 stride-1 window costs 10 operations per
//  output instead of 25.

#if defined (ZI_HAVE_AVX2)
//  Interior columns [first, end) of a stride-2 row, eight at a time. The
//  taps of eight outputs are even (or odd) floats of sixteen: one pair of
//  loads serves two taps when they are neighbours (dilation 1), and every
//  tap is combined in the shuffled lane order, put right once at the end,
//  as max and add work lane by lane. Taps combine in the scalar loop's
//  order, so sums round alike. Stops where a load would pass
//  base [available); returns the first column it did not make.
//
//  A max takes maxps (tap, value), which keeps value when either is NaN:
//  a NaN that came first stays. A NaN tap that comes later is caught by an
//  unordered compare, one per pair of taps where they come in pairs, and
//  OR-ed in at the end (all ones is a NaN), off the chain of maxps.
static ZI_AVX2 int64_t
s_horizontal_s2_avx2 (const float *base, float *hrow, int64_t first, int64_t end,
                      const s_axis_t *w, int64_t available, bool max)
{
    int64_t col = first;
    int64_t kernel = w->kernel, dilation = w->dilation;
    //  Floats past 2 col a group reads: up to the last tap's pair of loads
    int64_t reach = dilation == 1? ((kernel - 1) & ~(int64_t) 1): (kernel - 1) * dilation;
    for (; col + 8 <= end && 2 * col + reach + 16 <= available; col += 8) {
        const float *at = base + 2 * col;
        __m256 value = _mm256_setzero_ps ();
        __m256 nan = _mm256_setzero_ps ();      //  lanes that met a NaN tap
        for (int64_t kw = 0; kw < kernel; ) {
            const float *tap_at = at + kw * dilation;
            __m256 low = _mm256_loadu_ps (tap_at);
            __m256 high = _mm256_loadu_ps (tap_at + 8);
            __m256 even = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
            value = kw == 0? even: max? _mm256_max_ps (even, value): _mm256_add_ps (value, even);
            kw++;
            if (dilation == 1 && kw < kernel) {
                __m256 odd = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (3, 1, 3, 1));
                value = max? _mm256_max_ps (odd, value): _mm256_add_ps (value, odd);
                if (max)
                    nan = _mm256_or_ps (nan, _mm256_cmp_ps (even, odd, _CMP_UNORD_Q));
                kw++;
            }
            else
            if (max)
                nan = _mm256_or_ps (nan, _mm256_cmp_ps (even, even, _CMP_UNORD_Q));
        }
        value = _mm256_or_ps (value, nan);
        value = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (value),
                                                         _MM_SHUFFLE (3, 1, 2, 0)));
        _mm256_storeu_ps (hrow + col, value);
    }
    //  The last group: masked loads stop at the end of the row (lanes
    //  past it read nothing and make columns that are not stored)
    if (col < end && end - col <= 8) {
        __m256 value = _mm256_setzero_ps ();
        __m256 nan = _mm256_setzero_ps ();
        for (int64_t kw = 0; kw < kernel; kw++) {
            const float *at = base + 2 * col + kw * dilation;
            int64_t left = available - (2 * col + kw * dilation);
            __m256 low = _mm256_maskload_ps (at, zi_tail_mask_avx2 (left < 8? left: 8));
            __m256 high = _mm256_maskload_ps (at + 8, zi_tail_mask_avx2 (
                                                  left < 8? 0: left < 16? left - 8: 8));
            __m256 tap = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
            value = kw == 0? tap: max? _mm256_max_ps (tap, value): _mm256_add_ps (value, tap);
            if (max)
                nan = _mm256_or_ps (nan, _mm256_cmp_ps (tap, tap, _CMP_UNORD_Q));
        }
        value = _mm256_or_ps (value, nan);
        value = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (value),
                                                         _MM_SHUFFLE (3, 1, 2, 0)));
        _mm256_maskstore_ps (hrow + col, zi_tail_mask_avx2 (end - col), value);
        col = end;
    }
    return col;
}

//  out = the max (or sum) of rows [0, n), n >= 2, taken in order, eight
//  columns at a time; returns the first column it did not make. NaN as in
//  the horizontal pass: row 0's stays, the later rows' are caught a pair
//  of rows to one unordered compare.
static ZI_AVX2 int64_t
s_vertical_avx2 (const float *const *rows, int n, int64_t width, float *out, bool max)
{
    int64_t col = 0;
    if (!max) {
        for (; col + 8 <= width; col += 8) {
            __m256 value = _mm256_loadu_ps (rows [0] + col);
            for (int row = 1; row < n; row++)
                value = _mm256_add_ps (value, _mm256_loadu_ps (rows [row] + col));
            _mm256_storeu_ps (out + col, value);
        }
        return col;
    }
    for (; col + 8 <= width; col += 8) {
        __m256 value = _mm256_loadu_ps (rows [0] + col);
        __m256 nan = _mm256_setzero_ps ();
        int row = 1;
        for (; row + 2 <= n; row += 2) {
            __m256 next = _mm256_loadu_ps (rows [row] + col);
            __m256 after = _mm256_loadu_ps (rows [row + 1] + col);
            value = _mm256_max_ps (after, _mm256_max_ps (next, value));
            nan = _mm256_or_ps (nan, _mm256_cmp_ps (next, after, _CMP_UNORD_Q));
        }
        if (row < n) {
            __m256 next = _mm256_loadu_ps (rows [row] + col);
            value = _mm256_max_ps (next, value);
            nan = _mm256_or_ps (nan, _mm256_cmp_ps (next, next, _CMP_UNORD_Q));
        }
        _mm256_storeu_ps (out + col, _mm256_or_ps (value, nan));
    }
    return col;
}
#endif

#if defined (ZI_HAVE_AVX512)
//  The same, sixteen columns at a time and the row's end masked (lanes
//  masked off are neither read nor stored), so it makes every column. A
//  NaN among the later rows is noted in a mask and sets every bit of its
//  lane at the end, as the AVX2 form's or does.
static ZI_AVX512 int64_t
s_vertical_avx512 (const float *const *rows, int n, int64_t width, float *out, bool max)
{
    __m512 all_bits = _mm512_castsi512_ps (_mm512_set1_epi32 (-1));
    for (int64_t col = 0; col < width; col += 16) {
        __mmask16 lanes = width - col >= 16? 0xFFFF: (__mmask16) ((1u << (width - col)) - 1);
        __m512 value = _mm512_maskz_loadu_ps (lanes, rows [0] + col);
        if (!max) {
            for (int row = 1; row < n; row++)
                value = _mm512_add_ps (value, _mm512_maskz_loadu_ps (lanes, rows [row] + col));
            _mm512_mask_storeu_ps (out + col, lanes, value);
            continue;
        }
        __mmask16 nan = 0;
        int row = 1;
        for (; row + 2 <= n; row += 2) {
            __m512 next = _mm512_maskz_loadu_ps (lanes, rows [row] + col);
            __m512 after = _mm512_maskz_loadu_ps (lanes, rows [row + 1] + col);
            value = _mm512_max_ps (after, _mm512_max_ps (next, value));
            nan |= _mm512_cmp_ps_mask (next, after, _CMP_UNORD_Q);
        }
        if (row < n) {
            __m512 next = _mm512_maskz_loadu_ps (lanes, rows [row] + col);
            value = _mm512_max_ps (next, value);
            nan |= _mm512_cmp_ps_mask (next, next, _CMP_UNORD_Q);
        }
        _mm512_mask_storeu_ps (out + col, lanes, _mm512_mask_blend_ps (nan, value, all_bits));
    }
    return width;
}
#endif

#if defined (ZI_HAVE_AVX512)
//  s_horizontal_s2_avx2 sixteen columns at a time: the even and odd floats
//  of a pair of sixteen-float loads are each one two-source permute, already
//  in lane order, and the row's end is loaded and stored under a mask, so
//  it makes every column of [first, end). Taps combine in the same order,
//  and a NaN tap sets every bit of its lane at the end, as there.
static ZI_AVX512_INLINE int64_t
s_horizontal_s2_avx512_k (const float *base, float *hrow, int64_t first, int64_t end,
                          int64_t kernel, int64_t dilation, int64_t available, bool max)
{
    const __m512i evens = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16,
                                            14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odds = _mm512_add_epi32 (evens, _mm512_set1_epi32 (1));
    const __m512 all_bits = _mm512_castsi512_ps (_mm512_set1_epi32 (-1));
    int64_t reach = dilation == 1? ((kernel - 1) & ~(int64_t) 1): (kernel - 1) * dilation;
    for (int64_t col = first; col < end; col += 16) {
        bool whole = end - col >= 16 && 2 * col + reach + 32 <= available;
        const float *at = base + 2 * col;
        __m512 value = _mm512_setzero_ps ();
        __mmask16 nan = 0;
        for (int64_t kw = 0; kw < kernel; ) {
            int64_t offset = 2 * col + kw * dilation;
            __m512 low, high;
            if (whole) {
                low = _mm512_loadu_ps (at + kw * dilation);
                high = _mm512_loadu_ps (at + kw * dilation + 16);
            }
            else {
                //  Lanes past the row load nothing; they only make
                //  columns past end, which are not stored
                int64_t left = available - offset;
                int64_t lows = left < 0? 0: left < 16? left: 16;
                int64_t highs = left < 16? 0: left < 32? left - 16: 16;
                low = _mm512_maskz_loadu_ps ((__mmask16) ((1u << lows) - 1), at + kw * dilation);
                high = _mm512_maskz_loadu_ps ((__mmask16) ((1u << highs) - 1),
                                              at + kw * dilation + 16);
            }
            __m512 even = _mm512_permutex2var_ps (low, evens, high);
            value = kw == 0? even: max? _mm512_max_ps (even, value): _mm512_add_ps (value, even);
            kw++;
            if (dilation == 1 && kw < kernel) {
                __m512 odd = _mm512_permutex2var_ps (low, odds, high);
                value = max? _mm512_max_ps (odd, value): _mm512_add_ps (value, odd);
                if (max)
                    nan |= _mm512_cmp_ps_mask (even, odd, _CMP_UNORD_Q);
                kw++;
            }
            else
            if (max)
                nan |= _mm512_cmp_ps_mask (even, even, _CMP_UNORD_Q);
        }
        value = _mm512_mask_blend_ps (nan, value, all_bits);
        int64_t left = end - col;
        _mm512_mask_storeu_ps (hrow + col, left >= 16? 0xFFFF: (__mmask16) ((1u << left) - 1),
                               value);
    }
    return end;
}

//  The 3-wide window of most networks' pools (squeezenet's, resnet's) with
//  its taps known at compile time, the loop over them unrolled
static ZI_AVX512 int64_t
s_horizontal_s2_avx512 (const float *base, float *hrow, int64_t first, int64_t end,
                        const s_axis_t *w, int64_t available, bool max)
{
    if (w->kernel == 3 && w->dilation == 1)
        return s_horizontal_s2_avx512_k (base, hrow, first, end, 3, 1, available, max);
    return s_horizontal_s2_avx512_k (base, hrow, first, end, w->kernel, w->dilation,
                                     available, max);
}
#endif

#if defined (ZI_HAVE_AVX512)
//  The first n of sixteen lanes, none when n <= 0
static inline __mmask16
s_lanes16 (int64_t n)
{
    return n >= 16? (__mmask16) 0xFFFF: n <= 0? 0: (__mmask16) ((1u << n) - 1);
}

//  The maxima of three rows' sixteen columns, lanes off the input
//  -FLT_MAX; a NaN in the later two rows sets every bit of its lane, as in
//  s_vertical_avx512
static ZI_AVX512_INLINE __m512
s_max3_rows_avx512 (const float *r0, const float *r1, const float *r2, __mmask16 lanes)
{
    const __m512 lowest = _mm512_set1_ps (-FLT_MAX);
    __m512 value = _mm512_mask_loadu_ps (lowest, lanes, r0);
    __m512 next = _mm512_mask_loadu_ps (lowest, lanes, r1);
    __m512 after = _mm512_mask_loadu_ps (lowest, lanes, r2);
    value = _mm512_max_ps (after, _mm512_max_ps (next, value));
    __mmask16 nan = _mm512_cmp_ps_mask (next, after, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps (nan, value, _mm512_castsi512_ps (_mm512_set1_epi32 (-1)));
}

//  Lanes of padded columns [at, at + 16) that hold input: [inside, available)
static ZI_AVX512_INLINE __mmask16
s_input_lanes (int64_t at, int64_t inside, int64_t available)
{
    return s_lanes16 (available - at) & (__mmask16) ~s_lanes16 (inside - at);
}

//  Max of three input rows by 3-wide windows at stride 2 (squeezenet's and
//  resnet's pools), both passes at once for a row of width outputs: the
//  three rows' maxima stay in registers for the row pass instead of
//  going through a scratch row. Each step makes sixteen columns from the
//  33 input columns they cover: two vectors of column maxima give taps 0
//  and 1 as even and odd floats, tap 2 is the even floats one lane on,
//  the last from a third vector's first float; that third vector is the
//  next step's first, so a step loads two. Padded columns outside the
//  input, [0, inside) and from available on, load as -FLT_MAX, the value
//  a border window starts from, so border columns need no pass of their
//  own. The operations and their order are those of s_vertical's and
//  s_horizontal's AVX-512 forms, so the values are theirs, NaN included.
//  base_k is input row k from padded column 0 (inside is the padding
//  before the row, available its end). ahead, ld floats apart, are two
//  rows a later output row reads: their lines are fetched while this row
//  runs (see s_max3x3_s2_rows_avx512)
static ZI_AVX512_INLINE void
s_max3x3_s2_avx512 (const float *base0, const float *base1, const float *base2, float *y_row,
                    int64_t width, int64_t inside, int64_t available, const float *ahead,
                    int64_t ld)
{
    const __m512i evens = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16,
                                            14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odds = _mm512_add_epi32 (evens, _mm512_set1_epi32 (1));
    //  Lanes 1..15 of the even floats, then the first of the third vector
    const __m512i next_even = _mm512_set_epi32 (16, 15, 14, 13, 12, 11, 10, 9,
                                                8, 7, 6, 5, 4, 3, 2, 1);
    const __m512 all_bits = _mm512_castsi512_ps (_mm512_set1_epi32 (-1));
    __m512 low = s_max3_rows_avx512 (base0, base1, base2, s_input_lanes (0, inside, available));
    for (int64_t col = 0; col < width; col += 16) {
        int64_t at = 2 * col;
        if (ahead) {
            _mm_prefetch ((const char *) (ahead + at), _MM_HINT_T0);
            _mm_prefetch ((const char *) (ahead + at + 16), _MM_HINT_T0);
            _mm_prefetch ((const char *) (ahead + ld + at), _MM_HINT_T0);
            _mm_prefetch ((const char *) (ahead + ld + at + 16), _MM_HINT_T0);
        }
        //  The row's last tap is padded column 2 width: a vector that
        //  starts past it feeds only lanes the masked store drops
        __m512 high = at + 16 <= 2 * width?
                      s_max3_rows_avx512 (base0 + at + 16, base1 + at + 16, base2 + at + 16,
                                          s_input_lanes (at + 16, inside, available)): low;
        __m512 third = at + 32 <= 2 * width?
                       s_max3_rows_avx512 (base0 + at + 32, base1 + at + 32, base2 + at + 32,
                                           s_input_lanes (at + 32, inside, available)): high;
        __m512 even = _mm512_permutex2var_ps (low, evens, high);
        __m512 odd = _mm512_permutex2var_ps (low, odds, high);
        __m512 last = _mm512_permutex2var_ps (even, next_even, third);
        __m512 value = _mm512_max_ps (odd, even);
        __mmask16 nan = _mm512_cmp_ps_mask (even, odd, _CMP_UNORD_Q);
        value = _mm512_max_ps (last, value);
        nan |= _mm512_cmp_ps_mask (last, last, _CMP_UNORD_Q);
        value = _mm512_mask_blend_ps (nan, value, all_bits);
        _mm512_mask_storeu_ps (y_row + col, s_lanes16 (width - col), value);
        low = third;
    }
}

//  Rows of outputs whose three input rows are all inside, from base (the
//  first's top row, padded) on, in one call. Each row fetches the two
//  input rows that output row three on adds (rows 5 and 6 on from its
//  own top), so the rows after it find theirs in L1: in a network the
//  pool's input was written out by the layer before and comes from L3,
//  and a row of 112 floats is too short a run for the hardware
//  prefetcher to get ahead of. The last rows fetch the next plane's first
//  rows when it follows in this part, else nothing past the plane's end
//  (below: the rows from base's on that may be fetched)
static ZI_AVX512 void
s_max3x3_s2_rows_avx512 (const float *base, int64_t ld, float *y_row, int64_t rows,
                         int64_t width, int64_t inside, int64_t available, int64_t below)
{
    for (int64_t row = 0; row < rows; row++, base += 2 * ld, y_row += width) {
        const float *ahead = 2 * row + 7 <= below? base + 5 * ld: NULL;
        s_max3x3_s2_avx512 (base, base + ld, base + 2 * ld, y_row, width, inside, available,
                            ahead, ld);
    }
}
#endif

#if defined (ZI_HAVE_AVX2)
//  The maxima of three rows' eight padded columns [at, at + 8), lanes off
//  the input [inside, available) -FLT_MAX; a NaN in the later two rows
//  sets every bit of its lane, as in s_vertical_avx2. Columns wholly
//  inside take plain loads; the masked form is for a row's two ends.
static ZI_AVX2_INLINE __m256
s_max3_rows_avx2 (const float *r0, const float *r1, const float *r2, int64_t at,
                  int64_t inside, int64_t available)
{
    __m256 value, next, after;
    if (at >= inside && at + 8 <= available) {
        value = _mm256_loadu_ps (r0 + at);
        next = _mm256_loadu_ps (r1 + at);
        after = _mm256_loadu_ps (r2 + at);
    }
    else {
        const __m256 lowest = _mm256_set1_ps (-FLT_MAX);
        __m256i lane = _mm256_add_epi32 (_mm256_set1_epi32 ((int32_t) at),
                                         _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
        __m256i lanes = _mm256_andnot_si256 (
            _mm256_cmpgt_epi32 (_mm256_set1_epi32 ((int32_t) inside), lane),
            _mm256_cmpgt_epi32 (_mm256_set1_epi32 ((int32_t) available), lane));
        //  Lanes masked off are not read (no fault past the row's end)
        __m256 mask = _mm256_castsi256_ps (lanes);
        value = _mm256_blendv_ps (lowest, _mm256_maskload_ps (r0 + at, lanes), mask);
        next = _mm256_blendv_ps (lowest, _mm256_maskload_ps (r1 + at, lanes), mask);
        after = _mm256_blendv_ps (lowest, _mm256_maskload_ps (r2 + at, lanes), mask);
    }
    value = _mm256_max_ps (after, _mm256_max_ps (next, value));
    return _mm256_or_ps (value, _mm256_cmp_ps (next, after, _CMP_UNORD_Q));
}

//  s_max3x3_s2_avx512 eight columns at a time, for AVX2: both passes in
//  registers, the padding loaded as -FLT_MAX. Each step makes eight
//  columns from the column maxima of padded columns [2 col, 2 col + 24):
//  the first vector is the step before's third, so a step loads two.
//  Taps 0 and 1 are the even and odd floats of the first two vectors
//  (in the shuffled lane order), combined and put right with one
//  permute; tap 2 is the even floats one on, the last of them the third
//  vector's first float, blended into the lane of the even float no
//  output needs (tap 0 of column 0) and moved with one more permute.
//  Operations and order are those of the AVX2 column and row passes, so
//  values are theirs, signed zeros and NaN included.
static ZI_AVX2_INLINE void
s_max3x3_s2_avx2 (const float *base0, const float *base1, const float *base2, float *y_row,
                  int64_t width, int64_t inside, int64_t available)
{
    //  Output j's tap 2 is even float j + 1: where it sits in the even
    //  vector's shuffled order [0 1 4 5 | 2 3 6 7], 8 at lane 0
    const __m256i next_even = _mm256_setr_epi32 (1, 4, 5, 2, 3, 6, 7, 0);
    __m256 low = s_max3_rows_avx2 (base0, base1, base2, 0, inside, available);
    for (int64_t col = 0; col < width; col += 8) {
        int64_t at = 2 * col;
        //  The row's last tap is padded column 2 width: a vector that
        //  starts past it feeds only lanes the masked store drops, so the
        //  row's last step loads no more than it needs (squeezenet1_1's
        //  rows of 13, 27 and 55 outputs skip one or two masked loads of
        //  three rows each, most of them wholly past the row's end)
        __m256 high = at + 8 <= 2 * width?
                      s_max3_rows_avx2 (base0, base1, base2, at + 8, inside, available): low;
        __m256 third = at + 16 <= 2 * width?
                       s_max3_rows_avx2 (base0, base1, base2, at + 16, inside, available): high;
        __m256 even = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
        __m256 odd = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (3, 1, 3, 1));
        __m256 value = _mm256_max_ps (odd, even);
        value = _mm256_or_ps (value, _mm256_cmp_ps (even, odd, _CMP_UNORD_Q));
        value = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (value),
                                                         _MM_SHUFFLE (3, 1, 2, 0)));
        __m256 last = _mm256_permutevar8x32_ps (_mm256_blend_ps (even, third, 1), next_even);
        value = _mm256_max_ps (last, value);
        value = _mm256_or_ps (value, _mm256_cmp_ps (last, last, _CMP_UNORD_Q));
        if (col + 8 <= width)
            _mm256_storeu_ps (y_row + col, value);
        else
            _mm256_maskstore_ps (y_row + col, zi_tail_mask_avx2 (width - col), value);
        low = third;
    }
}

//  Rows of outputs whose three input rows are all inside, from base (the
//  first's top row, padded) on: one call for a plane's run of them, as a
//  call and its set-up each row cost squeezenet1_1's pools of 13- and
//  27-column rows about a fifth of their instructions
static ZI_AVX2 void
s_max3x3_s2_rows_avx2 (const float *base, int64_t ld, float *y_row, int64_t rows,
                       int64_t width, int64_t inside, int64_t available)
{
    for (int64_t row = 0; row < rows; row++, base += 2 * ld, y_row += width)
        s_max3x3_s2_avx2 (base, base + ld, base + 2 * ld, y_row, width, inside, available);
}
#endif

//  One input row reduced over the kernel width: hrow [col] is the max (or
//  sum) of the taps of output column col that fall inside the input
static void
s_horizontal (const float *restrict x_row, float *restrict hrow, const s_axis_t *w, bool max)
{
    int64_t width = w->in;
    float start = max? -FLT_MAX: 0;
    //  Border columns: taps checked one by one
    for (int64_t col = 0; col < w->out; col++) {
        if (col == w->inner_first)
            col = w->inner_end;
        if (col >= w->out)
            break;
        int64_t origin = col * w->stride - w->pad_begin;
        int64_t first, end;
        s_tap_range (origin, w->kernel, w->dilation, 0, width, &first, &end);
        float value = start;
        for (int64_t kw = first; kw < end; kw++) {
            float tap = x_row [origin + kw * w->dilation];
            value = max? zi_max_nan (tap, value): value + tap;
        }
        hrow [col] = value;
    }
    //  Interior columns: the first tap initialises, one pass per other tap
    int64_t stride = w->stride, first = w->inner_first, end = w->inner_end;
    const float *base = x_row - w->pad_begin;
    if (first >= end)
        return;
#if defined (ZI_HAVE_AVX512)
    if (stride == 2 && zi_use_avx512 ()) {
        s_horizontal_s2_avx512 (base, hrow, first, end, w, w->pad_begin + width, max);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX2)
    if (stride == 2 && zi_use_avx2 ()) {
        //  Loads stay within this row: base [pad_begin + in) is its end
        first = s_horizontal_s2_avx2 (base, hrow, first, end, w, w->pad_begin + width, max);
        if (first >= end)
            return;
    }
#endif
    if (stride == 1)
        memcpy (hrow + first, base + first, (end - first) * sizeof (float));
    else
    if (stride == 2)
        for (int64_t col = first; col < end; col++)
            hrow [col] = base [2 * col];
    else
        for (int64_t col = first; col < end; col++)
            hrow [col] = base [col * stride];
    //  The max loops below drop a NaN tap, so a row that has NaN (its sum
    //  is NaN: a NaN, or infinities of both signs) takes a loop that keeps
    //  it; the check is one add an input float, the keeping three
    //  instructions a tap
    bool keep_nan = max && w->kernel > 1 && isnan (zi_vec_sum (x_row, width));
    for (int64_t kw = 1; kw < w->kernel; kw++) {
        const float *restrict taps = base + kw * w->dilation;
        if (keep_nan)
            for (int64_t col = first; col < end; col++)
                hrow [col] = zi_max_nan (taps [col * stride], hrow [col]);
        else
        if (max) {
            if (stride == 1)
                for (int64_t col = first; col < end; col++)
                    hrow [col] = taps [col] > hrow [col]? taps [col]: hrow [col];
            else
            if (stride == 2)
                for (int64_t col = first; col < end; col++)
                    hrow [col] = taps [2 * col] > hrow [col]? taps [2 * col]: hrow [col];
            else
                for (int64_t col = first; col < end; col++)
                    hrow [col] = taps [col * stride] > hrow [col]? taps [col * stride]: hrow [col];
        }
        else {
            if (stride == 1)
                for (int64_t col = first; col < end; col++)
                    hrow [col] += taps [col];
            else
            if (stride == 2)
                for (int64_t col = first; col < end; col++)
                    hrow [col] += taps [2 * col];
            else
                for (int64_t col = first; col < end; col++)
                    hrow [col] += taps [col * stride];
        }
    }
}

//  1 / (taps counted) per output column of an average pool
static void
s_column_scales (const s_axis_t *w, bool include_pad, float *scales)
{
    for (int64_t col = 0; col < w->out; col++) {
        int64_t origin = col * w->stride - w->pad_begin;
        int64_t first, end;
        if (include_pad)
            s_tap_range (origin, w->kernel, w->dilation, -w->pad_begin, w->in + w->pad_end,
                         &first, &end);
        else
            s_tap_range (origin, w->kernel, w->dilation, 0, w->in, &first, &end);
        scales [col] = end > first? 1.0f / (float) (end - first): 0;
    }
}

//  At most this many rows are combined in one pass; taller windows go on
//  from the partial result
#define S_ROWS_PER_PASS 32

//  out = the max (or sum) of rows [0, n), n >= 2, taken in order
static void
s_vertical (const float *const *rows, int n, int64_t width, float *out, bool max)
{
    int64_t col = 0;
#if defined (ZI_HAVE_AVX512)
    if (zi_use_avx512 ())
        col = s_vertical_avx512 (rows, n, width, out, max);
    else
#endif
#if defined (ZI_HAVE_AVX2)
    if (zi_use_avx2 ())
        col = s_vertical_avx2 (rows, n, width, out, max);
#endif
    for (; col < width; col++) {
        float value = rows [0][col];
        for (int row = 1; row < n; row++) {
            float next = rows [row][col];
            value = max? zi_max_nan (next, value): value + next;
        }
        out [col] = value;
    }
}

//  A windowed pool's planes (n C + c), shared out between the exec's
//  threads, each with a scratch row of its own
typedef struct {
    const s_pool_t *params;     //  the attributes
    zi_exec_t *exec;            //  per thread: one input-wide row
    s_axis_t h, w;              //  the two axes
    const float *column_scales; //  average pool: 1 / taps per column
    const float *x_data;        //  input
    float *y_data;              //  output
} s_pool_job_t;

//  Each output row is made column pass first: the input rows its windows
//  cover are combined into one input-wide row (unit stride, full vectors),
//  and that row then takes the row pass, the costlier one with its strided
//  taps and borders, once per output row rather than once per input row.
//  Max does not care about the order; sums are taken rows first, then
//  columns, the same on every thread count
static void
s_pool_part (void *args, int64_t first_plane, int64_t last_plane, int thread)
{
    s_pool_job_t *job = args;
    const s_pool_t *params = job->params;
    const s_axis_t h = job->h, w = job->w;
    bool max = params->kind == S_POOL_MAX;
    int64_t width = w.out;
    float *vrow = zi_exec_scratch_of (job->exec, thread, 0, 0);
    const float *column_scales = job->column_scales;
    //  The 3x3 stride-2 max pool of most networks, both passes in one
    bool max3x3_s2 = max && h.kernel == 3 && w.kernel == 3
                  && h.stride == 2 && w.stride == 2 && h.dilation == 1 && w.dilation == 1;
#if defined (ZI_HAVE_AVX512)
    bool fused512 = max3x3_s2 && zi_use_avx512 ();
#endif
#if defined (ZI_HAVE_AVX2)
    bool fused256 = max3x3_s2 && zi_use_avx2 ();
#endif
    for (int64_t plane = first_plane; plane < last_plane; plane++) {
        const float *x_plane = job->x_data + plane * h.in * w.in;
        float *y_plane = job->y_data + plane * h.out * width;
        for (int64_t row = 0; row < h.out; row++) {
            int64_t origin = row * h.stride - h.pad_begin;
            float *restrict y_row = y_plane + row * width;
            //  Rows whose window is whole (a division per row cost a tenth
            //  of a 112x112 pool, so it is left to the rows that need it)
            if (max3x3_s2 && origin >= 0 && origin + 3 <= h.in) {
                const float *r0 = x_plane + origin * w.in;
                //  This row and the whole ones after it (the last's
                //  window ends at or before the plane's last row)
                int64_t run = (h.in - 3 - origin) / 2 + 1;
                if (run > h.out - row)
                    run = h.out - row;
#if defined (ZI_HAVE_AVX512)
                if (fused512) {
                    int64_t below = h.in - origin + (plane + 1 < last_plane? h.in: 0);
                    s_max3x3_s2_rows_avx512 (r0 - w.pad_begin, w.in, y_row, run, width,
                                             w.pad_begin, w.pad_begin + w.in, below);
                    row += run - 1;
                    continue;
                }
#endif
#if defined (ZI_HAVE_AVX2)
                if (fused256) {
                    s_max3x3_s2_rows_avx2 (r0 - w.pad_begin, w.in, y_row, run, width,
                                           w.pad_begin, w.pad_begin + w.in);
                    row += run - 1;
                    continue;
                }
#endif
            }
            int64_t first, end;
            s_tap_range (origin, h.kernel, h.dilation, 0, h.in, &first, &end);
            if (first == end) {
                //  A window wholly in the padding (pads >= kernel)
                for (int64_t col = 0; col < width; col++)
                    y_row [col] = max? -FLT_MAX: 0;
                continue;
            }
            const float *source = x_plane + (origin + first * h.dilation) * w.in;
            if (end - first > 1) {
                const float *rows [S_ROWS_PER_PASS];
                int n = 0;
                for (int64_t kh = first; kh < end; kh++) {
                    rows [n++] = x_plane + (origin + kh * h.dilation) * w.in;
                    if (n == S_ROWS_PER_PASS || kh + 1 == end) {
                        s_vertical (rows, n, w.in, vrow, max);
                        rows [0] = vrow;
                        n = 1;
                    }
                }
                source = vrow;
            }
            s_horizontal (source, y_row, &w, max);
            if (!max) {
                int64_t counted = end - first;
                if (params->count_include_pad) {
                    int64_t pad_first, pad_end;
                    s_tap_range (origin, h.kernel, h.dilation, -h.pad_begin, h.in + h.pad_end,
                                 &pad_first, &pad_end);
                    counted = pad_end - pad_first;
                }
                float row_scale = 1.0f / (float) counted;
                for (int64_t col = 0; col < width; col++)
                    y_row [col] *= row_scale * column_scales [col];
            }
        }
    }
}

//  Input floats a part should read at least, or a thread's wake-up costs
//  more than it saves
#define S_PART_FLOATS (32 * 1024)

static int
s_pool_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    const s_pool_t *params = node->params;
    const zi_tensor_t *x = in [0];
    s_pool_job_t job = {.params = params, .exec = exec};
    if (s_plan (params, x, &job.h, &job.w))
        return -1;
    const s_axis_t *h = &job.h, *w = &job.w;
    int64_t planes = x->dims [0] * x->dims [1];
    int64_t width = w->out;
    for (int thread = 0; thread < zi_exec_threads (exec); thread++)
        if (!zi_exec_scratch_of (exec, thread, 0, (w->in + 1) * sizeof (float)))
            return -1;
    float *column_scales = zi_exec_scratch (exec, 1, (width + 1) * sizeof (float));
    if (!column_scales)
        return -1;
    if (params->kind != S_POOL_MAX)
        s_column_scales (w, params->count_include_pad, column_scales);
    job.column_scales = column_scales;
    job.x_data = zi_tensor_f32 (x);
    job.y_data = zi_tensor_f32 (out [0]);
    int64_t plane_floats = h->in * w->in > 0? h->in * w->in: 1;
    int64_t unit = plane_floats >= S_PART_FLOATS? 1: S_PART_FLOATS / plane_floats;
    zi_exec_parallel (exec, planes, unit, s_pool_part, &job);
    return 0;
}

const zi_op_t zi_op_MaxPool = {
    .name = "MaxPool", .min_inputs = 1, .max_inputs = 1, .max_outputs = 2,
    .batch = ZI_BATCH_FIRST,
    .init = s_max_pool_init, .infer = s_pool_infer, .run = s_pool_run,
    .dtypes = {ZI_DT (ZI_F32)}
};

const zi_op_t zi_op_AveragePool = {
    .name = "AveragePool", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .init = s_average_pool_init, .infer = s_pool_infer, .run = s_pool_run,
    .dtypes = {ZI_DT (ZI_F32)}
};

//  --------------------------------------------------------------------------
//  Global pools: one value per (n, c) over all spatial positions

static int
s_global_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    char shape [128];
    if (x->ndim < 3)
        return zi_error ("input 0: expected [N, C, spatial...] with at least one spatial axis, "
                         "got %s", zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    int64_t dims [ZI_MAX_DIMS];
    for (int axis = 0; axis < x->ndim; axis++)
        dims [axis] = axis < 2? x->dims [axis]: 1;
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, dims);
    return 0;
}

#if defined (ZI_HAVE_AVX512)
//  The sum of n floats: four sixteen-float partial sums, so that the adds
//  of one step do not wait for each other, and the plane's end under a
//  mask instead of a scalar tail. A 7x7 plane (the last one of most image
//  networks) is three whole vectors and one masked one.
static ZI_AVX512 float
s_sum_avx512 (const float *x, int64_t n)
{
    __m512 sum0 = _mm512_setzero_ps (), sum1 = sum0, sum2 = sum0, sum3 = sum0;
    int64_t item = 0;
    for (; item + 64 <= n; item += 64) {
        sum0 = _mm512_add_ps (sum0, _mm512_loadu_ps (x + item));
        sum1 = _mm512_add_ps (sum1, _mm512_loadu_ps (x + item + 16));
        sum2 = _mm512_add_ps (sum2, _mm512_loadu_ps (x + item + 32));
        sum3 = _mm512_add_ps (sum3, _mm512_loadu_ps (x + item + 48));
    }
    for (; item + 16 <= n; item += 16)
        sum0 = _mm512_add_ps (sum0, _mm512_loadu_ps (x + item));
    if (item < n) {
        __mmask16 tail = (__mmask16) ((1u << (n - item)) - 1);
        sum1 = _mm512_add_ps (sum1, _mm512_maskz_loadu_ps (tail, x + item));
    }
    return _mm512_reduce_add_ps (_mm512_add_ps (_mm512_add_ps (sum0, sum1),
                                                _mm512_add_ps (sum2, sum3)));
}
#endif

//  Planes [first, last) of a global pool
typedef struct {
    const float *x_data;        //  input
    float *y_data;              //  output, one value per plane
    int64_t size;               //  floats per plane
    bool average;               //  average, else max
    bool avx512;                //  sum with the AVX-512 kernel
} s_global_job_t;

static void
s_global_part (void *args, int64_t first, int64_t last, int thread)
{
    s_global_job_t *job = args;
    for (int64_t plane = first; plane < last; plane++) {
        const float *x_plane = job->x_data + plane * job->size;
        if (!job->average)
            job->y_data [plane] = zi_vec_max (x_plane, job->size);
        else
        if (job->size == 0)
            job->y_data [plane] = 0;
        else {
#if defined (ZI_HAVE_AVX512)
            if (job->avx512) {
                job->y_data [plane] = s_sum_avx512 (x_plane, job->size) / (float) job->size;
                continue;
            }
#endif
            job->y_data [plane] = zi_vec_sum (x_plane, job->size) / (float) job->size;
        }
    }
}

static int
s_global_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out, bool average)
{
    const zi_tensor_t *x = in [0];
    int64_t planes = x->dims [0] * x->dims [1];
    int64_t size = zi_shape_count (x->ndim - 2, x->dims + 2);
    s_global_job_t job = {zi_tensor_f32 (x), zi_tensor_f32 (out [0]), size, average,
                          zi_use_avx512 ()};
    int64_t unit = size >= S_PART_FLOATS? 1: S_PART_FLOATS / (size > 0? size: 1);
    zi_exec_parallel (exec, planes, unit, s_global_part, &job);
    return 0;
}

static int
s_global_average_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                      zi_tensor_t *const *out)
{
    return s_global_run (node, exec, in, out, true);
}

static int
s_global_max_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                  zi_tensor_t *const *out)
{
    return s_global_run (node, exec, in, out, false);
}

const zi_op_t zi_op_GlobalAveragePool = {
    .name = "GlobalAveragePool", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .infer = s_global_infer, .run = s_global_average_run,
    .dtypes = {ZI_DT (ZI_F32)}
};

const zi_op_t zi_op_GlobalMaxPool = {
    .name = "GlobalMaxPool", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .infer = s_global_infer, .run = s_global_max_run,
    .dtypes = {ZI_DT (ZI_F32)}
};

//  --------------------------------------------------------------------------
//  Self test: every result is compared with a naive reference that walks
//  each window tap by tap with the spec's formulas

typedef struct {
    const char *op;             //  MaxPool or AveragePool
    int n_spatial;              //  1 or 2
    int64_t dims [4];           //  input shape
    int64_t kernel [2];
    int64_t strides [2];        //  0: attribute absent
    int64_t dilations [2];      //  0: attribute absent
    int64_t pads [4];
    bool set_pads;              //  write the pads attribute
    const char *auto_pad;       //  NULL: attribute absent
    int ceil_mode;
    int count_include_pad;
    bool specials;              //  NaN and infinities among the inputs
    int opset;                  //  0: the default
} s_case_t;

//  The spec's output extent and pads for one axis, written independently
//  of s_axis_plan: floating-point ceil/floor as in the ONNX text
static void
s_ref_axis (const s_case_t *c, int axis, int64_t in, int64_t *out, int64_t *pad_begin,
            int64_t *pad_end)
{
    int64_t kernel = c->kernel [axis];
    int64_t stride = c->strides [axis]? c->strides [axis]: 1;
    int64_t dilation = c->dilations [axis]? c->dilations [axis]: 1;
    int64_t effective = (kernel - 1) * dilation + 1;
    const char *auto_pad = c->auto_pad? c->auto_pad: "NOTSET";
    if (strcmp (auto_pad, "SAME_UPPER") == 0 || strcmp (auto_pad, "SAME_LOWER") == 0) {
        *out = (int64_t) ceil ((double) in / (double) stride);
        int64_t total = (*out - 1) * stride + effective - in;
        if (total < 0)
            total = 0;
        if (strcmp (auto_pad, "SAME_UPPER") == 0)
            *pad_begin = total / 2;
        else
            *pad_begin = (total + 1) / 2;
        *pad_end = total - *pad_begin;
        return;
    }
    if (strcmp (auto_pad, "VALID") == 0) {
        *pad_begin = *pad_end = 0;
        *out = (int64_t) ceil ((double) (in - effective + 1) / (double) stride);
        return;
    }
    *pad_begin = c->pads [axis];
    *pad_end = c->pads [axis + c->n_spatial];
    double ratio = (double) (in + *pad_begin + *pad_end - effective) / (double) stride + 1;
    *out = (int64_t) (c->ceil_mode? ceil (ratio): floor (ratio));
    if (c->ceil_mode && (*out - 1) * stride >= in + *pad_begin)
        *out -= 1;
}

static void
s_ref_pool (const s_case_t *c, const float *x, float *y, int64_t *out_dims)
{
    int64_t in_h = c->n_spatial == 2? c->dims [2]: 1;
    int64_t in_w = c->dims [c->n_spatial + 1];
    int64_t out_h = 1, out_w, pad_top = 0, pad_bottom = 0, pad_left, pad_right;
    int ax_w = c->n_spatial - 1;
    if (c->n_spatial == 2)
        s_ref_axis (c, 0, in_h, &out_h, &pad_top, &pad_bottom);
    s_ref_axis (c, ax_w, in_w, &out_w, &pad_left, &pad_right);
    int64_t kernel_h = c->n_spatial == 2? c->kernel [0]: 1;
    int64_t kernel_w = c->kernel [ax_w];
    int64_t stride_h = c->n_spatial == 2 && c->strides [0]? c->strides [0]: 1;
    int64_t stride_w = c->strides [ax_w]? c->strides [ax_w]: 1;
    int64_t dil_h = c->n_spatial == 2 && c->dilations [0]? c->dilations [0]: 1;
    int64_t dil_w = c->dilations [ax_w]? c->dilations [ax_w]: 1;
    out_dims [0] = out_h;
    out_dims [1] = out_w;
    bool is_max = strcmp (c->op, "MaxPool") == 0;
    for (int64_t plane = 0; plane < c->dims [0] * c->dims [1]; plane++)
    for (int64_t oh = 0; oh < out_h; oh++)
    for (int64_t ow = 0; ow < out_w; ow++) {
        double best = -FLT_MAX, sum = 0;
        int64_t valid = 0, padded = 0;
        for (int64_t kh = 0; kh < kernel_h; kh++)
        for (int64_t kw = 0; kw < kernel_w; kw++) {
            int64_t ih = oh * stride_h - pad_top + kh * dil_h;
            int64_t iw = ow * stride_w - pad_left + kw * dil_w;
            if (ih >= -pad_top && ih < in_h + pad_bottom
                && iw >= -pad_left && iw < in_w + pad_right)
                padded++;
            if (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w)
                continue;
            double value = x [(plane * in_h + ih) * in_w + iw];
            valid++;
            sum += value;
            if (value > best || isnan (value))
                best = value;           //  NaN wins and stays, as in torch
        }
        int64_t divisor = c->count_include_pad? padded: valid;
        y [(plane * out_h + oh) * out_w + ow] =
            (float) (is_max? best: (divisor? sum / (double) divisor: 0));
    }
}

static zi_node_t *
s_case_node (const s_case_t *c)
{
    zi_node_t *node = zi_node_new (c->op, "test");
    if (c->opset)
        node->opset = c->opset;
    zi_node_set_ints (node, "kernel_shape", c->n_spatial, c->kernel);
    if (c->strides [0])
        zi_node_set_ints (node, "strides", c->n_spatial, c->strides);
    if (c->dilations [0])
        zi_node_set_ints (node, "dilations", c->n_spatial, c->dilations);
    if (c->set_pads)
        zi_node_set_ints (node, "pads", 2 * c->n_spatial, c->pads);
    if (c->auto_pad)
        zi_node_set_string (node, "auto_pad", c->auto_pad);
    if (c->ceil_mode)
        zi_node_set_int (node, "ceil_mode", c->ceil_mode);
    if (c->count_include_pad)
        zi_node_set_int (node, "count_include_pad", c->count_include_pad);
    return node;
}

//  Runs the node again on an exec of 2 and of 3 threads: the output must
//  have the bits y has from one thread
static void
s_check_threads (zi_test_t *t, const char *what, zi_node_t *node, zi_tensor_t *x,
                 const zi_tensor_t *y)
{
    zi_tensor_t *again = zi_tensor_new (y->dtype, y->ndim, y->dims);
    for (int threads = 2; threads <= 3; threads++) {
        zi_exec_t *exec = zi_exec_new ();
        zi_exec_set_threads (exec, threads);
        for (size_t item = 0; item < zi_tensor_count (again); item++)
            zi_tensor_f32 (again) [item] = NAN;
        int rc = node->op->run (node, exec, (const zi_tensor_t *[]) {x}, &again);
        ZI_CHECK (t, rc == 0 && memcmp (again->data, y->data, y->nbytes) == 0,
                  "%s: %d threads give the bits of one", what, threads);
        zi_exec_destroy (&exec);
    }
    zi_tensor_destroy (&again);
}

//  Puts NaN, +inf and -inf at scattered places of x, some windows with
//  more than one, so a NaN meets every tap position and loop (border,
//  vector body, tail) in one case or another
static void
s_sprinkle_specials (zi_tensor_t *x, uint32_t seed)
{
    float *data = zi_tensor_f32 (x);
    size_t count = zi_tensor_count (x);
    for (size_t item = seed % 7; item < count; item += 13 + seed % 5) {
        uint32_t pick = (uint32_t) (item * 2654435761u) >> 28;
        data [item] = pick < 10? NAN: pick < 13? INFINITY: -INFINITY;
    }
}

//  The check of ZI_CHECK_CLOSE, where NaN must meet NaN and an infinity
//  the same infinity
static void
s_check_close_nan (zi_test_t *t, const char *what, const float *got, const float *want,
                   size_t count)
{
    size_t wrong = count;
    for (size_t item = 0; item < count && wrong == count; item++) {
        bool same = isnan (want [item])? isnan (got [item]):
                    isinf (want [item])? got [item] == want [item]:
                    fabsf (got [item] - want [item]) <= 1e-5f + 1e-5f * fabsf (want [item]);
        if (!same)
            wrong = item;
    }
    ZI_CHECK (t, wrong == count, "%s: %zu values, first wrong at [%zd]: got %g want %g",
              what, count, wrong == count? (ssize_t) -1: (ssize_t) wrong,
              wrong == count? 0: got [wrong], wrong == count? 0: want [wrong]);
}

static void
s_check_case (zi_test_t *t, const s_case_t *c, uint32_t seed)
{
    char what [256];
    snprintf (what, sizeof what,
              "%s %dd in [%lld..] k %lldx%lld s %lld,%lld d %lld,%lld pads %lld,%lld,%lld,%lld "
              "%s ceil %d cip %d", c->op, c->n_spatial, (long long) c->dims [2],
              (long long) c->kernel [0], (long long) c->kernel [1],
              (long long) c->strides [0], (long long) c->strides [1],
              (long long) c->dilations [0], (long long) c->dilations [1],
              (long long) c->pads [0], (long long) c->pads [1], (long long) c->pads [2],
              (long long) c->pads [3], c->auto_pad? c->auto_pad: "-", c->ceil_mode,
              c->count_include_pad);
    if (c->specials)
        strncat (what, " with NaN and infinities", sizeof what - strlen (what) - 1);
    int ndim = 2 + c->n_spatial;
    zi_tensor_t *x = zi_test_random (ndim, c->dims, seed);
    if (c->specials)
        s_sprinkle_specials (x, seed);
    zi_node_t *node = s_case_node (c);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int64_t out_dims [2];
        size_t count = zi_tensor_count (x);
        float *want = calloc (count * 4 + 16, sizeof (float));
        assert (want);
        s_ref_pool (c, zi_tensor_f32 (x), want, out_dims);
        bool shape_ok = y->ndim == ndim && y->dims [0] == c->dims [0]
                     && y->dims [1] == c->dims [1] && y->dims [ndim - 1] == out_dims [1]
                     && (c->n_spatial == 1 || y->dims [2] == out_dims [0]);
        ZI_CHECK (t, shape_ok, "%s: output shape, want [.., %lld, %lld]", what,
                  (long long) out_dims [0], (long long) out_dims [1]);
        if (shape_ok && c->specials)
            s_check_close_nan (t, what, zi_tensor_f32 (y), want, zi_tensor_count (y));
        else
        if (shape_ok)
            ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, zi_tensor_count (y), 1e-5f, 1e-5f);
        free (want);
        s_check_threads (t, what, node, x, y);
    }
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&x);
    zi_node_destroy (&node);
}

//  Runs a node that must fail and checks the message names the problem
static void
s_check_error (zi_test_t *t, zi_node_t *node, zi_tensor_t *x, int n_outputs, const char *needle)
{
    zi_tensor_t *outputs [2] = {NULL, NULL};
    int rc = zi_test_run_op (node, 1, &x, n_outputs, outputs);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle) != NULL,
              "%s rejected with '%s': %s", node->op_type, needle, zi_error_text ());
    zi_tensor_destroy (&outputs [0]);
    zi_tensor_destroy (&outputs [1]);
    zi_node_destroy (&node);
}

void
zi_act_pool_test (zi_test_t *t)
{
    static const char *ops [] = {"MaxPool", "AveragePool"};
    uint32_t seed = 1;
    for (int op = 0; op < 2; op++) {
        //  Plain, strided, padded (symmetric and not), odd shapes
        s_case_t cases [] = {
            {.n_spatial = 2, .dims = {1, 1, 4, 4}, .kernel = {2, 2}, .strides = {2, 2}},
            {.n_spatial = 2, .dims = {2, 3, 7, 9}, .kernel = {3, 3}, .strides = {1, 1}},
            {.n_spatial = 2, .dims = {2, 3, 7, 9}, .kernel = {3, 3}, .strides = {2, 2},
             .pads = {1, 1, 1, 1}, .set_pads = true},
            {.n_spatial = 2, .dims = {1, 2, 8, 11}, .kernel = {3, 2}, .strides = {2, 3},
             .pads = {0, 1, 2, 1}, .set_pads = true},
            {.n_spatial = 2, .dims = {1, 2, 5, 6}, .kernel = {2, 3}, .strides = {1, 1},
             .pads = {1, 2, 0, 1}, .set_pads = true, .count_include_pad = 1},
            {.n_spatial = 2, .dims = {1, 1, 13, 10}, .kernel = {3, 3}, .strides = {3, 3},
             .pads = {1, 1, 1, 1}, .set_pads = true, .count_include_pad = 1},
            {.n_spatial = 2, .dims = {1, 1, 2, 2}, .kernel = {3, 3}, .strides = {1, 1},
             .pads = {1, 1, 1, 1}, .set_pads = true},
            //  pads >= kernel: some windows see nothing but padding
            {.n_spatial = 2, .dims = {1, 2, 3, 4}, .kernel = {2, 2}, .strides = {1, 1},
             .pads = {2, 0, 1, 3}, .set_pads = true},
            //  ceil_mode, incl. a last window that would start in the padding
            {.n_spatial = 2, .dims = {1, 2, 6, 7}, .kernel = {3, 3}, .strides = {2, 2},
             .ceil_mode = 1},
            {.n_spatial = 2, .dims = {1, 2, 5, 5}, .kernel = {2, 2}, .strides = {2, 2},
             .pads = {1, 1, 1, 1}, .set_pads = true, .ceil_mode = 1},
            {.n_spatial = 2, .dims = {1, 2, 6, 6}, .kernel = {3, 3}, .strides = {2, 2},
             .pads = {1, 1, 1, 1}, .set_pads = true, .ceil_mode = 1, .count_include_pad = 1},
            {.n_spatial = 2, .dims = {1, 1, 4, 4}, .kernel = {2, 2}, .strides = {3, 3},
             .pads = {1, 1, 1, 1}, .set_pads = true, .ceil_mode = 1, .count_include_pad = 1},
            //  auto_pad
            {.n_spatial = 2, .dims = {1, 2, 7, 8}, .kernel = {3, 2}, .strides = {2, 2},
             .auto_pad = "SAME_UPPER"},
            {.n_spatial = 2, .dims = {1, 2, 7, 8}, .kernel = {3, 2}, .strides = {2, 2},
             .auto_pad = "SAME_LOWER"},
            {.n_spatial = 2, .dims = {1, 2, 6, 5}, .kernel = {4, 4}, .strides = {1, 1},
             .auto_pad = "SAME_LOWER", .count_include_pad = 1},
            {.n_spatial = 2, .dims = {1, 2, 7, 8}, .kernel = {3, 2}, .strides = {2, 3},
             .auto_pad = "VALID"},
            {.n_spatial = 2, .dims = {1, 2, 7, 8}, .kernel = {2, 2}, .auto_pad = "NOTSET"},
            //  1-d
            {.n_spatial = 1, .dims = {2, 3, 11}, .kernel = {3}, .strides = {2}, .pads = {1, 0},
             .set_pads = true},
            {.n_spatial = 1, .dims = {1, 2, 10}, .kernel = {4}, .strides = {3}, .pads = {2, 1},
             .set_pads = true, .ceil_mode = 1, .count_include_pad = 1},
            //  wide rows, to exercise the vectorised interior
            {.n_spatial = 2, .dims = {1, 3, 9, 67}, .kernel = {3, 3}, .strides = {1, 1},
             .pads = {1, 1, 1, 1}, .set_pads = true},
            {.n_spatial = 2, .dims = {1, 3, 9, 67}, .kernel = {3, 3}, .strides = {2, 2},
             .pads = {1, 1, 1, 1}, .set_pads = true},
            {.n_spatial = 2, .dims = {1, 3, 9, 67}, .kernel = {2, 5}, .strides = {1, 4},
             .pads = {1, 2, 1, 2}, .set_pads = true},
            //  large enough to be shared out between threads (resnet's
            //  and squeezenet's pools)
            {.n_spatial = 2, .dims = {1, 24, 112, 112}, .kernel = {3, 3}, .strides = {2, 2},
             .pads = {1, 1, 1, 1}, .set_pads = true},
            {.n_spatial = 2, .dims = {2, 16, 55, 55}, .kernel = {3, 3}, .strides = {2, 2},
             .ceil_mode = 1},
        };
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
            cases [index].op = ops [op];
            s_check_case (t, &cases [index], seed++);
            cases [index].specials = true;
            s_check_case (t, &cases [index], seed++);
        }
    }
    //  Dilations: MaxPool, and AveragePool from opset 19 (with and
    //  without the padding counted)
    s_case_t dilated [] = {
        {.n_spatial = 2, .dims = {1, 2, 9, 10}, .kernel = {3, 3}, .strides = {1, 1},
         .dilations = {2, 2}},
        {.n_spatial = 2, .dims = {1, 2, 9, 40}, .kernel = {2, 3}, .strides = {2, 1},
         .dilations = {3, 2}, .pads = {2, 1, 2, 3}, .set_pads = true},
        {.n_spatial = 2, .dims = {1, 1, 8, 8}, .kernel = {2, 2}, .strides = {2, 2},
         .dilations = {2, 2}, .pads = {1, 1, 1, 1}, .set_pads = true, .ceil_mode = 1},
        {.n_spatial = 2, .dims = {1, 1, 7, 9}, .kernel = {2, 3}, .strides = {2, 2},
         .dilations = {2, 2}, .auto_pad = "SAME_UPPER"},
        {.n_spatial = 1, .dims = {1, 2, 12}, .kernel = {3}, .strides = {1}, .dilations = {3},
         .pads = {2, 2}, .set_pads = true},
        //  wide enough for the stride-2 SIMD interior, its taps dilated
        {.n_spatial = 2, .dims = {1, 2, 5, 71}, .kernel = {2, 3}, .strides = {2, 2},
         .dilations = {1, 3}, .pads = {0, 2, 1, 1}, .set_pads = true},
    };
    for (size_t index = 0; index < sizeof dilated / sizeof dilated [0]; index++) {
        dilated [index].op = "MaxPool";
        s_check_case (t, &dilated [index], seed++);
        dilated [index].specials = true;
        s_check_case (t, &dilated [index], seed++);
        dilated [index].specials = false;
        dilated [index].op = "AveragePool";
        dilated [index].opset = 19;
        s_check_case (t, &dilated [index], seed++);
        dilated [index].count_include_pad = 1;
        s_check_case (t, &dilated [index], seed++);
    }

    //  The portable interior loops too, where the SIMD ones would run
    zi_isa_set_cap (ZI_ISA_PORTABLE);
    s_case_t portable [] = {
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 9, 67}, .kernel = {3, 3},
         .strides = {2, 2}, .pads = {1, 1, 1, 1}, .set_pads = true},
        {.op = "AveragePool", .n_spatial = 2, .dims = {2, 4, 23, 55}, .kernel = {3, 3},
         .strides = {2, 2}, .ceil_mode = 1},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 2, 5, 71}, .kernel = {2, 3},
         .strides = {2, 2}, .dilations = {1, 3}, .pads = {0, 2, 1, 1}, .set_pads = true},
    };
    for (size_t index = 0; index < sizeof portable / sizeof portable [0]; index++) {
        s_check_case (t, &portable [index], seed++);
        portable [index].specials = true;
        s_check_case (t, &portable [index], seed++);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  The AVX2 column and stride-2 row passes too, where the AVX-512 ones
    //  would run: rows with a tail of three columns and of seven, specials
    //  included
    if (zi_test_isa (t, ZI_ISA_AVX2)) {
        s_case_t avx2 [] = {
            {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 9, 67}, .kernel = {3, 3},
             .strides = {1, 1}, .pads = {1, 1, 1, 1}, .set_pads = true},
            {.op = "AveragePool", .n_spatial = 2, .dims = {2, 4, 23, 55}, .kernel = {3, 3},
             .strides = {2, 2}, .ceil_mode = 1},
            {.op = "MaxPool", .n_spatial = 2, .dims = {1, 2, 16, 23}, .kernel = {4, 2},
             .strides = {1, 1}},
            {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 9, 67}, .kernel = {3, 3},
             .strides = {2, 2}, .pads = {1, 1, 1, 1}, .set_pads = true},
            {.op = "MaxPool", .n_spatial = 2, .dims = {2, 16, 55, 55}, .kernel = {3, 3},
             .strides = {2, 2}, .ceil_mode = 1},
        };
        for (size_t index = 0; index < sizeof avx2 / sizeof avx2 [0]; index++) {
            s_check_case (t, &avx2 [index], seed++);
            avx2 [index].specials = true;
            s_check_case (t, &avx2 [index], seed++);
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  The 3x3 stride-2 max in one pass, at AVX-512 and at AVX2: rows
    //  whose last step is whole, or ends one float short of the third
    //  vector (65 and 66 columns at AVX-512; 33, 34 and 17 at AVX2), or
    //  masked; with padding and ceil mode (border columns on both sides),
    //  a window past the bottom row, and planes narrower than one step
    s_case_t fused [] = {
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 9, 65}, .kernel = {3, 3},
         .strides = {2, 2}},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 9, 66}, .kernel = {3, 3},
         .strides = {2, 2}},
        {.op = "MaxPool", .n_spatial = 2, .dims = {2, 5, 27, 27}, .kernel = {3, 3},
         .strides = {2, 2}, .ceil_mode = 1},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 2, 12, 112}, .kernel = {3, 3},
         .strides = {2, 2}, .pads = {1, 1, 1, 1}, .set_pads = true},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 2, 10, 100}, .kernel = {3, 3},
         .strides = {2, 2}, .pads = {0, 2, 1, 0}, .set_pads = true, .ceil_mode = 1},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 4, 7, 5}, .kernel = {3, 3},
         .strides = {2, 2}, .pads = {1, 1, 1, 1}, .set_pads = true},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 7, 33}, .kernel = {3, 3},
         .strides = {2, 2}},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 7, 34}, .kernel = {3, 3},
         .strides = {2, 2}, .ceil_mode = 1},
        {.op = "MaxPool", .n_spatial = 2, .dims = {1, 3, 7, 17}, .kernel = {3, 3},
         .strides = {2, 2}, .pads = {0, 1, 0, 1}, .set_pads = true},
        {.op = "MaxPool", .n_spatial = 2, .dims = {2, 8, 111, 111}, .kernel = {3, 3},
         .strides = {2, 2}, .ceil_mode = 1},
    };
    zi_isa_t fused_levels [2] = {ZI_ISA_AVX512, ZI_ISA_AVX2};
    for (int level = 0; level < 2; level++) {
        if (!zi_test_isa (t, fused_levels [level]))
            continue;
        for (size_t index = 0; index < sizeof fused / sizeof fused [0]; index++) {
            s_case_t one = fused [index];
            s_check_case (t, &one, seed++);
            one.specials = true;
            s_check_case (t, &one, seed++);
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  The one-pass rows at AVX2 and AVX-512: a row's last step loads only
    //  the vectors its stored columns' taps reach, a step's third vector is
    //  the next one's first, and a plane's run of whole rows goes in one
    //  call (at AVX-512 fetching rows ahead, up to the plane's end). Every
    //  input width from 9 to one step's 32 or 64 columns on (each place the
    //  last tap can fall in a step, with a right padding column in ceil
    //  mode or none), heights odd and even with a window past the bottom
    //  row or a padded top, and a taller padded plane, each at one, two and
    //  three threads (s_check_case)
    zi_isa_t row_levels [2] = {ZI_ISA_AVX512, ZI_ISA_AVX2};
    for (int level = 0; level < 2; level++) {
        if (!zi_test_isa (t, row_levels [level]))
            continue;
        int64_t widest = row_levels [level] == ZI_ISA_AVX512? 73: 41;
        for (int64_t width = 9; width <= widest; width++)
            for (int shape = 0; shape < 4; shape++) {
                s_case_t one = {.op = "MaxPool", .n_spatial = 2,
                                .dims = {1, 3, shape == 3? 18: 9 + shape, width},
                                .kernel = {3, 3}, .strides = {2, 2},
                                .ceil_mode = shape == 0 || shape == 2};
                if (shape >= 2) {
                    one.pads [0] = one.pads [1] = one.pads [2] = one.pads [3] = 1;
                    one.set_pads = true;
                }
                s_check_case (t, &one, seed++);
                one.specials = true;
                s_check_case (t, &one, seed++);
            }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  Global pools against a direct sum / max, at every instruction set
    //  the CPU has. Planes of 49 floats (three whole sixteen-float vectors
    //  and one masked), 256 (four steps of 64), 81 (64, 16 and a masked
    //  one) and odd sizes for AVX-512's sums
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (int op = 0; op < 2; op++) {
            int64_t shapes [6][5] = {{2, 3, 5, 7}, {1, 4, 33}, {1, 2, 3, 4, 5}, {1, 3, 7, 7},
                                     {2, 2, 16, 16}, {1, 2, 9, 9}};
            int ranks [6] = {4, 3, 5, 4, 4, 4};
            for (int shape = 0; shape < 12; shape++) {
                //  the shapes again with NaN and infinities among the inputs
                bool specials = shape >= 6;
                zi_node_t *node = zi_node_new (op? "GlobalMaxPool": "GlobalAveragePool", "test");
                zi_tensor_t *x = zi_test_random (ranks [shape % 6], shapes [shape % 6], seed++);
                if (specials)
                    s_sprinkle_specials (x, seed);
                zi_tensor_t *y = NULL;
                int rc = zi_test_run_op (node, 1, &x, 1, &y);
                ZI_CHECK (t, rc == 0, "%s runs: %s", node->op_type, rc? zi_error_text (): "ok");
                if (rc == 0) {
                    int64_t planes = shapes [shape % 6][0] * shapes [shape % 6][1];
                    int64_t size = zi_tensor_count (x) / planes;
                    float want [16];
                    const float *xs = zi_tensor_f32 (x);
                    for (int64_t plane = 0; plane < planes; plane++) {
                        double sum = 0, best = -INFINITY;
                        for (int64_t item = 0; item < size; item++) {
                            double value = xs [plane * size + item];
                            sum += value;
                            best = isnan (value) || isnan (best)? NAN: fmax (best, value);
                        }
                        want [plane] = (float) (op? best: sum / size);
                    }
                    int rank = ranks [shape % 6];
                    ZI_CHECK (t, y->ndim == rank && y->dims [1] == shapes [shape % 6][1]
                              && y->dims [2] == 1 && y->dims [rank - 1] == 1,
                              "%s keeps rank with 1s", node->op_type);
                    if (specials)
                        s_check_close_nan (t, node->op_type, zi_tensor_f32 (y), want, planes);
                    else
                        ZI_CHECK_CLOSE (t, node->op_type, zi_tensor_f32 (y), want, planes,
                                        1e-5f, 1e-5f);
                }
                zi_tensor_destroy (&y);
                zi_tensor_destroy (&x);
                zi_node_destroy (&node);
            }
            //  Planes shared out between threads
            zi_node_t *node = zi_node_new (op? "GlobalMaxPool": "GlobalAveragePool", "threads");
            zi_tensor_t *x = zi_test_random (4, (int64_t []) {2, 96, 28, 28}, seed++);
            zi_tensor_t *y = NULL;
            if (zi_test_run_op (node, 1, &x, 1, &y) == 0)
                s_check_threads (t, node->op_type, node, x, y);
            zi_tensor_destroy (&y);
            zi_tensor_destroy (&x);
            zi_node_destroy (&node);
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  Errors
    int64_t dims [4] = {1, 1, 4, 4};
    zi_tensor_t *x = zi_test_random (4, dims, 99);
    zi_node_t *node = zi_node_new ("MaxPool", "test");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {2, 2});
    s_check_error (t, node, x, 2, "Indices");
    node = zi_node_new ("MaxPool", "test");
    s_check_error (t, node, x, 1, "kernel_shape");
    node = zi_node_new ("MaxPool", "test");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {2, 2});
    zi_node_set_int (node, "storage_order", 1);
    s_check_error (t, node, x, 1, "storage_order");
    node = zi_node_new ("AveragePool", "test");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {2, 2});
    zi_node_set_string (node, "auto_pad", "SAME");
    s_check_error (t, node, x, 1, "auto_pad");
    node = zi_node_new ("AveragePool", "test");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {2, 2});
    zi_node_set_ints (node, "pads", 2, (int64_t []) {1, 1});
    s_check_error (t, node, x, 1, "pads");
    node = zi_node_new ("AveragePool", "test");
    node->opset = 18;
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {2, 2});
    zi_node_set_ints (node, "dilations", 2, (int64_t []) {2, 2});
    s_check_error (t, node, x, 1, "from opset 19");
    node = zi_node_new ("MaxPool", "test");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {6, 6});
    s_check_error (t, node, x, 1, "larger than the padded input");
    node = zi_node_new ("MaxPool", "test");
    zi_node_set_ints (node, "kernel_shape", 1, (int64_t []) {2});
    s_check_error (t, node, x, 1, "expected 3-d input");
    node = zi_node_new ("MaxPool", "test");
    zi_node_set_ints (node, "kernel_shape", 3, (int64_t []) {2, 2, 2});
    s_check_error (t, node, x, 1, "only 1-d and 2-d");
    node = zi_node_new ("GlobalAveragePool", "test");
    zi_tensor_t *flat = zi_test_random (2, dims, 98);
    s_check_error (t, node, flat, 1, "at least one spatial axis");
    zi_tensor_destroy (&flat);
    zi_tensor_destroy (&x);

    //  MaxPool with an unused Indices slot (-1) is fine
    node = zi_node_new ("MaxPool", "test");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {2, 2});
    x = zi_test_random (4, dims, 97);
    zi_tensor_t *y = NULL;
    free (node->outputs);
    node->n_outputs = 2;
    node->outputs = malloc (2 * sizeof (int));
    node->outputs [0] = 1;
    node->outputs [1] = -1;
    ZI_CHECK (t, node->op->init (node) == 0, "MaxPool with omitted Indices initialises");
    ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == 0, "and runs");
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&x);
    zi_node_destroy (&node);
}
