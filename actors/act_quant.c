/*  =========================================================================
    act_quant - quantized inference: QuantizeLinear, DequantizeLinear,
    DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul and
    QLinearConv, on int8 and uint8 with int32 accumulation

    Quantization follows the spec's formulas exactly:
        QuantizeLinear    y = saturate (round (x / scale) + zero_point)
        DequantizeLinear  y = (x - zero_point) * scale
    round is to nearest, ties to even (rintf), and saturate clamps to the
    range of the output type (a NaN gives its lowest value). scale and
    zero_point are one value (per tensor) or, from opset 13, one per entry
    of axis (per axis). Opset 19's saturate attribute concerns only float8
    types and changes nothing here; opset 21's blocked quantization
    (block_size) and 4-bit, 16-bit and float8 types are refused.

    The integer products all run on one kernel: C = A B over K, A uint8
    row-major, B int8 packed in panels of 16 columns by quads of K (64
    bytes per quad), int32 sums. Any other pair of types maps onto it
    without changing a product: an int8 A becomes uint8 by adding 128 to
    every element and to its zero point, a uint8 B int8 by subtracting
    128, and (A - a_zp) (B - b_zp) stays the same. The zero points come
    back in afterwards from the row sums of A and the column sums of B:
        sum (A - a_zp)(B - b_zp)
            = sum AB - b_zp sum A - a_zp sum B + K a_zp b_zp
    The kernel has four forms, chosen at run time (act_isa.c):
      - avx512 with VNNI: vpdpbusd adds four u8 x s8 products into each of
        16 int32 lanes in one instruction;
      - avx2 with every |B| <= 64: vpmaddubsw makes pairs of products in
        int16, which cannot saturate then (2 x 255 x 64 < 32768), and
        vpmaddwd adds the pairs into int32;
      - avx2 otherwise: the bytes widened to int16 and vpmaddwd, exact for
        every value;
      - portable C, the reference the self test holds the others to.
    ConvInteger and QLinearConv pack their im2col columns straight into
    B's layout, with the weights as A, from a padded copy of X so that no
    tap needs a bounds check; MatMulInteger and QLinearMatMul pack a
    constant B once in prepare, and a computed one per run.
    Requantization (the QLinear ops, and QuantizeLinear of floats) runs a
    row at a time in AVX-512, AVX2 or portable C, the same float steps in
    the same order in each, so all give the same bytes; QLinearConv's
    sums go to 8 bits tile by tile in registers under AVX-512.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_conv.h"
#include <stdatomic.h>

//  Columns of a packed panel, and bytes of K per group in it
#define S_NR 16
#define S_KQ 4
//  Rows of A a kernel call makes together
#define S_MR 4

//  --------------------------------------------------------------------------
//  Helpers

static const zi_tensor_t *
s_input (const zi_node_t *node, const zi_tensor_t *const *in, int slot)
{
    return slot < node->n_inputs? in [slot]: NULL;
}

static bool
s_is_8bit (zi_dtype_t dtype)
{
    return dtype == ZI_U8 || dtype == ZI_I8;
}

//  The range of a quantized type
static void
s_range (zi_dtype_t dtype, int32_t *low, int32_t *high)
{
    *low = dtype == ZI_U8? 0: -128;
    *high = dtype == ZI_U8? 255: 127;
}

//  Rounds to nearest even and saturates into [low, high]; NaN gives low
static inline int32_t
s_saturate (float value, float low, float high)
{
    value = rintf (value);
    if (!(value >= low))
        return (int32_t) low;
    return (int32_t) (value > high? high: value);
}

//  Element item of a zero point (any integer type), 0 when there is none
static inline int32_t
s_zero_at (const zi_tensor_t *zero, int64_t item)
{
    if (!zero)
        return 0;
    if (zi_tensor_count (zero) == 1)
        item = 0;
    switch (zero->dtype) {
        case ZI_U8:  return ((const uint8_t *) zero->data) [item];
        case ZI_I8:  return ((const int8_t *) zero->data) [item];
        case ZI_I32: return ((const int32_t *) zero->data) [item];
        default:     return (int32_t) zi_dtype_get (zero->data, zero->dtype, item);
    }
}

static inline float
s_scale_at (const zi_tensor_t *scale, int64_t item)
{
    return ((const float *) scale->data) [zi_tensor_count (scale) == 1? 0: item];
}

//  y = saturate (round (acc * multiplier) + zero), the requantization of
//  the QLinear ops
static inline int32_t
s_requantize (int32_t acc, float multiplier, int32_t zero, float low, float high)
{
    return s_saturate (rintf ((float) acc * multiplier) + (float) zero, low, high);
}

//  One row of requantization: y [i] from acc [i] + bias (int32 sums wrap
//  as the spec's do), by multipliers [i * step] (step 0: one for all),
//  into uint8 or int8. The vector forms make the same float operations in
//  the same order as s_requantize: the int32 to float conversion, the
//  product and the rounding to nearest even; the clamp comes before the
//  conversion back, with max (v, low) giving low for a NaN as s_saturate
//  does, so every form gives the same bytes
typedef struct {
    const float *x;             //  QuantizeLinear's input, divided by divisor,
    float divisor;              //  instead of the sums when not NULL
    const int32_t *acc;         //  the sums
    int32_t bias;               //  added to each
    const float *multipliers;   //  one per item, or one for all
    int step;                   //  1 or 0
    int32_t zero;               //  Y's zero point
    zi_dtype_t type;            //  uint8 or int8
    void *y;                    //  the output
} s_requant_row_t;

typedef enum {
    S_REQUANT_AUTO, S_REQUANT_PORTABLE, S_REQUANT_AVX2, S_REQUANT_AVX512
} s_requant_t;

//  The self test's choice; AUTO in real runs
static s_requant_t s_requant_forced = S_REQUANT_AUTO;

static void
s_requant_portable (const s_requant_row_t *row, int64_t first, int64_t count)
{
    int32_t low, high;
    s_range (row->type, &low, &high);
    for (int64_t item = first; item < first + count; item++) {
        int32_t value = row->x? s_saturate (rintf (row->x [item] / row->divisor)
                                            + (float) row->zero, (float) low, (float) high)
                              : s_requantize ((int32_t) ((uint32_t) row->acc [item]
                                                         + (uint32_t) row->bias),
                                              row->multipliers [item * row->step], row->zero,
                                              (float) low, (float) high);
        if (row->type == ZI_U8)
            ((uint8_t *) row->y) [item] = (uint8_t) value;
        else
            ((int8_t *) row->y) [item] = (int8_t) value;
    }
}

#if defined (ZI_HAVE_AVX2)
static ZI_AVX2 inline __m256i
s_requant8_avx2 (const s_requant_row_t *row, int64_t at, __m256 low, __m256 high,
                 __m256 zero)
{
    __m256 value;
    if (row->x)
        value = _mm256_div_ps (_mm256_loadu_ps (row->x + at), _mm256_set1_ps (row->divisor));
    else {
        __m256i acc = _mm256_add_epi32 (_mm256_loadu_si256 ((const __m256i *) (row->acc + at)),
                                        _mm256_set1_epi32 (row->bias));
        __m256 multiplier = row->step? _mm256_loadu_ps (row->multipliers + at)
                                     : _mm256_set1_ps (row->multipliers [0]);
        value = _mm256_mul_ps (_mm256_cvtepi32_ps (acc), multiplier);
    }
    value = _mm256_round_ps (value, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    value = _mm256_add_ps (value, zero);
    value = _mm256_min_ps (_mm256_max_ps (value, low), high);
    return _mm256_cvtps_epi32 (value);
}

static ZI_AVX2 void
s_requant_avx2 (const s_requant_row_t *row, int64_t count)
{
    int32_t low_int, high_int;
    s_range (row->type, &low_int, &high_int);
    __m256 low = _mm256_set1_ps ((float) low_int), high = _mm256_set1_ps ((float) high_int);
    __m256 zero = _mm256_set1_ps ((float) row->zero);
    int64_t item = 0;
    for (; item + 16 <= count; item += 16) {
        __m256i first = s_requant8_avx2 (row, item, low, high, zero);
        __m256i second = s_requant8_avx2 (row, item + 8, low, high, zero);
        //  [f0-3 s0-3 | f4-7 s4-7] as int16, put in order; in range, so
        //  the saturating packs change nothing
        __m256i halves = _mm256_permute4x64_epi64 (_mm256_packs_epi32 (first, second),
                                                   _MM_SHUFFLE (3, 1, 2, 0));
        __m128i lo = _mm256_castsi256_si128 (halves), hi = _mm256_extracti128_si256 (halves, 1);
        __m128i bytes = row->type == ZI_U8? _mm_packus_epi16 (lo, hi): _mm_packs_epi16 (lo, hi);
        _mm_storeu_si128 ((__m128i *) ((uint8_t *) row->y + item), bytes);
    }
    s_requant_portable (row, item, count - item);
}
#endif

#if defined (ZI_HAVE_AVX512)
static ZI_AVX512 void
s_requant_avx512 (const s_requant_row_t *row, int64_t count)
{
    int32_t low_int, high_int;
    s_range (row->type, &low_int, &high_int);
    __m512 low = _mm512_set1_ps ((float) low_int), high = _mm512_set1_ps ((float) high_int);
    __m512 zero = _mm512_set1_ps ((float) row->zero);
    __m512i bias = _mm512_set1_epi32 (row->bias);
    for (int64_t item = 0; item < count; item += 16) {
        __mmask16 mask = count - item >= 16? 0xffff: (__mmask16) ((1u << (count - item)) - 1);
        __m512 value;
        if (row->x)
            value = _mm512_div_ps (_mm512_maskz_loadu_ps (mask, row->x + item),
                                   _mm512_set1_ps (row->divisor));
        else {
            __m512i acc = _mm512_add_epi32 (_mm512_maskz_loadu_epi32 (mask, row->acc + item),
                                            bias);
            __m512 multiplier = row->step? _mm512_maskz_loadu_ps (mask, row->multipliers + item)
                                         : _mm512_set1_ps (row->multipliers [0]);
            value = _mm512_mul_ps (_mm512_cvtepi32_ps (acc), multiplier);
        }
        value = _mm512_roundscale_ps (value, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        value = _mm512_add_ps (value, zero);
        value = _mm512_min_ps (_mm512_max_ps (value, low), high);
        //  In range: the truncating narrowing keeps each value's byte
        _mm512_mask_cvtepi32_storeu_epi8 ((uint8_t *) row->y + item, mask,
                                          _mm512_cvtps_epi32 (value));
    }
}
#endif

//  A row at the current level, or the forced form
static void
s_requant_row (const s_requant_row_t *row, int64_t count)
{
    s_requant_t form = s_requant_forced;
    if (form == S_REQUANT_AUTO)
        form = zi_isa_level () >= ZI_ISA_AVX512? S_REQUANT_AVX512
             : zi_isa_level () >= ZI_ISA_AVX2? S_REQUANT_AVX2: S_REQUANT_PORTABLE;
    switch (form) {
#if defined (ZI_HAVE_AVX512)
        case S_REQUANT_AVX512: s_requant_avx512 (row, count); return;
#endif
#if defined (ZI_HAVE_AVX2)
        case S_REQUANT_AVX2: s_requant_avx2 (row, count); return;
#endif
        default: s_requant_portable (row, 0, count);
    }
}

//  Is a scale or zero point one value, or a 1-d tensor of count values?
static int
s_check_param (const zi_tensor_t *tensor, const char *what, int64_t count, bool per_axis_ok)
{
    char shape [128];
    if (!tensor)
        return 0;
    if (zi_shape_count (tensor->ndim, tensor->dims) == 1 && tensor->ndim <= 1)
        return 0;
    if (per_axis_ok && tensor->ndim == 1 && tensor->dims [0] == count)
        return 0;
    if (per_axis_ok)
        return zi_error ("%s: expected one value or %lld (one per entry of the axis), got %s",
                         what, (long long) count,
                         zi_shape_str (tensor->ndim, tensor->dims, shape, sizeof shape));
    return zi_error ("%s: expected one value, got %s", what,
                     zi_shape_str (tensor->ndim, tensor->dims, shape, sizeof shape));
}

static int
s_check_scale (const zi_tensor_t *scale, const char *what, int64_t count, bool per_axis_ok)
{
    if (scale->dtype != ZI_F32)
        return zi_error ("%s: expected float32, got %s", what, zi_dtype_name (scale->dtype));
    return s_check_param (scale, what, count, per_axis_ok);
}

//  Refuses opsets before the op existed
static int
s_check_opset (const zi_node_t *node, int since)
{
    if (node->opset < since)
        return zi_error ("%s exists from opset %d; the model imports opset %d",
                         node->op_type, since, node->opset);
    return 0;
}


//  --------------------------------------------------------------------------
//  QuantizeLinear and DequantizeLinear

typedef struct {
    int64_t axis;               //  the per-axis axis, as given (may be negative)
    zi_dtype_t output;          //  QuantizeLinear without a zero point: its type
} s_linear_t;

static int
s_linear_init (zi_node_t *node)
{
    bool quantize = strcmp (node->op_type, "QuantizeLinear") == 0;
    if (s_check_opset (node, 10))
        return -1;
    int64_t block = zi_node_attr_int (node, "block_size", 0);
    if (block != 0)
        return zi_error ("attribute 'block_size' = %lld: blocked quantization (opset 21) is "
                         "not supported; only per-tensor and per-axis", (long long) block);
    if (node->opset < 13 && zi_node_attr (node, "axis"))
        return zi_error ("attribute 'axis' exists from opset 13; the model imports opset %d",
                         node->opset);
    s_linear_t self = {.axis = zi_node_attr_int (node, "axis", 1), .output = ZI_U8};
    const zi_attr_t *output = zi_node_attr (node, "output_dtype");
    if (output && quantize) {
        int64_t code = zi_node_attr_int (node, "output_dtype", 0);
        if (code != 0 && code != ZI_U8 && code != ZI_I8)
            return zi_error ("attribute 'output_dtype' = %lld (%s) is not supported "
                             "(supported: 2 UINT8, 3 INT8)", (long long) code,
                             zi_onnx_type_name (code));
        if (code)
            self.output = (zi_dtype_t) code;
    }
    node->params = malloc (sizeof self);
    if (!node->params)
        return zi_error ("out of memory");
    memcpy (node->params, &self, sizeof self);
    return 0;
}

//  Checks scale and zero point against x and the axis; the axis as an
//  index, and its extent (1 when per tensor)
static int
s_linear_check (const zi_node_t *node, const zi_tensor_t *x, const zi_tensor_t *scale,
                const zi_tensor_t *zero, int *axis, int64_t *extent)
{
    const s_linear_t *self = node->params;
    *axis = 0;
    *extent = 1;
    bool per_axis = zi_shape_count (scale->ndim, scale->dims) != 1 || scale->ndim > 1;
    if (per_axis) {
        if (node->opset < 13)
            return zi_error ("input 1 (scale): one value per tensor before opset 13, got %zu",
                             zi_tensor_count (scale));
        int64_t at = self->axis < 0? self->axis + x->ndim: self->axis;
        if (at < 0 || at >= x->ndim)
            return zi_error ("attribute 'axis' = %lld is out of range for rank %d",
                             (long long) self->axis, x->ndim);
        *axis = (int) at;
        *extent = x->dims [at];
    }
    if (s_check_scale (scale, "input 1 (scale)", *extent, per_axis))
        return -1;
    if (zero) {
        if (zero->ndim != scale->ndim || zi_tensor_count (zero) != zi_tensor_count (scale))
            return zi_error ("input 2 (zero point): expected the shape of the scale");
    }
    return 0;
}

static int
s_quantize_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_linear_t *self = node->params;
    const zi_tensor_t *x = in [0], *scale = in [1], *zero = s_input (node, in, 2);
    if (x->dtype != ZI_F32 && x->dtype != ZI_I32)
        return zi_error ("input 0: expected float32 or int32, got %s", zi_dtype_name (x->dtype));
    zi_dtype_t type = self->output;
    if (zero) {
        if (!s_is_8bit (zero->dtype))
            return zi_error ("input 2 (zero point): expected uint8 or int8, got %s (other "
                             "types are not supported)", zi_dtype_name (zero->dtype));
        if (zi_node_attr (node, "output_dtype") && zi_node_attr_int (node, "output_dtype", 0)
        &&  zero->dtype != type)
            return zi_error ("attribute 'output_dtype' says %s, the zero point is %s",
                             zi_dtype_name (type), zi_dtype_name (zero->dtype));
        type = zero->dtype;
    }
    int axis;
    int64_t extent;
    if (s_linear_check (node, x, scale, zero, &axis, &extent))
        return -1;
    zi_tensor_set_shape (out [0], type, x->ndim, x->dims);
    return 0;
}

static int
s_quantize_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0], *scale = in [1], *zero = s_input (node, in, 2);
    zi_tensor_t *y = out [0];
    int axis;
    int64_t extent;
    if (s_linear_check (node, x, scale, zero, &axis, &extent))
        return -1;
    int64_t outer = extent > 1? zi_shape_count (axis, x->dims): 1;
    int64_t inner = extent > 1? zi_shape_count (x->ndim - axis - 1, x->dims + axis + 1)
                              : (int64_t) zi_tensor_count (x);
    int32_t low, high;
    s_range (y->dtype, &low, &high);
    const float *xf = x->dtype == ZI_F32? x->data: NULL;
    const int32_t *xi = x->dtype == ZI_I32? x->data: NULL;
    for (int64_t block = 0; block < outer; block++)
        for (int64_t channel = 0; channel < extent; channel++) {
            float s = s_scale_at (scale, channel);
            float zp = (float) s_zero_at (zero, channel);
            int64_t first = (block * extent + channel) * inner;
            if (xf) {
                //  Float in: the requantization's row, dividing
                s_requant_row_t row = {.x = xf + first, .divisor = s,
                                       .zero = s_zero_at (zero, channel), .type = y->dtype,
                                       .y = (uint8_t *) y->data + first};
                s_requant_row (&row, inner);
                continue;
            }
            if (y->dtype == ZI_U8) {
                uint8_t *to = (uint8_t *) y->data + first;
                for (int64_t item = 0; item < inner; item++) {
                    float value = xf? xf [first + item]: (float) xi [first + item];
                    to [item] = (uint8_t) s_saturate (rintf (value / s) + zp, low, high);
                }
            }
            else {
                int8_t *to = (int8_t *) y->data + first;
                for (int64_t item = 0; item < inner; item++) {
                    float value = xf? xf [first + item]: (float) xi [first + item];
                    to [item] = (int8_t) s_saturate (rintf (value / s) + zp, low, high);
                }
            }
        }
    return 0;
}

static int
s_dequantize_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0], *scale = in [1], *zero = s_input (node, in, 2);
    if (!s_is_8bit (x->dtype) && x->dtype != ZI_I32)
        return zi_error ("input 0: expected uint8, int8 or int32, got %s (other types are "
                         "not supported)", zi_dtype_name (x->dtype));
    if (zero && zero->dtype != x->dtype)
        return zi_error ("input 2 (zero point): expected %s like input 0, got %s",
                         zi_dtype_name (x->dtype), zi_dtype_name (zero->dtype));
    int axis;
    int64_t extent;
    if (s_linear_check (node, x, scale, zero, &axis, &extent))
        return -1;
    if (zero && x->dtype == ZI_I32 && zero->data)
        for (size_t item = 0; item < zi_tensor_count (zero); item++)
            if (s_zero_at (zero, item) != 0)
                return zi_error ("input 2 (zero point): must be 0 for int32 input, got %d",
                                 s_zero_at (zero, item));
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, x->dims);
    return 0;
}

static int
s_dequantize_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                  zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0], *scale = in [1], *zero = s_input (node, in, 2);
    int axis;
    int64_t extent;
    if (s_linear_check (node, x, scale, zero, &axis, &extent))
        return -1;
    int64_t outer = extent > 1? zi_shape_count (axis, x->dims): 1;
    int64_t inner = extent > 1? zi_shape_count (x->ndim - axis - 1, x->dims + axis + 1)
                              : (int64_t) zi_tensor_count (x);
    float *y = zi_tensor_f32 (out [0]);
    for (int64_t block = 0; block < outer; block++)
        for (int64_t channel = 0; channel < extent; channel++) {
            float s = s_scale_at (scale, channel);
            int32_t zp = s_zero_at (zero, channel);
            int64_t first = (block * extent + channel) * inner;
            float *to = y + first;
            if (x->dtype == ZI_U8) {
                const uint8_t *from = (const uint8_t *) x->data + first;
                for (int64_t item = 0; item < inner; item++)
                    to [item] = (float) (from [item] - zp) * s;
            }
            else
            if (x->dtype == ZI_I8) {
                const int8_t *from = (const int8_t *) x->data + first;
                for (int64_t item = 0; item < inner; item++)
                    to [item] = (float) (from [item] - zp) * s;
            }
            else {
                const int32_t *from = (const int32_t *) x->data + first;
                for (int64_t item = 0; item < inner; item++)
                    to [item] = (float) from [item] * s;
            }
        }
    return 0;
}

const zi_op_t zi_op_QuantizeLinear = {
    .name = "QuantizeLinear", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_QUANTIZE,
    .init = s_linear_init, .infer = s_quantize_infer, .run = s_quantize_run
};

const zi_op_t zi_op_DequantizeLinear = {
    .name = "DequantizeLinear", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_QUANTIZE,
    .init = s_linear_init, .infer = s_dequantize_infer, .run = s_dequantize_run
};


//  --------------------------------------------------------------------------
//  DynamicQuantizeLinear: uint8 with a scale and zero point that cover
//  [min (0, min x), max (0, max x)], as the spec computes them

static int
s_dynamic_init (zi_node_t *node)
{
    return s_check_opset (node, 11);
}

static int
s_dynamic_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    if (x->dtype != ZI_F32)
        return zi_error ("input 0: expected float32, got %s", zi_dtype_name (x->dtype));
    zi_tensor_set_shape (out [0], ZI_U8, x->ndim, x->dims);
    zi_tensor_set_shape (out [1], ZI_F32, 0, NULL);
    zi_tensor_set_shape (out [2], ZI_U8, 0, NULL);
    return 0;
}

static int
s_dynamic_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
               zi_tensor_t *const *out)
{
    const float *x = zi_tensor_f32 (in [0]);
    size_t count = zi_tensor_count (in [0]);
    float low = 0, high = 0;
    for (size_t item = 0; item < count; item++) {
        low = x [item] < low? x [item]: low;
        high = x [item] > high? x [item]: high;
    }
    //  All zeros: any scale will do; 1, as ONNX Runtime takes
    float scale = high == low? 1.0f: (high - low) / 255.0f;
    uint8_t zero = (uint8_t) s_saturate (0 - low / scale, 0, 255);
    if (out [0]) {
        uint8_t *y = out [0]->data;
        for (size_t item = 0; item < count; item++)
            y [item] = (uint8_t) s_saturate (rintf (x [item] / scale) + zero, 0, 255);
    }
    if (out [1])
        *zi_tensor_f32 (out [1]) = scale;
    if (out [2])
        *(uint8_t *) out [2]->data = zero;
    return 0;
}

const zi_op_t zi_op_DynamicQuantizeLinear = {
    .name = "DynamicQuantizeLinear", .min_inputs = 1, .max_inputs = 1, .max_outputs = 3,
    .batch = ZI_BATCH_ONE_SCALE,
    .init = s_dynamic_init, .infer = s_dynamic_infer, .run = s_dynamic_run
};


//  --------------------------------------------------------------------------
//  The integer product: packed B, and the kernels

typedef struct {
    int64_t depth;              //  K
    int64_t cols;               //  N
    int64_t quads;              //  K in groups of four, rounded up
    int64_t panels;             //  N in panels of 16, rounded up
    int8_t *data;               //  panels x quads x 16 x 4 bytes, zero padded
    int32_t *col_sums;          //  per column, the sum of its packed values
    bool small;                 //  every |B| <= 64: vpmaddubsw is exact
} s_qpack_t;

static size_t
s_qpack_bytes (int64_t depth, int64_t cols)
{
    return (size_t) ((cols + S_NR - 1) / S_NR) * ((depth + S_KQ - 1) / S_KQ) * S_NR * S_KQ;
}

//  Lays out pack (whose data and col_sums are allocated) from B, element
//  (k, n) at b [k ldk + n ldn], of uint8 (taken as int8 minus 128) or int8
static void
s_qpack_fill (s_qpack_t *pack, const void *b, zi_dtype_t dtype, int64_t ldk, int64_t ldn)
{
    int64_t depth = pack->depth, cols = pack->cols;
    memset (pack->data, 0, s_qpack_bytes (depth, cols));
    uint8_t flip = dtype == ZI_U8? 0x80: 0;
    int small = 1;
    for (int64_t col = 0; col < cols; col++) {
        int8_t *panel = pack->data + (col / S_NR) * pack->quads * S_NR * S_KQ;
        int32_t sum = 0;
        for (int64_t k = 0; k < depth; k++) {
            int8_t value = (int8_t) (((const uint8_t *) b) [k * ldk + col * ldn] ^ flip);
            panel [((k / S_KQ) * S_NR + col % S_NR) * S_KQ + k % S_KQ] = value;
            sum += value;
            small &= value >= -64 && value <= 64;
        }
        pack->col_sums [col] = sum;
    }
    pack->small = small;
}

static s_qpack_t *
s_qpack_new (int64_t depth, int64_t cols)
{
    s_qpack_t *pack = calloc (1, sizeof (s_qpack_t));
    if (!pack)
        return NULL;
    pack->depth = depth;
    pack->cols = cols;
    pack->quads = (depth + S_KQ - 1) / S_KQ;
    pack->panels = (cols + S_NR - 1) / S_NR;
    pack->data = zi_alloc (s_qpack_bytes (depth, cols) + 64);
    pack->col_sums = malloc ((cols + 1) * sizeof (int32_t));
    if (!pack->data || !pack->col_sums) {
        zi_free (pack->data);
        free (pack->col_sums);
        free (pack);
        return NULL;
    }
    return pack;
}

static void
s_qpack_destroy (s_qpack_t **pack_p)
{
    s_qpack_t *pack = *pack_p;
    if (pack) {
        zi_free (pack->data);
        free (pack->col_sums);
        free (pack);
        *pack_p = NULL;
    }
}

//  Which kernel: the self test asks for each in turn
typedef enum {
    S_KERNEL_AUTO, S_KERNEL_PORTABLE, S_KERNEL_AVX2, S_KERNEL_AVX2_BYTES, S_KERNEL_VNNI
} s_kernel_t;

//  The self test's choice; AUTO in real runs
static s_kernel_t s_forced = S_KERNEL_AUTO;

//  Four bytes of a row of A from k = 4 quad on, flipped to uint8; past the
//  end of the row (depth) zeros. The kernels read whole quads straight and
//  only the last, partial one through here
static inline uint32_t
s_quad (const uint8_t *row, int64_t quad, int64_t depth, uint32_t flip)
{
    uint32_t value = 0;
    int64_t at = quad * S_KQ;
    if (at + S_KQ <= depth)
        memcpy (&value, row + at, 4);
    else
        for (int64_t k = at; k < depth; k++)
            value |= (uint32_t) row [k] << (8 * (k - at));
    return value ^ flip;
}

static inline uint32_t
s_quad_whole (const uint8_t *row, int64_t quad, uint32_t flip)
{
    uint32_t value;
    memcpy (&value, row + quad * S_KQ, 4);
    return value ^ flip;
}

//  C [S_MR][16] = A [S_MR rows] B panel, portable. Every kernel makes all
//  S_MR rows (a short block repeats a row), so its loops have fixed trip
//  counts and its sums stay in registers; the caller keeps what it needs
static void
s_kernel_portable (const uint8_t *const *rows, int64_t depth, uint32_t flip,
                   const int8_t *panel, int64_t quads, int32_t (*c) [S_NR])
{
    for (int row = 0; row < S_MR; row++) {
        int32_t sums [S_NR] = {0};
        for (int64_t quad = 0; quad < quads; quad++) {
            uint32_t a = s_quad (rows [row], quad, depth, flip);
            const int8_t *b = panel + quad * S_NR * S_KQ;
            for (int col = 0; col < S_NR; col++)
                for (int k = 0; k < S_KQ; k++)
                    sums [col] += (int32_t) ((a >> (8 * k)) & 0xff) * b [col * S_KQ + k];
        }
        memcpy (c [row], sums, sizeof sums);
    }
}

#if defined (ZI_HAVE_AVX2)
//  Exact for every value: bytes widened to int16, pairs of products added
//  into int32 by vpmaddwd, the two halves of each column's sum added last.
//  Two rows at a time: eight accumulators
static ZI_AVX2 void
s_kernel_avx2 (const uint8_t *const *rows, int64_t depth, uint32_t flip,
               const int8_t *panel, int64_t quads, int32_t (*c) [S_NR])
{
    int64_t whole = depth / S_KQ;
    for (int row = 0; row < S_MR; row += 2) {
        //  acc [r][j]: row r, columns 4j .. 4j + 3, two partial sums each
        __m256i acc [2][4];
        for (int j = 0; j < 4; j++)
            acc [0][j] = acc [1][j] = _mm256_setzero_si256 ();
        for (int64_t quad = 0; quad < quads; quad++) {
            uint32_t a0 = quad < whole? s_quad_whole (rows [row], quad, flip)
                                      : s_quad (rows [row], quad, depth, flip);
            uint32_t a1 = quad < whole? s_quad_whole (rows [row + 1], quad, flip)
                                      : s_quad (rows [row + 1], quad, depth, flip);
            //  The four bytes of A as int16, repeated for four columns
            __m256i wide0 = _mm256_cvtepu8_epi16 (_mm_set1_epi32 ((int) a0));
            __m256i wide1 = _mm256_cvtepu8_epi16 (_mm_set1_epi32 ((int) a1));
            const int8_t *b = panel + quad * S_NR * S_KQ;
            for (int j = 0; j < 4; j++) {
                __m128i bytes = _mm_loadu_si128 ((const __m128i *) (b + 16 * j));
                __m256i b16 = _mm256_cvtepi8_epi16 (bytes);
                acc [0][j] = _mm256_add_epi32 (acc [0][j], _mm256_madd_epi16 (wide0, b16));
                acc [1][j] = _mm256_add_epi32 (acc [1][j], _mm256_madd_epi16 (wide1, b16));
            }
        }
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 4; j += 2) {
                //  [c0 c1 c4 c5 | c2 c3 c6 c7] of columns 4j .. 4j + 7, put in order
                __m256i sums = _mm256_hadd_epi32 (acc [r][j], acc [r][j + 1]);
                sums = _mm256_permute4x64_epi64 (sums, _MM_SHUFFLE (3, 1, 2, 0));
                _mm256_storeu_si256 ((__m256i *) (c [row + r] + 4 * j), sums);
            }
    }
}

//  Only when every |B| <= 64: vpmaddubsw's int16 pair sums cannot saturate
static ZI_AVX2 void
s_kernel_avx2_bytes (const uint8_t *const *rows, int64_t depth, uint32_t flip,
                     const int8_t *panel, int64_t quads, int32_t (*c) [S_NR])
{
    const __m256i ones = _mm256_set1_epi16 (1);
    int64_t whole = depth / S_KQ;
    __m256i acc [S_MR][2];
    for (int row = 0; row < S_MR; row++)
        acc [row][0] = acc [row][1] = _mm256_setzero_si256 ();
    for (int64_t quad = 0; quad < quads; quad++) {
        const int8_t *b = panel + quad * S_NR * S_KQ;
        __m256i b0 = _mm256_loadu_si256 ((const __m256i *) b);
        __m256i b1 = _mm256_loadu_si256 ((const __m256i *) (b + 32));
        for (int row = 0; row < S_MR; row++) {
            uint32_t quad_a = quad < whole? s_quad_whole (rows [row], quad, flip)
                                          : s_quad (rows [row], quad, depth, flip);
            __m256i a = _mm256_set1_epi32 ((int) quad_a);
            __m256i pairs0 = _mm256_maddubs_epi16 (a, b0), pairs1 = _mm256_maddubs_epi16 (a, b1);
            acc [row][0] = _mm256_add_epi32 (acc [row][0], _mm256_madd_epi16 (pairs0, ones));
            acc [row][1] = _mm256_add_epi32 (acc [row][1], _mm256_madd_epi16 (pairs1, ones));
        }
    }
    for (int row = 0; row < S_MR; row++) {
        _mm256_storeu_si256 ((__m256i *) c [row], acc [row][0]);
        _mm256_storeu_si256 ((__m256i *) (c [row] + 8), acc [row][1]);
    }
}
#endif

#if defined (ZI_HAVE_AVX512)
_Static_assert (S_MR == 4, "the VNNI kernel names its four rows' sums");

//  acc + the four u8 x s8 products of a and b in each lane. GCC 12 copies
//  the accumulator around each _mm512_dpbusd_epi32 in a loop (two extra
//  moves per product, a third of the loop's instructions), so for GCC the
//  instruction is written out, the sum in place
static __attribute__ ((target (ZI_AVX512_TARGET ",avx512vnni"))) inline __m512i
s_dpbusd (__m512i acc, __m512i a, __m512i b)
{
#if defined (__GNUC__) && !defined (__clang__)
    __asm__ ("vpdpbusd %2, %1, %0" : "+v" (acc) : "v" (a), "v" (b));
    return acc;
#else
    return _mm512_dpbusd_epi32 (acc, a, b);
#endif
}

//  vpdpbusd: four u8 x s8 products into each int32 lane, exact. The four
//  sums are named, not an array, so that they stay in registers; whole
//  quads of A are broadcast straight from memory and flipped there
static __attribute__ ((target (ZI_AVX512_TARGET ",avx512vnni"))) void
s_kernel_vnni (const uint8_t *const *rows, int64_t depth, uint32_t flip,
               const int8_t *panel, int64_t quads, int32_t (*c) [S_NR])
{
    int64_t whole = depth / S_KQ;
    const uint8_t *row0 = rows [0], *row1 = rows [1], *row2 = rows [2], *row3 = rows [3];
    __m512i flips = _mm512_set1_epi32 ((int) flip);
    __m512i acc0 = _mm512_setzero_si512 (), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t quad = 0;
    //  Unflipped A (uint8, or int8 its caller flipped once) skips the xors
#define S_VNNI_QUADS(A) \
    for (; quad < whole; quad++) { \
        __m512i b = _mm512_loadu_si512 ((const void *) (panel + quad * S_NR * S_KQ)); \
        int32_t a0, a1, a2, a3; \
        memcpy (&a0, row0 + quad * S_KQ, 4); \
        memcpy (&a1, row1 + quad * S_KQ, 4); \
        memcpy (&a2, row2 + quad * S_KQ, 4); \
        memcpy (&a3, row3 + quad * S_KQ, 4); \
        acc0 = s_dpbusd (acc0, A (_mm512_set1_epi32 (a0)), b); \
        acc1 = s_dpbusd (acc1, A (_mm512_set1_epi32 (a1)), b); \
        acc2 = s_dpbusd (acc2, A (_mm512_set1_epi32 (a2)), b); \
        acc3 = s_dpbusd (acc3, A (_mm512_set1_epi32 (a3)), b); \
    }
#define S_AS_IS(a) (a)
#define S_FLIPPED(a) _mm512_xor_si512 ((a), flips)
    if (flip)
        S_VNNI_QUADS (S_FLIPPED)
    else
        S_VNNI_QUADS (S_AS_IS)
#undef S_VNNI_QUADS
#undef S_AS_IS
#undef S_FLIPPED
    if (quad < quads) {
        //  The last, partial quad
        __m512i b = _mm512_loadu_si512 ((const void *) (panel + quad * S_NR * S_KQ));
        acc0 = s_dpbusd (acc0, _mm512_set1_epi32 ((int) s_quad (row0, quad, depth,
                                                                             flip)), b);
        acc1 = s_dpbusd (acc1, _mm512_set1_epi32 ((int) s_quad (row1, quad, depth,
                                                                             flip)), b);
        acc2 = s_dpbusd (acc2, _mm512_set1_epi32 ((int) s_quad (row2, quad, depth,
                                                                             flip)), b);
        acc3 = s_dpbusd (acc3, _mm512_set1_epi32 ((int) s_quad (row3, quad, depth,
                                                                             flip)), b);
    }
    _mm512_storeu_si512 ((void *) c [0], acc0);
    _mm512_storeu_si512 ((void *) c [1], acc1);
    _mm512_storeu_si512 ((void *) c [2], acc2);
    _mm512_storeu_si512 ((void *) c [3], acc3);
}

//  Two panels side by side (the second quads x 64 bytes after the first)
//  for the same four rows: eight sums in flight, enough to cover
//  vpdpbusd's latency, and each quad of A broadcast once for both
static __attribute__ ((target (ZI_AVX512_TARGET ",avx512vnni"))) void
s_kernel_vnni_pair (const uint8_t *const *rows, int64_t depth, uint32_t flip,
                    const int8_t *panel, int64_t quads, int32_t (*c0) [S_NR],
                    int32_t (*c1) [S_NR])
{
    int64_t whole = depth / S_KQ;
    const int8_t *next = panel + quads * S_NR * S_KQ;
    __m512i acc [2][S_MR];
    for (int row = 0; row < S_MR; row++)
        acc [0][row] = acc [1][row] = _mm512_setzero_si512 ();
    for (int64_t quad = 0; quad < quads; quad++) {
        __m512i b0 = _mm512_loadu_si512 ((const void *) (panel + quad * S_NR * S_KQ));
        __m512i b1 = _mm512_loadu_si512 ((const void *) (next + quad * S_NR * S_KQ));
        for (int row = 0; row < S_MR; row++) {
            uint32_t quad_a = quad < whole? s_quad_whole (rows [row], quad, flip)
                                          : s_quad (rows [row], quad, depth, flip);
            __m512i a = _mm512_set1_epi32 ((int) quad_a);
            acc [0][row] = s_dpbusd (acc [0][row], a, b0);
            acc [1][row] = s_dpbusd (acc [1][row], a, b1);
        }
    }
    for (int row = 0; row < S_MR; row++) {
        _mm512_storeu_si512 ((void *) c0 [row], acc [0][row]);
        _mm512_storeu_si512 ((void *) c1 [row], acc [1][row]);
    }
}
#endif

#if defined (ZI_HAVE_AVX512)
//  The column sums of a packed panel (its padding is zeros): one row of
//  ones through vpdpbusd, where the kernels would make four
static __attribute__ ((target (ZI_AVX512_TARGET ",avx512vnni"))) void
s_col_sums_vnni (const int8_t *panel, int64_t quads, int32_t *sums, int n_cols)
{
    __m512i ones = _mm512_set1_epi8 (1), acc0 = _mm512_setzero_si512 (), acc1 = acc0;
    int64_t quad = 0;
    for (; quad + 1 < quads; quad += 2) {
        acc0 = s_dpbusd (acc0, ones, _mm512_loadu_si512 ((const void *) (panel + quad * 64)));
        acc1 = s_dpbusd (acc1, ones, _mm512_loadu_si512 ((const void *) (panel + quad * 64
                                                                         + 64)));
    }
    if (quad < quads)
        acc0 = s_dpbusd (acc0, ones, _mm512_loadu_si512 ((const void *) (panel + quad * 64)));
    _mm512_mask_storeu_epi32 (sums, (__mmask16) ((1u << n_cols) - 1),
                              _mm512_add_epi32 (acc0, acc1));
}
#endif

typedef void (s_kernel_fn_t) (const uint8_t *const *rows, int64_t depth, uint32_t flip,
                              const int8_t *panel, int64_t quads, int32_t (*c) [S_NR]);

//  The kernel for a pack at the current level, or the forced one
static s_kernel_fn_t *
s_kernel_for (const s_qpack_t *pack)
{
    //  Asked once: cpuid is slow, a trap under some hypervisors
    static atomic_int has_vnni = -1;
    if (atomic_load_explicit (&has_vnni, memory_order_relaxed) < 0)
        atomic_store_explicit (&has_vnni, zi_isa_has_avx512_vnni (), memory_order_relaxed);
    s_kernel_t kernel = s_forced;
    if (kernel == S_KERNEL_AUTO) {
        kernel = S_KERNEL_PORTABLE;
        if (zi_isa_level () >= ZI_ISA_AVX512
        &&  atomic_load_explicit (&has_vnni, memory_order_relaxed))
            kernel = S_KERNEL_VNNI;
        else
        if (zi_isa_level () >= ZI_ISA_AVX2)
            kernel = pack->small? S_KERNEL_AVX2_BYTES: S_KERNEL_AVX2;
    }
    switch (kernel) {
#if defined (ZI_HAVE_AVX512)
        case S_KERNEL_VNNI: return s_kernel_vnni;
#endif
#if defined (ZI_HAVE_AVX2)
        case S_KERNEL_AVX2: return s_kernel_avx2;
        case S_KERNEL_AVX2_BYTES: return pack->small? s_kernel_avx2_bytes: s_kernel_avx2;
#endif
        default: return s_kernel_portable;
    }
}

//  The zero points of a product, after the flips: a_zero per row of A (or
//  one), b_zero per column of B (or one)
typedef struct {
    const zi_tensor_t *a_zero;  //  zero point of A, or NULL
    const zi_tensor_t *b_zero;  //  zero point of B, or NULL
    int32_t a_shift;            //  added to A's values and zero point (128 for int8)
    int32_t b_shift;            //  added to B's (-128 for uint8)
} s_zeros_t;

//  Where a product goes straight to 8 bits (QLinearConv): per row of A a
//  multiplier and a bias, Y's zero point and type, and the rows of Y
typedef struct {
    const float *multipliers;   //  per row of A
    const int32_t *biases;      //  per row of A, or NULL
    int32_t zero;               //  Y's zero point
    zi_dtype_t type;            //  uint8 or int8
    uint8_t *y;                 //  Y, row m at y + m ldy
    int64_t ldy;
} s_requant_out_t;

#if defined (ZI_HAVE_AVX512)
//  The zero points' correction of a tile when B's is one value, 16
//  columns at a time, with the terms made in registers (made in memory
//  by narrower stores, the wide loads of them would wait):
//  out [row][col] = tile - b_zero row_sums [row] - a_zero [row] (col_sums [col] - K b_zero)
//  With rq, the requantization follows in registers, the steps of
//  s_requant_avx512, and Y's bytes are stored, not the sums (row0 and col0
//  place the tile in Y)
static ZI_AVX512 void
s_correct_avx512 (int32_t (*tile) [S_NR], int n_rows, int n_cols, uint32_t b_zero,
                  const int32_t *col_sums, int64_t depth, const int32_t *row_sums,
                  const int32_t *a_zero, int32_t *out, int64_t ldc,
                  const s_requant_out_t *rq, int64_t row0, int64_t col0)
{
    __mmask16 mask = (__mmask16) ((1u << n_cols) - 1);
    int32_t low_int = 0, high_int = 0;
    if (rq)
        s_range (rq->type, &low_int, &high_int);
    __m512 low = _mm512_set1_ps ((float) low_int), high = _mm512_set1_ps ((float) high_int);
    __m512 zero = _mm512_set1_ps (rq? (float) rq->zero: 0);
    __m512i adjusts = _mm512_sub_epi32 (_mm512_maskz_loadu_epi32 (mask, col_sums),
                                        _mm512_set1_epi32 ((int) ((uint32_t) depth * b_zero)));
    for (int row = 0; row < n_rows; row++) {
        __m512i value = _mm512_loadu_si512 ((const void *) tile [row]);
        value = _mm512_sub_epi32 (value, _mm512_set1_epi32 ((int) (b_zero
                                                                    * (uint32_t) row_sums [row])));
        value = _mm512_sub_epi32 (value, _mm512_mullo_epi32 (adjusts,
                                                             _mm512_set1_epi32 (a_zero [row])));
        if (!rq) {
            _mm512_mask_storeu_epi32 (out + row * ldc, mask, value);
            continue;
        }
        int64_t m = row0 + row;
        value = _mm512_add_epi32 (value, _mm512_set1_epi32 (rq->biases? rq->biases [m]: 0));
        __m512 scaled = _mm512_mul_ps (_mm512_cvtepi32_ps (value),
                                       _mm512_set1_ps (rq->multipliers [m]));
        scaled = _mm512_roundscale_ps (scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        scaled = _mm512_min_ps (_mm512_max_ps (_mm512_add_ps (scaled, zero), low), high);
        _mm512_mask_cvtepi32_storeu_epi8 (rq->y + m * rq->ldy + col0, mask,
                                          _mm512_cvtps_epi32 (scaled));
    }
}
#endif

//  C [m][n] (int32, ldc apart) = sum_k (A [m][k] - a_zp) (B [k][n] - b_zp)
//  for rows [first, last) of A (lda apart, 8-bit of type a_type) and the
//  packed B; row_sums is scratch for S_MR values
static void
s_qgemm_rows (const s_qpack_t *pack, const uint8_t *a, int64_t lda, zi_dtype_t a_type,
              const s_zeros_t *zeros, int64_t first, int64_t last, int32_t *c, int64_t ldc,
              const s_requant_out_t *rq)
{
    s_kernel_fn_t *kernel = s_kernel_for (pack);
    uint32_t flip = a_type == ZI_I8? 0x80808080u: 0;
    int64_t depth = pack->depth, cols = pack->cols;
    bool b_per_column = zeros->b_zero && zi_tensor_count (zeros->b_zero) > 1;
    int32_t b_zero_all = s_zero_at (zeros->b_zero, 0) + zeros->b_shift;
    bool wide = zi_isa_level () >= ZI_ISA_AVX512;
    (void) wide;
    for (int64_t row0 = first; row0 < last; row0 += S_MR) {
        int n_rows = (int) (last - row0 < S_MR? last - row0: S_MR);
        const uint8_t *rows [S_MR];
        int32_t row_sums [S_MR], a_zero [S_MR];
        for (int row = 0; row < S_MR; row++) {
            int64_t at = row0 + (row < n_rows? row: 0);
            rows [row] = a + at * lda;
            int32_t sum = 0;
            for (int64_t k = 0; row < n_rows && k < depth; k++)
                sum += rows [row][k] ^ (flip & 0xff);
            row_sums [row] = sum;
            a_zero [row] = s_zero_at (zeros->a_zero, at) + zeros->a_shift;
        }
        _Alignas (64) int32_t tiles [2][S_MR][S_NR];      //  whole lines: stores forward
        bool second_ready = false;      //  tiles [1] holds this panel, made with the last
        for (int64_t panel = 0; panel < pack->panels; panel++) {
            int32_t (*tile) [S_NR] = tiles [0];
            const int8_t *data = pack->data + panel * pack->quads * S_NR * S_KQ;
            if (second_ready) {
                tile = tiles [1];
                second_ready = false;
            }
#if defined (ZI_HAVE_AVX512)
            else
            if (kernel == s_kernel_vnni && panel + 1 < pack->panels) {
                s_kernel_vnni_pair (rows, depth, flip, data, pack->quads, tiles [0], tiles [1]);
                second_ready = true;
            }
#endif
            else
                kernel (rows, depth, flip, data, pack->quads, tile);
            int n_cols = (int) (cols - panel * S_NR < S_NR? cols - panel * S_NR: S_NR);
            //  The zero points back in:
            //      C = AB - b_zp sum A - a_zp (sum B - K b_zp)
            //  int32 sums wrap as the spec's int32 output does
            int32_t *out = rq? NULL: c + row0 * ldc + panel * S_NR;
#if defined (ZI_HAVE_AVX512)
            if (wide && !b_per_column) {
                s_correct_avx512 (tile, n_rows, n_cols, (uint32_t) b_zero_all,
                                  pack->col_sums + panel * S_NR, depth, row_sums, a_zero,
                                  out, ldc, rq, row0, panel * S_NR);
                continue;
            }
#endif
            //  To 8 bits: the sums into a tile of their own, then a row of
            //  requantization each
            int32_t fixed [S_MR][S_NR];
            int64_t ld_out = ldc;
            if (rq) {
                out = fixed [0];
                ld_out = S_NR;
            }
            uint32_t b_zero [S_NR], adjust [S_NR];
            for (int col = 0; col < n_cols; col++) {
                int64_t n = panel * S_NR + col;
                b_zero [col] = (uint32_t) (b_per_column? s_zero_at (zeros->b_zero, n)
                                                         + zeros->b_shift: b_zero_all);
                adjust [col] = (uint32_t) pack->col_sums [n] - (uint32_t) depth * b_zero [col];
            }
            for (int row = 0; row < n_rows; row++) {
                uint32_t az = (uint32_t) a_zero [row], sum = (uint32_t) row_sums [row];
                for (int col = 0; col < n_cols; col++)
                    out [row * ld_out + col] = (int32_t) ((uint32_t) tile [row][col]
                                                          - b_zero [col] * sum
                                                          - az * adjust [col]);
            }
            for (int row = 0; rq && row < n_rows; row++) {
                int64_t m = row0 + row;
                s_requant_row_t line = {
                    .acc = fixed [row], .bias = rq->biases? rq->biases [m]: 0,
                    .multipliers = rq->multipliers + m, .zero = rq->zero, .type = rq->type,
                    .y = rq->y + m * rq->ldy + panel * S_NR
                };
                s_requant_row (&line, n_cols);
            }
        }
    }
}

typedef struct {
    const s_qpack_t *pack;      //  B
    const uint8_t *a;           //  A
    int64_t lda;                //  its row stride
    zi_dtype_t a_type;          //  uint8 or int8
    const s_zeros_t *zeros;     //  zero points
    int32_t *c;                 //  C
    int64_t ldc;                //  its row stride
    const s_requant_out_t *rq;  //  or straight to 8 bits, C unused
} s_qgemm_args_t;

static void
s_qgemm_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_qgemm_args_t *self = args;
    s_qgemm_rows (self->pack, self->a, self->lda, self->a_type, self->zeros, first, last,
                  self->c, self->ldc, self->rq);
}

//  All rows of A, shared out between the exec's threads; into C, or with
//  rq requantized into Y
static void
s_qgemm (zi_exec_t *exec, const s_qpack_t *pack, const uint8_t *a, int64_t rows,
         int64_t lda, zi_dtype_t a_type, const s_zeros_t *zeros, int32_t *c, int64_t ldc,
         const s_requant_out_t *rq)
{
    s_qgemm_args_t args = {pack, a, lda, a_type, zeros, c, ldc, rq};
    int64_t unit = zi_exec_unit (pack->depth * pack->cols);
    unit = (unit + S_MR - 1) / S_MR * S_MR;
    zi_exec_parallel (exec, rows, unit, s_qgemm_part, &args);
}



//  --------------------------------------------------------------------------
//  MatMulInteger and QLinearMatMul: [..., M, K] x [..., K, N], batch axes
//  broadcast as MatMul's

typedef struct {
    bool qlinear;               //  QLinearMatMul, else MatMulInteger
    s_qpack_t *pack;            //  B packed by prepare when constant, else NULL
    const void *packed_from;    //  the data it was packed from
} s_matmul_t;

//  Input slots of the operands for each op
typedef struct {
    const zi_tensor_t *a, *b;           //  the operands
    const zi_tensor_t *a_zero, *b_zero; //  zero points, or NULL
    const zi_tensor_t *a_scale, *b_scale, *y_scale, *y_zero;   //  QLinearMatMul's
} s_operands_t;

static void
s_matmul_operands (const zi_node_t *node, const zi_tensor_t *const *in, s_operands_t *ops)
{
    const s_matmul_t *self = node->params;
    memset (ops, 0, sizeof *ops);
    if (self->qlinear) {
        ops->a = in [0];
        ops->a_scale = in [1];
        ops->a_zero = in [2];
        ops->b = in [3];
        ops->b_scale = in [4];
        ops->b_zero = in [5];
        ops->y_scale = in [6];
        ops->y_zero = in [7];
    }
    else {
        ops->a = in [0];
        ops->b = in [1];
        ops->a_zero = s_input (node, in, 2);
        ops->b_zero = s_input (node, in, 3);
    }
}

static int
s_matmul_init (zi_node_t *node)
{
    if (s_check_opset (node, 10))
        return -1;
    s_matmul_t *self = calloc (1, sizeof (s_matmul_t));
    if (!self)
        return zi_error ("out of memory");
    self->qlinear = strcmp (node->op_type, "QLinearMatMul") == 0;
    node->params = self;
    return 0;
}

static void
s_matmul_destroy (zi_node_t *node)
{
    s_matmul_t *self = node->params;
    s_qpack_destroy (&self->pack);
    free (self);
}

//  The shapes as matrices: batch axes broadcast, M, K, N
typedef struct {
    int ndim;                   //  output rank
    int64_t dims [ZI_MAX_DIMS]; //  output shape
    int batch_ndim;             //  batch axes of the output
    int64_t batches;            //  product of them
    int64_t m, k, n;            //  the product's sizes
} s_mm_shape_t;

static int
s_mm_shape (const zi_tensor_t *a, const zi_tensor_t *b, s_mm_shape_t *shape)
{
    char a_text [128], b_text [128];
    if (a->ndim < 1 || b->ndim < 1)
        return zi_error ("inputs must have at least one axis");
    int64_t k_a = a->dims [a->ndim - 1];
    int64_t k_b = b->ndim == 1? b->dims [0]: b->dims [b->ndim - 2];
    if (k_a != k_b)
        return zi_error ("A %s and B %s do not multiply (K %lld vs %lld)",
                         zi_shape_str (a->ndim, a->dims, a_text, sizeof a_text),
                         zi_shape_str (b->ndim, b->dims, b_text, sizeof b_text),
                         (long long) k_a, (long long) k_b);
    shape->k = k_a;
    shape->m = a->ndim == 1? 1: a->dims [a->ndim - 2];
    shape->n = b->ndim == 1? 1: b->dims [b->ndim - 1];
    int a_batch = a->ndim > 2? a->ndim - 2: 0, b_batch = b->ndim > 2? b->ndim - 2: 0;
    shape->batch_ndim = a_batch > b_batch? a_batch: b_batch;
    shape->batches = 1;
    for (int axis = 0; axis < shape->batch_ndim; axis++) {
        int ia = axis - (shape->batch_ndim - a_batch), ib = axis - (shape->batch_ndim - b_batch);
        int64_t da = ia >= 0? a->dims [ia]: 1, db = ib >= 0? b->dims [ib]: 1;
        if (da != db && da != 1 && db != 1)
            return zi_error ("batch axes of A %s and B %s do not broadcast",
                             zi_shape_str (a->ndim, a->dims, a_text, sizeof a_text),
                             zi_shape_str (b->ndim, b->dims, b_text, sizeof b_text));
        shape->dims [axis] = da > db? da: db;
        shape->batches *= shape->dims [axis];
    }
    shape->ndim = shape->batch_ndim;
    if (a->ndim > 1)
        shape->dims [shape->ndim++] = shape->m;
    if (b->ndim > 1)
        shape->dims [shape->ndim++] = shape->n;
    return 0;
}

//  The matrix of an operand for batch index batch of the output
static int64_t
s_batch_offset (const zi_tensor_t *t, const s_mm_shape_t *shape, int64_t batch)
{
    int own = t->ndim > 2? t->ndim - 2: 0;
    int64_t offset = 0, stride = 1;
    for (int axis = shape->batch_ndim - 1; axis >= 0; axis--) {
        int64_t index = batch % shape->dims [axis];
        batch /= shape->dims [axis];
        int mine = axis - (shape->batch_ndim - own);
        if (mine >= 0) {
            if (t->dims [mine] != 1)
                offset += index * stride;
            stride *= t->dims [mine];
        }
    }
    return offset;
}

static int
s_matmul_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_matmul_t *self = node->params;
    s_operands_t ops;
    s_matmul_operands (node, in, &ops);
    if (!s_is_8bit (ops.a->dtype))
        return zi_error ("input 0 (A): expected uint8 or int8, got %s",
                         zi_dtype_name (ops.a->dtype));
    if (!s_is_8bit (ops.b->dtype))
        return zi_error ("input %d (B): expected uint8 or int8, got %s", self->qlinear? 3: 1,
                         zi_dtype_name (ops.b->dtype));
    s_mm_shape_t shape;
    if (s_mm_shape (ops.a, ops.b, &shape))
        return -1;
    if (ops.a_zero && ops.a_zero->dtype != ops.a->dtype)
        return zi_error ("A's zero point: expected %s like A, got %s",
                         zi_dtype_name (ops.a->dtype), zi_dtype_name (ops.a_zero->dtype));
    if (ops.b_zero && ops.b_zero->dtype != ops.b->dtype)
        return zi_error ("B's zero point: expected %s like B, got %s",
                         zi_dtype_name (ops.b->dtype), zi_dtype_name (ops.b_zero->dtype));
    if (s_check_param (ops.a_zero, "A's zero point (one per row of A)", shape.m, true)
    ||  s_check_param (ops.b_zero, "B's zero point (one per column of B)", shape.n, true))
        return -1;
    zi_dtype_t type = ZI_I32;
    if (self->qlinear) {
        if (s_check_scale (ops.a_scale, "A's scale", shape.m, true)
        ||  s_check_scale (ops.b_scale, "B's scale", shape.n, true)
        ||  s_check_scale (ops.y_scale, "Y's scale", 1, false)
        ||  s_check_param (ops.y_zero, "Y's zero point", 1, false))
            return -1;
        if (!s_is_8bit (ops.y_zero->dtype))
            return zi_error ("Y's zero point: expected uint8 or int8, got %s",
                             zi_dtype_name (ops.y_zero->dtype));
        type = ops.y_zero->dtype;
    }
    zi_tensor_set_shape (out [0], type, shape.ndim, shape.dims);
    return 0;
}

//  Packs the matrix of B at offset (in elements) into pack
static void
s_matmul_pack (s_qpack_t *pack, const zi_tensor_t *b, int64_t offset, const s_mm_shape_t *shape)
{
    s_qpack_fill (pack, (const uint8_t *) b->data + offset * shape->k * shape->n, b->dtype,
                  shape->n, 1);
}

static int
s_matmul_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_matmul_t *self = node->params;
    s_operands_t ops;
    s_matmul_operands (node, in, &ops);
    s_qpack_destroy (&self->pack);
    self->packed_from = NULL;
    s_mm_shape_t shape;
    //  A constant B of one matrix is packed once
    if (!ops.b->data || ops.b->ndim > 2 || s_mm_shape (ops.a, ops.b, &shape))
        return 0;
    self->pack = s_qpack_new (shape.k, shape.n);
    if (!self->pack)
        return zi_error ("out of memory");
    s_matmul_pack (self->pack, ops.b, 0, &shape);
    self->packed_from = ops.b->data;
    return 0;
}

static int
s_matmul_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_matmul_t *self = node->params;
    s_operands_t ops;
    s_matmul_operands (node, in, &ops);
    s_mm_shape_t shape;
    if (s_mm_shape (ops.a, ops.b, &shape))
        return -1;
    const s_qpack_t *pack = self->packed_from == ops.b->data? self->pack: NULL;
    s_qpack_t scratch_pack = {0};
    if (!pack) {
        scratch_pack = (s_qpack_t) {
            .depth = shape.k, .cols = shape.n, .quads = (shape.k + S_KQ - 1) / S_KQ,
            .panels = (shape.n + S_NR - 1) / S_NR,
            .data = zi_exec_scratch (exec, 0, s_qpack_bytes (shape.k, shape.n) + 64),
            .col_sums = zi_exec_scratch (exec, 1, (shape.n + 1) * sizeof (int32_t))
        };
        if (!scratch_pack.data || !scratch_pack.col_sums)
            return zi_error ("out of memory");
    }
    //  QLinearMatMul sums into scratch, then requantizes
    int32_t *acc = self->qlinear? zi_exec_scratch (exec, 2, (size_t) (shape.m * shape.n + 1)
                                                             * sizeof (int32_t))
                                : out [0]->data;
    float *multipliers = self->qlinear? zi_exec_scratch (exec, 3, (size_t) (shape.n + 1)
                                                                  * sizeof (float))
                                      : NULL;
    if (!acc || (self->qlinear && !multipliers))
        return zi_error ("out of memory");
    s_zeros_t zeros = {ops.a_zero, ops.b_zero, ops.a->dtype == ZI_I8? 128: 0,
                       ops.b->dtype == ZI_U8? -128: 0};
    size_t out_size = zi_dtype_size (out [0]->dtype);
    for (int64_t batch = 0; batch < shape.batches; batch++) {
        int64_t b_offset = s_batch_offset (ops.b, &shape, batch);
        if (!pack) {
            s_matmul_pack (&scratch_pack, ops.b, b_offset, &shape);
            //  A computed B is small only by chance: the exact kernel
            scratch_pack.small = false;
        }
        const uint8_t *a = (const uint8_t *) ops.a->data
                         + s_batch_offset (ops.a, &shape, batch) * shape.m * shape.k;
        int32_t *c = self->qlinear? acc: acc + batch * shape.m * shape.n;
        s_qgemm (exec, pack? pack: &scratch_pack, a, shape.m, shape.k, ops.a->dtype, &zeros,
                 c, shape.n, NULL);
        if (!self->qlinear)
            continue;
        float y_scale = s_scale_at (ops.y_scale, 0);
        uint8_t *y = (uint8_t *) out [0]->data + batch * shape.m * shape.n * out_size;
        bool a_per_row = zi_tensor_count (ops.a_scale) > 1;
        for (int64_t m = 0; m < shape.m; m++) {
            //  One multiplier per column, made as the formula says
            if (m == 0 || a_per_row)
                for (int64_t n = 0; n < shape.n; n++)
                    multipliers [n] = s_scale_at (ops.a_scale, m) * s_scale_at (ops.b_scale, n)
                                    / y_scale;
            s_requant_row_t row = {.acc = acc + m * shape.n, .multipliers = multipliers,
                                   .step = 1, .zero = s_zero_at (ops.y_zero, 0),
                                   .type = out [0]->dtype, .y = y + m * shape.n};
            s_requant_row (&row, shape.n);
        }
    }
    return 0;
}

const zi_op_t zi_op_MatMulInteger = {
    .name = "MatMulInteger", .min_inputs = 2, .max_inputs = 4, .max_outputs = 1,
    .batch = ZI_BATCH_MATMUL,
    .init = s_matmul_init, .infer = s_matmul_infer, .prepare = s_matmul_prepare,
    .run = s_matmul_run, .destroy = s_matmul_destroy, .macs = zi_op_macs_matmul
};

const zi_op_t zi_op_QLinearMatMul = {
    .name = "QLinearMatMul", .min_inputs = 8, .max_inputs = 8, .max_outputs = 1,
    .batch = ZI_BATCH_QLINEAR_MATMUL,
    .init = s_matmul_init, .infer = s_matmul_infer, .prepare = s_matmul_prepare,
    .run = s_matmul_run, .destroy = s_matmul_destroy, .macs = zi_op_macs_matmul
};


//  --------------------------------------------------------------------------
//  ConvInteger and QLinearConv: Conv's geometry; the weights are A (one
//  row per output channel), the im2col columns of each image B, packed
//  straight from X, with X's zero point in the padding so that padded taps
//  add nothing

typedef struct {
    bool qlinear;               //  QLinearConv, else ConvInteger
    void *conv;                 //  Conv's attributes (act_conv.h)
} s_qconv_t;

typedef struct {
    const zi_tensor_t *x, *w;               //  the operands
    const zi_tensor_t *x_zero, *w_zero;     //  zero points, or NULL
    const zi_tensor_t *x_scale, *w_scale, *y_scale, *y_zero, *bias;    //  QLinearConv's
} s_conv_operands_t;

static void
s_qconv_operands (const zi_node_t *node, const zi_tensor_t *const *in, s_conv_operands_t *ops)
{
    const s_qconv_t *self = node->params;
    memset (ops, 0, sizeof *ops);
    if (self->qlinear) {
        ops->x = in [0];
        ops->x_scale = in [1];
        ops->x_zero = in [2];
        ops->w = in [3];
        ops->w_scale = in [4];
        ops->w_zero = in [5];
        ops->y_scale = in [6];
        ops->y_zero = in [7];
        ops->bias = s_input (node, in, 8);
    }
    else {
        ops->x = in [0];
        ops->w = in [1];
        ops->x_zero = s_input (node, in, 2);
        ops->w_zero = s_input (node, in, 3);
    }
}

static int
s_qconv_init (zi_node_t *node)
{
    if (s_check_opset (node, 10))
        return -1;
    s_qconv_t *self = calloc (1, sizeof (s_qconv_t));
    if (!self)
        return zi_error ("out of memory");
    self->qlinear = strcmp (node->op_type, "QLinearConv") == 0;
    self->conv = zi_conv_attrs_new (node);
    if (!self->conv) {
        free (self);
        return -1;
    }
    node->params = self;
    return 0;
}

static void
s_qconv_destroy (zi_node_t *node)
{
    s_qconv_t *self = node->params;
    free (self->conv);
    free (self);
}

static int
s_qconv_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_qconv_t *self = node->params;
    s_conv_operands_t ops;
    s_qconv_operands (node, in, &ops);
    if (!s_is_8bit (ops.x->dtype))
        return zi_error ("input 0 (X): expected uint8 or int8, got %s",
                         zi_dtype_name (ops.x->dtype));
    if (!s_is_8bit (ops.w->dtype))
        return zi_error ("input %d (W): expected uint8 or int8, got %s", self->qlinear? 3: 1,
                         zi_dtype_name (ops.w->dtype));
    zi_conv_geom_t geom;
    if (zi_conv_geometry (self->conv, ops.x, ops.w, &geom))
        return -1;
    if (ops.x_zero && ops.x_zero->dtype != ops.x->dtype)
        return zi_error ("X's zero point: expected %s like X, got %s",
                         zi_dtype_name (ops.x->dtype), zi_dtype_name (ops.x_zero->dtype));
    if (ops.w_zero && ops.w_zero->dtype != ops.w->dtype)
        return zi_error ("W's zero point: expected %s like W, got %s",
                         zi_dtype_name (ops.w->dtype), zi_dtype_name (ops.w_zero->dtype));
    if (s_check_param (ops.x_zero, "X's zero point", 1, false)
    ||  s_check_param (ops.w_zero, "W's zero point (one per output channel)", geom.out_c, true))
        return -1;
    zi_dtype_t type = ZI_I32;
    if (self->qlinear) {
        char shape [128];
        if (s_check_scale (ops.x_scale, "X's scale", 1, false)
        ||  s_check_scale (ops.w_scale, "W's scale (one per output channel)", geom.out_c, true)
        ||  s_check_scale (ops.y_scale, "Y's scale", 1, false)
        ||  s_check_param (ops.y_zero, "Y's zero point", 1, false))
            return -1;
        if (!s_is_8bit (ops.y_zero->dtype))
            return zi_error ("Y's zero point: expected uint8 or int8, got %s",
                             zi_dtype_name (ops.y_zero->dtype));
        if (ops.bias && (ops.bias->dtype != ZI_I32 || ops.bias->ndim != 1
                     ||  ops.bias->dims [0] != geom.out_c))
            return zi_error ("input 8 (B): expected int32 [%lld], got %s %s",
                             (long long) geom.out_c, zi_dtype_name (ops.bias->dtype),
                             zi_shape_str (ops.bias->ndim, ops.bias->dims, shape, sizeof shape));
        type = ops.y_zero->dtype;
    }
    int64_t dims [4] = {geom.batch, geom.out_c, geom.out_h, geom.out_w};
    if (geom.n_spatial == 1)
        dims [2] = geom.out_w;
    zi_tensor_set_shape (out [0], type, geom.n_spatial + 2, dims);
    return 0;
}

//  Four rows of 16 bytes (k, k + 1, k + 2, k + 3 of 16 columns) into the
//  panel's layout, each column's four bytes together, each byte xor flip
#if defined (__SSE2__)
static inline void
s_interleave_sse2 (__m128i r0, __m128i r1, __m128i r2, __m128i r3, uint8_t flip, int8_t *to)
{
    __m128i flips = _mm_set1_epi8 ((char) flip);
    r0 = _mm_xor_si128 (r0, flips);
    r1 = _mm_xor_si128 (r1, flips);
    r2 = _mm_xor_si128 (r2, flips);
    r3 = _mm_xor_si128 (r3, flips);
    __m128i low01 = _mm_unpacklo_epi8 (r0, r1), high01 = _mm_unpackhi_epi8 (r0, r1);
    __m128i low23 = _mm_unpacklo_epi8 (r2, r3), high23 = _mm_unpackhi_epi8 (r2, r3);
    _mm_storeu_si128 ((__m128i *) to, _mm_unpacklo_epi16 (low01, low23));
    _mm_storeu_si128 ((__m128i *) (to + 16), _mm_unpackhi_epi16 (low01, low23));
    _mm_storeu_si128 ((__m128i *) (to + 32), _mm_unpacklo_epi16 (high01, high23));
    _mm_storeu_si128 ((__m128i *) (to + 48), _mm_unpackhi_epi16 (high01, high23));
}

//  The 16 even bytes of 32 (stride 2 taps)
static inline __m128i
s_even_bytes_sse2 (const uint8_t *from)
{
    __m128i mask = _mm_set1_epi16 (0xff);
    __m128i low = _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) from), mask);
    __m128i high = _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) (from + 16)), mask);
    return _mm_packus_epi16 (low, high);
}
#endif

static inline void
s_interleave (const uint8_t rows [4][S_NR], uint8_t flip, int8_t *to)
{
#if defined (__SSE2__)
    s_interleave_sse2 (_mm_loadu_si128 ((const __m128i *) rows [0]),
                       _mm_loadu_si128 ((const __m128i *) rows [1]),
                       _mm_loadu_si128 ((const __m128i *) rows [2]),
                       _mm_loadu_si128 ((const __m128i *) rows [3]), flip, to);
#else
    for (int col = 0; col < S_NR; col++)
        for (int k = 0; k < S_KQ; k++)
            to [col * S_KQ + k] = (int8_t) (rows [k][col] ^ flip);
#endif
}

//  The 16 even bytes of 32 (stride 2 taps)
static inline void
s_even_bytes (const uint8_t *from, uint8_t *to)
{
#if defined (__SSE2__)
    _mm_storeu_si128 ((__m128i *) to, s_even_bytes_sse2 (from));
#else
    for (int col = 0; col < S_NR; col++)
        to [col] = from [2 * col];
#endif
}

//  The columns of a panel on one output row: a run of count columns from
//  column first of the panel, whose top left tap is at offset in the
//  padded image
typedef struct {
    int first, count;
    int64_t offset;
} s_segment_t;

//  The padded image s_qconv_pack reads: X's rows with the padding around
//  them (and a column of slack on the right for the stride-2 gather's
//  last, unused byte), so that no tap needs a bounds check
typedef struct {
    int64_t height, width;      //  of each padded plane
} s_padded_t;

static s_padded_t
s_padded_size (const zi_conv_geom_t *geom)
{
    int64_t reach_y = (geom->out_h - 1) * geom->stride_h + (geom->k_h - 1) * geom->dil_h + 1;
    int64_t reach_x = (geom->out_w - 1) * geom->stride_w + (geom->k_w - 1) * geom->dil_w + 1;
    int64_t height = geom->pad_t + geom->in_h, width = geom->pad_l + geom->in_w;
    return (s_padded_t) {height > reach_y? height: reach_y, (width > reach_x? width: reach_x) + 1};
}

//  Packs the im2col columns of one group of one image into pack, the
//  value pad where a tap falls outside the image. The group's channels
//  are first copied into padded (size from s_padded_size); then a panel
//  whose 16 columns lie on one output row takes each row of a quad in
//  one copy (stride 1) or one gather (stride 2), and any other panel
//  goes through its runs along output rows. taps holds per k the offset
//  of its tap from a column's top left one (depth values), and ones depth
//  bytes of 1: the column sums are the kernel's product of a row of ones
//  with each panel
static void
s_qconv_pack (s_qpack_t *pack, const zi_conv_geom_t *geom, const uint8_t *image,
              int64_t first_channel, int64_t channels, uint8_t pad, zi_dtype_t dtype,
              int64_t *taps, const uint8_t *ones, uint8_t *padded)
{
    s_padded_t size = s_padded_size (geom);
    int64_t plane = size.height * size.width;
    memset (padded, pad, (size_t) (channels * plane));
    for (int64_t channel = 0; channel < channels; channel++)
        for (int64_t y = 0; y < geom->in_h; y++)
            memcpy (padded + channel * plane + (geom->pad_t + y) * size.width + geom->pad_l,
                    image + ((first_channel + channel) * geom->in_h + y) * geom->in_w,
                    (size_t) geom->in_w);
    int64_t kernel = geom->k_h * geom->k_w, depth = pack->depth, cols = pack->cols;
    int64_t stride = geom->stride_w;
    for (int64_t k = 0; k < depth; k++) {
        int64_t tap = k % kernel;
        taps [k] = (k / kernel) * plane + (tap / geom->k_w) * geom->dil_h * size.width
                 + (tap % geom->k_w) * geom->dil_w;
    }
    uint8_t flip = dtype == ZI_U8? 0x80: 0;
    s_kernel_fn_t *kernel_fn = s_kernel_for (pack);
    const uint8_t *one_rows [S_MR] = {ones, ones, ones, ones};
    for (int64_t panel = 0; panel < pack->panels; panel++) {
        int8_t *to = pack->data + panel * pack->quads * S_NR * S_KQ;
        int64_t first = panel * S_NR;
        int n_cols = (int) (cols - first < S_NR? cols - first: S_NR);
        s_segment_t segments [S_NR];
        int n_segments = 0;
        for (int col = 0; col < n_cols; ) {
            int64_t out_y = (first + col) / geom->out_w, out_x = (first + col) % geom->out_w;
            int64_t count = geom->out_w - out_x;
            count = count < n_cols - col? count: n_cols - col;
            segments [n_segments++] = (s_segment_t) {
                col, (int) count, out_y * geom->stride_h * size.width + out_x * stride
            };
            col += (int) count;
        }
        bool one_run = n_segments == 1 && n_cols == S_NR;
        const uint8_t *origin = padded + segments [0].offset;
        int64_t quad = 0;
#if defined (__SSE2__)
        //  Whole quads of a panel on one output row, in registers only
        if (one_run && stride == 1)
            for (; quad < depth / S_KQ; quad++) {
                const int64_t *at = taps + quad * S_KQ;
                s_interleave_sse2 (_mm_loadu_si128 ((const __m128i *) (origin + at [0])),
                                   _mm_loadu_si128 ((const __m128i *) (origin + at [1])),
                                   _mm_loadu_si128 ((const __m128i *) (origin + at [2])),
                                   _mm_loadu_si128 ((const __m128i *) (origin + at [3])),
                                   flip, to + quad * S_NR * S_KQ);
            }
        else
        if (one_run && stride == 2)
            for (; quad < depth / S_KQ; quad++) {
                const int64_t *at = taps + quad * S_KQ;
                s_interleave_sse2 (s_even_bytes_sse2 (origin + at [0]),
                                   s_even_bytes_sse2 (origin + at [1]),
                                   s_even_bytes_sse2 (origin + at [2]),
                                   s_even_bytes_sse2 (origin + at [3]),
                                   flip, to + quad * S_NR * S_KQ);
            }
#endif
        for (; quad < pack->quads; quad++) {
            uint8_t rows [S_KQ][S_NR];
            for (int j = 0; j < S_KQ; j++) {
                int64_t k = quad * S_KQ + j;
                if (k >= depth) {
                    memset (rows [j], flip, S_NR);      //  0 once flipped
                    continue;
                }
                if (one_run) {
                    const uint8_t *from = origin + taps [k];
                    if (stride == 1)
                        memcpy (rows [j], from, S_NR);
                    else
                    if (stride == 2)
                        s_even_bytes (from, rows [j]);
                    else
                        for (int col = 0; col < S_NR; col++)
                            rows [j][col] = from [col * stride];
                    continue;
                }
                for (int index = 0; index < n_segments; index++) {
                    const s_segment_t *segment = segments + index;
                    const uint8_t *from = padded + segment->offset + taps [k];
                    for (int col = 0; col < segment->count; col++)
                        rows [j][segment->first + col] = from [col * stride];
                }
                if (n_cols < S_NR)
                    memset (rows [j] + n_cols, flip, S_NR - n_cols);
            }
            s_interleave (rows, flip, to + quad * S_NR * S_KQ);
        }
#if defined (ZI_HAVE_AVX512)
        if (kernel_fn == s_kernel_vnni) {
            s_col_sums_vnni (to, pack->quads, pack->col_sums + first, n_cols);
            continue;
        }
#endif
        int32_t sums [S_MR][S_NR];
        kernel_fn (one_rows, depth, 0, to, pack->quads, sums);
        memcpy (pack->col_sums + first, sums [0], n_cols * sizeof (int32_t));
    }
    pack->small = false;
}

static int
s_qconv_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
             zi_tensor_t *const *out)
{
    const s_qconv_t *self = node->params;
    s_conv_operands_t ops;
    s_qconv_operands (node, in, &ops);
    zi_conv_geom_t geom;
    if (zi_conv_geometry (self->conv, ops.x, ops.w, &geom))
        return -1;
    int64_t group_in = geom.in_c / geom.group, group_out = geom.out_c / geom.group;
    int64_t depth = group_in * geom.k_h * geom.k_w, cols = geom.out_h * geom.out_w;
    s_qpack_t pack = {
        .depth = depth, .cols = cols, .quads = (depth + S_KQ - 1) / S_KQ,
        .panels = (cols + S_NR - 1) / S_NR,
        .data = zi_exec_scratch (exec, 0, s_qpack_bytes (depth, cols) + 64),
        .col_sums = zi_exec_scratch (exec, 1, (cols + 1) * sizeof (int32_t))
    };
    //  QLinearConv's multipliers, one per output channel of a group
    float *multipliers = self->qlinear? zi_exec_scratch (exec, 2, (size_t) (group_out + 1)
                                                                  * sizeof (float))
                                      : NULL;
    s_padded_t padded_size = s_padded_size (&geom);
    int64_t padded_bytes = group_in * padded_size.height * padded_size.width;
    int64_t *taps = zi_exec_scratch (exec, 3, (size_t) (depth + 1) * sizeof (int64_t)
                                              + depth + ops.w->nbytes + padded_bytes + S_KQ);
    if (!pack.data || !pack.col_sums || !taps || (self->qlinear && !multipliers))
        return zi_error ("out of memory");
    uint8_t *ones = (uint8_t *) (taps + depth + 1);
    memset (ones, 1, depth);
    //  int8 weights flipped to uint8 once here, not in the kernel's inner
    //  loop at every output block (their zero point's shift stays 128)
    uint8_t *flipped = NULL;
    if (ops.w->dtype == ZI_I8) {
        flipped = ones + depth;
        for (size_t item = 0; item < ops.w->nbytes; item++)
            flipped [item] = ((const uint8_t *) ops.w->data) [item] ^ 0x80;
    }
    //  The weights are A, one row per output channel: their zero point is
    //  per row, X's is B's
    uint8_t pad = ops.x_zero? *(const uint8_t *) ops.x_zero->data: 0;
    size_t out_size = zi_dtype_size (out [0]->dtype);
    int64_t in_image = geom.in_c * geom.in_h * geom.in_w;
    for (int64_t image = 0; image < geom.batch; image++)
        for (int64_t group = 0; group < geom.group; group++) {
            s_qconv_pack (&pack, &geom, (const uint8_t *) ops.x->data + image * in_image,
                          group * group_in, group_in, pad, ops.x->dtype, taps, ones,
                          ones + depth + ops.w->nbytes);
            //  The weight zero points of this group's rows
            zi_tensor_t w_zero_view;
            const zi_tensor_t *w_zero = ops.w_zero;
            if (w_zero && zi_tensor_count (w_zero) > 1) {
                memset (&w_zero_view, 0, sizeof w_zero_view);
                zi_tensor_set_shape (&w_zero_view, w_zero->dtype, 1, &group_out);
                w_zero_view.data = (uint8_t *) w_zero->data + group * group_out;
                w_zero = &w_zero_view;
            }
            s_zeros_t zeros = {w_zero, ops.x_zero, ops.w->dtype == ZI_I8? 128: 0,
                               ops.x->dtype == ZI_U8? -128: 0};
            const uint8_t *weights = (const uint8_t *) ops.w->data + group * group_out * depth;
            int64_t first_map = image * geom.out_c + group * group_out;
            //  QLinearConv's sums go to 8 bits tile by tile, never stored
            s_requant_out_t requant, *rq = NULL;
            if (self->qlinear) {
                float x_scale = s_scale_at (ops.x_scale, 0);
                float y_scale = s_scale_at (ops.y_scale, 0);
                for (int64_t map = 0; map < group_out; map++)
                    multipliers [map] = x_scale * s_scale_at (ops.w_scale, group * group_out + map)
                                      / y_scale;
                requant = (s_requant_out_t) {
                    .multipliers = multipliers,
                    .biases = ops.bias? (const int32_t *) ops.bias->data + group * group_out: NULL,
                    .zero = s_zero_at (ops.y_zero, 0), .type = out [0]->dtype,
                    .y = (uint8_t *) out [0]->data + first_map * cols * out_size, .ldy = cols
                };
                rq = &requant;
            }
            int32_t *c = self->qlinear? NULL: (int32_t *) out [0]->data + first_map * cols;
            s_qgemm (exec, &pack, flipped? flipped + group * group_out * depth: weights,
                     group_out, depth, flipped? ZI_U8: ops.w->dtype, &zeros, c, cols, rq);
        }
    return 0;
}

const zi_op_t zi_op_ConvInteger = {
    .name = "ConvInteger", .min_inputs = 2, .max_inputs = 4, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .init = s_qconv_init, .infer = s_qconv_infer, .run = s_qconv_run,
    .destroy = s_qconv_destroy, .macs = zi_op_macs_conv
};

const zi_op_t zi_op_QLinearConv = {
    .name = "QLinearConv", .min_inputs = 8, .max_inputs = 9, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .init = s_qconv_init, .infer = s_qconv_infer, .run = s_qconv_run,
    .destroy = s_qconv_destroy, .macs = zi_op_macs_qlinear_conv
};


//  --------------------------------------------------------------------------
//  Self test: each op against the spec's formula written out plainly, every
//  kernel the CPU has against the portable one, and the refusals

//  Pseudo-random 8-bit values, or floats in [-range, range)
static zi_tensor_t *
s_test_bytes (zi_dtype_t dtype, int ndim, const int64_t *dims, uint32_t seed)
{
    zi_tensor_t *tensor = zi_tensor_new (dtype, ndim, dims);
    assert (tensor);
    uint32_t state = seed * 2654435761u + 12345;
    for (size_t item = 0; item < tensor->nbytes; item++) {
        state = state * 1664525u + 1013904223u;
        ((uint8_t *) tensor->data) [item] = (uint8_t) (state >> 24);
    }
    return tensor;
}

static zi_tensor_t *
s_test_floats (int ndim, const int64_t *dims, uint32_t seed, float range)
{
    zi_tensor_t *tensor = zi_test_random (ndim, dims, seed);
    for (size_t item = 0; item < zi_tensor_count (tensor); item++)
        zi_tensor_f32 (tensor) [item] *= range;
    return tensor;
}

static zi_tensor_t *
s_test_zero (zi_dtype_t dtype, int count, const int32_t *values)
{
    int64_t dims [1] = {count};
    zi_tensor_t *tensor = zi_tensor_new (dtype, count == 1? 0: 1, dims);
    for (int item = 0; item < count; item++)
        zi_dtype_convert ((uint8_t *) tensor->data + item * zi_dtype_size (dtype), dtype,
                          &(int64_t) {values [item]}, ZI_I64, 1);
    return tensor;
}

static zi_tensor_t *
s_test_scales (int count, const float *values)
{
    int64_t dims [1] = {count};
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, count == 1? 0: 1, dims);
    memcpy (tensor->data, values, count * sizeof (float));
    return tensor;
}

//  Runs a node; the output, or NULL with the error checked by the caller
static zi_tensor_t *
s_test_run (zi_node_t *node, int n_inputs, zi_tensor_t **inputs)
{
    zi_tensor_t *outputs [3] = {NULL, NULL, NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, node->n_outputs > 1? 3: 1, outputs);
    zi_tensor_destroy (&outputs [1]);
    zi_tensor_destroy (&outputs [2]);
    return rc? NULL: outputs [0];
}

static void
s_test_free (zi_tensor_t **tensors, int count)
{
    for (int index = 0; index < count; index++)
        zi_tensor_destroy (&tensors [index]);
}

static void
s_test_linear (zi_test_t *t)
{
    //  Ties round to even; both ends saturate; per tensor and per axis
    int64_t dims [] = {2, 3, 5};
    zi_tensor_t *x = s_test_floats (3, dims, 3, 4);
    float *values = zi_tensor_f32 (x);
    values [0] = 0.25f;             //  / 0.1 = 2.5 -> 2 (a float tie?)
    values [1] = 0.35f;
    values [2] = -0.25f;
    values [3] = 1000;
    values [4] = -1000;
    values [5] = NAN;
    float scales [] = {0.1f, 0.05f, 0.2f};
    int32_t zeros_u8 [] = {128, 0, 255}, zeros_i8 [] = {0, -128, 127};
    zi_dtype_t types [] = {ZI_U8, ZI_I8};
    int opsets [] = {10, 13, 19, 21};
    for (int type = 0; type < 2; type++)
        for (int per_axis = 0; per_axis < 2; per_axis++)
            for (int opset_nbr = 0; opset_nbr < 4; opset_nbr++) {
                int opset = opsets [opset_nbr];
                if (per_axis && opset < 13)
                    continue;
                int count = per_axis? 3: 1;
                zi_node_t *node = zi_node_new ("QuantizeLinear", "test");
                node->opset = opset;
                if (per_axis)
                    zi_node_set_int (node, "axis", opset == 21? -2: 1);
                if (opset >= 19)
                    zi_node_set_int (node, "saturate", 1);
                zi_tensor_t *inputs [3] = {
                    zi_tensor_ref (x), s_test_scales (count, scales),
                    s_test_zero (types [type], count, type? zeros_i8: zeros_u8)
                };
                zi_tensor_t *y = s_test_run (node, 3, inputs);
                int32_t low = type? -128: 0, high = type? 127: 255;
                bool ok = y && y->dtype == types [type];
                for (size_t item = 0; ok && item < zi_tensor_count (x); item++) {
                    int64_t channel = per_axis? (item / 5) % 3: 0;
                    float q = values [item] / scales [channel];
                    int32_t zp = (type? zeros_i8: zeros_u8) [channel];
                    double want = isnan (q)? low: rint ((double) q) + zp;
                    want = want < low? low: want > high? high: want;
                    ok = zi_dtype_get (y->data, y->dtype, item) == want;
                    if (!ok)
                        ZI_CHECK (t, false, "element %zu: %g -> %g, want %g", item,
                                  (double) values [item], zi_dtype_get (y->data, y->dtype, item),
                                  want);
                }
                ZI_CHECK (t, ok, "QuantizeLinear %s, %s, opset %d", zi_dtype_name (types [type]),
                          per_axis? "per axis": "per tensor", opset);
                //  And back: DequantizeLinear of the same parameters
                zi_node_t *back = zi_node_new ("DequantizeLinear", "test");
                back->opset = opset;
                if (per_axis)
                    zi_node_set_int (back, "axis", 1);
                zi_tensor_t *back_inputs [3] = {y, zi_tensor_ref (inputs [1]),
                                                zi_tensor_ref (inputs [2])};
                zi_tensor_t *z = y? s_test_run (back, 3, back_inputs): NULL;
                ok = z && z->dtype == ZI_F32;
                for (size_t item = 0; ok && item < zi_tensor_count (x); item++) {
                    int64_t channel = per_axis? (item / 5) % 3: 0;
                    int32_t zp = (type? zeros_i8: zeros_u8) [channel];
                    float want = (float) ((int32_t) zi_dtype_get (y->data, y->dtype, item) - zp)
                               * scales [channel];
                    ok = zi_tensor_f32 (z) [item] == want;
                }
                ZI_CHECK (t, ok, "DequantizeLinear %s, %s, opset %d",
                          zi_dtype_name (types [type]), per_axis? "per axis": "per tensor", opset);
                zi_tensor_destroy (&z);
                s_test_free (back_inputs, 3);
                s_test_free (inputs, 3);
                zi_node_destroy (&back);
                zi_node_destroy (&node);
            }

    //  No zero point: uint8, or opset 21's output_dtype
    for (int opset = 10; opset <= 21; opset += 11) {
        zi_node_t *node = zi_node_new ("QuantizeLinear", "test");
        node->opset = opset;
        if (opset == 21)
            zi_node_set_int (node, "output_dtype", ZI_I8);
        zi_tensor_t *inputs [2] = {zi_tensor_ref (x), s_test_scales (1, scales)};
        zi_tensor_t *y = s_test_run (node, 2, inputs);
        ZI_CHECK (t, y && y->dtype == (opset == 21? ZI_I8: ZI_U8)
                  && zi_dtype_get (y->data, y->dtype, 0) == 2
                  && zi_dtype_get (y->data, y->dtype, 4) == (opset == 21? -128: 0),
                  "QuantizeLinear without a zero point, opset %d: %s", opset,
                  y? zi_dtype_name (y->dtype): zi_error_text ());
        zi_tensor_destroy (&y);
        s_test_free (inputs, 2);
        zi_node_destroy (&node);
    }

    //  int32 in (a QDQ model's bias), per output channel
    int64_t bias_dims [] = {3};
    zi_tensor_t *inputs [3] = {
        zi_tensor_new (ZI_I32, 1, bias_dims), s_test_scales (3, scales), NULL
    };
    int32_t biases [] = {-70000, 5, 123456};
    memcpy (inputs [0]->data, biases, sizeof biases);
    zi_node_t *node = zi_node_new ("DequantizeLinear", "test");
    zi_node_set_int (node, "axis", 0);
    zi_tensor_t *y = s_test_run (node, 2, inputs);
    ZI_CHECK (t, y && zi_tensor_f32 (y) [0] == -70000 * 0.1f
              && zi_tensor_f32 (y) [2] == 123456 * 0.2f,
              "DequantizeLinear of int32, per axis");
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);

    //  Refusals, each one line
    struct {
        const char *op;
        int opset;
        const char *attr;
        int64_t value;
        int per_axis;
        const char *words;
    } refusals [] = {
        {"QuantizeLinear", 9, NULL, 0, 0, "opset 10"},
        {"QuantizeLinear", 21, "block_size", 32, 0, "block_size"},
        {"DequantizeLinear", 21, "block_size", 16, 0, "blocked"},
        {"QuantizeLinear", 21, "output_dtype", 5, 0, "INT16"},
        {"QuantizeLinear", 10, NULL, 0, 1, "before opset 13"},
        {"DequantizeLinear", 11, "axis", 0, 0, "from opset 13"},
        {"QuantizeLinear", 13, "axis", 3, 1, "out of range"}
    };
    for (size_t index = 0; index < sizeof refusals / sizeof refusals [0]; index++) {
        node = zi_node_new (refusals [index].op, "test");
        node->opset = refusals [index].opset;
        if (refusals [index].attr)
            zi_node_set_int (node, refusals [index].attr, refusals [index].value);
        bool quantize = strcmp (refusals [index].op, "QuantizeLinear") == 0;
        zi_tensor_t *args [3] = {
            quantize? zi_tensor_ref (x): s_test_bytes (ZI_U8, 3, dims, 1),
            s_test_scales (refusals [index].per_axis? 3: 1, scales), NULL
        };
        y = s_test_run (node, 2, args);
        ZI_CHECK (t, !y && strstr (zi_error_text (), refusals [index].words),
                  "%s refused: %s", refusals [index].op, zi_error_text ());
        zi_tensor_destroy (&y);
        s_test_free (args, 3);
        zi_node_destroy (&node);
    }
    //  A zero point of another type
    node = zi_node_new ("QuantizeLinear", "test");
    zi_tensor_destroy (&inputs [1]);
    inputs [1] = s_test_scales (1, scales);
    inputs [2] = s_test_zero (ZI_I32, 1, (int32_t []) {0});
    zi_tensor_destroy (&inputs [0]);
    inputs [0] = zi_tensor_ref (x);
    y = s_test_run (node, 3, inputs);
    ZI_CHECK (t, !y && strstr (zi_error_text (), "int32"), "an int32 zero point refused: %s",
              zi_error_text ());
    s_test_free (inputs, 3);
    zi_node_destroy (&node);
    zi_tensor_destroy (&x);
}

static void
s_test_dynamic (zi_test_t *t)
{
    //  The spec's example, then all zeros
    float values [] = {0, 2, -3, -2.5f, 1.34f, 0.5f};
    uint8_t want [] = {153, 255, 0, 26, 221, 179};
    for (int round = 0; round < 2; round++) {
        zi_tensor_t *x = zi_test_tensor (1, (int64_t []) {6}, values);
        if (round)
            memset (x->data, 0, x->nbytes);
        zi_node_t *node = zi_node_new ("DynamicQuantizeLinear", "test");
        node->opset = 11;
        node->n_outputs = 3;
        zi_tensor_t *outputs [3] = {NULL, NULL, NULL};
        int rc = zi_test_run_op (node, 1, &x, 3, outputs);
        bool ok = rc == 0 && outputs [0]->dtype == ZI_U8 && outputs [2]->dtype == ZI_U8;
        if (ok && round == 0)
            ok = memcmp (outputs [0]->data, want, 6) == 0
              && *zi_tensor_f32 (outputs [1]) == 5.0f / 255
              && *(uint8_t *) outputs [2]->data == 153;
        if (ok && round == 1)
            ok = *zi_tensor_f32 (outputs [1]) == 1 && *(uint8_t *) outputs [2]->data == 0
              && ((uint8_t *) outputs [0]->data) [3] == 0;
        ZI_CHECK (t, ok, "DynamicQuantizeLinear, %s: %s", round? "zeros": "the spec's example",
                  rc? zi_error_text (): "");
        s_test_free (outputs, 3);
        zi_tensor_destroy (&x);
        zi_node_destroy (&node);
    }
}

//  sum_k (A [m][k] - a_zp) (B [k][n] - b_zp), plainly
static int32_t
s_ref_dot (const zi_tensor_t *a, const zi_tensor_t *b, int64_t a_at, int64_t a_step,
           int64_t b_at, int64_t b_step, int64_t depth, int32_t a_zero, int32_t b_zero)
{
    int64_t sum = 0;
    for (int64_t k = 0; k < depth; k++)
        sum += (int64_t) ((int32_t) zi_dtype_get (a->data, a->dtype, a_at + k * a_step) - a_zero)
             * ((int32_t) zi_dtype_get (b->data, b->dtype, b_at + k * b_step) - b_zero);
    return (int32_t) sum;
}

//  Every kernel the CPU has, against plain sums, on awkward shapes, every
//  pair of types, with zero points per tensor, per row and per column
static void
s_test_kernels (zi_test_t *t)
{
    s_kernel_t kernels [] = {S_KERNEL_PORTABLE, S_KERNEL_AVX2, S_KERNEL_AVX2_BYTES, S_KERNEL_VNNI};
    const char *names [] = {"portable", "avx2", "avx2 bytes", "avx512 vnni"};
    bool have [] = {true, zi_isa_cpu () >= ZI_ISA_AVX2, zi_isa_cpu () >= ZI_ISA_AVX2,
                    zi_isa_has_avx512_vnni ()};
    int64_t shapes [][3] = {{1, 1, 1}, {3, 5, 7}, {4, 16, 16}, {5, 33, 17}, {9, 70, 40},
                            {2, 259, 3}};
    zi_exec_t *exec = zi_exec_new ();
    for (int kernel = 0; kernel < 4; kernel++) {
        if (!have [kernel]) {
            printf ("  act_quant: %s kernel skipped: this CPU lacks it\n", names [kernel]);
            continue;
        }
        s_forced = kernels [kernel];
        for (size_t shape = 0; shape < sizeof shapes / sizeof shapes [0]; shape++)
            for (int types = 0; types < 5; types++) {
                int64_t m = shapes [shape][0], k = shapes [shape][1], n = shapes [shape][2];
                zi_dtype_t a_type = types & 1? ZI_I8: ZI_U8, b_type = types & 2? ZI_I8: ZI_U8;
                zi_tensor_t *a = s_test_bytes (a_type, 2, (int64_t []) {m, k}, 7 + types);
                zi_tensor_t *b = s_test_bytes (b_type, 2, (int64_t []) {k, n}, 9 + shape);
                if (types == 4) {
                    //  Small weights, for the byte kernel: |B| <= 64 either way
                    for (size_t item = 0; item < b->nbytes; item++)
                        ((uint8_t *) b->data) [item] = (uint8_t) (((uint8_t *) b->data) [item] % 129
                                                                  + (b_type == ZI_U8? 64: -64));
                }
                int32_t a_zeros [9], b_zeros [40];
                for (int row = 0; row < m; row++)
                    a_zeros [row] = a_type == ZI_U8? (row * 37) % 256: (row * 37) % 256 - 128;
                for (int col = 0; col < n; col++)
                    b_zeros [col] = b_type == ZI_U8? (col * 71 + 3) % 256: (col * 71) % 256 - 128;
                bool per = shape % 2;
                zi_tensor_t *inputs [4] = {
                    a, b, s_test_zero (a_type, per? (int) m: 1, a_zeros),
                    s_test_zero (b_type, per? (int) n: 1, b_zeros)
                };
                zi_node_t *node = zi_node_new ("MatMulInteger", "test");
                zi_tensor_t *y = s_test_run (node, 4, inputs);
                bool ok = y && y->dtype == ZI_I32 && y->dims [0] == m && y->dims [1] == n;
                for (int64_t row = 0; ok && row < m; row++)
                    for (int64_t col = 0; ok && col < n; col++) {
                        int32_t want = s_ref_dot (a, b, row * k, 1, col, n, k,
                                                  a_zeros [per? row: 0], b_zeros [per? col: 0]);
                        ok = ((int32_t *) y->data) [row * n + col] == want;
                    }
                ZI_CHECK (t, ok, "%s kernel: [%lld, %lld] x [%lld, %lld], %s x %s, zero points %s",
                          names [kernel], (long long) m, (long long) k, (long long) k,
                          (long long) n, zi_dtype_name (a_type), zi_dtype_name (b_type),
                          per? "per row and column": "per tensor");
                zi_tensor_destroy (&y);
                s_test_free (inputs, 4);
                zi_node_destroy (&node);
            }
    }
    s_forced = S_KERNEL_AUTO;
    zi_exec_destroy (&exec);
}

//  MatMulInteger with batch axes broadcast, B computed (packed per run);
//  QLinearMatMul against the requantization formula
static void
s_test_matmul (zi_test_t *t)
{
    int64_t a_dims [] = {2, 1, 3, 10}, b_dims [] = {4, 10, 6};
    zi_tensor_t *a = s_test_bytes (ZI_I8, 4, a_dims, 1), *b = s_test_bytes (ZI_U8, 3, b_dims, 2);
    zi_tensor_t *inputs [4] = {a, b, s_test_zero (ZI_I8, 1, (int32_t []) {-3}),
                               s_test_zero (ZI_U8, 1, (int32_t []) {131})};
    for (int opset = 10; opset <= 21; opset += 11) {
        zi_node_t *node = zi_node_new ("MatMulInteger", "test");
        node->opset = opset;
        zi_tensor_t *shape_b = zi_test_shape_only (ZI_U8, 3, b_dims);
        zi_tensor_t *y = s_test_run (node, 4, inputs);
        zi_tensor_destroy (&shape_b);
        bool ok = y && y->ndim == 4 && y->dims [0] == 2 && y->dims [1] == 4 && y->dims [2] == 3
               && y->dims [3] == 6;
        for (int64_t i = 0; ok && i < 2; i++)
            for (int64_t j = 0; ok && j < 4; j++)
                for (int64_t row = 0; ok && row < 3; row++)
                    for (int64_t col = 0; ok && col < 6; col++) {
                        int32_t want = s_ref_dot (a, b, (i * 3 + row) * 10, 1, j * 60 + col, 6, 10,
                                                  -3, 131);
                        ok = ((int32_t *) y->data) [((i * 4 + j) * 3 + row) * 6 + col] == want;
                    }
        ZI_CHECK (t, ok, "MatMulInteger [2, 1, 3, 10] x [4, 10, 6], opset %d: %s", opset,
                  y? "": zi_error_text ());
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    s_test_free (inputs, 4);

    //  QLinearMatMul: per-column scales of B, uint8 and int8 outputs
    int64_t m = 5, k = 21, n = 9;
    for (int type = 0; type < 2; type++) {
        zi_dtype_t y_type = type? ZI_I8: ZI_U8;
        float b_scales [9];
        int32_t b_zeros [9];
        for (int col = 0; col < n; col++) {
            b_scales [col] = 0.01f + 0.003f * col;
            b_zeros [col] = 0;
        }
        zi_tensor_t *args [8] = {
            s_test_bytes (ZI_U8, 2, (int64_t []) {m, k}, 5), s_test_scales (1, (float []) {0.02f}),
            s_test_zero (ZI_U8, 1, (int32_t []) {100}),
            s_test_bytes (ZI_I8, 2, (int64_t []) {k, n}, 6), s_test_scales ((int) n, b_scales),
            s_test_zero (ZI_I8, (int) n, b_zeros), s_test_scales (1, (float []) {0.9f}),
            s_test_zero (y_type, 1, (int32_t []) {type? -10: 120})
        };
        zi_node_t *node = zi_node_new ("QLinearMatMul", "test");
        zi_tensor_t *y = s_test_run (node, 8, args);
        bool ok = y && y->dtype == y_type;
        int32_t low = type? -128: 0, high = type? 127: 255;
        for (int64_t row = 0; ok && row < m; row++)
            for (int64_t col = 0; ok && col < n; col++) {
                int32_t acc = s_ref_dot (args [0], args [3], row * k, 1, col, n, k, 100, 0);
                float multiplier = 0.02f * b_scales [col] / 0.9f;
                double want = rint ((double) ((float) acc * multiplier)) + (type? -10: 120);
                want = want < low? low: want > high? high: want;
                ok = zi_dtype_get (y->data, y_type, row * n + col) == want;
            }
        ZI_CHECK (t, ok, "QLinearMatMul to %s: %s", zi_dtype_name (y_type),
                  y? "": zi_error_text ());
        zi_tensor_destroy (&y);
        s_test_free (args, 8);
        zi_node_destroy (&node);
    }
}

//  ConvInteger and QLinearConv against a direct convolution
static void
s_test_conv (zi_test_t *t)
{
    struct {
        int64_t x [4], w [4];
        int64_t group, stride, dilation, pad;
    } cases [] = {
        {{1, 3, 7, 9}, {4, 3, 3, 3}, 1, 1, 1, 1},
        {{2, 4, 8, 8}, {6, 2, 3, 3}, 2, 2, 1, 1},
        {{1, 5, 9, 6}, {5, 1, 3, 3}, 5, 1, 2, 2},
        {{1, 17, 5, 5}, {3, 17, 1, 1}, 1, 1, 1, 0},
        //  Long rows: stride 1 runs copied whole, stride 2 ones gathered
        {{1, 3, 5, 41}, {4, 3, 3, 3}, 1, 1, 1, 1},
        {{1, 2, 6, 45}, {3, 2, 3, 3}, 1, 2, 1, 1},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int variant = 0; variant < 4; variant++) {
            bool qlinear = variant >= 2;
            zi_dtype_t x_type = variant % 2? ZI_I8: ZI_U8, w_type = variant % 2? ZI_U8: ZI_I8;
            int64_t out_c = cases [index].w [0];
            int32_t w_zeros [6];
            float w_scales [6];
            for (int map = 0; map < out_c; map++) {
                w_zeros [map] = w_type == ZI_U8? 120 + map: map - 3;
                w_scales [map] = 0.004f + 0.001f * map;
            }
            int32_t x_zero = x_type == ZI_U8? 7: -7;
            zi_tensor_t *x = s_test_bytes (x_type, 4, cases [index].x, 11 + index);
            zi_tensor_t *w = s_test_bytes (w_type, 4, cases [index].w, 13 + index);
            zi_tensor_t *bias = zi_tensor_new (ZI_I32, 1, &out_c);
            for (int map = 0; map < out_c; map++)
                ((int32_t *) bias->data) [map] = map * 1000 - 2500;
            zi_node_t *node = zi_node_new (qlinear? "QLinearConv": "ConvInteger", "test");
            int64_t pads [4] = {cases [index].pad, cases [index].pad, cases [index].pad,
                                cases [index].pad};
            zi_node_set_ints (node, "pads", 4, pads);
            zi_node_set_ints (node, "strides", 2, (int64_t []) {cases [index].stride,
                                                                cases [index].stride});
            zi_node_set_ints (node, "dilations", 2, (int64_t []) {cases [index].dilation,
                                                                  cases [index].dilation});
            zi_node_set_int (node, "group", cases [index].group);
            zi_tensor_t *args [9];
            int n_args;
            bool per_channel = index % 2 == 0;
            if (qlinear) {
                zi_tensor_t *list [9] = {
                    x, s_test_scales (1, (float []) {0.05f}), s_test_zero (x_type, 1, &x_zero),
                    w, s_test_scales (per_channel? (int) out_c: 1, w_scales),
                    s_test_zero (w_type, per_channel? (int) out_c: 1, w_zeros),
                    s_test_scales (1, (float []) {0.25f}),
                    s_test_zero (ZI_U8, 1, (int32_t []) {128}), bias
                };
                memcpy (args, list, sizeof list);
                n_args = 9;
            }
            else {
                zi_tensor_t *list [4] = {x, w, s_test_zero (x_type, 1, &x_zero),
                                         s_test_zero (w_type, per_channel? (int) out_c: 1,
                                                      w_zeros)};
                memcpy (args, list, sizeof list);
                zi_tensor_destroy (&bias);
                n_args = 4;
            }
            zi_tensor_t *y = s_test_run (node, n_args, args);
            const int64_t *xd = cases [index].x, *wd = cases [index].w;
            int64_t span = (wd [2] - 1) * cases [index].dilation + 1;
            int64_t out_h = (xd [2] + 2 * cases [index].pad - span) / cases [index].stride + 1;
            int64_t out_w = (xd [3] + 2 * cases [index].pad - span) / cases [index].stride + 1;
            bool ok = y && y->dims [2] == out_h && y->dims [3] == out_w
                   && y->dtype == (qlinear? ZI_U8: ZI_I32);
            int64_t group_in = xd [1] / cases [index].group;
            int64_t group_out = out_c / cases [index].group;
            int worst = 0;
            for (int64_t image = 0; ok && image < xd [0]; image++)
                for (int64_t map = 0; ok && map < out_c; map++)
                    for (int64_t oy = 0; oy < out_h; oy++)
                        for (int64_t ox = 0; ox < out_w; ox++) {
                            int64_t sum = 0;
                            int32_t wz = w_zeros [per_channel? map: 0];
                            for (int64_t c = 0; c < group_in; c++)
                                for (int64_t ky = 0; ky < wd [2]; ky++)
                                    for (int64_t kx = 0; kx < wd [3]; kx++) {
                                        int64_t iy = oy * cases [index].stride - cases [index].pad
                                                   + ky * cases [index].dilation;
                                        int64_t ix = ox * cases [index].stride - cases [index].pad
                                                   + kx * cases [index].dilation;
                                        int64_t channel = (map / group_out) * group_in + c;
                                        int64_t at_x = ((image * xd [1] + channel) * xd [2] + iy)
                                                     * xd [3] + ix;
                                        bool outside = iy < 0 || iy >= xd [2] || ix < 0
                                                    || ix >= xd [3];
                                        int32_t xv = outside? x_zero: (int32_t) zi_dtype_get (
                                            x->data, x_type, at_x);
                                        int32_t wv = (int32_t) zi_dtype_get (w->data, w_type,
                                            ((map * wd [1] + c) * wd [2] + ky) * wd [3] + kx);
                                        sum += (int64_t) (xv - x_zero) * (wv - wz);
                                    }
                            int64_t at = ((image * out_c + map) * out_h + oy) * out_w + ox;
                            if (qlinear) {
                                float multiplier = 0.05f * w_scales [per_channel? map: 0] / 0.25f;
                                double want = rint ((double) ((float) (sum + map * 1000 - 2500)
                                                              * multiplier)) + 128;
                                want = want < 0? 0: want > 255? 255: want;
                                int gap = (int) fabs (zi_dtype_get (y->data, ZI_U8, at) - want);
                                worst = gap > worst? gap: worst;
                            }
                            else
                            if (((int32_t *) y->data) [at] != sum)
                                worst = 1;
                        }
            ZI_CHECK (t, ok && worst == 0, "%s case %zu, %s x %s%s: %s (off by %d)",
                      qlinear? "QLinearConv": "ConvInteger", index, zi_dtype_name (x_type),
                      zi_dtype_name (w_type), per_channel? ", per channel": "",
                      y? "": zi_error_text (), worst);
            zi_tensor_destroy (&y);
            s_test_free (args, n_args);
            zi_node_destroy (&node);
        }
}

//  Every requantization form the CPU has against the portable one, byte
//  for byte: ties (x.5 both ways), both ends and past them, int32 sums
//  that wrap with the bias, NaN and infinite multipliers, awkward lengths;
//  and QuantizeLinear's float form, NaN and infinities in
static void
s_test_requant (zi_test_t *t)
{
    s_requant_t forms [] = {S_REQUANT_AVX2, S_REQUANT_AVX512};
    const char *names [] = {"avx2", "avx512"};
    bool have [] = {zi_isa_cpu () >= ZI_ISA_AVX2, zi_isa_cpu () >= ZI_ISA_AVX512};
    enum { S_ITEMS = 133 };
    int32_t acc [S_ITEMS];
    float multipliers [S_ITEMS];
    uint32_t state = 99;
    for (int item = 0; item < S_ITEMS; item++) {
        state = state * 1664525u + 1013904223u;
        acc [item] = item % 5 == 0? (int32_t) state: (int32_t) (state >> 20) - 2048;
        multipliers [item] = 0.5f / (1 + item % 7);
    }
    acc [1] = INT32_MAX;
    acc [2] = INT32_MIN;
    acc [3] = 5;            //  2.5 at 0.5: even, 2
    acc [4] = 7;            //  3.5: 4
    acc [6] = -5;           //  -2.5: -2
    multipliers [3] = multipliers [4] = multipliers [6] = 0.5f;
    multipliers [8] = INFINITY;
    multipliers [9] = -INFINITY;
    multipliers [10] = NAN;
    acc [11] = 0;
    multipliers [11] = INFINITY;    //  0 x inf, NaN
    //  Floats for QuantizeLinear: halves (ties at divisor 1), NaN, both
    //  infinities, far out of range
    float floats [S_ITEMS], divisors [2] = {1.0f, 0.0371f};
    for (int item = 0; item < S_ITEMS; item++)
        floats [item] = (float) ((int32_t) (acc [item] % 601) - 300) * 0.5f;
    floats [5] = NAN;
    floats [7] = INFINITY;
    floats [12] = -INFINITY;
    floats [13] = 3e9f;
    int64_t counts [] = {1, 7, 15, 16, 17, 33, S_ITEMS};
    for (int form = 0; form < 2; form++) {
        if (!have [form]) {
            printf ("  act_quant: %s requantization skipped: this CPU lacks it\n",
                    names [form]);
            continue;
        }
        int worst = 0;
        for (int type = 0; type < 2; type++)
            for (int step = 0; step < 2; step++)
                for (size_t count = 0; count < sizeof counts / sizeof counts [0]; count++)
                    for (int bias = -1; bias <= 1; bias++) {
                        uint8_t want [S_ITEMS + 1], got [S_ITEMS + 1];
                        memset (want, 0xa5, sizeof want);
                        memset (got, 0xa5, sizeof got);
                        zi_dtype_t y_type = type? ZI_I8: ZI_U8;
                        s_requant_row_t row = {.acc = acc, .bias = bias * 1000000007,
                                               .multipliers = multipliers + 3 * !step,
                                               .step = step, .zero = type? -3: 131,
                                               .type = y_type, .y = want};
                        //  bias 1: QuantizeLinear's float form, dividing
                        if (bias == 1) {
                            row.x = floats;
                            row.divisor = divisors [step];
                        }
                        s_requant_forced = S_REQUANT_PORTABLE;
                        s_requant_row (&row, counts [count]);
                        row.y = got;
                        s_requant_forced = forms [form];
                        s_requant_row (&row, counts [count]);
                        if (memcmp (want, got, sizeof want))
                            worst++;
                    }
        ZI_CHECK (t, worst == 0, "%s requantization as the portable one (%d rows differ)",
                  names [form], worst);
    }
    s_requant_forced = S_REQUANT_AUTO;
    //  The portable one against the formula, in double
    int32_t value_acc [] = {5, 7, -5, 1000, -1000, 0};
    for (int item = 0; item < 6; item++) {
        float multiplier = 0.5f;
        double want = rint ((double) ((float) value_acc [item] * multiplier)) + 131;
        want = want < 0? 0: want > 255? 255: want;
        uint8_t got;
        s_requant_row_t row = {.acc = value_acc + item, .multipliers = &multiplier,
                               .zero = 131, .type = ZI_U8, .y = &got};
        s_requant_forced = S_REQUANT_PORTABLE;
        s_requant_row (&row, 1);
        ZI_CHECK (t, got == want, "portable requantization of %d: %d, want %g",
                  value_acc [item], got, want);
    }
    s_requant_forced = S_REQUANT_AUTO;
}

void
zi_act_quant_test (zi_test_t *t)
{
    s_test_requant (t);
    s_test_linear (t);
    s_test_dynamic (t);
    s_test_kernels (t);
    //  The ops on every kernel the CPU has, the column sums of the
    //  convolutions' packing included
    s_kernel_t kernels [] = {S_KERNEL_PORTABLE, S_KERNEL_AVX2, S_KERNEL_VNNI, S_KERNEL_AUTO};
    bool have [] = {true, zi_isa_cpu () >= ZI_ISA_AVX2, zi_isa_has_avx512_vnni (), true};
    for (int kernel = 0; kernel < 4; kernel++)
        if (have [kernel]) {
            s_forced = kernels [kernel];
            s_test_matmul (t);
            s_test_conv (t);
        }
    s_forced = S_KERNEL_AUTO;
}
