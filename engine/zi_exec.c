/*  =========================================================================
    zi_exec - per-thread execution context

    Kernels that need temporary memory (im2col columns, packed tiles) take
    it from here. Buffers grow to the largest request and are then reused,
    so after the first request nothing is allocated on the hot path.
    =========================================================================
*/

#include "zi_classes.h"

#define ZI_EXEC_SLOTS 4

struct zi_exec_t {
    void *scratch [ZI_EXEC_SLOTS];      //  reusable buffers
    size_t size [ZI_EXEC_SLOTS];        //  their sizes in bytes
};

zi_exec_t *
zi_exec_new (void)
{
    zi_exec_t *self = calloc (1, sizeof (zi_exec_t));
    assert (self);
    return self;
}

void
zi_exec_destroy (zi_exec_t **self_p)
{
    assert (self_p);
    zi_exec_t *self = *self_p;
    if (!self)
        return;
    for (int slot = 0; slot < ZI_EXEC_SLOTS; slot++)
        zi_free (self->scratch [slot]);
    free (self);
    *self_p = NULL;
}

void *
zi_exec_scratch (zi_exec_t *self, int slot, size_t size)
{
    assert (self);
    assert (slot >= 0 && slot < ZI_EXEC_SLOTS);
    if (size > self->size [slot]) {
        zi_free (self->scratch [slot]);
        self->scratch [slot] = zi_alloc (size);
        self->size [slot] = self->scratch [slot]? size: 0;
        if (!self->scratch [slot])
            zi_error ("out of memory for %zu bytes of scratch", size);
    }
    return self->scratch [slot];
}
