/*  =========================================================================
    zi_test_graph.h - building graphs by hand in tests

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_TEST_GRAPH_H_INCLUDED
#define ZI_TEST_GRAPH_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

//  Building graphs by hand in tests: value names in comma-separated lists,
//  an empty name for an omitted optional input
zi_node_t *
    zi_test_graph_node (zi_graph_t *graph, const char *op_type, const char *name,
                        const char *inputs, const char *outputs);
//  Takes the tensor
void
    zi_test_graph_constant (zi_graph_t *graph, const char *name, zi_tensor_t *tensor);
//  Adds a float input of the given shape and an output
void
    zi_test_graph_io (zi_graph_t *graph, const char *input, int ndim, const int64_t *dims,
                      const char *output);

#endif
