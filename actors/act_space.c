/*  =========================================================================
    act_space - DepthToSpace and SpaceToDepth: blocks of pixels moved
    between the channel axis and the two spatial axes of [N, C, H, W]

    DepthToSpace spreads each group of blocksize^2 channels over a
    blocksize x blocksize patch (the pixel shuffle of super-resolution
    models); SpaceToDepth folds the patches back into channels. ONNX
    defines both as a reshape, a transpose and a reshape; here each output
    row is gathered directly, any dtype, by element size. DepthToSpace's
    mode says how channels are numbered: DCR (depth, column, row; the
    default) takes the block position as the major part of the channel,
    CRD (opset 11) the output channel.
    =========================================================================
*/

#include "zi_classes.h"

typedef struct {
    int64_t block;              //  blocksize
    bool crd;                   //  DepthToSpace mode CRD, else DCR
} s_space_t;

static int
s_space_init (zi_node_t *node)
{
    s_space_t *self = calloc (1, sizeof (s_space_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    if (!zi_node_attr (node, "blocksize"))
        return zi_error ("attribute 'blocksize' is required");
    self->block = zi_node_attr_int (node, "blocksize", 1);
    if (self->block < 1)
        return zi_error ("attribute 'blocksize' = %lld; expected at least 1",
                         (long long) self->block);
    const char *mode = zi_node_attr_string (node, "mode", "DCR");
    if (strcmp (mode, "DCR") && strcmp (mode, "CRD"))
        return zi_error ("attribute 'mode' = '%s'; expected DCR or CRD", mode);
    self->crd = strcmp (mode, "CRD") == 0;
    return 0;
}

static int
s_check_4d (const zi_tensor_t *x)
{
    char shape [128];
    if (x->ndim != 4)
        return zi_error ("input 0: expected [N, C, H, W], got %s",
                         zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    return 0;
}

static int
s_depth_to_space_infer (zi_node_t *node, const zi_tensor_t *const *in,
                        zi_tensor_t *const *out)
{
    const s_space_t *self = node->params;
    const zi_tensor_t *x = in [0];
    if (s_check_4d (x))
        return -1;
    int64_t b = self->block;
    if (x->dims [1] % (b * b))
        return zi_error ("input 0 has %lld channels, not a multiple of blocksize^2 = %lld",
                         (long long) x->dims [1], (long long) (b * b));
    int64_t dims [4] = {x->dims [0], x->dims [1] / (b * b), x->dims [2] * b, x->dims [3] * b};
    zi_tensor_set_shape (out [0], x->dtype, 4, dims);
    return 0;
}

static int
s_space_to_depth_infer (zi_node_t *node, const zi_tensor_t *const *in,
                        zi_tensor_t *const *out)
{
    const s_space_t *self = node->params;
    const zi_tensor_t *x = in [0];
    if (s_check_4d (x))
        return -1;
    int64_t b = self->block;
    if (x->dims [2] % b || x->dims [3] % b)
        return zi_error ("input 0 is %lld x %lld pixels, not a multiple of blocksize %lld",
                         (long long) x->dims [2], (long long) x->dims [3], (long long) b);
    int64_t dims [4] = {x->dims [0], x->dims [1] * b * b, x->dims [2] / b, x->dims [3] / b};
    zi_tensor_set_shape (out [0], x->dtype, 4, dims);
    return 0;
}

//  Copies one element of esize bytes
static inline void
s_copy (char *to, const char *from, size_t esize)
{
    switch (esize) {
        case 8: memcpy (to, from, 8); break;
        case 4: memcpy (to, from, 4); break;
        default: memcpy (to, from, esize);
    }
}

//  Walks the [N, C, H, W] side of the big pixels, `small` the side with
//  the channels; to_space says which one is the output
static void
s_move (const s_space_t *self, const zi_tensor_t *space, const zi_tensor_t *depth,
        bool to_space)
{
    int64_t b = self->block;
    int64_t n = space->dims [0], channels = space->dims [1];
    int64_t height = space->dims [2], width = space->dims [3];
    int64_t small_h = height / b, small_w = width / b;
    size_t esize = zi_dtype_size (space->dtype);
    char *space_data = space->data, *depth_data = depth->data;
    for (int64_t image = 0; image < n; image++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t h = 0; h < height; h++)
                for (int64_t w = 0; w < width; w++) {
                    int64_t bh = h % b, bw = w % b;
                    int64_t depth_c = self->crd? (c * b + bh) * b + bw
                                               : (bh * b + bw) * channels + c;
                    int64_t at_space = ((image * channels + c) * height + h) * width + w;
                    int64_t at_depth = ((image * channels * b * b + depth_c) * small_h
                                     + h / b) * small_w + w / b;
                    if (to_space)
                        s_copy (space_data + at_space * esize, depth_data + at_depth * esize,
                                esize);
                    else
                        s_copy (depth_data + at_depth * esize, space_data + at_space * esize,
                                esize);
                }
}

static int
s_depth_to_space_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                      zi_tensor_t *const *out)
{
    s_move (node->params, out [0], in [0], true);
    return 0;
}

static int
s_space_to_depth_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                      zi_tensor_t *const *out)
{
    s_move (node->params, in [0], out [0], false);
    return 0;
}

const zi_op_t zi_op_DepthToSpace = {
    .name = "DepthToSpace", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .init = s_space_init, .infer = s_depth_to_space_infer, .run = s_depth_to_space_run
};

const zi_op_t zi_op_SpaceToDepth = {
    .name = "SpaceToDepth", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .init = s_space_init, .infer = s_space_to_depth_infer, .run = s_space_to_depth_run
};


//  --------------------------------------------------------------------------
//  Self test: against the spec's definition, a reshape to 6-d, a
//  transpose and a reshape back, done with explicit index arithmetic

//  out = transpose (x viewed as 6-d dims, perm), flat
static void
s_transpose6 (const float *x, const int64_t *dims, const int *perm, float *y)
{
    int64_t strides [6], out_dims [6];
    zi_shape_strides (6, dims, strides);
    for (int axis = 0; axis < 6; axis++)
        out_dims [axis] = dims [perm [axis]];
    int64_t count = zi_shape_count (6, dims), index [6] = {0};
    for (int64_t item = 0; item < count; item++) {
        int64_t at = 0;
        for (int axis = 0; axis < 6; axis++)
            at += index [axis] * strides [perm [axis]];
        y [item] = x [at];
        for (int axis = 5; axis >= 0; axis--) {
            if (++index [axis] < out_dims [axis])
                break;
            index [axis] = 0;
        }
    }
}

static void
s_test_case (zi_test_t *t, const char *op, const char *mode, int64_t block, const int64_t *dims)
{
    char what [120];
    snprintf (what, sizeof what, "%s %s blocksize %lld", op, mode? mode: "(default mode)",
              (long long) block);
    bool to_space = strcmp (op, "DepthToSpace") == 0;
    zi_tensor_t *x = zi_test_random (4, dims, (uint32_t) block * 3), *y = NULL;
    zi_node_t *node = zi_node_new (op, "test");
    zi_node_set_int (node, "blocksize", block);
    if (mode)
        zi_node_set_string (node, "mode", mode);
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int64_t n = dims [0], c = dims [1], h = dims [2], w = dims [3], b = block;
        size_t count = zi_tensor_count (x);
        float *want = malloc (count * sizeof (float));
        if (to_space && mode && strcmp (mode, "CRD") == 0)
            s_transpose6 (zi_tensor_f32 (x), (int64_t []) {n, c / (b * b), b, b, h, w},
                          (int []) {0, 1, 4, 2, 5, 3}, want);
        else
        if (to_space)
            s_transpose6 (zi_tensor_f32 (x), (int64_t []) {n, b, b, c / (b * b), h, w},
                          (int []) {0, 3, 4, 1, 5, 2}, want);
        else
            s_transpose6 (zi_tensor_f32 (x), (int64_t []) {n, c, h / b, b, w / b, b},
                          (int []) {0, 3, 5, 1, 2, 4}, want);
        int64_t want_dims [4] = {n, to_space? c / (b * b): c * b * b,
                                 to_space? h * b: h / b, to_space? w * b: w / b};
        ZI_CHECK (t, memcmp (y->dims, want_dims, sizeof want_dims) == 0, "%s: shape", what);
        ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, count, 0, 0);
        free (want);
    }
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

void
zi_act_space_test (zi_test_t *t)
{
    s_test_case (t, "DepthToSpace", NULL, 2, (int64_t []) {2, 8, 3, 5});
    s_test_case (t, "DepthToSpace", "DCR", 3, (int64_t []) {1, 18, 2, 4});
    s_test_case (t, "DepthToSpace", "CRD", 2, (int64_t []) {2, 12, 3, 2});
    s_test_case (t, "DepthToSpace", "CRD", 3, (int64_t []) {1, 9, 4, 3});
    s_test_case (t, "DepthToSpace", NULL, 1, (int64_t []) {1, 3, 2, 2});
    s_test_case (t, "SpaceToDepth", NULL, 2, (int64_t []) {2, 3, 4, 6});
    s_test_case (t, "SpaceToDepth", NULL, 3, (int64_t []) {1, 2, 9, 6});

    //  Round trip on int64: SpaceToDepth undoes DepthToSpace (DCR)
    zi_tensor_t *x = zi_test_data (ZI_I64, 4, (int64_t []) {1, 8, 3, 3}, 5), *y = NULL, *z = NULL;
    zi_node_t *there = zi_node_new ("DepthToSpace", "test");
    zi_node_t *back = zi_node_new ("SpaceToDepth", "test");
    zi_node_set_int (there, "blocksize", 2);
    zi_node_set_int (back, "blocksize", 2);
    ZI_CHECK (t, zi_test_run_op (there, 1, &x, 1, &y) == 0 && zi_test_run_op (back, 1, &y, 1, &z) == 0
              && zi_tensor_same_shape (x, z) && memcmp (x->data, z->data, x->nbytes) == 0,
              "SpaceToDepth undoes DepthToSpace on int64");
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&z);

    //  Errors
    zi_node_t *node = zi_node_new ("DepthToSpace", "test");
    zi_node_set_int (node, "blocksize", 3);
    ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == -1
              && strstr (zi_error_text (), "8 channels, not a multiple of blocksize^2 = 9"),
              "channels refused: %s", zi_error_text ());
    zi_node_destroy (&node);
    node = zi_node_new ("SpaceToDepth", "test");
    zi_node_set_int (node, "blocksize", 2);
    ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == -1
              && strstr (zi_error_text (), "3 x 3 pixels, not a multiple of blocksize 2"),
              "pixels refused: %s", zi_error_text ());
    zi_node_destroy (&node);
    node = zi_node_new ("DepthToSpace", "test");
    zi_node_set_int (node, "blocksize", 2);
    zi_node_set_string (node, "mode", "RDC");
    ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == -1
              && strstr (zi_error_text (), "expected DCR or CRD"), "mode refused: %s",
              zi_error_text ());
    zi_node_destroy (&node);
    node = zi_node_new ("DepthToSpace", "test");
    ZI_CHECK (t, zi_test_run_op (node, 1, &x, 1, &y) == -1
              && strstr (zi_error_text (), "'blocksize' is required"), "blocksize required: %s",
              zi_error_text ());
    zi_node_destroy (&node);
    zi_node_destroy (&there);
    zi_node_destroy (&back);
    zi_tensor_destroy (&x);
}
