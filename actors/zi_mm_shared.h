/*  =========================================================================
    zi_mm_shared.h - a constant weight packed for zi_mm once, however many
    nodes multiply by it (zi_packed.h keeps the forms)

    Included by the kernels that pack: act_conv.c, act_gemm.c, act_deconv.c.
    =========================================================================
*/

#ifndef ZI_MM_SHARED_H_INCLUDED
#define ZI_MM_SHARED_H_INCLUDED

#include "zi_classes.h"
#include "act_winograd.h"

//  zi_mm_pack of the constant weight w, groups times: group g's M x K
//  matrix starts group_stride floats after group g - 1's and its element
//  (m, k) is at [m ldm + k ldk]; the packed groups lie one after another,
//  zi_mm_packed_floats (maps, depth) floats apart. Every element is then
//  multiplied by scale (Gemm's alpha; 1 leaves the pack as it is). The
//  form is shared with every node that packs w the same way; give it back
//  with zi_packed_release. NULL with an error if memory is short.
const float *
    zi_mm_pack_shared (const zi_tensor_t *w, int64_t maps, int64_t depth, int64_t ldm,
                       int64_t ldk, int64_t groups, int64_t group_stride, float scale);

//  zi_winograd_weights of the constant 3x3 weight w for shape's maps,
//  channels and tile, shared in the same way
const float *
    zi_winograd_weights_shared (const zi_tensor_t *w, const zi_winograd_shape_t *shape);

#endif
