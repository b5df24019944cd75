/*  =========================================================================
    act_expand - repeating the input: Expand (broadcast to a shape) and
    Tile (the whole input repeated along each axis)

    Both are one strided copy (act_layout.h): a broadcast axis has source
    stride 0, and Tile splits each axis into repeat and element.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_layout.h"

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
    zi_walk_t walk = {0};
    for (int axis = 0; axis < result->ndim; axis++) {
        int from = axis - (result->ndim - data->ndim);
        bool repeats = from < 0 || data->dims [from] == 1;
        zi_walk_add (&walk, result->dims [axis], repeats? 0: src_strides [from],
                     dst_strides [axis]);
    }
    zi_walk_copy (&walk, result->data, data->data, zi_dtype_size (data->dtype));
    return 0;
}

const zi_op_t zi_op_Expand = {
    .name = "Expand", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_EXPAND,
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
    zi_walk_t walk = {0};
    for (int axis = 0; axis < data->ndim; axis++) {
        int64_t dim = data->dims [axis];
        zi_walk_add (&walk, result->dims [axis] / dim, 0, dim * dst_strides [axis]);
        zi_walk_add (&walk, dim, src_strides [axis], dst_strides [axis]);
    }
    zi_walk_copy (&walk, result->data, data->data, zi_dtype_size (data->dtype));
    return 0;
}

const zi_op_t zi_op_Tile = {
    .name = "Tile", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_TILE,
    .infer = s_tile_infer, .run = s_tile_run
};

//  --------------------------------------------------------------------------
//  Self test: Expand and Tile against references that index every element

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
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = zi_layout_test_dtypes [kind];
            int ndim = expands [index].ndim, n_shape = expands [index].n_shape;
            zi_tensor_t *inputs [2] = {
                zi_test_data (dtype, ndim, expands [index].dims, index),
                zi_test_ints (n_shape, expands [index].shape)
            };
            zi_tensor_t *got = zi_layout_test_run1 (zi_node_new ("Expand", "test"), 2, inputs);
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
                zi_layout_test_unravel (at, rank, out_dims, where);
                for (int axis = 0; axis < ndim; axis++) {
                    int64_t dim = expands [index].dims [axis];
                    from [axis] = dim == 1? 0: where [axis + rank - ndim];
                }
                zi_layout_test_set (want, at, inputs [0], zi_layout_test_ravel (ndim, expands [index].dims, from));
            }
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Expand case %zu on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_layout_test_free (inputs, 2);
        }
    zi_tensor_t *inputs [2] = {
        zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1), zi_test_ints (1, (int64_t []) {4})
    };
    zi_layout_test_fails (t, zi_node_new ("Expand", "test"), 2, inputs, 1,
                          "Expand [2, 3] to [4]", "cannot broadcast", "[2, 3]");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {2});
    zi_layout_test_fails (t, zi_node_new ("Expand", "test"), 2, inputs, 1,
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
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = zi_layout_test_dtypes [kind];
            int ndim = tiles [index].ndim;
            inputs [0] = zi_test_data (dtype, ndim, tiles [index].dims, index);
            inputs [1] = zi_test_ints (ndim, tiles [index].repeats);
            zi_tensor_t *got = zi_layout_test_run1 (zi_node_new ("Tile", "test"), 2, inputs);
            int64_t out_dims [3];
            for (int axis = 0; axis < ndim; axis++)
                out_dims [axis] = tiles [index].dims [axis] * tiles [index].repeats [axis];
            zi_tensor_t *want = zi_tensor_new (dtype, ndim, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [3];
                zi_layout_test_unravel (at, ndim, out_dims, where);
                for (int axis = 0; axis < ndim; axis++)
                    where [axis] %= tiles [index].dims [axis];
                zi_layout_test_set (want, at, inputs [0], zi_layout_test_ravel (ndim, tiles [index].dims, where));
            }
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Tile case %zu on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_layout_test_free (inputs, 2);
        }
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {2});
    zi_layout_test_fails (t, zi_node_new ("Tile", "test"), 2, inputs, 1,
                          "Tile with too few repeats", "1 values", "2-d");
}

void
zi_act_expand_test (zi_test_t *t)
{
    s_test_expand_tile (t);
}
