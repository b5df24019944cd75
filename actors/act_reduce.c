/*  =========================================================================
    act_reduce - ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
    ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp

    The axes come from the 'axes' attribute (every opset up to 17, except
    ReduceSum from 13) or from the optional second input (ReduceSum from
    13, all of them from 18); whichever the node has is used. Empty axes
    mean all axes, unless noop_with_empty_axes asks for no reduction:
    then each element is reduced alone (the norms square it, take its
    absolute value or its logarithm), as ONNX Runtime does.

    Before reducing, dimensions of extent 1 are dropped and neighbouring
    dimensions that are both reduced or both kept are merged. When one run
    of reduced dimensions is left, the tensor is "outer x reduce x inner"
    and two tight loops cover it: contiguous rows when inner is 1 (e.g.
    ReduceMean over H, W of [N, C, H, W]), else whole inner rows combined
    element-wise, which the compiler vectorises. Anything else (several
    separate runs of reduced axes, int64 data, empty reductions) takes a
    general odometer walk over the input.

    The norms and logarithmic sums (float32 only) are rarer and small: one
    walk over the input accumulates each output in double, and
    ReduceLogSumExp keeps a running maximum beside its sum so that no
    exponential overflows.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"

//  Input dtypes the ops accept (bool from opset 20)
#define S_F32  ZI_DT (ZI_F32)
#define S_I64  ZI_DT (ZI_I64)
#define S_I32  ZI_DT (ZI_I32)
#define S_BOOL ZI_DT (ZI_BOOL)

//  Every op of the family, one row each: ROW (OnnxOpType, dtypes input 0
//  accepts; the axes input is read by zi_input_ints). A row makes the op's
//  kind S_<OnnxOpType> and its table entry zi_op_<OnnxOpType> (after the
//  kernel), whose .row tells the shared init which reduction it builds.
#define S_REDUCE_OPS(ROW)                           \
    ROW (ReduceSum, S_F32 | S_I64 | S_I32)          \
    ROW (ReduceMean, S_F32)                         \
    ROW (ReduceMax, S_F32 | S_I64 | S_I32 | S_BOOL) \
    ROW (ReduceMin, S_F32 | S_I64 | S_I32 | S_BOOL) \
    ROW (ReduceProd, S_F32 | S_I64 | S_I32)         \
    ROW (ReduceSumSquare, S_F32)                    \
    ROW (ReduceL1, S_F32)                           \
    ROW (ReduceL2, S_F32)                           \
    ROW (ReduceLogSum, S_F32)                       \
    ROW (ReduceLogSumExp, S_F32)

#define S_KIND(Name, accepted) S_##Name,
typedef enum {
    S_REDUCE_OPS (S_KIND)
} s_reduce_kind_t;
#undef S_KIND

typedef struct {
    s_reduce_kind_t kind;       //  what to compute
    bool keepdims;              //  keep reduced axes as extent 1
    bool noop_with_empty_axes;  //  empty axes: identity instead of all axes
    int n_axes;                 //  axes in the attribute, -1 if absent
    int64_t axes [ZI_MAX_DIMS]; //  the attribute's axes, as given
} s_reduce_t;

//  The reduction resolved against one input shape, with unit dimensions
//  dropped and same-kind neighbours merged
typedef struct {
    bool identity;              //  nothing is reduced: copy
    int n_groups;               //  merged dimension groups
    int64_t extent [ZI_MAX_DIMS];   //  extent of each group
    bool reduced [ZI_MAX_DIMS]; //  whether each group is reduced
    int64_t count;              //  elements reduced into each output
} s_layout_t;

//  --------------------------------------------------------------------------
//  Attributes and shapes

static int
s_reduce_init (zi_node_t *node)
{
    s_reduce_t *params = calloc (1, sizeof (s_reduce_t));
    if (!params)
        return zi_error ("out of memory");
    params->kind = (s_reduce_kind_t) node->op->row;
    params->n_axes = -1;
    if (zi_node_attr (node, "axes")) {
        params->n_axes = zi_node_attr_ints (node, "axes", params->axes, ZI_MAX_DIMS);
        if (params->n_axes < 0) {
            free (params);
            return -1;
        }
    }
    int64_t keepdims = zi_node_attr_int (node, "keepdims", 1);
    int64_t noop = zi_node_attr_int (node, "noop_with_empty_axes", 0);
    if ((keepdims != 0 && keepdims != 1) || (noop != 0 && noop != 1)) {
        free (params);
        return zi_error ("attributes 'keepdims' = %lld and 'noop_with_empty_axes' = %lld; "
                         "expected 0 or 1", (long long) keepdims, (long long) noop);
    }
    params->keepdims = keepdims == 1;
    params->noop_with_empty_axes = noop == 1;
    node->params = params;
    return 0;
}

//  Which axes of x are reduced; *identity is set when none is (noop)
static int
s_reduced_axes (const zi_node_t *node, const zi_tensor_t *const *in, bool *reduced,
                bool *identity)
{
    const s_reduce_t *params = node->params;
    const zi_tensor_t *x = in [0];
    int rank = x->ndim;
    int64_t axes [ZI_MAX_DIMS];
    int n_axes = params->n_axes;
    if (n_axes >= 0)
        memcpy (axes, params->axes, n_axes * sizeof (int64_t));
    else
    if (node->n_inputs > 1 && in [1]) {
        n_axes = zi_input_ints (in [1], axes, ZI_MAX_DIMS, "input 1 (axes)");
        if (n_axes < 0)
            return -1;
    }
    else
        n_axes = 0;

    *identity = false;
    if (n_axes == 0) {
        *identity = params->noop_with_empty_axes;
        for (int axis = 0; axis < rank; axis++)
            reduced [axis] = !*identity;
        return 0;
    }
    for (int axis = 0; axis < rank; axis++)
        reduced [axis] = false;
    for (int index = 0; index < n_axes; index++) {
        int64_t axis = axes [index] < 0? axes [index] + rank: axes [index];
        if (axis < 0 || axis >= rank)
            return zi_error ("axes [%d] = %lld is out of range for a %d-d input "
                             "(expected %d..%d)", index, (long long) axes [index], rank,
                             -rank, rank - 1);
        if (reduced [axis])
            return zi_error ("axes [%d] = %lld repeats axis %lld", index,
                             (long long) axes [index], (long long) axis);
        reduced [axis] = true;
    }
    return 0;
}

static int
s_reduce_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_reduce_t *params = node->params;
    const zi_tensor_t *x = in [0];
    //  Only ReduceMax and ReduceMin accept bool (their rows say so)
    if (x->dtype == ZI_BOOL && node->opset < 20)
        return zi_error ("input 0: bool is an opset 20 form of %s; the model imports opset %d",
                         node->op_type, node->opset);
    bool reduced [ZI_MAX_DIMS], identity;
    if (s_reduced_axes (node, in, reduced, &identity))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    int ndim = 0;
    for (int axis = 0; axis < x->ndim; axis++) {
        if (!reduced [axis])
            dims [ndim++] = x->dims [axis];
        else
        if (params->keepdims)
            dims [ndim++] = 1;
    }
    zi_tensor_set_shape (out [0], x->dtype, ndim, dims);
    return 0;
}

static int
s_layout (const zi_node_t *node, const zi_tensor_t *const *in, s_layout_t *self)
{
    const zi_tensor_t *x = in [0];
    bool reduced [ZI_MAX_DIMS];
    if (s_reduced_axes (node, in, reduced, &self->identity))
        return -1;
    self->n_groups = 0;
    self->count = 1;
    for (int axis = 0; axis < x->ndim; axis++) {
        int64_t extent = x->dims [axis];
        if (reduced [axis])
            self->count *= extent;
        if (extent == 1)
            continue;
        int last = self->n_groups - 1;
        if (last >= 0 && self->reduced [last] == reduced [axis])
            self->extent [last] *= extent;
        else {
            self->extent [self->n_groups] = extent;
            self->reduced [self->n_groups] = reduced [axis];
            self->n_groups++;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Contiguous-row reductions, eight partials wide so they vectorise

static float
s_row_prod (const float *x, int64_t n)
{
    float partial [8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++)
            partial [lane] *= x [item + lane];
    float result = 1;
    for (int lane = 0; lane < 8; lane++)
        result *= partial [lane];
    for (; item < n; item++)
        result *= x [item];
    return result;
}

//  NaN if any x is, as torch.amin. The min loop drops NaN; a sum beside
//  it keeps one, and only when the sum is NaN (a NaN, or infinities of
//  both signs) is the row searched for a NaN: one add a value, where a
//  NaN-keeping min would take three instructions in the chain
static float
s_row_min (const float *x, int64_t n)
{
    float partial [8], probe [8] = {0};
    for (int lane = 0; lane < 8; lane++)
        partial [lane] = INFINITY;
    int64_t item = 0;
    for (; item + 8 <= n; item += 8)
        for (int lane = 0; lane < 8; lane++) {
            partial [lane] = x [item + lane] < partial [lane]? x [item + lane]: partial [lane];
            probe [lane] += x [item + lane];
        }
    float result = INFINITY, sum = 0;
    for (int lane = 0; lane < 8; lane++) {
        result = partial [lane] < result? partial [lane]: result;
        sum += probe [lane];
    }
    for (; item < n; item++)
        result = zi_min_nan (x [item], result);
    if (sum != sum)
        for (item = 0; item < n; item++)
            if (x [item] != x [item])
                return x [item];
    return result;
}

//  outer x reduce x inner, float32, reduce >= 1
static void
s_reduce_fast (s_reduce_kind_t kind, const float *x, float *y, int64_t outer, int64_t reduce,
               int64_t inner)
{
    if (inner == 1) {
        for (int64_t row = 0; row < outer; row++) {
            const float *source = x + row * reduce;
            switch (kind) {
                case S_ReduceSum:  y [row] = zi_vec_sum (source, reduce); break;
                case S_ReduceMean: y [row] = zi_vec_sum (source, reduce) / (float) reduce; break;
                case S_ReduceMax:  y [row] = zi_vec_max (source, reduce); break;
                case S_ReduceMin:  y [row] = s_row_min (source, reduce); break;
                case S_ReduceProd: y [row] = s_row_prod (source, reduce); break;
                default:            assert (false);     //  s_reduce_norm's
            }
        }
        return;
    }
    for (int64_t block = 0; block < outer; block++) {
        const float *source = x + block * reduce * inner;
        float *target = y + block * inner;
        memcpy (target, source, inner * sizeof (float));
        for (int64_t step = 1; step < reduce; step++) {
            const float *row = source + step * inner;
            switch (kind) {
                case S_ReduceSum:
                case S_ReduceMean:
                    for (int64_t lane = 0; lane < inner; lane++)
                        target [lane] += row [lane];
                    break;
                case S_ReduceMax:
                    for (int64_t lane = 0; lane < inner; lane++)
                        target [lane] = zi_max_nan (row [lane], target [lane]);
                    break;
                case S_ReduceMin:
                    for (int64_t lane = 0; lane < inner; lane++)
                        target [lane] = zi_min_nan (row [lane], target [lane]);
                    break;
                case S_ReduceProd:
                    for (int64_t lane = 0; lane < inner; lane++)
                        target [lane] *= row [lane];
                    break;
                default:
                    assert (false);
            }
        }
        if (kind == S_ReduceMean) {
            float scale = 1.0f / (float) reduce;
            for (int64_t lane = 0; lane < inner; lane++)
                target [lane] *= scale;
        }
    }
}

//  --------------------------------------------------------------------------
//  General walk: the output starts at the identity of the reduction and
//  every input element is folded into the output it maps to. The odometer
//  runs over the merged groups; the last group is the inner loop.

#define S_GENERAL_WALK(TYPE, LOWEST, HIGHEST)                                 \
static void                                                                   \
s_general_##TYPE (s_reduce_kind_t kind, const s_layout_t *layout,             \
                  const TYPE *x, TYPE *y, int64_t y_count)                    \
{                                                                             \
    TYPE start = kind == S_ReduceProd? 1:                                    \
                 kind == S_ReduceMax? LOWEST:                                \
                 kind == S_ReduceMin? HIGHEST: 0;                            \
    for (int64_t item = 0; item < y_count; item++)                            \
        y [item] = start;                                                     \
    int groups = layout->n_groups;                                            \
    int64_t y_stride [ZI_MAX_DIMS] = {0}, stride = 1, total = 1;              \
    for (int group = groups - 1; group >= 0; group--) {                       \
        y_stride [group] = layout->reduced [group]? 0: stride;                \
        if (!layout->reduced [group])                                         \
            stride *= layout->extent [group];                                 \
        total *= layout->extent [group];                                      \
    }                                                                         \
    if (groups == 0 || total == 0) {                                          \
        if (groups == 0 && total)                                             \
            y [0] = x [0];                                                    \
        return;                                                               \
    }                                                                         \
    int64_t index [ZI_MAX_DIMS] = {0};                                        \
    int64_t last = layout->extent [groups - 1];                               \
    int64_t step = y_stride [groups - 1];                                     \
    int64_t y_base = 0;                                                       \
    for (int64_t x_base = 0; x_base < total; x_base += last) {                \
        const TYPE *source = x + x_base;                                      \
        TYPE *target = y + y_base;                                            \
        for (int64_t item = 0; item < last; item++) {                         \
            TYPE value = source [item], *slot = target + item * step;         \
            switch (kind) {                                                   \
                case S_ReduceSum:                                            \
                case S_ReduceMean: *slot += value; break;                    \
                case S_ReduceProd: *slot *= value; break;                    \
                /*  NaN wins and stays (a float's only; int64 never is) */    \
                case S_ReduceMax:                                            \
                    *slot = value > *slot || value != value? value: *slot;    \
                    break;                                                    \
                case S_ReduceMin:                                            \
                    *slot = value < *slot || value != value? value: *slot;    \
                    break;                                                    \
                default:                                                      \
                    assert (false);                                           \
            }                                                                 \
        }                                                                     \
        for (int group = groups - 2; group >= 0; group--) {                   \
            y_base += y_stride [group];                                       \
            if (++index [group] < layout->extent [group])                     \
                break;                                                        \
            y_base -= y_stride [group] * layout->extent [group];              \
            index [group] = 0;                                                \
        }                                                                     \
    }                                                                         \
}

S_GENERAL_WALK (float, -INFINITY, INFINITY)
S_GENERAL_WALK (int64_t, INT64_MIN, INT64_MAX)
S_GENERAL_WALK (int32_t, INT32_MIN, INT32_MAX)
S_GENERAL_WALK (uint8_t, 0, 1)          //  bool (opset 20): max is any, min all

//  The norms and logarithmic sums: every input element folded into its
//  output's double accumulators, found by an odometer over the input
static int
s_reduce_norm (const s_reduce_t *params, zi_exec_t *exec, const zi_tensor_t *x,
               const bool *reduced, zi_tensor_t *y)
{
    int64_t y_count = zi_tensor_count (y);
    double *sum = zi_exec_scratch (exec, 0, (2 * y_count + 1) * sizeof (double));
    if (!sum)
        return zi_error ("out of memory");
    double *top = sum + y_count;            //  LogSumExp: the running maximum
    for (int64_t item = 0; item < y_count; item++) {
        sum [item] = 0;
        top [item] = -INFINITY;
    }
    //  Output strides of the input's axes, 0 on the reduced ones
    int rank = x->ndim;
    int64_t y_stride [ZI_MAX_DIMS], stride = 1;
    for (int axis = rank - 1; axis >= 0; axis--) {
        y_stride [axis] = reduced [axis]? 0: stride;
        if (!reduced [axis])
            stride *= x->dims [axis];
    }
    int64_t index [ZI_MAX_DIMS] = {0}, at = 0, count = zi_tensor_count (x);
    const float *data = zi_tensor_f32 (x);
    for (int64_t item = 0; item < count; item++) {
        double value = data [item];
        switch (params->kind) {
            case S_ReduceSumSquare:
            case S_ReduceL2:       sum [at] += value * value; break;
            case S_ReduceL1:       sum [at] += fabs (value); break;
            case S_ReduceLogSum:  sum [at] += value; break;
            default:
                //  sum holds exp (x - top) summed; a new maximum rescales
                //  it. NaN sticks; -inf adds nothing.
                if (value != value || top [at] != top [at])
                    top [at] = NAN;
                else
                if (value > top [at]) {
                    sum [at] = sum [at] * exp (top [at] - value) + 1;
                    top [at] = value;
                }
                else
                if (value > -INFINITY)
                    sum [at] += exp (value - top [at]);
        }
        for (int axis = rank - 1; axis >= 0; axis--) {
            at += y_stride [axis];
            if (++index [axis] < x->dims [axis])
                break;
            at -= y_stride [axis] * x->dims [axis];
            index [axis] = 0;
        }
    }
    float *target = zi_tensor_f32 (y);
    for (int64_t item = 0; item < y_count; item++)
        switch (params->kind) {
            case S_ReduceSumSquare:
            case S_ReduceL1:       target [item] = (float) sum [item]; break;
            case S_ReduceL2:       target [item] = (float) sqrt (sum [item]); break;
            case S_ReduceLogSum:  target [item] = (float) log (sum [item]); break;
            default:
                target [item] = isnan (top [item]) || isinf (top [item])? (float) top [item]
                              : (float) (top [item] + log (sum [item]));
        }
    return 0;
}

static int
s_reduce_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_reduce_t *params = node->params;
    const zi_tensor_t *x = in [0];
    zi_tensor_t *y = out [0];
    s_layout_t layout;
    if (s_layout (node, in, &layout))
        return -1;
    if (layout.identity) {
        //  Reducing over no axis leaves each element alone: the sums and
        //  extremes are the element, the norms its square, absolute value
        //  or logarithm (as ONNX Runtime and the ONNX reference give)
        const float *from = x->data;
        float *into = y->data;
        int64_t count = (int64_t) zi_tensor_count (x);
        switch (params->kind) {
            case S_ReduceSumSquare:
                for (int64_t item = 0; item < count; item++)
                    into [item] = from [item] * from [item];
                break;
            case S_ReduceL1:
            case S_ReduceL2:
                for (int64_t item = 0; item < count; item++)
                    into [item] = fabsf (from [item]);
                break;
            case S_ReduceLogSum:
                for (int64_t item = 0; item < count; item++)
                    into [item] = logf (from [item]);
                break;
            default:
                memcpy (y->data, x->data, x->nbytes);
        }
        return 0;
    }
    if (params->kind >= S_ReduceSumSquare) {
        bool reduced [ZI_MAX_DIMS], identity;
        if (s_reduced_axes (node, in, reduced, &identity))
            return -1;
        return s_reduce_norm (params, exec, x, reduced, y);
    }
    int64_t y_count = zi_shape_count (y->ndim, y->dims);
    int reduced_groups = 0, first = -1;
    for (int group = 0; group < layout.n_groups; group++)
        if (layout.reduced [group]) {
            reduced_groups++;
            if (first < 0)
                first = group;
        }
    bool empty = zi_shape_count (x->ndim, x->dims) == 0;
    if (x->dtype == ZI_F32 && reduced_groups <= 1 && !empty) {
        int64_t outer = 1, reduce = 1, inner = 1;
        for (int group = 0; group < layout.n_groups; group++) {
            if (first < 0 || group > first)
                inner *= layout.extent [group];
            else
            if (group < first)
                outer *= layout.extent [group];
            else
                reduce = layout.extent [group];
        }
        if (reduce == 1)
            memcpy (y->data, x->data, x->nbytes);
        else
            s_reduce_fast (params->kind, zi_tensor_f32 (x), zi_tensor_f32 (y),
                           outer, reduce, inner);
        return 0;
    }
    if (x->dtype == ZI_F32) {
        float *target = zi_tensor_f32 (y);
        s_general_float (params->kind, &layout, zi_tensor_f32 (x), target, y_count);
        if (params->kind == S_ReduceMean) {
            float scale = 1.0f / (float) layout.count;
            for (int64_t item = 0; item < y_count; item++)
                target [item] *= scale;
        }
    }
    else
    if (x->dtype == ZI_BOOL)
        s_general_uint8_t (params->kind, &layout, x->data, y->data, y_count);
    else
    if (x->dtype == ZI_I32)
        s_general_int32_t (params->kind, &layout, x->data, y->data, y_count);
    else
        s_general_int64_t (params->kind, &layout, zi_tensor_i64 (x), zi_tensor_i64 (y), y_count);
    return 0;
}

#define S_OP(Name, accepted)                                                \
const zi_op_t zi_op_##Name = {                                              \
    .name = #Name, .min_inputs = 1, .max_inputs = 2, .max_outputs = 1,      \
    .init = s_reduce_init, .infer = s_reduce_infer, .run = s_reduce_run,    \
    .dtypes = {accepted}, .row = S_##Name, .batch = ZI_BATCH_REDUCE                 \
};
S_REDUCE_OPS (S_OP)
#undef S_OP

//  --------------------------------------------------------------------------
//  Self test: a naive reference maps every input element to its output
//  by zeroing the reduced coordinates, accumulating in double / int64

#define S_NAME(Name, accepted) #Name,
static const char *s_op_names [] = {
    S_REDUCE_OPS (S_NAME)
};
#undef S_NAME

static void
s_reference (s_reduce_kind_t kind, const zi_tensor_t *x, const bool *reduced, bool keepdims,
             double *want, int64_t *want_dims, int *want_ndim)
{
    int rank = x->ndim;
    int64_t out_dims [ZI_MAX_DIMS], out_strides [ZI_MAX_DIMS];
    for (int axis = 0; axis < rank; axis++)
        out_dims [axis] = reduced [axis]? 1: x->dims [axis];
    zi_shape_strides (rank, out_dims, out_strides);
    int64_t out_count = zi_shape_count (rank, out_dims);
    int64_t in_count = zi_shape_count (rank, x->dims);
    int64_t reduce_count = in_count / (out_count? out_count: 1);
    for (int64_t item = 0; item < out_count; item++)
        want [item] = kind == S_ReduceProd? 1:
                      kind == S_ReduceMax? -INFINITY:
                      kind == S_ReduceMin? INFINITY: 0;
    //  Straight from the definitions, exp without a shifted maximum: the
    //  test data stay far below overflow
    for (int64_t item = 0; item < in_count; item++) {
        int64_t rest = item, target = 0;
        for (int axis = rank - 1; axis >= 0; axis--) {
            int64_t coord = rest % x->dims [axis];
            rest /= x->dims [axis];
            if (!reduced [axis])
                target += coord * out_strides [axis];
        }
        double value = x->dtype == ZI_F32? zi_tensor_f32 (x) [item]
                     : x->dtype == ZI_I32? ((const int32_t *) x->data) [item]
                     : (double) zi_tensor_i64 (x) [item];
        switch (kind) {
            case S_ReduceSum:
            case S_ReduceMean: want [target] += value; break;
            case S_ReduceProd: want [target] *= value; break;
            //  NaN wins, as in torch.amax and numpy.max (fmax would drop it)
            case S_ReduceMax:
                want [target] = isnan (want [target]) || isnan (value)? NAN:
                                fmax (want [target], value);
                break;
            case S_ReduceMin:
                want [target] = isnan (want [target]) || isnan (value)? NAN:
                                fmin (want [target], value);
                break;
            case S_ReduceSumSquare:
            case S_ReduceL2: want [target] += value * value; break;
            case S_ReduceL1: want [target] += fabs (value); break;
            case S_ReduceLogSum: want [target] += value; break;
            case S_ReduceLogSumExp: want [target] += exp (value); break;
        }
    }
    for (int64_t item = 0; item < out_count; item++)
        if (kind == S_ReduceL2)
            want [item] = sqrt (want [item]);
        else
        if (kind == S_ReduceLogSum || kind == S_ReduceLogSumExp)
            want [item] = log (want [item]);
    if (kind == S_ReduceMean)
        for (int64_t item = 0; item < out_count; item++)
            want [item] /= (double) reduce_count;
    *want_ndim = 0;
    for (int axis = 0; axis < rank; axis++)
        if (!reduced [axis] || keepdims)
            want_dims [(*want_ndim)++] = out_dims [axis];
}

typedef struct {
    int64_t n_axes;             //  -1: no axes at all
    int64_t axes [4];
    int keepdims;               //  -1: attribute absent (default 1)
    bool axes_as_input;         //  opset 13 ReduceSum style
    int noop;                   //  noop_with_empty_axes
    bool specials;              //  NaN and infinities among the inputs
} s_case_t;

static void
s_check_case (zi_test_t *t, s_reduce_kind_t kind, zi_dtype_t dtype, int rank,
              const int64_t *dims, const s_case_t *c, uint32_t seed)
{
    char what [160];
    int used = snprintf (what, sizeof what, "%s %s rank %d axes", s_op_names [kind],
                         zi_dtype_name (dtype), rank);
    for (int index = 0; index < c->n_axes; index++)
        used += snprintf (what + used, sizeof what - used, " %lld", (long long) c->axes [index]);
    snprintf (what + used, sizeof what - used, "%s keepdims %d%s",
              c->n_axes < 0? " none": "", c->keepdims,
              c->axes_as_input? " (input)": "");
    if (c->specials)
        strncat (what, " with NaN and infinities", sizeof what - strlen (what) - 1);

    zi_tensor_t *inputs [2] = {NULL, NULL};
    inputs [0] = zi_test_random (rank, dims, seed);
    if (kind == S_ReduceProd || kind == S_ReduceLogSum) {
        //  Keep products near 1 so float and double agree closely, and
        //  sums to be logged positive
        float *values = zi_tensor_f32 (inputs [0]);
        for (size_t item = 0; item < zi_tensor_count (inputs [0]); item++)
            values [item] = 1.0f + 0.25f * values [item];
    }
    if (c->specials) {
        //  Scattered, so that some outputs see none, some an infinity,
        //  some a NaN first, last or in the middle of their row
        float *values = zi_tensor_f32 (inputs [0]);
        size_t count = zi_tensor_count (inputs [0]);
        for (size_t item = seed % 5; item < count; item += 11 + seed % 7) {
            uint32_t pick = (uint32_t) (item * 2654435761u) >> 28;
            values [item] = pick < 8? NAN: pick < 12? INFINITY: -INFINITY;
        }
    }
    if (dtype == ZI_I64) {
        zi_tensor_t *ints = zi_tensor_new (ZI_I64, rank, dims);
        for (size_t item = 0; item < zi_tensor_count (ints); item++)
            zi_tensor_i64 (ints) [item] = (int64_t) (zi_tensor_f32 (inputs [0]) [item] * 1000)
                                        * (kind == S_ReduceProd? 1: 1000000007);
        zi_tensor_destroy (&inputs [0]);
        inputs [0] = ints;
    }
    if (dtype == ZI_I32) {
        //  Sums of up to 120 values of up to 1009 x 1000 stay in range,
        //  and so do products of at most five values from 15 to 25
        zi_tensor_t *ints = zi_tensor_new (ZI_I32, rank, dims);
        for (size_t item = 0; item < zi_tensor_count (ints); item++) {
            float value = zi_tensor_f32 (inputs [0]) [item];
            ((int32_t *) ints->data) [item] = kind == S_ReduceProd? (int32_t) (value * 20)
                                            : (int32_t) (value * 1000) * 1009;
        }
        zi_tensor_destroy (&inputs [0]);
        inputs [0] = ints;
    }
    zi_node_t *node = zi_node_new (s_op_names [kind], "test");
    int n_inputs = 1;
    if (c->axes_as_input) {
        node->opset = kind == S_ReduceSum? 13: 18;
        inputs [1] = zi_test_ints ((int) (c->n_axes > 0? c->n_axes: 0), c->axes);
        n_inputs = 2;
    }
    else {
        node->opset = 11;
        if (c->n_axes >= 0)
            zi_node_set_ints (node, "axes", (int) c->n_axes, c->axes);
    }
    if (c->keepdims >= 0)
        zi_node_set_int (node, "keepdims", c->keepdims);
    if (c->noop)
        zi_node_set_int (node, "noop_with_empty_axes", 1);

    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        bool reduced [ZI_MAX_DIMS];
        for (int axis = 0; axis < rank; axis++)
            reduced [axis] = c->n_axes <= 0 && !c->noop;
        for (int index = 0; index < c->n_axes; index++)
            reduced [(c->axes [index] + rank) % rank] = true;
        size_t count = zi_tensor_count (inputs [0]);
        double *want = calloc (count + 1, sizeof (double));
        int64_t want_dims [ZI_MAX_DIMS];
        int want_ndim;
        s_reference (kind, inputs [0], reduced, c->keepdims != 0, want, want_dims, &want_ndim);
        bool shape_ok = y->ndim == want_ndim && y->dtype == dtype;
        for (int axis = 0; shape_ok && axis < want_ndim; axis++)
            shape_ok = y->dims [axis] == want_dims [axis];
        char got_shape [64], want_shape [64];
        ZI_CHECK (t, shape_ok, "%s: shape %s, want %s", what,
                  zi_shape_str (y->ndim, y->dims, got_shape, sizeof got_shape),
                  zi_shape_str (want_ndim, want_dims, want_shape, sizeof want_shape));
        if (shape_ok && dtype == ZI_F32) {
            size_t n = zi_tensor_count (y);
            float *want_f = malloc ((n + 1) * sizeof (float));
            for (size_t item = 0; item < n; item++)
                want_f [item] = (float) want [item];
            if (c->specials) {
                //  NaN must meet NaN and an infinity the same infinity
                const float *got = zi_tensor_f32 (y);
                size_t wrong = n;
                for (size_t item = 0; item < n && wrong == n; item++) {
                    bool same = isnan (want_f [item])? isnan (got [item]):
                                isinf (want_f [item])? got [item] == want_f [item]:
                                fabsf (got [item] - want_f [item])
                                    <= 1e-5f + 1e-5f * fabsf (want_f [item]);
                    if (!same)
                        wrong = item;
                }
                ZI_CHECK (t, wrong == n, "%s: %zu values, first wrong at [%zd]: got %g want %g",
                          what, n, wrong == n? (ssize_t) -1: (ssize_t) wrong,
                          wrong == n? 0: got [wrong], wrong == n? 0: want_f [wrong]);
            }
            else
                ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want_f, n, 1e-5f, 1e-5f);
            free (want_f);
        }
        else
        if (shape_ok) {
            size_t n = zi_tensor_count (y), bad = 0;
            for (size_t item = 0; item < n; item++)
                if ((dtype == ZI_I32? ((const int32_t *) y->data) [item]
                                    : zi_tensor_i64 (y) [item]) != (int64_t) want [item])
                    bad++;
            ZI_CHECK (t, bad == 0, "%s: %zu of %zu %s values wrong", what, bad, n,
                      zi_dtype_name (dtype));
        }
        free (want);
    }
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&inputs [0]);
    zi_tensor_destroy (&inputs [1]);
    zi_node_destroy (&node);
}

//  Runs a node that must fail and checks the message names the problem
static void
s_check_error (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
               const char *needle)
{
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, &y);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle) != NULL,
              "%s rejected with '%s': %s", node->op_type, needle, zi_error_text ());
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

void
zi_act_reduce_test (zi_test_t *t)
{
    int64_t dims [4] = {2, 3, 4, 5};
    s_case_t cases [] = {
        {.n_axes = -1, .keepdims = -1},
        {.n_axes = -1, .keepdims = 0},
        {.n_axes = 1, .axes = {0}, .keepdims = 1},
        {.n_axes = 1, .axes = {1}, .keepdims = 0},
        {.n_axes = 1, .axes = {3}, .keepdims = 1},
        {.n_axes = 1, .axes = {-1}, .keepdims = 0},
        {.n_axes = 2, .axes = {2, 3}, .keepdims = 1},
        {.n_axes = 2, .axes = {-1, -2}, .keepdims = 0},
        {.n_axes = 2, .axes = {1, 2}, .keepdims = -1},
        {.n_axes = 2, .axes = {0, 2}, .keepdims = 1},
        {.n_axes = 2, .axes = {3, 0}, .keepdims = 0},
        {.n_axes = 2, .axes = {1, 3}, .keepdims = 1},
        {.n_axes = 3, .axes = {0, 1, 3}, .keepdims = 0},
        {.n_axes = 4, .axes = {0, 1, 2, 3}, .keepdims = 1},
        //  axes as an input (ReduceSum 13 style, accepted by every op)
        {.n_axes = 2, .axes = {2, 3}, .keepdims = 1, .axes_as_input = true},
        {.n_axes = 1, .axes = {-3}, .keepdims = 0, .axes_as_input = true},
        {.n_axes = 0, .keepdims = 1, .axes_as_input = true},
        {.n_axes = 0, .keepdims = 0, .axes_as_input = true, .noop = 1},
        {.n_axes = 2, .axes = {0, 2}, .keepdims = 0, .axes_as_input = true, .noop = 1},
    };
    uint32_t seed = 1;
    for (int kind = 0; kind < 5; kind++)
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
            s_check_case (t, kind, ZI_F32, 4, dims, &cases [index], seed++);
            s_case_t specials = cases [index];
            specials.specials = true;
            s_check_case (t, kind, ZI_F32, 4, dims, &specials, seed++);
        }

    //  The norms and logarithmic sums, float32
    for (int kind = S_ReduceSumSquare; kind <= S_ReduceLogSumExp; kind++)
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
            s_check_case (t, kind, ZI_F32, 4, dims, &cases [index], seed++);
    //  ReduceMax and ReduceMin of bool (opset 20): any and all along the
    //  axes, against the same in plain loops; refused before opset 20
    for (int kind = S_ReduceMax; kind <= S_ReduceMin; kind++)
        for (int axis = -1; axis < 2; axis++) {
            int64_t shape [2] = {4, 5};
            zi_tensor_t *x = zi_tensor_new (ZI_BOOL, 2, shape);
            uint8_t *bits = x->data;
            for (int item = 0; item < 20; item++)
                bits [item] = (uint8_t) ((item * 7 + kind) % 5 < 2);
            bits [5] = bits [6] = bits [7] = bits [8] = bits [9] = kind == S_ReduceMin;
            zi_node_t *node = zi_node_new (s_op_names [kind], "bools");
            node->opset = 20;
            zi_node_set_int (node, "keepdims", 0);
            if (axis >= 0)
                zi_node_set_ints (node, "axes", 1, (int64_t []) {axis});
            zi_tensor_t *y = NULL;
            int rc = zi_test_run_op (node, 1, &x, 1, &y);
            bool right = rc == 0 && y->dtype == ZI_BOOL;
            int64_t n_out = axis < 0? 1: shape [1 - axis];
            for (int64_t at = 0; right && at < n_out; at++) {
                bool any = false, all = true;
                for (int64_t item = 0; item < 20; item++) {
                    int64_t row = item / 5, col = item % 5;
                    if (axis == 0? col != at: axis == 1? row != at: false)
                        continue;
                    any = any || bits [item];
                    all = all && bits [item];
                }
                right = ((const uint8_t *) y->data) [at] == (kind == S_ReduceMax? any: all);
            }
            ZI_CHECK (t, right, "%s of bool, axis %d: %s", s_op_names [kind], axis,
                      rc? zi_error_text (): "any or all");
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
            node = zi_node_new (s_op_names [kind], "bools");
            node->opset = 18;
            rc = zi_test_run_op (node, 1, &x, 1, &y);
            ZI_CHECK (t, rc != 0 && strstr (zi_error_text (), "opset 20 form"),
                      "%s of bool refused at opset 18: %s", s_op_names [kind], zi_error_text ());
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
            zi_tensor_destroy (&x);
        }
    //  LogSumExp of large values, which exp alone would overflow, -inf
    //  rows, and NaN
    {
        int64_t rows [2] = {3, 4};
        zi_tensor_t *x = zi_test_tensor (2, rows, (float []) {
            1000, 1001, 999, 1000.5f, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
            1, NAN, 2, 3});
        zi_node_t *node = zi_node_new ("ReduceLogSumExp", "test");
        zi_node_set_ints (node, "axes", 1, (int64_t []) {1});
        zi_tensor_t *y = NULL;
        int rc = zi_test_run_op (node, 1, &x, 1, &y);
        double first = 1001 + log (exp (-1.0) + 1 + exp (-2.0) + exp (-0.5));
        ZI_CHECK (t, rc == 0 && fabsf (zi_tensor_f32 (y) [0] - (float) first) < 1e-3f
                  && zi_tensor_f32 (y) [1] == -INFINITY && isnan (zi_tensor_f32 (y) [2]),
                  "ReduceLogSumExp: large values %g (want %g), -inf row %g, NaN row %g",
                  rc? 0: zi_tensor_f32 (y) [0], first, rc? 0: zi_tensor_f32 (y) [1],
                  rc? 0: zi_tensor_f32 (y) [2]);
        zi_tensor_destroy (&x);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    zi_tensor_t *square_ints = zi_test_ints (2, (int64_t []) {1, 2});
    s_check_error (t, zi_node_new ("ReduceL2", "test"), 1, &square_ints,
                   "input 0 is int64, expected float32");
    zi_tensor_destroy (&square_ints);

    //  int64 (shape arithmetic during constant folding)
    s_reduce_kind_t int_kinds [] = {S_ReduceSum, S_ReduceMax, S_ReduceMin, S_ReduceProd};
    for (int kind = 0; kind < 4; kind++)
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index += 3)
            if (int_kinds [kind] != S_ReduceProd || cases [index].n_axes == 1) {
                s_check_case (t, int_kinds [kind], ZI_I64, 4, dims, &cases [index], seed++);
                s_check_case (t, int_kinds [kind], ZI_I32, 4, dims, &cases [index], seed++);
            }

    //  Unit dims, long rows (vector loops and their tails), rank 1 and 3
    int64_t unit_dims [4] = {3, 1, 4, 1};
    int64_t long_dims [2] = {4, 301};
    int64_t wide_dims [3] = {3, 5, 67};
    int64_t flat_dims [1] = {37};
    s_case_t unit_cases [] = {
        {.n_axes = 1, .axes = {1}, .keepdims = 0},
        {.n_axes = 2, .axes = {1, 3}, .keepdims = 1},
        {.n_axes = 2, .axes = {0, 1}, .keepdims = 1},
        {.n_axes = 2, .axes = {1, 2}, .keepdims = 0},
    };
    for (int kind = 0; kind < 4; kind++) {
        for (int index = 0; index < 4; index++)
            s_check_case (t, kind, ZI_F32, 4, unit_dims, &unit_cases [index], seed++);
        s_case_t rows = {.n_axes = 1, .axes = {1}, .keepdims = 1};
        s_check_case (t, kind, ZI_F32, 2, long_dims, &rows, seed++);
        s_case_t columns = {.n_axes = 1, .axes = {0}, .keepdims = 0};
        s_check_case (t, kind, ZI_F32, 2, long_dims, &columns, seed++);
        s_case_t middle = {.n_axes = 1, .axes = {1}, .keepdims = 0};
        s_check_case (t, kind, ZI_F32, 3, wide_dims, &middle, seed++);
        s_case_t all = {.n_axes = -1, .keepdims = 0};
        s_check_case (t, kind, ZI_F32, 1, flat_dims, &all, seed++);
        //  and the vector loops and their tails meeting NaN
        rows.specials = columns.specials = middle.specials = all.specials = true;
        s_check_case (t, kind, ZI_F32, 2, long_dims, &rows, seed++);
        s_check_case (t, kind, ZI_F32, 2, long_dims, &columns, seed++);
        s_check_case (t, kind, ZI_F32, 3, wide_dims, &middle, seed++);
        s_check_case (t, kind, ZI_F32, 1, flat_dims, &all, seed++);
    }

    //  Errors
    zi_tensor_t *x = zi_test_random (4, dims, 9);
    zi_node_t *node = zi_node_new ("ReduceMean", "test");
    zi_node_set_ints (node, "axes", 1, (int64_t []) {4});
    s_check_error (t, node, 1, &x, "out of range for a 4-d input");
    node = zi_node_new ("ReduceMax", "test");
    zi_node_set_ints (node, "axes", 2, (int64_t []) {1, -3});
    s_check_error (t, node, 1, &x, "repeats axis 1");
    node = zi_node_new ("ReduceSum", "test");
    zi_node_set_int (node, "keepdims", 2);
    s_check_error (t, node, 1, &x, "expected 0 or 1");
    zi_tensor_t *ints = zi_tensor_new (ZI_I64, 4, dims);
    memset (ints->data, 0, ints->nbytes);
    s_check_error (t, zi_node_new ("ReduceMean", "test"), 1, &ints,
                   "ReduceMean at node 'test': input 0 is int64, expected float32");
    zi_tensor_destroy (&ints);

    //  Axes must be a constant: infer with a shape-only axes input
    node = zi_node_new ("ReduceSum", "test");
    node->n_inputs = 2;
    node->inputs = calloc (2, sizeof (int));
    node->inputs [1] = 1;
    ZI_CHECK (t, node->op->init (node) == 0, "ReduceSum init");
    zi_tensor_t axes_shape = {0}, out_shape = {0};
    int64_t two = 2;
    zi_tensor_set_shape (&axes_shape, ZI_I64, 1, &two);
    const zi_tensor_t *infer_in [2] = {x, &axes_shape};
    zi_tensor_t *infer_out [1] = {&out_shape};
    int rc = node->op->infer (node, infer_in, infer_out);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), "must be a constant"),
              "non-constant axes rejected: %s", zi_error_text ());
    zi_node_destroy (&node);
    zi_tensor_destroy (&x);
}
