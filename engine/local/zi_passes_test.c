/*  =========================================================================
    zi_passes_test - the fusion passes' self test

    It runs hand-built graphs through a session with and without the
    passes and compares the answers, so it lives beside the session: the
    passes themselves (engine/plan) never run a graph.
    =========================================================================
*/

#include "zi_classes.h"

//  Runs a hand-built graph (one input) with and without the passes;
//  returns the fused output and sets *unfused; *n_fused_nodes counts the
//  nodes left after planning with the passes
static zi_tensor_t *
s_run_both (zi_test_t *t, zi_graph_t *graph, zi_tensor_t *input, zi_tensor_t **unfused,
            int *n_fused_nodes, const char **first_op)
{
    zi_tensor_t *fused = NULL;
    *unfused = NULL;
    *n_fused_nodes = -1;
    *first_op = "";
    if (zi_graph_sort (graph) || zi_graph_init_ops (graph)) {
        ZI_CHECK (t, false, "graph builds: %s", zi_error_text ());
        return NULL;
    }
    zi_model_t model = {.source = "test", .graph = graph};
    for (int pass = 0; pass < 2; pass++) {
        zi_options_t options = {.no_fuse = pass == 1};
        zi_session_t *session = zi_session_new (&model, &options);
        zi_tensor_t *output = NULL;
        int rc = zi_session_run (session, &input, &output);
        ZI_CHECK (t, rc == 0, "run (%s): %s", pass? "unfused": "fused", zi_error_text ());
        if (pass == 0) {
            fused = output;
            const zi_graph_t *plan = zi_session_plan (session);
            *n_fused_nodes = plan? plan->n_nodes: -1;
            static char op [64];
            snprintf (op, sizeof op, "%s", plan && plan->n_nodes? plan->nodes [0].op_type: "");
            *first_op = op;
        }
        else
            *unfused = output;
        zi_session_destroy (&session);
    }
    return fused;
}

void
zi_passes_test (zi_test_t *t)
{
    //  Conv -> BatchNormalization -> Relu becomes one Conv with relu
    zi_graph_t *graph = zi_graph_new ("conv_bn_relu");
    int64_t x_dims [4] = {1, 3, 7, 6};
    zi_test_graph_io (graph, "x", 4, x_dims, "y");
    zi_test_graph_constant (graph, "w", zi_test_random (4, (int64_t []) {4, 3, 3, 3}, 1));
    zi_test_graph_constant (graph, "b", zi_test_random (1, (int64_t []) {4}, 2));
    zi_test_graph_constant (graph, "scale", zi_test_random (1, (int64_t []) {4}, 3));
    zi_test_graph_constant (graph, "shift", zi_test_random (1, (int64_t []) {4}, 4));
    zi_test_graph_constant (graph, "mean", zi_test_random (1, (int64_t []) {4}, 5));
    zi_tensor_t *var = zi_test_random (1, (int64_t []) {4}, 6);
    for (int channel = 0; channel < 4; channel++)
        zi_tensor_f32 (var) [channel] = 1.5f + zi_tensor_f32 (var) [channel];
    zi_test_graph_constant (graph, "var", var);
    zi_node_t *conv = zi_test_graph_node (graph, "Conv", "conv", "x,w,b", "c");
    zi_node_set_ints (conv, "pads", 4, (int64_t []) {1, 1, 1, 1});
    zi_test_graph_node (graph, "BatchNormalization", "bn", "c,scale,shift,mean,var", "n");
    zi_test_graph_node (graph, "Relu", "relu", "n", "y");
    zi_tensor_t *input = zi_test_random (4, x_dims, 7);
    zi_tensor_t *unfused;
    int n_nodes;
    const char *first_op;
    zi_tensor_t *fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    ZI_CHECK (t, n_nodes == 1 && strcmp (first_op, "Conv") == 0,
              "conv+bn+relu is one Conv: %d nodes, first %s", n_nodes, first_op);
    if (fused && unfused)
        ZI_CHECK_CLOSE (t, "folded batchnorm", zi_tensor_f32 (fused), zi_tensor_f32 (unfused),
                        zi_tensor_count (fused), 1e-5f, 1e-5f);
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&unfused);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);

    //  A Conv + BatchNormalization pair called twice (a shared Keras
    //  block; its second BatchNormalization reads a scale of its own of the
    //  same contents, as Keras makes ones anew for a layer without scale)
    //  folds into one constant, which a second plan of the model reuses;
    //  a third call with another mean folds apart
    graph = zi_graph_new ("shared_conv_bn");
    int64_t maps_dims [4] = {1, 4, 7, 6};
    zi_test_graph_io (graph, "x", 4, maps_dims, "y");
    zi_test_graph_constant (graph, "w", zi_test_random (4, (int64_t []) {4, 4, 3, 3}, 1));
    zi_test_graph_constant (graph, "b", zi_test_random (1, (int64_t []) {4}, 2));
    zi_test_graph_constant (graph, "scale", zi_test_random (1, (int64_t []) {4}, 3));
    zi_test_graph_constant (graph, "scale_again", zi_test_random (1, (int64_t []) {4}, 3));
    zi_test_graph_constant (graph, "shift", zi_test_random (1, (int64_t []) {4}, 4));
    zi_test_graph_constant (graph, "mean", zi_test_random (1, (int64_t []) {4}, 5));
    zi_test_graph_constant (graph, "other_mean", zi_test_random (1, (int64_t []) {4}, 8));
    var = zi_test_random (1, (int64_t []) {4}, 6);
    for (int channel = 0; channel < 4; channel++)
        zi_tensor_f32 (var) [channel] = 1.5f + zi_tensor_f32 (var) [channel];
    zi_test_graph_constant (graph, "var", var);
    const char *calls [3][4] = {{"x", "c1", "scale,shift,mean,var", "n1"},
                                {"n1", "c2", "scale_again,shift,mean,var", "n2"},
                                {"n2", "c3", "scale,shift,other_mean,var", "y"}};
    for (int call = 0; call < 3; call++) {
        char inputs [64], bn_inputs [96], name [16];
        snprintf (inputs, sizeof inputs, "%s,w,b", calls [call][0]);
        snprintf (name, sizeof name, "conv%d", call);
        conv = zi_test_graph_node (graph, "Conv", name, inputs, calls [call][1]);
        zi_node_set_ints (conv, "pads", 4, (int64_t []) {1, 1, 1, 1});
        snprintf (bn_inputs, sizeof bn_inputs, "%s,%s", calls [call][1], calls [call][2]);
        snprintf (name, sizeof name, "bn%d", call);
        zi_test_graph_node (graph, "BatchNormalization", name, bn_inputs, calls [call][3]);
    }
    input = zi_test_random (4, maps_dims, 7);
    fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    ZI_CHECK (t, n_nodes == 3, "three conv+bn calls are three Convs: %d nodes", n_nodes);
    if (fused && unfused)
        ZI_CHECK_CLOSE (t, "shared folded batchnorm", zi_tensor_f32 (fused),
                        zi_tensor_f32 (unfused), zi_tensor_count (fused), 1e-5f, 1e-5f);
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&unfused);
    //  Two plans of the model at once, as two threads make them
    zi_model_t shared_model = {.source = "test", .graph = graph};
    zi_options_t fold = {.no_fuse = false};
    const zi_tensor_t *weights [2][3] = {{NULL}}, *biases [2][3] = {{NULL}};
    zi_session_t *sessions [2];
    for (int plan = 0; plan < 2; plan++) {
        sessions [plan] = zi_session_new (&shared_model, &fold);
        zi_tensor_t *output = NULL;
        ZI_CHECK (t, zi_session_run (sessions [plan], &input, &output) == 0, "plan %d runs: %s",
                  plan, zi_error_text ());
        zi_tensor_destroy (&output);
        const zi_graph_t *planned = zi_session_plan (sessions [plan]);
        for (int index = 0; planned && index < planned->n_nodes && index < 3; index++) {
            const zi_node_t *node = &planned->nodes [index];
            if (node->op_type && strcmp (node->op_type, "Conv") == 0 && node->n_inputs > 2) {
                weights [plan][index] = planned->values [node->inputs [1]].constant;
                biases [plan][index] = planned->values [node->inputs [2]].constant;
            }
        }
    }
    ZI_CHECK (t, weights [0][0] && weights [0][0] == weights [0][1]
                 && biases [0][0] == biases [0][1],
              "the pair called twice folds into one weight and bias");
    ZI_CHECK (t, weights [0][2] && weights [0][2] != weights [0][0]
                 && biases [0][2] != biases [0][0],
              "a call with another mean folds into its own");
    ZI_CHECK (t, weights [1][0] == weights [0][0] && weights [1][2] == weights [0][2]
                 && biases [1][1] == biases [0][1],
              "a second plan of the model reuses the first plan's folded constants");
    zi_session_destroy (&sessions [0]);
    zi_session_destroy (&sessions [1]);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);

    //  A weight made at planning from constants (here a Transpose of a
    //  channels-last kernel, 144 KB) is folded once for the model: a
    //  second plan takes the first plan's constant, so the Conv's packed
    //  form is shared too
    graph = zi_graph_new ("transposed_weight");
    int64_t wide_dims [4] = {1, 64, 5, 5};
    zi_test_graph_io (graph, "x", 4, wide_dims, "y");
    zi_test_graph_constant (graph, "w_hwio", zi_test_random (4, (int64_t []) {3, 3, 64, 64},
                                                             21));
    zi_node_t *turn = zi_test_graph_node (graph, "Transpose", "turn", "w_hwio", "w");
    zi_node_set_ints (turn, "perm", 4, (int64_t []) {3, 2, 0, 1});
    conv = zi_test_graph_node (graph, "Conv", "conv", "x,w", "y");
    zi_node_set_ints (conv, "pads", 4, (int64_t []) {1, 1, 1, 1});
    input = zi_test_random (4, wide_dims, 22);
    fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    if (fused && unfused)
        ZI_CHECK_CLOSE (t, "conv on a transposed weight", zi_tensor_f32 (fused),
                        zi_tensor_f32 (unfused), zi_tensor_count (fused), 0, 0);
    zi_tensor_destroy (&unfused);
    zi_model_t turned_model = {.source = "test", .graph = graph};
    const zi_tensor_t *turned [2] = {NULL};
    zi_packed_stats_t packed_before = zi_packed_stats ();
    for (int plan = 0; plan < 2; plan++) {
        sessions [plan] = zi_session_new (&turned_model, &fold);
        zi_tensor_t *output = NULL;
        ZI_CHECK (t, zi_session_run (sessions [plan], &input, &output) == 0, "plan %d runs: %s",
                  plan, zi_error_text ());
        ZI_CHECK (t, output && fused && memcmp (output->data, fused->data, fused->nbytes) == 0,
                  "plan %d answers bit for bit as the first", plan);
        zi_tensor_destroy (&output);
        const zi_graph_t *planned = zi_session_plan (sessions [plan]);
        if (planned && planned->n_nodes == 1)
            turned [plan] = planned->values [planned->nodes [0].inputs [1]].constant;
    }
    zi_packed_stats_t packed_after = zi_packed_stats ();
    ZI_CHECK (t, turned [0] && turned [0] == turned [1],
              "two plans of the model share one transposed weight");
    ZI_CHECK (t, packed_after.forms - packed_before.forms <= 1,
              "and one packed form of it: %zu forms", packed_after.forms - packed_before.forms);
    zi_session_destroy (&sessions [0]);
    zi_session_destroy (&sessions [1]);
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);

    //  A weight-sized constant made from the input's shape (ConstantOfShape
    //  of Shape) is folded anew for each input size: a session re-planned
    //  for many sizes keeps only the constants its plan still uses, not
    //  one per size it ever saw, or a long-running server grows without end
    graph = zi_graph_new ("shaped_constant");
    zi_test_graph_io (graph, "x", 2, (int64_t []) {-1, 16384}, "y");
    zi_test_graph_node (graph, "Shape", "shape", "x", "x_shape");
    zi_test_graph_node (graph, "ConstantOfShape", "zeros", "x_shape", "zeros");
    zi_test_graph_node (graph, "Add", "add", "x,zeros", "y");
    if (zi_graph_sort (graph) || zi_graph_init_ops (graph))
        ZI_CHECK (t, false, "graph builds: %s", zi_error_text ());
    zi_model_t shaped_model = {.source = "test", .graph = graph};
    zi_session_t *shaped = zi_session_new (&shaped_model, &fold);
    enum { S_SIZES = 6 };
    for (int rows = 1; rows <= S_SIZES; rows++) {
        input = zi_test_random (2, (int64_t []) {rows, 16384}, 30 + rows);
        zi_tensor_t *output = NULL;
        ZI_CHECK (t, zi_session_run (shaped, &input, &output) == 0, "%d rows run: %s", rows,
                  zi_error_text ());
        ZI_CHECK (t, output && output->nbytes == input->nbytes
                     && memcmp (output->data, input->data, input->nbytes) == 0,
                  "%d rows: x plus zeros is x", rows);
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
    }
    ZI_CHECK (t, zi_folded_size (graph->folded) <= 1,
              "after %d input sizes the model keeps %zu shaped constants, not one a size",
              S_SIZES, zi_folded_size (graph->folded));
    zi_session_destroy (&shaped);
    zi_graph_destroy (&graph);

    //  A residual block: relu (conv (x) + x) is one Conv, same bits as the
    //  Conv, Add and Relu run apart; 1x1 (packed product) and 3x3 (im2col)
    //  and three channels on a wider image (the few-maps kernel)
    for (int kernel = 1; kernel <= 5; kernel += 2) {
        graph = zi_graph_new ("residual");
        int64_t maps = kernel == 5? 3: 8;
        int64_t block [4] = {1, maps, 9, kernel == 5? 21: 10};
        zi_test_graph_io (graph, "x", 4, block, "y");
        zi_test_graph_constant (graph, "w", zi_test_random (4, (int64_t []) {maps, maps, kernel,
                                                                             kernel}, 11));
        zi_test_graph_constant (graph, "b", zi_test_random (1, (int64_t []) {maps}, 12));
        conv = zi_test_graph_node (graph, "Conv", "conv", "x,w,b", "c");
        int64_t pad = kernel / 2;
        zi_node_set_ints (conv, "pads", 4, (int64_t []) {pad, pad, pad, pad});
        zi_test_graph_node (graph, "Add", "add", "x,c", "s");
        zi_test_graph_node (graph, "Relu", "relu", "s", "y");
        input = zi_test_random (4, block, 13);
        fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
        ZI_CHECK (t, n_nodes == 1 && strcmp (first_op, "Conv") == 0,
                  "%dx%d conv + add + relu is one Conv: %d nodes, first %s", kernel, kernel,
                  n_nodes, first_op);
        if (fused && unfused)
            ZI_CHECK_CLOSE (t, "fused residual", zi_tensor_f32 (fused), zi_tensor_f32 (unfused),
                            zi_tensor_count (fused), 0, 0);
        zi_tensor_destroy (&fused);
        zi_tensor_destroy (&unfused);
        zi_tensor_destroy (&input);
        zi_graph_destroy (&graph);
    }

    //  A zero Pad over H and W before a Conv becomes the Conv's pads (as
    //  an attribute, and as inputs with a constant 0 from opset 11); a Pad
    //  that is not zeros on the spatial axes stays. Pads: begins then ends
    //  over N, C, H, W.
    struct {
        const char *label;          //  what the case covers
        int opset;                  //  11 and later: pads as an input
        const char *mode;           //  Pad's mode
        float value;                //  its constant
        int64_t pads [8];           //  its pads
        bool folds;                 //  does it become the Conv's pads?
    } pad_cases [] = {
        {"zero pad attribute", 9, "constant", 0, {0, 0, 1, 2, 0, 0, 3, 1}, true},
        {"zero pad inputs", 13, "constant", 0, {0, 0, 2, 0, 0, 0, 1, 1}, true},
        {"reflect pad", 13, "reflect", 0, {0, 0, 1, 1, 0, 0, 1, 1}, false},
        {"pad of ones", 13, "constant", 1, {0, 0, 1, 1, 0, 0, 1, 1}, false},
        {"pad on channels", 9, "constant", 0, {0, 1, 1, 1, 0, 0, 1, 1}, false},
        {"pad on the batch", 13, "constant", 0, {1, 0, 1, 1, 0, 0, 1, 1}, false},
        {"cropping pad", 13, "constant", 0, {0, 0, -1, 1, 0, 0, 1, 1}, false},
    };
    for (size_t index = 0; index < sizeof pad_cases / sizeof pad_cases [0]; index++) {
        graph = zi_graph_new ("pad_conv");
        graph->opset = pad_cases [index].opset;
        int64_t image [4] = {1, 3, 11, 9};
        zi_test_graph_io (graph, "x", 4, image, "y");
        int64_t channels = 3 + pad_cases [index].pads [1] + pad_cases [index].pads [5];
        zi_test_graph_constant (graph, "w", zi_test_random (4, (int64_t []) {5, channels, 3, 3},
                                                            21));
        zi_test_graph_constant (graph, "b", zi_test_random (1, (int64_t []) {5}, 22));
        zi_node_t *pad;
        if (pad_cases [index].opset < 11) {
            pad = zi_test_graph_node (graph, "Pad", "pad", "x", "p");
            zi_node_set_ints (pad, "pads", 8, pad_cases [index].pads);
            zi_node_set_float (pad, "value", pad_cases [index].value);
        }
        else {
            zi_test_graph_constant (graph, "pads", zi_test_ints (8, pad_cases [index].pads));
            zi_test_graph_constant (graph, "value", zi_test_scalar (pad_cases [index].value));
            pad = zi_test_graph_node (graph, "Pad", "pad", "x,pads,value", "p");
        }
        zi_node_set_string (pad, "mode", pad_cases [index].mode);
        conv = zi_test_graph_node (graph, "Conv", "conv", "p,w,b", "c");
        zi_node_set_ints (conv, "pads", 4, (int64_t []) {1, 0, 0, 1});
        zi_node_set_ints (conv, "strides", 2, (int64_t []) {2, 1});
        zi_test_graph_node (graph, "Relu", "relu", "c", "y");
        int64_t batch = 1 + pad_cases [index].pads [0] + pad_cases [index].pads [4];
        zi_tensor_t *x = zi_test_random (4, image, 23);
        input = x;
        fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
        bool folds = pad_cases [index].folds;
        ZI_CHECK (t, n_nodes == (folds? 1: 2)
                  && strcmp (first_op, folds? "Conv": "Pad") == 0,
                  "%s: %s: %d nodes, first %s", pad_cases [index].label,
                  folds? "one Conv": "Pad and Conv", n_nodes, first_op);
        ZI_CHECK (t, fused && fused->dims [0] == batch && fused->dims [1] == 5,
                  "%s: output shape kept", pad_cases [index].label);
        if (fused && unfused)
            ZI_CHECK_CLOSE (t, pad_cases [index].label, zi_tensor_f32 (fused),
                            zi_tensor_f32 (unfused), zi_tensor_count (fused), 1e-5f, 1e-5f);
        zi_tensor_destroy (&fused);
        zi_tensor_destroy (&unfused);
        zi_tensor_destroy (&input);
        zi_graph_destroy (&graph);
    }

    //  Keras hard-swish: x * clip (x + 3, 0, 6) * 0.1666667, and a
    //  hard-sigmoid written clip (x + 3, 0, 6) / 6 after it
    graph = zi_graph_new ("keras");
    graph->opset = 13;
    int64_t dims [2] = {3, 50};
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_test_graph_constant (graph, "three", zi_test_scalar (3.0f));
    zi_test_graph_constant (graph, "zero", zi_test_scalar (0.0f));
    zi_test_graph_constant (graph, "six", zi_test_scalar (6.0f));
    zi_test_graph_constant (graph, "sixth", zi_test_scalar (0.1666667f));
    zi_test_graph_node (graph, "Add", "add", "x,three", "a");
    zi_test_graph_node (graph, "Clip", "clip", "a,zero,six", "c");
    zi_test_graph_node (graph, "Mul", "scale", "c,sixth", "s");
    zi_test_graph_node (graph, "Mul", "times_x", "x,s", "h");
    zi_test_graph_node (graph, "Add", "add2", "three,h", "a2");
    zi_test_graph_node (graph, "Clip", "clip2", "a2,zero,six", "c2");
    zi_test_graph_node (graph, "Div", "div", "c2,six", "s2");
    //  and (x * clip (x + 3, 0, 6)) / 6, the product first
    zi_test_graph_node (graph, "Add", "add3", "s2,three", "a3");
    zi_test_graph_node (graph, "Clip", "clip3", "a3,zero,six", "c3");
    zi_test_graph_node (graph, "Mul", "product3", "s2,c3", "p3");
    zi_test_graph_node (graph, "Div", "div3", "p3,six", "y");
    input = zi_test_random (2, dims, 8);
    for (size_t item = 0; item < zi_tensor_count (input); item++)
        zi_tensor_f32 (input) [item] *= 8;     //  cover both clamps
    fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    ZI_CHECK (t, n_nodes == 3 && strcmp (first_op, "HardSwish") == 0,
              "three chains become HardSwish, HardSigmoid, HardSwish: %d nodes, first %s",
              n_nodes, first_op);
    if (fused && unfused)
        ZI_CHECK_CLOSE (t, "keras hard-swish", zi_tensor_f32 (fused), zi_tensor_f32 (unfused),
                        zi_tensor_count (fused), 1e-6f, 1e-6f);
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&unfused);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);

    //  A chain that only looks alike (x + 2) stays as it is
    graph = zi_graph_new ("lookalike");
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_test_graph_constant (graph, "two", zi_test_scalar (2.0f));
    zi_test_graph_constant (graph, "zero", zi_test_scalar (0.0f));
    zi_test_graph_constant (graph, "six", zi_test_scalar (6.0f));
    zi_test_graph_node (graph, "Add", "add", "x,two", "a");
    zi_test_graph_node (graph, "Clip", "clip", "a,zero,six", "c");
    zi_test_graph_node (graph, "Div", "div", "c,six", "y");
    input = zi_test_random (2, dims, 9);
    fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    //  (the Clip still fuses into the Add as an activation)
    ZI_CHECK (t, n_nodes == 2 && strcmp (first_op, "Add") == 0,
              "x + 2 is not hard-sigmoid: %d nodes, first %s", n_nodes, first_op);
    if (fused && unfused)
        ZI_CHECK_CLOSE (t, "add with fused clip", zi_tensor_f32 (fused), zi_tensor_f32 (unfused),
                        zi_tensor_count (fused), 0, 0);
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&unfused);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);

    //  The QDQ pattern: quantize, dequantize, Conv with per-channel int8
    //  weights and an int32 bias through DequantizeLinear, Relu, quantize
    //  (zero point 0, so the Relu is the saturation), dequantize: the
    //  middle five nodes become one QLinearConv, within one output step of
    //  the float chain
    graph = zi_graph_new ("qdq_conv");
    int64_t image [4] = {1, 4, 7, 7};
    zi_test_graph_io (graph, "x", 4, image, "y");
    int64_t w_dims [4] = {5, 4, 3, 3}, channels [1] = {5};
    zi_tensor_t *w_q = zi_tensor_new (ZI_I8, 4, w_dims);
    zi_tensor_t *w_scale = zi_tensor_new (ZI_F32, 1, channels);
    zi_tensor_t *b_q = zi_tensor_new (ZI_I32, 1, channels);
    zi_tensor_t *b_scale = zi_tensor_new (ZI_F32, 1, channels);
    zi_tensor_t *x_zero = zi_tensor_new (ZI_U8, 0, NULL);
    zi_tensor_t *y_zero = zi_tensor_new (ZI_U8, 0, NULL);
    assert (w_q && w_scale && b_q && b_scale && x_zero && y_zero);
    for (size_t item = 0; item < zi_tensor_count (w_q); item++)
        ((int8_t *) w_q->data) [item] = (int8_t) ((item * 37 + 11) % 255 - 127);
    float x_step = 0.02f, y_step = 0.05f;
    for (int channel = 0; channel < 5; channel++) {
        zi_tensor_f32 (w_scale) [channel] = 0.002f * (channel + 1);
        zi_tensor_f32 (b_scale) [channel] = x_step * zi_tensor_f32 (w_scale) [channel];
        ((int32_t *) b_q->data) [channel] = (channel - 2) * 900;
    }
    *(uint8_t *) x_zero->data = 128;
    *(uint8_t *) y_zero->data = 0;
    zi_test_graph_constant (graph, "x_scale", zi_test_scalar (x_step));
    zi_test_graph_constant (graph, "x_zero", x_zero);
    zi_test_graph_constant (graph, "w_q", w_q);
    zi_test_graph_constant (graph, "w_scale", w_scale);
    zi_test_graph_constant (graph, "b_q", b_q);
    zi_test_graph_constant (graph, "b_scale", b_scale);
    zi_test_graph_constant (graph, "y_scale", zi_test_scalar (y_step));
    zi_test_graph_constant (graph, "y_zero", y_zero);
    zi_test_graph_node (graph, "QuantizeLinear", "quantize_x", "x,x_scale,x_zero", "x_q");
    zi_test_graph_node (graph, "DequantizeLinear", "dequantize_x", "x_q,x_scale,x_zero", "x_dq");
    zi_node_set_int (zi_test_graph_node (graph, "DequantizeLinear", "dequantize_w",
                                         "w_q,w_scale", "w_dq"), "axis", 0);
    zi_node_set_int (zi_test_graph_node (graph, "DequantizeLinear", "dequantize_b",
                                         "b_q,b_scale", "b_dq"), "axis", 0);
    conv = zi_test_graph_node (graph, "Conv", "conv", "x_dq,w_dq,b_dq", "c");
    zi_node_set_ints (conv, "pads", 4, (int64_t []) {1, 1, 1, 1});
    zi_test_graph_node (graph, "Relu", "relu", "c", "r");
    zi_test_graph_node (graph, "QuantizeLinear", "quantize_y", "r,y_scale,y_zero", "y_q");
    zi_test_graph_node (graph, "DequantizeLinear", "dequantize_y", "y_q,y_scale,y_zero", "y");
    input = zi_test_random (4, image, 14);
    fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    ZI_CHECK (t, n_nodes == 3, "QDQ conv is quantize, QLinearConv, dequantize: %d nodes",
              n_nodes);
    if (fused && unfused) {
        size_t same = 0, count = zi_tensor_count (fused);
        for (size_t item = 0; item < count; item++)
            same += zi_tensor_f32 (fused) [item] == zi_tensor_f32 (unfused) [item];
        ZI_CHECK_CLOSE (t, "QDQ conv, fused", zi_tensor_f32 (fused), zi_tensor_f32 (unfused),
                        count, y_step * 1.001f, 0);
        ZI_CHECK (t, same * 50 >= count * 49, "QDQ conv: %zu of %zu outputs exactly as unfused",
                  same, count);
    }
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&unfused);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);

    //  Shape arithmetic feeding Reshape folds to a constant
    graph = zi_graph_new ("shape");
    int64_t cube [3] = {2, 3, 4};
    zi_test_graph_io (graph, "x", 3, cube, "y");
    zi_test_graph_constant (graph, "zero_index", zi_test_ints (1, (int64_t []) {0}));
    zi_test_graph_constant (graph, "minus_one", zi_test_ints (1, (int64_t []) {-1}));
    zi_test_graph_node (graph, "Shape", "shape", "x", "s");
    zi_test_graph_node (graph, "Gather", "gather", "s,zero_index", "g");
    zi_test_graph_node (graph, "Concat", "concat", "g,minus_one", "target");
    zi_node_set_int (&graph->nodes [graph->n_nodes - 1], "axis", 0);
    zi_test_graph_node (graph, "Reshape", "reshape", "x,target", "y");
    input = zi_test_random (3, cube, 10);
    fused = s_run_both (t, graph, input, &unfused, &n_nodes, &first_op);
    ZI_CHECK (t, n_nodes == 1 && strcmp (first_op, "Reshape") == 0,
              "shape subgraph folded: %d nodes, first %s", n_nodes, first_op);
    ZI_CHECK (t, fused && fused->ndim == 2 && fused->dims [0] == 2 && fused->dims [1] == 12,
              "reshaped to [2, 12]");
    ZI_CHECK (t, fused && memcmp (fused->data, input->data, input->nbytes) == 0, "data kept");
    zi_tensor_destroy (&fused);
    zi_tensor_destroy (&unfused);
    zi_tensor_destroy (&input);
    zi_graph_destroy (&graph);
}
