/*  =========================================================================
    fuzz_onnx - libFuzzer harness for ONNX import and planning

    A model file is the largest piece of outside data zinfer reads. Import
    must turn any bytes into a graph or one error; a graph that imports
    is then planned from its declared shapes, as `zinfer info` does and
    again with the fusion passes as `zinfer run` does, so that shape
    inference, constant folding and the passes meet hostile graphs too.
    =========================================================================
*/

#include "zi_classes.h"

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define s_expect(condition) \
    do { if (!(condition)) { \
        fprintf (stderr, "fuzz_onnx: %s:%d: expected %s\n", __FILE__, __LINE__, #condition); \
        abort (); \
    } } while (0)

//  Plans a copy of the graph (planning changes it, so sessions and
//  `zinfer info` plan copies too) and then reads the plan the way
//  `zinfer info` prints it; returns the result of planning
static int
s_plan (const zi_graph_t *graph, bool no_fuse)
{
    zi_graph_t *copy = zi_graph_dup (graph);
    zi_error ("%s", "");
    int rc = zi_graph_plan (copy, NULL, no_fuse);
    if (rc == 0) {
        for (int index = 0; index < copy->n_outputs; index++)
            s_expect (copy->outputs [index] >= 0 && copy->outputs [index] < copy->n_values);
        for (int index = 0; index < copy->n_nodes; index++) {
            const zi_node_t *node = &copy->nodes [index];
            s_expect (node->n_outputs >= 1);
            s_expect (node->outputs [0] >= 0 && node->outputs [0] < copy->n_values);
            zi_graph_node_macs (copy, node);
        }
    }
    else
        s_expect (*zi_error_text ());
    zi_graph_destroy (&copy);
    return rc;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zi_error ("%s", "");
    zi_graph_t *graph = zi_onnx_import (data, size, "fuzz.onnx");
    if (!graph) {
        s_expect (*zi_error_text ());
        return 0;
    }
    //  A graph that cannot be planned fails before the fusion passes run,
    //  so the fused plan is worth trying only after the plain one works
    if (s_plan (graph, true) == 0)
        s_plan (graph, false);
    zi_graph_destroy (&graph);
    return 0;
}
