/*  =========================================================================
    zi_bench_floor - the least a split can cost on this machine

    A model split into processes pays, per request, for every process
    boundary it crosses: the sender's and receiver's ZeroMQ I/O threads,
    the wake-up of each thread on the way, and the moving of the bytes.
    This program builds the same chain with nothing of zinfer in it: each
    stage is a process that receives a message, spins on arithmetic for
    as long as its share of the model takes, and sends on as many bytes as
    the split sends there. A client times a request through the chain
    against the same arithmetic run locally just before it, as
    `zinfer infer --local` pairs a split model with a local run. The
    median of those ratios is the floor: a zinfer split of the same model
    at the same cut points cannot do better, whatever its own code costs.

    The arithmetic fills the core's multiply-add pipes as a convolution
    does, but on registers only: it touches no memory, so the floor leaves
    out what real kernels lose when each process starts its stage with
    cold caches, and two stages share the machine's cores as two kernels
    would.

        zi_bench_floor calibrate
            prints how many iterations of the arithmetic take 1 ms here

        zi_bench_floor stage IN OUT ITERATIONS BYTES
            binds a PULL on IN, connects a PUSH to OUT; per message: spins
            ITERATIONS, sends BYTES on (zero-copy, one buffer kept; at
            least one, as an empty message means stop); exits on an empty
            message, or once the process that started it has gone. A
            stage may wait for its turn as long as it takes: a benchmark
            starts its chains before all its rounds, and a chain used last
            in a round of a slow model sat idle for minutes

        zi_bench_floor client FIRST LAST ITERATIONS RUNS
            connects a PUSH to FIRST, binds a PULL on LAST; per run: spins
            ITERATIONS locally, then sends 64 bytes (a shared-memory
            reference's worth) down the chain and waits for the answer.
            Prints `local_ms`, `remote_ms` and `ratio` (medians of the
            runs). The stages keep running: whoever started them stops
            them, with a signal or an empty message

        zi_bench_floor pipeline FIRST LAST ITERATIONS REQUESTS INFLIGHT
            the same chain kept INFLIGHT requests busy: in each of five
            rounds, a fifth of REQUESTS spun locally one after another,
            then through the chain. Prints `local_rate` and `remote_rate`
            (requests/s over all rounds) and `speedup` (the median of the
            rounds' remote over local rates): how much a pipeline of these
            stages can gain here from the cores the machine gives it

    bench/split-latency runs it next to each split it measures,
    bench/pipeline-throughput as a pipeline next to each.
    =========================================================================
*/

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>
#include <unistd.h>
#include <zmq.h>

#define S_WARM_UP 5                 //  runs not counted
#define S_PARENT_MSECS 1000         //  how often an idle stage checks its parent
#define S_CLIENT_MSECS 60000        //  a chain silent this long has failed
#define S_REQUEST_BYTES 64

static double
s_now_msecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

//  Multiply-adds in twelve independent 8-wide chains: enough to keep both
//  of a core's FMA pipes full, as a convolution's inner loop does, so two
//  of these share a core's arithmetic the way two kernels would. They
//  touch no memory. The result goes to a volatile so the loop is kept
static volatile float s_sink;

__attribute__ ((target ("avx2,fma")))
static void
s_spin (int64_t iterations)
{
    enum { CHAINS = 12 };
    __m256 chain [CHAINS];
    for (int index = 0; index < CHAINS; index++)
        chain [index] = _mm256_set1_ps (1.0f + index);
    const __m256 scale = _mm256_set1_ps (0.9999999f), step = _mm256_set1_ps (1e-7f);
    for (int64_t iteration = 0; iteration < iterations; iteration++)
        for (int index = 0; index < CHAINS; index++)
            chain [index] = _mm256_fmadd_ps (chain [index], scale, step);
    float total = 0, lanes [8];
    for (int index = 0; index < CHAINS; index++) {
        _mm256_storeu_ps (lanes, chain [index]);
        for (int lane = 0; lane < 8; lane++)
            total += lanes [lane];
    }
    s_sink = total;
}

static int
s_compare_doubles (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

static double
s_median (double *values, int count)
{
    qsort (values, count, sizeof (double), s_compare_doubles);
    return count % 2? values [count / 2]: (values [count / 2 - 1] + values [count / 2]) / 2;
}

static int
s_calibrate (void)
{
    double rates [7];
    int64_t iterations = 1000000;
    s_spin (iterations);
    for (int round = 0; round < 7; round++) {
        double start = s_now_msecs ();
        s_spin (iterations);
        rates [round] = iterations / (s_now_msecs () - start);
    }
    printf ("iterations_per_ms: %.0f\n", s_median (rates, 7));
    return 0;
}

static void
s_keep (void *data, void *hint)
{
    (void) data;
    (void) hint;
}

static void *
s_socket (void *context, int type)
{
    void *socket = zmq_socket (context, type);
    int linger = 0, unlimited = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (socket, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
    return socket;
}

//  A PULL bound on in, giving up after timeout_msecs of silence, and a
//  PUSH connected to out; 0, or -1 with the reason printed (and nothing
//  left open, or zmq_ctx_term would wait for it)
static int
s_link (void *context, const char *role, const char *in, const char *out, int timeout_msecs,
        void **input, void **output)
{
    *input = s_socket (context, ZMQ_PULL);
    *output = s_socket (context, ZMQ_PUSH);
    zmq_setsockopt (*input, ZMQ_RCVTIMEO, &timeout_msecs, sizeof timeout_msecs);
    if (zmq_bind (*input, in) == 0 && zmq_connect (*output, out) == 0)
        return 0;
    fprintf (stderr, "zi_bench_floor: %s: from %s to %s: %s\n", role, in, out,
             zmq_strerror (zmq_errno ()));
    zmq_close (*input);
    zmq_close (*output);
    return -1;
}

static int
s_stage (void *context, const char *in, const char *out, int64_t iterations, size_t bytes)
{
    void *input, *output;
    //  No limit on silence: a stage used last in a benchmark's round waits
    //  for the whole round. It stops when its parent goes instead, so a
    //  benchmark that dies leaves no stage behind
    pid_t parent = getppid ();
    if (s_link (context, "stage", in, out, S_PARENT_MSECS, &input, &output))
        return 1;
    if (bytes == 0)
        bytes = 1;
    char *buffer = calloc (1, bytes);
    assert (buffer);
    while (true) {
        zmq_msg_t message;
        zmq_msg_init (&message);
        int size = zmq_msg_recv (&message, input, 0);
        bool silent = size < 0 && zmq_errno () == EAGAIN;
        zmq_msg_close (&message);
        if (silent && getppid () == parent)
            continue;
        if (size <= 0)
            break;
        s_spin (iterations);
        zmq_msg_t result;
        zmq_msg_init_data (&result, buffer, bytes, s_keep, NULL);
        zmq_msg_send (&result, output, 0);
    }
    zmq_close (input);
    zmq_close (output);
    free (buffer);
    return 0;
}

static int
s_client (void *context, const char *first, const char *last, int64_t iterations, int runs)
{
    void *input, *output;
    if (s_link (context, "client", last, first, S_CLIENT_MSECS, &input, &output))
        return 1;
    double *local = calloc (runs, sizeof (double));
    double *remote = calloc (runs, sizeof (double));
    double *ratio = calloc (runs, sizeof (double));
    assert (local && remote && ratio);
    char request [S_REQUEST_BYTES] = "";
    int rc = 0;
    for (int run = -S_WARM_UP; run < runs && rc == 0; run++) {
        double start = s_now_msecs ();
        s_spin (iterations);
        double local_msecs = s_now_msecs () - start;
        start = s_now_msecs ();
        zmq_send (output, request, sizeof request, 0);
        zmq_msg_t answer;
        zmq_msg_init (&answer);
        if (zmq_msg_recv (&answer, input, 0) < 0) {
            fprintf (stderr, "zi_bench_floor: no answer from the chain in %d s\n",
                     S_CLIENT_MSECS / 1000);
            rc = 1;
        }
        zmq_msg_close (&answer);
        double remote_msecs = s_now_msecs () - start;
        if (run >= 0) {
            local [run] = local_msecs;
            remote [run] = remote_msecs;
            ratio [run] = remote_msecs / local_msecs;
        }
    }
    if (rc == 0)
        printf ("local_ms: %.4f\nremote_ms: %.4f\nratio: %.4f\n", s_median (local, runs),
                s_median (remote, runs), s_median (ratio, runs));
    zmq_close (output);
    zmq_close (input);
    free (local);
    free (remote);
    free (ratio);
    return rc;
}

//  Requests through the chain, inflight at a time; the seconds taken, or
//  -1 if the chain went silent
static double
s_pipeline_round (void *output, void *input, int requests, int inflight)
{
    char request [S_REQUEST_BYTES] = "";
    double start = s_now_msecs ();
    int sent = 0;
    for (; sent < inflight && sent < requests; sent++)
        zmq_send (output, request, sizeof request, 0);
    for (int received = 0; received < requests; received++) {
        zmq_msg_t answer;
        zmq_msg_init (&answer);
        int rc = zmq_msg_recv (&answer, input, 0);
        zmq_msg_close (&answer);
        if (rc < 0)
            return -1;
        if (sent < requests) {
            zmq_send (output, request, sizeof request, 0);
            sent++;
        }
    }
    return (s_now_msecs () - start) / 1e3;
}

static int
s_pipeline (void *context, const char *first, const char *last, int64_t iterations,
            int requests, int inflight)
{
    void *input, *output;
    if (s_link (context, "pipeline", last, first, S_CLIENT_MSECS, &input, &output))
        return 1;
    enum { ROUNDS = 5 };
    int per_round = requests / ROUNDS > 0? requests / ROUNDS: 1;
    double speedups [ROUNDS], local_seconds = 0, remote_seconds = 0;
    int rc = s_pipeline_round (output, input, inflight, inflight) < 0;     //  warm-up
    if (rc)
        fprintf (stderr, "zi_bench_floor: no answer from the chain in %d s\n",
                 S_CLIENT_MSECS / 1000);
    for (int round = 0; round < ROUNDS && rc == 0; round++) {
        double start = s_now_msecs ();
        for (int index = 0; index < per_round; index++)
            s_spin (iterations);
        double local = (s_now_msecs () - start) / 1e3;
        double remote = s_pipeline_round (output, input, per_round, inflight);
        if (remote < 0) {
            fprintf (stderr, "zi_bench_floor: no answer from the chain in %d s\n",
                     S_CLIENT_MSECS / 1000);
            rc = 1;
            break;
        }
        speedups [round] = local / remote;
        local_seconds += local;
        remote_seconds += remote;
    }
    if (rc == 0)
        printf ("local_rate: %.2f\nremote_rate: %.2f\nspeedup: %.4f\n",
                per_round * ROUNDS / local_seconds, per_round * ROUNDS / remote_seconds,
                s_median (speedups, ROUNDS));
    zmq_close (output);
    zmq_close (input);
    return rc;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: zi_bench_floor calibrate\n"
                     "       zi_bench_floor stage IN OUT ITERATIONS BYTES\n"
                     "       zi_bench_floor client FIRST LAST ITERATIONS RUNS\n"
                     "       zi_bench_floor pipeline FIRST LAST ITERATIONS REQUESTS INFLIGHT\n");
    return 2;
}

//  A count from the command line between least and most, or -1 with the
//  reason printed
static int64_t
s_count (const char *text, const char *name, int64_t least, int64_t most)
{
    char *end = NULL;
    long long value = strtoll (text, &end, 10);
    if (end != text && *end == 0 && value >= least && value <= most)
        return value;
    fprintf (stderr, "zi_bench_floor: %s expects a whole number from %lld to %lld, got '%s'\n",
             name, (long long) least, (long long) most, text);
    return -1;
}

int
main (int argc, char *argv [])
{
    const char *mode = argc > 1? argv [1]: "";
    if (argc == 2 && strcmp (mode, "calibrate") == 0)
        return s_calibrate ();
    bool pipeline = argc == 7 && strcmp (mode, "pipeline") == 0;
    bool stage = argc == 6 && strcmp (mode, "stage") == 0;
    bool client = argc == 6 && strcmp (mode, "client") == 0;
    if (!pipeline && !stage && !client)
        return s_usage ();
    int64_t iterations = s_count (argv [4], "ITERATIONS", 0, INT64_C (1) << 40);
    //  BYTES for a stage; RUNS or REQUESTS, ints, each with memory of its own
    int64_t count = stage? s_count (argv [5], "BYTES", 0, INT64_C (1) << 36):
                           s_count (argv [5], client? "RUNS": "REQUESTS", 1, 1 << 24);
    int64_t inflight = pipeline? s_count (argv [6], "INFLIGHT", 1, 1 << 16): 1;
    if (iterations < 0 || count < 0 || inflight < 0)
        return 2;
    void *context = zmq_ctx_new ();
    int rc = stage?  s_stage (context, argv [2], argv [3], iterations, (size_t) count):
             client? s_client (context, argv [2], argv [3], iterations, (int) count):
                     s_pipeline (context, argv [2], argv [3], iterations, (int) count,
                                 (int) inflight);
    zmq_ctx_term (context);
    return rc;
}
