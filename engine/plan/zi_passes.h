/*  =========================================================================
    zi_passes.h - the graph passes (fusion, folding)

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_PASSES_H_INCLUDED
#define ZI_PASSES_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

//  Graph passes (zi_passes.c); each returns how many rewrites it made
int
    zi_pass_fold_batchnorm (zi_graph_t *self);
int
    zi_pass_fold_pad (zi_graph_t *self);
int
    zi_pass_hard_activations (zi_graph_t *self);
int
    zi_pass_fuse_activations (zi_graph_t *self);
int
    zi_pass_fuse_residuals (zi_graph_t *self);
int
    zi_pass_fuse_qdq (zi_graph_t *self);

#endif
