/*  =========================================================================
    zi_msg.h - the wire format: one msgpack header frame, one raw data frame

    Every tensor that moves (client -> gateway, actor -> actor, gateway ->
    client) is a pair of frames: a small msgpack header that says what the
    bytes are, then the bytes themselves, little-endian and row-major,
    never re-encoded. Inside a process the data frame points at the
    sender's tensor (zero copy); across processes ZeroMQ sends it once.
    docs/protocol.md is the reference for this file.
    =========================================================================
*/

#ifndef ZI_MSG_H_INCLUDED
#define ZI_MSG_H_INCLUDED

#include "zi_classes.h"
#include <msgpack.h>

#define ZI_MSG_VERSION 1

typedef enum {
    ZI_MSG_TENSOR = 1,          //  actor -> actor, gateway <-> actors
    ZI_MSG_REQUEST = 2,         //  client -> gateway, one per model input
    ZI_MSG_REPLY = 3,           //  gateway -> client, one per model output
    ZI_MSG_ERROR = 4            //  gateway -> client: the request failed (no data frame)
} zi_msg_kind_t;

//  Header flags
#define ZI_MSG_TRACE 1          //  record timestamps at every actor (trace frame follows)
#define ZI_MSG_SHARED 2         //  a request's data frame is a reference to shared memory
                                //  (zi_shm.h), taken only from clients on the gateway's host

//  Source of messages that come from the gateway rather than an actor
#define ZI_MSG_GATEWAY 0xffff

//  Unknown input dimensions a request may give sizes for (zi_deploy.h)
#define ZI_MSG_MAX_DYNAMIC 16

typedef struct {
    int kind;                   //  zi_msg_kind_t
    uint64_t request;           //  request id (client's id on client links)
    int source;                 //  sending actor's node index, or ZI_MSG_GATEWAY
    int slot;                   //  consumer's input slot / model input or output index
    int count;                  //  tensors that make up the whole request or reply
    int dtype;                  //  zi_dtype_t of the data frame
    int ndim;                   //  rank
    int64_t dims [ZI_MAX_DIMS]; //  shape
    uint32_t flags;             //  ZI_MSG_TRACE ...
    int n_dynamic;              //  values in dynamic; 0: the shapes the topology planned
    int64_t dynamic [ZI_MSG_MAX_DYNAMIC];   //  TENSOR: the request's sizes of the model's
                                //  unknown input dimensions, in input and axis order
    char text [256];            //  ZI_MSG_ERROR: what went wrong
} zi_msg_header_t;

//  A traced request collects one record per actor it passes, carried in a
//  third frame after the data (only when the header has ZI_MSG_TRACE).
//  Times are CLOCK_REALTIME nanoseconds of the host that wrote them.
typedef struct {
    uint32_t actor;             //  deployment actor index, or a ZI_TRACE_ value
    uint32_t process;           //  topology process index
    int64_t arrived;            //  first input arrived
    int64_t started;            //  compute started
    int64_t ended;              //  compute ended
    int64_t sent;               //  outputs handed to ZeroMQ
} zi_trace_record_t;

#define ZI_TRACE_GATEWAY_IN  0xfffffff0u    //  the gateway admitting a request
#define ZI_TRACE_GATEWAY_OUT 0xfffffff1u    //  the gateway answering it
//  Records one message may carry: a request passes each actor once, so a
//  trace longer than this is forged (and would cost every hop its merge)
#define ZI_TRACE_MAX 4096

typedef struct {
    int count;                  //  records
    zi_trace_record_t *records; //  malloc'd, or NULL
} zi_trace_t;

//  Appends records (merging: a record already there, by actor and
//  process, is not added twice)
void
    zi_trace_merge (zi_trace_t *self, const zi_trace_record_t *records, int count);
void
    zi_trace_clear (zi_trace_t *self);
int64_t
    zi_trace_now (void);

//  Client internals for tools (zinfer trace): send with header flags, and
//  the trace records of the last answer received
int
    zi_client_send_flags (zi_client_t *self, zi_tensor_t *const *inputs, int n_inputs,
                          uint32_t flags, uint64_t *request_id);
const zi_trace_t *
    zi_client_trace (const zi_client_t *self);

//  Largest encoded header, with room for the error text
#define ZI_MSG_HEADER_MAX 512

//  The largest frame a topology of this plan ever sends between its
//  sockets: its largest tensor, a full trace frame, or a header. Every
//  socket that reads tensors refuses larger frames (ZMQ_MAXMSGSIZE: the
//  peer is disconnected before the frame is stored), so a peer cannot
//  make a process receive a gigabyte only to refuse it
int64_t
    zi_msg_frame_limit (const zi_graph_t *plan);
//  Sets that limit on a socket, before it binds or connects
void
    zi_msg_limit_frames (void *socket, int64_t limit);

//  True if msgpack bytes are one value whose declared sizes fit the bytes
//  (check before msgpack-c unpacks untrusted data: it allocates by them)
bool
    zi_msgpack_plausible (const void *data, size_t size);
//  Reading a decoded msgpack map: the value of a key (NULL if absent or
//  not a map), a number (0 if absent or not a number), a string copied
//  into buffer ("" if absent)
const msgpack_object *
    zi_msgpack_get (const msgpack_object *map, const char *key);
double
    zi_msgpack_number (const msgpack_object *map, const char *key);
const char *
    zi_msgpack_string (const msgpack_object *map, const char *key, char *buffer, size_t size);

//  Encodes a header; returns its size in bytes
size_t
    zi_msg_encode (const zi_msg_header_t *header, unsigned char *buffer, size_t size);
//  Decodes and checks a header frame; -1 with the reason in zi_error_text
int
    zi_msg_decode (const void *data, size_t size, zi_msg_header_t *header);
//  Bytes the data frame must have for this header; -1 if the shape is absurd
int64_t
    zi_msg_data_size (const zi_msg_header_t *header);

typedef struct zi_shm_cache_t zi_shm_cache_t;
typedef struct zi_shm_ref_t zi_shm_ref_t;

//  Sends header + tensor data on a ZeroMQ socket without copying the data:
//  the frame holds a reference to the tensor until ZeroMQ is done with it.
//  more: further frames follow (ZMQ_SNDMORE on the data frame).
//  Returns 0, or -1 with errno from ZeroMQ.
int
    zi_msg_send (void *socket, const zi_msg_header_t *header, zi_tensor_t *tensor,
                 const zi_trace_t *trace, bool more);
//  Sends a request's input as a header (ZI_MSG_SHARED added) and a
//  shared-memory reference frame in place of the data (clients only)
int
    zi_msg_send_shared (void *socket, const zi_msg_header_t *header, const zi_shm_ref_t *ref,
                        bool more);

//  Sends a header-only error frame
int
    zi_msg_send_error (void *socket, uint64_t request, const char *text, bool more);

//  Receives one header (+ data frame unless ZI_MSG_ERROR, + trace frame
//  when traced). On success the tensor wraps the received bytes without a
//  copy and owns the frame; trace records are appended to trace (if not
//  NULL). Returns 0; 1 if nothing was waiting (dontwait); -1 if the frames
//  were malformed (all frames of the message consumed, reason in
//  zi_error_text).
int
    zi_msg_recv (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                 zi_trace_t *trace, bool dontwait);
//  The same for a tensor that is only passed on, not computed on (model
//  outputs at the gateway, sent on to the client): a data frame is not
//  copied to align it, so that no allocation and copy comes before the
//  send. Its elements may then be misaligned (ZeroMQ puts a small frame
//  at any offset of its receive buffer): read them as bytes only. Such a
//  tensor may hold on to ZeroMQ's receive buffer (zi_msg_pins_frame).
int
    zi_msg_recv_as_is (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                       zi_trace_t *trace, bool dontwait);
//  Whether a received tensor's data lies in a small frame of ZeroMQ's
//  receive buffer, which it keeps whole while it lives: one to copy out
//  before keeping it long
bool
    zi_msg_pins_frame (const zi_tensor_t *tensor);
//  Where a receive puts a data frame that it copies to align it: a new
//  tensor of that shape, NULL with zi_error set if there is none
typedef zi_tensor_t *(zi_msg_alloc_fn) (void *arg, zi_dtype_t dtype, int ndim,
                                         const int64_t *dims);
//  The same as zi_msg_recv, with such copies made into tensors from alloc
//  (an actor's mailbox: from the worker's pool, which keeps the buffer
//  warm for the next hop, where a buffer of its own costs posix_memalign
//  and free)
int
    zi_msg_recv_into (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                      zi_trace_t *trace, bool dontwait, zi_msg_alloc_fn *alloc, void *arg);
//  The same for a client request's input at the gateway: a data frame
//  that is a shared-memory reference (ZI_MSG_SHARED) is read through the
//  cache, for a client on ipc, in its own blocks (who the peer is comes
//  from the header frame's metadata, as the kernel reports it; over tcp
//  such references are refused). zi_msg_recv refuses them everywhere.
//  With hash, an input read from shared memory also gets *hash, zi_hash
//  of its bytes (seed 0), taken while they are copied; other inputs leave
//  it alone.
int
    zi_msg_recv_request (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                         zi_shm_cache_t *cache, uint64_t *hash);

//  Discards the remaining frames of a partly received multipart message
void
    zi_msg_drain (void *socket);

#endif
