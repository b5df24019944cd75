/*  =========================================================================
    zi_control - planning and running the subgraphs of If, Loop and Scan

    A node with subgraphs is one node to everything around it: the session
    runs it like any kernel and a topology gives it one actor, which runs
    its branch or body inside itself. Its subgraphs are planned here, for
    the shapes (and constants) its inputs have in the enclosing plan, like
    a model of their own: folded, fused and prepared. The plans are kept
    in the node and made again only when those shapes change.

    At run time a subgraph runs node after node in the calling thread, in
    tensors allocated for that call: a node's plan is read-only once made,
    so replicas of its actor on several threads share it.

    An If whose condition is a constant at plan time is not kept at all:
    zi_pass_inline_if puts the nodes of the branch it takes into the
    enclosing graph, where they are fused and placed like any others.
    =========================================================================
*/

#include "zi_classes.h"
#include <czmq.h>

//  One subgraph planned for one set of input shapes
typedef struct {
    zi_graph_t *plan;           //  planned copy of the subgraph
    int n_inputs;               //  the subgraph's inputs, declared and outer
    int *input_value;           //  per input: its value in the plan
    bool *bound;                //  per input: a constant of the enclosing plan
    int most_inputs;            //  widest node's input count, for the run
} s_body_t;

//  What a node keeps between calls: the plans of its subgraphs and the
//  input shapes (and constants) they were made for
typedef struct {
    int n_keys;                 //  node inputs
    zi_tensor_t *keys;          //  per input: dtype and shape (data: the constant or NULL)
    s_body_t *bodies [2];       //  If: then, else (NULL when not taken); Loop, Scan: [0]
    char *unplanned [2];        //  If: why a branch could not be planned, or NULL
    int64_t trips;              //  Loop: iterations known at plan time, -1 if not known
} s_state_t;

static void
s_body_destroy (s_body_t **self_p)
{
    s_body_t *self = *self_p;
    if (!self)
        return;
    zi_graph_destroy (&self->plan);
    free (self->input_value);
    free (self->bound);
    free (self);
    *self_p = NULL;
}

static void
s_state_release (zi_control_t *control)
{
    s_state_t *state = control->state;
    if (!state)
        return;
    s_body_destroy (&state->bodies [0]);
    s_body_destroy (&state->bodies [1]);
    free (state->unplanned [0]);
    free (state->unplanned [1]);
    free (state->keys);
    free (state);
    control->state = NULL;
}

//  Plans a copy of graph for the given input tensors (one per subgraph
//  input, NULL where the caller will not know it: taken as the declared
//  shape); inputs with data and constant set become constants of the plan
static s_body_t *
s_body_new (const zi_graph_t *graph, const zi_tensor_t *const *in, const bool *constant,
            const char *what)
{
    s_body_t *self = calloc (1, sizeof (s_body_t));
    assert (self);
    self->plan = zi_graph_dup (graph);
    self->n_inputs = graph->n_inputs;
    self->input_value = calloc (graph->n_inputs + 1, sizeof (int));
    self->bound = calloc (graph->n_inputs + 1, sizeof (bool));
    zi_tensor_t *fed = calloc (graph->n_inputs + 1, sizeof (zi_tensor_t));
    const zi_tensor_t **shapes = calloc (graph->n_inputs + 1, sizeof (zi_tensor_t *));
    assert (self->input_value && self->bound && fed && shapes);
    zi_graph_t *plan = self->plan;
    int n_fed = 0;
    for (int index = 0; index < graph->n_inputs; index++) {
        int value = graph->inputs [index];
        self->input_value [index] = value;
        zi_value_t *info = &plan->values [value];
        zi_tensor_set_shape (&info->info, in [index]->dtype, in [index]->ndim,
                             in [index]->dims);
        info->known = true;
        if (constant [index] && in [index]->data) {
            info->constant = zi_tensor_ref ((zi_tensor_t *) in [index]);
            self->bound [index] = true;
            continue;
        }
        //  Whatever the subgraph declares, it gets what the node is given
        fed [n_fed] = info->info;
        shapes [n_fed] = &fed [n_fed];
        plan->inputs [n_fed++] = value;
    }
    plan->n_inputs = n_fed;
    int rc = zi_graph_plan (plan, (const zi_tensor_t *const *) shapes, false);
    free (shapes);
    free (fed);
    if (rc) {
        zi_error_prefix ("%s", what);
        s_body_destroy (&self);
        return NULL;
    }
    for (int index = 0; index < plan->n_nodes; index++)
        if (plan->nodes [index].n_inputs > self->most_inputs)
            self->most_inputs = plan->nodes [index].n_inputs;
    return self;
}

//  --------------------------------------------------------------------------
//  Running a planned subgraph: a frame holds one tensor per value

typedef struct {
    const s_body_t *body;       //  what runs
    zi_tensor_t **values;       //  per plan value
    bool *borrowed;             //  per plan value: the caller's, not freed here
    const zi_tensor_t **in;     //  room for one node's inputs
} s_frame_t;

static void
s_frame_destroy (s_frame_t *frame)
{
    for (int value = 0; frame->values && value < frame->body->plan->n_values; value++)
        if (!frame->borrowed [value])
            zi_tensor_destroy (&frame->values [value]);
    free (frame->values);
    free (frame->borrowed);
    free (frame->in);
}

//  Allocates every value the body makes, for as many runs as the caller
//  makes with this frame
static int
s_frame_init (s_frame_t *frame, const s_body_t *body)
{
    const zi_graph_t *plan = body->plan;
    frame->body = body;
    frame->values = calloc (plan->n_values + 1, sizeof (zi_tensor_t *));
    frame->borrowed = calloc (plan->n_values + 1, sizeof (bool));
    frame->in = calloc (body->most_inputs + 1, sizeof (zi_tensor_t *));
    assert (frame->values && frame->borrowed && frame->in);
    for (int value = 0; value < plan->n_values; value++)
        if (plan->values [value].constant)
            frame->values [value] = zi_tensor_ref (plan->values [value].constant);
    for (int index = 0; index < plan->n_nodes; index++) {
        const zi_node_t *node = &plan->nodes [index];
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            if (value < 0 || frame->values [value])
                continue;
            const zi_tensor_t *info = &plan->values [value].info;
            frame->values [value] = zi_tensor_new (info->dtype, info->ndim, info->dims);
            if (!frame->values [value])
                return -1;
        }
    }
    return 0;
}

//  The i-th input of the body reads tensor (the caller keeps it)
static void
s_frame_bind (s_frame_t *frame, int input, const zi_tensor_t *tensor)
{
    if (frame->body->bound [input])
        return;                 //  a constant of the plan already
    int value = frame->body->input_value [input];
    frame->values [value] = (zi_tensor_t *) tensor;
    frame->borrowed [value] = true;
}

static int
s_frame_run (s_frame_t *frame, zi_exec_t *exec)
{
    zi_graph_t *plan = frame->body->plan;
    for (int index = 0; index < plan->n_nodes; index++) {
        zi_node_t *node = &plan->nodes [index];
        for (int slot = 0; slot < node->n_inputs; slot++)
            frame->in [slot] = node->inputs [slot] >= 0? frame->values [node->inputs [slot]]: NULL;
        zi_tensor_t *out [ZI_MAX_NODE_OUTPUTS];
        for (int slot = 0; slot < node->n_outputs; slot++)
            out [slot] = node->outputs [slot] >= 0? frame->values [node->outputs [slot]]: NULL;
        if (node->op->run (node, exec, frame->in, out)) {
            zi_error_prefix ("node '%s' (%s)", node->name, node->op_type);
            return -1;
        }
    }
    return 0;
}

//  The body's output k after a run
static const zi_tensor_t *
s_frame_output (const s_frame_t *frame, int output)
{
    return frame->values [frame->body->plan->outputs [output]];
}

//  Copies src into dst of the same size (they may be the same tensor)
static void
s_copy (zi_tensor_t *dst, const zi_tensor_t *src)
{
    if (dst && dst->data != src->data)
        memcpy (dst->data, src->data, src->nbytes);
}

//  --------------------------------------------------------------------------
//  Plans per input shapes: made again only when the inputs change

//  Has the node seen these inputs before? Else remembers them.
static bool
s_same_inputs (zi_control_t *control, zi_node_t *node, const zi_tensor_t *const *in)
{
    s_state_t *state = control->state;
    if (!state) {
        state = control->state = calloc (1, sizeof (s_state_t));
        assert (state);
    }
    bool same = state->keys && state->n_keys == node->n_inputs;
    for (int slot = 0; same && slot < node->n_inputs; slot++) {
        const zi_tensor_t *key = &state->keys [slot];
        if (!in [slot])
            same = key->ndim < 0;
        else
            same = key->ndim >= 0 && zi_tensor_same_shape (key, in [slot])
                && key->data == in [slot]->data;
    }
    if (same)
        return true;
    s_body_destroy (&state->bodies [0]);
    s_body_destroy (&state->bodies [1]);
    for (int side = 0; side < 2; side++) {
        free (state->unplanned [side]);
        state->unplanned [side] = NULL;
    }
    free (state->keys);
    state->n_keys = node->n_inputs;
    state->keys = calloc (node->n_inputs + 1, sizeof (zi_tensor_t));
    assert (state->keys);
    for (int slot = 0; slot < node->n_inputs; slot++) {
        if (!in [slot]) {
            state->keys [slot].ndim = -1;
            continue;
        }
        zi_tensor_set_shape (&state->keys [slot], in [slot]->dtype, in [slot]->ndim,
                             in [slot]->dims);
        state->keys [slot].data = in [slot]->data;  //  only compared, never read
    }
    return false;
}

//  A constant's first element as a truth value; 1 or 0, or -1 if not known
static int
s_constant_truth (const zi_tensor_t *tensor)
{
    if (!tensor || !tensor->data || zi_tensor_count (tensor) < 1)
        return -1;
    switch (tensor->dtype) {
        case ZI_BOOL: return ((const uint8_t *) tensor->data) [0] != 0;
        case ZI_I64:  return ((const int64_t *) tensor->data) [0] != 0;
        case ZI_F32:  return ((const float *) tensor->data) [0] != 0;
        default:      return -1;
    }
}

static int
s_check_condition (const zi_tensor_t *cond, const char *what)
{
    if (cond && (cond->dtype != ZI_BOOL || zi_tensor_count (cond) != 1)) {
        char shape [128];
        return zi_error ("%s: expected a bool of one element, got %s %s", what,
                         zi_dtype_name (cond->dtype),
                         zi_shape_str (cond->ndim, cond->dims, shape, sizeof shape));
    }
    return 0;
}

//  The node's outer inputs bound to the subgraph's last inputs; what is
//  constant in the enclosing plan stays constant in the subgraph's
static void
s_outer_inputs (const zi_control_t *control, const zi_graph_t *graph,
                const zi_tensor_t *const *in, const zi_tensor_t **sub_in, bool *constant)
{
    int first = graph->n_inputs - graph->n_outer;
    for (int outer = 0; outer < control->n_outer; outer++) {
        sub_in [first + outer] = in [control->n_declared + outer];
        constant [first + outer] = true;
    }
}

static const char *
s_shape_text (const zi_tensor_t *tensor, char *text, size_t size)
{
    char shape [128];
    snprintf (text, size, "%s %s", zi_dtype_name (tensor->dtype),
              zi_shape_str (tensor->ndim, tensor->dims, shape, sizeof shape));
    return text;
}

//  --------------------------------------------------------------------------
//  If

//  With the condition known only per request, a branch that cannot be
//  planned for these inputs does not fail the model as long as the other
//  can: exporters guard code for other input sizes with an If (Silero VAD
//  runs its 8 kHz network only on 8 kHz chunks), and a request fails only
//  if it takes that branch, with the reason found here
static int
s_if_plan (zi_node_t *node, const zi_tensor_t *const *in)
{
    zi_control_t *control = node->params;
    if (s_same_inputs (control, node, in))
        return 0;
    s_state_t *state = control->state;
    if (s_check_condition (in [0], "input 0 (cond)"))
        return -1;
    int truth = s_constant_truth (in [0]);
    const char *names [2] = {"then_branch", "else_branch"};
    for (int side = 0; side < 2; side++) {
        if (truth == side)      //  the constant condition never takes it
            continue;
        const zi_graph_t *branch = zi_node_attr_graph (node, names [side]);
        const zi_tensor_t **sub_in = calloc (branch->n_inputs + 1, sizeof (zi_tensor_t *));
        bool *constant = calloc (branch->n_inputs + 1, sizeof (bool));
        assert (sub_in && constant);
        s_outer_inputs (control, branch, in, sub_in, constant);
        state->bodies [side] = s_body_new (branch, sub_in, constant, names [side]);
        free (sub_in);
        free (constant);
        if (!state->bodies [side]) {
            if (truth < 0) {
                state->unplanned [side] = strdup (zi_error_text ());
                assert (state->unplanned [side]);
                if (side == 0 || state->bodies [0])
                    continue;
                zi_error ("%s; %s", state->unplanned [0], state->unplanned [1]);
            }
            state->n_keys = 0;  //  plan again next time
            return -1;
        }
    }
    return 0;
}

static int
s_if_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    if (s_if_plan (node, in))
        return -1;
    s_state_t *state = ((zi_control_t *) node->params)->state;
    const s_body_t *then_body = state->bodies [0], *else_body = state->bodies [1];
    for (int slot = 0; slot < node->n_outputs; slot++) {
        const zi_tensor_t *then_out = then_body?
            &then_body->plan->values [then_body->plan->outputs [slot]].info: NULL;
        const zi_tensor_t *else_out = else_body?
            &else_body->plan->values [else_body->plan->outputs [slot]].info: NULL;
        //  Every request's output has one planned shape: both branches
        //  must give it, unless the condition is known now
        if (then_out && else_out && !zi_tensor_same_shape (then_out, else_out)) {
            char then_text [160], else_text [160];
            return zi_error ("output %d is %s in then_branch and %s in else_branch; branches "
                             "of different shapes are supported only when the condition is "
                             "known at plan time", slot,
                             s_shape_text (then_out, then_text, sizeof then_text),
                             s_shape_text (else_out, else_text, sizeof else_text));
        }
        const zi_tensor_t *info = then_out? then_out: else_out;
        zi_tensor_set_shape (out [slot], info->dtype, info->ndim, info->dims);
    }
    return 0;
}

static int
s_if_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    return s_if_plan (node, in);
}

static int
s_if_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
          zi_tensor_t *const *out)
{
    zi_control_t *control = node->params;
    s_state_t *state = control->state;
    int side = ((const uint8_t *) in [0]->data) [0]? 0: 1;
    const s_body_t *body = state->bodies [side];
    if (!body) {
        assert (state->unplanned [side]);       //  planned for every condition it can see
        return zi_error ("%s cannot run on these inputs: %s",
                         side? "else_branch": "then_branch", state->unplanned [side]);
    }
    s_frame_t frame = {0};
    int rc = s_frame_init (&frame, body);
    for (int outer = 0; outer < control->n_outer; outer++)
        s_frame_bind (&frame, outer, in [control->n_declared + outer]);
    if (rc == 0)
        rc = s_frame_run (&frame, exec);
    if (rc == 0)
        for (int slot = 0; slot < node->n_outputs; slot++)
            s_copy (out [slot], s_frame_output (&frame, slot));
    else
        zi_error_prefix (side? "else_branch": "then_branch");
    s_frame_destroy (&frame);
    return rc;
}

//  --------------------------------------------------------------------------
//  Loop

//  Follows Identity nodes back from a value
static int
s_through_identity (const zi_graph_t *plan, int value)
{
    for (int steps = 0; steps < plan->n_nodes; steps++) {
        int producer = value >= 0? plan->values [value].producer: -1;
        if (producer < 0 || strcmp (plan->nodes [producer].op_type, "Identity"))
            break;
        value = plan->nodes [producer].inputs [0];
    }
    return value;
}

static int
s_loop_plan (zi_node_t *node, const zi_tensor_t *const *in)
{
    zi_control_t *control = node->params;
    if (s_same_inputs (control, node, in))
        return 0;
    s_state_t *state = control->state;
    const zi_tensor_t *trips = node->n_inputs > 0? in [0]: NULL;
    const zi_tensor_t *cond = node->n_inputs > 1? in [1]: NULL;
    if (trips && (trips->dtype != ZI_I64 || zi_tensor_count (trips) != 1)) {
        char text [160];
        return zi_error ("input 0 (M): expected an int64 of one element, got %s",
                         s_shape_text (trips, text, sizeof text));
    }
    if (s_check_condition (cond, "input 1 (cond)"))
        return -1;
    const zi_graph_t *body = zi_node_attr_graph (node, "body");
    const zi_tensor_t **sub_in = calloc (body->n_inputs + 1, sizeof (zi_tensor_t *));
    bool *constant = calloc (body->n_inputs + 1, sizeof (bool));
    assert (sub_in && constant);
    zi_tensor_t iteration, condition;
    zi_tensor_set_shape (&iteration, ZI_I64, 0, NULL);
    zi_tensor_set_shape (&condition, ZI_BOOL, 0, NULL);
    sub_in [0] = &iteration;
    sub_in [1] = &condition;
    for (int carried = 0; carried < control->n_carried; carried++)
        sub_in [2 + carried] = in [2 + carried];
    s_outer_inputs (control, body, in, sub_in, constant);
    int rc = 0;
    for (int index = 0; index < 2 + control->n_carried && rc == 0; index++)
        if (!sub_in [index])
            rc = zi_error ("input %d (a loop-carried value) is left out", index);
    if (rc == 0) {
        state->bodies [0] = s_body_new (body, sub_in, constant, "body");
        rc = state->bodies [0]? 0: -1;
    }
    free (sub_in);
    free (constant);
    if (rc) {
        state->n_keys = 0;
        return -1;
    }
    const zi_graph_t *plan = state->bodies [0]->plan;
    const zi_tensor_t *cond_out = &plan->values [plan->outputs [0]].info;
    if (s_check_condition (cond_out, "the body's output 0 (cond)"))
        return state->n_keys = 0, -1;
    for (int carried = 0; carried < control->n_carried; carried++) {
        const zi_tensor_t *before = in [2 + carried];
        const zi_tensor_t *after = &plan->values [plan->outputs [1 + carried]].info;
        if (!zi_tensor_same_shape (before, after)) {
            char before_text [160], after_text [160];
            state->n_keys = 0;
            return zi_error ("loop-carried value %d is %s before the body and %s after it; "
                             "loop-carried values that change shape are not supported",
                             carried, s_shape_text (before, before_text, sizeof before_text),
                             s_shape_text (after, after_text, sizeof after_text));
        }
    }
    //  Scan outputs stack one slice per iteration, so their shape needs the
    //  number of iterations now: a constant M, and a condition that cannot
    //  stop the loop early (the body passes its condition input on, or
    //  gives a constant true)
    state->trips = -1;
    int first_truth = cond? s_constant_truth (cond): 1;
    int cond_value = s_through_identity (plan, plan->outputs [0]);
    bool stays = cond_value == state->bodies [0]->input_value [1]
              || s_constant_truth (plan->values [cond_value].constant) == 1;
    if (first_truth == 1 && stays && !trips) {
        state->n_keys = 0;
        return zi_error ("the loop never stops: it has no trip count M, and its condition "
                         "stays true");
    }
    if (first_truth == 0)
        state->trips = 0;
    else
    if (first_truth == 1 && stays && trips && trips->data)
        state->trips = ((const int64_t *) trips->data) [0] < 0? 0:
                       ((const int64_t *) trips->data) [0];
    if (control->n_scan_outputs > 0 && state->trips < 0) {
        state->n_keys = 0;
        return zi_error ("%d scan outputs need the number of iterations at plan time: a "
                         "constant trip count M and a condition that stays true (%s)",
                         control->n_scan_outputs,
                         !trips? "M is left out": !trips->data? "M is computed at run time":
                         "the condition may change");
    }
    return 0;
}

static int
s_loop_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    if (s_loop_plan (node, in))
        return -1;
    zi_control_t *control = node->params;
    s_state_t *state = control->state;
    const zi_graph_t *plan = state->bodies [0]->plan;
    for (int carried = 0; carried < control->n_carried; carried++)
        zi_tensor_set_shape (out [carried], in [2 + carried]->dtype, in [2 + carried]->ndim,
                             in [2 + carried]->dims);
    for (int scan = 0; scan < control->n_scan_outputs; scan++) {
        const zi_tensor_t *slice = &plan->values [plan->outputs [1 + control->n_carried + scan]].info;
        if (slice->ndim + 1 > ZI_MAX_DIMS)
            return zi_error ("scan output %d: slices of %d dimensions, at most %d supported",
                             scan, slice->ndim, ZI_MAX_DIMS - 1);
        int64_t dims [ZI_MAX_DIMS];
        dims [0] = state->trips;
        memcpy (dims + 1, slice->dims, slice->ndim * sizeof (int64_t));
        if (zi_shape_count (slice->ndim + 1, dims) < 0)
            return zi_error ("scan output %d: %lld iterations of %s are too many", scan,
                             (long long) state->trips, zi_dtype_name (slice->dtype));
        zi_tensor_set_shape (out [control->n_carried + scan], slice->dtype, slice->ndim + 1, dims);
    }
    return 0;
}

static int
s_loop_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    return s_loop_plan (node, in);
}

//  Loop-carried values live in two sets of tensors: the body reads one
//  and its outputs are copied into the other, which the next iteration
//  reads (a body may swap them, so neither set can be written in place)
static zi_tensor_t **
s_carried_new (int count, const zi_tensor_t *const *like)
{
    zi_tensor_t **tensors = calloc (count + 1, sizeof (zi_tensor_t *));
    assert (tensors);
    for (int index = 0; index < count; index++) {
        tensors [index] = zi_tensor_new (like [index]->dtype, like [index]->ndim,
                                         like [index]->dims);
        if (!tensors [index])
            return tensors;     //  the caller sees the NULL
    }
    return tensors;
}

static void
s_carried_destroy (zi_tensor_t **tensors, int count)
{
    for (int index = 0; tensors && index < count; index++)
        zi_tensor_destroy (&tensors [index]);
    free (tensors);
}

static int
s_loop_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    zi_control_t *control = node->params;
    s_state_t *state = control->state;
    const s_body_t *body = state->bodies [0];
    int n_carried = control->n_carried;
    const zi_tensor_t *trips = node->n_inputs > 0? in [0]: NULL;
    const zi_tensor_t *cond = node->n_inputs > 1? in [1]: NULL;
    int64_t limit = trips? ((const int64_t *) trips->data) [0]: INT64_MAX;
    bool going = cond? ((const uint8_t *) cond->data) [0] != 0: true;

    s_frame_t frame = {0};
    zi_tensor_t **current = s_carried_new (n_carried, in + 2);
    zi_tensor_t **next = s_carried_new (n_carried, in + 2);
    zi_tensor_t *iteration = zi_tensor_new (ZI_I64, 0, NULL);
    zi_tensor_t *condition = zi_tensor_new (ZI_BOOL, 0, NULL);
    int rc = iteration && condition? s_frame_init (&frame, body): -1;
    for (int index = 0; index < n_carried && rc == 0; index++)
        if (!current [index] || !next [index])
            rc = -1;
        else
            s_copy (current [index], in [2 + index]);
    for (int outer = 0; outer < control->n_outer && rc == 0; outer++)
        s_frame_bind (&frame, 2 + n_carried + outer, in [control->n_declared + outer]);
    int64_t done = 0;
    for (; rc == 0 && going && done < limit; done++) {
        if (control->n_scan_outputs > 0 && done >= state->trips) {
            rc = zi_error ("the loop runs past the %lld iterations it was planned for",
                           (long long) state->trips);
            break;
        }
        ((int64_t *) iteration->data) [0] = done;
        ((uint8_t *) condition->data) [0] = 1;
        s_frame_bind (&frame, 0, iteration);
        s_frame_bind (&frame, 1, condition);
        for (int index = 0; index < n_carried; index++)
            s_frame_bind (&frame, 2 + index, current [index]);
        if (s_frame_run (&frame, exec)) {
            zi_error_prefix ("body, iteration %lld", (long long) done);
            rc = -1;
            break;
        }
        going = ((const uint8_t *) s_frame_output (&frame, 0)->data) [0] != 0;
        for (int index = 0; index < n_carried; index++)
            s_copy (next [index], s_frame_output (&frame, 1 + index));
        zi_tensor_t **swap = current;
        current = next;
        next = swap;
        for (int scan = 0; scan < control->n_scan_outputs; scan++) {
            const zi_tensor_t *slice = s_frame_output (&frame, 1 + n_carried + scan);
            zi_tensor_t *stacked = out [n_carried + scan];
            if (stacked)
                memcpy ((char *) stacked->data + done * slice->nbytes, slice->data, slice->nbytes);
        }
    }
    if (rc == 0 && control->n_scan_outputs > 0 && done != state->trips)
        rc = zi_error ("the loop stopped after %lld of the %lld iterations it was planned for",
                       (long long) done, (long long) state->trips);
    for (int index = 0; index < n_carried && rc == 0; index++)
        s_copy (out [index], current [index]);
    s_frame_destroy (&frame);
    s_carried_destroy (current, n_carried);
    s_carried_destroy (next, n_carried);
    zi_tensor_destroy (&iteration);
    zi_tensor_destroy (&condition);
    return rc;
}

//  --------------------------------------------------------------------------
//  Scan

//  A tensor seen as [outer, length, inner]: length along axis, inner in bytes
typedef struct {
    int64_t outer;              //  product of the dimensions before the axis
    int64_t length;             //  the axis
    size_t inner;               //  bytes of the dimensions after it
} s_strides_t;

static s_strides_t
s_strides (const zi_tensor_t *tensor, int axis)
{
    s_strides_t strides = {1, tensor->dims [axis], zi_dtype_size (tensor->dtype)};
    for (int dim = 0; dim < axis; dim++)
        strides.outer *= tensor->dims [dim];
    for (int dim = axis + 1; dim < tensor->ndim; dim++)
        strides.inner *= (size_t) tensor->dims [dim];
    return strides;
}

//  Copies position `at` along the axis between a tensor and one slice;
//  into_slice says which way
static void
s_slice_copy (const s_strides_t *strides, char *whole, char *slice, int64_t at, bool into_slice)
{
    for (int64_t row = 0; row < strides->outer; row++) {
        char *part = whole + ((size_t) (row * strides->length + at)) * strides->inner;
        char *piece = slice + (size_t) row * strides->inner;
        if (into_slice)
            memcpy (piece, part, strides->inner);
        else
            memcpy (part, piece, strides->inner);
    }
}

//  A Scan input's axis, or -1 with an error
static int
s_scan_axis (int64_t axis, int ndim, const char *what, int index)
{
    if (axis < -ndim || axis >= ndim)
        return zi_error ("%s [%d] is %lld, out of range for rank %d", what, index,
                         (long long) axis, ndim);
    return (int) (axis < 0? axis + ndim: axis);
}

static int
s_scan_plan (zi_node_t *node, const zi_tensor_t *const *in)
{
    zi_control_t *control = node->params;
    if (s_same_inputs (control, node, in))
        return 0;
    s_state_t *state = control->state;
    const zi_graph_t *body = zi_node_attr_graph (node, "body");
    const zi_tensor_t **sub_in = calloc (body->n_inputs + 1, sizeof (zi_tensor_t *));
    bool *constant = calloc (body->n_inputs + 1, sizeof (bool));
    zi_tensor_t *slices = calloc (control->n_scan_inputs + 1, sizeof (zi_tensor_t));
    assert (sub_in && constant && slices);
    int rc = 0;
    state->trips = -1;
    for (int index = 0; index < control->n_declared && rc == 0; index++)
        if (!in [index])
            rc = zi_error ("input %d is left out", index);
    for (int carried = 0; carried < control->n_carried && rc == 0; carried++)
        sub_in [carried] = in [carried];
    for (int scan = 0; scan < control->n_scan_inputs && rc == 0; scan++) {
        const zi_tensor_t *sequence = in [control->n_carried + scan];
        int axis = s_scan_axis (control->in_axes [scan], sequence->ndim, "scan_input_axes", scan);
        if (axis < 0) {
            rc = -1;
            break;
        }
        int64_t length = sequence->dims [axis];
        if (state->trips >= 0 && length != state->trips) {
            rc = zi_error ("scan input %d has %lld items along its axis, scan input 0 has %lld",
                           scan, (long long) length, (long long) state->trips);
            break;
        }
        state->trips = length;
        int64_t dims [ZI_MAX_DIMS];
        int ndim = 0;
        for (int dim = 0; dim < sequence->ndim; dim++)
            if (dim != axis)
                dims [ndim++] = sequence->dims [dim];
        zi_tensor_set_shape (&slices [scan], sequence->dtype, ndim, dims);
        sub_in [control->n_carried + scan] = &slices [scan];
    }
    if (rc == 0) {
        s_outer_inputs (control, body, in, sub_in, constant);
        state->bodies [0] = s_body_new (body, sub_in, constant, "body");
        rc = state->bodies [0]? 0: -1;
    }
    free (sub_in);
    free (constant);
    free (slices);
    if (rc == 0) {
        const zi_graph_t *plan = state->bodies [0]->plan;
        for (int carried = 0; carried < control->n_carried; carried++) {
            const zi_tensor_t *after = &plan->values [plan->outputs [carried]].info;
            if (!zi_tensor_same_shape (in [carried], after)) {
                char before_text [160], after_text [160];
                rc = zi_error ("state %d is %s before the body and %s after it; states that "
                               "change shape are not supported", carried,
                               s_shape_text (in [carried], before_text, sizeof before_text),
                               s_shape_text (after, after_text, sizeof after_text));
                break;
            }
        }
    }
    if (rc)
        state->n_keys = 0;
    return rc;
}

static int
s_scan_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    if (s_scan_plan (node, in))
        return -1;
    zi_control_t *control = node->params;
    s_state_t *state = control->state;
    const zi_graph_t *plan = state->bodies [0]->plan;
    for (int carried = 0; carried < control->n_carried; carried++)
        zi_tensor_set_shape (out [carried], in [carried]->dtype, in [carried]->ndim,
                             in [carried]->dims);
    for (int scan = 0; scan < control->n_scan_outputs; scan++) {
        const zi_tensor_t *slice = &plan->values [plan->outputs [control->n_carried + scan]].info;
        if (slice->ndim + 1 > ZI_MAX_DIMS)
            return zi_error ("scan output %d: slices of %d dimensions, at most %d supported",
                             scan, slice->ndim, ZI_MAX_DIMS - 1);
        int axis = s_scan_axis (control->out_axes [scan], slice->ndim + 1, "scan_output_axes",
                                scan);
        if (axis < 0)
            return -1;
        int64_t dims [ZI_MAX_DIMS];
        for (int dim = 0, from = 0; dim < slice->ndim + 1; dim++)
            dims [dim] = dim == axis? state->trips: slice->dims [from++];
        zi_tensor_set_shape (out [control->n_carried + scan], slice->dtype, slice->ndim + 1,
                             dims);
    }
    return 0;
}

static int
s_scan_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    return s_scan_plan (node, in);
}

static int
s_scan_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    zi_control_t *control = node->params;
    s_state_t *state = control->state;
    const s_body_t *body = state->bodies [0];
    const zi_graph_t *plan = body->plan;
    int n_carried = control->n_carried, n_in = control->n_scan_inputs;
    s_frame_t frame = {0};
    zi_tensor_t **current = s_carried_new (n_carried, in);
    zi_tensor_t **next = s_carried_new (n_carried, in);
    zi_tensor_t **slices = calloc (n_in + 1, sizeof (zi_tensor_t *));
    s_strides_t *in_strides = calloc (n_in + 1, sizeof (s_strides_t));
    s_strides_t *out_strides = calloc (control->n_scan_outputs + 1, sizeof (s_strides_t));
    assert (slices && in_strides && out_strides);
    int rc = s_frame_init (&frame, body);
    for (int index = 0; index < n_carried && rc == 0; index++)
        if (!current [index] || !next [index])
            rc = -1;
        else
            s_copy (current [index], in [index]);
    for (int scan = 0; scan < n_in && rc == 0; scan++) {
        const zi_tensor_t *sequence = in [n_carried + scan];
        int axis = (int) (control->in_axes [scan] < 0? control->in_axes [scan] + sequence->ndim:
                                                       control->in_axes [scan]);
        in_strides [scan] = s_strides (sequence, axis);
        const zi_tensor_t *info = &plan->values [body->input_value [n_carried + scan]].info;
        slices [scan] = zi_tensor_new (info->dtype, info->ndim, info->dims);
        if (!slices [scan])
            rc = -1;
        else
            s_frame_bind (&frame, n_carried + scan, slices [scan]);
    }
    for (int scan = 0; scan < control->n_scan_outputs; scan++) {
        const zi_tensor_t *stacked = out [n_carried + scan];
        if (!stacked)
            continue;
        int axis = (int) (control->out_axes [scan] < 0? control->out_axes [scan] + stacked->ndim:
                                                        control->out_axes [scan]);
        out_strides [scan] = s_strides (stacked, axis);
    }
    for (int outer = 0; outer < control->n_outer && rc == 0; outer++)
        s_frame_bind (&frame, control->n_declared + outer, in [control->n_declared + outer]);
    for (int64_t step = 0; step < state->trips && rc == 0; step++) {
        for (int scan = 0; scan < n_in; scan++) {
            int64_t at = control->in_reverse [scan]? state->trips - 1 - step: step;
            s_slice_copy (&in_strides [scan], in [n_carried + scan]->data, slices [scan]->data,
                          at, true);
        }
        for (int index = 0; index < n_carried; index++)
            s_frame_bind (&frame, index, current [index]);
        if (s_frame_run (&frame, exec)) {
            zi_error_prefix ("body, step %lld", (long long) step);
            rc = -1;
            break;
        }
        for (int index = 0; index < n_carried; index++)
            s_copy (next [index], s_frame_output (&frame, index));
        zi_tensor_t **swap = current;
        current = next;
        next = swap;
        for (int scan = 0; scan < control->n_scan_outputs; scan++) {
            zi_tensor_t *stacked = out [n_carried + scan];
            if (!stacked)
                continue;
            int64_t at = control->out_reverse [scan]? state->trips - 1 - step: step;
            s_slice_copy (&out_strides [scan], stacked->data,
                          (char *) s_frame_output (&frame, n_carried + scan)->data, at, false);
        }
    }
    for (int index = 0; index < n_carried && rc == 0; index++)
        s_copy (out [index], current [index]);
    s_frame_destroy (&frame);
    s_carried_destroy (current, n_carried);
    s_carried_destroy (next, n_carried);
    s_carried_destroy (slices, n_in);
    free (in_strides);
    free (out_strides);
    return rc;
}

//  --------------------------------------------------------------------------
//  Binding nodes to their callbacks

static const zi_control_ops_t s_if_ops = {
    s_if_infer, s_if_prepare, s_if_run, s_state_release
};
static const zi_control_ops_t s_loop_ops = {
    s_loop_infer, s_loop_prepare, s_loop_run, s_state_release
};
static const zi_control_ops_t s_scan_ops = {
    s_scan_infer, s_scan_prepare, s_scan_run, s_state_release
};

void
zi_control_bind (zi_node_t *node)
{
    zi_control_t *control = node->params;
    assert (node->op->control && control);
    if (control->ops)
        return;
    switch ((zi_control_kind_t) node->op->row) {
        case ZI_CONTROL_IF:
            control->ops = &s_if_ops;
            break;
        case ZI_CONTROL_LOOP:
            control->ops = &s_loop_ops;
            break;
        case ZI_CONTROL_SCAN:
            control->ops = &s_scan_ops;
            break;
    }
    assert (control->ops);
}

//  --------------------------------------------------------------------------
//  Inlining an If whose condition is known

//  A node name not yet taken in the graph (names: the taken ones)
static char *
s_unique_name (zhashx_t *names, const char *outer, const char *inner)
{
    char name [256];
    snprintf (name, sizeof name, "%s", inner);
    if (zhashx_lookup (names, name))
        snprintf (name, sizeof name, "%.120s/%.120s", outer, inner);
    for (int suffix = 2; zhashx_lookup (names, name); suffix++)
        snprintf (name, sizeof name, "%.120s/%.120s_%d", outer, inner, suffix);
    zhashx_insert (names, name, (void *) 1);
    return strdup (name);
}

//  Replaces the node at index by count nodes (taken over), in that place:
//  the graph stays in topological order, which pruning relies on
static void
s_splice (zi_graph_t *self, int index, zi_node_t *nodes, int count)
{
    int n_after = self->n_nodes - index - 1;
    int most = self->n_nodes - 1 + count;
    if (most > self->max_nodes) {
        self->max_nodes = most;
        self->nodes = realloc (self->nodes, self->max_nodes * sizeof (zi_node_t));
        assert (self->nodes);
    }
    zi_node_clear (&self->nodes [index]);
    memmove (&self->nodes [index + count], &self->nodes [index + 1],
             n_after * sizeof (zi_node_t));
    memcpy (&self->nodes [index], nodes, count * sizeof (zi_node_t));
    self->n_nodes = most;
}

//  Puts the nodes of branch into self in place of the If node at index;
//  returns how many nodes took its place
static int
s_inline (zi_graph_t *self, int index, const zi_graph_t *branch, zhashx_t *names)
{
    zi_node_t *node = &self->nodes [index];
    char *if_name = strdup (node->name);
    int n_node_outputs = node->n_outputs;
    int *node_outputs = malloc ((n_node_outputs + 1) * sizeof (int));
    assert (node_outputs);
    memcpy (node_outputs, node->outputs, n_node_outputs * sizeof (int));
    //  Where each of the branch's values lives in self
    int *into = malloc ((branch->n_values + 1) * sizeof (int));
    assert (into);
    for (int value = 0; value < branch->n_values; value++)
        into [value] = -1;
    const zi_control_t *control = node->params;
    for (int outer = 0; outer < branch->n_outer; outer++)
        into [branch->inputs [outer]] = node->inputs [control->n_declared + outer];
    //  A value the branch makes, given out once, becomes the If's output
    //  itself; the rest are copied there by an Identity
    bool *made = calloc (branch->n_values + 1, sizeof (bool));
    assert (made);
    for (int at = 0; at < branch->n_nodes; at++)
        for (int slot = 0; slot < branch->nodes [at].n_outputs; slot++)
            if (branch->nodes [at].outputs [slot] >= 0)
                made [branch->nodes [at].outputs [slot]] = true;
    bool *copied = calloc (n_node_outputs + 1, sizeof (bool));
    assert (copied);
    for (int slot = 0; slot < n_node_outputs; slot++) {
        int value = branch->outputs [slot];
        if (made [value] && into [value] < 0 && node_outputs [slot] >= 0)
            into [value] = node_outputs [slot];
        else
            copied [slot] = true;
    }
    for (int value = 0; value < branch->n_values; value++) {
        if (into [value] >= 0 || (!made [value] && !branch->values [value].constant))
            continue;
        into [value] = zi_graph_new_value (self, branch->values [value].name);
        zi_value_t *fresh = &self->values [into [value]];
        if (branch->values [value].constant) {
            fresh->constant = zi_tensor_ref (branch->values [value].constant);
            fresh->info = branch->values [value].info;
            fresh->known = true;
        }
    }
    //  The branch's nodes, then an Identity per output copied
    zi_node_t *fresh = calloc (branch->n_nodes + n_node_outputs + 1, sizeof (zi_node_t));
    assert (fresh);
    int n_fresh = 0;
    for (int at = 0; at < branch->n_nodes; at++) {
        zi_node_t copy;
        zi_graph_copy_node (&copy, &branch->nodes [at]);
        free (copy.name);
        copy.name = s_unique_name (names, if_name, branch->nodes [at].name);
        for (int slot = 0; slot < copy.n_inputs; slot++)
            if (copy.inputs [slot] >= 0)
                copy.inputs [slot] = into [copy.inputs [slot]];
        for (int slot = 0; slot < copy.n_outputs; slot++)
            if (copy.outputs [slot] >= 0)
                copy.outputs [slot] = into [copy.outputs [slot]];
        fresh [n_fresh++] = copy;
    }
    for (int slot = 0; slot < n_node_outputs; slot++) {
        if (!copied [slot] || node_outputs [slot] < 0)
            continue;
        char base [300];
        snprintf (base, sizeof base, "%.200s/output_%d", if_name, slot);
        char *name = s_unique_name (names, if_name, base);
        zi_node_t *identity = zi_node_new ("Identity", name);
        free (name);
        identity->n_inputs = 1;
        identity->inputs = malloc (2 * sizeof (int));
        identity->n_outputs = 1;
        identity->outputs = malloc (2 * sizeof (int));
        assert (identity->inputs && identity->outputs);
        identity->inputs [0] = into [branch->outputs [slot]];
        identity->outputs [0] = node_outputs [slot];
        fresh [n_fresh++] = *identity;
        free (identity);
    }
    s_splice (self, index, fresh, n_fresh);
    free (fresh);
    free (copied);
    free (made);
    free (into);
    free (node_outputs);
    free (if_name);
    return n_fresh;
}

int
zi_pass_inline_if (zi_graph_t *self)
{
    int n_nodes = self->n_nodes, inlined = 0;
    zhashx_t *names = NULL;
    for (int index = 0; index < n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        if (!node->op_type || strcmp (node->op_type, "If") || node->inputs [0] < 0)
            continue;
        int truth = s_constant_truth (self->values [node->inputs [0]].constant);
        if (truth < 0)
            continue;
        if (!names) {
            names = zhashx_new ();
            for (int other = 0; other < self->n_nodes; other++)
                if (self->nodes [other].op_type)
                    zhashx_insert (names, self->nodes [other].name, (void *) 1);
        }
        int count = s_inline (self, index,
                              zi_node_attr_graph (node, truth? "then_branch": "else_branch"),
                              names);
        //  The nodes put in its place are looked at on the next pass
        index += count - 1;
        n_nodes += count - 1;
        inlined++;
    }
    zhashx_destroy (&names);
    return inlined;
}
