/*  =========================================================================
    act_layout - the strided copy every data-movement op runs on, and
    Transpose, which is that copy and nothing else (the other ops:
    act_concat.c, act_slice.c, act_gather.c, act_expand.c; act_layout.h)

    Most of them are one strided copy: each output element comes from the
    input at sum (index [axis] * stride [axis]), where a stride may be 0
    (broadcast, Expand and Tile) or negative (Slice with negative steps).
    zi_walk_t describes such a copy. Before it runs, size-1 axes are
    dropped and axes that continue each other are merged, so the inner loop
    is as long as possible and becomes a memcpy where the source is
    contiguous. When the inner loop would read across the source (most
    transposes), the copy goes in square tiles instead so that reads and
    writes both stay in cache.

    Elements move by size (1, 2, 4 or 8 bytes), never by type, so every op
    works on float32, int64 and bool alike: constant folding runs them on
    int64 shape tensors.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_layout.h"

//  Edge of the square tiles a transposing copy moves at a time
#define S_TILE          32
//  Most outputs a failing test case asks for (Split's most)
#define S_TEST_MAX_OUTPUTS 64

//  Short names for the element types (act_layout.h), for the macros below
typedef zi_layout_e1_t s_e1_t;
typedef zi_layout_e2_t s_e2_t;
typedef zi_layout_e4_t s_e4_t;
typedef zi_layout_e8_t s_e8_t;

//  --------------------------------------------------------------------------
//  Helpers shared by the ops of the family

int
zi_layout_keep (zi_node_t *node, const void *params, size_t size)
{
    node->params = malloc (size);
    if (!node->params)
        return zi_error ("out of memory");
    memcpy (node->params, params, size);
    return 0;
}

//  Resolves a possibly negative axis of a rank-`rank` tensor
int
zi_layout_axis (int64_t axis, int rank, const char *what, int *resolved)
{
    *resolved = 0;
    if (axis < -rank || axis >= rank)
        return zi_error ("%s %lld is out of range for a %d-d input (expected %d..%d)",
                         what, (long long) axis, rank, -rank, rank - 1);
    *resolved = (int) (axis < 0? axis + rank: axis);
    return 0;
}

//  --------------------------------------------------------------------------
//  Strided copy

//  Drops size-1 axes and folds each axis into the next one when both
//  strides continue it; returns the element count
static int64_t
s_walk_simplify (zi_walk_t *self)
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
void
zi_walk_copy (zi_walk_t *walk, void *dst, const void *src, size_t esize)
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
    int outer [ZI_WALK_MAX];
    int n_outer = 0;
    for (int axis = 0; axis < inner; axis++)
        if (axis != plane)
            outer [n_outer++] = axis;

    int64_t index [ZI_WALK_MAX] = {0};
    int64_t src_at = 0, dst_at = 0;
    while (true) {
        if (plane >= 0)
            s_plane (zi_layout_at (dst, dst_at, esize), zi_layout_at (src, src_at, esize),
                     walk->dims [plane], walk->dims [inner], walk->dst [plane],
                     walk->src [inner], esize);
        else
            s_row (zi_layout_at (dst, dst_at, esize), zi_layout_at (src, src_at, esize),
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
    return zi_layout_keep (node, &self, sizeof self);
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
    zi_walk_t walk = {0};
    for (int axis = 0; axis < src->ndim; axis++)
        zi_walk_add (&walk, out [0]->dims [axis], src_strides [perm [axis]], dst_strides [axis]);
    zi_walk_copy (&walk, out [0]->data, src->data, zi_dtype_size (src->dtype));
    return 0;
}

const zi_op_t zi_op_Transpose = {
    .name = "Transpose", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_TRANSPOSE,
    .init = s_transpose_init, .infer = s_transpose_infer, .run = s_transpose_run
};

//  --------------------------------------------------------------------------
//  Self-test support (act_layout.h)

const zi_dtype_t zi_layout_test_dtypes [ZI_LAYOUT_TEST_N_DTYPES] = {ZI_F32, ZI_I64, ZI_BOOL, ZI_I32, ZI_I8, ZI_U8, ZI_F16};

void
zi_layout_test_unravel (int64_t flat, int ndim, const int64_t *dims, int64_t *index)
{
    for (int axis = ndim - 1; axis >= 0; axis--) {
        index [axis] = flat % dims [axis];
        flat /= dims [axis];
    }
}

int64_t
zi_layout_test_ravel (int ndim, const int64_t *dims, const int64_t *index)
{
    int64_t flat = 0;
    for (int axis = 0; axis < ndim; axis++)
        flat = flat * dims [axis] + index [axis];
    return flat;
}

//  Element `at` of want = element `from` of data
void
zi_layout_test_set (zi_tensor_t *want, int64_t at, const zi_tensor_t *data, int64_t from)
{
    size_t esize = zi_dtype_size (data->dtype);
    memcpy ((char *) want->data + at * esize, (const char *) data->data + from * esize, esize);
}

bool
zi_layout_test_equal (const zi_tensor_t *got, const zi_tensor_t *want)
{
    return got && zi_tensor_same_shape (got, want)
        && memcmp (got->data, want->data, want->nbytes) == 0;
}

//  Runs the node on the inputs (not freed: the caller builds references
//  from them) and returns its one output, or NULL with the error; frees
//  the node
zi_tensor_t *
zi_layout_test_run1 (zi_node_t *node, int n_inputs, zi_tensor_t **inputs)
{
    zi_tensor_t *outputs [1] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, outputs);
    zi_node_destroy (&node);
    if (rc)
        zi_tensor_destroy (&outputs [0]);
    return outputs [0];
}

void
zi_layout_test_free (zi_tensor_t **tensors, int count)
{
    for (int index = 0; index < count; index++)
        zi_tensor_destroy (&tensors [index]);
}

//  Expects the node to fail with a message containing both words; frees
//  node and inputs
void
zi_layout_test_fails (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t **inputs,
                      int n_outputs, const char *what, const char *word1, const char *word2)
{
    zi_tensor_t *outputs [S_TEST_MAX_OUTPUTS] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, n_outputs, outputs);
    const char *text = zi_error_text ();
    ZI_CHECK (t, rc == -1 && strstr (text, word1) && (!word2 || strstr (text, word2)),
              "%s fails with a clear message: %s", what, text);
    zi_layout_test_free (outputs, n_outputs);
    zi_layout_test_free (inputs, n_inputs);
    zi_node_destroy (&node);
}

//  --------------------------------------------------------------------------
//  Self test: Transpose against a reference that indexes every element

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
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
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
                zi_test_data (zi_layout_test_dtypes [kind], ndim, cases [index].dims, index)
            };
            zi_tensor_t *got = zi_layout_test_run1 (node, 1, inputs);
            zi_tensor_t *want = zi_tensor_new (inputs [0]->dtype, ndim, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t out_index [ZI_MAX_DIMS], in_index [ZI_MAX_DIMS];
                zi_layout_test_unravel (at, ndim, out_dims, out_index);
                for (int axis = 0; axis < ndim; axis++)
                    in_index [perm [axis]] = out_index [axis];
                zi_layout_test_set (want, at, inputs [0],
                                    zi_layout_test_ravel (ndim, cases [index].dims, in_index));
            }
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Transpose case %zu on %s", index,
                      zi_dtype_name (zi_layout_test_dtypes [kind]));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_layout_test_free (inputs, 1);
        }
    zi_node_t *node = zi_node_new ("Transpose", "test");
    zi_node_set_ints (node, "perm", 3, (int64_t []) {0, 2, 2});
    zi_tensor_t *inputs [1] = {zi_test_data (ZI_F32, 3, (int64_t []) {2, 3, 4}, 1)};
    zi_layout_test_fails (t, node, 1, inputs, 1, "Transpose with a repeated axis", "perm",
                          "not a permutation");
    node = zi_node_new ("Transpose", "test");
    zi_node_set_ints (node, "perm", 2, (int64_t []) {1, 0});
    inputs [0] = zi_test_data (ZI_F32, 3, (int64_t []) {2, 3, 4}, 1);
    zi_layout_test_fails (t, node, 1, inputs, 1, "Transpose with a short perm", "2 values", "3-d");
}

void
zi_act_layout_test (zi_test_t *t)
{
    s_test_transpose (t);
}
