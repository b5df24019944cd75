/*  =========================================================================
    act_gather - picking entries of one axis by index: Gather
    =========================================================================
*/

#include "zi_classes.h"
#include "act_layout.h"

//  --------------------------------------------------------------------------
//  Gather: entries of one axis picked by int64 indices; negative indices
//  count from the end

typedef struct {
    int64_t axis;                   //  axis to pick along, may be negative
} s_axis_t;

static int
s_gather_init (zi_node_t *node)
{
    s_axis_t self = {.axis = zi_node_attr_int (node, "axis", 0)};
    return zi_layout_keep (node, &self, sizeof self);
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
    if (zi_layout_axis (self->axis, data->ndim, "attribute 'axis' =", &axis))
        return -1;
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
            zi_layout_e8_t *to = (zi_layout_e8_t *) dst;
            const zi_layout_e8_t *from = (const zi_layout_e8_t *) src;
            for (int64_t item = 0; item < n_indices; item++)
                to [item] = from [index [item] < 0? index [item] + dim: index [item]];
        }
        else
        if (block == 4) {
            zi_layout_e4_t *to = (zi_layout_e4_t *) dst;
            const zi_layout_e4_t *from = (const zi_layout_e4_t *) src;
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
    .batch = ZI_BATCH_GATHER,
    .init = s_gather_init, .infer = s_gather_infer, .run = s_gather_run,
    .dtypes = {0, ZI_DT (ZI_I64) | ZI_DT (ZI_I32)}
};

//  --------------------------------------------------------------------------
//  Self test: Gather against a reference that indexes every element

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
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = zi_layout_test_dtypes [kind];
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
            zi_tensor_t *got = zi_layout_test_run1 (node, 2, inputs);
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
                zi_layout_test_unravel (at, rank, out_dims, where);
                int64_t flat_index = zi_layout_test_ravel (cases [index].ndim,
                                                           cases [index].index_dims, where + axis);
                int64_t picked = cases [index].indices [flat_index];
                for (int other = 0; other < axis; other++)
                    from [other] = where [other];
                from [axis] = picked < 0? picked + dims [axis]: picked;
                for (int other = axis + 1; other < 3; other++)
                    from [other] = where [other - 1 + cases [index].ndim];
                zi_layout_test_set (want, at, inputs [0], zi_layout_test_ravel (3, dims, from));
            }
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Gather case %zu on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_layout_test_free (inputs, 2);
        }
    //  A bad index known at load time fails in infer ...
    zi_node_t *node = zi_node_new ("Gather", "test");
    zi_node_set_int (node, "axis", 1);
    zi_tensor_t *inputs [2] = {
        zi_test_data (ZI_F32, 3, dims, 1), zi_test_ints (3, (int64_t []) {0, 5, 1})
    };
    zi_layout_test_fails (t, node, 2, inputs, 1, "Gather with index 5 of 5", "index 5",
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
    zi_layout_test_free (inputs, 2);
    zi_node_destroy (&node);

    inputs [0] = zi_test_data (ZI_F32, 3, dims, 1);
    inputs [1] = zi_test_data (ZI_F32, 1, (int64_t []) {2}, 1);
    zi_layout_test_fails (t, zi_node_new ("Gather", "test"), 2, inputs, 1,
                          "Gather with float indices",
                          "Gather at node 'test': input 1 is float32, expected int32 or int64",
                          NULL);
}

void
zi_act_gather_test (zi_test_t *t)
{
    s_test_gather (t);
}
