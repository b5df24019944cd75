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
#include <czmq.h>

typedef struct zi_worker_t zi_worker_t;
typedef struct zi_thread_t zi_thread_t;
typedef struct zi_actor_t zi_actor_t;
typedef struct zi_gateway_t zi_gateway_t;

//  Per-actor counters (read by the monitor)
typedef struct {
    uint64_t messages_in;       //  tensors received and accepted
    uint64_t messages_out;      //  tensors sent
    uint64_t bytes_in;          //  data bytes received
    uint64_t bytes_out;         //  data bytes sent
    uint64_t requests;          //  requests computed
    uint64_t rejected;          //  malformed or unexpected messages dropped
    uint64_t stale_joins;       //  partial joins dropped after the deadline
    uint64_t errors;            //  kernel failures
    int64_t busy_usecs;         //  time spent computing
    char last_error [256];      //  text of the last rejection or error
} zi_actor_stats_t;

//  Where an actor's output goes: one PUSH socket per consuming actor
typedef struct {
    int output;                 //  which output of the node
    int slot;                   //  consumer's input slot (or model output index)
    int first_peer;             //  consumer replicas' sockets: peers [first_peer ..]
    int n_peers;                //  number of replicas
    bool by_request;            //  pick the replica by request id (joins), else rotate
    unsigned next;              //  rotation counter
} zi_actor_route_t;

struct zi_actor_t {
    zi_worker_t *worker;        //  owning process
    zi_thread_t *thread;        //  owning thread
    int index;                  //  actor index in the deployment
    int node_index;             //  planned graph node
    zi_node_t *node;            //  the node (process-local copy of the plan)
    char name [256];            //  for messages and the monitor
    void *mailbox;              //  PULL
    int n_peers;                //  PUSH sockets, one per consuming actor
    void **peers;
    zi_actor_t **peer_local;    //  the consuming actor when on this thread, else NULL
    int n_routes;
    zi_actor_route_t *routes;
    int n_dynamic;              //  inputs that arrive as messages
    const zi_tensor_t **bound;  //  per input slot: constant, or NULL if dynamic
    zi_tensor_t **expect;       //  per input slot: planned dtype and shape
    zhashx_t *joins;            //  request id -> partial inputs
    bool queued;                //  on the thread's ready list
    zi_actor_stats_t stats;     //  counters
};

struct zi_thread_t {
    zi_worker_t *worker;        //  owning process
    int index;                  //  thread number in the process
    pthread_t handle;
    void *control;              //  PAIR: commands from the process's main thread
    int n_actors;
    zi_actor_t **actors;
    zi_gateway_t *gateway;      //  when the gateway runs on this thread
    zi_exec_t *exec;            //  kernel scratch
    zi_actor_t **ready;         //  actors that may have messages waiting
    int n_ready;
    int rc;                     //  0 once started, -1 if setting up failed
    char error [512];           //  why it failed
};

struct zi_worker_t {
    zi_deploy_t *deploy;        //  the deployment, owned
    int process;                //  which process this is
    void *context;              //  ZeroMQ context
    zi_pool_t *pool;            //  output buffers
    zi_graph_t *plan;           //  = deploy->plan
    int n_threads;
    zi_thread_t *threads;
    zi_actor_t *actors;         //  this process's actors
    int n_actors;
    volatile int stopping;      //  set once a stop was asked for
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
//  Drops partial joins older than the deadline
void
    zi_actor_expire (zi_actor_t *self, int64_t now_usecs);
//  Sends a tensor along a route, marking local consumers ready
int
    zi_actor_send (zi_actor_t *self, zi_actor_route_t *route, void **peers,
                   zi_actor_t **local, zi_msg_header_t *header, zi_tensor_t *tensor);

//  The gateway (zi_gateway.c): clients in, results out
zi_gateway_t *
    zi_gateway_new (zi_worker_t *worker, zi_thread_t *thread);
void
    zi_gateway_destroy (zi_gateway_t **self_p);
//  Sockets to poll (client ROUTER, results PULL); count returned
int
    zi_gateway_sockets (zi_gateway_t *self, void **sockets);
//  Below its in-flight limit, so it reads new requests
bool
    zi_gateway_accepting (zi_gateway_t *self);
//  Handles what is waiting on one of its sockets
void
    zi_gateway_handle (zi_gateway_t *self, void *socket);

//  Threads (zi_worker.c)
void
    zi_thread_wake (zi_thread_t *self, zi_actor_t *actor);

//  Runs a worker process until SIGTERM or SIGINT; reports readiness to
//  control (a PUSH endpoint of the launcher) if given. Returns exit code.
int
    zi_worker_run (zi_deploy_t *deploy, int process, const char *control);

//  Monotonic microseconds
int64_t
    zi_clock_usecs (void);

#endif
