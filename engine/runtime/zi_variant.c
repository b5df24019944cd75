/*  =========================================================================
    zi_variant - plans for the input shapes requests bring, per thread

    A topology is placed on the plan of one set of input shapes: the
    model's unknown dimensions taken as 1, unless input_shape: fixes them.
    A request may size those dimensions otherwise (batch 8, another image
    size); its messages then carry the sizes (zi_msg.h), and each thread
    that handles it plans the model for them, as a local session does when
    its input shapes change. Shapes decide more than buffer sizes: constant
    folding turns the Shape -> Gather -> Concat chains in front of a Reshape
    into constants of these very sizes, and kernels prepare per shape.

    A thread prepares only the nodes of its own actors, so a plan costs it
    their packed weights and the graph's shapes. It keeps the plans of the
    last plan_cache sets of sizes it saw and drops the least recently used
    beyond that, so a client cycling through sizes costs time, not memory
    without bound. Plans are used only on their own thread, between two
    polls: dropping one never pulls it from under a kernel.
    =========================================================================
*/

#include "zi_worker.h"

typedef struct {
    int64_t sizes [ZI_MSG_MAX_DYNAMIC]; //  the dynamic sizes it was planned for
    zi_graph_t *plan;           //  NULL: a free entry
    uint64_t used;              //  when last looked up (a count of lookups)
} s_entry_t;

struct zi_variants_t {
    zi_worker_t *worker;        //  owning process
    zi_thread_t *thread;        //  whose actors' nodes get prepared
    int n_entries;              //  room: plan_cache
    s_entry_t *entries;
    uint64_t lookups;           //  the clock of the LRU
    zi_counter_t planned;       //  plans made (for tests and the monitor)
};

zi_variants_t *
zi_variants_new (zi_worker_t *worker, zi_thread_t *thread)
{
    zi_variants_t *self = calloc (1, sizeof (zi_variants_t));
    assert (self);
    self->worker = worker;
    self->thread = thread;
    self->n_entries = worker->deploy->topology->plan_cache;
    if (self->n_entries < 1)
        self->n_entries = 1;
    self->entries = calloc (self->n_entries, sizeof (s_entry_t));
    assert (self->entries);
    return self;
}

void
zi_variants_destroy (zi_variants_t **self_p)
{
    assert (self_p);
    zi_variants_t *self = *self_p;
    if (!self)
        return;
    for (int index = 0; index < self->n_entries; index++)
        zi_graph_destroy (&self->entries [index].plan);
    free (self->entries);
    free (self);
    *self_p = NULL;
}

void
zi_variants_describe (const zi_deploy_t *deploy, const int64_t *sizes, char *text, size_t size)
{
    size_t at = 0;
    text [0] = 0;
    const zi_graph_t *plan = deploy->plan;
    for (int input = 0; input < plan->n_inputs && at + 1 < size; input++) {
        const zi_tensor_t *info = &plan->values [plan->inputs [input]].info;
        int64_t dims [ZI_MAX_DIMS];
        memcpy (dims, info->dims, sizeof dims);
        for (int index = 0; index < deploy->n_dynamic; index++)
            if (deploy->dynamic_input [index] == input)
                dims [deploy->dynamic_axis [index]] = sizes [index];
        char shape [160];
        zi_shape_str (info->ndim, dims, shape, sizeof shape);
        int wrote = snprintf (text + at, size - at, "%s'%s' %s", input? ", ": "",
                              plan->values [plan->inputs [input]].name, shape);
        at += wrote > 0? (size_t) wrote: 0;
    }
}

//  The planned graph must have the nodes the topology placed, in the same
//  order, each reading the same inputs as messages: routes, threads and
//  endpoints were computed from that
static int
s_check_layout (const zi_graph_t *planned, const zi_graph_t *placed)
{
    if (planned->n_nodes != placed->n_nodes || planned->n_outputs != placed->n_outputs)
        return zi_error ("these shapes plan to %d nodes, the topology was placed on %d",
                         planned->n_nodes, placed->n_nodes);
    for (int index = 0; index < placed->n_nodes; index++) {
        const zi_node_t *mine = &planned->nodes [index], *theirs = &placed->nodes [index];
        bool same = strcmp (mine->name, theirs->name) == 0
                 && mine->n_inputs == theirs->n_inputs && mine->n_outputs == theirs->n_outputs;
        for (int slot = 0; same && slot < mine->n_inputs; slot++) {
            bool dynamic = mine->inputs [slot] >= 0
                        && !planned->values [mine->inputs [slot]].constant;
            bool placed_dynamic = theirs->inputs [slot] >= 0
                               && !placed->values [theirs->inputs [slot]].constant;
            same = dynamic == placed_dynamic;
        }
        if (!same)
            return zi_error ("these shapes plan to other nodes than the topology was placed "
                             "on: node %d is '%s' here, '%s' there", index, mine->name,
                             theirs->name);
    }
    return 0;
}

//  Plans the model for one set of dynamic sizes; NULL with the reason
static zi_graph_t *
s_plan (zi_variants_t *self, const int64_t *sizes)
{
    zi_deploy_t *deploy = self->worker->deploy;
    const zi_graph_t *placed = deploy->plan;
    zi_tensor_t *shapes [ZI_MAX_GRAPH_INPUTS] = {NULL};
    for (int input = 0; input < placed->n_inputs; input++) {
        const zi_tensor_t *info = &placed->values [placed->inputs [input]].info;
        int64_t dims [ZI_MAX_DIMS];
        memcpy (dims, info->dims, sizeof dims);
        for (int index = 0; index < deploy->n_dynamic; index++)
            if (deploy->dynamic_input [index] == input)
                dims [deploy->dynamic_axis [index]] = sizes [index];
        shapes [input] = zi_tensor_wrap (info->dtype, info->ndim, dims, NULL, NULL, NULL);
    }
    zi_graph_t *plan = zi_graph_dup (deploy->model->graph);
    int rc = zi_graph_plan_shapes (plan, (const zi_tensor_t *const *) shapes,
                                   !deploy->topology->fuse);
    for (int input = 0; input < placed->n_inputs; input++)
        zi_tensor_destroy (&shapes [input]);
    if (rc == 0)
        rc = s_check_layout (plan, placed);
    //  The topology's stated bound (the sockets' frame limit follows from
    //  it): a plan beyond it could not send its tensors
    int64_t bound = deploy->tensor_limit;
    for (int value = 0; rc == 0 && value < plan->n_values; value++) {
        const zi_value_t *info = &plan->values [value];
        if (!info->constant && (int64_t) info->info.nbytes > bound) {
            char shape [128];
            rc = zi_error ("tensor '%s' would be %s %s, %zu bytes, beyond the topology's bound "
                           "of %lld (max_tensor_bytes)", info->name,
                           zi_dtype_name (info->info.dtype),
                           zi_shape_str (info->info.ndim, info->info.dims, shape, sizeof shape),
                           info->info.nbytes, (long long) bound);
        }
    }
    //  Each node once, also when replicas of it share this thread
    bool *prepared = calloc (plan->n_nodes + 1, sizeof (bool));
    assert (prepared);
    for (int index = 0; rc == 0 && index < self->thread->n_actors; index++) {
        int node = self->thread->actors [index]->node_index;
        if (!prepared [node])
            rc = zi_graph_prepare_node (plan, node);
        prepared [node] = true;
    }
    free (prepared);
    if (rc) {
        char text [400];
        zi_variants_describe (deploy, sizes, text, sizeof text);
        zi_error_prefix ("input %s", text);
        zi_graph_destroy (&plan);
    }
    return plan;
}

zi_graph_t *
zi_variants_plan (zi_variants_t *self, int n_sizes, const int64_t *sizes)
{
    zi_deploy_t *deploy = self->worker->deploy;
    if (n_sizes == 0)
        return deploy->plan;
    if (n_sizes != deploy->n_dynamic) {
        zi_error ("%d dynamic sizes, the model has %d unknown input dimensions", n_sizes,
                  deploy->n_dynamic);
        return NULL;
    }
    self->lookups++;
    s_entry_t *oldest = &self->entries [0];
    for (int index = 0; index < self->n_entries; index++) {
        s_entry_t *entry = &self->entries [index];
        if (entry->plan && memcmp (entry->sizes, sizes, n_sizes * sizeof (int64_t)) == 0) {
            entry->used = self->lookups;
            return entry->plan;
        }
        if (!entry->plan || (oldest->plan && entry->used < oldest->used))
            oldest = entry;
    }
    zi_graph_t *plan = s_plan (self, sizes);
    if (!plan)
        return NULL;
    ZI_COUNT (self->planned, 1);
    zi_graph_destroy (&oldest->plan);
    oldest->plan = plan;
    memcpy (oldest->sizes, sizes, n_sizes * sizeof (int64_t));
    oldest->used = self->lookups;
    return plan;
}

uint64_t
zi_variants_planned (zi_variants_t *self)
{
    return ZI_READ (self->planned);
}
