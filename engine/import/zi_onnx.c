/*  =========================================================================
    zi_onnx - ONNX model import

    The protobuf decoding is protobuf-c's, generated at build time from the
    system's onnx.proto. What is here turns the decoded ModelProto into a
    zi_graph_t and checks everything a kernel will rely on later, so that
    a bad file gives one clear error line here rather than a crash there.
    =========================================================================
*/

#include "zi_classes.h"
#include "onnx/onnx.pb-c.h"
#include <czmq.h>

#define S_MIN_OPSET 9
#define S_MAX_OPSET 21

//  protobuf-c copies every bytes field out of the file's buffer. Large
//  ones (the weights) get 64-byte aligned memory, so that a float32 or
//  int64 initializer's raw_data can become its tensor as it is: the
//  weights are then held once while loading, not twice
#define S_ALIGN_FROM 4096       //  smaller allocations: plain malloc

static void *
s_proto_alloc (void *allocator_data, size_t size)
{
    (void) allocator_data;
    if (size < S_ALIGN_FROM)
        return malloc (size);
    void *memory = NULL;
    return posix_memalign (&memory, 64, size)? NULL: memory;
}

static void
s_proto_free (void *allocator_data, void *memory)
{
    (void) allocator_data;
    free (memory);
}

static ProtobufCAllocator s_allocator = {s_proto_alloc, s_proto_free, NULL};

static void
s_free_raw (void *data, void *hint)
{
    (void) hint;
    free (data);
}

//  Converts a TensorProto into a tensor; what names it in messages. Takes
//  the raw_data buffer over when it can (see s_proto_alloc)
static zi_tensor_t *
s_tensor_from_proto (Onnx__TensorProto *proto, const char *what)
{
    if (proto->has_data_location
    &&  proto->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        const char *file = "?";
        for (size_t index = 0; index < proto->n_external_data; index++)
            if (strcmp (proto->external_data [index]->key, "location") == 0)
                file = proto->external_data [index]->value;
        zi_error ("%s: weights stored as external data (file '%s') are not supported; "
                  "save the model with all tensors inside the .onnx file", what, file);
        return NULL;
    }
    if (proto->segment) {
        zi_error ("%s: segmented tensors are not supported", what);
        return NULL;
    }
    if (proto->n_dims > ZI_MAX_DIMS) {
        zi_error ("%s: %zu dimensions, at most %d supported", what, proto->n_dims, ZI_MAX_DIMS);
        return NULL;
    }
    int type = proto->has_data_type? proto->data_type: 0;
    //  float16 and float64 weights become float32: models compute in it
    zi_dtype_t dtype;
    size_t file_size;           //  bytes per element in raw_data
    switch (type) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:   dtype = ZI_F32;  file_size = 4; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:  dtype = ZI_F32;  file_size = 8; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: dtype = ZI_F32;  file_size = 2; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:   dtype = ZI_I64;  file_size = 8; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:   dtype = ZI_I32;  file_size = 4; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:    dtype = ZI_I8;   file_size = 1; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:   dtype = ZI_U8;   file_size = 1; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:    dtype = ZI_BOOL; file_size = 1; break;
        default:
            zi_error ("%s: element type %d (%s) is not supported (supported: float, double, "
                      "float16, int64, int32, int8, uint8, bool)", what, type,
                      zi_onnx_type_name (type));
            return NULL;
    }
    int64_t dims [ZI_MAX_DIMS];
    for (size_t axis = 0; axis < proto->n_dims; axis++)
        dims [axis] = proto->dims [axis];
    char shape [128];
    int64_t declared = zi_shape_count ((int) proto->n_dims, dims);
    if (declared < 0) {
        zi_error ("%s: shape %s is negative or too large", what,
                  zi_shape_str ((int) proto->n_dims, dims, shape, sizeof shape));
        return NULL;
    }
    size_t count = (size_t) declared;

    //  Where the values are depends on the type and on the exporter
    size_t have;
    const char *field;
    if (proto->has_raw_data) {
        have = proto->raw_data.len / file_size;
        field = "raw_data";
        if (proto->raw_data.len % file_size)
            have = (size_t) -1;
    }
    else
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        have = proto->n_float_data;
        field = "float_data";
    }
    else
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        have = proto->n_double_data;
        field = "double_data";
    }
    else
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        have = proto->n_int64_data;
        field = "int64_data";
    }
    else {
        have = proto->n_int32_data;     //  int32, int8, uint8, bool and float16
        field = "int32_data";
    }
    //  Checked before allocating: a small file may declare a huge shape
    if (have != count) {
        zi_error ("%s: shape %s needs %zu values, %s holds %zu", what,
                  zi_shape_str ((int) proto->n_dims, dims, shape, sizeof shape),
                  count, field, have == (size_t) -1? 0: have);
        return NULL;
    }
    const unsigned char *raw = proto->has_raw_data? proto->raw_data.data: NULL;
    bool same_layout = file_size == zi_dtype_size (dtype)
                    && type != ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    if (raw && count && same_layout && (uintptr_t) raw % 64 == 0) {
        zi_tensor_t *tensor = zi_tensor_wrap (dtype, (int) proto->n_dims, dims,
                                              proto->raw_data.data, s_free_raw, NULL);
        if (tensor) {
            proto->raw_data.data = NULL;        //  the tensor frees it now
            proto->raw_data.len = 0;
            proto->has_raw_data = 0;
        }
        else
            zi_error_prefix ("%s", what);
        return tensor;
    }
    zi_tensor_t *tensor = zi_tensor_new (dtype, (int) proto->n_dims, dims);
    if (!tensor) {
        zi_error_prefix ("%s", what);
        return NULL;
    }
    for (size_t item = 0; item < count; item++) {
        switch (type) {
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
                float value;
                if (raw)
                    memcpy (&value, raw + item * 4, 4);
                else
                    value = proto->float_data [item];
                ((float *) tensor->data) [item] = value;
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
                double value;
                if (raw)
                    memcpy (&value, raw + item * 8, 8);
                else
                    value = proto->double_data [item];
                ((float *) tensor->data) [item] = (float) value;
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: {
                uint16_t half;
                if (raw)
                    memcpy (&half, raw + item * 2, 2);
                else
                    half = (uint16_t) proto->int32_data [item];
                ((float *) tensor->data) [item] = zi_half_to_float (half);
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: {
                int64_t value;
                if (raw)
                    memcpy (&value, raw + item * 8, 8);
                else
                    value = proto->int64_data [item];
                ((int64_t *) tensor->data) [item] = value;
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
                int32_t value;
                if (raw)
                    memcpy (&value, raw + item * 4, 4);
                else
                    value = proto->int32_data [item];
                ((int32_t *) tensor->data) [item] = value;
                break;
            }
            //  The typed field holds each 8-bit value in an int32
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
                ((int8_t *) tensor->data) [item] =
                    raw? (int8_t) raw [item]: (int8_t) proto->int32_data [item];
                break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
                ((uint8_t *) tensor->data) [item] =
                    raw? raw [item]: (uint8_t) proto->int32_data [item];
                break;
            default:
                ((unsigned char *) tensor->data) [item] =
                    (raw? raw [item]: proto->int32_data [item]) != 0;
        }
    }
    return tensor;
}

static zi_graph_t *
    s_import_subgraph (const Onnx__GraphProto *proto, int opset, const char *what);

static void
s_release_graph (zi_graph_t **graph_p)
{
    zi_graph_destroy (graph_p);
}

static int
s_import_attribute (zi_attr_t *attr, const Onnx__AttributeProto *proto, const char *node,
                    int opset)
{
    char what [512];
    snprintf (what, sizeof what, "node '%s' attribute '%s'", node, proto->name? proto->name: "");
    attr->name = strdup (proto->name? proto->name: "");
    if (!*attr->name)
        return zi_error ("node '%s': an attribute has no name", node);
    switch (proto->type) {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
            attr->type = ZI_ATTR_FLOAT;
            attr->f = proto->f;
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
            attr->type = ZI_ATTR_INT;
            attr->i = proto->i;
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
            attr->type = ZI_ATTR_STRING;
            attr->s = malloc (proto->s.len + 1);
            assert (attr->s);
            if (proto->s.len)
                memcpy (attr->s, proto->s.data, proto->s.len);
            attr->s [proto->s.len] = 0;
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
            attr->type = ZI_ATTR_TENSOR;
            if (!proto->t)
                return zi_error ("%s: tensor attribute without a tensor", what);
            attr->t = s_tensor_from_proto (proto->t, what);
            if (!attr->t)
                return -1;
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
            attr->type = ZI_ATTR_FLOATS;
            attr->n = (int) proto->n_floats;
            attr->floats = malloc ((proto->n_floats + 1) * sizeof (float));
            assert (attr->floats);
            if (proto->n_floats)
                memcpy (attr->floats, proto->floats, proto->n_floats * sizeof (float));
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
            attr->type = ZI_ATTR_INTS;
            attr->n = (int) proto->n_ints;
            attr->ints = malloc ((proto->n_ints + 1) * sizeof (int64_t));
            assert (attr->ints);
            if (proto->n_ints)
                memcpy (attr->ints, proto->ints, proto->n_ints * sizeof (int64_t));
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
            attr->type = ZI_ATTR_STRINGS;
            attr->n = (int) proto->n_strings;
            attr->strings = calloc (proto->n_strings + 1, sizeof (char *));
            assert (attr->strings);
            for (size_t index = 0; index < proto->n_strings; index++) {
                attr->strings [index] = malloc (proto->strings [index].len + 1);
                assert (attr->strings [index]);
                if (proto->strings [index].len)
                    memcpy (attr->strings [index], proto->strings [index].data,
                            proto->strings [index].len);
                attr->strings [index][proto->strings [index].len] = 0;
            }
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
            attr->type = ZI_ATTR_GRAPH;
            if (!proto->g)
                return zi_error ("%s: graph attribute without a graph", what);
            attr->g = s_import_subgraph (proto->g, opset, what);
            attr->g_release = s_release_graph;
            if (!attr->g)
                return -1;
            break;
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
            return zi_error ("%s: lists of graphs are not supported (no ai.onnx op up to "
                             "opset %d takes one)", what, S_MAX_OPSET);
        default:
            //  Sparse tensors, type protos: no supported op
            //  reads them, so they are kept as unknown-typed and ignored
            attr->type = (zi_attr_type_t) proto->type;
            break;
    }
    return 0;
}

//  Reads dtype and shape from a ValueInfoProto; unknown dims become -1
static int
s_import_value_info (zi_graph_t *graph, const Onnx__ValueInfoProto *info, bool required)
{
    if (!info->name || !*info->name)
        return zi_error ("graph input or output without a name");
    int index = zi_graph_value (graph, info->name);
    zi_value_t *value = &graph->values [index];
    const Onnx__TypeProto *type = info->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        if (required)
            return zi_error ("graph input '%s' is not a tensor", info->name);
        return index;
    }
    const Onnx__TypeProto__Tensor *tensor = type->tensor_type;
    int elem = tensor->has_elem_type? tensor->elem_type: 0;
    //  The dtype codes are ONNX's
    zi_dtype_t dtype = zi_dtype_size (elem)? (zi_dtype_t) elem: 0;
    if (!dtype) {
        if (required)
            return zi_error ("graph input '%s': element type %d (%s) is not supported "
                             "(supported: %s)", info->name, elem, zi_onnx_type_name (elem),
                             zi_dtype_list ());
        return index;
    }
    if (!tensor->shape)
        return index;       //  rank unknown: inferred later
    if (tensor->shape->n_dim > ZI_MAX_DIMS)
        return zi_error ("'%s' has %zu dimensions, at most %d supported",
                         info->name, tensor->shape->n_dim, ZI_MAX_DIMS);
    int64_t dims [ZI_MAX_DIMS];
    for (size_t axis = 0; axis < tensor->shape->n_dim; axis++) {
        const Onnx__TensorShapeProto__Dimension *dim = tensor->shape->dim [axis];
        dims [axis] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                   && dim->dim_value > 0? dim->dim_value: -1;
    }
    zi_tensor_set_shape (&value->info, dtype, (int) tensor->shape->n_dim, dims);
    value->known = true;
    return index;
}

static int
    s_import_nodes (zi_graph_t *graph, const Onnx__GraphProto *proto, zhashx_t *names);
static int
    s_import_graph (zi_graph_t *graph, const Onnx__GraphProto *proto, bool subgraph);

//  Values a subgraph reads but does not define (inputs, initializers and
//  node outputs are its own) belong to an enclosing graph. They become
//  the subgraph's last inputs, and inputs of the node that holds it, so
//  that the enclosing graph orders and delivers them like any input; a
//  value from further out is passed on the same way, level by level.
static int
s_find_outer_values (zi_graph_t *graph)
{
    bool *defined = calloc (graph->n_values + 1, sizeof (bool));
    assert (defined);
    for (int index = 0; index < graph->n_inputs; index++)
        defined [graph->inputs [index]] = true;
    for (int index = 0; index < graph->n_nodes; index++)
        for (int slot = 0; slot < graph->nodes [index].n_outputs; slot++)
            if (graph->nodes [index].outputs [slot] >= 0)
                defined [graph->nodes [index].outputs [slot]] = true;
    int n_outer = 0;
    for (int value = 0; value < graph->n_values; value++)
        if (!defined [value] && !graph->values [value].constant)
            n_outer++;
    if (graph->n_inputs + n_outer > ZI_MAX_NODE_INPUTS) {
        free (defined);
        return zi_error ("the subgraph reads %d values of enclosing graphs, at most %d "
                         "supported", n_outer, ZI_MAX_NODE_INPUTS - graph->n_inputs);
    }
    graph->inputs = realloc (graph->inputs, (graph->n_inputs + n_outer + 1) * sizeof (int));
    assert (graph->inputs);
    for (int value = 0; value < graph->n_values; value++)
        if (!defined [value] && !graph->values [value].constant)
            graph->inputs [graph->n_inputs++] = value;
    graph->n_outer = n_outer;
    free (defined);
    return 0;
}

//  Gives a node that holds subgraphs their outer values as inputs, after
//  the inputs its op defines (If: 1; Loop and Scan: as many as the body
//  declares, omitted ones padded). With several subgraphs (If's two
//  branches) the node reads the union, and every subgraph lists all of it
//  in the node's order, so the node's i-th outer input is each one's.
static int
s_read_outer_values (zi_graph_t *graph, zi_node_t *node)
{
    int n_graphs = 0;
    for (int attr = 0; attr < node->n_attrs; attr++)
        n_graphs += node->attrs [attr].type == ZI_ATTR_GRAPH;
    if (n_graphs == 0)
        return 0;
    const zi_graph_t *body = NULL;
    for (int attr = 0; attr < node->n_attrs; attr++)
        if (node->attrs [attr].type == ZI_ATTR_GRAPH && strcmp (node->attrs [attr].name, "body") == 0)
            body = node->attrs [attr].g;
    int n_declared = body? body->n_inputs - body->n_outer: 1;
    if (node->n_inputs > n_declared)
        return zi_error ("node '%s' (%s): %d inputs, its subgraph declares %d", node->name,
                         node->op_type, node->n_inputs, n_declared);
    //  The union of the outer names, in the order first met
    int most = n_declared;
    for (int attr = 0; attr < node->n_attrs; attr++)
        if (node->attrs [attr].type == ZI_ATTR_GRAPH)
            most += node->attrs [attr].g->n_outer;
    node->inputs = realloc (node->inputs, (most + 1) * sizeof (int));
    assert (node->inputs);
    while (node->n_inputs < n_declared)
        node->inputs [node->n_inputs++] = -1;
    for (int attr = 0; attr < node->n_attrs; attr++) {
        const zi_graph_t *sub = node->attrs [attr].g;
        if (node->attrs [attr].type != ZI_ATTR_GRAPH)
            continue;
        for (int index = sub->n_inputs - sub->n_outer; index < sub->n_inputs; index++) {
            int value = zi_graph_value (graph, sub->values [sub->inputs [index]].name);
            bool known = false;
            for (int slot = n_declared; slot < node->n_inputs && !known; slot++)
                known = node->inputs [slot] == value;
            if (!known)
                node->inputs [node->n_inputs++] = value;
        }
    }
    if (node->n_inputs > ZI_MAX_NODE_INPUTS)
        return zi_error ("node '%s' (%s): its subgraphs read %d values of enclosing graphs, "
                         "at most %d supported", node->name, node->op_type,
                         node->n_inputs - n_declared, ZI_MAX_NODE_INPUTS - n_declared);
    int n_outer = node->n_inputs - n_declared;
    for (int attr = 0; attr < node->n_attrs; attr++) {
        zi_graph_t *sub = node->attrs [attr].g;
        if (node->attrs [attr].type != ZI_ATTR_GRAPH || n_graphs == 1)
            continue;
        int n_own = sub->n_inputs - sub->n_outer;
        sub->inputs = realloc (sub->inputs, (n_own + n_outer + 1) * sizeof (int));
        assert (sub->inputs);
        for (int outer = 0; outer < n_outer; outer++)
            sub->inputs [n_own + outer] = zi_graph_value (sub,
                graph->values [node->inputs [n_declared + outer]].name);
        sub->n_inputs = n_own + n_outer;
        sub->n_outer = n_outer;
    }
    return 0;
}

//  In the model's own graph every value its subgraphs read must be
//  defined: says which one is not, and that a subgraph reads it (the
//  node's extra input is no slot of the file's)
static int
s_check_outer_defined (const zi_graph_t *graph)
{
    bool *defined = calloc (graph->n_values + 1, sizeof (bool));
    assert (defined);
    for (int index = 0; index < graph->n_inputs; index++)
        defined [graph->inputs [index]] = true;
    for (int index = 0; index < graph->n_nodes; index++)
        for (int slot = 0; slot < graph->nodes [index].n_outputs; slot++)
            if (graph->nodes [index].outputs [slot] >= 0)
                defined [graph->nodes [index].outputs [slot]] = true;
    int rc = 0;
    for (int index = 0; index < graph->n_nodes && rc == 0; index++) {
        const zi_node_t *node = &graph->nodes [index];
        int n_outer = 0;
        for (int attr = 0; attr < node->n_attrs; attr++)
            if (node->attrs [attr].type == ZI_ATTR_GRAPH)
                n_outer = node->attrs [attr].g->n_outer;
        for (int slot = node->n_inputs - n_outer; slot < node->n_inputs && rc == 0; slot++) {
            const zi_value_t *value = &graph->values [node->inputs [slot]];
            if (!defined [node->inputs [slot]] && !value->constant)
                rc = zi_error ("node '%s' (%s): a subgraph reads '%s', which no graph "
                               "defines", node->name, node->op_type, value->name);
        }
    }
    free (defined);
    return rc;
}

//  A graph held in a node's attribute, with the opset of the model
static zi_graph_t *
s_import_subgraph (const Onnx__GraphProto *proto, int opset, const char *what)
{
    zi_graph_t *graph = zi_graph_new (proto->name && *proto->name? proto->name: what);
    graph->opset = opset;
    if (s_import_graph (graph, proto, true)
    ||  s_find_outer_values (graph)
    ||  zi_graph_sort (graph)
    ||  zi_graph_init_ops (graph)) {
        zi_error_prefix ("%s", what);
        zi_graph_destroy (&graph);
    }
    return graph;
}
static void
    s_float16_as_float32 (zi_graph_t *graph, const Onnx__GraphProto *proto, zhashx_t *names,
                          bool subgraph);

static int
s_import_graph (zi_graph_t *graph, const Onnx__GraphProto *proto, bool subgraph)
{
    if (proto->n_sparse_initializer)
        return zi_error ("sparse initializers are not supported");
    for (size_t index = 0; index < proto->n_initializer; index++) {
        Onnx__TensorProto *init = proto->initializer [index];
        char what [320];
        snprintf (what, sizeof what, "initializer '%.256s'", init->name? init->name: "");
        if (!init->name || !*init->name)
            return zi_error ("initializer %zu has no name", index);
        int value = zi_graph_value (graph, init->name);
        if (graph->values [value].constant)
            return zi_error ("%s is defined twice", what);
        graph->values [value].constant = s_tensor_from_proto (init, what);
        if (!graph->values [value].constant)
            return -1;
        zi_tensor_t *constant = graph->values [value].constant;
        zi_tensor_set_shape (&graph->values [value].info, constant->dtype,
                             constant->ndim, constant->dims);
        graph->values [value].known = true;
    }
    //  Counts are checked here, as they are read: everything after sizes
    //  its arrays by the limits, not by what a file says
    size_t n_fed = 0;           //  inputs that are not initializers
    for (size_t index = 0; index < proto->n_input; index++) {
        const char *name = proto->input [index]->name;
        int value = name? zi_graph_find (graph, name): -1;
        if (value < 0 || !graph->values [value].constant)
            n_fed++;
    }
    if (n_fed > ZI_MAX_GRAPH_INPUTS)
        return zi_error ("the graph has %zu inputs (initializers aside), at most %d supported",
                         n_fed, ZI_MAX_GRAPH_INPUTS);
    if (proto->n_output > ZI_MAX_GRAPH_OUTPUTS)
        return zi_error ("the graph has %zu outputs, at most %d supported",
                         proto->n_output, ZI_MAX_GRAPH_OUTPUTS);
    graph->inputs = calloc (proto->n_input + 1, sizeof (int));
    assert (graph->inputs);
    for (size_t index = 0; index < proto->n_input; index++) {
        //  Older exporters list initializers as inputs too; those are not
        //  inputs the caller has to feed
        if (!proto->input [index]->name || !*proto->input [index]->name)
            return zi_error ("graph input %zu has no name", index);
        int value = zi_graph_find (graph, proto->input [index]->name);
        if (value >= 0 && graph->values [value].constant)
            continue;
        //  A subgraph's inputs take their shapes from the enclosing node
        //  when it is planned; they need not declare them
        value = s_import_value_info (graph, proto->input [index], !subgraph);
        if (value < 0)
            return -1;
        graph->inputs [graph->n_inputs++] = value;
    }
    graph->outputs = calloc (proto->n_output + 1, sizeof (int));
    assert (graph->outputs);
    if (proto->n_output == 0)
        return zi_error ("the graph has no outputs");
    for (size_t index = 0; index < proto->n_output; index++) {
        //  Declared output shapes may be stale or symbolic: outputs are
        //  always inferred, so only the name is taken
        const char *name = proto->output [index]->name;
        if (!name || !*name)
            return zi_error ("graph output %zu has no name", index);
        graph->outputs [graph->n_outputs++] = zi_graph_value (graph, name);
    }
    zhashx_t *names = zhashx_new ();    //  node names taken so far
    int rc = s_import_nodes (graph, proto, names);
    if (rc == 0)
        s_float16_as_float32 (graph, proto, names, subgraph);
    zhashx_destroy (&names);
    return rc;
}

//  Adds a node Cast (to) from value from into value into, named after
//  into and unique among names
static void
s_add_cast (zi_graph_t *graph, zhashx_t *names, int from, int into, int to)
{
    char name [256];
    snprintf (name, sizeof name, "%.200s/Cast", graph->values [into].name);
    for (int suffix = 2; zhashx_lookup (names, name); suffix++)
        snprintf (name, sizeof name, "%.200s/Cast_%d", graph->values [into].name, suffix);
    zhashx_insert (names, name, (void *) 1);
    zi_node_t *node = zi_node_new ("Cast", name);
    node->opset = graph->opset;
    node->n_inputs = node->n_outputs = 1;
    node->inputs = malloc (sizeof (int));
    node->outputs = malloc (sizeof (int));
    assert (node->inputs && node->outputs);
    node->inputs [0] = from;
    node->outputs [0] = into;
    zi_node_set_int (node, "to", to);
    zi_graph_add_node (graph, node);
    zi_node_destroy (&node);
}

//  Points every node input that reads value from at value into instead,
//  among the first n_nodes nodes
static void
s_rewire (zi_graph_t *graph, int n_nodes, int from, int into)
{
    for (int index = 0; index < n_nodes; index++)
        for (int slot = 0; slot < graph->nodes [index].n_inputs; slot++)
            if (graph->nodes [index].inputs [slot] == from)
                graph->nodes [index].inputs [slot] = into;
}

//  A new value named after value and what it holds
static int
s_value_beside (zi_graph_t *graph, int value, const char *what)
{
    char name [320];
    snprintf (name, sizeof name, "%.256s/%s", graph->values [value].name, what);
    return zi_graph_new_value (graph, name);
}

//  float16 models compute in float32. Weights and constants were widened
//  as they were read; what is left are the places where the model itself
//  holds float16 values, and each gets a Cast so that every op sees
//  float32 while the model keeps its float16 inputs, outputs and roundings:
//  - a float16 graph input is cast to float32 before anything reads it;
//  - a model's Cast to float16 keeps its float16 output (the rounding is
//    the model's) and a Cast to float32 follows it for its readers;
//  - a graph output declared float16 is cast from the float32 its node
//    computes, unless a Cast to float16 makes it already.
//  A subgraph (If, Loop, Scan) gets the second only: its inputs and
//  outputs are its node's business
static void
s_float16_as_float32 (zi_graph_t *graph, const Onnx__GraphProto *proto, zhashx_t *names,
                      bool subgraph)
{
    int n_nodes = graph->n_nodes;       //  the model's own, before the casts
    for (int index = 0; index < graph->n_inputs && !subgraph; index++) {
        int value = graph->inputs [index];
        if (graph->values [value].info.dtype != ZI_F16)
            continue;
        int wide = s_value_beside (graph, value, "float32");
        s_rewire (graph, n_nodes, value, wide);
        s_add_cast (graph, names, value, wide, ZI_F32);
    }
    for (int index = 0; index < n_nodes; index++) {
        zi_node_t *node = &graph->nodes [index];
        if (strcmp (node->op_type, "Cast") || zi_node_attr_int (node, "to", 0) != ZI_F16
        ||  node->n_outputs < 1 || node->outputs [0] < 0)
            continue;
        int value = node->outputs [0];
        int wide = s_value_beside (graph, value, "float32");
        s_rewire (graph, n_nodes, value, wide);
        s_add_cast (graph, names, value, wide, ZI_F32);
    }
    for (size_t index = 0; index < proto->n_output && !subgraph; index++) {
        const Onnx__TypeProto *type = proto->output [index]->type;
        if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
        ||  !type->tensor_type->has_elem_type || type->tensor_type->elem_type != ZI_F16)
            continue;
        int value = graph->outputs [index];
        zi_node_t *producer = NULL;
        int producer_slot = -1;
        for (int other = 0; other < n_nodes && !producer; other++)
            for (int slot = 0; slot < graph->nodes [other].n_outputs; slot++)
                if (graph->nodes [other].outputs [slot] == value) {
                    producer = &graph->nodes [other];
                    producer_slot = slot;
                }
        if (!producer || (strcmp (producer->op_type, "Cast") == 0
                          && zi_node_attr_int (producer, "to", 0) == ZI_F16))
            continue;       //  a graph input, a constant, or float16 already
        int wide = s_value_beside (graph, value, "float32");
        producer->outputs [producer_slot] = wide;
        s_rewire (graph, n_nodes, value, wide);
        s_add_cast (graph, names, wide, value, ZI_F16);
    }
}

static int
s_import_nodes (zi_graph_t *graph, const Onnx__GraphProto *proto, zhashx_t *names)
{
    for (size_t index = 0; index < proto->n_node; index++) {
        const Onnx__NodeProto *node_proto = proto->node [index];
        if (node_proto->domain && *node_proto->domain && strcmp (node_proto->domain, "ai.onnx"))
            return zi_error ("node '%s': op '%s' of domain '%s' is not supported "
                             "(only the default ai.onnx domain)",
                             node_proto->name? node_proto->name: "", node_proto->op_type,
                             node_proto->domain);
        if (node_proto->n_input > ZI_MAX_NODE_INPUTS)
            return zi_error ("node %zu '%s' (%s): %zu inputs, at most %d supported", index,
                             node_proto->name? node_proto->name: "",
                             node_proto->op_type? node_proto->op_type: "",
                             node_proto->n_input, ZI_MAX_NODE_INPUTS);
        if (node_proto->n_output > ZI_MAX_NODE_OUTPUTS)
            return zi_error ("node %zu '%s' (%s): %zu outputs, at most %d supported", index,
                             node_proto->name? node_proto->name: "",
                             node_proto->op_type? node_proto->op_type: "",
                             node_proto->n_output, ZI_MAX_NODE_OUTPUTS);
        //  Node names are optional in ONNX and need not be unique; actors
        //  are placed by name, so every node gets a unique one
        char name [256];
        if (node_proto->name && *node_proto->name)
            snprintf (name, sizeof name, "%s", node_proto->name);
        else
            snprintf (name, sizeof name, "%s_%zu", node_proto->op_type, index);
        //  Names taken so far are looked up, not compared with every node
        //  (quadratic: 100,000 nodes took minutes)
        for (int suffix = 2; ; suffix++) {
            if (!zhashx_lookup (names, name))
                break;
            char base [256];
            snprintf (base, sizeof base, "%s", node_proto->name && *node_proto->name?
                      node_proto->name: node_proto->op_type);
            snprintf (name, sizeof name, "%.200s_%d", base, suffix);
        }
        zhashx_insert (names, name, (void *) 1);
        zi_node_t *node = zi_node_new (node_proto->op_type? node_proto->op_type: "", name);
        node->opset = graph->opset;
        node->n_inputs = (int) node_proto->n_input;
        node->inputs = calloc (node_proto->n_input + 1, sizeof (int));
        node->n_outputs = (int) node_proto->n_output;
        node->outputs = calloc (node_proto->n_output + 1, sizeof (int));
        node->attrs = calloc (node_proto->n_attribute + 1, sizeof (zi_attr_t));
        assert (node->inputs && node->outputs && node->attrs);
        for (size_t slot = 0; slot < node_proto->n_input; slot++)
            node->inputs [slot] = node_proto->input [slot] && *node_proto->input [slot]?
                zi_graph_value (graph, node_proto->input [slot]): -1;
        for (size_t slot = 0; slot < node_proto->n_output; slot++)
            node->outputs [slot] = node_proto->output [slot] && *node_proto->output [slot]?
                zi_graph_value (graph, node_proto->output [slot]): -1;
        //  Kernels and the planner rely on a first output; a recurrent
        //  layer, whose every output is optional, that leaves Y out for
        //  its Y_h gets a value nothing reads. Other ops must name it.
        const char *op_type = node_proto->op_type? node_proto->op_type: "";
        bool recurrent = strcmp (op_type, "LSTM") == 0 || strcmp (op_type, "GRU") == 0
                      || strcmp (op_type, "RNN") == 0;
        if (recurrent && node_proto->n_output > 1 && node->outputs [0] < 0) {
            char unnamed [300];
            snprintf (unnamed, sizeof unnamed, "%s (unnamed output 0)", name);
            node->outputs [0] = zi_graph_new_value (graph, unnamed);
        }
        int rc = 0;
        for (size_t attr = 0; attr < node_proto->n_attribute && rc == 0; attr++) {
            rc = s_import_attribute (&node->attrs [attr], node_proto->attribute [attr], name,
                                     graph->opset);
            node->n_attrs++;
        }
        if (rc == 0)
            rc = s_read_outer_values (graph, node);
        zi_graph_add_node (graph, node);
        zi_node_destroy (&node);
        if (rc)
            return -1;
    }
    return 0;
}

//  protobuf-c's decoder calls itself once per nested message, and ONNX
//  messages nest without bound (a graph in a node's attribute holds nodes
//  with graphs in their attributes, a sequence type holds a type). A file
//  of 133 kB nesting subgraphs 3,000 deep overflowed the stack inside it.
//  So before decoding, a walk over the wire format measures how deep the
//  messages that can recur are nested, with a fixed stack of its own,
//  following only the fields the schema says hold such messages. Anything
//  malformed ends the walk; the decoder then says what is wrong.
typedef enum {
    S_SCAN_MODEL, S_SCAN_GRAPH, S_SCAN_NODE, S_SCAN_ATTRIBUTE, S_SCAN_FUNCTION,
    S_SCAN_TRAINING, S_SCAN_VALUE_INFO, S_SCAN_TYPE, S_SCAN_TYPE_HOLDER, S_SCAN_LEAF
} s_scan_kind_t;

//  Messages on the walk's stack at most: a subgraph level is three (graph,
//  node, attribute), and a nested type two (type, sequence or map)
#define S_SCAN_MAX_MESSAGES (3 * ZI_MAX_SUBGRAPH_DEPTH + 64)

//  What message field number of a kind holds, if it can lead to nesting
static s_scan_kind_t
s_scan_child (s_scan_kind_t kind, uint64_t field)
{
    switch (kind) {
        case S_SCAN_MODEL:          //  graph, training_info, functions
            return field == 7? S_SCAN_GRAPH: field == 20? S_SCAN_TRAINING:
                   field == 25? S_SCAN_FUNCTION: S_SCAN_LEAF;
        case S_SCAN_TRAINING:       //  initialization, algorithm
            return field == 1 || field == 2? S_SCAN_GRAPH: S_SCAN_LEAF;
        case S_SCAN_FUNCTION:       //  node
            return field == 7? S_SCAN_NODE: S_SCAN_LEAF;
        case S_SCAN_GRAPH:          //  node; input, output, value_info
            return field == 1? S_SCAN_NODE:
                   field >= 11 && field <= 13? S_SCAN_VALUE_INFO: S_SCAN_LEAF;
        case S_SCAN_NODE:           //  attribute
            return field == 5? S_SCAN_ATTRIBUTE: S_SCAN_LEAF;
        case S_SCAN_ATTRIBUTE:      //  g, graphs; tp, type_protos
            return field == 6 || field == 11? S_SCAN_GRAPH:
                   field == 14 || field == 15? S_SCAN_TYPE: S_SCAN_LEAF;
        case S_SCAN_VALUE_INFO:     //  type
            return field == 2? S_SCAN_TYPE: S_SCAN_LEAF;
        case S_SCAN_TYPE:           //  sequence_type, map_type, optional_type
            return field == 4 || field == 5 || field == 9? S_SCAN_TYPE_HOLDER: S_SCAN_LEAF;
        case S_SCAN_TYPE_HOLDER:    //  elem_type (sequence, optional), value_type (map)
            return field == 1 || field == 2? S_SCAN_TYPE: S_SCAN_LEAF;
        default:
            return S_SCAN_LEAF;
    }
}

//  Reads a varint at *at, below end; false if it is cut off or too long
static bool
s_scan_varint (const uint8_t *data, size_t *at, size_t end, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 64 && *at < end; shift += 7) {
        uint8_t byte = data [(*at)++];
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

//  0 if the nesting is within the limits (or the bytes are malformed,
//  which the decoder reports), else -1 with the error set
static int
s_check_nesting (const uint8_t *data, size_t size, const char *source)
{
    struct {
        s_scan_kind_t kind;     //  message being walked
        size_t end;             //  offset just past it
    } stack [S_SCAN_MAX_MESSAGES];
    int depth = 0, graphs = 0;  //  messages and graphs on the stack
    stack [depth].kind = S_SCAN_MODEL;
    stack [depth++].end = size;
    size_t at = 0;
    while (depth > 0) {
        if (at == stack [depth - 1].end) {
            graphs -= stack [--depth].kind == S_SCAN_GRAPH;
            continue;
        }
        uint64_t key, length;
        size_t end = stack [depth - 1].end;
        if (!s_scan_varint (data, &at, end, &key))
            return 0;
        switch (key & 7) {
            case 0:
                if (!s_scan_varint (data, &at, end, &length))
                    return 0;
                break;
            case 1:
                at += 8;
                break;
            case 5:
                at += 4;
                break;
            case 2: {
                if (!s_scan_varint (data, &at, end, &length) || length > end - at)
                    return 0;
                s_scan_kind_t child = s_scan_child (stack [depth - 1].kind, key >> 3);
                if (child == S_SCAN_LEAF) {
                    at += length;
                    break;
                }
                //  The model's own graph is the first; subgraphs nest in it
                if (child == S_SCAN_GRAPH && ++graphs - 1 > ZI_MAX_SUBGRAPH_DEPTH)
                    return zi_error ("%s: subgraphs nested %d deep in node attributes (at byte "
                                     "%zu), at most %d supported", source, graphs - 1, at,
                                     ZI_MAX_SUBGRAPH_DEPTH);
                if (depth == S_SCAN_MAX_MESSAGES)
                    return zi_error ("%s: messages nested more than %d deep (at byte %zu; "
                                     "types within types?), at most %d supported", source,
                                     S_SCAN_MAX_MESSAGES, at, S_SCAN_MAX_MESSAGES);
                stack [depth].kind = child;
                stack [depth++].end = at + length;
                break;
            }
            default:
                return 0;       //  groups or nonsense: not ONNX
        }
        if (at > end)
            return 0;
    }
    return 0;
}

//  Imports from the bytes; frees owned (the bytes, or NULL) as soon as
//  they are decoded, so the file and the decoded weights are not all held
//  at once
static zi_graph_t *
s_import (const void *data, size_t size, const char *source, void *owned)
{
    if (s_check_nesting (data, size, source)) {
        free (owned);
        return NULL;
    }
    Onnx__ModelProto *model = onnx__model_proto__unpack (&s_allocator, size, data);
    free (owned);
    if (!model) {
        zi_error ("%s: not a valid ONNX model (protobuf decoding failed after reading "
                  "%zu bytes; truncated or not an .onnx file?)", source, size);
        return NULL;
    }
    zi_graph_t *graph = NULL;
    if (!model->graph) {
        zi_error ("%s: the model has no graph", source);
        goto done;
    }
    int opset = 0;
    for (size_t index = 0; index < model->n_opset_import; index++) {
        const Onnx__OperatorSetIdProto *import = model->opset_import [index];
        if (!import->domain || !*import->domain || strcmp (import->domain, "ai.onnx") == 0)
            opset = (int) import->version;
    }
    if (opset < S_MIN_OPSET || opset > S_MAX_OPSET) {
        zi_error ("%s: ai.onnx opset %d is not supported (expected %d to %d)",
                  source, opset, S_MIN_OPSET, S_MAX_OPSET);
        goto done;
    }
    graph = zi_graph_new (model->graph->name && *model->graph->name? model->graph->name: source);
    graph->opset = opset;
    if (s_import_graph (graph, model->graph, false)
    ||  s_check_outer_defined (graph)
    ||  zi_graph_sort (graph)
    ||  zi_graph_init_ops (graph)) {
        zi_error_prefix ("%s", source);
        zi_graph_destroy (&graph);
    }
done:
    onnx__model_proto__free_unpacked (model, &s_allocator);
    return graph;
}

zi_graph_t *
zi_onnx_import (const void *data, size_t size, const char *source)
{
    return s_import (data, size, source, NULL);
}

zi_graph_t *
zi_onnx_import_owned (void *data, size_t size, const char *source)
{
    return s_import (data, size, source, data);
}

//  Test models are built with protobuf-c's own structures and packed, so
//  the import sees exactly the bytes an exporter would write
typedef struct {
    Onnx__ModelProto model;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets [1];
    Onnx__GraphProto graph;
    Onnx__NodeProto node;
    Onnx__NodeProto *nodes [1];
    char *node_inputs [2];
    char *node_outputs [1];
    Onnx__TensorProto weight;
    Onnx__TensorProto *weights [1];
    int64_t weight_dims [1];
    float weight_values [4];
    Onnx__StringStringEntryProto location;
    Onnx__StringStringEntryProto *locations [1];
    Onnx__ValueInfoProto input, output;
    Onnx__ValueInfoProto *inputs [1], *outputs [1];
    Onnx__TypeProto input_type;
    Onnx__TypeProto__Tensor input_tensor;
    Onnx__TensorShapeProto input_shape;
    Onnx__TensorShapeProto__Dimension input_dims [2];
    Onnx__TensorShapeProto__Dimension *input_dim_list [2];
    Onnx__TypeProto output_type;
    Onnx__TypeProto__Tensor output_tensor;
    int32_t typed_values [4];
} s_test_model_t;

static void
s_test_model_init (s_test_model_t *m)
{
    memset (m, 0, sizeof *m);
    onnx__model_proto__init (&m->model);
    onnx__operator_set_id_proto__init (&m->opset);
    onnx__graph_proto__init (&m->graph);
    onnx__node_proto__init (&m->node);
    onnx__tensor_proto__init (&m->weight);
    onnx__value_info_proto__init (&m->input);
    onnx__value_info_proto__init (&m->output);
    onnx__type_proto__init (&m->input_type);
    onnx__type_proto__tensor__init (&m->input_tensor);
    onnx__tensor_shape_proto__init (&m->input_shape);
    onnx__string_string_entry_proto__init (&m->location);

    m->opset.has_version = 1;
    m->opset.version = 13;
    m->opsets [0] = &m->opset;
    m->model.n_opset_import = 1;
    m->model.opset_import = m->opsets;
    m->model.has_ir_version = 1;
    m->model.ir_version = 7;
    m->model.graph = &m->graph;

    m->node_inputs [0] = "x";
    m->node_inputs [1] = "w";
    m->node_outputs [0] = "y";
    m->node.op_type = "Add";
    m->node.name = "add";
    m->node.n_input = 2;
    m->node.input = m->node_inputs;
    m->node.n_output = 1;
    m->node.output = m->node_outputs;
    m->nodes [0] = &m->node;
    m->graph.n_node = 1;
    m->graph.node = m->nodes;

    m->weight.name = "w";
    m->weight.has_data_type = 1;
    m->weight.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    m->weight_dims [0] = 4;
    m->weight.n_dims = 1;
    m->weight.dims = m->weight_dims;
    for (int item = 0; item < 4; item++)
        m->weight_values [item] = 0.5f * item;
    m->weight.has_raw_data = 1;
    m->weight.raw_data.len = sizeof m->weight_values;
    m->weight.raw_data.data = (uint8_t *) m->weight_values;
    m->weights [0] = &m->weight;
    m->graph.n_initializer = 1;
    m->graph.initializer = m->weights;

    for (int axis = 0; axis < 2; axis++) {
        onnx__tensor_shape_proto__dimension__init (&m->input_dims [axis]);
        m->input_dims [axis].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        m->input_dims [axis].dim_value = axis? 4: 1;
        m->input_dim_list [axis] = &m->input_dims [axis];
    }
    m->input_shape.n_dim = 2;
    m->input_shape.dim = m->input_dim_list;
    m->input_tensor.has_elem_type = 1;
    m->input_tensor.elem_type = 1;
    m->input_tensor.shape = &m->input_shape;
    m->input_type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    m->input_type.tensor_type = &m->input_tensor;
    m->input.name = "x";
    m->input.type = &m->input_type;
    m->inputs [0] = &m->input;
    m->graph.n_input = 1;
    m->graph.input = m->inputs;
    onnx__type_proto__init (&m->output_type);
    onnx__type_proto__tensor__init (&m->output_tensor);
    m->output_type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    m->output_type.tensor_type = &m->output_tensor;
    m->output.name = "y";
    m->outputs [0] = &m->output;
    m->graph.n_output = 1;
    m->graph.output = m->outputs;
}

//  Packs and imports; returns the graph or NULL with the error set
static zi_graph_t *
s_test_import (s_test_model_t *m, size_t cut)
{
    size_t size = onnx__model_proto__get_packed_size (&m->model);
    uint8_t *bytes = malloc (size);
    assert (bytes);
    onnx__model_proto__pack (&m->model, bytes);
    zi_graph_t *graph = zi_onnx_import (bytes, cut? cut: size, "test.onnx");
    free (bytes);
    return graph;
}

void
zi_onnx_test (zi_test_t *t)
{
    s_test_model_t m;
    s_test_model_init (&m);
    zi_graph_t *graph = s_test_import (&m, 0);
    ZI_CHECK (t, graph != NULL, "import: %s", zi_error_text ());
    if (graph) {
        ZI_CHECK (t, graph->n_inputs == 1 && graph->n_outputs == 1 && graph->n_nodes == 1,
                  "one input, one output, one node");
        ZI_CHECK (t, graph->opset == 13 && graph->nodes [0].opset == 13, "opset recorded");
        zi_model_t model = {.source = "test", .graph = graph};
        zi_session_t *session = zi_session_new (&model, NULL);
        zi_tensor_t *input = zi_test_random (2, (int64_t []) {1, 4}, 1);
        zi_tensor_t *output = NULL;
        ZI_CHECK (t, zi_session_run (session, &input, &output) == 0, "run: %s", zi_error_text ());
        if (output) {
            float want [4];
            for (int item = 0; item < 4; item++)
                want [item] = zi_tensor_f32 (input) [item] + 0.5f * item;
            ZI_CHECK_CLOSE (t, "x + w", zi_tensor_f32 (output), want, 4, 0, 0);
        }
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
        zi_session_destroy (&session);
        zi_graph_destroy (&graph);
    }

    //  Truncated bytes
    ZI_CHECK (t, s_test_import (&m, 40) == NULL && strstr (zi_error_text (), "not a valid ONNX"),
              "truncated: %s", zi_error_text ());
    //  Random bytes
    uint8_t noise [256];
    for (int item = 0; item < 256; item++)
        noise [item] = (uint8_t) (item * 167 + 13);
    ZI_CHECK (t, zi_onnx_import (noise, sizeof noise, "noise.onnx") == NULL,
              "noise refused: %s", zi_error_text ());

    //  Opset out of range
    m.opset.version = 5;
    ZI_CHECK (t, s_test_import (&m, 0) == NULL && strstr (zi_error_text (), "opset 5")
              && strstr (zi_error_text (), "9 to 21"), "old opset: %s", zi_error_text ());
    m.opset.version = 13;

    //  Unsupported op: names node, op, and the supported list
    m.node.op_type = "StringNormalizer";
    ZI_CHECK (t, s_test_import (&m, 0) == NULL && strstr (zi_error_text (), "'add'")
              && strstr (zi_error_text (), "'StringNormalizer'")
              && strstr (zi_error_text (), "supported: "),
              "unsupported op: %s", zi_error_text ());
    m.node.op_type = "Add";

    //  Op of another domain
    m.node.domain = "com.microsoft";
    ZI_CHECK (t, s_test_import (&m, 0) == NULL && strstr (zi_error_text (), "com.microsoft"),
              "foreign domain: %s", zi_error_text ());
    m.node.domain = NULL;

    //  int8 in and out, the weights in the typed field (int32_data)
    m.input_tensor.elem_type = ZI_I8;
    m.weight.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    m.weight.has_raw_data = 0;
    int32_t typed [4] = {-128, -1, 5, 127};
    memcpy (m.typed_values, typed, sizeof typed);
    m.weight.n_int32_data = 4;
    m.weight.int32_data = m.typed_values;
    graph = s_test_import (&m, 0);
    ZI_CHECK (t, graph && graph->values [graph->inputs [0]].info.dtype == ZI_I8,
              "an int8 input: %s", zi_error_text ());
    if (graph) {
        zi_model_t model = {.source = "test", .graph = graph};
        zi_session_t *session = zi_session_new (&model, NULL);
        zi_tensor_t *input = zi_tensor_new (ZI_I8, 2, (int64_t []) {1, 4}), *output = NULL;
        memcpy (input->data, (int8_t []) {1, 2, 3, -4}, 4);
        ZI_CHECK (t, zi_session_run (session, &input, &output) == 0 && output->dtype == ZI_I8
                  && memcmp (output->data, (int8_t []) {-127, 1, 8, 123}, 4) == 0,
                  "int8 weights from int32_data, added: %s", zi_error_text ());
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
        zi_session_destroy (&session);
        zi_graph_destroy (&graph);
    }
    m.weight.n_int32_data = 0;

    //  A float16 model computes in float32: its input cast after it
    //  arrives, its output declared float16 cast before it leaves, the
    //  weights (float16 in raw_data) widened
    uint16_t halves [4] = {0x3c00, 0xc000, 0x3800, 0x0000};    //  1, -2, 0.5, 0
    m.input_tensor.elem_type = ZI_F16;
    m.output_tensor.has_elem_type = 1;
    m.output_tensor.elem_type = ZI_F16;
    m.output.type = &m.output_type;
    m.weight.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    m.weight.has_raw_data = 1;
    m.weight.raw_data.len = sizeof halves;
    m.weight.raw_data.data = (uint8_t *) halves;
    graph = s_test_import (&m, 0);
    ZI_CHECK (t, graph && graph->n_nodes == 3
              && graph->values [graph->inputs [0]].info.dtype == ZI_F16,
              "float16 model: Cast, Add, Cast: %s", zi_error_text ());
    if (graph) {
        zi_model_t model = {.source = "test", .graph = graph};
        zi_session_t *session = zi_session_new (&model, NULL);
        zi_tensor_t *input = zi_tensor_new (ZI_F16, 2, (int64_t []) {1, 4}), *output = NULL;
        memcpy (input->data, (uint16_t []) {0x3c00, 0x3c00, 0x3c00, 0x7bff}, 8);
        bool ok = zi_session_run (session, &input, &output) == 0 && output->dtype == ZI_F16;
        //  2, -1, 1.5, 65504 (the largest half stays finite)
        ok = ok && memcmp (output->data, (uint16_t []) {0x4000, 0xbc00, 0x3e00, 0x7bff}, 8) == 0;
        ZI_CHECK (t, ok, "float16 in, float16 out: %s", zi_error_text ());
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
        zi_session_destroy (&session);
        zi_graph_destroy (&graph);
    }
    m.input_tensor.elem_type = ZI_F32;
    m.output.type = NULL;
    m.weight.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    m.weight.raw_data.len = sizeof m.weight_values;
    m.weight.raw_data.data = (uint8_t *) m.weight_values;

    //  Weights that do not fill their shape
    m.weight_dims [0] = 5;
    ZI_CHECK (t, s_test_import (&m, 0) == NULL && strstr (zi_error_text (), "initializer 'w'")
              && strstr (zi_error_text (), "needs 5 values"), "short weights: %s", zi_error_text ());
    m.weight_dims [0] = 4;

    //  External data
    m.weight.has_data_location = 1;
    m.weight.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    m.location.key = "location";
    m.location.value = "weights.bin";
    m.locations [0] = &m.location;
    m.weight.n_external_data = 1;
    m.weight.external_data = m.locations;
    ZI_CHECK (t, s_test_import (&m, 0) == NULL && strstr (zi_error_text (), "external data")
              && strstr (zi_error_text (), "weights.bin"), "external data: %s", zi_error_text ());
    m.weight.has_data_location = 0;
    m.weight.n_external_data = 0;

    //  A node reading a value nobody makes
    m.node_inputs [1] = "missing";
    ZI_CHECK (t, s_test_import (&m, 0) == NULL && strstr (zi_error_text (), "'missing'"),
              "dangling input: %s", zi_error_text ());
    m.node_inputs [1] = "w";

    //  Unnamed nodes get a name
    m.node.name = "";
    graph = s_test_import (&m, 0);
    ZI_CHECK (t, graph && strcmp (graph->nodes [0].name, "Add_0") == 0, "generated name");
    zi_graph_destroy (&graph);
}
