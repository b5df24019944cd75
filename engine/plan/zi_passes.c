/*  =========================================================================
    zi_passes - graph rewrites that make the same math cheaper

    - fold_batchnorm: Conv followed by BatchNormalization becomes one Conv
      with scaled weights and a shifted bias.
    - fold_pad: a Pad of zeros over the spatial axes whose only reader is
      a Conv (Keras's ZeroPadding2D, TensorFlow's explicit padding) becomes
      that Conv's pads: no padded copy of the image, and the Conv's own
      kernels treat the border as they do any padding.
    - hard_activations: the element-wise chains that Keras and others emit
      for hard-sigmoid and hard-swish (x + 3, clip 0..6, * 1/6 or / 6, * x)
      become HardSigmoid and HardSwish nodes.
    - fuse_activations: an activation whose input comes only from a Conv,
      Gemm, MatMul or Add runs inside that op's output loop.
    - fuse_residuals: an Add of a Conv's output (read by nothing else) and
      another tensor of the same shape becomes the Conv's fourth input,
      added in its output loop before the Add's activation: the residual
      connections of ResNet-style blocks cost no pass of their own, and
      in a topology one actor fewer per block.
    - fuse_qdq: the QDQ pattern quantization tools emit (DequantizeLinear
      of the activation and of constant weights, Conv, MatMul or a Gemm
      without bias, an
      optional Relu or Clip, QuantizeLinear) becomes one QLinearConv or
      QLinearMatMul on the 8-bit tensors, with the integer kernels.

    A pass only rewrites when the result differs from the original by float
    rounding at most (fuse_qdq: by where that rounding puts a value that
    lies on the edge between two quantized steps); the original graph stays available (no_fuse) and
    every distributable actor still sees plain ONNX semantics.
    =========================================================================
*/

#include "zi_classes.h"

//  A constant scalar (one element float) input, or NAN
static float
s_scalar (const zi_graph_t *self, int value)
{
    if (value < 0 || !self->values [value].constant)
        return NAN;
    const zi_tensor_t *tensor = self->values [value].constant;
    if (tensor->dtype != ZI_F32 || zi_tensor_count (tensor) != 1)
        return NAN;
    return *(const float *) tensor->data;
}

static bool
s_near (float value, float want)
{
    return fabsf (value - want) <= 1e-6f * fabsf (want);
}

static bool
s_is (const zi_node_t *node, const char *op_type)
{
    return node->op_type && strcmp (node->op_type, op_type) == 0;
}

//  Gives a node another op type (and fresh params from that op's init)
static int
s_retype (zi_node_t *node, const char *op_type)
{
    if (node->params) {
        if (node->op && node->op->destroy)
            node->op->destroy (node);
        else
            free (node->params);
        node->params = NULL;
    }
    free (node->op_type);
    node->op_type = strdup (op_type);
    node->op = zi_op_lookup (op_type);
    assert (node->op);
    return node->op->init? node->op->init (node): 0;
}

static void
s_kill (zi_node_t *node)
{
    zi_node_clear (node);       //  op_type NULL marks it dead for prune
}

//  The live readers of every value, kept up to date while a pass rewrites
//  the graph: how many input slots read it, and the sum of the readers'
//  node indexes, which is the reader itself when there is one. Asking
//  zi_graph_sole_consumer afresh for each node scanned the whole graph
//  each time (a 100,000-node chain took over a minute to fuse).
typedef struct {
    int n_values;               //  values known when it was made
    int *count;                 //  per value: live input slots reading it
    int64_t *index_sum;         //  per value: sum of those slots' node indexes
    int *producer;              //  per value: live node making it, or -1
} s_readers_t;

static void
s_readers_note (s_readers_t *self, const zi_node_t *node, int index, int sign)
{
    for (int slot = 0; slot < node->n_inputs; slot++) {
        int value = node->inputs [slot];
        if (value >= 0 && value < self->n_values) {
            self->count [value] += sign;
            self->index_sum [value] += sign * (int64_t) index;
        }
    }
}

static s_readers_t
s_readers_new (const zi_graph_t *graph)
{
    s_readers_t self = {graph->n_values, calloc (graph->n_values + 1, sizeof (int)),
                        calloc (graph->n_values + 1, sizeof (int64_t)),
                        malloc ((graph->n_values + 1) * sizeof (int))};
    assert (self.count && self.index_sum && self.producer);
    for (int value = 0; value < graph->n_values; value++)
        self.producer [value] = -1;
    for (int index = 0; index < graph->n_nodes; index++) {
        const zi_node_t *node = &graph->nodes [index];
        if (!node->op_type)
            continue;
        s_readers_note (&self, node, index, 1);
        for (int slot = 0; slot < node->n_outputs; slot++)
            if (node->outputs [slot] >= 0)
                self.producer [node->outputs [slot]] = index;
    }
    //  A graph output is read from outside: never a sole consumer
    for (int index = 0; index < graph->n_outputs; index++)
        self.count [graph->outputs [index]] += 2;
    return self;
}

static void
s_readers_destroy (s_readers_t *self)
{
    free (self->count);
    free (self->index_sum);
    free (self->producer);
}

//  The node reading value if it is the only reader, else -1
static int
s_readers_sole (const s_readers_t *self, int value)
{
    if (value < 0 || value >= self->n_values || self->count [value] != 1)
        return -1;
    return (int) self->index_sum [value];
}

//  The Conv weight and bias with a BatchNormalization's scale, shift,
//  mean and variance folded in (new tensors)
static void
s_fold_batchnorm (const zi_tensor_t *weight, const zi_tensor_t *bias,
                  const zi_tensor_t *params [4], float epsilon,
                  zi_tensor_t **weight_p, zi_tensor_t **bias_p)
{
    const float *scale = params [0]->data, *shift = params [1]->data;
    const float *mean = params [2]->data, *var = params [3]->data;
    int64_t channels = weight->dims [0];
    zi_tensor_t *new_weight = zi_tensor_dup (weight);
    zi_tensor_t *new_bias = zi_tensor_new (ZI_F32, 1, &channels);
    assert (new_weight && new_bias);
    size_t per_channel = zi_tensor_count (weight) / channels;
    for (int64_t channel = 0; channel < channels; channel++) {
        //  In double, so folding adds no rounding of its own beyond
        //  the final conversion to float
        double factor = scale [channel] / sqrt ((double) var [channel] + epsilon);
        float *row = (float *) new_weight->data + channel * per_channel;
        for (size_t item = 0; item < per_channel; item++)
            row [item] = (float) (row [item] * factor);
        double old_bias = bias? ((const float *) bias->data) [channel]: 0;
        ((float *) new_bias->data) [channel] =
            (float) ((old_bias - mean [channel]) * factor + shift [channel]);
    }
    *weight_p = new_weight;
    *bias_p = new_bias;
}

int
zi_pass_fold_batchnorm (zi_graph_t *self)
{
    int rewrites = 0;
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *conv = &self->nodes [index];
        if (!s_is (conv, "Conv") || conv->act.kind != ZI_ACT_NONE)
            continue;
        int output = conv->outputs [0];
        int reader = zi_graph_sole_consumer (self, output);
        if (reader < 0 || !s_is (&self->nodes [reader], "BatchNormalization"))
            continue;
        zi_node_t *norm = &self->nodes [reader];
        if (norm->n_outputs != 1 || norm->inputs [0] != output)
            continue;
        const zi_tensor_t *weight = conv->inputs [1] >= 0? self->values [conv->inputs [1]].constant: NULL;
        const zi_tensor_t *bias = conv->n_inputs > 2 && conv->inputs [2] >= 0?
            self->values [conv->inputs [2]].constant: NULL;
        if (!weight || weight->dtype != ZI_F32 || weight->ndim < 3
        || (conv->n_inputs > 2 && conv->inputs [2] >= 0 && !bias))
            continue;
        const zi_tensor_t *params [4];
        bool constant = true;
        int64_t channels = weight->dims [0];
        for (int slot = 0; slot < 4; slot++) {
            int value = norm->inputs [slot + 1];
            params [slot] = value >= 0? self->values [value].constant: NULL;
            if (!params [slot] || params [slot]->dtype != ZI_F32
            || (int64_t) zi_tensor_count (params [slot]) != channels)
                constant = false;
        }
        if (!constant)
            continue;
        float epsilon = zi_node_attr_float (norm, "epsilon", 1e-5f);
        //  A Conv and BatchNormalization called again (a shared Keras
        //  block), or planned again, fold into the constants made the
        //  first time: one copy, and so one packed form
        zi_folded_key_t key = {.recipe = "batchnorm weight",
                               .sources = {weight, bias, params [0], params [1], params [2],
                                           params [3]},
                               .params = {epsilon}};
        zi_tensor_t *new_weight = zi_folded_find (self->folded, &key);
        key.recipe = "batchnorm bias";
        zi_tensor_t *new_bias = new_weight? zi_folded_find (self->folded, &key): NULL;
        if (!new_bias) {
            zi_tensor_destroy (&new_weight);
            s_fold_batchnorm (weight, bias, params, epsilon, &new_weight, &new_bias);
            new_bias = zi_folded_keep (self->folded, &key, &new_bias);
            key.recipe = "batchnorm weight";
            new_weight = zi_folded_keep (self->folded, &key, &new_weight);
        }
        int64_t bias_dims [1] = {channels};
        int weight_value = zi_graph_new_value (self, self->values [conv->inputs [1]].name);
        self->values [weight_value].constant = new_weight;
        zi_tensor_set_shape (&self->values [weight_value].info, ZI_F32, new_weight->ndim, new_weight->dims);
        self->values [weight_value].known = true;
        int bias_value = zi_graph_new_value (self, "folded_bias");
        self->values [bias_value].constant = new_bias;
        zi_tensor_set_shape (&self->values [bias_value].info, ZI_F32, 1, bias_dims);
        self->values [bias_value].known = true;

        if (conv->n_inputs < 3) {
            conv->inputs = realloc (conv->inputs, 3 * sizeof (int));
            assert (conv->inputs);
            conv->n_inputs = 3;
        }
        //  Re-fetch: adding values may have moved the array, not the nodes
        conv->inputs [1] = weight_value;
        conv->inputs [2] = bias_value;
        conv->outputs [0] = norm->outputs [0];
        s_kill (norm);
        rewrites++;
    }
    return rewrites;
}

//  The ints of a constant int64 input, or -1
static int
s_constant_ints (const zi_graph_t *self, int value, int64_t *values, int max)
{
    if (value < 0 || !self->values [value].constant)
        return -1;
    const zi_tensor_t *tensor = self->values [value].constant;
    if (tensor->dtype != ZI_I64 || tensor->ndim != 1 || tensor->dims [0] > max)
        return -1;
    memcpy (values, tensor->data, tensor->dims [0] * sizeof (int64_t));
    return (int) tensor->dims [0];
}

int
zi_pass_fold_pad (zi_graph_t *self)
{
    int rewrites = 0;
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *pad = &self->nodes [index];
        if (!s_is (pad, "Pad") || pad->n_outputs != 1 || pad->act.kind != ZI_ACT_NONE
        ||  strcmp (zi_node_attr_string (pad, "mode", "constant"), "constant") != 0
        ||  zi_node_attr_float (pad, "value", 0) != 0)
            continue;
        //  Zeros only: no constant_value input, or a constant 0; no axes
        if (pad->n_inputs > 2 && pad->inputs [2] >= 0
        &&  s_scalar (self, pad->inputs [2]) != 0.0f)
            continue;
        if ((pad->n_inputs > 3 && pad->inputs [3] >= 0) || pad->inputs [0] < 0)
            continue;
        int rank = self->values [pad->inputs [0]].info.ndim;
        int64_t pads [2 * ZI_MAX_DIMS];
        int n_pads = zi_node_attr (pad, "pads")?
            zi_node_attr_ints (pad, "pads", pads, 2 * ZI_MAX_DIMS):
            s_constant_ints (self, pad->n_inputs > 1? pad->inputs [1]: -1, pads,
                             2 * ZI_MAX_DIMS);
        if ((rank != 3 && rank != 4) || n_pads != 2 * rank
        ||  self->values [pad->inputs [0]].info.dtype != ZI_F32)
            continue;
        //  Nothing on the batch and channel axes, nothing cropped
        bool spatial = pads [0] == 0 && pads [1] == 0 && pads [rank] == 0 && pads [rank + 1] == 0;
        for (int item = 0; item < n_pads; item++)
            spatial &= pads [item] >= 0;
        int reader = zi_graph_sole_consumer (self, pad->outputs [0]);
        if (!spatial || reader < 0 || !s_is (&self->nodes [reader], "Conv"))
            continue;
        zi_node_t *conv = &self->nodes [reader];
        const char *auto_pad = zi_node_attr_string (conv, "auto_pad", "NOTSET");
        if (conv->inputs [0] != pad->outputs [0]
        ||  (strcmp (auto_pad, "NOTSET") != 0 && *auto_pad))
            continue;
        //  The Conv's pads (begins, then ends, over the spatial axes) grow
        //  by the Pad's
        int n_spatial = rank - 2;
        int64_t conv_pads [2 * ZI_MAX_DIMS] = {0};
        int n_conv = zi_node_attr_ints (conv, "pads", conv_pads, 2 * ZI_MAX_DIMS);
        if (n_conv > 0 && n_conv != 2 * n_spatial)
            continue;
        for (int axis = 0; axis < n_spatial; axis++) {
            conv_pads [axis] += pads [2 + axis];
            conv_pads [n_spatial + axis] += pads [rank + 2 + axis];
        }
        zi_node_set_ints (conv, "pads", 2 * n_spatial, conv_pads);
        zi_act_t act = conv->act;
        if (s_retype (conv, "Conv"))
            return -1;
        conv->act = act;
        conv->inputs [0] = pad->inputs [0];
        s_kill (pad);
        rewrites++;
    }
    return rewrites;
}

//  Returns the node reading value if it is the sole reader and of op type
static zi_node_t *
s_next (zi_graph_t *self, int value, const char *op_type)
{
    int reader = zi_graph_sole_consumer (self, value);
    if (reader < 0 || !s_is (&self->nodes [reader], op_type))
        return NULL;
    return &self->nodes [reader];
}

//  For a binary node one of whose inputs is value, the other input
static int
s_other_input (const zi_node_t *node, int value)
{
    if (node->n_inputs != 2)
        return -1;
    if (node->inputs [0] == value)
        return node->inputs [1];
    if (node->inputs [1] == value)
        return node->inputs [0];
    return -1;
}

//  Clip to [0, 6] given as attributes (opset < 11) or constant inputs
static bool
s_is_relu6 (const zi_graph_t *self, const zi_node_t *clip)
{
    float low, high;
    if (clip->n_inputs >= 3) {
        low = s_scalar (self, clip->inputs [1]);
        high = s_scalar (self, clip->inputs [2]);
    }
    else {
        low = zi_node_attr_float (clip, "min", NAN);
        high = zi_node_attr_float (clip, "max", NAN);
    }
    return low == 0.0f && high == 6.0f;
}

int
zi_pass_hard_activations (zi_graph_t *self)
{
    int rewrites = 0;
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *add = &self->nodes [index];
        if (!s_is (add, "Add") || add->n_inputs != 2)
            continue;
        //  x + 3
        int x = -1;
        if (s_scalar (self, add->inputs [1]) == 3.0f)
            x = add->inputs [0];
        else
        if (s_scalar (self, add->inputs [0]) == 3.0f)
            x = add->inputs [1];
        if (x < 0 || self->values [x].constant)
            continue;
        zi_node_t *clip = s_next (self, add->outputs [0], "Clip");
        if (!clip || clip->inputs [0] != add->outputs [0] || !s_is_relu6 (self, clip))
            continue;
        int clipped = clip->outputs [0];
        //  Keras also writes (x * clip (x + 3, 0, 6)) / 6: the product first
        zi_node_t *product = s_next (self, clipped, "Mul");
        if (product && s_other_input (product, clipped) == x) {
            int value = product->outputs [0];
            zi_node_t *last = s_next (self, value, "Mul");
            if (last && !s_near (s_scalar (self, s_other_input (last, value)), 1.0f / 6.0f))
                last = NULL;
            if (!last) {
                last = s_next (self, value, "Div");
                if (last && (last->inputs [0] != value
                          || !s_near (s_scalar (self, last->inputs [1]), 6.0f)))
                    last = NULL;
            }
            if (last) {
                last->inputs [0] = x;
                last->n_inputs = 1;
                last->act.kind = ZI_ACT_NONE;
                if (s_retype (last, "HardSwish") == 0) {
                    s_kill (product);
                    s_kill (clip);
                    s_kill (add);
                    rewrites++;
                }
                continue;
            }
        }
        //  * 1/6 or / 6
        zi_node_t *scale = s_next (self, clipped, "Mul");
        if (scale && !s_near (s_scalar (self, s_other_input (scale, clipped)), 1.0f / 6.0f))
            scale = NULL;
        if (!scale) {
            scale = s_next (self, clipped, "Div");
            if (scale && (scale->inputs [0] != clipped
                       || !s_near (s_scalar (self, scale->inputs [1]), 6.0f)))
                scale = NULL;
        }
        if (!scale)
            continue;
        //  HardSigmoid now; HardSwish if the result multiplies x
        zi_node_t *swish = NULL;
        int sole = zi_graph_sole_consumer (self, scale->outputs [0]);
        if (sole >= 0 && s_is (&self->nodes [sole], "Mul")
        &&  s_other_input (&self->nodes [sole], scale->outputs [0]) == x)
            swish = &self->nodes [sole];
        zi_node_t *last = swish? swish: scale;
        last->inputs [0] = x;
        last->n_inputs = 1;
        last->act.kind = ZI_ACT_NONE;
        if (swish) {
            if (s_retype (last, "HardSwish"))
                continue;
        }
        else {
            zi_node_set_float (last, "alpha", 1.0f / 6.0f);
            zi_node_set_float (last, "beta", 0.5f);
            if (s_retype (last, "HardSigmoid"))
                continue;
        }
        if (swish)
            s_kill (scale);
        s_kill (clip);
        s_kill (add);
        rewrites++;
    }
    //  x * HardSigmoid (x; 1/6, 1/2) is HardSwish (opset 13 exports of
    //  torch's hardswish look like this)
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *sigmoid = &self->nodes [index];
        if (!s_is (sigmoid, "HardSigmoid")
        ||  !s_near (zi_node_attr_float (sigmoid, "alpha", 0.2f), 1.0f / 6.0f)
        ||  zi_node_attr_float (sigmoid, "beta", 0.5f) != 0.5f)
            continue;
        int x = sigmoid->inputs [0];
        zi_node_t *mul = s_next (self, sigmoid->outputs [0], "Mul");
        if (!mul || s_other_input (mul, sigmoid->outputs [0]) != x)
            continue;
        mul->inputs [0] = x;
        mul->n_inputs = 1;
        if (s_retype (mul, "HardSwish"))
            continue;
        s_kill (sigmoid);
        rewrites++;
    }
    return rewrites;
}

//  The activation a node computes, if it is one that ops can fuse
static bool
s_activation (const zi_graph_t *self, const zi_node_t *node, zi_act_t *act)
{
    memset (act, 0, sizeof *act);
    if (s_is (node, "Relu"))
        act->kind = ZI_ACT_RELU;
    else
    if (s_is (node, "LeakyRelu")) {
        act->kind = ZI_ACT_LEAKY_RELU;
        act->alpha = zi_node_attr_float (node, "alpha", 0.01f);
    }
    else
    if (s_is (node, "Sigmoid"))
        act->kind = ZI_ACT_SIGMOID;
    else
    if (s_is (node, "Tanh"))
        act->kind = ZI_ACT_TANH;
    else
    if (s_is (node, "HardSwish"))
        act->kind = ZI_ACT_HARD_SWISH;
    else
    if (s_is (node, "HardSigmoid")) {
        act->kind = ZI_ACT_HARD_SIGMOID;
        act->alpha = zi_node_attr_float (node, "alpha", 0.2f);
        act->beta = zi_node_attr_float (node, "beta", 0.5f);
    }
    else
    if (s_is (node, "Clip")) {
        act->kind = ZI_ACT_CLIP;
        if (node->n_inputs >= 2 || node->opset >= 11) {
            float low = node->n_inputs > 1 && node->inputs [1] >= 0?
                        s_scalar (self, node->inputs [1]): -INFINITY;
            float high = node->n_inputs > 2 && node->inputs [2] >= 0?
                         s_scalar (self, node->inputs [2]): INFINITY;
            if (isnan (low) || isnan (high))
                return false;       //  bounds not constant
            act->alpha = low;
            act->beta = high;
        }
        else {
            act->alpha = zi_node_attr_float (node, "min", -INFINITY);
            act->beta = zi_node_attr_float (node, "max", INFINITY);
        }
        //  ONNX: with min > max every output is max
        if (act->alpha > act->beta)
            act->alpha = act->beta;
    }
    else
        return false;
    return true;
}

int
zi_pass_fuse_activations (zi_graph_t *self)
{
    int rewrites = 0;
    s_readers_t readers = s_readers_new (self);
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *producer = &self->nodes [index];
        if (!producer->op_type || !producer->op || !producer->op->fusable
        ||  producer->act.kind != ZI_ACT_NONE || producer->n_outputs != 1)
            continue;
        int output = producer->outputs [0];
        if (self->values [output].info.dtype != ZI_F32)
            continue;
        int reader = s_readers_sole (&readers, output);
        if (reader < 0)
            continue;
        zi_node_t *activation = &self->nodes [reader];
        zi_act_t act;
        if (activation->inputs [0] != output || !s_activation (self, activation, &act))
            continue;
        producer->act = act;
        producer->outputs [0] = activation->outputs [0];
        s_readers_note (&readers, activation, reader, -1);
        if (producer->outputs [0] < readers.n_values)
            readers.producer [producer->outputs [0]] = index;
        s_kill (activation);
        rewrites++;
    }
    s_readers_destroy (&readers);
    return rewrites;
}

int
zi_pass_fuse_residuals (zi_graph_t *self)
{
    int rewrites = 0;
    //  Made afresh from the live nodes: earlier passes move outputs
    //  between nodes, so the values' producer fields are stale until the
    //  graph is sorted again
    s_readers_t readers = s_readers_new (self);
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *add = &self->nodes [index];
        if (!add->op_type || !s_is (add, "Add") || add->n_inputs != 2 || add->n_outputs != 1)
            continue;
        const zi_value_t *result = &self->values [add->outputs [0]];
        //  The later of two candidate Convs takes the Add: the other input
        //  is then made before it runs
        zi_node_t *conv = NULL;
        int other = -1;
        for (int slot = 0; slot < 2; slot++) {
            int value = add->inputs [slot], rest = add->inputs [1 - slot];
            if (value < 0 || rest < 0 || value == rest)
                continue;
            const zi_value_t *info = &self->values [value];
            const zi_value_t *rest_info = &self->values [rest];
            int made_by = value < readers.n_values? readers.producer [value]: -1;
            if (info->constant || rest_info->constant || made_by < 0 || info->info.dtype != ZI_F32
            ||  !zi_tensor_same_shape (&info->info, &result->info)
            ||  !zi_tensor_same_shape (&rest_info->info, &result->info)
            ||  rest_info->info.dtype != ZI_F32
            ||  s_readers_sole (&readers, value) != index)
                continue;
            zi_node_t *producer = &self->nodes [made_by];
            if (!producer->op_type || !s_is (producer, "Conv") || producer->n_outputs != 1
            ||  producer->act.kind != ZI_ACT_NONE || producer->n_inputs > 3)
                continue;
            if (!conv || made_by > (int) (conv - self->nodes)) {
                conv = producer;
                other = rest;
            }
        }
        if (!conv)
            continue;
        int conv_index = (int) (conv - self->nodes);
        s_readers_note (&readers, conv, conv_index, -1);
        int *inputs = realloc (conv->inputs, 4 * sizeof (int));
        assert (inputs);
        for (int slot = conv->n_inputs; slot < 3; slot++)
            inputs [slot] = -1;         //  an omitted bias
        inputs [3] = other;
        conv->inputs = inputs;
        conv->n_inputs = 4;
        s_readers_note (&readers, conv, conv_index, 1);
        conv->act = add->act;
        s_readers_note (&readers, add, index, -1);
        conv->outputs [0] = add->outputs [0];
        if (conv->outputs [0] < readers.n_values)
            readers.producer [conv->outputs [0]] = conv_index;
        s_kill (add);
        rewrites++;
    }
    s_readers_destroy (&readers);
    return rewrites;
}

//  --------------------------------------------------------------------------
//  fuse_qdq: the QDQ pattern quantization tools emit,
//      QuantizeLinear (op (DequantizeLinear (x_q), DequantizeLinear (W_q)))
//  becomes QLinearConv (op Conv) or QLinearMatMul (MatMul, or a Gemm
//  without C) on the 8-bit tensors. Quantizers share one
//  DequantizeLinear among all the readers of a tensor (two branches of a
//  block, a weight used twice): each reader that fits the pattern fuses
//  on its own, reading the 8-bit tensor, and the DequantizeLinear stays
//  for the readers that do not, until prune finds none left. It runs
//  before the first prune: planning folds the DequantizeLinear of constant
//  weights into float constants, and only the folded node still says which
//  8-bit tensor, scale and zero point made them.

static const zi_tensor_t *
s_constant (const zi_graph_t *self, int value)
{
    return value >= 0 && value < self->n_values? self->values [value].constant: NULL;
}

static bool
s_is_8bit (zi_dtype_t dtype)
{
    return dtype == ZI_U8 || dtype == ZI_I8;
}

//  A new constant value holding tensor (taken)
static int
s_new_constant (zi_graph_t *self, const char *name, zi_tensor_t *tensor)
{
    int value = zi_graph_new_value (self, name);
    self->values [value].constant = tensor;
    zi_tensor_set_shape (&self->values [value].info, tensor->dtype, tensor->ndim, tensor->dims);
    self->values [value].known = true;
    return value;
}

//  A scalar 0 of an 8-bit type, for a zero point the model left out
static int
s_new_zero (zi_graph_t *self, zi_dtype_t dtype)
{
    zi_tensor_t *zero = zi_tensor_new (dtype, 0, NULL);
    assert (zero);
    memset (zero->data, 0, zi_dtype_size (dtype));
    return s_new_constant (self, "qdq_zero_point", zero);
}

//  A DequantizeLinear's operands: the 8-bit tensor, its float32 scale and
//  zero point (-1 when left out), both constant; per axis, the axis
typedef struct {
    int quantized, scale, zero;
    zi_dtype_t dtype;           //  the 8-bit tensor's type
    int64_t count;              //  scales: 1, or one per entry of axis
    int axis;                   //  per axis: the axis, from 0
} s_dequant_t;

static bool
s_dequant_parts (const zi_graph_t *self, const zi_node_t *node, s_dequant_t *parts)
{
    if (!node->op_type || !s_is (node, "DequantizeLinear") || node->n_inputs < 2
    ||  node->n_outputs != 1 || zi_node_attr_int (node, "block_size", 0) != 0)
        return false;
    parts->quantized = node->inputs [0];
    parts->scale = node->inputs [1];
    parts->zero = node->n_inputs > 2? node->inputs [2]: -1;
    if (parts->quantized < 0 || !self->values [parts->quantized].known)
        return false;
    const zi_tensor_t *info = &self->values [parts->quantized].info;
    const zi_tensor_t *scale = s_constant (self, parts->scale);
    const zi_tensor_t *zero = s_constant (self, parts->zero);
    parts->dtype = info->dtype;
    if (!s_is_8bit (info->dtype) || !scale || scale->dtype != ZI_F32 || scale->ndim > 1
    ||  (parts->zero >= 0 && (!zero || zero->dtype != info->dtype
                          ||  zi_tensor_count (zero) != zi_tensor_count (scale))))
        return false;
    parts->count = (int64_t) zi_tensor_count (scale);
    parts->axis = -1;
    if (parts->count != 1) {
        int64_t axis = zi_node_attr_int (node, "axis", 1);
        if (axis < 0)
            axis += info->ndim;
        if (axis < 0 || axis >= info->ndim || info->dims [axis] != parts->count)
            return false;
        parts->axis = (int) axis;
    }
    return true;
}

//  Does an activation between the op and QuantizeLinear change nothing
//  the quantizer's saturation does not already do? Quantizing is monotone,
//  so quantize (clip (y, lo, hi)) = clamp (quantize (y), q (lo), q (hi)):
//  exact when q (lo) and q (hi) lie at or beyond the type's range (a Relu
//  when the zero point is the type's lowest value, as tools emit it)
static bool
s_act_folds (const zi_act_t *act, float y_scale, int32_t y_zero, zi_dtype_t dtype)
{
    float low = dtype == ZI_U8? 0: -128, high = dtype == ZI_U8? 255: 127;
    float lo = act->kind == ZI_ACT_RELU? 0: act->alpha;
    float hi = act->kind == ZI_ACT_RELU? INFINITY: act->beta;
    return rintf (lo / y_scale) + (float) y_zero <= low
        && rintf (hi / y_scale) + (float) y_zero >= high;
}

//  The Conv's bias as QLinearConv's int32 one (quantized with scale
//  x_scale * w_scale [channel]), as a new value, or -1 when that is not
//  exact: a DequantizeLinear of int32 with that very scale and zero point
//  0 is taken as it is; a float bias only if quantizing it moves no
//  channel by more than 1/1000 of the output's step
static int
s_qdq_bias (zi_graph_t *self, const s_readers_t *readers, int bias, float x_scale,
            const zi_tensor_t *w_scale, int64_t channels, float y_scale)
{
    const zi_tensor_t *floats = s_constant (self, bias);
    if (!floats || floats->dtype != ZI_F32 || (int64_t) zi_tensor_count (floats) != channels)
        return -1;
    int64_t dims [1] = {channels};
    zi_tensor_t *ints = zi_tensor_new (ZI_I32, 1, dims);
    assert (ints);
    int32_t *to = ints->data;
    const float *w_scales = w_scale->data;
    bool per_channel = zi_tensor_count (w_scale) != 1;
    //  The DequantizeLinear that made it (folded, not yet pruned)
    int made_by = bias < readers->n_values? readers->producer [bias]: -1;
    const zi_node_t *dequant = made_by >= 0? &self->nodes [made_by]: NULL;
    const zi_tensor_t *source = NULL, *source_scale = NULL, *source_zero = NULL;
    if (dequant && s_is (dequant, "DequantizeLinear") && dequant->n_inputs >= 2) {
        source = s_constant (self, dequant->inputs [0]);
        source_scale = s_constant (self, dequant->inputs [1]);
        source_zero = dequant->n_inputs > 2? s_constant (self, dequant->inputs [2]): NULL;
        if (dequant->n_inputs > 2 && dequant->inputs [2] >= 0 && !source_zero)
            source = NULL;
        if (!source || source->dtype != ZI_I32 || (int64_t) zi_tensor_count (source) != channels
        ||  !source_scale || source_scale->dtype != ZI_F32
        ||  (zi_tensor_count (source_scale) != 1
            && (int64_t) zi_tensor_count (source_scale) != channels))
            source = NULL;
        if (source_zero && source_zero->dtype == ZI_I32)
            for (size_t item = 0; item < zi_tensor_count (source_zero); item++)
                if (((const int32_t *) source_zero->data) [item] != 0)
                    source = NULL;
        if (source_zero && source_zero->dtype != ZI_I32)
            source = NULL;
    }
    for (int64_t channel = 0; channel < channels; channel++) {
        float scale = x_scale * w_scales [per_channel? channel: 0];
        if (source) {
            const float *given = source_scale->data;
            float said = given [zi_tensor_count (source_scale) == 1? 0: channel];
            if (said == scale) {
                to [channel] = ((const int32_t *) source->data) [channel];
                continue;
            }
        }
        float value = ((const float *) floats->data) [channel];
        double steps = rint ((double) value / scale);
        if (!(fabs (steps) < 2147483647.0)
        ||  fabs ((double) value - steps * scale) > 1e-3 * y_scale) {
            zi_tensor_destroy (&ints);
            return -1;
        }
        to [channel] = (int32_t) steps;
    }
    return s_new_constant (self, "qdq_bias", ints);
}

int
zi_pass_fuse_qdq (zi_graph_t *self)
{
    int rewrites = 0;
    s_readers_t readers = s_readers_new (self);
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        bool conv = node->op_type && s_is (node, "Conv");
        bool gemm = node->op_type && s_is (node, "Gemm");
        bool matmul = gemm || (node->op_type && s_is (node, "MatMul"));
        //  A Gemm without C (QLinearMatMul has no bias), alpha 1, A as it is
        if (gemm && ((node->n_inputs > 2 && node->inputs [2] >= 0)
                 ||  zi_node_attr_float (node, "alpha", 1.0f) != 1.0f
                 ||  zi_node_attr_int (node, "transA", 0) != 0))
            continue;
        bool transposed = gemm && zi_node_attr_int (node, "transB", 0) != 0;
        if ((!conv && !matmul) || node->act.kind != ZI_ACT_NONE || node->n_outputs != 1
        ||  node->n_inputs < 2 || node->n_inputs > (conv || gemm? 3: 2) || node->opset < 10)
            continue;
        //  X: a DequantizeLinear per tensor, perhaps read by others too
        int x = node->inputs [0], w = node->inputs [1];
        if (x < 0 || w < 0 || x >= readers.n_values || w >= readers.n_values
        ||  self->values [x].constant
        ||  readers.producer [x] < 0 || readers.producer [w] < 0)
            continue;
        int x_made_by = readers.producer [x];
        s_dequant_t x_parts, w_parts;
        if (!s_dequant_parts (self, &self->nodes [x_made_by], &x_parts) || x_parts.count != 1
        ||  self->values [x_parts.quantized].info.ndim < (conv? 3: 2))
            continue;
        //  W: a DequantizeLinear of constants (folded into W), per tensor
        //  or per output channel (Conv's axis 0, MatMul's columns)
        const zi_tensor_t *w_q = NULL;
        if (!s_constant (self, w)
        ||  !s_dequant_parts (self, &self->nodes [readers.producer [w]], &w_parts)
        ||  !(w_q = s_constant (self, w_parts.quantized)))
            continue;
        if (conv && (w_q->ndim < 3 || (w_parts.count != 1 && w_parts.axis != 0)))
            continue;
        if (matmul && (w_q->ndim < 2 || (gemm && w_q->ndim != 2)
                   ||  (w_parts.count != 1 && (w_q->ndim != 2
                                               || w_parts.axis != (transposed? 0: 1)))))
            continue;
        if (gemm && self->values [x_parts.quantized].info.ndim != 2)
            continue;
        //  Then an optional Relu or Clip, then QuantizeLinear per tensor
        int y = node->outputs [0];
        int next = s_readers_sole (&readers, y);
        zi_node_t *act_node = NULL;
        zi_act_t act = {0};
        if (next >= 0 && !s_is (&self->nodes [next], "QuantizeLinear")) {
            act_node = &self->nodes [next];
            if (!s_activation (self, act_node, &act) || act_node->inputs [0] != y
            ||  act_node->n_outputs != 1
            ||  (act.kind != ZI_ACT_RELU && act.kind != ZI_ACT_CLIP))
                continue;
            y = act_node->outputs [0];
            next = s_readers_sole (&readers, y);
        }
        if (next < 0 || !s_is (&self->nodes [next], "QuantizeLinear"))
            continue;
        zi_node_t *quant = &self->nodes [next];
        int y_zero = quant->n_inputs > 2? quant->inputs [2]: -1;
        const zi_tensor_t *y_scale = s_constant (self, quant->inputs [1]);
        const zi_tensor_t *y_zero_t = s_constant (self, y_zero);
        if (quant->inputs [0] != y || quant->n_outputs != 1 || !y_scale
        ||  y_scale->dtype != ZI_F32 || zi_tensor_count (y_scale) != 1
        ||  (y_zero >= 0 && (!y_zero_t || !s_is_8bit (y_zero_t->dtype)
                          || zi_tensor_count (y_zero_t) != 1))
        ||  (y_zero < 0 && zi_node_attr (quant, "output_dtype")))
            continue;
        zi_dtype_t y_type = y_zero_t? y_zero_t->dtype: ZI_U8;
        float y_step = *(const float *) y_scale->data;
        int32_t y_zero_value = !y_zero_t? 0: y_type == ZI_U8? *(const uint8_t *) y_zero_t->data
                                                            : *(const int8_t *) y_zero_t->data;
        if (act_node && !s_act_folds (&act, y_step, y_zero_value, y_type))
            continue;
        //  The bias, when there is one, in int32
        int bias = -1;
        if (conv && node->n_inputs > 2 && node->inputs [2] >= 0) {
            float x_step = *(const float *) s_constant (self, x_parts.scale)->data;
            bias = s_qdq_bias (self, &readers, node->inputs [2], x_step,
                               s_constant (self, w_parts.scale), w_q->dims [0], y_step);
            if (bias < 0)
                continue;
        }
        //  Rewrite: X, its scale and zero point, W's three, Y's two, bias
        int x_zero = x_parts.zero >= 0? x_parts.zero: s_new_zero (self, x_parts.dtype);
        int w_zero = w_parts.zero >= 0? w_parts.zero: s_new_zero (self, w_parts.dtype);
        if (y_zero < 0)
            y_zero = s_new_zero (self, ZI_U8);
        //  Gemm's B^T: QLinearMatMul wants [K, N], so the 8-bit weights
        //  are transposed once here, and once for every Gemm of the
        //  model (and every plan) that reads them
        int weights = w_parts.quantized;
        if (transposed) {
            zi_folded_key_t key = {.recipe = "qdq weights transposed", .sources = {w_q}};
            zi_tensor_t *turned = zi_folded_find (self->folded, &key);
            if (!turned) {
                int64_t dims [2] = {w_q->dims [1], w_q->dims [0]};
                turned = zi_tensor_new (w_q->dtype, 2, dims);
                assert (turned);
                const uint8_t *from = w_q->data;
                uint8_t *to = turned->data;
                for (int64_t row = 0; row < dims [0]; row++)
                    for (int64_t col = 0; col < dims [1]; col++)
                        to [row * dims [1] + col] = from [col * dims [0] + row];
                turned = zi_folded_keep (self->folded, &key, &turned);
            }
            weights = s_new_constant (self, "qdq_weights_transposed", turned);
            zi_node_set_int (node, "transB", 0);
        }
        int inputs [9] = {x_parts.quantized, x_parts.scale, x_zero, weights,
                          w_parts.scale, w_zero, quant->inputs [1], y_zero, bias};
        int n_inputs = bias >= 0? 9: 8;
        s_readers_note (&readers, node, index, -1);
        int *slots = realloc (node->inputs, n_inputs * sizeof (int));
        assert (slots);
        memcpy (slots, inputs, n_inputs * sizeof (int));
        node->inputs = slots;
        node->n_inputs = n_inputs;
        s_readers_note (&readers, node, index, 1);
        if (s_retype (node, conv? "QLinearConv": "QLinearMatMul")) {
            s_readers_destroy (&readers);
            return -1;
        }
        node->outputs [0] = quant->outputs [0];
        if (node->outputs [0] < readers.n_values)
            readers.producer [node->outputs [0]] = index;
        s_readers_note (&readers, quant, next, -1);
        s_kill (quant);
        if (act_node) {
            s_readers_note (&readers, act_node, (int) (act_node - self->nodes), -1);
            s_kill (act_node);
        }
        //  X's DequantizeLinear is left to prune: other nodes or the
        //  graph's outputs may still read it
        rewrites++;
    }
    s_readers_destroy (&readers);
    return rewrites;
}
