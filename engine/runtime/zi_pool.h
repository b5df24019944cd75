/*  =========================================================================
    zi_pool.h - recycled tensor buffers

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_POOL_H_INCLUDED
#define ZI_POOL_H_INCLUDED

#include "zinfer.h"
#include "zi_tensor.h"

//  Recycled tensor buffers (zi_pool.c): tensors whose data goes back to
//  the pool, from any thread, when their last reference is dropped
typedef struct zi_pool_t zi_pool_t;
zi_pool_t *
    zi_pool_new (void);
//  Destroy only once every pooled tensor has been released
void
    zi_pool_destroy (zi_pool_t **self_p);
zi_tensor_t *
    zi_pool_tensor (zi_pool_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims);
//  Pooled tensors not yet released
int
    zi_pool_live (zi_pool_t *self);

#endif
