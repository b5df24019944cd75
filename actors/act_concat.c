/*  =========================================================================
    act_concat - joining and cutting along one axis: Concat, Split

    Each input of Concat (each output of Split) is one strided copy
    (act_layout.h) into (out of) its place along the axis.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_layout.h"

//  Most outputs of Split, most values of its split list
#define S_SPLIT_MAX     64

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
    return zi_layout_keep (node, &self, sizeof self);
}

static int
s_concat_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_axis_t *self = node->params;
    const zi_tensor_t *first = in [0];
    if (first->ndim == 0)
        return zi_error ("input 0 is a scalar; Concat needs at least 1-d inputs");
    int axis;
    if (zi_layout_axis (self->axis, first->ndim, "attribute 'axis' =", &axis))
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
    .batch = ZI_BATCH_CONCAT,
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
    return zi_layout_keep (node, &self, sizeof self);
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
    if (zi_layout_axis (self->axis, data->ndim, "attribute 'axis' =", &axis))
        return -1;
    if (n_outputs > S_SPLIT_MAX)
        return zi_error ("%d outputs, at most %d supported", n_outputs, S_SPLIT_MAX);
    int64_t extent = data->dims [axis];
    int n_sizes = n_outputs;
    const zi_tensor_t *split = zi_layout_input (node, in, 1);
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
    .batch = ZI_BATCH_SPLIT,
    .init = s_split_init, .infer = s_split_infer, .run = s_split_run
};

//  --------------------------------------------------------------------------
//  Self test: Concat and Split against references that index every element

static void
s_test_concat_split (zi_test_t *t)
{
    //  Concat of three inputs on a middle axis (also as -2), one of them
    //  empty on that axis in the last case
    int64_t extents [] = {3, 1, 5, 0};
    int64_t axes [] = {1, -2, 1};
    for (int index = 0; index < 3; index++)
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = zi_layout_test_dtypes [kind];
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
            zi_tensor_t *got = zi_layout_test_run1 (node, 3, inputs);
            int64_t out_dims [3] = {2, total, 4};
            zi_tensor_t *want = zi_tensor_new (dtype, 3, out_dims);
            for (size_t at = 0; at < zi_tensor_count (want); at++) {
                int64_t where [3];
                zi_layout_test_unravel (at, 3, out_dims, where);
                int part = 0;
                while (where [1] >= inputs [part]->dims [1]) {
                    where [1] -= inputs [part]->dims [1];
                    part++;
                }
                zi_layout_test_set (want, at, inputs [part],
                                    zi_layout_test_ravel (3, inputs [part]->dims, where));
            }
            ZI_CHECK (t, zi_layout_test_equal (got, want), "Concat case %d on %s", index,
                      zi_dtype_name (dtype));
            zi_tensor_destroy (&got);
            zi_tensor_destroy (&want);
            zi_layout_test_free (inputs, 3);
        }
    //  Concat on the first and the last axis, 1-d and 2-d
    for (int axis = 0; axis < 2; axis++) {
        zi_tensor_t *inputs [2] = {
            zi_test_data (ZI_I64, 2, (int64_t []) {2, 3}, 1),
            zi_test_data (ZI_I64, 2, (int64_t []) {2, 3}, 2)
        };
        zi_node_t *node = zi_node_new ("Concat", "test");
        zi_node_set_int (node, "axis", axis - 1 + axis);    //  -1, then 1
        zi_tensor_t *got = zi_layout_test_run1 (node, 2, inputs);
        bool ok = got && got->dims [0] == 2 && got->dims [1] == 6;
        for (int row = 0; ok && row < 2; row++)
            for (int col = 0; ok && col < 6; col++)
                ok = zi_tensor_i64 (got) [row * 6 + col]
                  == zi_tensor_i64 (inputs [col / 3]) [row * 3 + col % 3];
        ZI_CHECK (t, ok, "Concat on the last axis (%d)", axis - 1 + axis);
        zi_tensor_destroy (&got);
        zi_layout_test_free (inputs, 2);
    }
    zi_tensor_t *inputs [3] = {
        zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1),
        zi_test_data (ZI_F32, 2, (int64_t []) {3, 3}, 2)
    };
    zi_node_t *node = zi_node_new ("Concat", "test");
    zi_node_set_int (node, "axis", 1);
    zi_layout_test_fails (t, node, 2, inputs, 1, "Concat of mismatched shapes", "[3, 3]", "[2, 3]");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    zi_layout_test_fails (t, zi_node_new ("Concat", "test"), 1, inputs, 1, "Concat without axis",
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
        for (int kind = 0; kind < ZI_LAYOUT_TEST_N_DTYPES; kind++) {
            zi_dtype_t dtype = zi_layout_test_dtypes [kind];
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
                    zi_layout_test_unravel (at, 3, part_dims, where);
                    where [axis] += offset;
                    zi_layout_test_set (want, at, inputs [0],
                                        zi_layout_test_ravel (3, cases [index].dims, where));
                }
                ok = zi_layout_test_equal (outputs [part], want);
                offset += part_dims [axis];
                zi_tensor_destroy (&want);
            }
            ZI_CHECK (t, ok, "Split case %zu on %s%s%s", index, zi_dtype_name (dtype),
                      rc? ": ": "", rc? zi_error_text (): "");
            zi_layout_test_free (outputs, 4);
            zi_layout_test_free (inputs, 2);
            zi_node_destroy (&node);
        }
    node = zi_node_new ("Split", "test");
    zi_node_set_ints (node, "split", 2, (int64_t []) {2, 3});
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {6}, 1);
    zi_layout_test_fails (t, node, 1, inputs, 2, "Split sizes that miss the extent", "add up to 5",
                          "size 6");
    inputs [0] = zi_test_data (ZI_F32, 1, (int64_t []) {7}, 1);
    zi_layout_test_fails (t, zi_node_new ("Split", "test"), 1, inputs, 2,
                          "Split into unequal parts", "equal parts", NULL);
}

void
zi_act_concat_test (zi_test_t *t)
{
    s_test_concat_split (t);
}
