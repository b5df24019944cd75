/*  =========================================================================
    zi_folded.h - constants that passes make from a model's constants, once

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_FOLDED_H_INCLUDED
#define ZI_FOLDED_H_INCLUDED

#include "zinfer.h"
#include "zi_test.h"

//  A model's folded constants: one table per imported graph, shared by
//  every copy planned from it
typedef struct zi_folded_t zi_folded_t;

//  The most tensors one folded constant is made from
#define ZI_FOLDED_SOURCES   6

//  Sources up to this size are also compared by contents
#define ZI_FOLDED_COMPARED_BYTES    65536

//  What a folded constant is made from and how. Two keys are equal when
//  they name the same recipe and parameters, and each source is the same
//  tensor, or, when small (a per-channel vector), one of the same type,
//  shape and contents (a Keras BatchNormalization without a scale makes
//  its ones anew at each call): equal keys fold to equal constants, so one
//  can stand for both. Weights are known by identity, as zi_packed knows
//  them: comparing them whole on every lookup would cost what folding does.
typedef struct {
    const char *recipe;         //  which pass and which of its outputs (copied when kept)
    const zi_tensor_t *sources [ZI_FOLDED_SOURCES];    //  its inputs; NULL: none
    double params [2];          //  what else the fold reads (an epsilon); 0 unused
} zi_folded_key_t;

zi_folded_t *
    zi_folded_new (void);
//  Another reference to the table, for a copy of its graph
zi_folded_t *
    zi_folded_ref (zi_folded_t *self);
//  Drops one reference; the last frees the table and lets go of its
//  constants and their sources
void
    zi_folded_destroy (zi_folded_t **self_p);

//  The constant made for an equal key before, with a new reference, or NULL
zi_tensor_t *
    zi_folded_find (zi_folded_t *self, const zi_folded_key_t *key);
//  Keeps *tensor_p (taken) as key's constant and returns a new reference
//  to it; when another thread kept one for an equal key first, drops
//  *tensor_p and returns a reference to that one instead. A new entry
//  first drops the constants nobody but the table holds any more
zi_tensor_t *
    zi_folded_keep (zi_folded_t *self, const zi_folded_key_t *key, zi_tensor_t **tensor_p);
//  Constants kept, for tests
size_t
    zi_folded_size (zi_folded_t *self);

void
    zi_folded_test (zi_test_t *t);

#endif
