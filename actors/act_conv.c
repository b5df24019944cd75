/*  =========================================================================
    act_conv - convolution (ONNX Conv), 1-d and 2-d, NCHW: the attributes
    and geometry Conv and ConvTranspose share, and Conv's paths

    Conv takes one of these paths:
      - depthwise (one input channel per group): a direct loop over a
        padded copy of each input plane, no BLAS (act_conv_depthwise.c);
      - 1x1, stride 1, no padding: the input already is the column matrix;
      - 3x3, stride 1, one group, where it pays: Winograd F(4x4, 3x3) or
        F(2x2, 3x3) (act_winograd.c), on weights transformed by prepare;
      - few output channels (an image network's last layer): a direct
        SIMD kernel on the image (act_conv_few.c);
      - anything else: im2col into exec scratch, a band of output rows at a
        time so the column matrix stays near cache size however large the
        image, then the matrix product; at AVX2, products of many output
        channels on kernels of more than one tap skip the column matrix
        and pack each strip of it straight from the image (zi_mm_fill).
    The matrix products with one group run on a small AVX2 kernel over
    weights that prepare packed once, with the bias and the fused activation
    applied in registers. The rest (no AVX2, groups, 3x3 convolutions of
    very wide layers) are OpenBLAS sgemm calls, the bias set in the output
    first and the activation applied to each band right after; a 1x1 image
    is an sgemv.

    Every SIMD kernel (AVX2 + FMA, chosen at run time) has a portable twin
    that gives the same results up to float rounding; the self test runs
    both. ConvTranspose is in act_deconv.c; the self-test reference that
    the family's tests share is at the end of this file.

    A 1-d convolution is run as a 2-d one with a height of 1.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_mm.h"
#include "act_winograd.h"
#include "act_conv.h"
#include "zi_mm_shared.h"
#include <cblas.h>

//  The packed-weight product copies nothing per call, so its bands can be
//  small enough to stay in L2 between im2col writing them and the product
//  reading them; worth most for a network's first layer, whose large input
//  is cold by the time the next request comes
#define S_MM_BAND_BYTES (256 * 1024)
//  ... unless W is that large itself: then W and a band do not fit in L2
//  together (1 MB on AMD's Zen 5), and every band read W again from L3.
//  Bands of up to 4 MB read it once or twice per image instead; the
//  column matrix then streams through L3, but the 6x16 tile reads each
//  strip of it once for all panels. Measured at the AVX2 level only (the
//  AVX-512 bands are as before): resnet50's 3x3 stride-2 layer on 56x56,
//  128 channels, ran 1.17x as fast and its 1x1 stride-2 layer, 256 to
//  512 channels, 1.19x (one thread, weights cold); the stems, whose W is
//  small, ran slower in larger bands and keep 256 kB
#define S_MM_BAND_LARGE_W_BYTES (4 * 1024 * 1024)

//  Spatial axes supported: 1 (L) and 2 (H, W)
#define S_MAX_SPATIAL 2

//  The attributes, and everything the loops need, derived from them and
//  the input shapes (act_conv.h)
typedef zi_conv_attrs_t s_conv_t;
typedef zi_conv_geom_t s_geom_t;


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

int
zi_conv_init (zi_node_t *node)
{
    s_conv_t conf = {.group = zi_node_attr_int (node, "group", 1)};
    if (conf.group < 1)
        return zi_error ("attribute 'group' must be at least 1, got %lld",
                         (long long) conf.group);
    const char *auto_pad = zi_node_attr_string (node, "auto_pad", "NOTSET");
    if (strcmp (auto_pad, "NOTSET") == 0 || *auto_pad == 0)
        conf.auto_pad = ZI_CONV_PAD_NOTSET;
    else
    if (strcmp (auto_pad, "SAME_UPPER") == 0)
        conf.auto_pad = ZI_CONV_PAD_SAME_UPPER;
    else
    if (strcmp (auto_pad, "SAME_LOWER") == 0)
        conf.auto_pad = ZI_CONV_PAD_SAME_LOWER;
    else
    if (strcmp (auto_pad, "VALID") == 0)
        conf.auto_pad = ZI_CONV_PAD_VALID;
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

//  Checks X and W are tensors of a supported rank, float32 unless
//  any_dtype (the integer convolutions check their own), and returns the
//  number of spatial axes, or -1
static int
s_check_ranks (const zi_tensor_t *x, const zi_tensor_t *w, const char *w_layout,
               bool any_dtype)
{
    char shape [128];
    if (x->dtype != ZI_F32 && !any_dtype)
        return zi_error ("input 0: expected float32, got %s", zi_dtype_name (x->dtype));
    if (w->dtype != ZI_F32 && !any_dtype)
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
int
zi_conv_check_bias (const zi_tensor_t *bias, int64_t out_c)
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
s_conv_geometry_of (const s_conv_t *self, const zi_tensor_t *x, const zi_tensor_t *w,
                    s_geom_t *geom, bool any_dtype)
{
    char x_shape [128], w_shape [128];
    int n_spatial = s_check_ranks (x, w, "M, C/group", any_dtype);
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
        if (self->auto_pad == ZI_CONV_PAD_VALID)
            begin = end = 0;
        else
        if (self->auto_pad != ZI_CONV_PAD_NOTSET) {
            //  SAME: as many outputs as strides fit, padding split evenly
            int64_t want = (in + stride [axis] - 1) / stride [axis];
            int64_t total = (want - 1) * stride [axis] + span - in;
            if (total < 0)
                total = 0;
            begin = self->auto_pad == ZI_CONV_PAD_SAME_UPPER? total / 2: total - total / 2;
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
s_conv_geometry (const s_conv_t *self, const zi_tensor_t *x, const zi_tensor_t *w,
                 s_geom_t *geom)
{
    return s_conv_geometry_of (self, x, w, geom, false);
}

void *
zi_conv_attrs_new (zi_node_t *node)
{
    void *saved = node->params;
    if (zi_conv_init (node))
        return NULL;
    void *attrs = node->params;
    node->params = saved;
    return attrs;
}

int
zi_conv_geometry (const void *attrs, const zi_tensor_t *x, const zi_tensor_t *w,
                  zi_conv_geom_t *geom)
{
    return s_conv_geometry_of (attrs, x, w, geom, true);
}

int
zi_deconv_geometry (const s_conv_t *self, const zi_tensor_t *x, const zi_tensor_t *w,
                    s_geom_t *geom)
{
    char x_shape [128], w_shape [128];
    int n_spatial = s_check_ranks (x, w, "C, M/group", false);
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
        if (wanted || self->auto_pad == ZI_CONV_PAD_SAME_UPPER
        ||  self->auto_pad == ZI_CONV_PAD_SAME_LOWER) {
            //  The output size is given; the padding that trims the full
            //  result to it is derived, as the ONNX spec's equations say.
            //  When more output is asked for than the full result, the
            //  extra elements at the end only get the bias.
            out [axis] = wanted? wanted [axis]: in * stride [axis];
            int64_t total = full - out [axis];
            if (total < 0)
                total = 0;
            pad_begin [axis] = self->auto_pad == ZI_CONV_PAD_SAME_UPPER? total / 2: total - total / 2;
        }
        else
        if (self->auto_pad == ZI_CONV_PAD_VALID) {
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

void
zi_conv_geom_shape (const s_geom_t *geom, zi_tensor_t *out)
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
    ||  zi_conv_check_bias (zi_conv_input (node, in, 2), geom.out_c))
        return -1;
    zi_conv_geom_shape (&geom, out [0]);
    //  A fused residual (never in a model file: the passes add it) has
    //  exactly the output's shape
    const zi_tensor_t *sum = zi_conv_input (node, in, 3);
    if (sum && (!zi_tensor_same_shape (sum, out [0]) || sum->dtype != ZI_F32)) {
        char got [128], want [128];
        return zi_error ("fused residual: expected float32 %s, got %s %s",
                         zi_shape_str (out [0]->ndim, out [0]->dims, want, sizeof want),
                         zi_dtype_name (sum->dtype),
                         zi_shape_str (sum->ndim, sum->dims, got, sizeof got));
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  SIMD helpers (see act_simd.h for how the AVX2 + FMA kernels are chosen)

#if defined (ZI_HAVE_AVX2)
//  dst [q] = src [2 q] for q < n, eight at a time, never reading past
//  src [available): the last groups with masked loads and stores (lanes
//  masked off load zero and are not stored)
static ZI_AVX2 void
s_gather2_avx2 (float *dst, const float *src, int64_t n, int64_t available)
{
    int64_t q = 0;
    for (; q + 8 <= n && 2 * q + 16 <= available; q += 8)
        _mm256_storeu_ps (dst + q, zi_even8_avx2 (src + 2 * q));
    for (; q < n; q += 8) {
        int64_t left = available - 2 * q;
        __m256 low = _mm256_maskload_ps (src + 2 * q, zi_tail_mask_avx2 (left < 8? left: 8));
        __m256 high = _mm256_maskload_ps (src + 2 * q + 8, zi_tail_mask_avx2 (
                                              left < 8? 0: left < 16? left - 8: 8));
        __m256 even = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
        even = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (even),
                                                        _MM_SHUFFLE (3, 1, 2, 0)));
        _mm256_maskstore_ps (dst + q, zi_tail_mask_avx2 (n - q < 8? n - q: 8), even);
    }
}

#endif

#if defined (ZI_HAVE_AVX512)
//  The first n of sixteen lanes, none when n <= 0
static inline __mmask16
s_lanes16 (int64_t n)
{
    return n >= 16? (__mmask16) 0xFFFF: n <= 0? 0: (__mmask16) ((1u << n) - 1);
}

//  The column rows of one tap (c, kh, kw) at column stride 2, all rows of
//  the band in one call: output column ow reads input column offset + 2 ow
//  of input row ih. Sixteen columns a step are the even floats of two
//  loads, one two-source permute; the loads are masked to the input row,
//  so columns over the padding come out zero with no pass of their own,
//  and rows over the padding are stored as zeros. Calls and memsets per
//  row had cost as much as the copying on 28-column rows.
static ZI_AVX512 void
s_im2col_s2_avx512 (const s_geom_t *geom, const float *x_c, int64_t oh0, int64_t rows,
                    int64_t kh, int64_t offset, float *dst)
{
    const __m512i evens = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16,
                                            14, 12, 10, 8, 6, 4, 2, 0);
    int64_t out_w = geom->out_w, in_w = geom->in_w;
    for (int64_t row = 0; row < rows; row++, dst += out_w) {
        int64_t ih = (oh0 + row) * geom->stride_h + kh * geom->dil_h - geom->pad_t;
        if (ih < 0 || ih >= geom->in_h) {
            for (int64_t ow = 0; ow < out_w; ow += 16)
                _mm512_mask_storeu_ps (dst + ow, s_lanes16 (out_w - ow), _mm512_setzero_ps ());
            continue;
        }
        //  src [k] is input column offset + k, inside the row for k in
        //  [first, end)
        const float *src = x_c + ih * in_w + offset;
        int64_t first = -offset, end = in_w - offset;
        for (int64_t ow = 0; ow < out_w; ow += 16) {
            int64_t at = 2 * ow;
            __mmask16 low_lanes = s_lanes16 (end - at) & (__mmask16) ~s_lanes16 (first - at);
            __mmask16 high_lanes = s_lanes16 (end - at - 16)
                                 & (__mmask16) ~s_lanes16 (first - at - 16);
            __m512 low = _mm512_maskz_loadu_ps (low_lanes, src + at);
            __m512 high = _mm512_maskz_loadu_ps (high_lanes, src + at + 16);
            _mm512_mask_storeu_ps (dst + ow, s_lanes16 (out_w - ow),
                                   _mm512_permutex2var_ps (low, evens, high));
        }
    }
}
#endif

//  Sets each row of an output block to its channel's bias, so the sgemm
//  that follows can add to it (beta 1): cheaper than sgemm zeroing the
//  block (beta 0 is a pass of its own) and the bias added in another.
//  Returns the beta to give sgemm.
static float
s_bias_fill (float *y, int64_t rows, int64_t cols, int64_t ld, const float *bias)
{
    if (!bias)
        return 0.0f;
    for (int64_t row = 0; row < rows; row++)
        for (int64_t col = 0; col < cols; col++)
            y [row * ld + col] = bias [row];
    return 1.0f;
}

//  1x1, stride 1, no padding: the input already is the column matrix
static bool
s_is_pointwise (const s_geom_t *geom)
{
    return geom->k_h == 1 && geom->k_w == 1 && geom->stride_h == 1 && geom->stride_w == 1
        && geom->pad_t == 0 && geom->pad_l == 0
        && geom->out_h == geom->in_h && geom->out_w == geom->in_w;
}

//  Products deeper than this (the 3x3 convolutions of wide layers) stay
//  with sgemm at the AVX2 level: over a long K its packing pays for
//  itself, and OpenBLAS's Haswell kernels time the same as the 6x16 tile
//  there (0.96-1.05x on resnet's deep shapes). The AVX-512 6x48 tile takes
//  every depth: 1.2-1.4x OpenBLAS's SkylakeX sgemm on the 49-column
//  products of 7x7 images, 0.92-0.99x on 196 columns. So does any level
//  whose OpenBLAS runs kernels older than the CPU's (zi_isa_blas_behind),
//  where sgemm is 3-4x slower, and OpenBLAS's Zen core (zi_isa_blas_zen):
//  on Zen 3 the AVX2 tile, its loop over K unrolled, takes 0.87-0.98x
//  sgemm's time on resnet50's deep products (512 x 4608 x 49, 256 x 2304 x
//  196, 128 x 2304 x 784; alone, one thread, pairs of calls alternating),
//  and the im2col product then adds the bias and the activation in its
//  store where sgemm needs passes of its own.
#define S_MM_MAX_DEPTH 1536

//  Do products deeper than S_MM_MAX_DEPTH (im2col ones) go to sgemm here?
static bool
s_deep_on_sgemm (void)
{
    return !zi_isa_blas_behind () && !zi_use_avx512 () && !zi_isa_blas_zen ();
}

//  1x1, stride 1, no padding: Y_g = W_g X_g straight from the input. A
//  1x1 image (the squeeze-excite blocks) is a matrix-vector product, for
//  which sgemv reads the weights once where sgemm would copy them first;
//  its rows are shared out between the threads.
static void
s_conv_pointwise (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *w,
                  const float *bias, const zi_act_t *act, float *y)
{
    int64_t in_g = geom->in_c / geom->group;
    int64_t out_g = geom->out_c / geom->group;
    int64_t plane = geom->out_h * geom->out_w;
    for (int64_t n = 0; n < geom->batch; n++)
        for (int64_t g = 0; g < geom->group; g++) {
            const float *w_g = w + g * out_g * in_g;
            const float *x_ng = x + (n * geom->in_c + g * in_g) * plane;
            float *y_ng = y + (n * geom->out_c + g * out_g) * plane;
            float beta = s_bias_fill (y_ng, out_g, plane, plane, bias? bias + g * out_g: NULL);
            if (plane == 1)
                zi_sgemv (exec, false, out_g, in_g, 1.0f, w_g, in_g, x_ng, 1, beta, y_ng);
            else
                zi_sgemm (exec, false, false, out_g, plane, in_g, 1.0f, w_g, in_g, x_ng, plane,
                          beta, y_ng, plane);
            zi_act_rows (act, y_ng, out_g, plane, plane);
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
    bool avx2 = zi_use_avx2 ();
#if defined (ZI_HAVE_AVX512)
    bool avx512_s2 = zi_use_avx512 () && geom->stride_w == 2;
#endif
    for (int64_t c = 0; c < channels; c++)
        for (int64_t kh = 0; kh < geom->k_h; kh++)
            for (int64_t kw = 0; kw < geom->k_w; kw++) {
                float *dst = col + ((c * geom->k_h + kh) * geom->k_w + kw) * cols;
                int64_t offset = kw * geom->dil_w - geom->pad_l;
#if defined (ZI_HAVE_AVX512)
                if (avx512_s2) {
                    s_im2col_s2_avx512 (geom, x + c * in_plane, oh0, rows, kh, offset, dst);
                    continue;
                }
#endif
                int64_t lo, hi;
                zi_conv_valid_range (offset, geom->stride_w, geom->in_w, geom->out_w, &lo, &hi);
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
#if defined (ZI_HAVE_AVX2)
                    if (avx2 && geom->stride_w == 2) {
                        s_gather2_avx2 (drow + lo, src, hi - lo,
                                        geom->in_w - (lo * geom->stride_w + offset));
                        continue;
                    }
#endif
                    if (geom->stride_w == 1)
                        memcpy (drow + lo, src, (hi - lo) * sizeof (float));
                    else
                        for (int64_t ow = 0; ow < hi - lo; ow++)
                            drow [lo + ow] = src [ow * geom->stride_w];
                }
            }
}

//  One im2col band, by channels: channels [first, last) of x_ng fill their
//  rows of the band's column matrix
typedef struct {
    const s_geom_t *geom;       //  the convolution
    const float *x_ng;          //  the image and group the band reads
    int64_t oh0, rows;          //  the band's output rows
    float *col;                 //  its column matrix
} s_fill_job_t;

static void
s_fill_part (void *args, int64_t first, int64_t last, int thread)
{
    s_fill_job_t *job = args;
    const s_geom_t *geom = job->geom;
    int64_t cols = job->rows * geom->out_w;
    s_im2col (geom, job->x_ng + first * geom->in_h * geom->in_w, last - first, job->oh0,
              job->rows, job->col + first * geom->k_h * geom->k_w * cols);
}

//  Whole bands of packed-weight products, each on one thread with a
//  column matrix of its own: the bands are the same as with one thread,
//  so are the results. Bands are numbered over the batch and groups.
typedef struct {
    const s_geom_t *geom;       //  the convolution
    zi_exec_t *exec;            //  per thread: the column matrix
    const float *x, *packed, *bias;     //  input, packed weights, bias
    const float *sum;           //  fused residual, Y's shape, or NULL
    const zi_act_t *act;        //  fused activation
    float *y;                   //  output
    int64_t band;               //  output rows per band
    int64_t bands;              //  bands per image and group
} s_band_job_t;

#if defined (ZI_HAVE_AVX2)
static void
s_band_part (void *args, int64_t first, int64_t last, int thread)
{
    s_band_job_t *job = args;
    const s_geom_t *geom = job->geom;
    int64_t in_g = geom->in_c / geom->group;
    int64_t out_g = geom->out_c / geom->group;
    int64_t depth = in_g * geom->k_h * geom->k_w;
    int64_t out_plane = geom->out_h * geom->out_w;
    float *col = zi_exec_scratch_of (job->exec, thread, 0, 0);
    for (int64_t item = first; item < last; item++) {
        int64_t ng = item / job->bands, oh0 = item % job->bands * job->band;
        int64_t n = ng / geom->group, g = ng % geom->group;
        int64_t rows = geom->out_h - oh0 < job->band? geom->out_h - oh0: job->band;
        int64_t cols = rows * geom->out_w;
        s_im2col (geom, job->x + (n * geom->in_c + g * in_g) * geom->in_h * geom->in_w,
                  in_g, oh0, rows, col);
        int64_t at = (n * geom->out_c + g * out_g) * out_plane + oh0 * geom->out_w;
        zi_mm (job->packed, out_g, depth, cols, col, cols, job->bias,
               job->sum? job->sum + at: NULL, out_plane, job->act, job->y + at, out_plane);
    }
}
#endif

#if defined (ZI_HAVE_AVX2)
//  --------------------------------------------------------------------------
//  Strips straight from the image: the product's X is the column matrix
//  im2col would write, but zi_mm_fill asks for it a strip at a time (a
//  slice of K by sixteen output pixels), and each strip is gathered from
//  the input where it lies, in L2 while a slice's channels are read. The
//  column matrix never goes out to L3 and back (resnet50's 3x3 stride-2
//  layer on 56x56: 3.6 MB, about a fifth of the layer's time).

//  Taps at most: a strip's indices and masks for every tap are made once
#define S_STRIP_TAPS 64

typedef struct {
    const s_geom_t *geom;       //  the convolution (one group)
    const float *x;             //  one image: in_c planes
} s_strip_job_t;

//  A strip's pixels lie on at most this many output rows for the loads
//  by row (four: rows of seven pixels or more), and kernels at most this
//  wide; others go by gathers (s_strip_gather)
#define S_STRIP_SEGMENTS 4
#define S_STRIP_KW 16

//  Rows [k0, k0 + rows) of the column matrix, output pixels [col, col +
//  width): row k = (c, kh, kw) of pixel (oh, ow) is input (c, oh sh + kh
//  dh - pt, ow sw + kw dw - pl), or 0 in the padding; by a masked gather
//  of eight per row and half, from an index and a mask per tap made once
//  a strip. A gather takes several times as long as the loads by row
//  below on Zen 3 (resnet50's stem was 1.26x slower by gathers than by
//  im2col), so this is only the fallback for strides above 2 and for
//  strips over more than S_STRIP_SEGMENTS output rows
static ZI_AVX2 void
s_strip_gather (const s_strip_job_t *job, int64_t k0, int64_t rows, int64_t col,
                int64_t width, float *strip)
{
    const s_geom_t *geom = job->geom;
    int64_t taps = geom->k_h * geom->k_w;
    int64_t in_plane = geom->in_h * geom->in_w;
    int32_t top [ZI_MM_STRIP_COLS] __attribute__ ((aligned (32)));
    int32_t left [ZI_MM_STRIP_COLS] __attribute__ ((aligned (32)));
    for (int64_t j = 0; j < ZI_MM_STRIP_COLS; j++) {
        int64_t pixel = col + (j < width? j: 0);
        top [j] = (int32_t) (pixel / geom->out_w * geom->stride_h - geom->pad_t);
        left [j] = (int32_t) (pixel % geom->out_w * geom->stride_w - geom->pad_l);
    }
    __m256i in_h = _mm256_set1_epi32 ((int32_t) geom->in_h);
    __m256i in_w = _mm256_set1_epi32 ((int32_t) geom->in_w);
    __m256i none = _mm256_set1_epi32 (-1);
    __m256i index [S_STRIP_TAPS][2];
    __m256 mask [S_STRIP_TAPS][2];
    for (int64_t half = 0; half < 2; half++) {
        __m256i row0 = _mm256_load_si256 ((const __m256i *) (top + 8 * half));
        __m256i col0 = _mm256_load_si256 ((const __m256i *) (left + 8 * half));
        __m256i lanes = zi_tail_mask_avx2 (width - 8 * half < 0? 0:
                                           width - 8 * half > 8? 8: width - 8 * half);
        for (int64_t t = 0; t < taps; t++) {
            int32_t dy = (int32_t) (t / geom->k_w * geom->dil_h);
            int32_t dx = (int32_t) (t % geom->k_w * geom->dil_w);
            __m256i row = _mm256_add_epi32 (row0, _mm256_set1_epi32 (dy));
            __m256i column = _mm256_add_epi32 (col0, _mm256_set1_epi32 (dx));
            //  0 <= row < in_h and 0 <= column < in_w, on the valid lanes
            __m256i ok = _mm256_and_si256 (_mm256_cmpgt_epi32 (row, none),
                                           _mm256_cmpgt_epi32 (in_h, row));
            ok = _mm256_and_si256 (ok, _mm256_cmpgt_epi32 (column, none));
            ok = _mm256_and_si256 (ok, _mm256_cmpgt_epi32 (in_w, column));
            mask [t][half] = _mm256_castsi256_ps (_mm256_and_si256 (ok, lanes));
            index [t][half] = _mm256_add_epi32 (_mm256_mullo_epi32 (row, in_w), column);
        }
    }
    __m256 zero = _mm256_setzero_ps ();
    int64_t t = k0 % taps;
    const float *plane = job->x + k0 / taps * in_plane;
    for (int64_t k = 0; k < rows; k++, strip += ZI_MM_STRIP_COLS) {
        _mm256_store_ps (strip, _mm256_mask_i32gather_ps (zero, plane, index [t][0],
                                                          mask [t][0], 4));
        _mm256_store_ps (strip + 8, _mm256_mask_i32gather_ps (zero, plane, index [t][1],
                                                              mask [t][1], 4));
        if (++t == taps) {
            t = 0;
            plane += in_plane;
        }
    }
}

//  One row of a strip, its sixteen pixels' inputs in one run from base:
//  every float at stride 1, every second one at stride 2
static ZI_AVX2_INLINE void
s_strip_row_whole (const float *base, bool pairs, float *strip)
{
    if (pairs) {
        _mm256_store_ps (strip, zi_even8_avx2 (base));
        _mm256_store_ps (strip + 8, zi_even8_avx2 (base + 16));
    }
    else {
        _mm256_store_ps (strip, _mm256_loadu_ps (base));
        _mm256_store_ps (strip + 8, _mm256_loadu_ps (base + 8));
    }
}

//  Rows [k0, k0 + rows) of a strip of sixteen pixels on one output row,
//  every tap's run inside the image: tap (kh, kw) of channel c starts at
//  at + kh dh in_w + kw dw in channel c's plane (stride 1 or 2)
static ZI_AVX2 void
s_strip_inside (const s_strip_job_t *job, int64_t k0, int64_t rows, int64_t at, float *strip)
{
    const s_geom_t *geom = job->geom;
    int64_t taps = geom->k_h * geom->k_w;
    int64_t in_plane = geom->in_h * geom->in_w;
    //  Where each tap starts, without divisions (a strip of a stem is a
    //  few hundred instructions, a 64-bit division ten to twenty cycles)
    int64_t start [S_STRIP_TAPS];
    for (int64_t kh = 0, t = 0; kh < geom->k_h; kh++)
        for (int64_t kw = 0; kw < geom->k_w; kw++, t++)
            start [t] = at + kh * geom->dil_h * geom->in_w + kw * geom->dil_w;
    int64_t t = k0 % taps;
    const float *plane = job->x + k0 / taps * in_plane;
    bool pairs = geom->stride_w == 2;
    for (int64_t k = 0; k < rows; k++, strip += ZI_MM_STRIP_COLS) {
        s_strip_row_whole (plane + start [t], pairs, strip);
        if (++t == taps) {
            t = 0;
            plane += in_plane;
        }
    }
}

//  The same at column stride 1 or 2: the strip's pixels are split where
//  their output row changes (a segment each), and a segment's values for
//  one tap are one run of its input row, loaded whole (stride 2: 32
//  floats, their even ones kept) under a mask of the lanes that fall
//  inside the input row, so the padding loads as 0 and nothing outside the
//  input is read. A row of the strip is its segments' loads ORed together
//  (each lane is 0 in all but its own); a tap whose sixteen lanes lie
//  inside one input row loads them unmasked.
static ZI_AVX2 void
s_strip_fill (const void *args, int64_t k0, int64_t rows, int64_t col, int64_t width,
              float *strip)
{
    const s_strip_job_t *job = args;
    const s_geom_t *geom = job->geom;
    int64_t stride = geom->stride_w;
    //  The segments: first lane, lanes, first input row and column
    int64_t first [S_STRIP_SEGMENTS], count [S_STRIP_SEGMENTS];
    int64_t row0 [S_STRIP_SEGMENTS], col0 [S_STRIP_SEGMENTS];
    int segments = 0;
    for (int64_t j = 0; j < width; segments++) {
        int64_t oh = (col + j) / geom->out_w, ow = (col + j) % geom->out_w;
        int64_t n = geom->out_w - ow < width - j? geom->out_w - ow: width - j;
        if (segments == S_STRIP_SEGMENTS || stride > 2) {
            s_strip_gather (job, k0, rows, col, width, strip);
            return;
        }
        first [segments] = j;
        count [segments] = n;
        row0 [segments] = oh * geom->stride_h - geom->pad_t;
        col0 [segments] = ow * stride - geom->pad_l;
        j += n;
    }
    //  A strip of sixteen pixels on one output row whose every tap lies
    //  inside the image (most of a large image's strips: a stem's) loads
    //  each row whole from where its tap starts, with none of the masks and
    //  tables below: their making cost about as much as the loads on a
    //  stem's 27 or 147 rows a strip
    if (segments == 1 && width == ZI_MM_STRIP_COLS
    &&  row0 [0] >= 0 && row0 [0] + (geom->k_h - 1) * geom->dil_h < geom->in_h
    &&  col0 [0] >= 0
    &&  col0 [0] + (geom->k_w - 1) * geom->dil_w + stride * ZI_MM_STRIP_COLS <= geom->in_w) {
        s_strip_inside (job, k0, rows, row0 [0] * geom->in_w + col0 [0], strip);
        return;
    }
    //  Per kw and segment, the loads' masks: lanes whose input column is
    //  inside the row. At stride 2, float f of the 32 loaded is lane f / 2
    //  when even, and never read when odd (-64 below any first lane)
    const __m256i s2_lane [4] = {
        _mm256_setr_epi32 (0, -64, 1, -64, 2, -64, 3, -64),
        _mm256_setr_epi32 (4, -64, 5, -64, 6, -64, 7, -64),
        _mm256_setr_epi32 (8, -64, 9, -64, 10, -64, 11, -64),
        _mm256_setr_epi32 (12, -64, 13, -64, 14, -64, 15, -64)
    };
    const __m256i s1_lane [2] = {
        _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_setr_epi32 (8, 9, 10, 11, 12, 13, 14, 15)
    };
    __m256i mask [S_STRIP_KW][S_STRIP_SEGMENTS][4];
    bool any [S_STRIP_KW][S_STRIP_SEGMENTS], all [S_STRIP_KW][S_STRIP_SEGMENTS];
    for (int64_t kw = 0; kw < geom->k_w; kw++)
        for (int s = 0; s < segments; s++) {
            int64_t lo, hi;
            zi_conv_valid_range (col0 [s] + kw * geom->dil_w, stride, geom->in_w, count [s],
                                 &lo, &hi);
            any [kw][s] = hi > lo;
            //  Whole loads at stride 2 read one float past the last lane's
            all [kw][s] = lo == 0 && hi == ZI_MM_STRIP_COLS
                       && col0 [s] + kw * geom->dil_w + stride * ZI_MM_STRIP_COLS <= geom->in_w;
            __m256i above = _mm256_set1_epi32 ((int32_t) (first [s] + lo - 1));
            __m256i below = _mm256_set1_epi32 ((int32_t) (first [s] + hi));
            for (int v = 0; v < 2 * stride; v++) {
                __m256i lane = stride == 2? s2_lane [v]: s1_lane [v];
                mask [kw][s][v] = _mm256_and_si256 (_mm256_cmpgt_epi32 (lane, above),
                                                    _mm256_cmpgt_epi32 (below, lane));
            }
        }
    //  Per tap, the loads of its row: where each starts in the plane (lane
    //  j reads base [stride j]) and under which mask, or whole (one
    //  segment of sixteen lanes, all inside the input)
    int64_t taps = geom->k_h * geom->k_w;
    struct {
        int64_t at;
        const __m256i *mask;
    } load [S_STRIP_TAPS][S_STRIP_SEGMENTS];
    int loads [S_STRIP_TAPS];
    bool whole [S_STRIP_TAPS];
    for (int64_t t = 0; t < taps; t++) {
        int64_t kh = t / geom->k_w, kw = t % geom->k_w;
        loads [t] = 0;
        whole [t] = false;
        for (int s = 0; s < segments; s++) {
            int64_t ih = row0 [s] + kh * geom->dil_h;
            if (ih < 0 || ih >= geom->in_h || !any [kw][s])
                continue;
            load [t][loads [t]].at = ih * geom->in_w + col0 [s] + kw * geom->dil_w
                                   - first [s] * stride;
            load [t][loads [t]].mask = mask [kw][s];
            whole [t] = segments == 1 && all [kw][s];
            loads [t]++;
        }
    }
    int64_t in_plane = geom->in_h * geom->in_w;
    int64_t t = k0 % taps;
    const float *plane = job->x + k0 / taps * in_plane;
    for (int64_t k = 0; k < rows; k++, strip += ZI_MM_STRIP_COLS) {
        if (whole [t])
            s_strip_row_whole (plane + load [t][0].at, stride == 2, strip);
        else {
            __m256 lo = _mm256_setzero_ps (), hi = lo;
            for (int i = 0; i < loads [t]; i++) {
                const float *base = plane + load [t][i].at;
                const __m256i *m = load [t][i].mask;
                if (stride == 2) {
                    __m256 a = _mm256_maskload_ps (base, m [0]);
                    __m256 b = _mm256_maskload_ps (base + 8, m [1]);
                    __m256 c = _mm256_maskload_ps (base + 16, m [2]);
                    __m256 d = _mm256_maskload_ps (base + 24, m [3]);
                    __m256 even = _mm256_shuffle_ps (a, b, _MM_SHUFFLE (2, 0, 2, 0));
                    lo = _mm256_or_ps (lo, _mm256_castpd_ps (_mm256_permute4x64_pd (
                                           _mm256_castps_pd (even), _MM_SHUFFLE (3, 1, 2, 0))));
                    even = _mm256_shuffle_ps (c, d, _MM_SHUFFLE (2, 0, 2, 0));
                    hi = _mm256_or_ps (hi, _mm256_castpd_ps (_mm256_permute4x64_pd (
                                           _mm256_castps_pd (even), _MM_SHUFFLE (3, 1, 2, 0))));
                }
                else {
                    lo = _mm256_or_ps (lo, _mm256_maskload_ps (base, m [0]));
                    hi = _mm256_or_ps (hi, _mm256_maskload_ps (base + 8, m [1]));
                }
            }
            _mm256_store_ps (strip, lo);
            _mm256_store_ps (strip + 8, hi);
        }
        if (++t == taps) {
            t = 0;
            plane += in_plane;
        }
    }
}

//  Does this im2col product take its strips straight from the image?
//  Packed weights at AVX2 (at AVX-512 the deep stems go to
//  act_conv_stem.c and the rest keep im2col's bands); at least
//  S_STRIP_MIN_MAPS output channels, so that a strip's loads are shared by
//  many panels; more than one tap, or a 1x1 kernel (strided) with more
//  channels than pixels, whose panels go outside and would pack the
//  im2col matrix's strips again; taps few enough for the strip's tables
//  and a plane's indices within int32. Alone on Zen 3, one thread,
//  batches alternating, median new / old: resnet50's 3x3 stride-2 layers
//  0.92 (56x56), 0.89 (28x28), 0.92 (14x14), its 3x3 layer on 7x7 0.89,
//  its 1x1 stride-2 layers on 28x28 and 14x14 0.97-0.71 and 0.90; its 1x1
//  stride-2 layer on 56x56 (more pixels than channels) 1.07, which keeps
//  im2col. Its stem (7x7, 64 channels) read 0.99 before the whole loads
//  below (s_strip_inside), 0.91 with them
#define S_STRIP_MIN_MAPS 96
//  A deep stem (an image's few channels, a 7x7 kernel at stride 2) takes
//  the strips with any number of output channels: most of its strips lie
//  inside the image and are loaded whole (s_strip_inside), where im2col
//  wrote 147 rows of column matrix per pixel and read them back. resnet's
//  3 to 64 7x7 s2 alone, one thread pinned, 8 alternating rounds, median
//  new / old of the whole run 0.91, at two threads 0.94; in resnet50 by
//  bench/op-gap, three runs of each build, 3.11-3.14 to 2.91-2.96 ms,
//  and 0.92-0.94 by the median of 10-12 paired rounds. The 3x3 stems (27
//  rows a strip) gained alone (mobilenet_v3's 3 to 16 0.90, squeezenet's
//  3 to 64 0.94) but not in their models, where they ran 1.05 and 1.37 of
//  im2col's time at the best of 16 and 12 rounds, so they keep im2col.
//  At stride 1 im2col is a copy a row, and the strips lost (3 to 64 3x3
//  on 224x224 1.10)
#define S_STRIP_STEM_CHANNELS 4
#define S_STRIP_STEM_DEPTH 128

//  On more than one thread the threads share the columns, or, with more
//  maps than columns, the strips (zi_mm_fill_parallel): each packing every
//  strip for its own panels, resnet50's 3x3 stride-2 layers on 28x28 and
//  14x14 ran 1.33x and 1.15x slower than on im2col. One column would be
//  zi_mm's matrix-vector product on im2col's path, summed in another order.
static bool
s_strips_direct (const s_geom_t *geom, const float *packed)
{
    int64_t out_plane = geom->out_h * geom->out_w;
    return packed && zi_use_avx2 () && !zi_use_avx512 ()
        && (geom->k_h * geom->k_w > 1 || geom->out_c >= out_plane)
        && (geom->out_c >= S_STRIP_MIN_MAPS
            || (geom->in_c <= S_STRIP_STEM_CHANNELS && geom->stride_w == 2
                && geom->in_c * geom->k_h * geom->k_w >= S_STRIP_STEM_DEPTH))
        && geom->k_h * geom->k_w <= S_STRIP_TAPS && geom->k_w <= S_STRIP_KW
        && geom->in_h * geom->in_w < (1 << 30) && out_plane > 1;
}
#endif

//  With packed weights (group 1, AVX2) each band goes to zi_mm instead of
//  sgemm. With more than one thread: whole bands per thread when there
//  are enough of them, else each band's im2col shared out by channels and
//  its product by zi_mm_parallel (or zi_sgemm).
static int
s_conv_im2col (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *w,
               const float *packed, const float *bias, const float *sum, const zi_act_t *act,
               float *y)
{
    int64_t in_g = geom->in_c / geom->group;
    int64_t out_g = geom->out_c / geom->group;
    int64_t depth = in_g * geom->k_h * geom->k_w;      //  sgemm's K
    int64_t in_plane = geom->in_h * geom->in_w;
    int64_t out_plane = geom->out_h * geom->out_w;
#if defined (ZI_HAVE_AVX512)
    //  A stem at AVX-512: straight from the image's phase planes, with
    //  im2col's bits (act_conv_stem.c)
    if (packed && !sum && zi_use_avx512 () && zi_conv_is_stem (geom))
        return zi_conv_stem (geom, exec, x, packed, bias, act, y);
#endif
#if defined (ZI_HAVE_AVX2)
    if (s_strips_direct (geom, packed)) {
        for (int64_t n = 0; n < geom->batch; n++) {
            s_strip_job_t job = {geom, x + n * geom->in_c * in_plane};
            int64_t at = n * geom->out_c * out_plane;
            zi_mm_fill_parallel (exec, packed, out_g, depth, out_plane, s_strip_fill, &job,
                                 bias, sum? sum + at: NULL, out_plane, act, y + at, out_plane);
        }
        return 0;
    }
#endif
    size_t band_bytes = packed? S_MM_BAND_BYTES: ZI_CONV_BAND_BYTES;
    if (packed && !zi_use_avx512 ()
    &&  (size_t) out_g * depth * sizeof (float) >= S_MM_BAND_BYTES)
        band_bytes = S_MM_BAND_LARGE_W_BYTES;
    int64_t band = zi_conv_band_rows (depth, geom->out_w, geom->out_h, band_bytes);
    //  Each band reads all of W again, and late in a network W is the
    //  larger operand (512 x 4608 floats, 9 MB, on a 7x7 image): a band of
    //  at least as many columns as W has rows reads no more of W than of
    //  its own column matrix. A small band there streamed W from memory
    //  four times per layer (resnet18's 3x3 convolutions on 7x7 images)
    int64_t least = (out_g + geom->out_w - 1) / geom->out_w;
    if (packed && band < least)
        band = least < geom->out_h? least: geom->out_h;
    size_t col_bytes = depth * band * geom->out_w * sizeof (float);
    float *col = zi_exec_scratch (exec, 0, col_bytes);
    if (!col)
        return -1;
    int threads = zi_exec_threads (exec);
#if defined (ZI_HAVE_AVX2)
    int64_t bands = (geom->out_h + band - 1) / band;
    if (packed && threads > 1 && geom->batch * geom->group * bands >= 2 * threads) {
        s_band_job_t job = {geom, exec, x, packed, bias, sum, act, y, band, bands};
        for (int thread = 1; thread < threads; thread++)
            if (!zi_exec_scratch_of (exec, thread, 0, col_bytes))
                return -1;
        zi_exec_parallel (exec, geom->batch * geom->group * bands, 1, s_band_part, &job);
        return 0;
    }
#endif
    int64_t fill_unit = zi_exec_unit (geom->k_h * geom->k_w * band * geom->out_w * 16);
    for (int64_t n = 0; n < geom->batch; n++)
        for (int64_t g = 0; g < geom->group; g++) {
            const float *x_ng = x + (n * geom->in_c + g * in_g) * in_plane;
            const float *w_g = w + g * out_g * depth;
            float *y_ng = y + (n * geom->out_c + g * out_g) * out_plane;
            for (int64_t oh0 = 0; oh0 < geom->out_h; oh0 += band) {
                int64_t rows = geom->out_h - oh0 < band? geom->out_h - oh0: band;
                int64_t cols = rows * geom->out_w;
                s_fill_job_t fill = {geom, x_ng, oh0, rows, col};
                zi_exec_parallel (exec, in_g, fill_unit, s_fill_part, &fill);
                float *y_band = y_ng + oh0 * geom->out_w;
                const float *sum_band = sum? sum + (y_band - y): NULL;
#if defined (ZI_HAVE_AVX2)
                if (packed) {
                    zi_mm_parallel (exec, packed, out_g, depth, cols, col, cols, bias, sum_band,
                                    out_plane, act, y_band, out_plane);
                    continue;
                }
#endif
                float beta = s_bias_fill (y_band, out_g, cols, out_plane,
                                          bias? bias + g * out_g: NULL);
                zi_sgemm (exec, false, false, out_g, cols, depth, 1.0f, w_g, depth, col, cols,
                          beta, y_band, out_plane);
                for (int64_t row = 0; sum_band && row < out_g; row++)
                    zi_vec_add (y_band + row * out_plane, sum_band + row * out_plane, cols);
                zi_act_rows (act, y_band, out_g, cols, out_plane);
            }
        }
    return 0;
}


//  The weights packed by prepare, if they are this run's weights and the
//  SIMD kernels are in use; else NULL
static const float *
s_packed (const s_conv_t *self, const s_geom_t *geom, const float *w)
{
    if (!self->packed || self->packed_from != w || !zi_use_avx2 ()
    ||  self->packed_maps != geom->out_c
    ||  self->packed_depth != geom->in_c / geom->group * geom->k_h * geom->k_w)
        return NULL;
    return self->packed;
}

//  Is this a convolution Winograd can do? If so, its shape
static bool
s_winograd_shape (const s_geom_t *geom, zi_winograd_shape_t *shape)
{
    if (geom->n_spatial != 2 || geom->k_h != 3 || geom->k_w != 3
    ||  geom->stride_h != 1 || geom->stride_w != 1 || geom->dil_h != 1 || geom->dil_w != 1
    ||  geom->group != 1)
        return false;
    *shape = (zi_winograd_shape_t) {
        .batch = geom->batch, .channels = geom->in_c, .in_h = geom->in_h, .in_w = geom->in_w,
        .maps = geom->out_c, .out_h = geom->out_h, .out_w = geom->out_w,
        .pad_t = geom->pad_t, .pad_l = geom->pad_l, .tile = 0
    };
    return true;
}

//  The weights transformed by prepare for Winograd, if they are this run's
//  weights; else NULL
static const float *
s_winograd (const s_conv_t *self, const s_geom_t *geom, const float *w,
            zi_winograd_shape_t *shape)
{
    if (!self->winograd || self->packed_from != w || !s_winograd_shape (geom, shape)
    ||  self->packed_maps != geom->out_c || self->packed_depth != geom->in_c * 9)
        return NULL;
    shape->tile = self->winograd_tile;
    return self->winograd;
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
    const zi_tensor_t *bias_tensor = zi_conv_input (node, in, 2);
    const float *bias = bias_tensor? zi_tensor_f32 (bias_tensor): NULL;
    float *y = zi_tensor_f32 (out [0]);

    //  A residual Add fused in (zi_pass_fuse_residuals): Y = act (conv + S).
    //  The products add S in their store; the other paths run without the
    //  activation and then add S and apply it, as the Add would have
    const zi_tensor_t *sum_tensor = zi_conv_input (node, in, 3);
    const float *sum = sum_tensor? zi_tensor_f32 (sum_tensor): NULL;
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t *act = sum? &none: &node->act;
    int rc = 0;
    zi_winograd_shape_t shape;
    const float *winograd = s_winograd (node->params, &geom, w, &shape);
    const float *packed = s_packed (node->params, &geom, w);
    if (winograd)
        rc = zi_winograd_run (&shape, exec, x, winograd, bias, act, y);
    else
    if (geom.group == geom.in_c && geom.stride_w <= ZI_CONV_DW_MAX_STRIDE)
        rc = zi_conv_depthwise (&geom, exec, x, w, bias, act, y);
    else
#if defined (ZI_HAVE_AVX2)
    if (zi_conv_is_few_maps (&geom) && zi_use_avx2 ())
        return zi_conv_few_maps (&geom, exec, x, w, bias, sum, &node->act, y);
    else
#endif
    if (s_is_pointwise (&geom)) {
        int64_t plane = geom.out_h * geom.out_w;
#if defined (ZI_HAVE_AVX2)
        //  A 1x1 image is a matrix-vector product: zi_sgemv reads the
        //  weights once, as zi_mm does, and takes it unless OpenBLAS is
        //  behind the CPU (then zi_mm's one-column kernel on the panels)
        if (packed && (plane > 1 || zi_isa_blas_behind ())) {
            for (int64_t n = 0; n < geom.batch; n++)
                zi_mm_parallel (exec, packed, geom.out_c, geom.in_c, plane,
                                x + n * geom.in_c * plane, plane, bias,
                                sum? sum + n * geom.out_c * plane: NULL, plane, &node->act,
                                y + n * geom.out_c * plane, plane);
            return 0;
        }
#endif
        s_conv_pointwise (&geom, exec, x, w, bias, act, y);
    }
    else
        return s_conv_im2col (&geom, exec, x, w, packed, bias, sum, &node->act, y);
    if (rc == 0 && sum) {
        size_t count = zi_tensor_count (out [0]);
        zi_vec_add (y, sum, (int64_t) count);
        zi_act_simd (&node->act, y, (int64_t) count);
    }
    return rc;
}

//  Transforms constant weights for Winograd where it pays, or packs them
//  for zi_mm, for the other convolutions that go through a matrix
//  product with one group (1x1 and im2col); a later prepare (new shapes)
//  does it afresh
static int
s_conv_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_conv_t *self = node->params;
    zi_packed_release (&self->packed);
    zi_packed_release (&self->winograd);
    self->packed_from = NULL;
    s_geom_t geom;
    if (!in [1]->data || s_conv_geometry (self, in [0], in [1], &geom))
        return 0;
    zi_winograd_shape_t shape;
    if (s_winograd_shape (&geom, &shape) && (shape.tile = zi_winograd_tile (&shape))) {
        self->winograd = zi_winograd_weights_shared (in [1], &shape);
        if (!self->winograd)
            return -1;
        self->winograd_tile = shape.tile;
        self->packed_from = zi_tensor_f32 (in [1]);
        self->packed_maps = geom.out_c;
        self->packed_depth = geom.in_c * 9;
        return 0;
    }
    if (geom.group != 1 || (geom.group == geom.in_c && geom.stride_w <= ZI_CONV_DW_MAX_STRIDE)
    ||  !zi_cpu_avx2 ())
        return 0;
    int64_t depth = geom.in_c * geom.k_h * geom.k_w;
    if (depth > S_MM_MAX_DEPTH && !s_is_pointwise (&geom) && s_deep_on_sgemm ())
        return 0;
    self->packed = zi_mm_pack_shared (in [1], geom.out_c, depth, depth, 1, 1, 0, 1);
    if (!self->packed)
        return -1;
    self->packed_from = zi_tensor_f32 (in [1]);
    self->packed_maps = geom.out_c;
    self->packed_depth = depth;
    return 0;
}

void
zi_conv_destroy (zi_node_t *node)
{
    s_conv_t *self = node->params;
    if (self) {
        zi_packed_release (&self->packed);
        zi_packed_release (&self->winograd);
    }
    free (self);
    node->params = NULL;
}


//  --------------------------------------------------------------------------
//  Op table entries

const zi_op_t zi_op_Conv = {
    .name = "Conv", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1, .fusable = true,
    .batch = ZI_BATCH_FIRST,
    .init = zi_conv_init, .infer = s_conv_infer, .prepare = s_conv_prepare,
    .run = s_conv_run, .destroy = zi_conv_destroy, .macs = zi_op_macs_conv,
    .residual_input = 3
};


//  --------------------------------------------------------------------------
//  Self test: every path against naive loops written from the ONNX spec

//  The case table format is zi_conv_case_t (act_conv.h)

//  Per-axis value of the case: 1-d cases only use the w column
static int64_t
s_case_axis (const zi_conv_case_t *tc, const int64_t *pair, int axis, int64_t fallback)
{
    int64_t value = pair [tc->n_spatial == 1? 1: axis];
    return value? value: fallback;
}

//  Output size and begin padding of one axis, straight from the spec
static void
s_ref_axis (const zi_conv_case_t *tc, int axis, int64_t *out, int64_t *begin)
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
s_ref_conv (const zi_conv_case_t *tc, const float *x, const float *w, const float *b,
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
s_case_node (const zi_conv_case_t *tc)
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

void
zi_conv_case_run (zi_test_t *t, const zi_conv_case_t *tc, uint32_t seed)
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

//  Checks y against the spec's loops for a case
static void
s_check_case (zi_test_t *t, const zi_conv_case_t *tc, const char *what, const zi_tensor_t *x,
              const zi_tensor_t *w, const zi_tensor_t *b, const zi_tensor_t *y)
{
    int64_t out_h, out_w, pad_t, pad_l;
    s_ref_axis (tc, 0, &out_h, &pad_t);
    s_ref_axis (tc, 1, &out_w, &pad_l);
    size_t count = zi_tensor_count (y);
    float *expect = malloc (count * sizeof (float));
    assert (expect);
    s_ref_conv (tc, x->data, w->data, b? b->data: NULL, out_h, out_w, pad_t, pad_l, expect);
    ZI_CHECK_CLOSE (t, what, y->data, expect, count, 1e-5f, 1e-5f);
    free (expect);
}

//  Weights packed by prepare belong to the tensor prepare saw: a run with
//  other weights must not use them, and a prepare for new shapes packs
//  afresh (the sanitizer build sees the old packing freed)
static void
s_check_packing (zi_test_t *t)
{
    zi_conv_case_t tc = {"packing", "Conv", 2, 1, 8, 5, 6, 7, 1, 1, 0, {0, 0}, {0, 0},
                   {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_RELU, 0, 0}};
    int64_t x_dims [4] = {1, 8, 5, 6}, w_dims [4] = {7, 8, 1, 1}, b_dims [1] = {7};
    zi_tensor_t *x = zi_test_random (4, x_dims, 31);
    zi_tensor_t *w = zi_test_random (4, w_dims, 32);
    zi_tensor_t *other = zi_test_random (4, w_dims, 33);
    zi_tensor_t *b = zi_test_random (1, b_dims, 34);
    zi_node_t *node = s_case_node (&tc);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 3, (zi_tensor_t *[]) {x, w, b}, 1, &y);
    ZI_CHECK (t, rc == 0, "packing: runs: %s", rc? zi_error_text (): "ok");
    if (rc == 0)
        s_check_case (t, &tc, "packing: prepared weights", x, w, b, y);

    zi_exec_t *exec = zi_exec_new ();
    rc = node->op->run (node, exec, (const zi_tensor_t *[]) {x, other, b}, &y);
    ZI_CHECK (t, rc == 0, "packing: runs with other weights");
    if (rc == 0)
        s_check_case (t, &tc, "packing: other weights", x, other, b, y);
    zi_exec_destroy (&exec);
    zi_tensor_destroy (&y);

    tc.in_h = 9;
    tc.in_w = 11;
    zi_tensor_t *wider = zi_test_random (4, (int64_t []) {1, 8, 9, 11}, 35);
    rc = zi_test_run_op (node, 3, (zi_tensor_t *[]) {wider, other, b}, 1, &y);
    ZI_CHECK (t, rc == 0, "packing: prepares again: %s", rc? zi_error_text (): "ok");
    if (rc == 0)
        s_check_case (t, &tc, "packing: prepared again", wider, other, b, y);
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&wider);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&w);
    zi_tensor_destroy (&other);
    zi_tensor_destroy (&b);
    zi_node_destroy (&node);
}

//  Runs a case on one thread, then again on an exec of 2 and of 3 threads
//  (twice each, the helpers reused): the outputs must have the same bits,
//  except where sgemm runs (grouped, or portable), which rounds a little
//  differently in blocks. The shapes are large enough for every path to be
//  shared out.
static void
s_check_threads (zi_test_t *t, const zi_conv_case_t *tc, uint32_t seed)
{
    int64_t group = tc->group? tc->group: 1;
    int64_t x_dims [4] = {tc->batch, tc->channels, tc->in_h, tc->in_w};
    int64_t w_dims [4] = {tc->maps, tc->channels / group, tc->k_h, tc->k_w};
    //  sgemm's blocks (zi_sgemm) round a little differently from one call:
    //  where it runs, close is all that is asked (grouped, or portable);
    //  OpenBLAS's Haswell kernels, splitting K by thread count, come
    //  within 1.2e-5 of one thread on sums of a thousand products
    bool depthwise = group == tc->channels;
    bool deep = tc->channels / group * tc->k_h * tc->k_w > S_MM_MAX_DEPTH
             && (tc->k_h > 1 || tc->k_w > 1);
    bool sgemm = !depthwise && (group > 1 || zi_isa_level () == ZI_ISA_PORTABLE
                             || (deep && s_deep_on_sgemm ()));
    zi_tensor_t *inputs [3] = {
        zi_test_random (4, x_dims, seed), zi_test_random (4, w_dims, seed + 1),
        zi_test_random (1, &tc->maps, seed + 2)
    };
    zi_node_t *node = s_case_node (tc);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, tc->bias? 3: 2, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "threads: %s runs: %s", tc->label, rc? zi_error_text (): "ok");
    if (rc == 0) {
        char what [160];
        snprintf (what, sizeof what, "threads: %s, one thread", tc->label);
        s_check_case (t, tc, what, inputs [0], inputs [1], tc->bias? inputs [2]: NULL, y);
        snprintf (what, sizeof what, "threads: %s: more threads close to one (sgemm)",
                  tc->label);
        zi_tensor_t *again = zi_tensor_new (y->dtype, y->ndim, y->dims);
        for (int threads = 2; threads <= 3; threads++) {
            zi_exec_t *exec = zi_exec_new ();
            zi_exec_set_threads (exec, threads);
            for (int round = 0; round < 2; round++) {
                for (size_t item = 0; item < zi_tensor_count (again); item++)
                    zi_tensor_f32 (again) [item] = NAN;
                rc = node->op->run (node, exec, (const zi_tensor_t **) inputs, &again);
                if (sgemm)
                    ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (again), zi_tensor_f32 (y),
                                    zi_tensor_count (y), 5e-5f, 5e-5f);
                else
                    ZI_CHECK (t, rc == 0 && memcmp (again->data, y->data, y->nbytes) == 0,
                              "threads: %s: %d threads give the bits of one", tc->label,
                              threads);
            }
            zi_exec_destroy (&exec);
        }
        zi_tensor_destroy (&again);
    }
    zi_tensor_destroy (&y);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

//  Runs a node on the given input shapes and checks it fails with an error
//  mentioning `expect`
void
zi_conv_check_fails (zi_test_t *t, zi_node_t *node, int ndim_x, const int64_t *x_dims,
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

//  Every case at every instruction set the CPU has, from the widest
//  kernels down to the portable ones
void
zi_conv_cases_run (zi_test_t *t, const zi_conv_case_t *cases, size_t count,
                   uint32_t first_seed)
{
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (size_t index = 0; index < count; index++) {
            zi_conv_case_t at_level = cases [index];
            char label [160];
            snprintf (label, sizeof label, "%s, %s", cases [index].label,
                      zi_isa_name ((zi_isa_t) level));
            at_level.label = label;
            zi_conv_case_run (t, &at_level, (uint32_t) (first_seed + 7 * index));
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
}

void
zi_conv_cases_threads (zi_test_t *t, const zi_conv_case_t *cases, size_t count,
                       uint32_t first_seed)
{
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (size_t index = 0; index < count; index++) {
            zi_conv_case_t at_level = cases [index];
            char label [160];
            snprintf (label, sizeof label, "%s, %s", cases [index].label,
                      zi_isa_name ((zi_isa_t) level));
            at_level.label = label;
            s_check_threads (t, &at_level, (uint32_t) (first_seed + 3 * index));
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
}

void
zi_act_conv_test (zi_test_t *t)
{
    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const zi_conv_case_t cases [] = {
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

        //  1x1 on packed weights: tiles of 6 maps by 16 columns, a row's
        //  last columns in a masked tile (9..15 left), a narrow one (4..8)
        //  or one at a time (1..3); more than 256 input channels in slices
        {"1x1 plane 49 13 maps", "Conv", 2, 1, 20, 7, 7, 13, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"1x1 plane 20 no bias", "Conv", 2, 1, 7, 4, 5, 8, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, false, .act = relu},
        {"1x1 plane 30", "Conv", 2, 1, 5, 5, 6, 6, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_CLIP, -0.3f, 0.4f}},
        {"1x1 300 channels", "Conv", 2, 1, 300, 3, 5, 7, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_LEAKY_RELU, 0.2f, 0}},
        {"1x1 301 channels plane 18", "Conv", 2, 1, 301, 3, 6, 5, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_TANH, 0, 0}},
        {"1x1 270 channels plane 20", "Conv", 2, 1, 270, 4, 5, 9, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, false, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"1x1 batch 3 plane 16", "Conv", 2, 3, 6, 4, 4, 12, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"1x1 image 1x1 (sgemv)", "Conv", 2, 2, 9, 1, 1, 7, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f}},
        {"1x1 image 1x1 no bias", "Conv", 2, 1, 9, 1, 1, 7, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, false, .act = none},

        //  im2col on packed weights
        {"3x3 s2 360 deep", "Conv", 2, 1, 40, 9, 11, 7, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"stem 3x3 s2 16 maps", "Conv", 2, 1, 3, 16, 16, 16, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"stem 7x7 s2 pad 3", "Conv", 2, 1, 3, 20, 19, 8, 7, 7, 0, {2, 2}, {0, 0},
         {3, 3, 3, 3}, true, NULL, false, .act = relu},
        //  More maps than a band's columns: bands widened from seven rows
        //  to ten, as many columns as W has rows, two of them
        {"3x3 s2 bands of W's rows", "Conv", 2, 1, 64, 40, 32, 160, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        //  A W of 256 kB (256 x 256 floats) at AVX2: one band of up to 4 MB
        //  where 256 kB made two (16 rows and 1)
        {"1x1 s2 W of 256 kB in one band", "Conv", 2, 1, 256, 34, 34, 256, 1, 1, 0, {2, 2},
         {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = relu},
        //  Stride-2 rows of more than sixteen columns, the last step masked
        //  (AVX-512 fills a tap's rows in one call), with padding on either
        //  side, dilation and 1x1
        {"3x3 s2 rows of 38", "Conv", 2, 1, 5, 9, 75, 6, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"3x2 s2 dilation 2x3 rows of 36", "Conv", 2, 1, 3, 11, 70, 5, 3, 2, 0, {2, 2},
         {2, 3}, {2, 1, 0, 3}, true, NULL, true, .act = none},
        {"1x1 s2 rows of 35", "Conv", 2, 1, 4, 5, 69, 6, 1, 1, 0, {2, 2}, {0, 0},
         {0, 0, 0, 0}, false, NULL, false, .act = none},
        //  Few output channels: the direct kernel, rows and columns with
        //  tails, every map count, activations in registers and after
        {"few maps 3x3 16 to 3 pad 1", "Conv", 2, 1, 16, 30, 37, 3, 3, 3, 0, {1, 1}, {1, 1},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"few maps 5x5 4 to 1 asymmetric pads", "Conv", 2, 1, 4, 21, 17, 1, 5, 5, 0, {0, 0},
         {0, 0}, {2, 1, 0, 3}, true, NULL, false, .act = none},
        {"few maps 3x3 6 to 4 batch 2 no pad", "Conv", 2, 2, 6, 9, 23, 4, 3, 3, 0, {0, 0},
         {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"few maps 3x2 5 to 2 width 16 sigmoid", "Conv", 2, 1, 5, 6, 17, 2, 3, 2, 0, {0, 0},
         {0, 0}, {1, 0, 1, 0}, true, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        //  Deeper than S_MM_MAX_DEPTH: sgemm at AVX2, zi_mm at AVX-512, on
        //  OpenBLAS's Zen core or when its kernels are behind the level in use
        {"3x3 s2 1800 deep", "Conv", 2, 1, 200, 9, 8, 13, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"1x1 image 1x1 600 deep", "Conv", 2, 1, 600, 1, 1, 45, 1, 1, 0, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"width 1 kernel 5 (taps that see only padding)", "Conv", 2, 1, 2, 6, 1, 3, 5, 5, 0,
         {0, 0}, {0, 0}, {2, 2, 2, 2}, true, NULL, true, .act = none},
        //  Strips straight from the image (96 maps or more, at AVX2): rows
        //  of 7 (a strip over four output rows), stride 1 with dilation
        //  and padding on every side, a 1-d kernel, batch 2; stride 3 and
        //  rows of 3 (more than four output rows) by gathers
        {"strips 3x3 s2 rows of 7", "Conv", 2, 1, 24, 14, 14, 100, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"strips 3x2 dilation 2x3 pads", "Conv", 2, 2, 8, 9, 23, 96, 3, 2, 0, {1, 1}, {2, 3},
         {2, 1, 0, 3}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"strips 1-d 5 taps stride 2", "Conv", 1, 1, 30, 1, 41, 97, 1, 5, 0, {0, 2}, {0, 0},
         {0, 2, 0, 1}, true, NULL, false, .act = none},
        {"strips 3x3 s3 (gathers)", "Conv", 2, 1, 5, 11, 20, 97, 3, 3, 0, {3, 3}, {0, 0},
         {1, 0, 2, 1}, true, NULL, true, .act = none},
        {"strips rows of 3 (gathers)", "Conv", 2, 1, 4, 20, 5, 98, 3, 3, 0, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"strips 1x1 s2 more maps than pixels", "Conv", 2, 2, 40, 15, 13, 120, 1, 1, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = relu},
        //  Deep stems (four input channels or fewer, stride 2, 128 rows of
        //  K or more) take the strips with few maps; the strips inside the
        //  image load whole rows (s_strip_inside), the others keep the
        //  masks: a row's first strip, its last (a whole load would pass
        //  the row's end), the top and bottom rows; dilation 2; 7x7 over 38
        //  columns, whose third strip spans two output rows
        {"strips stem 5x7 s2 4 to 10", "Conv", 2, 1, 4, 40, 70, 10, 5, 7, 0, {2, 2},
         {0, 0}, {2, 3, 2, 3}, true, NULL, true, .act = relu},
        {"strips stem 4x8 s2 dilation 2", "Conv", 2, 1, 4, 30, 80, 5, 4, 8, 0, {2, 2},
         {2, 2}, {3, 7, 3, 7}, true, NULL, false, .act = none},
        {"strips stem 7x7 s2 4 to 7 batch 2", "Conv", 2, 2, 4, 38, 75, 7, 7, 7, 0, {2, 2},
         {0, 0}, {3, 3, 3, 3}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
    };
    zi_conv_cases_run (t, cases, sizeof cases / sizeof cases [0], 100);
    s_check_packing (t);

    //  Each path shared out between threads: the same bits as one thread
    //  (the depthwise kernels' cases are in act_conv_depthwise.c)
    const zi_conv_case_t threaded [] = {
        {"1x1 by columns 3136 wide", "Conv", 2, 1, 32, 56, 56, 40, 1, 1, 0,
         {0, 0}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = relu},
        {"1x1 by panels 7x7 batch 2", "Conv", 2, 2, 200, 7, 7, 100, 1, 1, 0,
         {0, 0}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"stem 3x3 s2 whole bands", "Conv", 2, 1, 3, 224, 224, 16, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"stem 7x7 s2 strips by columns", "Conv", 2, 1, 3, 60, 100, 24, 7, 7, 0,
         {2, 2}, {0, 0}, {3, 3, 3, 3}, true, NULL, true, .act = relu},
        {"3x3 s2 one band split", "Conv", 2, 1, 64, 14, 14, 70, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"3x3 s2 widened bands", "Conv", 2, 2, 64, 40, 32, 130, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"1x1 s2 W of 256 kB, batch 2", "Conv", 2, 2, 256, 34, 34, 256, 1, 1, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = relu},
        {"group 2 im2col and sgemm", "Conv", 2, 1, 32, 28, 28, 32, 3, 3, 2,
         {1, 1}, {0, 0}, {1, 1, 1, 1}, true, NULL, false, .act = relu},
        //  Deeper than S_MM_MAX_DEPTH: the packed product wherever it
        //  takes such depths, sgemm's blocks elsewhere
        {"3x3 s2 1800 deep", "Conv", 2, 1, 200, 13, 13, 48, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},        //  Strips straight from the image: by columns (156 of them: tiles
        //  of 16 and a tail of 12), by panels (rows of 7, over four output
        //  rows a strip)
        {"strips 3x3 s2 by columns", "Conv", 2, 2, 20, 24, 26, 96, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"strips 3x3 s2 by panels", "Conv", 2, 1, 30, 14, 14, 200, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"strips 1x1 s2 by panels", "Conv", 2, 1, 64, 28, 28, 300, 1, 1, 0,
         {2, 2}, {0, 0}, {0, 0, 0, 0}, false, NULL, true, .act = relu},
        //  by panels over two groups of slices (720 deep: three slices
        //  of 240, two to a group), batch 2
        {"strips 3x3 s2 by panels 720 deep", "Conv", 2, 2, 80, 20, 20, 120, 3, 3, 0,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
    };
    zi_conv_cases_threads (t, threaded, sizeof threaded / sizeof threaded [0], 500);

    //  Conv reads the same in every opset from 9 to 17
    zi_conv_case_t legacy = cases [1];
    legacy.label = "opset 9";
    legacy.opset = 9;
    zi_conv_case_run (t, &legacy, 7);
    zi_node_t *node;

    //  Errors: each names what was expected and what came
    int64_t x4 [] = {1, 4, 5, 5}, w4 [] = {2, 4, 3, 3}, w3 [] = {2, 4, 3};
    zi_conv_check_fails (t, zi_node_new ("Conv", "weights rank"), 4, x4, 3, w3, NULL,
                         "expected 4-d weights");
    zi_conv_check_fails (t, zi_node_new ("Conv", "channels"), 4, x4, 4, (int64_t []) {2, 3, 3, 3},
                         NULL, "take 3 input channels");
    node = zi_node_new ("Conv", "group channels");
    zi_node_set_int (node, "group", 2);
    zi_conv_check_fails (t, node, 4, x4, 4, w4, NULL, "with group 2 take 8 input channels");
    node = zi_node_new ("Conv", "group maps");
    zi_node_set_int (node, "group", 2);
    zi_conv_check_fails (t, node, 4, x4, 4, (int64_t []) {3, 2, 3, 3}, NULL,
                         "3 output channels do not divide into 2 groups");
    node = zi_node_new ("Conv", "auto_pad");
    zi_node_set_string (node, "auto_pad", "SAME");
    zi_conv_check_fails (t, node, 4, x4, 4, w4, NULL, "'auto_pad' = 'SAME' is not supported");
    node = zi_node_new ("Conv", "kernel_shape");
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {3, 2});
    zi_conv_check_fails (t, node, 4, x4, 4, w4, NULL, "does not match");
    node = zi_node_new ("Conv", "strides length");
    zi_node_set_ints (node, "strides", 3, (int64_t []) {1, 1, 1});
    zi_conv_check_fails (t, node, 4, x4, 4, w4, NULL, "'strides' has 3 values, expected 2");
    node = zi_node_new ("Conv", "negative pads");
    zi_node_set_ints (node, "pads", 4, (int64_t []) {1, -1, 1, 1});
    zi_conv_check_fails (t, node, 4, x4, 4, w4, NULL, "at least 0");
    node = zi_node_new ("Conv", "zero stride");
    zi_node_set_ints (node, "strides", 2, (int64_t []) {1, 0});
    zi_conv_check_fails (t, node, 4, x4, 4, w4, NULL, "at least 1");
    zi_conv_check_fails (t, zi_node_new ("Conv", "bias size"), 4, x4, 4, w4, (int64_t []) {3},
                         "expected float32 bias [2]");
    zi_conv_check_fails (t, zi_node_new ("Conv", "kernel too large"), 4, (int64_t []) {1, 4, 2, 5},
                         4, w4, NULL, "more than the padded input");
    zi_conv_check_fails (t, zi_node_new ("Conv", "3-d"), 5, (int64_t []) {1, 4, 3, 3, 3},
                         5, (int64_t []) {2, 4, 1, 1, 1}, NULL, "only 1-d and 2-d");
}
