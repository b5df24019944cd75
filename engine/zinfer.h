/*  =========================================================================
    zinfer.h - the one public header of zinfer

    zinfer runs neural-network inference as a ZeroMQ dataflow of actors.
    This header is all a program needs to load an ONNX model, run it
    locally, and talk to a running topology (zi_client). Link with
    `pkg-config --cflags --libs zinfer` or CMake's zinfer::zinfer; the
    shared library exports exactly the functions declared here
    (docs/install.md).

    Conventions (CZMQ CLASS): zi_<class>_<method>; constructors return an
    owned object or NULL; destructors take the address of the reference and
    set it to NULL. Functions that can fail on outside data return 0 / -1 or
    NULL, and leave a one-line message in zi_error_text ().
    =========================================================================
*/

#ifndef ZINFER_H_INCLUDED
#define ZINFER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZINFER_VERSION_MAJOR 0
#define ZINFER_VERSION_MINOR 1
#define ZINFER_VERSION_PATCH 0

//  Most dimensions a tensor can have
#define ZI_MAX_DIMS 8

//  Element types. The values are ONNX's TensorProto.DataType codes so that
//  they travel unchanged from model files to wire headers.
typedef enum {
    ZI_F32  = 1,                //  float32
    ZI_U8   = 2,                //  uint8
    ZI_I8   = 3,                //  int8
    ZI_I32  = 6,                //  int32
    ZI_I64  = 7,                //  int64
    ZI_BOOL = 9,                //  one byte per element, 0 or 1
    ZI_F16  = 10                //  IEEE half; models compute it in float32
} zi_dtype_t;

typedef struct zi_tensor_t zi_tensor_t;
typedef struct zi_model_t zi_model_t;
typedef struct zi_session_t zi_session_t;

//  --------------------------------------------------------------------------
//  Errors

//  The last error message of the calling thread ("" if none)
const char *
    zi_error_text (void);

//  --------------------------------------------------------------------------
//  Tensors: N-d arrays with 64-byte aligned data, reference counted so a
//  buffer can be handed to ZeroMQ without a copy. Contiguous, row-major.

//  Create a tensor with uninitialised data; NULL if the size is absurd or
//  memory is short.
zi_tensor_t *
    zi_tensor_new (zi_dtype_t dtype, int ndim, const int64_t *dims);

//  Create a tensor around memory the caller owns; free_fn (data, hint) is
//  called when the last reference goes (may be NULL).
zi_tensor_t *
    zi_tensor_wrap (zi_dtype_t dtype, int ndim, const int64_t *dims, void *data,
                    void (*free_fn) (void *data, void *hint), void *hint);

//  Take another reference; returns the tensor
zi_tensor_t *
    zi_tensor_ref (zi_tensor_t *self);

//  Drop a reference and null the caller's pointer
void
    zi_tensor_destroy (zi_tensor_t **self_p);

//  A deep copy
zi_tensor_t *
    zi_tensor_dup (const zi_tensor_t *self);

zi_dtype_t
    zi_tensor_dtype (const zi_tensor_t *self);
int
    zi_tensor_ndim (const zi_tensor_t *self);
const int64_t *
    zi_tensor_dims (const zi_tensor_t *self);
void *
    zi_tensor_data (const zi_tensor_t *self);
//  Number of elements
size_t
    zi_tensor_count (const zi_tensor_t *self);
size_t
    zi_tensor_nbytes (const zi_tensor_t *self);

//  Size of one element of a dtype, 0 for an unknown dtype
size_t
    zi_dtype_size (int dtype);
//  "float32", "float16", "int64", "int32", "int8", "uint8", "bool", or
//  "dtype N" for any other code
const char *
    zi_dtype_name (int dtype);

//  Format a shape as "[1, 3, 224, 224]" into buf; returns buf
char *
    zi_shape_str (int ndim, const int64_t *dims, char *buf, size_t size);

//  Read and write numpy .npy files (C order): float32, float16, int64,
//  int32, int8, uint8 and bool as they are; float64 is read as float32
zi_tensor_t *
    zi_npy_load (const char *path);
zi_tensor_t *
    zi_npy_load_buffer (const void *data, size_t size, const char *name);
int
    zi_npy_save (const zi_tensor_t *tensor, const char *path);

//  --------------------------------------------------------------------------
//  Models and local sessions

//  Load an ONNX model from a file or from memory
zi_model_t *
    zi_model_load (const char *path);
zi_model_t *
    zi_model_load_buffer (const void *data, size_t size, const char *name);
void
    zi_model_destroy (zi_model_t **self_p);

//  Graph inputs (those that are not initializers) and outputs
int
    zi_model_n_inputs (const zi_model_t *self);
const char *
    zi_model_input_name (const zi_model_t *self, int index);
int
    zi_model_n_outputs (const zi_model_t *self);
const char *
    zi_model_output_name (const zi_model_t *self, int index);

//  Options for a session
typedef struct {
    int threads;                //  compute threads (0: OpenBLAS default)
    bool no_fuse;               //  keep the graph as exported, no fusion pass
    const char *tap_node;       //  keep this planned node's output (zi_session_tap)
    bool profile;               //  time every node (zi_session_profile)
} zi_options_t;

//  A session runs a model locally. It plans (shape inference, constant
//  folding, fusion, buffers) on the first run and again whenever the input
//  shapes change. The model must outlive the session. Its kernels share
//  their work out on threads of their own: from the first run on, OpenBLAS
//  runs single-threaded in this process and the threads it started as it
//  loaded are stopped (another openblas_set_num_threads starts them again).
zi_session_t *
    zi_session_new (zi_model_t *model, const zi_options_t *options);
void
    zi_session_destroy (zi_session_t **self_p);

//  Run with inputs in the model's input order. On success outputs[i] are
//  new references the caller destroys.
int
    zi_session_run (zi_session_t *self, zi_tensor_t *const *inputs,
                    zi_tensor_t **outputs);
//  With options.profile: for node index (0 ..), its name and op type and
//  the microseconds it took, summed over all runs; false past the last node
bool
    zi_session_profile (const zi_session_t *self, int index, const char **name,
                        const char **op_type, double *usecs, int *runs);
//  With options.profile and more than one thread: the kernels' parallel
//  loops over all runs, how many of them a helper thread took part in,
//  the share of their work the helpers did, and the microseconds the
//  calling thread waited for helpers' parts; false with one thread
bool
    zi_session_threads_profile (const zi_session_t *self, int64_t *loops, int64_t *joined,
                                double *helper_share, double *wait_usecs);
//  Starts the profile afresh: a warm-up run's page faults and cold caches
//  are then left out of the sums
void
    zi_session_profile_reset (zi_session_t *self);

//  A copy of the first output of options.tap_node from the last run; NULL
//  with an error if no planned node has that name (see `zinfer info --fuse`)
zi_tensor_t *
    zi_session_tap (zi_session_t *self);

//  --------------------------------------------------------------------------
//  Clients of a running topology (started with `zinfer up`)

typedef struct zi_client_t zi_client_t;

//  Connect to a gateway endpoint such as tcp://127.0.0.1:7100
zi_client_t *
    zi_client_new (const char *endpoint);
//  The same to a gateway that uses CURVE: server_key is the public key of
//  the gateway's host (40 Z85 characters or a key file), key_file this
//  client's secret key file (made by `zinfer keygen`, mode 0600)
zi_client_t *
    zi_client_new_secure (const char *endpoint, const char *server_key, const char *key_file);
//  Connect to the gateway a topology file names (reads only the YAML);
//  base_port > 0 overrides the topology's base port as `zinfer up` does.
//  When the topology uses CURVE, key_file (or else the ZINFER_KEY
//  environment variable) names the client's secret key file.
zi_client_t *
    zi_client_new_topology (const char *topology_path, int base_port, const char *key_file);
void
    zi_client_destroy (zi_client_t **self_p);
const char *
    zi_client_endpoint (const zi_client_t *self);

//  Asynchronous: send a request (inputs in the model's input order; the
//  client keeps references until the answer comes) and get its id
int
    zi_client_send (zi_client_t *self, zi_tensor_t *const *inputs, int n_inputs,
                    uint64_t *request_id);
//  Wait up to timeout_msecs (-1: forever) for any answer. Returns 0 with
//  the outputs (new references) and the request id; 1 on timeout; -1 if
//  the request failed (id set, reason in zi_error_text).
int
    zi_client_recv (zi_client_t *self, uint64_t *request_id, zi_tensor_t **outputs,
                    int max_outputs, int *n_outputs, int timeout_msecs);
//  Requests sent and not yet answered
int
    zi_client_pending (const zi_client_t *self);
//  Requests whose answer is overdue are sent again under the same id (the
//  caller still sees each answer exactly once). By default the grace is
//  adaptive (4x the recent latency, at least 200 ms); msecs > 0 fixes it,
//  -1 turns resending off.
void
    zi_client_set_resend (zi_client_t *self, int msecs);
//  Shared memory for large inputs: a client connected over ipc (on the
//  gateway's host) copies inputs of 64 KiB and more into shared-memory
//  blocks of its own and sends only where they are; the gateway copies
//  them out. On by default for ipc endpoints unless the environment sets
//  ZINFER_SHARED_MEMORY=0; off for tcp, whatever is asked. A gateway that
//  refuses it turns it off for the client, which sends again inline.
void
    zi_client_set_shared_memory (zi_client_t *self, bool enabled);
bool
    zi_client_shared_memory (const zi_client_t *self);
//  Requests sent again, and answers dropped as duplicates, so far
uint64_t
    zi_client_resends (const zi_client_t *self);
uint64_t
    zi_client_duplicates (const zi_client_t *self);
//  A tensor to fill with a request's input. When this client passes
//  large inputs in shared memory (zi_client_shared_memory) and the tensor
//  is large, its data lies in a block of the client's own, and a request
//  that carries it is read by the gateway in place: filling it is then
//  the only copy the input ever needs. Otherwise an ordinary tensor. Do
//  not change it while a request that carries it is in flight. NULL if
//  memory is short
zi_tensor_t *
    zi_client_tensor (zi_client_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims);
//  Synchronous: send and wait for this request's answer; returns the
//  number of outputs, or -1
int
    zi_client_infer (zi_client_t *self, zi_tensor_t *const *inputs, int n_inputs,
                     zi_tensor_t **outputs, int max_outputs, int timeout_msecs);

#ifdef __cplusplus
}
#endif

#endif
