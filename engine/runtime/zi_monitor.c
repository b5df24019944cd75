/*  =========================================================================
    zi_monitor - a worker process's window for people and tools

    A thread of its own in every worker process, so that a query never
    waits behind compute: a CZMQ actor (zactor), started and stopped with
    its one handshake, told to leave with "$TERM". It answers queries on a
    ROUTER socket and publishes a stats snapshot every second on a PUB
    socket. It only reads: counters are relaxed atomics the actors write,
    and a tap asks an actor for a copy of its next output, which the actor
    makes after it has sent the original on. Anything malformed gets an
    error reply.

    Queries and replies are msgpack (docs/monitor.md):
        ["PING"]                          -> {"kind": "pong", "stalled_msecs", ...}
        ["STATS"]                         -> {"kind": "stats", ...}
        ["TAP", actor, timeout_msecs]     -> {"kind": "tap", ...} + data frame
        ["MODEL"]                         -> {"kind": "model", "inputs", "outputs"}
    =========================================================================
*/

#include "zi_fanout.h"
#include "zi_zap.h"
#include "zi_keys.h"
#include "zi_zactor.h"
#include <msgpack.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <zmq.h>

#define S_MAX_TAPS 64           //  taps waiting at once
#define S_MAX_QUERY 4096        //  bytes of one query
#define S_MAX_QUERY_FRAME (2 * S_MAX_QUERY)   //  larger frames disconnect the sender
#define S_STATS_MSECS 1000      //  publishing period

typedef struct {
    unsigned char identity [256];   //  who asked
    size_t identity_size;
    int actor;                  //  local actor index
    int64_t deadline;           //  usecs
} s_tap_t;

struct zi_monitor_t {
    zi_worker_t *worker;        //  the process
    zi_zactor_t *actor;         //  the monitor's thread
    void *router;               //  queries
    void *pub;                  //  periodic stats
    void *taps;                 //  PULL: copies from actors
    int64_t started;            //  usecs, for uptime
    int n_taps;
    s_tap_t pending [S_MAX_TAPS];
    zi_counter_t queries;       //  answered
    zi_counter_t bad_queries;   //  refused
    //  Per worker thread, for the heartbeat: the progress stamp the
    //  monitor last saw change, and the thread's CPU time when it did
    int64_t *progress_seen;
    uint64_t *cpu_at_progress;
};

static void
s_pack_str (msgpack_packer *packer, const char *text)
{
    size_t length = strlen (text);
    msgpack_pack_str (packer, length);
    msgpack_pack_str_body (packer, text, length);
}

static void
s_pack_key_u64 (msgpack_packer *packer, const char *key, uint64_t value)
{
    s_pack_str (packer, key);
    msgpack_pack_uint64 (packer, value);
}

static int64_t
s_realtime_nsecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

static uint64_t
s_rss_bytes (void)
{
    FILE *file = fopen ("/proc/self/statm", "r");
    if (!file)
        return 0;
    unsigned long pages = 0, resident = 0;
    if (fscanf (file, "%lu %lu", &pages, &resident) != 2)
        resident = 0;
    fclose (file);
    return (uint64_t) resident * (uint64_t) sysconf (_SC_PAGESIZE);
}

static void
s_pack_sent (msgpack_packer *packer, zi_actor_t *actor)
{
    //  Its peers, then the consumers it hands tensors on to
    s_pack_str (packer, "sent");
    const zi_fanout_t *fanout = actor->fanout;
    msgpack_pack_array (packer, fanout->n_peers + actor->n_relays);
    for (int peer = 0; peer < fanout->n_peers; peer++) {
        msgpack_pack_array (packer, 2);
        msgpack_pack_int64 (packer, fanout->actor [peer]);
        msgpack_pack_uint64 (packer, ZI_READ (fanout->sent [peer]));
    }
    for (int index = 0; index < actor->n_relays; index++) {
        msgpack_pack_array (packer, 2);
        msgpack_pack_int64 (packer, actor->relays [index].target->index);
        msgpack_pack_uint64 (packer, ZI_READ (actor->relays [index].sent));
    }
}

static void
s_pack_actor (msgpack_packer *packer, zi_worker_t *worker, zi_actor_t *actor)
{
    zi_deploy_t *deploy = worker->deploy;
    const zi_deploy_actor_t *info = &deploy->actors [actor->index];
    zi_actor_stats_t *stats = &actor->stats;
    msgpack_pack_map (packer, 25);
    s_pack_str (packer, "name");
    s_pack_str (packer, actor->name);
    s_pack_key_u64 (packer, "index", actor->index);
    s_pack_str (packer, "op");
    s_pack_str (packer, actor->node->op_type);
    s_pack_key_u64 (packer, "replica", info->replica);
    s_pack_key_u64 (packer, "thread", info->thread);
    const zi_tensor_t *shape = &worker->plan->values [actor->node->outputs [0]].info;
    s_pack_str (packer, "shape");
    msgpack_pack_array (packer, shape->ndim);
    for (int axis = 0; axis < shape->ndim; axis++)
        msgpack_pack_int64 (packer, shape->dims [axis]);
    s_pack_key_u64 (packer, "messages_in", ZI_READ (stats->messages_in));
    s_pack_key_u64 (packer, "messages_out", ZI_READ (stats->messages_out));
    s_pack_key_u64 (packer, "bytes_in", ZI_READ (stats->bytes_in));
    s_pack_key_u64 (packer, "bytes_out", ZI_READ (stats->bytes_out));
    s_pack_key_u64 (packer, "requests", ZI_READ (stats->requests));
    s_pack_key_u64 (packer, "rejected", ZI_READ (stats->rejected));
    s_pack_key_u64 (packer, "stale_joins", ZI_READ (stats->stale_joins));
    s_pack_key_u64 (packer, "errors", ZI_READ (stats->errors));
    s_pack_key_u64 (packer, "busy_usecs", ZI_READ (stats->busy_usecs));
    s_pack_key_u64 (packer, "joins_pending", ZI_READ (stats->joins_pending));
    s_pack_key_u64 (packer, "dynamic_inputs", actor->n_dynamic);
    zi_window_pack (&stats->compute, packer, "compute");
    zi_window_pack (&stats->wait, packer, "wait");
    char error [256];
    pthread_mutex_lock (&stats->lock);
    snprintf (error, sizeof error, "%s", stats->last_error);
    pthread_mutex_unlock (&stats->lock);
    s_pack_str (packer, "last_error");
    s_pack_str (packer, error);
    s_pack_sent (packer, actor);
    //  What senders counted as sent to this mailbox, so that their sum
    //  minus this is the queue: a message carried for another actor too
    s_pack_key_u64 (packer, "received", ZI_READ (stats->messages_in) + ZI_READ (stats->rejected)
                                        + ZI_READ (stats->carried));
    char endpoints [3][256];
    int count = 0;
    while (count < 3 && zi_deploy_bind (deploy, actor->index, count, endpoints [count], 256))
        count++;
    s_pack_str (packer, "endpoints");
    msgpack_pack_array (packer, count);
    for (int index = 0; index < count; index++)
        s_pack_str (packer, endpoints [index]);
}

//  Whether tcp is CURVE here, and the peers the ZAP handler let in or
//  refused
static void
s_pack_security (msgpack_packer *packer, zi_worker_t *worker)
{
    char last [256];
    zi_zap_last_refusal (worker->zap, last, sizeof last);
    s_pack_str (packer, "security");
    msgpack_pack_map (packer, 4);
    s_pack_str (packer, "curve");
    if (worker->deploy->topology->curve)
        msgpack_pack_true (packer);
    else
        msgpack_pack_false (packer);
    s_pack_key_u64 (packer, "accepted", zi_zap_accepted (worker->zap));
    s_pack_key_u64 (packer, "refused", zi_zap_refused (worker->zap));
    s_pack_str (packer, "last_refusal");
    s_pack_str (packer, last);
}

//  A thread's own CPU time so far, in usecs (0 where it cannot be read)
static uint64_t
s_thread_cpu_usecs (zi_thread_t *thread)
{
    clockid_t clock;
    struct timespec spent;
    if (pthread_getcpuclockid (thread->handle, &clock) || clock_gettime (clock, &spent))
        return 0;
    return (uint64_t) spent.tv_sec * 1000000 + (uint64_t) spent.tv_nsec / 1000;
}

//  CPU time of the worker threads: kernels, and also what `busy_usecs`
//  leaves out (the gateway's work, receiving and sending, hand-overs)
static uint64_t
s_threads_cpu_usecs (zi_worker_t *worker)
{
    uint64_t total = 0;
    for (int index = 0; index < worker->n_threads; index++)
        total += s_thread_cpu_usecs (&worker->threads [index]);
    return total;
}

//  CPU time of the whole process, ZeroMQ's I/O threads and the monitor too
static uint64_t
s_process_cpu_usecs (void)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage))
        return 0;
    return (uint64_t) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000
         + (uint64_t) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

//  The whole process's stats as one msgpack map
static void
s_pack_stats (zi_monitor_t *self, msgpack_sbuffer *buffer)
{
    zi_worker_t *worker = self->worker;
    zi_deploy_t *deploy = worker->deploy;
    const zi_topo_process_t *process = &deploy->topology->processes [worker->process];
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    zi_gateway_t *gateway = atomic_load_explicit (&worker->gateway, memory_order_acquire);
    msgpack_pack_map (&packer, 15);
    s_pack_str (&packer, "kind");
    s_pack_str (&packer, "stats");
    s_pack_str (&packer, "process");
    s_pack_str (&packer, process->name);
    s_pack_str (&packer, "host");
    s_pack_str (&packer, deploy->topology->hosts [process->host].name);
    s_pack_key_u64 (&packer, "pid", (uint64_t) getpid ());
    s_pack_key_u64 (&packer, "uptime_usecs", zi_clock_usecs () - self->started);
    s_pack_key_u64 (&packer, "time_nsecs", s_realtime_nsecs ());
    s_pack_key_u64 (&packer, "threads", worker->n_threads);
    s_pack_key_u64 (&packer, "rss_bytes", s_rss_bytes ());
    s_pack_key_u64 (&packer, "cpu_usecs", s_threads_cpu_usecs (worker));
    s_pack_key_u64 (&packer, "process_cpu_usecs", s_process_cpu_usecs ());
    s_pack_key_u64 (&packer, "queries", ZI_READ (self->queries));
    s_pack_key_u64 (&packer, "bad_queries", ZI_READ (self->bad_queries));
    s_pack_security (&packer, worker);
    s_pack_str (&packer, "gateway");
    if (gateway)
        zi_gateway_pack_stats (gateway, &packer);
    else
        msgpack_pack_nil (&packer);
    s_pack_str (&packer, "actors");
    msgpack_pack_array (&packer, worker->n_actors);
    for (int index = 0; index < worker->n_actors; index++)
        s_pack_actor (&packer, worker, &worker->actors [index]);
}

//  The planned model's inputs (name, dtype, shape) and output names, in
//  order: clients that read only the topology name what they send and
//  get by these (zinfer infer NAME=FILE.npy, outputs by name)
static void
s_pack_model (zi_monitor_t *self, msgpack_sbuffer *buffer)
{
    const zi_graph_t *plan = self->worker->deploy->plan;
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 3);
    s_pack_str (&packer, "kind");
    s_pack_str (&packer, "model");
    s_pack_str (&packer, "inputs");
    msgpack_pack_array (&packer, plan->n_inputs);
    for (int input = 0; input < plan->n_inputs; input++) {
        const zi_value_t *value = &plan->values [plan->inputs [input]];
        msgpack_pack_map (&packer, 3);
        s_pack_str (&packer, "name");
        s_pack_str (&packer, value->name);
        s_pack_key_u64 (&packer, "dtype", (uint64_t) value->info.dtype);
        s_pack_str (&packer, "shape");
        msgpack_pack_array (&packer, value->info.ndim);
        for (int axis = 0; axis < value->info.ndim; axis++)
            msgpack_pack_int64 (&packer, value->info.dims [axis]);
    }
    s_pack_str (&packer, "outputs");
    msgpack_pack_array (&packer, plan->n_outputs);
    for (int output = 0; output < plan->n_outputs; output++)
        s_pack_str (&packer, plan->values [plan->outputs [output]].name);
}

static void
s_reply (zi_monitor_t *self, const void *identity, size_t identity_size,
         const void *data, size_t size, bool more)
{
    zmq_send (self->router, identity, identity_size, ZMQ_SNDMORE);
    zmq_send (self->router, data, size, more? ZMQ_SNDMORE: 0);
}

static void
s_reply_error (zi_monitor_t *self, const void *identity, size_t identity_size, const char *text)
{
    ZI_COUNT (self->bad_queries, 1);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    s_pack_str (&packer, "kind");
    s_pack_str (&packer, "error");
    s_pack_str (&packer, "error");
    s_pack_str (&packer, text);
    s_reply (self, identity, identity_size, buffer.data, buffer.size, false);
    msgpack_sbuffer_destroy (&buffer);
}

//  How long the worker thread that has gone longest without progress
//  (a pass of its loop, an actor run) has gone without, and how much CPU
//  it has used meanwhile: an idle thread passes every 100 ms, so a long
//  stall spent off the CPU is a stuck thread (a deadlock, a wait that
//  never ends), while one spent on it is most likely one long kernel call
//  (a 4096 x 4096 product takes seconds). The CPU is counted from the
//  first heartbeat that saw the thread's last progress, so it undercounts
//  by at most one heartbeat period. The monitor answering at all proves
//  only that its own thread runs.
static uint64_t
s_stalled_msecs (zi_monitor_t *self, uint64_t *cpu_msecs)
{
    zi_worker_t *worker = self->worker;
    int64_t now = zi_clock_usecs (), longest = 0;
    *cpu_msecs = 0;
    for (int index = 0; index < worker->n_threads; index++) {
        int64_t last = atomic_load_explicit (&worker->threads [index].progress_usecs,
                                             memory_order_relaxed);
        if (last <= 0)
            continue;           //  not started yet: no handle to ask either
        uint64_t cpu = s_thread_cpu_usecs (&worker->threads [index]);
        if (last != self->progress_seen [index]) {
            self->progress_seen [index] = last;
            self->cpu_at_progress [index] = cpu;
        }
        if (now - last > longest) {
            longest = now - last;
            //  A clock that could not be read counts as no CPU, not as a
            //  wrap to years of it
            uint64_t since = self->cpu_at_progress [index];
            *cpu_msecs = cpu > since? (cpu - since) / 1000: 0;
        }
    }
    return (uint64_t) longest / 1000;
}

static bool
s_is_str (const msgpack_object *object, const char *text)
{
    return object->type == MSGPACK_OBJECT_STR && object->via.str.size == strlen (text)
        && memcmp (object->via.str.ptr, text, object->via.str.size) == 0;
}

static void
s_on_query (zi_monitor_t *self)
{
    unsigned char identity [256];
    int identity_size = zmq_recv (self->router, identity, sizeof identity, ZMQ_DONTWAIT);
    if (identity_size < 0)
        return;
    if (identity_size > (int) sizeof identity)
        identity_size = sizeof identity;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    int more = 0;
    size_t more_size = sizeof more;
    zmq_getsockopt (self->router, ZMQ_RCVMORE, &more, &more_size);
    if (!more || zmq_msg_recv (&frame, self->router, 0) < 0) {
        zmq_msg_close (&frame);
        s_reply_error (self, identity, identity_size, "empty query");
        return;
    }
    zi_msg_drain (self->router);
    //  Under CURVE the ZAP handler named the peer's role: a client may
    //  read counters but no tensor, and no other client's request ids
    const char *user = zmq_msg_gets (&frame, "User-Id");
    bool client_role = user && strcmp (user, ZI_USER_CLIENT) == 0;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    msgpack_unpack_return rc = zmq_msg_size (&frame) > S_MAX_QUERY
        || !zi_msgpack_plausible (zmq_msg_data (&frame), zmq_msg_size (&frame))?
        MSGPACK_UNPACK_PARSE_ERROR:
        msgpack_unpack_next (&unpacked, zmq_msg_data (&frame), zmq_msg_size (&frame), &offset);
    const msgpack_object *query = &unpacked.data;
    const msgpack_object *items = query->via.array.ptr;
    if (rc != MSGPACK_UNPACK_SUCCESS || query->type != MSGPACK_OBJECT_ARRAY
    ||  query->via.array.size < 1)
        s_reply_error (self, identity, identity_size,
                       "a query is a msgpack array: [\"PING\"], [\"STATS\"] or "
                       "[\"TAP\", actor, timeout_msecs]");
    else
    if (s_is_str (&items [0], "PING")) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
        uint64_t stalled_cpu_msecs;
        uint64_t stalled_msecs = s_stalled_msecs (self, &stalled_cpu_msecs);
        msgpack_pack_map (&packer, 6);
        s_pack_str (&packer, "kind");
        s_pack_str (&packer, "pong");
        s_pack_key_u64 (&packer, "stalled_msecs", stalled_msecs);
        s_pack_key_u64 (&packer, "stalled_cpu_msecs", stalled_cpu_msecs);
        s_pack_str (&packer, "process");
        s_pack_str (&packer, self->worker->deploy->topology->processes [self->worker->process].name);
        s_pack_key_u64 (&packer, "pid", (uint64_t) getpid ());
        s_pack_key_u64 (&packer, "time_nsecs", s_realtime_nsecs ());
        s_reply (self, identity, identity_size, buffer.data, buffer.size, false);
        msgpack_sbuffer_destroy (&buffer);
        ZI_COUNT (self->queries, 1);
    }
    else
    if (s_is_str (&items [0], "STATS")) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        s_pack_stats (self, &buffer);
        s_reply (self, identity, identity_size, buffer.data, buffer.size, false);
        msgpack_sbuffer_destroy (&buffer);
        ZI_COUNT (self->queries, 1);
    }
    else
    if (s_is_str (&items [0], "MODEL")) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        s_pack_model (self, &buffer);
        s_reply (self, identity, identity_size, buffer.data, buffer.size, false);
        msgpack_sbuffer_destroy (&buffer);
        ZI_COUNT (self->queries, 1);
    }
    else
    if (s_is_str (&items [0], "TAP")) {
        int actor = -1;
        if (query->via.array.size >= 2 && items [1].type == MSGPACK_OBJECT_STR)
            for (int index = 0; index < self->worker->n_actors; index++) {
                const char *name = self->worker->actors [index].name;
                if (strlen (name) == items [1].via.str.size
                &&  memcmp (name, items [1].via.str.ptr, items [1].via.str.size) == 0)
                    actor = index;
            }
        uint64_t timeout = 10000;
        if (query->via.array.size >= 3 && items [2].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            timeout = items [2].via.u64 > 600000? 600000: items [2].via.u64;
        if (client_role)
            s_reply_error (self, identity, identity_size, "TAP: a client's key may not read "
                           "tensors; tap with a host's key (--key HOST.key_secret)");
        else
        if (actor < 0)
            s_reply_error (self, identity, identity_size, "TAP: no such actor in this process");
        else
        if (self->n_taps == S_MAX_TAPS)
            s_reply_error (self, identity, identity_size, "TAP: too many taps waiting");
        else {
            s_tap_t *tap = &self->pending [self->n_taps++];
            memcpy (tap->identity, identity, identity_size);
            tap->identity_size = identity_size;
            tap->actor = actor;
            tap->deadline = zi_clock_usecs () + (int64_t) timeout * 1000;
            atomic_store (&self->worker->actors [actor].tap_wanted, 1);
            ZI_COUNT (self->queries, 1);
        }
    }
    else
        s_reply_error (self, identity, identity_size,
                       "unknown query (known: PING, STATS, MODEL, TAP)");
    msgpack_unpacked_destroy (&unpacked);
    zmq_msg_close (&frame);
}

//  A copy of an actor's output arrived: answer everyone waiting for it
static void
s_on_tap (zi_monitor_t *self)
{
    int actor = -1;
    if (zmq_recv (self->taps, &actor, sizeof actor, ZMQ_DONTWAIT) < 0)
        return;
    zi_msg_header_t header;
    zi_tensor_t *tensor = NULL;
    if (zi_msg_recv (self->taps, &header, &tensor, NULL, false) != 0)
        return;
    for (int index = 0; index < self->n_taps; index++) {
        s_tap_t *tap = &self->pending [index];
        if (tap->actor != actor)
            continue;
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
        msgpack_pack_map (&packer, 5);
        s_pack_str (&packer, "kind");
        s_pack_str (&packer, "tap");
        s_pack_str (&packer, "actor");
        s_pack_str (&packer, self->worker->actors [actor].name);
        s_pack_key_u64 (&packer, "request", header.request);
        s_pack_key_u64 (&packer, "dtype", header.dtype);
        s_pack_str (&packer, "shape");
        msgpack_pack_array (&packer, header.ndim);
        for (int axis = 0; axis < header.ndim; axis++)
            msgpack_pack_int64 (&packer, header.dims [axis]);
        s_reply (self, tap->identity, tap->identity_size, buffer.data, buffer.size, true);
        zmq_send (self->router, tensor->data, tensor->nbytes, 0);
        msgpack_sbuffer_destroy (&buffer);
        *tap = self->pending [--self->n_taps];
        index--;
    }
    zi_tensor_destroy (&tensor);
}

static void
s_expire_taps (zi_monitor_t *self)
{
    int64_t now = zi_clock_usecs ();
    for (int index = 0; index < self->n_taps; index++) {
        s_tap_t *tap = &self->pending [index];
        if (now < tap->deadline)
            continue;
        s_reply_error (self, tap->identity, tap->identity_size,
                       "TAP: no request passed the actor before the timeout");
        ZI_COUNT (self->bad_queries, -1);     //  not the asker's fault
        *tap = self->pending [--self->n_taps];
        index--;
    }
}

//  The monitor's thread: the sockets, bound by zi_monitor_start, are its
//  own from the handshake until it leaves; it reads the worker's counters
//  and nothing else of the worker's
static void
s_monitor_actor (zsock_t *pipe, void *args)
{
    zi_monitor_t *self = args;
    prctl (PR_SET_NAME, "zi-monitor", 0, 0, 0);
    zsock_signal (pipe, 0);
    zmq_pollitem_t items [] = {
        {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
        {self->router, 0, ZMQ_POLLIN, 0},
        {self->taps, 0, ZMQ_POLLIN, 0}
    };
    int64_t next_publish = zi_clock_usecs () + S_STATS_MSECS * 1000;
    while (true) {
        int64_t wait = (next_publish - zi_clock_usecs ()) / 1000;
        if (zmq_poll (items, 3, wait < 0? 0: wait) < 0 && zmq_errno () != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            //  The pipe carries one command, from zi_zactor_destroy
            char *command = zstr_recv (pipe);
            assert (!command || streq (command, "$TERM"));
            zstr_free (&command);
            break;
        }
        for (int round = 0; round < 64 && (items [1].revents & ZMQ_POLLIN); round++) {
            s_on_query (self);
            int events = 0;
            size_t size = sizeof events;
            zmq_getsockopt (self->router, ZMQ_EVENTS, &events, &size);
            if (!(events & ZMQ_POLLIN))
                break;
        }
        if (items [2].revents & ZMQ_POLLIN)
            s_on_tap (self);
        s_expire_taps (self);
        if (zi_clock_usecs () >= next_publish) {
            next_publish += S_STATS_MSECS * 1000;
            msgpack_sbuffer buffer;
            msgpack_sbuffer_init (&buffer);
            s_pack_stats (self, &buffer);
            zmq_send (self->pub, buffer.data, buffer.size, ZMQ_DONTWAIT);
            msgpack_sbuffer_destroy (&buffer);
        }
    }
}

static void
s_free (zi_monitor_t *self)
{
    free (self->progress_seen);
    free (self->cpu_at_progress);
    free (self);
}

static void
s_close_sockets (zi_monitor_t *self)
{
    zmq_close (self->router);
    zmq_close (self->pub);
    zmq_close (self->taps);
}

zi_monitor_t *
zi_monitor_start (zi_worker_t *worker)
{
    zi_monitor_t *self = calloc (1, sizeof (zi_monitor_t));
    assert (self);
    self->progress_seen = calloc (worker->n_threads + 1, sizeof (int64_t));
    self->cpu_at_progress = calloc (worker->n_threads + 1, sizeof (uint64_t));
    assert (self->progress_seen && self->cpu_at_progress);
    self->worker = worker;
    self->started = zi_clock_usecs ();
    char endpoint [256];
    self->router = zmq_socket (worker->context, ZMQ_ROUTER);
    self->pub = zmq_socket (worker->context, ZMQ_PUB);
    self->taps = zmq_socket (worker->context, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt (self->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->pub, ZMQ_LINGER, &linger, sizeof linger);
    //  A query is a few bytes: a larger frame disconnects its sender
    //  before it is stored
    zi_msg_limit_frames (self->router, S_MAX_QUERY_FRAME);
    zi_deploy_monitor_endpoint (worker->deploy, worker->process, endpoint, sizeof endpoint);
    //  With CURVE on, the monitor asks for an allowed key like the data
    //  path does: what it shows (tensors, timings) is as private
    int rc = zi_deploy_listen_as (worker->deploy, self->router, endpoint, ZI_ROLE_MONITOR);
    if (rc == 0) {
        zi_deploy_stats_endpoint (worker->deploy, worker->process, endpoint, sizeof endpoint);
        rc = zi_deploy_listen_as (worker->deploy, self->pub, endpoint, ZI_ROLE_MONITOR);
    }
    if (rc) {
        zi_error_prefix ("monitor");
        s_close_sockets (self);
        s_free (self);
        return NULL;
    }
    zmq_bind (self->taps, "inproc://monitor-taps");
    self->actor = zi_zactor_new (s_monitor_actor, self);
    if (!self->actor) {
        zi_error ("monitor: cannot start its thread");
        s_close_sockets (self);
        s_free (self);
        return NULL;
    }
    return self;
}

void
zi_monitor_stop (zi_monitor_t **self_p)
{
    zi_monitor_t *self = self_p? *self_p: NULL;
    if (!self)
        return;
    //  Returns once the thread has left: its sockets are ours again
    zi_zactor_destroy (&self->actor);
    s_close_sockets (self);
    s_free (self);
    *self_p = NULL;
}
