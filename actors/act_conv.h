/*  =========================================================================
    act_conv.h - a convolution's geometry, shared with the integer
    convolutions (act_quant.c): ConvInteger and QLinearConv take Conv's
    attributes and shapes, and only their element types differ
    =========================================================================
*/

#ifndef ACT_CONV_H_INCLUDED
#define ACT_CONV_H_INCLUDED

#include "zi_classes.h"

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

#endif
