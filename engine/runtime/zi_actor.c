/*  =========================================================================
    zi_actor - one graph node as an actor: a PULL mailbox, PUSH peers

    An actor takes tensors from its mailbox, checks each against what the
    plan says that input must be, joins the inputs of one request when the
    node has several, runs the kernel, and pushes each output to every
    consumer. Anything malformed is counted, logged and dropped; the actor
    keeps serving.
    =========================================================================
*/

#include "zi_fanout.h"
#include <errno.h>
#include <stddef.h>
#include <zmq.h>

//  Partial inputs of one request, for nodes with several dynamic inputs
typedef struct {
    int slots;                  //  input slots of the node
    int have;                   //  inputs arrived
    uint32_t flags;             //  from the first header
    int64_t started;            //  when the first input arrived (usecs)
    int64_t arrived_nsecs;      //  the same on the realtime clock (traces)
    int n_dynamic;              //  the request's dynamic sizes, from the first header
    int64_t dynamic [ZI_MSG_MAX_DYNAMIC];
    zi_trace_t trace;           //  records of traced inputs so far
    zi_tensor_t *inputs [];     //  per slot
} s_join_t;

//  Joins older than this are dropped: their other inputs are not coming
//  (a producer died and the request will be resent under a new id)
#define S_JOIN_DEADLINE_USECS (30 * INT64_C (1000000))

static void
s_join_destroy (void **item_p)
{
    s_join_t *join = *item_p;
    if (!join)
        return;
    for (int slot = 0; slot < join->slots; slot++)
        zi_tensor_destroy (&join->inputs [slot]);
    zi_trace_clear (&join->trace);
    free (join);
    *item_p = NULL;
}

static s_join_t *
s_join_new (int slots, uint32_t flags, int64_t started)
{
    //  malloc and the fields set one by one, not calloc: calloc skips
    //  glibc's per-thread cache and clears the dynamic sizes too, which
    //  are read only up to n_dynamic (a join per add or multiply of
    //  two activations, on every request)
    s_join_t *join = malloc (sizeof (s_join_t) + (slots + 1) * sizeof (zi_tensor_t *));
    assert (join);
    join->slots = slots;
    join->have = 0;
    join->flags = flags;
    join->started = started;
    join->arrived_nsecs = 0;
    join->n_dynamic = 0;
    join->trace = (zi_trace_t) {0, NULL};
    for (int slot = 0; slot <= slots; slot++)
        join->inputs [slot] = NULL;
    return join;
}

//  For zi_id_map_purge: a join past the deadline at *now_usecs
static bool
s_join_stale (void *item, void *now_usecs)
{
    s_join_t *join = item;
    return *(int64_t *) now_usecs - join->started > S_JOIN_DEADLINE_USECS;
}

//  For zi_id_map_purge: every join, when the actor goes
static bool
s_join_any (void *item, void *arg)
{
    (void) item;
    (void) arg;
    return true;
}

//  Records an error text for the monitor and logs it, the first few and
//  then every thousandth, so a flood of garbage cannot flood the log too
static void
s_note (zi_actor_t *self, zi_counter_t *counter, const char *what, const char *format, va_list args)
{
    char text [256];
    vsnprintf (text, sizeof text, format, args);
    pthread_mutex_lock (&self->stats.lock);
    snprintf (self->stats.last_error, sizeof self->stats.last_error, "%s", text);
    pthread_mutex_unlock (&self->stats.lock);
    ZI_COUNT (*counter, 1);
    uint64_t count = ZI_READ (*counter);
    if (count <= 10 || count % 1000 == 0)
        fprintf (stderr, "zinfer worker: actor '%s': %s; %s (%llu so far)\n",
                 self->name, text, what, (unsigned long long) count);
}

static void
s_reject (zi_actor_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_note (self, &self->stats.rejected, "dropped", format, args);
    va_end (args);
}

static void
s_failed (zi_actor_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_note (self, &self->stats.errors, "request lost", format, args);
    va_end (args);
}

int
zi_actor_setup (zi_actor_t *self)
{
    zi_worker_t *worker = self->worker;
    zi_deploy_t *deploy = worker->deploy;
    zi_graph_t *plan = worker->plan;
    zi_node_t *node = self->node;
    zi_deploy_actor_name (deploy, self->index, self->name, sizeof self->name);
    pthread_mutex_init (&self->stats.lock, NULL);

    self->mailbox = zmq_socket (worker->context, ZMQ_PULL);
    int unlimited = 0;
    zmq_setsockopt (self->mailbox, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
    zi_msg_limit_frames (self->mailbox, worker->frame_limit);
    char endpoint [256];
    for (int index = 0; zi_deploy_bind (deploy, self->index, index, endpoint, sizeof endpoint); index++)
        if (zi_deploy_listen (deploy, self->mailbox, endpoint)) {
            zi_error_prefix ("actor '%s'", self->name);
            return -1;
        }

    //  Polled only if something can arrive in the mailbox: a producer (or
    //  the gateway) on another thread
    zi_wiring_t *wiring = zi_wiring_new (deploy, self->index);
    self->remote = wiring->polled;

    //  Inputs: constants are bound once; the rest arrive as messages
    //  Both tables in one block, side by side: a node of up to three
    //  inputs has them in one line, read on every hop, not two
    size_t slots = node->n_inputs + 1;
    size_t size = (2 * slots * sizeof (zi_tensor_t *) + 63) & ~(size_t) 63;
    self->bound = aligned_alloc (64, size);
    assert (self->bound);
    memset (self->bound, 0, size);
    self->expect = (zi_tensor_t **) (self->bound + slots);
    for (int slot = 0; slot < node->n_inputs; slot++) {
        int value = node->inputs [slot];
        if (value < 0)
            continue;
        if (plan->values [value].constant)
            self->bound [slot] = plan->values [value].constant;
        else {
            self->expect [slot] = &plan->values [value].info;
            self->n_dynamic++;
        }
    }
    self->joins = zi_id_map_new ();
    //  Outputs of the topology's plan, checked once here rather than
    //  counted again on every hop
    self->outputs_fit = true;
    for (int slot = 0; slot < node->n_outputs; slot++)
        if (node->outputs [slot] >= 0 && !zi_pool_fits (&plan->values [node->outputs [slot]].info))
            self->outputs_fit = false;

    self->fanout = zi_fanout_new (self->thread, wiring);
    if (!self->fanout) {
        zi_wiring_destroy (&wiring);
        zi_error_prefix ("actor '%s'", self->name);
        return -1;
    }
    //  Tensors this actor receives for other consumers on its thread
    self->relays = calloc (wiring->n_relays + 1, sizeof (zi_actor_relay_t));
    assert (self->relays);
    for (int index = 0; index < wiring->n_relays; index++) {
        const zi_wire_relay_t *relay = &wiring->relays [index];
        for (int local = 0; local < self->thread->n_actors; local++)
            if (self->thread->actors [local]->index == relay->target)
                self->relays [self->n_relays++] = (zi_actor_relay_t) {
                    .source = relay->source, .slot = relay->slot,
                    .target = self->thread->actors [local], .target_slot = relay->target_slot,
                    .pass = relay->pass};
    }
    zi_wiring_destroy (&wiring);
    return 0;
}

void
zi_actor_teardown (zi_actor_t *self)
{
    zi_fanout_destroy (&self->fanout);
    if (self->mailbox)
        zmq_close (self->mailbox);
    if (self->joins) {
        zi_id_map_purge (self->joins, s_join_any, NULL, s_join_destroy);
        zi_id_map_destroy (&self->joins);
    }
    for (int index = self->local_head; index < self->n_local; index++) {
        zi_tensor_destroy (&self->local [index].tensor);
        zi_trace_clear (&self->local [index].trace);
    }
    free (self->local);
    free (self->relays);
    free (self->bound);         //  and expect, in the same block
    pthread_mutex_destroy (&self->stats.lock);
}

//  A header as it is kept in a local queue: the fields an actor reads.
//  Its shape is the tensor's, and an error text is never read (an actor
//  turns away anything but a tensor by its kind)
static void
s_keep_header (zi_local_t *item, const zi_msg_header_t *header)
{
    item->request = header->request;
    item->kind = header->kind;
    item->source = header->source;
    item->slot = header->slot;
    item->flags = header->flags;
    //  Bounded by zi_msg_decode, and by the gateway for its own
    assert (header->n_dynamic >= 0 && header->n_dynamic <= ZI_MSG_MAX_DYNAMIC);
    item->n_dynamic = header->n_dynamic;
    if (header->n_dynamic)
        memcpy (item->dynamic, header->dynamic, header->n_dynamic * sizeof (int64_t));
}

static_assert (offsetof (zi_local_t, dynamic) == 64, "a local item's hot fields fill one line");

//  The header again from a kept one, as far as s_accept and s_compute
//  read it: the tensor carries its own shape, and the rest (count, dtype,
//  dims, text) would be written for nothing on every hop
static void
s_restore_header (zi_msg_header_t *header, const zi_local_t *item)
{
    header->kind = item->kind;
    header->request = item->request;
    header->source = item->source;
    header->slot = item->slot;
    header->flags = item->flags;
    header->n_dynamic = item->n_dynamic;
    if (item->n_dynamic)
        memcpy (header->dynamic, item->dynamic, item->n_dynamic * sizeof (int64_t));
}

//  handed: the producer's end of compute, which it read anyway; 0, and
//  the consumer reads the clock as it takes the tensor
void
zi_actor_hand_over (zi_actor_t *target, const zi_msg_header_t *header, zi_tensor_t *tensor,
             const zi_trace_t *trace, int64_t handed)
{
    if (target->n_local == target->max_local && target->local_head > 0) {
        //  Room at the front, where items were taken: close the gap
        target->n_local -= target->local_head;
        memmove (target->local, target->local + target->local_head,
                 target->n_local * sizeof (zi_local_t));
        target->local_head = 0;
    }
    if (target->n_local == target->max_local) {
        //  Aligned, so that an item's fields read on every hop are one line
        int grown = target->max_local? target->max_local * 2: 8;
        zi_local_t *local = aligned_alloc (_Alignof (zi_local_t), grown * sizeof (zi_local_t));
        assert (local);
        if (target->n_local)
            memcpy (local, target->local, target->n_local * sizeof (zi_local_t));
        free (target->local);
        target->local = local;
        target->max_local = grown;
    }
    zi_local_t *item = &target->local [target->n_local++];
    s_keep_header (item, header);
    item->tensor = zi_tensor_ref (tensor);
    item->handed = handed;
    item->trace = (zi_trace_t) {0, NULL};
    if (trace && (header->flags & ZI_MSG_TRACE))
        zi_trace_merge (&item->trace, trace->records, trace->count);
    zi_thread_wake (target->thread, target);
    //  The target runs next, or soon, and what it reads first was last
    //  touched a request ago: the kernels since have swept it out of the
    //  caches. Asked for now, its lines come while this actor finishes
    //  (its counters, its buffers back to the pool), together rather than
    //  one miss after the other as the target's code reaches them
    __builtin_prefetch (target->node);
    __builtin_prefetch (target->expect);
    __builtin_prefetch (target->bound);
    __builtin_prefetch (target->fanout);
    __builtin_prefetch (&target->stats.messages_in);
    __builtin_prefetch (&target->stats.compute);
    __builtin_prefetch (&target->stats.wait);
}

//  Hands the monitor a copy of an output it asked for. The copy is made
//  after the original went on, so the data path is neither slowed nor
//  changed for the request
static void
s_tap (zi_actor_t *self, uint64_t request, zi_tensor_t *output)
{
    atomic_store (&self->tap_wanted, 0);
    zi_tensor_t *copy = output? zi_tensor_dup (output): NULL;
    if (!copy)
        return;
    int local = (int) (self - self->worker->actors);
    zi_msg_header_t header = {.kind = ZI_MSG_TENSOR, .request = request,
                              .source = self->node_index, .count = 1,
                              .dtype = copy->dtype, .ndim = copy->ndim};
    memcpy (header.dims, copy->dims, copy->ndim * sizeof (int64_t));
    zmq_send (self->thread->taps, &local, sizeof local, ZMQ_SNDMORE);
    zi_msg_send (self->thread->taps, &header, copy, NULL, false);
    zi_tensor_destroy (&copy);
}

//  Runs the node on a complete set of inputs and sends the outputs on.
//  plan is the topology's, or the one for the request's dynamic sizes
//  (sized: the header that carried them), whose node and constants are
//  this request's
static void
s_compute (zi_actor_t *self, zi_graph_t *plan, const zi_msg_header_t *sized, uint64_t request,
           uint32_t flags, zi_tensor_t **arrived, int64_t arrival, zi_trace_t *trace,
           int64_t arrived_nsecs)
{
    bool own = plan == self->worker->plan;
    zi_node_t *node = own? self->node: &plan->nodes [self->node_index];
    const zi_tensor_t *inputs [ZI_MAX_NODE_INPUTS];
    for (int slot = 0; slot < node->n_inputs; slot++) {
        const zi_tensor_t *bound = own? self->bound [slot]:
            node->inputs [slot] >= 0? plan->values [node->inputs [slot]].constant: NULL;
        inputs [slot] = bound? bound: arrived [slot];
    }
    //  The node's slots only, not the whole array: 2 KiB to clear per hop
    zi_tensor_t *outputs [ZI_MAX_NODE_OUTPUTS];
    for (int slot = 0; slot < node->n_outputs; slot++)
        outputs [slot] = NULL;
    for (int slot = 0; slot < node->n_outputs; slot++) {
        int value = node->outputs [slot];
        if (value < 0)
            continue;
        const zi_tensor_t *info = &plan->values [value].info;
        outputs [slot] = own && self->outputs_fit? zi_pool_tensor_like (self->worker->pool, info):
            zi_pool_tensor (self->worker->pool, info->dtype, info->ndim, info->dims);
        if (!outputs [slot]) {
            s_failed (self, "request %llu: %s", (unsigned long long) request, zi_error_text ());
            goto done;
        }
    }
    //  Filled for traced requests only: the rest never read it
    zi_trace_record_t record;
    if (flags & ZI_MSG_TRACE)
        record = (zi_trace_record_t) {.actor = (uint32_t) self->index,
                                      .process = (uint32_t) self->worker->process,
                                      .arrived = arrived_nsecs, .started = zi_trace_now ()};
    int64_t start = zi_clock_usecs ();
    int rc = node->op->run (node, self->thread->exec, inputs, outputs);
    //  The one clock read after the kernel serves its time, the thread's
    //  liveness (a long batch of requests is progress, not a hang) and
    //  the arrival of the outputs at consumers on this thread
    int64_t end = zi_clock_usecs ();
    int64_t took = end - start;
    atomic_store_explicit (&self->thread->progress_usecs, end, memory_order_relaxed);
    if (flags & ZI_MSG_TRACE) {
        //  The record goes out with the outputs, its send time taken as
        //  they are handed over
        record.ended = zi_trace_now ();
        record.sent = record.ended;
        zi_trace_merge (trace, &record, 1);
    }
    ZI_COUNT (self->stats.busy_usecs, took);
    zi_window_add (&self->stats.compute, took);
    zi_window_add (&self->stats.wait, start - arrival);
    if (rc) {
        s_failed (self, "request %llu: %s", (unsigned long long) request, zi_error_text ());
        goto done;
    }
    ZI_COUNT (self->stats.requests, 1);
    //  One header for every route, the fields of the route's output set
    //  in turn. Field by field: clearing the whole struct (its error text
    //  is half of it) took more of a hop than the rest of this function;
    //  dynamic is read up to n_dynamic only
    zi_msg_header_t header;
    header.kind = ZI_MSG_TENSOR;
    header.request = request;
    header.source = self->node_index;
    header.count = 1;
    header.flags = flags;
    header.n_dynamic = sized->n_dynamic;
    memcpy (header.dynamic, sized->dynamic, sized->n_dynamic * sizeof (int64_t));
    header.text [0] = 0;
    for (int index = 0; index < self->fanout->n_routes; index++) {
        zi_fanout_route_t *route = &self->fanout->routes [index];
        zi_tensor_t *tensor = outputs [route->output];
        header.slot = route->slot;
        header.dtype = tensor->dtype;
        header.ndim = tensor->ndim;
        memcpy (header.dims, tensor->dims, sizeof header.dims);
        if (flags & ZI_MSG_TRACE)
            trace->records [trace->count - 1].sent = zi_trace_now ();
        if (zi_fanout_send (self->fanout, route, &header, tensor, trace, end))
            s_failed (self, "request %llu: %s", (unsigned long long) request, zi_error_text ());
        else {
            ZI_COUNT (self->stats.messages_out, 1);
            ZI_COUNT (self->stats.bytes_out, tensor->nbytes);
        }
    }
    if (atomic_load_explicit (&self->tap_wanted, memory_order_relaxed))
        s_tap (self, request, outputs [0]);
done:
    for (int slot = 0; slot < node->n_outputs; slot++)
        zi_tensor_destroy (&outputs [slot]);
}

//  Checks one received tensor against the plan and files it
static void
s_accept (zi_actor_t *self, const zi_msg_header_t *header, zi_tensor_t *tensor, int64_t arrival,
          zi_trace_t *trace, int64_t arrived_nsecs)
{
    zi_node_t *node = self->node;
    if (header->kind != ZI_MSG_TENSOR) {
        s_reject (self, "message kind %d, expected a tensor", header->kind);
        zi_tensor_destroy (&tensor);
        return;
    }
    int slot = header->slot;
    if (slot >= node->n_inputs || !self->expect [slot]) {
        s_reject (self, "request %llu: slot %d is not an input this actor receives",
                  (unsigned long long) header->request, slot);
        zi_tensor_destroy (&tensor);
        return;
    }
    //  A request of other shapes than the topology's comes with its sizes,
    //  and is checked against (and computed by) the plan for them
    //  (the topology's plan without asking the variants: their lines and
    //  the deployment's, on every hop, for a request that brings no sizes)
    zi_graph_t *plan = header->n_dynamic == 0? self->worker->plan:
                       zi_variants_plan (self->thread->variants, header->n_dynamic,
                                         header->dynamic);
    if (!plan) {
        s_reject (self, "request %llu: %s", (unsigned long long) header->request,
                  zi_error_text ());
        zi_tensor_destroy (&tensor);
        return;
    }
    const zi_tensor_t *expect = plan == self->worker->plan? self->expect [slot]:
        &plan->values [plan->nodes [self->node_index].inputs [slot]].info;
    if (!zi_tensor_same_shape (tensor, expect)) {
        char got [128], want [128];
        s_reject (self, "request %llu: slot %d: expected %s %s, got %s %s",
                  (unsigned long long) header->request, slot, zi_dtype_name (expect->dtype),
                  zi_shape_str (expect->ndim, expect->dims, want, sizeof want),
                  zi_dtype_name (tensor->dtype),
                  zi_shape_str (tensor->ndim, tensor->dims, got, sizeof got));
        zi_tensor_destroy (&tensor);
        return;
    }
    ZI_COUNT (self->stats.messages_in, 1);
    ZI_COUNT (self->stats.bytes_in, tensor->nbytes);
    if (self->n_dynamic == 1) {
        //  The node's slots only (an absent optional input reads NULL): not
        //  the whole array, 512 bytes to clear on every hop
        zi_tensor_t *arrived [ZI_MAX_NODE_INPUTS];
        for (int index = 0; index < node->n_inputs; index++)
            arrived [index] = NULL;
        arrived [slot] = tensor;
        s_compute (self, plan, header, header->request, header->flags, arrived, arrival, trace,
                   arrived_nsecs);
        zi_tensor_destroy (&tensor);
        return;
    }
    s_join_t *join = zi_id_map_lookup (self->joins, header->request);
    if (!join) {
        join = s_join_new (node->n_inputs, header->flags, arrival);
        join->arrived_nsecs = arrived_nsecs;
        join->n_dynamic = header->n_dynamic;
        memcpy (join->dynamic, header->dynamic, header->n_dynamic * sizeof (int64_t));
        zi_id_map_insert (self->joins, header->request, join);
        ZI_COUNT (self->stats.joins_pending, 1);
    }
    if (join->inputs [slot]) {
        s_reject (self, "request %llu: slot %d arrived twice",
                  (unsigned long long) header->request, slot);
        zi_tensor_destroy (&tensor);
        return;
    }
    if (join->n_dynamic != header->n_dynamic
    ||  memcmp (join->dynamic, header->dynamic, header->n_dynamic * sizeof (int64_t))) {
        s_reject (self, "request %llu: slot %d carries other dynamic sizes than its first input",
                  (unsigned long long) header->request, slot);
        zi_tensor_destroy (&tensor);
        return;
    }
    join->inputs [slot] = tensor;
    if (trace->count)
        zi_trace_merge (&join->trace, trace->records, trace->count);
    if (++join->have == self->n_dynamic) {
        s_compute (self, plan, header, header->request, join->flags, join->inputs,
                   join->started, &join->trace, join->arrived_nsecs);
        zi_id_map_take (self->joins, header->request);
        s_join_destroy ((void **) &join);
        ZI_COUNT (self->stats.joins_pending, -1);
    }
}

//  Asks for the lines a run reaches through those the hand-over
//  prefetched (zi_actor_hand_over), before the header is rebuilt and
//  checked: the input's planned shape, the node's slot tables and
//  parameters, the weights' descriptors, the fan-out's tables, this
//  request's entries in the latency windows and the output's planned
//  shape. Each was last read a request ago; asked for together, their
//  misses overlap instead of coming one after the other
static void
s_prefetch_run (zi_actor_t *self, int slot)
{
    zi_node_t *node = self->node;
    if (slot >= 0 && slot < node->n_inputs && self->expect [slot])
        __builtin_prefetch (self->expect [slot]);
    __builtin_prefetch (node->inputs);
    __builtin_prefetch (node->outputs);
    __builtin_prefetch (node->params);
    __builtin_prefetch (self->fanout->routes);
    __builtin_prefetch (self->fanout->local);
    __builtin_prefetch (self->fanout->sent);
    __builtin_prefetch (&self->stats.compute.usecs [ZI_READ (self->stats.compute.count) % ZI_WINDOW]);
    __builtin_prefetch (&self->stats.wait.usecs [ZI_READ (self->stats.wait.count) % ZI_WINDOW]);
    for (int input = 0; input < node->n_inputs; input++)
        if (self->bound [input])
            __builtin_prefetch (self->bound [input]);
    if (node->n_outputs > 0 && node->outputs [0] >= 0)
        __builtin_prefetch (&self->worker->plan->values [node->outputs [0]].info);
}

void
zi_actor_drain_local (zi_actor_t *self, int budget)
{
    for (int count = 0; count < budget && self->local_head < self->n_local; count++) {
        //  Taken out first: whatever is handed over meanwhile lands behind
        const zi_local_t *item = &self->local [self->local_head++];
        s_prefetch_run (self, item->slot);
        zi_msg_header_t header;
        s_restore_header (&header, item);
        zi_tensor_t *tensor = item->tensor;
        int64_t arrival = item->handed? item->handed: zi_clock_usecs ();
        zi_trace_t trace = item->trace;
        if (self->local_head == self->n_local)
            self->local_head = self->n_local = 0;
        ZI_COUNT (self->stats.local_in, 1);
        s_accept (self, &header, tensor, arrival, &trace,
                  header.flags & ZI_MSG_TRACE? zi_trace_now (): 0);
        zi_trace_clear (&trace);
    }
}

bool
zi_actor_feeds_others (const zi_actor_t *self)
{
    return zi_fanout_leaves_thread (self->fanout);
}

//  A received frame's aligned copy, from the worker's pool
static zi_tensor_t *
s_pool_alloc (void *pool, zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    return zi_pool_tensor (pool, dtype, ndim, dims);
}

//  Handles one message zi_msg_recv gave (rc 0), or the reason it refused
//  one (rc -1)
static void
s_take (zi_actor_t *self, int rc, zi_msg_header_t *header, zi_tensor_t *tensor,
        zi_trace_t *trace)
{
    if (rc == -1) {
        s_reject (self, "%s", zi_error_text ());
        return;
    }
    int64_t arrival = zi_clock_usecs ();
    bool take = true;
    for (int index = 0; index < self->n_relays; index++) {
        zi_actor_relay_t *relay = &self->relays [index];
        if (relay->source == header->source && relay->slot == header->slot) {
            zi_msg_header_t handed = *header;
            handed.slot = relay->target_slot;
            zi_actor_hand_over (relay->target, &handed, tensor, trace, arrival);
            ZI_COUNT (relay->sent, 1);
            take &= !relay->pass;
        }
    }
    //  A tensor this mailbox only carries for another actor is that
    //  actor's to check and count, as it is handed over
    if (take)
        s_accept (self, header, tensor, arrival, trace,
                  header->flags & ZI_MSG_TRACE? zi_trace_now (): 0);
    else {
        ZI_COUNT (self->stats.carried, 1);
        zi_tensor_destroy (&tensor);
    }
}

int
zi_actor_drain (zi_actor_t *self, int budget)
{
    int handled = 0;
    while (handled < budget) {
        zi_msg_header_t header;
        zi_tensor_t *tensor;
        zi_trace_t trace = {0, NULL};
        int rc = zi_msg_recv_into (self->mailbox, &header, &tensor, &trace, true,
                                   s_pool_alloc, self->worker->pool);
        if (rc == 1)
            break;
        handled++;
        s_take (self, rc, &header, tensor, &trace);
        zi_trace_clear (&trace);
    }
    return handled;
}

int
zi_actor_receive (zi_actor_t *self)
{
    zi_msg_header_t header;
    zi_tensor_t *tensor;
    zi_trace_t trace = {0, NULL};
    errno = 0;                  //  not a signal from long ago, when refused
    int rc = zi_msg_recv_into (self->mailbox, &header, &tensor, &trace, false,
                               s_pool_alloc, self->worker->pool);
    //  A signal that cut the sleep short took nothing in: the descriptor
    //  stays readable, and the next receive looks again
    if (rc == 1 || (rc == -1 && errno == EINTR))
        return 0;
    s_take (self, rc, &header, tensor, &trace);
    zi_trace_clear (&trace);
    return 1;
}

void
zi_actor_expire (zi_actor_t *self, int64_t now_usecs)
{
    if (zi_id_map_size (self->joins) == 0)
        return;
    size_t stale = zi_id_map_purge (self->joins, s_join_stale, &now_usecs, s_join_destroy);
    ZI_COUNT (self->stats.stale_joins, stale);
    ZI_COUNT (self->stats.joins_pending, -(int64_t) stale);
}
