/*  =========================================================================
    zi_act.h - activations an op applies to its own output, and row helpers

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_ACT_H_INCLUDED
#define ZI_ACT_H_INCLUDED

#include "zinfer.h"

//  An activation that an op applies to its own output (fusion pass)
typedef enum {
    ZI_ACT_NONE = 0,
    ZI_ACT_RELU,
    ZI_ACT_CLIP,                //  clamp to [alpha, beta]
    ZI_ACT_LEAKY_RELU,          //  alpha
    ZI_ACT_SIGMOID,
    ZI_ACT_HARD_SIGMOID,        //  max (0, min (1, alpha x + beta))
    ZI_ACT_HARD_SWISH,          //  x * hard_sigmoid (x; 1/6, 1/2)
    ZI_ACT_TANH
} zi_act_kind_t;

typedef struct {
    zi_act_kind_t kind;         //  which activation
    float alpha;                //  first parameter, see zi_act_kind_t
    float beta;                 //  second parameter
} zi_act_t;

//  Sum and maximum of a contiguous row, in a fixed order (zi_vec.c)
float
    zi_vec_sum (const float *x, int64_t n);
float
    zi_vec_max (const float *x, int64_t n);
//  y += x, element by element
void
    zi_vec_add (float *restrict y, const float *restrict x, int64_t n);

//  Apply an activation in place to n floats
void
    zi_act_apply (const zi_act_t *act, float *data, size_t n);
//  Apply to one value (reference and tail loops)
float
    zi_act_one (const zi_act_t *act, float x);

#endif
