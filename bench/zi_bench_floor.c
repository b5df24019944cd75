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

        zi_bench_floor cores
            the arithmetic's rate (iterations per ms) on each CPU this
            process may run on, pinned there, alone and with all of them
            at once, and the rate it reads memory at (GB/s, a 64 MB block
            read over and over) likewise: `cpu N: alone A together B
            memory_gbs alone C together D`; then the round trip of
            a cache line between the first two, `round trip cpu N cpu M:
            T ns`. The vCPUs of a shared machine are not always equal or
            independent: for minutes at a time one can run at 0.6 of the
            other, or at 0.6 only while both run (two vCPUs on one core),
            and a line's round trip moves between 0.4 and 1.5 us. That
            decides what a second thread gains more than any kernel does,
            so the benchmarks print it before and after their runs

        zi_bench_floor stage IN OUT ITERATIONS BYTES [INPUT [BACK_IN BACK_OUT]]
            binds a PULL on IN, connects a PUSH to OUT; per message: with
            INPUT, copies INPUT bytes out of the client's shared-memory
            block that the message names; spins ITERATIONS, sends BYTES
            on (zero-copy, one buffer kept; at least one, as an empty
            message means stop); exits on an empty message, or once the
            process that started it has gone. A stage may wait for its
            turn as long as it takes: a benchmark starts its chains
            before all its rounds, and a chain used last in a round of a
            slow model sat idle for minutes. With BACK_IN and BACK_OUT
            (the first stage of a chain whose answers come back through
            it, as a split's come back through its gateway's process),
            it also binds a PULL on BACK_IN and passes what comes there
            on to BACK_OUT unchanged, on the same thread

        zi_bench_floor client FIRST LAST ITERATIONS RUNS [INPUT [WARM_UP]]
            connects a PUSH to FIRST, binds a PULL on LAST; per run: spins
            ITERATIONS locally, then sends 64 bytes (a shared-memory
            reference: with INPUT, the name of a block of INPUT bytes
            that the client filled once, as `zinfer infer` places its
            inputs) down the chain and waits for the answer. WARM_UP runs
            first are not counted (default 5; `zinfer infer` leaves out
            one, and a benchmark that sets the two side by side in short
            batches gives 1 so both pay alike for a chain gone idle).
            Prints `run_ms: LOCAL REMOTE` for each run in order, for
            whoever pairs runs one by one, then `local_ms`, `remote_ms`
            and `ratio` (medians of the runs). The stages keep running:
            whoever started them stops them, with a signal or an empty
            message

        zi_bench_floor pipeline FIRST LAST ITERATIONS REQUESTS INFLIGHT [INPUT]
            the same chain kept INFLIGHT requests busy: in each of five
            rounds, a fifth of REQUESTS spun locally one after another,
            then through the chain. Prints `local_rate` and `remote_rate`
            (requests/s over all rounds) and `speedup` (the median of the
            rounds' remote over local rates): how much a pipeline of these
            stages can gain here from the cores the machine gives it

    The copy is the one piece of a real pipeline's intake that no split
    can leave out: the model's first stage must not read memory that its
    client can still change, so the input's bytes are copied out of the
    client's block into the stage's own, as zinfer's gateway does. The
    local run it is paired with reads its input where it is.

    bench/split-latency runs it next to each split it measures,
    bench/pipeline-throughput as a pipeline next to each.
    =========================================================================
*/

#define _GNU_SOURCE              //  sched_setaffinity, for the cores probe
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include "zi_bench_floor.h"

#define S_WARM_UP 5                 //  runs not counted
#define S_PARENT_MSECS 1000         //  how often an idle stage checks its parent
#define S_CLIENT_MSECS 60000        //  a chain silent this long has failed
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

//  A thread started on cpu and kept there: pinned from its start, since
//  one started beside a spinning thread of a real-time priority (chrt)
//  would never run to pin itself; 0, or an error number
static int
s_start_on (pthread_t *thread, int cpu, void *(*fn) (void *), void *args)
{
    cpu_set_t one;
    CPU_ZERO (&one);
    CPU_SET (cpu, &one);
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    int rc = pthread_attr_setaffinity_np (&attr, sizeof one, &one);
    if (rc == 0)
        rc = pthread_create (thread, &attr, fn, args);
    pthread_attr_destroy (&attr);
    return rc;
}

//  A cache line handed between two CPUs and back, each side spinning on
//  it: nanoseconds a round trip, what each hand-over of a shared loop's
//  work pays at least (tens of ns within a shared cache, hundreds across)
#define S_ROUND_TRIPS 20000
typedef struct {
    _Alignas (64) atomic_int turn;
} s_ping_t;

//  The other side, started on its CPU by s_start_on
static void *
s_pong (void *args)
{
    s_ping_t *ping = args;
    for (int trip = 0; trip < S_ROUND_TRIPS; trip++) {
        while (atomic_load_explicit (&ping->turn, memory_order_acquire) != 1)
            ;
        atomic_store_explicit (&ping->turn, 0, memory_order_release);
    }
    return NULL;
}

static double
s_round_trip_nsecs (int here, int there)
{
    static s_ping_t ping;
    atomic_store (&ping.turn, 0);
    cpu_set_t one, before;
    sched_getaffinity (0, sizeof before, &before);
    CPU_ZERO (&one);
    CPU_SET (here, &one);
    pthread_t thread;
    //  Both pinned, or the two would take turns on one CPU a time slice
    //  at a time
    if (sched_setaffinity (0, sizeof one, &one)
    ||  s_start_on (&thread, there, s_pong, &ping)) {
        sched_setaffinity (0, sizeof before, &before);
        return -1;
    }
    double start = s_now_msecs ();
    for (int trip = 0; trip < S_ROUND_TRIPS; trip++) {
        atomic_store_explicit (&ping.turn, 1, memory_order_release);
        while (atomic_load_explicit (&ping.turn, memory_order_acquire) != 0)
            ;
    }
    double elapsed = s_now_msecs () - start;
    pthread_join (thread, NULL);
    sched_setaffinity (0, sizeof before, &before);
    return elapsed * 1e6 / S_ROUND_TRIPS;
}

//  Bytes read through for the memory reading, and the read itself: sums
//  in four chains so that the loads, not the adds, set the pace
#define S_STREAM_BYTES (64 * 1024 * 1024)
__attribute__ ((target ("avx2")))
static float
s_stream (const float *block, size_t floats)
{
    __m256 sums [4] = {_mm256_setzero_ps (), _mm256_setzero_ps (), _mm256_setzero_ps (),
                       _mm256_setzero_ps ()};
    for (size_t at = 0; at + 32 <= floats; at += 32)
        for (int chain = 0; chain < 4; chain++)
            sums [chain] = _mm256_add_ps (sums [chain], _mm256_load_ps (block + at + 8 * chain));
    float lanes [8], total = 0;
    _mm256_storeu_ps (lanes, _mm256_add_ps (_mm256_add_ps (sums [0], sums [1]),
                                            _mm256_add_ps (sums [2], sums [3])));
    for (int lane = 0; lane < 8; lane++)
        total += lanes [lane];
    return total;
}

//  The arithmetic on one CPU, pinned there, for S_CORE_MSECS from the
//  moment every reading of the same kind may start: iterations per ms
#define S_CORE_MSECS 100
typedef struct {
    int cpu;
    pthread_barrier_t *start;       //  the readings taken at once, or NULL
    double rate;                    //  the result, or -1 if not started
    double bandwidth;               //  memory read, GB/s
} s_core_t;

static void *
s_core_rate (void *args)
{
    s_core_t *core = args;          //  started on its CPU by s_start_on
    const int64_t chunk = 100000;       //  about 0.2 ms
    s_spin (chunk);
    if (core->start)
        pthread_barrier_wait (core->start);
    int64_t done = 0;
    double start = s_now_msecs (), now = start;
    while (now - start < S_CORE_MSECS) {
        s_spin (chunk);
        done += chunk;
        now = s_now_msecs ();
    }
    core->rate = done / (now - start);
    //  Then memory: a block well past the caches, read over and over. One
    //  vCPU's memory can be another socket's, and a kernel that streams
    //  (a transform, a pool) then runs slower there than on the other
    size_t floats = S_STREAM_BYTES / sizeof (float);
    float *block = aligned_alloc (64, S_STREAM_BYTES);
    for (size_t at = 0; block && at < floats; at++)
        block [at] = (float) (at & 1023);
    //  At the barrier even without a block, or the others wait forever
    if (core->start)
        pthread_barrier_wait (core->start);
    if (!block)
        return NULL;            //  bandwidth stays -1: reported
    double bytes = 0;
    start = now = s_now_msecs ();
    while (now - start < S_CORE_MSECS) {
        s_sink = s_stream (block, floats);
        bytes += S_STREAM_BYTES;
        now = s_now_msecs ();
    }
    core->bandwidth = bytes / (now - start) / 1e6;
    free (block);
    return NULL;
}

//  Each CPU the process may use, alone and then with all of them at once
//  (a vCPU whose core is shared with another's loses its arithmetic only
//  then), and a cache line's round trip between the first two
static int
s_cores (void)
{
    cpu_set_t allowed;
    if (sched_getaffinity (0, sizeof allowed, &allowed)) {
        fprintf (stderr, "zi_bench_floor: cannot read the CPUs allowed: %s\n", strerror (errno));
        return 1;
    }
    int count = CPU_COUNT (&allowed);
    s_core_t *alone = calloc (count, sizeof (s_core_t));
    s_core_t *together = calloc (count, sizeof (s_core_t));
    pthread_t *threads = calloc (count, sizeof (pthread_t));
    assert (alone && together && threads);
    for (int cpu = 0, index = 0; index < count; cpu++)
        if (CPU_ISSET (cpu, &allowed)) {
            alone [index].cpu = together [index].cpu = cpu;
            //  Until a reading is taken: a thread that could not start
            //  on its CPU leaves these
            alone [index].rate = together [index].rate = -1;
            alone [index].bandwidth = together [index].bandwidth = -1;
            index++;
        }
    //  One at a time, then all at once
    for (int index = 0; index < count; index++)
        if (s_start_on (&threads [0], alone [index].cpu, s_core_rate, &alone [index]) == 0)
            pthread_join (threads [0], NULL);
    pthread_barrier_t start;
    pthread_barrier_init (&start, NULL, (unsigned) count);
    for (int index = 0; index < count; index++) {
        together [index].start = &start;
        if (s_start_on (&threads [index], together [index].cpu, s_core_rate, &together [index])) {
            fprintf (stderr, "zi_bench_floor: cannot start a thread\n");
            exit (1);
        }
    }
    for (int index = 0; index < count; index++)
        pthread_join (threads [index], NULL);
    pthread_barrier_destroy (&start);
    int rc = 0;
    for (int index = 0; index < count; index++) {
        if (alone [index].rate < 0 || together [index].rate < 0
        ||  alone [index].bandwidth < 0 || together [index].bandwidth < 0) {
            fprintf (stderr, "zi_bench_floor: cannot run on cpu %d\n", alone [index].cpu);
            rc = 1;
        }
        else
            printf ("cpu %d: alone %.0f together %.0f memory_gbs alone %.1f together %.1f\n",
                    alone [index].cpu, alone [index].rate, together [index].rate,
                    alone [index].bandwidth, together [index].bandwidth);
    }
    double trip = count > 1 && rc == 0? s_round_trip_nsecs (alone [0].cpu, alone [1].cpu): -1;
    if (trip > 0)
        printf ("round trip cpu %d cpu %d: %.0f ns\n", alone [0].cpu, alone [1].cpu, trip);
    free (alone);
    free (together);
    free (threads);
    return rc;
}

static void
s_keep (void *data, void *hint)
{
    (void) data;
    (void) hint;
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

//  The first stage's side: the client's block, mapped read-only the first
//  time a request names it (each client run makes its own)
typedef struct {
    char name [S_NAME_BYTES];       //  the block mapped, or empty
    const void *map;                //  its bytes
    size_t size;                    //  how many are mapped
} s_mapping_t;

//  Copies the input the request names into copy (input bytes); 0, or -1
//  with the reason printed
static int
s_copy_input (s_mapping_t *mapping, const void *data, size_t size, void *copy, size_t input)
{
    s_request_t request;
    if (size != sizeof request) {
        fprintf (stderr, "zi_bench_floor: stage: a request of %zu bytes, expected %zu\n",
                 size, sizeof request);
        return -1;
    }
    memcpy (&request, data, sizeof request);
    request.name [S_NAME_BYTES - 1] = 0;
    if (request.size != input) {
        fprintf (stderr, "zi_bench_floor: stage: the request names %llu bytes of input, "
                 "expected %zu\n", (unsigned long long) request.size, input);
        return -1;
    }
    if (strcmp (request.name, mapping->name)) {
        if (mapping->map)
            munmap ((void *) mapping->map, mapping->size);
        memset (mapping, 0, sizeof *mapping);
        int fd = shm_open (request.name, O_RDONLY, 0);
        void *map = fd >= 0? mmap (NULL, input, PROT_READ, MAP_SHARED, fd, 0): MAP_FAILED;
        if (fd >= 0)
            close (fd);
        if (map == MAP_FAILED) {
            fprintf (stderr, "zi_bench_floor: stage: shared memory '%s': %s\n", request.name,
                     strerror (errno));
            return -1;
        }
        snprintf (mapping->name, sizeof mapping->name, "%s", request.name);
        mapping->map = map;
        mapping->size = input;
    }
    memcpy (copy, mapping->map, input);
    //  Read back, so that the copy is not optimised away
    s_sink = ((volatile float *) copy) [input / sizeof (float) / 2];
    return 0;
}

//  Waits for a message on socket, meanwhile passing whatever comes on back
//  to answer as it is; 1 once one is there, 0 after timeout_msecs without
static int
s_wait_passing (void *socket, void *back, void *answer, int timeout_msecs)
{
    while (true) {
        zmq_pollitem_t items [] = {{socket, 0, ZMQ_POLLIN, 0}, {back, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, 2, timeout_msecs) <= 0)
            return 0;
        if (items [1].revents & ZMQ_POLLIN) {
            zmq_msg_t message;
            zmq_msg_init (&message);
            if (zmq_msg_recv (&message, back, ZMQ_DONTWAIT) < 0
            ||  zmq_msg_send (&message, answer, 0) < 0)
                zmq_msg_close (&message);
        }
        if (items [0].revents & ZMQ_POLLIN)
            return 1;
    }
}

static int
s_stage (void *context, const char *in, const char *out, int64_t iterations, size_t bytes,
         size_t input, const char *back_in, const char *back_out)
{
    void *socket, *output, *back = NULL, *answer = NULL;
    //  No limit on silence: a stage used last in a benchmark's round waits
    //  for the whole round. It stops when its parent goes instead, so a
    //  benchmark that dies leaves no stage behind
    pid_t parent = getppid ();
    if (s_link (context, "stage", in, out, S_PARENT_MSECS, &socket, &output))
        return 1;
    if (back_in && s_link (context, "stage", back_in, back_out, S_PARENT_MSECS, &back, &answer)) {
        zmq_close (socket);
        zmq_close (output);
        return 1;
    }
    if (bytes == 0)
        bytes = 1;
    char *buffer = calloc (1, bytes);
    //  The input's copy, touched once so that its pages are there
    char *copy = input? calloc (1, input): NULL;
    s_mapping_t mapping = {"", NULL, 0};
    assert (buffer && (copy || !input));
    if (copy)
        memset (copy, 1, input);
    while (true) {
        zmq_msg_t message;
        zmq_msg_init (&message);
        int size = back && !s_wait_passing (socket, back, answer, S_PARENT_MSECS)? -1:
                   zmq_msg_recv (&message, socket, back? ZMQ_DONTWAIT: 0);
        bool silent = size < 0 && (back || zmq_errno () == EAGAIN);
        bool failed = size > 0 && copy && s_copy_input (&mapping, zmq_msg_data (&message),
                                                        (size_t) size, copy, input);
        zmq_msg_close (&message);
        if (silent && getppid () == parent)
            continue;
        if (size <= 0 || failed)
            break;
        s_spin (iterations);
        zmq_msg_t result;
        zmq_msg_init_data (&result, buffer, bytes, s_keep, NULL);
        zmq_msg_send (&result, output, 0);
    }
    zmq_close (socket);
    zmq_close (output);
    if (back) {
        zmq_close (back);
        zmq_close (answer);
    }
    if (mapping.map)
        munmap ((void *) mapping.map, mapping.size);
    free (copy);
    free (buffer);
    return 0;
}

static int
s_client (void *context, const char *first, const char *last, int64_t iterations, int runs,
          size_t input_bytes, int warm_up)
{
    void *input, *output, *block;
    s_request_t request;
    if (s_block_new (input_bytes, &request, &block))
        return 1;
    if (s_link (context, "client", last, first, S_CLIENT_MSECS, &input, &output)) {
        s_block_destroy (&request, block);
        return 1;
    }
    double *local = calloc (runs, sizeof (double));
    double *remote = calloc (runs, sizeof (double));
    double *ratio = calloc (runs, sizeof (double));
    assert (local && remote && ratio);
    int rc = 0;
    for (int run = -warm_up; run < runs && rc == 0; run++) {
        double start = s_now_msecs ();
        s_spin (iterations);
        double local_msecs = s_now_msecs () - start;
        start = s_now_msecs ();
        zmq_send (output, &request, sizeof request, 0);
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
    //  Each run's pair first: the medians below sort the arrays
    for (int run = 0; rc == 0 && run < runs; run++)
        printf ("run_ms: %.4f %.4f\n", local [run], remote [run]);
    if (rc == 0)
        printf ("local_ms: %.4f\nremote_ms: %.4f\nratio: %.4f\n", s_median (local, runs),
                s_median (remote, runs), s_median (ratio, runs));
    zmq_close (output);
    zmq_close (input);
    s_block_destroy (&request, block);
    free (local);
    free (remote);
    free (ratio);
    return rc;
}

//  Requests through the chain, inflight at a time; the seconds taken, or
//  -1 if the chain went silent
static double
s_pipeline_round (void *output, void *input, const s_request_t *request, int requests,
                  int inflight)
{
    double start = s_now_msecs ();
    int sent = 0;
    for (; sent < inflight && sent < requests; sent++)
        zmq_send (output, request, sizeof *request, 0);
    for (int received = 0; received < requests; received++) {
        zmq_msg_t answer;
        zmq_msg_init (&answer);
        int rc = zmq_msg_recv (&answer, input, 0);
        zmq_msg_close (&answer);
        if (rc < 0)
            return -1;
        if (sent < requests) {
            zmq_send (output, request, sizeof *request, 0);
            sent++;
        }
    }
    return (s_now_msecs () - start) / 1e3;
}

static int
s_pipeline (void *context, const char *first, const char *last, int64_t iterations,
            int requests, int inflight, size_t input_bytes)
{
    void *input, *output, *block;
    s_request_t request;
    if (s_block_new (input_bytes, &request, &block))
        return 1;
    if (s_link (context, "pipeline", last, first, S_CLIENT_MSECS, &input, &output)) {
        s_block_destroy (&request, block);
        return 1;
    }
    enum { ROUNDS = 5 };
    int per_round = requests / ROUNDS > 0? requests / ROUNDS: 1;
    double speedups [ROUNDS], local_seconds = 0, remote_seconds = 0;
    int rc = s_pipeline_round (output, input, &request, inflight, inflight) < 0;     //  warm-up
    if (rc)
        fprintf (stderr, "zi_bench_floor: no answer from the chain in %d s\n",
                 S_CLIENT_MSECS / 1000);
    for (int round = 0; round < ROUNDS && rc == 0; round++) {
        double start = s_now_msecs ();
        for (int index = 0; index < per_round; index++)
            s_spin (iterations);
        double local = (s_now_msecs () - start) / 1e3;
        double remote = s_pipeline_round (output, input, &request, per_round, inflight);
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
    s_block_destroy (&request, block);
    return rc;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: zi_bench_floor calibrate\n"
                     "       zi_bench_floor cores\n"
                     "       zi_bench_floor stage IN OUT ITERATIONS BYTES "
                     "[INPUT [BACK_IN BACK_OUT]]\n"
                     "       zi_bench_floor client FIRST LAST ITERATIONS RUNS [INPUT [WARM_UP]]\n"
                     "       zi_bench_floor pipeline FIRST LAST ITERATIONS REQUESTS INFLIGHT "
                     "[INPUT]\n");
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
    if (argc == 2 && strcmp (mode, "cores") == 0)
        return s_cores ();
    bool pipeline = (argc == 7 || argc == 8) && strcmp (mode, "pipeline") == 0;
    bool stage = (argc == 6 || argc == 7 || argc == 9) && strcmp (mode, "stage") == 0;
    bool client = (argc >= 6 && argc <= 8) && strcmp (mode, "client") == 0;
    if (!pipeline && !stage && !client)
        return s_usage ();
    int64_t iterations = s_count (argv [4], "ITERATIONS", 0, INT64_C (1) << 40);
    //  BYTES for a stage; RUNS or REQUESTS, ints, each with memory of its own
    int64_t count = stage? s_count (argv [5], "BYTES", 0, INT64_C (1) << 36):
                           s_count (argv [5], client? "RUNS": "REQUESTS", 1, 1 << 24);
    int64_t inflight = pipeline? s_count (argv [6], "INFLIGHT", 1, 1 << 16): 1;
    //  The input's bytes, last if given: copied by the first stage
    int input_arg = pipeline? 7: 6;
    int64_t input = argc > input_arg? s_count (argv [input_arg], "INPUT", 0, INT64_C (1) << 36): 0;
    int64_t warm_up = client && argc == 8? s_count (argv [7], "WARM_UP", 0, 1000): S_WARM_UP;
    if (iterations < 0 || count < 0 || inflight < 0 || input < 0 || warm_up < 0)
        return 2;
    void *context = zmq_ctx_new ();
    int rc = stage?  s_stage (context, argv [2], argv [3], iterations, (size_t) count,
                              (size_t) input, argc == 9? argv [7]: NULL,
                              argc == 9? argv [8]: NULL):
             client? s_client (context, argv [2], argv [3], iterations, (int) count,
                               (size_t) input, (int) warm_up):
                     s_pipeline (context, argv [2], argv [3], iterations, (int) count,
                                 (int) inflight, (size_t) input);
    zmq_ctx_term (context);
    return rc;
}
