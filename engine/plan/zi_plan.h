/*  =========================================================================
    zi_plan.h - planning a graph: shapes, constant folding, passes, kernels

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_PLAN_H_INCLUDED
#define ZI_PLAN_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

//  Plan a graph for given input shapes (NULL: declared shapes, unknown dims
//  taken as 1): infer shapes, fold constants, apply the fusion passes
//  unless no_fuse, drop dead nodes, infer again, prepare kernels.
int
    zi_graph_plan (zi_graph_t *self, const zi_tensor_t *const *input_shapes, bool no_fuse);
//  The same without preparing kernels: a worker prepares only the nodes its
//  own threads run, once per set of input shapes
int
    zi_graph_plan_shapes (zi_graph_t *self, const zi_tensor_t *const *input_shapes, bool no_fuse);
//  Prepares the kernel of one node of a graph planned by zi_graph_plan_shapes
int
    zi_graph_prepare_node (zi_graph_t *self, int index);
//  Shape inference and constant folding only
int
    zi_graph_infer (zi_graph_t *self, bool fold);

#endif
