/*  =========================================================================
    zi_batch_axis - whether a model keeps the rows of a batch apart

    The gateway's batching stacks requests along dimension 0 and cuts the
    answers back along it. That is right only when row i of every output
    is computed from row i of every input alone. This check follows the
    batch axis through the planned graph, op by op, and says which node
    first mixes rows (or moves them where the check cannot follow).
    =========================================================================
*/

#ifndef ZI_BATCH_AXIS_H_INCLUDED
#define ZI_BATCH_AXIS_H_INCLUDED

#include "zi_classes.h"

//  0 when every output of the model keeps each row of dimension 0 of its
//  inputs apart (dimension 0 of every input is the batch, whatever the
//  model declares it to be); else -1 and an error naming the first node
//  that mixes rows, or that the check has no rule for, and why
int
    zi_batch_axis_check (const zi_graph_t *model);

//  Self test
void
    zi_batch_axis_test (zi_test_t *t);

#endif
