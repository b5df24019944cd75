/*  =========================================================================
    zi_worker.h - the runtime of one worker process: threads, actors and
    the gateway, private to the engine

    A worker process runs the actors a deployment places on it. Each of its
    threads polls the mailboxes of its own actors; an actor whose consumer
    lives on the same thread wakes that consumer directly through the
    thread's ready list, so a request walks a thread's chain of actors at
    the cost of an inproc PUSH/PULL pair per hop, without thread wake-ups.
    =========================================================================
*/

#ifndef ZI_WORKER_H_INCLUDED
#define ZI_WORKER_H_INCLUDED

#include "zi_deploy.h"
#include "zi_msg.h"
#include "zi_zactor.h"
#include <czmq.h>
#include <pthread.h>

typedef struct zi_worker_t zi_worker_t;
typedef struct zi_thread_t zi_thread_t;
typedef struct zi_actor_t zi_actor_t;
typedef struct zi_gateway_t zi_gateway_t;
typedef struct zi_monitor_t zi_monitor_t;
typedef struct zi_variants_t zi_variants_t;
typedef struct zi_fanout_t zi_fanout_t;

//  A tensor handed from one actor to another on the same thread: no
//  socket, no copy, no system call. ZeroMQ would charge a poll() of its
//  command mailbox on nearly every send (its throttle admits one per
//  millisecond per socket), about 10 us a hop here; this costs a few
//  hundred nanoseconds.
//
//  Kept as the header's fields a consumer reads, in one cache line, not
//  the whole header: the queue is the consumer's, last touched a request
//  ago, and the kernels in between have swept the caches, so every line
//  of it written and read again is a miss. The whole header (dims and
//  dynamic sizes, four lines) made the hand-over the thread's largest
//  source of cache misses outside the kernels. The shape is the
//  tensor's own; the dynamic sizes, when a request has any, follow in
//  lines that are touched only then.
typedef struct {
    uint64_t request;           //  the header's fields, as it would have gone on the wire
    int kind, source, slot;
    uint32_t flags;
    int n_dynamic;
    zi_tensor_t *tensor;        //  a reference
    int64_t handed;             //  when (usecs), the producer's end of compute; 0: unknown
    zi_trace_t trace;           //  records, for traced requests
    int64_t dynamic [ZI_MSG_MAX_DYNAMIC] __attribute__ ((aligned (64)));
} __attribute__ ((aligned (64))) zi_local_t;

//  Counters are written by the actor's thread only and read by the
//  monitor thread: relaxed atomics make that well defined and cost no
//  more than plain loads and stores on the writer's side
typedef _Atomic uint64_t zi_counter_t;
#define ZI_COUNT(counter, amount) \
    atomic_store_explicit (&(counter), \
        atomic_load_explicit (&(counter), memory_order_relaxed) + (amount), memory_order_relaxed)
#define ZI_READ(counter) atomic_load_explicit (&(counter), memory_order_relaxed)

//  Recent latencies for percentiles: a ring of the last ZI_WINDOW values;
//  and every latency ever, counted in fixed buckets for histograms that
//  only grow (Prometheus computes quantiles over any interval from them)
#define ZI_WINDOW 256
#define ZI_HISTOGRAM_BOUNDS 19  //  upper bounds; one more bucket holds the rest
extern const uint32_t zi_histogram_bounds [ZI_HISTOGRAM_BOUNDS];    //  usecs
typedef struct {
    zi_counter_t count;         //  values ever recorded (first: it shares a
                                //  cache line with the counters before it)
    zi_counter_t sum_usecs;     //  of every value recorded
    zi_counter_t buckets [ZI_HISTOGRAM_BOUNDS + 1];     //  values in each bucket
    _Atomic uint32_t usecs [ZI_WINDOW];  //  values, microseconds (last: the
                                //  fields above, written on every value, then
                                //  share two or three cache lines, not four)
} zi_window_t;

void
    zi_window_add (zi_window_t *self, int64_t usecs);
//  p50, p95, p99 of what the window holds (0 when empty)
void
    zi_window_percentiles (zi_window_t *self, double *p50, double *p95, double *p99);
//  Two entries of a msgpack map: "NAME_usecs": [p50, p95, p99] of the
//  window, and "NAME_histogram": [sum_usecs, [count per bucket, ...]]
//  (bounds: zi_histogram_bounds, the last bucket unbounded)
void
    zi_window_pack (zi_window_t *self, void *packer, const char *name);

//  Per-actor counters (read by the monitor)
typedef struct {
    zi_counter_t messages_in;   //  tensors received and accepted
    zi_counter_t local_in;      //  of which handed over on the same thread
    zi_counter_t messages_out;  //  tensors sent
    zi_counter_t bytes_in;      //  data bytes received
    zi_counter_t bytes_out;     //  data bytes sent
    zi_counter_t requests;      //  requests computed
    zi_counter_t rejected;      //  malformed or unexpected messages dropped
    zi_counter_t carried;       //  messages taken from the mailbox only to hand
                                //  on to another actor on the thread (a relay's pass)
    zi_counter_t stale_joins;   //  partial joins dropped after the deadline
    zi_counter_t errors;        //  kernel failures
    zi_counter_t busy_usecs;    //  time spent computing
    zi_counter_t joins_pending; //  requests waiting for more inputs
    //  Each window from a line's start: its count, sum and first six
    //  buckets share one line (a wait on one thread falls in the first
    //  bucket, most kernels' times in the first six)
    zi_window_t compute __attribute__ ((aligned (64)));  //  compute time per request
    zi_window_t wait __attribute__ ((aligned (64)));     //  first input's arrival to compute start
    pthread_mutex_t lock;       //  guards last_error, written rarely
    char last_error [256];      //  text of the last rejection or error
} zi_actor_stats_t;


//  A tensor this actor hands on to a consumer on its thread when it
//  arrives from another process (zi_deploy.c, s_mark_relays and
//  s_mark_carriers; zi_wiring.h)
typedef struct {
    int source;                 //  producing node
    int slot;                   //  the slot it arrives with
    zi_actor_t *target;         //  the other consumer
    int target_slot;            //  its input slot
    bool pass;                  //  only handed on: this actor does not take it
    zi_counter_t sent;          //  tensors handed on (the target's queue depth)
} zi_actor_relay_t;

struct zi_actor_t {
    zi_worker_t *worker;        //  owning process
    zi_thread_t *thread;        //  owning thread
    int index;                  //  actor index in the deployment
    int node_index;             //  planned graph node
    zi_node_t *node;            //  the node (process-local copy of the plan)
    void *mailbox;              //  PULL
    zi_fanout_t *fanout;        //  where its outputs go (zi_fanout.h)
    int n_dynamic;              //  inputs that arrive as messages
    const zi_tensor_t **bound;  //  per input slot: constant, or NULL if dynamic
    zi_tensor_t **expect;       //  per input slot: planned dtype and shape
    zi_id_map_t *joins;         //  request id -> partial inputs (s_join_t)
    bool queued;                //  on the thread's ready list
    bool remote;                //  some producer is on another thread: poll the mailbox
    bool outputs_fit;           //  its planned outputs' shapes go to the pool
                                //  as they are (zi_pool_fits)
    int local_head;             //  the oldest hand-off waiting in local
    int n_local;                //  end of the hand-offs waiting
    int max_local;              //  room in the local queue
    zi_local_t *local;          //  those hand-offs, oldest first
    int n_relays;               //  tensors from other processes handed on
    zi_actor_relay_t *relays;
    atomic_int tap_wanted;      //  the monitor waits for a copy of the next output
    zi_actor_stats_t stats;     //  counters
    char name [256];            //  for messages and the monitor (last: the
                                //  fields read per request share fewer lines)
} __attribute__ ((aligned (64)));

//  A PUSH socket a thread's senders share to one endpoint (zi_fanout.c)
typedef struct {
    char endpoint [256];
    void *socket;
    int users;                  //  fan-out peers sending through it
} zi_link_t;

struct zi_thread_t {
    zi_worker_t *worker;        //  owning process
    int index;                  //  thread number in the process
    zi_link_t *links;           //  one connection per endpoint it sends to
    int n_links;
    zi_zactor_t *actor;         //  the thread, a CZMQ actor: "$TERM" stops it
    void *pipe;                 //  its end of the actor's pipe (raw, for zmq_poll)
    pthread_t handle;           //  set as it starts: the monitor reads its CPU clock
    void *taps;                 //  PUSH: output copies to the monitor
    int n_actors;
    zi_actor_t **actors;
    zi_gateway_t *gateway;      //  when the gateway runs on this thread
    zi_exec_t *exec;            //  kernel scratch
    zi_variants_t *variants;    //  plans for the input shapes requests bring
    zi_actor_t **ready;         //  actors that may have messages waiting
    int n_ready;
    bool depth_first;           //  requests one at a time down the chain
                                //  (s_run_ready in zi_worker.c says when)
    int rc;                     //  0 once started, -1 if setting up failed
    atomic_int set_up;          //  released once its actors are set up
    _Atomic int64_t progress_usecs;     //  when its loop last passed or ran an actor
                                        //  (the launcher's liveness check, via the monitor)
    char error [512];           //  why it failed
};

struct zi_worker_t {
    zi_deploy_t *deploy;        //  the deployment, owned
    int process;                //  which process this is
    void *context;              //  ZeroMQ context
    zi_pool_t *pool;            //  output buffers
    zi_graph_t *plan;           //  = deploy->plan
    int64_t frame_limit;        //  largest frame its sockets take (zi_msg_frame_limit)
    int n_threads;
    zi_thread_t *threads;
    zi_actor_t *actors;         //  this process's actors
    int n_actors;
    atomic_int stopping;        //  set once a stop was asked for
    _Atomic (zi_gateway_t *) gateway;   //  published once set up, for the main and monitor threads
    atomic_int draining;        //  SIGTERM: finish what is in flight, take nothing new
    zi_monitor_t *monitor;      //  the monitor thread
    struct zi_zap_t *zap;       //  CURVE key checks, when the topology uses CURVE
};

//  Actors (zi_actor.c)
int
    zi_actor_setup (zi_actor_t *self);
void
    zi_actor_teardown (zi_actor_t *self);
//  Handles every message waiting in the mailbox, up to a budget; returns
//  how many it handled
int
    zi_actor_drain (zi_actor_t *self, int budget);
//  Waits in a receive on the mailbox, up to its ZMQ_RCVTIMEO, and handles
//  the message if one came: 1 if it did, 0 if none came in time or a
//  signal cut the wait short
int
    zi_actor_receive (zi_actor_t *self);
//  Handles the tensors same-thread peers handed it, oldest first, up to a
//  budget
void
    zi_actor_drain_local (zi_actor_t *self, int budget);
//  True if the actor sends to some consumer through a socket: one on
//  another thread or in another process
bool
    zi_actor_feeds_others (const zi_actor_t *self);
//  Drops partial joins older than the deadline
void
    zi_actor_expire (zi_actor_t *self, int64_t now_usecs);
//  Hands a tensor (taking a reference) to an actor on the caller's thread
//  and puts it on the ready list. handed is when, on the monotonic clock
//  (usecs); 0 when the caller has no time at hand
void
    zi_actor_hand_over (zi_actor_t *target, const zi_msg_header_t *header,
                        zi_tensor_t *tensor, const zi_trace_t *trace, int64_t handed);

//  The gateway (zi_gateway.c): clients in, results out
zi_gateway_t *
    zi_gateway_new (zi_worker_t *worker, zi_thread_t *thread);
void
    zi_gateway_destroy (zi_gateway_t **self_p);
//  Sockets to poll: results PULL, or NULL when nothing can reach it from
//  another thread or process, then client ROUTER; count returned
int
    zi_gateway_sockets (zi_gateway_t *self, void **sockets);
//  Below its in-flight limits (slots and bytes), no request read waiting
//  for room, or draining: it reads new requests
bool
    zi_gateway_accepting (zi_gateway_t *self);
//  Admits (or refuses) the request read that waited for room, once there
//  is room; call before asking zi_gateway_accepting. True when it did
bool
    zi_gateway_retry (zi_gateway_t *self);
//  Requests admitted and not yet answered
int
    zi_gateway_inflight (zi_gateway_t *self);
//  Forgets requests whose answer is overdue
void
    zi_gateway_expire (zi_gateway_t *self, int64_t now_usecs);
//  Answers waiting for their client to read (its queue was full)
int
    zi_gateway_undelivered (zi_gateway_t *self);
//  Tries again to send the answers that waited
void
    zi_gateway_flush (zi_gateway_t *self);
//  Kept answers not yet signed: their requests' inputs are still held.
//  zi_gateway_sign hashes one (the thread calls it when idle); false if
//  it found none to hash
int
    zi_gateway_unsigned (zi_gateway_t *self);
bool
    zi_gateway_sign (zi_gateway_t *self);
//  With batching, a timerfd that is readable once the open batch waited
//  long enough (then call zi_gateway_tick); else -1
int
    zi_gateway_timer (zi_gateway_t *self);
void
    zi_gateway_tick (zi_gateway_t *self);
//  Handles what is waiting on one of its sockets, which a poll has just
//  found readable. True when it stopped because the socket had nothing
//  more: asked just now, with its commands taken in, as a poll would ask
bool
    zi_gateway_handle (zi_gateway_t *self, void *socket);
//  How many sends the gateway has tried on its clients' socket. A send
//  takes in the socket's pending commands, a new request's among them:
//  a thread that saw this change must ask the socket before it sleeps
uint64_t
    zi_gateway_client_sends (zi_gateway_t *self);
//  Waits up to timeout_msecs in a receive on the clients' socket, for a
//  thread that serves no other socket, and takes what came: the requests
//  taken, 0 if none came in time. Only while accepting
int
    zi_gateway_wait (zi_gateway_t *self, int timeout_msecs);
//  One result for a request in flight (from the results socket, or handed
//  over by an actor on the gateway's thread); takes the tensor
void
    zi_gateway_result (zi_gateway_t *self, const zi_msg_header_t *header, zi_tensor_t *tensor,
                       const zi_trace_t *trace, int64_t arrived);

//  Packs the gateway's counters as a msgpack map (for the monitor)
void
    zi_gateway_pack_stats (zi_gateway_t *self, void *packer);

//  The monitor thread (zi_monitor.c)
zi_monitor_t *
    zi_monitor_start (zi_worker_t *worker);
void
    zi_monitor_stop (zi_monitor_t **self_p);

//  Plans per set of input shapes (zi_variant.c), one cache per thread
zi_variants_t *
    zi_variants_new (zi_worker_t *worker, zi_thread_t *thread);
void
    zi_variants_destroy (zi_variants_t **self_p);
//  The plan for a request whose messages carry these dynamic sizes: the
//  topology's own plan for none, else one planned (once) for them, its
//  node indexes those of the topology's plan. NULL with the reason.
zi_graph_t *
    zi_variants_plan (zi_variants_t *self, int n_sizes, const int64_t *sizes);
//  Plans this cache has made
uint64_t
    zi_variants_planned (zi_variants_t *self);
//  The model inputs' shapes for these dynamic sizes, for messages
void
    zi_variants_describe (const zi_deploy_t *deploy, const int64_t *sizes, char *text,
                          size_t size);

//  Threads (zi_worker.c): put an actor on its thread's ready list
void
    zi_thread_wake (zi_thread_t *self, zi_actor_t *actor);

//  Runs a worker process until SIGTERM or SIGINT; reports readiness to
//  control (a PUSH endpoint of the launcher) if given; without monitor, no
//  monitor thread (counters are kept all the same). Returns exit code.
int
    zi_worker_run (zi_deploy_t *deploy, int process, const char *control, bool monitor);


#endif
