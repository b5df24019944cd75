/*  =========================================================================
    zi_session - runs a model locally, node after node

    A session owns a planned copy of the model's graph and one buffer per
    intermediate value. Buffers are shared between values whose lifetimes
    do not overlap (greedy best fit in execution order), so memory stays
    near the largest working set rather than the sum of all activations,
    and nothing is allocated per request but the returned outputs.

    A Concat whose inputs are contiguous slices of its output (nothing
    outside the joined axis but 1s) and are read by nothing else costs
    nothing: its producers write straight into their slice of its output,
    and the node itself is not run. Such joins nest: when the output of
    one is in turn a slice of the next, producers write straight into the
    outermost one, at the sum of the offsets.
    =========================================================================
*/

#include "zi_classes.h"
#include <cblas.h>

typedef struct {
    void *data;                 //  64-byte aligned block
    size_t size;                //  bytes
    int free_after;             //  node index after which it is free again
} s_buffer_t;

struct zi_session_t {
    zi_model_t *model;          //  the model, not owned
    zi_options_t options;       //  as given
    zi_graph_t *plan;           //  planned copy of the model's graph
    zi_tensor_t **tensors;      //  per plan value: tensor used at run time
    const zi_tensor_t ***node_in;   //  per node: its input tensors
    zi_tensor_t ***node_out;        //  per node: its output tensors
    s_buffer_t *buffers;        //  shared activation memory
    int n_buffers;              //  buffers in use
    zi_exec_t *exec;            //  scratch for kernels
    zi_tensor_t **planned;      //  per graph input: its shape in the plan
    bool *elided;               //  per node: a Concat its producers have done
    double *node_usecs;         //  per node: time summed over runs (profile)
    int runs;                   //  runs since the plan was made
    zi_tensor_t **stage_kept;   //  per plan value: a copy for zi_session_run_stage
    int stage_first, stage_last;    //  the nodes it runs
};

zi_session_t *
zi_session_new (zi_model_t *model, const zi_options_t *options)
{
    assert (model);
    zi_session_t *self = calloc (1, sizeof (zi_session_t));
    assert (self);
    self->model = model;
    if (options)
        self->options = *options;
    self->exec = zi_exec_new ();
    //  Said here too, not only by zinfer's main: a program that links the
    //  library and asks for one thread got OpenBLAS's own threads inside
    //  sgemm, whose split of K rounds otherwise than one thread, so its
    //  answers differed from a topology's in the last bits
    zi_exec_blas_single ();
    return self;
}

static void
s_drop_stage (zi_session_t *self)
{
    for (int index = 0; self->stage_kept && index < self->plan->n_values; index++)
        zi_tensor_destroy (&self->stage_kept [index]);
    free (self->stage_kept);
    self->stage_kept = NULL;
}

static void
s_drop_plan (zi_session_t *self)
{
    if (!self->plan)
        return;
    s_drop_stage (self);
    for (int index = 0; self->tensors && index < self->plan->n_values; index++)
        zi_tensor_destroy (&self->tensors [index]);
    for (int index = 0; self->node_in && index < self->plan->n_nodes; index++) {
        free (self->node_in [index]);
        free (self->node_out [index]);
    }
    for (int index = 0; index < self->n_buffers; index++)
        zi_free (self->buffers [index].data);
    free (self->buffers);
    free (self->tensors);
    free (self->node_in);
    free (self->node_out);
    free (self->node_usecs);
    free (self->elided);
    self->elided = NULL;
    self->node_usecs = NULL;
    self->runs = 0;
    self->buffers = NULL;
    self->n_buffers = 0;
    self->tensors = NULL;
    self->node_in = NULL;
    self->node_out = NULL;
    for (int index = 0; self->planned && index < self->plan->n_inputs; index++)
        zi_tensor_destroy (&self->planned [index]);
    free (self->planned);
    self->planned = NULL;
    zi_graph_destroy (&self->plan);
}

void
zi_session_destroy (zi_session_t **self_p)
{
    assert (self_p);
    zi_session_t *self = *self_p;
    if (!self)
        return;
    s_drop_plan (self);
    zi_exec_destroy (&self->exec);
    free (self);
    *self_p = NULL;
}

//  Chooses a buffer for a value made by node index and last read by node
//  last_use: the smallest free buffer that fits, else the largest free one
//  (which then grows), else a new one. Only sizes are decided here; the
//  memory is allocated once every value has its buffer.
static int
s_buffer_for (zi_session_t *self, size_t size, int index, int last_use)
{
    int fits = -1, largest = -1;
    for (int buffer = 0; buffer < self->n_buffers; buffer++) {
        s_buffer_t *candidate = &self->buffers [buffer];
        if (candidate->free_after >= index)
            continue;       //  still holds a live value
        if (candidate->size >= size
        && (fits < 0 || candidate->size < self->buffers [fits].size))
            fits = buffer;
        if (largest < 0 || candidate->size > self->buffers [largest].size)
            largest = buffer;
    }
    int chosen = fits >= 0? fits: largest;
    if (chosen < 0) {
        self->buffers = realloc (self->buffers, (self->n_buffers + 1) * sizeof (s_buffer_t));
        assert (self->buffers);
        chosen = self->n_buffers++;
        self->buffers [chosen].data = NULL;
        self->buffers [chosen].size = 0;
    }
    s_buffer_t *buffer = &self->buffers [chosen];
    if (buffer->size < size)
        buffer->size = size;
    buffer->free_after = last_use;
    return chosen;
}

//  Bytes a kernel's output may start at: the kernels' vector loads and
//  stores do not need it, but a slice starts like a buffer of its own
#define S_SLICE_ALIGN 64

//  Is value one of the graph's inputs (bound by the caller, not made here)?
static bool
s_graph_input (const zi_graph_t *plan, int value)
{
    for (int index = 0; index < plan->n_inputs; index++)
        if (plan->inputs [index] == value)
            return true;
    return false;
}

//  Can Concat node index be elided? Each input must be made by an earlier
//  node, read by this Concat alone and once, and start at an aligned
//  offset of the output, which must be one contiguous run per input (all
//  dimensions before the axis 1). If so, fills offset_of for its inputs.
static bool
s_concat_elidable (const zi_graph_t *plan, int index, const int *last_use, size_t *offset_of)
{
    const zi_node_t *node = &plan->nodes [index];
    if (strcmp (node->op_type, "Concat") || node->n_outputs != 1 || node->outputs [0] < 0)
        return false;
    int out = node->outputs [0];
    if (last_use [out] == INT32_MAX)
        return false;       //  a graph output has a buffer of its own
    const zi_tensor_t *info = &plan->values [out].info;
    int64_t axis = zi_node_attr_int (node, "axis", 0);
    if (axis < 0)
        axis += info->ndim;
    if (axis < 0 || axis >= info->ndim)
        return false;
    for (int64_t dim = 0; dim < axis; dim++)
        if (info->dims [dim] != 1)
            return false;
    size_t offset = 0;
    for (int slot = 0; slot < node->n_inputs; slot++) {
        int value = node->inputs [slot];
        if (value < 0 || plan->values [value].constant || s_graph_input (plan, value)
        ||  zi_graph_uses (plan, value) != 1 || last_use [value] != index
        ||  plan->values [value].info.dtype != info->dtype
        ||  offset % S_SLICE_ALIGN)
            return false;
        offset += plan->values [value].info.nbytes;
    }
    if (offset != info->nbytes)
        return false;
    offset = 0;
    for (int slot = 0; slot < node->n_inputs; slot++) {
        offset_of [node->inputs [slot]] = offset;
        offset += plan->values [node->inputs [slot]].info.nbytes;
    }
    return true;
}

//  Puts value and the elided Concat outputs it is joined into, up to
//  root, into root's buffer: each at the sum of the offsets of the slices
//  it lies in. offset_of holds a value's offset within the Concat it is
//  joined into on entry, and within root's buffer on return (the root's
//  own offset is 0). Chains may be as long as the file makes them, so the
//  way up is kept in path (room for every value) rather than on the stack.
static void
s_place_in_join (int value, int root, int *buffer_of, const int *joined_into,
                 size_t *offset_of, int *path)
{
    int depth = 0;
    for (int step = value; step != root && buffer_of [step] < 0; step = joined_into [step])
        path [depth++] = step;
    //  From the top down, so each offset adds to one already final
    while (depth > 0) {
        int step = path [--depth];
        offset_of [step] += offset_of [joined_into [step]];
        buffer_of [step] = buffer_of [root];
    }
}

static int
s_plan (zi_session_t *self, zi_tensor_t *const *inputs)
{
    s_drop_plan (self);
    zi_graph_t *plan = zi_graph_dup (self->model->graph);
    self->plan = plan;
    if (zi_graph_plan (plan, (const zi_tensor_t *const *) inputs, self->options.no_fuse))
        return -1;
    self->planned = calloc (plan->n_inputs + 1, sizeof (zi_tensor_t *));
    assert (self->planned);
    for (int index = 0; index < plan->n_inputs; index++)
        self->planned [index] = zi_tensor_wrap (inputs [index]->dtype, inputs [index]->ndim,
                                                inputs [index]->dims, NULL, NULL, NULL);
    self->tensors = calloc (plan->n_values + 1, sizeof (zi_tensor_t *));
    self->node_in = calloc (plan->n_nodes + 1, sizeof (zi_tensor_t **));
    self->node_out = calloc (plan->n_nodes + 1, sizeof (zi_tensor_t **));
    assert (self->tensors && self->node_in && self->node_out);

    //  When is each value read for the last time? Graph outputs never die.
    int *last_use = malloc ((plan->n_values + 1) * sizeof (int));
    assert (last_use);
    //  The tapped node's output is kept like a graph output
    int tapped = -1;
    for (int index = 0; self->options.tap_node && index < plan->n_nodes; index++)
        if (strcmp (plan->nodes [index].name, self->options.tap_node) == 0)
            tapped = plan->nodes [index].outputs [0];
    for (int value = 0; value < plan->n_values; value++)
        last_use [value] = zi_graph_is_output (plan, value) || value == tapped? INT32_MAX: -1;
    for (int index = 0; index < plan->n_nodes; index++) {
        zi_node_t *node = &plan->nodes [index];
        for (int slot = 0; slot < node->n_inputs; slot++)
            if (node->inputs [slot] >= 0 && last_use [node->inputs [slot]] != INT32_MAX)
                last_use [node->inputs [slot]] = index;
    }
    for (int value = 0; value < plan->n_values; value++)
        if (plan->values [value].constant)
            self->tensors [value] = zi_tensor_ref (plan->values [value].constant);

    //  Which Concats can be elided, and which value goes into which
    int *joined_into = malloc ((plan->n_values + 1) * sizeof (int));
    size_t *offset_of = calloc (plan->n_values + 1, sizeof (size_t));
    self->elided = calloc (plan->n_nodes + 1, sizeof (bool));
    assert (joined_into && offset_of && self->elided);
    for (int value = 0; value < plan->n_values; value++)
        joined_into [value] = -1;
    for (int index = 0; index < plan->n_nodes; index++)
        if (s_concat_elidable (plan, index, last_use, offset_of)) {
            zi_node_t *node = &plan->nodes [index];
            self->elided [index] = true;
            for (int slot = 0; slot < node->n_inputs; slot++)
                joined_into [node->inputs [slot]] = node->outputs [0];
        }

    //  First decide which buffer holds each intermediate value, then
    //  allocate the buffers at their final sizes, then point tensors in.
    //  Joins nest: an elided Concat's output may itself be a slice of the
    //  next elided Concat, and so on. Only the outermost Concat of such a
    //  chain, the root, owns a buffer; it gets it when the first value
    //  written anywhere into it is made, for as long as the root is read,
    //  and every value on the way down lies at the sum of its slices'
    //  offsets. (Giving each inner Concat a buffer of its own left the
    //  outer one's slice for it unwritten, as neither Concat runs.)
    int *buffer_of = malloc ((plan->n_values + 1) * sizeof (int));
    int *path = malloc ((plan->n_values + 1) * sizeof (int));
    assert (buffer_of && path);
    for (int value = 0; value < plan->n_values; value++)
        buffer_of [value] = -1;
    for (int index = 0; index < plan->n_nodes; index++) {
        zi_node_t *node = &plan->nodes [index];
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            if (value < 0 || last_use [value] == INT32_MAX || buffer_of [value] >= 0)
                continue;
            if (joined_into [value] >= 0) {
                int root = value;
                while (joined_into [root] >= 0)
                    root = joined_into [root];
                if (buffer_of [root] < 0)
                    buffer_of [root] = s_buffer_for (self, plan->values [root].info.nbytes,
                                                     index, last_use [root]);
                s_place_in_join (value, root, buffer_of, joined_into, offset_of, path);
                continue;
            }
            //  An unread output still needs a home for the node to fill
            int until = last_use [value] < index? index: last_use [value];
            buffer_of [value] = s_buffer_for (self, plan->values [value].info.nbytes, index, until);
        }
    }
    free (joined_into);
    free (path);
    int rc = 0;
    for (int buffer = 0; buffer < self->n_buffers && rc == 0; buffer++) {
        self->buffers [buffer].data = zi_alloc (self->buffers [buffer].size);
        if (!self->buffers [buffer].data)
            rc = zi_error ("out of memory for %zu bytes of activations",
                           self->buffers [buffer].size);
    }
    for (int index = 0; index < plan->n_nodes && rc == 0; index++) {
        zi_node_t *node = &plan->nodes [index];
        self->node_out [index] = calloc (node->n_outputs + 1, sizeof (zi_tensor_t *));
        assert (self->node_out [index]);
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            if (value < 0)
                continue;       //  an optional output nobody named
            zi_tensor_t *info = &plan->values [value].info;
            zi_tensor_t *tensor;
            if (buffer_of [value] < 0)
                tensor = zi_tensor_new (info->dtype, info->ndim, info->dims);
            else
                tensor = zi_tensor_wrap (info->dtype, info->ndim, info->dims,
                                         (char *) self->buffers [buffer_of [value]].data
                                         + offset_of [value], NULL, NULL);
            if (!tensor) {
                rc = -1;
                break;
            }
            self->tensors [value] = tensor;
            self->node_out [index][slot] = tensor;
        }
    }
    free (buffer_of);
    free (offset_of);
    free (last_use);
    if (rc)
        return -1;
    //  Input tensor pointers: graph inputs are bound per run, so nodes
    //  read them through the tensors array slot, filled before each run
    for (int index = 0; index < plan->n_nodes; index++) {
        zi_node_t *node = &plan->nodes [index];
        self->node_in [index] = calloc (node->n_inputs + 1, sizeof (zi_tensor_t *));
        assert (self->node_in [index]);
    }
    return 0;
}

static bool
s_same_shapes (zi_session_t *self, zi_tensor_t *const *inputs)
{
    if (!self->plan || !self->planned)
        return false;
    for (int index = 0; index < self->plan->n_inputs; index++)
        if (!self->planned [index] || !zi_tensor_same_shape (self->planned [index], inputs [index]))
            return false;
    return true;
}

//  Runs the planned nodes [first, last), their inputs bound
static int
s_run_nodes (zi_session_t *self, int first, int last)
{
    zi_graph_t *plan = self->plan;
    for (int index = first; index < last; index++) {
        zi_node_t *node = &plan->nodes [index];
        if (self->elided [index])
            continue;
        const zi_tensor_t **in = self->node_in [index];
        for (int slot = 0; slot < node->n_inputs; slot++)
            in [slot] = node->inputs [slot] >= 0? self->tensors [node->inputs [slot]]: NULL;
        int64_t start = self->node_usecs? zi_clock_usecs (): 0;
        if (node->op->run (node, self->exec, in, self->node_out [index])) {
            zi_error_prefix ("node '%s' (%s)", node->name, node->op_type);
            return -1;
        }
        if (self->node_usecs)
            self->node_usecs [index] += zi_clock_usecs () - start;
    }
    return 0;
}

int
zi_session_run (zi_session_t *self, zi_tensor_t *const *inputs, zi_tensor_t **outputs)
{
    const zi_graph_t *graph = self->model->graph;
    for (int index = 0; index < graph->n_inputs; index++)
        if (!inputs [index] || !inputs [index]->data)
            return zi_error ("input '%s' is missing", graph->values [graph->inputs [index]].name);
    //  Every kernel, sgemm calls included, is shared out by the exec's own
    //  threads; OpenBLAS runs single-threaded inside them (zi_sgemm, and
    //  zi_session_new)
    zi_exec_set_threads (self->exec, self->options.threads > 0? self->options.threads:
                                     zi_exec_blas_default ());
    if (!s_same_shapes (self, inputs) && s_plan (self, inputs)) {
        zi_error_prefix ("%s", self->model->source);
        s_drop_plan (self);
        return -1;
    }
    zi_graph_t *plan = self->plan;
    for (int index = 0; index < plan->n_inputs; index++) {
        int value = plan->inputs [index];
        zi_tensor_destroy (&self->tensors [value]);
        self->tensors [value] = zi_tensor_ref (inputs [index]);
    }
    if (self->options.profile && !self->node_usecs) {
        self->node_usecs = calloc (plan->n_nodes + 1, sizeof (double));
        assert (self->node_usecs);
    }
    if (s_run_nodes (self, 0, plan->n_nodes))
        return -1;
    self->runs++;
    for (int index = 0; index < plan->n_outputs; index++) {
        const zi_tensor_t *result = self->tensors [plan->outputs [index]];
        outputs [index] = result? zi_tensor_dup (result): NULL;
        if (!outputs [index]) {
            for (int done = 0; done < index; done++)
                zi_tensor_destroy (&outputs [done]);
            return zi_error ("output '%s' was not computed", plan->values [plan->outputs [index]].name);
        }
    }
    //  Drop our references to the caller's inputs
    for (int index = 0; index < plan->n_inputs; index++)
        zi_tensor_destroy (&self->tensors [plan->inputs [index]]);
    return 0;
}

//  Keeps a copy of every value that nodes before first make and nodes
//  [first, last) read, from a run of the nodes before first
static int
s_keep_stage_inputs (zi_session_t *self, int first, int last)
{
    zi_graph_t *plan = self->plan;
    if (s_run_nodes (self, 0, first))
        return -1;
    bool *made = calloc (plan->n_values + 1, sizeof (bool));
    self->stage_kept = calloc (plan->n_values + 1, sizeof (zi_tensor_t *));
    assert (made && self->stage_kept);
    for (int index = 0; index < first; index++)
        for (int slot = 0; slot < plan->nodes [index].n_outputs; slot++)
            if (plan->nodes [index].outputs [slot] >= 0)
                made [plan->nodes [index].outputs [slot]] = true;
    int rc = 0;
    for (int index = first; index < last && rc == 0; index++)
        for (int slot = 0; slot < plan->nodes [index].n_inputs && rc == 0; slot++) {
            int value = plan->nodes [index].inputs [slot];
            if (value < 0 || !made [value] || self->stage_kept [value] || !self->tensors [value])
                continue;
            self->stage_kept [value] = zi_tensor_dup (self->tensors [value]);
            if (!self->stage_kept [value])
                rc = zi_error ("out of memory for the input '%s' of a stage",
                               plan->values [value].name);
        }
    free (made);
    self->stage_first = first;
    self->stage_last = last;
    return rc;
}

int
zi_session_run_stage (zi_session_t *self, zi_tensor_t *const *inputs, int first, int last)
{
    zi_graph_t *plan = self->plan;
    if (!plan || !s_same_shapes (self, inputs))
        return zi_error ("a stage runs on a plan made by a whole run on inputs of its shapes");
    if (first < 0 || last > plan->n_nodes || first >= last)
        return zi_error ("stage [%d, %d) is not a range of the plan's %d nodes", first, last,
                         plan->n_nodes);
    for (int index = 0; index < plan->n_inputs; index++) {
        int value = plan->inputs [index];
        zi_tensor_destroy (&self->tensors [value]);
        self->tensors [value] = zi_tensor_ref (inputs [index]);
    }
    int rc = 0;
    if (!self->stage_kept || self->stage_first != first || self->stage_last != last) {
        s_drop_stage (self);
        rc = s_keep_stage_inputs (self, first, last);
    }
    //  Back into the buffers they share with later values
    for (int value = 0; rc == 0 && value < plan->n_values; value++)
        if (self->stage_kept [value])
            memcpy (self->tensors [value]->data, self->stage_kept [value]->data,
                    self->stage_kept [value]->nbytes);
    if (rc == 0)
        rc = s_run_nodes (self, first, last);
    for (int index = 0; index < plan->n_inputs; index++)
        zi_tensor_destroy (&self->tensors [plan->inputs [index]]);
    return rc;
}

zi_tensor_t *
zi_session_tap (zi_session_t *self)
{
    const zi_graph_t *plan = self->plan;
    for (int index = 0; plan && self->options.tap_node && index < plan->n_nodes; index++)
        if (strcmp (plan->nodes [index].name, self->options.tap_node) == 0) {
            int value = plan->nodes [index].outputs [0];
            return value >= 0 && self->tensors [value]? zi_tensor_dup (self->tensors [value]): NULL;
        }
    zi_error ("no planned node named '%s' (see zinfer info --fuse)",
              self->options.tap_node? self->options.tap_node: "");
    return NULL;
}

bool
zi_session_profile (const zi_session_t *self, int index, const char **name,
                    const char **op_type, double *usecs, int *runs)
{
    if (!self->plan || !self->node_usecs || index < 0 || index >= self->plan->n_nodes)
        return false;
    *name = self->plan->nodes [index].name;
    *op_type = self->plan->nodes [index].op_type;
    *usecs = self->node_usecs [index];
    *runs = self->runs;
    return true;
}

bool
zi_session_threads_profile (const zi_session_t *self, int64_t *loops, int64_t *joined,
                            double *helper_share, double *wait_usecs)
{
    if (!self->options.profile || zi_exec_threads (self->exec) < 2)
        return false;
    zi_exec_stats_t stats;
    zi_exec_stats (self->exec, &stats);
    *loops = stats.loops;
    *joined = stats.joined;
    *helper_share = stats.units? (double) stats.helper_units / stats.units: 0;
    *wait_usecs = (double) stats.wait_usecs;
    return true;
}

void
zi_session_profile_reset (zi_session_t *self)
{
    if (self->plan && self->node_usecs)
        memset (self->node_usecs, 0, self->plan->n_nodes * sizeof (double));
    self->runs = 0;
    zi_exec_stats_reset (self->exec);
}

int
zi_session_n_outputs (const zi_session_t *self)
{
    return self->model->graph->n_outputs;
}

//  The plan of the last run (for zinfer info and tests)
const zi_graph_t *
zi_session_plan (const zi_session_t *self)
{
    return self->plan;
}

//  Plans x (float32 [2, 3]) -> Cast to int64 (xi) and to bool (flags) ->
//  one node of op_type on inputs; returns the planner's result
static int
s_test_plan_node (const char *op_type, const char *name, const char *inputs)
{
    zi_graph_t *graph = zi_graph_new ("dtypes");
    int64_t dims [2] = {2, 3};
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_node_set_int (zi_test_graph_node (graph, "Cast", "to_int", "x", "xi"), "to", ZI_I64);
    zi_node_set_int (zi_test_graph_node (graph, "Cast", "to_bool", "x", "flags"), "to", ZI_BOOL);
    zi_test_graph_node (graph, op_type, name, inputs, "y");
    int rc = zi_graph_sort (graph) || zi_graph_init_ops (graph)
          || zi_graph_plan (graph, NULL, true)? -1: 0;
    zi_graph_destroy (&graph);
    return rc;
}

//  An input of a dtype its op does not take is refused by the planner
//  from the op's table entry, with one message for every op
static void
s_test_dtypes (zi_test_t *t)
{
    static const struct {
        const char *op, *name, *inputs;
        const char *error;          //  NULL: plans
    } cases [] = {
        {"Sqrt", "root", "xi", "Sqrt at node 'root': input 0 is int64, expected float32"},
        {"Not", "not", "x", "Not at node 'not': input 0 is float32, expected bool"},
        {"And", "both", "flags,x", "And at node 'both': input 1 is float32, expected bool"},
        {"Sum", "sum5", "x,x,x,x,flags",
         "Sum at node 'sum5': input 4 is bool, expected float32, uint8, int8, int32 or int64"},
        {"Where", "pick", "x,x,x", "Where at node 'pick': input 0 is float32, expected bool"},
        {"ReduceMean", "mean", "xi",
         "ReduceMean at node 'mean': input 0 is int64, expected float32"},
        {"Sqrt", "root", "x", NULL},
        {"Where", "pick", "flags,xi,xi", NULL},
        {"Sum", "sum5", "xi,xi,xi,xi,xi", NULL},
        {"ReduceMax", "max", "xi", NULL},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        int rc = s_test_plan_node (cases [index].op, cases [index].name, cases [index].inputs);
        if (cases [index].error)
            ZI_CHECK (t, rc == -1 && strcmp (zi_error_text (), cases [index].error) == 0,
                      "%s (%s) refused: %s", cases [index].op, cases [index].inputs,
                      zi_error_text ());
        else
            ZI_CHECK (t, rc == 0, "%s (%s) plans: %s", cases [index].op, cases [index].inputs,
                      rc? zi_error_text (): "");
    }
}

void
zi_session_test (zi_test_t *t)
{
    s_test_dtypes (t);

    //  A chain long enough for buffers to be shared, with a skip that
    //  keeps one value alive across it: y = relu (-(|x| + x)) + x * 2
    zi_graph_t *graph = zi_graph_new ("chain");
    int64_t dims [2] = {-1, 5};
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_test_graph_constant (graph, "two", zi_test_scalar (2.0f));
    zi_test_graph_node (graph, "Abs", "abs", "x", "a");
    zi_test_graph_node (graph, "Add", "add", "a,x", "b");
    zi_test_graph_node (graph, "Neg", "neg", "b", "c");
    zi_test_graph_node (graph, "Relu", "relu", "c", "d");
    zi_test_graph_node (graph, "Mul", "mul", "x,two", "e");
    zi_test_graph_node (graph, "Add", "sum", "d,e", "y");
    ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
              "graph builds: %s", zi_error_text ());
    zi_model_t model = {.source = "test", .graph = graph};
    //  Asked for one thread, a session runs OpenBLAS on one too (checked
    //  first, before any run with the default threads stops OpenBLAS's
    //  own): they split sgemm's K and round otherwise than one thread, so
    //  a program linking the library got other bits than a topology did
    zi_options_t one_thread = {.threads = 1};
    zi_session_t *single = zi_session_new (&model, &one_thread);
    int64_t single_dims [2] = {2, 5};
    zi_tensor_t *single_input = zi_test_random (2, single_dims, 9);
    zi_tensor_t *single_output = NULL;
    ZI_CHECK (t, single && zi_session_run (single, &single_input, &single_output) == 0
              && openblas_get_num_threads () == 1,
              "a one-thread session runs OpenBLAS on one thread (%d)", openblas_get_num_threads ());
    zi_tensor_destroy (&single_output);
    zi_tensor_destroy (&single_input);
    zi_session_destroy (&single);

    zi_session_t *session = zi_session_new (&model, NULL);

    for (int64_t batch = 2; batch <= 3; batch++) {
        int64_t shape [2] = {batch, 5};
        zi_tensor_t *input = zi_test_random (2, shape, (uint32_t) batch);
        zi_tensor_t *output = NULL;
        int rc = zi_session_run (session, &input, &output);
        ZI_CHECK (t, rc == 0, "run at batch %lld: %s", (long long) batch, zi_error_text ());
        if (rc == 0) {
            ZI_CHECK (t, zi_tensor_same_shape (output, input), "output shape follows the batch");
            float want [15];
            for (size_t item = 0; item < zi_tensor_count (input); item++) {
                float x = zi_tensor_f32 (input) [item];
                float c = -(fabsf (x) + x);
                want [item] = (c > 0? c: 0) + x * 2;
            }
            ZI_CHECK_CLOSE (t, "chain result", zi_tensor_f32 (output), want,
                            zi_tensor_count (input), 0, 0);
            //  Every tail of the chain run as a stage gives the chain's
            //  result, twice: the second time on the kept copies of its
            //  inputs, whose buffers the first time's nodes wrote over
            int n_nodes = session->plan->n_nodes;
            for (int cut = 1; batch == 3 && cut < n_nodes; cut++) {
                bool same = zi_session_run_stage (session, &input, cut, n_nodes) == 0
                         && zi_session_run_stage (session, &input, cut, n_nodes) == 0;
                const zi_tensor_t *tail = session->tensors [session->plan->outputs [0]];
                same = same && memcmp (zi_tensor_data (tail), zi_tensor_data (output),
                                       zi_tensor_nbytes (output)) == 0;
                ZI_CHECK (t, same, "nodes %d .. %d run as a stage give the chain's result: %s",
                          cut, n_nodes - 1, zi_error_text ());
            }
            if (batch == 3)
                ZI_CHECK (t, zi_session_run_stage (session, &input, 2, 1) == -1
                          && strstr (zi_error_text (), "stage [2, 1) is not a range"),
                          "an empty stage is refused: %s", zi_error_text ());
        }
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
    }

    //  Wrong shapes and types are refused with both shapes named
    int64_t wrong [2] = {2, 6};
    zi_tensor_t *input = zi_test_random (2, wrong, 3);
    zi_tensor_t *output = NULL;
    ZI_CHECK (t, zi_session_run (session, &input, &output) == -1
              && strstr (zi_error_text (), "expected float32 [-1, 5], got float32 [2, 6]"),
              "wrong shape refused: %s", zi_error_text ());
    zi_tensor_destroy (&input);
    input = zi_test_ints (5, (int64_t []) {1, 2, 3, 4, 5});
    ZI_CHECK (t, zi_session_run (session, &input, &output) == -1
              && strstr (zi_error_text (), "got int64 [5]"),
              "wrong type refused: %s", zi_error_text ());
    zi_tensor_destroy (&input);

    //  A good run after bad ones still works
    int64_t good [2] = {1, 5};
    input = zi_test_random (2, good, 4);
    ZI_CHECK (t, zi_session_run (session, &input, &output) == 0, "recovers after errors");
    zi_tensor_destroy (&output);
    zi_tensor_destroy (&input);
    zi_session_destroy (&session);
    zi_session_destroy (&session);
    zi_graph_destroy (&graph);

    //  A Concat on axis 1: at batch 1 its inputs are slices of its output
    //  and the producers write there (the node is not run); at batch 2
    //  they are not, and it runs. Same results either way.
    graph = zi_graph_new ("join");
    int64_t rows [2] = {-1, 16};
    zi_test_graph_io (graph, "x", 2, rows, "y");
    zi_test_graph_node (graph, "Relu", "relu", "x", "a");
    zi_test_graph_node (graph, "Neg", "neg", "x", "b");
    zi_test_graph_node (graph, "Abs", "abs", "x", "c");
    zi_node_set_int (zi_test_graph_node (graph, "Concat", "join", "a,b,c", "j"), "axis", 1);
    zi_test_graph_node (graph, "Neg", "out", "j", "y");
    ZI_CHECK (t, zi_graph_sort (graph) == 0 && zi_graph_init_ops (graph) == 0,
              "join graph builds: %s", zi_error_text ());
    model.graph = graph;
    session = zi_session_new (&model, NULL);
    for (int64_t batch = 1; batch <= 2; batch++) {
        int64_t shape [2] = {batch, 16};
        input = zi_test_random (2, shape, (uint32_t) (10 + batch));
        int rc = zi_session_run (session, &input, &output);
        ZI_CHECK (t, rc == 0, "join at batch %lld: %s", (long long) batch, zi_error_text ());
        int join = -1;
        for (int index = 0; index < session->plan->n_nodes; index++)
            if (strcmp (session->plan->nodes [index].name, "join") == 0)
                join = index;
        ZI_CHECK (t, join >= 0 && session->elided [join] == (batch == 1),
                  "the Concat is elided at batch 1 only (batch %lld)", (long long) batch);
        if (rc == 0) {
            float want [96];
            const float *x = zi_tensor_f32 (input);
            for (int64_t row = 0; row < batch; row++)
                for (int col = 0; col < 16; col++) {
                    float v = x [row * 16 + col];
                    want [row * 48 + col] = -(v > 0? v: 0);
                    want [row * 48 + 16 + col] = v;
                    want [row * 48 + 32 + col] = -fabsf (v);
                }
            ZI_CHECK (t, output->ndim == 2 && output->dims [1] == 48, "joined shape");
            ZI_CHECK_CLOSE (t, "joined result", zi_tensor_f32 (output), want, batch * 48, 0, 0);
        }
        zi_tensor_destroy (&output);
        zi_tensor_destroy (&input);
    }
    zi_session_destroy (&session);
    zi_graph_destroy (&graph);
}
