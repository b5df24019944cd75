/*  =========================================================================
    zi_op_macs - multiply-accumulate counts that several kernels share

    A kernel whose cost is arithmetic names a count in its zi_op_t (.macs);
    the engine sums them for `zinfer info` and weighs nodes by them when it
    places them. Conv, ConvInteger and QLinearConv share one formula, and
    MatMul, MatMulInteger and QLinearMatMul another, so those live here;
    counts only one op uses (Gemm, ConvTranspose, the recurrent ops) live
    beside its kernel.
    =========================================================================
*/

#include "zi_classes.h"

//  Every output element of a convolution sums over one filter: the weight's
//  extents after the first (input channels per group times the kernel)
static int64_t
s_conv (const zi_tensor_t *weight, const zi_tensor_t *y)
{
    if (!weight || !y || weight->ndim < 3)
        return 0;
    int64_t per_output = 1;
    for (int axis = 1; axis < weight->ndim; axis++)
        per_output *= weight->dims [axis];
    return zi_shape_count (y->ndim, y->dims) * per_output;
}

int64_t
zi_op_macs_conv (const zi_node_t *node, const zi_tensor_t *const *in,
                 const zi_tensor_t *const *out)
{
    return s_conv (node->n_inputs > 1? in [1]: NULL, out [0]);
}

int64_t
zi_op_macs_qlinear_conv (const zi_node_t *node, const zi_tensor_t *const *in,
                         const zi_tensor_t *const *out)
{
    return s_conv (node->n_inputs > 3? in [3]: NULL, out [0]);
}

//  Every output element of A x B sums over A's last extent
int64_t
zi_op_macs_matmul (const zi_node_t *node, const zi_tensor_t *const *in,
                   const zi_tensor_t *const *out)
{
    const zi_tensor_t *a = in [0], *y = out [0];
    if (!a || !y || a->ndim < 1)
        return 0;
    return zi_shape_count (y->ndim, y->dims) * a->dims [a->ndim - 1];
}
