/*  =========================================================================
    zi_bench_transport - what one hop costs: bare libzmq against zinfer

    For each transport (inproc between two threads of this process, ipc
    and tcp on 127.0.0.1 between two processes) and each message size,
    measures one-way latency (half a ping-pong round trip) and streaming
    throughput in two ways, alternating in rounds on the same sockets.
    The transport "curve" is tcp with CURVE encryption on both sockets,
    as zinfer uses between hosts: the measuring end serves, the peer
    connects with a key pair of its own (handed over in the environment).

      bare      one frame, sent zero-copy with zmq_msg_init_data and
                received with zmq_msg_recv: the floor libzmq gives
      zinfer    zi_msg_send of a reference-counted tensor (msgpack header
                frame + zero-copy data frame) and zi_msg_recv, which
                decodes and checks the header and wraps the data frame as
                a tensor: what an actor does on every hop

    The peer answers each ping with what it received, sent on without a
    copy (bare: the very frame; zinfer: the tensor that wraps it), so both
    ways do the same work apart from zinfer's own. For ipc and tcp the
    peer is this program started again with --peer.

    Prints one line per measurement, `name: value unit`:

        tcp/4096/zinfer/latency: 38.215 us

    bench/transport runs it and makes the table.
    =========================================================================
*/

#include "zi_msg.h"
#include "zi_clock.h"
#include <czmq.h>                  //  streq
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

extern char **environ;

#define S_MAX_SIZES 32
#define S_MIN_PING 10               //  round trips per way and size, at least
#define S_MAX_PING 2000             //  round trips per way and size, at most
#define S_MAX_STREAM 100000         //  messages per way, round and size, at most
#define S_TIMEOUT_MSECS 120000      //  a peer silent this long is gone

typedef enum { S_BARE, S_ZINFER } s_way_t;
static const char *s_way_name [] = {"bare", "zinfer"};

typedef struct {
    const char *transports;         //  comma-separated list
    int64_t sizes [S_MAX_SIZES];    //  message sizes in bytes
    int n_sizes;                    //  number of sizes
    int port;                       //  tcp base port (uses port and port + 1)
    int rounds;                     //  alternating rounds per measurement
    double ping_seconds;            //  time per way and size for latency
    double stream_seconds;          //  time per way and size for throughput
    bool reuse;                     //  keep freed memory, no fresh pages
    bool verbose;                   //  progress on stderr
} s_options_t;

//  One end of the link: PUSH to the other end, PULL from it
typedef struct {
    void *context;                  //  ZeroMQ context
    void *output;                   //  PUSH
    void *input;                    //  PULL
} s_link_t;

//  The data one size is measured with, both ways
typedef struct {
    int64_t size;                   //  bytes
    void *buffer;                   //  bare: the bytes sent every time
    zi_tensor_t *tensor;            //  zinfer: the tensor sent every time
    zi_msg_header_t header;         //  zinfer: its header
} s_payload_t;


static double
s_now_usecs (void)
{
    return zi_clock_nsecs () / 1e3;
}

static long
s_minor_faults (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

static int
s_compare_doubles (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

//  Sorts values in place and returns the quantile q (0..1)
static double
s_quantile (double *values, int count, double q)
{
    qsort (values, count, sizeof (double), s_compare_doubles);
    int index = (int) (q * (count - 1) + 0.5);
    return values [index];
}

static int64_t
s_clamp (int64_t value, int64_t low, int64_t high)
{
    return value < low? low: value > high? high: value;
}

//  The bare sender owns its buffer for the whole run, but a real sender
//  must free what it sends, so it passes a free function all the same:
//  with NULL libzmq would take a cheaper constant-message path that no
//  sender of heap buffers can use.
static void
s_keep_buffer (void *data, void *hint)
{
}


//  --------------------------------------------------------------------------
//  Control messages (one short text frame) and their answers

static int
s_send_text (void *socket, const char *format, ...)
{
    char text [128];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    return zmq_send (socket, text, strlen (text), 0) < 0? -1: 0;
}

static int
s_recv_text (void *socket, char *text, size_t size)
{
    int length = zmq_recv (socket, text, size - 1, 0);
    if (length < 0)
        return -1;
    text [length < (int) size - 1? length: (int) size - 1] = 0;
    return 0;
}


//  --------------------------------------------------------------------------
//  The peer: does what each control message says until "quit"

static int
s_peer_echo (void *input, void *output, s_way_t way, long count)
{
    for (long index = 0; index < count; index++) {
        if (way == S_BARE) {
            zmq_msg_t frame;
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&frame, input, 0) < 0
            ||  zmq_msg_send (&frame, output, 0) < 0) {
                zmq_msg_close (&frame);
                return zi_error ("bare echo: %s", zmq_strerror (errno));
            }
        }
        else {
            zi_msg_header_t header;
            zi_tensor_t *tensor;
            if (zi_msg_recv (input, &header, &tensor, NULL, false))
                return -1;
            int rc = zi_msg_send (output, &header, tensor, NULL, false);
            zi_tensor_destroy (&tensor);
            if (rc)
                return zi_error ("zinfer echo: %s", zmq_strerror (errno));
        }
    }
    return 0;
}

static int
s_peer_sink (void *input, void *output, s_way_t way, long count)
{
    for (long index = 0; index < count; index++) {
        if (way == S_BARE) {
            zmq_msg_t frame;
            zmq_msg_init (&frame);
            int rc = zmq_msg_recv (&frame, input, 0);
            zmq_msg_close (&frame);
            if (rc < 0)
                return zi_error ("bare sink: %s", zmq_strerror (errno));
        }
        else {
            zi_msg_header_t header;
            zi_tensor_t *tensor;
            if (zi_msg_recv (input, &header, &tensor, NULL, false))
                return -1;
            zi_tensor_destroy (&tensor);
        }
    }
    return s_send_text (output, "done");
}

static int
s_peer_serve (void *input, void *output)
{
    while (true) {
        char command [128], verb [16], way_name [16];
        long count = 0;
        if (s_recv_text (input, command, sizeof command))
            return zi_error ("peer: no command: %s", zmq_strerror (errno));
        if (streq (command, "quit"))
            return 0;
        if (streq (command, "hello")) {
            if (s_send_text (output, "ready"))
                return -1;
            continue;
        }
        if (sscanf (command, "%15s %15s %ld", verb, way_name, &count) != 3)
            return zi_error ("peer: unknown command '%s'", command);
        s_way_t way = streq (way_name, "bare")? S_BARE: S_ZINFER;
        int rc = streq (verb, "ping")? s_peer_echo (input, output, way, count)
                                     : s_peer_sink (input, output, way, count);
        if (rc)
            return -1;
    }
}

static void
s_socket_options (void *socket)
{
    int linger = 1000, timeout = S_TIMEOUT_MSECS;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
}

//  Connects to the measuring end's endpoints and serves it
static int
s_peer_run (void *context, const char *input_endpoint, const char *output_endpoint)
{
    void *input = zmq_socket (context, ZMQ_PULL);
    void *output = zmq_socket (context, ZMQ_PUSH);
    s_socket_options (input);
    s_socket_options (output);
    const char *server = getenv ("ZI_BENCH_CURVE_SERVER");
    const char *client_public = getenv ("ZI_BENCH_CURVE_PUBLIC");
    const char *client_secret = getenv ("ZI_BENCH_CURVE_SECRET");
    if (server && client_public && client_secret) {
        void *sockets [2] = {input, output};
        for (int index = 0; index < 2; index++) {
            zmq_setsockopt (sockets [index], ZMQ_CURVE_SERVERKEY, server, 40);
            zmq_setsockopt (sockets [index], ZMQ_CURVE_PUBLICKEY, client_public, 40);
            zmq_setsockopt (sockets [index], ZMQ_CURVE_SECRETKEY, client_secret, 40);
        }
    }
    int rc = -1;
    if (zmq_connect (input, input_endpoint) || zmq_connect (output, output_endpoint))
        zi_error ("peer: cannot connect to %s / %s: %s", input_endpoint, output_endpoint,
                  zmq_strerror (errno));
    else
        rc = s_peer_serve (input, output);
    if (rc)
        fprintf (stderr, "zi_bench_transport: %s\n", zi_error_text ());
    zmq_close (input);
    zmq_close (output);
    return rc;
}

typedef struct {
    void *context;                  //  shared with the measuring thread
    char input [256];               //  endpoint to pull from
    char output [256];              //  endpoint to push to
    int rc;                         //  result of s_peer_run
} s_peer_thread_t;

static void *
s_peer_thread (void *args)
{
    s_peer_thread_t *self = args;
    self->rc = s_peer_run (self->context, self->input, self->output);
    return NULL;
}


//  --------------------------------------------------------------------------
//  The measuring end

static int
s_payload_init (s_payload_t *self, int64_t size)
{
    memset (self, 0, sizeof *self);
    self->size = size;
    self->buffer = aligned_alloc (64, (size + 63) / 64 * 64);
    int64_t dims [2] = {1, size / 4};
    self->tensor = zi_tensor_new (ZI_F32, 2, dims);
    if (!self->buffer || !self->tensor)
        return zi_error ("out of memory for %lld-byte messages", (long long) size);
    //  Touch every page now, so first sends measure no page faults
    memset (self->buffer, 1, size);
    memset (zi_tensor_data (self->tensor), 1, size);
    self->header = (zi_msg_header_t) {.kind = ZI_MSG_TENSOR, .source = 0, .slot = 0,
                                      .count = 1, .dtype = ZI_F32, .ndim = 2,
                                      .dims = {1, size / 4}};
    return 0;
}

static void
s_payload_destroy (s_payload_t *self)
{
    free (self->buffer);
    zi_tensor_destroy (&self->tensor);
}

static int
s_send (s_link_t *link, s_payload_t *payload, s_way_t way, uint64_t request)
{
    if (way == S_BARE) {
        zmq_msg_t frame;
        zmq_msg_init_data (&frame, payload->buffer, payload->size, s_keep_buffer, NULL);
        if (zmq_msg_send (&frame, link->output, 0) < 0) {
            zmq_msg_close (&frame);
            return zi_error ("bare send: %s", zmq_strerror (errno));
        }
        return 0;
    }
    payload->header.request = request;
    if (zi_msg_send (link->output, &payload->header, payload->tensor, NULL, false))
        return zi_error ("zinfer send: %s", zmq_strerror (errno));
    return 0;
}

static int
s_recv (s_link_t *link, s_payload_t *payload, s_way_t way)
{
    if (way == S_BARE) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        int rc = zmq_msg_recv (&frame, link->input, 0);
        size_t size = zmq_msg_size (&frame);
        zmq_msg_close (&frame);
        if (rc < 0)
            return zi_error ("bare receive: %s", zmq_strerror (errno));
        if ((int64_t) size != payload->size)
            return zi_error ("bare receive: %zu bytes, sent %lld", size,
                             (long long) payload->size);
        return 0;
    }
    zi_msg_header_t header;
    zi_tensor_t *tensor;
    if (zi_msg_recv (link->input, &header, &tensor, NULL, false))
        return -1;
    zi_tensor_destroy (&tensor);
    return 0;
}

//  Times count round trips; one-way latencies (µs) go to samples
static int
s_ping (s_link_t *link, s_payload_t *payload, s_way_t way, int count, double *samples,
        long *faults)
{
    if (s_send_text (link->output, "ping %s %d", s_way_name [way], count))
        return zi_error ("peer does not take commands: %s", zmq_strerror (errno));
    long faults_before = s_minor_faults ();
    for (int index = 0; index < count; index++) {
        double start = s_now_usecs ();
        if (s_send (link, payload, way, index) || s_recv (link, payload, way))
            return -1;
        if (samples)
            samples [index] = (s_now_usecs () - start) / 2;
    }
    if (faults)
        *faults += s_minor_faults () - faults_before;
    return 0;
}

//  Streams count messages as fast as they go; returns GB/s, or -1
static double
s_stream (s_link_t *link, s_payload_t *payload, s_way_t way, int count)
{
    if (s_send_text (link->output, "stream %s %d", s_way_name [way], count))
        return zi_error ("peer does not take commands: %s", zmq_strerror (errno));
    double start = s_now_usecs ();
    for (int index = 0; index < count; index++)
        if (s_send (link, payload, way, index))
            return -1;
    char answer [16];
    if (s_recv_text (link->input, answer, sizeof answer) || !streq (answer, "done"))
        return zi_error ("peer did not finish the stream: %s", zmq_strerror (errno));
    double elapsed = s_now_usecs () - start;
    return (double) payload->size * count / (elapsed * 1e3);
}

//  Both ways for one size, alternating which goes first each round.
//  Warm-up runs tell how long a round trip and a streamed message take,
//  so every size gets about the same time whatever the transport.
static int
s_measure_size (s_link_t *link, const char *transport, int64_t size, const s_options_t *options)
{
    s_payload_t payload;
    if (s_payload_init (&payload, size)) {
        s_payload_destroy (&payload);
        return -1;
    }
    int rc = 0;
    int pairs = 0;
    double start = s_now_usecs ();
    while (rc == 0 && pairs < 50 && (pairs < 2 || s_now_usecs () - start < 250e3)) {
        for (int way = S_BARE; way <= S_ZINFER && rc == 0; way++)
            rc = s_ping (link, &payload, way, 1, NULL, NULL);
        pairs++;
    }
    double trip_secs = (s_now_usecs () - start) / 1e6 / (2 * pairs);
    int pings = (int) s_clamp ((int64_t) (options->ping_seconds / trip_secs), S_MIN_PING,
                               S_MAX_PING);
    int per_round = pings / options->rounds > 2? pings / options->rounds: 2;
    pings = per_round * options->rounds;

    int warm_stream = (int) s_clamp ((INT64_C (16) << 20) / size, 2, 1000);
    double slowest = 0;
    for (int way = S_BARE; way <= S_ZINFER && rc == 0; way++) {
        double rate = s_stream (link, &payload, way, warm_stream);
        if (rate < 0)
            rc = -1;
        else
        if (slowest == 0 || rate < slowest)
            slowest = rate;
    }
    double message_secs = slowest > 0? size / (slowest * 1e9): 1;
    int streamed = (int) s_clamp ((int64_t) (options->stream_seconds / options->rounds
                                             / message_secs), 2, S_MAX_STREAM);

    double *samples [2] = {calloc (pings, sizeof (double)), calloc (pings, sizeof (double))};
    double rates [2][64];
    long faults [2] = {0, 0};
    assert (samples [0] && samples [1] && options->rounds <= 64);
    for (int round = 0; round < options->rounds && rc == 0; round++) {
        for (int turn = 0; turn < 2 && rc == 0; turn++) {
            s_way_t way = (round + turn) % 2;
            rc = s_ping (link, &payload, way, per_round, samples [way] + round * per_round,
                         &faults [way]);
        }
    }
    for (int round = 0; round < options->rounds && rc == 0; round++) {
        for (int turn = 0; turn < 2 && rc == 0; turn++) {
            s_way_t way = (round + turn) % 2;
            rates [way][round] = s_stream (link, &payload, way, streamed);
            if (rates [way][round] < 0)
                rc = -1;
        }
    }
    if (rc == 0) {
        for (int way = S_BARE; way <= S_ZINFER; way++) {
            const char *name = s_way_name [way];
            printf ("%s/%lld/%s/latency: %.3f us\n", transport, (long long) size, name,
                    s_quantile (samples [way], pings, 0.5));
            printf ("%s/%lld/%s/latency_p10: %.3f us\n", transport, (long long) size, name,
                    s_quantile (samples [way], pings, 0.1));
            printf ("%s/%lld/%s/latency_p90: %.3f us\n", transport, (long long) size, name,
                    s_quantile (samples [way], pings, 0.9));
            printf ("%s/%lld/%s/round_trips: %d count\n", transport, (long long) size, name,
                    pings);
            printf ("%s/%lld/%s/faults: %.1f per_round_trip\n", transport, (long long) size,
                    name, (double) faults [way] / pings);
            printf ("%s/%lld/%s/throughput: %.4f GB/s\n", transport, (long long) size, name,
                    s_quantile (rates [way], options->rounds, 0.5));
            printf ("%s/%lld/%s/messages: %d count\n", transport, (long long) size, name,
                    streamed * options->rounds);
        }
        fflush (stdout);
    }
    free (samples [0]);
    free (samples [1]);
    s_payload_destroy (&payload);
    return rc;
}

//  Starts this program again as the peer
static pid_t
s_spawn_peer (const char *input, const char *output, bool reuse)
{
    char self_path [PATH_MAX];
    ssize_t length = readlink ("/proc/self/exe", self_path, sizeof self_path - 1);
    if (length <= 0)
        return zi_error ("cannot find this program's path: %s", strerror (errno));
    self_path [length] = 0;
    char *argv [] = {self_path, "--peer", (char *) input, (char *) output,
                     reuse? "--reuse": NULL, NULL};
    pid_t pid;
    int rc = posix_spawn (&pid, self_path, NULL, NULL, argv, environ);
    if (rc)
        return zi_error ("cannot start the peer: %s", strerror (rc));
    return pid;
}

static int
s_measure_transport (const char *transport, const s_options_t *options)
{
    //  The peer pulls from `to_peer` and pushes to `from_peer`; this end
    //  binds both so the peer can connect whenever it is ready
    char to_peer [256], from_peer [256];
    bool local = streq (transport, "inproc");
    if (local) {
        snprintf (to_peer, sizeof to_peer, "inproc://zi-bench-transport-out");
        snprintf (from_peer, sizeof from_peer, "inproc://zi-bench-transport-in");
    }
    else
    if (streq (transport, "ipc")) {
        snprintf (to_peer, sizeof to_peer, "ipc:///tmp/zi-bench-transport-%d-%d-out",
                  (int) getpid (), options->port);
        snprintf (from_peer, sizeof from_peer, "ipc:///tmp/zi-bench-transport-%d-%d-in",
                  (int) getpid (), options->port);
    }
    else
    if (streq (transport, "tcp") || streq (transport, "curve")) {
        snprintf (to_peer, sizeof to_peer, "tcp://127.0.0.1:%d", options->port);
        snprintf (from_peer, sizeof from_peer, "tcp://127.0.0.1:%d", options->port + 1);
    }
    else
        return zi_error ("unknown transport '%s' (known: inproc, ipc, tcp, curve)", transport);

    s_link_t link = {zmq_ctx_new (), NULL, NULL};
    link.output = zmq_socket (link.context, ZMQ_PUSH);
    link.input = zmq_socket (link.context, ZMQ_PULL);
    s_socket_options (link.output);
    s_socket_options (link.input);
    if (streq (transport, "curve")) {
        char server_public [41], server_secret [41], client_public [41], client_secret [41];
        if (zmq_curve_keypair (server_public, server_secret)
        ||  zmq_curve_keypair (client_public, client_secret))
            return zi_error ("curve: this ZeroMQ has no CURVE support");
        int on = 1;
        void *sockets [2] = {link.output, link.input};
        for (int index = 0; index < 2; index++) {
            zmq_setsockopt (sockets [index], ZMQ_CURVE_SERVER, &on, sizeof on);
            zmq_setsockopt (sockets [index], ZMQ_CURVE_SECRETKEY, server_secret, 40);
        }
        setenv ("ZI_BENCH_CURVE_SERVER", server_public, 1);
        setenv ("ZI_BENCH_CURVE_PUBLIC", client_public, 1);
        setenv ("ZI_BENCH_CURVE_SECRET", client_secret, 1);
    }
    else {
        unsetenv ("ZI_BENCH_CURVE_SERVER");
        unsetenv ("ZI_BENCH_CURVE_PUBLIC");
        unsetenv ("ZI_BENCH_CURVE_SECRET");
    }
    int rc = 0;
    if (zmq_bind (link.output, to_peer) || zmq_bind (link.input, from_peer))
        rc = zi_error ("%s: cannot bind %s / %s: %s", transport, to_peer, from_peer,
                       zmq_strerror (errno));

    pthread_t thread;
    s_peer_thread_t peer_thread = {link.context, "", "", 0};
    pid_t pid = -1;
    bool started = false;
    if (rc == 0 && local) {
        snprintf (peer_thread.input, sizeof peer_thread.input, "%s", to_peer);
        snprintf (peer_thread.output, sizeof peer_thread.output, "%s", from_peer);
        started = pthread_create (&thread, NULL, s_peer_thread, &peer_thread) == 0;
        if (!started)
            rc = zi_error ("cannot start the peer thread");
    }
    else
    if (rc == 0) {
        pid = s_spawn_peer (to_peer, from_peer, options->reuse);
        started = pid > 0;
        rc = started? 0: -1;
    }
    char answer [16];
    if (rc == 0
    && (s_send_text (link.output, "hello") || s_recv_text (link.input, answer, sizeof answer)))
        rc = zi_error ("%s: the peer did not answer: %s", transport, zmq_strerror (errno));

    for (int index = 0; index < options->n_sizes && rc == 0; index++) {
        if (options->verbose)
            fprintf (stderr, "%s, %lld bytes\n", transport, (long long) options->sizes [index]);
        rc = s_measure_size (&link, transport, options->sizes [index], options);
        if (rc)
            zi_error_prefix ("%s, %lld bytes", transport, (long long) options->sizes [index]);
    }
    if (started) {
        if (s_send_text (link.output, "quit") && rc == 0)
            rc = zi_error ("%s: cannot stop the peer", transport);
        if (local) {
            pthread_join (thread, NULL);
            if (peer_thread.rc && rc == 0)
                rc = -1;
        }
        else {
            int status = 0;
            if (rc)                         //  it may be stuck mid-measurement
                kill (pid, SIGTERM);
            waitpid (pid, &status, 0);
            if (rc == 0 && !(WIFEXITED (status) && WEXITSTATUS (status) == 0))
                rc = zi_error ("%s: the peer failed", transport);
        }
    }
    zmq_close (link.output);
    zmq_close (link.input);
    zmq_ctx_term (link.context);
    return rc;
}


//  --------------------------------------------------------------------------
//  Command line

static const char *s_usage =
    "usage: zi_bench_transport [options]\n"
    "  --transports LIST     comma-separated: inproc,ipc,tcp,curve (default: the first\n"
    "                        three; curve is tcp with CURVE encryption)\n"
    "  --sizes LIST          message sizes, bytes with optional K or M (binary):\n"
    "                        default 1K,4K,64K,800K,4M,64M\n"
    "  --port P              tcp uses ports P and P+1 on 127.0.0.1 (default 26500)\n"
    "  --rounds R            alternating rounds per measurement (default 5)\n"
    "  --ping-seconds S      time per way and size for latency (default 2;\n"
    "                        10 to 2000 round trips)\n"
    "  --stream-seconds S    time per way and size for throughput (default 1)\n"
    "  --reuse               keep freed memory in the heap (one arena, no mmap), so\n"
    "                        large frames land in pages already faulted in\n"
    "  --verbose             progress on stderr\n";

//  "64K" -> 65536; -1 if not a size
static int64_t
s_parse_size (const char *text)
{
    char *end;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || end == text || value <= 0)
        return -1;
    if (*end == 'K' || *end == 'k')
        value <<= 10, end++;
    else
    if (*end == 'M' || *end == 'm')
        value <<= 20, end++;
    else
    if (*end == 'G' || *end == 'g')
        value <<= 30, end++;
    return *end? -1: value;
}

static int
s_parse_sizes (const char *text, s_options_t *options)
{
    options->n_sizes = 0;
    char copy [512];
    snprintf (copy, sizeof copy, "%s", text);
    char *state = NULL;
    for (char *item = strtok_r (copy, ",", &state); item; item = strtok_r (NULL, ",", &state)) {
        int64_t size = s_parse_size (item);
        if (size < 4 || size % 4 || size > (INT64_C (1) << 32))
            return zi_error ("--sizes: '%s' is not a multiple of 4 bytes from 4 to 4G", item);
        if (options->n_sizes == S_MAX_SIZES)
            return zi_error ("--sizes: more than %d sizes", S_MAX_SIZES);
        options->sizes [options->n_sizes++] = size;
    }
    return options->n_sizes? 0: zi_error ("--sizes: no sizes given");
}

//  Freed memory stays in the main heap and is handed out again, instead
//  of every large frame coming from fresh, not yet faulted-in pages
static void
s_reuse_memory (void)
{
    mallopt (M_ARENA_MAX, 1);
    mallopt (M_MMAP_MAX, 0);
    mallopt (M_TRIM_THRESHOLD, INT_MAX);
}

int
main (int argc, char *argv [])
{
    s_options_t options = {.transports = "inproc,ipc,tcp", .port = 26500, .rounds = 5,
                           .ping_seconds = 2, .stream_seconds = 1};
    s_parse_sizes ("1K,4K,64K,800K,4M,64M", &options);
    if (argc >= 4 && streq (argv [1], "--peer")) {
        if (argc >= 5 && streq (argv [4], "--reuse"))
            s_reuse_memory ();
        //  Do not outlive the measuring end if it dies
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        void *context = zmq_ctx_new ();
        int rc = s_peer_run (context, argv [2], argv [3]);
        zmq_ctx_term (context);
        return rc? 1: 0;
    }
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index];
        const char *value = index + 1 < argc? argv [index + 1]: NULL;
        bool takes_value = true;
        int rc = 0;
        if (streq (arg, "--transports") && value)
            options.transports = value;
        else
        if (streq (arg, "--sizes") && value)
            rc = s_parse_sizes (value, &options);
        else
        if (streq (arg, "--port") && value) {
            options.port = atoi (value);
            if (options.port < 1024 || options.port > 65534)
                rc = zi_error ("--port: expected 1024 to 65534, got '%s'", value);
        }
        else
        if (streq (arg, "--rounds") && value) {
            options.rounds = atoi (value);
            if (options.rounds < 1 || options.rounds > 64)
                rc = zi_error ("--rounds: expected 1 to 64, got '%s'", value);
        }
        else
        if (streq (arg, "--ping-seconds") && value) {
            options.ping_seconds = atof (value);
            if (!(options.ping_seconds > 0 && options.ping_seconds <= 600))
                rc = zi_error ("--ping-seconds: expected 0 to 600, got '%s'", value);
        }
        else
        if (streq (arg, "--stream-seconds") && value) {
            options.stream_seconds = atof (value);
            if (!(options.stream_seconds > 0 && options.stream_seconds <= 600))
                rc = zi_error ("--stream-seconds: expected 0 to 600, got '%s'", value);
        }
        else {
            takes_value = false;
            if (streq (arg, "--reuse"))
                options.reuse = true;
            else
            if (streq (arg, "--verbose"))
                options.verbose = true;
            else {
                fprintf (stderr, "zi_bench_transport: unknown argument '%s'\n%s", arg, s_usage);
                return 2;
            }
        }
        if (rc) {
            fprintf (stderr, "zi_bench_transport: %s\n", zi_error_text ());
            return 2;
        }
        if (takes_value)
            index++;
    }
    if (options.reuse)
        s_reuse_memory ();
    //  A peer that dies mid-send must not kill this end
    signal (SIGPIPE, SIG_IGN);

    char list [256];
    snprintf (list, sizeof list, "%s", options.transports);
    char *state = NULL;
    for (char *transport = strtok_r (list, ",", &state); transport;
         transport = strtok_r (NULL, ",", &state)) {
        if (s_measure_transport (transport, &options)) {
            fprintf (stderr, "zi_bench_transport: %s\n", zi_error_text ());
            return 1;
        }
    }
    return 0;
}
