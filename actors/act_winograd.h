/*  =========================================================================
    act_winograd.h - Winograd F(4x4, 3x3) and F(2x2, 3x3) convolution,
    called by act_conv.c

    Conv keeps the attributes, the shapes and the choice of path; this
    file only holds the arithmetic of one path, the way a BLAS call does.
    =========================================================================
*/

#ifndef ACT_WINOGRAD_H_INCLUDED
#define ACT_WINOGRAD_H_INCLUDED

//  A 3x3 convolution with stride 1, dilation 1 and one group, NCHW float32
typedef struct {
    int64_t batch;              //  N
    int64_t channels;           //  C, channels of X
    int64_t in_h, in_w;         //  spatial size of X
    int64_t maps;               //  M, channels of Y
    int64_t out_h, out_w;       //  spatial size of Y
    int64_t pad_t, pad_l;       //  padding before the first row and column
    int tile;                   //  output tile side: 4 for F(4x4, 3x3), 2 for F(2x2, 3x3)
} zi_winograd_shape_t;

//  The tile that makes Winograd faster than im2col and sgemm for this shape
//  (its tile field aside): 4, 2, or 0 when neither pays. Decided from
//  measurements, in docs/performance.md.
int
    zi_winograd_tile (const zi_winograd_shape_t *shape);

//  Floats of transformed weights for the shape's tile, maps and channels
size_t
    zi_winograd_weights_floats (const zi_winograd_shape_t *shape);

//  Transforms W [M][C][3][3] once, at prepare, into u: one matrix [M][C]
//  per point of the transformed tile, (tile + 2)^2 of them, each packed
//  for zi_mm (act_mm.h)
void
    zi_winograd_weights (const zi_winograd_shape_t *shape, const float *w, float *u);

//  Y = act (conv (X, W) + bias), from weights transformed by
//  zi_winograd_weights for the same tile; bias may be NULL. Returns -1 if
//  scratch memory is short.
int
    zi_winograd_run (const zi_winograd_shape_t *shape, zi_exec_t *exec, const float *x,
                     const float *u, const float *bias, const zi_act_t *act, float *y);

#endif
