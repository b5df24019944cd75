/*  =========================================================================
    zi_keras.h - Keras import, shared by zi_keras.c (model, weights, JSON)
    and zi_keras_layers.c (one builder per Keras layer class); the
    containers: zi_keras_h5.c (HDF5, through libhdf5, in a child process
    that zi_keras_reader.c runs) and zi_keras_zip.c (the .keras zip,
    through libzip)
    =========================================================================
*/

#ifndef ZI_KERAS_H_INCLUDED
#define ZI_KERAS_H_INCLUDED

#include "zi_classes.h"
#include <json-c/json.h>

#define ZI_KERAS_MAX_INPUTS 64  //  inputs of one layer call (Concatenate, Add)
#define ZI_KERAS_MAX_DEPTH  16  //  models nested in models

//  A Keras tensor as built: the value holding it (NCHW when 4-d) and its
//  Keras shape (channels last, -1 for unknown sizes)
typedef struct {
    int value;                  //  graph value index
    int ndim;                   //  Keras rank, batch included
    int64_t dims [ZI_MAX_DIMS]; //  Keras shape
} zi_keras_tensor_t;

//  One call of a layer (an entry of its inbound_nodes)
typedef struct {
    const char *layer;          //  layer name
    const char *class_name;     //  Keras class, e.g. "Conv2D"
    const char *module;         //  Keras 3's module ("keras.src.ops.numpy"), or ""
    json_object *config;        //  the layer's config
    int node_index;             //  which call of the layer (0 for most)
    int node_offset;            //  added to it in references (tfjs's nested models: 1)
    int n_inputs;               //  tensors in
    zi_keras_tensor_t inputs [ZI_KERAS_MAX_INPUTS];     //  them
    json_object *args;          //  Keras 3: the call's positional arguments, or NULL
    json_object *kwargs;        //  the call's keyword arguments, or NULL
} zi_keras_call_t;

//  What a model file is, from its first bytes
typedef enum {
    ZI_KERAS_NONE,              //  not a Keras file (ONNX, for instance)
    ZI_KERAS_JSON,              //  a TF.js model.json
    ZI_KERAS_HDF5,              //  a Keras 2 .h5 file
    ZI_KERAS_ZIP                //  a .keras zip (Keras 3, or Keras 2.13 and later)
} zi_keras_kind_t;

typedef struct {
    const char *source;         //  model file path, for messages
    char *dir;                  //  where the weight shards are
    zi_graph_t *graph;          //  being built
    void *weights;              //  weight name -> zi_tensor_t, Keras layout (zhashx)
    void *tensors;              //  "layer:node:tensor" -> zi_keras_tensor_t (zhashx)
    void *names;                //  node names taken (zhashx)
    void *constants;            //  constant name -> its value + 1 (zhashx), for reuse
    void *derived;              //  constant name -> the Keras weight it was made from (zhashx)
    const char *scope;          //  key prefix inside a nested model, or NULL
    int depth;                  //  models nested at this point
    bool keras3;                //  saved by Keras 3, whose hard_sigmoid differs
    int n_outputs;              //  model outputs
    zi_keras_tensor_t outputs [ZI_MAX_GRAPH_OUTPUTS];   //  them
    char output_names [ZI_MAX_GRAPH_OUTPUTS][256];      //  their layers' names
} zi_keras_t;

//  Is this (a file's start) a Keras model, and in which container?
zi_keras_kind_t
    zi_keras_detect (const void *data, size_t size);
//  Imports a Keras model from its file's bytes: a TF.js model.json (source
//  is the file's path, beside which the weight shards lie), a .h5 or a
//  .keras file (self-contained: source only names it in messages)
zi_graph_t *
    zi_keras_import (const void *data, size_t size, const char *source);

//  Where the HDF5 reader puts each weight it reads, in the order read:
//  keep takes the tensor (it nulls *tensor_p, even when it fails), named
//  layer/weight; -1 stops the reading with an error
typedef struct {
    int (*keep) (void *args, const char *name, zi_tensor_t **tensor_p);
    void *args;                 //  keep's own
} zi_keras_sink_t;

//  HDF5 (zi_keras_h5.c), called only inside the HDF5 reader's child
//  process. Opens a file image held in memory; the handle is an hid_t, or
//  -1 with an error
int64_t
    zi_keras_h5_open (const void *data, size_t size, const char *what);
void
    zi_keras_h5_close (int64_t file);
//  A string attribute of the file's root (Keras 2's model_config); owned,
//  NULL with an error
char *
    zi_keras_h5_root_string (int64_t file, const char *name);
//  Reads the weights into the sink, named layer/weight: from Keras 2's
//  model_weights group, or from Keras 3's layers/.../vars by walking the
//  model's config (class_name and config of the top model). image_size is
//  the size of the file image opened (no weight is larger)
int
    zi_keras_h5_weights_keras2 (zi_keras_sink_t *sink, int64_t file, size_t image_size);
int
    zi_keras_h5_weights_keras3 (zi_keras_sink_t *sink, int64_t file, size_t image_size,
                                json_object *model);

//  The HDF5 reader (zi_keras_reader.c): an HDF5 file image read in a
//  child process, which answers over a pipe with what the import needs
typedef struct {
    char *config;               //  the root's model_config (Keras 2), or NULL
    void *weights;              //  weight name -> zi_tensor_t, Keras layout (zhashx)
    char *weights_error;        //  why the weights could not be read, or NULL
} zi_keras_answer_t;

//  Reads an HDF5 file image in a child process, within a time limit that
//  grows with its size: with model NULL, a Keras 2 file's model_config
//  and weights; else a Keras 3 weights file, named by walking model's
//  config. what names the file in messages. 0 with the answer filled in
//  (its weights_error set if only the weights could not be read), or -1
//  with an error: the file is not HDF5, has no model_config, or the
//  reader crashed, ran out of time or answered garbage
int
    zi_keras_reader_load (const void *data, size_t size, const char *what, json_object *model,
                          zi_keras_answer_t *answer);
//  Decodes a reader's answer held in memory, as zi_keras_reader_load
//  decodes the pipe's (the fuzzer's way in); image_size is the size of
//  the file it would have read, which bounds the weights
int
    zi_keras_reader_decode (const void *data, size_t size, size_t image_size, const char *what,
                            zi_keras_answer_t *answer);
void
    zi_keras_answer_free (zi_keras_answer_t *answer);
//  Imports a Keras 2 model from a reader's answer held in memory: the
//  fuzzer reaches the import through it without a child process
zi_graph_t *
    zi_keras_import_answer (const void *data, size_t size, const char *source);
//  The reader's self test: answers garbled in every way it checks
void
    zi_keras_reader_test (zi_test_t *t);

//  A .keras zip (zi_keras_zip.c): one member's bytes, owned, NULL with an
//  error; *size gets its length
void *
    zi_keras_zip_member (const void *data, size_t size, const char *member, size_t *length);

//  JSON: a member (NULL if absent or null), a string, a number or bool
json_object *
    zi_keras_get (json_object *object, const char *key);
const char *
    zi_keras_string (json_object *object, const char *key, const char *fallback);
double
    zi_keras_number (json_object *object, const char *key, double fallback);
bool
    zi_keras_is_number (json_object *value);
//  A number or a list of numbers (null -> -1); the count, or -1
int
    zi_keras_ints (json_object *value, int64_t *values, int max);
//  A [layer, node, tensor, ...] reference (or Keras 3's __keras_tensor__
//  with its keras_history), and the tensor it names (NULL if not built)
bool
    zi_keras_ref (json_object *ref, const char **layer, int *node, int *tensor);
const zi_keras_tensor_t *
    zi_keras_lookup (zi_keras_t *self, json_object *ref);

//  Graph building: a node of one output (*value gets it, named output or,
//  if NULL, a name made from the node's); the node is valid until the next
zi_node_t *
    zi_keras_node (zi_keras_t *self, const char *op_type, const char *name,
                   int n_inputs, const int *inputs, const char *output, int *value);
//  Constants (the graph takes the tensor). A layer called again makes its
//  constants again under the same names: one equal in shape and bytes to
//  the constant already made under its name is that constant, so a
//  shared layer's weights are in the graph once
int
    zi_keras_constant (zi_keras_t *self, const char *name, zi_tensor_t *tensor);
//  A constant made from a Keras weight in another layout (a kernel
//  transposed to ONNX's) is recorded with that weight by zi_keras_derive;
//  zi_keras_derived gives it back to a later call of the layer, which then
//  skips making it again: the value under name if it was made from from,
//  else -1
int
    zi_keras_derived (zi_keras_t *self, const char *name, const zi_tensor_t *from);
void
    zi_keras_derive (zi_keras_t *self, const char *name, const zi_tensor_t *from, int value);
int
    zi_keras_ints_constant (zi_keras_t *self, const char *name, int n, const int64_t *values);
int
    zi_keras_scalar (zi_keras_t *self, const char *name, float value);
//  NHWC -> NCHW (to_nchw) or back
int
    zi_keras_transpose (zi_keras_t *self, const char *name, int input, bool to_nchw,
                        const char *output);
//  A weight by layer and weight name, checked against a shape (-1: any
//  size); borrowed, NULL with an error when absent or of another shape
zi_tensor_t *
    zi_keras_weight (zi_keras_t *self, const char *layer, const char *weight,
                     int ndim, const int64_t *dims);

//  Builds one layer call (zi_keras_layers.c): sets output's value and shape
int
    zi_keras_build_layer (zi_keras_t *self, const zi_keras_call_t *call,
                          zi_keras_tensor_t *output);

#endif
