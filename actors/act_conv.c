/*  =========================================================================
    act_conv - convolution and transposed convolution (ONNX Conv,
    ConvTranspose), 1-d and 2-d, NCHW

    Conv takes one of three paths:
      - depthwise (one input channel per group): a direct loop per output
        row, no BLAS; each kernel tap is one multiply-add over the part of
        the row that needs no padding, which gcc vectorises;
      - 1x1, stride 1, no padding: the input already is the column matrix,
        so one sgemm per image and group;
      - anything else: im2col into exec scratch, then sgemm. The column
        matrix is built a band of output rows at a time so it stays near
        cache size however large the image.
    Bias and the fused activation are applied to each output row (depthwise)
    or band (im2col) right after it is computed, while it is still in cache.

    ConvTranspose multiplies W^T by the input (sgemm) into columns and
    scatters them into the output (col2im), also a band of input rows at a
    time.

    A 1-d convolution is run as a 2-d one with a height of 1.
    =========================================================================
*/

#include "zi_classes.h"
#include <cblas.h>

//  The column buffer of one im2col / col2im band is kept under this many
//  bytes: large enough for sgemm to run at full speed, small enough to
//  stay in L2/L3 while the band is written, multiplied and post-processed.
#define S_BAND_BYTES (2 * 1024 * 1024)

//  Spatial axes supported: 1 (L) and 2 (H, W)
#define S_MAX_SPATIAL 2

typedef enum {
    S_PAD_NOTSET,               //  explicit pads
    S_PAD_SAME_UPPER,           //  output = ceil (in / stride), extra pad at end
    S_PAD_SAME_LOWER,           //  same, extra pad at start
    S_PAD_VALID                 //  no padding
} s_auto_pad_t;

//  Attributes as the model gave them. Their lengths depend on the input
//  rank, so they are checked in infer, the first time the rank is known.
typedef struct {
    int64_t group;              //  channel groups
    s_auto_pad_t auto_pad;      //  how padding is chosen
    int n_kernel;               //  entries in kernel (0: take W's shape)
    int64_t kernel [2 * ZI_MAX_DIMS];           //  kernel_shape
    int n_strides;              //  entries in strides (0: all 1)
    int64_t strides [2 * ZI_MAX_DIMS];          //  step per spatial axis
    int n_dilations;            //  entries in dilations (0: all 1)
    int64_t dilations [2 * ZI_MAX_DIMS];        //  kernel spacing per axis
    int n_pads;                 //  entries in pads (0: all 0)
    int64_t pads [2 * ZI_MAX_DIMS];             //  begins, then ends
    int n_output_padding;       //  entries in output_padding (ConvTranspose)
    int64_t output_padding [2 * ZI_MAX_DIMS];   //  extra output at the end
    int n_output_shape;         //  entries in output_shape (ConvTranspose)
    int64_t output_shape [2 * ZI_MAX_DIMS];     //  requested output size
} s_conv_t;

//  Everything the loops need, derived from the attributes and the input
//  shapes; a 1-d convolution has in_h = out_h = k_h = 1.
typedef struct {
    int n_spatial;              //  1 or 2
    int64_t batch;              //  N
    int64_t in_c;               //  channels of X
    int64_t in_h, in_w;         //  spatial size of X
    int64_t out_c;              //  channels of Y
    int64_t out_h, out_w;       //  spatial size of Y
    int64_t k_h, k_w;           //  kernel size
    int64_t stride_h, stride_w; //  strides
    int64_t dil_h, dil_w;       //  dilations
    int64_t pad_t, pad_l;       //  padding before the first row and column
    int64_t group;              //  channel groups
} s_geom_t;


//  --------------------------------------------------------------------------
//  Attributes

//  Reads an ints attribute, checking every value is at least minimum
static int
s_attr_ints (const zi_node_t *node, const char *name, int64_t *values, int64_t minimum)
{
    int count = zi_node_attr_ints (node, name, values, 2 * ZI_MAX_DIMS);
    for (int index = 0; index < count; index++)
        if (values [index] < minimum)
            return zi_error ("attribute '%s': values must be at least %lld, got %lld",
                             name, (long long) minimum, (long long) values [index]);
    return count;
}

static int
s_conv_init (zi_node_t *node)
{
    s_conv_t conf = {.group = zi_node_attr_int (node, "group", 1)};
    if (conf.group < 1)
        return zi_error ("attribute 'group' must be at least 1, got %lld",
                         (long long) conf.group);
    const char *auto_pad = zi_node_attr_string (node, "auto_pad", "NOTSET");
    if (strcmp (auto_pad, "NOTSET") == 0 || *auto_pad == 0)
        conf.auto_pad = S_PAD_NOTSET;
    else
    if (strcmp (auto_pad, "SAME_UPPER") == 0)
        conf.auto_pad = S_PAD_SAME_UPPER;
    else
    if (strcmp (auto_pad, "SAME_LOWER") == 0)
        conf.auto_pad = S_PAD_SAME_LOWER;
    else
    if (strcmp (auto_pad, "VALID") == 0)
        conf.auto_pad = S_PAD_VALID;
    else
        return zi_error ("attribute 'auto_pad' = '%s' is not supported "
                         "(supported: NOTSET, SAME_UPPER, SAME_LOWER, VALID)", auto_pad);

    if ((conf.n_kernel = s_attr_ints (node, "kernel_shape", conf.kernel, 1)) < 0
    ||  (conf.n_strides = s_attr_ints (node, "strides", conf.strides, 1)) < 0
    ||  (conf.n_dilations = s_attr_ints (node, "dilations", conf.dilations, 1)) < 0
    ||  (conf.n_pads = s_attr_ints (node, "pads", conf.pads, 0)) < 0
    ||  (conf.n_output_padding = s_attr_ints (node, "output_padding",
                                              conf.output_padding, 0)) < 0
    ||  (conf.n_output_shape = s_attr_ints (node, "output_shape", conf.output_shape, 0)) < 0)
        return -1;

    s_conv_t *self = malloc (sizeof (s_conv_t));
    if (!self)
        return zi_error ("out of memory");
    *self = conf;
    node->params = self;
    return 0;
}

//  An optional input, NULL when omitted
static const zi_tensor_t *
s_input (const zi_node_t *node, const zi_tensor_t *const *in, int slot)
{
    return slot < node->n_inputs? in [slot]: NULL;
}


//  --------------------------------------------------------------------------
//  Geometry

//  Checks the attribute lengths against the number of spatial axes
static int
s_check_lengths (const s_conv_t *self, int n_spatial, const int64_t *kernel)
{
    if (self->n_kernel) {
        if (self->n_kernel != n_spatial)
            return zi_error ("attribute 'kernel_shape' has %d values, expected %d",
                             self->n_kernel, n_spatial);
        for (int axis = 0; axis < n_spatial; axis++)
            if (self->kernel [axis] != kernel [axis])
                return zi_error ("attribute 'kernel_shape' [%d] = %lld does not match "
                                 "the weights' kernel size %lld", axis,
                                 (long long) self->kernel [axis], (long long) kernel [axis]);
    }
    if (self->n_strides && self->n_strides != n_spatial)
        return zi_error ("attribute 'strides' has %d values, expected %d",
                         self->n_strides, n_spatial);
    if (self->n_dilations && self->n_dilations != n_spatial)
        return zi_error ("attribute 'dilations' has %d values, expected %d",
                         self->n_dilations, n_spatial);
    if (self->n_pads && self->n_pads != 2 * n_spatial)
        return zi_error ("attribute 'pads' has %d values, expected %d",
                         self->n_pads, 2 * n_spatial);
    if (self->n_output_padding && self->n_output_padding != n_spatial)
        return zi_error ("attribute 'output_padding' has %d values, expected %d",
                         self->n_output_padding, n_spatial);
    if (self->n_output_shape && self->n_output_shape != n_spatial
    &&  self->n_output_shape != n_spatial + 2)
        return zi_error ("attribute 'output_shape' has %d values, expected %d",
                         self->n_output_shape, n_spatial);
    return 0;
}

//  Checks X and W are float tensors of a supported rank and returns the
//  number of spatial axes, or -1
static int
s_check_ranks (const zi_tensor_t *x, const zi_tensor_t *w, const char *w_layout)
{
    char shape [128];
    if (x->dtype != ZI_F32)
        return zi_error ("input 0: expected float32, got %s", zi_dtype_name (x->dtype));
    if (w->dtype != ZI_F32)
        return zi_error ("input 1: expected float32, got %s", zi_dtype_name (w->dtype));
    int n_spatial = x->ndim - 2;
    if (n_spatial < 1 || n_spatial > S_MAX_SPATIAL)
        return zi_error ("input 0: expected [N, C, L] or [N, C, H, W], got %s "
                         "(only 1-d and 2-d convolutions are supported)",
                         zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    if (w->ndim != x->ndim)
        return zi_error ("input 1: expected %d-d weights [%s%s] for a %d-d input, got %s",
                         x->ndim, w_layout, n_spatial == 1? ", k": ", kH, kW", x->ndim,
                         zi_shape_str (w->ndim, w->dims, shape, sizeof shape));
    if (x->dims [1] < 1)
        return zi_error ("input 0: has no channels");
    for (int axis = 2; axis < w->ndim; axis++)
        if (w->dims [axis] < 1)
            return zi_error ("input 1: kernel sizes must be at least 1, got %s",
                             zi_shape_str (w->ndim, w->dims, shape, sizeof shape));
    return n_spatial;
}

//  Checks the optional bias is [out_c]
static int
s_check_bias (const zi_tensor_t *bias, int64_t out_c)
{
    char shape [128];
    if (bias && (bias->dtype != ZI_F32 || bias->ndim != 1 || bias->dims [0] != out_c))
        return zi_error ("input 2: expected float32 bias [%lld], got %s %s",
                         (long long) out_c, zi_dtype_name (bias->dtype),
                         zi_shape_str (bias->ndim, bias->dims, shape, sizeof shape));
    return 0;
}

//  Stores per-axis values (index 0 = first spatial axis) into the geometry,
//  where a 1-d convolution only has the w axis
static void
s_geom_axes (s_geom_t *geom, int n_spatial, const int64_t *in, const int64_t *out,
             const int64_t *kernel, const int64_t *stride, const int64_t *dilation,
             const int64_t *pad_begin)
{
    int last = n_spatial - 1;
    geom->in_w = in [last];
    geom->out_w = out [last];
    geom->k_w = kernel [last];
    geom->stride_w = stride [last];
    geom->dil_w = dilation [last];
    geom->pad_l = pad_begin [last];
    if (n_spatial == 2) {
        geom->in_h = in [0];
        geom->out_h = out [0];
        geom->k_h = kernel [0];
        geom->stride_h = stride [0];
        geom->dil_h = dilation [0];
        geom->pad_t = pad_begin [0];
    }
    else {
        geom->in_h = geom->out_h = geom->k_h = 1;
        geom->stride_h = geom->dil_h = 1;
        geom->pad_t = 0;
    }
}

static int
s_conv_geometry (const s_conv_t *self, const zi_tensor_t *x, const zi_tensor_t *w,
                 s_geom_t *geom)
{
    char x_shape [128], w_shape [128];
    int n_spatial = s_check_ranks (x, w, "M, C/group");
    if (n_spatial < 0)
        return -1;
    int64_t group = self->group;
    if (w->dims [1] * group != x->dims [1])
        return zi_error ("input 1: weights %s with group %lld take %lld input channels, "
                         "input 0 %s has %lld",
                         zi_shape_str (w->ndim, w->dims, w_shape, sizeof w_shape),
                         (long long) group, (long long) (w->dims [1] * group),
                         zi_shape_str (x->ndim, x->dims, x_shape, sizeof x_shape),
                         (long long) x->dims [1]);
    if (w->dims [0] % group != 0)
        return zi_error ("input 1: %lld output channels do not divide into %lld groups",
                         (long long) w->dims [0], (long long) group);
    if (s_check_lengths (self, n_spatial, w->dims + 2))
        return -1;

    int64_t out [S_MAX_SPATIAL], stride [S_MAX_SPATIAL], dilation [S_MAX_SPATIAL];
    int64_t pad_begin [S_MAX_SPATIAL];
    for (int axis = 0; axis < n_spatial; axis++) {
        int64_t in = x->dims [2 + axis];
        int64_t kernel = w->dims [2 + axis];
        stride [axis] = self->n_strides? self->strides [axis]: 1;
        dilation [axis] = self->n_dilations? self->dilations [axis]: 1;
        int64_t begin = self->n_pads? self->pads [axis]: 0;
        int64_t end = self->n_pads? self->pads [n_spatial + axis]: 0;
        int64_t span = (kernel - 1) * dilation [axis] + 1;
        if (self->auto_pad == S_PAD_VALID)
            begin = end = 0;
        else
        if (self->auto_pad != S_PAD_NOTSET) {
            //  SAME: as many outputs as strides fit, padding split evenly
            int64_t want = (in + stride [axis] - 1) / stride [axis];
            int64_t total = (want - 1) * stride [axis] + span - in;
            if (total < 0)
                total = 0;
            begin = self->auto_pad == S_PAD_SAME_UPPER? total / 2: total - total / 2;
            end = total - begin;
        }
        if (in + begin + end < span)
            return zi_error ("spatial axis %d: the kernel spans %lld (size %lld, dilation "
                             "%lld), more than the padded input %lld", axis,
                             (long long) span, (long long) kernel,
                             (long long) dilation [axis], (long long) (in + begin + end));
        out [axis] = (in + begin + end - span) / stride [axis] + 1;
        pad_begin [axis] = begin;
    }
    geom->n_spatial = n_spatial;
    geom->batch = x->dims [0];
    geom->in_c = x->dims [1];
    geom->out_c = w->dims [0];
    geom->group = group;
    s_geom_axes (geom, n_spatial, x->dims + 2, out, w->dims + 2, stride, dilation, pad_begin);
    return 0;
}

static int
s_deconv_geometry (const s_conv_t *self, const zi_tensor_t *x, const zi_tensor_t *w,
                   s_geom_t *geom)
{
    char x_shape [128], w_shape [128];
    int n_spatial = s_check_ranks (x, w, "C, M/group");
    if (n_spatial < 0)
        return -1;
    int64_t group = self->group;
    if (w->dims [0] != x->dims [1])
        return zi_error ("input 1: weights %s take %lld input channels, input 0 %s has %lld",
                         zi_shape_str (w->ndim, w->dims, w_shape, sizeof w_shape),
                         (long long) w->dims [0],
                         zi_shape_str (x->ndim, x->dims, x_shape, sizeof x_shape),
                         (long long) x->dims [1]);
    if (x->dims [1] % group != 0)
        return zi_error ("input 0: %lld channels do not divide into %lld groups",
                         (long long) x->dims [1], (long long) group);
    if (s_check_lengths (self, n_spatial, w->dims + 2))
        return -1;

    //  output_shape may list only the spatial sizes or the whole shape
    const int64_t *wanted = self->n_output_shape?
        self->output_shape + (self->n_output_shape - n_spatial): NULL;
    int64_t out [S_MAX_SPATIAL], stride [S_MAX_SPATIAL], dilation [S_MAX_SPATIAL];
    int64_t pad_begin [S_MAX_SPATIAL];
    for (int axis = 0; axis < n_spatial; axis++) {
        int64_t in = x->dims [2 + axis];
        int64_t kernel = w->dims [2 + axis];
        stride [axis] = self->n_strides? self->strides [axis]: 1;
        dilation [axis] = self->n_dilations? self->dilations [axis]: 1;
        int64_t extra = self->n_output_padding? self->output_padding [axis]: 0;
        int64_t full = stride [axis] * (in - 1) + extra + (kernel - 1) * dilation [axis] + 1;
        if (wanted || self->auto_pad == S_PAD_SAME_UPPER
        ||  self->auto_pad == S_PAD_SAME_LOWER) {
            //  The output size is given; the padding that trims the full
            //  result to it is derived, as the ONNX spec's equations say.
            //  When more output is asked for than the full result, the
            //  extra elements at the end only get the bias.
            out [axis] = wanted? wanted [axis]: in * stride [axis];
            int64_t total = full - out [axis];
            if (total < 0)
                total = 0;
            pad_begin [axis] = self->auto_pad == S_PAD_SAME_UPPER? total / 2: total - total / 2;
        }
        else
        if (self->auto_pad == S_PAD_VALID) {
            out [axis] = full;
            pad_begin [axis] = 0;
        }
        else {
            int64_t begin = self->n_pads? self->pads [axis]: 0;
            int64_t end = self->n_pads? self->pads [n_spatial + axis]: 0;
            out [axis] = full - begin - end;
            pad_begin [axis] = begin;
        }
        if (out [axis] < 1)
            return zi_error ("spatial axis %d: output size %lld is less than 1 "
                             "(input %lld, kernel %lld, stride %lld, pads too large?)", axis,
                             (long long) out [axis], (long long) in, (long long) kernel,
                             (long long) stride [axis]);
    }
    geom->n_spatial = n_spatial;
    geom->batch = x->dims [0];
    geom->in_c = x->dims [1];
    geom->out_c = w->dims [1] * group;
    geom->group = group;
    s_geom_axes (geom, n_spatial, x->dims + 2, out, w->dims + 2, stride, dilation, pad_begin);
    return 0;
}

static void
s_geom_shape (const s_geom_t *geom, zi_tensor_t *out)
{
    int64_t dims [4] = {geom->batch, geom->out_c, geom->out_h, geom->out_w};
    if (geom->n_spatial == 1) {
        dims [2] = geom->out_w;
        zi_tensor_set_shape (out, ZI_F32, 3, dims);
    }
    else
        zi_tensor_set_shape (out, ZI_F32, 4, dims);
}

static int
s_conv_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_geom_t geom;
    if (s_conv_geometry (node->params, in [0], in [1], &geom)
    ||  s_check_bias (s_input (node, in, 2), geom.out_c))
        return -1;
    s_geom_shape (&geom, out [0]);
    return 0;
}

static int
s_deconv_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_geom_t geom;
    if (s_deconv_geometry (node->params, in [0], in [1], &geom)
    ||  s_check_bias (s_input (node, in, 2), geom.out_c))
        return -1;
    s_geom_shape (&geom, out [0]);
    return 0;
}


//  --------------------------------------------------------------------------
//  Loop helpers

//  The indices i in [0, count) for which 0 <= i * stride + offset < limit
//  form one range [*lo, *hi); this is the part of a row that needs no
//  padding, so inner loops over it have no bounds checks.
static void
s_valid_range (int64_t offset, int64_t stride, int64_t limit, int64_t count,
               int64_t *lo, int64_t *hi)
{
    int64_t first = offset >= 0? 0: (-offset + stride - 1) / stride;
    int64_t last = limit - 1 - offset;          //  i * stride <= last
    int64_t end = last < 0? 0: last / stride + 1;
    if (first > count)
        first = count;
    if (end > count)
        end = count;
    if (end < first)
        end = first;
    *lo = first;
    *hi = end;
}

//  y [i] += a * x [i]; restrict lets gcc vectorise without alias checks
static inline void
s_axpy (float *restrict y, const float *restrict x, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y [i] += a * x [i];
}

//  y [i * stride] += x [i]: the scatter of col2im
static inline void
s_add_strided (float *restrict y, const float *restrict x, int64_t stride, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y [i * stride] += x [i];
}

//  Adds a bias to n floats and applies the activation in the same pass
//  for the common cases
static void
s_bias_act (float *restrict y, int64_t n, float bias, const zi_act_t *act)
{
    if (act->kind == ZI_ACT_RELU) {
        for (int64_t i = 0; i < n; i++) {
            float v = y [i] + bias;
            y [i] = v > 0? v: 0;
        }
        return;
    }
    if (bias != 0)
        for (int64_t i = 0; i < n; i++)
            y [i] += bias;
    zi_act_apply (act, y, (size_t) n);
}

//  Output rows per band so the band's column matrix fits S_BAND_BYTES
static int64_t
s_band_rows (int64_t col_rows, int64_t row_width, int64_t rows)
{
    int64_t bytes = col_rows * row_width * (int64_t) sizeof (float);
    int64_t band = bytes > 0? S_BAND_BYTES / bytes: rows;
    if (band < 1)
        band = 1;
    return band < rows? band: rows;
}


//  --------------------------------------------------------------------------
//  Conv

//  Depthwise convolution reads a padded copy of one input plane at a time.
//  The copy has the zero padding written out, so each output pixel sums
//  all its taps with no bounds checks. With a column stride s the copy is
//  split into s phase planes, column q s + p of the padded row going to
//  column q of phase p: tap kw of output column ow then sits in phase
//  (kw dil_w) mod s at column ow + (kw dil_w) / s, so a strided kernel
//  loads consecutive floats like an unstrided one. The copy is made once
//  per input channel and serves every output channel that reads it.
typedef struct {
    int64_t rows;               //  padded rows the output rows reach
    int64_t width;              //  floats per row of a phase plane
    int64_t phases;             //  phase planes, the column stride
    int64_t plane;              //  floats per phase plane
} s_dw_t;

//  Output columns are computed eight at a time by the SIMD kernel, so
//  every row is wide enough for the last group of eight to read its taps
static void
s_dw_layout (const s_geom_t *geom, s_dw_t *dw)
{
    int64_t reach = (geom->k_w - 1) * geom->dil_w / geom->stride_w;
    dw->rows = (geom->out_h - 1) * geom->stride_h + (geom->k_h - 1) * geom->dil_h + 1;
    dw->width = (geom->out_w + 7) / 8 * 8 + reach;
    dw->phases = geom->stride_w;
    dw->plane = dw->rows * dw->width;
}

//  Where tap kw of output column 0 is in the padded copy
static int64_t
s_dw_column (const s_geom_t *geom, const s_dw_t *dw, int64_t kw)
{
    int64_t at = kw * geom->dil_w;
    return at % dw->phases * dw->plane + at / dw->phases;
}

//  Writes the padded, phase-split copy of one input plane
static void
s_dw_fill (const s_geom_t *geom, const s_dw_t *dw, const float *x, float *pad)
{
    int64_t stride = dw->phases;
    for (int64_t phase = 0; phase < stride; phase++) {
        int64_t lo, hi;
        s_valid_range (phase - geom->pad_l, stride, geom->in_w, dw->width, &lo, &hi);
        for (int64_t row = 0; row < dw->rows; row++) {
            float *dst = pad + phase * dw->plane + row * dw->width;
            int64_t ih = row - geom->pad_t;
            if (ih < 0 || ih >= geom->in_h || hi <= lo) {
                memset (dst, 0, dw->width * sizeof (float));
                continue;
            }
            const float *src = x + ih * geom->in_w + lo * stride + phase - geom->pad_l;
            memset (dst, 0, lo * sizeof (float));
            if (stride == 1)
                memcpy (dst + lo, src, (hi - lo) * sizeof (float));
            else
                for (int64_t q = 0; q < hi - lo; q++)
                    dst [lo + q] = src [q * stride];
            memset (dst + hi, 0, (dw->width - hi) * sizeof (float));
        }
    }
}

//  Can the activation be applied to a vector register by s_act8?
static bool
s_act_inline (const zi_act_t *act)
{
    return act->kind == ZI_ACT_NONE || act->kind == ZI_ACT_RELU || act->kind == ZI_ACT_CLIP
        || act->kind == ZI_ACT_LEAKY_RELU || act->kind == ZI_ACT_HARD_SIGMOID
        || act->kind == ZI_ACT_HARD_SWISH;
}

//  One output plane, portable: each tap adds its share to the whole output
//  row, which stays in L1 while the taps go by
static void
s_dw_plane (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
            const float *pad, const float *w, float bias, const zi_act_t *act, float *y)
{
    for (int64_t oh = 0; oh < geom->out_h; oh++) {
        float *yrow = y + oh * geom->out_w;
        for (int64_t ow = 0; ow < geom->out_w; ow++)
            yrow [ow] = bias;
        for (int64_t kh = 0; kh < geom->k_h; kh++) {
            const float *prow = pad + (oh * geom->stride_h + kh * geom->dil_h) * dw->width;
            for (int64_t kw = 0; kw < geom->k_w; kw++)
                s_axpy (yrow, prow + columns [kw], w [kh * geom->k_w + kw], geom->out_w);
        }
        zi_act_apply (act, yrow, (size_t) geom->out_w);
    }
}

#if defined (__GNUC__) && (defined (__x86_64__) || defined (__i386__))
#   define S_HAVE_AVX2 1
#   include <immintrin.h>
#   define S_AVX2 __attribute__ ((target ("avx2,fma")))
#   define S_AVX2_INLINE __attribute__ ((target ("avx2,fma"), always_inline)) inline

//  _mm256_maskstore_ps mask for the first n lanes: 8 - n floats in
static const int32_t s_tail_mask [16] = {
    -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0
};

//  The activations that are a few vector instructions; the caller has
//  checked s_act_inline
static S_AVX2_INLINE __m256
s_act8 (__m256 v, zi_act_kind_t kind, __m256 alpha, __m256 beta)
{
    __m256 zero = _mm256_setzero_ps ();
    __m256 one = _mm256_set1_ps (1.0f);
    switch (kind) {
        case ZI_ACT_RELU:
            return _mm256_max_ps (v, zero);
        case ZI_ACT_CLIP:
            return _mm256_min_ps (_mm256_max_ps (v, alpha), beta);
        case ZI_ACT_LEAKY_RELU:
            return _mm256_blendv_ps (_mm256_mul_ps (v, alpha), v,
                                     _mm256_cmp_ps (v, zero, _CMP_GE_OQ));
        case ZI_ACT_HARD_SIGMOID:
            return _mm256_min_ps (_mm256_max_ps (_mm256_fmadd_ps (v, alpha, beta), zero), one);
        case ZI_ACT_HARD_SWISH: {
            __m256 gate = _mm256_fmadd_ps (v, _mm256_set1_ps (1.0f / 6.0f),
                                           _mm256_set1_ps (0.5f));
            return _mm256_mul_ps (v, _mm256_min_ps (_mm256_max_ps (gate, zero), one));
        }
        default:
            return v;
    }
}

//  One output plane, eight columns per step with every tap of the kernel
//  summed in a register. Inlined with constant kernel sizes and column
//  stride for the common shapes so the tap loops unroll; stride 0 means
//  "not constant", and then the tap columns come from the table.
static S_AVX2_INLINE void
s_dw_plane_avx2_body (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
                      const float *pad, const float *w, float bias, const zi_act_t *act,
                      float *y, int64_t k_h, int64_t k_w, int64_t stride)
{
    zi_act_kind_t kind = s_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m256 alpha = _mm256_set1_ps (act->alpha);
    __m256 beta = _mm256_set1_ps (act->beta);
    __m256 start = _mm256_set1_ps (bias);
    int64_t out_w = geom->out_w;
    int64_t width = dw->width;
    int64_t row_step = geom->stride_h * width;
    int64_t tap_step = geom->dil_h * width;
    int64_t full = out_w / 8 * 8;
    __m256i tail = _mm256_loadu_si256 ((const __m256i *) (s_tail_mask + 8 - (out_w - full)));
    for (int64_t oh = 0; oh < geom->out_h; oh++) {
        const float *base = pad + oh * row_step;
        float *yrow = y + oh * out_w;
        for (int64_t ow = 0; ow < out_w; ow += 8) {
            __m256 sum = start;
            for (int64_t kh = 0; kh < k_h; kh++)
                for (int64_t kw = 0; kw < k_w; kw++) {
                    int64_t column = stride? kw % stride * dw->plane + kw / stride
                                           : columns [kw];
                    __m256 in = _mm256_loadu_ps (base + kh * tap_step + column + ow);
                    sum = _mm256_fmadd_ps (_mm256_broadcast_ss (w + kh * k_w + kw), in, sum);
                }
            sum = s_act8 (sum, kind, alpha, beta);
            if (ow < full)
                _mm256_storeu_ps (yrow + ow, sum);
            else
                _mm256_maskstore_ps (yrow + ow, tail, sum);
        }
        if (kind != act->kind)
            zi_act_apply (act, yrow, (size_t) out_w);
    }
}

static S_AVX2 void
s_dw_plane_avx2 (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
                 const float *pad, const float *w, float bias, const zi_act_t *act, float *y)
{
    //  The constant stride is only valid when there is no column dilation
    bool plain = geom->dil_w == 1;
    if (plain && geom->k_h == 3 && geom->k_w == 3 && geom->stride_w == 1)
        s_dw_plane_avx2_body (geom, dw, columns, pad, w, bias, act, y, 3, 3, 1);
    else
    if (plain && geom->k_h == 3 && geom->k_w == 3 && geom->stride_w == 2)
        s_dw_plane_avx2_body (geom, dw, columns, pad, w, bias, act, y, 3, 3, 2);
    else
    if (plain && geom->k_h == 5 && geom->k_w == 5 && geom->stride_w == 1)
        s_dw_plane_avx2_body (geom, dw, columns, pad, w, bias, act, y, 5, 5, 1);
    else
    if (plain && geom->k_h == 5 && geom->k_w == 5 && geom->stride_w == 2)
        s_dw_plane_avx2_body (geom, dw, columns, pad, w, bias, act, y, 5, 5, 2);
    else
        s_dw_plane_avx2_body (geom, dw, columns, pad, w, bias, act, y,
                              geom->k_h, geom->k_w, 0);
}
#endif

//  Set by the self test to run the portable kernels on a machine that has
//  the SIMD ones
static bool s_portable_only = false;

//  Use the AVX2 + FMA kernels? Asked once; the answer never changes.
static bool
s_use_avx2 (void)
{
#if defined (S_HAVE_AVX2)
    static int supported = -1;
    if (supported < 0)
        supported = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
    return supported && !s_portable_only;
#else
    return false;
#endif
}

//  Depthwise: each output channel reads one input channel (group == C);
//  with M = k C, output channels c k .. c k + k - 1 read input channel c
static int
s_conv_depthwise (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *w,
                  const float *bias, const zi_act_t *act, float *y)
{
    s_dw_t dw;
    s_dw_layout (geom, &dw);
    float *pad = zi_exec_scratch (exec, 0, dw.phases * dw.plane * sizeof (float));
    int64_t *columns = zi_exec_scratch (exec, 1, geom->k_w * sizeof (int64_t));
    if (!pad || !columns)
        return -1;
    for (int64_t kw = 0; kw < geom->k_w; kw++)
        columns [kw] = s_dw_column (geom, &dw, kw);
    bool avx2 = s_use_avx2 ();
    int64_t multiplier = geom->out_c / geom->in_c;
    int64_t in_plane = geom->in_h * geom->in_w;
    int64_t out_plane = geom->out_h * geom->out_w;
    int64_t taps = geom->k_h * geom->k_w;
    for (int64_t n = 0; n < geom->batch; n++)
        for (int64_t c = 0; c < geom->in_c; c++) {
            s_dw_fill (geom, &dw, x + (n * geom->in_c + c) * in_plane, pad);
            for (int64_t m = c * multiplier; m < (c + 1) * multiplier; m++) {
                float *y_nm = y + (n * geom->out_c + m) * out_plane;
                float b = bias? bias [m]: 0;
#if defined (S_HAVE_AVX2)
                if (avx2) {
                    s_dw_plane_avx2 (geom, &dw, columns, pad, w + m * taps, b, act, y_nm);
                    continue;
                }
#endif
                s_dw_plane (geom, &dw, columns, pad, w + m * taps, b, act, y_nm);
            }
        }
    return 0;
}

//  1x1, stride 1, no padding: Y_g = W_g X_g straight from the input
static void
s_conv_pointwise (const s_geom_t *geom, const float *x, const float *w, const float *bias,
                  const zi_act_t *act, float *y)
{
    int64_t in_g = geom->in_c / geom->group;
    int64_t out_g = geom->out_c / geom->group;
    int64_t plane = geom->out_h * geom->out_w;
    for (int64_t n = 0; n < geom->batch; n++)
        for (int64_t g = 0; g < geom->group; g++) {
            float *y_ng = y + (n * geom->out_c + g * out_g) * plane;
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans,
                         (blasint) out_g, (blasint) plane, (blasint) in_g, 1.0f,
                         w + g * out_g * in_g, (blasint) in_g,
                         x + (n * geom->in_c + g * in_g) * plane, (blasint) plane,
                         0.0f, y_ng, (blasint) plane);
            for (int64_t m = 0; m < out_g; m++)
                s_bias_act (y_ng + m * plane, plane, bias? bias [g * out_g + m]: 0, act);
        }
}

//  Columns for output rows [oh0, oh0 + rows) of one group: row
//  (c, kh, kw) holds the input pixel each output pixel sees through that
//  tap, or 0 where it falls in the padding
static void
s_im2col (const s_geom_t *geom, const float *x, int64_t channels, int64_t oh0,
          int64_t rows, float *col)
{
    int64_t cols = rows * geom->out_w;
    int64_t in_plane = geom->in_h * geom->in_w;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t kh = 0; kh < geom->k_h; kh++)
            for (int64_t kw = 0; kw < geom->k_w; kw++) {
                float *dst = col + ((c * geom->k_h + kh) * geom->k_w + kw) * cols;
                int64_t offset = kw * geom->dil_w - geom->pad_l;
                int64_t lo, hi;
                s_valid_range (offset, geom->stride_w, geom->in_w, geom->out_w, &lo, &hi);
                for (int64_t row = 0; row < rows; row++) {
                    float *drow = dst + row * geom->out_w;
                    int64_t ih = (oh0 + row) * geom->stride_h + kh * geom->dil_h - geom->pad_t;
                    if (ih < 0 || ih >= geom->in_h) {
                        memset (drow, 0, geom->out_w * sizeof (float));
                        continue;
                    }
                    memset (drow, 0, lo * sizeof (float));
                    memset (drow + hi, 0, (geom->out_w - hi) * sizeof (float));
                    if (hi <= lo)
                        continue;
                    const float *src = x + c * in_plane + ih * geom->in_w
                                     + lo * geom->stride_w + offset;
                    if (geom->stride_w == 1)
                        memcpy (drow + lo, src, (hi - lo) * sizeof (float));
                    else
                        for (int64_t ow = 0; ow < hi - lo; ow++)
                            drow [lo + ow] = src [ow * geom->stride_w];
                }
            }
}

static int
s_conv_im2col (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *w,
               const float *bias, const zi_act_t *act, float *y)
{
    int64_t in_g = geom->in_c / geom->group;
    int64_t out_g = geom->out_c / geom->group;
    int64_t depth = in_g * geom->k_h * geom->k_w;      //  sgemm's K
    int64_t in_plane = geom->in_h * geom->in_w;
    int64_t out_plane = geom->out_h * geom->out_w;
    int64_t band = s_band_rows (depth, geom->out_w, geom->out_h);
    float *col = zi_exec_scratch (exec, 0, depth * band * geom->out_w * sizeof (float));
    if (!col)
        return -1;
    for (int64_t n = 0; n < geom->batch; n++)
        for (int64_t g = 0; g < geom->group; g++) {
            const float *x_ng = x + (n * geom->in_c + g * in_g) * in_plane;
            const float *w_g = w + g * out_g * depth;
            float *y_ng = y + (n * geom->out_c + g * out_g) * out_plane;
            for (int64_t oh0 = 0; oh0 < geom->out_h; oh0 += band) {
                int64_t rows = geom->out_h - oh0 < band? geom->out_h - oh0: band;
                int64_t cols = rows * geom->out_w;
                s_im2col (geom, x_ng, in_g, oh0, rows, col);
                float *y_band = y_ng + oh0 * geom->out_w;
                cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans,
                             (blasint) out_g, (blasint) cols, (blasint) depth, 1.0f,
                             w_g, (blasint) depth, col, (blasint) cols,
                             0.0f, y_band, (blasint) out_plane);
                for (int64_t m = 0; m < out_g; m++)
                    s_bias_act (y_band + m * out_plane, cols,
                                bias? bias [g * out_g + m]: 0, act);
            }
        }
    return 0;
}

static int
s_conv_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    s_geom_t geom;
    if (s_conv_geometry (node->params, in [0], in [1], &geom))
        return -1;
    if (zi_tensor_count (out [0]) == 0)
        return 0;
    const float *x = zi_tensor_f32 (in [0]);
    const float *w = zi_tensor_f32 (in [1]);
    const zi_tensor_t *bias_tensor = s_input (node, in, 2);
    const float *bias = bias_tensor? zi_tensor_f32 (bias_tensor): NULL;
    float *y = zi_tensor_f32 (out [0]);

    if (geom.group == geom.in_c)
        return s_conv_depthwise (&geom, exec, x, w, bias, &node->act, y);
    else
    if (geom.k_h == 1 && geom.k_w == 1 && geom.stride_h == 1 && geom.stride_w == 1
    &&  geom.pad_t == 0 && geom.pad_l == 0
    &&  geom.out_h == geom.in_h && geom.out_w == geom.in_w)
        s_conv_pointwise (&geom, x, w, bias, &node->act, y);
    else
        return s_conv_im2col (&geom, exec, x, w, bias, &node->act, y);
    return 0;
}


//  --------------------------------------------------------------------------
//  ConvTranspose

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
                s_valid_range (offset, geom->stride_w, geom->out_w, geom->in_w, &lo, &hi);
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
                        s_axpy (dst, srow, 1.0f, hi - lo);
                    else
                        s_add_strided (dst, srow, geom->stride_w, hi - lo);
                }
            }
}

static int
s_deconv_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    s_geom_t geom;
    if (s_deconv_geometry (node->params, in [0], in [1], &geom))
        return -1;
    if (zi_tensor_count (out [0]) == 0)
        return 0;
    const float *x = zi_tensor_f32 (in [0]);
    const float *w = zi_tensor_f32 (in [1]);
    const zi_tensor_t *bias_tensor = s_input (node, in, 2);
    const float *bias = bias_tensor? zi_tensor_f32 (bias_tensor): NULL;
    float *y = zi_tensor_f32 (out [0]);

    int64_t in_g = geom.in_c / geom.group;
    int64_t out_g = geom.out_c / geom.group;
    int64_t depth = out_g * geom.k_h * geom.k_w;       //  rows of W_g^T X_g
    int64_t in_plane = geom.in_h * geom.in_w;
    int64_t out_plane = geom.out_h * geom.out_w;
    int64_t band = s_band_rows (depth, geom.in_w, geom.in_h);
    float *col = zi_exec_scratch (exec, 0, depth * band * geom.in_w * sizeof (float));
    if (!col)
        return -1;
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
                cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans,
                             (blasint) depth, (blasint) cols, (blasint) in_g, 1.0f,
                             w_g, (blasint) depth, x_ng + ih0 * geom.in_w, (blasint) in_plane,
                             0.0f, col, (blasint) cols);
                s_col2im (&geom, col, out_g, ih0, rows, y_ng);
            }
            zi_act_apply (&node->act, y_ng, (size_t) (out_g * out_plane));
        }
    return 0;
}


//  --------------------------------------------------------------------------
//  Op table entries

const zi_op_t zi_op_Conv = {
    .name = "Conv", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1, .fusable = true,
    .init = s_conv_init, .infer = s_conv_infer, .run = s_conv_run
};

const zi_op_t zi_op_ConvTranspose = {
    .name = "ConvTranspose", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1,
    .fusable = true,
    .init = s_conv_init, .infer = s_deconv_infer, .run = s_deconv_run
};


//  --------------------------------------------------------------------------
//  Self test: every path against naive loops written from the ONNX spec

typedef struct {
    const char *label;          //  what the case covers
    const char *op;             //  "Conv" or "ConvTranspose"
    int n_spatial;              //  1 or 2; for 1-d only the w values count
    int64_t batch, channels;    //  N, C of X
    int64_t in_h, in_w;         //  spatial size of X
    int64_t maps;               //  M, output channels
    int64_t k_h, k_w;           //  kernel
    int64_t group;              //  0: leave the attribute out (1)
    int64_t stride [2];         //  {0, 0}: leave the attribute out
    int64_t dilation [2];       //  {0, 0}: leave the attribute out
    int64_t pads [4];           //  top, left, bottom, right
    bool set_pads;              //  give the pads attribute
    const char *auto_pad;       //  NULL: leave the attribute out
    bool bias;                  //  pass a bias input
    zi_act_t act;               //  fused activation
    bool kernel_shape;          //  give kernel_shape
    int64_t output_padding [2]; //  ConvTranspose
    int64_t output_shape [2];   //  ConvTranspose, {0, 0}: none
    bool full_output_shape;     //  output_shape as [N, M, H, W]
    int opset;                  //  0: the default
} s_case_t;

//  Per-axis value of the case: 1-d cases only use the w column
static int64_t
s_case_axis (const s_case_t *tc, const int64_t *pair, int axis, int64_t fallback)
{
    int64_t value = pair [tc->n_spatial == 1? 1: axis];
    return value? value: fallback;
}

//  Output size and begin padding of one axis, straight from the spec
static void
s_ref_axis (const s_case_t *tc, int axis, int64_t *out, int64_t *begin)
{
    bool deconv = strcmp (tc->op, "ConvTranspose") == 0;
    int64_t in = axis? tc->in_w: tc->in_h;
    int64_t k = axis? tc->k_w: tc->k_h;
    if (tc->n_spatial == 1 && axis == 0) {
        *out = 1;
        *begin = 0;
        return;
    }
    int64_t s = s_case_axis (tc, tc->stride, axis, 1);
    int64_t d = s_case_axis (tc, tc->dilation, axis, 1);
    int64_t pb = tc->pads [axis], pe = tc->pads [axis + 2];
    const char *auto_pad = tc->auto_pad? tc->auto_pad: "NOTSET";
    if (!deconv) {
        if (strcmp (auto_pad, "VALID") == 0)
            pb = pe = 0;
        else
        if (strncmp (auto_pad, "SAME", 4) == 0) {
            int64_t want = (in + s - 1) / s;
            int64_t total = (want - 1) * s + (k - 1) * d + 1 - in;
            total = total > 0? total: 0;
            pb = strcmp (auto_pad, "SAME_UPPER") == 0? total / 2: (total + 1) / 2;
            pe = total - pb;
        }
        *out = (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
        *begin = pb;
        return;
    }
    int64_t adj = s_case_axis (tc, tc->output_padding, axis, 0);
    int64_t full = s * (in - 1) + adj + (k - 1) * d + 1;
    int64_t wanted = s_case_axis (tc, tc->output_shape, axis, 0);
    if (wanted || strncmp (auto_pad, "SAME", 4) == 0) {
        *out = wanted? wanted: in * s;
        int64_t total = full - *out;
        total = total > 0? total: 0;
        *begin = strcmp (auto_pad, "SAME_UPPER") == 0? total / 2: total - total / 2;
    }
    else
    if (strcmp (auto_pad, "VALID") == 0) {
        *out = full;
        *begin = 0;
    }
    else {
        *out = full - pb - pe;
        *begin = pb;
    }
}

//  The seven loops, in double; for ConvTranspose the same loops with the
//  roles of input and output pixels swapped (each input pixel scatters)
static void
s_ref_conv (const s_case_t *tc, const float *x, const float *w, const float *b,
            int64_t out_h, int64_t out_w, int64_t pad_t, int64_t pad_l, float *y)
{
    bool deconv = strcmp (tc->op, "ConvTranspose") == 0;
    int64_t group = tc->group? tc->group: 1;
    int64_t in_g = tc->channels / group, out_g = tc->maps / group;
    int64_t sh = s_case_axis (tc, tc->stride, 0, 1), sw = s_case_axis (tc, tc->stride, 1, 1);
    int64_t dh = s_case_axis (tc, tc->dilation, 0, 1), dw = s_case_axis (tc, tc->dilation, 1, 1);
    if (tc->n_spatial == 1)
        sh = dh = 1;
    int64_t out_count = tc->batch * tc->maps * out_h * out_w;
    double *sum = calloc (out_count, sizeof (double));
    assert (sum);
    for (int64_t n = 0; n < tc->batch; n++)
    for (int64_t g = 0; g < group; g++)
    for (int64_t mo = 0; mo < out_g; mo++)
    for (int64_t ci = 0; ci < in_g; ci++)
    for (int64_t kh = 0; kh < tc->k_h; kh++)
    for (int64_t kw = 0; kw < tc->k_w; kw++) {
        int64_t m = g * out_g + mo, c = g * in_g + ci;
        float tap = deconv? w [((c * out_g + mo) * tc->k_h + kh) * tc->k_w + kw]
                          : w [((m * in_g + ci) * tc->k_h + kh) * tc->k_w + kw];
        if (!deconv) {
            for (int64_t oh = 0; oh < out_h; oh++)
            for (int64_t ow = 0; ow < out_w; ow++) {
                int64_t ih = oh * sh + kh * dh - pad_t, iw = ow * sw + kw * dw - pad_l;
                if (ih >= 0 && ih < tc->in_h && iw >= 0 && iw < tc->in_w)
                    sum [((n * tc->maps + m) * out_h + oh) * out_w + ow] +=
                        (double) x [((n * tc->channels + c) * tc->in_h + ih) * tc->in_w + iw] * tap;
            }
        }
        else {
            for (int64_t ih = 0; ih < tc->in_h; ih++)
            for (int64_t iw = 0; iw < tc->in_w; iw++) {
                int64_t oh = ih * sh + kh * dh - pad_t, ow = iw * sw + kw * dw - pad_l;
                if (oh >= 0 && oh < out_h && ow >= 0 && ow < out_w)
                    sum [((n * tc->maps + m) * out_h + oh) * out_w + ow] +=
                        (double) x [((n * tc->channels + c) * tc->in_h + ih) * tc->in_w + iw] * tap;
            }
        }
    }
    for (int64_t item = 0; item < out_count; item++) {
        int64_t m = item / (out_h * out_w) % tc->maps;
        y [item] = zi_act_one (&tc->act, (float) (sum [item] + (b? b [m]: 0)));
    }
    free (sum);
}

//  Builds the node for a case
static zi_node_t *
s_case_node (const s_case_t *tc)
{
    zi_node_t *node = zi_node_new (tc->op, tc->label);
    int ns = tc->n_spatial;
    int first = ns == 1? 1: 0;          //  1-d takes the w column only
    if (tc->group)
        zi_node_set_int (node, "group", tc->group);
    if (tc->stride [0] || tc->stride [1])
        zi_node_set_ints (node, "strides", ns, tc->stride + first);
    if (tc->dilation [0] || tc->dilation [1])
        zi_node_set_ints (node, "dilations", ns, tc->dilation + first);
    if (tc->set_pads) {
        int64_t pads [4] = {tc->pads [0], tc->pads [1], tc->pads [2], tc->pads [3]};
        if (ns == 1) {
            pads [0] = tc->pads [1];
            pads [1] = tc->pads [3];
        }
        zi_node_set_ints (node, "pads", 2 * ns, pads);
    }
    if (tc->auto_pad)
        zi_node_set_string (node, "auto_pad", tc->auto_pad);
    if (tc->kernel_shape)
        zi_node_set_ints (node, "kernel_shape", ns, (int64_t []) {tc->k_h, tc->k_w} + first);
    if (tc->output_padding [0] || tc->output_padding [1])
        zi_node_set_ints (node, "output_padding", ns, tc->output_padding + first);
    if (tc->output_shape [0] || tc->output_shape [1]) {
        if (tc->full_output_shape) {
            int64_t full [4] = {tc->batch, tc->maps, tc->output_shape [0], tc->output_shape [1]};
            if (ns == 1)
                full [2] = tc->output_shape [1];
            zi_node_set_ints (node, "output_shape", ns + 2, full);
        }
        else
            zi_node_set_ints (node, "output_shape", ns, tc->output_shape + first);
    }
    node->act = tc->act;
    if (tc->opset)
        node->opset = tc->opset;
    return node;
}

static void
s_case_run (zi_test_t *t, const s_case_t *tc, uint32_t seed)
{
    bool deconv = strcmp (tc->op, "ConvTranspose") == 0;
    int ns = tc->n_spatial;
    int64_t group = tc->group? tc->group: 1;
    int64_t x_dims [4] = {tc->batch, tc->channels, tc->in_h, tc->in_w};
    int64_t w_dims [4] = {deconv? tc->channels: tc->maps,
                          deconv? tc->maps / group: tc->channels / group, tc->k_h, tc->k_w};
    if (ns == 1) {
        x_dims [2] = tc->in_w;
        w_dims [2] = tc->k_w;
    }
    zi_tensor_t *inputs [3] = {
        zi_test_random (ns + 2, x_dims, seed),
        zi_test_random (ns + 2, w_dims, seed + 1),
        tc->bias? zi_test_random (1, &tc->maps, seed + 2): NULL
    };
    zi_node_t *node = s_case_node (tc);
    zi_tensor_t *output = NULL;
    int rc = zi_test_run_op (node, tc->bias? 3: 2, inputs, 1, &output);
    ZI_CHECK (t, rc == 0, "%s %s runs: %s", tc->op, tc->label, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int64_t out_h, out_w, pad_t, pad_l;
        s_ref_axis (tc, 0, &out_h, &pad_t);
        s_ref_axis (tc, 1, &out_w, &pad_l);
        int64_t want_dims [4] = {tc->batch, tc->maps, out_h, out_w};
        if (ns == 1)
            want_dims [2] = out_w;
        bool shape_ok = output->ndim == ns + 2;
        for (int axis = 0; shape_ok && axis < ns + 2; axis++)
            shape_ok = output->dims [axis] == want_dims [axis];
        char got [128], want [128];
        ZI_CHECK (t, shape_ok, "%s %s: shape %s, want %s", tc->op, tc->label,
                  zi_shape_str (output->ndim, output->dims, got, sizeof got),
                  zi_shape_str (ns + 2, want_dims, want, sizeof want));
        if (shape_ok) {
            size_t count = zi_tensor_count (output);
            float *expect = malloc (count * sizeof (float));
            assert (expect);
            s_ref_conv (tc, inputs [0]->data, inputs [1]->data,
                        inputs [2]? inputs [2]->data: NULL, out_h, out_w, pad_t, pad_l, expect);
            char what [160];
            snprintf (what, sizeof what, "%s %s", tc->op, tc->label);
            ZI_CHECK_CLOSE (t, what, output->data, expect, count, 1e-5f, 1e-5f);
            free (expect);
        }
    }
    zi_tensor_destroy (&output);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

//  Runs a node on the given input shapes and checks it fails with an error
//  mentioning `expect`
static void
s_check_fails (zi_test_t *t, zi_node_t *node, int ndim_x, const int64_t *x_dims,
               int ndim_w, const int64_t *w_dims, const int64_t *b_dim, const char *expect)
{
    zi_tensor_t *inputs [3] = {
        zi_test_random (ndim_x, x_dims, 1),
        zi_test_random (ndim_w, w_dims, 2),
        b_dim? zi_test_random (1, b_dim, 3): NULL
    };
    zi_tensor_t *output = NULL;
    int rc = zi_test_run_op (node, b_dim? 3: 2, inputs, 1, &output);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), expect),
              "%s fails with '%s': %s", node->name, expect, rc? zi_error_text (): "ran");
    zi_tensor_destroy (&output);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

void
zi_act_conv_test (zi_test_t *t)
{
    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const s_case_t cases [] = {
        //  label, op, ns, N, C, H, W, M, kH, kW, group, strides, dilations,
        //  pads, set_pads, auto_pad, bias, then the rest by name
        {"3x3 pad 1 bias", "Conv", 2, 1, 3, 7, 5, 4, 3, 3, 0, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none, .kernel_shape = true},
        {"asymmetric pads stride 2 batch 2", "Conv", 2, 2, 3, 7, 5, 4, 3, 3, 1, {2, 2}, {1, 1},
         {0, 1, 2, 1}, true, NULL, false, .act = none},
        {"dilation 2 kernel 3x2", "Conv", 2, 1, 2, 7, 5, 3, 3, 2, 0, {1, 1}, {2, 2},
         {2, 1, 2, 1}, true, NULL, true, .act = none},
        {"stride 2x1 dilation 1x2", "Conv", 2, 1, 2, 8, 9, 3, 2, 3, 0, {2, 1}, {1, 2},
         {1, 0, 0, 2}, true, NULL, true, .act = none},
        {"group 2", "Conv", 2, 2, 4, 6, 5, 6, 3, 3, 2, {1, 1}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"group 3 stride 2", "Conv", 2, 1, 6, 7, 7, 3, 3, 3, 3, {2, 2}, {0, 0},
         {1, 0, 0, 1}, true, NULL, false, .act = none},
        {"depthwise stride 2 pad 1", "Conv", 2, 2, 4, 7, 5, 4, 3, 3, 4, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"depthwise stride 1 pad 1", "Conv", 2, 1, 5, 6, 9, 5, 3, 3, 5, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"depthwise multiplier 2 dilation 2", "Conv", 2, 1, 3, 9, 8, 6, 3, 3, 3, {1, 1}, {2, 2},
         {2, 1, 0, 3}, true, NULL, true, .act = none},
        {"depthwise 5x5 big pad", "Conv", 2, 1, 2, 3, 4, 2, 5, 5, 2, {1, 2}, {0, 0},
         {3, 2, 2, 3}, true, NULL, false, .act = none},
        {"single channel (depthwise path)", "Conv", 2, 1, 1, 6, 7, 4, 3, 3, 0, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"1x1 pointwise batch 2", "Conv", 2, 2, 5, 7, 5, 3, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = none, .kernel_shape = true},
        {"1x1 group 2", "Conv", 2, 1, 4, 3, 5, 6, 1, 1, 2, {1, 1}, {1, 1},
         {0, 0, 0, 0}, true, NULL, true, .act = none},
        {"1x1 stride 2", "Conv", 2, 1, 3, 7, 5, 2, 1, 1, 0, {2, 2}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = none},
        {"1x1 pad 1", "Conv", 2, 1, 3, 4, 5, 2, 1, 1, 0, {0, 0}, {0, 0},
         {1, 0, 0, 1}, true, NULL, true, .act = none},
        {"kernel larger than input", "Conv", 2, 1, 2, 3, 3, 2, 5, 5, 0, {0, 0}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = none},
        {"SAME_UPPER stride 2", "Conv", 2, 1, 3, 7, 6, 2, 3, 4, 0, {2, 2}, {0, 0},
         {0, 0, 0, 0}, false, "SAME_UPPER", true, .act = none},
        {"SAME_LOWER stride 2", "Conv", 2, 1, 3, 7, 6, 2, 3, 4, 0, {2, 2}, {0, 0},
         {0, 0, 0, 0}, false, "SAME_LOWER", true, .act = none},
        {"SAME_UPPER depthwise", "Conv", 2, 1, 3, 8, 5, 3, 3, 3, 3, {2, 2}, {0, 0},
         {0, 0, 0, 0}, false, "SAME_UPPER", false, .act = none},
        {"SAME_LOWER dilation 2", "Conv", 2, 1, 2, 7, 5, 2, 2, 3, 0, {1, 1}, {2, 2},
         {0, 0, 0, 0}, false, "SAME_LOWER", false, .act = none},
        {"VALID stride 2", "Conv", 2, 1, 3, 7, 5, 2, 3, 2, 0, {2, 2}, {0, 0},
         {0, 0, 0, 0}, false, "VALID", true, .act = none},
        {"VALID ignores pads", "Conv", 2, 1, 3, 7, 5, 2, 3, 3, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, true, "VALID", true, .act = none},
        {"NOTSET explicit", "Conv", 2, 1, 3, 5, 5, 2, 3, 3, 0, {0, 0}, {0, 0},
         {1, 0, 1, 2}, true, "NOTSET", true, .act = none},
        {"1-d stride 2 dilation 2", "Conv", 1, 2, 3, 1, 11, 2, 1, 3, 0, {0, 2}, {0, 2},
         {0, 1, 0, 2}, true, NULL, true, .act = none, .kernel_shape = true},
        {"1-d depthwise", "Conv", 1, 1, 4, 1, 9, 4, 1, 3, 4, {0, 1}, {0, 0},
         {0, 1, 0, 1}, true, NULL, true, .act = none},
        {"1-d 1x1", "Conv", 1, 1, 4, 1, 9, 3, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = none},
        {"1-d SAME_UPPER", "Conv", 1, 1, 2, 1, 10, 3, 1, 4, 0, {0, 3}, {0, 0},
         {0, 0, 0, 0}, false, "SAME_UPPER", false, .act = none},
        //  a band of rows smaller than the image: three bands, the last short
        {"im2col in bands", "Conv", 2, 1, 64, 48, 48, 4, 3, 3, 0, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},

        //  fused activations on every path
        {"relu im2col", "Conv", 2, 1, 3, 7, 5, 4, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"relu no bias", "Conv", 2, 1, 3, 7, 5, 4, 3, 3, 0, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, false, .act = relu},
        {"clip depthwise", "Conv", 2, 1, 4, 7, 5, 4, 3, 3, 4, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_CLIP, -0.2f, 0.3f}},
        {"leaky relu pointwise", "Conv", 2, 2, 5, 4, 3, 3, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_LEAKY_RELU, 0.1f, 0}},
        {"hard swish group 2", "Conv", 2, 1, 4, 5, 5, 4, 3, 3, 2, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"sigmoid 1-d", "Conv", 1, 1, 3, 1, 8, 2, 1, 3, 0, {0, 0}, {0, 0},
         {0, 1, 0, 1}, true, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"hard sigmoid", "Conv", 2, 1, 3, 5, 4, 2, 2, 2, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f}},
        {"tanh", "Conv", 2, 1, 3, 5, 4, 2, 2, 2, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_TANH, 0, 0}},

        //  ConvTranspose
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
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        s_case_run (t, &cases [index], (uint32_t) (100 + 7 * index));

    //  Conv and ConvTranspose read the same in every opset from 9 to 17
    size_t n_cases = sizeof cases / sizeof cases [0];
    size_t first_deconv = 0;
    while (first_deconv < n_cases && strcmp (cases [first_deconv].op, "ConvTranspose") != 0)
        first_deconv++;
    assert (first_deconv < n_cases);
    for (int index = 0; index < 2; index++) {
        s_case_t legacy = cases [index? first_deconv + 1: 1];
        legacy.label = "opset 9";
        legacy.opset = 9;
        s_case_run (t, &legacy, 7);
    }
    zi_node_t *node;

    //  Errors: each names what was expected and what came
    int64_t x4 [] = {1, 4, 5, 5}, w4 [] = {2, 4, 3, 3}, w3 [] = {2, 4, 3};
    s_check_fails (t, zi_node_new ("Conv", "weights rank"), 4, x4, 3, w3, NULL,
                   "expected 4-d weights");
    s_check_fails (t, zi_node_new ("Conv", "channels"), 4, x4, 4, (int64_t []) {2, 3, 3, 3},
                   NULL, "take 3 input channels");
    node = zi_node_new ("Conv", "group channels");
    zi_node_set_int (node, "group", 2);
    s_check_fails (t, node, 4, x4, 4, w4, NULL, "with group 2 take 8 input channels");
    node = zi_node_new ("Conv", "group maps");
    zi_node_set_int (node, "group", 2);
    s_check_fails (t, node, 4, x4, 4, (int64_t []) {3, 2, 3, 3}, NULL,
                   "3 output channels do not divide into 2 groups");
    node = zi_node_new ("Conv", "auto_pad");
    zi_node_set_string (node, "auto_pad", "SAME");
    s_check_fails (t, node, 4, x4, 4, w4, NULL, "'auto_pad' = 'SAME' is not supported");
    node = zi_node_new ("Conv", "kernel_shape");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {3, 2});
    s_check_fails (t, node, 4, x4, 4, w4, NULL, "does not match");
    node = zi_node_new ("Conv", "strides length");
    zi_node_set_ints (node, "strides", 3, (int64_t []) {1, 1, 1});
    s_check_fails (t, node, 4, x4, 4, w4, NULL, "'strides' has 3 values, expected 2");
    node = zi_node_new ("Conv", "negative pads");
    zi_node_set_ints (node, "pads", 4, (int64_t []) {1, -1, 1, 1});
    s_check_fails (t, node, 4, x4, 4, w4, NULL, "at least 0");
    node = zi_node_new ("Conv", "zero stride");
    zi_node_set_ints (node, "strides", 2, (int64_t []) {1, 0});
    s_check_fails (t, node, 4, x4, 4, w4, NULL, "at least 1");
    s_check_fails (t, zi_node_new ("Conv", "bias size"), 4, x4, 4, w4, (int64_t []) {3},
                   "expected float32 bias [2]");
    s_check_fails (t, zi_node_new ("Conv", "kernel too large"), 4, (int64_t []) {1, 4, 2, 5},
                   4, w4, NULL, "more than the padded input");
    s_check_fails (t, zi_node_new ("Conv", "3-d"), 5, (int64_t []) {1, 4, 3, 3, 3},
                   5, (int64_t []) {2, 4, 1, 1, 1}, NULL, "only 1-d and 2-d");
    s_check_fails (t, zi_node_new ("ConvTranspose", "weights rank"), 4, x4, 3, w3, NULL,
                   "expected 4-d weights [C, M/group");
    s_check_fails (t, zi_node_new ("ConvTranspose", "channels"), 4, x4, 4, w4, NULL,
                   "take 2 input channels");
    node = zi_node_new ("ConvTranspose", "group");
    zi_node_set_int (node, "group", 3);
    s_check_fails (t, node, 4, x4, 4, (int64_t []) {4, 1, 3, 3}, NULL,
                   "4 channels do not divide into 3 groups");
    node = zi_node_new ("ConvTranspose", "pads too large");
    zi_node_set_ints (node, "pads", 4, (int64_t []) {4, 0, 4, 0});
    s_check_fails (t, node, 4, x4, 4, (int64_t []) {4, 2, 3, 3}, NULL, "less than 1");
    node = zi_node_new ("ConvTranspose", "auto_pad");
    zi_node_set_string (node, "auto_pad", "same_upper");
    s_check_fails (t, node, 4, x4, 4, (int64_t []) {4, 2, 3, 3}, NULL, "not supported");
}
