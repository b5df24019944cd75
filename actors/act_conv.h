/*  =========================================================================
    act_conv.h - what the convolution family shares between its files:
    Conv (act_conv.c) and its depthwise kernels (act_conv_depthwise.c),
    ConvTranspose (act_deconv.c), and the integer convolutions
    (act_quant.c), which take Conv's attributes and shapes and differ only
    in their element types
    =========================================================================
*/

#ifndef ACT_CONV_H_INCLUDED
#define ACT_CONV_H_INCLUDED

#include "zi_classes.h"

//  The column buffer of one im2col / col2im band is kept under this many
//  bytes: large enough for sgemm to run at full speed, small enough to
//  stay in L2/L3 while the band is written, multiplied and post-processed.
#define ZI_CONV_BAND_BYTES (2 * 1024 * 1024)

//  Column strides of depthwise convolutions beyond this go to im2col
#define ZI_CONV_DW_MAX_STRIDE 4

typedef enum {
    ZI_CONV_PAD_NOTSET,         //  explicit pads
    ZI_CONV_PAD_SAME_UPPER,     //  output = ceil (in / stride), extra pad at end
    ZI_CONV_PAD_SAME_LOWER,     //  same, extra pad at start
    ZI_CONV_PAD_VALID           //  no padding
} zi_conv_pad_t;

//  Attributes as the model gave them, shared by Conv and ConvTranspose.
//  Their lengths depend on the input rank, so they are checked in infer,
//  the first time the rank is known.
typedef struct {
    int64_t group;              //  channel groups
    zi_conv_pad_t auto_pad;     //  how padding is chosen
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
    const float *packed;        //  1x1 weights packed by prepare (zi_mm_shared.h), or NULL
    const float *winograd;      //  3x3 weights transformed by prepare, or NULL
    int winograd_tile;          //  the output tile they were transformed for
    const float *packed_from;   //  the weights they were packed or transformed from
    int64_t packed_maps;        //  their output channels
    int64_t packed_depth;       //  their input channels, times the kernel size
} zi_conv_attrs_t;

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
} zi_conv_geom_t;

//  Reads and checks the attributes into node->params (a zi_conv_attrs_t)
int
    zi_conv_init (zi_node_t *node);
//  Frees node->params and what prepare packed
void
    zi_conv_destroy (zi_node_t *node);
//  Conv's attributes (group, auto_pad, kernel_shape, strides, dilations,
//  pads) read from a node, checked as Conv checks them; free () them.
//  NULL with an error when one is wrong
void *
    zi_conv_attrs_new (zi_node_t *node);
//  The geometry of X [N, C, (H,) W] and W [M, C/group, (kH,) kW] under
//  those attributes, whatever their element types; -1 with an error when
//  they do not fit together
int
    zi_conv_geometry (const void *attrs, const zi_tensor_t *x, const zi_tensor_t *w,
                      zi_conv_geom_t *geom);
//  ConvTranspose's geometry: X [N, C, (H,) W], W [C, M/group, (kH,) kW];
//  the output size from output_shape or strides, pads and output_padding
int
    zi_deconv_geometry (const zi_conv_attrs_t *self, const zi_tensor_t *x,
                        const zi_tensor_t *w, zi_conv_geom_t *geom);
//  Checks the optional bias is float32 [out_c]
int
    zi_conv_check_bias (const zi_tensor_t *bias, int64_t out_c);
//  Gives out the geometry's output shape, float32
void
    zi_conv_geom_shape (const zi_conv_geom_t *geom, zi_tensor_t *out);
//  Depthwise convolution (group == C, column stride up to
//  ZI_CONV_DW_MAX_STRIDE), y = act (conv (x, w) + bias), bias optional
int
    zi_conv_depthwise (const zi_conv_geom_t *geom, zi_exec_t *exec, const float *x,
                       const float *w, const float *bias, const zi_act_t *act, float *y);

//  Whether Conv's direct kernel for few output channels takes this
//  geometry (act_conv_few.c): up to four output channels, one group, stride
//  and dilation 1, a kernel of more than one tap, an output of at least
//  4 rows of 16
bool
    zi_conv_is_few_maps (const zi_conv_geom_t *geom);
//  That kernel (AVX2 or AVX-512, as the CPU has): y = act (conv (x, w) +
//  bias + sum), bias and sum optional. 0, or -1 with an error when scratch
//  memory could not be had
int
    zi_conv_few_maps (const zi_conv_geom_t *geom, zi_exec_t *exec, const float *x,
                      const float *w, const float *bias, const float *sum,
                      const zi_act_t *act, float *y);

//  Whether Conv's direct kernel for a stem takes this geometry
//  (act_conv_stem.c): up to four input channels, one group, stride 2,
//  dilation 1, K (channels times taps) of 128 up to one slice of the
//  AVX-512 tile's (ZI_MM_WIDE_WHOLE), an output at least 16 columns wide
bool
    zi_conv_is_stem (const zi_conv_geom_t *geom);
#if defined (ZI_HAVE_AVX512)
//  That kernel, AVX-512 only (the caller checks zi_use_avx512): y = act
//  (conv (x, w) + bias) on weights packed by zi_mm_pack, bias optional,
//  with the bits of the im2col product. 0, or -1 with an error when
//  scratch memory could not be had
int
    zi_conv_stem (const zi_conv_geom_t *geom, zi_exec_t *exec, const float *x,
                  const float *packed, const float *bias, const zi_act_t *act, float *y);
#endif

//  An optional input, NULL when omitted
static inline const zi_tensor_t *
zi_conv_input (const zi_node_t *node, const zi_tensor_t *const *in, int slot)
{
    return slot < node->n_inputs? in [slot]: NULL;
}

//  The indices i in [0, count) for which 0 <= i * stride + offset < limit
//  form one range [*lo, *hi); this is the part of a row that needs no
//  padding, so inner loops over it have no bounds checks.
static inline void
zi_conv_valid_range (int64_t offset, int64_t stride, int64_t limit, int64_t count,
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
zi_conv_axpy (float *restrict y, const float *restrict x, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y [i] += a * x [i];
}

//  Output rows per band so the band's column matrix fits in limit bytes
static inline int64_t
zi_conv_band_rows (int64_t col_rows, int64_t row_width, int64_t rows, int64_t limit)
{
    int64_t bytes = col_rows * row_width * (int64_t) sizeof (float);
    int64_t band = bytes > 0? limit / bytes: rows;
    if (band < 1)
        band = 1;
    return band < rows? band: rows;
}

//  --------------------------------------------------------------------------
//  Self-test support: the family's tests share one case table format and
//  one reference, naive loops written from the ONNX spec (act_conv.c)

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
} zi_conv_case_t;

//  Runs a case on random inputs from seed and checks shape and values
//  against the reference
void
    zi_conv_case_run (zi_test_t *t, const zi_conv_case_t *tc, uint32_t seed);
//  Runs every case at every instruction set the CPU has, from the widest
//  kernels down to the portable ones; case i takes seed first_seed + 7 i
void
    zi_conv_cases_run (zi_test_t *t, const zi_conv_case_t *cases, size_t count,
                       uint32_t first_seed);
//  Runs a Conv case on one thread, then on 2 and 3: the same bits (close,
//  where sgemm runs), at every instruction set the CPU has
void
    zi_conv_cases_threads (zi_test_t *t, const zi_conv_case_t *cases, size_t count,
                           uint32_t first_seed);
//  Runs a node on random inputs of the given shapes and checks it fails
//  with an error mentioning expect; destroys the node
void
    zi_conv_check_fails (zi_test_t *t, zi_node_t *node, int ndim_x, const int64_t *x_dims,
                         int ndim_w, const int64_t *w_dims, const int64_t *b_dim,
                         const char *expect);

#endif
