/*  =========================================================================
    fuzz_keras - libFuzzer harness for Keras .h5 and .keras import

    A .h5 file goes to the HDF5 reader, a child process that opens it
    with libhdf5 and answers over a pipe, and a .keras file through
    libzip and then the same reader for the weights it holds; both then
    through json-c and the layer builders. An input that starts as the
    reader's answer does ("ZIH5") is decoded as one, as if a child had
    sent it, and imported: that is how the fuzzer reaches the parent's
    side of the pipe with answers no child would write. Import must turn
    any bytes into a graph or one error, and a graph that imports is
    planned as `zinfer info` and `zinfer run` plan it. A TF.js model.json
    goes through json-c and the same builders too; its weight shards
    would be files beside it, which a fuzzed input does not have, so it
    is imported from a folder that does not exist: a model without
    weights imports and plans, a manifest is parsed up to its first
    shard.

    The child's coverage is its own, so the fuzzer learns from the
    parent's code only; a child that crashes or hangs is an error like
    any other (a hang costs its time limit, 2 s here).
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_keras.h"

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int
    LLVMFuzzerInitialize (int *argc, char ***argv);

#define s_expect(condition) \
    do { if (!(condition)) { \
        fprintf (stderr, "fuzz_keras: %s:%d: expected %s\n", __FILE__, __LINE__, #condition); \
        abort (); \
    } } while (0)

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    setenv ("ZI_KERAS_READER_TIMEOUT", "2", 0);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zi_keras_kind_t kind = zi_keras_detect (data, size);
    bool answer = size >= 4 && memcmp (data, "ZIH5", 4) == 0;
    if (kind != ZI_KERAS_HDF5 && kind != ZI_KERAS_ZIP && kind != ZI_KERAS_JSON && !answer)
        return 0;
    zi_error ("%s", "");
    const char *source = kind == ZI_KERAS_JSON? "/nonexistent-zinfer-fuzz/model.json":
                                                "fuzz.keras";
    zi_graph_t *graph = answer? zi_keras_import_answer (data, size, "fuzz.h5"):
                                zi_keras_import (data, size, source);
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
