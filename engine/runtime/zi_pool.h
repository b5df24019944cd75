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
//  Whether a shape may go to zi_pool_tensor_like: zi_pool_tensor would
//  take it, its nbytes are its size, and its dims past ndim are zero (a
//  planned output's, checked once when an actor is set up)
bool
    zi_pool_fits (const zi_tensor_t *shape);
//  A tensor of such a shape: neither counted nor checked again, its dims
//  copied whole
zi_tensor_t *
    zi_pool_tensor_like (zi_pool_t *self, const zi_tensor_t *shape);
//  Pooled tensors not yet released
int
    zi_pool_live (zi_pool_t *self);

#endif
