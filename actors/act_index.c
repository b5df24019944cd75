/*  =========================================================================
    act_index - elements placed by index tensors: GatherElements,
    ScatterElements (and its old name Scatter), ScatterND, OneHot, Trilu,
    NonZero

    Indices are int64 (the importer widens int32), negative ones count
    from the end of their axis. They are data: one out of range is an
    error naming it, never a read or write out of bounds. Scatters apply
    their updates in order, so with reduction 'none' a repeated index
    keeps the last update, as ONNX Runtime does.

    NonZero's output shape is the number of nonzero elements, which only
    the data can tell. zinfer sizes every tensor when it plans, before the
    run, so NonZero runs only on a constant input (it is then folded);
    on any other input it is refused when the model is planned.
    =========================================================================
*/

#include "zi_classes.h"

//  Indices GatherElements and the element scatters accept
#define S_INDICES (ZI_DT (ZI_I64) | ZI_DT (ZI_I32))

static int
s_axis (int64_t axis, int rank, int *resolved)
{
    if (axis < -rank || axis >= rank)
        return zi_error ("attribute 'axis' = %lld is out of range for a %d-d input "
                         "(expected %d..%d)", (long long) axis, rank, -rank, rank - 1);
    *resolved = (int) (axis < 0? axis + rank: axis);
    return 0;
}

//  An index along an axis of extent `extent`, made non-negative; -1 with
//  an error when out of range
static inline int
s_index (int64_t index, int64_t extent, int64_t *resolved, const char *what, int64_t at)
{
    if (index < -extent || index >= extent)
        return zi_error ("%s [%lld] = %lld is out of range for an axis of size %lld "
                         "(expected %lld..%lld)", what, (long long) at, (long long) index,
                         (long long) extent, (long long) -extent, (long long) extent - 1);
    *resolved = index < 0? index + extent: index;
    return 0;
}

//  The axis attribute of GatherElements, ScatterElements and Scatter
typedef struct {
    int64_t axis;               //  attribute 'axis', default 0
    int reduction;              //  scatters: S_NONE, S_ADD, S_MUL, S_MAX, S_MIN
} s_params_t;

enum { S_NONE, S_ADD, S_MUL, S_MAX, S_MIN };

static int
s_params_init (zi_node_t *node)
{
    s_params_t *self = calloc (1, sizeof (s_params_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    self->axis = zi_node_attr_int (node, "axis", 0);
    const char *reduction = zi_node_attr_string (node, "reduction", "none");
    static const char *names [] = {"none", "add", "mul", "max", "min"};
    static const int since [] = {0, 16, 16, 18, 18};
    self->reduction = -1;
    for (int index = 0; index < 5; index++)
        if (strcmp (reduction, names [index]) == 0)
            self->reduction = index;
    if (self->reduction < 0)
        return zi_error ("attribute 'reduction' = '%s'; expected none, add, mul, max or min",
                         reduction);
    if (node->opset < since [self->reduction])
        return zi_error ("attribute 'reduction' = '%s' is an opset %d form; the model "
                         "imports opset %d", reduction, since [self->reduction], node->opset);
    return 0;
}

//  Combines one update into its target, as the reduction says
static inline void
s_reduce (int reduction, zi_dtype_t dtype, void *target, const void *update, size_t esize)
{
    if (reduction == S_NONE || dtype == ZI_BOOL) {
        memcpy (target, update, esize);
        return;
    }
    if (dtype == ZI_F32) {
        float *to = target, from = *(const float *) update;
        *to = reduction == S_ADD? *to + from: reduction == S_MUL? *to * from:
              reduction == S_MAX? fmaxf (*to, from): fminf (*to, from);
    }
    else
    if (dtype == ZI_F16)
        memcpy (target, update, esize);     //  never reached: models compute in float32
    else {
        //  Integers of any width, through int64, wrapping back to theirs
        int64_t to, from;
        zi_dtype_convert (&to, ZI_I64, target, dtype, 1);
        zi_dtype_convert (&from, ZI_I64, update, dtype, 1);
        to = reduction == S_ADD? (int64_t) ((uint64_t) to + (uint64_t) from)
           : reduction == S_MUL? (int64_t) ((uint64_t) to * (uint64_t) from)
           : reduction == S_MAX? (to > from? to: from): (to < from? to: from);
        zi_dtype_convert (target, dtype, &to, ZI_I64, 1);
    }
}

static int
s_same_rank (const zi_tensor_t *data, const zi_tensor_t *other, int slot, const char *name)
{
    if (other->ndim != data->ndim)
        return zi_error ("input %d (%s): expected %d dimensions as the data has, got %d",
                         slot, name, data->ndim, other->ndim);
    return 0;
}


//  --------------------------------------------------------------------------
//  GatherElements: out [i][j][k] = data [indices [i][j][k]][j][k] for axis
//  0, and likewise for the others; indices may be smaller than data on
//  every axis

static int
s_gather_elements_infer (zi_node_t *node, const zi_tensor_t *const *in,
                         zi_tensor_t *const *out)
{
    const s_params_t *self = node->params;
    const zi_tensor_t *data = in [0], *indices = in [1];
    int axis = 0;
    if (data->ndim == 0)
        return zi_error ("input 0 is a scalar; GatherElements needs at least 1-d data");
    if (s_axis (self->axis, data->ndim, &axis)
    ||  s_same_rank (data, indices, 1, "indices"))
        return -1;
    for (int dim = 0; dim < data->ndim; dim++)
        if (dim != axis && indices->dims [dim] > data->dims [dim])
            return zi_error ("input 1 (indices): dimension %d is %lld, more than the data's "
                             "%lld", dim, (long long) indices->dims [dim],
                             (long long) data->dims [dim]);
    zi_tensor_set_shape (out [0], data->dtype, indices->ndim, indices->dims);
    return 0;
}

//  The data offset of index element `item`, with the axis coordinate
//  replaced by the index's value
static int
s_element_offset (const zi_tensor_t *data, const zi_tensor_t *indices, int axis, int64_t item,
                  const int64_t *data_strides, int64_t *offset)
{
    int64_t rest = item, at = 0;
    for (int dim = indices->ndim - 1; dim >= 0; dim--) {
        int64_t coord = rest % indices->dims [dim];
        rest /= indices->dims [dim];
        int64_t index = indices->dtype == ZI_I64? zi_tensor_i64 (indices) [item]
                                                : ((const int32_t *) indices->data) [item];
        if (dim == axis && s_index (index, data->dims [axis], &coord, "input 1 (indices)", item))
            return -1;
        at += coord * data_strides [dim];
    }
    *offset = at;
    return 0;
}

static int
s_gather_elements_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                       zi_tensor_t *const *out)
{
    const s_params_t *self = node->params;
    const zi_tensor_t *data = in [0], *indices = in [1];
    int axis = 0;
    if (s_axis (self->axis, data->ndim, &axis))
        return -1;
    int64_t strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, strides);
    size_t esize = zi_dtype_size (data->dtype);
    int64_t count = zi_tensor_count (indices);
    for (int64_t item = 0; item < count; item++) {
        int64_t at;
        if (s_element_offset (data, indices, axis, item, strides, &at))
            return -1;
        memcpy ((char *) out [0]->data + item * esize, (const char *) data->data + at * esize,
                esize);
    }
    return 0;
}

const zi_op_t zi_op_GatherElements = {
    .name = "GatherElements", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_ELEMENTS,
    .init = s_params_init, .infer = s_gather_elements_infer, .run = s_gather_elements_run,
    .dtypes = {0, S_INDICES}
};


//  --------------------------------------------------------------------------
//  ScatterElements (and Scatter, its name before opset 11): a copy of the
//  data with updates [i][j][k] written to [indices [i][j][k]][j][k]

static int
s_scatter_elements_infer (zi_node_t *node, const zi_tensor_t *const *in,
                          zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0], *indices = in [1], *updates = in [2];
    if (s_gather_elements_infer (node, in, out))
        return -1;
    char want [128], got [128];
    if (updates->ndim != indices->ndim
    ||  memcmp (updates->dims, indices->dims, indices->ndim * sizeof (int64_t)))
        return zi_error ("input 2 (updates): expected the indices' shape %s, got %s",
                         zi_shape_str (indices->ndim, indices->dims, want, sizeof want),
                         zi_shape_str (updates->ndim, updates->dims, got, sizeof got));
    if (updates->dtype != data->dtype)
        return zi_error ("input 2 (updates): expected %s as the data, got %s",
                         zi_dtype_name (data->dtype), zi_dtype_name (updates->dtype));
    zi_tensor_set_shape (out [0], data->dtype, data->ndim, data->dims);
    return 0;
}

static int
s_scatter_elements_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                        zi_tensor_t *const *out)
{
    const s_params_t *self = node->params;
    const zi_tensor_t *data = in [0], *indices = in [1], *updates = in [2];
    int axis = 0;
    if (s_axis (self->axis, data->ndim, &axis))
        return -1;
    memcpy (out [0]->data, data->data, data->nbytes);
    int64_t strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, strides);
    size_t esize = zi_dtype_size (data->dtype);
    int64_t count = zi_tensor_count (indices);
    for (int64_t item = 0; item < count; item++) {
        int64_t at;
        if (s_element_offset (data, indices, axis, item, strides, &at))
            return -1;
        s_reduce (self->reduction, data->dtype, (char *) out [0]->data + at * esize,
                  (const char *) updates->data + item * esize, esize);
    }
    return 0;
}

const zi_op_t zi_op_ScatterElements = {
    .name = "ScatterElements", .min_inputs = 3, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_ELEMENTS,
    .init = s_params_init, .infer = s_scatter_elements_infer, .run = s_scatter_elements_run,
    .dtypes = {0, S_INDICES, 0}
};

const zi_op_t zi_op_Scatter = {
    .name = "Scatter", .min_inputs = 3, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_ELEMENTS,
    .init = s_params_init, .infer = s_scatter_elements_infer, .run = s_scatter_elements_run,
    .dtypes = {0, S_INDICES, 0}
};


//  --------------------------------------------------------------------------
//  ScatterND: indices [..., q] name slices data [i0, .., iq-1, ...] that
//  updates [...] replace (or are reduced into)

static int
s_scatter_nd_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0], *indices = in [1], *updates = in [2];
    if (indices->ndim < 1)
        return zi_error ("input 1 (indices): expected at least 1 dimension, got a scalar");
    int64_t depth = indices->dims [indices->ndim - 1];
    if (depth > data->ndim)
        return zi_error ("input 1 (indices): the last dimension is %lld, more than the data's "
                         "%d dimensions", (long long) depth, data->ndim);
    //  updates = indices.shape [:-1] + data.shape [depth:]
    int64_t dims [2 * ZI_MAX_DIMS];
    int ndim = 0;
    for (int dim = 0; dim < indices->ndim - 1; dim++)
        dims [ndim++] = indices->dims [dim];
    for (int dim = (int) depth; dim < data->ndim; dim++)
        dims [ndim++] = data->dims [dim];
    bool same = updates->ndim == ndim;
    for (int dim = 0; same && dim < ndim; dim++)
        same = updates->dims [dim] == dims [dim];
    char want [128], got [128];
    if (!same)
        return zi_error ("input 2 (updates): expected shape %s (indices' leading dimensions, "
                         "then the data's last %d), got %s",
                         zi_shape_str (ndim, dims, want, sizeof want), data->ndim - (int) depth,
                         zi_shape_str (updates->ndim, updates->dims, got, sizeof got));
    if (updates->dtype != data->dtype)
        return zi_error ("input 2 (updates): expected %s as the data, got %s",
                         zi_dtype_name (data->dtype), zi_dtype_name (updates->dtype));
    zi_tensor_set_shape (out [0], data->dtype, data->ndim, data->dims);
    return 0;
}

static int
s_scatter_nd_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                  zi_tensor_t *const *out)
{
    const s_params_t *self = node->params;
    const zi_tensor_t *data = in [0], *indices = in [1], *updates = in [2];
    memcpy (out [0]->data, data->data, data->nbytes);
    int depth = (int) indices->dims [indices->ndim - 1];
    int64_t strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, strides);
    int64_t slice = zi_shape_count (data->ndim - depth, data->dims + depth);
    int64_t n_slices = zi_shape_count (indices->ndim - 1, indices->dims);
    size_t esize = zi_dtype_size (data->dtype);
    const int64_t *index = zi_tensor_i64 (indices);
    for (int64_t item = 0; item < n_slices; item++) {
        int64_t at = 0;
        for (int dim = 0; dim < depth; dim++) {
            int64_t coord = 0;
            if (s_index (index [item * depth + dim], data->dims [dim], &coord,
                         "input 1 (indices)", item * depth + dim))
                return -1;
            at += coord * strides [dim];
        }
        char *target = (char *) out [0]->data + at * esize;
        const char *source = (const char *) updates->data + item * slice * esize;
        if (self->reduction == S_NONE)
            memcpy (target, source, slice * esize);
        else
            for (int64_t element = 0; element < slice; element++)
                s_reduce (self->reduction, data->dtype, target + element * esize,
                          source + element * esize, esize);
    }
    return 0;
}

const zi_op_t zi_op_ScatterND = {
    .name = "ScatterND", .min_inputs = 3, .max_inputs = 3, .max_outputs = 1,
    .init = s_params_init, .infer = s_scatter_nd_infer, .run = s_scatter_nd_run,
    .dtypes = {0, ZI_DT (ZI_I64), 0}
};


//  --------------------------------------------------------------------------
//  OneHot: indices, depth (a constant: it sets the shape), values [off,
//  on]; a new axis of extent depth holds on at the index, off elsewhere.
//  An index outside -depth..depth-1 gives a row of off.

static int
s_onehot_init (zi_node_t *node)
{
    s_params_t *self = calloc (1, sizeof (s_params_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    self->axis = zi_node_attr_int (node, "axis", -1);
    return 0;
}

static int
s_onehot_depth (const zi_tensor_t *const *in, int64_t *depth)
{
    if (!in [1]->data)
        return zi_error ("input 1 (depth) must be a constant known before the run: it sets "
                         "the output's shape");
    if (zi_shape_count (in [1]->ndim, in [1]->dims) != 1)
        return zi_error ("input 1 (depth): expected one value, got %lld",
                         (long long) zi_shape_count (in [1]->ndim, in [1]->dims));
    if (zi_input_ints (in [1], depth, 1, "input 1 (depth)") < 0)
        return -1;
    if (*depth < 1)
        return zi_error ("input 1 (depth) = %lld; expected at least 1", (long long) *depth);
    return 0;
}

static int
s_onehot_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_params_t *self = node->params;
    const zi_tensor_t *indices = in [0], *values = in [2];
    int64_t depth;
    if (s_onehot_depth (in, &depth))
        return -1;
    if (zi_shape_count (values->ndim, values->dims) != 2 || values->ndim != 1)
        return zi_error ("input 2 (values): expected 2 values [off, on], got %lld in %d-d",
                         (long long) zi_shape_count (values->ndim, values->dims), values->ndim);
    int rank = indices->ndim + 1, axis = 0;
    if (rank > ZI_MAX_DIMS)
        return zi_error ("output rank %d is more than the %d supported", rank, ZI_MAX_DIMS);
    if (s_axis (self->axis, rank, &axis))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    for (int dim = 0, from = 0; dim < rank; dim++)
        dims [dim] = dim == axis? depth: indices->dims [from++];
    zi_tensor_set_shape (out [0], values->dtype, rank, dims);
    return 0;
}

static int
s_onehot_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_params_t *self = node->params;
    const zi_tensor_t *indices = in [0], *values = in [2];
    int64_t depth;
    int axis = 0;
    if (s_onehot_depth (in, &depth) || s_axis (self->axis, indices->ndim + 1, &axis))
        return -1;
    //  indices are outer x inner around the new axis
    int64_t outer = zi_shape_count (axis, indices->dims);
    int64_t inner = zi_shape_count (indices->ndim - axis, indices->dims + axis);
    size_t esize = zi_dtype_size (values->dtype);
    const char *off = values->data, *on = off + esize;
    char *y = out [0]->data;
    for (int64_t row = 0; row < outer; row++)
        for (int64_t position = 0; position < depth; position++)
            for (int64_t col = 0; col < inner; col++) {
                int64_t item = row * inner + col;
                int64_t index = -depth - 1;     //  off, also for NaN
                if (indices->dtype == ZI_I64)
                    index = zi_tensor_i64 (indices) [item];
                else
                if (indices->dtype == ZI_I32)
                    index = ((const int32_t *) indices->data) [item];
                else
                if (fabsf (zi_tensor_f32 (indices) [item]) <= (float) depth)
                    index = (int64_t) zi_tensor_f32 (indices) [item];
                if (index < 0)
                    index += depth;
                memcpy (y + ((row * depth + position) * inner + col) * esize,
                        index == position? on: off, esize);
            }
    return 0;
}

const zi_op_t zi_op_OneHot = {
    .name = "OneHot", .min_inputs = 3, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_ONEHOT,
    .init = s_onehot_init, .infer = s_onehot_infer, .run = s_onehot_run,
    .dtypes = {ZI_DT (ZI_I64) | ZI_DT (ZI_I32) | ZI_DT (ZI_F32)}
};


//  --------------------------------------------------------------------------
//  Trilu: the upper (or lower) triangle of the last two dimensions from
//  diagonal k (input 1, default 0) on; the rest zero

typedef struct {
    bool upper;                 //  keep the upper triangle, else the lower
} s_trilu_t;

static int
s_trilu_init (zi_node_t *node)
{
    int64_t upper = zi_node_attr_int (node, "upper", 1);
    if (upper != 0 && upper != 1)
        return zi_error ("attribute 'upper' = %lld; expected 0 or 1", (long long) upper);
    s_trilu_t *self = calloc (1, sizeof (s_trilu_t));
    if (!self)
        return zi_error ("out of memory");
    self->upper = upper == 1;
    node->params = self;
    return 0;
}

static int
s_trilu_k (const zi_node_t *node, const zi_tensor_t *const *in, int64_t *k)
{
    *k = 0;
    if (node->n_inputs < 2 || !in [1])
        return 0;
    if (zi_shape_count (in [1]->ndim, in [1]->dims) != 1)
        return zi_error ("input 1 (k): expected one value, got %lld",
                         (long long) zi_shape_count (in [1]->ndim, in [1]->dims));
    if (in [1]->data)
        *k = *zi_tensor_i64 (in [1]);
    return 0;
}

static int
s_trilu_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    int64_t k;
    if (x->ndim < 2)
        return zi_error ("input 0: expected at least 2 dimensions, got %d", x->ndim);
    if (s_trilu_k (node, in, &k))
        return -1;
    zi_tensor_set_shape (out [0], x->dtype, x->ndim, x->dims);
    return 0;
}

static int
s_trilu_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
             zi_tensor_t *const *out)
{
    const s_trilu_t *self = node->params;
    const zi_tensor_t *x = in [0];
    int64_t k;
    if (s_trilu_k (node, in, &k))
        return -1;
    int64_t rows = x->dims [x->ndim - 2], cols = x->dims [x->ndim - 1];
    int64_t planes = zi_shape_count (x->ndim - 2, x->dims);
    size_t esize = zi_dtype_size (x->dtype);
    for (int64_t plane = 0; plane < planes; plane++)
        for (int64_t row = 0; row < rows; row++) {
            int64_t at = (plane * rows + row) * cols;
            const char *from = (const char *) x->data + at * esize;
            char *to = (char *) out [0]->data + at * esize;
            //  Upper keeps col - row >= k, lower col - row <= k
            int64_t split = row + k + (self->upper? 0: 1);
            split = split < 0? 0: split > cols? cols: split;
            if (self->upper) {
                memset (to, 0, split * esize);
                memcpy (to + split * esize, from + split * esize, (cols - split) * esize);
            }
            else {
                memcpy (to, from, split * esize);
                memset (to + split * esize, 0, (cols - split) * esize);
            }
        }
    return 0;
}

const zi_op_t zi_op_Trilu = {
    .name = "Trilu", .min_inputs = 1, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_TRILU,
    .init = s_trilu_init, .infer = s_trilu_infer, .run = s_trilu_run,
    .dtypes = {0, ZI_DT (ZI_I64)}
};


//  --------------------------------------------------------------------------
//  NonZero: [rank, n] int64 coordinates of the n nonzero elements, in
//  row-major order

static bool
s_nonzero (const zi_tensor_t *x, int64_t item)
{
    switch (x->dtype) {
        case ZI_F32: return zi_tensor_f32 (x) [item] != 0;
        case ZI_I64: return zi_tensor_i64 (x) [item] != 0;
        default:     return ((const uint8_t *) x->data) [item] != 0;
    }
}

static int
s_nonzero_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    if (!x->data)
        return zi_error ("input 0 must be a constant: NonZero's output shape depends on its "
                         "input's values, and zinfer sizes every tensor before the run");
    int64_t found = 0, count = zi_tensor_count (x);
    for (int64_t item = 0; item < count; item++)
        found += s_nonzero (x, item);
    zi_tensor_set_shape (out [0], ZI_I64, 2, (int64_t []) {x->ndim, found});
    return 0;
}

static int
s_nonzero_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
               zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    int64_t count = zi_tensor_count (x), found = out [0]->dims [1], next = 0;
    int64_t *y = zi_tensor_i64 (out [0]);
    for (int64_t item = 0; item < count; item++) {
        if (!s_nonzero (x, item))
            continue;
        if (next == found)
            return zi_error ("input 0 holds more nonzero elements than when it was planned");
        int64_t rest = item;
        for (int dim = x->ndim - 1; dim >= 0; dim--) {
            y [dim * found + next] = rest % x->dims [dim];
            rest /= x->dims [dim];
        }
        next++;
    }
    if (next != found)
        return zi_error ("input 0 holds fewer nonzero elements than when it was planned");
    return 0;
}

const zi_op_t zi_op_NonZero = {
    .name = "NonZero", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_NONZERO,
    .infer = s_nonzero_infer, .run = s_nonzero_run,
    .dtypes = {ZI_DT (ZI_F32) | ZI_DT (ZI_I64) | ZI_DT (ZI_BOOL)}
};


//  --------------------------------------------------------------------------
//  Self test: each op against a naive reference that walks coordinates,
//  over every axis, float32 and int64 data, negative indices, the
//  reductions, and the errors

static double
s_get (const zi_tensor_t *x, int64_t at)
{
    return x->dtype == ZI_F32? zi_tensor_f32 (x) [at]: (double) zi_tensor_i64 (x) [at];
}

static void
s_put (zi_tensor_t *x, int64_t at, double value)
{
    if (x->dtype == ZI_F32)
        zi_tensor_f32 (x) [at] = (float) value;
    else
        zi_tensor_i64 (x) [at] = (int64_t) value;
}

//  Values that are exact in float and int64 alike: small integers
static zi_tensor_t *
s_data (zi_dtype_t dtype, int ndim, const int64_t *dims, uint32_t seed)
{
    zi_tensor_t *x = zi_tensor_new (dtype, ndim, dims);
    for (size_t item = 0; item < zi_tensor_count (x); item++) {
        seed = seed * 1103515245u + 12345u;
        s_put (x, (int64_t) item, (double) ((seed >> 16) % 19) - 9);
    }
    return x;
}

//  Indices in -extent..extent-1
static zi_tensor_t *
s_indices (int ndim, const int64_t *dims, int64_t extent, uint32_t seed)
{
    zi_tensor_t *x = zi_tensor_new (ZI_I64, ndim, dims);
    for (size_t item = 0; item < zi_tensor_count (x); item++) {
        seed = seed * 1103515245u + 12345u;
        zi_tensor_i64 (x) [item] = (int64_t) ((seed >> 16) % (2 * extent)) - extent;
    }
    return x;
}

//  Row-major coordinates of an element
static void
s_coords (int ndim, const int64_t *dims, int64_t item, int64_t *coords)
{
    for (int dim = ndim - 1; dim >= 0; dim--) {
        coords [dim] = item % dims [dim];
        item /= dims [dim];
    }
}

static int64_t
s_offset (int ndim, const int64_t *dims, const int64_t *coords)
{
    int64_t at = 0;
    for (int dim = 0; dim < ndim; dim++)
        at = at * dims [dim] + coords [dim];
    return at;
}

static double
s_combine (int reduction, double old, double update)
{
    switch (reduction) {
        case S_ADD: return old + update;
        case S_MUL: return old * update;
        case S_MAX: return fmax (old, update);
        case S_MIN: return fmin (old, update);
        default:    return update;
    }
}

static const char *s_reductions [] = {"none", "add", "mul", "max", "min"};

//  Compares every element of got with want (as doubles, exactly: the
//  values are small integers); returns the first differing index or -1
static int64_t
s_first_difference (const zi_tensor_t *got, const zi_tensor_t *want)
{
    if (got->dtype != want->dtype || got->ndim != want->ndim
    ||  memcmp (got->dims, want->dims, got->ndim * sizeof (int64_t)))
        return INT64_MAX;
    for (int64_t item = 0; item < (int64_t) zi_tensor_count (want); item++)
        if (s_get (got, item) != s_get (want, item))
            return item;
    return -1;
}

static void
s_test_elements (zi_test_t *t, bool scatter, zi_dtype_t dtype, int axis, int reduction,
                 uint32_t seed)
{
    char what [120];
    snprintf (what, sizeof what, "%s %s axis %d%s%s", scatter? "ScatterElements":
              "GatherElements", zi_dtype_name (dtype), axis, scatter? " reduction ": "",
              scatter? s_reductions [reduction]: "");
    int64_t data_dims [3] = {3, 4, 5}, index_dims [3] = {2, 3, 4};
    index_dims [axis] = scatter? 3: 6;      //  a gather may pick more than there are
    zi_tensor_t *in [3] = {
        s_data (dtype, 3, data_dims, seed),
        s_indices (3, index_dims, data_dims [axis], seed + 1),
        s_data (dtype, 3, index_dims, seed + 2)
    };
    zi_node_t *node = zi_node_new (scatter? "ScatterElements": "GatherElements", "test");
    zi_node_set_int (node, "axis", seed % 2? axis - 3: axis);
    if (reduction)
        zi_node_set_string (node, "reduction", s_reductions [reduction]);
    node->opset = reduction >= S_MAX? 18: 17;
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, scatter? 3: 2, in, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        zi_tensor_t *want = scatter? zi_tensor_new (dtype, 3, data_dims)
                                   : zi_tensor_new (dtype, 3, index_dims);
        if (scatter)
            memcpy (want->data, in [0]->data, in [0]->nbytes);
        for (int64_t item = 0; item < (int64_t) zi_tensor_count (in [1]); item++) {
            int64_t coords [3];
            s_coords (3, index_dims, item, coords);
            int64_t index = zi_tensor_i64 (in [1]) [item];
            coords [axis] = index < 0? index + data_dims [axis]: index;
            int64_t at = s_offset (3, data_dims, coords);
            if (scatter)
                s_put (want, at, s_combine (reduction, s_get (want, at), s_get (in [2], item)));
            else
                s_put (want, item, s_get (in [0], at));
        }
        int64_t wrong = s_first_difference (y, want);
        ZI_CHECK (t, wrong < 0, "%s: first wrong at %lld", what, (long long) wrong);
        zi_tensor_destroy (&want);
    }
    zi_tensor_destroy (&y);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&in [slot]);
    zi_node_destroy (&node);
}

static void
s_test_scatter_nd (zi_test_t *t, zi_dtype_t dtype, int depth, int reduction, uint32_t seed)
{
    char what [120];
    snprintf (what, sizeof what, "ScatterND %s depth %d reduction %s", zi_dtype_name (dtype),
              depth, s_reductions [reduction]);
    int64_t data_dims [3] = {4, 5, 6};
    int64_t index_dims [3] = {2, 3, depth};
    int64_t update_dims [4] = {2, 3};
    int update_ndim = 2;
    for (int dim = depth; dim < 3; dim++)
        update_dims [update_ndim++] = data_dims [dim];
    zi_tensor_t *indices = zi_tensor_new (ZI_I64, 3, index_dims);
    for (int64_t item = 0; item < 6 * depth; item++) {
        int64_t extent = data_dims [item % depth];
        int64_t value = (int64_t) ((seed + item * 7) % (2 * extent)) - extent;
        zi_tensor_i64 (indices) [item] = value;
    }
    zi_tensor_t *in [3] = {
        s_data (dtype, 3, data_dims, seed), indices,
        s_data (dtype, update_ndim, update_dims, seed + 2)
    };
    zi_node_t *node = zi_node_new ("ScatterND", "test");
    if (reduction)
        zi_node_set_string (node, "reduction", s_reductions [reduction]);
    node->opset = reduction >= S_MAX? 18: 17;
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 3, in, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        zi_tensor_t *want = zi_tensor_new (dtype, 3, data_dims);
        memcpy (want->data, in [0]->data, in [0]->nbytes);
        int64_t slice = zi_shape_count (3 - depth, data_dims + depth);
        for (int64_t update = 0; update < 6; update++)
            for (int64_t element = 0; element < slice; element++) {
                int64_t coords [3] = {0, 0, 0}, rest [3] = {0, 0, 0};
                s_coords (3 - depth, data_dims + depth, element, rest);
                for (int dim = 0; dim < 3; dim++) {
                    if (dim < depth) {
                        int64_t index = zi_tensor_i64 (indices) [update * depth + dim];
                        coords [dim] = index < 0? index + data_dims [dim]: index;
                    }
                    else
                        coords [dim] = rest [dim - depth];
                }
                int64_t at = s_offset (3, data_dims, coords);
                s_put (want, at, s_combine (reduction, s_get (want, at),
                                            s_get (in [2], update * slice + element)));
            }
        int64_t wrong = s_first_difference (y, want);
        ZI_CHECK (t, wrong < 0, "%s: first wrong at %lld", what, (long long) wrong);
        zi_tensor_destroy (&want);
    }
    zi_tensor_destroy (&y);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&in [slot]);
    zi_node_destroy (&node);
}

static void
s_test_onehot (zi_test_t *t, int axis, zi_dtype_t index_dtype, zi_dtype_t value_dtype)
{
    char what [120];
    snprintf (what, sizeof what, "OneHot axis %d, %s indices, %s values", axis,
              zi_dtype_name (index_dtype), zi_dtype_name (value_dtype));
    //  In range, negative, and out of range both ways (a row of off)
    int64_t raw [6] = {0, 4, -1, -5, 5, -6}, depth = 5;
    zi_tensor_t *indices = zi_tensor_new (index_dtype, 2, (int64_t []) {2, 3});
    for (int item = 0; item < 6; item++)
        s_put (indices, item, (double) raw [item]);
    zi_tensor_t *values = zi_tensor_new (value_dtype, 1, (int64_t []) {2});
    s_put (values, 0, -2);
    s_put (values, 1, 7);
    zi_tensor_t *in [3] = {indices, zi_test_ints (1, &depth), values};
    zi_node_t *node = zi_node_new ("OneHot", "test");
    if (axis != -1)
        zi_node_set_int (node, "axis", axis);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 3, in, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int resolved = axis < 0? axis + 3: axis;
        int64_t dims [3], from = 0;
        for (int dim = 0; dim < 3; dim++)
            dims [dim] = dim == resolved? depth: (int64_t []) {2, 3} [from++];
        zi_tensor_t *want = zi_tensor_new (value_dtype, 3, dims);
        for (int64_t item = 0; item < 30; item++) {
            int64_t coords [3], index_coords [2], used = 0;
            s_coords (3, dims, item, coords);
            for (int dim = 0; dim < 3; dim++)
                if (dim != resolved)
                    index_coords [used++] = coords [dim];
            int64_t index = raw [index_coords [0] * 3 + index_coords [1]];
            bool hot = index == coords [resolved] || index + depth == coords [resolved];
            s_put (want, item, hot? 7: -2);
        }
        int64_t wrong = s_first_difference (y, want);
        ZI_CHECK (t, wrong < 0, "%s: first wrong at %lld", what, (long long) wrong);
        zi_tensor_destroy (&want);
    }
    zi_tensor_destroy (&y);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&in [slot]);
    zi_node_destroy (&node);
}

static void
s_test_trilu (zi_test_t *t, zi_dtype_t dtype, bool upper, int64_t k, bool k_given)
{
    char what [120];
    snprintf (what, sizeof what, "Trilu %s %s k %lld%s", zi_dtype_name (dtype),
              upper? "upper": "lower", (long long) k, k_given? "": " (default)");
    int64_t dims [3] = {2, 4, 5};
    zi_tensor_t *in [2] = {s_data (dtype, 3, dims, (uint32_t) (k + 20)),
                           k_given? zi_test_ints (1, &k): NULL};
    zi_node_t *node = zi_node_new ("Trilu", "test");
    if (!upper)
        zi_node_set_int (node, "upper", 0);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, k_given? 2: 1, in, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        zi_tensor_t *want = zi_tensor_new (dtype, 3, dims);
        for (int64_t item = 0; item < 40; item++) {
            int64_t coords [3];
            s_coords (3, dims, item, coords);
            int64_t above = coords [2] - coords [1];
            bool kept = upper? above >= k: above <= k;
            s_put (want, item, kept? s_get (in [0], item): 0);
        }
        int64_t wrong = s_first_difference (y, want);
        ZI_CHECK (t, wrong < 0, "%s: first wrong at %lld", what, (long long) wrong);
        zi_tensor_destroy (&want);
    }
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&in [0]);
    zi_tensor_destroy (&in [1]);
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
zi_act_index_test (zi_test_t *t)
{
    uint32_t seed = 3;
    zi_dtype_t dtypes [2] = {ZI_F32, ZI_I64};
    for (int kind = 0; kind < 2; kind++)
        for (int axis = 0; axis < 3; axis++) {
            s_test_elements (t, false, dtypes [kind], axis, S_NONE, seed++);
            for (int reduction = 0; reduction < 5; reduction++)
                s_test_elements (t, true, dtypes [kind], axis, reduction, seed++);
        }
    for (int kind = 0; kind < 2; kind++)
        for (int depth = 1; depth <= 3; depth++)
            for (int reduction = 0; reduction < 5; reduction++)
                s_test_scatter_nd (t, dtypes [kind], depth, reduction, seed++);
    for (int axis = -1; axis < 3; axis++) {
        s_test_onehot (t, axis, ZI_I64, ZI_F32);
        s_test_onehot (t, axis, ZI_F32, ZI_I64);
    }
    int64_t ks [5] = {-2, 0, 1, 3, 7};
    for (int kind = 0; kind < 2; kind++)
        for (int upper = 0; upper < 2; upper++) {
            s_test_trilu (t, dtypes [kind], upper, 0, false);
            for (int pick = 0; pick < 5; pick++)
                s_test_trilu (t, dtypes [kind], upper, ks [pick], true);
        }

    //  Scatter, the name before opset 11, and bool data
    {
        zi_tensor_t *in [3] = {
            zi_test_data (ZI_BOOL, 2, (int64_t []) {2, 3}, 1),
            zi_test_ints (3, (int64_t []) {2, 0, -2}),
            zi_tensor_new (ZI_BOOL, 1, (int64_t []) {3})
        };
        zi_tensor_t *flat = zi_tensor_new (ZI_BOOL, 1, (int64_t []) {6});
        memcpy (flat->data, in [0]->data, 6);
        zi_tensor_destroy (&in [0]);
        in [0] = flat;
        memcpy (in [2]->data, (uint8_t []) {1, 0, 1}, 3);
        zi_node_t *node = zi_node_new ("Scatter", "test");
        node->opset = 9;
        zi_tensor_t *y = NULL;
        int rc = zi_test_run_op (node, 3, in, 1, &y);
        uint8_t want [6];
        memcpy (want, flat->data, 6);
        want [2] = 1;
        want [0] = 0;
        want [4] = 1;
        ZI_CHECK (t, rc == 0 && memcmp (y->data, want, 6) == 0, "Scatter (opset 9) of bools");
        zi_tensor_destroy (&y);
        for (int slot = 0; slot < 3; slot++)
            zi_tensor_destroy (&in [slot]);
        zi_node_destroy (&node);
    }

    //  NonZero on a constant, and refused on anything else
    {
        int64_t dims [2] = {3, 4};
        zi_tensor_t *x = s_data (ZI_F32, 2, dims, 5), *y = NULL;
        zi_tensor_f32 (x) [0] = 0;
        zi_tensor_f32 (x) [11] = 0;
        int64_t want [2][12], found = 0;
        for (int64_t item = 0; item < 12; item++)
            if (zi_tensor_f32 (x) [item] != 0) {
                want [0][found] = item / 4;
                want [1][found++] = item % 4;
            }
        zi_node_t *node = zi_node_new ("NonZero", "test");
        int rc = zi_test_run_op (node, 1, &x, 1, &y);
        bool same = rc == 0 && y->ndim == 2 && y->dims [0] == 2 && y->dims [1] == found;
        for (int64_t item = 0; same && item < found; item++)
            same = zi_tensor_i64 (y) [item] == want [0][item]
                && zi_tensor_i64 (y) [found + item] == want [1][item];
        ZI_CHECK (t, same, "NonZero of a constant: %lld coordinates", (long long) found);
        zi_tensor_destroy (&y);
        zi_tensor_t *shape = zi_test_shape_only (ZI_F32, 2, dims);
        zi_tensor_t *out = zi_test_shape_only (ZI_I64, 0, NULL);
        rc = node->op->infer (node, (const zi_tensor_t *const *) &shape, &out);
        ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), "must be a constant"),
                  "NonZero of a run-time input refused: %s", zi_error_text ());
        zi_tensor_destroy (&shape);
        zi_tensor_destroy (&out);
        zi_tensor_destroy (&x);
        zi_node_destroy (&node);
    }

    //  Errors
    int64_t dims [2] = {3, 4};
    zi_tensor_t *data = s_data (ZI_F32, 2, dims, 1);
    zi_tensor_t *bad = zi_test_ints (2, (int64_t []) {1, 3});
    zi_tensor_t *index = zi_tensor_new (ZI_I64, 2, (int64_t []) {1, 2});
    memcpy (index->data, (int64_t []) {1, 3}, 16);
    zi_tensor_t *in [3] = {data, index, NULL};
    s_check_error (t, zi_node_new ("GatherElements", "test"), 2, in,
                   "input 1 (indices) [1] = 3 is out of range for an axis of size 3");
    zi_tensor_t *wrong_rank [2] = {data, bad};
    s_check_error (t, zi_node_new ("GatherElements", "test"), 2, wrong_rank,
                   "expected 2 dimensions as the data has, got 1");
    zi_node_t *node = zi_node_new ("ScatterElements", "test");
    node->opset = 13;
    zi_node_set_string (node, "reduction", "add");
    s_check_error (t, node, 3, (zi_tensor_t *[]) {data, index, index},
                   "'add' is an opset 16 form");
    node = zi_node_new ("ScatterElements", "test");
    zi_node_set_string (node, "reduction", "max");
    node->opset = 16;
    s_check_error (t, node, 3, (zi_tensor_t *[]) {data, index, index}, "opset 18 form");
    node = zi_node_new ("ScatterElements", "test");
    zi_node_set_string (node, "reduction", "mean");
    s_check_error (t, node, 3, (zi_tensor_t *[]) {data, index, index},
                   "expected none, add, mul, max or min");
    s_check_error (t, zi_node_new ("ScatterElements", "test"), 3,
                   (zi_tensor_t *[]) {data, index, bad}, "expected the indices' shape [1, 2]");
    s_check_error (t, zi_node_new ("ScatterND", "test"), 3, (zi_tensor_t *[]) {data, index, bad},
                   "expected shape [1] (indices' leading dimensions, then the data's last 0)");
    zi_tensor_t *depth = zi_test_ints (1, (int64_t []) {0});
    s_check_error (t, zi_node_new ("OneHot", "test"), 3, (zi_tensor_t *[]) {bad, depth, bad},
                   "input 1 (depth) = 0; expected at least 1");
    s_check_error (t, zi_node_new ("Trilu", "test"), 1, &bad, "expected at least 2 dimensions");
    //  Dtypes, checked from the op entries
    s_check_error (t, zi_node_new ("GatherElements", "test"), 2, (zi_tensor_t *[]) {data, data},
                   "GatherElements at node 'test': input 1 is float32, expected int32 or int64");
    s_check_error (t, zi_node_new ("Trilu", "test"), 2, (zi_tensor_t *[]) {data, data},
                   "input 1 is float32, expected int64");
    zi_tensor_t *narrow = zi_tensor_new (ZI_I32, 2, dims);
    s_check_error (t, zi_node_new ("NonZero", "test"), 1, &narrow,
                   "input 0 is int32, expected float32, int64 or bool");
    zi_tensor_destroy (&narrow);
    zi_tensor_destroy (&depth);
    zi_tensor_destroy (&data);
    zi_tensor_destroy (&bad);
    zi_tensor_destroy (&index);
}
