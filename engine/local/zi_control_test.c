/*  =========================================================================
    zi_control_test - If, Loop and Scan, end to end

    Hand-built graphs with subgraphs, run through a session and compared
    with the same arithmetic written out in C. It lives beside the session
    because the control ops (engine/plan/zi_control.c) never run a whole
    model themselves.
    =========================================================================
*/

#include "zi_classes.h"

//  Adds names (comma-separated) to a graph's inputs, shapes left to the
//  node that will hold it
static void
s_inputs (zi_graph_t *graph, const char *names)
{
    char list [256];
    snprintf (list, sizeof list, "%s", names);
    for (char *name = strtok (list, ","); name; name = strtok (NULL, ",")) {
        graph->inputs = realloc (graph->inputs, (graph->n_inputs + 1) * sizeof (int));
        assert (graph->inputs);
        graph->inputs [graph->n_inputs++] = zi_graph_value (graph, name);
    }
}

static void
s_outputs (zi_graph_t *graph, const char *names)
{
    char list [256];
    snprintf (list, sizeof list, "%s", names);
    for (char *name = strtok (list, ","); name; name = strtok (NULL, ",")) {
        graph->outputs = realloc (graph->outputs, (graph->n_outputs + 1) * sizeof (int));
        assert (graph->outputs);
        graph->outputs [graph->n_outputs++] = zi_graph_value (graph, name);
    }
}

//  A subgraph's last inputs are read from the enclosing graph
static void
s_outer (zi_graph_t *graph, const char *names)
{
    int before = graph->n_inputs;
    s_inputs (graph, names);
    graph->n_outer = graph->n_inputs - before;
}

static void
s_attach (zi_node_t *node, const char *name, zi_graph_t *graph)
{
    int rc = zi_graph_sort (graph);
    assert (rc == 0);           //  the test's own graphs
    (void) rc;
    zi_node_set_graph (node, name, &graph, zi_graph_destroy);
}

static zi_tensor_t *
s_bool (bool value)
{
    zi_tensor_t *tensor = zi_tensor_new (ZI_BOOL, 0, NULL);
    ((uint8_t *) tensor->data) [0] = value;
    return tensor;
}

//  If (c) then x * 2 else -x, both branches reading x from outside; with c
//  a graph input, or (fold_cond) a constant
static zi_graph_t *
s_if_graph (bool constant_cond, bool cond_value, bool wide_else)
{
    zi_graph_t *graph = zi_graph_new ("if");
    int64_t dims [2] = {2, 3};
    zi_test_graph_io (graph, "x", 2, dims, "y");
    if (constant_cond)
        zi_test_graph_constant (graph, "c", s_bool (cond_value));
    else {
        int c = zi_graph_value (graph, "c");
        zi_tensor_set_shape (&graph->values [c].info, ZI_BOOL, 0, NULL);
        graph->values [c].known = true;
        graph->inputs = realloc (graph->inputs, 2 * sizeof (int));
        graph->inputs [graph->n_inputs++] = c;
    }
    zi_graph_t *then_branch = zi_graph_new ("then");
    zi_test_graph_constant (then_branch, "two", zi_test_scalar (2.0f));
    zi_test_graph_node (then_branch, "Mul", "double", "x,two", "t");
    s_outputs (then_branch, "t");
    s_outer (then_branch, "x");
    zi_graph_t *else_branch = zi_graph_new ("else");
    if (wide_else) {
        zi_node_set_int (zi_test_graph_node (else_branch, "Concat", "widen", "x,x", "e"),
                         "axis", 1);
    }
    else
        zi_test_graph_node (else_branch, "Neg", "negate", "x", "e");
    s_outputs (else_branch, "e");
    s_outer (else_branch, "x");
    zi_node_t *node = zi_test_graph_node (graph, "If", "choose", "c,x", "y");
    s_attach (node, "then_branch", then_branch);
    s_attach (node, "else_branch", else_branch);
    return graph;
}

static bool
s_has_op (const zi_session_t *session, const char *op_type)
{
    const zi_graph_t *plan = zi_session_plan (session);
    for (int index = 0; plan && index < plan->n_nodes; index++)
        if (strcmp (plan->nodes [index].op_type, op_type) == 0)
            return true;
    return false;
}

static void
s_test_if (zi_test_t *t)
{
    //  A condition known only per request: both branches run in the node
    zi_graph_t *graph = s_if_graph (false, false, false);
    ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
              "If graph builds: %s", zi_error_text ());
    zi_model_t model = {.source = "test", .graph = graph};
    zi_session_t *session = zi_session_new (&model, NULL);
    zi_tensor_t *x = zi_test_random (2, (int64_t []) {2, 3}, 11);
    for (int cond = 1; cond >= 0; cond--) {
        zi_tensor_t *inputs [2] = {x, s_bool (cond)};
        zi_tensor_t *y = NULL;
        ZI_CHECK (t, zi_session_run (session, inputs, &y) == 0, "If run (cond %d): %s",
                  cond, zi_error_text ());
        float want [6];
        for (int item = 0; item < 6; item++)
            want [item] = cond? zi_tensor_f32 (x) [item] * 2: -zi_tensor_f32 (x) [item];
        if (y)
            ZI_CHECK_CLOSE (t, cond? "then branch": "else branch", zi_tensor_f32 (y), want, 6,
                            0, 0);
        ZI_CHECK (t, s_has_op (session, "If"), "the If stays in the plan");
        zi_tensor_destroy (&y);
        zi_tensor_destroy (&inputs [1]);
    }
    zi_session_destroy (&session);
    zi_graph_destroy (&graph);

    //  A constant condition: the branch taken replaces the node
    for (int cond = 1; cond >= 0; cond--) {
        graph = s_if_graph (true, cond, true);
        ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
                  "constant If builds: %s", zi_error_text ());
        model.graph = graph;
        session = zi_session_new (&model, NULL);
        zi_tensor_t *y = NULL;
        ZI_CHECK (t, zi_session_run (session, &x, &y) == 0, "constant If runs: %s",
                  zi_error_text ());
        ZI_CHECK (t, !s_has_op (session, "If") && s_has_op (session, cond? "Mul": "Concat"),
                  "the branch taken is inlined (cond %d)", cond);
        ZI_CHECK (t, y && y->dims [1] == (cond? 3: 6), "the shape of the branch taken");
        if (y && cond) {
            float want [6];
            for (int item = 0; item < 6; item++)
                want [item] = zi_tensor_f32 (x) [item] * 2;
            ZI_CHECK_CLOSE (t, "inlined branch", zi_tensor_f32 (y), want, 6, 0, 0);
        }
        zi_tensor_destroy (&y);
        zi_session_destroy (&session);
        zi_graph_destroy (&graph);
    }

    //  Branches of different shapes need the condition at plan time
    graph = s_if_graph (false, false, true);
    ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
              "wide If builds: %s", zi_error_text ());
    model.graph = graph;
    session = zi_session_new (&model, NULL);
    zi_tensor_t *inputs [2] = {x, s_bool (true)};
    zi_tensor_t *y = NULL;
    ZI_CHECK (t, zi_session_run (session, inputs, &y) == -1
              && strstr (zi_error_text (), "node 'choose' (If)")
              && strstr (zi_error_text (), "float32 [2, 3] in then_branch and float32 [2, 6]"),
              "branches of different shapes refused: %s", zi_error_text ());
    zi_tensor_destroy (&inputs [1]);
    zi_session_destroy (&session);
    zi_graph_destroy (&graph);
    zi_tensor_destroy (&x);
}

//  acc = 0; for i in range (trips): acc += x * i; rows [i] = acc
static zi_graph_t *
s_loop_graph (bool constant_trips, bool stop_early)
{
    zi_graph_t *graph = zi_graph_new ("loop");
    int64_t dims [1] = {3};
    zi_test_graph_io (graph, "x", 1, dims, "acc_final");
    if (constant_trips)
        zi_test_graph_constant (graph, "trips", zi_test_ints (1, (int64_t []) {4}));
    else {
        int trips = zi_graph_value (graph, "trips");
        zi_tensor_set_shape (&graph->values [trips].info, ZI_I64, 1, (int64_t []) {1});
        graph->values [trips].known = true;
        graph->inputs = realloc (graph->inputs, 2 * sizeof (int));
        graph->inputs [graph->n_inputs++] = trips;
    }
    zi_test_graph_constant (graph, "cond", s_bool (true));
    zi_test_graph_constant (graph, "zero", zi_tensor_new (ZI_F32, 1, dims));
    memset (graph->values [zi_graph_find (graph, "zero")].constant->data, 0, 12);
    if (constant_trips)
        s_outputs (graph, "rows");

    zi_graph_t *body = zi_graph_new ("body");
    s_inputs (body, "i,cond_in,acc");
    zi_node_set_int (zi_test_graph_node (body, "Cast", "to_float", "i", "i_float"), "to", 1);
    zi_test_graph_node (body, "Mul", "scale", "x,i_float", "step");
    zi_test_graph_node (body, "Add", "accumulate", "acc,step", "acc_next");
    if (stop_early) {
        //  stop once the iteration number reaches 2
        zi_test_graph_constant (body, "two", zi_test_ints (1, (int64_t []) {2}));
        zi_test_graph_node (body, "Less", "until", "i,two", "going");
        zi_test_graph_node (body, "Squeeze", "scalar", "going", "cond_out");
    }
    else
        zi_test_graph_node (body, "Identity", "keep", "cond_in", "cond_out");
    zi_test_graph_node (body, "Identity", "row", "acc_next", "row_out");
    s_outputs (body, constant_trips? "cond_out,acc_next,row_out": "cond_out,acc_next");
    s_outer (body, "x");
    zi_node_t *node = zi_test_graph_node (graph, "Loop", "loop", "trips,cond,zero,x",
                                          constant_trips? "acc_final,rows": "acc_final");
    s_attach (node, "body", body);
    return graph;
}

static void
s_test_loop (zi_test_t *t)
{
    zi_tensor_t *x = zi_test_random (1, (int64_t []) {3}, 21);
    const float *xs = zi_tensor_f32 (x);
    zi_graph_t *graph = s_loop_graph (true, false);
    ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
              "Loop graph builds: %s", zi_error_text ());
    zi_model_t model = {.source = "test", .graph = graph};
    zi_session_t *session = zi_session_new (&model, NULL);
    zi_tensor_t *outputs [2] = {NULL, NULL};
    ZI_CHECK (t, zi_session_run (session, &x, outputs) == 0, "Loop runs: %s", zi_error_text ());
    float acc [3] = {0, 0, 0}, rows [12];
    for (int i = 0; i < 4; i++)
        for (int item = 0; item < 3; item++) {
            acc [item] += xs [item] * (float) i;
            rows [i * 3 + item] = acc [item];
        }
    if (outputs [0] && outputs [1]) {
        ZI_CHECK_CLOSE (t, "carried value", zi_tensor_f32 (outputs [0]), acc, 3, 0, 0);
        ZI_CHECK (t, outputs [1]->ndim == 2 && outputs [1]->dims [0] == 4
                  && outputs [1]->dims [1] == 3, "scan output [4, 3]");
        ZI_CHECK_CLOSE (t, "scan output", zi_tensor_f32 (outputs [1]), rows, 12, 0, 0);
    }
    zi_tensor_destroy (&outputs [0]);
    zi_tensor_destroy (&outputs [1]);
    zi_session_destroy (&session);
    zi_graph_destroy (&graph);

    //  A trip count given per request, a condition that stops at i = 2
    for (int stop = 0; stop < 2; stop++) {
        graph = s_loop_graph (false, stop);
        ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
                  "while loop builds: %s", zi_error_text ());
        model.graph = graph;
        session = zi_session_new (&model, NULL);
        for (int64_t trips = 0; trips <= 5; trips += 5) {
            zi_tensor_t *inputs [2] = {x, zi_test_ints (1, &trips)};
            zi_tensor_t *y = NULL;
            ZI_CHECK (t, zi_session_run (session, inputs, &y) == 0, "while loop runs: %s",
                      zi_error_text ());
            float want [3] = {0, 0, 0};
            for (int i = 0; i < trips; i++) {
                for (int item = 0; item < 3; item++)
                    want [item] += xs [item] * (float) i;
                if (stop && !(i < 2))
                    break;
            }
            if (y)
                ZI_CHECK_CLOSE (t, stop? "until i = 2": "M times", zi_tensor_f32 (y), want, 3,
                                0, 0);
            zi_tensor_destroy (&y);
            zi_tensor_destroy (&inputs [1]);
        }
        zi_session_destroy (&session);
        zi_graph_destroy (&graph);
    }
    zi_tensor_destroy (&x);
}

//  Scan over the rows of x [4, 3], each direction: state += row, and the
//  output stacks every state, forward or reversed
static void
s_test_scan (zi_test_t *t)
{
    zi_tensor_t *x = zi_test_random (2, (int64_t []) {4, 3}, 31);
    const float *xs = zi_tensor_f32 (x);
    for (int reverse = 0; reverse < 2; reverse++) {
        zi_graph_t *graph = zi_graph_new ("scan");
        zi_test_graph_io (graph, "x", 2, (int64_t []) {4, 3}, "final");
        s_outputs (graph, "stack");
        zi_tensor_t *zero = zi_tensor_new (ZI_F32, 1, (int64_t []) {3});
        memset (zero->data, 0, zero->nbytes);
        zi_test_graph_constant (graph, "zero", zero);
        zi_graph_t *body = zi_graph_new ("body");
        s_inputs (body, "sum,row");
        zi_test_graph_node (body, "Add", "add", "sum,row", "sum_next");
        zi_test_graph_node (body, "Identity", "copy", "sum_next", "out");
        s_outputs (body, "sum_next,out");
        zi_node_t *node = zi_test_graph_node (graph, "Scan", "scan", "zero,x", "final,stack");
        zi_node_set_int (node, "num_scan_inputs", 1);
        zi_node_set_ints (node, "scan_input_directions", 1, (int64_t []) {reverse});
        zi_node_set_ints (node, "scan_output_axes", 1, (int64_t []) {-1});
        s_attach (node, "body", body);
        ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
                  "Scan graph builds: %s", zi_error_text ());
        zi_model_t model = {.source = "test", .graph = graph};
        zi_session_t *session = zi_session_new (&model, NULL);
        zi_tensor_t *outputs [2] = {NULL, NULL};
        ZI_CHECK (t, zi_session_run (session, &x, outputs) == 0, "Scan runs: %s",
                  zi_error_text ());
        float sum [3] = {0, 0, 0}, stack [12];
        for (int step = 0; step < 4; step++) {
            int row = reverse? 3 - step: step;
            for (int item = 0; item < 3; item++) {
                sum [item] += xs [row * 3 + item];
                stack [item * 4 + step] = sum [item];       //  stacked on the last axis
            }
        }
        if (outputs [0] && outputs [1]) {
            ZI_CHECK_CLOSE (t, "final state", zi_tensor_f32 (outputs [0]), sum, 3, 0, 0);
            ZI_CHECK (t, outputs [1]->dims [0] == 3 && outputs [1]->dims [1] == 4,
                      "stacked on the last axis");
            ZI_CHECK_CLOSE (t, reverse? "reversed scan": "forward scan",
                            zi_tensor_f32 (outputs [1]), stack, 12, 0, 0);
        }
        zi_tensor_destroy (&outputs [0]);
        zi_tensor_destroy (&outputs [1]);
        zi_session_destroy (&session);
        zi_graph_destroy (&graph);
    }
    zi_tensor_destroy (&x);
}

void
zi_control_test (zi_test_t *t)
{
    s_test_if (t);
    s_test_loop (t);
    s_test_scan (t);
}
