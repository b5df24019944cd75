/*  =========================================================================
    zi_control.h - planning and running the subgraphs of If, Loop and Scan

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_CONTROL_H_INCLUDED
#define ZI_CONTROL_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

//  Control flow (zi_control.c): binds an If, Loop or Scan node to the
//  callbacks that plan and run its subgraphs (before its infer), and
//  replaces each If whose condition is a constant by the nodes of the
//  branch it takes; returns how many it replaced
void
    zi_control_bind (zi_node_t *node);
int
    zi_pass_inline_if (zi_graph_t *self);

#endif
