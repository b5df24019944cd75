/*  =========================================================================
    zi_test_graph - self test helpers that build small graphs by hand

    Kept apart from zi_test.c, whose helpers the kernels' tests use below
    the graph.
    =========================================================================
*/

#include "zi_classes.h"
#include <string.h>

//  Splits a comma-separated list of value names into indexes ("" is an
//  omitted optional slot); returns how many
static int
s_value_list (zi_graph_t *graph, const char *list, int **indexes)
{
    int count = 0;
    *indexes = calloc (strlen (list) + 2, sizeof (int));
    assert (*indexes);
    if (!*list)
        return 0;
    char *copy = strdup (list);
    char *rest = copy;
    while (rest) {
        char *comma = strchr (rest, ',');
        if (comma)
            *comma = 0;
        (*indexes) [count++] = *rest? zi_graph_value (graph, rest): -1;
        rest = comma? comma + 1: NULL;
    }
    free (copy);
    return count;
}

zi_node_t *
zi_test_graph_node (zi_graph_t *graph, const char *op_type, const char *name,
                    const char *inputs, const char *outputs)
{
    zi_node_t *node = zi_node_new (op_type, name);
    node->n_inputs = s_value_list (graph, inputs, &node->inputs);
    node->n_outputs = s_value_list (graph, outputs, &node->outputs);
    node->opset = graph->opset;
    int index = zi_graph_add_node (graph, node);
    zi_node_destroy (&node);
    return &graph->nodes [index];
}

void
zi_test_graph_constant (zi_graph_t *graph, const char *name, zi_tensor_t *tensor)
{
    int value = zi_graph_value (graph, name);
    zi_tensor_destroy (&graph->values [value].constant);
    graph->values [value].constant = tensor;
    zi_tensor_set_shape (&graph->values [value].info, tensor->dtype, tensor->ndim, tensor->dims);
    graph->values [value].known = true;
}

void
zi_test_graph_io (zi_graph_t *graph, const char *input, int ndim, const int64_t *dims,
                  const char *output)
{
    int value = zi_graph_value (graph, input);
    zi_tensor_set_shape (&graph->values [value].info, ZI_F32, ndim, dims);
    graph->values [value].known = true;
    graph->inputs = realloc (graph->inputs, (graph->n_inputs + 1) * sizeof (int));
    graph->inputs [graph->n_inputs++] = value;
    graph->outputs = realloc (graph->outputs, (graph->n_outputs + 1) * sizeof (int));
    graph->outputs [graph->n_outputs++] = zi_graph_value (graph, output);
}
