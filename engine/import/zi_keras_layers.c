/*  =========================================================================
    zi_keras_layers - one builder per Keras layer class

    Each builder turns one call of a layer into nodes: the main node takes
    the layer's name, helpers take the layer's name and a suffix, and the
    last node's output is named after the layer. 4-d tensors are NCHW in
    the graph; shapes are tracked as Keras has them (channels last).
    =========================================================================
*/

#include "zi_keras.h"
#include <ctype.h>

typedef int (s_builder_fn) (zi_keras_t *self, const zi_keras_call_t *call,
                            zi_keras_tensor_t *out);

//  The name of a call's result value: the layer's, or layer_N for its
//  N-th call
static const char *
s_out_name (const zi_keras_call_t *call, char *buffer, size_t size)
{
    if (call->node_index == 0)
        return call->layer;
    snprintf (buffer, size, "%s_%d", call->layer, call->node_index + 1);
    return buffer;
}

//  A helper node's name: layer/suffix
static const char *
s_sub_name (const zi_keras_call_t *call, const char *suffix, char *buffer, size_t size)
{
    snprintf (buffer, size, "%s/%s", call->layer, suffix);
    return buffer;
}

//  A Keras axis (negative counts from the end) as the graph's axis
static int
s_axis (int axis, int ndim)
{
    if (axis < 0)
        axis += ndim;
    if (ndim == 4 && axis > 0)
        return axis == 3? 1: axis + 1;
    return axis;
}

static int
s_pair (zi_keras_call_t const *call, const char *key, int64_t fallback, int64_t *pair)
{
    json_object *value = zi_keras_get (call->config, key);
    if (!value) {
        pair [0] = pair [1] = fallback;
        return 0;
    }
    int count = zi_keras_ints (value, pair, 2);
    if (count == 1)
        pair [1] = pair [0];
    if (count < 1 || pair [0] < 1 || pair [1] < 1)
        return zi_error ("'%s' must be a positive number or two of them", key);
    return 0;
}

static int
s_padding (const zi_keras_call_t *call, bool *same)
{
    const char *padding = zi_keras_string (call->config, "padding", "valid");
    *same = strcmp (padding, "same") == 0;
    if (!*same && strcmp (padding, "valid"))
        return zi_error ("padding '%s' is not supported (supported: same, valid)", padding);
    return 0;
}

static int
s_channels_last (const zi_keras_call_t *call)
{
    const char *format = zi_keras_string (call->config, "data_format", "channels_last");
    if (strcmp (format, "channels_last"))
        return zi_error ("data_format '%s' is not supported (supported: channels_last)",
                         format);
    return 0;
}

static int
s_need_rank (const zi_keras_call_t *call, int ndim)
{
    if (call->inputs [0].ndim != ndim)
        return zi_error ("expected a %d-d input (batch included), got %d-d", ndim,
                         call->inputs [0].ndim);
    return 0;
}

//  Output size of a window along one axis, -1 when the input's is unknown
static int64_t
s_window_size (int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same)
{
    if (in < 0)
        return -1;
    if (same)
        return (in + stride - 1) / stride;
    int64_t span = (kernel - 1) * dilation + 1;
    return in < span? 0: (in - span) / stride + 1;
}

static zi_tensor_t *
s_ref (zi_tensor_t *tensor)
{
    return zi_tensor_ref (tensor);
}

//  An activation by its Keras name on input; the result in *value, named
//  output. linear gives an Identity node only if identity is set
static int
s_activation (zi_keras_t *self, const char *node_name, const char *activation,
              int input, int ndim, const char *output, int *value)
{
    char name [300];
    if (strcmp (activation, "relu") == 0)
        zi_keras_node (self, "Relu", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "relu6") == 0) {
        snprintf (name, sizeof name, "%s:min", node_name);
        int low = zi_keras_scalar (self, name, 0);
        snprintf (name, sizeof name, "%s:max", node_name);
        int high = zi_keras_scalar (self, name, 6);
        zi_keras_node (self, "Clip", node_name, 3, (int []) {input, low, high}, output, value);
    }
    else
    if (strcmp (activation, "sigmoid") == 0)
        zi_keras_node (self, "Sigmoid", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "hard_sigmoid") == 0) {
        //  Keras 2 and tfjs: clip (0.2 x + 0.5, 0, 1); Keras 3: relu6 (x +
        //  3) / 6, clip (x / 6 + 0.5, 0, 1)
        zi_node_t *node = zi_keras_node (self, "HardSigmoid", node_name, 1, &input,
                                         output, value);
        zi_node_set_float (node, "alpha", self->keras3? 1 / 6.0f: 0.2f);
        zi_node_set_float (node, "beta", 0.5f);
    }
    else
    if (strcmp (activation, "hard_swish") == 0 || strcmp (activation, "hard_silu") == 0)
        zi_keras_node (self, "HardSwish", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "swish") == 0 || strcmp (activation, "silu") == 0) {
        int gate;
        snprintf (name, sizeof name, "%s/sigmoid", node_name);
        zi_keras_node (self, "Sigmoid", name, 1, &input, NULL, &gate);
        zi_keras_node (self, "Mul", node_name, 2, (int []) {input, gate}, output, value);
    }
    else
    if (strcmp (activation, "gelu") == 0) {
        //  Exact, as Keras's default: x (1 + erf (x / sqrt 2)) / 2
        int scaled, erf, shifted, product;
        snprintf (name, sizeof name, "%s:sqrt2", node_name);
        int root = zi_keras_scalar (self, name, 1.41421356f);
        snprintf (name, sizeof name, "%s:one", node_name);
        int one = zi_keras_scalar (self, name, 1);
        snprintf (name, sizeof name, "%s:half", node_name);
        int half = zi_keras_scalar (self, name, 0.5f);
        snprintf (name, sizeof name, "%s/div", node_name);
        zi_keras_node (self, "Div", name, 2, (int []) {input, root}, NULL, &scaled);
        snprintf (name, sizeof name, "%s/erf", node_name);
        zi_keras_node (self, "Erf", name, 1, &scaled, NULL, &erf);
        snprintf (name, sizeof name, "%s/add", node_name);
        zi_keras_node (self, "Add", name, 2, (int []) {erf, one}, NULL, &shifted);
        snprintf (name, sizeof name, "%s/mul", node_name);
        zi_keras_node (self, "Mul", name, 2, (int []) {input, shifted}, NULL, &product);
        zi_keras_node (self, "Mul", node_name, 2, (int []) {product, half}, output, value);
    }
    else
    if (strcmp (activation, "tanh") == 0)
        zi_keras_node (self, "Tanh", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "softmax") == 0) {
        zi_node_t *node = zi_keras_node (self, "Softmax", node_name, 1, &input, output, value);
        zi_node_set_int (node, "axis", ndim == 4? 1: -1);
    }
    else
    if (strcmp (activation, "elu") == 0)
        zi_keras_node (self, "Elu", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "selu") == 0)
        zi_keras_node (self, "Selu", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "softplus") == 0)
        zi_keras_node (self, "Softplus", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "softsign") == 0)
        zi_keras_node (self, "Softsign", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "exponential") == 0)
        zi_keras_node (self, "Exp", node_name, 1, &input, output, value);
    else
    if (strcmp (activation, "linear") == 0)
        zi_keras_node (self, "Identity", node_name, 1, &input, output, value);
    else
        return zi_error ("activation '%s' is not supported (supported: relu, relu6, sigmoid, "
                         "hard_sigmoid, swish, silu, hard_swish, hard_silu, gelu, tanh, softmax, elu, selu, "
                         "softplus, softsign, exponential, linear)", activation);
    return 0;
}

//  The layer's own activation after its main node: main_output is NULL
//  (a made name) when one follows, else the layer's name
static const char *
s_layer_activation (const zi_keras_call_t *call)
{
    const char *activation = zi_keras_string (call->config, "activation", "linear");
    return strcmp (activation, "linear")? activation: NULL;
}

static int
s_finish_activation (zi_keras_t *self, const zi_keras_call_t *call, int value, int ndim,
                     const char *output, zi_keras_tensor_t *out)
{
    const char *activation = s_layer_activation (call);
    out->value = value;
    if (activation) {
        char name [300];
        s_sub_name (call, activation, name, sizeof name);
        return s_activation (self, name, activation, value, ndim, output, &out->value);
    }
    return 0;
}

//  --------------------------------------------------------------------------

//  Adds the layer's bias of `filters` values as the next Conv input,
//  unless the layer says use_bias false
static int
s_bias_input (zi_keras_t *self, const zi_keras_call_t *call, int64_t filters, int *inputs,
              int *n_inputs)
{
    if (!zi_keras_number (call->config, "use_bias", 1))
        return 0;
    zi_tensor_t *bias = zi_keras_weight (self, call->layer, "bias", 1, &filters);
    if (!bias)
        return -1;
    char name [300];
    inputs [(*n_inputs)++] = zi_keras_constant (self, s_sub_name (call, "bias", name, sizeof name),
                                                s_ref (bias));
    return 0;
}

//  A Keras convolution's window as Conv attributes, over `rank` axes
static void
s_conv_window (zi_node_t *node, int rank, const int64_t *kernel, const int64_t *strides,
               const int64_t *dilation, int64_t groups, bool same)
{
    zi_node_set_ints (node, "kernel_shape", rank, kernel);
    zi_node_set_ints (node, "strides", rank, strides);
    zi_node_set_ints (node, "dilations", rank, dilation);
    zi_node_set_int (node, "group", groups);
    zi_node_set_string (node, "auto_pad", same? "SAME_UPPER": "VALID");
}

static int
s_conv2d (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    bool depthwise = strcmp (call->class_name, "DepthwiseConv2D") == 0;
    int64_t kernel [2], strides [2], dilation [2];
    bool same;
    if (s_need_rank (call, 4) || s_channels_last (call) || s_padding (call, &same)
    ||  s_pair (call, "kernel_size", 0, kernel) || s_pair (call, "strides", 1, strides)
    ||  s_pair (call, "dilation_rate", 1, dilation))
        return -1;
    int64_t channels = x->dims [3];
    int64_t groups = depthwise? channels: (int64_t) zi_keras_number (call->config, "groups", 1);
    if (channels < 1 || groups < 1 || channels % groups)
        return zi_error ("input channels %lld and groups %lld do not fit", (long long) channels,
                         (long long) groups);
    if (kernel [0] < 1 || kernel [1] < 1)
        return zi_error ("'kernel_size' is missing");
    int64_t filters, per_group = channels / groups;
    //  A layer called again finds its weights already in the graph, made
    //  from the same Keras kernel: it neither copies nor transposes them
    char name [300];
    s_sub_name (call, "weights", name, sizeof name);
    int weights_value = -1;
    zi_tensor_t *weights = NULL;
    const zi_tensor_t *source;      //  the Keras kernel they are made from
    if (depthwise) {
        int64_t multiplier = (int64_t) zi_keras_number (call->config, "depth_multiplier", 1);
        if (multiplier < 1 || multiplier > INT32_MAX)
            return zi_error ("'depth_multiplier' %lld; expected at least 1",
                             (long long) multiplier);
        filters = channels * multiplier;
        zi_tensor_t *kernel_hwcm = zi_keras_weight (self, call->layer, "depthwise_kernel", 4,
            (int64_t []) {kernel [0], kernel [1], channels, multiplier});
        if (!kernel_hwcm)
            return -1;
        source = kernel_hwcm;
        weights_value = zi_keras_derived (self, name, source);
        //  HWCM -> (C M) 1 H W
        if (weights_value < 0)
            weights = zi_tensor_new (ZI_F32, 4, (int64_t []) {filters, 1, kernel [0],
                                                              kernel [1]});
        const float *from = kernel_hwcm->data;
        float *to = weights? weights->data: NULL;
        for (int64_t h = 0; to && h < kernel [0]; h++)
            for (int64_t w = 0; w < kernel [1]; w++)
                for (int64_t c = 0; c < channels; c++)
                    for (int64_t m = 0; m < multiplier; m++)
                        to [((c * multiplier + m) * kernel [0] + h) * kernel [1] + w] =
                            from [((h * kernel [1] + w) * channels + c) * multiplier + m];
    }
    else {
        filters = (int64_t) zi_keras_number (call->config, "filters", 0);
        if (filters < 1 || filters > INT32_MAX)
            return zi_error ("'filters' %lld; expected at least 1", (long long) filters);
        zi_tensor_t *kernel_hwio = zi_keras_weight (self, call->layer, "kernel", 4,
            (int64_t []) {kernel [0], kernel [1], per_group, filters});
        if (!kernel_hwio)
            return -1;
        source = kernel_hwio;
        weights_value = zi_keras_derived (self, name, source);
        //  HWIO -> OIHW
        if (weights_value < 0)
            weights = zi_tensor_new (ZI_F32, 4, (int64_t []) {filters, per_group, kernel [0],
                                                              kernel [1]});
        const float *from = kernel_hwio->data;
        float *to = weights? weights->data: NULL;
        for (int64_t h = 0; to && h < kernel [0]; h++)
            for (int64_t w = 0; w < kernel [1]; w++)
                for (int64_t i = 0; i < per_group; i++)
                    for (int64_t o = 0; o < filters; o++)
                        to [((o * per_group + i) * kernel [0] + h) * kernel [1] + w] =
                            from [((h * kernel [1] + w) * per_group + i) * filters + o];
    }
    if (weights_value < 0) {
        weights_value = zi_keras_constant (self, name, weights);
        zi_keras_derive (self, name, source, weights_value);
    }
    int inputs [3] = {x->value, weights_value};
    int n_inputs = 2;
    if (s_bias_input (self, call, filters, inputs, &n_inputs))
        return -1;
    char buffer [300];
    const char *output = s_layer_activation (call)? NULL: s_out_name (call, buffer, sizeof buffer);
    int value;
    zi_node_t *node = zi_keras_node (self, "Conv", call->layer, n_inputs, inputs, output, &value);
    s_conv_window (node, 2, kernel, strides, dilation, groups, same);
    out->ndim = 4;
    out->dims [0] = x->dims [0];
    for (int axis = 0; axis < 2; axis++)
        out->dims [1 + axis] = s_window_size (x->dims [1 + axis], kernel [axis], strides [axis],
                                              dilation [axis], same);
    out->dims [3] = filters;
    return s_finish_activation (self, call, value, 4,
                                s_out_name (call, buffer, sizeof buffer), out);
}

static int
s_dense (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t units = (int64_t) zi_keras_number (call->config, "units", 0);
    int64_t in = x->dims [x->ndim - 1];
    if (x->ndim < 2 || in < 1 || units < 1)
        return zi_error ("needs an input of known last size and 'units'");
    zi_tensor_t *kernel = zi_keras_weight (self, call->layer, "kernel", 2,
                                           (int64_t []) {in, units});
    if (!kernel)
        return -1;
    bool use_bias = zi_keras_number (call->config, "use_bias", 1) != 0;
    zi_tensor_t *bias = use_bias? zi_keras_weight (self, call->layer, "bias", 1, &units): NULL;
    if (use_bias && !bias)
        return -1;
    char name [300], buffer [300];
    const char *output = s_layer_activation (call)? NULL: s_out_name (call, buffer, sizeof buffer);
    int weights = zi_keras_constant (self, s_sub_name (call, "kernel", name, sizeof name),
                                     s_ref (kernel));
    int biases = bias? zi_keras_constant (self, s_sub_name (call, "bias", name, sizeof name),
                                          s_ref (bias)): -1;
    int value;
    if (x->ndim == 2)
        zi_keras_node (self, "Gemm", call->layer, bias? 3: 2,
                       (int []) {x->value, weights, biases}, output, &value);
    else {
        //  On the last axis; a 4-d input goes channels last for it and back
        int input = x->value;
        if (x->ndim == 4)
            input = zi_keras_transpose (self, s_sub_name (call, "to_nhwc", name, sizeof name),
                                        input, false, NULL);
        bool last = !bias && x->ndim != 4;
        zi_keras_node (self, "MatMul", call->layer, 2, (int []) {input, weights},
                       last? output: NULL, &value);
        if (bias)
            zi_keras_node (self, "Add", s_sub_name (call, "bias_add", name, sizeof name), 2,
                           (int []) {value, biases}, x->ndim == 4? NULL: output, &value);
        if (x->ndim == 4)
            value = zi_keras_transpose (self, s_sub_name (call, "to_nchw", name, sizeof name),
                                        value, true, output);
    }
    out->ndim = x->ndim;
    memcpy (out->dims, x->dims, sizeof out->dims);
    out->dims [x->ndim - 1] = units;
    return s_finish_activation (self, call, value, x->ndim,
                                s_out_name (call, buffer, sizeof buffer), out);
}

static int
s_batchnorm (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t axes [1];
    int count = zi_keras_ints (zi_keras_get (call->config, "axis"), axes, 1);
    int axis = count == 1? (int) axes [0]: -1;
    if (axis < 0)
        axis += x->ndim;
    if (axis != x->ndim - 1 || (x->ndim != 2 && x->ndim != 4))
        return zi_error ("normalizing axis %d of a %d-d input is not supported (only the "
                         "channels, last, of a 2-d or 4-d input)", axis, x->ndim);
    int64_t channels = x->dims [axis];
    float epsilon = (float) zi_keras_number (call->config, "epsilon", 1e-3);
    const char *names [4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    bool present [4] = {zi_keras_number (call->config, "scale", 1) != 0,
                        zi_keras_number (call->config, "center", 1) != 0, true, true};
    int inputs [5] = {x->value};
    char name [300], buffer [300];
    for (int index = 0; index < 4; index++) {
        zi_tensor_t *tensor;
        if (present [index]) {
            zi_tensor_t *weight = zi_keras_weight (self, call->layer, names [index], 1, &channels);
            if (!weight)
                return -1;
            channels = weight->dims [0];
            tensor = s_ref (weight);
        }
        else {
            tensor = zi_tensor_new (ZI_F32, 1, &channels);
            for (int64_t item = 0; item < channels; item++)
                ((float *) tensor->data) [item] = index == 0? 1: 0;
        }
        inputs [1 + index] = zi_keras_constant (self, s_sub_name (call, names [index], name,
                                                                  sizeof name), tensor);
    }
    zi_node_t *node = zi_keras_node (self, "BatchNormalization", call->layer, 5, inputs,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_float (node, "epsilon", epsilon);
    *out = (zi_keras_tensor_t) {.value = out->value, .ndim = x->ndim};
    memcpy (out->dims, x->dims, sizeof out->dims);
    return 0;
}

static void
s_same_shape (const zi_keras_tensor_t *x, zi_keras_tensor_t *out)
{
    out->ndim = x->ndim;
    memcpy (out->dims, x->dims, sizeof out->dims);
}

static int
s_activation_layer (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    char buffer [300];
    s_same_shape (&call->inputs [0], out);
    return s_activation (self, call->layer,
                         zi_keras_string (call->config, "activation", "linear"),
                         call->inputs [0].value, call->inputs [0].ndim,
                         s_out_name (call, buffer, sizeof buffer), &out->value);
}

//  max_value above, threshold and negative_slope below: x from threshold
//  up, negative_slope (x - threshold) under it, then at most max_value
static int
s_relu (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    double max_value = zi_keras_number (call->config, "max_value", -1);
    double slope = zi_keras_number (call->config, "negative_slope", 0);
    double threshold = zi_keras_number (call->config, "threshold", 0);
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    int input = call->inputs [0].value;
    s_same_shape (&call->inputs [0], out);
    bool clip = max_value >= 0;
    if (threshold == 0 && slope == 0 && clip) {
        int low = zi_keras_scalar (self, s_sub_name (call, "min", name, sizeof name), 0);
        int high = zi_keras_scalar (self, s_sub_name (call, "max", name, sizeof name),
                                    (float) max_value);
        zi_keras_node (self, "Clip", call->layer, 3, (int []) {input, low, high}, output,
                       &out->value);
        return 0;
    }
    int value;
    if (threshold == 0 && slope == 0)
        zi_keras_node (self, "Relu", clip? s_sub_name (call, "relu", name, sizeof name):
                       call->layer, 1, &input, clip? NULL: output, &value);
    else
    if (threshold == 0) {
        zi_node_t *node = zi_keras_node (self, "LeakyRelu",
                                         clip? s_sub_name (call, "leaky", name, sizeof name):
                                         call->layer, 1, &input, clip? NULL: output, &value);
        zi_node_set_float (node, "alpha", (float) slope);
    }
    else {
        int cut = zi_keras_scalar (self, s_sub_name (call, "threshold", name, sizeof name),
                                   (float) threshold);
        int factor = zi_keras_scalar (self, s_sub_name (call, "slope", name, sizeof name),
                                      (float) slope);
        int above, shifted, leak;
        zi_keras_node (self, "GreaterOrEqual", s_sub_name (call, "above", name, sizeof name), 2,
                       (int []) {input, cut}, NULL, &above);
        zi_keras_node (self, "Sub", s_sub_name (call, "shift", name, sizeof name), 2,
                       (int []) {input, cut}, NULL, &shifted);
        zi_keras_node (self, "Mul", s_sub_name (call, "leak", name, sizeof name), 2,
                       (int []) {shifted, factor}, NULL, &leak);
        zi_keras_node (self, "Where", clip? s_sub_name (call, "select", name, sizeof name):
                       call->layer, 3, (int []) {above, input, leak}, clip? NULL: output,
                       &value);
    }
    if (clip) {
        int high = zi_keras_scalar (self, s_sub_name (call, "max", name, sizeof name),
                                    (float) max_value);
        zi_keras_node (self, "Min", call->layer, 2, (int []) {value, high}, output, &value);
    }
    out->value = value;
    return 0;
}

static int
s_leaky_relu (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    char buffer [300];
    s_same_shape (&call->inputs [0], out);
    zi_node_t *node = zi_keras_node (self, "LeakyRelu", call->layer, 1, &call->inputs [0].value,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_float (node, "alpha", (float) zi_keras_number (call->config, "alpha", 0.3));
    return 0;
}

static int
s_softmax (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    char buffer [300];
    int64_t axes [1];
    int axis = zi_keras_ints (zi_keras_get (call->config, "axis"), axes, 1) == 1?
        (int) axes [0]: -1;
    s_same_shape (&call->inputs [0], out);
    zi_node_t *node = zi_keras_node (self, "Softmax", call->layer, 1, &call->inputs [0].value,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_int (node, "axis", s_axis (axis, call->inputs [0].ndim));
    return 0;
}

//  Add, Subtract, Multiply, Maximum, Minimum, Average
static int
s_merge (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const char *class_name = call->class_name;
    if (call->n_inputs < 2)
        return zi_error ("needs at least two inputs, got %d", call->n_inputs);
    for (int index = 1; index < call->n_inputs; index++)
        if (call->inputs [index].ndim != call->inputs [0].ndim)
            return zi_error ("inputs of different ranks (%d and %d)", call->inputs [0].ndim,
                             call->inputs [index].ndim);
    int inputs [ZI_KERAS_MAX_INPUTS];
    for (int index = 0; index < call->n_inputs; index++)
        inputs [index] = call->inputs [index].value;
    const char *op = strcmp (class_name, "Add") == 0? (call->n_inputs == 2? "Add": "Sum"):
                     strcmp (class_name, "Subtract") == 0? "Sub":
                     strcmp (class_name, "Multiply") == 0? "Mul":
                     strcmp (class_name, "Maximum") == 0? "Max":
                     strcmp (class_name, "Minimum") == 0? "Min": "Mean";
    if (strcmp (op, "Sub") == 0 && call->n_inputs != 2)
        return zi_error ("Subtract needs exactly two inputs, got %d", call->n_inputs);
    char buffer [300], name [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    s_same_shape (&call->inputs [0], out);
    if (strcmp (op, "Mul") == 0) {
        //  Mul takes two inputs: a chain, the last named after the layer
        int value = inputs [0];
        for (int index = 1; index < call->n_inputs; index++) {
            bool last = index == call->n_inputs - 1;
            snprintf (name, sizeof name, "%s/mul_%d", call->layer, index);
            zi_keras_node (self, "Mul", last? call->layer: name, 2,
                           (int []) {value, inputs [index]}, last? output: NULL, &value);
        }
        out->value = value;
    }
    else
        zi_keras_node (self, op, call->layer, call->n_inputs, inputs, output, &out->value);
    return 0;
}

static int
s_concatenate (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int axis = (int) zi_keras_number (call->config, "axis", -1);
    if (axis < 0)
        axis += x->ndim;
    if (axis < 1 || axis >= x->ndim)
        return zi_error ("axis %d of a %d-d input", axis, x->ndim);
    int inputs [ZI_KERAS_MAX_INPUTS];
    s_same_shape (x, out);
    out->dims [axis] = 0;
    for (int index = 0; index < call->n_inputs; index++) {
        if (call->inputs [index].ndim != x->ndim)
            return zi_error ("inputs of different ranks (%d and %d)", x->ndim,
                             call->inputs [index].ndim);
        inputs [index] = call->inputs [index].value;
        int64_t size = call->inputs [index].dims [axis];
        out->dims [axis] = size < 0 || out->dims [axis] < 0? -1: out->dims [axis] + size;
    }
    char buffer [300];
    zi_node_t *node = zi_keras_node (self, "Concat", call->layer, call->n_inputs, inputs,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_int (node, "axis", s_axis (axis, x->ndim));
    return 0;
}

static int
s_zero_padding (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    if (s_need_rank (call, 4) || s_channels_last (call))
        return -1;
    //  1, [1, 2] (each side of height, of width) or [[top, bottom], [left, right]]
    int64_t pads [4];                   //  top, bottom, left, right
    json_object *padding = zi_keras_get (call->config, "padding");
    int64_t pair [2];
    if (zi_keras_is_number (padding))
        pads [0] = pads [1] = pads [2] = pads [3] = json_object_get_int64 (padding);
    else
    if (zi_keras_ints (padding, pair, 2) == 2) {
        pads [0] = pads [1] = pair [0];
        pads [2] = pads [3] = pair [1];
    }
    else
    if (padding && json_object_is_type (padding, json_type_array)
    &&  json_object_array_length (padding) == 2
    &&  zi_keras_ints (json_object_array_get_idx (padding, 0), pads, 2) == 2
    &&  zi_keras_ints (json_object_array_get_idx (padding, 1), pads + 2, 2) == 2)
        ;
    else
        return zi_error ("'padding' must be n, [h, w] or [[top, bottom], [left, right]]");
    for (int index = 0; index < 4; index++)
        if (pads [index] < 0)
            return zi_error ("negative padding");
    char name [300], buffer [300];
    int onnx_pads = zi_keras_ints_constant (self, s_sub_name (call, "pads", name, sizeof name), 8,
        (int64_t []) {0, 0, pads [0], pads [2], 0, 0, pads [1], pads [3]});
    zi_keras_node (self, "Pad", call->layer, 2, (int []) {x->value, onnx_pads},
                   s_out_name (call, buffer, sizeof buffer), &out->value);
    s_same_shape (x, out);
    for (int axis = 0; axis < 2; axis++)
        if (x->dims [1 + axis] >= 0)
            out->dims [1 + axis] = x->dims [1 + axis] + pads [2 * axis] + pads [2 * axis + 1];
    return 0;
}

static int
s_pooling (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t pool [2], strides [2];
    bool same;
    if (s_need_rank (call, 4) || s_channels_last (call) || s_padding (call, &same)
    ||  s_pair (call, "pool_size", 2, pool) || s_pair (call, "strides", 0, strides))
        return -1;
    if (strides [0] == 0)
        memcpy (strides, pool, sizeof strides);
    bool max = strcmp (call->class_name, "MaxPooling2D") == 0;
    char buffer [300];
    zi_node_t *node = zi_keras_node (self, max? "MaxPool": "AveragePool", call->layer, 1,
                                     &x->value, s_out_name (call, buffer, sizeof buffer),
                                     &out->value);
    zi_node_set_ints (node, "kernel_shape", 2, pool);
    zi_node_set_ints (node, "strides", 2, strides);
    zi_node_set_string (node, "auto_pad", same? "SAME_UPPER": "VALID");
    //  TensorFlow averages over the window's part inside the input
    if (!max)
        zi_node_set_int (node, "count_include_pad", 0);
    s_same_shape (x, out);
    for (int axis = 0; axis < 2; axis++)
        out->dims [1 + axis] = s_window_size (x->dims [1 + axis], pool [axis], strides [axis],
                                              1, same);
    return 0;
}

static int
s_global_pooling (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    if (s_need_rank (call, 4) || s_channels_last (call))
        return -1;
    bool keepdims = zi_keras_number (call->config, "keepdims", 0) != 0;
    bool max = strcmp (call->class_name, "GlobalMaxPooling2D") == 0;
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    int value;
    zi_keras_node (self, max? "GlobalMaxPool": "GlobalAveragePool", call->layer, 1, &x->value,
                   keepdims? output: NULL, &value);
    if (!keepdims) {
        zi_node_t *node = zi_keras_node (self, "Flatten", s_sub_name (call, "flatten", name,
                                                                      sizeof name),
                                         1, &value, output, &value);
        zi_node_set_int (node, "axis", 1);
    }
    out->value = value;
    out->ndim = keepdims? 4: 2;
    out->dims [0] = x->dims [0];
    if (keepdims) {
        out->dims [1] = out->dims [2] = 1;
        out->dims [3] = x->dims [3];
    }
    else
        out->dims [1] = x->dims [3];
    return 0;
}

//  The Keras-order (channels last) value of a tensor: 4-d ones transposed
static int
s_keras_order (zi_keras_t *self, const zi_keras_call_t *call, const zi_keras_tensor_t *x)
{
    char name [300];
    if (x->ndim != 4)
        return x->value;
    return zi_keras_transpose (self, s_sub_name (call, "to_nhwc", name, sizeof name), x->value,
                               false, NULL);
}

static int
s_flatten (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    char buffer [300];
    int input = s_keras_order (self, call, x);
    zi_node_t *node = zi_keras_node (self, "Flatten", call->layer, 1, &input,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_int (node, "axis", 1);
    int64_t count = zi_shape_count (x->ndim - 1, x->dims + 1);
    out->ndim = 2;
    out->dims [0] = x->dims [0];
    out->dims [1] = count;
    return 0;
}

static int
s_reshape (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t target [ZI_MAX_DIMS];
    int count = zi_keras_ints (zi_keras_get (call->config, "target_shape"), target,
                               ZI_MAX_DIMS - 1);
    if (count < 1)
        return zi_error ("'target_shape' must be a list of at most %d sizes", ZI_MAX_DIMS - 1);
    int64_t shape [ZI_MAX_DIMS];
    int unknown = -1;
    for (int axis = 0; axis < count; axis++) {
        shape [1 + axis] = target [axis];
        if (target [axis] == -1 && unknown < 0)
            unknown = axis;
        else
        if (target [axis] < 1)
            return zi_error ("'target_shape' [%d] = %lld", axis, (long long) target [axis]);
    }
    //  The batch stays as it is: 0 copies it when another size is -1
    shape [0] = unknown >= 0? 0: -1;
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    int input = s_keras_order (self, call, x);
    int shape_value = zi_keras_ints_constant (self, s_sub_name (call, "shape", name, sizeof name),
                                              count + 1, shape);
    bool to_nchw = count + 1 == 4;
    zi_keras_node (self, "Reshape", call->layer, 2, (int []) {input, shape_value},
                   to_nchw? NULL: output, &out->value);
    if (to_nchw)
        out->value = zi_keras_transpose (self, s_sub_name (call, "to_nchw", name, sizeof name),
                                         out->value, true, output);
    out->ndim = count + 1;
    out->dims [0] = x->dims [0];
    memcpy (out->dims + 1, target, count * sizeof (int64_t));
    if (unknown >= 0) {
        int64_t all = zi_shape_count (x->ndim - 1, x->dims + 1), known = 1;
        for (int axis = 0; axis < count; axis++)
            known *= axis == unknown? 1: target [axis];
        out->dims [1 + unknown] = all >= 0 && known > 0? all / known: -1;
    }
    return 0;
}

static int
s_identity (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    char buffer [300];
    s_same_shape (&call->inputs [0], out);
    zi_keras_node (self, "Identity", call->layer, 1, &call->inputs [0].value,
                   s_out_name (call, buffer, sizeof buffer), &out->value);
    return 0;
}

static int
s_rescaling (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    json_object *scale = zi_keras_get (call->config, "scale");
    json_object *offset = zi_keras_get (call->config, "offset");
    if ((scale && !zi_keras_is_number (scale)) || (offset && !zi_keras_is_number (offset)))
        return zi_error ("only a number as 'scale' and 'offset' is supported");
    float offset_value = (float) zi_keras_number (call->config, "offset", 0);
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    int factor = zi_keras_scalar (self, s_sub_name (call, "scale", name, sizeof name),
                                  (float) zi_keras_number (call->config, "scale", 1));
    s_same_shape (&call->inputs [0], out);
    zi_keras_node (self, "Mul", call->layer, 2, (int []) {call->inputs [0].value, factor},
                   offset_value? NULL: output, &out->value);
    if (offset_value) {
        int shift = zi_keras_scalar (self, s_sub_name (call, "offset", name, sizeof name),
                                     offset_value);
        zi_keras_node (self, "Add", s_sub_name (call, "add_offset", name, sizeof name), 2,
                       (int []) {out->value, shift}, output, &out->value);
    }
    return 0;
}

//  TFOpLambda: a TensorFlow function called on Keras tensors. The first
//  argument is the call's input; the second, for binary functions, is the
//  keyword 'y': a tensor reference, a number or a list of numbers
static int
s_tf_op (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    static const struct {
        const char *function;   //  as Keras records it
        const char *op;         //  what it becomes
        bool binary;            //  takes y
    } s_functions [] = {
        {"__operators__.add", "Add", true}, {"math.add", "Add", true},
        {"math.subtract", "Sub", true}, {"__operators__.sub", "Sub", true},
        {"math.multiply", "Mul", true}, {"__operators__.mul", "Mul", true},
        {"math.truediv", "Div", true}, {"math.divide", "Div", true},
        {"__operators__.truediv", "Div", true},
        {"math.maximum", "Max", true}, {"math.minimum", "Min", true},
        {"math.pow", "Pow", true},
        {"nn.relu", "Relu", false}, {"nn.relu6", "relu6", false},
        {"math.sigmoid", "Sigmoid", false}, {"nn.sigmoid", "Sigmoid", false},
        {"math.tanh", "Tanh", false}, {"nn.silu", "swish", false}, {"nn.swish", "swish", false},
        {"math.negative", "Neg", false}, {"math.abs", "Abs", false},
        {"math.sqrt", "Sqrt", false}, {"math.exp", "Exp", false},
    };
    const char *function = zi_keras_string (call->config, "function", "");
    int which = -1;
    for (size_t index = 0; index < sizeof s_functions / sizeof s_functions [0]; index++)
        if (strcmp (s_functions [index].function, function) == 0)
            which = (int) index;
    if (which < 0) {
        char known [1024] = "";
        for (size_t index = 0; index < sizeof s_functions / sizeof s_functions [0]; index++)
            snprintf (known + strlen (known), sizeof known - strlen (known), "%s%s",
                      index? ", ": "", s_functions [index].function);
        return zi_error ("TensorFlow function '%s' is not supported (supported: %s)",
                         function, known);
    }
    const zi_keras_tensor_t *x = &call->inputs [0];
    const char *op = s_functions [which].op;
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    s_same_shape (x, out);
    if (!s_functions [which].binary) {
        if (strcmp (op, "relu6") == 0 || strcmp (op, "swish") == 0)
            return s_activation (self, call->layer, op, x->value, x->ndim, output, &out->value);
        zi_keras_node (self, op, call->layer, 1, &x->value, output, &out->value);
        return 0;
    }
    json_object *y = zi_keras_get (call->kwargs, "y");
    int other;
    if (zi_keras_is_number (y))
        other = zi_keras_scalar (self, s_sub_name (call, "y", name, sizeof name),
                                 (float) json_object_get_double (y));
    else
    if (zi_keras_lookup (self, y)) {
        const zi_keras_tensor_t *tensor = zi_keras_lookup (self, y);
        if (tensor->ndim != x->ndim && tensor->ndim != 0 && x->ndim == 4)
            return zi_error ("y of rank %d with x of rank 4 is not supported", tensor->ndim);
        other = tensor->value;
    }
    else
    if (y && json_object_is_type (y, json_type_array)) {
        //  Constants broadcast against the last axis, which for a 4-d
        //  tensor is the graph's axis 1: [C] becomes [C, 1, 1]
        int64_t count = (int64_t) json_object_array_length (y);
        zi_tensor_t *tensor = x->ndim == 4?
            zi_tensor_new (ZI_F32, 3, (int64_t []) {count, 1, 1}):
            zi_tensor_new (ZI_F32, 1, &count);
        for (int64_t item = 0; item < count; item++) {
            json_object *number = json_object_array_get_idx (y, item);
            if (!zi_keras_is_number (number)) {
                zi_tensor_destroy (&tensor);
                return zi_error ("'y' is a list of something other than numbers");
            }
            ((float *) tensor->data) [item] = (float) json_object_get_double (number);
        }
        other = zi_keras_constant (self, s_sub_name (call, "y", name, sizeof name), tensor);
    }
    else
        return zi_error ("'%s' needs its second argument 'y' as a number, a list of numbers "
                         "or a Keras tensor", function);
    zi_keras_node (self, op, call->layer, 2, (int []) {x->value, other}, output, &out->value);
    return 0;
}

//  --------------------------------------------------------------------------
//  Convolutions besides Conv2D

//  Keras's Conv2D kernel, HWIO, as ONNX's OIHW
static zi_tensor_t *
s_hwio_to_oihw (const zi_tensor_t *kernel, int64_t height, int64_t width, int64_t in,
                int64_t out)
{
    zi_tensor_t *weights = zi_tensor_new (ZI_F32, 4, (int64_t []) {out, in, height, width});
    assert (weights);
    const float *from = kernel->data;
    float *to = weights->data;
    for (int64_t h = 0; h < height; h++)
        for (int64_t w = 0; w < width; w++)
            for (int64_t i = 0; i < in; i++)
                for (int64_t o = 0; o < out; o++)
                    to [((o * in + i) * height + h) * width + w] =
                        from [((h * width + w) * in + i) * out + o];
    return weights;
}

//  A 3-d tensor's two last axes swapped: Keras's [N, L, C] as the [N, C,
//  L] a 1-d Conv takes, and back
static int
s_swap_last (zi_keras_t *self, const char *name, int input, const char *output)
{
    int value;
    zi_node_t *node = zi_keras_node (self, "Transpose", name, 1, &input, output, &value);
    zi_node_set_ints (node, "perm", 3, (int64_t []) {0, 2, 1});
    return value;
}

static int
s_conv1d (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t kernel [2], strides [2], dilation [2];
    bool same;
    if (s_need_rank (call, 3) || s_channels_last (call) || s_padding (call, &same)
    ||  s_pair (call, "kernel_size", 0, kernel) || s_pair (call, "strides", 1, strides)
    ||  s_pair (call, "dilation_rate", 1, dilation))
        return -1;
    if (kernel [0] < 1)
        return zi_error ("'kernel_size' is missing");
    int64_t channels = x->dims [2];
    int64_t groups = (int64_t) zi_keras_number (call->config, "groups", 1);
    int64_t filters = (int64_t) zi_keras_number (call->config, "filters", 0);
    if (channels < 1 || groups < 1 || channels % groups || filters < 1 || filters > INT32_MAX)
        return zi_error ("input channels %lld, groups %lld and filters %lld do not fit",
                         (long long) channels, (long long) groups, (long long) filters);
    int64_t per_group = channels / groups;
    zi_tensor_t *kernel_wio = zi_keras_weight (self, call->layer, "kernel", 3,
                                               (int64_t []) {kernel [0], per_group, filters});
    if (!kernel_wio)
        return -1;
    //  WIO -> OIW
    zi_tensor_t *weights = zi_tensor_new (ZI_F32, 3, (int64_t []) {filters, per_group,
                                                                  kernel [0]});
    assert (weights);
    for (int64_t w = 0; w < kernel [0]; w++)
        for (int64_t i = 0; i < per_group; i++)
            for (int64_t o = 0; o < filters; o++)
                ((float *) weights->data) [(o * per_group + i) * kernel [0] + w] =
                    ((const float *) kernel_wio->data) [(w * per_group + i) * filters + o];
    char name [300], buffer [300];
    int inputs [3] = {s_swap_last (self, s_sub_name (call, "to_ncl", name, sizeof name),
                                   x->value, NULL),
                      zi_keras_constant (self, s_sub_name (call, "weights", name, sizeof name),
                                         weights)};
    int n_inputs = 2;
    if (s_bias_input (self, call, filters, inputs, &n_inputs))
        return -1;
    int value;
    zi_node_t *node = zi_keras_node (self, "Conv", call->layer, n_inputs, inputs, NULL, &value);
    s_conv_window (node, 1, kernel, strides, dilation, groups, same);
    const char *output = s_layer_activation (call)? NULL: s_out_name (call, buffer, sizeof buffer);
    value = s_swap_last (self, s_sub_name (call, "to_nlc", name, sizeof name), value, output);
    *out = (zi_keras_tensor_t) {.ndim = 3, .dims = {x->dims [0],
        s_window_size (x->dims [1], kernel [0], strides [0], dilation [0], same), filters}};
    return s_finish_activation (self, call, value, 3, s_out_name (call, buffer, sizeof buffer),
                                out);
}

//  A depthwise convolution (each channel by depth_multiplier kernels of
//  its own) and then a 1x1 one across channels
static int
s_separable_conv2d (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t kernel [2], strides [2], dilation [2];
    bool same;
    if (s_need_rank (call, 4) || s_channels_last (call) || s_padding (call, &same)
    ||  s_pair (call, "kernel_size", 0, kernel) || s_pair (call, "strides", 1, strides)
    ||  s_pair (call, "dilation_rate", 1, dilation))
        return -1;
    int64_t channels = x->dims [3];
    //  tfjs leaves depth_multiplier out of the config: then the kernel
    //  says it
    int64_t multiplier = (int64_t) zi_keras_number (call->config, "depth_multiplier", -1);
    int64_t filters = (int64_t) zi_keras_number (call->config, "filters", 0);
    if (kernel [0] < 1 || channels < 1 || multiplier == 0 || multiplier > INT32_MAX
    ||  filters < 1 || filters > INT32_MAX)
        return zi_error ("needs 'kernel_size', known input channels, 'depth_multiplier' and "
                         "'filters' of at least 1");
    zi_tensor_t *depthwise = zi_keras_weight (self, call->layer, "depthwise_kernel", 4,
        (int64_t []) {kernel [0], kernel [1], channels, multiplier});
    if (!depthwise)
        return -1;
    multiplier = depthwise->dims [3];
    int64_t middle = channels * multiplier;
    if (multiplier < 1 || multiplier > INT32_MAX || middle > INT32_MAX)
        return zi_error ("depthwise_kernel's depth multiplier %lld", (long long) multiplier);
    zi_tensor_t *pointwise = zi_keras_weight (self, call->layer, "pointwise_kernel", 4,
                                              (int64_t []) {1, 1, middle, filters});
    if (!pointwise)
        return -1;
    //  HWCM is HWIO of one input per group, M outputs each: (C M) 1 H W
    zi_tensor_t *weights = zi_tensor_new (ZI_F32, 4, (int64_t []) {middle, 1, kernel [0],
                                                                  kernel [1]});
    const float *from = depthwise->data;
    float *to = weights->data;
    for (int64_t h = 0; h < kernel [0]; h++)
        for (int64_t w = 0; w < kernel [1]; w++)
            for (int64_t item = 0; item < middle; item++)
                to [(item * kernel [0] + h) * kernel [1] + w] =
                    from [(h * kernel [1] + w) * middle + item];
    char name [300], buffer [300];
    int value;
    int inputs [3] = {x->value, zi_keras_constant (self, s_sub_name (call, "depthwise_weights",
                                                                     name, sizeof name),
                                                   weights)};
    zi_node_t *node = zi_keras_node (self, "Conv", s_sub_name (call, "depthwise", name,
                                                               sizeof name),
                                     2, inputs, NULL, &value);
    s_conv_window (node, 2, kernel, strides, dilation, channels, same);

    inputs [0] = value;
    inputs [1] = zi_keras_constant (self, s_sub_name (call, "pointwise_weights", name,
                                                      sizeof name),
                                    s_hwio_to_oihw (pointwise, 1, 1, middle, filters));
    int n_inputs = 2;
    if (s_bias_input (self, call, filters, inputs, &n_inputs))
        return -1;
    const char *output = s_layer_activation (call)? NULL: s_out_name (call, buffer, sizeof buffer);
    node = zi_keras_node (self, "Conv", call->layer, n_inputs, inputs, output, &value);
    zi_node_set_ints (node, "kernel_shape", 2, (int64_t []) {1, 1});
    *out = (zi_keras_tensor_t) {.ndim = 4, .dims = {x->dims [0],
        s_window_size (x->dims [1], kernel [0], strides [0], dilation [0], same),
        s_window_size (x->dims [2], kernel [1], strides [1], dilation [1], same), filters}};
    return s_finish_activation (self, call, value, 4, s_out_name (call, buffer, sizeof buffer),
                                out);
}

//  TensorFlow's transposed convolution: 'valid' gives (in - 1) s + k,
//  at least in s; 'same' gives in s, cropping k - s of the full output,
//  the smaller half at the start
static int
s_conv2d_transpose (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t kernel [2], strides [2], dilation [2];
    bool same;
    if (s_need_rank (call, 4) || s_channels_last (call) || s_padding (call, &same)
    ||  s_pair (call, "kernel_size", 0, kernel) || s_pair (call, "strides", 1, strides)
    ||  s_pair (call, "dilation_rate", 1, dilation))
        return -1;
    if (dilation [0] != 1 || dilation [1] != 1 || zi_keras_get (call->config, "output_padding"))
        return zi_error ("'dilation_rate' other than 1 and 'output_padding' are not supported");
    int64_t channels = x->dims [3];
    int64_t filters = (int64_t) zi_keras_number (call->config, "filters", 0);
    if (kernel [0] < 1 || channels < 1 || filters < 1 || filters > INT32_MAX)
        return zi_error ("needs 'kernel_size', known input channels and 'filters' of at "
                         "least 1");
    zi_tensor_t *kernel_hwoi = zi_keras_weight (self, call->layer, "kernel", 4,
        (int64_t []) {kernel [0], kernel [1], filters, channels});
    if (!kernel_hwoi)
        return -1;
    //  H W F C -> C F H W, ConvTranspose's layout
    zi_tensor_t *weights = s_hwio_to_oihw (kernel_hwoi, kernel [0], kernel [1], filters,
                                           channels);
    char name [300], buffer [300];
    int inputs [3] = {x->value, zi_keras_constant (self, s_sub_name (call, "weights", name,
                                                                     sizeof name), weights)};
    int n_inputs = 2;
    if (s_bias_input (self, call, filters, inputs, &n_inputs))
        return -1;
    int64_t pads [4], extra [2];
    *out = (zi_keras_tensor_t) {.ndim = 4, .dims = {x->dims [0], -1, -1, filters}};
    for (int axis = 0; axis < 2; axis++) {
        int64_t total = same && kernel [axis] > strides [axis]? kernel [axis] - strides [axis]: 0;
        pads [axis] = total / 2;
        pads [axis + 2] = total - total / 2;
        extra [axis] = strides [axis] > kernel [axis]? strides [axis] - kernel [axis]: 0;
        if (x->dims [1 + axis] >= 0)
            out->dims [1 + axis] = x->dims [1 + axis] * strides [axis]
                                 + (same? 0: kernel [axis] - strides [axis] + extra [axis]);
    }
    const char *output = s_layer_activation (call)? NULL: s_out_name (call, buffer, sizeof buffer);
    int value;
    zi_node_t *node = zi_keras_node (self, "ConvTranspose", call->layer, n_inputs, inputs,
                                     output, &value);
    zi_node_set_ints (node, "kernel_shape", 2, kernel);
    zi_node_set_ints (node, "strides", 2, strides);
    zi_node_set_ints (node, "pads", 4, pads);
    zi_node_set_ints (node, "output_padding", 2, extra);
    return s_finish_activation (self, call, value, 4, s_out_name (call, buffer, sizeof buffer),
                                out);
}

//  --------------------------------------------------------------------------
//  Normalizations and PReLU

//  The one axis a layer normalizes: its config's 'axis' (a number or a
//  list of one) must be the last
static int
s_last_axis_only (const zi_keras_call_t *call)
{
    int64_t axes [2];
    json_object *value = zi_keras_get (call->config, "axis");
    int count = value? zi_keras_ints (value, axes, 2): 1;
    if (!value)
        axes [0] = -1;
    int ndim = call->inputs [0].ndim;
    if (count != 1 || (axes [0] != -1 && axes [0] != ndim - 1))
        return zi_error ("only the last axis can be normalized, got 'axis' %s",
                         value? json_object_to_json_string (value): "?");
    return 0;
}

//  A per-channel constant shaped to broadcast against the graph's tensor:
//  [C, 1, 1] for a 4-d one (NCHW), [C] otherwise
static zi_tensor_t *
s_channel_constant (int ndim, int64_t channels)
{
    return ndim == 4? zi_tensor_new (ZI_F32, 3, (int64_t []) {channels, 1, 1}):
                      zi_tensor_new (ZI_F32, 1, &channels);
}

static int
s_layer_norm (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    if (s_last_axis_only (call))
        return -1;
    if (zi_keras_number (call->config, "rms_scaling", 0))
        return zi_error ("'rms_scaling' is not supported");
    int64_t channels = x->dims [x->ndim - 1];
    if (x->ndim < 2 || channels < 1)
        return zi_error ("needs an input of known last size");
    const char *names [2] = {"gamma", "beta"};
    bool present [2] = {zi_keras_number (call->config, "scale", 1) != 0,
                        zi_keras_number (call->config, "center", 1) != 0};
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    //  LayerNormalization normalizes the trailing axes: a 4-d tensor goes
    //  channels last for it
    int inputs [3] = {x->ndim == 4? zi_keras_transpose (self, s_sub_name (call, "to_nhwc", name,
                                                                           sizeof name),
                                                        x->value, false, NULL): x->value};
    for (int index = 0; index < 2; index++) {
        zi_tensor_t *tensor;
        if (present [index]) {
            zi_tensor_t *weight = zi_keras_weight (self, call->layer, names [index], 1,
                                                   &channels);
            if (!weight)
                return -1;
            tensor = s_ref (weight);
        }
        else {
            tensor = zi_tensor_new (ZI_F32, 1, &channels);
            for (int64_t item = 0; item < channels; item++)
                ((float *) tensor->data) [item] = index == 0? 1: 0;
        }
        inputs [1 + index] = zi_keras_constant (self, s_sub_name (call, names [index], name,
                                                                  sizeof name), tensor);
    }
    zi_node_t *node = zi_keras_node (self, "LayerNormalization", call->layer, 3, inputs,
                                     x->ndim == 4? NULL: output, &out->value);
    node->opset = 17;
    zi_node_set_int (node, "axis", -1);
    zi_node_set_float (node, "epsilon", (float) zi_keras_number (call->config, "epsilon", 1e-3));
    if (x->ndim == 4)
        out->value = zi_keras_transpose (self, s_sub_name (call, "to_nchw", name, sizeof name),
                                         out->value, true, output);
    s_same_shape (x, out);
    return 0;
}

//  (x - mean) / max (sqrt (variance), 1e-7), per channel, from the config
//  (mean and variance given) or from the weights (adapted)
static int
s_normalization (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    if (s_last_axis_only (call))
        return -1;
    if (zi_keras_number (call->config, "invert", 0))
        return zi_error ("'invert' is not supported");
    int64_t channels = x->dims [x->ndim - 1];
    if (x->ndim < 2 || channels < 1)
        return zi_error ("needs an input of known last size");
    zi_tensor_t *mean = s_channel_constant (x->ndim, channels);
    zi_tensor_t *scale = s_channel_constant (x->ndim, channels);
    const char *names [2] = {"mean", "variance"};
    for (int index = 0; index < 2; index++) {
        json_object *given = zi_keras_get (call->config, names [index]);
        zi_tensor_t *weight = given? NULL: zi_keras_weight (self, call->layer, names [index],
                                                            1, &channels);
        if (!given && !weight) {
            zi_tensor_destroy (&mean);
            zi_tensor_destroy (&scale);
            return -1;
        }
        float *to = index == 0? mean->data: scale->data;
        for (int64_t item = 0; item < channels; item++) {
            json_object *number = !given? NULL: zi_keras_is_number (given)? given:
                json_object_is_type (given, json_type_array)
                && json_object_array_length (given) == (size_t) channels?
                json_object_array_get_idx (given, item): NULL;
            if (given && !zi_keras_is_number (number)) {
                zi_tensor_destroy (&mean);
                zi_tensor_destroy (&scale);
                return zi_error ("'%s' must be a number or a list of %lld numbers",
                                 names [index], (long long) channels);
            }
            float value = given? (float) json_object_get_double (number):
                                 ((float *) weight->data) [item];
            if (index == 0)
                to [item] = value;
            else {
                float deviation = sqrtf (value > 0? value: 0);
                to [item] = 1 / (deviation > 1e-7f? deviation: 1e-7f);
            }
        }
    }
    char name [300], buffer [300];
    int shifted;
    zi_keras_node (self, "Sub", s_sub_name (call, "center", name, sizeof name), 2,
                   (int []) {x->value, zi_keras_constant (self, s_sub_name (call, "mean", name,
                                                                            sizeof name),
                                                          mean)}, NULL, &shifted);
    zi_keras_node (self, "Mul", call->layer, 2,
                   (int []) {shifted, zi_keras_constant (self, s_sub_name (call, "scale", name,
                                                                           sizeof name),
                                                         scale)},
                   s_out_name (call, buffer, sizeof buffer), &out->value);
    s_same_shape (x, out);
    return 0;
}

static int
s_prelu (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    //  alpha has the input's shape without the batch, 1 on shared axes
    int64_t any [ZI_MAX_DIMS];
    for (int axis = 0; axis < ZI_MAX_DIMS; axis++)
        any [axis] = -1;
    zi_tensor_t *alpha = zi_keras_weight (self, call->layer, "alpha", x->ndim - 1, any);
    if (!alpha)
        return -1;
    zi_tensor_t *slope = s_ref (alpha);
    if (x->ndim == 4) {
        //  H W C -> C H W, to broadcast against NCHW
        int64_t h = alpha->dims [0], w = alpha->dims [1], c = alpha->dims [2];
        zi_tensor_destroy (&slope);
        slope = zi_tensor_new (ZI_F32, 3, (int64_t []) {c, h, w});
        for (int64_t y = 0; y < h; y++)
            for (int64_t z = 0; z < w; z++)
                for (int64_t k = 0; k < c; k++)
                    ((float *) slope->data) [(k * h + y) * w + z] =
                        ((float *) alpha->data) [(y * w + z) * c + k];
    }
    char name [300], buffer [300];
    zi_keras_node (self, "PRelu", call->layer, 2,
                   (int []) {x->value, zi_keras_constant (self, s_sub_name (call, "alpha", name,
                                                                            sizeof name),
                                                          slope)},
                   s_out_name (call, buffer, sizeof buffer), &out->value);
    s_same_shape (x, out);
    return 0;
}

//  --------------------------------------------------------------------------
//  Rearranging: Permute, Cropping2D, UpSampling2D

//  Keras axis of graph axis (the graph holds 4-d tensors as NCHW)
static int
s_keras_axis_of (int axis, int ndim)
{
    return ndim == 4? (int []) {0, 3, 1, 2} [axis]: axis;
}

static int
s_permute (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t dims [ZI_MAX_DIMS];
    int count = zi_keras_ints (zi_keras_get (call->config, "dims"), dims, ZI_MAX_DIMS - 1);
    if (count != x->ndim - 1)
        return zi_error ("'dims' must list the %d axes after the batch", x->ndim - 1);
    //  Keras's output axis j is its input axis order [j]; one Transpose
    //  does that between the graph's layouts
    int order [ZI_MAX_DIMS] = {0}, graph_axis [ZI_MAX_DIMS];
    bool seen [ZI_MAX_DIMS] = {false};
    for (int axis = 0; axis < count; axis++) {
        if (dims [axis] < 1 || dims [axis] > count || seen [dims [axis]])
            return zi_error ("'dims' is not a permutation of 1 to %d", count);
        seen [dims [axis]] = true;
        order [axis + 1] = (int) dims [axis];
    }
    for (int axis = 0; axis < x->ndim; axis++)
        graph_axis [s_keras_axis_of (axis, x->ndim)] = axis;
    int64_t perm [ZI_MAX_DIMS];
    out->ndim = x->ndim;
    for (int axis = 0; axis < x->ndim; axis++) {
        perm [axis] = graph_axis [order [s_keras_axis_of (axis, x->ndim)]];
        out->dims [axis] = x->dims [order [axis]];
    }
    char buffer [300];
    zi_node_t *node = zi_keras_node (self, "Transpose", call->layer, 1, &x->value,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_ints (node, "perm", x->ndim, perm);
    return 0;
}

//  n, [h, w] or [[top, bottom], [left, right]], as ZeroPadding2D's
//  padding and Cropping2D's cropping are given
static int
s_four_sides (const zi_keras_call_t *call, const char *key, int64_t *sides)
{
    json_object *value = zi_keras_get (call->config, key);
    int64_t pair [2];
    if (zi_keras_is_number (value))
        sides [0] = sides [1] = sides [2] = sides [3] = json_object_get_int64 (value);
    else
    if (zi_keras_ints (value, pair, 2) == 2) {
        sides [0] = sides [1] = pair [0];
        sides [2] = sides [3] = pair [1];
    }
    else
    if (!value || !json_object_is_type (value, json_type_array)
    ||  json_object_array_length (value) != 2
    ||  zi_keras_ints (json_object_array_get_idx (value, 0), sides, 2) != 2
    ||  zi_keras_ints (json_object_array_get_idx (value, 1), sides + 2, 2) != 2)
        return zi_error ("'%s' must be n, [h, w] or [[top, bottom], [left, right]]", key);
    for (int index = 0; index < 4; index++)
        if (sides [index] < 0)
            return zi_error ("negative '%s'", key);
    return 0;
}

static int
s_cropping (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t crop [4];                   //  top, bottom, left, right
    if (s_need_rank (call, 4) || s_channels_last (call) || s_four_sides (call, "cropping", crop))
        return -1;
    s_same_shape (x, out);
    for (int axis = 0; axis < 2; axis++) {
        int64_t size = x->dims [1 + axis], cut = crop [2 * axis] + crop [2 * axis + 1];
        if (size >= 0 && cut >= size)
            return zi_error ("cropping %lld of a size of %lld leaves nothing", (long long) cut,
                             (long long) size);
        out->dims [1 + axis] = size < 0? -1: size - cut;
    }
    //  Ends count back from the end, so unknown sizes work too
    char name [300], buffer [300];
    int starts = zi_keras_ints_constant (self, s_sub_name (call, "starts", name, sizeof name), 2,
                                         (int64_t []) {crop [0], crop [2]});
    int ends = zi_keras_ints_constant (self, s_sub_name (call, "ends", name, sizeof name), 2,
        (int64_t []) {crop [1]? -crop [1]: INT64_MAX, crop [3]? -crop [3]: INT64_MAX});
    int axes = zi_keras_ints_constant (self, s_sub_name (call, "axes", name, sizeof name), 2,
                                       (int64_t []) {2, 3});
    zi_keras_node (self, "Slice", call->layer, 4, (int []) {x->value, starts, ends, axes},
                   s_out_name (call, buffer, sizeof buffer), &out->value);
    return 0;
}

//  nearest repeats each pixel, as Keras does; bilinear interpolates with
//  half-pixel centres, as tf.image.resize does for Keras
static int
s_upsampling (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    const zi_keras_tensor_t *x = &call->inputs [0];
    int64_t size [2];
    if (s_need_rank (call, 4) || s_channels_last (call) || s_pair (call, "size", 2, size))
        return -1;
    const char *interpolation = zi_keras_string (call->config, "interpolation", "nearest");
    bool bilinear = strcmp (interpolation, "bilinear") == 0;
    if (!bilinear && strcmp (interpolation, "nearest"))
        return zi_error ("interpolation '%s' is not supported (supported: nearest, bilinear)",
                         interpolation);
    char name [300], buffer [300];
    zi_tensor_t *roi = zi_tensor_new (ZI_F32, 1, (int64_t []) {0});
    zi_tensor_t *scales = zi_tensor_new (ZI_F32, 1, (int64_t []) {4});
    float *factors = scales->data;
    factors [0] = factors [1] = 1;
    factors [2] = (float) size [0];
    factors [3] = (float) size [1];
    int inputs [3] = {x->value,
                      zi_keras_constant (self, s_sub_name (call, "roi", name, sizeof name), roi),
                      zi_keras_constant (self, s_sub_name (call, "scales", name, sizeof name),
                                         scales)};
    zi_node_t *node = zi_keras_node (self, "Resize", call->layer, 3, inputs,
                                     s_out_name (call, buffer, sizeof buffer), &out->value);
    zi_node_set_string (node, "mode", bilinear? "linear": "nearest");
    zi_node_set_string (node, "coordinate_transformation_mode",
                        bilinear? "half_pixel": "asymmetric");
    zi_node_set_string (node, "nearest_mode", "floor");
    s_same_shape (x, out);
    for (int axis = 0; axis < 2; axis++)
        if (x->dims [1 + axis] >= 0)
            out->dims [1 + axis] = x->dims [1 + axis] * size [axis];
    return 0;
}

//  Keras 3 records a keras.ops function called on Keras tensors (x + 3,
//  ops.relu6 (x)) as an operation of module keras.src.ops.*, its
//  operands positional: Keras tensors, numbers or lists of numbers
static int
s_keras_op (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    static const struct {
        const char *class_name; //  as Keras 3 records it
        const char *op;         //  the op, or the activation, it becomes
        bool binary;            //  takes two operands
    } s_ops [] = {
        {"Add", "Add", true}, {"Subtract", "Sub", true}, {"Multiply", "Mul", true},
        {"Divide", "Div", true}, {"TrueDivide", "Div", true}, {"Maximum", "Max", true},
        {"Minimum", "Min", true}, {"Power", "Pow", true},
        {"Relu", "relu", false}, {"Relu6", "relu6", false}, {"Sigmoid", "sigmoid", false},
        {"HardSigmoid", "hard_sigmoid", false}, {"HardSilu", "hard_silu", false},
        {"HardSwish", "hard_silu", false}, {"Silu", "silu", false}, {"Swish", "silu", false},
        {"Tanh", "tanh", false}, {"Negative", "Neg", false}, {"Absolute", "Abs", false},
        {"Abs", "Abs", false}, {"Sqrt", "Sqrt", false}, {"Exp", "Exp", false},
    };
    int which = -1;
    for (size_t index = 0; index < sizeof s_ops / sizeof s_ops [0]; index++)
        if (strcmp (s_ops [index].class_name, call->class_name) == 0)
            which = (int) index;
    if (which < 0) {
        char known [1024] = "";
        for (size_t index = 0; index < sizeof s_ops / sizeof s_ops [0]; index++)
            snprintf (known + strlen (known), sizeof known - strlen (known), "%s%s",
                      index? ", ": "", s_ops [index].class_name);
        return zi_error ("Keras operation '%s' (%s) is not supported (supported: %s)",
                         call->class_name, call->module, known);
    }
    const char *op = s_ops [which].op;
    const zi_keras_tensor_t *x = &call->inputs [0];
    char name [300], buffer [300];
    const char *output = s_out_name (call, buffer, sizeof buffer);
    s_same_shape (x, out);
    if (!s_ops [which].binary) {
        if (strcmp (op, "hard_sigmoid") == 0) {
            //  ops.hard_sigmoid is relu6 (x + 3) / 6 whatever the file
            zi_node_t *node = zi_keras_node (self, "HardSigmoid", call->layer, 1, &x->value,
                                             output, &out->value);
            zi_node_set_float (node, "alpha", 1 / 6.0f);
            zi_node_set_float (node, "beta", 0.5f);
            return 0;
        }
        if (islower (op [0]))
            return s_activation (self, call->layer, op, x->value, x->ndim, output, &out->value);
        zi_keras_node (self, op, call->layer, 1, &x->value, output, &out->value);
        return 0;
    }
    json_object *args = call->args;
    if (!args || !json_object_is_type (args, json_type_array)
    ||  json_object_array_length (args) != 2)
        return zi_error ("expected two operands in 'args'");
    int operands [2];
    for (int index = 0; index < 2; index++) {
        json_object *item = json_object_array_get_idx (args, index);
        const zi_keras_tensor_t *tensor = zi_keras_lookup (self, item);
        snprintf (name, sizeof name, "%s/%s", call->layer, index? "y": "x");
        if (tensor) {
            if (tensor->ndim != x->ndim && tensor->ndim != 0)
                return zi_error ("operands of ranks %d and %d are not supported", x->ndim,
                                 tensor->ndim);
            operands [index] = tensor->value;
        }
        else
        if (zi_keras_is_number (item))
            operands [index] = zi_keras_scalar (self, name, (float) json_object_get_double (item));
        else
        if (item && json_object_is_type (item, json_type_array)) {
            //  Numbers broadcast against the last axis, the graph's axis
            //  1 when 4-d
            int64_t count = (int64_t) json_object_array_length (item);
            zi_tensor_t *constant = x->ndim == 4?
                zi_tensor_new (ZI_F32, 3, (int64_t []) {count, 1, 1}):
                zi_tensor_new (ZI_F32, 1, &count);
            for (int64_t at = 0; at < count; at++) {
                json_object *number = json_object_array_get_idx (item, at);
                if (!zi_keras_is_number (number)) {
                    zi_tensor_destroy (&constant);
                    return zi_error ("operand %d is a list of something other than numbers",
                                     index);
                }
                ((float *) constant->data) [at] = (float) json_object_get_double (number);
            }
            operands [index] = zi_keras_constant (self, name, constant);
        }
        else
            return zi_error ("operand %d is neither a Keras tensor nor numbers", index);
    }
    zi_keras_node (self, op, call->layer, 2, operands, output, &out->value);
    return 0;
}

static int
s_lambda (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *out)
{
    return zi_error ("Lambda layers hold Python code, which cannot be imported; rebuild the "
                     "model with built-in layers (TFOpLambda, Activation, ...) instead");
}

//  --------------------------------------------------------------------------

static const struct {
    const char *class_name;     //  Keras class
    s_builder_fn *build;        //  its builder
} s_layers [] = {
    {"Conv1D", s_conv1d}, {"Convolution1D", s_conv1d},
    {"Conv2D", s_conv2d}, {"Convolution2D", s_conv2d}, {"DepthwiseConv2D", s_conv2d},
    {"SeparableConv2D", s_separable_conv2d}, {"SeparableConvolution2D", s_separable_conv2d},
    {"Conv2DTranspose", s_conv2d_transpose}, {"Convolution2DTranspose", s_conv2d_transpose},
    {"Dense", s_dense},
    {"BatchNormalization", s_batchnorm}, {"LayerNormalization", s_layer_norm},
    {"Normalization", s_normalization},
    {"Activation", s_activation_layer}, {"ReLU", s_relu}, {"LeakyReLU", s_leaky_relu},
    {"PReLU", s_prelu},
    {"Softmax", s_softmax},
    {"Add", s_merge}, {"Subtract", s_merge}, {"Multiply", s_merge}, {"Maximum", s_merge},
    {"Minimum", s_merge}, {"Average", s_merge},
    {"Concatenate", s_concatenate},
    {"ZeroPadding2D", s_zero_padding},
    {"MaxPooling2D", s_pooling}, {"AveragePooling2D", s_pooling},
    {"MaxPool2D", s_pooling}, {"AvgPool2D", s_pooling},
    {"GlobalAveragePooling2D", s_global_pooling}, {"GlobalMaxPooling2D", s_global_pooling},
    {"Cropping2D", s_cropping}, {"UpSampling2D", s_upsampling},
    {"Flatten", s_flatten}, {"Reshape", s_reshape}, {"Permute", s_permute},
    {"Dropout", s_identity}, {"SpatialDropout2D", s_identity}, {"GaussianNoise", s_identity},
    {"GaussianDropout", s_identity}, {"AlphaDropout", s_identity},
    {"ActivityRegularization", s_identity},
    {"Rescaling", s_rescaling},
    {"TFOpLambda", s_tf_op},
    {"Lambda", s_lambda},
};

int
zi_keras_build_layer (zi_keras_t *self, const zi_keras_call_t *call, zi_keras_tensor_t *output)
{
    s_builder_fn *build = NULL;
    for (size_t index = 0; index < sizeof s_layers / sizeof s_layers [0]; index++)
        if (strcmp (s_layers [index].class_name, call->class_name) == 0)
            build = s_layers [index].build;
    if (call->module && strncmp (call->module, "keras.src.ops.", 14) == 0)
        build = s_keras_op;
    if (!build) {
        //  The list docs/keras.md shows is taken from this message
        //  (tests/keras/layer_lists.py), so that the two cannot differ
        char known [2048] = "";
        for (size_t index = 0; index < sizeof s_layers / sizeof s_layers [0]; index++)
            if (strcmp (s_layers [index].class_name, "Lambda"))
                snprintf (known + strlen (known), sizeof known - strlen (known), "%s%s",
                          index? ", ": "", s_layers [index].class_name);
        return zi_error ("layer '%s': Keras layer class '%s' is not supported (supported: "
                         "InputLayer, Sequential, Functional, Model, %s)", call->layer,
                         call->class_name, known);
    }
    //  Keras 1 named the same settings otherwise (nb_filter for filters,
    //  border_mode for padding, ...) and its weights too; say so rather
    //  than that a Keras 2 setting is missing
    static const char *s_keras1_keys [] = {
        "nb_filter", "nb_row", "nb_col", "border_mode", "subsample", "output_dim",
        "dim_ordering", "W_regularizer"
    };
    for (size_t index = 0; index < sizeof s_keras1_keys / sizeof s_keras1_keys [0]; index++)
        if (json_object_object_get_ex (call->config, s_keras1_keys [index], NULL))
            return zi_error ("layer '%s' (%s): a Keras 1 config ('%s'), which is not supported; "
                             "load the model in Keras 2 or later and save it again",
                             call->layer, call->class_name, s_keras1_keys [index]);
    //  MaxPooling2D's names aside, the pooling builders test for Max
    zi_keras_call_t named = *call;
    if (strcmp (call->class_name, "MaxPool2D") == 0)
        named.class_name = "MaxPooling2D";
    if (call->n_inputs < 1)
        return zi_error ("layer '%s' (%s): called without inputs", call->layer, call->class_name);
    if (build (self, &named, output)) {
        zi_error_prefix ("layer '%s' (%s)", call->layer, call->class_name);
        return -1;
    }
    return 0;
}
