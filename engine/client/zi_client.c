/*  =========================================================================
    zi_client - talks to a running topology's gateway

    One DEALER socket. Requests carry the client's own ids; answers may
    come back in any order and are matched by id. The client keeps every
    request's inputs until its answer arrives, so that a request can be
    sent again, and hands each answer to the caller once. On the gateway's
    host (ipc) large inputs go through shared-memory blocks (zi_shm.h),
    one per request in flight, reused once its answer is in.
    =========================================================================
*/

#include "zi_msg.h"
#include "zi_deploy.h"
#include "zi_keys.h"
#include "zi_shm.h"
#include "zi_probe.h"
#include <czmq.h>
#include <zmq.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

//  Longest a send waits for a peer to take a request
#define S_SEND_WAIT_MSECS 1000

//  Bytes a second that a large request is given on its way before
//  it counts as lost: sent again after the stall period alone, a 256 MiB
//  request on a loaded machine goes out again (and again) while the first
//  copy is still on its way, each copy more work for the same answer
#define S_SLOW_LINK (32.0 * 1024 * 1024)

typedef struct {
    zi_client_t *client;        //  owner, who takes the block back
    zi_shm_block_t *block;      //  shared-memory copy of the inputs, or NULL
    bool by_reference;          //  last sent with inputs in shared memory
    uint32_t flags;             //  header flags (tracing)
    int n_inputs;               //  inputs held for a resend
    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS];
    int64_t first_sent;         //  when it was first sent, usecs
    int64_t sent;               //  when it was last sent, usecs
    int attempts;               //  times sent
    double transfer_usecs;      //  its inputs' time on a slow link (S_SLOW_LINK)
} s_pending_t;

//  An answer received while waiting for another request's
typedef struct {
    int n_outputs;
    zi_tensor_t *outputs [];
} s_answer_t;

static void
s_answer_destroy (void **item_p)
{
    s_answer_t *answer = *item_p;
    if (!answer)
        return;
    for (int slot = 0; slot < answer->n_outputs; slot++)
        zi_tensor_destroy (&answer->outputs [slot]);
    free (answer);
    *item_p = NULL;
}

//  A request sent this many times without an answer is given up on: the
//  engine cannot compute it (a kernel fails on these inputs every time)
#define S_MAX_ATTEMPTS 5
#define S_GIVE_UP_USECS (30 * INT64_C (1000000))  //  and not before this
//  Inputs smaller than this go inline: a socket moves them as fast
#define S_SHARED_MIN_BYTES (64 * 1024)
//  Blocks kept for reuse once their requests are answered
#define S_SPARE_BLOCKS 64

struct zi_client_t {
    void *context;              //  ZeroMQ context, owned
    void *socket;               //  DEALER to the gateway
    char endpoint [256];        //  where it connects
    uint64_t next_id;           //  next request id
    zhashx_t *pending;          //  id -> s_pending_t
    zi_trace_t trace;           //  records of the last traced answer
    int resend_msecs;           //  fixed resend grace; 0: adaptive; -1: never
    double latency;             //  smoothed answer latency, usecs (adaptive grace)
    uint64_t highest_answered;  //  largest id answered so far
    int64_t last_progress;      //  last send or answer, usecs
    int64_t next_check;         //  when to look for lost requests again
    uint64_t resends;           //  requests sent again
    uint64_t duplicates;        //  answers dropped as already delivered
    uint64_t busy;              //  refusals of a busy gateway, the request kept to resend
    zhashx_t *answered;         //  id -> s_answer_t: answers zi_client_infer received
                                //  for earlier zi_client_send calls, kept for recv
    uint64_t given_up;          //  a request that ran out of attempts, or 0
    void *handshakes;           //  CURVE clients: the socket's handshake events
    int handshake_failure;      //  the last failed handshake's event, or 0
    int handshake_status;       //  and its value (the ZAP status for auth)
    bool shared;                //  large inputs through shared memory
    int n_spare;                //  blocks free for the next requests
    zi_shm_block_t *spare [S_SPARE_BLOCKS];
};

static void
s_pending_destroy (void **item_p)
{
    s_pending_t *pending = *item_p;
    if (!pending)
        return;
    zi_client_t *client = pending->client;
    if (pending->block && client->n_spare < S_SPARE_BLOCKS)
        client->spare [client->n_spare++] = pending->block;
    else
        zi_shm_block_destroy (&pending->block);
    for (int input = 0; input < pending->n_inputs; input++)
        zi_tensor_destroy (&pending->inputs [input]);
    free (pending);
    *item_p = NULL;
}

//  A client whose socket is set up (keys, if any) but not yet connected
static zi_client_t *
s_client_new (const char *endpoint)
{
    zi_client_t *self = calloc (1, sizeof (zi_client_t));
    assert (self);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->context = zmq_ctx_new ();
    self->socket = zmq_socket (self->context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
    //  A gateway that refused the handshake (a key it does not list) leaves
    //  the socket no peer, and a blocking send would wait forever: a send
    //  waits a second at most, and the request stays pending (s_send_request)
    int send_wait = S_SEND_WAIT_MSECS;
    zmq_setsockopt (self->socket, ZMQ_SNDTIMEO, &send_wait, sizeof send_wait);
    self->next_id = 1;
    self->last_progress = zi_clock_usecs ();
    self->pending = zi_id_table_new (s_pending_destroy);
    self->answered = zi_id_table_new (s_answer_destroy);
    const char *setting = getenv ("ZINFER_SHARED_MEMORY");
    zi_client_set_shared_memory (self, !setting || strcmp (setting, "0") != 0);
    return self;
}

void
zi_client_set_shared_memory (zi_client_t *self, bool enabled)
{
    //  Over tcp the gateway may be on another host
    bool was = self->shared;
    self->shared = enabled && strncmp (self->endpoint, "ipc://", 6) == 0;
    if (self->shared && !was)
        zi_shm_sweep ();        //  blocks left by clients that crashed
}

bool
zi_client_shared_memory (const zi_client_t *self)
{
    return self->shared;
}

//  A CURVE client whose key is refused sees nothing but silence; the
//  socket's handshake events let it say why instead
static void
s_watch_handshakes (zi_client_t *self)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://handshakes-%p", (void *) self);
    zmq_socket_monitor (self->socket, endpoint, ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                        | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                        | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    self->handshakes = zmq_socket (self->context, ZMQ_PAIR);
    int linger = 0;
    zmq_setsockopt (self->handshakes, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect (self->handshakes, endpoint);
}

//  Reads the handshake events so far; the last one decides
static void
s_read_handshakes (zi_client_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (self->handshakes && zmq_msg_recv (&frame, self->handshakes, ZMQ_DONTWAIT) >= 0) {
        if (zmq_msg_size (&frame) == 6) {
            const uint8_t *data = zmq_msg_data (&frame);
            uint16_t event;
            uint32_t value;
            memcpy (&event, data, 2);
            memcpy (&value, data + 2, 4);
            self->handshake_failure = event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED? 0: event;
            self->handshake_status = (int) value;
        }
        while (zmq_msg_more (&frame) && zmq_msg_recv (&frame, self->handshakes, 0) >= 0)
            ;       //  the endpoint frame
    }
    zmq_msg_close (&frame);
}

static zi_client_t *
s_client_connect (zi_client_t *self)
{
    if (zi_probe_listening (self->endpoint)) {
        zi_client_destroy (&self);
        return NULL;
    }
    if (zmq_connect (self->socket, self->endpoint)) {
        zi_error ("cannot connect to '%s': %s", self->endpoint, zmq_strerror (zmq_errno ()));
        zi_client_destroy (&self);
    }
    return self;
}

zi_client_t *
zi_client_new (const char *endpoint)
{
    return s_client_connect (s_client_new (endpoint));
}

zi_client_t *
zi_client_new_secure (const char *endpoint, const char *server_key, const char *key_file)
{
    assert (endpoint && server_key);
    char server [ZI_KEY_TEXT];
    zi_keypair_t own;
    if (!key_file) {
        zi_error ("the gateway at %s uses CURVE; expected a client key file (--key FILE or "
                  "ZINFER_KEY), made by `zinfer keygen` and listed under security: clients:",
                  endpoint);
        return NULL;
    }
    if (zi_keys_read_public (server_key, server) || zi_keys_load_secret (key_file, &own))
        return NULL;
    zi_client_t *self = s_client_new (endpoint);
    zi_keys_connect_as (self->socket, &own, server);
    memset (&own, 0, sizeof own);
    s_watch_handshakes (self);
    return s_client_connect (self);
}

//  Which of the gateway's endpoints a client of the topology takes: its
//  ipc one when the gateway runs here under this user and CURVE is off,
//  being faster than tcp on loopback; else tcp. Here means: a listener
//  answers (a socket file alone may be one a stopped topology left), in
//  a folder only this user may enter (another user's folder could hold
//  anyone's socket, which would receive our requests).
static const char *
s_pick_endpoint (bool curve, const char *local, const char *remote)
{
    if (curve)
        return remote;
    char runtime [64], folder [256];
    zi_deploy_runtime_dir (runtime, sizeof runtime);
    snprintf (folder, sizeof folder, "%s", local + strlen ("ipc://"));
    char *slash = strrchr (folder, '/');
    if (slash)
        *slash = 0;
    bool ours = zi_deploy_check_private_dir (runtime) == 0
             && zi_deploy_check_private_dir (folder) == 0;
    return ours && zi_probe_unix (local + strlen ("ipc://")) == 0? local: remote;
}

zi_client_t *
zi_deploy_client (const zi_deploy_t *deploy, const char *endpoint)
{
    char local [256], remote [256];
    if (!endpoint) {
        zi_deploy_client_ipc_endpoint (deploy, local, sizeof local);
        zi_deploy_client_endpoint (deploy, remote, sizeof remote);
        endpoint = s_pick_endpoint (deploy->topology->curve, local, remote);
    }
    if (zi_probe_listening (endpoint))
        return NULL;
    zi_client_t *self = s_client_new (endpoint);
    if (deploy->topology->curve)
        s_watch_handshakes (self);
    if (zi_deploy_connect (deploy, self->socket, endpoint, deploy->gateway_process, NULL))
        zi_client_destroy (&self);
    return self;
}

zi_client_t *
zi_client_new_topology (const char *topology_path, int base_port, const char *key_file)
{
    zi_topology_t *topology = zi_topology_load (topology_path);
    if (!topology)
        return NULL;
    char local [256], remote [256];
    zi_topology_client_ipc_endpoint (topology, base_port, local, sizeof local);
    zi_topology_client_endpoint (topology, base_port, remote, sizeof remote);
    const char *endpoint = s_pick_endpoint (topology->curve, local, remote);
    zi_client_t *self = NULL;
    if (topology->curve) {
        int gateway = topology->gateway_process >= 0? topology->gateway_process: 0;
        const char *server = topology->hosts [topology->processes [gateway].host].public_key;
        self = zi_client_new_secure (endpoint, server, zi_keys_client_path (key_file));
    }
    else
        self = zi_client_new (endpoint);
    zi_topology_destroy (&topology);
    return self;
}

void
zi_client_destroy (zi_client_t **self_p)
{
    assert (self_p);
    zi_client_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->pending);
    zhashx_destroy (&self->answered);
    for (int index = 0; index < self->n_spare; index++)
        zi_shm_block_destroy (&self->spare [index]);
    zi_trace_clear (&self->trace);
    if (self->handshakes) {
        zmq_socket_monitor (self->socket, NULL, 0);
        zmq_close (self->handshakes);
    }
    if (self->socket)
        zmq_close (self->socket);
    zmq_ctx_term (self->context);
    free (self);
    *self_p = NULL;
}

const char *
zi_client_endpoint (const zi_client_t *self)
{
    return self->endpoint;
}

int
zi_client_pending (const zi_client_t *self)
{
    return (int) zhashx_size (self->pending);
}

//  A client tensor's block (zi_client_tensor), freed with its last reference
static void
s_block_free (void *data, void *hint)
{
    (void) data;
    zi_shm_block_t *block = hint;
    zi_shm_block_destroy (&block);
}

zi_tensor_t *
zi_client_tensor (zi_client_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    int64_t count = zi_shape_count (ndim, dims);
    size_t bytes = count > 0? (size_t) count * zi_dtype_size (dtype): 0;
    if (self->shared && bytes >= S_SHARED_MIN_BYTES && ndim <= ZI_MAX_DIMS) {
        zi_shm_block_t *block = zi_shm_block_new (bytes);
        zi_tensor_t *tensor = block? zi_tensor_wrap (dtype, ndim, dims, zi_shm_block_data (block),
                                                     s_block_free, block): NULL;
        if (tensor)
            return tensor;
        zi_shm_block_destroy (&block);
    }
    return zi_tensor_new (dtype, ndim, dims);
}

//  The block an input already lies in (made by zi_client_tensor), if any
static zi_shm_block_t *
s_own_block (const zi_tensor_t *tensor)
{
    return tensor->free_fn == s_block_free? tensor->hint: NULL;
}

//  Where input i lies in a request's block: each at a 64-byte boundary,
//  after the inputs before it that need a place there
static size_t
s_block_offset (const s_pending_t *pending, int input)
{
    size_t offset = 0;
    for (int index = 0; index < input; index++)
        if (!s_own_block (pending->inputs [index]))
            offset += (pending->inputs [index]->nbytes + 63) / 64 * 64;
    return offset;
}

//  Copies a request's inputs into a shared-memory block, once: a resend
//  finds them there. Inputs already in a block of their own are left
//  where they are. False when the rest should go inline (small, or the
//  system has no block to give)
static bool
s_share_inputs (zi_client_t *self, s_pending_t *pending)
{
    if (pending->block)
        return true;
    size_t need = s_block_offset (pending, pending->n_inputs);
    if (!self->shared || need < S_SHARED_MIN_BYTES)
        return false;
    for (int index = self->n_spare - 1; index >= 0 && !pending->block; index--)
        if (zi_shm_block_size (self->spare [index]) >= need) {
            pending->block = self->spare [index];
            self->spare [index] = self->spare [--self->n_spare];
        }
    if (!pending->block && !(pending->block = zi_shm_block_new (need))) {
        //  /dev/shm full or missing: the socket still works
        fprintf (stderr, "zinfer client: %s; sending inputs inline from now on\n",
                 zi_error_text ());
        self->shared = false;
        return false;
    }
    char *data = zi_shm_block_data (pending->block);
    for (int input = 0; input < pending->n_inputs; input++)
        if (!s_own_block (pending->inputs [input]))
            memcpy (data + s_block_offset (pending, input), pending->inputs [input]->data,
                    pending->inputs [input]->nbytes);
    return true;
}

static int
s_send_request (zi_client_t *self, uint64_t id, s_pending_t *pending)
{
    bool shared = s_share_inputs (self, pending);
    pending->by_reference = false;
    for (int input = 0; input < pending->n_inputs; input++) {
        zi_tensor_t *tensor = pending->inputs [input];
        zi_msg_header_t header = {.kind = ZI_MSG_REQUEST, .request = id, .source = ZI_MSG_GATEWAY,
                                  .slot = input, .count = pending->n_inputs,
                                  .dtype = tensor->dtype, .ndim = tensor->ndim,
                                  .flags = pending->flags};
        memcpy (header.dims, tensor->dims, tensor->ndim * sizeof (int64_t));
        bool more = input + 1 < pending->n_inputs;
        zi_shm_block_t *own = self->shared? s_own_block (tensor): NULL;
        int rc;
        if (own || shared) {
            //  Read in place from the tensor's own block, or from the
            //  request's copy
            zi_shm_ref_t ref = {.offset = own? 0: s_block_offset (pending, input),
                                .size = tensor->nbytes};
            snprintf (ref.name, sizeof ref.name, "%s", zi_shm_block_name (own? own: pending->block));
            rc = zi_msg_send_shared (self->socket, &header, &ref, more);
            pending->by_reference = true;
        }
        else
            rc = zi_msg_send (self->socket, &header, tensor, NULL, more);
        //  No peer took the first frame within the send wait: the request
        //  stays pending, goes again as a lost one would, and the wait for
        //  its answer says why nothing came (a refused key, a full queue).
        //  ZeroMQ sends a message's frames all or none, so only the first
        //  can meet this
        if (rc && zmq_errno () == EAGAIN && input == 0)
            break;
        if (rc)
            return zi_error ("send to %s failed: %s", self->endpoint, zmq_strerror (zmq_errno ()));
    }
    pending->sent = zi_clock_usecs ();
    pending->attempts++;
    return 0;
}

int
zi_client_send (zi_client_t *self, zi_tensor_t *const *inputs, int n_inputs, uint64_t *request_id)
{
    return zi_client_send_flags (self, inputs, n_inputs, 0, request_id);
}

int
zi_client_send_flags (zi_client_t *self, zi_tensor_t *const *inputs, int n_inputs,
                      uint32_t flags, uint64_t *request_id)
{
    if (n_inputs < 1 || n_inputs > ZI_MAX_GRAPH_INPUTS)
        return zi_error ("a request needs 1 to %d inputs, got %d", ZI_MAX_GRAPH_INPUTS, n_inputs);
    s_pending_t *pending = calloc (1, sizeof (s_pending_t));
    assert (pending);
    pending->client = self;
    pending->n_inputs = n_inputs;
    pending->flags = flags;
    for (int input = 0; input < n_inputs; input++) {
        if (!inputs [input] || !inputs [input]->data) {
            s_pending_destroy ((void **) &pending);
            return zi_error ("input %d is missing", input);
        }
        pending->inputs [input] = zi_tensor_ref (inputs [input]);
        pending->transfer_usecs += inputs [input]->nbytes * 1e6 / S_SLOW_LINK;
    }
    uint64_t id = self->next_id++;
    zhashx_insert (self->pending, (void *) (uintptr_t) id, pending);
    if (request_id)
        *request_id = id;
    int rc = s_send_request (self, id, pending);
    pending->first_sent = pending->sent;
    self->last_progress = pending->sent;
    return rc;
}

void
zi_client_set_resend (zi_client_t *self, int msecs)
{
    self->resend_msecs = msecs;
}

uint64_t
zi_client_resends (const zi_client_t *self)
{
    return self->resends;
}

uint64_t
zi_client_duplicates (const zi_client_t *self)
{
    return self->duplicates;
}

//  Finds requests that look lost and sends them again under the same id.
//  A request is taken as lost when a later one has been answered and it
//  is still waiting after a grace period (the pipeline is first in, first
//  out, give or take replicas), or when nothing at all has come back for
//  a longer stall period, plus its inputs' time on a slow link. Answers
//  that then arrive twice are dropped by id, so the caller sees each once.
static void
s_resend_lost (zi_client_t *self)
{
    if (self->resend_msecs < 0 || zhashx_size (self->pending) == 0)
        return;
    int64_t now = zi_clock_usecs ();
    if (now < self->next_check)
        return;
    self->next_check = now + 20000;
    double grace = self->resend_msecs > 0? self->resend_msecs * 1000.0:
                   fmax (200000.0, 4 * self->latency);
    //  Before any answer there is no latency to go by: a slow model's first
    //  answer may take seconds, so wait longer before calling it lost
    double stall = self->resend_msecs > 0? grace:
                   fmax (self->latency > 0? 1000000.0: 5000000.0, 8 * self->latency);
    bool stalled = now - self->last_progress > stall;
    zlistx_t *keys = zhashx_keys (self->pending);
    for (void *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        uint64_t id = (uintptr_t) key;
        s_pending_t *pending = zhashx_lookup (self->pending, key);
        bool overtaken = id < self->highest_answered && now - pending->sent > grace;
        if (overtaken || (stalled && now - pending->sent > stall + pending->transfer_usecs)) {
            if (pending->attempts >= S_MAX_ATTEMPTS && now - pending->first_sent > S_GIVE_UP_USECS) {
                if (!self->given_up)
                    self->given_up = id;
            }
            else
            if (s_send_request (self, id, pending) == 0)
                self->resends++;
        }
    }
    zlistx_destroy (&keys);
    if (stalled)
        self->last_progress = now;      //  wait a whole stall period again
}

static int
s_receive (zi_client_t *self, uint64_t *request_id, zi_tensor_t **outputs, int max_outputs,
           int *n_outputs, int timeout_msecs);

int
zi_client_recv (zi_client_t *self, uint64_t *request_id, zi_tensor_t **outputs, int max_outputs,
                int *n_outputs, int timeout_msecs)
{
    *n_outputs = 0;
    //  An answer zi_client_infer received for an earlier request goes first
    void *kept = zhashx_first (self->answered);
    if (kept) {
        uint64_t id = (uintptr_t) zhashx_cursor (self->answered);
        s_answer_t *answer = kept;
        if (answer->n_outputs > max_outputs) {
            zhashx_delete (self->answered, (void *) (uintptr_t) id);
            return zi_error ("request %llu: %d outputs, room for %d", (unsigned long long) id,
                             answer->n_outputs, max_outputs);
        }
        for (int slot = 0; slot < answer->n_outputs; slot++) {
            outputs [slot] = answer->outputs [slot];
            answer->outputs [slot] = NULL;
        }
        *n_outputs = answer->n_outputs;
        if (request_id)
            *request_id = id;
        zhashx_delete (self->answered, (void *) (uintptr_t) id);
        return 0;
    }
    return s_receive (self, request_id, outputs, max_outputs, n_outputs, timeout_msecs);
}

//  The next answer off the socket
static int
s_receive (zi_client_t *self, uint64_t *request_id, zi_tensor_t **outputs, int max_outputs,
           int *n_outputs, int timeout_msecs)
{
    int64_t deadline = zi_clock_usecs () + (int64_t) timeout_msecs * 1000;
    *n_outputs = 0;
    while (true) {
        s_resend_lost (self);
        if (self->given_up) {
            uint64_t id = self->given_up;
            self->given_up = 0;
            zhashx_delete (self->pending, (void *) (uintptr_t) id);
            if (request_id)
                *request_id = id;
            return zi_error ("request %llu: no answer after %d attempts; given up",
                             (unsigned long long) id, S_MAX_ATTEMPTS);
        }
        int64_t left = timeout_msecs < 0? INT64_MAX: (deadline - zi_clock_usecs ()) / 1000;
        if (left < 0)
            left = 0;
        //  Wake up now and then to look for lost requests
        long slice = left > 20? 20: (long) left;
        zmq_pollitem_t item = {self->socket, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, slice);
        if (rc == 0 && left > 20)
            continue;
        if (rc == 0) {
            s_read_handshakes (self);
            if (self->handshake_failure == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                return zi_error ("%s refused this client's key (ZAP status %d): its public "
                                 "key must be listed under security: clients: in the "
                                 "topology", self->endpoint, self->handshake_status), 1;
            if (self->handshake_failure)
                return zi_error ("the CURVE handshake with %s failed: the server is not the "
                                 "host whose public key the topology gives, or does not use "
                                 "CURVE", self->endpoint), 1;
            return zi_error ("no answer from %s within %d ms (%d requests pending)",
                             self->endpoint, timeout_msecs, zi_client_pending (self)), 1;
        }
        if (rc < 0)
            return zi_error ("poll failed: %s", zmq_strerror (zmq_errno ()));

        //  One answer: a header + data pair per model output, or an error
        zi_msg_header_t header;
        zi_tensor_t *tensors [ZI_MAX_GRAPH_OUTPUTS] = {NULL};
        int received = 0, problem = 0;
        uint64_t id = 0;
        zi_trace_clear (&self->trace);
        while (true) {
            zi_tensor_t *tensor = NULL;
            if (zi_msg_recv (self->socket, &header, &tensor, &self->trace, false)) {
                problem = 1;
                break;
            }
            id = header.request;
            if (header.kind == ZI_MSG_ERROR) {
                zi_msg_drain (self->socket);
                break;
            }
            if (header.kind != ZI_MSG_REPLY || header.slot >= ZI_MAX_GRAPH_OUTPUTS || tensors [header.slot]) {
                zi_tensor_destroy (&tensor);
                zi_msg_drain (self->socket);
                problem = 1;
                zi_error ("unexpected answer frame from %s", self->endpoint);
                break;
            }
            tensors [header.slot] = tensor;
            received++;
            int more = 0;
            size_t size = sizeof more;
            zmq_getsockopt (self->socket, ZMQ_RCVMORE, &more, &size);
            if (!more)
                break;
        }
        void *key = (void *) (uintptr_t) id;
        bool known = !problem && zhashx_lookup (self->pending, key);
        if (known && header.kind == ZI_MSG_ERROR && self->resend_msecs >= 0
        &&  strncmp (header.text, "busy:", 5) == 0) {
            //  The gateway holds this client's share of its slots: the
            //  request stays pending and goes again as a lost one would
            self->busy++;
            continue;
        }
        if (known && header.kind == ZI_MSG_ERROR) {
            s_pending_t *pending = zhashx_lookup (self->pending, key);
            if (pending->by_reference && strstr (header.text, "shared memory:")) {
                //  This gateway will not read our blocks (another user,
                //  no peer credentials): inline from now on, this one too
                zi_shm_block_destroy (&pending->block);
                self->shared = false;
                if (s_send_request (self, id, pending) == 0)
                    continue;
            }
            zhashx_delete (self->pending, key);
            if (request_id)
                *request_id = id;
            return zi_error ("request %llu failed: %s", (unsigned long long) id, header.text);
        }
        if (!known || received != header.count || received > max_outputs) {
            //  A duplicate, a stray or a malformed answer: not the caller's
            if (!known && !problem && id < self->next_id)
                self->duplicates++;
            for (int slot = 0; slot < ZI_MAX_GRAPH_OUTPUTS; slot++)
                zi_tensor_destroy (&tensors [slot]);
            if (known && received > max_outputs) {
                zhashx_delete (self->pending, key);
                return zi_error ("request %llu: %d outputs, room for %d",
                                 (unsigned long long) id, received, max_outputs);
            }
            continue;
        }
        //  Progress: the latency estimate adapts the resend grace
        s_pending_t *pending = zhashx_lookup (self->pending, key);
        int64_t now = zi_clock_usecs ();
        double latency = (double) (now - pending->first_sent);
        self->latency = self->latency == 0? latency: 0.9 * self->latency + 0.1 * latency;
        self->last_progress = now;
        if (id > self->highest_answered)
            self->highest_answered = id;
        zhashx_delete (self->pending, key);
        for (int slot = 0; slot < received; slot++)
            outputs [slot] = tensors [slot];
        *n_outputs = received;
        if (request_id)
            *request_id = id;
        return 0;
    }
}

int
zi_client_infer (zi_client_t *self, zi_tensor_t *const *inputs, int n_inputs,
                 zi_tensor_t **outputs, int max_outputs, int timeout_msecs)
{
    uint64_t id = 0, answered = 0;
    if (zi_client_send (self, inputs, n_inputs, &id))
        return -1;
    while (true) {
        int n_outputs;
        int rc = s_receive (self, &answered, outputs, max_outputs, &n_outputs, timeout_msecs);
        if (rc)
            return -1;
        if (answered == id)
            return n_outputs;
        //  An answer to an earlier zi_client_send: kept for zi_client_recv
        s_answer_t *answer = calloc (1, sizeof (s_answer_t) + (n_outputs + 1) * sizeof (zi_tensor_t *));
        assert (answer);
        answer->n_outputs = n_outputs;
        for (int slot = 0; slot < n_outputs; slot++) {
            answer->outputs [slot] = outputs [slot];
            outputs [slot] = NULL;
        }
        zhashx_update (self->answered, (void *) (uintptr_t) answered, answer);
    }
}

const zi_trace_t *
zi_client_trace (const zi_client_t *self)
{
    return &self->trace;
}

void
zi_client_test (zi_test_t *t)
{
    //  A gateway stand-in: a ROUTER on ipc that reads requests as the
    //  gateway does
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc:///tmp/zinfer-client-test-%d", (int) getpid ());
    void *context = zmq_ctx_new ();
    void *gateway = zmq_socket (context, ZMQ_ROUTER);
    int linger = 0, timeout = 5000;
    zmq_setsockopt (gateway, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (gateway, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    ZI_CHECK (t, zmq_bind (gateway, endpoint) == 0, "bind %s", endpoint);
    zi_client_t *client = zi_client_new (endpoint);
    zi_client_set_shared_memory (client, true);

    //  A large client tensor lies in a block of its own...
    int64_t dims [2] = {256, 256};
    zi_tensor_t *tensor = zi_client_tensor (client, ZI_F32, 2, dims);
    zi_shm_block_t *block = tensor? s_own_block (tensor): NULL;
    ZI_CHECK (t, block && zi_shm_block_data (block) == tensor->data, "a large client tensor "
              "lies in a shared-memory block");
    char name [ZI_SHM_NAME_MAX] = "";
    if (block)
        snprintf (name, sizeof name, "%s", zi_shm_block_name (block));
    for (int64_t index = 0; tensor && index < 256 * 256; index++)
        zi_tensor_f32 (tensor) [index] = (float) index;

    //  ... that a request names in place, and that reads back the same
    uint64_t id = 0;
    ZI_CHECK (t, tensor && zi_client_send (client, &tensor, 1, &id) == 0, "send: %s",
              zi_error_text ());
    zmq_msg_t identity;
    zmq_msg_init (&identity);
    zmq_msg_recv (&identity, gateway, 0);
    zi_msg_header_t header;
    zi_tensor_t *received = NULL;
    zi_shm_cache_t *cache = zi_shm_cache_new ();
    int rc = zi_msg_recv_request (gateway, &header, &received, cache, NULL);
    ZI_CHECK (t, rc == 0 && (header.flags & ZI_MSG_SHARED) && received
              && received->nbytes == tensor->nbytes
              && memcmp (received->data, tensor->data, tensor->nbytes) == 0,
              "the gateway reads the tensor from its block: %s", rc? zi_error_text (): "ok");
    zi_tensor_destroy (&received);
    zmq_msg_close (&identity);
    s_pending_t *pending = zhashx_first (client->pending);
    ZI_CHECK (t, client->n_spare == 0 && pending && !pending->block,
              "... with no copy: the request made no block of its own");
    zi_shm_cache_destroy (&cache);

    //  The block lives while a request holds the tensor, and goes after
    zi_tensor_destroy (&tensor);
    int fd = shm_open (name, O_RDONLY, 0);
    ZI_CHECK (t, fd >= 0, "the block outlives the caller's reference while the request is pending");
    if (fd >= 0)
        close (fd);
    zi_client_destroy (&client);
    ZI_CHECK (t, shm_open (name, O_RDONLY, 0) < 0 && errno == ENOENT,
              "... and is unlinked with the last reference");

    //  Small tensors, and any tensor with shared memory off, are ordinary
    client = zi_client_new (endpoint);
    int64_t small [1] = {100};
    tensor = zi_client_tensor (client, ZI_F32, 1, small);
    ZI_CHECK (t, tensor && !s_own_block (tensor), "a small client tensor is an ordinary one");
    zi_tensor_destroy (&tensor);
    zi_client_set_shared_memory (client, false);
    tensor = zi_client_tensor (client, ZI_F32, 2, dims);
    ZI_CHECK (t, tensor && !s_own_block (tensor), "so is any with shared memory off");
    zi_tensor_destroy (&tensor);

    //  zi_client_infer keeps the answer of an earlier zi_client_send for
    //  zi_client_recv: the stand-in answers request 1 and, ahead of time,
    //  request 2, which infer is about to send
    tensor = zi_client_tensor (client, ZI_F32, 1, small);
    uint64_t first = 0;
    ZI_CHECK (t, zi_client_send (client, &tensor, 1, &first) == 0 && first == 1, "send one");
    zmq_msg_init (&identity);
    zmq_msg_recv (&identity, gateway, 0);
    zi_msg_drain (gateway);
    for (uint64_t request = 1; request <= 2; request++) {
        zi_tensor_t *answer = zi_tensor_new (ZI_F32, 1, small);
        zi_tensor_f32 (answer) [0] = (float) request;
        zi_msg_header_t reply = {.kind = ZI_MSG_REPLY, .request = request, .source = ZI_MSG_GATEWAY,
                                 .count = 1, .dtype = ZI_F32, .ndim = 1, .dims = {100}};
        zmq_send (gateway, zmq_msg_data (&identity), zmq_msg_size (&identity), ZMQ_SNDMORE);
        zi_msg_send (gateway, &reply, answer, NULL, false);
        zi_tensor_destroy (&answer);
    }
    zmq_msg_close (&identity);
    zi_tensor_t *outputs [1] = {NULL};
    int n_outputs = zi_client_infer (client, &tensor, 1, outputs, 1, 5000);
    ZI_CHECK (t, n_outputs == 1 && zi_tensor_f32 (outputs [0]) [0] == 2.0f,
              "infer gets its own answer (request 2)");
    zi_tensor_destroy (&outputs [0]);
    uint64_t answered = 0;
    rc = zi_client_recv (client, &answered, outputs, 1, &n_outputs, 1000);
    ZI_CHECK (t, rc == 0 && answered == 1 && n_outputs == 1
              && zi_tensor_f32 (outputs [0]) [0] == 1.0f,
              "the earlier request's answer is kept for recv, not dropped");
    zi_tensor_destroy (&outputs [0]);
    zi_tensor_destroy (&tensor);
    zi_client_destroy (&client);
    zmq_close (gateway);
    zmq_ctx_term (context);
}
