/*  =========================================================================
    zi_msg - encoding, decoding and zero-copy sending of tensor messages

    The header is a msgpack array, positional for speed (an array packs and
    unpacks in about two thirds the time of a map):

        [version, kind, request, source, slot, count, dtype, [dims...], flags]
        (+ text, for ZI_MSG_ERROR)
        (+ [sizes...], for a TENSOR of a request whose shapes are not the
           ones the topology planned: the sizes of the model's unknown
           input dimensions, from which every receiver plans the same)

    Decoding checks everything before anyone uses it: version, kind, dtype,
    rank, that dims are non-negative and their product fits, and the
    receiver then checks the data frame's size against the header.
    =========================================================================
*/

#include "zi_msg.h"
#include "zi_shm.h"
#include <errno.h>
#include <msgpack.h>
#include <time.h>
#include <zmq.h>

//  ThreadSanitizer cannot see into libzmq (Debian's is not built for it),
//  so the order a zero-copy frame gives between the thread that wrote a
//  tensor and the one that reads it in the same process is invisible to
//  it: only pool locks taken on the way happened to order such hand-overs,
//  and a thread's own cache of buffers takes none. The sender releases the
//  bytes it hands over and the receiver acquires them; no code elsewhere
#if defined (__SANITIZE_THREAD__)
#   define S_THREAD_SANITIZER 1
#elif defined (__has_feature)
#   if __has_feature (thread_sanitizer)
#       define S_THREAD_SANITIZER 1
#   endif
#endif
#if defined (S_THREAD_SANITIZER)
#   include <sanitizer/tsan_interface.h>
#   define S_HAND_OVER(bytes)   __tsan_release (bytes)
#   define S_TAKE_OVER(bytes)   __tsan_acquire (bytes)
#else
#   define S_HAND_OVER(bytes)   ((void) (bytes))
#   define S_TAKE_OVER(bytes)   ((void) (bytes))
#endif

//  A msgpack writer into a fixed buffer; overflow is our bug (headers
//  are bounded by ZI_MSG_HEADER_MAX)
typedef struct {
    unsigned char *data;
    size_t size;
    size_t used;
} s_writer_t;

static int
s_write (void *data, const char *bytes, size_t length)
{
    s_writer_t *writer = data;
    if (writer->used + length > writer->size)
        return -1;
    memcpy (writer->data + writer->used, bytes, length);
    writer->used += length;
    return 0;
}

size_t
zi_msg_encode (const zi_msg_header_t *header, unsigned char *buffer, size_t size)
{
    s_writer_t writer = {buffer, size, 0};
    msgpack_packer packer;
    msgpack_packer_init (&packer, &writer, s_write);
    bool error = header->kind == ZI_MSG_ERROR;
    bool sized = !error && header->n_dynamic > 0;
    msgpack_pack_array (&packer, error || sized? 10: 9);
    msgpack_pack_uint32 (&packer, ZI_MSG_VERSION);
    msgpack_pack_uint32 (&packer, header->kind);
    msgpack_pack_uint64 (&packer, header->request);
    msgpack_pack_uint32 (&packer, header->source);
    msgpack_pack_uint32 (&packer, header->slot);
    msgpack_pack_uint32 (&packer, header->count);
    msgpack_pack_uint32 (&packer, header->dtype);
    msgpack_pack_array (&packer, header->ndim);
    for (int axis = 0; axis < header->ndim; axis++)
        msgpack_pack_int64 (&packer, header->dims [axis]);
    msgpack_pack_uint32 (&packer, header->flags);
    if (error) {
        size_t length = strnlen (header->text, sizeof header->text);
        msgpack_pack_str (&packer, length);
        msgpack_pack_str_body (&packer, header->text, length);
    }
    if (sized) {
        msgpack_pack_array (&packer, header->n_dynamic);
        for (int index = 0; index < header->n_dynamic; index++)
            msgpack_pack_int64 (&packer, header->dynamic [index]);
    }
    assert (writer.used > 0 && writer.used <= size);
    return writer.used;
}

static bool
s_uint (const msgpack_object *object, uint64_t max, uint64_t *value)
{
    if (object->type != MSGPACK_OBJECT_POSITIVE_INTEGER || object->via.u64 > max)
        return false;
    *value = object->via.u64;
    return true;
}

//  msgpack-c allocates an array's storage from the count the data
//  declares, before it reads the elements: five bytes can ask for 64 GiB.
//  This walks the bytes without allocating and refuses any array, map,
//  string or binary that claims more than the bytes left could hold.
bool
zi_msgpack_plausible (const void *data, size_t size)
{
    const unsigned char *at = data, *end = at + size;
    uint64_t pending = 1;               //  objects still to read
    while (pending > 0) {
        if (at >= end)
            return false;
        unsigned char type = *at++;
        pending--;
        uint64_t count = 0, skip = 0;   //  child objects, payload bytes
        size_t width = 0;               //  bytes of a length field
        if (type <= 0x7f || type >= 0xe0 || (type >= 0xc0 && type <= 0xc3))
            ;                           //  fixint, nil, false, true
        else
        if (type >= 0x80 && type <= 0x8f)
            count = 2 * (type & 0x0f);
        else
        if (type >= 0x90 && type <= 0x9f)
            count = type & 0x0f;
        else
        if (type >= 0xa0 && type <= 0xbf)
            skip = type & 0x1f;
        else
        switch (type) {
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xc4: case 0xd9: case 0xc7: width = 1; break;
            case 0xc5: case 0xda: case 0xc8: case 0xdc: case 0xde: width = 2; break;
            case 0xc6: case 0xdb: case 0xc9: case 0xdd: case 0xdf: width = 4; break;
            default: return false;      //  0xc1 is never used
        }
        if (width) {
            if ((size_t) (end - at) < width)
                return false;
            uint64_t length = 0;
            for (size_t byte = 0; byte < width; byte++)
                length = (length << 8) | *at++;
            if (type == 0xdc || type == 0xdd)
                count = length;
            else
            if (type == 0xde || type == 0xdf)
                count = 2 * length;
            else
                skip = length + (type >= 0xc7 && type <= 0xc9? 1: 0);
        }
        if (skip > (uint64_t) (end - at))
            return false;
        at += skip;
        pending += count;
        if (pending > (uint64_t) (end - at))
            return false;               //  each object takes a byte at least
    }
    return true;
}

//  An unsigned integer at *at in one of the encodings senders write
//  (positive fixint, uint 8, 16, 32 or 64), moving *at past it; false for
//  any other, which the general decoder reads
static bool
s_fast_uint (const unsigned char **at, const unsigned char *end, uint64_t *value)
{
    const unsigned char *byte = *at;
    if (byte >= end)
        return false;
    unsigned char type = *byte++;
    if (type <= 0x7f) {
        *value = type;
        *at = byte;
        return true;
    }
    if (type < 0xcc || type > 0xcf)
        return false;
    int width = 1 << (type - 0xcc);
    if (end - byte < width)
        return false;
    uint64_t read = 0;
    for (int index = 0; index < width; index++)
        read = (read << 8) | byte [index];
    *value = read;
    *at = byte + width;
    return true;
}

//  Every hop between processes decodes a header, nearly always one of
//  nine fields, small unsigned integers and a short shape. Through
//  msgpack_unpack, which builds an object tree in a zone it allocates, a
//  decode took 1,720 instructions; read here straight off its bytes, 510,
//  most of them clearing the header (callgrind, a 4-process split of
//  mobilenet_v3_small). By the same rules as below: true if it was such
//  a header, else the general decoder takes it and says what is wrong,
//  if anything
static bool
s_decode_common (const unsigned char *at, size_t size, zi_msg_header_t *header)
{
    const unsigned char *end = at + size;
    uint64_t field [7];         //  version, kind, request, source, slot, count, dtype
    if (*at++ != 0x99)          //  a fixarray of 9: no ERROR, no dynamic sizes
        return false;
    for (int index = 0; index < 7; index++)
        if (!s_fast_uint (&at, end, &field [index]))
            return false;
    if (field [0] != ZI_MSG_VERSION || field [1] < ZI_MSG_TENSOR || field [1] >= ZI_MSG_ERROR
    ||  field [3] > ZI_MSG_GATEWAY || field [4] > ZI_MAX_NODE_INPUTS - 1
    ||  field [5] > ZI_MAX_NODE_INPUTS || field [6] > UINT32_MAX
    ||  zi_dtype_size ((int) field [6]) == 0)
        return false;
    if (at >= end || (*at & 0xf0) != 0x90 || (*at & 0x0f) > ZI_MAX_DIMS)
        return false;
    int ndim = *at++ & 0x0f;
    int64_t dims [ZI_MAX_DIMS];
    uint64_t value;
    for (int axis = 0; axis < ndim; axis++) {
        if (!s_fast_uint (&at, end, &value) || value > (UINT64_C (1) << 40))
            return false;
        dims [axis] = (int64_t) value;
    }
    if (!s_fast_uint (&at, end, &value) || value > UINT32_MAX || at != end)
        return false;
    memset (header, 0, sizeof *header);
    header->kind = (int) field [1];
    header->request = field [2];
    header->source = (int) field [3];
    header->slot = (int) field [4];
    header->count = (int) field [5];
    header->dtype = (int) field [6];
    header->ndim = ndim;
    memcpy (header->dims, dims, ndim * sizeof (int64_t));
    header->flags = (uint32_t) value;
    return zi_msg_data_size (header) >= 0;
}

int
zi_msg_decode (const void *data, size_t size, zi_msg_header_t *header)
{
    if (size > 0 && size <= ZI_MSG_HEADER_MAX && s_decode_common (data, size, header))
        return 0;
    memset (header, 0, sizeof *header);
    if (size == 0 || size > ZI_MSG_HEADER_MAX)
        return zi_error ("header frame of %zu bytes (expected 1 to %d)", size, ZI_MSG_HEADER_MAX);
    if (!zi_msgpack_plausible (data, size))
        return zi_error ("header is not one msgpack value (malformed or truncated)");
    msgpack_zone zone;
    if (!msgpack_zone_init (&zone, 1024))
        return zi_error ("out of memory decoding a header");
    msgpack_object root;
    size_t offset = 0;
    msgpack_unpack_return rc = msgpack_unpack (data, size, &offset, &zone, &root);
    int result = -1;
    if (rc != MSGPACK_UNPACK_SUCCESS || offset != size) {
        zi_error ("header is not one msgpack value (%s)",
                  rc == MSGPACK_UNPACK_SUCCESS? "trailing bytes":
                  rc == MSGPACK_UNPACK_CONTINUE? "truncated": "malformed");
        goto done;
    }
    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size < 9) {
        zi_error ("header must be an array of at least 9 fields");
        goto done;
    }
    const msgpack_object *field = root.via.array.ptr;
    uint64_t value;
    if (!s_uint (&field [0], UINT32_MAX, &value) || value != ZI_MSG_VERSION) {
        zi_error ("protocol version %s, expected %d",
                  field [0].type == MSGPACK_OBJECT_POSITIVE_INTEGER? "other": "missing",
                  ZI_MSG_VERSION);
        goto done;
    }
    if (!s_uint (&field [1], ZI_MSG_ERROR, &value) || value < ZI_MSG_TENSOR) {
        zi_error ("unknown message kind");
        goto done;
    }
    header->kind = (int) value;
    if (!s_uint (&field [2], UINT64_MAX, &header->request)) {
        zi_error ("request id is not an unsigned integer");
        goto done;
    }
    if (!s_uint (&field [3], ZI_MSG_GATEWAY, &value)) {
        zi_error ("source is not an actor index");
        goto done;
    }
    header->source = (int) value;
    //  A slot names a node's input or a model's input or output
    if (!s_uint (&field [4], ZI_MAX_NODE_INPUTS - 1, &value)) {
        zi_error ("slot is not an integer from 0 to %d", ZI_MAX_NODE_INPUTS - 1);
        goto done;
    }
    header->slot = (int) value;
    if (!s_uint (&field [5], ZI_MAX_NODE_INPUTS, &value)) {
        zi_error ("count is not an integer from 0 to %d", ZI_MAX_NODE_INPUTS);
        goto done;
    }
    header->count = (int) value;
    if (!s_uint (&field [6], UINT32_MAX, &value)
    || (header->kind != ZI_MSG_ERROR && zi_dtype_size ((int) value) == 0)) {
        zi_error ("dtype %llu is not one of float32 (1), uint8 (2), int8 (3), int32 (6), "
                  "int64 (7), bool (9), float16 (10)", (unsigned long long) value);
        goto done;
    }
    header->dtype = (int) value;
    const msgpack_object *shape = &field [7];
    if (shape->type != MSGPACK_OBJECT_ARRAY || shape->via.array.size > ZI_MAX_DIMS) {
        zi_error ("shape is not an array of at most %d dimensions", ZI_MAX_DIMS);
        goto done;
    }
    header->ndim = (int) shape->via.array.size;
    for (int axis = 0; axis < header->ndim; axis++) {
        const msgpack_object *dim = &shape->via.array.ptr [axis];
        if (dim->type != MSGPACK_OBJECT_POSITIVE_INTEGER || dim->via.u64 > (UINT64_C (1) << 40)) {
            zi_error ("dimension %d is not a non-negative integer below 2^40", axis);
            goto done;
        }
        header->dims [axis] = (int64_t) dim->via.u64;
    }
    if (!s_uint (&field [8], UINT32_MAX, &value)) {
        zi_error ("flags are not an unsigned integer");
        goto done;
    }
    header->flags = (uint32_t) value;
    if (header->kind == ZI_MSG_ERROR && root.via.array.size > 9
    &&  field [9].type == MSGPACK_OBJECT_STR) {
        size_t length = field [9].via.str.size;
        if (length >= sizeof header->text)
            length = sizeof header->text - 1;
        if (length)
            memcpy (header->text, field [9].via.str.ptr, length);
        header->text [length] = 0;
    }
    if (header->kind == ZI_MSG_TENSOR && root.via.array.size > 9) {
        const msgpack_object *sizes = &field [9];
        if (sizes->type != MSGPACK_OBJECT_ARRAY || sizes->via.array.size > ZI_MSG_MAX_DYNAMIC) {
            zi_error ("dynamic sizes are not an array of at most %d sizes", ZI_MSG_MAX_DYNAMIC);
            goto done;
        }
        header->n_dynamic = (int) sizes->via.array.size;
        for (int index = 0; index < header->n_dynamic; index++) {
            const msgpack_object *size = &sizes->via.array.ptr [index];
            if (size->type != MSGPACK_OBJECT_POSITIVE_INTEGER || size->via.u64 < 1
            ||  size->via.u64 > INT32_MAX) {
                zi_error ("dynamic size %d is not an integer from 1 to %d", index, INT32_MAX);
                goto done;
            }
            header->dynamic [index] = (int64_t) size->via.u64;
        }
    }
    if (header->kind != ZI_MSG_ERROR && zi_msg_data_size (header) < 0) {
        zi_error ("shape is too large");
        goto done;
    }
    result = 0;
done:
    msgpack_zone_destroy (&zone);
    return result;
}

int64_t
zi_msg_frame_limit (const zi_graph_t *plan)
{
    int64_t limit = ZI_TRACE_MAX * (int64_t) sizeof (zi_trace_record_t);
    for (int value = 0; value < plan->n_values; value++)
        if ((int64_t) plan->values [value].info.nbytes > limit)
            limit = (int64_t) plan->values [value].info.nbytes;
    //  Room for the header frame and the shared-memory reference frame
    return limit + ZI_MSG_HEADER_MAX;
}

void
zi_msg_limit_frames (void *socket, int64_t limit)
{
    zmq_setsockopt (socket, ZMQ_MAXMSGSIZE, &limit, sizeof limit);
}

int64_t
zi_msg_data_size (const zi_msg_header_t *header)
{
    int64_t count = zi_shape_count (header->ndim, header->dims);
    int64_t element = (int64_t) zi_dtype_size (header->dtype);
    if (count < 0 || element == 0 || count > (INT64_C (1) << 40) / element)
        return -1;
    return count * element;
}

//  ZeroMQ calls this when it no longer needs a data frame's bytes
static void
s_release_tensor (void *data, void *hint)
{
    zi_tensor_t *tensor = hint;
    zi_tensor_destroy (&tensor);
}

int64_t
zi_trace_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

//  Records that fit without a realloc: storage grows in powers of two, so
//  a trace built record by record costs linear time, not quadratic
static int
s_trace_capacity (int count)
{
    int capacity = 1;
    while (capacity < count)
        capacity *= 2;
    return count? capacity: 0;
}

static uint64_t
s_trace_key (const zi_trace_record_t *record)
{
    return (uint64_t) record->actor << 32 | record->process;
}

//  A set of record keys by open addressing, for merges too large to
//  compare every pair (a forged frame may carry thousands of records)
typedef struct {
    uint64_t *slots;            //  key + 1, 0 for empty
    size_t mask;
} s_key_set_t;

static bool
s_key_set_add (s_key_set_t *set, uint64_t key)
{
    size_t at = (size_t) ((key * UINT64_C (0x9E3779B97F4A7C15)) >> 20) & set->mask;
    while (set->slots [at]) {
        if (set->slots [at] == key + 1)
            return false;
        at = (at + 1) & set->mask;
    }
    set->slots [at] = key + 1;
    return true;
}

void
zi_trace_merge (zi_trace_t *self, const zi_trace_record_t *records, int count)
{
    if (count <= 0)
        return;
    if (count > ZI_TRACE_MAX)
        count = ZI_TRACE_MAX;
    s_key_set_t set = {NULL, 0};
    int total = self->count + count;
    if (total > 32) {
        size_t size = 64;
        while (size < 2 * (size_t) total)
            size *= 2;
        set.slots = calloc (size, sizeof (uint64_t));
        assert (set.slots);
        set.mask = size - 1;
        for (int have = 0; have < self->count; have++)
            s_key_set_add (&set, s_trace_key (&self->records [have]));
    }
    for (int index = 0; index < count && self->count < ZI_TRACE_MAX; index++) {
        bool known = false;
        if (set.slots)
            known = !s_key_set_add (&set, s_trace_key (&records [index]));
        else
            for (int have = 0; have < self->count && !known; have++)
                known = s_trace_key (&self->records [have]) == s_trace_key (&records [index]);
        if (known)
            continue;
        if (self->count == s_trace_capacity (self->count)) {
            int capacity = s_trace_capacity (self->count + 1);
            self->records = realloc (self->records, capacity * sizeof (zi_trace_record_t));
            assert (self->records);
        }
        self->records [self->count++] = records [index];
    }
    free (set.slots);
}

void
zi_trace_clear (zi_trace_t *self)
{
    free (self->records);
    self->records = NULL;
    self->count = 0;
}

int
zi_msg_send (void *socket, const zi_msg_header_t *header, zi_tensor_t *tensor,
             const zi_trace_t *trace, bool more)
{
    bool traced = header->flags & ZI_MSG_TRACE;
    unsigned char buffer [ZI_MSG_HEADER_MAX];
    size_t size = zi_msg_encode (header, buffer, sizeof buffer);
    if (zmq_send (socket, buffer, size, ZMQ_SNDMORE) < 0)
        return -1;
    zmq_msg_t frame;
    if (tensor->nbytes == 0)
        zmq_msg_init (&frame);
    else {
        zi_tensor_ref (tensor);
        S_HAND_OVER (tensor->data);
        zmq_msg_init_data (&frame, tensor->data, tensor->nbytes, s_release_tensor, tensor);
    }
    if (zmq_msg_send (&frame, socket, more || traced? ZMQ_SNDMORE: 0) < 0) {
        int error = errno;
        zmq_msg_close (&frame);
        errno = error;
        return -1;
    }
    if (traced) {
        size_t size = trace? trace->count * sizeof (zi_trace_record_t): 0;
        if (zmq_send (socket, trace && trace->count? (void *) trace->records: "", size,
                      more? ZMQ_SNDMORE: 0) < 0)
            return -1;
    }
    return 0;
}

int
zi_msg_send_shared (void *socket, const zi_msg_header_t *header, const zi_shm_ref_t *ref,
                    bool more)
{
    zi_msg_header_t shared = *header;
    shared.flags |= ZI_MSG_SHARED;
    bool traced = shared.flags & ZI_MSG_TRACE;
    unsigned char buffer [ZI_MSG_HEADER_MAX], reference [128];
    size_t size = zi_msg_encode (&shared, buffer, sizeof buffer);
    size_t ref_size = zi_shm_ref_encode (ref, reference, sizeof reference);
    if (zmq_send (socket, buffer, size, ZMQ_SNDMORE) < 0
    ||  zmq_send (socket, reference, ref_size, more || traced? ZMQ_SNDMORE: 0) < 0)
        return -1;
    //  A traced request's pairs each carry a trace frame, empty from clients
    if (traced && zmq_send (socket, "", 0, more? ZMQ_SNDMORE: 0) < 0)
        return -1;
    return 0;
}

int
zi_msg_send_error (void *socket, uint64_t request, const char *text, bool more)
{
    zi_msg_header_t header = {.kind = ZI_MSG_ERROR, .request = request,
                              .source = ZI_MSG_GATEWAY, .dtype = ZI_F32};
    snprintf (header.text, sizeof header.text, "%s", text);
    unsigned char buffer [ZI_MSG_HEADER_MAX];
    size_t size = zi_msg_encode (&header, buffer, sizeof buffer);
    return zmq_send (socket, buffer, size, more? ZMQ_SNDMORE: 0) < 0? -1: 0;
}

void
zi_msg_drain (void *socket)
{
    int more = 1;
    size_t size = sizeof more;
    while (zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        zmq_msg_recv (&frame, socket, 0);
        zmq_msg_close (&frame);
        size = sizeof more;
    }
}

static bool
s_has_more (void *socket)
{
    int more = 0;
    size_t size = sizeof more;
    zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &size);
    return more != 0;
}

//  The tensor's data lives in a ZeroMQ frame; closing the frame frees it
static void
s_release_frame (void *data, void *hint)
{
    zmq_msg_t *frame = hint;
    zmq_msg_close (frame);
    free (frame);
}

//  Reads the trace frame of a traced message
static int
s_recv_trace (void *socket, zi_trace_t *trace)
{
    if (!s_has_more (socket))
        return zi_error ("traced message without a trace frame");
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, socket, 0) < 0) {
        zmq_msg_close (&frame);
        return zi_error ("trace frame lost");
    }
    size_t size = zmq_msg_size (&frame);
    int rc = 0;
    if (size % sizeof (zi_trace_record_t) || size / sizeof (zi_trace_record_t) > ZI_TRACE_MAX)
        rc = zi_error ("trace frame of %zu bytes is not a whole number of %zu-byte records",
                       size, sizeof (zi_trace_record_t));
    else
    if (trace && size) {
        int count = (int) (size / sizeof (zi_trace_record_t));
        zi_trace_record_t *records = malloc (size);
        assert (records);
        memcpy (records, zmq_msg_data (&frame), size);
        zi_trace_merge (trace, records, count);
        free (records);
    }
    zmq_msg_close (&frame);
    return rc;
}

//  Frames up to this size that are not 64-byte aligned are copied
#define S_COPY_SMALL_BYTES 8192

//  Copies an input out of the client's shared memory into a tensor,
//  hashing it on the way if hash is not NULL
static zi_tensor_t *
s_read_shared (const zi_msg_header_t *header, zmq_msg_t *data, zi_shm_cache_t *cache,
               int peer_pid, int64_t want, uint64_t *hash)
{
    zi_shm_ref_t ref;
    if (!cache) {
        zi_error ("a shared-memory reference where tensor data was expected (only a gateway "
                  "takes them, from clients on its host)");
        return NULL;
    }
    if (zi_shm_ref_decode (zmq_msg_data (data), zmq_msg_size (data), &ref))
        return NULL;
    if ((int64_t) ref.size != want) {
        char shape [128];
        zi_error ("shared memory: the reference gives %llu bytes, but %s %s needs %lld",
                  (unsigned long long) ref.size, zi_dtype_name (header->dtype),
                  zi_shape_str (header->ndim, header->dims, shape, sizeof shape), (long long) want);
        return NULL;
    }
    zi_tensor_t *tensor = zi_tensor_new (header->dtype, header->ndim, header->dims);
    if (tensor && zi_shm_cache_read (cache, peer_pid, &ref, tensor->data, hash))
        zi_tensor_destroy (&tensor);
    return tensor;
}

static int
s_recv (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor, zi_trace_t *trace,
        bool dontwait, zi_shm_cache_t *cache, uint64_t *hash, zi_msg_alloc_fn *alloc,
        void *alloc_arg, bool as_is)
{
    *tensor = NULL;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, socket, dontwait? ZMQ_DONTWAIT: 0) < 0) {
        int error = errno;
        zmq_msg_close (&frame);
        if (error == EAGAIN)
            return 1;
        zi_error ("receive failed: %s", zmq_strerror (error));
        errno = error;          //  the caller may tell a signal from a fault
        return -1;
    }
    int rc = zi_msg_decode (zmq_msg_data (&frame), zmq_msg_size (&frame), header);
    //  Frames from the wire carry who sent them (a ROUTER's identity
    //  frame, made locally, does not); only a shared block's owner is
    //  checked against it
    int peer_pid = cache && rc == 0 && (header->flags & ZI_MSG_SHARED)?
                   zi_shm_peer_pid (&frame): -1;
    //  The frame's own flag, not ZMQ_RCVMORE: asking the socket takes its
    //  lock and options path, 127 instructions a hop for the same bit
    bool more = zmq_msg_more (&frame);
    zmq_msg_close (&frame);
    if (rc) {
        zi_msg_drain (socket);
        return -1;
    }
    if (header->kind == ZI_MSG_ERROR) {
        if (more && !(header->flags & ZI_MSG_TRACE))
            zi_msg_drain (socket);
        return 0;
    }
    if (!more)
        return zi_error ("header without a data frame");
    zmq_msg_t *data = malloc (sizeof (zmq_msg_t));
    assert (data);
    zmq_msg_init (data);
    if (zmq_msg_recv (data, socket, 0) < 0) {
        zmq_msg_close (data);
        free (data);
        return zi_error ("data frame lost: %s", zmq_strerror (errno));
    }
    S_TAKE_OVER (zmq_msg_data (data));
    int64_t want = zi_msg_data_size (header);
    if (header->flags & ZI_MSG_SHARED) {
        //  The frame says where the bytes are, not what they are
        if (want < 0)
            zi_error ("shared memory: a shape too large to take");
        else
            *tensor = s_read_shared (header, data, cache, peer_pid, want, hash);
        zmq_msg_close (data);
        free (data);
    }
    else
    if ((int64_t) zmq_msg_size (data) != want) {
        char shape [128];
        zi_error ("data frame of %zu bytes, but %s %s needs %lld", zmq_msg_size (data),
                  zi_dtype_name (header->dtype),
                  zi_shape_str (header->ndim, header->dims, shape, sizeof shape), (long long) want);
        zmq_msg_close (data);
        free (data);
    }
    else
    if (!as_is
    &&  (((uintptr_t) zmq_msg_data (data) % 64 && want <= S_COPY_SMALL_BYTES)
    ||   (uintptr_t) zmq_msg_data (data) % zi_dtype_size (header->dtype))) {
        //  ZeroMQ puts small frames at any offset in its receive buffer,
        //  even odd ones. Kernels take unaligned data, but not misaligned
        //  elements, so such frames are copied (small ones always: the
        //  copy is cheap and gives vector loads their alignment). Larger
        //  frames get buffers of their own, aligned for their elements:
        //  copying a 64 KiB one to align it cost a fifth of an ipc hop
        //  From the caller's allocator when it has one (the pool: a
        //  buffer of its own costs posix_memalign and free, 1.4 k
        //  instructions a hop)
        *tensor = alloc? alloc (alloc_arg, header->dtype, header->ndim, header->dims)
                       : zi_tensor_new (header->dtype, header->ndim, header->dims);
        if (*tensor && want)
            memcpy ((*tensor)->data, zmq_msg_data (data), want);
        zmq_msg_close (data);
        free (data);
    }
    else
        *tensor = zi_tensor_wrap (header->dtype, header->ndim, header->dims,
                                  zmq_msg_data (data), s_release_frame, data);
    if (!*tensor) {
        zi_msg_drain (socket);
        return -1;
    }
    if ((header->flags & ZI_MSG_TRACE) && s_recv_trace (socket, trace)) {
        zi_tensor_destroy (tensor);
        zi_msg_drain (socket);
        return -1;
    }
    return 0;
}

int
zi_msg_recv (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor, zi_trace_t *trace,
             bool dontwait)
{
    return s_recv (socket, header, tensor, trace, dontwait, NULL, NULL, NULL, NULL, false);
}

int
zi_msg_recv_as_is (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                   zi_trace_t *trace, bool dontwait)
{
    return s_recv (socket, header, tensor, trace, dontwait, NULL, NULL, NULL, NULL, true);
}

bool
zi_msg_pins_frame (const zi_tensor_t *tensor)
{
    //  Frames this small share ZeroMQ's receive buffer with their
    //  neighbours (larger ones get an allocation of their own)
    return tensor->free_fn == s_release_frame && tensor->nbytes <= S_COPY_SMALL_BYTES;
}

int
zi_msg_recv_into (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                  zi_trace_t *trace, bool dontwait, zi_msg_alloc_fn *alloc, void *arg)
{
    return s_recv (socket, header, tensor, trace, dontwait, NULL, NULL, alloc, arg, false);
}

int
zi_msg_recv_request (void *socket, zi_msg_header_t *header, zi_tensor_t **tensor,
                     zi_shm_cache_t *cache, uint64_t *hash)
{
    return s_recv (socket, header, tensor, NULL, false, cache, hash, NULL, NULL, false);
}

//  The self test's allocator: counts the tensors it makes
static zi_tensor_t *
s_test_alloc (void *arg, zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    (*(int *) arg)++;
    return zi_tensor_new (dtype, ndim, dims);
}

void
zi_msg_test (zi_test_t *t)
{
    zi_msg_header_t header = {.kind = ZI_MSG_TENSOR, .request = UINT64_C (1) << 40,
                              .source = 12, .slot = 1, .count = 1, .dtype = ZI_F32,
                              .ndim = 4, .dims = {1, 16, 7, 5}, .flags = ZI_MSG_TRACE};
    unsigned char buffer [ZI_MSG_HEADER_MAX];
    size_t size = zi_msg_encode (&header, buffer, sizeof buffer);
    zi_msg_header_t back;
    ZI_CHECK (t, zi_msg_decode (buffer, size, &back) == 0, "decode: %s", zi_error_text ());
    ZI_CHECK (t, back.kind == header.kind && back.request == header.request
              && back.source == 12 && back.slot == 1 && back.count == 1 && back.dtype == ZI_F32
              && back.ndim == 4 && back.dims [1] == 16 && back.dims [3] == 5
              && back.flags == ZI_MSG_TRACE, "round trip keeps every field");
    ZI_CHECK (t, zi_msg_data_size (&back) == 16 * 7 * 5 * 4, "data size");
    ZI_CHECK (t, back.n_dynamic == 0, "no dynamic sizes unless given");

    //  A request of other shapes than planned carries its dynamic sizes
    zi_msg_header_t sized = header;
    sized.n_dynamic = 2;
    sized.dynamic [0] = 8;
    sized.dynamic [1] = 224;
    size_t sized_size = zi_msg_encode (&sized, buffer, sizeof buffer);
    ZI_CHECK (t, zi_msg_decode (buffer, sized_size, &back) == 0 && back.n_dynamic == 2
              && back.dynamic [0] == 8 && back.dynamic [1] == 224, "dynamic sizes round trip");
    sized.dynamic [1] = 0;
    sized_size = zi_msg_encode (&sized, buffer, sizeof buffer);
    ZI_CHECK (t, zi_msg_decode (buffer, sized_size, &back) == -1
              && strstr (zi_error_text (), "dynamic size 1"), "a size of 0 is refused: %s",
              zi_error_text ());
    size = zi_msg_encode (&header, buffer, sizeof buffer);

    //  Every prefix of a valid header is refused, none crashes
    for (size_t cut = 0; cut < size; cut++)
        ZI_CHECK (t, zi_msg_decode (buffer, cut, &back) == -1, "prefix of %zu bytes refused", cut);
    //  Noise is refused
    uint32_t state = 99;
    int refused = 0;
    for (int round = 0; round < 2000; round++) {
        unsigned char noise [64];
        size_t length = 1 + round % 63;
        for (size_t item = 0; item < length; item++) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            noise [item] = (unsigned char) state;
        }
        if (round % 3 == 0)
            memcpy (noise, buffer, length < size? length / 2: size / 2);     //  half valid
        if (zi_msg_decode (noise, length, &back) == -1)
            refused++;
    }
    ZI_CHECK (t, refused == 2000, "noise refused (%d of 2000)", refused);

    //  Declared sizes far beyond the bytes: refused before msgpack
    //  allocates for them
    const unsigned char bomb [] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    ZI_CHECK (t, zi_msg_decode (bomb, sizeof bomb, &back) == -1, "array bomb refused");
    const unsigned char map_bomb [] = {0x91, 0xdf, 0x7f, 0xff, 0xff, 0xff, 0x00};
    ZI_CHECK (t, !zi_msgpack_plausible (map_bomb, sizeof map_bomb), "map bomb refused");
    const unsigned char text [] = {0x92, 0xa3, 'a', 'b', 'c', 0xc0};
    ZI_CHECK (t, zi_msgpack_plausible (text, sizeof text), "a plain array passes");

    //  Wrong version, absurd shape, bad dtype
    header.kind = ZI_MSG_TENSOR;
    size = zi_msg_encode (&header, buffer, sizeof buffer);
    buffer [1] = 2;                             //  version is the first element
    ZI_CHECK (t, zi_msg_decode (buffer, size, &back) == -1
              && strstr (zi_error_text (), "version"), "wrong version: %s", zi_error_text ());
    zi_msg_header_t huge = header;
    huge.dims [0] = INT64_C (1) << 39;
    huge.dims [1] = INT64_C (1) << 39;
    size = zi_msg_encode (&huge, buffer, sizeof buffer);
    ZI_CHECK (t, zi_msg_decode (buffer, size, &back) == -1
              && strstr (zi_error_text (), "too large"), "huge shape: %s", zi_error_text ());
    zi_msg_header_t odd = header;
    odd.dtype = 11;
    size = zi_msg_encode (&odd, buffer, sizeof buffer);
    ZI_CHECK (t, zi_msg_decode (buffer, size, &back) == -1
              && strstr (zi_error_text (), "dtype"), "bad dtype: %s", zi_error_text ());

    //  Over inproc the receiver sees the sender's very bytes; over tcp
    //  the same values
    void *context = zmq_ctx_new ();
    static char tensor_bytes [16 * 7 * 5 * 4];
    const char *endpoints [] = {"inproc://zi-msg-test", "tcp://127.0.0.1:*"};
    for (int round = 0; round < 2; round++) {
        void *pull = zmq_socket (context, ZMQ_PULL);
        void *push = zmq_socket (context, ZMQ_PUSH);
        zmq_bind (pull, endpoints [round]);
        char endpoint [256];
        size_t endpoint_size = sizeof endpoint;
        zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size);
        zmq_connect (push, endpoint);
        zi_tensor_t *tensor = zi_test_random (4, header.dims, 5);
        zi_trace_record_t record = {.actor = 7, .process = 1, .arrived = 10, .started = 11,
                                    .ended = 12, .sent = 13};
        zi_trace_t trace = {1, &record}, got = {0, NULL};
        ZI_CHECK (t, zi_msg_send (push, &header, tensor, &trace, false) == 0, "send");
        zi_tensor_t *received = NULL;
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, &got, false) == 0, "recv: %s", zi_error_text ());
        ZI_CHECK (t, got.count == 1 && got.records [0].actor == 7 && got.records [0].sent == 13,
                  "trace record travels with a traced message");
        zi_trace_clear (&got);
        if (received) {
            ZI_CHECK (t, memcmp (received->data, tensor->data, tensor->nbytes) == 0, "same bytes");
            if (round == 0)
                ZI_CHECK (t, received->data == tensor->data, "inproc is zero-copy");
            ZI_CHECK (t, ((uintptr_t) received->data & 63) == 0, "received data is aligned");
        }
        zi_tensor_destroy (&received);
        zi_tensor_destroy (&tensor);

        //  A small frame, copied to be aligned, goes into a tensor from
        //  the receiver's allocator when it gives one (an 8-byte frame sits
        //  inside ZeroMQ's message, 8 bytes past its 16-byte aligned start)
        if (round == 0) {
            int made = 0;
            zi_msg_header_t small = {.kind = ZI_MSG_TENSOR, .request = 3, .source = 1,
                                     .count = 1, .dtype = ZI_F32, .ndim = 2, .dims = {1, 2}};
            unsigned char small_header [ZI_MSG_HEADER_MAX];
            size_t small_size = zi_msg_encode (&small, small_header, sizeof small_header);
            float pair [2] = {1.5f, -2.25f};
            zmq_send (push, small_header, small_size, ZMQ_SNDMORE);
            zmq_send (push, pair, sizeof pair, 0);
            ZI_CHECK (t, zi_msg_recv_into (pull, &back, &received, NULL, false, s_test_alloc,
                                           &made) == 0 && received,
                      "small frame received: %s", zi_error_text ());
            ZI_CHECK (t, made == 1, "its tensor is the allocator's (%d made)", made);
            ZI_CHECK (t, received && memcmp (received->data, pair, sizeof pair) == 0
                      && ((uintptr_t) received->data & 63) == 0, "same bytes, aligned");
            zi_tensor_destroy (&received);
        }

        //  A frame only passed on (the gateway's outputs) is taken as it
        //  came, not copied to align it, and is known to hold on to its
        //  receive buffer until copied out; received the usual way, it is
        //  copied into a buffer of its own, aligned
        if (round == 1) {
            zi_msg_header_t small = {.kind = ZI_MSG_TENSOR, .request = 4, .source = 1,
                                     .count = 1, .dtype = ZI_F32, .ndim = 2, .dims = {1, 3}};
            unsigned char small_header [ZI_MSG_HEADER_MAX];
            size_t small_size = zi_msg_encode (&small, small_header, sizeof small_header);
            float three [3] = {0.5f, -1.0f, 7.25f};
            for (int as_is = 1; as_is >= 0; as_is--) {
                zmq_send (push, small_header, small_size, ZMQ_SNDMORE);
                zmq_send (push, three, sizeof three, 0);
                int rc = as_is? zi_msg_recv_as_is (pull, &back, &received, NULL, false)
                              : zi_msg_recv (pull, &back, &received, NULL, false);
                ZI_CHECK (t, rc == 0 && received && received->nbytes == sizeof three
                          && memcmp (received->data, three, sizeof three) == 0,
                          "small frame received (as is: %d): %s", as_is, zi_error_text ());
                if (received)
                    ZI_CHECK (t, zi_msg_pins_frame (received) == (as_is == 1),
                              "as is, it holds its frame; else a copy (as is: %d)", as_is);
                zi_tensor_destroy (&received);
            }
        }

        //  A header whose data frame is too short: refused, next one fine
        unsigned char good [ZI_MSG_HEADER_MAX];
        size_t good_size = zi_msg_encode (&header, good, sizeof good);
        zmq_send (push, good, good_size, ZMQ_SNDMORE);
        zmq_send (push, "short", 5, 0);
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, NULL, false) == -1
                  && strstr (zi_error_text (), "data frame of 5 bytes"), "short data: %s",
                  zi_error_text ());
        zmq_send (push, "garbage", 7, ZMQ_SNDMORE);
        zmq_send (push, "more", 4, 0);
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, NULL, false) == -1, "garbage header refused");
        //  A shared-memory reference anywhere but at a gateway: refused
        zi_msg_header_t shared = header;
        shared.flags = ZI_MSG_SHARED;
        unsigned char shared_bytes [ZI_MSG_HEADER_MAX], ref_bytes [128];
        size_t shared_size = zi_msg_encode (&shared, shared_bytes, sizeof shared_bytes);
        zi_shm_ref_t ref = {.name = "/zinfer-1-0-0", .offset = 0,
                            .size = (uint64_t) zi_msg_data_size (&shared)};
        size_t ref_size = zi_shm_ref_encode (&ref, ref_bytes, sizeof ref_bytes);
        zmq_send (push, shared_bytes, shared_size, ZMQ_SNDMORE);
        zmq_send (push, ref_bytes, ref_size, 0);
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, NULL, false) == -1
                  && strstr (zi_error_text (), "shared-memory reference"),
                  "a shared-memory reference off the gateway: %s", zi_error_text ());
        //  A traced message whose trace frame is not whole records
        zmq_send (push, good, good_size, ZMQ_SNDMORE);
        zmq_send (push, tensor_bytes, 16 * 7 * 5 * 4, ZMQ_SNDMORE);
        zmq_send (push, "odd", 3, 0);
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, NULL, false) == -1
                  && strstr (zi_error_text (), "trace frame"), "bad trace frame: %s", zi_error_text ());
        //  More records than any request can collect: refused, not merged
        size_t too_many = (ZI_TRACE_MAX + 1) * sizeof (zi_trace_record_t);
        zi_trace_record_t *forged = calloc (ZI_TRACE_MAX + 1, sizeof (zi_trace_record_t));
        assert (forged);
        zmq_send (push, good, good_size, ZMQ_SNDMORE);
        zmq_send (push, tensor_bytes, 16 * 7 * 5 * 4, ZMQ_SNDMORE);
        zmq_send (push, forged, too_many, 0);
        zi_trace_t kept = {0, NULL};
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, &kept, false) == -1 && kept.count == 0,
                  "a trace frame of %d records is refused: %s", ZI_TRACE_MAX + 1, zi_error_text ());
        free (forged);
        ZI_CHECK (t, zi_msg_recv (pull, &back, &received, NULL, true) == 1, "nothing left over");
        zmq_close (push);
        zmq_close (pull);
    }
    zmq_ctx_term (context);

    //  Merging keeps the first of each (actor, process), in order, at
    //  every size: the small path compares, the large one hashes
    for (int total = 4; total <= 3000; total *= 5) {
        zi_trace_record_t *records = calloc (total, sizeof (zi_trace_record_t));
        assert (records);
        for (int index = 0; index < total; index++)
            records [index] = (zi_trace_record_t) {.actor = (uint32_t) (index / 2),
                                                   .process = (uint32_t) (index % 2),
                                                   .arrived = index};
        zi_trace_t trace = {0, NULL};
        zi_trace_merge (&trace, records, total / 2);
        zi_trace_merge (&trace, records, total);        //  the first half again
        zi_trace_merge (&trace, records + total / 2, total - total / 2);
        bool in_order = trace.count == total;
        for (int index = 0; in_order && index < total; index++)
            in_order = trace.records [index].arrived == index;
        ZI_CHECK (t, in_order, "merging %d records keeps each once, in order (%d kept)",
                  total, trace.count);
        zi_trace_clear (&trace);
        free (records);
    }
}

const msgpack_object *
zi_msgpack_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t length = strlen (key);
    for (uint32_t index = 0; index < map->via.map.size; index++) {
        const msgpack_object *name = &map->via.map.ptr [index].key;
        if (name->type == MSGPACK_OBJECT_STR && name->via.str.size == length
        &&  memcmp (name->via.str.ptr, key, length) == 0)
            return &map->via.map.ptr [index].val;
    }
    return NULL;
}

double
zi_msgpack_number (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = zi_msgpack_get (map, key);
    if (!value)
        return 0;
    switch (value->type) {
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double) value->via.u64;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double) value->via.i64;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: return value->via.f64;
        default: return 0;
    }
}

const char *
zi_msgpack_string (const msgpack_object *map, const char *key, char *buffer, size_t size)
{
    const msgpack_object *value = zi_msgpack_get (map, key);
    buffer [0] = 0;
    if (value && value->type == MSGPACK_OBJECT_STR)
        snprintf (buffer, size, "%.*s", (int) value->via.str.size, value->via.str.ptr);
    return buffer;
}
