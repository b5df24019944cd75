/*  =========================================================================
    zi_gateway - where requests enter and answers leave a topology

    Clients talk to a ROUTER socket. A request is one multipart message:
    the client's identity (added by ZeroMQ), then a header and a data
    frame per model input. The gateway checks it against the plan, gives
    it an internal request id, and pushes each input to the actors that
    read it. Model outputs come back to its results mailbox, in any order;
    once a request has all of them the gateway answers the client that
    asked, under the client's own request id.

    The gateway admits at most max_inflight requests at a time, and
    requests whose inputs come to at most the topology's byte budget
    (max_inflight_bytes). Beyond either it stops reading from clients, so
    ZeroMQ's queues push back on them instead of memory growing without
    bound. What a request admitted costs downstream (its activations,
    queued for a slow or stopped worker) grows with its inputs, so it is
    their bytes that bound memory, where slots alone let large inputs
    add up to gigabytes. The gateway learns a request's size only as it
    reads it: one that does not fit waits, read but not admitted, and the
    gateway reads nothing more until it does. A request counts until
    its answer is in the client's queue, not merely computed: when that
    queue is full (a client that reads slower than it sends) the answer
    waits here, holding its slot, and is sent once the client reads.
    ZeroMQ would otherwise drop it silently.

    Slots are counted per client too. While answers wait for a client
    that does not read, the gateway goes on reading (up to twice the
    limit) so that other clients are still served, and refuses new
    requests of a client that holds its share already.

    Internal ids carry the gateway's epoch, a random number drawn as it
    starts: results of requests a dead incarnation admitted, still
    travelling through other processes, never match a new request.

    A request may size the model's unknown input dimensions as it likes:
    it is checked against the model's declared shape, planned for (once
    per thread, zi_variant.c) and sent on with its sizes in every header.

    With batching: in the topology, requests of the same shapes but
    dimension 0 wait up to max_delay_us for company, and are then stacked
    along dimension 0 into one request, a carrier, that goes through the
    actors as one. Each client request keeps its own entry (its slot, its
    answer, a resend replacing it); the carrier's outputs are cut back
    into a slice per request when they come, and each slice is that
    request's result.

    The last answers sent are kept a while (a bounded number and size):
    a client that lost one asks again under the same id, and gets the
    same answer again at once, bits and all, rather than a second run
    that a different batch could round differently. A resend of a request
    whose answer waits for the client's full queue is answered by that.
    =========================================================================
*/

#include "zi_fanout.h"
#include "zi_shm.h"
#include "zi_hash.h"
#include <msgpack.h>
#include <errno.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#define S_MAX_INFLIGHT 1024
//  A request not answered within this is taken as lost and forgotten
#define S_REQUEST_DEADLINE_USECS (60 * INT64_C (1000000))
#define S_MAX_IDENTITY 256
//  A client key: its identity in hex, "/", its request id
#define S_KEY_SIZE (2 * S_MAX_IDENTITY + 24)
//  Requests of one client waiting in ZeroMQ's queue for the gateway
#define S_CLIENT_QUEUE 16
//  While full with answers waiting for clients that do not read, the
//  gateway reads one request this often: ZeroMQ's ROUTER takes its peers
//  in turn, so every waiting client is heard, and a flooding one cannot
//  make it refuse more than a few hundred requests a second
#define S_PROBE_USECS 10000
//  Busy refusals kept for clients whose queue is full, sent when they read
#define S_MAX_HELD_REFUSALS 4096
//  Internal ids: the epoch in the high half, a count in the low half
#define S_EPOCH_SHIFT 32
#define S_COUNT_MASK ((UINT64_C (1) << S_EPOCH_SHIFT) - 1)
//  Answers kept for clients that lost one: the newest, at most this many
//  and this many bytes, none larger than a quarter of that
#define S_KEPT_ANSWERS 64
#define S_KEPT_BYTES (INT64_C (16) << 20)
//  Requests in flight from which on a new one is signed as it comes in:
//  a request that queues behind many gains nothing from a later hash,
//  and its held inputs would add up (a request holds them till answered)
#define S_SIGN_AT_INTAKE 8
//  Kept answers whose inputs are held, not signed yet, at least as many
//  as a client below S_SIGN_AT_INTAKE has in flight (the answers it may
//  lose and ask for again), more while their inputs come to less than
//  this many bytes
#define S_UNSIGNED_KEPT S_SIGN_AT_INTAKE
#define S_UNSIGNED_KEPT_BYTES (INT64_C (4) << 20)

//  A refusal its client's full queue could not take yet
typedef struct {
    unsigned char identity [S_MAX_IDENTITY];
    size_t identity_size;
    uint64_t request;
    char text [200];
} s_refusal_t;

//  What one client holds of the gateway: its entries in the table
typedef struct {
    int slots;                  //  requests admitted, answers held, replaced copies
    int held;                   //  of them, answers waiting for its queue
    int64_t bytes;              //  their input bytes
} s_client_t;

typedef struct {
    unsigned char identity [S_MAX_IDENTITY];    //  the client's ROUTER identity
    size_t identity_size;
    uint64_t client_request;    //  the client's id for this request
    s_client_t *client;         //  its account, alive while it holds a slot
    uint32_t flags;             //  from the request header
    bool replaced;              //  a resend took its place; its results are late
    bool held;                  //  complete, its answer waiting for the client's queue
    zi_trace_t trace;           //  records of a traced request
    int64_t first_result;       //  realtime nsecs the first output came (traced)
    int have;                   //  outputs arrived
    int64_t started;            //  when it entered (usecs)
    int64_t bytes;              //  of its inputs, counted against the budget till forgotten
    uint64_t signature;         //  of its inputs (s_signature), once signed
    bool hashed;                //  signature made; until then inputs are held
    int n_inputs;               //  model inputs
    zi_tensor_t **inputs;       //  per model input, held for the signature
                                //  (in the same block as outputs, after them)
    zi_tensor_t *expect;        //  per output: its shape when the request's sizes are
                                //  not the topology's plan's, else NULL
    int n_outputs;
    zi_tensor_t *outputs [];    //  per model output
} s_request_t;

//  A request waiting in the open batch, its inputs not sent yet
typedef struct {
    uint64_t id;                //  its internal id (admitted, in the table)
    int64_t rows;               //  its size in dimension 0
    zi_tensor_t **inputs;       //  per model input
} s_member_t;

//  Requests sent on as one, until the carrier's outputs are back
typedef struct {
    int n_members;
    int have;                   //  outputs arrived
    int64_t started;            //  when it was sent (usecs)
    zi_tensor_t *expect;        //  per output: its planned shape
    zi_tensor_t **outputs;      //  per output, as they come
    int n_outputs;
    s_member_t members [];      //  ids and rows (inputs NULL)
} s_batch_t;

//  A request read and checked, not yet admitted or refused: it waits
//  here while it does not fit the byte budget
typedef struct {
    unsigned char identity [S_MAX_IDENTITY];
    size_t identity_size;
    uint64_t client_request;    //  the client's id for it
    uint32_t flags;             //  from its header, without SHARED
    bool shared;                //  its inputs came in shared memory
    int64_t bytes;              //  of its inputs
    bool hashed;                //  signature made (s_incoming_t), kept while it waits
    uint64_t signature;
    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS];
} s_pending_t;

//  An answer sent, kept for a resend of its request (under its client key)
typedef struct {
    uint64_t signature;         //  of the request's inputs, once signed
    int n_inputs;               //  inputs held until it is signed, else 0
    zi_tensor_t **inputs;       //  (in the same block, after the outputs)
    zi_counter_t *unsigned_kept;    //  the gateway's count of those still held
    int64_t *kept_bytes;        //  the gateway's total of kept bytes
    int64_t bytes;              //  of its outputs, and of its inputs while held
    int64_t held_bytes;         //  of those, its inputs'
    int n_outputs;
    zi_tensor_t *outputs [];    //  shared with the messages that carried them
} s_kept_t;

struct zi_gateway_t {
    zi_worker_t *worker;        //  owning process
    zi_thread_t *thread;        //  thread it runs on
    void *clients;              //  ROUTER, clients connect here
    void *results;              //  PULL, actors send model outputs here
    bool results_polled;        //  an actor on another thread or process may send there
    zi_fanout_t *fanout;        //  model inputs to the actors that read them
    zhashx_t *inflight;         //  internal id -> s_request_t
    zlistx_t *undelivered;      //  ids of complete requests the client's queue refused
    zlistx_t *refusals;         //  busy refusals waiting for their client's queue (s_refusal_t)
    int64_t last_probe;         //  when a full gateway last read a request (usecs)
    zhashx_t *by_client;        //  "client identity/client id" -> internal id
    zhashx_t *clients_held;     //  client identity in hex -> s_client_t
    uint64_t epoch;             //  this incarnation's half of every internal id
    uint64_t next_id;           //  next internal request id
    int max_inflight;           //  admission limit
    int64_t max_bytes;          //  admission limit on input bytes (max_inflight_bytes)
    zi_counter_t bytes;         //  input bytes of the table's entries, ghosts and held too
    s_pending_t waiting_room;   //  a request read that did not fit the byte budget
    bool parked;                //  waiting_room holds one
    uint64_t client_sends;      //  sends tried on the clients' socket (zi_gateway_client_sends)
    zi_counter_t requests;      //  requests admitted
    zi_counter_t replies;       //  answers sent
    zi_counter_t rejected;      //  malformed requests and stray results
    zi_counter_t admitted;      //  admitted and not yet answered
    zi_window_t latency;        //  admission to answer, per request answered
    zi_counter_t expired;       //  given up on after the deadline
    zi_counter_t held;          //  answers that had to wait for a slow client
    zi_counter_t waiting;       //  of them, waiting now (the list's size, for the monitor)
    zi_counter_t unroutable;    //  answers and refusals for clients that were gone
    zi_counter_t replaced;      //  requests a client sent again, their earlier copy dropped
    zi_counter_t late;          //  results of requests no longer waited for
    zi_counter_t stale;         //  results of an earlier incarnation's requests
    zi_counter_t busy;          //  requests refused: their client held its share
    zi_counter_t ghosts;        //  replaced copies still travelling (they hold slots)
    zi_counter_t shared;        //  requests whose inputs came in shared memory
    zi_counter_t batches;       //  carriers sent (batching)
    zi_counter_t batched;       //  requests sent in them
    zi_shm_cache_t *blocks;     //  clients' shared-memory blocks, kept open and mapped
    int max_batch;              //  batching: rows stacked at most, 0: off
    int64_t max_delay_usecs;    //  batching: longest wait for company
    int timer;                  //  timerfd: the open batch's deadline, -1 without batching
    int n_open;                 //  requests in the open batch
    int64_t open_rows;          //  their rows
    s_member_t *open;           //  the open batch, max_batch places
    zhashx_t *batches_out;      //  carrier id -> s_batch_t
    zhashx_t *kept;             //  client key -> s_kept_t, answers kept for resends
    zi_counter_t unsigned_kept; //  of them, not signed yet (zi_gateway_sign)
    char (*kept_keys) [S_KEY_SIZE];     //  their keys, oldest first, in a ring
    int kept_first;             //  the oldest's place in the ring
    int kept_count;             //  keys in the ring
    int64_t kept_bytes;         //  bytes of the kept answers
    zi_counter_t repeated;      //  resends answered with an answer already made
};

static void
s_request_destroy (void **item_p)
{
    s_request_t *request = *item_p;
    if (!request)
        return;
    for (int output = 0; output < request->n_outputs; output++)
        zi_tensor_destroy (&request->outputs [output]);
    for (int input = 0; input < request->n_inputs; input++)
        zi_tensor_destroy (&request->inputs [input]);
    zi_trace_clear (&request->trace);
    free (request->expect);
    free (request);
    *item_p = NULL;
}

static void
s_batch_destroy (void **item_p)
{
    s_batch_t *batch = *item_p;
    if (!batch)
        return;
    for (int output = 0; output < batch->n_outputs; output++)
        zi_tensor_destroy (&batch->outputs [output]);
    free (batch->outputs);
    free (batch->expect);
    free (batch);
    *item_p = NULL;
}

static void
s_kept_destroy (void **item_p)
{
    s_kept_t *kept = *item_p;
    if (!kept)
        return;
    for (int output = 0; output < kept->n_outputs; output++)
        zi_tensor_destroy (&kept->outputs [output]);
    if (kept->n_inputs)
        ZI_COUNT (*kept->unsigned_kept, -1);
    for (int input = 0; input < kept->n_inputs; input++)
        zi_tensor_destroy (&kept->inputs [input]);
    free (kept);
    *item_p = NULL;
}

static void
s_refusal_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_client_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  A random epoch: a restarted gateway must not draw its predecessor's,
//  and ids from the clock alone could repeat after a quick restart
static uint64_t
s_new_epoch (void)
{
    uint32_t epoch = 0;
    while (epoch == 0)
        if (getrandom (&epoch, sizeof epoch, 0) != (ssize_t) sizeof epoch)
            epoch = (uint32_t) (zi_clock_usecs () ^ ((uint64_t) getpid () << 16));
    return epoch;
}

//  Whether anything can reach the results mailbox: an actor that sends a
//  model output from another thread or process, or a listener on ipc or
//  tcp for another process. In one process on one thread every output is
//  handed over in memory, and polling the mailbox would only cost a system
//  call each time the thread waits, and another when it wakes
static bool
s_results_polled (const zi_deploy_t *deploy)
{
    if (deploy->gateway_ipc || deploy->gateway_tcp_port > 0)
        return true;
    const zi_graph_t *plan = deploy->plan;
    for (int producer = 0; producer < plan->n_nodes; producer++)
        for (int route = 0; route < deploy->n_routes [producer]; route++) {
            if (deploy->routes [producer][route].node >= 0)
                continue;
            for (int replica = 0; replica < deploy->replicas [producer]; replica++) {
                const zi_deploy_actor_t *actor =
                    &deploy->actors [deploy->first_actor [producer] + replica];
                if (actor->process != deploy->gateway_process
                ||  actor->thread != deploy->gateway_thread)
                    return true;
            }
        }
    return false;
}

zi_gateway_t *
zi_gateway_new (zi_worker_t *worker, zi_thread_t *thread)
{
    zi_deploy_t *deploy = worker->deploy;
    zi_gateway_t *self = calloc (1, sizeof (zi_gateway_t));
    assert (self);
    self->worker = worker;
    self->thread = thread;
    self->max_inflight = S_MAX_INFLIGHT;
    self->max_bytes = deploy->inflight_bytes;
    self->epoch = s_new_epoch ();
    self->next_id = self->epoch << S_EPOCH_SHIFT | 1;
    self->inflight = zi_id_table_new (s_request_destroy);
    self->undelivered = zlistx_new ();
    self->refusals = zlistx_new ();
    assert (self->refusals);
    zlistx_set_destructor (self->refusals, s_refusal_destroy);
    self->by_client = zhashx_new ();
    self->clients_held = zhashx_new ();
    self->blocks = zi_shm_cache_new ();
    self->batches_out = zi_id_table_new (s_batch_destroy);
    self->kept = zhashx_new ();
    self->kept_keys = calloc (S_KEPT_ANSWERS, sizeof self->kept_keys [0]);
    assert (self->undelivered && self->by_client && self->clients_held && self->batches_out);
    assert (self->kept && self->kept_keys);
    zhashx_set_destructor (self->kept, s_kept_destroy);
    self->timer = -1;
    self->max_batch = deploy->topology->max_batch;
    self->max_delay_usecs = deploy->topology->max_delay_us;
    if (self->max_batch) {
        self->timer = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        self->open = calloc (self->max_batch, sizeof (s_member_t));
        assert (self->open);
        for (int member = 0; member < self->max_batch; member++) {
            self->open [member].inputs = calloc (worker->plan->n_inputs + 1, sizeof (zi_tensor_t *));
            assert (self->open [member].inputs);
        }
        if (self->timer < 0) {
            zi_error ("gateway: cannot make the batching timer: %s", strerror (errno));
            zi_gateway_destroy (&self);
            return NULL;
        }
    }
    zhashx_set_destructor (self->clients_held, s_client_destroy);

    char endpoint [256];
    int unlimited = 0;
    self->clients = zmq_socket (worker->context, ZMQ_ROUTER);
    //  Mandatory routing: a full client queue says EAGAIN (and the answer
    //  waits here) and a vanished client EHOSTUNREACH, where ZeroMQ would
    //  otherwise drop the message without a word
    int mandatory = 1;
    zmq_setsockopt (self->clients, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    int answers = S_MAX_INFLIGHT;
    zmq_setsockopt (self->clients, ZMQ_SNDHWM, &answers, sizeof answers);
    //  What a client has sent and the gateway not yet read stays in its
    //  ZeroMQ queue: a short one, so that a client cannot park a thousand
    //  inputs here (the rest waits in its own memory)
    int unread = S_CLIENT_QUEUE;
    zmq_setsockopt (self->clients, ZMQ_RCVHWM, &unread, sizeof unread);
    zi_msg_limit_frames (self->clients, worker->frame_limit);
    zi_deploy_client_endpoint (deploy, endpoint, sizeof endpoint);
    char local [256];
    zi_deploy_client_ipc_endpoint (deploy, local, sizeof local);
    if (zi_deploy_listen_as (deploy, self->clients, endpoint, ZI_ROLE_CLIENT)
    ||  zi_deploy_listen_as (deploy, self->clients, local, ZI_ROLE_CLIENT)) {
        zi_error_prefix ("gateway: the client endpoint");
        zi_gateway_destroy (&self);
        return NULL;
    }
    self->results = zmq_socket (worker->context, ZMQ_PULL);
    self->results_polled = s_results_polled (deploy);
    zmq_setsockopt (self->results, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
    zi_msg_limit_frames (self->results, worker->frame_limit);
    for (int index = 0; zi_deploy_bind (deploy, -1, index, endpoint, sizeof endpoint); index++)
        if (zi_deploy_listen (deploy, self->results, endpoint)) {
            zi_error_prefix ("gateway");
            zi_gateway_destroy (&self);
            return NULL;
        }

    //  Model inputs to the actors that read them, the same way actors send
    zi_wiring_t *wiring = zi_wiring_new (deploy, -1);
    self->fanout = zi_fanout_new (thread, wiring);
    zi_wiring_destroy (&wiring);
    if (!self->fanout) {
        zi_error_prefix ("gateway");
        zi_gateway_destroy (&self);
        return NULL;
    }
    return self;
}

void
zi_gateway_destroy (zi_gateway_t **self_p)
{
    assert (self_p);
    zi_gateway_t *self = *self_p;
    if (!self)
        return;
    zi_fanout_destroy (&self->fanout);
    if (self->clients)
        zmq_close (self->clients);
    if (self->results)
        zmq_close (self->results);
    zhashx_destroy (&self->inflight);
    for (int input = 0; self->parked && input < self->worker->plan->n_inputs; input++)
        zi_tensor_destroy (&self->waiting_room.inputs [input]);
    zlistx_destroy (&self->undelivered);
    zlistx_destroy (&self->refusals);
    zhashx_destroy (&self->by_client);
    zhashx_destroy (&self->clients_held);
    zi_shm_cache_destroy (&self->blocks);
    zhashx_destroy (&self->batches_out);
    zhashx_destroy (&self->kept);
    free (self->kept_keys);
    for (int member = 0; self->open && member < self->max_batch; member++) {
        for (int input = 0; input < self->worker->plan->n_inputs; input++)
            zi_tensor_destroy (&self->open [member].inputs [input]);
        free (self->open [member].inputs);
    }
    free (self->open);
    if (self->timer >= 0)
        close (self->timer);
    free (self);
    *self_p = NULL;
}

int
zi_gateway_sockets (zi_gateway_t *self, void **sockets)
{
    sockets [0] = self->results_polled? self->results: NULL;
    sockets [1] = self->clients;
    return 2;
}

//  A client's ROUTER identity in hex, and after it, for the key of one
//  of its requests, "/" and its id
static void
s_client_key (const unsigned char *identity, size_t identity_size, const uint64_t *client_request,
              char *key, size_t key_size)
{
    static const char digits [] = "0123456789abcdef";
    size_t at = 0;
    for (size_t index = 0; index < identity_size && at + 2 < key_size; index++) {
        key [at++] = digits [identity [index] >> 4];
        key [at++] = digits [identity [index] & 15];
    }
    key [at] = 0;
    if (!client_request || at + 2 >= key_size)
        return;
    //  The id in decimal by hand: snprintf took a thousand instructions a
    //  call, and a request makes its key several times
    char reversed [20];
    int length = 0;
    uint64_t value = *client_request;
    do {
        reversed [length++] = (char) ('0' + value % 10);
        value /= 10;
    } while (value);
    key [at++] = '/';
    while (length > 0 && at + 1 < key_size)
        key [at++] = reversed [--length];
    key [at] = 0;
}

//  The account of a client, made when it first takes a slot
static s_client_t *
s_client_account (zi_gateway_t *self, const unsigned char *identity, size_t identity_size,
                  bool make)
{
    char key [S_KEY_SIZE];
    s_client_key (identity, identity_size, NULL, key, sizeof key);
    s_client_t *client = zhashx_lookup (self->clients_held, key);
    if (!client && make) {
        client = calloc (1, sizeof (s_client_t));
        assert (client);
        zhashx_insert (self->clients_held, key, client);
    }
    return client;
}

//  Forgets an entry of the table: out of the client index, and its slot
//  back to its client's account
static void
s_forget (zi_gateway_t *self, void *key)
{
    s_request_t *request = zhashx_lookup (self->inflight, key);
    if (!request)
        return;
    char client_key [S_KEY_SIZE];
    s_client_key (request->identity, request->identity_size, &request->client_request,
                  client_key, sizeof client_key);
    //  Only if it names this request (a later copy may have taken the key)
    if ((uintptr_t) zhashx_lookup (self->by_client, client_key) == (uintptr_t) key)
        zhashx_delete (self->by_client, client_key);
    if (request->replaced)
        ZI_COUNT (self->ghosts, -1);
    s_client_t *client = request->client;
    if (request->held)
        client->held--;
    client->bytes -= request->bytes;
    ZI_COUNT (self->bytes, -request->bytes);
    if (--client->slots == 0) {
        s_client_key (request->identity, request->identity_size, NULL, client_key,
                      sizeof client_key);
        zhashx_delete (self->clients_held, client_key);
    }
    zhashx_delete (self->inflight, key);
}

bool
zi_gateway_accepting (zi_gateway_t *self)
{
    //  A draining process still reads requests, to refuse them at once
    if (self->worker->draining)
        return true;
    //  A request read waits for room: it goes first (zi_gateway_retry)
    if (self->parked)
        return false;
    size_t taken = zhashx_size (self->inflight);
    int64_t bytes = (int64_t) ZI_READ (self->bytes);
    if ((int) taken < self->max_inflight && bytes < self->max_bytes)
        return true;
    //  Full, with answers waiting for clients that do not read: reading on
    //  (a request now and then, to a hard limit) lets every other client
    //  still be served; those holding their share are refused in
    //  s_settle
    return ZI_READ (self->waiting) > 0 && (int) taken < 2 * self->max_inflight
        && bytes < 2 * self->max_bytes
        && zi_clock_usecs () - self->last_probe >= S_PROBE_USECS;
}

int
zi_gateway_inflight (zi_gateway_t *self)
{
    return (int) ZI_READ (self->admitted);
}

void
zi_gateway_expire (zi_gateway_t *self, int64_t now_usecs)
{
    zi_shm_cache_prune (self->blocks);
    if (zhashx_size (self->batches_out)) {
        //  Carriers whose outputs are not coming: their requests expire
        //  on their own below
        zlistx_t *keys = zhashx_keys (self->batches_out);
        for (void *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
            s_batch_t *batch = zhashx_lookup (self->batches_out, key);
            if (batch && now_usecs - batch->started > S_REQUEST_DEADLINE_USECS)
                zhashx_delete (self->batches_out, key);
        }
        zlistx_destroy (&keys);
    }
    if (zhashx_size (self->inflight) == 0)
        return;
    zlistx_t *keys = zhashx_keys (self->inflight);
    for (void *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        s_request_t *request = zhashx_lookup (self->inflight, key);
        if (request && now_usecs - request->started > S_REQUEST_DEADLINE_USECS) {
            //  Its answer is not coming (a process died with it): free the
            //  slot; the client has sent it again under the same id
            if (!request->replaced)
                ZI_COUNT (self->admitted, -1);
            s_forget (self, key);
            ZI_COUNT (self->expired, 1);
        }
    }
    zlistx_destroy (&keys);
}

//  Sends a refusal; false if the client's queue is full
static bool
s_send_refusal (zi_gateway_t *self, const void *identity, size_t identity_size,
                uint64_t request, const char *text)
{
    self->client_sends++;
    if (zmq_send (self->clients, identity, identity_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        zi_msg_send_error (self->clients, request, text, false);
        return true;
    }
    if (zmq_errno () != EAGAIN)
        ZI_COUNT (self->unroutable, 1);     //  the client is gone
    return zmq_errno () != EAGAIN;
}

//  Keeps a busy refusal its client cannot take yet: the client will read
//  it with its answers, and resend the request then
static void
s_hold_refusal (zi_gateway_t *self, const void *identity, size_t identity_size,
                uint64_t request, const char *text)
{
    if (zlistx_size (self->refusals) >= S_MAX_HELD_REFUSALS) {
        ZI_COUNT (self->unroutable, 1);
        return;
    }
    s_refusal_t *refusal = calloc (1, sizeof (s_refusal_t));
    assert (refusal);
    memcpy (refusal->identity, identity, identity_size);
    refusal->identity_size = identity_size;
    refusal->request = request;
    snprintf (refusal->text, sizeof refusal->text, "%s", text);
    zlistx_add_end (self->refusals, refusal);
}

//  Answers a client with an error and counts it
static void
s_refuse (zi_gateway_t *self, const void *identity, size_t identity_size,
          uint64_t request, const char *text)
{
    ZI_COUNT (self->rejected, 1);
    if (ZI_READ (self->rejected) <= 10 || ZI_READ (self->rejected) % 1000 == 0)
        fprintf (stderr, "zinfer worker: gateway: request %llu refused: %s (%llu so far)\n",
                 (unsigned long long) request, text, (unsigned long long) ZI_READ (self->rejected));
    //  A busy refusal waits for a full queue like an answer (the client
    //  resends what it says); others are dropped when the client's queue
    //  is full, and the client's resend is refused again later
    if (!s_send_refusal (self, identity, identity_size, request, text)) {
        if (strncmp (text, "busy:", 5) == 0)
            s_hold_refusal (self, identity, identity_size, request, text);
        else
            ZI_COUNT (self->unroutable, 1);
    }
}

//  The next internal id
static uint64_t
s_next_id (zi_gateway_t *self)
{
    uint64_t id = self->next_id++;
    if ((self->next_id & S_COUNT_MASK) == 0) {
        //  Four billion requests: a new epoch rather than ids used before
        self->epoch = s_new_epoch ();
        self->next_id = self->epoch << S_EPOCH_SHIFT | 1;
    }
    return id;
}

//  Whether tensor may be model input `input`: the planned shape, but any
//  size from 1 in the model's unknown dimensions. Fills dims with the
//  shape expected, -1 where any size goes (for the message).
static bool
s_input_fits (zi_gateway_t *self, int input, const zi_tensor_t *tensor, int64_t *dims)
{
    const zi_deploy_t *deploy = self->worker->deploy;
    const zi_graph_t *plan = self->worker->plan;
    const zi_tensor_t *info = &plan->values [plan->inputs [input]].info;
    memcpy (dims, info->dims, ZI_MAX_DIMS * sizeof (int64_t));
    for (int index = 0; index < deploy->n_dynamic; index++)
        if (deploy->dynamic_input [index] == input)
            dims [deploy->dynamic_axis [index]] = -1;
    if (tensor->dtype != info->dtype || tensor->ndim != info->ndim)
        return false;
    for (int axis = 0; axis < info->ndim; axis++)
        if (dims [axis] >= 0? tensor->dims [axis] != dims [axis]:
            tensor->dims [axis] < 1 || tensor->dims [axis] > INT32_MAX)
            return false;
    return true;
}

//  The request's sizes of the model's unknown dimensions; 0 when they are
//  those the topology planned for (its messages then carry none)
static int
s_sizes (zi_gateway_t *self, zi_tensor_t *const *inputs, int64_t *sizes)
{
    const zi_deploy_t *deploy = self->worker->deploy;
    const zi_graph_t *plan = self->worker->plan;
    bool planned = true;
    for (int index = 0; index < deploy->n_dynamic; index++) {
        int input = deploy->dynamic_input [index], axis = deploy->dynamic_axis [index];
        sizes [index] = inputs [input]->dims [axis];
        if (sizes [index] != plan->values [plan->inputs [input]].info.dims [axis])
            planned = false;
    }
    return planned? 0: deploy->n_dynamic;
}

//  With batching: the request's rows, its size in dimension 0, the same
//  in every input; 0 if they differ (it goes alone)
static int64_t
s_rows (zi_gateway_t *self, zi_tensor_t *const *inputs)
{
    if (!self->max_batch)
        return 0;
    int64_t rows = inputs [0]->dims [0];
    for (int input = 1; input < self->worker->plan->n_inputs; input++)
        if (inputs [input]->dims [0] != rows)
            return 0;
    return rows;
}

//  A plan's output shapes, dimension 0 set to rows unless 0 (malloc'd)
static zi_tensor_t *
s_expected_outputs (const zi_graph_t *plan, int64_t rows)
{
    zi_tensor_t *expect = calloc (plan->n_outputs + 1, sizeof (zi_tensor_t));
    assert (expect);
    for (int output = 0; output < plan->n_outputs; output++) {
        const zi_tensor_t *info = &plan->values [plan->outputs [output]].info;
        int64_t dims [ZI_MAX_DIMS];
        memcpy (dims, info->dims, sizeof dims);
        if (rows)
            dims [0] = rows;
        zi_tensor_set_shape (&expect [output], info->dtype, info->ndim, dims);
    }
    return expect;
}

//  Sends a request's inputs (id: a request's or a carrier's) to the actors
//  that read them, with its dynamic sizes
static void
s_dispatch (zi_gateway_t *self, uint64_t id, uint32_t flags, int n_sizes, const int64_t *sizes,
            zi_tensor_t *const *inputs, const zi_trace_t *trace)
{
    for (int index = 0; index < self->fanout->n_routes; index++) {
        zi_fanout_route_t *route = &self->fanout->routes [index];
        zi_tensor_t *tensor = inputs [route->output];
        zi_msg_header_t out = {.kind = ZI_MSG_TENSOR, .request = id, .source = ZI_MSG_GATEWAY,
                               .slot = route->slot, .count = 1, .dtype = tensor->dtype,
                               .ndim = tensor->ndim, .flags = flags, .n_dynamic = n_sizes};
        memcpy (out.dims, tensor->dims, tensor->ndim * sizeof (int64_t));
        memcpy (out.dynamic, sizes, n_sizes * sizeof (int64_t));
        if (zi_fanout_send (self->fanout, route, &out, tensor, trace, 0))
            fprintf (stderr, "zinfer worker: gateway: %s\n", zi_error_text ());
    }
}

//  An admitted request that cannot be served after all: its client gets
//  the error, and its entry goes
static void
s_fail_admitted (zi_gateway_t *self, uint64_t id, const char *text)
{
    void *key = (void *) (uintptr_t) id;
    s_request_t *request = zhashx_lookup (self->inflight, key);
    if (!request)
        return;
    if (!request->replaced) {
        s_refuse (self, request->identity, request->identity_size, request->client_request,
                  text);
        ZI_COUNT (self->admitted, -1);
    }
    s_forget (self, key);
}

//  Sends the open batch on: alone if it holds one request, else stacked
//  along dimension 0 under a carrier id. A batch whose stacked shapes the
//  model cannot take fails every request in it, with the reason.
static void
s_flush (zi_gateway_t *self)
{
    if (self->n_open == 0)
        return;
    zi_graph_t *plan = self->worker->plan;
    int n_inputs = plan->n_inputs;
    struct itimerspec off = {{0, 0}, {0, 0}};
    timerfd_settime (self->timer, 0, &off, NULL);
    int n_members = self->n_open;
    self->n_open = 0;
    self->open_rows = 0;
    zi_tensor_t *stacked [ZI_MAX_GRAPH_INPUTS] = {NULL};
    if (n_members == 1)
        memcpy (stacked, self->open [0].inputs, n_inputs * sizeof (zi_tensor_t *));
    else
    for (int input = 0; input < n_inputs; input++) {
        const zi_tensor_t *first = self->open [0].inputs [input];
        int64_t dims [ZI_MAX_DIMS];
        memcpy (dims, first->dims, sizeof dims);
        dims [0] = 0;
        for (int member = 0; member < n_members; member++)
            dims [0] += self->open [member].inputs [input]->dims [0];
        stacked [input] = zi_pool_tensor (self->worker->pool, first->dtype, first->ndim, dims);
        assert (stacked [input]);
        char *into = zi_tensor_data (stacked [input]);
        for (int member = 0; member < n_members; member++) {
            const zi_tensor_t *part = self->open [member].inputs [input];
            memcpy (into, zi_tensor_data ((zi_tensor_t *) part), part->nbytes);
            into += part->nbytes;
        }
    }
    int64_t sizes [ZI_MSG_MAX_DYNAMIC];
    int n_sizes = s_sizes (self, stacked, sizes);
    zi_graph_t *variant = zi_variants_plan (self->thread->variants, n_sizes, sizes);
    char problem [400] = "";
    if (!variant && n_members > 1)
        snprintf (problem, sizeof problem, "a batch of %d requests: %s", n_members,
                  zi_error_text ());
    else
    if (!variant)
        snprintf (problem, sizeof problem, "%s", zi_error_text ());
    for (int output = 0; variant && n_members > 1 && !*problem && output < plan->n_outputs;
         output++) {
        const zi_tensor_t *info = &variant->values [variant->outputs [output]].info;
        if (info->ndim == 0 || info->dims [0] != stacked [0]->dims [0]) {
            char shape [128];
            snprintf (problem, sizeof problem, "batching: output '%s' of a batch of %lld rows "
                      "is %s, not stacked along dimension 0; it cannot be cut back into "
                      "answers (turn batching off for this model)",
                      variant->values [variant->outputs [output]].name,
                      (long long) stacked [0]->dims [0],
                      zi_shape_str (info->ndim, info->dims, shape, sizeof shape));
        }
    }
    if (*problem) {
        for (int member = 0; member < n_members; member++)
            s_fail_admitted (self, self->open [member].id, problem);
        //  The stacked copies are ours when there are several members
        for (int input = 0; n_members > 1 && input < n_inputs; input++)
            zi_tensor_destroy (&stacked [input]);
    }
    else
    if (n_members == 1) {
        s_request_t *request = zhashx_lookup (self->inflight,
                                              (void *) (uintptr_t) self->open [0].id);
        if (request && variant != plan)
            request->expect = s_expected_outputs (variant, 0);
        s_dispatch (self, self->open [0].id, 0, n_sizes, sizes, stacked, NULL);
    }
    else {
        s_batch_t *batch = calloc (1, sizeof (s_batch_t) + n_members * sizeof (s_member_t));
        assert (batch);
        batch->n_members = n_members;
        batch->n_outputs = plan->n_outputs;
        batch->started = zi_clock_usecs ();
        batch->expect = s_expected_outputs (variant, 0);
        batch->outputs = calloc (plan->n_outputs + 1, sizeof (zi_tensor_t *));
        assert (batch->outputs);
        for (int member = 0; member < n_members; member++) {
            s_member_t *open = &self->open [member];
            batch->members [member] = (s_member_t) {.id = open->id, .rows = open->rows};
            s_request_t *request = zhashx_lookup (self->inflight, (void *) (uintptr_t) open->id);
            if (request)
                request->expect = s_expected_outputs (variant, open->rows);
        }
        uint64_t carrier = s_next_id (self);
        zhashx_insert (self->batches_out, (void *) (uintptr_t) carrier, batch);
        ZI_COUNT (self->batches, 1);
        ZI_COUNT (self->batched, n_members);
        s_dispatch (self, carrier, 0, n_sizes, sizes, stacked, NULL);
        for (int input = 0; input < n_inputs; input++)
            zi_tensor_destroy (&stacked [input]);
    }
    for (int member = 0; member < n_members; member++)
        for (int input = 0; input < n_inputs; input++)
            zi_tensor_destroy (&self->open [member].inputs [input]);
}

//  Whether a request can join the open batch: every input of the shape
//  of the batch's first request but in dimension 0
static bool
s_fits_open (zi_gateway_t *self, zi_tensor_t *const *inputs)
{
    const s_member_t *first = &self->open [0];
    for (int input = 0; input < self->worker->plan->n_inputs; input++) {
        const zi_tensor_t *mine = inputs [input], *theirs = first->inputs [input];
        if (mine->ndim != theirs->ndim
        ||  memcmp (mine->dims + 1, theirs->dims + 1, (mine->ndim - 1) * sizeof (int64_t)))
            return false;
    }
    return true;
}

//  Puts an admitted request into the open batch (takes its inputs): the
//  batch goes once it is full, else when its first request has waited
//  max_delay_us
static void
s_gather (zi_gateway_t *self, uint64_t id, int64_t rows, zi_tensor_t **inputs)
{
    int n_inputs = self->worker->plan->n_inputs;
    if (self->n_open > 0
    && (self->open_rows + rows > self->max_batch || !s_fits_open (self, inputs)))
        s_flush (self);
    s_member_t *member = &self->open [self->n_open++];
    member->id = id;
    member->rows = rows;
    memcpy (member->inputs, inputs, n_inputs * sizeof (zi_tensor_t *));
    self->open_rows += rows;
    if (self->open_rows >= self->max_batch)
        s_flush (self);
    else
    if (self->n_open == 1) {
        int64_t delay = self->max_delay_usecs > 0? self->max_delay_usecs: 1;
        struct itimerspec when = {{0, 0}, {delay / 1000000, (delay % 1000000) * 1000}};
        timerfd_settime (self->timer, 0, &when, NULL);
    }
}

int
zi_gateway_timer (zi_gateway_t *self)
{
    return self->timer;
}

void
zi_gateway_tick (zi_gateway_t *self)
{
    uint64_t expired;
    if (read (self->timer, &expired, sizeof expired) == (ssize_t) sizeof expired)
        s_flush (self);
}

//  Cuts a carrier's outputs into each request's rows, each slice that
//  request's result
static void
s_unstack (zi_gateway_t *self, s_batch_t *batch, int64_t arrived)
{
    int64_t row = 0;
    for (int member = 0; member < batch->n_members; member++) {
        const s_member_t *part = &batch->members [member];
        for (int output = 0; output < batch->n_outputs; output++) {
            zi_tensor_t *whole = batch->outputs [output];
            int64_t dims [ZI_MAX_DIMS];
            memcpy (dims, whole->dims, sizeof dims);
            dims [0] = part->rows;
            zi_tensor_t *slice = zi_pool_tensor (self->worker->pool, whole->dtype, whole->ndim,
                                                 dims);
            assert (slice);
            size_t row_bytes = whole->nbytes / (size_t) whole->dims [0];
            memcpy (zi_tensor_data (slice), (char *) zi_tensor_data (whole) + row * row_bytes,
                    slice->nbytes);
            zi_msg_header_t header = {.kind = ZI_MSG_TENSOR, .request = part->id,
                                      .source = ZI_MSG_GATEWAY, .slot = output, .count = 1,
                                      .dtype = slice->dtype, .ndim = slice->ndim};
            memcpy (header.dims, dims, sizeof header.dims);
            zi_gateway_result (self, &header, slice, NULL, arrived);
        }
        row += part->rows;
    }
}

//  Takes a checked request in: its entry in the table, under a new
//  internal id, on its client's account; a resend of one in flight
//  replaces it. Returns the id.
static uint64_t
s_admit (zi_gateway_t *self, const unsigned char *identity, size_t identity_size,
         uint64_t client_request, uint32_t flags, int64_t bytes)
{
    zi_graph_t *plan = self->worker->plan;
    int64_t arrived = flags & ZI_MSG_TRACE? zi_trace_now (): 0;
    uint64_t id = s_next_id (self);
    s_request_t *request = calloc (1, sizeof (s_request_t)
                                      + (plan->n_outputs + plan->n_inputs) * sizeof (zi_tensor_t *));
    assert (request);
    request->n_inputs = plan->n_inputs;
    request->inputs = request->outputs + plan->n_outputs;
    memcpy (request->identity, identity, identity_size);
    request->identity_size = identity_size;
    request->client_request = client_request;
    request->flags = flags;
    request->n_outputs = plan->n_outputs;
    request->started = zi_clock_usecs ();
    if (flags & ZI_MSG_TRACE) {
        zi_trace_record_t record = {.actor = ZI_TRACE_GATEWAY_IN,
                                    .process = (uint32_t) self->worker->process,
                                    .arrived = arrived, .started = arrived,
                                    .ended = zi_trace_now (), .sent = zi_trace_now ()};
        zi_trace_merge (&request->trace, &record, 1);
    }
    //  A client sends a request again when its answer is overdue: the
    //  earlier copy was lost (a worker died with it) or is late. Either way
    //  the client waits for one answer: the earlier copy is no longer
    //  admitted (a graceful stop does not wait for it) and its results are
    //  counted as late
    char client_key [S_KEY_SIZE];
    s_client_key (identity, identity_size, &client_request, client_key, sizeof client_key);
    void *earlier_key = zhashx_lookup (self->by_client, client_key);
    s_request_t *earlier = earlier_key? zhashx_lookup (self->inflight, earlier_key): NULL;
    if (earlier) {
        ZI_COUNT (self->admitted, -1);
        ZI_COUNT (self->replaced, 1);
        if (earlier->have == earlier->n_outputs)
            //  Complete and held for the client: its answer goes now; it
            //  leaves the undelivered list at the next flush
            s_forget (self, earlier_key);
        else {
            //  Still travelling: it keeps its slot until its results are
            //  back (or it expires), so resending cannot lift the bound
            //  on what is in flight
            earlier->replaced = true;
            ZI_COUNT (self->ghosts, 1);
            zhashx_delete (self->by_client, client_key);
        }
    }
    //  Looked up again: forgetting the earlier copy may have closed it
    s_client_t *client = s_client_account (self, identity, identity_size, true);
    client->slots++;
    client->bytes += bytes;
    request->bytes = bytes;
    ZI_COUNT (self->bytes, bytes);
    request->client = client;
    zhashx_insert (self->inflight, (void *) (uintptr_t) id, request);
    zhashx_update (self->by_client, client_key, (void *) (uintptr_t) id);
    ZI_COUNT (self->requests, 1);
    ZI_COUNT (self->admitted, 1);
    return id;
}

//  A fingerprint of a request's inputs: their dtypes, shapes and every
//  byte. A kept answer goes to a resend whose inputs match it, so a
//  client that breaks the protocol by reusing an id for other inputs gets
//  their answer, not the kept one, whatever byte differs
//  (docs/protocol.md). zi_hash reads at about the speed of memory, but
//  that is still tens of microseconds for an image, so it is made when
//  needed rather than as the request comes in: once its answer is kept
//  and the thread is idle (zi_gateway_sign), or when another request
//  under the same id must be told from it (s_answer_again). Until then
//  the request, and then its kept answer, hold its inputs
//  (docs/reliability.md).
static uint64_t
s_signature (zi_tensor_t *const *inputs, int n_inputs)
{
    uint64_t hash = 0;
    for (int input = 0; input < n_inputs; input++) {
        const zi_tensor_t *tensor = inputs [input];
        int64_t shape [2 + ZI_MAX_DIMS] = {tensor->dtype, tensor->ndim};
        for (int axis = 0; axis < tensor->ndim; axis++)
            shape [2 + axis] = tensor->dims [axis];
        hash = zi_hash (shape, (size_t) (2 + tensor->ndim) * sizeof shape [0], hash);
        const void *data = zi_tensor_data (tensor);
        uint64_t data_hash = zi_hash (data, data? tensor->nbytes: 0, 0);
        hash = zi_hash (&data_hash, sizeof data_hash, hash);
    }
    return hash;
}

//  A request's signature, made from its held inputs the first time it is
//  asked for; the inputs are let go then
static uint64_t
s_request_signature (s_request_t *request)
{
    if (!request->hashed) {
        request->signature = s_signature (request->inputs, request->n_inputs);
        request->hashed = true;
        for (int input = 0; input < request->n_inputs; input++)
            zi_tensor_destroy (&request->inputs [input]);
    }
    return request->signature;
}

//  A kept answer's signature, made from its held inputs the first time
//  it is asked for (zi_gateway_sign, or a resend)
static uint64_t
s_kept_signature (s_kept_t *kept)
{
    if (kept->n_inputs) {
        kept->signature = s_signature (kept->inputs, kept->n_inputs);
        for (int input = 0; input < kept->n_inputs; input++)
            zi_tensor_destroy (&kept->inputs [input]);
        kept->n_inputs = 0;
        ZI_COUNT (*kept->unsigned_kept, -1);
        kept->bytes -= kept->held_bytes;
        *kept->kept_bytes -= kept->held_bytes;
        kept->held_bytes = 0;
    }
    return kept->signature;
}

//  The signature of inputs that just came, made once if at all
typedef struct {
    zi_tensor_t *const *inputs;
    int n_inputs;
    bool made;
    uint64_t signature;
} s_incoming_t;

static uint64_t
s_incoming_signature (s_incoming_t *incoming)
{
    if (!incoming->made) {
        incoming->signature = s_signature (incoming->inputs, incoming->n_inputs);
        incoming->made = true;
    }
    return incoming->signature;
}

static bool
    s_answer_again (zi_gateway_t *self, const unsigned char *identity, size_t identity_size,
                    uint64_t client_request, uint32_t flags, s_incoming_t *incoming);

static void
    s_settle_or_park (zi_gateway_t *self, s_pending_t *pending);

//  Takes the request whose identity frame has just been read: its inputs
//  checked, then admitted and sent to the actors, refused, or kept till
//  it fits the byte budget
static void
s_take_request (zi_gateway_t *self, const unsigned char *identity, int identity_size)
{
    zi_graph_t *plan = self->worker->plan;
    if (identity_size > S_MAX_IDENTITY)
        identity_size = S_MAX_IDENTITY;     //  ROUTER identities are at most 255 bytes
    int n_inputs = plan->n_inputs;
    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS] = {NULL};
    zi_msg_header_t header = {0};
    uint64_t client_request = 0;
    uint32_t flags = 0;
    bool shared = false;
    char problem [256] = "";
    int received = 0;
    while (!*problem) {
        int more = 0;
        size_t size = sizeof more;
        zmq_getsockopt (self->clients, ZMQ_RCVMORE, &more, &size);
        if (!more)
            break;
        zi_tensor_t *tensor = NULL;
        if (zi_msg_recv_request (self->clients, &header, &tensor, self->blocks, NULL)) {
            //  A header that decoded names the request, even if its data
            //  did not match it: the refusal goes back under that id
            if (received == 0)
                client_request = header.request;
            snprintf (problem, sizeof problem, "malformed request: %s", zi_error_text ());
            break;
        }
        if (received == 0) {
            client_request = header.request;
            //  How the inputs came is no business of the actors
            flags = header.flags & ~(uint32_t) ZI_MSG_SHARED;
            shared = header.flags & ZI_MSG_SHARED;
        }
        received++;
        char got [128], want [128];
        int slot = header.slot;
        if (header.kind != ZI_MSG_REQUEST)
            snprintf (problem, sizeof problem, "message kind %d, expected a request (%d)",
                      header.kind, ZI_MSG_REQUEST);
        else
        if (header.request != client_request)
            snprintf (problem, sizeof problem, "inputs of one request carry different ids");
        else
        if (header.count != n_inputs || slot >= n_inputs)
            snprintf (problem, sizeof problem, "the model has %d input%s, the request says "
                      "%d (slot %d)", n_inputs, n_inputs == 1? "": "s", header.count, slot);
        else
        if (inputs [slot])
            snprintf (problem, sizeof problem, "input %d given twice", slot);
        else {
            const zi_tensor_t *info = &plan->values [plan->inputs [slot]].info;
            if (tensor->dtype != info->dtype && zi_dtype_widens (tensor->dtype, info->dtype)) {
                //  int32 ids for an int64 input and the like: exact, so taken
                zi_tensor_t *wide = zi_tensor_convert (tensor, info->dtype);
                if (wide) {
                    zi_tensor_destroy (&tensor);
                    tensor = wide;
                }
            }
            int64_t dims [ZI_MAX_DIMS];
            if (!s_input_fits (self, slot, tensor, dims))
                snprintf (problem, sizeof problem, "input '%s': expected %s %s, got %s %s",
                          plan->values [plan->inputs [slot]].name, zi_dtype_name (info->dtype),
                          zi_shape_str (info->ndim, dims, want, sizeof want),
                          zi_dtype_name (tensor->dtype),
                          zi_shape_str (tensor->ndim, tensor->dims, got, sizeof got));
        }
        if (*problem) {
            zi_tensor_destroy (&tensor);
            break;
        }
        inputs [slot] = tensor;
    }
    zi_msg_drain (self->clients);
    if (!*problem && received != n_inputs)
        snprintf (problem, sizeof problem, "the model has %d input%s, the request carries %d",
                  n_inputs, n_inputs == 1? "": "s", received);
    if (*problem) {
        s_refuse (self, identity, identity_size, client_request, problem);
        for (int slot = 0; slot < n_inputs; slot++)
            zi_tensor_destroy (&inputs [slot]);
        return;
    }
    //  Set field by field: zeroing its 256 input places would cost each
    //  request as much as the rest of the bookkeeping (only the model's
    //  inputs are ever read)
    s_pending_t pending;
    pending.identity_size = (size_t) identity_size;
    pending.client_request = client_request;
    pending.flags = flags;
    pending.shared = shared;
    pending.bytes = 0;
    pending.hashed = false;
    pending.signature = 0;
    memcpy (pending.identity, identity, (size_t) identity_size);
    for (int slot = 0; slot < n_inputs; slot++) {
        pending.inputs [slot] = inputs [slot];
        pending.bytes += (int64_t) inputs [slot]->nbytes;
    }
    s_settle_or_park (self, &pending);
}

//  Lets the pending request's inputs go (the model's, not every place)
static void
s_pending_clear (s_pending_t *pending, int n_inputs)
{
    for (int input = 0; input < n_inputs; input++)
        zi_tensor_destroy (&pending->inputs [input]);
}

//  Admits a request read and checked, or refuses it; false, its inputs
//  kept (and its signature, if made), while it must wait for room in the
//  byte budget or for a slot
static bool
s_settle (zi_gateway_t *self, s_pending_t *pending)
{
    zi_graph_t *plan = self->worker->plan;
    int n_inputs = plan->n_inputs;
    const unsigned char *identity = pending->identity;
    size_t identity_size = pending->identity_size;
    uint64_t client_request = pending->client_request;
    uint32_t flags = pending->flags;
    zi_tensor_t **inputs = pending->inputs;
    char problem [256] = "";
    //  A draining process (SIGTERM) finishes what it admitted and turns
    //  the rest away with a clear answer rather than leaving them unread
    if (self->worker->draining)
        snprintf (problem, sizeof problem, "the topology is shutting down; request not admitted");
    else
    //  Refused rather than admitted alone: the budget is a bound the
    //  operator set on memory, and a request it can never hold would
    //  either lift it or wait forever. A budget below the planned inputs
    //  is refused as the topology loads, so only a request of sizes
    //  larger than planned gets here
    if (pending->bytes > self->max_bytes)
        snprintf (problem, sizeof problem, "the request's inputs take %lld bytes, more than "
                  "the gateway admits at once (max_inflight_bytes: %lld)",
                  (long long) pending->bytes, (long long) self->max_bytes);
    s_client_t *client = s_client_account (self, identity, identity_size, false);
    int taken = (int) zhashx_size (self->inflight);
    int64_t bytes = (int64_t) ZI_READ (self->bytes);
    bool full = taken >= self->max_inflight || bytes + pending->bytes > self->max_bytes;
    if (full)
        self->last_probe = zi_clock_usecs ();
    //  Past the limits only while answers wait for clients that do not
    //  read, and within twice them: each client may then hold its share of
    //  the slots and of the bytes. Otherwise the request waits for room,
    //  and the gateway reads no more
    bool wait = full && (ZI_READ (self->waiting) == 0 || taken >= 2 * self->max_inflight
                         || bytes + pending->bytes > 2 * self->max_bytes);
    if (!*problem && full && !wait) {
        int clients = (int) zhashx_size (self->clients_held) + (client? 0: 1);
        int share = self->max_inflight / clients;
        int64_t byte_share = self->max_bytes / clients;
        if (client && (client->slots >= share || client->bytes >= byte_share)) {
            ZI_COUNT (self->busy, 1);
            snprintf (problem, sizeof problem, "busy: this client holds %d requests and unread "
                      "answers of %lld input bytes, its share of the gateway's %d slots and "
                      "%lld bytes; read its answers first", client->slots,
                      (long long) client->bytes, self->max_inflight, (long long) self->max_bytes);
        }
    }
    if (*problem) {
        s_refuse (self, identity, identity_size, client_request, problem);
        s_pending_clear (pending, n_inputs);
        return true;
    }
    //  A resend of a request answered already, or whose answer waits for
    //  the client's queue, is not run again
    s_incoming_t incoming = {.inputs = inputs, .n_inputs = n_inputs,
                             .made = pending->hashed, .signature = pending->signature};
    if (zhashx_size (self->inflight) >= S_SIGN_AT_INTAKE)
        s_incoming_signature (&incoming);
    if (s_answer_again (self, identity, identity_size, client_request, flags, &incoming)) {
        s_pending_clear (pending, n_inputs);
        return true;
    }
    if (wait) {
        pending->hashed = incoming.made;
        pending->signature = incoming.signature;
        return false;
    }

    //  A request of other sizes than planned is planned for before it is
    //  admitted, so that shapes the model cannot take are refused here;
    //  one that may wait for company is planned for with its batch
    int64_t rows = s_rows (self, inputs);
    bool batchable = rows > 0 && rows < self->max_batch && !(flags & ZI_MSG_TRACE);
    int n_sizes = 0;
    int64_t sizes [ZI_MSG_MAX_DYNAMIC];
    zi_graph_t *variant = plan;
    if (!batchable) {
        n_sizes = s_sizes (self, inputs, sizes);
        variant = zi_variants_plan (self->thread->variants, n_sizes, sizes);
        if (!variant) {
            snprintf (problem, sizeof problem, "%s", zi_error_text ());
            s_refuse (self, identity, identity_size, client_request, problem);
            s_pending_clear (pending, n_inputs);
            return true;
        }
    }
    uint64_t id = s_admit (self, identity, identity_size, client_request, flags, pending->bytes);
    s_request_t *admitted = zhashx_lookup (self->inflight, (void *) (uintptr_t) id);
    if (incoming.made) {
        admitted->signature = incoming.signature;
        admitted->hashed = true;
    }
    else
        for (int slot = 0; slot < n_inputs; slot++)
            admitted->inputs [slot] = zi_tensor_ref (inputs [slot]);
    if (pending->shared)
        ZI_COUNT (self->shared, 1);
    if (batchable) {
        s_gather (self, id, rows, inputs);
        //  Taken by the open batch
        memset (pending->inputs, 0, n_inputs * sizeof pending->inputs [0]);
        return true;
    }
    s_request_t *request = zhashx_lookup (self->inflight, (void *) (uintptr_t) id);
    if (variant != plan)
        request->expect = s_expected_outputs (variant, 0);
    s_dispatch (self, id, flags, n_sizes, sizes, inputs, &request->trace);
    s_pending_clear (pending, n_inputs);
    return true;
}

//  Settles a request just read, or keeps it while it does not fit
static void
s_settle_or_park (zi_gateway_t *self, s_pending_t *pending)
{
    if (s_settle (self, pending))
        return;
    self->waiting_room = *pending;
    self->parked = true;
}

bool
zi_gateway_retry (zi_gateway_t *self)
{
    if (!self->parked)
        return false;
    //  Tried again only when something may have changed its fate: room
    //  made, answers waiting (the fair share may admit it), or a stop
    const s_pending_t *pending = &self->waiting_room;
    bool room = (int) zhashx_size (self->inflight) < self->max_inflight
             && (int64_t) ZI_READ (self->bytes) + pending->bytes <= self->max_bytes;
    if ((room || ZI_READ (self->waiting) > 0 || self->worker->draining)
    &&  s_settle (self, &self->waiting_room))
        self->parked = false;
    return !self->parked;
}

static void
s_on_request (zi_gateway_t *self)
{
    unsigned char identity [S_MAX_IDENTITY];
    int identity_size = zmq_recv (self->clients, identity, sizeof identity, ZMQ_DONTWAIT);
    if (identity_size >= 0)
        s_take_request (self, identity, identity_size);
}

int
zi_gateway_wait (zi_gateway_t *self, int timeout_msecs)
{
    //  A receive that blocks asks the socket's mailbox once before it
    //  sleeps and once when woken, where zmq_poll asks every socket on
    //  two passes, each time with a system call
    zmq_setsockopt (self->clients, ZMQ_RCVTIMEO, &timeout_msecs, sizeof timeout_msecs);
    unsigned char identity [S_MAX_IDENTITY];
    int identity_size = zmq_recv (self->clients, identity, sizeof identity, 0);
    if (identity_size < 0)
        return 0;                   //  none in time, or a signal
    s_take_request (self, identity, identity_size);
    //  Then what else has come, as zi_gateway_handle takes it: a batch
    //  of requests reaches the actors together
    int taken = 1;
    while (taken < 64 && zi_gateway_accepting (self)) {
        identity_size = zmq_recv (self->clients, identity, sizeof identity, ZMQ_DONTWAIT);
        if (identity_size < 0)
            break;
        s_take_request (self, identity, identity_size);
        taken++;
    }
    return taken;
}

//  Sends an answer under the client's own id, data frames passed through
//  as they came: 0 when sent, 1 when the client's queue is full (nothing
//  sent), -1 when the client is gone (counted)
static int
s_send_answer (zi_gateway_t *self, const unsigned char *identity, size_t identity_size,
               uint64_t client_request, uint32_t flags, int n_outputs,
               zi_tensor_t *const *outputs, const zi_trace_t *trace)
{
    self->client_sends++;
    if (zmq_send (self->clients, identity, identity_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno () == EAGAIN)
            return 1;
        ZI_COUNT (self->unroutable, 1);
        return -1;
    }
    //  Past the identity frame ZeroMQ takes the rest of the message
    for (int output = 0; output < n_outputs; output++) {
        zi_tensor_t *result = outputs [output];
        zi_msg_header_t reply = {.kind = ZI_MSG_REPLY, .request = client_request,
                                 .source = ZI_MSG_GATEWAY, .slot = output,
                                 .count = n_outputs, .dtype = result->dtype,
                                 .ndim = result->ndim, .flags = flags};
        memcpy (reply.dims, result->dims, result->ndim * sizeof (int64_t));
        //  A traced answer carries the records once, after its last output
        if (output + 1 < n_outputs)
            reply.flags &= ~ZI_MSG_TRACE;
        zi_msg_send (self->clients, &reply, result, trace, output + 1 < n_outputs);
    }
    return 0;
}

//  Answers a complete request. False when the client's queue is full:
//  the answer stays for a later try. A client that is gone has its answer
//  dropped (true: nothing more to do).
static bool
s_answer (zi_gateway_t *self, s_request_t *request)
{
    int rc = s_send_answer (self, request->identity, request->identity_size,
                            request->client_request, request->flags, request->n_outputs,
                            request->outputs, &request->trace);
    if (rc == 1)
        return false;
    if (rc == 0) {
        ZI_COUNT (self->replies, 1);
        zi_window_add (&self->latency, zi_clock_usecs () - request->started);
    }
    ZI_COUNT (self->admitted, -1);
    return true;
}

//  Drops the oldest kept answer
static void
s_kept_evict (zi_gateway_t *self)
{
    const char *key = self->kept_keys [self->kept_first];
    s_kept_t *kept = zhashx_lookup (self->kept, key);
    if (kept) {
        self->kept_bytes -= kept->bytes;
        zhashx_delete (self->kept, key);
    }
    self->kept_first = (self->kept_first + 1) % S_KEPT_ANSWERS;
    self->kept_count--;
}

//  Forgets the oldest kept answer that still holds its inputs. Its key
//  stays in the ring, found no more, until the ring passes it.
static void
s_kept_let_go (zi_gateway_t *self)
{
    for (int index = 0; index < self->kept_count; index++) {
        const char *key = self->kept_keys [(self->kept_first + index) % S_KEPT_ANSWERS];
        s_kept_t *kept = zhashx_lookup (self->kept, key);
        if (kept && kept->n_inputs) {
            self->kept_bytes -= kept->bytes;
            zhashx_delete (self->kept, key);
            return;
        }
    }
}

//  An output still in ZeroMQ's receive buffer (s_on_result takes it as
//  it came, so that the answer goes out first) would keep that whole
//  buffer for as long as it is kept or held: such outputs are copied
//  out, after the send
static void
s_own_outputs (s_request_t *request)
{
    for (int output = 0; output < request->n_outputs; output++) {
        zi_tensor_t *tensor = request->outputs [output];
        if (tensor && zi_msg_pins_frame (tensor)) {
            zi_tensor_t *copy = zi_tensor_new (tensor->dtype, tensor->ndim, tensor->dims);
            if (copy) {
                memcpy (copy->data, tensor->data, tensor->nbytes);
                zi_tensor_destroy (&request->outputs [output]);
                request->outputs [output] = copy;
            }
        }
    }
}

//  Keeps the outputs of an answered request (they leave it) for a resend.
//  Traced answers are not kept: a trace is of one run.
static void
s_keep (zi_gateway_t *self, s_request_t *request)
{
    if (request->flags & ZI_MSG_TRACE)
        return;
    int64_t bytes = 0;
    for (int output = 0; output < request->n_outputs; output++)
        bytes += (int64_t) request->outputs [output]->nbytes;
    if (bytes > S_KEPT_BYTES / 4)
        return;
    //  Held inputs count against the kept bytes as outputs do, so that
    //  the bound on kept answers bounds them too. Inputs too large for
    //  that are hashed now, as kept answers cannot hold them.
    int64_t held_bytes = 0;
    for (int input = 0; !request->hashed && input < request->n_inputs; input++)
        held_bytes += request->inputs [input]? (int64_t) request->inputs [input]->nbytes: 0;
    if (held_bytes && bytes + held_bytes > S_KEPT_BYTES / 4) {
        s_request_signature (request);
        held_bytes = 0;
    }
    bytes += held_bytes;
    char key [S_KEY_SIZE];
    s_client_key (request->identity, request->identity_size, &request->client_request,
                  key, sizeof key);
    s_kept_t *earlier = zhashx_lookup (self->kept, key);
    if (earlier) {
        self->kept_bytes -= earlier->bytes;
        zhashx_delete (self->kept, key);
    }
    while (self->kept_count > 0
       && (self->kept_count == S_KEPT_ANSWERS || self->kept_bytes + bytes > S_KEPT_BYTES))
        s_kept_evict (self);
    //  Unsigned, the kept answer takes the request's inputs: they are
    //  hashed when the thread has nothing else to do (zi_gateway_sign),
    //  not between the answer and the I/O thread that sends it
    int n_inputs = request->hashed? 0: request->n_inputs;
    s_kept_t *kept = calloc (1, sizeof (s_kept_t)
                                + (request->n_outputs + n_inputs) * sizeof (zi_tensor_t *));
    assert (kept);
    kept->signature = request->signature;
    kept->inputs = kept->outputs + request->n_outputs;
    kept->unsigned_kept = &self->unsigned_kept;
    kept->kept_bytes = &self->kept_bytes;
    kept->held_bytes = held_bytes;
    for (int input = 0; input < n_inputs; input++) {
        kept->inputs [input] = request->inputs [input];
        request->inputs [input] = NULL;
    }
    kept->n_inputs = n_inputs;
    if (n_inputs)
        ZI_COUNT (self->unsigned_kept, 1);
    kept->bytes = bytes;
    kept->n_outputs = request->n_outputs;
    s_own_outputs (request);
    for (int output = 0; output < request->n_outputs; output++) {
        kept->outputs [output] = request->outputs [output];
        request->outputs [output] = NULL;
    }
    zhashx_insert (self->kept, key, kept);
    memcpy (self->kept_keys [(self->kept_first + self->kept_count) % S_KEPT_ANSWERS], key,
            strlen (key) + 1);
    self->kept_count++;
    self->kept_bytes += bytes;
    //  A thread that is never idle lets the oldest unsigned one go rather
    //  than hash it here, just after the answer, while the I/O thread
    //  that sends it and the client that reads it want this core
    if (held_bytes && ZI_READ (self->unsigned_kept) > S_UNSIGNED_KEPT
    &&  ZI_READ (self->unsigned_kept) > S_UNSIGNED_KEPT_BYTES / held_bytes)
        s_kept_let_go (self);
}

int
zi_gateway_unsigned (zi_gateway_t *self)
{
    return (int) ZI_READ (self->unsigned_kept);
}

bool
zi_gateway_sign (zi_gateway_t *self)
{
    //  The oldest first: its inputs have waited longest
    for (int index = 0; index < self->kept_count && ZI_READ (self->unsigned_kept) > 0; index++) {
        const char *key = self->kept_keys [(self->kept_first + index) % S_KEPT_ANSWERS];
        s_kept_t *kept = zhashx_lookup (self->kept, key);
        if (kept && kept->n_inputs) {
            s_kept_signature (kept);
            return true;
        }
    }
    return false;
}

//  A resend of a request whose answer is made already: its answer waits
//  for the client's full queue (the client gets it as it reads), or was
//  sent and is kept (it goes again now). True when so answered; false
//  when the request is to run (again).
static bool
s_answer_again (zi_gateway_t *self, const unsigned char *identity, size_t identity_size,
                uint64_t client_request, uint32_t flags, s_incoming_t *incoming)
{
    if (flags & ZI_MSG_TRACE)
        return false;
    char key [S_KEY_SIZE];
    s_client_key (identity, identity_size, &client_request, key, sizeof key);
    void *earlier_key = zhashx_lookup (self->by_client, key);
    s_request_t *earlier = earlier_key? zhashx_lookup (self->inflight, earlier_key): NULL;
    if (earlier && earlier->held
    &&  s_request_signature (earlier) == s_incoming_signature (incoming)) {
        ZI_COUNT (self->repeated, 1);
        return true;
    }
    s_kept_t *kept = zhashx_lookup (self->kept, key);
    if (!kept || earlier)
        return false;
    if (s_kept_signature (kept) != s_incoming_signature (incoming)) {
        //  The id names other inputs now: the kept answer is not theirs
        self->kept_bytes -= kept->bytes;
        zhashx_delete (self->kept, key);
        return false;
    }
    //  A full queue: the request runs again and its answer waits as usual
    if (s_send_answer (self, identity, identity_size, client_request, flags, kept->n_outputs,
                       kept->outputs, NULL) == 1)
        return false;
    ZI_COUNT (self->repeated, 1);
    return true;
}

int
zi_gateway_undelivered (zi_gateway_t *self)
{
    return (int) (zlistx_size (self->undelivered) + zlistx_size (self->refusals));
}

void
zi_gateway_flush (zi_gateway_t *self)
{
    for (s_refusal_t *refusal = zlistx_first (self->refusals); refusal;
         refusal = zlistx_next (self->refusals))
        if (s_send_refusal (self, refusal->identity, refusal->identity_size, refusal->request,
                            refusal->text)) {
            zlistx_detach_cur (self->refusals);     //  the cursor steps back
            free (refusal);
        }
    //  Clients differ: one with a full queue does not hold back the rest,
    //  but once it said no, its other answers need not ask again this time
    const s_request_t *refused = NULL;
    for (void *key = zlistx_first (self->undelivered); key;
         key = zlistx_next (self->undelivered)) {
        //  Gone from the table: it expired, or a resend replaced it
        s_request_t *request = zhashx_lookup (self->inflight, key);
        if (request && refused && request->identity_size == refused->identity_size
        &&  memcmp (request->identity, refused->identity, refused->identity_size) == 0)
            continue;
        if (request && !s_answer (self, request)) {
            refused = request;
            continue;
        }
        if (request) {
            s_keep (self, request);
            s_forget (self, key);
        }
        zlistx_detach_cur (self->undelivered);
        ZI_COUNT (self->waiting, -1);
    }
}

//  Counts and reports a result that cannot be used
static void
s_drop_result (zi_gateway_t *self, const char *reason)
{
    ZI_COUNT (self->rejected, 1);
    if (ZI_READ (self->rejected) <= 10 || ZI_READ (self->rejected) % 1000 == 0)
        fprintf (stderr, "zinfer worker: gateway: result dropped: %s\n", reason);
}

void
zi_gateway_result (zi_gateway_t *self, const zi_msg_header_t *header, zi_tensor_t *tensor,
                   const zi_trace_t *trace, int64_t arrived)
{
    zi_graph_t *plan = self->worker->plan;
    if (header->request >> S_EPOCH_SHIFT != self->epoch) {
        //  Admitted by an earlier incarnation of this gateway (or forged):
        //  it must never meet a new request that happens to reuse its count
        ZI_COUNT (self->stale, 1);
        if (ZI_READ (self->stale) <= 10 || ZI_READ (self->stale) % 1000 == 0)
            fprintf (stderr, "zinfer worker: gateway: result of another gateway epoch dropped "
                     "(%llu so far)\n", (unsigned long long) ZI_READ (self->stale));
        zi_tensor_destroy (&tensor);
        return;
    }
    //  Without batches in flight (always, for a gateway that does not
    //  batch) the lookup is skipped: it comes before the answer's send
    s_batch_t *batch = zhashx_size (self->batches_out)?
        zhashx_lookup (self->batches_out, (void *) (uintptr_t) header->request): NULL;
    if (batch) {
        if (header->kind != ZI_MSG_TENSOR || header->slot >= batch->n_outputs
        ||  batch->outputs [header->slot]
        ||  !zi_tensor_same_shape (tensor, &batch->expect [header->slot])) {
            s_drop_result (self, "unexpected slot or shape");
            zi_tensor_destroy (&tensor);
            return;
        }
        batch->outputs [header->slot] = tensor;
        if (++batch->have == batch->n_outputs) {
            s_unstack (self, batch, arrived);
            zhashx_delete (self->batches_out, (void *) (uintptr_t) header->request);
        }
        return;
    }
    s_request_t *request = zhashx_lookup (self->inflight, (void *) (uintptr_t) header->request);
    if (request && request->replaced) {
        //  A copy a resend replaced: its results only free its slot
        ZI_COUNT (self->late, 1);
        zi_tensor_destroy (&tensor);
        if (++request->have >= request->n_outputs)
            s_forget (self, (void *) (uintptr_t) header->request);
        return;
    }
    if (header->kind == ZI_MSG_TENSOR && request && header->slot < plan->n_outputs
    &&  !request->outputs [header->slot]
    &&  zi_tensor_same_shape (tensor, request->expect? &request->expect [header->slot]:
                              &plan->values [plan->outputs [header->slot]].info)) {
        request->outputs [header->slot] = tensor;
        if (trace && trace->count)
            zi_trace_merge (&request->trace, trace->records, trace->count);
        if (request->have == 0)
            request->first_result = arrived;
        if (++request->have < request->n_outputs)
            return;
        if (request->flags & ZI_MSG_TRACE) {
            int64_t now = zi_trace_now ();
            zi_trace_record_t record = {.actor = ZI_TRACE_GATEWAY_OUT,
                                        .process = (uint32_t) self->worker->process,
                                        .arrived = request->first_result, .started = now,
                                        .ended = now, .sent = now};
            zi_trace_merge (&request->trace, &record, 1);
        }
        if (s_answer (self, request)) {
            s_keep (self, request);
            s_forget (self, (void *) (uintptr_t) header->request);
        }
        else {
            //  Held until the client's queue has room, maybe long
            s_own_outputs (request);
            request->held = true;
            request->client->held++;
            ZI_COUNT (self->held, 1);
            ZI_COUNT (self->waiting, 1);
            zlistx_add_end (self->undelivered, (void *) (uintptr_t) header->request);
        }
        return;
    }
    if (request || header->kind != ZI_MSG_TENSOR
    ||  (header->request & S_COUNT_MASK) >= (self->next_id & S_COUNT_MASK))
        s_drop_result (self, request? "unexpected slot or shape": "unknown request");
    else
        ZI_COUNT (self->late, 1);       //  one we admitted, forgotten since
    zi_tensor_destroy (&tensor);
}

static void
s_on_result (zi_gateway_t *self)
{
    zi_msg_header_t header;
    zi_tensor_t *tensor = NULL;
    zi_trace_t trace = {0, NULL};
    int64_t arrived = zi_trace_now ();
    //  As it came: the gateway computes nothing on an output, it sends it
    //  on, and an aligned copy (an allocation and the bytes) made here
    //  came before the answer's send; s_keep copies what it keeps
    int rc = zi_msg_recv_as_is (self->results, &header, &tensor, &trace, true);
    if (rc == 1)
        return;
    if (rc == 0)
        zi_gateway_result (self, &header, tensor, &trace, arrived);
    else
        s_drop_result (self, zi_error_text ());
    zi_trace_clear (&trace);
}

bool
zi_gateway_handle (zi_gateway_t *self, void *socket)
{
    //  A bounded batch per call keeps one busy socket from starving the
    //  actors on this thread. The caller's poll has just found a message:
    //  asking the socket again first would cost a system call for nothing
    //  (a receive that finds none returns at once)
    for (int round = 0; round < 64; round++) {
        int events = ZMQ_POLLIN;
        size_t size = sizeof events;
        if (round > 0)
            zmq_getsockopt (socket, ZMQ_EVENTS, &events, &size);
        if (!(events & ZMQ_POLLIN))
            return true;
        if (socket == self->clients) {
            if (!zi_gateway_accepting (self))
                break;
            s_on_request (self);
        }
        else
            s_on_result (self);
    }
    return false;
}

uint64_t
zi_gateway_client_sends (zi_gateway_t *self)
{
    return self->client_sends;
}

static void
s_pack_key (msgpack_packer *packer, const char *key)
{
    msgpack_pack_str (packer, strlen (key));
    msgpack_pack_str_body (packer, key, strlen (key));
}

void
zi_gateway_pack_stats (zi_gateway_t *self, void *packer_)
{
    msgpack_packer *packer = packer_;
    const struct {
        const char *key;
        const zi_counter_t *counter;
    } counters [] = {
        {"requests", &self->requests}, {"replies", &self->replies},
        {"rejected", &self->rejected}, {"inflight", &self->admitted},
        {"inflight_bytes", &self->bytes},
        {"expired", &self->expired}, {"held", &self->held},
        {"undelivered", &self->waiting}, {"unroutable", &self->unroutable},
        {"replaced", &self->replaced}, {"late", &self->late}, {"shared", &self->shared},
        {"stale", &self->stale}, {"busy", &self->busy}, {"ghosts", &self->ghosts},
        {"batches", &self->batches}, {"batched", &self->batched},
        {"repeated", &self->repeated}, {"unsigned_kept", &self->unsigned_kept}
    };
    size_t n_counters = sizeof counters / sizeof counters [0];
    msgpack_pack_map (packer, (uint32_t) n_counters + 5);
    for (size_t index = 0; index < n_counters; index++) {
        s_pack_key (packer, counters [index].key);
        msgpack_pack_uint64 (packer, ZI_READ (*counters [index].counter));
    }
    s_pack_key (packer, "max_inflight");
    msgpack_pack_uint64 (packer, self->max_inflight);
    s_pack_key (packer, "max_inflight_bytes");
    msgpack_pack_uint64 (packer, (uint64_t) self->max_bytes);
    zi_window_pack (&self->latency, packer, "latency");
    s_pack_key (packer, "sent");
    const zi_fanout_t *fanout = self->fanout;
    msgpack_pack_array (packer, fanout->n_peers);
    for (int peer = 0; peer < fanout->n_peers; peer++) {
        msgpack_pack_array (packer, 2);
        msgpack_pack_int64 (packer, fanout->actor [peer]);
        msgpack_pack_uint64 (packer, ZI_READ (fanout->sent [peer]));
    }
}
