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

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zi_error ("%s", "");
    zi_graph_t *graph = zi_onnx_import (data, size, "fuzz.onnx");
    if (!graph) {
        s_expect (*zi_error_text ());
        return 0;
    }
    //  Planning changes the graph, so each attempt gets its own copy, as
    //  sessions and `zinfer info` do
    for (int fuse = 0; fuse < 2; fuse++) {
        zi_graph_t *copy = zi_graph_dup (graph);
        zi_error ("%s", "");
        if (zi_graph_plan (copy, NULL, !fuse) == 0) {
            for (int index = 0; index < copy->n_nodes; index++)
                zi_graph_node_macs (copy, &copy->nodes [index]);
        }
        else {
            s_expect (*zi_error_text ());
            fuse = 2;           //  the fused plan fails the same way
        }
        zi_graph_destroy (&copy);
    }
    zi_graph_destroy (&graph);
    return 0;
}
