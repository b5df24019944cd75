/*  =========================================================================
    zi_keras - Keras model import: TensorFlow.js layers-models

    A layers-model is a model.json (the Keras topology and a manifest of
    weights) with binary weight shards beside it. Each Keras layer becomes
    the ONNX-style nodes zinfer already runs, named after the layer, so a
    topology places Keras layers by the names Keras gave them.

    Keras is channels-last and zinfer's kernels are channels-first. The
    model keeps Keras's interface (NHWC in, NHWC out): one Transpose after
    each 4-d input and one before each 4-d output, and weights reordered
    here (Conv HWIO -> OIHW). Inside, every 4-d tensor is NCHW; the shapes
    tracked here are Keras's, channels last, so axes are mapped as layers
    are built.

    The layers themselves are in zi_keras_layers.c.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_keras.h"
#include <czmq.h>
#include <errno.h>
#include <libgen.h>

//  Shards larger than this are refused before reading (as zi_model.c does
//  for .onnx files)
#define S_MAX_SHARD_BYTES (INT64_C (2) << 30)

static void
s_tensor_free (void **item_p)
{
    zi_tensor_destroy ((zi_tensor_t **) item_p);
}

static void
s_item_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  --------------------------------------------------------------------------
//  JSON helpers

json_object *
zi_keras_get (json_object *object, const char *key)
{
    json_object *value = NULL;
    if (object && json_object_is_type (object, json_type_object)
    &&  json_object_object_get_ex (object, key, &value)
    &&  !json_object_is_type (value, json_type_null))
        return value;
    return NULL;
}

const char *
zi_keras_string (json_object *object, const char *key, const char *fallback)
{
    json_object *value = zi_keras_get (object, key);
    return value && json_object_is_type (value, json_type_string)?
        json_object_get_string (value): fallback;
}

bool
zi_keras_is_number (json_object *value)
{
    return value && (json_object_is_type (value, json_type_int)
                 ||  json_object_is_type (value, json_type_double));
}

double
zi_keras_number (json_object *object, const char *key, double fallback)
{
    json_object *value = zi_keras_get (object, key);
    if (zi_keras_is_number (value))
        return json_object_get_double (value);
    if (value && json_object_is_type (value, json_type_boolean))
        return json_object_get_boolean (value);
    return fallback;
}

int
zi_keras_ints (json_object *value, int64_t *values, int max)
{
    if (zi_keras_is_number (value)) {
        values [0] = json_object_get_int64 (value);
        return 1;
    }
    if (!value || !json_object_is_type (value, json_type_array))
        return -1;
    int count = (int) json_object_array_length (value);
    if (count > max)
        return -1;
    for (int index = 0; index < count; index++) {
        json_object *item = json_object_array_get_idx (value, index);
        if (item == NULL || json_object_is_type (item, json_type_null))
            values [index] = -1;
        else
        if (zi_keras_is_number (item))
            values [index] = json_object_get_int64 (item);
        else
            return -1;
    }
    return count;
}

//  --------------------------------------------------------------------------
//  Building the graph

static int
s_node (zi_keras_t *self, const char *op_type, const char *name,
        int n_inputs, const int *inputs, const char *output)
{
    //  Node names are unique; layer names are in Keras, the suffixes we
    //  add make the rest so
    char unique [256];
    snprintf (unique, sizeof unique, "%s", name);
    for (int suffix = 2; zhashx_lookup (self->names, unique); suffix++)
        snprintf (unique, sizeof unique, "%.200s_%d", name, suffix);
    zhashx_insert (self->names, unique, (void *) 1);

    zi_node_t *node = zi_node_new (op_type, unique);
    node->opset = self->graph->opset;
    node->n_inputs = n_inputs;
    node->inputs = calloc (n_inputs + 1, sizeof (int));
    node->n_outputs = 1;
    node->outputs = calloc (1, sizeof (int));
    assert (node->inputs && node->outputs);
    memcpy (node->inputs, inputs, n_inputs * sizeof (int));
    if (output && zi_graph_find (self->graph, output) < 0)
        node->outputs [0] = zi_graph_value (self->graph, output);
    else {
        char base [300];
        snprintf (base, sizeof base, "%s:out", unique);
        node->outputs [0] = zi_graph_new_value (self->graph, output? output: base);
    }
    int index = zi_graph_add_node (self->graph, node);
    zi_node_destroy (&node);
    return index;
}

zi_node_t *
zi_keras_node (zi_keras_t *self, const char *op_type, const char *name,
               int n_inputs, const int *inputs, const char *output, int *value)
{
    int index = s_node (self, op_type, name, n_inputs, inputs, output);
    *value = self->graph->nodes [index].outputs [0];
    return &self->graph->nodes [index];
}

static bool
s_same_tensor (const zi_tensor_t *one, const zi_tensor_t *other)
{
    if (one == other)
        return true;
    if (one->dtype != other->dtype || one->ndim != other->ndim
    ||  memcmp (one->dims, other->dims, one->ndim * sizeof (int64_t)))
        return false;
    size_t bytes = zi_tensor_nbytes (one);
    return bytes == 0 || memcmp (one->data, other->data, bytes) == 0;
}

int
zi_keras_constant (zi_keras_t *self, const char *name, zi_tensor_t *tensor)
{
    intptr_t earlier = (intptr_t) zhashx_lookup (self->constants, name);
    if (earlier && s_same_tensor (self->graph->values [earlier - 1].constant, tensor)) {
        zi_tensor_destroy (&tensor);
        return (int) earlier - 1;
    }
    int value = zi_graph_new_value (self->graph, name);
    zhashx_update (self->constants, name, (void *) (intptr_t) (value + 1));
    //  What the name was made from before is not what this is made from
    zhashx_delete (self->derived, name);
    self->graph->values [value].constant = tensor;
    zi_tensor_set_shape (&self->graph->values [value].info, tensor->dtype,
                         tensor->ndim, tensor->dims);
    self->graph->values [value].known = true;
    return value;
}

int
zi_keras_derived (zi_keras_t *self, const char *name, const zi_tensor_t *from)
{
    intptr_t value = (intptr_t) zhashx_lookup (self->constants, name);
    return value && zhashx_lookup (self->derived, name) == from? (int) value - 1: -1;
}

void
zi_keras_derive (zi_keras_t *self, const char *name, const zi_tensor_t *from, int value)
{
    //  Only the constant that holds the name: an equal-named constant of
    //  other contents (a later call's, if the weights differed) is not it
    if ((intptr_t) zhashx_lookup (self->constants, name) == value + 1)
        zhashx_update (self->derived, name, (void *) from);
}

int
zi_keras_ints_constant (zi_keras_t *self, const char *name, int n, const int64_t *values)
{
    zi_tensor_t *tensor = zi_tensor_new (ZI_I64, 1, (int64_t []) {n});
    assert (tensor);
    if (n)
        memcpy (tensor->data, values, n * sizeof (int64_t));
    return zi_keras_constant (self, name, tensor);
}

int
zi_keras_scalar (zi_keras_t *self, const char *name, float value)
{
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, 0, NULL);
    assert (tensor);
    *(float *) tensor->data = value;
    return zi_keras_constant (self, name, tensor);
}

int
zi_keras_transpose (zi_keras_t *self, const char *name, int input, bool to_nchw,
                    const char *output)
{
    int value;
    zi_node_t *node = zi_keras_node (self, "Transpose", name, 1, &input, output, &value);
    zi_node_set_ints (node, "perm", 4, to_nchw? (int64_t []) {0, 3, 1, 2}:
                                               (int64_t []) {0, 2, 3, 1});
    return value;
}

//  --------------------------------------------------------------------------
//  Weights: every group's shards read in order, each weight cut from them

zi_tensor_t *
zi_keras_weight (zi_keras_t *self, const char *layer, const char *weight,
                 int ndim, const int64_t *dims)
{
    //  tfjs names weights layer/weight; models saved from Python may add a
    //  scope in front (model/layer/weight)
    char name [512];
    snprintf (name, sizeof name, "%s/%s", layer, weight);
    zi_tensor_t *tensor = zhashx_lookup (self->weights, name);
    if (!tensor) {
        char suffix [520];
        snprintf (suffix, sizeof suffix, "/%s", name);
        size_t length = strlen (suffix);
        for (zi_tensor_t *item = zhashx_first (self->weights); item;
             item = zhashx_next (self->weights)) {
            const char *key = zhashx_cursor (self->weights);
            size_t key_length = strlen (key);
            if (key_length > length && strcmp (key + key_length - length, suffix) == 0) {
                tensor = item;
                break;
            }
        }
    }
    if (!tensor) {
        zi_error ("weight '%s' is not among the model's weights", name);
        return NULL;
    }
    bool same = tensor->ndim == ndim;
    for (int axis = 0; same && axis < ndim; axis++)
        same = dims [axis] < 0 || dims [axis] == tensor->dims [axis];
    if (!same) {
        char want [128], got [128];
        zi_error ("weight '%s' has shape %s, expected %s", name,
                  zi_shape_str (tensor->ndim, tensor->dims, got, sizeof got),
                  zi_shape_str (ndim, dims, want, sizeof want));
        return NULL;
    }
    return tensor;
}

//  Reads the shards of one group into one buffer
static unsigned char *
s_read_group (zi_keras_t *self, json_object *paths, int group, size_t *size)
{
    *size = 0;
    unsigned char *data = NULL;
    if (!paths || !json_object_is_type (paths, json_type_array)) {
        zi_error ("weightsManifest [%d]: 'paths' is missing or not a list", group);
        return NULL;
    }
    for (size_t index = 0; index < json_object_array_length (paths); index++) {
        json_object *item = json_object_array_get_idx (paths, index);
        const char *shard = item && json_object_is_type (item, json_type_string)?
            json_object_get_string (item): NULL;
        if (!shard || !*shard || strstr (shard, "..") || *shard == '/') {
            zi_error ("weightsManifest [%d]: path %zu is not a file name beside the model",
                      group, index);
            free (data);
            return NULL;
        }
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", self->dir, shard);
        FILE *file = fopen (path, "rb");
        if (!file) {
            zi_error ("weights shard '%s' (weightsManifest [%d]): cannot open %s: %s",
                      shard, group, path, strerror (errno));
            free (data);
            return NULL;
        }
        fseek (file, 0, SEEK_END);
        long length = ftell (file);
        fseek (file, 0, SEEK_SET);
        if (length < 0 || length > S_MAX_SHARD_BYTES) {
            zi_error ("weights shard '%s': not a plausible size", shard);
            fclose (file);
            free (data);
            return NULL;
        }
        unsigned char *grown = realloc (data, *size + (size_t) length + 1);
        assert (grown);
        data = grown;
        size_t got = fread (data + *size, 1, (size_t) length, file);
        fclose (file);
        if (got != (size_t) length) {
            zi_error ("weights shard '%s': read %zu of %ld bytes", shard, got, length);
            free (data);
            return NULL;
        }
        *size += got;
    }
    return data;
}

static int
s_load_weights (zi_keras_t *self, json_object *manifest)
{
    if (!manifest)
        return 0;           //  a model without weights (only activations)
    if (!json_object_is_type (manifest, json_type_array))
        return zi_error ("'weightsManifest' is not a list");
    for (size_t group = 0; group < json_object_array_length (manifest); group++) {
        json_object *entry = json_object_array_get_idx (manifest, group);
        json_object *specs = zi_keras_get (entry, "weights");
        if (!specs || !json_object_is_type (specs, json_type_array))
            return zi_error ("weightsManifest [%zu]: 'weights' is missing or not a list", group);
        size_t size;
        unsigned char *data = s_read_group (self, zi_keras_get (entry, "paths"),
                                            (int) group, &size);
        if (!data)
            return -1;
        size_t offset = 0;
        for (size_t index = 0; index < json_object_array_length (specs); index++) {
            json_object *spec = json_object_array_get_idx (specs, index);
            const char *name = zi_keras_string (spec, "name", NULL);
            const char *dtype = zi_keras_string (spec, "dtype", "float32");
            int64_t dims [ZI_MAX_DIMS];
            int ndim = zi_keras_ints (zi_keras_get (spec, "shape"), dims, ZI_MAX_DIMS);
            if (!name || ndim < 0) {
                free (data);
                return zi_error ("weightsManifest [%zu] weight %zu: needs a 'name' and a "
                                 "'shape' of at most %d dimensions", group, index, ZI_MAX_DIMS);
            }
            int64_t count = zi_shape_count (ndim, dims);
            if (count < 0) {
                free (data);
                return zi_error ("weight '%s': bad shape", name);
            }
            //  How the values are stored: the dtype, unless quantized
            json_object *quantization = zi_keras_get (spec, "quantization");
            const char *stored = quantization?
                zi_keras_string (quantization, "dtype", "?"): dtype;
            float scale = (float) zi_keras_number (quantization, "scale", 1);
            float min = (float) zi_keras_number (quantization, "min", 0);
            size_t item_size = strcmp (stored, "float32") == 0
                            || strcmp (stored, "int32") == 0? 4:
                               strcmp (stored, "float16") == 0
                            || strcmp (stored, "uint16") == 0? 2:
                               strcmp (stored, "uint8") == 0? 1: 0;
            if (!item_size || (strcmp (dtype, "float32") && strcmp (dtype, "int32"))) {
                free (data);
                return zi_error ("weight '%s': dtype '%s' stored as '%s' is not supported "
                                 "(supported: float32 and int32, stored as themselves, "
                                 "float16, uint8 or uint16)", name, dtype, stored);
            }
            size_t bytes = (size_t) count * item_size;
            if ((size_t) count > size - offset || bytes > size - offset) {
                free (data);
                return zi_error ("weight '%s' %s (%zu bytes at offset %zu) lies past the end "
                                 "of weightsManifest [%zu]'s shards (%zu bytes); a shard is "
                                 "short or missing", name, dtype, bytes, offset, group, size);
            }
            zi_tensor_t *tensor = zi_tensor_new (ZI_F32, ndim, dims);
            assert (tensor);
            float *values = tensor->data;
            const unsigned char *raw = data + offset;
            for (int64_t item = 0; item < count; item++) {
                if (item_size == 4 && strcmp (stored, "int32") == 0) {
                    int32_t value;
                    memcpy (&value, raw + item * 4, 4);
                    values [item] = (float) value;
                }
                else
                if (item_size == 4)
                    memcpy (&values [item], raw + item * 4, 4);
                else
                if (strcmp (stored, "float16") == 0) {
                    uint16_t half;
                    memcpy (&half, raw + item * 2, 2);
                    values [item] = zi_half_to_float (half);
                }
                else
                if (item_size == 2) {
                    uint16_t quantum;
                    memcpy (&quantum, raw + item * 2, 2);
                    values [item] = quantum * scale + min;
                }
                else
                    values [item] = raw [item] * scale + min;
            }
            offset += bytes;
            zhashx_update (self->weights, name, tensor);
        }
        free (data);
        if (offset != size)
            return zi_error ("weightsManifest [%zu]: shards hold %zu bytes, the weights "
                             "need %zu", group, size, offset);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Keras tensors: "layer:node:tensor" -> value and Keras shape

//  Inside a nested model, keys start with the scope: the nested model's
//  layers are its own
static void
s_key (zi_keras_t *self, char *key, size_t size, const char *layer, int node, int tensor)
{
    snprintf (key, size, "%.400s%.400s:%d:%d", self->scope? self->scope: "", layer, node,
              tensor);
}

static void
s_set_tensor (zi_keras_t *self, const char *layer, int node, int tensor,
              const zi_keras_tensor_t *value)
{
    char key [880];
    s_key (self, key, sizeof key, layer, node, tensor);
    zi_keras_tensor_t *copy = malloc (sizeof *copy);
    assert (copy);
    *copy = *value;
    zhashx_update (self->tensors, key, copy);
}

static const zi_keras_tensor_t *
s_get_tensor (zi_keras_t *self, const char *layer, int node, int tensor)
{
    char key [880];
    s_key (self, key, sizeof key, layer, node, tensor);
    return zhashx_lookup (self->tensors, key);
}

//  A reference [layer, node, tensor, ...] in inbound_nodes or the model's
//  input and output lists, or Keras 3's {"class_name": "__keras_tensor__",
//  "config": {"keras_history": [layer, node, tensor]}}; false if it is
//  neither
bool
zi_keras_ref (json_object *ref, const char **layer, int *node, int *tensor)
{
    if (ref && json_object_is_type (ref, json_type_object)) {
        if (strcmp (zi_keras_string (ref, "class_name", ""), "__keras_tensor__"))
            return false;
        ref = zi_keras_get (zi_keras_get (ref, "config"), "keras_history");
    }
    if (!ref || !json_object_is_type (ref, json_type_array)
    ||  json_object_array_length (ref) < 3)
        return false;
    json_object *name = json_object_array_get_idx (ref, 0);
    json_object *node_index = json_object_array_get_idx (ref, 1);
    json_object *tensor_index = json_object_array_get_idx (ref, 2);
    if (!name || !json_object_is_type (name, json_type_string)
    ||  !zi_keras_is_number (node_index) || !zi_keras_is_number (tensor_index))
        return false;
    *layer = json_object_get_string (name);
    *node = (int) json_object_get_int64 (node_index);
    *tensor = (int) json_object_get_int64 (tensor_index);
    return true;
}

//  Keras 3 tensors anywhere in a call's args (merge layers pass a list of
//  them); adds them to refs, returns the new count or -1 past max
static int
s_keras3_tensors (json_object *value, json_object **refs, int count, int max)
{
    const char *layer;
    int node, tensor;
    if (zi_keras_ref (value, &layer, &node, &tensor)
    &&  json_object_is_type (value, json_type_object)) {
        if (count == max)
            return -1;
        refs [count++] = value;
    }
    else
    if (value && json_object_is_type (value, json_type_array))
        for (size_t index = 0; index < json_object_array_length (value) && count >= 0; index++)
            count = s_keras3_tensors (json_object_array_get_idx (value, index), refs, count, max);
    return count;
}

//  The tensors one call of a layer (an entry of its inbound_nodes) takes,
//  in order, and its keyword arguments (NULL if none). Keras 2 and tfjs
//  write [[layer, node, tensor, kwargs], ...]; Keras 3 writes {"args":
//  [...], "kwargs": {...}}. The count, or -1 with an error
static int
s_call_refs (json_object *call, json_object **refs, json_object **kwargs)
{
    *kwargs = NULL;
    if (call && json_object_is_type (call, json_type_object)) {
        *kwargs = zi_keras_get (call, "kwargs");
        int count = s_keras3_tensors (zi_keras_get (call, "args"), refs, 0,
                                      ZI_KERAS_MAX_INPUTS);
        if (count < 0)
            return zi_error ("more than %d inputs", ZI_KERAS_MAX_INPUTS);
        return count;
    }
    if (!call || !json_object_is_type (call, json_type_array))
        return zi_error ("an inbound node is neither a list (Keras 2) nor {\"args\": ...} "
                         "(Keras 3)");
    size_t count = json_object_array_length (call);
    if (count > ZI_KERAS_MAX_INPUTS)
        return zi_error ("%zu inputs, at most %d supported", count, ZI_KERAS_MAX_INPUTS);
    for (size_t index = 0; index < count; index++) {
        json_object *ref = json_object_array_get_idx (call, index);
        const char *layer;
        int node, tensor;
        if (!zi_keras_ref (ref, &layer, &node, &tensor))
            return zi_error ("inbound node input %zu is not [layer, node, tensor, kwargs]",
                             index);
        refs [index] = ref;
        if (index == 0 && json_object_array_length (ref) > 3)
            *kwargs = json_object_array_get_idx (ref, 3);
    }
    return (int) count;
}

const zi_keras_tensor_t *
zi_keras_lookup (zi_keras_t *self, json_object *ref)
{
    const char *layer;
    int node, tensor;
    if (!zi_keras_ref (ref, &layer, &node, &tensor))
        return NULL;
    return s_get_tensor (self, layer, node, tensor);
}

//  --------------------------------------------------------------------------
//  Inputs and models

static int
s_add_input (zi_keras_t *self, const char *name, json_object *config)
{
    int64_t dims [ZI_MAX_DIMS];
    json_object *shape = zi_keras_get (config, "batch_input_shape");
    if (!shape)
        shape = zi_keras_get (config, "batch_shape");
    int ndim = zi_keras_ints (shape, dims, ZI_MAX_DIMS);
    if (ndim < 1)
        return zi_error ("input '%s': 'batch_input_shape' is missing or not a list of "
                         "at most %d sizes", name, ZI_MAX_DIMS);
    if (self->graph->n_inputs == ZI_MAX_GRAPH_INPUTS)
        return zi_error ("more than %d inputs", ZI_MAX_GRAPH_INPUTS);
    if (zi_graph_find (self->graph, name) >= 0)
        return zi_error ("input '%s' is defined twice", name);
    int value = zi_graph_value (self->graph, name);
    zi_tensor_set_shape (&self->graph->values [value].info, ZI_F32, ndim, dims);
    self->graph->values [value].known = true;
    self->graph->inputs = realloc (self->graph->inputs,
                                   (self->graph->n_inputs + 1) * sizeof (int));
    assert (self->graph->inputs);
    self->graph->inputs [self->graph->n_inputs++] = value;

    zi_keras_tensor_t tensor = {.value = value, .ndim = ndim};
    memcpy (tensor.dims, dims, sizeof dims);
    if (ndim == 4) {
        char node [300];
        snprintf (node, sizeof node, "%s/to_nchw", name);
        tensor.value = zi_keras_transpose (self, node, value, true, NULL);
    }
    s_set_tensor (self, name, 0, 0, &tensor);
    return 0;
}

//  The inputs of one call of a layer: each reference's tensor
static int
s_call_inputs (zi_keras_t *self, json_object *call, zi_keras_call_t *out, bool *ready)
{
    *ready = true;
    out->n_inputs = 0;
    json_object *refs [ZI_KERAS_MAX_INPUTS];
    int count = s_call_refs (call, refs, &out->kwargs);
    out->args = json_object_is_type (call, json_type_object)? zi_keras_get (call, "args"): NULL;
    if (count < 0)
        return -1;
    for (int index = 0; index < count; index++) {
        const zi_keras_tensor_t *input = zi_keras_lookup (self, refs [index]);
        if (!input) {
            *ready = false;
            return 0;
        }
        out->inputs [out->n_inputs++] = *input;
    }
    //  A TFOpLambda's second tensor comes as a keyword argument
    json_object *other = zi_keras_get (out->kwargs, "y");
    const char *layer;
    int node, tensor;
    if (zi_keras_ref (other, &layer, &node, &tensor) && !s_get_tensor (self, layer, node, tensor))
        *ready = false;
    return 0;
}

static bool
s_is_model_class (const char *class_name)
{
    return strcmp (class_name, "Sequential") == 0 || strcmp (class_name, "Functional") == 0
        || strcmp (class_name, "Model") == 0;
}

static int
    s_build_sequential (zi_keras_t *self, json_object *config, const char *model_name,
                        const zi_keras_tensor_t *input, zi_keras_tensor_t *result);
static int
    s_build_functional (zi_keras_t *self, json_object *config, const char *model_name,
                        const zi_keras_call_t *call, zi_keras_tensor_t *results,
                        int *n_results);

//  A model used as a layer: its layers are built on the call's inputs,
//  in a scope of their own; results gets its outputs, *n_results how many
static int
s_build_nested (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *results,
                int *n_results)
{
    if (self->depth == ZI_KERAS_MAX_DEPTH)
        return zi_error ("layer '%s': models nested more than %d deep", call->layer,
                         ZI_KERAS_MAX_DEPTH);
    char scope [880];
    snprintf (scope, sizeof scope, "%.400s%.400s#%d/", self->scope? self->scope: "",
              call->layer, call->node_index);
    const char *outer = self->scope;
    self->scope = scope;
    self->depth++;
    *n_results = 1;
    int rc = strcmp (call->class_name, "Sequential") == 0?
        s_build_sequential (self, call->config, call->layer, &call->inputs [0], results):
        s_build_functional (self, call->config, call->layer, call, results, n_results);
    self->depth--;
    self->scope = outer;
    if (rc)
        zi_error_prefix ("in model '%s'", call->layer);
    return rc;
}

//  Builds one layer call and records its result
static int
s_build_call (zi_keras_t *self, json_object *layer, zi_keras_call_t *call)
{
    const char *class_name = zi_keras_string (layer, "class_name", "");
    json_object *config = zi_keras_get (layer, "config");
    call->class_name = class_name;
    call->module = zi_keras_string (layer, "module", "");
    call->config = config;
    zi_keras_tensor_t outputs [ZI_MAX_GRAPH_OUTPUTS];
    memset (outputs, 0, sizeof outputs);
    int n_outputs = 1;
    if (s_is_model_class (class_name)? s_build_nested (self, call, outputs, &n_outputs):
                                       zi_keras_build_layer (self, call, &outputs [0]))
        return -1;
    for (int index = 0; index < n_outputs; index++)
        s_set_tensor (self, call->layer, call->node_index + call->node_offset, index,
                      &outputs [index]);
    return 0;
}

//  At the top (input NULL) the model's first layer makes its input and
//  its last the model's output; nested, input is the call's and the last
//  layer's output goes to result
static int
s_build_sequential (zi_keras_t *self, json_object *config, const char *model_name,
                    const zi_keras_tensor_t *input, zi_keras_tensor_t *result)
{
    json_object *layers = json_object_is_type (config, json_type_array)?
        config: zi_keras_get (config, "layers");
    if (!layers || !json_object_is_type (layers, json_type_array)
    ||  json_object_array_length (layers) == 0)
        return zi_error ("Sequential model '%s' has no 'layers' list", model_name);
    zi_keras_tensor_t current = {.value = -1};
    if (input)
        current = *input;
    const char *last = NULL;
    for (size_t index = 0; index < json_object_array_length (layers); index++) {
        json_object *layer = json_object_array_get_idx (layers, index);
        const char *class_name = zi_keras_string (layer, "class_name", "");
        json_object *config = zi_keras_get (layer, "config");
        const char *name = zi_keras_string (config, "name", NULL);
        char made [64];
        if (!name) {
            snprintf (made, sizeof made, "layer_%zu", index);
            name = made;
        }
        if (input && strcmp (class_name, "InputLayer") == 0)
            continue;           //  nested: the call gives the input
        if (strcmp (class_name, "InputLayer") == 0 || (index == 0 && current.value < 0
            && (zi_keras_get (config, "batch_input_shape") || zi_keras_get (config, "batch_shape")))) {
            //  The first layer may carry the input shape itself
            char input_name [300];
            snprintf (input_name, sizeof input_name, "%s%s", name,
                      strcmp (class_name, "InputLayer")? "_input": "");
            if (s_add_input (self, input_name, config))
                return -1;
            current = *s_get_tensor (self, input_name, 0, 0);
            last = name;
            if (strcmp (class_name, "InputLayer") == 0)
                continue;
        }
        if (current.value < 0)
            return zi_error ("Sequential model '%s': the first layer '%s' gives no "
                             "'batch_input_shape'", model_name, name);
        zi_keras_call_t call = {.layer = name, .node_index = 0, .n_inputs = 1};
        call.inputs [0] = current;
        if (s_build_call (self, layer, &call))
            return -1;
        current = *s_get_tensor (self, name, 0, 0);
        last = name;
    }
    if (input) {
        *result = current;
        return 0;
    }
    self->n_outputs = 1;
    self->outputs [0] = current;
    snprintf (self->output_names [0], sizeof self->output_names [0], "%s", last);
    return 0;
}

//  Keras 3 writes a model's only input or output as a bare reference
//  instead of a list of one
static size_t
s_refs_length (json_object *list)
{
    const char *layer;
    int node, tensor;
    return zi_keras_ref (list, &layer, &node, &tensor)? 1: json_object_array_length (list);
}

static json_object *
s_refs_get (json_object *list, size_t index)
{
    const char *layer;
    int node, tensor;
    return zi_keras_ref (list, &layer, &node, &tensor)? list:
                                                        json_object_array_get_idx (list, index);
}

//  How the calls of a nested model are numbered in references to it:
//  Python's Keras counts from 0, tfjs from 1 (its node 0 is the model's
//  own, from its construction). A reference one past the calls says 1
static int
s_model_node_offset (json_object *layers, json_object *outputs, const char *name, size_t n_calls)
{
    int64_t highest = -1;
    for (size_t item = 0; item < json_object_array_length (layers); item++) {
        json_object *nodes = zi_keras_get (json_object_array_get_idx (layers, item),
                                           "inbound_nodes");
        for (size_t node = 0; nodes && json_object_is_type (nodes, json_type_array)
                              && node < json_object_array_length (nodes); node++) {
            json_object *refs [ZI_KERAS_MAX_INPUTS], *kwargs;
            int count = s_call_refs (json_object_array_get_idx (nodes, node), refs, &kwargs);
            for (int index = 0; index < count; index++) {
                const char *layer;
                int node_index, tensor;
                if (zi_keras_ref (refs [index], &layer, &node_index, &tensor)
                &&  strcmp (layer, name) == 0 && node_index > highest)
                    highest = node_index;
            }
        }
    }
    for (size_t index = 0; index < s_refs_length (outputs); index++) {
        const char *layer;
        int node_index, tensor;
        if (zi_keras_ref (s_refs_get (outputs, index), &layer, &node_index,
                          &tensor) && strcmp (layer, name) == 0 && node_index > highest)
            highest = node_index;
    }
    return highest == (int64_t) n_calls? 1: 0;
}

//  At the top (call NULL) the model's inputs and outputs are the graph's;
//  nested, the call gives the inputs and results get the outputs
static int
s_build_functional (zi_keras_t *self, json_object *config, const char *model_name,
                    const zi_keras_call_t *call, zi_keras_tensor_t *results, int *n_results)
{
    json_object *layers = zi_keras_get (config, "layers");
    json_object *inputs = zi_keras_get (config, "input_layers");
    json_object *outputs = zi_keras_get (config, "output_layers");
    if (!layers || !json_object_is_type (layers, json_type_array)
    ||  !inputs || !json_object_is_type (inputs, json_type_array)
    ||  !outputs || !json_object_is_type (outputs, json_type_array))
        return zi_error ("model '%s': 'layers', 'input_layers' and 'output_layers' must be "
                         "lists", model_name);
    size_t n_layers = json_object_array_length (layers);
    if (call && s_refs_length (inputs) != (size_t) call->n_inputs)
        return zi_error ("nested model '%s': %zu inputs for a call with %d inputs", model_name,
                         s_refs_length (inputs), call->n_inputs);
    //  Inputs first, in the model's order
    for (size_t index = 0; index < s_refs_length (inputs); index++) {
        const char *name;
        int node, tensor;
        if (!zi_keras_ref (s_refs_get (inputs, index), &name, &node, &tensor))
            return zi_error ("model '%s': input_layers [%zu] is not [layer, node, tensor]",
                             model_name, index);
        json_object *found = NULL;
        for (size_t item = 0; item < n_layers && !found; item++) {
            json_object *layer = json_object_array_get_idx (layers, item);
            if (strcmp (zi_keras_string (layer, "name", ""), name) == 0)
                found = layer;
        }
        if (!found || strcmp (zi_keras_string (found, "class_name", ""), "InputLayer"))
            return zi_error ("model '%s': input '%s' is not an InputLayer of the model",
                             model_name, name);
        if (call)
            s_set_tensor (self, name, 0, 0, &call->inputs [index]);
        else
        if (s_add_input (self, name, zi_keras_get (found, "config")))
            return -1;
    }
    //  Then every call of every layer whose inputs are built, again and
    //  again: Keras lists layers in an order that needs one pass, but a
    //  file need not
    int n_calls = 0, n_built = 0;
    bool *built = NULL;
    for (size_t item = 0; item < n_layers; item++) {
        json_object *nodes = zi_keras_get (json_object_array_get_idx (layers, item),
                                           "inbound_nodes");
        if (nodes && json_object_is_type (nodes, json_type_array))
            n_calls += (int) json_object_array_length (nodes);
    }
    built = calloc (n_calls + 1, sizeof (bool));
    assert (built);
    int rc = 0;
    for (bool progress = true; progress && n_built < n_calls && rc == 0; ) {
        progress = false;
        int call_index = 0;
        for (size_t item = 0; item < n_layers && rc == 0; item++) {
            json_object *layer = json_object_array_get_idx (layers, item);
            const char *name = zi_keras_string (layer, "name", "?");
            const char *class_name = zi_keras_string (layer, "class_name", "?");
            json_object *nodes = zi_keras_get (layer, "inbound_nodes");
            if (!nodes || !json_object_is_type (nodes, json_type_array))
                continue;
            int offset = s_is_model_class (class_name)?
                s_model_node_offset (layers, outputs, name, json_object_array_length (nodes)): 0;
            for (size_t node = 0; node < json_object_array_length (nodes) && rc == 0;
                 node++, call_index++) {
                if (built [call_index])
                    continue;
                zi_keras_call_t inner = {.layer = name, .node_index = (int) node,
                                         .node_offset = offset};
                bool ready;
                if (s_call_inputs (self, json_object_array_get_idx (nodes, node), &inner,
                                   &ready)) {
                    zi_error_prefix ("layer '%s' (%s)", name, class_name);
                    rc = -1;
                    break;
                }
                if (!ready)
                    continue;
                rc = s_build_call (self, layer, &inner);
                built [call_index] = true;
                n_built++;
                progress = true;
            }
        }
    }
    free (built);
    if (rc)
        return -1;
    if (s_refs_length (outputs) > ZI_MAX_GRAPH_OUTPUTS)
        return zi_error ("model '%s': more than %d outputs", model_name, ZI_MAX_GRAPH_OUTPUTS);
    for (size_t index = 0; index < s_refs_length (outputs); index++) {
        json_object *ref = s_refs_get (outputs, index);
        const char *name;
        int node, tensor;
        if (!zi_keras_ref (ref, &name, &node, &tensor))
            return zi_error ("model '%s': output_layers [%zu] is not [layer, node, tensor]",
                             model_name, index);
        const zi_keras_tensor_t *output = s_get_tensor (self, name, node, tensor);
        if (!output)
            return zi_error ("model '%s': output '%s' [%d, %d] is never computed (its inputs "
                             "do not lead back to the model's inputs)", model_name, name,
                             node, tensor);
        if (call) {
            results [index] = *output;
            *n_results = (int) index + 1;
            continue;
        }
        //  A nested model's second output and on: layer:tensor
        self->outputs [self->n_outputs] = *output;
        if (tensor > 0)
            snprintf (self->output_names [self->n_outputs++], sizeof self->output_names [0],
                      "%.240s:%d", name, tensor);
        else
            snprintf (self->output_names [self->n_outputs++], sizeof self->output_names [0],
                      "%s", name);
    }
    return 0;
}

//  Gives a value a name no other value has
static void
s_rename (zi_graph_t *graph, int value, const char *name)
{
    zhashx_delete (graph->lookup, graph->values [value].name);
    free (graph->values [value].name);
    graph->values [value].name = strdup (name);
    zhashx_insert (graph->lookup, name, (void *) (intptr_t) (value + 1));
}

//  The graph outputs: 4-d ones go back to NHWC. Each is named by its
//  layer: a value inside that has the name gives it up
static int
s_set_outputs (zi_keras_t *self)
{
    zi_graph_t *graph = self->graph;
    graph->outputs = calloc (self->n_outputs + 1, sizeof (int));
    assert (graph->outputs);
    for (int index = 0; index < self->n_outputs; index++) {
        zi_keras_tensor_t *output = &self->outputs [index];
        const char *name = self->output_names [index];
        int value = output->value;
        if (output->ndim == 4) {
            char node [300];
            snprintf (node, sizeof node, "%s/to_nhwc", name);
            value = zi_keras_transpose (self, node, value, false, NULL);
        }
        int holder = zi_graph_find (graph, name);
        bool input = false;
        for (int item = 0; item < graph->n_inputs; item++)
            input |= graph->inputs [item] == holder;
        if (holder != value && !input && !zi_graph_is_output (graph, holder)) {
            if (holder >= 0) {
                char inside [300];
                snprintf (inside, sizeof inside, "%s:nchw", name);
                s_rename (graph, holder, inside);
            }
            s_rename (graph, value, name);
        }
        graph->outputs [graph->n_outputs++] = value;
    }
    return 0;
}

//  --------------------------------------------------------------------------

zi_keras_kind_t
zi_keras_detect (const void *data, size_t size)
{
    const unsigned char *bytes = data;
    if (size >= 8 && memcmp (bytes, "\x89HDF\r\n\x1a\n", 8) == 0)
        return ZI_KERAS_HDF5;
    if (size >= 4 && memcmp (bytes, "PK\x03\x04", 4) == 0)
        return ZI_KERAS_ZIP;
    size_t at = 0;
    if (size >= 3 && bytes [0] == 0xef && bytes [1] == 0xbb && bytes [2] == 0xbf)
        at = 3;
    while (at < size && (bytes [at] == ' ' || bytes [at] == '\t'
                      || bytes [at] == '\n' || bytes [at] == '\r'))
        at++;
    return at < size && bytes [at] == '{'? ZI_KERAS_JSON: ZI_KERAS_NONE;
}

//  Parses JSON text; NULL with an error naming what it is
static json_object *
s_parse (const void *data, size_t size, const char *what)
{
    if (size > INT32_MAX) {
        zi_error ("%s: %zu bytes of JSON is too much", what, size);
        return NULL;
    }
    json_tokener *tokener = json_tokener_new ();
    assert (tokener);
    json_object *root = json_tokener_parse_ex (tokener, data, (int) size);
    enum json_tokener_error problem = json_tokener_get_error (tokener);
    if (!root) {
        if (problem == json_tokener_continue)
            zi_error ("%s: JSON ends early (%zu bytes)", what, size);
        else
            zi_error ("%s: not valid JSON at byte %zu: %s", what,
                      json_tokener_get_parse_end (tokener), json_tokener_error_desc (problem));
    }
    json_tokener_free (tokener);
    return root;
}

//  Where a model's weights come from: each loader fills self->weights
typedef int (s_loader_fn) (zi_keras_t *self, json_object *model, void *args);

static int
s_load_manifest (zi_keras_t *self, json_object *model, void *args)
{
    return s_load_weights (self, args);
}

//  An HDF5 reader's answer: its weights move over, in the order read
static int
s_load_answer (zi_keras_t *self, json_object *model, void *args)
{
    zi_keras_answer_t *answer = args;
    if (answer->weights_error)
        return zi_error ("%s", answer->weights_error);
    zhashx_destroy ((zhashx_t **) &self->weights);
    self->weights = answer->weights;
    answer->weights = NULL;
    return 0;
}

//  Builds the graph of a model, {"class_name": ..., "config": ...}, with
//  the weights a loader gives
static zi_graph_t *
s_import (json_object *model, const char *source, bool keras3, s_loader_fn *load, void *args)
{
    const char *class_name = zi_keras_string (model, "class_name", NULL);
    json_object *config = zi_keras_get (model, "config");
    if (!class_name || !config) {
        zi_error ("%s: no 'class_name' and 'config' of a Keras model", source);
        return NULL;
    }
    const char *model_name = zi_keras_string (config, "name", "model");
    zi_keras_t keras = {.source = source, .keras3 = keras3};
    zi_keras_t *self = &keras;
    char *copy = strdup (source);
    self->dir = strdup (dirname (copy));
    free (copy);
    self->weights = zhashx_new ();
    zhashx_set_destructor (self->weights, s_tensor_free);
    self->tensors = zhashx_new ();
    zhashx_set_destructor (self->tensors, s_item_free);
    self->names = zhashx_new ();
    self->constants = zhashx_new ();
    self->derived = zhashx_new ();
    zi_graph_t *graph = zi_graph_new (model_name);
    graph->opset = 13;
    self->graph = graph;

    int rc = s_is_model_class (class_name)? load (self, model, args):
        zi_error ("model class '%s' is not supported (supported: Sequential, Functional, "
                  "Model)", class_name);
    if (rc == 0) {
        if (strcmp (class_name, "Sequential") == 0)
            rc = s_build_sequential (self, config, model_name, NULL, NULL);
        else
            rc = s_build_functional (self, config, model_name, NULL, NULL, NULL);
    }
    if (rc == 0 && self->graph->n_inputs == 0)
        rc = zi_error ("the model has no inputs");
    if (rc == 0)
        rc = s_set_outputs (self);
    if (rc || zi_graph_sort (graph) || zi_graph_init_ops (graph)) {
        zi_error_prefix ("%s", source);
        zi_graph_destroy (&graph);
    }
    zhashx_destroy ((zhashx_t **) &self->weights);
    zhashx_destroy ((zhashx_t **) &self->tensors);
    zhashx_destroy ((zhashx_t **) &self->names);
    zhashx_destroy ((zhashx_t **) &self->constants);
    zhashx_destroy ((zhashx_t **) &self->derived);
    free (self->dir);
    return graph;
}

//  A TF.js layers-model: model.json, its shards beside it
static zi_graph_t *
s_import_json (const void *data, size_t size, const char *source)
{
    json_object *root = s_parse (data, size, source);
    if (!root)
        return NULL;
    zi_graph_t *graph = NULL;
    json_object *topology = zi_keras_get (root, "modelTopology");
    const char *format = zi_keras_string (root, "format", NULL);
    if (!json_object_is_type (root, json_type_object) || !topology)
        zi_error ("%s: JSON, but not a TensorFlow.js layers-model (no \"modelTopology\")",
                  source);
    else
    if (format && strcmp (format, "layers-model"))
        zi_error ("%s: a TensorFlow.js '%s' is not supported, only 'layers-model'",
                  source, format);
    else {
        //  Converted from a Keras .h5 file, the model sits one level down
        json_object *model = zi_keras_get (topology, "model_config");
        graph = s_import (model? model: topology, source, false, s_load_manifest,
                          zi_keras_get (root, "weightsManifest"));
    }
    json_object_put (root);
    return graph;
}

//  A Keras 2 model from an HDF5 reader's answer: the model's config (the
//  root's model_config attribute) and its weights (the model_weights
//  group)
static zi_graph_t *
s_import_keras2 (zi_keras_answer_t *answer, const char *source)
{
    char what [300];
    snprintf (what, sizeof what, "%.250s: model_config", source);
    json_object *model = s_parse (answer->config, strlen (answer->config), what);
    zi_graph_t *graph = model? s_import (model, source, false, s_load_answer, answer): NULL;
    json_object_put (model);
    return graph;
}

//  A Keras 2 .h5 file, read by the HDF5 reader
static zi_graph_t *
s_import_h5 (const void *data, size_t size, const char *source)
{
    zi_keras_answer_t answer;
    if (zi_keras_reader_load (data, size, source, NULL, &answer))
        return NULL;
    zi_graph_t *graph = s_import_keras2 (&answer, source);
    zi_keras_answer_free (&answer);
    return graph;
}

zi_graph_t *
zi_keras_import_answer (const void *data, size_t size, const char *source)
{
    zi_keras_answer_t answer;
    if (zi_keras_reader_decode (data, size, size, source, &answer))
        return NULL;
    zi_graph_t *graph = s_import_keras2 (&answer, source);
    zi_keras_answer_free (&answer);
    return graph;
}

//  The Keras major version metadata.json names, 0 if it names none
static int
s_keras_major (const void *data, size_t size)
{
    size_t length;
    char *text = zi_keras_zip_member (data, size, "metadata.json", &length);
    json_object *metadata = text? json_tokener_parse (text): NULL;
    const char *version = zi_keras_string (metadata, "keras_version", "0");
    int major = atoi (version);
    json_object_put (metadata);
    free (text);
    return major;
}

//  A .keras zip: config.json, and the weights in model.weights.h5
static zi_graph_t *
s_import_zip (const void *data, size_t size, const char *source)
{
    size_t config_size, weights_size;
    char *config = zi_keras_zip_member (data, size, "config.json", &config_size);
    void *weights = config? zi_keras_zip_member (data, size, "model.weights.h5",
                                                 &weights_size): NULL;
    if (!weights) {
        zi_error_prefix ("%s", source);
        free (config);
        return NULL;
    }
    zi_graph_t *graph = NULL;
    char what [300];
    snprintf (what, sizeof what, "%.250s: config.json", source);
    json_object *model = s_parse (config, config_size, what);
    snprintf (what, sizeof what, "%.250s: model.weights.h5", source);
    zi_keras_answer_t answer;
    if (model && zi_keras_reader_load (weights, weights_size, what, model, &answer) == 0) {
        graph = s_import (model, source, s_keras_major (data, size) >= 3, s_load_answer,
                          &answer);
        zi_keras_answer_free (&answer);
    }
    json_object_put (model);
    free (weights);
    free (config);
    return graph;
}

zi_graph_t *
zi_keras_import (const void *data, size_t size, const char *source)
{
    zi_keras_kind_t kind = zi_keras_detect (data, size);
    if (kind == ZI_KERAS_JSON)
        return s_import_json (data, size, source);
    if (kind == ZI_KERAS_NONE) {
        zi_error ("%s: not a Keras model (expected a model.json, a .h5 or a .keras file)",
                  source);
        return NULL;
    }
    //  libhdf5 runs only in the HDF5 reader's child processes, so
    //  imports in several threads need no lock although Debian's libhdf5
    //  is built without thread safety
    return kind == ZI_KERAS_HDF5? s_import_h5 (data, size, source):
                                  s_import_zip (data, size, source);
}

//  --------------------------------------------------------------------------
//  Self test: a small Sequential model written to a scratch folder, run
//  and compared with a plain-C reference in Keras's own layout; then the
//  errors a bad file gives

static const char *s_test_layers =
    "[{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"image\","
    "  \"batch_input_shape\": [null, 4, 4, 2], \"dtype\": \"float32\"}},"
    " {\"class_name\": \"Conv2D\", \"config\": {\"name\": \"conv\", \"filters\": 3,"
    "  \"kernel_size\": [3, 3], \"strides\": [1, 1], \"padding\": \"same\","
    "  \"data_format\": \"channels_last\", \"dilation_rate\": [1, 1],"
    "  \"activation\": \"relu\", \"use_bias\": true}},"
    " {\"class_name\": \"%s\", \"config\": {\"name\": \"flat\"}},"
    " {\"class_name\": \"Dense\", \"config\": {\"name\": \"fc\", \"units\": 2,"
    "  \"activation\": \"linear\", \"use_bias\": true}}]";

static const char *s_test_weights =
    "[{\"paths\": [\"%s\"], \"weights\": ["
    " {\"name\": \"conv/kernel\", \"shape\": [3, 3, %s], \"dtype\": \"float32\"},"
    " {\"name\": \"conv/bias\", \"shape\": [3], \"dtype\": \"float32\"},"
    " {\"name\": \"fc/kernel\", \"shape\": [48, 2], \"dtype\": \"float32\"},"
    " {\"name\": \"fc/bias\", \"shape\": [2], \"dtype\": \"float32\"}]}]";

//  Writes model.json into dir; returns its path (static buffer)
static const char *
s_test_write (const char *dir, const char *layer, const char *shard, const char *kernel,
              const char *override)
{
    static char path [512];
    char layers [2048], weights [1024];
    snprintf (layers, sizeof layers, s_test_layers, layer);
    snprintf (weights, sizeof weights, s_test_weights, shard, kernel);
    snprintf (path, sizeof path, "%s/model.json", dir);
    FILE *file = fopen (path, "w");
    assert (file);
    if (override)
        fputs (override, file);
    else
        fprintf (file, "{\"format\": \"layers-model\", \"modelTopology\": {\"class_name\": "
                 "\"Sequential\", \"config\": {\"name\": \"small\", \"layers\": %s}}, "
                 "\"weightsManifest\": %s}", layers, weights);
    fclose (file);
    return path;
}

static bool
s_test_fails (zi_test_t *t, const char *path, const char *want, const char *what)
{
    zi_model_t *model = zi_model_load (path);
    bool ok = model == NULL && strstr (zi_error_text (), want) != NULL;
    ZI_CHECK (t, ok, "%s: %s", what, model? "loaded": zi_error_text ());
    zi_model_destroy (&model);
    return ok;
}

void
zi_keras_test (zi_test_t *t)
{
    char dir [] = "/tmp/zi_keras_test_XXXXXX";
    if (!mkdtemp (dir)) {
        ZI_CHECK (t, false, "a scratch folder: %s", strerror (errno));
        return;
    }
    float kernel [54], conv_bias [3], dense [96], dense_bias [2];
    for (int item = 0; item < 54; item++)
        kernel [item] = 0.1f * ((item * 7) % 11 - 5);
    for (int item = 0; item < 3; item++)
        conv_bias [item] = 0.05f * item - 0.05f;
    for (int item = 0; item < 96; item++)
        dense [item] = 0.02f * ((item * 5) % 13 - 6);
    dense_bias [0] = 0.25f;
    dense_bias [1] = -0.5f;
    char shard [600];
    snprintf (shard, sizeof shard, "%s/weights.bin", dir);
    FILE *file = fopen (shard, "wb");
    assert (file);
    fwrite (kernel, 4, 54, file);
    fwrite (conv_bias, 4, 3, file);
    fwrite (dense, 4, 96, file);
    fwrite (dense_bias, 4, 2, file);
    fclose (file);

    const char *path = s_test_write (dir, "Flatten", "weights.bin", "2, 3", NULL);
    zi_model_t *model = zi_model_load (path);
    ZI_CHECK (t, model != NULL, "load: %s", zi_error_text ());
    if (model) {
        const zi_graph_t *graph = model->graph;
        ZI_CHECK (t, zi_model_n_inputs (model) == 1
                  && strcmp (zi_model_input_name (model, 0), "image") == 0
                  && strcmp (zi_model_output_name (model, 0), "fc") == 0,
                  "input 'image', output 'fc'");
        bool named = false;
        for (int index = 0; index < graph->n_nodes; index++)
            named |= strcmp (graph->nodes [index].name, "conv") == 0
                  && strcmp (graph->nodes [index].op_type, "Conv") == 0;
        ZI_CHECK (t, named, "the Conv node is named after its layer");

        zi_tensor_t *input = zi_test_random (4, (int64_t []) {1, 4, 4, 2}, 7);
        const float *x = zi_tensor_f32 (input);
        float conv [48], want [2];
        for (int h = 0; h < 4; h++)
            for (int w = 0; w < 4; w++)
                for (int o = 0; o < 3; o++) {
                    float sum = conv_bias [o];
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++)
                            for (int i = 0; i < 2; i++) {
                                int y = h + kh - 1, z = w + kw - 1;
                                if (y >= 0 && y < 4 && z >= 0 && z < 4)
                                    sum += x [(y * 4 + z) * 2 + i]
                                         * kernel [((kh * 3 + kw) * 2 + i) * 3 + o];
                            }
                    conv [(h * 4 + w) * 3 + o] = sum > 0? sum: 0;
                }
        for (int u = 0; u < 2; u++) {
            want [u] = dense_bias [u];
            for (int j = 0; j < 48; j++)
                want [u] += conv [j] * dense [j * 2 + u];
        }
        zi_session_t *session = zi_session_new (model, NULL);
        zi_tensor_t *output = NULL;
        ZI_CHECK (t, session && zi_session_run (session, &input, &output) == 0,
                  "run: %s", zi_error_text ());
        if (output)
            ZI_CHECK_CLOSE (t, "conv, flatten, dense", zi_tensor_f32 (output), want, 2,
                            1e-5f, 1e-5f);
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
        zi_session_destroy (&session);
        zi_model_destroy (&model);
    }

    s_test_fails (t, s_test_write (dir, "Flatten", "absent.bin", "2, 3", NULL),
                  "weights shard 'absent.bin'", "missing shard");
    s_test_fails (t, s_test_write (dir, "Flatten", "weights.bin", "3, 2", NULL),
                  "weight 'conv/kernel' has shape [3, 3, 3, 2], expected [3, 3, 2, 3]", "wrong shape");
    s_test_fails (t, s_test_write (dir, "Lambda", "weights.bin", "2, 3", NULL),
                  "layer 'flat' (Lambda): Lambda layers", "Lambda");
    s_test_fails (t, s_test_write (dir, "Fancy", "weights.bin", "2, 3", NULL),
                  "layer 'flat': Keras layer class 'Fancy' is not supported", "unknown class");
    s_test_fails (t, s_test_write (dir, "Flatten", "weights.bin", "2, 3", "{\"name\": \"x\"}"),
                  "not a TensorFlow.js layers-model", "other JSON");
    s_test_fails (t, s_test_write (dir, "Flatten", "weights.bin", "2, 3", "{\"modelTopology\": "),
                  "JSON ends early", "cut JSON");

    zi_keras_reader_test (t);

    char command [600];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    if (system (command) != 0)
        ZI_CHECK (t, false, "cannot remove %s", dir);
}
