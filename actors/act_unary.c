/*  =========================================================================
    act_unary - element-wise ops on one input: activations and math

    Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh and LeakyRelu run
    through zi_act_apply, the same code a producer runs when the fusion
    pass folds the activation into it, so a fused and an unfused graph give
    the same bits. The rest (Sqrt, Exp, Erf, Log, Neg, Abs, Not, Mish,
    Gelu...) are plain loops in one switch. All ops share init, infer and
    run: the output has the input's shape and dtype, but for IsNaN and
    IsInf, whose output is bool.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"

//  Activations are applied in pieces of this many floats, right after the
//  piece is copied, so the second pass reads L1
#define S_CHUNK 4096

//  Input dtypes an op accepts
#define S_F32  ZI_DT (ZI_F32)
#define S_I64  ZI_DT (ZI_I64)
#define S_BOOL ZI_DT (ZI_BOOL)

//  Every op of the family, one row each: ROW (OnnxOpType, most inputs,
//  dtypes input 0 accepts). A row makes the op's kind S_<OnnxOpType>, its
//  table entry zi_op_<OnnxOpType> (at the end of the kernel) and, through
//  zi_op_t.row, tells the shared init which op it is building.
#define S_UNARY_OPS(ROW)             \
    ROW (Relu, 1, S_F32 | S_I64)     \
    ROW (Clip, 3, S_F32 | S_I64)     \
    ROW (Sigmoid, 1, S_F32)          \
    ROW (HardSigmoid, 1, S_F32)      \
    ROW (HardSwish, 1, S_F32)        \
    ROW (Tanh, 1, S_F32)             \
    ROW (LeakyRelu, 1, S_F32)        \
    ROW (Sqrt, 1, S_F32)             \
    ROW (Exp, 1, S_F32)              \
    ROW (Erf, 1, S_F32)              \
    ROW (Log, 1, S_F32)              \
    ROW (Reciprocal, 1, S_F32)       \
    ROW (Neg, 1, S_F32 | S_I64)      \
    ROW (Abs, 1, S_F32 | S_I64)      \
    ROW (Sign, 1, S_F32 | S_I64)     \
    ROW (Floor, 1, S_F32)            \
    ROW (Ceil, 1, S_F32)             \
    ROW (Round, 1, S_F32)            \
    ROW (Softplus, 1, S_F32)         \
    ROW (Softsign, 1, S_F32)         \
    ROW (Elu, 1, S_F32)              \
    ROW (Selu, 1, S_F32)             \
    ROW (Sin, 1, S_F32)              \
    ROW (Cos, 1, S_F32)              \
    ROW (Not, 1, S_BOOL)             \
    ROW (Mish, 1, S_F32)             \
    ROW (Celu, 1, S_F32)             \
    ROW (ThresholdedRelu, 1, S_F32)  \
    ROW (Shrink, 1, S_F32 | S_I64)   \
    ROW (Gelu, 1, S_F32)             \
    ROW (IsNaN, 1, S_F32)            \
    ROW (IsInf, 1, S_F32)

#define S_KIND(Name, max, accepted) S_##Name,
typedef enum {
    S_UNARY_OPS (S_KIND)
} s_kind_t;
#undef S_KIND

typedef struct {
    s_kind_t kind;              //  the op
    zi_act_t act;               //  for the activations; Clip bounds from attributes
    bool min_attr;              //  Clip: min came from an attribute
    bool max_attr;              //  Clip: max came from an attribute
    float alpha;                //  Elu, Selu, Celu, ThresholdedRelu; Shrink's lambd
    float gamma;                //  Selu; Shrink's bias
    bool tanh;                  //  Gelu: the tanh approximation
    bool negative, positive;    //  IsInf: which infinities count
} s_unary_t;

//  Input slot index, or NULL when omitted
static const zi_tensor_t *
s_input (const zi_node_t *node, const zi_tensor_t *const *in, int index)
{
    return index < node->n_inputs? in [index]: NULL;
}

static int
s_init (zi_node_t *node)
{
    s_unary_t *self = calloc (1, sizeof (s_unary_t));
    if (!self)
        return zi_error ("out of memory");
    self->kind = (s_kind_t) node->op->row;
    switch (self->kind) {
        case S_Relu:
            self->act.kind = ZI_ACT_RELU;
            break;
        case S_Clip:
            //  Before opset 11 the bounds are attributes, later inputs;
            //  an attribute wins when both are there
            self->act.kind = ZI_ACT_CLIP;
            self->min_attr = zi_node_attr (node, "min") != NULL;
            self->max_attr = zi_node_attr (node, "max") != NULL;
            self->act.alpha = zi_node_attr_float (node, "min", -INFINITY);
            self->act.beta = zi_node_attr_float (node, "max", INFINITY);
            break;
        case S_Sigmoid:
            self->act.kind = ZI_ACT_SIGMOID;
            break;
        case S_HardSigmoid:
            self->act.kind = ZI_ACT_HARD_SIGMOID;
            self->act.alpha = zi_node_attr_float (node, "alpha", 0.2f);
            self->act.beta = zi_node_attr_float (node, "beta", 0.5f);
            break;
        case S_HardSwish:
            self->act.kind = ZI_ACT_HARD_SWISH;
            break;
        case S_Tanh:
            self->act.kind = ZI_ACT_TANH;
            break;
        case S_LeakyRelu:
            self->act.kind = ZI_ACT_LEAKY_RELU;
            self->act.alpha = zi_node_attr_float (node, "alpha", 0.01f);
            break;
        case S_Elu:
            self->alpha = zi_node_attr_float (node, "alpha", 1.0f);
            break;
        case S_Selu:
            self->alpha = zi_node_attr_float (node, "alpha", 1.67326319217681884765625f);
            self->gamma = zi_node_attr_float (node, "gamma", 1.05070102214813232421875f);
            break;
        case S_Celu:
        case S_ThresholdedRelu:
            self->alpha = zi_node_attr_float (node, "alpha", 1.0f);
            if (self->kind == S_Celu && self->alpha == 0) {
                free (self);
                return zi_error ("attribute 'alpha' = 0; Celu divides by it");
            }
            break;
        case S_Shrink:
            self->alpha = zi_node_attr_float (node, "lambd", 0.5f);
            self->gamma = zi_node_attr_float (node, "bias", 0.0f);
            break;
        case S_Gelu: {
            const char *approximate = zi_node_attr_string (node, "approximate", "none");
            if (strcmp (approximate, "none") && strcmp (approximate, "tanh")) {
                free (self);
                return zi_error ("attribute 'approximate' = '%s'; expected none or tanh",
                                 approximate);
            }
            self->tanh = strcmp (approximate, "tanh") == 0;
            break;
        }
        case S_IsInf:
            self->negative = zi_node_attr_int (node, "detect_negative", 1) != 0;
            self->positive = zi_node_attr_int (node, "detect_positive", 1) != 0;
            break;
        default:
            break;
    }
    node->params = self;
    return 0;
}

static int
s_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_unary_t *self = node->params;
    const zi_tensor_t *x = in [0];
    if (!x)
        return zi_error ("input 0 is required");
    for (int index = 1; index < node->n_inputs; index++) {
        //  Clip's min and max: one value of the input's dtype, may be
        //  computed at run time
        const zi_tensor_t *bound = in [index];
        if (!bound)
            continue;
        char shape [160];
        if (bound->dtype != x->dtype || zi_shape_count (bound->ndim, bound->dims) != 1)
            return zi_error ("input %d (%s): expected a single %s value, got %s %s",
                             index, index == 1? "min": "max", zi_dtype_name (x->dtype),
                             zi_dtype_name (bound->dtype),
                             zi_shape_str (bound->ndim, bound->dims, shape, sizeof shape));
    }
    bool to_bool = self->kind == S_IsNaN || self->kind == S_IsInf;
    zi_tensor_set_shape (out [0], to_bool? ZI_BOOL: x->dtype, x->ndim, x->dims);
    return 0;
}

//  Clip on int64: bounds from inputs, or attributes rounded inward
static void
s_clip_i64 (const s_unary_t *self, const zi_tensor_t *min, const zi_tensor_t *max,
            const int64_t *x, int64_t *y, size_t count)
{
    int64_t low = INT64_MIN, high = INT64_MAX;
    //  A NaN bound is no bound; converting it would be undefined
    if (self->min_attr)
        low = !(self->act.alpha > -9.2e18f)? INT64_MIN: self->act.alpha >= 9.2e18f? INT64_MAX:
              (int64_t) ceilf (self->act.alpha);
    else
    if (min)
        low = *zi_tensor_i64 (min);
    if (self->max_attr)
        high = !(self->act.beta < 9.2e18f)? INT64_MAX: self->act.beta <= -9.2e18f? INT64_MIN:
               (int64_t) floorf (self->act.beta);
    else
    if (max)
        high = *zi_tensor_i64 (max);
    if (low > high)
        low = high;
    for (size_t item = 0; item < count; item++)
        y [item] = x [item] < low? low: (x [item] > high? high: x [item]);
}

//  y = expr (x) over every element, with x of type T
#define S_MAP(T, expr)                                                      \
    do {                                                                    \
        const T *from = (const T *) in [0]->data;                           \
        T *to = (T *) out [0]->data;                                        \
        for (size_t item = 0; item < count; item++) {                       \
            T x = from [item];                                              \
            to [item] = (expr);                                             \
        }                                                                   \
    } while (0)

static int
s_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
       zi_tensor_t *const *out)
{
    const s_unary_t *self = node->params;
    size_t count = zi_tensor_count (out [0]);
    bool f32 = in [0]->dtype == ZI_F32;

    if (self->act.kind != ZI_ACT_NONE && f32) {
        zi_act_t act = self->act;
        if (self->kind == S_Clip) {
            const zi_tensor_t *min = s_input (node, in, 1);
            const zi_tensor_t *max = s_input (node, in, 2);
            if (!self->min_attr && min)
                act.alpha = *zi_tensor_f32 (min);
            if (!self->max_attr && max)
                act.beta = *zi_tensor_f32 (max);
            //  numpy.clip and ONNX give max everywhere when min > max
            if (act.alpha > act.beta)
                act.alpha = act.beta;
        }
        const float *x = zi_tensor_f32 (in [0]);
        float *y = zi_tensor_f32 (out [0]);
        for (size_t start = 0; start < count; start += S_CHUNK) {
            size_t piece = count - start < S_CHUNK? count - start: S_CHUNK;
            if (y != x)
                memcpy (y + start, x + start, piece * sizeof (float));
            zi_act_apply (&act, y + start, piece);
        }
        return 0;
    }
    float alpha = self->alpha, gamma = self->gamma;
    switch (self->kind) {
        case S_Relu:        //  int64; float went through zi_act above
            S_MAP (int64_t, x > 0? x: 0);
            break;
        case S_Clip:
            s_clip_i64 (self, s_input (node, in, 1), s_input (node, in, 2),
                        zi_tensor_i64 (in [0]), zi_tensor_i64 (out [0]), count);
            break;
        case S_Sqrt:
            S_MAP (float, sqrtf (x));
            break;
        case S_Exp:
            S_MAP (float, expf (x));
            break;
        case S_Erf:
            S_MAP (float, erff (x));
            break;
        case S_Log:
            S_MAP (float, logf (x));
            break;
        case S_Reciprocal:
            S_MAP (float, 1.0f / x);
            break;
        case S_Neg:
            if (f32)
                S_MAP (float, -x);
            else        //  wraps at INT64_MIN instead of being undefined
                S_MAP (int64_t, (int64_t) (0 - (uint64_t) x));
            break;
        case S_Abs:
            if (f32)
                S_MAP (float, fabsf (x));
            else
                S_MAP (int64_t, x < 0? (int64_t) (0 - (uint64_t) x): x);
            break;
        case S_Sign:
            if (f32)    //  zeros and NaN pass through
                S_MAP (float, x > 0? 1.0f: x < 0? -1.0f: x);
            else
                S_MAP (int64_t, (int64_t) (x > 0) - (int64_t) (x < 0));
            break;
        case S_Floor:
            S_MAP (float, floorf (x));
            break;
        case S_Ceil:
            S_MAP (float, ceilf (x));
            break;
        case S_Round:       //  halves to even, the default rounding mode
            S_MAP (float, nearbyintf (x));
            break;
        case S_Softplus:    //  log (1 + exp (x)) without overflow for large x
            S_MAP (float, x > 0? x + log1pf (expf (-x)): log1pf (expf (x)));
            break;
        case S_Softsign:
            S_MAP (float, x / (1.0f + fabsf (x)));
            break;
        case S_Elu:
            S_MAP (float, x >= 0? x: alpha * expm1f (x));
            break;
        case S_Selu:
            S_MAP (float, x > 0? gamma * x: gamma * (alpha * expm1f (x)));
            break;
        case S_Sin:
            S_MAP (float, sinf (x));
            break;
        case S_Cos:
            S_MAP (float, cosf (x));
            break;
        case S_Not:
            S_MAP (uint8_t, x == 0);
            break;
        case S_Mish:        //  x tanh (softplus (x)), softplus as above
            S_MAP (float, x * tanhf (x > 0? x + log1pf (expf (-x)): log1pf (expf (x))));
            break;
        case S_Celu:
            S_MAP (float, x > 0? x: alpha * expm1f (x / alpha));
            break;
        case S_ThresholdedRelu:
            S_MAP (float, x > alpha || x != x? x: 0);      //  NaN stays NaN
            break;
        case S_Shrink:
            if (f32)
                S_MAP (float, x < -alpha? x + gamma: x > alpha? x - gamma: x != x? x: 0);
            else
                S_MAP (int64_t, (double) x < -alpha? x + (int64_t) gamma:
                                (double) x > alpha? x - (int64_t) gamma: 0);
            break;
        case S_Gelu:
            if (self->tanh)
                S_MAP (float, 0.5f * x * (1 + tanhf (0.7978845608028654f
                                                    * (x + 0.044715f * x * x * x))));
            else
                S_MAP (float, 0.5f * x * erfcf (-x * 0.7071067811865476f));
            break;
        case S_IsNaN: {
            const float *from = zi_tensor_f32 (in [0]);
            uint8_t *to = out [0]->data;
            for (size_t item = 0; item < count; item++)
                to [item] = from [item] != from [item];
            break;
        }
        case S_IsInf: {
            const float *from = zi_tensor_f32 (in [0]);
            uint8_t *to = out [0]->data;
            for (size_t item = 0; item < count; item++)
                to [item] = (self->positive && from [item] == INFINITY)
                         || (self->negative && from [item] == -INFINITY);
            break;
        }
        default:
            assert (false);     //  float activations are handled above
    }
    return 0;
}

#define S_OP(Name, max, accepted)                                           \
const zi_op_t zi_op_##Name = {                                              \
    .name = #Name, .min_inputs = 1, .max_inputs = max, .max_outputs = 1,    \
    .init = s_init, .infer = s_infer, .run = s_run,                         \
    .dtypes = {accepted}, .row = S_##Name, .batch = ZI_BATCH_ELEMENTWISE            \
};
S_UNARY_OPS (S_OP)
#undef S_OP


//  --------------------------------------------------------------------------
//  Self test: each op against the formula from the ONNX spec, computed in
//  double; the activations also bit for bit against zi_act_apply

//  The spec's formula; alpha and beta are the op's parameters (beta is
//  gamma for Selu)
static double
s_ref (s_kind_t kind, double x, double alpha, double beta)
{
    //  NaN in, NaN out, as PyTorch and numpy do for every float op here
    if (isnan (x))
        return kind == S_Not? 0: x;
    switch (kind) {
        case S_Relu: return x > 0? x: 0;
        case S_Clip: return x < alpha? alpha: x > beta? beta: x;
        case S_Sigmoid: return 1 / (1 + exp (-x));
        case S_HardSigmoid: return fmax (0, fmin (1, alpha * x + beta));
        case S_HardSwish: return x * fmax (0, fmin (1, x / 6 + 0.5));
        case S_Tanh: return tanh (x);
        case S_LeakyRelu: return x >= 0? x: alpha * x;
        case S_Sqrt: return sqrt (x);
        case S_Exp: return exp (x);
        case S_Erf: return erf (x);
        case S_Log: return log (x);
        case S_Reciprocal: return 1 / x;
        case S_Neg: return -x;
        case S_Abs: return fabs (x);
        case S_Sign: return x > 0? 1: x < 0? -1: 0;
        case S_Floor: return floor (x);
        case S_Ceil: return ceil (x);
        case S_Round: {
            double down = floor (x), frac = x - down;
            if (frac > 0.5 || (frac == 0.5 && fmod (down, 2) != 0))
                return down + 1;
            return down;
        }
        case S_Softplus: return log (exp (x) + 1);
        case S_Softsign: return x / (1 + fabs (x));
        case S_Elu: return x < 0? alpha * (exp (x) - 1): x;
        case S_Selu: return x <= 0? beta * (alpha * exp (x) - alpha): beta * x;
        case S_Sin: return sin (x);
        case S_Cos: return cos (x);
        case S_Not: return x == 0;
        case S_Mish: return x * tanh (log (exp (x) + 1));
        case S_Celu: return fmax (0, x) + fmin (0, alpha * (exp (x / alpha) - 1));
        case S_ThresholdedRelu: return x > alpha? x: 0;
        case S_Shrink: return x < -alpha? x + beta: x > alpha? x - beta: 0;
        case S_Gelu: return 0.5 * x * (1 + erf (x / sqrt (2)));
        case S_IsNaN: return isnan (x);
        case S_IsInf: return isinf (x);
    }
    return 0;
}

//  Runs op on float data, compares with the reference and, for an
//  activation, with zi_act_apply to the bit
static void
s_test_float (zi_test_t *t, const char *op, int ndim, const int64_t *dims,
              float alpha, float beta, bool set_attrs)
{
    zi_node_t *node = zi_node_new (op, "test");
    s_kind_t kind = (s_kind_t) node->op->row;
    if (set_attrs) {
        zi_node_set_float (node, kind == S_Shrink? "lambd": "alpha", alpha);
        zi_node_set_float (node, kind == S_Selu? "gamma": kind == S_Shrink? "bias": "beta", beta);
    }
    zi_tensor_t *x = zi_test_random (ndim, dims, 7 + ndim);
    float *data = zi_tensor_f32 (x);
    size_t count = zi_tensor_count (x);
    for (size_t item = 0; item < count; item++) {
        //  [-4, 4) reaches both knees of the hard activations; square
        //  roots and logarithms get positive numbers
        data [item] *= 4;
        if (kind == S_Sqrt || kind == S_Log)
            data [item] = fabsf (data [item]) + 0.01f;
        if (kind == S_Round && item % 3 == 0)
            data [item] = (float) ((int) (data [item] * 2)) / 2;    //  halves
    }
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    ZI_CHECK (t, rc == 0, "%s runs: %s", op, rc? zi_error_text (): "");
    if (rc == 0) {
        float *want = malloc ((count + 1) * sizeof (float));
        assert (want);
        for (size_t item = 0; item < count; item++)
            want [item] = (float) s_ref (kind, data [item], alpha, beta);
        char what [64];
        snprintf (what, sizeof what, "%s of %zu values", op, count);
        ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, count, 1e-5f, 1e-5f);

        zi_act_t act = {ZI_ACT_NONE, alpha, beta};
        act.kind = kind == S_Relu? ZI_ACT_RELU: kind == S_Sigmoid? ZI_ACT_SIGMOID:
                   kind == S_HardSigmoid? ZI_ACT_HARD_SIGMOID:
                   kind == S_HardSwish? ZI_ACT_HARD_SWISH: kind == S_Tanh? ZI_ACT_TANH:
                   kind == S_LeakyRelu? ZI_ACT_LEAKY_RELU: ZI_ACT_NONE;
        if (act.kind != ZI_ACT_NONE) {
            memcpy (want, data, count * sizeof (float));
            zi_act_apply (&act, want, count);
            ZI_CHECK (t, memcmp (want, y->data, count * sizeof (float)) == 0,
                      "%s equals the fused activation bit for bit", op);
        }
        free (want);
    }
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

//  Runs Clip on x with optional bound tensors (NULL: omitted) and checks
//  every element lies where numpy.clip puts it
static void
s_test_clip (zi_test_t *t, const char *what, zi_node_t *node, zi_tensor_t *x,
             zi_tensor_t *min, zi_tensor_t *max, int n_inputs, double low, double high)
{
    zi_tensor_t *inputs [3] = {x, min, max}, *y = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "Clip %s runs: %s", what, rc? zi_error_text (): "");
    if (rc)
        return;
    bool same = true;
    for (size_t item = 0; item < zi_tensor_count (x); item++) {
        double value = x->dtype == ZI_F32? zi_tensor_f32 (x) [item]:
                                           (double) zi_tensor_i64 (x) [item];
        double want = fmin (fmax (value, low), high);
        double got = y->dtype == ZI_F32? zi_tensor_f32 (y) [item]:
                                         (double) zi_tensor_i64 (y) [item];
        if (got != (x->dtype == ZI_F32? (double) (float) want: want))
            same = false;
    }
    ZI_CHECK (t, same, "Clip %s values", what);
    if (x->dtype == ZI_F32 && low <= high) {
        //  the fusion pass turns Clip into ZI_ACT_CLIP on the producer
        zi_act_t act = {ZI_ACT_CLIP, (float) low, (float) high};
        size_t count = zi_tensor_count (x);
        float *want = malloc ((count + 1) * sizeof (float));
        assert (want);
        memcpy (want, x->data, count * sizeof (float));
        zi_act_apply (&act, want, count);
        ZI_CHECK (t, memcmp (want, y->data, count * sizeof (float)) == 0,
                  "Clip %s equals the fused activation bit for bit", what);
        free (want);
    }
    zi_tensor_destroy (&y);
}

//  Do got and want agree: both NaN, equal (infinities too), or close?
static bool
s_same_or_close (float got, float want)
{
    if (isnan (want) || isnan (got))
        return isnan (want) && isnan (got);
    if (isinf (want) || isinf (got))
        return got == want;
    return fabsf (got - want) <= 1e-5f + 1e-5f * fabsf (want);
}

//  NaN, infinities and signed zeros among ordinary values, NaN in the
//  vector body of a SIMD loop and in its tail
static const float s_specials [] = {
    NAN, INFINITY, -INFINITY, -0.0f, 0, 1, -1, 2.5f, -2.5f, 3, -3, 7, -7
};
#define S_SPECIAL_COUNT 37

static void
s_fill_specials (float *data)
{
    for (int item = 0; item < S_SPECIAL_COUNT; item++)
        data [item] = s_specials [item % (sizeof s_specials / sizeof s_specials [0])];
}

//  Every float op on NaN and infinities gives what the reference (and
//  PyTorch) gives: NaN stays NaN, never a clamped number
static void
s_test_specials (zi_test_t *t, const char *op, float alpha, float beta)
{
    zi_node_t *node = zi_node_new (op, "test");
    s_kind_t kind = (s_kind_t) node->op->row;
    if (kind == S_Clip) {
        node->opset = 6;
        zi_node_set_float (node, "min", alpha);
        zi_node_set_float (node, "max", beta);
    }
    int64_t dims [] = {S_SPECIAL_COUNT};
    zi_tensor_t *x = zi_tensor_new (ZI_F32, 1, dims), *y = NULL;
    s_fill_specials (zi_tensor_f32 (x));
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    ZI_CHECK (t, rc == 0, "%s on NaN and infinities runs: %s", op, rc? zi_error_text (): "");
    if (rc == 0) {
        int wrong = -1;
        for (int item = 0; item < S_SPECIAL_COUNT && wrong < 0; item++) {
            float value = zi_tensor_f32 (x) [item];
            float want = (float) s_ref (kind, value, alpha, beta);
            if (!s_same_or_close (zi_tensor_f32 (y) [item], want))
                wrong = item;
        }
        ZI_CHECK (t, wrong < 0, "%s on NaN and infinities: first wrong at [%d]: %g of %g",
                  op, wrong, wrong < 0? 0: zi_tensor_f32 (y) [wrong],
                  wrong < 0? 0: zi_tensor_f32 (x) [wrong]);
    }
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

//  Each fused activation on NaN and infinities: zi_act_one, zi_act_apply
//  and the SIMD kernels (AVX2 and portable) agree, and NaN gives NaN
static void
s_test_fused_specials (zi_test_t *t)
{
    zi_act_t acts [] = {
        {ZI_ACT_RELU, 0, 0}, {ZI_ACT_CLIP, 0, 6}, {ZI_ACT_CLIP, -0.5f, 0.5f},
        {ZI_ACT_LEAKY_RELU, 0.1f, 0}, {ZI_ACT_SIGMOID, 0, 0}, {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f},
        {ZI_ACT_HARD_SWISH, 0, 0}, {ZI_ACT_TANH, 0, 0}
    };
    for (size_t index = 0; index < sizeof acts / sizeof acts [0]; index++) {
        const zi_act_t *act = &acts [index];
        float x [S_SPECIAL_COUNT], applied [S_SPECIAL_COUNT], simd [S_SPECIAL_COUNT];
        float portable [S_SPECIAL_COUNT];
        s_fill_specials (x);
        memcpy (applied, x, sizeof x);
        memcpy (simd, x, sizeof x);
        memcpy (portable, x, sizeof x);
        zi_act_apply (act, applied, S_SPECIAL_COUNT);
        zi_act_simd (act, simd, S_SPECIAL_COUNT);
        zi_isa_set_cap (ZI_ISA_PORTABLE);
        zi_act_simd (act, portable, S_SPECIAL_COUNT);
        zi_isa_set_cap (ZI_ISA_DEFAULT);
        int wrong = -1;
        for (int item = 0; item < S_SPECIAL_COUNT && wrong < 0; item++) {
            float one = zi_act_one (act, x [item]);
            if ((isnan (x [item]) && !isnan (one))
                || !s_same_or_close (applied [item], one)
                || !s_same_or_close (simd [item], one)
                || !s_same_or_close (portable [item], one))
                wrong = item;
        }
        ZI_CHECK (t, wrong < 0, "fused activation %d (%g, %g) on NaN and infinities: "
                  "first wrong at [%d] of %g", (int) act->kind, act->alpha, act->beta,
                  wrong, wrong < 0? 0: x [wrong]);
    }
}

//  Distance in units in the last place between two finite floats
static double
s_ulps (float got, float want)
{
    double ulp = want == 0? ldexp (1, -149): ldexp (1, ilogbf (want) - 23);
    return fabs ((double) got - (double) want) / ulp;
}

//  zi_act_apply at every level the CPU has, on a sweep of [-30, 30],
//  tiny and denormal values, NaN and infinities, in a count that leaves a
//  tail for the masked loads: against the formula in double (Sigmoid
//  within 3 ulp and Tanh within 5 at the vector levels, libm's at the
//  portable one; the rest to float rounding); Relu, Clip and LeakyRelu
//  the same bits at every level; AVX2 and AVX-512 the same bits
static void
s_test_levels (zi_test_t *t)
{
    enum { S_SWEEP = 1237 };
    zi_act_t acts [] = {
        {ZI_ACT_RELU, 0, 0}, {ZI_ACT_CLIP, -0.5f, 6}, {ZI_ACT_LEAKY_RELU, 0.1f, 0},
        {ZI_ACT_SIGMOID, 0, 0}, {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f}, {ZI_ACT_HARD_SWISH, 0, 0},
        {ZI_ACT_TANH, 0, 0}
    };
    s_kind_t kinds [] = {S_Relu, S_Clip, S_LeakyRelu, S_Sigmoid, S_HardSigmoid,
                         S_HardSwish, S_Tanh};
    float *x = malloc (S_SWEEP * sizeof (float));
    float *got [3];
    for (int level = 0; level < 3; level++)
        got [level] = malloc (S_SWEEP * sizeof (float));
    assert (x && got [0] && got [1] && got [2]);
    for (int item = 0; item < S_SWEEP; item++)
        x [item] = -30.0f + 60.0f * (float) item / (S_SWEEP - 1);
    for (int item = 0; item < 200; item++)       //  tiny ones keep their digits
        x [item * 3] = (item % 2? -1: 1) * ldexpf (1.0f + (float) item / 200, -item / 4);
    s_fill_specials (x + S_SWEEP - S_SPECIAL_COUNT);
    for (size_t index = 0; index < sizeof acts / sizeof acts [0]; index++) {
        const zi_act_t *act = &acts [index];
        bool ran [3] = {false, false, false};
        for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
            if (!zi_test_isa (t, (zi_isa_t) level))
                continue;
            ran [level] = true;
            memcpy (got [level], x, S_SWEEP * sizeof (float));
            zi_act_apply (act, got [level], S_SWEEP);
            double worst = 0;
            int wrong = -1;
            for (int item = 0; item < S_SWEEP && wrong < 0; item++) {
                double ref = s_ref (kinds [index], x [item], act->alpha, act->beta);
                float want = (float) ref, value = got [level][item];
                bool vector_fn = level > ZI_ISA_PORTABLE
                              && (act->kind == ZI_ACT_SIGMOID || act->kind == ZI_ACT_TANH);
                if (isnan (want) || isinf (want) || isnan (value) || isinf (value)) {
                    if (!(isnan (want) && isnan (value)) && value != want)
                        wrong = item;
                    continue;
                }
                double ulps = s_ulps (value, want);
                worst = ulps > worst? ulps: worst;
                double limit = act->kind == ZI_ACT_TANH? 5: 3;
                if (vector_fn? ulps > limit
                             : fabs (value - ref) > 1e-6 + 1e-6 * fabs (ref))
                    wrong = item;
            }
            ZI_CHECK (t, wrong < 0, "activation %d at %s: first wrong at [%d]: %.9g of %.9g",
                      (int) act->kind, zi_isa_name ((zi_isa_t) level), wrong,
                      wrong < 0? 0: got [level][wrong], wrong < 0? 0: x [wrong]);
            if (t->verbose)
                printf ("  activation %d at %s: %.2f ulp at most\n", (int) act->kind,
                        zi_isa_name ((zi_isa_t) level), worst);
        }
        bool exact = act->kind == ZI_ACT_RELU || act->kind == ZI_ACT_CLIP
                  || act->kind == ZI_ACT_LEAKY_RELU;
        for (int level = ZI_ISA_AVX2; level <= ZI_ISA_AVX512; level++)
            if (ran [level] && exact)
                ZI_CHECK (t, memcmp (got [level], got [ZI_ISA_PORTABLE],
                                     S_SWEEP * sizeof (float)) == 0,
                          "activation %d: %s gives the portable bits", (int) act->kind,
                          zi_isa_name ((zi_isa_t) level));
        if (ran [ZI_ISA_AVX2] && ran [ZI_ISA_AVX512])
            ZI_CHECK (t, memcmp (got [ZI_ISA_AVX2], got [ZI_ISA_AVX512],
                                 S_SWEEP * sizeof (float)) == 0,
                      "activation %d: avx2 and avx512 give the same bits", (int) act->kind);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    free (x);
    for (int level = 0; level < 3; level++)
        free (got [level]);
}

//  Gelu with approximate = tanh, against the tanh formula in double and
//  within 1e-3 of the exact one
static void
s_test_gelu_tanh (zi_test_t *t)
{
    zi_node_t *node = zi_node_new ("Gelu", "test");
    node->opset = 20;
    zi_node_set_string (node, "approximate", "tanh");
    int64_t dims [] = {200};
    zi_tensor_t *x = zi_test_random (1, dims, 4), *y = NULL;
    for (int item = 0; item < 200; item++)
        zi_tensor_f32 (x) [item] *= 5;
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    ZI_CHECK (t, rc == 0, "Gelu tanh runs: %s", rc? zi_error_text (): "");
    if (rc == 0) {
        float want [200], exact [200];
        for (int item = 0; item < 200; item++) {
            double v = zi_tensor_f32 (x) [item];
            want [item] = (float) (0.5 * v * (1 + tanh (sqrt (2 / M_PI)
                                                         * (v + 0.044715 * v * v * v))));
            exact [item] = (float) s_ref (S_Gelu, v, 0, 0);
        }
        ZI_CHECK_CLOSE (t, "Gelu tanh", zi_tensor_f32 (y), want, 200, 1e-5f, 1e-5f);
        ZI_CHECK_CLOSE (t, "Gelu tanh near the exact", zi_tensor_f32 (y), exact, 200,
                        1e-3f, 0);
    }
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
    node = zi_node_new ("Gelu", "test");
    zi_node_set_string (node, "approximate", "sigmoid");
    x = zi_test_random (1, dims, 4);
    ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == -1
              && strstr (zi_error_text (), "expected none or tanh"),
              "Gelu refuses an unknown approximation: %s", zi_error_text ());
    zi_tensor_destroy (&x);
    zi_node_destroy (&node);
}

//  IsNaN and IsInf (each sign on its own) on the special values
static void
s_test_is (zi_test_t *t)
{
    static const char *ops [] = {"IsNaN", "IsInf", "IsInf", "IsInf"};
    for (int index = 0; index < 4; index++) {
        zi_node_t *node = zi_node_new (ops [index], "test");
        bool negative = index != 2, positive = index != 3;
        if (!negative)
            zi_node_set_int (node, "detect_negative", 0);
        if (!positive)
            zi_node_set_int (node, "detect_positive", 0);
        int64_t dims [] = {S_SPECIAL_COUNT};
        zi_tensor_t *x = zi_tensor_new (ZI_F32, 1, dims), *y = NULL;
        s_fill_specials (zi_tensor_f32 (x));
        int rc = zi_test_run_op (node, 1, &x, 1, &y);
        bool same = rc == 0 && y->dtype == ZI_BOOL;
        for (int item = 0; same && item < S_SPECIAL_COUNT; item++) {
            float v = zi_tensor_f32 (x) [item];
            bool want = index == 0? isnan (v): (positive && v == INFINITY)
                                             || (negative && v == -INFINITY);
            same = ((uint8_t *) y->data) [item] == want;
        }
        ZI_CHECK (t, same, "%s (negative %d, positive %d) gives bools", ops [index],
                  negative, positive);
        zi_tensor_destroy (&x);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
}

void
zi_act_unary_test (zi_test_t *t)
{
    static const char *ops [] = {
        "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Sqrt",
        "Exp", "Erf", "Log", "Reciprocal", "Neg", "Abs", "Sign", "Floor", "Ceil",
        "Round", "Softplus", "Softsign", "Elu", "Selu", "Sin", "Cos", "Mish", "Celu",
        "ThresholdedRelu", "Shrink", "Gelu"
    };
    //  Defaults from the spec, as the reference parameters
    static const struct {
        const char *op;
        float alpha, beta;
    } defaults [] = {
        {"HardSigmoid", 0.2f, 0.5f}, {"LeakyRelu", 0.01f, 0}, {"Elu", 1, 0},
        {"Selu", 1.67326319217681884765625f, 1.05070102214813232421875f},
        {"Celu", 1, 0}, {"ThresholdedRelu", 1, 0}, {"Shrink", 0.5f, 0}
    };
    int64_t shapes [][3] = {{2, 3, 5}, {0, 0, 0}, {3, 0, 2}, {1, 1, 9000}};
    int ranks [] = {3, 0, 3, 3};
    for (size_t op = 0; op < sizeof ops / sizeof ops [0]; op++)
        for (int shape = 0; shape < 4; shape++) {
            float alpha = 0, beta = 0;
            for (size_t index = 0; index < sizeof defaults / sizeof defaults [0]; index++)
                if (strcmp (defaults [index].op, ops [op]) == 0) {
                    alpha = defaults [index].alpha;
                    beta = defaults [index].beta;
                }
            s_test_float (t, ops [op], ranks [shape], shapes [shape], alpha, beta, false);
        }
    //  Attributes other than the defaults
    int64_t dims [] = {4, 7};
    s_test_float (t, "HardSigmoid", 2, dims, 0.3f, 0.4f, true);
    s_test_float (t, "LeakyRelu", 2, dims, 0.25f, 0, true);
    s_test_float (t, "Elu", 2, dims, 0.7f, 0, true);
    s_test_float (t, "Selu", 2, dims, 1.5f, 2.0f, true);
    s_test_float (t, "Celu", 2, dims, 0.6f, 0, true);
    s_test_float (t, "ThresholdedRelu", 2, dims, -0.5f, 0, true);
    s_test_float (t, "Shrink", 2, dims, 1.5f, 0.25f, true);
    s_test_gelu_tanh (t);
    s_test_is (t);

    //  NaN and infinities, standalone and fused
    for (size_t op = 0; op < sizeof ops / sizeof ops [0]; op++) {
        float alpha = 0, beta = 0;
        for (size_t index = 0; index < sizeof defaults / sizeof defaults [0]; index++)
            if (strcmp (defaults [index].op, ops [op]) == 0) {
                alpha = defaults [index].alpha;
                beta = defaults [index].beta;
            }
        s_test_specials (t, ops [op], alpha, beta);
    }
    s_test_specials (t, "Clip", -0.5f, 0.5f);
    s_test_specials (t, "Clip", 0, 6);
    s_test_fused_specials (t);
    s_test_levels (t);

    //  Integer and bool ops, exact
    {
        int64_t values [] = {-7, 0, 5, INT64_MIN, INT64_MAX, -1};
        static const char *int_ops [] = {"Neg", "Abs", "Relu", "Sign"};
        for (int op = 0; op < 4; op++) {
            zi_node_t *node = zi_node_new (int_ops [op], "test");
            zi_tensor_t *x = zi_test_ints (6, values), *y = NULL;
            ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == 0, "%s int64", int_ops [op]);
            bool same = y->dtype == ZI_I64;
            for (int item = 0; item < 6 && same; item++) {
                int64_t v = values [item], want;
                if (op == 0)
                    want = v == INT64_MIN? INT64_MIN: -v;       //  wraps
                else
                if (op == 1)
                    want = v == INT64_MIN? INT64_MIN: v < 0? -v: v;
                else
                if (op == 2)
                    want = v > 0? v: 0;
                else
                    want = v > 0? 1: v < 0? -1: 0;
                if (zi_tensor_i64 (y) [item] != want)
                    same = false;
            }
            ZI_CHECK (t, same, "%s int64 values", int_ops [op]);
            zi_tensor_destroy (&x);
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
        }
        zi_node_t *node = zi_node_new ("Not", "test");
        int64_t shape [] = {2, 2};
        zi_tensor_t *x = zi_tensor_new (ZI_BOOL, 2, shape), *y = NULL;
        memcpy (x->data, (uint8_t []) {0, 1, 1, 0}, 4);
        ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == 0, "Not");
        ZI_CHECK (t, y->dtype == ZI_BOOL && memcmp (y->data, (uint8_t []) {1, 0, 0, 1}, 4) == 0,
                  "Not values");
        zi_tensor_destroy (&x);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    //  Clip, every form
    {
        int64_t dims [] = {3, 11};
        zi_tensor_t *x = zi_test_random (2, dims, 3);
        zi_tensor_t *low = zi_test_tensor (0, NULL, (float []) {-0.4f});
        zi_tensor_t *high = zi_test_tensor (1, (int64_t []) {1}, (float []) {0.3f});

        zi_node_t *node = zi_node_new ("Clip", "test");
        node->opset = 6;
        zi_node_set_float (node, "min", -0.4f);
        zi_node_set_float (node, "max", 0.3f);
        s_test_clip (t, "opset 6 attributes", node, x, NULL, NULL, 1, -0.4f, 0.3f);
        zi_node_destroy (&node);

        node = zi_node_new ("Clip", "test");
        node->opset = 10;
        zi_node_set_float (node, "max", 0.3f);
        s_test_clip (t, "opset 10 max only", node, x, NULL, NULL, 1, -INFINITY, 0.3f);
        zi_node_destroy (&node);

        node = zi_node_new ("Clip", "test");
        node->opset = 11;
        s_test_clip (t, "opset 11 inputs", node, x, low, high, 3, -0.4f, 0.3f);
        zi_node_destroy (&node);

        node = zi_node_new ("Clip", "test");
        s_test_clip (t, "min input only", node, x, low, NULL, 2, -0.4f, INFINITY);
        zi_node_destroy (&node);

        node = zi_node_new ("Clip", "test");
        s_test_clip (t, "max input only", node, x, NULL, high, 3, -INFINITY, 0.3f);
        zi_node_destroy (&node);

        node = zi_node_new ("Clip", "test");
        s_test_clip (t, "no bounds", node, x, NULL, NULL, 1, -INFINITY, INFINITY);
        zi_node_destroy (&node);

        node = zi_node_new ("Clip", "test");
        s_test_clip (t, "min > max", node, x, high, low, 3, -0.4f, -0.4f);
        zi_node_destroy (&node);

        zi_tensor_t *ints = zi_test_ints (7, (int64_t []) {-9, -3, -2, 0, 4, 5, INT64_MAX});
        zi_tensor_t *int_low = zi_test_ints (1, (int64_t []) {-2});
        zi_tensor_t *int_high = zi_test_ints (1, (int64_t []) {4});
        node = zi_node_new ("Clip", "test");
        s_test_clip (t, "int64", node, ints, int_low, int_high, 3, -2, 4);
        zi_node_destroy (&node);
        node = zi_node_new ("Clip", "test");
        s_test_clip (t, "int64 max only", node, ints, NULL, int_high, 3, -INFINITY, 4);
        zi_node_destroy (&node);

        //  Bounds of the wrong dtype or size
        node = zi_node_new ("Clip", "test");
        zi_tensor_t *inputs [3] = {x, int_low, NULL}, *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == -1
                  && strstr (zi_error_text (), "input 1 (min): expected a single float32 "
                                                "value, got int64 [1]"),
                  "Clip refuses an int64 min for float input: %s", zi_error_text ());
        zi_node_destroy (&node);
        node = zi_node_new ("Clip", "test");
        inputs [1] = NULL;
        inputs [2] = x;
        ZI_CHECK (t, zi_test_run_op (node, 3, inputs, 1, &y) == -1
                  && strstr (zi_error_text (), "input 2 (max): expected a single float32 "
                                                "value, got float32 [3, 11]"),
                  "Clip refuses a tensor max: %s", zi_error_text ());
        zi_node_destroy (&node);

        zi_tensor_destroy (&x);
        zi_tensor_destroy (&low);
        zi_tensor_destroy (&high);
        zi_tensor_destroy (&ints);
        zi_tensor_destroy (&int_low);
        zi_tensor_destroy (&int_high);
    }
    //  In place: the output buffer is the input
    {
        zi_node_t *node = zi_node_new ("HardSwish", "test");
        int64_t dims [] = {5000};
        zi_tensor_t *x = zi_test_random (1, dims, 9), *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == 0, "HardSwish");
        zi_exec_t *exec = zi_exec_new ();
        ZI_CHECK (t, node->op->run (node, exec, (const zi_tensor_t *const *) &x, &x) == 0,
                  "HardSwish in place");
        ZI_CHECK (t, memcmp (x->data, y->data, y->nbytes) == 0, "in place gives the same");
        zi_exec_destroy (&exec);
        zi_tensor_destroy (&x);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    //  Wrong dtypes
    {
        static const struct {
            const char *op;
            zi_dtype_t dtype;
            const char *needle;
        } cases [] = {
            {"Sqrt", ZI_I64, "Sqrt at node 'test': input 0 is int64, expected float32"},
            {"Neg", ZI_BOOL, "input 0 is bool, expected float32 or int64"},
            {"Not", ZI_F32, "input 0 is float32, expected bool"},
            {"HardSwish", ZI_I64, "input 0 is int64, expected float32"},
        };
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
            zi_node_t *node = zi_node_new (cases [index].op, "test");
            int64_t dims [] = {2};
            zi_tensor_t *x = zi_tensor_new (cases [index].dtype, 1, dims), *y = NULL;
            memset (x->data, 0, x->nbytes);
            ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == -1
                      && strstr (zi_error_text (), cases [index].needle),
                      "%s refuses %s: %s", cases [index].op,
                      zi_dtype_name (cases [index].dtype), zi_error_text ());
            zi_tensor_destroy (&x);
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
        }
    }
}
