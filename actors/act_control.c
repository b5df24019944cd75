/*  =========================================================================
    act_control - If, Loop and Scan: ops that run graphs of their own

    What is here reads the attributes and checks that the branches or the
    body fit the node: how many inputs and outputs each side has. Planning
    and running those graphs is the planner's work (plan/zi_control.c),
    which binds every such node before inferring it; the callbacks here
    hand each call on to it.

    Inputs of these nodes come in two runs: the ones the op defines (If's
    condition; Loop's trip count, condition and initial values; Scan's
    initial states and scanned sequences), then the values of enclosing
    graphs that the branches or body read, which the importer appends. A
    subgraph lists the same values as its last inputs (n_outer of them),
    so the i-th outer input of the node is the i-th outer input of each
    subgraph.
    =========================================================================
*/

#include "zi_classes.h"

//  A required graph attribute, or NULL with an error
static const zi_graph_t *
s_graph (const zi_node_t *node, const char *name)
{
    const zi_graph_t *graph = zi_node_attr_graph (node, name);
    if (!graph && !node->bad_attr)
        zi_error ("attribute '%s' (a graph) is missing", name);
    return graph;
}

static void
s_control_destroy (zi_node_t *node)
{
    zi_control_t *control = node->params;
    if (control->ops && control->ops->release)
        control->ops->release (control);
    free (control->in_axes);
    free (control->in_reverse);
    free (control->out_axes);
    free (control->out_reverse);
    free (control);
}

//  The node's inputs are its own n_declared, then one per outer value
static zi_control_t *
s_control_new (zi_node_t *node, const zi_graph_t *graph, int n_declared)
{
    if (node->n_inputs != n_declared + graph->n_outer) {
        zi_error ("%d inputs, expected %d (%d of its own and %d its subgraphs read from "
                  "outside)", node->n_inputs, n_declared + graph->n_outer, n_declared,
                  graph->n_outer);
        return NULL;
    }
    zi_control_t *control = calloc (1, sizeof (zi_control_t));
    assert (control);
    control->n_declared = n_declared;
    control->n_outer = graph->n_outer;
    return control;
}

//  --------------------------------------------------------------------------
//  If: then_branch or else_branch, by a bool condition. Branches take no
//  inputs of their own and give one value per node output.

static int
s_if_init (zi_node_t *node)
{
    const zi_graph_t *then_branch = s_graph (node, "then_branch");
    if (!then_branch)
        return -1;
    const zi_graph_t *else_branch = s_graph (node, "else_branch");
    if (!else_branch)
        return -1;
    const zi_graph_t *branches [2] = {then_branch, else_branch};
    const char *names [2] = {"then_branch", "else_branch"};
    for (int side = 0; side < 2; side++) {
        const zi_graph_t *branch = branches [side];
        if (branch->n_inputs != branch->n_outer)
            return zi_error ("%s declares %d inputs; If's branches take none",
                             names [side], branch->n_inputs - branch->n_outer);
        if (branch->n_outputs != node->n_outputs)
            return zi_error ("%s has %d outputs, the node %d", names [side],
                             branch->n_outputs, node->n_outputs);
    }
    if (then_branch->n_outer != else_branch->n_outer)
        return zi_error ("the branches read %d and %d outer values; expected one list for "
                         "both", then_branch->n_outer, else_branch->n_outer);
    node->params = s_control_new (node, then_branch, 1);
    return node->params? 0: -1;
}

//  --------------------------------------------------------------------------
//  Loop: inputs M (trip count), cond, v_initial x N; the body takes
//  (iteration, cond, v x N) and gives (cond, v x N, scan x K); the node
//  gives (v_final x N, scan outputs x K)

static int
s_loop_init (zi_node_t *node)
{
    const zi_graph_t *body = s_graph (node, "body");
    if (!body)
        return -1;
    int n_body_inputs = body->n_inputs - body->n_outer;
    if (n_body_inputs < 2)
        return zi_error ("the body declares %d inputs, expected 2 or more (iteration number, "
                         "condition, loop-carried values)", n_body_inputs);
    int n_carried = n_body_inputs - 2;
    if (body->n_outputs < 1 + n_carried)
        return zi_error ("the body has %d outputs, expected at least %d (condition and %d "
                         "loop-carried values)", body->n_outputs, 1 + n_carried, n_carried);
    int n_scan = body->n_outputs - 1 - n_carried;
    if (node->n_outputs != n_carried + n_scan)
        return zi_error ("%d outputs, expected %d (%d loop-carried values and %d scan "
                         "outputs, as the body gives)", node->n_outputs, n_carried + n_scan,
                         n_carried, n_scan);
    zi_control_t *control = s_control_new (node, body, 2 + n_carried);
    if (!control)
        return -1;
    control->n_carried = n_carried;
    control->n_scan_outputs = n_scan;
    node->params = control;
    return 0;
}

//  --------------------------------------------------------------------------
//  Scan (opset 9 and later): inputs state x N, sequence x M; the body
//  takes (state x N, one slice of each sequence x M) and gives (state x N,
//  one slice of each scan output x K)

//  Reads an ints attribute of count entries (fallback when absent) into a
//  new array
static int64_t *
s_per_item (const zi_node_t *node, const char *name, int count, int64_t fallback)
{
    int64_t *values = calloc (count + 1, sizeof (int64_t));
    assert (values);
    int have = zi_node_attr_ints (node, name, values, count);
    if (have < 0) {
        free (values);
        return NULL;
    }
    if (have == 0)
        for (int index = 0; index < count; index++)
            values [index] = fallback;
    else
    if (have != count) {
        zi_error ("attribute '%s' has %d entries, expected %d", name, have, count);
        free (values);
        return NULL;
    }
    return values;
}

//  Directions become flags; anything but 0 and 1 is refused
static bool *
s_directions (const zi_node_t *node, const char *name, int count)
{
    int64_t *values = s_per_item (node, name, count, 0);
    if (!values)
        return NULL;
    bool *reverse = calloc (count + 1, sizeof (bool));
    assert (reverse);
    for (int index = 0; index < count; index++) {
        if (values [index] != 0 && values [index] != 1) {
            zi_error ("attribute '%s' [%d] is %lld, expected 0 (forward) or 1 (reverse)",
                      name, index, (long long) values [index]);
            free (values);
            free (reverse);
            return NULL;
        }
        reverse [index] = values [index] == 1;
    }
    free (values);
    return reverse;
}

static int
s_scan_init (zi_node_t *node)
{
    const zi_graph_t *body = s_graph (node, "body");
    if (!body)
        return -1;
    int64_t n_scan_inputs = zi_node_attr_int (node, "num_scan_inputs", -1);
    int n_body_inputs = body->n_inputs - body->n_outer;
    if (n_scan_inputs < 1 || n_scan_inputs > n_body_inputs)
        return zi_error ("attribute 'num_scan_inputs' is %lld, expected 1 to %d (the body's "
                         "inputs)", (long long) n_scan_inputs, n_body_inputs);
    int n_carried = n_body_inputs - (int) n_scan_inputs;
    if (body->n_outputs < n_carried)
        return zi_error ("the body has %d outputs, expected at least %d (the states)",
                         body->n_outputs, n_carried);
    if (node->n_outputs != body->n_outputs)
        return zi_error ("%d outputs, the body %d", node->n_outputs, body->n_outputs);
    zi_control_t *control = s_control_new (node, body, n_body_inputs);
    if (!control)
        return -1;
    control->n_carried = n_carried;
    control->n_scan_inputs = (int) n_scan_inputs;
    control->n_scan_outputs = body->n_outputs - n_carried;
    node->params = control;
    control->in_axes = s_per_item (node, "scan_input_axes", control->n_scan_inputs, 0);
    control->out_axes = control->in_axes?
        s_per_item (node, "scan_output_axes", control->n_scan_outputs, 0): NULL;
    control->in_reverse = control->out_axes?
        s_directions (node, "scan_input_directions", control->n_scan_inputs): NULL;
    control->out_reverse = control->in_reverse?
        s_directions (node, "scan_output_directions", control->n_scan_outputs): NULL;
    if (!control->out_reverse) {
        s_control_destroy (node);
        node->params = NULL;
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The planner's callbacks

static const zi_control_ops_t *
s_ops (const zi_node_t *node)
{
    const zi_control_t *control = node->params;
    assert (control && control->ops);   //  the planner binds before it infers
    return control->ops;
}

static int
s_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    return s_ops (node)->infer (node, in, out);
}

static int
s_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    return s_ops (node)->prepare (node, in);
}

static int
s_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
       zi_tensor_t *const *out)
{
    return s_ops (node)->run (node, exec, in, out);
}

const zi_op_t zi_op_If = {
    .name = "If", .min_inputs = 1, .max_inputs = ZI_MAX_NODE_INPUTS,
    .batch = ZI_BATCH_SUBGRAPH,
    .max_outputs = ZI_MAX_NODE_OUTPUTS, .control = true, .init = s_if_init,
    .infer = s_infer, .prepare = s_prepare, .run = s_run, .destroy = s_control_destroy,
    .row = ZI_CONTROL_IF, .dtypes = {ZI_DT (ZI_BOOL)}
};

const zi_op_t zi_op_Loop = {
    .name = "Loop", .min_inputs = 0, .max_inputs = ZI_MAX_NODE_INPUTS,
    .batch = ZI_BATCH_SUBGRAPH,
    .max_outputs = ZI_MAX_NODE_OUTPUTS, .control = true, .init = s_loop_init,
    .infer = s_infer, .prepare = s_prepare, .run = s_run, .destroy = s_control_destroy,
    .row = ZI_CONTROL_LOOP, .dtypes = {ZI_DT (ZI_I64), ZI_DT (ZI_BOOL)}
};

const zi_op_t zi_op_Scan = {
    .name = "Scan", .min_inputs = 1, .max_inputs = ZI_MAX_NODE_INPUTS,
    .batch = ZI_BATCH_SUBGRAPH,
    .max_outputs = ZI_MAX_NODE_OUTPUTS, .control = true, .init = s_scan_init,
    .infer = s_infer, .prepare = s_prepare, .run = s_run, .destroy = s_control_destroy,
    .row = ZI_CONTROL_SCAN
};

//  --------------------------------------------------------------------------
//  Self test: the attribute checks, on subgraphs that are only counts (the
//  planner's own test runs real ones), and the hand-over to a bound
//  planner

static void
s_test_release (zi_graph_t **graph_p)
{
    *graph_p = NULL;            //  the test's graphs live on its stack
}

static int s_test_calls;        //  callbacks the stand-in planner saw

static int
s_test_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_test_calls++;
    zi_tensor_set_shape (out [0], in [1]->dtype, in [1]->ndim, in [1]->dims);
    return 0;
}

static int
s_test_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    s_test_calls++;
    bool cond = ((const uint8_t *) in [0]->data) [0];
    for (size_t item = 0; item < zi_tensor_count (out [0]); item++)
        zi_tensor_f32 (out [0]) [item] = cond? zi_tensor_f32 (in [1]) [item]: 0;
    return 0;
}

static int
s_test_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_test_calls++;
    return 0;
}

static void
s_test_release_state (zi_control_t *control)
{
    s_test_calls++;
}

static const zi_control_ops_t s_test_ops = {
    s_test_infer, s_test_prepare, s_test_run, s_test_release_state
};

//  A node of op_type whose graph attributes are the given stand-ins
static zi_node_t *
s_test_node (const char *op_type, int n_inputs, int n_outputs)
{
    zi_node_t *node = zi_node_new (op_type, op_type);
    node->n_inputs = n_inputs;
    node->inputs = calloc (n_inputs + 1, sizeof (int));
    node->n_outputs = n_outputs;
    node->outputs = calloc (n_outputs + 1, sizeof (int));
    assert (node->inputs && node->outputs);
    return node;
}

static void
s_test_attach (zi_node_t *node, const char *name, zi_graph_t *graph)
{
    zi_node_set_graph (node, name, &graph, s_test_release);
}

void
zi_act_control_test (zi_test_t *t)
{
    //  If: both branches, each with as many outputs as the node
    zi_graph_t one_output = {.n_outputs = 1, .n_inputs = 1, .n_outer = 1};
    zi_graph_t two_outputs = {.n_outputs = 2, .n_inputs = 1, .n_outer = 1};
    zi_node_t *node = s_test_node ("If", 2, 1);
    s_test_attach (node, "then_branch", &one_output);
    ZI_CHECK (t, zi_op_If.init (node) == -1 && strstr (zi_error_text (), "'else_branch'")
              && strstr (zi_error_text (), "missing"), "missing branch: %s", zi_error_text ());
    s_test_attach (node, "else_branch", &two_outputs);
    ZI_CHECK (t, zi_op_If.init (node) == -1
              && strstr (zi_error_text (), "else_branch has 2 outputs, the node 1"),
              "output count: %s", zi_error_text ());
    s_test_attach (node, "else_branch", &one_output);
    ZI_CHECK (t, zi_op_If.init (node) == 0, "good If: %s", zi_error_text ());
    zi_control_t *control = node->params;
    ZI_CHECK (t, control && control->n_declared == 1 && control->n_outer == 1,
              "condition and one outer value");

    //  Bound to a planner, the callbacks reach it
    control->ops = &s_test_ops;
    s_test_calls = 0;
    zi_tensor_t *cond = zi_tensor_new (ZI_BOOL, 0, NULL);
    ((uint8_t *) cond->data) [0] = 1;
    zi_tensor_t *x = zi_test_random (1, (int64_t []) {5}, 7);
    zi_tensor_t *y = NULL;
    ZI_CHECK (t, zi_test_run_op (node, 2, (zi_tensor_t *[]) {cond, x}, 1, &y) == 0,
              "run through the planner: %s", zi_error_text ());
    ZI_CHECK (t, y && zi_tensor_same_shape (x, y)
              && memcmp (y->data, x->data, x->nbytes) == 0, "the planner's answer");
    ZI_CHECK (t, s_test_calls == 3, "infer, prepare and run handed on (%d)", s_test_calls);
    zi_tensor_destroy (&y);
    //  A condition that is not bool stops before the planner sees it
    ZI_CHECK (t, zi_test_run_op (node, 2, (zi_tensor_t *[]) {x, x}, 1, &y) == -1
              && strstr (zi_error_text (), "If at node 'If': input 0 is float32, expected bool")
              && s_test_calls == 3, "float condition refused: %s", zi_error_text ());
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
    ZI_CHECK (t, s_test_calls == 4, "the planner's state released with the node");
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&cond);

    //  Branches take no inputs of their own
    zi_graph_t with_input = {.n_outputs = 1, .n_inputs = 2, .n_outer = 1};
    node = s_test_node ("If", 2, 1);
    s_test_attach (node, "then_branch", &with_input);
    s_test_attach (node, "else_branch", &one_output);
    ZI_CHECK (t, zi_op_If.init (node) == -1 && strstr (zi_error_text (), "declares 1 inputs"),
              "branch inputs: %s", zi_error_text ());
    zi_node_destroy (&node);

    //  Loop: body (i, cond, a, b) -> (cond, a, b, s): two carried, one scanned
    zi_graph_t body = {.n_inputs = 4, .n_outputs = 4};
    node = s_test_node ("Loop", 4, 3);
    s_test_attach (node, "body", &body);
    ZI_CHECK (t, zi_op_Loop.init (node) == 0, "good Loop: %s", zi_error_text ());
    control = node->params;
    ZI_CHECK (t, control && control->n_carried == 2 && control->n_scan_outputs == 1
              && control->n_declared == 4, "Loop counts");
    zi_node_destroy (&node);
    node = s_test_node ("Loop", 4, 2);
    s_test_attach (node, "body", &body);
    ZI_CHECK (t, zi_op_Loop.init (node) == -1 && strstr (zi_error_text (), "2 outputs, expected 3"),
              "Loop output count: %s", zi_error_text ());
    zi_node_destroy (&node);
    node = s_test_node ("Loop", 2, 3);
    s_test_attach (node, "body", &body);
    ZI_CHECK (t, zi_op_Loop.init (node) == -1 && strstr (zi_error_text (), "2 inputs, expected 4"),
              "Loop input count: %s", zi_error_text ());
    zi_node_destroy (&node);

    //  Scan: body (state, slice) -> (state, slice out), reversed output
    zi_graph_t scan_body = {.n_inputs = 2, .n_outputs = 2};
    node = s_test_node ("Scan", 2, 2);
    s_test_attach (node, "body", &scan_body);
    zi_node_set_int (node, "num_scan_inputs", 1);
    zi_node_set_ints (node, "scan_output_directions", 1, (int64_t []) {1});
    zi_node_set_ints (node, "scan_input_axes", 1, (int64_t []) {-1});
    ZI_CHECK (t, zi_op_Scan.init (node) == 0, "good Scan: %s", zi_error_text ());
    control = node->params;
    ZI_CHECK (t, control && control->n_carried == 1 && control->n_scan_inputs == 1
              && control->n_scan_outputs == 1 && control->out_reverse [0]
              && !control->in_reverse [0] && control->in_axes [0] == -1
              && control->out_axes [0] == 0, "Scan attributes");
    zi_node_destroy (&node);
    node = s_test_node ("Scan", 2, 2);
    s_test_attach (node, "body", &scan_body);
    zi_node_set_int (node, "num_scan_inputs", 1);
    zi_node_set_ints (node, "scan_input_directions", 1, (int64_t []) {2});
    ZI_CHECK (t, zi_op_Scan.init (node) == -1 && strstr (zi_error_text (), "expected 0 (forward)"),
              "Scan direction: %s", zi_error_text ());
    zi_node_destroy (&node);
    node = s_test_node ("Scan", 2, 2);
    s_test_attach (node, "body", &scan_body);
    ZI_CHECK (t, zi_op_Scan.init (node) == -1 && strstr (zi_error_text (), "num_scan_inputs"),
              "Scan without num_scan_inputs: %s", zi_error_text ());
    zi_node_destroy (&node);
}
