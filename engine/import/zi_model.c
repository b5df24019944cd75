/*  =========================================================================
    zi_model - a loaded model (ONNX or Keras): the imported graph, never
    modified

    Sessions and topologies plan their own copies, so one model can serve
    several of them with different input shapes or passes.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_keras.h"
#include <errno.h>
#include <sys/stat.h>

//  Larger files are refused before reading: protobuf itself caps a
//  message at 2 GiB
#define S_MAX_MODEL_BYTES (INT64_C (2) << 30)

static zi_model_t *
s_model_new (zi_graph_t *graph, const char *name)
{
    if (!graph)
        return NULL;
    zi_model_t *self = calloc (1, sizeof (zi_model_t));
    assert (self);
    self->source = strdup (name);
    self->graph = graph;
    return self;
}

zi_model_t *
zi_model_load_buffer (const void *data, size_t size, const char *name)
{
    zi_keras_kind_t kind = zi_keras_detect (data, size);
    if (kind == ZI_KERAS_JSON) {
        zi_error ("%s: a Keras model.json must be loaded from its file, beside its "
                  "weight shards", name);
        return NULL;
    }
    //  .h5 and .keras files hold their weights
    if (kind != ZI_KERAS_NONE)
        return s_model_new (zi_keras_import (data, size, name), name);
    return s_model_new (zi_onnx_import (data, size, name), name);
}

zi_model_t *
zi_model_load (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        zi_error ("%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    struct stat info;
    if (fstat (fileno (file), &info) != 0 || !S_ISREG (info.st_mode)) {
        zi_error ("%s: not a regular file", path);
        fclose (file);
        return NULL;
    }
    if (info.st_size == 0 || info.st_size > S_MAX_MODEL_BYTES) {
        zi_error ("%s: %lld bytes is not a plausible model size", path,
                  (long long) info.st_size);
        fclose (file);
        return NULL;
    }
    size_t size = (size_t) info.st_size;
    void *data = malloc (size);
    if (!data) {
        zi_error ("%s: out of memory reading %zu bytes", path, size);
        fclose (file);
        return NULL;
    }
    size_t got = fread (data, 1, size, file);
    fclose (file);
    if (got != size) {
        zi_error ("%s: read %zu of %zu bytes", path, got, size);
        free (data);
        return NULL;
    }
    if (zi_keras_detect (data, size)) {
        zi_graph_t *graph = zi_keras_import (data, size, path);
        free (data);
        return s_model_new (graph, path);
    }
    //  The file's bytes go as soon as they are decoded
    return s_model_new (zi_onnx_import_owned (data, size, path), path);
}

void
zi_model_destroy (zi_model_t **self_p)
{
    assert (self_p);
    zi_model_t *self = *self_p;
    if (!self)
        return;
    zi_graph_destroy (&self->graph);
    free (self->source);
    free (self);
    *self_p = NULL;
}

int
zi_model_n_inputs (const zi_model_t *self)
{
    return self->graph->n_inputs;
}

const char *
zi_model_input_name (const zi_model_t *self, int index)
{
    assert (index >= 0 && index < self->graph->n_inputs);
    return self->graph->values [self->graph->inputs [index]].name;
}

int
zi_model_n_outputs (const zi_model_t *self)
{
    return self->graph->n_outputs;
}

const char *
zi_model_output_name (const zi_model_t *self, int index)
{
    assert (index >= 0 && index < self->graph->n_outputs);
    return self->graph->values [self->graph->outputs [index]].name;
}
