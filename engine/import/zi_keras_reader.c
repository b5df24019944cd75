/*  =========================================================================
    zi_keras_reader - HDF5 files read in a child process

    libhdf5 1.10 is not hardened against crafted files: fuzzing found an
    endless loop and leaks inside it, and a library of its size that
    trusts its input may crash as well. So a .h5 file, and the weights
    file inside a .keras zip, is never opened by the process importing
    the model: a child forked for the file opens it from the memory it
    shares with the parent, reads what the import needs, writes it down a
    pipe and exits. The parent gives the child a time limit that grows
    with the file's size and reads its answer with a bound on every
    length, so a child that crashes, hangs or answers garbage costs one
    clear error, never the process.

    The answer, in the machine's byte order (the child is a fork of the
    parent: both ends are one program):

        answer  = "ZIH5" record* done
        record  = kind (1 byte) length (8 bytes) payload (length bytes)
        'C'     the root's model_config attribute, JSON text (Keras 2)
        'W'     one weight: name length (2 bytes), name, ndim (1 byte),
                dims (8 bytes each), the float32 values
        'E'     an error: stage (1 byte: 'O' opening the file, 'C'
                reading model_config, 'W' reading weights), then its text
        'D'     done, empty, the last record

    Each weight goes down the pipe as soon as it is read, so the child
    holds one at a time, and in the order read, so the parent's table of
    weights is the one an import in one process would have built.
    =========================================================================
*/

#define _GNU_SOURCE             //  pipe2
#include "zi_keras.h"
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

//  Sanitizer builds (the fuzzers, CI's second run) die by a handler that
//  the child must not run: see s_child
#if defined (__SANITIZE_ADDRESS__)
#   define S_SANITIZED
#elif defined (__has_feature)
#   if __has_feature (address_sanitizer)
#       define S_SANITIZED
#   endif
#endif
#ifdef S_SANITIZED
#   include <sanitizer/common_interface_defs.h>
#endif

//  Bounds on the answer, each checked before anything is allocated. A
//  weight is float32 and the file stores it in at least one byte per
//  value, so the values of all weights take at most 4 bytes per byte of
//  the file (Keras stores weights uncompressed, each once)
#define S_MAGIC             "ZIH5"
#define S_MAX_CONFIG_BYTES  (64u << 20)     //  as the HDF5 side's attribute bound
#define S_MAX_ERROR_BYTES   2048            //  a zi_error message
#define S_MAX_NAME_BYTES    1024
#define S_MAX_WEIGHTS       100000
#define S_VALUES_PER_BYTE   4

//  The child's time: 10 s, and 1 s more for each 10 MB of the file (a
//  file is read at well over 100 MB/s; the rest is room for a busy
//  machine or a sanitizer build). ZI_KERAS_READER_TIMEOUT (seconds)
//  replaces it
#define S_LIMIT_USECS       (INT64_C (10) * 1000000)
#define S_BYTES_PER_SECOND  (INT64_C (10) << 20)
//  How often the parent looks whether a silent child has died
#define S_POLL_MSECS        100

static void
s_tensor_free (void **item_p)
{
    zi_tensor_destroy ((zi_tensor_t **) item_p);
}

//  --------------------------------------------------------------------------
//  The child: reads the file, writes the answer, exits

//  The child's writes are buffered and the parent's reads too: on a busy
//  machine each wake-up of the other side can cost a time slice
#define S_BUFFER_BYTES  65536

typedef struct {
    int fd;                     //  the pipe's write end
    size_t used;                //  bytes in buffer
    unsigned char buffer [S_BUFFER_BYTES];  //  what is not written yet
} s_writer_t;

//  Writes all bytes or leaves: a parent that stopped listening has given
//  up on this child
static void
s_write (int fd, const unsigned char *at, size_t size)
{
    while (size) {
        ssize_t put = write (fd, at, size);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            _exit (1);
        at += put;
        size -= (size_t) put;
    }
}

static void
s_flush (s_writer_t *self)
{
    s_write (self->fd, self->buffer, self->used);
    self->used = 0;
}

static void
s_put (s_writer_t *self, const void *data, size_t size)
{
    if (self->used + size > S_BUFFER_BYTES)
        s_flush (self);
    if (size > S_BUFFER_BYTES)
        s_write (self->fd, data, size);
    else
    if (size) {                 //  an empty payload may come with no pointer
        memcpy (self->buffer + self->used, data, size);
        self->used += size;
    }
}

static void
s_put_header (s_writer_t *self, char kind, uint64_t length)
{
    unsigned char header [9];
    header [0] = (unsigned char) kind;
    memcpy (header + 1, &length, 8);
    s_put (self, header, sizeof header);
}

//  The calling thread's error as an 'E' record of a stage
static void
s_put_error (s_writer_t *self, char stage)
{
    const char *text = zi_error_text ();
    size_t length = strlen (text);
    s_put_header (self, 'E', 1 + length);
    s_put (self, &stage, 1);
    s_put (self, text, length);
}

//  The sink the HDF5 side reads weights into: each one straight down
//  the pipe
static int
s_put_weight (void *args, const char *name, zi_tensor_t **tensor_p)
{
    s_writer_t *self = args;
    zi_tensor_t *tensor = *tensor_p;
    *tensor_p = NULL;
    size_t name_length = strlen (name);
    if (name_length == 0 || name_length > S_MAX_NAME_BYTES) {
        zi_tensor_destroy (&tensor);
        return zi_error ("a weight name of %zu bytes (expected 1 to %d)", name_length,
                         S_MAX_NAME_BYTES);
    }
    assert (tensor->dtype == ZI_F32);
    int64_t count = zi_tensor_count (tensor);
    uint16_t name_size = (uint16_t) name_length;
    uint8_t ndim = (uint8_t) tensor->ndim;
    s_put_header (self, 'W', 2 + name_length + 1 + 8 * (uint64_t) ndim + 4 * (uint64_t) count);
    s_put (self, &name_size, 2);
    s_put (self, name, name_length);
    s_put (self, &ndim, 1);
    for (int axis = 0; axis < ndim; axis++)
        s_put (self, &tensor->dims [axis], 8);
    s_put (self, tensor->data, 4 * (size_t) count);
    zi_tensor_destroy (&tensor);
    return 0;
}

//  A test hook, ZI_KERAS_READER_FAULT: the child fails as a crafted file
//  could make libhdf5 fail, once it has answered all but its last record
static void
s_fault (s_writer_t *self)
{
    const char *fault = getenv ("ZI_KERAS_READER_FAULT");
    if (!fault)
        return;
    s_flush (self);
    if (streq (fault, "crash"))
        raise (SIGSEGV);
    else
    if (streq (fault, "hang"))
        for (;;)
            pause ();
    else
    if (streq (fault, "garbage"))
        s_put_header (self, 'X', UINT64_C (1) << 40);
}

static void
s_child (int fd, const void *data, size_t size, const char *what, json_object *model)
{
    //  A crash ends the child at once: no handler the parent installed
    //  (a sanitizer's report, a backtrace printer) runs for it
    int fatal [] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t index = 0; index < sizeof fatal / sizeof fatal [0]; index++)
        signal (fatal [index], SIG_DFL);
    //  Its answer is all the parent hears: what libhdf5 or the C library
    //  prints as it fails (or a sanitizer, reporting the huge allocation
    //  a crafted size asks libhdf5 for) would add lines to the parent's
    //  one-line error
    int null = open ("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2 (null, STDOUT_FILENO);
        dup2 (null, STDERR_FILENO);
        close (null);
    }
#ifdef S_SANITIZED
    //  A fuzzer's death callback would save the input as a crash of the
    //  fuzzer's own, while the parent reports the child's end and goes on
    __sanitizer_set_death_callback (NULL);
#endif
    static s_writer_t s_writer;
    s_writer_t *self = &s_writer;
    self->fd = fd;
    s_put (self, S_MAGIC, 4);
    int64_t file = zi_keras_h5_open (data, size, what);
    if (file < 0)
        s_put_error (self, 'O');
    else {
        zi_keras_sink_t sink = {.keep = s_put_weight, .args = self};
        if (model) {
            if (zi_keras_h5_weights_keras3 (&sink, file, size, model))
                s_put_error (self, 'W');
        }
        else {
            char *config = zi_keras_h5_root_string (file, "model_config");
            if (!config)
                s_put_error (self, 'C');
            else {
                s_put_header (self, 'C', strlen (config));
                s_put (self, config, strlen (config));
                free (config);
                if (zi_keras_h5_weights_keras2 (&sink, file, size))
                    s_put_error (self, 'W');
            }
        }
        zi_keras_h5_close (file);
    }
    s_fault (self);
    s_put_header (self, 'D', 0);
    s_flush (self);
    //  _exit: the parent's atexit handlers and stdio buffers are its own
    _exit (0);
}

//  --------------------------------------------------------------------------
//  The parent: the answer, from the pipe or from memory

typedef struct {
    int fd;                     //  the pipe's read end, or -1: from memory
    pid_t child;                //  the child writing it
    const unsigned char *data;  //  the answer, when from memory
    size_t size;                //  its size
    size_t offset;              //  bytes taken so far
    int64_t deadline;           //  when the child's time is up (usecs)
    bool timed_out;             //  it was
    bool ended;                 //  the child has ended
    bool reaped;                //  and status says how (else another waiter took it)
    int status;                 //  its wait status
    size_t buffered;            //  bytes read from the pipe, not yet taken
    size_t start;               //  where they start in buffer
    unsigned char *buffer;      //  them, S_BUFFER_BYTES
} s_stream_t;

//  Reads what the pipe has, up to size bytes, into at: the count, or -1
//  if the answer ended (or the time is up)
static ssize_t
s_read_some (s_stream_t *self, unsigned char *at, size_t size)
{
    for (;;) {
        int64_t left = self->deadline - zi_clock_usecs ();
        if (left <= 0) {
            self->timed_out = true;
            return -1;
        }
        //  The write end may be open elsewhere for a while (another
        //  thread's child, forked at the same moment, holds a copy), so
        //  a silent pipe is checked against the child itself
        struct pollfd item = {.fd = self->fd, .events = POLLIN};
        int64_t wait_msecs = (left + 999) / 1000;
        int ready = poll (&item, 1, wait_msecs < S_POLL_MSECS? (int) wait_msecs: S_POLL_MSECS);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready == 0 && !self->ended) {
            pid_t waited = waitpid (self->child, &self->status, WNOHANG);
            self->reaped = waited == self->child;
            self->ended = self->reaped || (waited < 0 && errno == ECHILD);
        }
        if (ready == 0 && self->ended)
            return -1;
        if (ready <= 0)
            continue;
        ssize_t got = read (self->fd, at, size);
        if (got < 0 && errno == EINTR)
            continue;
        return got > 0? got: -1;
    }
}

//  Takes size bytes, or fails (the answer ended, or the time is up)
static int
s_take (s_stream_t *self, void *buffer, size_t size)
{
    if (self->fd < 0) {
        if (size > self->size - self->offset)
            return -1;
        if (size)
            memcpy (buffer, self->data + self->offset, size);
        self->offset += size;
        return 0;
    }
    unsigned char *at = buffer;
    while (size) {
        if (self->buffered) {
            size_t part = size < self->buffered? size: self->buffered;
            memcpy (at, self->buffer + self->start, part);
            self->start += part;
            self->buffered -= part;
            self->offset += part;
            at += part;
            size -= part;
            continue;
        }
        //  Large parts (a weight's values) go straight where they belong
        bool direct = size >= S_BUFFER_BYTES;
        ssize_t got = s_read_some (self, direct? at: self->buffer,
                                   direct? size: S_BUFFER_BYTES);
        if (got < 0)
            return -1;
        if (direct) {
            at += got;
            size -= (size_t) got;
            self->offset += (size_t) got;
        }
        else {
            self->start = 0;
            self->buffered = (size_t) got;
        }
    }
    return 0;
}

//  An answer as it is decoded
typedef struct {
    zi_keras_answer_t *answer;  //  what the import gets
    char *error;                //  the child's error opening the file or its config
    char error_stage;           //  which: 'O' or 'C'
    size_t image_size;          //  the file's size, which bounds the weights
    uint64_t values_bytes;      //  the weights' values so far
    int n_weights;              //  weights so far
    int n_records;              //  records so far
    char problem [300];         //  why the answer is malformed
} s_decoder_t;

//  Returns 0 for a whole answer, -1 if it ended early (or the time ran
//  out), -2 if it is malformed (problem says how)
#define S_ENDED     -1
#define S_MALFORMED -2

static int
s_malformed (s_decoder_t *self, const char *format, ...)
{
    int at = snprintf (self->problem, sizeof self->problem, "record %d: ", self->n_records);
    va_list args;
    va_start (args, format);
    vsnprintf (self->problem + at, sizeof self->problem - at, format, args);
    va_end (args);
    return S_MALFORMED;
}

static int
s_decode_weight (s_decoder_t *self, s_stream_t *stream, uint64_t length)
{
    uint16_t name_length;
    uint8_t ndim;
    char name [S_MAX_NAME_BYTES + 1];
    if (length < 3)
        return s_malformed (self, "a weight of %llu bytes", (unsigned long long) length);
    if (++self->n_weights > S_MAX_WEIGHTS)
        return s_malformed (self, "more than %d weights", S_MAX_WEIGHTS);
    if (s_take (stream, &name_length, 2))
        return S_ENDED;
    if (name_length == 0 || name_length > S_MAX_NAME_BYTES || name_length > length - 3)
        return s_malformed (self, "a weight name of %u bytes in a record of %llu (expected 1 "
                            "to %d)", name_length, (unsigned long long) length,
                            S_MAX_NAME_BYTES);
    if (s_take (stream, name, name_length) || s_take (stream, &ndim, 1))
        return S_ENDED;
    name [name_length] = 0;
    if (strlen (name) != name_length)
        return s_malformed (self, "a weight name with a zero byte in it");
    if (ndim > ZI_MAX_DIMS)
        return s_malformed (self, "weight '%s' of %u dimensions, at most %d", name, ndim,
                            ZI_MAX_DIMS);
    int64_t dims [ZI_MAX_DIMS];
    uint64_t budget = (uint64_t) self->image_size * S_VALUES_PER_BYTE - self->values_bytes;
    uint64_t count = 1;
    for (int axis = 0; axis < ndim; axis++) {
        if (s_take (stream, &dims [axis], 8))
            return S_ENDED;
        if (dims [axis] < 0)
            return s_malformed (self, "weight '%s': size %lld on axis %d", name,
                                (long long) dims [axis], axis);
        if (dims [axis] && count > budget / 4 / (uint64_t) dims [axis])
            count = budget / 4 + 1;     //  too many: said below
        else
            count *= (uint64_t) dims [axis];
    }
    if (count > budget / 4)
        return s_malformed (self, "weight '%s': its values and those before it take more "
                            "than %d bytes for each of the file's %zu bytes", name,
                            S_VALUES_PER_BYTE, self->image_size);
    if (length != 3 + name_length + 8 * (uint64_t) ndim + 4 * count)
        return s_malformed (self, "weight '%s': a record of %llu bytes for %llu values", name,
                            (unsigned long long) length, (unsigned long long) count);
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, ndim, dims);
    if (!tensor)
        return s_malformed (self, "weight '%s': no memory for %llu values", name,
                            (unsigned long long) count);
    if (s_take (stream, tensor->data, 4 * (size_t) count)) {
        zi_tensor_destroy (&tensor);
        return S_ENDED;
    }
    self->values_bytes += 4 * count;
    zhashx_update (self->answer->weights, name, tensor);
    return 0;
}

static int
s_decode_error (s_decoder_t *self, s_stream_t *stream, uint64_t length)
{
    if (length < 1 || length > 1 + S_MAX_ERROR_BYTES)
        return s_malformed (self, "an error of %llu bytes (expected 1 to %d)",
                            (unsigned long long) length, 1 + S_MAX_ERROR_BYTES);
    if (self->error || self->answer->weights_error)
        return s_malformed (self, "a second error");
    char stage;
    char *text = malloc (length);
    assert (text);
    if (s_take (stream, &stage, 1) || s_take (stream, text, length - 1)) {
        free (text);
        return S_ENDED;
    }
    text [length - 1] = 0;
    if (stage != 'O' && stage != 'C' && stage != 'W') {
        free (text);
        return s_malformed (self, "an error of unknown stage 0x%02x", (unsigned char) stage);
    }
    if (stage == 'W')
        self->answer->weights_error = text;
    else {
        self->error = text;
        self->error_stage = stage;
    }
    return 0;
}

static int
s_decode (s_decoder_t *self, s_stream_t *stream, bool keras2)
{
    char magic [4];
    if (s_take (stream, magic, 4))
        return S_ENDED;
    if (memcmp (magic, S_MAGIC, 4))
        return s_malformed (self, "does not start with \"%s\"", S_MAGIC);
    for (;;) {
        self->n_records++;
        unsigned char kind;
        uint64_t length;
        if (s_take (stream, &kind, 1) || s_take (stream, &length, 8))
            return S_ENDED;
        int rc = 0;
        if (kind == 'D') {
            if (length)
                return s_malformed (self, "the last record holds %llu bytes",
                                    (unsigned long long) length);
            //  Keras 2's answer gives the config or says why it cannot
            if (keras2 && !self->answer->config && !self->error)
                return s_malformed (self, "the answer ends without model_config");
            return 0;
        }
        if (self->error || self->answer->weights_error)
            return s_malformed (self, "a record of kind 0x%02x after an error", kind);
        if (kind == 'C') {
            if (!keras2 || self->answer->config || self->n_weights)
                return s_malformed (self, "a model_config %s", keras2? "after another or "
                                    "after weights": "for a Keras 3 file");
            if (length > S_MAX_CONFIG_BYTES)
                return s_malformed (self, "a model_config of %llu bytes, at most %u",
                                    (unsigned long long) length, S_MAX_CONFIG_BYTES);
            char *config = malloc (length + 1);
            assert (config);
            if (s_take (stream, config, length)) {
                free (config);
                return S_ENDED;
            }
            config [length] = 0;
            self->answer->config = config;
        }
        else
        if (kind == 'W')
            rc = keras2 && !self->answer->config?
                s_malformed (self, "a weight before model_config"):
                s_decode_weight (self, stream, length);
        else
        if (kind == 'E')
            rc = s_decode_error (self, stream, length);
        else
            rc = s_malformed (self, "unknown kind 0x%02x (%llu bytes)", kind,
                              (unsigned long long) length);
        if (rc)
            return rc;
    }
}

static void
s_answer_init (zi_keras_answer_t *answer)
{
    memset (answer, 0, sizeof *answer);
    answer->weights = zhashx_new ();
    assert (answer->weights);
    zhashx_set_destructor (answer->weights, s_tensor_free);
}

void
zi_keras_answer_free (zi_keras_answer_t *answer)
{
    zhashx_destroy ((zhashx_t **) &answer->weights);
    free (answer->config);
    free (answer->weights_error);
    answer->config = NULL;
    answer->weights_error = NULL;
}

//  A whole answer's error of the file or its config is the load's
static int
s_finish (s_decoder_t *self, const char *what)
{
    if (!self->error)
        return 0;
    //  Opening the file, the child named it already
    zi_error ("%s", self->error);
    if (self->error_stage == 'C')
        zi_error_prefix ("%s", what);
    free (self->error);
    self->error = NULL;
    zi_keras_answer_free (self->answer);
    return -1;
}

int
zi_keras_reader_decode (const void *data, size_t size, size_t image_size, const char *what,
                        zi_keras_answer_t *answer)
{
    s_answer_init (answer);
    s_stream_t stream = {.fd = -1, .data = data, .size = size};
    s_decoder_t decoder = {.answer = answer, .image_size = image_size};
    int rc = s_decode (&decoder, &stream, true);
    if (rc == 0 && stream.offset != size)
        rc = s_malformed (&decoder, "%zu bytes after the last record", size - stream.offset);
    if (rc == 0)
        return s_finish (&decoder, what);
    if (rc == S_ENDED)
        zi_error ("HDF5 reader's answer for %s ends early (%zu bytes, in record %d)", what,
                  size, decoder.n_records);
    else
        zi_error ("HDF5 reader's answer for %s is malformed (%s)", what, decoder.problem);
    free (decoder.error);
    zi_keras_answer_free (answer);
    return -1;
}

//  The child's time for a file of size bytes, or -1 with an error
static int64_t
s_time_limit (size_t size)
{
    const char *text = getenv ("ZI_KERAS_READER_TIMEOUT");
    if (text) {
        char *end;
        errno = 0;
        double seconds = strtod (text, &end);
        if (errno || end == text || *end || !(seconds > 0 && seconds < 1e6))
            return zi_error ("ZI_KERAS_READER_TIMEOUT: expected a number of seconds above 0, "
                             "got '%s'", text);
        return (int64_t) (seconds * 1e6);
    }
    return S_LIMIT_USECS + (int64_t) (size / S_BYTES_PER_SECOND) * 1000000
         + (int64_t) (size % S_BYTES_PER_SECOND) * 1000000 / S_BYTES_PER_SECOND;
}

//  libhdf5 sets itself up once in the parent, which reads no file with
//  it, so that each child starts from that instead of spending a
//  millisecond of its own on it
static void
s_hdf5_setup (void)
{
    H5open ();
}

int
zi_keras_reader_load (const void *data, size_t size, const char *what, json_object *model,
                      zi_keras_answer_t *answer)
{
    memset (answer, 0, sizeof *answer);
    int64_t limit = s_time_limit (size);
    if (limit < 0)
        return -1;
    static pthread_once_t s_hdf5_once = PTHREAD_ONCE_INIT;
    pthread_once (&s_hdf5_once, s_hdf5_setup);
    int ends [2];
    if (pipe2 (ends, O_CLOEXEC))
        return zi_error ("%s: cannot start the HDF5 reader (pipe: %s)", what, strerror (errno));
    pid_t child = fork ();
    if (child < 0) {
        close (ends [0]);
        close (ends [1]);
        return zi_error ("%s: cannot start the HDF5 reader (fork: %s)", what, strerror (errno));
    }
    if (child == 0) {
        close (ends [0]);
        s_child (ends [1], data, size, what, model);
    }
    close (ends [1]);
    s_answer_init (answer);
    s_stream_t stream = {.fd = ends [0], .child = child,
                         .deadline = zi_clock_usecs () + limit,
                         .buffer = malloc (S_BUFFER_BYTES)};
    assert (stream.buffer);
    s_decoder_t decoder = {.answer = answer, .image_size = size};
    int rc = s_decode (&decoder, &stream, model == NULL);
    close (ends [0]);
    free (stream.buffer);
    //  The child's last act after its answer is to exit; otherwise its
    //  time is up or its answer is no use: it goes
    if (rc && !stream.ended)
        kill (child, SIGKILL);
    if (!stream.ended) {
        pid_t waited;
        while ((waited = waitpid (child, &stream.status, 0)) < 0 && errno == EINTR)
            ;
        //  Else someone else reaped it (a SIGCHLD handler waiting for any
        //  child): how it ended is unknown
        stream.reaped = waited == child;
    }
    if (rc == 0)
        return s_finish (&decoder, what);

    free (decoder.error);
    zi_keras_answer_free (answer);
    if (stream.timed_out)
        return zi_error ("HDF5 reader stopped after %.1f s reading %s (its time limit for a "
                         "file of %zu bytes; ZI_KERAS_READER_TIMEOUT=SECONDS gives it "
                         "longer): the file is damaged or crafted", limit / 1e6, what, size);
    if (rc == S_MALFORMED)
        return zi_error ("HDF5 reader's answer reading %s is malformed (%s): the file is "
                         "damaged or crafted", what, decoder.problem);
    if (stream.reaped && WIFSIGNALED (stream.status))
        return zi_error ("HDF5 reader stopped by signal %d reading %s: the file is damaged or "
                         "crafted", WTERMSIG (stream.status), what);
    if (stream.reaped && WIFEXITED (stream.status))
        return zi_error ("HDF5 reader exited with code %d reading %s before it answered in "
                         "full: the file is damaged or crafted", WEXITSTATUS (stream.status),
                         what);
    return zi_error ("HDF5 reader ended reading %s before it answered in full: the file is "
                     "damaged or crafted", what);
}

//  --------------------------------------------------------------------------
//  Self test: answers made here, garbled in each way the decoder checks;
//  then the child itself, on bytes that are not HDF5, with each fault
//  the test hook makes

typedef struct {
    unsigned char data [4096];  //  the answer
    size_t size;                //  its length
} s_test_answer_t;

static void
s_test_add (s_test_answer_t *self, const void *data, size_t size)
{
    assert (self->size + size <= sizeof self->data);
    if (size)                   //  an empty payload may come with no pointer
        memcpy (self->data + self->size, data, size);
    self->size += size;
}

static void
s_test_record (s_test_answer_t *self, char kind, const void *payload, uint64_t length)
{
    s_test_add (self, &kind, 1);
    s_test_add (self, &length, 8);
    s_test_add (self, payload, length);
}

//  A weight record: the name, the dims, count values i * 0.5 - 1
static void
s_test_weight (s_test_answer_t *self, const char *name, int ndim, const int64_t *dims,
               int count)
{
    unsigned char payload [2048];
    size_t at = 0;
    uint16_t name_length = (uint16_t) strlen (name);
    memcpy (payload, &name_length, 2);
    memcpy (payload + 2, name, name_length);
    at = 2 + name_length;
    payload [at++] = (unsigned char) ndim;
    if (ndim)                   //  a scalar may come with no dims
        memcpy (payload + at, dims, 8 * ndim);
    at += 8 * ndim;
    for (int item = 0; item < count; item++) {
        float value = item * 0.5f - 1;
        memcpy (payload + at, &value, 4);
        at += 4;
    }
    s_test_record (self, 'W', payload, at);
}

//  A good answer: "ZIH5", a config, two weights, and what follows
static s_test_answer_t
s_test_good (void)
{
    s_test_answer_t answer = {.size = 0};
    s_test_add (&answer, S_MAGIC, 4);
    s_test_record (&answer, 'C', "{\"x\": 1}", 8);
    s_test_weight (&answer, "fc/kernel", 2, (int64_t []) {2, 3}, 6);
    s_test_weight (&answer, "fc/bias", 1, (int64_t []) {3}, 3);
    return answer;
}

static void
s_test_refused (zi_test_t *t, s_test_answer_t *answer, const char *want, const char *what)
{
    zi_keras_answer_t decoded;
    int rc = zi_keras_reader_decode (answer->data, answer->size, 1000, "model.h5", &decoded);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), want), "%s: %s", what,
              rc? zi_error_text (): "decoded");
    ZI_CHECK (t, decoded.weights == NULL && decoded.config == NULL, "%s: nothing kept", what);
    if (rc == 0)
        zi_keras_answer_free (&decoded);
}

//  The child on bytes that are not HDF5, with a fault from the hook (or
//  NULL); the error must contain want
static void
s_test_child (zi_test_t *t, const char *fault, const char *timeout, const char *want)
{
    if (fault)
        setenv ("ZI_KERAS_READER_FAULT", fault, 1);
    if (timeout)
        setenv ("ZI_KERAS_READER_TIMEOUT", timeout, 1);
    const char *bytes = "\x89HDF\r\n\x1a\n, but nothing more";
    zi_keras_answer_t answer;
    int64_t start = zi_clock_usecs ();
    int rc = zi_keras_reader_load (bytes, strlen (bytes), "bad.h5", NULL, &answer);
    double seconds = (zi_clock_usecs () - start) / 1e6;
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), want), "child, fault %s: %s",
              fault? fault: "none", rc? zi_error_text (): "read");
    ZI_CHECK (t, seconds < 5, "child, fault %s: answered in %.1f s", fault? fault: "none",
              seconds);
    if (rc == 0)
        zi_keras_answer_free (&answer);
    unsetenv ("ZI_KERAS_READER_FAULT");
    unsetenv ("ZI_KERAS_READER_TIMEOUT");
}

void
zi_keras_reader_test (zi_test_t *t)
{
    //  A whole answer: the config, and each weight bit for bit, in order
    s_test_answer_t good = s_test_good ();
    s_test_record (&good, 'D', NULL, 0);
    zi_keras_answer_t decoded;
    int rc = zi_keras_reader_decode (good.data, good.size, 1000, "model.h5", &decoded);
    ZI_CHECK (t, rc == 0, "a good answer: %s", zi_error_text ());
    if (rc == 0) {
        ZI_CHECK (t, decoded.config && streq (decoded.config, "{\"x\": 1}")
                  && !decoded.weights_error, "the config");
        zi_tensor_t *kernel = zhashx_first (decoded.weights);
        zi_tensor_t *bias = zhashx_next (decoded.weights);
        bool same = kernel && bias && zhashx_size (decoded.weights) == 2
                 && kernel->ndim == 2 && kernel->dims [0] == 2 && kernel->dims [1] == 3
                 && bias->ndim == 1 && bias->dims [0] == 3;
        for (int item = 0; same && item < 6; item++)
            same = ((float *) kernel->data) [item] == item * 0.5f - 1
                && (item >= 3 || ((float *) bias->data) [item] == item * 0.5f - 1);
        ZI_CHECK (t, same, "the weights, in the order sent");
        zi_keras_answer_free (&decoded);
    }
    //  The weights' own error waits for the import; the file's is the load's
    s_test_answer_t answer = s_test_good ();
    s_test_record (&answer, 'E', "Wno weights: here is why", 24);
    s_test_record (&answer, 'D', NULL, 0);
    rc = zi_keras_reader_decode (answer.data, answer.size, 1000, "model.h5", &decoded);
    ZI_CHECK (t, rc == 0 && decoded.weights_error
              && streq (decoded.weights_error, "no weights: here is why"),
              "a weights error is kept for the import");
    if (rc == 0)
        zi_keras_answer_free (&decoded);
    answer = (s_test_answer_t) {.size = 0};
    s_test_add (&answer, S_MAGIC, 4);
    s_test_record (&answer, 'E', "Cno 'model_config' attribute", 28);
    s_test_record (&answer, 'D', NULL, 0);
    s_test_refused (t, &answer, "model.h5: no 'model_config' attribute", "a config error");

    //  Garbled, each way
    answer = good;
    answer.data [0] = 'X';
    s_test_refused (t, &answer, "does not start with \"ZIH5\"", "bad magic");
    answer = good;
    answer.size -= 5;
    s_test_refused (t, &answer, "ends early", "cut short");
    answer = s_test_good ();
    s_test_refused (t, &answer, "ends early", "no last record");
    answer = good;
    s_test_add (&answer, "x", 1);
    s_test_refused (t, &answer, "1 bytes after the last record", "bytes after the end");
    answer = s_test_good ();
    s_test_record (&answer, 'Q', "?", 1);
    s_test_refused (t, &answer, "record 4: unknown kind 0x51", "unknown kind");
    answer = s_test_good ();
    s_test_record (&answer, 'C', "{}", 2);
    s_test_refused (t, &answer, "a model_config after another", "second config");
    answer = (s_test_answer_t) {.size = 0};
    s_test_add (&answer, S_MAGIC, 4);
    s_test_record (&answer, 'D', NULL, 0);
    s_test_refused (t, &answer, "without model_config", "no config");
    answer = s_test_good ();
    s_test_weight (&answer, "deep", 9, (int64_t []) {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
    s_test_refused (t, &answer, "weight 'deep' of 9 dimensions", "too many dimensions");
    answer = s_test_good ();
    s_test_weight (&answer, "negative", 1, (int64_t []) {-4}, 0);
    s_test_refused (t, &answer, "size -4 on axis 0", "negative size");
    answer = s_test_good ();
    s_test_weight (&answer, "huge", 2, (int64_t []) {INT64_C (1) << 40, INT64_C (1) << 40}, 0);
    s_test_refused (t, &answer, "more than 4 bytes for each of the file's 1000 bytes",
                    "values past the file's bound");
    answer = s_test_good ();
    s_test_weight (&answer, "short", 1, (int64_t []) {5}, 4);
    s_test_refused (t, &answer, "weight 'short': a record of 32 bytes for 5 values",
                    "values missing");
    answer = s_test_good ();
    s_test_record (&answer, 'W', "\x00\x00", 3);
    s_test_refused (t, &answer, "a weight name of 0 bytes", "empty name");
    answer = s_test_good ();
    s_test_record (&answer, 'W', "\x03\x00" "a\0b" "\x00", 6);
    s_test_refused (t, &answer, "zero byte", "a zero byte in a name");
    answer = s_test_good ();
    s_test_record (&answer, 'E', "Zwhy", 4);
    s_test_refused (t, &answer, "unknown stage 0x5a", "unknown error stage");
    answer = s_test_good ();
    s_test_record (&answer, 'E', "Wone", 4);
    s_test_weight (&answer, "later", 1, (int64_t []) {1}, 1);
    s_test_refused (t, &answer, "after an error", "a weight after an error");
    answer = (s_test_answer_t) {.size = 0};
    s_test_add (&answer, S_MAGIC, 4);
    uint64_t length = UINT64_C (1) << 60;
    s_test_add (&answer, "C", 1);
    s_test_add (&answer, &length, 8);
    s_test_refused (t, &answer, "a model_config of 1152921504606846976 bytes, at most",
                    "a huge config");

    //  The child: HDF5's own refusal comes back as the error; each fault
    //  ends in a clear one
    s_test_child (t, NULL, NULL, "bad.h5: not a readable HDF5 file");
    s_test_child (t, "crash", NULL, "HDF5 reader stopped by signal 11 reading bad.h5: the "
                  "file is damaged or crafted");
    s_test_child (t, "hang", "0.3", "HDF5 reader stopped after 0.3 s reading bad.h5");
    s_test_child (t, "garbage", NULL, "HDF5 reader's answer reading bad.h5 is malformed "
                  "(record 2: a record of kind 0x58 after an error)");
    s_test_child (t, NULL, "never", "ZI_KERAS_READER_TIMEOUT: expected a number of seconds");
}
