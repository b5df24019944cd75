/*  =========================================================================
    fuzz_keras - libFuzzer harness for Keras .h5 and .keras import

    A .h5 file goes through libhdf5 (opened from memory as a file image)
    and a .keras file through libzip and then libhdf5 for the weights it
    holds; both then through json-c and the layer builders. Import must
    turn any bytes into a graph or one error, and a graph that imports is
    planned as `zinfer info` and `zinfer run` plan it. Model.json input
    is left out: its weights are files beside it, not in the input.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_keras.h"

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define s_expect(condition) \
    do { if (!(condition)) { \
        fprintf (stderr, "fuzz_keras: %s:%d: expected %s\n", __FILE__, __LINE__, #condition); \
        abort (); \
    } } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zi_keras_kind_t kind = zi_keras_detect (data, size);
    if (kind != ZI_KERAS_HDF5 && kind != ZI_KERAS_ZIP)
        return 0;
    zi_error ("%s", "");
    zi_graph_t *graph = zi_keras_import (data, size, "fuzz.keras");
    if (!graph) {
        s_expect (*zi_error_text ());
        return 0;
    }
    //  Planned from the declared shapes, then with the fusion passes
    for (int no_fuse = 1; no_fuse >= 0; no_fuse--) {
        zi_graph_t *copy = zi_graph_dup (graph);
        zi_error ("%s", "");
        int rc = zi_graph_plan (copy, NULL, no_fuse);
        s_expect (rc == 0 || *zi_error_text ());
        zi_graph_destroy (&copy);
        if (rc)
            break;
    }
    zi_graph_destroy (&graph);
    return 0;
}
