/*  =========================================================================
    act_slice - taking and widening a window of each axis: Slice, Pad

    Slice is one strided copy (act_layout.h), its steps the strides, a
    negative step a negative stride. Pad writes its constant and copies the
    input into the middle; reflect, edge and wrap map each output index of
    an axis to an input index through a table.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_layout.h"

//  Short names for the element types (act_layout.h), for the macros below
typedef zi_layout_e1_t s_e1_t;
typedef zi_layout_e2_t s_e2_t;
typedef zi_layout_e4_t s_e4_t;
typedef zi_layout_e8_t s_e8_t;

//  Pads beyond this are refused so that dims + pads cannot overflow
#define S_PAD_MAX       (INT64_C (1) << 40)

//  --------------------------------------------------------------------------
//  Slice: starts, ends, axes as attributes (before opset 10) or starts,
//  ends, axes, steps as constant inputs (from 10)

typedef struct {
    bool has_attrs;                 //  starts and ends came as attributes
    int n_starts, n_ends, n_axes;   //  values in each attribute
    int64_t starts [ZI_MAX_DIMS];   //  attribute starts
    int64_t ends [ZI_MAX_DIMS];     //  attribute ends
    int64_t axes [ZI_MAX_DIMS];     //  attribute axes
} s_slice_t;

//  What a slice takes from one input axis
typedef struct {
    int64_t start [ZI_MAX_DIMS];    //  first index taken
    int64_t step [ZI_MAX_DIMS];     //  distance between indices taken
    int64_t count [ZI_MAX_DIMS];    //  number of indices taken
} s_slice_plan_t;

static int
s_slice_init (zi_node_t *node)
{
    s_slice_t self = {.has_attrs = zi_node_attr (node, "starts") != NULL};
    self.n_starts = zi_node_attr_ints (node, "starts", self.starts, ZI_MAX_DIMS);
    self.n_ends = zi_node_attr_ints (node, "ends", self.ends, ZI_MAX_DIMS);
    self.n_axes = zi_node_attr_ints (node, "axes", self.axes, ZI_MAX_DIMS);
    if (self.n_starts < 0 || self.n_ends < 0 || self.n_axes < 0)
        return -1;
    if (node->opset < 10 && !self.has_attrs)
        return zi_error ("attribute 'starts' is required before opset 10");
    return zi_layout_keep (node, &self, sizeof self);
}

//  The effective start, step and count of each axis, clamped as the spec
//  says: starts to [0, dim] going forward and [0, dim - 1] going back,
//  ends to [0, dim] and [-1, dim - 1]
static int
s_slice_plan (const zi_node_t *node, const zi_tensor_t *const *in, s_slice_plan_t *plan)
{
    const s_slice_t *self = node->params;
    const zi_tensor_t *data = in [0];
    int rank = data->ndim;
    int64_t starts [ZI_MAX_DIMS], ends [ZI_MAX_DIMS], axes [ZI_MAX_DIMS], steps [ZI_MAX_DIMS];
    int n_starts, n_ends, n_axes, n_steps = 0;
    if (self->has_attrs) {
        n_starts = self->n_starts;
        n_ends = self->n_ends;
        n_axes = self->n_axes;
        memcpy (starts, self->starts, sizeof starts);
        memcpy (ends, self->ends, sizeof ends);
        memcpy (axes, self->axes, sizeof axes);
    }
    else {
        if (!zi_layout_input (node, in, 1) || !zi_layout_input (node, in, 2))
            return zi_error ("inputs 1 (starts) and 2 (ends) are required");
        n_starts = zi_input_ints (in [1], starts, ZI_MAX_DIMS, "input 1 (starts)");
        n_ends = zi_input_ints (in [2], ends, ZI_MAX_DIMS, "input 2 (ends)");
        n_axes = zi_input_ints (zi_layout_input (node, in, 3), axes, ZI_MAX_DIMS, "input 3 (axes)");
        n_steps = zi_input_ints (zi_layout_input (node, in, 4), steps, ZI_MAX_DIMS, "input 4 (steps)");
        if (n_starts < 0 || n_ends < 0 || n_axes < 0 || n_steps < 0)
            return -1;
        if (zi_layout_input (node, in, 3) && n_axes != n_starts)
            return zi_error ("input 3 (axes) has %d values, starts has %d", n_axes, n_starts);
        if (zi_layout_input (node, in, 4) && n_steps != n_starts)
            return zi_error ("input 4 (steps) has %d values, starts has %d", n_steps, n_starts);
    }
    if (n_ends != n_starts)
        return zi_error ("starts has %d values, ends has %d", n_starts, n_ends);
    if (n_axes && n_axes != n_starts)
        return zi_error ("axes has %d values, starts has %d", n_axes, n_starts);
    if (!n_axes && n_starts > rank)
        return zi_error ("starts has %d values for a %d-d input", n_starts, rank);

    for (int axis = 0; axis < rank; axis++) {
        plan->start [axis] = 0;
        plan->step [axis] = 1;
        plan->count [axis] = data->dims [axis];
    }
    bool seen [ZI_MAX_DIMS] = {false};
    for (int index = 0; index < n_starts; index++) {
        int axis = index;
        if (n_axes && zi_layout_axis (axes [index], rank, "axis", &axis))
            return -1;
        if (seen [axis])
            return zi_error ("axis %lld is given twice", (long long) axes [index]);
        seen [axis] = true;
        int64_t dim = data->dims [axis];
        int64_t step = n_steps? steps [index]: 1;
        if (step == 0)
            return zi_error ("step of axis %d is 0", axis);
        if (dim == 0) {
            plan->count [axis] = 0;
            continue;
        }
        //  A step longer than the axis takes at most one element; capping
        //  it keeps step * stride from overflowing
        step = step > dim? dim: step < -dim? -dim: step;
        int64_t start = starts [index] < 0? starts [index] + dim: starts [index];
        int64_t end = ends [index] < 0? ends [index] + dim: ends [index];
        int64_t count;
        if (step > 0) {
            start = start < 0? 0: start > dim? dim: start;
            end = end < 0? 0: end > dim? dim: end;
            count = end > start? (end - start - 1) / step + 1: 0;
        }
        else {
            start = start < 0? 0: start > dim - 1? dim - 1: start;
            end = end < -1? -1: end > dim - 1? dim - 1: end;
            count = start > end? (start - end - 1) / -step + 1: 0;
        }
        plan->start [axis] = start;
        plan->step [axis] = step;
        plan->count [axis] = count;
    }
    return 0;
}

static int
s_slice_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_slice_plan_t plan;
    if (s_slice_plan (node, in, &plan))
        return -1;
    zi_tensor_set_shape (out [0], in [0]->dtype, in [0]->ndim, plan.count);
    return 0;
}

static int
s_slice_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
             zi_tensor_t *const *out)
{
    s_slice_plan_t plan;
    if (s_slice_plan (node, in, &plan))
        return -1;
    if (out [0]->nbytes == 0)
        return 0;                   //  starts may point past the data
    const zi_tensor_t *data = in [0];
    int64_t src_strides [ZI_MAX_DIMS], dst_strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, src_strides);
    zi_shape_strides (data->ndim, plan.count, dst_strides);
    zi_walk_t walk = {0};
    int64_t first = 0;
    for (int axis = 0; axis < data->ndim; axis++) {
        zi_walk_add (&walk, plan.count [axis], src_strides [axis] * plan.step [axis],
                     dst_strides [axis]);
        first += plan.start [axis] * src_strides [axis];
    }
    size_t esize = zi_dtype_size (data->dtype);
    zi_walk_copy (&walk, out [0]->data, zi_layout_at (data->data, first, esize), esize);
    return 0;
}

const zi_op_t zi_op_Slice = {
    .name = "Slice", .min_inputs = 1, .max_inputs = 5, .max_outputs = 1,
    .batch = ZI_BATCH_SLICE,
    .init = s_slice_init, .infer = s_slice_infer, .run = s_slice_run
};

//  --------------------------------------------------------------------------
//  Pad: pads as attribute (before opset 11) or constant input (from 11),
//  optional axes (opset 18), mode wrap (opset 19). Negative pads crop;
//  reflect, edge and wrap work on what is left after cropping, as ONNX
//  Runtime does. Wrap treats each axis as a circle, so pads longer than
//  the axis go round it more than once (numpy.pad's wrap).

typedef enum {
    S_PAD_CONSTANT,
    S_PAD_REFLECT,
    S_PAD_EDGE,
    S_PAD_WRAP
} s_pad_mode_t;

typedef struct {
    s_pad_mode_t mode;              //  how new elements are made
    bool has_pads;                  //  pads came as an attribute
    int n_pads;                     //  values in the attribute
    int64_t pads [2 * ZI_MAX_DIMS]; //  all begins, then all ends
    float value;                    //  fill value attribute (before opset 11)
} s_pad_t;

//  Begin and end pads per input axis
typedef struct {
    int64_t begin [ZI_MAX_DIMS];    //  added (or cropped, if negative) in front
    int64_t end [ZI_MAX_DIMS];      //  added (or cropped) at the back
} s_pad_plan_t;

static int
s_pad_init (zi_node_t *node)
{
    s_pad_t self = {
        .has_pads = zi_node_attr (node, "pads") != NULL,
        .value = zi_node_attr_float (node, "value", 0)
    };
    const char *mode = zi_node_attr_string (node, "mode", "constant");
    if (strcmp (mode, "constant") == 0)
        self.mode = S_PAD_CONSTANT;
    else
    if (strcmp (mode, "reflect") == 0)
        self.mode = S_PAD_REFLECT;
    else
    if (strcmp (mode, "edge") == 0)
        self.mode = S_PAD_EDGE;
    else
    if (strcmp (mode, "wrap") == 0 && node->opset >= 19)
        self.mode = S_PAD_WRAP;
    else
    if (strcmp (mode, "wrap") == 0)
        return zi_error ("attribute 'mode' = 'wrap' exists from opset 19; the model imports "
                         "opset %d", node->opset);
    else
        return zi_error ("attribute 'mode' = '%s' is not supported "
                         "(supported: constant, reflect, edge, wrap)", mode);
    self.n_pads = zi_node_attr_ints (node, "pads", self.pads, 2 * ZI_MAX_DIMS);
    if (self.n_pads < 0)
        return -1;
    if (node->opset < 11 && !self.has_pads)
        return zi_error ("attribute 'pads' is required before opset 11");
    return zi_layout_keep (node, &self, sizeof self);
}

static int
s_pad_plan (const zi_node_t *node, const zi_tensor_t *const *in, s_pad_plan_t *plan)
{
    const s_pad_t *self = node->params;
    const zi_tensor_t *data = in [0];
    int rank = data->ndim;
    int64_t pads [2 * ZI_MAX_DIMS], axes [ZI_MAX_DIMS];
    int n_pads = self->n_pads, n_axes = rank;
    if (self->has_pads)
        memcpy (pads, self->pads, sizeof pads);
    else {
        if (!zi_layout_input (node, in, 1))
            return zi_error ("input 1 (pads) is required");
        n_pads = zi_input_ints (in [1], pads, 2 * ZI_MAX_DIMS, "input 1 (pads)");
        if (n_pads < 0)
            return -1;
    }
    const zi_tensor_t *axes_in = zi_layout_input (node, in, 3);
    if (axes_in) {
        n_axes = zi_input_ints (axes_in, axes, ZI_MAX_DIMS, "input 3 (axes)");
        if (n_axes < 0)
            return -1;
    }
    else
        for (int axis = 0; axis < rank; axis++)
            axes [axis] = axis;
    if (n_pads != 2 * n_axes)
        return zi_error ("pads has %d values, expected %d (a begin and an end for each "
                         "of %d axes)", n_pads, 2 * n_axes, n_axes);
    memset (plan, 0, sizeof *plan);
    bool seen [ZI_MAX_DIMS] = {false};
    for (int index = 0; index < n_axes; index++) {
        int axis;
        if (zi_layout_axis (axes [index], rank, "axis", &axis))
            return -1;
        if (seen [axis])
            return zi_error ("axis %lld is given twice", (long long) axes [index]);
        seen [axis] = true;
        plan->begin [axis] = pads [index];
        plan->end [axis] = pads [index + n_axes];
    }
    static const char *mode_names [] = {"constant", "reflect", "edge", "wrap"};
    for (int axis = 0; axis < rank; axis++) {
        int64_t begin = plan->begin [axis], end = plan->end [axis], dim = data->dims [axis];
        if (begin > S_PAD_MAX || end > S_PAD_MAX || begin < -S_PAD_MAX || end < -S_PAD_MAX)
            return zi_error ("pads %lld, %lld of axis %d are too large",
                             (long long) begin, (long long) end, axis);
        int64_t crop = (begin < 0? -begin: 0) + (end < 0? -end: 0);
        if (crop > dim)
            return zi_error ("pads %lld, %lld crop more than the %lld elements of axis %d",
                             (long long) begin, (long long) end, (long long) dim, axis);
        if (self->mode != S_PAD_CONSTANT && crop == dim && (begin > 0 || end > 0))
            return zi_error ("cannot %s-pad axis %d: it has no elements left",
                             mode_names [self->mode], axis);
    }
    return 0;
}

static int
s_pad_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    s_pad_plan_t plan;
    if (s_pad_plan (node, in, &plan))
        return -1;
    const zi_tensor_t *value = zi_layout_input (node, in, 2);
    if (value && value->dtype != data->dtype)
        return zi_error ("input 2 (constant_value): expected %s like the data, got %s",
                         zi_dtype_name (data->dtype), zi_dtype_name (value->dtype));
    int64_t dims [ZI_MAX_DIMS];
    for (int axis = 0; axis < data->ndim; axis++)
        dims [axis] = data->dims [axis] + plan.begin [axis] + plan.end [axis];
    zi_tensor_set_shape (out [0], data->dtype, data->ndim, dims);
    return 0;
}

//  Fills count elements with the esize-byte value
static void
s_fill (void *data, size_t count, const uint8_t *value, size_t esize)
{
    if (esize == 8) {
        s_e8_t fill, *to = data;
        memcpy (&fill, value, 8);
        for (size_t item = 0; item < count; item++)
            to [item] = fill;
    }
    else
    if (esize == 4) {
        s_e4_t fill, *to = data;
        memcpy (&fill, value, 4);
        for (size_t item = 0; item < count; item++)
            to [item] = fill;
    }
    else
    if (esize == 2) {
        s_e2_t fill, *to = data;
        memcpy (&fill, value, 2);
        for (size_t item = 0; item < count; item++)
            to [item] = fill;
    }
    else
        memset (data, value [0], count);
}

static void
s_pad_constant (const zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *result,
                const s_pad_plan_t *plan)
{
    const s_pad_t *self = node->params;
    const zi_tensor_t *data = in [0];
    size_t esize = zi_dtype_size (data->dtype);
    //  The fill value: input 2 in the data's type, else the float attribute
    uint8_t value [8] = {0};
    const zi_tensor_t *given = zi_layout_input (node, in, 2);
    if (given && given->data && zi_tensor_count (given) > 0)
        memcpy (value, given->data, esize);
    else
        zi_dtype_convert (value, data->dtype, &self->value, ZI_F32, 1);

    int64_t src_strides [ZI_MAX_DIMS], dst_strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, src_strides);
    zi_shape_strides (result->ndim, result->dims, dst_strides);
    zi_walk_t walk = {0};
    int64_t src_at = 0, dst_at = 0, kept = 1;
    bool grows = false;
    for (int axis = 0; axis < data->ndim; axis++) {
        int64_t begin = plan->begin [axis], end = plan->end [axis];
        int64_t extent = data->dims [axis] - (begin < 0? -begin: 0) - (end < 0? -end: 0);
        zi_walk_add (&walk, extent, src_strides [axis], dst_strides [axis]);
        src_at += (begin < 0? -begin: 0) * src_strides [axis];
        dst_at += (begin > 0? begin: 0) * dst_strides [axis];
        grows |= begin > 0 || end > 0;
        kept *= extent;
    }
    if (grows)
        s_fill (result->data, zi_tensor_count (result), value, esize);
    if (kept > 0)
        zi_walk_copy (&walk, zi_layout_at (result->data, dst_at, esize),
                      zi_layout_at (data->data, src_at, esize), esize);
}

//  dst [item] = src [map [item]] for item in [from, to)
#define S_PICK(T) \
static void \
s_pick_##T (T *dst, const T *src, const int64_t *map, int64_t from, int64_t to) \
{ \
    for (int64_t item = from; item < to; item++) \
        dst [item] = src [map [item]]; \
}
S_PICK (s_e1_t)
S_PICK (s_e2_t)
S_PICK (s_e4_t)
S_PICK (s_e8_t)

static void
s_pick (void *dst, const void *src, const int64_t *map, int64_t from, int64_t to,
        size_t esize)
{
    if (esize == 8)
        s_pick_s_e8_t (dst, src, map, from, to);
    else
    if (esize == 4)
        s_pick_s_e4_t (dst, src, map, from, to);
    else
    if (esize == 2)
        s_pick_s_e2_t (dst, src, map, from, to);
    else
        s_pick_s_e1_t (dst, src, map, from, to);
}

//  Reflect, edge and wrap: each output index of an axis maps to an input
//  index through a table; rows copy their middle with memcpy
static int
s_pad_mirror (const zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *data,
              zi_tensor_t *result, const s_pad_plan_t *plan)
{
    const s_pad_t *self = node->params;
    int rank = data->ndim;
    size_t esize = zi_dtype_size (data->dtype);
    if (rank == 0 || result->nbytes == 0) {
        if (result->nbytes)
            memcpy (result->data, data->data, esize);
        return 0;
    }
    int64_t total = 0;
    for (int axis = 0; axis < rank; axis++)
        total += result->dims [axis];
    int64_t *maps = zi_exec_scratch (exec, 0, total * sizeof (int64_t));
    if (!maps)
        return -1;
    int64_t *map [ZI_MAX_DIMS];
    int64_t first [ZI_MAX_DIMS], kept [ZI_MAX_DIMS];
    int64_t used = 0;
    for (int axis = 0; axis < rank; used += result->dims [axis++]) {
        map [axis] = maps + used;
        int64_t begin = plan->begin [axis], end = plan->end [axis];
        first [axis] = begin < 0? -begin: 0;
        kept [axis] = data->dims [axis] - first [axis] - (end < 0? -end: 0);
        int64_t lead = begin > 0? begin: 0, length = kept [axis];
        int64_t period = 2 * (length - 1);
        for (int64_t at = 0; at < result->dims [axis]; at++) {
            int64_t from = at - lead;
            if (from < 0 || from >= length) {
                if (self->mode == S_PAD_EDGE || length == 1)
                    from = from < 0? 0: length - 1;
                else
                if (self->mode == S_PAD_WRAP) {
                    from %= length;
                    from = from < 0? from + length: from;
                }
                else {
                    //  Mirror without repeating the edge: the indices run
                    //  0 1 .. n-1 n-2 .. 1 0 1 .., with period 2 (n - 1)
                    from %= period;
                    from = from < 0? from + period: from;
                    from = from >= length? period - from: from;
                }
            }
            map [axis] [at] = first [axis] + from;
        }
    }
    int64_t src_strides [ZI_MAX_DIMS];
    zi_shape_strides (rank, data->dims, src_strides);
    int inner = rank - 1;
    int64_t width = result->dims [inner];
    int64_t lead = plan->begin [inner] > 0? plan->begin [inner]: 0;
    int64_t index [ZI_MAX_DIMS] = {0};
    char *dst = result->data;
    while (true) {
        int64_t src_at = 0;
        for (int axis = 0; axis < inner; axis++)
            src_at += map [axis] [index [axis]] * src_strides [axis];
        const char *src = zi_layout_at (data->data, src_at, esize);
        s_pick (dst, src, map [inner], 0, lead, esize);
        memcpy (dst + lead * esize, src + first [inner] * esize, kept [inner] * esize);
        s_pick (dst, src, map [inner], lead + kept [inner], width, esize);
        dst += width * esize;
        int axis = inner - 1;
        for (; axis >= 0; axis--) {
            if (++index [axis] < result->dims [axis])
                break;
            index [axis] = 0;
        }
        if (axis < 0)
            break;
    }
    return 0;
}

static int
s_pad_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
           zi_tensor_t *const *out)
{
    const s_pad_t *self = node->params;
    s_pad_plan_t plan;
    if (s_pad_plan (node, in, &plan))
        return -1;
    if (self->mode == S_PAD_CONSTANT)
        s_pad_constant (node, in, out [0], &plan);
    else
    if (s_pad_mirror (node, exec, in [0], out [0], &plan))
        return -1;
    return 0;
}

const zi_op_t zi_op_Pad = {
    .name = "Pad", .min_inputs = 1, .max_inputs = 4, .max_outputs = 1,
    .batch = ZI_BATCH_PAD,
    .init = s_pad_init, .infer = s_pad_infer, .run = s_pad_run
};

//  --------------------------------------------------------------------------
//  Self test: Slice and Pad against references that index every element

//  The indices a slice takes from an axis, by the spec's clamping rules,
//  listed one by one
static int
s_test_slice_axis (int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *taken)
{
    if (start < 0)
        start += dim;
    if (end < 0)
        end += dim;
    int count = 0;
    if (step > 0) {
        if (start < 0) start = 0;
        if (start > dim) start = dim;
        if (end < 0) end = 0;
        if (end > dim) end = dim;
        for (int64_t at = start; at < end; at += step) {
            taken [count++] = at;
            if (at > INT64_MAX - step)
                break;
        }
    }
    else {
        if (start < 0) start = 0;
        if (start > dim - 1) start = dim - 1;
        if (end < -1) end = -1;
        if (end > dim - 1) end = dim - 1;
        for (int64_t at = start; at > end; at += step) {
            taken [count++] = at;
            if (at < INT64_MIN - step)
                break;
        }
    }
    return count;
}

static void
s_test_slice (zi_test_t *t)
{
    int64_t dims [] = {5, 6, 7};
    struct {
        int opset;                      //  < 10: attributes
        int n;                          //  values in each list
        int64_t starts [3], ends [3];
        int64_t axes [3];               //  all 0 and !has_axes: absent
        int64_t steps [3];              //  all 0: absent
        bool has_axes;
    } cases [] = {
        {13, 1, {1}, {4}, {1}, {0}, true},
        {13, 2, {-1, 0}, {INT64_MIN, INT64_MAX}, {0, 2}, {-1, 2}, true},
        {13, 1, {-2}, {-100}, {-1}, {-3}, true},
        {13, 1, {100}, {-100}, {1}, {-2}, true},        //  start clamps to dim - 1
        {13, 1, {INT64_MAX}, {INT64_MIN}, {2}, {INT64_MIN}, true},
        {13, 1, {3}, {3}, {0}, {1}, true},              //  empty
        {13, 1, {-100}, {100}, {-3}, {INT64_MAX}, true},
        {13, 3, {0, 1, 2}, {5, 6, 7}, {0}, {2, 2, 2}, false},
        {13, 3, {4, 5, 6}, {-6, -7, -8}, {2, 0, 1}, {-1, -2, -3}, true},
        {10, 2, {1, -3}, {-1, 1000}, {-1, 0}, {0}, true},
        {9, 2, {1, 0}, {2, 3}, {0, 1}, {0}, true},
        {9, 2, {0, 1}, {-1, 1000}, {0}, {0}, false}
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            int n = cases [index].n;
            bool has_steps = cases [index].steps [0] != 0;
            zi_node_t *node = zi_node_new ("Slice", "test");
            node->opset = cases [index].opset;
            zi_tensor_t *inputs [5] = {
                zi_test_data (zi_layout_test_dtypes [kind], 3, dims, 40 + index)
            };
            int n_inputs = 1;
            if (node->opset < 10) {
                zi_node_set_ints (node, "starts", n, cases [index].starts);
                zi_node_set_ints (node, "ends", n, cases [index].ends);
                if (cases [index].has_axes)
                    zi_node_set_ints (node, "axes", n, cases [index].axes);
            }
            else {
                inputs [1] = zi_test_ints (n, cases [index].starts);
                inputs [2] = zi_test_ints (n, cases [index].ends);
                inputs [3] = cases [index].has_axes? zi_test_ints (n, cases [index].axes): NULL;
                inputs [4] = has_steps? zi_test_ints (n, cases [index].steps): NULL;
                n_inputs = has_steps? 5: cases [index].has_axes? 4: 3;
            }
            zi_tensor_t *got = zi_layout_test_run1 (node, n_inputs, inputs);
            if (!got)
                ZI_CHECK (t, false, "Slice case %zu: %s", index, zi_error_text ());

            //  Index lists per axis, then every combination of them
            int64_t taken [3] [8], counts [3];
            for (int axis = 0; axis < 3; axis++) {
                counts [axis] = dims [axis];
                for (int item = 0; item < dims [axis]; item++)
                    taken [axis] [item] = item;
            }
            for (int item = 0; item < n; item++) {
                int64_t axis = cases [index].has_axes? cases [index].axes [item]: item;
                axis = axis < 0? axis + 3: axis;
                counts [axis] = s_test_slice_axis (dims [axis], cases [index].starts [item],
                                                   cases [index].ends [item],
                                                   has_steps? cases [index].steps [item]: 1,
                                                   taken [axis]);
            }
            zi_tensor_t *want = zi_tensor_new (inputs [0]->dtype, 3, counts);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t out_index [3], in_index [3];
                zi_layout_test_unravel (at, 3, counts, out_index);
                for (int axis = 0; axis < 3; axis++)
                    in_index [axis] = taken [axis] [out_index [axis]];
                zi_layout_test_set (want, at, inputs [0], zi_layout_test_ravel (3, dims, in_index));
            }
            char shape [64];
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Slice case %zu (opset %d) on %s: want %s",
                      index, cases [index].opset, zi_dtype_name (zi_layout_test_dtypes [kind]),
                      zi_shape_str (3, counts, shape, sizeof shape));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_layout_test_free (inputs, 5);
        }

    //  The spec's two examples, with their outputs as the spec states them
    float data [] = {1, 2, 3, 4, 5, 6, 7, 8};
    zi_tensor_t *inputs [5] = {
        zi_test_tensor (2, (int64_t []) {2, 4}, data),
        zi_test_ints (2, (int64_t []) {1, 0}), zi_test_ints (2, (int64_t []) {2, 3}),
        zi_test_ints (2, (int64_t []) {0, 1}), zi_test_ints (2, (int64_t []) {1, 2})
    };
    zi_tensor_t *got = zi_layout_test_run1 (zi_node_new ("Slice", "test"), 5, inputs);
    ZI_CHECK (t, got && got->dims [0] == 1 && got->dims [1] == 2
              && zi_tensor_f32 (got) [0] == 5 && zi_tensor_f32 (got) [1] == 7,
              "Slice spec example 1");
    zi_tensor_destroy (&got);
    zi_layout_test_free (inputs + 1, 4);
    inputs [1] = zi_test_ints (2, (int64_t []) {0, 1});
    inputs [2] = zi_test_ints (2, (int64_t []) {-1, 1000});
    got = zi_layout_test_run1 (zi_node_new ("Slice", "test"), 3, inputs);
    ZI_CHECK (t, got && got->dims [0] == 1 && got->dims [1] == 3
              && zi_tensor_f32 (got) [0] == 2 && zi_tensor_f32 (got) [2] == 4,
              "Slice spec example 2");
    zi_tensor_destroy (&got);
    zi_layout_test_free (inputs, 3);

    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {0});
    inputs [2] = zi_test_ints (1, (int64_t []) {3});
    inputs [3] = zi_test_ints (1, (int64_t []) {1});
    inputs [4] = zi_test_ints (1, (int64_t []) {0});
    zi_layout_test_fails (t, zi_node_new ("Slice", "test"), 5, inputs, 1, "Slice with step 0",
                          "step", "is 0");
    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {0});
    inputs [2] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {1});
    zi_layout_test_fails (t, zi_node_new ("Slice", "test"), 3, inputs, 1,
                          "Slice with computed ends", "ends", "must be a constant");
    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {0, 0});
    inputs [2] = zi_test_ints (2, (int64_t []) {1, 1});
    inputs [3] = zi_test_ints (2, (int64_t []) {1, -2});
    zi_layout_test_fails (t, zi_node_new ("Slice", "test"), 4, inputs, 1,
                          "Slice with a repeated axis", "twice", NULL);
}

//  Source index of output index `at` of a padded axis, by the modes'
//  definitions: crop, then reflect back and forth, clamp to the edge or
//  go round the axis as round a circle
static int64_t
s_test_pad_source (int mode, int64_t dim, int64_t begin, int64_t end, int64_t at)
{
    int64_t first = begin < 0? -begin: 0;
    int64_t length = dim - first - (end < 0? -end: 0);
    int64_t from = at - (begin > 0? begin: 0);
    if (from >= 0 && from < length)
        return first + from;
    if (mode == 0)
        return -1;                      //  the fill value
    if (mode == 2 || length == 1)
        return first + (from < 0? 0: length - 1);
    if (mode == 3) {
        while (from < 0)
            from += length;
        return first + from % length;
    }
    while (from < 0 || from >= length)
        from = from < 0? -from: 2 * (length - 1) - from;
    return first + from;
}

static void
s_test_pad (zi_test_t *t)
{
    static const char *modes [] = {"constant", "reflect", "edge", "wrap"};
    struct {
        int opset;                      //  < 11: attributes
        int mode;                       //  index into modes
        int ndim;
        int64_t dims [3];
        int64_t pads [6];               //  begins, then ends, over axes
        int n_axes;                     //  0: all axes, no axes input
        int64_t axes [3];
        double value;                   //  constant fill
    } cases [] = {
        {13, 0, 2, {3, 4}, {1, 2, 0, 3}, 0, {0}, 1.5},
        {9, 0, 2, {3, 4}, {0, 1, 2, 0}, 0, {0}, -2},
        {13, 0, 3, {2, 3, 4}, {0, -1, 2, 1, 1, -2}, 0, {0}, 0},      //  crop and pad
        {13, 0, 2, {5, 6}, {-1, -2, -2, -1}, 0, {0}, 0},              //  crop only
        {13, 1, 2, {3, 2}, {0, 2, 0, 0}, 0, {0}, 0},                  //  the spec's example
        {13, 1, 2, {3, 4}, {2, 3, 1, 2}, 0, {0}, 0},
        {13, 1, 2, {3, 3}, {7, 1, 6, 5}, 0, {0}, 0},                  //  beyond the size
        {13, 1, 3, {2, 3, 5}, {1, 0, -1, 0, 2, 3}, 0, {0}, 0},        //  crop then reflect
        {10, 1, 2, {3, 4}, {1, 1, 1, 1}, 0, {0}, 0},
        {13, 2, 2, {3, 4}, {2, 0, 1, 5}, 0, {0}, 0},
        {13, 2, 3, {2, 3, 5}, {0, -2, 1, 1, 3, -1}, 0, {0}, 0},
        {18, 0, 3, {2, 3, 5}, {1, 2}, 1, {-1}, 3},                    //  axes input
        {18, 2, 3, {2, 3, 5}, {1, 2, 3, 0}, 2, {0, 2}, 0},
        {13, 1, 1, {1}, {2, 3}, 0, {0}, 0},                           //  one element
        {19, 3, 2, {3, 4}, {1, 2, 2, 3}, 0, {0}, 0},
        {19, 3, 2, {3, 2}, {7, 5, 4, 9}, 0, {0}, 0},                  //  round more than once
        {19, 3, 3, {2, 3, 5}, {1, -1, -2, 0, 2, 3}, 0, {0}, 0},       //  crop then wrap
        {19, 3, 3, {2, 4, 5}, {-1, 2, 6, -1}, 2, {1, -1}, 0},         //  axes input
        {19, 3, 1, {1}, {3, 2}, 0, {0}, 0}                            //  one element
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = zi_layout_test_dtypes [kind];
            int ndim = cases [index].ndim, n_axes = cases [index].n_axes;
            int n_pads = 2 * (n_axes? n_axes: ndim);
            zi_node_t *node = zi_node_new ("Pad", "test");
            node->opset = cases [index].opset;
            zi_node_set_string (node, "mode", modes [cases [index].mode]);
            zi_tensor_t *inputs [4] = {zi_test_data (dtype, ndim, cases [index].dims, index)};
            int n_inputs = 1;
            //  The fill value as the data's type
            zi_tensor_t *fill = zi_tensor_new (dtype, 0, NULL);
            double value = cases [index].value;
            float real = (float) value;
            zi_dtype_convert (fill->data, dtype, &real, ZI_F32, 1);
            if (node->opset < 11) {
                zi_node_set_ints (node, "pads", n_pads, cases [index].pads);
                if (value != 0)
                    zi_node_set_float (node, "value", (float) value);
            }
            else {
                inputs [1] = zi_test_ints (n_pads, cases [index].pads);
                inputs [2] = value != 0? zi_tensor_dup (fill): NULL;
                inputs [3] = n_axes? zi_test_ints (n_axes, cases [index].axes): NULL;
                n_inputs = n_axes? 4: value != 0? 3: 2;
            }
            zi_tensor_t *got = zi_layout_test_run1 (node, n_inputs, inputs);
            if (!got)
                ZI_CHECK (t, false, "Pad case %zu: %s", index, zi_error_text ());

            int64_t begin [3] = {0}, end [3] = {0}, out_dims [3];
            for (int item = 0; item < n_pads / 2; item++) {
                int64_t axis = n_axes? cases [index].axes [item]: item;
                axis = axis < 0? axis + ndim: axis;
                begin [axis] = cases [index].pads [item];
                end [axis] = cases [index].pads [item + n_pads / 2];
            }
            for (int axis = 0; axis < ndim; axis++)
                out_dims [axis] = cases [index].dims [axis] + begin [axis] + end [axis];
            zi_tensor_t *want = zi_tensor_new (dtype, ndim, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [3], from [3];
                bool inside = true;
                zi_layout_test_unravel (at, ndim, out_dims, where);
                for (int axis = 0; axis < ndim; axis++) {
                    from [axis] = s_test_pad_source (cases [index].mode, cases [index].dims [axis],
                                                     begin [axis], end [axis], where [axis]);
                    inside &= from [axis] >= 0;
                }
                if (inside)
                    zi_layout_test_set (want, at, inputs [0], zi_layout_test_ravel (ndim, cases [index].dims, from));
                else
                    zi_layout_test_set (want, at, fill, 0);
            }
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Pad case %zu (%s, opset %d) on %s", index,
                      modes [cases [index].mode], cases [index].opset, zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_tensor_destroy (&fill);
            zi_layout_test_free (inputs, 4);
        }
    //  The spec's reflect example, as the spec writes its output
    float data [] = {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f};
    float expected [] = {1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f};
    zi_node_t *node = zi_node_new ("Pad", "test");
    zi_node_set_string (node, "mode", "reflect");
    zi_tensor_t *inputs [4] = {
        zi_test_tensor (2, (int64_t []) {3, 2}, data), zi_test_ints (4, (int64_t []) {0, 2, 0, 0})
    };
    zi_tensor_t *got = zi_layout_test_run1 (node, 2, inputs);
    ZI_CHECK (t, got && got->dims [1] == 4 && memcmp (got->data, expected, sizeof expected) == 0,
              "Pad spec reflect example");
    zi_tensor_destroy (&got);
    zi_layout_test_free (inputs, 2);

    node = zi_node_new ("Pad", "test");
    node->opset = 18;
    zi_node_set_string (node, "mode", "wrap");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, 1});
    zi_layout_test_fails (t, node, 2, inputs, 1, "Pad mode wrap before opset 19",
                          "'wrap' exists from opset 19", "imports opset 18");
    node = zi_node_new ("Pad", "test");
    node->opset = 19;
    zi_node_set_string (node, "mode", "wrap");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (4, (int64_t []) {0, 1, 0, -3});
    zi_layout_test_fails (t, node, 2, inputs, 1, "Pad wrap of a cropped-away axis",
                          "cannot wrap-pad axis 1", "no elements left");
    node = zi_node_new ("Pad", "test");
    zi_node_set_string (node, "mode", "mirror");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, 1});
    zi_layout_test_fails (t, node, 2, inputs, 1, "Pad mode mirror", "'mirror' is not supported",
                          "wrap");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, 1});
    zi_layout_test_fails (t, zi_node_new ("Pad", "test"), 2, inputs, 1, "Pad with too few pads",
                          "pads has 2 values", "expected 4");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {-2, -2});
    zi_layout_test_fails (t, zi_node_new ("Pad", "test"), 2, inputs, 1, "Pad cropping too much",
                          "crop more", NULL);
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {2});
    zi_layout_test_fails (t, zi_node_new ("Pad", "test"), 2, inputs, 1, "Pad with computed pads",
                          "pads", "must be a constant");
}

void
zi_act_slice_test (zi_test_t *t)
{
    s_test_slice (t);
    s_test_pad (t);
}
