/*  =========================================================================
    act_deconv - transposed convolution (ONNX ConvTranspose), 1-d and 2-d,
    NCHW

    ConvTranspose multiplies W^T by the input (sgemm, or zi_mm on W^T
    packed at load when OpenBLAS's kernels are older than the CPU's) into
    columns and scatters them into the output (col2im), a band of input
    rows at a time. Its attributes and geometry are Conv's (act_conv.c,
    act_conv.h).
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_mm.h"
#include "act_conv.h"
#include "zi_mm_shared.h"
#include <cblas.h>

//  The attributes and the geometry (act_conv.h)
typedef zi_conv_attrs_t s_conv_t;
typedef zi_conv_geom_t s_geom_t;

//  --------------------------------------------------------------------------
//  ConvTranspose

static int
s_deconv_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_geom_t geom;
    if (zi_deconv_geometry (node->params, in [0], in [1], &geom)
    ||  zi_conv_check_bias (zi_conv_input (node, in, 2), geom.out_c))
        return -1;
    zi_conv_geom_shape (&geom, out [0]);
    return 0;
}

//  y [i * stride] += x [i]: the scatter of col2im
static inline void
s_add_strided (float *restrict y, const float *restrict x, int64_t stride, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y [i * stride] += x [i];
}

//  Scatters the columns of input rows [ih0, ih0 + rows) of one group into
//  the output: column row (m, kh, kw) adds to the output pixel that input
//  pixel reaches through that tap
static void
s_col2im (const s_geom_t *geom, const float *col, int64_t channels, int64_t ih0,
          int64_t rows, float *y)
{
    int64_t cols = rows * geom->in_w;
    int64_t out_plane = geom->out_h * geom->out_w;
    for (int64_t m = 0; m < channels; m++)
        for (int64_t kh = 0; kh < geom->k_h; kh++)
            for (int64_t kw = 0; kw < geom->k_w; kw++) {
                const float *src = col + ((m * geom->k_h + kh) * geom->k_w + kw) * cols;
                int64_t offset = kw * geom->dil_w - geom->pad_l;
                int64_t lo, hi;
                zi_conv_valid_range (offset, geom->stride_w, geom->out_w, geom->in_w, &lo, &hi);
                if (hi <= lo)
                    continue;
                for (int64_t row = 0; row < rows; row++) {
                    int64_t oh = (ih0 + row) * geom->stride_h + kh * geom->dil_h - geom->pad_t;
                    if (oh < 0 || oh >= geom->out_h)
                        continue;
                    float *dst = y + m * out_plane + oh * geom->out_w
                               + lo * geom->stride_w + offset;
                    const float *srow = src + row * geom->in_w + lo;
                    if (geom->stride_w == 1)
                        zi_conv_axpy (dst, srow, 1.0f, hi - lo);
                    else
                        s_add_strided (dst, srow, geom->stride_w, hi - lo);
                }
            }
}

//  ConvTranspose's product is W_g^T X_g, W_g being [in_g][depth] row-major.
//  When OpenBLAS's kernels are behind the CPU's (zi_isa_blas_behind), each
//  group's W_g^T is packed once for zi_mm, the groups one after another;
//  else sgemm runs it
static int
s_deconv_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_conv_t *self = node->params;
    zi_packed_release (&self->packed);
    self->packed_from = NULL;
    s_geom_t geom;
    if (!in [1]->data || zi_deconv_geometry (self, in [0], in [1], &geom)
    ||  !zi_cpu_avx2 () || !zi_isa_blas_behind ())
        return 0;
    int64_t in_g = geom.in_c / geom.group;
    int64_t depth = geom.out_c / geom.group * geom.k_h * geom.k_w;
    self->packed = zi_mm_pack_shared (in [1], depth, in_g, 1, depth, geom.group, in_g * depth, 1);
    if (!self->packed)
        return -1;
    self->packed_from = zi_tensor_f32 (in [1]);
    self->packed_maps = depth;
    self->packed_depth = in_g;
    return 0;
}

static int
s_deconv_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    s_geom_t geom;
    if (zi_deconv_geometry (node->params, in [0], in [1], &geom))
        return -1;
    if (zi_tensor_count (out [0]) == 0)
        return 0;
    const float *x = zi_tensor_f32 (in [0]);
    const float *w = zi_tensor_f32 (in [1]);
    const zi_tensor_t *bias_tensor = zi_conv_input (node, in, 2);
    const float *bias = bias_tensor? zi_tensor_f32 (bias_tensor): NULL;
    float *y = zi_tensor_f32 (out [0]);

    int64_t in_g = geom.in_c / geom.group;
    int64_t out_g = geom.out_c / geom.group;
    int64_t depth = out_g * geom.k_h * geom.k_w;       //  rows of W_g^T X_g
    int64_t in_plane = geom.in_h * geom.in_w;
    int64_t out_plane = geom.out_h * geom.out_w;
    int64_t band = zi_conv_band_rows (depth, geom.in_w, geom.in_h, ZI_CONV_BAND_BYTES);
    float *col = zi_exec_scratch (exec, 0, depth * band * geom.in_w * sizeof (float));
    if (!col)
        return -1;
    const s_conv_t *self = node->params;
    const float *packed = self->packed && self->packed_from == w && zi_use_avx2 ()
                       && self->packed_maps == depth && self->packed_depth == in_g?
                          self->packed: NULL;
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    for (int64_t n = 0; n < geom.batch; n++)
        for (int64_t g = 0; g < geom.group; g++) {
            const float *x_ng = x + (n * geom.in_c + g * in_g) * in_plane;
            const float *w_g = w + g * in_g * depth;
            float *y_ng = y + (n * geom.out_c + g * out_g) * out_plane;
            for (int64_t m = 0; m < out_g; m++) {
                float value = bias? bias [g * out_g + m]: 0;
                float *plane = y_ng + m * out_plane;
                for (int64_t item = 0; item < out_plane; item++)
                    plane [item] = value;
            }
            for (int64_t ih0 = 0; ih0 < geom.in_h; ih0 += band) {
                int64_t rows = geom.in_h - ih0 < band? geom.in_h - ih0: band;
                int64_t cols = rows * geom.in_w;
                //  W_g is [in_g, depth] row-major: its transpose times X_g
                if (packed)
                    zi_mm_parallel (exec, packed + g * zi_mm_packed_floats (depth, in_g), depth,
                                    in_g, cols, x_ng + ih0 * geom.in_w, in_plane, NULL, NULL, 0,
                                    &none, col, cols);
                else
                    zi_sgemm (exec, true, false, depth, cols, in_g, 1.0f, w_g, depth,
                              x_ng + ih0 * geom.in_w, in_plane, 0.0f, col, cols);
                s_col2im (&geom, col, out_g, ih0, rows, y_ng);
            }
            zi_act_apply (&node->act, y_ng, (size_t) (out_g * out_plane));
        }
    return 0;
}

//  Every input element is scattered through one filter: the weight's
//  extents after the first (output channels per group times the kernel)
static int64_t
s_deconv_macs (const zi_node_t *node, const zi_tensor_t *const *in,
               const zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0], *weight = in [1];
    if (!x || !weight || !out [0])
        return 0;
    int64_t per_input = 1;
    for (int axis = 1; axis < weight->ndim; axis++)
        per_input *= weight->dims [axis];
    return zi_shape_count (x->ndim, x->dims) * per_input;
}

const zi_op_t zi_op_ConvTranspose = {
    .name = "ConvTranspose", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1,
    .batch = ZI_BATCH_FIRST,
    .fusable = true,
    .init = zi_conv_init, .infer = s_deconv_infer, .prepare = s_deconv_prepare,
    .run = s_deconv_run, .destroy = zi_conv_destroy, .macs = s_deconv_macs
};


//  --------------------------------------------------------------------------
//  Self test: the ConvTranspose cases of the family's case table
//  (act_conv.h), against its reference loops

void
zi_act_deconv_test (zi_test_t *t)
{
    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const zi_conv_case_t cases [] = {
        //  label, op, ns, N, C, H, W, M, kH, kW, group, strides, dilations,
        //  pads, set_pads, auto_pad, bias, then the rest by name
        {"basic bias", "ConvTranspose", 2, 1, 2, 4, 5, 3, 3, 3, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = none, .kernel_shape = true},
        {"stride 2 pads 1 output_padding 1", "ConvTranspose", 2, 1, 3, 7, 5, 2, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = none, .output_padding = {1, 1}},
        {"asymmetric pads dilation 2 batch 2", "ConvTranspose", 2, 2, 2, 5, 4, 3, 3, 2, 0,
         {2, 3}, {2, 2}, {1, 0, 2, 1}, true, NULL, false, .act = none},
        {"group 2 stride 2", "ConvTranspose", 2, 1, 4, 5, 3, 6, 3, 3, 2,
         {2, 2}, {0, 0}, {1, 1, 0, 0}, true, NULL, true, .act = none, .output_padding = {1, 0}},
        {"depthwise stride 2", "ConvTranspose", 2, 1, 3, 4, 4, 3, 4, 4, 3,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"kernel 2 stride 2 (upsample)", "ConvTranspose", 2, 1, 3, 4, 5, 2, 2, 2, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = none},
        {"output_shape", "ConvTranspose", 2, 1, 2, 4, 5, 3, 3, 3, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = none, .output_padding = {0, 0}, .output_shape = {8, 10}},
        {"output_shape full form", "ConvTranspose", 2, 1, 2, 4, 5, 3, 3, 3, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = none, .output_padding = {1, 1}, .output_shape = {9, 10}, .full_output_shape = true},
        {"output_shape larger than full", "ConvTranspose", 2, 1, 2, 3, 3, 2, 3, 3, 0,
         {1, 1}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = none, .output_padding = {0, 0}, .output_shape = {6, 7}},
        {"SAME_UPPER stride 2", "ConvTranspose", 2, 1, 2, 4, 5, 3, 3, 3, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, "SAME_UPPER", true, .act = none},
        {"SAME_LOWER stride 2", "ConvTranspose", 2, 1, 2, 4, 5, 3, 3, 3, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, "SAME_LOWER", true, .act = none},
        {"VALID stride 2", "ConvTranspose", 2, 1, 2, 4, 5, 3, 3, 2, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, "VALID", false, .act = none},
        {"1-d stride 2 output_padding", "ConvTranspose", 1, 2, 3, 1, 7, 2, 1, 3, 0,
         {0, 2}, {0, 0}, {0, 1, 0, 0}, true, NULL, true, .act = none, .kernel_shape = true, .output_padding = {0, 1}},
        {"relu", "ConvTranspose", 2, 1, 3, 5, 4, 4, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"leaky relu group 3", "ConvTranspose", 2, 1, 3, 4, 4, 3, 2, 2, 3,
         {1, 1}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_LEAKY_RELU, 0.2f, 0}},
        {"col2im in bands", "ConvTranspose", 2, 1, 2, 48, 48, 64, 3, 3, 0,
         {1, 1}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = none},
        //  A generator's upsampling: W^T of 13 x 4 x 4 rows, 40 deep
        {"4x4 stride 2 40 to 13 channels", "ConvTranspose", 2, 2, 40, 7, 9, 13, 4, 4, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
    };
    zi_conv_cases_run (t, cases, sizeof cases / sizeof cases [0], 400);

    //  ConvTranspose reads the same in every opset from 9 to 17
    zi_conv_case_t legacy = cases [1];
    legacy.label = "opset 9";
    legacy.opset = 9;
    zi_conv_case_run (t, &legacy, 7);

    //  Errors: each names what was expected and what came
    int64_t x4 [] = {1, 4, 5, 5}, w4 [] = {2, 4, 3, 3}, w3 [] = {2, 4, 3};
    zi_node_t *node;
    zi_conv_check_fails (t, zi_node_new ("ConvTranspose", "weights rank"), 4, x4, 3, w3, NULL,
                         "expected 4-d weights [C, M/group");
    zi_conv_check_fails (t, zi_node_new ("ConvTranspose", "channels"), 4, x4, 4, w4, NULL,
                         "take 2 input channels");
    node = zi_node_new ("ConvTranspose", "group");
    zi_node_set_int (node, "group", 3);
    zi_conv_check_fails (t, node, 4, x4, 4, (int64_t []) {4, 1, 3, 3}, NULL,
                         "4 channels do not divide into 3 groups");
    node = zi_node_new ("ConvTranspose", "pads too large");
    zi_node_set_ints (node, "pads", 4, (int64_t []) {4, 0, 4, 0});
    zi_conv_check_fails (t, node, 4, x4, 4, (int64_t []) {4, 2, 3, 3}, NULL, "less than 1");
    node = zi_node_new ("ConvTranspose", "auto_pad");
    zi_node_set_string (node, "auto_pad", "same_upper");
    zi_conv_check_fails (t, node, 4, x4, 4, (int64_t []) {4, 2, 3, 3}, NULL, "not supported");
}
