/*  =========================================================================
    act_layout - ops that move elements to new places: Transpose, Slice,
    Concat, Split, Gather, Expand, Tile, Pad

    Most of them are one strided copy: each output element comes from the
    input at sum (index [axis] * stride [axis]), where a stride may be 0
    (broadcast, Expand and Tile) or negative (Slice with negative steps).
    s_walk_t describes such a copy. Before it runs, size-1 axes are dropped
    and axes that continue each other are merged, so the inner loop is as
    long as possible and becomes a memcpy where the source is contiguous.
    When the inner loop would read across the source (most transposes), the
    copy goes in square tiles instead so that reads and writes both stay in
    cache.

    Elements move by size (1, 4 or 8 bytes), never by type, so every op
    works on float32, int64 and bool alike: constant folding runs them on
    int64 shape tensors.
    =========================================================================
*/

#include "zi_classes.h"

//  Most axes a walk has: Tile splits every axis into repeat and element
#define S_WALK_MAX      (2 * ZI_MAX_DIMS)
//  Edge of the square tiles a transposing copy moves at a time
#define S_TILE          32
//  Most outputs of Split, most values of its split list
#define S_SPLIT_MAX     64
//  Pads beyond this are refused so that dims + pads cannot overflow
#define S_PAD_MAX       (INT64_C (1) << 40)

//  Element types by size. may_alias: the same bytes are floats or ints to
//  other kernels, and we must not let the optimiser assume otherwise.
typedef uint8_t s_e1_t;
typedef uint16_t s_e2_t __attribute__ ((may_alias));
typedef uint32_t s_e4_t __attribute__ ((may_alias));
typedef uint64_t s_e8_t __attribute__ ((may_alias));

//  --------------------------------------------------------------------------
//  Helpers shared by the ops in this file

static const zi_tensor_t *
s_input (const zi_node_t *node, const zi_tensor_t *const *in, int index)
{
    return index < node->n_inputs? in [index]: NULL;
}

static int
s_keep (zi_node_t *node, const void *params, size_t size)
{
    node->params = malloc (size);
    if (!node->params)
        return zi_error ("out of memory");
    memcpy (node->params, params, size);
    return 0;
}

//  Resolves a possibly negative axis of a rank-`rank` tensor
static int
s_axis (int64_t axis, int rank, const char *what, int *resolved)
{
    *resolved = 0;
    if (axis < -rank || axis >= rank)
        return zi_error ("%s %lld is out of range for a %d-d input (expected %d..%d)",
                         what, (long long) axis, rank, -rank, rank - 1);
    *resolved = (int) (axis < 0? axis + rank: axis);
    return 0;
}

//  Pointer to element `index` of a buffer of esize-byte elements; index
//  may be negative
static inline char *
s_at (const void *data, int64_t index, size_t esize)
{
    return (char *) data + index * (int64_t) esize;
}

//  --------------------------------------------------------------------------
//  Strided copy

typedef struct {
    int ndim;                       //  number of axes, outermost first
    int64_t dims [S_WALK_MAX];      //  extent of each axis
    int64_t src [S_WALK_MAX];       //  source stride of each axis, elements
    int64_t dst [S_WALK_MAX];       //  destination stride, elements
} s_walk_t;

static void
s_walk_add (s_walk_t *self, int64_t dim, int64_t src, int64_t dst)
{
    assert (self->ndim < S_WALK_MAX);
    self->dims [self->ndim] = dim;
    self->src [self->ndim] = src;
    self->dst [self->ndim] = dst;
    self->ndim++;
}

//  Drops size-1 axes and folds each axis into the next one when both
//  strides continue it; returns the element count
static int64_t
s_walk_simplify (s_walk_t *self)
{
    int64_t count = 1;
    int kept = 0;
    for (int axis = 0; axis < self->ndim; axis++) {
        count *= self->dims [axis];
        if (self->dims [axis] == 1)
            continue;
        int last = kept - 1;
        if (kept > 0
        &&  self->src [last] == self->src [axis] * self->dims [axis]
        &&  self->dst [last] == self->dst [axis] * self->dims [axis]) {
            self->dims [last] *= self->dims [axis];
            self->src [last] = self->src [axis];
            self->dst [last] = self->dst [axis];
        }
        else {
            self->dims [kept] = self->dims [axis];
            self->src [kept] = self->src [axis];
            self->dst [kept] = self->dst [axis];
            kept++;
        }
    }
    if (kept == 0) {                //  a single element
        self->dims [0] = 1;
        self->src [0] = self->dst [0] = 1;
        kept = 1;
    }
    self->ndim = kept;
    return count;
}

//  dst [item * dst_step] = src [item * src_step], with the broadcast and
//  contiguous-destination cases as their own loops so they vectorise
#define S_ROW_COPY(T) \
static void \
s_row_##T (T *dst, const T *src, int64_t n, int64_t dst_step, int64_t src_step) \
{ \
    if (dst_step == 1 && src_step == 0) { \
        T value = src [0]; \
        for (int64_t item = 0; item < n; item++) \
            dst [item] = value; \
    } \
    else \
    if (dst_step == 1) \
        for (int64_t item = 0; item < n; item++) \
            dst [item] = src [item * src_step]; \
    else \
        for (int64_t item = 0; item < n; item++) \
            dst [item * dst_step] = src [item * src_step]; \
}
S_ROW_COPY (s_e1_t)
S_ROW_COPY (s_e2_t)
S_ROW_COPY (s_e4_t)
S_ROW_COPY (s_e8_t)

static void
s_row (void *dst, const void *src, int64_t n, int64_t dst_step, int64_t src_step,
       size_t esize)
{
    if (dst_step == 1 && src_step == 1)
        memcpy (dst, src, n * esize);
    else
    if (esize == 8)
        s_row_s_e8_t (dst, src, n, dst_step, src_step);
    else
    if (esize == 4)
        s_row_s_e4_t (dst, src, n, dst_step, src_step);
    else
    if (esize == 2)
        s_row_s_e2_t (dst, src, n, dst_step, src_step);
    else
        s_row_s_e1_t (dst, src, n, dst_step, src_step);
}

//  dst [row * dst_row + col] = src [row + col * src_col]: a transpose of
//  a rows x cols plane, in tiles
#define S_PLANE_COPY(T) \
static void \
s_plane_##T (T *dst, const T *src, int64_t rows, int64_t cols, int64_t dst_row, \
             int64_t src_col) \
{ \
    for (int64_t row0 = 0; row0 < rows; row0 += S_TILE) { \
        int64_t row1 = row0 + S_TILE < rows? row0 + S_TILE: rows; \
        for (int64_t col0 = 0; col0 < cols; col0 += S_TILE) { \
            int64_t col1 = col0 + S_TILE < cols? col0 + S_TILE: cols; \
            for (int64_t row = row0; row < row1; row++) \
                for (int64_t col = col0; col < col1; col++) \
                    dst [row * dst_row + col] = src [row + col * src_col]; \
        } \
    } \
}
S_PLANE_COPY (s_e1_t)
S_PLANE_COPY (s_e2_t)
S_PLANE_COPY (s_e4_t)
S_PLANE_COPY (s_e8_t)

static void
s_plane (void *dst, const void *src, int64_t rows, int64_t cols, int64_t dst_row,
         int64_t src_col, size_t esize)
{
    if (esize == 8)
        s_plane_s_e8_t (dst, src, rows, cols, dst_row, src_col);
    else
    if (esize == 4)
        s_plane_s_e4_t (dst, src, rows, cols, dst_row, src_col);
    else
    if (esize == 2)
        s_plane_s_e2_t (dst, src, rows, cols, dst_row, src_col);
    else
        s_plane_s_e1_t (dst, src, rows, cols, dst_row, src_col);
}

//  Runs the copy the walk describes; src and dst point at the elements
//  where every index is 0
static void
s_walk_copy (s_walk_t *walk, void *dst, const void *src, size_t esize)
{
    if (s_walk_simplify (walk) == 0)
        return;
    int inner = walk->ndim - 1;
    //  An inner axis that reads across the source pairs with the axis that
    //  is contiguous in the source, and the two copy as tiles
    int plane = -1;
    if (walk->dst [inner] == 1 && walk->src [inner] != 1 && walk->src [inner] != 0)
        for (int axis = 0; axis < inner; axis++)
            if (walk->src [axis] == 1)
                plane = axis;
    int outer [S_WALK_MAX];
    int n_outer = 0;
    for (int axis = 0; axis < inner; axis++)
        if (axis != plane)
            outer [n_outer++] = axis;

    int64_t index [S_WALK_MAX] = {0};
    int64_t src_at = 0, dst_at = 0;
    while (true) {
        if (plane >= 0)
            s_plane (s_at (dst, dst_at, esize), s_at (src, src_at, esize),
                     walk->dims [plane], walk->dims [inner], walk->dst [plane],
                     walk->src [inner], esize);
        else
            s_row (s_at (dst, dst_at, esize), s_at (src, src_at, esize),
                   walk->dims [inner], walk->dst [inner], walk->src [inner], esize);
        //  Odometer over the outer axes, moving both offsets with it
        int level = n_outer - 1;
        for (; level >= 0; level--) {
            int axis = outer [level];
            src_at += walk->src [axis];
            dst_at += walk->dst [axis];
            if (++index [level] < walk->dims [axis])
                break;
            index [level] = 0;
            src_at -= walk->src [axis] * walk->dims [axis];
            dst_at -= walk->dst [axis] * walk->dims [axis];
        }
        if (level < 0)
            break;
    }
}

//  --------------------------------------------------------------------------
//  Transpose: output axis k is input axis perm [k]; no perm reverses

typedef struct {
    int n_perm;                     //  values in perm, 0: reverse
    int64_t perm [ZI_MAX_DIMS];     //  input axis of each output axis
} s_transpose_t;

static int
s_transpose_init (zi_node_t *node)
{
    s_transpose_t self = {0};
    self.n_perm = zi_node_attr_ints (node, "perm", self.perm, ZI_MAX_DIMS);
    if (self.n_perm < 0)
        return -1;
    return s_keep (node, &self, sizeof self);
}

static int
s_transpose_perm (const zi_node_t *node, int rank, int *perm)
{
    const s_transpose_t *self = node->params;
    if (self->n_perm == 0) {
        for (int axis = 0; axis < rank; axis++)
            perm [axis] = rank - 1 - axis;
        return 0;
    }
    if (self->n_perm != rank)
        return zi_error ("attribute 'perm' has %d values for a %d-d input", self->n_perm, rank);
    bool seen [ZI_MAX_DIMS] = {false};
    for (int axis = 0; axis < rank; axis++) {
        int64_t from = self->perm [axis];
        if (from < 0 || from >= rank || seen [from])
            return zi_error ("attribute 'perm' is not a permutation of 0..%d "
                             "(value %lld at %d)", rank - 1, (long long) from, axis);
        seen [from] = true;
        perm [axis] = (int) from;
    }
    return 0;
}

static int
s_transpose_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    int perm [ZI_MAX_DIMS];
    if (s_transpose_perm (node, in [0]->ndim, perm))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    for (int axis = 0; axis < in [0]->ndim; axis++)
        dims [axis] = in [0]->dims [perm [axis]];
    zi_tensor_set_shape (out [0], in [0]->dtype, in [0]->ndim, dims);
    return 0;
}

static int
s_transpose_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                 zi_tensor_t *const *out)
{
    const zi_tensor_t *src = in [0];
    int perm [ZI_MAX_DIMS];
    if (s_transpose_perm (node, src->ndim, perm))
        return -1;
    int64_t src_strides [ZI_MAX_DIMS], dst_strides [ZI_MAX_DIMS];
    zi_shape_strides (src->ndim, src->dims, src_strides);
    zi_shape_strides (out [0]->ndim, out [0]->dims, dst_strides);
    s_walk_t walk = {0};
    for (int axis = 0; axis < src->ndim; axis++)
        s_walk_add (&walk, out [0]->dims [axis], src_strides [perm [axis]], dst_strides [axis]);
    s_walk_copy (&walk, out [0]->data, src->data, zi_dtype_size (src->dtype));
    return 0;
}

const zi_op_t zi_op_Transpose = {
    .name = "Transpose", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .init = s_transpose_init, .infer = s_transpose_infer, .run = s_transpose_run
};

//  --------------------------------------------------------------------------
//  Concat along one axis, any number of inputs

typedef struct {
    int64_t axis;                   //  axis to join along, may be negative
} s_axis_t;

static int
s_concat_init (zi_node_t *node)
{
    if (!zi_node_attr (node, "axis"))
        return zi_error ("attribute 'axis' is required");
    s_axis_t self = {.axis = zi_node_attr_int (node, "axis", 0)};
    return s_keep (node, &self, sizeof self);
}

static int
s_concat_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_axis_t *self = node->params;
    const zi_tensor_t *first = in [0];
    if (first->ndim == 0)
        return zi_error ("input 0 is a scalar; Concat needs at least 1-d inputs");
    int axis;
    if (s_axis (self->axis, first->ndim, "attribute 'axis' =", &axis))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    memcpy (dims, first->dims, sizeof dims);
    dims [axis] = 0;
    for (int index = 0; index < node->n_inputs; index++) {
        const zi_tensor_t *input = in [index];
        if (!input)
            return zi_error ("input %d is missing", index);
        char want [128], got [128];
        if (input->dtype != first->dtype)
            return zi_error ("input %d is %s, input 0 is %s", index,
                             zi_dtype_name (input->dtype), zi_dtype_name (first->dtype));
        bool same = input->ndim == first->ndim;
        for (int other = 0; same && other < first->ndim; other++)
            same = other == axis || input->dims [other] == first->dims [other];
        if (!same)
            return zi_error ("input %d has shape %s, which differs from input 0 %s "
                             "on an axis other than %d", index,
                             zi_shape_str (input->ndim, input->dims, got, sizeof got),
                             zi_shape_str (first->ndim, first->dims, want, sizeof want), axis);
        dims [axis] += input->dims [axis];
    }
    zi_tensor_set_shape (out [0], first->dtype, first->ndim, dims);
    return 0;
}

static int
s_concat_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_axis_t *self = node->params;
    const zi_tensor_t *first = in [0];
    int rank = first->ndim;
    int axis = (int) (self->axis < 0? self->axis + rank: self->axis);
    int64_t outer = zi_shape_count (axis, first->dims);
    //  Bytes of one step along the axis; each input's block per outer
    //  index is that many times its extent on the axis
    size_t slice = zi_shape_count (rank - axis - 1, first->dims + axis + 1)
                 * zi_dtype_size (first->dtype);
    char *dst = out [0]->data;
    for (int64_t row = 0; row < outer; row++)
        for (int index = 0; index < node->n_inputs; index++) {
            size_t block = in [index]->dims [axis] * slice;
            if (block) {
                memcpy (dst, (const char *) in [index]->data + row * block, block);
                dst += block;
            }
        }
    return 0;
}

//  64 inputs: as many as the planner holds for one node
const zi_op_t zi_op_Concat = {
    .name = "Concat", .min_inputs = 1, .max_inputs = 64, .max_outputs = 1,
    .init = s_concat_init, .infer = s_concat_infer, .run = s_concat_run
};

//  --------------------------------------------------------------------------
//  Split: sizes as the 'split' attribute (before opset 13) or input 1
//  (from 13), or num_outputs (opset 18), or equal parts over the outputs

typedef struct {
    int64_t axis;                   //  axis to cut, may be negative
    int n_split;                    //  values in the split attribute
    bool has_split;                 //  the split attribute was given
    int64_t split [S_SPLIT_MAX];    //  sizes from the attribute
    int64_t num_outputs;            //  opset 18 attribute, 0 when absent
} s_split_t;

static int
s_split_init (zi_node_t *node)
{
    s_split_t self = {
        .axis = zi_node_attr_int (node, "axis", 0),
        .has_split = zi_node_attr (node, "split") != NULL,
        .num_outputs = zi_node_attr_int (node, "num_outputs", 0)
    };
    self.n_split = zi_node_attr_ints (node, "split", self.split, S_SPLIT_MAX);
    if (self.n_split < 0)
        return -1;
    return s_keep (node, &self, sizeof self);
}

static int
s_split_sizes (const zi_node_t *node, const zi_tensor_t *const *in, int *axis_p,
               int64_t *sizes)
{
    const s_split_t *self = node->params;
    const zi_tensor_t *data = in [0];
    int axis, n_outputs = node->n_outputs;
    if (data->ndim == 0)
        return zi_error ("input 0 is a scalar; Split needs at least a 1-d input");
    if (s_axis (self->axis, data->ndim, "attribute 'axis' =", &axis))
        return -1;
    if (n_outputs > S_SPLIT_MAX)
        return zi_error ("%d outputs, at most %d supported", n_outputs, S_SPLIT_MAX);
    int64_t extent = data->dims [axis];
    int n_sizes = n_outputs;
    const zi_tensor_t *split = s_input (node, in, 1);
    if (self->has_split) {
        n_sizes = self->n_split;
        memcpy (sizes, self->split, n_sizes * sizeof (int64_t));
    }
    else
    if (split) {
        n_sizes = zi_input_ints (split, sizes, S_SPLIT_MAX, "input 1 (split)");
        if (n_sizes < 0)
            return -1;
    }
    else
    if (self->num_outputs) {
        if (self->num_outputs != n_outputs)
            return zi_error ("attribute 'num_outputs' = %lld but the node has %d outputs",
                             (long long) self->num_outputs, n_outputs);
        //  Equal parts rounded up; the last part takes what is left
        int64_t part = (extent + n_outputs - 1) / n_outputs;
        for (int index = 0; index < n_outputs; index++) {
            int64_t left = extent - part * index;
            sizes [index] = left < 0? 0: left < part? left: part;
        }
    }
    else {
        if (extent % n_outputs)
            return zi_error ("axis %d of size %lld does not split into %d equal parts",
                             axis, (long long) extent, n_outputs);
        for (int index = 0; index < n_outputs; index++)
            sizes [index] = extent / n_outputs;
    }
    if (n_sizes != n_outputs)
        return zi_error ("split has %d sizes for %d outputs", n_sizes, n_outputs);
    int64_t total = 0;
    for (int index = 0; index < n_sizes; index++) {
        if (sizes [index] < 0 || sizes [index] > extent)
            return zi_error ("split size %lld is out of range", (long long) sizes [index]);
        total += sizes [index];
    }
    if (total != extent)
        return zi_error ("split sizes add up to %lld, but axis %d has size %lld",
                         (long long) total, axis, (long long) extent);
    *axis_p = axis;
    return 0;
}

static int
s_split_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    int64_t sizes [S_SPLIT_MAX];
    int axis;
    if (s_split_sizes (node, in, &axis, sizes))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    memcpy (dims, in [0]->dims, sizeof dims);
    for (int index = 0; index < node->n_outputs; index++)
        if (out [index]) {
            dims [axis] = sizes [index];
            zi_tensor_set_shape (out [index], in [0]->dtype, in [0]->ndim, dims);
        }
    return 0;
}

static int
s_split_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
             zi_tensor_t *const *out)
{
    int64_t sizes [S_SPLIT_MAX];
    int axis;
    if (s_split_sizes (node, in, &axis, sizes))
        return -1;
    const zi_tensor_t *data = in [0];
    int64_t outer = zi_shape_count (axis, data->dims);
    size_t slice = zi_shape_count (data->ndim - axis - 1, data->dims + axis + 1)
                 * zi_dtype_size (data->dtype);
    const char *src = data->data;
    for (int64_t row = 0; row < outer; row++)
        for (int index = 0; index < node->n_outputs; index++) {
            size_t block = sizes [index] * slice;
            if (out [index] && block)
                memcpy ((char *) out [index]->data + row * block, src, block);
            src += block;
        }
    return 0;
}

//  Outputs are capped at what the planner holds for one node (ZI_MAX_DIMS);
//  the kernel itself takes up to S_SPLIT_MAX
const zi_op_t zi_op_Split = {
    .name = "Split", .min_inputs = 1, .max_inputs = 2, .max_outputs = ZI_MAX_DIMS,
    .init = s_split_init, .infer = s_split_infer, .run = s_split_run
};

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
    return s_keep (node, &self, sizeof self);
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
        if (!s_input (node, in, 1) || !s_input (node, in, 2))
            return zi_error ("inputs 1 (starts) and 2 (ends) are required");
        n_starts = zi_input_ints (in [1], starts, ZI_MAX_DIMS, "input 1 (starts)");
        n_ends = zi_input_ints (in [2], ends, ZI_MAX_DIMS, "input 2 (ends)");
        n_axes = zi_input_ints (s_input (node, in, 3), axes, ZI_MAX_DIMS, "input 3 (axes)");
        n_steps = zi_input_ints (s_input (node, in, 4), steps, ZI_MAX_DIMS, "input 4 (steps)");
        if (n_starts < 0 || n_ends < 0 || n_axes < 0 || n_steps < 0)
            return -1;
        if (s_input (node, in, 3) && n_axes != n_starts)
            return zi_error ("input 3 (axes) has %d values, starts has %d", n_axes, n_starts);
        if (s_input (node, in, 4) && n_steps != n_starts)
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
        if (n_axes && s_axis (axes [index], rank, "axis", &axis))
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
    s_walk_t walk = {0};
    int64_t first = 0;
    for (int axis = 0; axis < data->ndim; axis++) {
        s_walk_add (&walk, plan.count [axis], src_strides [axis] * plan.step [axis],
                    dst_strides [axis]);
        first += plan.start [axis] * src_strides [axis];
    }
    size_t esize = zi_dtype_size (data->dtype);
    s_walk_copy (&walk, out [0]->data, s_at (data->data, first, esize), esize);
    return 0;
}

const zi_op_t zi_op_Slice = {
    .name = "Slice", .min_inputs = 1, .max_inputs = 5, .max_outputs = 1,
    .init = s_slice_init, .infer = s_slice_infer, .run = s_slice_run
};

//  --------------------------------------------------------------------------
//  Gather: entries of one axis picked by int64 indices; negative indices
//  count from the end

static int
s_gather_init (zi_node_t *node)
{
    s_axis_t self = {.axis = zi_node_attr_int (node, "axis", 0)};
    return s_keep (node, &self, sizeof self);
}

//  Index item of int64 or int32 indices
static inline int64_t
s_index_at (const zi_tensor_t *indices, size_t item)
{
    return indices->dtype == ZI_I64? ((const int64_t *) indices->data) [item]
                                   : ((const int32_t *) indices->data) [item];
}

//  Every index must name an entry; the data come from outside, so a bad
//  one is an error and never a read out of bounds
static int
s_gather_check (const zi_tensor_t *indices, int axis, int64_t dim)
{
    size_t count = zi_tensor_count (indices);
    for (size_t item = 0; item < count; item++) {
        int64_t index = s_index_at (indices, item);
        if (index < -dim || index >= dim)
            return zi_error ("index %lld (at %zu) is out of range for axis %d of size %lld "
                             "(expected %lld..%lld)", (long long) index, item, axis,
                             (long long) dim, (long long) -dim, (long long) dim - 1);
    }
    return 0;
}

static int
s_gather_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_axis_t *self = node->params;
    const zi_tensor_t *data = in [0], *indices = in [1];
    if (data->ndim == 0)
        return zi_error ("input 0 is a scalar; Gather needs at least 1-d data");
    int axis;
    if (s_axis (self->axis, data->ndim, "attribute 'axis' =", &axis))
        return -1;
    if (indices->dtype != ZI_I64 && indices->dtype != ZI_I32)
        return zi_error ("input 1 (indices): expected int64 or int32, got %s",
                         zi_dtype_name (indices->dtype));
    int rank = data->ndim - 1 + indices->ndim;
    if (rank > ZI_MAX_DIMS)
        return zi_error ("output rank %d is more than the %d supported", rank, ZI_MAX_DIMS);
    if (indices->data && s_gather_check (indices, axis, data->dims [axis]))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    int used = 0;
    for (int other = 0; other < axis; other++)
        dims [used++] = data->dims [other];
    for (int other = 0; other < indices->ndim; other++)
        dims [used++] = indices->dims [other];
    for (int other = axis + 1; other < data->ndim; other++)
        dims [used++] = data->dims [other];
    zi_tensor_set_shape (out [0], data->dtype, rank, dims);
    return 0;
}

static int
s_gather_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_axis_t *self = node->params;
    const zi_tensor_t *data = in [0], *indices = in [1];
    int rank = data->ndim;
    int axis = (int) (self->axis < 0? self->axis + rank: self->axis);
    int64_t dim = data->dims [axis];
    if (s_gather_check (indices, axis, dim))
        return -1;
    int64_t outer = zi_shape_count (axis, data->dims);
    int64_t n_indices = zi_tensor_count (indices);
    size_t block = zi_shape_count (rank - axis - 1, data->dims + axis + 1)
                 * zi_dtype_size (data->dtype);
    //  int32 indices are widened once, into scratch memory
    const int64_t *index = indices->data;
    if (indices->dtype == ZI_I32) {
        int64_t *wide = zi_exec_scratch (exec, 0, (n_indices + 1) * sizeof (int64_t));
        if (!wide)
            return zi_error ("out of memory for %lld indices", (long long) n_indices);
        zi_dtype_convert (wide, ZI_I64, indices->data, ZI_I32, (size_t) n_indices);
        index = wide;
    }
    char *dst = out [0]->data;
    for (int64_t row = 0; row < outer; row++) {
        const char *src = (const char *) data->data + row * dim * block;
        //  Single elements (shape arithmetic, embeddings of width 1) are
        //  too small for memcpy
        if (block == 8) {
            s_e8_t *to = (s_e8_t *) dst;
            const s_e8_t *from = (const s_e8_t *) src;
            for (int64_t item = 0; item < n_indices; item++)
                to [item] = from [index [item] < 0? index [item] + dim: index [item]];
        }
        else
        if (block == 4) {
            s_e4_t *to = (s_e4_t *) dst;
            const s_e4_t *from = (const s_e4_t *) src;
            for (int64_t item = 0; item < n_indices; item++)
                to [item] = from [index [item] < 0? index [item] + dim: index [item]];
        }
        else
            for (int64_t item = 0; item < n_indices; item++) {
                int64_t at = index [item] < 0? index [item] + dim: index [item];
                memcpy (dst + item * block, src + at * block, block);
            }
        dst += n_indices * block;
    }
    return 0;
}

const zi_op_t zi_op_Gather = {
    .name = "Gather", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .init = s_gather_init, .infer = s_gather_infer, .run = s_gather_run
};

//  --------------------------------------------------------------------------
//  Expand: broadcast to a constant shape, numpy style in both directions

static int
s_expand_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    int64_t shape [ZI_MAX_DIMS];
    int n_shape = zi_input_ints (in [1], shape, ZI_MAX_DIMS, "input 1 (shape)");
    if (n_shape < 0)
        return -1;
    int rank = n_shape > data->ndim? n_shape: data->ndim;
    int64_t dims [ZI_MAX_DIMS];
    for (int axis = 0; axis < rank; axis++) {
        int from_data = axis - (rank - data->ndim);
        int from_shape = axis - (rank - n_shape);
        int64_t have = from_data >= 0? data->dims [from_data]: 1;
        int64_t want = from_shape >= 0? shape [from_shape]: 1;
        char have_str [128], want_str [128];
        if (want < 0 || (have != want && have != 1 && want != 1))
            return zi_error ("cannot broadcast input shape %s to shape %s",
                             zi_shape_str (data->ndim, data->dims, have_str, sizeof have_str),
                             zi_shape_str (n_shape, shape, want_str, sizeof want_str));
        dims [axis] = have == 1? want: have;
    }
    zi_tensor_set_shape (out [0], data->dtype, rank, dims);
    return 0;
}

static int
s_expand_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    const zi_tensor_t *result = out [0];
    int64_t src_strides [ZI_MAX_DIMS], dst_strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, src_strides);
    zi_shape_strides (result->ndim, result->dims, dst_strides);
    s_walk_t walk = {0};
    for (int axis = 0; axis < result->ndim; axis++) {
        int from = axis - (result->ndim - data->ndim);
        bool repeats = from < 0 || data->dims [from] == 1;
        s_walk_add (&walk, result->dims [axis], repeats? 0: src_strides [from],
                    dst_strides [axis]);
    }
    s_walk_copy (&walk, result->data, data->data, zi_dtype_size (data->dtype));
    return 0;
}

const zi_op_t zi_op_Expand = {
    .name = "Expand", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .infer = s_expand_infer, .run = s_expand_run
};

//  --------------------------------------------------------------------------
//  Tile: the whole input repeated along each axis

static int
s_tile_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    int64_t repeats [ZI_MAX_DIMS];
    int n_repeats = zi_input_ints (in [1], repeats, ZI_MAX_DIMS, "input 1 (repeats)");
    if (n_repeats < 0)
        return -1;
    if (n_repeats != data->ndim)
        return zi_error ("input 1 (repeats) has %d values for a %d-d input",
                         n_repeats, data->ndim);
    int64_t dims [ZI_MAX_DIMS];
    for (int axis = 0; axis < data->ndim; axis++) {
        int64_t dim = data->dims [axis];
        if (repeats [axis] < 0 || (dim > 0 && repeats [axis] > INT64_MAX / dim))
            return zi_error ("repeat %lld of axis %d is negative or too large",
                             (long long) repeats [axis], axis);
        dims [axis] = dim * repeats [axis];
    }
    zi_tensor_set_shape (out [0], data->dtype, data->ndim, dims);
    return 0;
}

static int
s_tile_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    const zi_tensor_t *result = out [0];
    if (result->nbytes == 0)
        return 0;
    //  Output axis k of extent repeats * dim is two axes in row-major
    //  order: the repeat (source stride 0) and the element
    int64_t src_strides [ZI_MAX_DIMS], dst_strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, src_strides);
    zi_shape_strides (result->ndim, result->dims, dst_strides);
    s_walk_t walk = {0};
    for (int axis = 0; axis < data->ndim; axis++) {
        int64_t dim = data->dims [axis];
        s_walk_add (&walk, result->dims [axis] / dim, 0, dim * dst_strides [axis]);
        s_walk_add (&walk, dim, src_strides [axis], dst_strides [axis]);
    }
    s_walk_copy (&walk, result->data, data->data, zi_dtype_size (data->dtype));
    return 0;
}

const zi_op_t zi_op_Tile = {
    .name = "Tile", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .infer = s_tile_infer, .run = s_tile_run
};

//  --------------------------------------------------------------------------
//  Pad: pads as attribute (before opset 11) or constant input (from 11),
//  optional axes (opset 18). Negative pads crop; reflect and edge work on
//  what is left after cropping.

typedef enum {
    S_PAD_CONSTANT,
    S_PAD_REFLECT,
    S_PAD_EDGE
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
        return zi_error ("attribute 'mode' = '%s' is not supported "
                         "(supported: constant, reflect, edge)", mode);
    self.n_pads = zi_node_attr_ints (node, "pads", self.pads, 2 * ZI_MAX_DIMS);
    if (self.n_pads < 0)
        return -1;
    if (node->opset < 11 && !self.has_pads)
        return zi_error ("attribute 'pads' is required before opset 11");
    return s_keep (node, &self, sizeof self);
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
        if (!s_input (node, in, 1))
            return zi_error ("input 1 (pads) is required");
        n_pads = zi_input_ints (in [1], pads, 2 * ZI_MAX_DIMS, "input 1 (pads)");
        if (n_pads < 0)
            return -1;
    }
    const zi_tensor_t *axes_in = s_input (node, in, 3);
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
        if (s_axis (axes [index], rank, "axis", &axis))
            return -1;
        if (seen [axis])
            return zi_error ("axis %lld is given twice", (long long) axes [index]);
        seen [axis] = true;
        plan->begin [axis] = pads [index];
        plan->end [axis] = pads [index + n_axes];
    }
    static const char *mode_names [] = {"constant", "reflect", "edge"};
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
    const zi_tensor_t *value = s_input (node, in, 2);
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
    const zi_tensor_t *given = s_input (node, in, 2);
    if (given && given->data && zi_tensor_count (given) > 0)
        memcpy (value, given->data, esize);
    else
        zi_dtype_convert (value, data->dtype, &self->value, ZI_F32, 1);

    int64_t src_strides [ZI_MAX_DIMS], dst_strides [ZI_MAX_DIMS];
    zi_shape_strides (data->ndim, data->dims, src_strides);
    zi_shape_strides (result->ndim, result->dims, dst_strides);
    s_walk_t walk = {0};
    int64_t src_at = 0, dst_at = 0, kept = 1;
    bool grows = false;
    for (int axis = 0; axis < data->ndim; axis++) {
        int64_t begin = plan->begin [axis], end = plan->end [axis];
        int64_t extent = data->dims [axis] - (begin < 0? -begin: 0) - (end < 0? -end: 0);
        s_walk_add (&walk, extent, src_strides [axis], dst_strides [axis]);
        src_at += (begin < 0? -begin: 0) * src_strides [axis];
        dst_at += (begin > 0? begin: 0) * dst_strides [axis];
        grows |= begin > 0 || end > 0;
        kept *= extent;
    }
    if (grows)
        s_fill (result->data, zi_tensor_count (result), value, esize);
    if (kept > 0)
        s_walk_copy (&walk, s_at (result->data, dst_at, esize),
                     s_at (data->data, src_at, esize), esize);
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

//  Reflect and edge: each output index of an axis maps to an input index
//  through a table; rows copy their middle with memcpy
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
        const char *src = s_at (data->data, src_at, esize);
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
    .init = s_pad_init, .infer = s_pad_infer, .run = s_pad_run
};

//  --------------------------------------------------------------------------
//  Self test. The references index every element explicitly: unravel the
//  output index, work out the input index the op's definition names, copy.

static const zi_dtype_t s_test_dtypes [] = {ZI_F32, ZI_I64, ZI_BOOL, ZI_I32, ZI_I8, ZI_U8, ZI_F16};
#define S_TEST_N_DTYPES 7

static void
s_test_unravel (int64_t flat, int ndim, const int64_t *dims, int64_t *index)
{
    for (int axis = ndim - 1; axis >= 0; axis--) {
        index [axis] = flat % dims [axis];
        flat /= dims [axis];
    }
}

static int64_t
s_test_ravel (int ndim, const int64_t *dims, const int64_t *index)
{
    int64_t flat = 0;
    for (int axis = 0; axis < ndim; axis++)
        flat = flat * dims [axis] + index [axis];
    return flat;
}

//  Element `at` of want = element `from` of data
static void
s_test_set (zi_tensor_t *want, int64_t at, const zi_tensor_t *data, int64_t from)
{
    size_t esize = zi_dtype_size (data->dtype);
    memcpy ((char *) want->data + at * esize, (const char *) data->data + from * esize, esize);
}

static bool
s_test_equal (const zi_tensor_t *got, const zi_tensor_t *want)
{
    return got && zi_tensor_same_shape (got, want)
        && memcmp (got->data, want->data, want->nbytes) == 0;
}

//  Runs the node on the inputs (not freed: the caller builds references
//  from them) and returns its one output, or NULL with the error; frees
//  the node
static zi_tensor_t *
s_test_run1 (zi_node_t *node, int n_inputs, zi_tensor_t **inputs)
{
    zi_tensor_t *outputs [1] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, outputs);
    zi_node_destroy (&node);
    if (rc)
        zi_tensor_destroy (&outputs [0]);
    return outputs [0];
}

static void
s_test_free (zi_tensor_t **tensors, int count)
{
    for (int index = 0; index < count; index++)
        zi_tensor_destroy (&tensors [index]);
}

//  Expects the node to fail with a message containing both words; frees
//  node and inputs
static void
s_test_fails (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t **inputs,
              int n_outputs, const char *what, const char *word1, const char *word2)
{
    zi_tensor_t *outputs [S_SPLIT_MAX] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, n_outputs, outputs);
    const char *text = zi_error_text ();
    ZI_CHECK (t, rc == -1 && strstr (text, word1) && (!word2 || strstr (text, word2)),
              "%s fails with a clear message: %s", what, text);
    s_test_free (outputs, n_outputs);
    s_test_free (inputs, n_inputs);
    zi_node_destroy (&node);
}

static void
s_test_transpose (zi_test_t *t)
{
    struct {
        int ndim;                       //  rank of the input
        int64_t dims [ZI_MAX_DIMS];     //  its shape
        int n_perm;                     //  0: no perm attribute
        int64_t perm [ZI_MAX_DIMS];
    } cases [] = {
        {4, {2, 3, 4, 5}, 4, {0, 2, 3, 1}},     //  NCHW to NHWC
        {4, {2, 3, 4, 5}, 4, {0, 3, 1, 2}},     //  NHWC to NCHW
        {4, {2, 3, 4, 5}, 4, {0, 2, 1, 3}},     //  heads and sequence
        {4, {2, 3, 4, 5}, 4, {3, 2, 1, 0}},
        {4, {2, 3, 4, 5}, 4, {1, 0, 2, 3}},
        {4, {2, 3, 4, 5}, 0, {0}},              //  default: reverse
        {2, {37, 53}, 2, {1, 0}},               //  several tiles, ragged edges
        {3, {3, 40, 35}, 3, {0, 2, 1}},
        {3, {5, 1, 7}, 3, {2, 1, 0}},
        {5, {2, 1, 3, 1, 4}, 5, {4, 0, 3, 2, 1}},
        {1, {6}, 1, {0}},
        {0, {0}, 0, {0}}                        //  a scalar
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            int ndim = cases [index].ndim;
            int64_t perm [ZI_MAX_DIMS], out_dims [ZI_MAX_DIMS];
            for (int axis = 0; axis < ndim; axis++)
                perm [axis] = cases [index].n_perm? cases [index].perm [axis]: ndim - 1 - axis;
            for (int axis = 0; axis < ndim; axis++)
                out_dims [axis] = cases [index].dims [perm [axis]];
            zi_node_t *node = zi_node_new ("Transpose", "test");
            if (cases [index].n_perm)
                zi_node_set_ints (node, "perm", ndim, cases [index].perm);
            zi_tensor_t *inputs [1] = {
                zi_test_data (s_test_dtypes [kind], ndim, cases [index].dims, index)
            };
            zi_tensor_t *got = s_test_run1 (node, 1, inputs);
            zi_tensor_t *want = zi_tensor_new (inputs [0]->dtype, ndim, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t out_index [ZI_MAX_DIMS], in_index [ZI_MAX_DIMS];
                s_test_unravel (at, ndim, out_dims, out_index);
                for (int axis = 0; axis < ndim; axis++)
                    in_index [perm [axis]] = out_index [axis];
                s_test_set (want, at, inputs [0],
                            s_test_ravel (ndim, cases [index].dims, in_index));
            }
            ZI_CHECK (t, s_test_equal (got, want), "Transpose case %zu on %s", index,
                      zi_dtype_name (s_test_dtypes [kind]));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            s_test_free (inputs, 1);
        }
    zi_node_t *node = zi_node_new ("Transpose", "test");
    zi_node_set_ints (node, "perm", 3, (int64_t []) {0, 2, 2});
    zi_tensor_t *inputs [1] = {zi_test_data (ZI_F32, 3, (int64_t []) {2, 3, 4}, 1)};
    s_test_fails (t, node, 1, inputs, 1, "Transpose with a repeated axis", "perm",
                  "not a permutation");
    node = zi_node_new ("Transpose", "test");
    zi_node_set_ints (node, "perm", 2, (int64_t []) {1, 0});
    inputs [0] = zi_test_data (ZI_F32, 3, (int64_t []) {2, 3, 4}, 1);
    s_test_fails (t, node, 1, inputs, 1, "Transpose with a short perm", "2 values", "3-d");
}

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
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            int n = cases [index].n;
            bool has_steps = cases [index].steps [0] != 0;
            zi_node_t *node = zi_node_new ("Slice", "test");
            node->opset = cases [index].opset;
            zi_tensor_t *inputs [5] = {
                zi_test_data (s_test_dtypes [kind], 3, dims, 40 + index)
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
            zi_tensor_t *got = s_test_run1 (node, n_inputs, inputs);
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
                s_test_unravel (at, 3, counts, out_index);
                for (int axis = 0; axis < 3; axis++)
                    in_index [axis] = taken [axis] [out_index [axis]];
                s_test_set (want, at, inputs [0], s_test_ravel (3, dims, in_index));
            }
            char shape [64];
            ZI_CHECK (t, s_test_equal (got, want), "Slice case %zu (opset %d) on %s: want %s",
                      index, cases [index].opset, zi_dtype_name (s_test_dtypes [kind]),
                      zi_shape_str (3, counts, shape, sizeof shape));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            s_test_free (inputs, 5);
        }

    //  The spec's two examples, with their outputs as the spec states them
    float data [] = {1, 2, 3, 4, 5, 6, 7, 8};
    zi_tensor_t *inputs [5] = {
        zi_test_tensor (2, (int64_t []) {2, 4}, data),
        zi_test_ints (2, (int64_t []) {1, 0}), zi_test_ints (2, (int64_t []) {2, 3}),
        zi_test_ints (2, (int64_t []) {0, 1}), zi_test_ints (2, (int64_t []) {1, 2})
    };
    zi_tensor_t *got = s_test_run1 (zi_node_new ("Slice", "test"), 5, inputs);
    ZI_CHECK (t, got && got->dims [0] == 1 && got->dims [1] == 2
              && zi_tensor_f32 (got) [0] == 5 && zi_tensor_f32 (got) [1] == 7,
              "Slice spec example 1");
    zi_tensor_destroy (&got);
    s_test_free (inputs + 1, 4);
    inputs [1] = zi_test_ints (2, (int64_t []) {0, 1});
    inputs [2] = zi_test_ints (2, (int64_t []) {-1, 1000});
    got = s_test_run1 (zi_node_new ("Slice", "test"), 3, inputs);
    ZI_CHECK (t, got && got->dims [0] == 1 && got->dims [1] == 3
              && zi_tensor_f32 (got) [0] == 2 && zi_tensor_f32 (got) [2] == 4,
              "Slice spec example 2");
    zi_tensor_destroy (&got);
    s_test_free (inputs, 3);

    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {0});
    inputs [2] = zi_test_ints (1, (int64_t []) {3});
    inputs [3] = zi_test_ints (1, (int64_t []) {1});
    inputs [4] = zi_test_ints (1, (int64_t []) {0});
    s_test_fails (t, zi_node_new ("Slice", "test"), 5, inputs, 1, "Slice with step 0",
                  "step", "is 0");
    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {0});
    inputs [2] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {1});
    s_test_fails (t, zi_node_new ("Slice", "test"), 3, inputs, 1,
                  "Slice with computed ends", "ends", "must be a constant");
    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {0, 0});
    inputs [2] = zi_test_ints (2, (int64_t []) {1, 1});
    inputs [3] = zi_test_ints (2, (int64_t []) {1, -2});
    s_test_fails (t, zi_node_new ("Slice", "test"), 4, inputs, 1,
                  "Slice with a repeated axis", "twice", NULL);
}

static void
s_test_concat_split (zi_test_t *t)
{
    //  Concat of three inputs on a middle axis (also as -2), one of them
    //  empty on that axis in the last case
    int64_t extents [] = {3, 1, 5, 0};
    int64_t axes [] = {1, -2, 1};
    for (int index = 0; index < 3; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = s_test_dtypes [kind];
            zi_tensor_t *inputs [3];
            int64_t total = 0;
            for (int part = 0; part < 3; part++) {
                int64_t extent = extents [index == 2 && part == 1? 3: part];
                inputs [part] = zi_test_data (dtype, 3, (int64_t []) {2, extent, 4},
                                             part + 10 * index);
                total += extent;
            }
            zi_node_t *node = zi_node_new ("Concat", "test");
            zi_node_set_int (node, "axis", axes [index]);
            zi_tensor_t *got = s_test_run1 (node, 3, inputs);
            int64_t out_dims [3] = {2, total, 4};
            zi_tensor_t *want = zi_tensor_new (dtype, 3, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [3];
                s_test_unravel (at, 3, out_dims, where);
                int part = 0;
                while (where [1] >= inputs [part]->dims [1]) {
                    where [1] -= inputs [part]->dims [1];
                    part++;
                }
                s_test_set (want, at, inputs [part],
                            s_test_ravel (3, inputs [part]->dims, where));
            }
            ZI_CHECK (t, s_test_equal (got, want), "Concat case %d on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            s_test_free (inputs, 3);
        }
    //  Concat on the first and the last axis, 1-d and 2-d
    for (int axis = 0; axis < 2; axis++) {
        zi_tensor_t *inputs [2] = {
            zi_test_data (ZI_I64, 2, (int64_t []) {2, 3}, 1),
            zi_test_data (ZI_I64, 2, (int64_t []) {2, 3}, 2)
        };
        zi_node_t *node = zi_node_new ("Concat", "test");
        zi_node_set_int (node, "axis", axis - 1 + axis);    //  -1, then 1
        zi_tensor_t *got = s_test_run1 (node, 2, inputs);
        bool ok = got && got->dims [0] == 2 && got->dims [1] == 6;
        for (int row = 0; ok && row < 2; row++)
            for (int col = 0; ok && col < 6; col++)
                ok = zi_tensor_i64 (got) [row * 6 + col]
                  == zi_tensor_i64 (inputs [col / 3]) [row * 3 + col % 3];
        ZI_CHECK (t, ok, "Concat on the last axis (%d)", axis - 1 + axis);
        zi_tensor_destroy (&got);
        s_test_free (inputs, 2);
    }
    zi_tensor_t *inputs [3] = {
        zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1),
        zi_test_data (ZI_F32, 2, (int64_t []) {3, 3}, 2)
    };
    zi_node_t *node = zi_node_new ("Concat", "test");
    zi_node_set_int (node, "axis", 1);
    s_test_fails (t, node, 2, inputs, 1, "Concat of mismatched shapes", "[3, 3]", "[2, 3]");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    s_test_fails (t, zi_node_new ("Concat", "test"), 1, inputs, 1, "Concat without axis",
                  "'axis' is required", NULL);

    //  Split: uneven sizes as attribute (opset 11) and input (opset 13),
    //  equal parts on a negative axis, num_outputs (opset 18)
    struct {
        int opset;
        int64_t dims [3];               //  input shape
        int64_t axis;
        int n_outputs;
        int64_t split [4];              //  sizes; all 0: not given
        bool as_input;                  //  split as input 1
        int64_t num_outputs;            //  0: absent
        int64_t want [4];               //  expected sizes
    } cases [] = {
        {11, {3, 7, 2}, 1, 3, {2, 4, 1}, false, 0, {2, 4, 1}},
        {13, {3, 7, 2}, 1, 3, {2, 4, 1}, true, 0, {2, 4, 1}},
        {13, {3, 7, 2}, -2, 3, {0, 7, 0}, true, 0, {0, 7, 0}},
        {13, {3, 6, 2}, -2, 3, {0}, false, 0, {2, 2, 2}},
        {13, {4, 6, 2}, 0, 2, {0}, false, 0, {2, 2}},
        {18, {3, 7, 2}, 1, 3, {0}, false, 3, {3, 3, 1}},
        {18, {3, 7, 2}, -1, 2, {0}, false, 2, {1, 1}}
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = s_test_dtypes [kind];
            int n_outputs = cases [index].n_outputs;
            bool has_split = false;
            for (int part = 0; part < n_outputs; part++)
                has_split |= cases [index].split [part] != 0;
            node = zi_node_new ("Split", "test");
            node->opset = cases [index].opset;
            zi_node_set_int (node, "axis", cases [index].axis);
            if (cases [index].num_outputs)
                zi_node_set_int (node, "num_outputs", cases [index].num_outputs);
            inputs [0] = zi_test_data (dtype, 3, cases [index].dims, index);
            inputs [1] = NULL;
            if (has_split && cases [index].as_input)
                inputs [1] = zi_test_ints (n_outputs, cases [index].split);
            else
            if (has_split)
                zi_node_set_ints (node, "split", n_outputs, cases [index].split);
            zi_tensor_t *outputs [4] = {NULL};
            int rc = zi_test_run_op (node, inputs [1]? 2: 1, inputs, n_outputs, outputs);
            int axis = (int) (cases [index].axis < 0? cases [index].axis + 3: cases [index].axis);
            int64_t offset = 0;
            bool ok = rc == 0;
            for (int part = 0; ok && part < n_outputs; part++) {
                int64_t part_dims [3];
                memcpy (part_dims, cases [index].dims, sizeof part_dims);
                part_dims [axis] = cases [index].want [part];
                zi_tensor_t *want = zi_tensor_new (dtype, 3, part_dims);
                for (size_t at = 0; at < zi_tensor_count (want); at++) {
                    int64_t where [3];
                    s_test_unravel (at, 3, part_dims, where);
                    where [axis] += offset;
                    s_test_set (want, at, inputs [0],
                                s_test_ravel (3, cases [index].dims, where));
                }
                ok = s_test_equal (outputs [part], want);
                offset += part_dims [axis];
                zi_tensor_destroy (&want);
            }
            ZI_CHECK (t, ok, "Split case %zu on %s%s%s", index, zi_dtype_name (dtype),
                      rc? ": ": "", rc? zi_error_text (): "");
            s_test_free (outputs, 4);
            s_test_free (inputs, 2);
            zi_node_destroy (&node);
        }
    node = zi_node_new ("Split", "test");
    zi_node_set_ints (node, "split", 2, (int64_t []) {2, 3});
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {6}, 1);
    s_test_fails (t, node, 1, inputs, 2, "Split sizes that miss the extent", "add up to 5",
                  "size 6");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {7}, 1);
    s_test_fails (t, zi_node_new ("Split", "test"), 1, inputs, 2,
                  "Split into unequal parts", "equal parts", NULL);
}

static void
s_test_gather (zi_test_t *t)
{
    int64_t dims [] = {4, 5, 3};
    struct {
        int64_t axis;
        int ndim;                       //  rank of the indices
        int64_t index_dims [2];
        int64_t indices [6];
    } cases [] = {
        {0, 2, {2, 2}, {0, -1, 3, -4}},
        {0, 0, {0}, {-2}},                      //  scalar: rank drops
        {1, 1, {4}, {4, 0, -5, 2}},
        {1, 0, {0}, {-2}},
        {-1, 2, {3, 2}, {2, 1, 0, -1, -3, 1}},
        {1, 1, {0}, {0}}                        //  no indices at all
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = s_test_dtypes [kind];
            zi_node_t *node = zi_node_new ("Gather", "test");
            zi_node_set_int (node, "axis", cases [index].axis);
            int n_indices = (int) zi_shape_count (cases [index].ndim, cases [index].index_dims);
            //  Indices as int64, or int32 every other dtype
            zi_dtype_t index_type = kind % 2? ZI_I32: ZI_I64;
            zi_tensor_t *inputs [2] = {
                zi_test_data (dtype, 3, dims, index),
                zi_tensor_new (index_type, cases [index].ndim, cases [index].index_dims)
            };
            zi_dtype_convert (inputs [1]->data, index_type, cases [index].indices, ZI_I64,
                              n_indices);
            zi_tensor_t *got = s_test_run1 (node, 2, inputs);
            int axis = (int) (cases [index].axis < 0? cases [index].axis + 3: cases [index].axis);
            //  Output shape: data dims before the axis, index dims, the rest
            int64_t out_dims [ZI_MAX_DIMS];
            int rank = 0;
            for (int other = 0; other < axis; other++)
                out_dims [rank++] = dims [other];
            for (int other = 0; other < cases [index].ndim; other++)
                out_dims [rank++] = cases [index].index_dims [other];
            for (int other = axis + 1; other < 3; other++)
                out_dims [rank++] = dims [other];
            zi_tensor_t *want = zi_tensor_new (dtype, rank, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [ZI_MAX_DIMS], from [3];
                s_test_unravel (at, rank, out_dims, where);
                int64_t flat_index = s_test_ravel (cases [index].ndim,
                                                   cases [index].index_dims, where + axis);
                int64_t picked = cases [index].indices [flat_index];
                for (int other = 0; other < axis; other++)
                    from [other] = where [other];
                from [axis] = picked < 0? picked + dims [axis]: picked;
                for (int other = axis + 1; other < 3; other++)
                    from [other] = where [other - 1 + cases [index].ndim];
                s_test_set (want, at, inputs [0], s_test_ravel (3, dims, from));
            }
            ZI_CHECK (t, s_test_equal (got, want), "Gather case %zu on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            s_test_free (inputs, 2);
        }
    //  A bad index known at load time fails in infer ...
    zi_node_t *node = zi_node_new ("Gather", "test");
    zi_node_set_int (node, "axis", 1);
    zi_tensor_t *inputs [2] = {
        zi_test_data (ZI_F32, 3, dims, 1), zi_test_ints (3, (int64_t []) {0, 5, 1})
    };
    s_test_fails (t, node, 2, inputs, 1, "Gather with index 5 of 5", "index 5",
                  "out of range");
    //  ... one that arrives with the request fails in run
    node = zi_node_new ("Gather", "test");
    inputs [0] = zi_test_data (ZI_I64, 3, dims, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, -4});
    zi_tensor_t *outputs [1] = {NULL};
    int rc = zi_test_run_op (node, 2, inputs, 1, outputs);
    ZI_CHECK (t, rc == 0, "Gather with good indices");
    zi_tensor_i64 (inputs [1]) [1] = -5;
    zi_exec_t *exec = zi_exec_new ();
    rc = node->op->run (node, exec, (const zi_tensor_t *const *) inputs, outputs);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), "index -5"),
              "Gather index -5 of 4 is a run error: %s", zi_error_text ());
    zi_exec_destroy (&exec);
    zi_tensor_destroy (&outputs [0]);
    s_test_free (inputs, 2);
    zi_node_destroy (&node);

    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_data (ZI_F32, 1, (int64_t []) {2}, 1);
    s_test_fails (t, zi_node_new ("Gather", "test"), 2, inputs, 1,
                  "Gather with float indices", "expected int64", NULL);
}

static void
s_test_expand_tile (zi_test_t *t)
{
    struct {
        int ndim;                       //  rank of the input
        int64_t dims [4];
        int n_shape;                    //  values in shape / repeats
        int64_t shape [4];
    } expands [] = {
        {3, {3, 1, 5}, 4, {2, 1, 4, 5}},        //  both sides broadcast
        {3, {3, 1, 5}, 1, {5}},                 //  shorter shape
        {3, {3, 1, 5}, 2, {1, 1}},
        {0, {0}, 2, {2, 3}},                    //  scalar
        {2, {1, 4}, 3, {3, 1, 4}},
        {2, {2, 1}, 2, {2, 0}}                  //  to an empty tensor
    };
    for (size_t index = 0; index < sizeof expands / sizeof expands [0]; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = s_test_dtypes [kind];
            int ndim = expands [index].ndim, n_shape = expands [index].n_shape;
            zi_tensor_t *inputs [2] = {
                zi_test_data (dtype, ndim, expands [index].dims, index),
                zi_test_ints (n_shape, expands [index].shape)
            };
            zi_tensor_t *got = s_test_run1 (zi_node_new ("Expand", "test"), 2, inputs);
            int rank = ndim > n_shape? ndim: n_shape;
            int64_t out_dims [4];
            for (int axis = 0; axis < rank; axis++) {
                int from_data = axis - (rank - ndim), from_shape = axis - (rank - n_shape);
                int64_t have = from_data >= 0? expands [index].dims [from_data]: 1;
                int64_t want = from_shape >= 0? expands [index].shape [from_shape]: 1;
                out_dims [axis] = have == 1? want: have;
            }
            zi_tensor_t *want = zi_tensor_new (dtype, rank, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [4], from [4];
                s_test_unravel (at, rank, out_dims, where);
                for (int axis = 0; axis < ndim; axis++) {
                    int64_t dim = expands [index].dims [axis];
                    from [axis] = dim == 1? 0: where [axis + rank - ndim];
                }
                s_test_set (want, at, inputs [0], s_test_ravel (ndim, expands [index].dims, from));
            }
            ZI_CHECK (t, s_test_equal (got, want), "Expand case %zu on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            s_test_free (inputs, 2);
        }
    zi_tensor_t *inputs [2] = {
        zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1), zi_test_ints (1, (int64_t []) {4})
    };
    s_test_fails (t, zi_node_new ("Expand", "test"), 2, inputs, 1,
                  "Expand [2, 3] to [4]", "cannot broadcast", "[2, 3]");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {2});
    s_test_fails (t, zi_node_new ("Expand", "test"), 2, inputs, 1,
                  "Expand to a computed shape", "shape", "must be a constant");

    struct {
        int ndim;
        int64_t dims [3];
        int64_t repeats [3];
    } tiles [] = {
        {3, {2, 3, 1}, {2, 1, 3}},
        {1, {3}, {4}},
        {2, {2, 3}, {1, 1}},
        {2, {2, 3}, {3, 0}},
        {2, {1, 5}, {4, 2}},
        {3, {3, 2, 2}, {1, 3, 1}}
    };
    for (size_t index = 0; index < sizeof tiles / sizeof tiles [0]; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = s_test_dtypes [kind];
            int ndim = tiles [index].ndim;
            inputs [0] = zi_test_data (dtype, ndim, tiles [index].dims, index);
            inputs [1] = zi_test_ints (ndim, tiles [index].repeats);
            zi_tensor_t *got = s_test_run1 (zi_node_new ("Tile", "test"), 2, inputs);
            int64_t out_dims [3];
            for (int axis = 0; axis < ndim; axis++)
                out_dims [axis] = tiles [index].dims [axis] * tiles [index].repeats [axis];
            zi_tensor_t *want = zi_tensor_new (dtype, ndim, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [3];
                s_test_unravel (at, ndim, out_dims, where);
                for (int axis = 0; axis < ndim; axis++)
                    where [axis] %= tiles [index].dims [axis];
                s_test_set (want, at, inputs [0], s_test_ravel (ndim, tiles [index].dims, where));
            }
            ZI_CHECK (t, s_test_equal (got, want), "Tile case %zu on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            s_test_free (inputs, 2);
        }
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {2});
    s_test_fails (t, zi_node_new ("Tile", "test"), 2, inputs, 1,
                  "Tile with too few repeats", "1 values", "2-d");
}

//  Source index of output index `at` of a padded axis, by the modes'
//  definitions: crop, then reflect back and forth or clamp to the edge
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
    while (from < 0 || from >= length)
        from = from < 0? -from: 2 * (length - 1) - from;
    return first + from;
}

static void
s_test_pad (zi_test_t *t)
{
    static const char *modes [] = {"constant", "reflect", "edge"};
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
        {13, 1, 1, {1}, {2, 3}, 0, {0}, 0}                            //  one element
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = s_test_dtypes [kind];
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
            zi_tensor_t *got = s_test_run1 (node, n_inputs, inputs);
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
                s_test_unravel (at, ndim, out_dims, where);
                for (int axis = 0; axis < ndim; axis++) {
                    from [axis] = s_test_pad_source (cases [index].mode, cases [index].dims [axis],
                                                     begin [axis], end [axis], where [axis]);
                    inside &= from [axis] >= 0;
                }
                if (inside)
                    s_test_set (want, at, inputs [0], s_test_ravel (ndim, cases [index].dims, from));
                else
                    s_test_set (want, at, fill, 0);
            }
            ZI_CHECK (t, s_test_equal (got, want), "Pad case %zu (%s, opset %d) on %s", index,
                      modes [cases [index].mode], cases [index].opset, zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_tensor_destroy (&fill);
            s_test_free (inputs, 4);
        }
    //  The spec's reflect example, as the spec writes its output
    float data [] = {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f};
    float expected [] = {1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f};
    zi_node_t *node = zi_node_new ("Pad", "test");
    zi_node_set_string (node, "mode", "reflect");
    zi_tensor_t *inputs [4] = {
        zi_test_tensor (2, (int64_t []) {3, 2}, data), zi_test_ints (4, (int64_t []) {0, 2, 0, 0})
    };
    zi_tensor_t *got = s_test_run1 (node, 2, inputs);
    ZI_CHECK (t, got && got->dims [1] == 4 && memcmp (got->data, expected, sizeof expected) == 0,
              "Pad spec reflect example");
    zi_tensor_destroy (&got);
    s_test_free (inputs, 2);

    node = zi_node_new ("Pad", "test");
    zi_node_set_string (node, "mode", "wrap");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, 1});
    s_test_fails (t, node, 2, inputs, 1, "Pad mode wrap", "'wrap' is not supported", "edge");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, 1});
    s_test_fails (t, zi_node_new ("Pad", "test"), 2, inputs, 1, "Pad with too few pads",
                  "pads has 2 values", "expected 4");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {-2, -2});
    s_test_fails (t, zi_node_new ("Pad", "test"), 2, inputs, 1, "Pad cropping too much",
                  "crop more", NULL);
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {3}, 1);
    inputs [1] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {2});
    s_test_fails (t, zi_node_new ("Pad", "test"), 2, inputs, 1, "Pad with computed pads",
                  "pads", "must be a constant");
}

void
zi_act_layout_test (zi_test_t *t)
{
    s_test_transpose (t);
    s_test_slice (t);
    s_test_concat_split (t);
    s_test_gather (t);
    s_test_expand_tile (t);
    s_test_pad (t);
}
