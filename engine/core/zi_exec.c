/*  =========================================================================
    zi_exec - per-thread execution context

    Kernels that need temporary memory (im2col columns, packed tiles) take
    it from here. Buffers grow to the largest request and are then reused,
    so after the first request nothing is allocated on the hot path.

    An exec also says how many threads its kernels may use, and runs the
    parts of a kernel on them (zi_exec_parallel): depthwise convolution,
    im2col, the Winograd transforms and products, the packed products,
    pooling, and the sgemm calls too, cut into blocks (zi_sgemm), with
    OpenBLAS itself single-threaded. One pool for everything: OpenBLAS's
    own threads spin after each call, and on two cores took the CPU from
    the helpers of the kernels between calls (resnet50 at two threads ran
    10 % faster once they were gone). Each thread has its own scratch, so
    the parts of one kernel never share a buffer they write.

    The helper threads belong to the exec: started at its first parallel
    loop, stopped when it is destroyed. Two execs (two worker threads of
    one process) never share helpers, so neither can wait on the other's
    work. Why not OpenMP: libgomp's idle threads spin at full speed for a
    while after each parallel region (OMP_WAIT_POLICY, read only from the
    environment at load), and on two cores they took the CPU from
    OpenBLAS's threads in the sgemm calls between regions:
    mobilenet_v3_small went from 3.3 ms to 9-90 ms at two threads, and
    with OMP_WAIT_POLICY=passive every region paid a futex wake-up. Here
    an idle helper spins briefly, yielding the CPU on each turn, then
    sleeps on a condition variable.
    =========================================================================
*/

#define _GNU_SOURCE             //  sched_getcpu, CPU_SET
#include "zi_classes.h"
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define ZI_EXEC_SLOTS 4

//  More threads than this are not used, whatever is asked
#define ZI_EXEC_MAX_THREADS 64

typedef struct {
    void *scratch [ZI_EXEC_SLOTS];      //  reusable buffers
    size_t size [ZI_EXEC_SLOTS];        //  their sizes in bytes
} s_scratch_t;

typedef struct s_pool_t s_pool_t;

struct zi_exec_t {
    int threads;                        //  threads its kernels may use
    s_scratch_t *scratch;               //  per thread: its buffers
    s_pool_t *pool;                     //  threads - 1 helpers, or NULL
    zi_exec_stats_t stats;              //  its shared loops so far
};

static void
    s_pool_destroy (s_pool_t **self_p);

//  Threads of the execs made from now on, set once per process before
//  its threads start (zi_worker: the process's blas_threads)
static atomic_int s_default_threads = 1;

void
zi_exec_default_threads (int threads)
{
    atomic_store (&s_default_threads, threads < 1? 1: threads);
}

//  Below about this many multiply-adds a part is not worth a thread's
//  wake-up (a few microseconds)
#define S_PART_MACS (64 * 1024)

int64_t
zi_exec_unit (int64_t macs_per_item)
{
    return macs_per_item >= S_PART_MACS? 1: S_PART_MACS / (macs_per_item > 0? macs_per_item: 1);
}

//  OpenBLAS's own threads: their count as the process started, and the
//  threads themselves, stopped once (see zi_exec_blas_single)
static atomic_int s_blas_default = 0;
static pthread_once_t s_blas_once = PTHREAD_ONCE_INIT;

//  Exported by OpenBLAS's threaded builds but not declared in cblas.h;
//  weak, so a build without a thread server links and skips the call
extern int blas_thread_shutdown_ (void) __attribute__ ((weak));

static void
s_blas_single (void)
{
    int threads = openblas_get_num_threads ();
    atomic_store (&s_blas_default, threads < 1? 1: threads);
    openblas_set_num_threads (1);
    //  OpenBLAS starts its server threads as the library loads, and each
    //  spins on sched_yield for about 0.1 s before it sleeps: in every
    //  client, `zinfer run` and launcher, a thread that never gets work
    //  took a core for its first tenth of a second. On two cores that was
    //  the core the worker answering the client needed. Stopped, they are
    //  not restarted: single-threaded calls never use them (but another
    //  openblas_set_num_threads call would start them again, so this is
    //  the only place that makes one)
    if (blas_thread_shutdown_)
        blas_thread_shutdown_ ();
}

void
zi_exec_blas_single (void)
{
    pthread_once (&s_blas_once, s_blas_single);
}

int
zi_exec_blas_default (void)
{
    zi_exec_blas_single ();
    return atomic_load (&s_blas_default);
}

zi_exec_t *
zi_exec_new (void)
{
    zi_exec_t *self = calloc (1, sizeof (zi_exec_t));
    assert (self);
    self->scratch = calloc (ZI_EXEC_MAX_THREADS, sizeof (s_scratch_t));
    assert (self->scratch);
    zi_exec_set_threads (self, atomic_load (&s_default_threads));
    return self;
}

void
zi_exec_destroy (zi_exec_t **self_p)
{
    assert (self_p);
    zi_exec_t *self = *self_p;
    if (!self)
        return;
    for (int thread = 0; thread < ZI_EXEC_MAX_THREADS; thread++)
        for (int slot = 0; slot < ZI_EXEC_SLOTS; slot++)
            zi_free (self->scratch [thread].scratch [slot]);
    s_pool_destroy (&self->pool);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

void
zi_exec_set_threads (zi_exec_t *self, int threads)
{
    assert (self);
    self->threads = threads < 1? 1: threads > ZI_EXEC_MAX_THREADS? ZI_EXEC_MAX_THREADS: threads;
}

int
zi_exec_threads (const zi_exec_t *self)
{
    assert (self);
    return self->threads;
}

void *
zi_exec_scratch_of (zi_exec_t *self, int thread, int slot, size_t size)
{
    assert (self);
    assert (thread >= 0 && thread < self->threads);
    assert (slot >= 0 && slot < ZI_EXEC_SLOTS);
    s_scratch_t *mine = &self->scratch [thread];
    if (size > mine->size [slot]) {
        zi_free (mine->scratch [slot]);
        mine->scratch [slot] = zi_alloc (size);
        mine->size [slot] = mine->scratch [slot]? size: 0;
        if (!mine->scratch [slot])
            zi_error ("out of memory for %zu bytes of scratch", size);
    }
    return mine->scratch [slot];
}

void *
zi_exec_scratch (zi_exec_t *self, int slot, size_t size)
{
    return zi_exec_scratch_of (self, 0, slot, size);
}


//  --------------------------------------------------------------------------
//  Parallel loops
//
//  A loop is cut into parts that the calling thread and the helpers take
//  one at a time. Taking a part is one compare-and-swap on a ticket that
//  holds the loop's generation, its units of work and threads, and the
//  next unit; the caller then waits only for the parts a helper has
//  actually taken. A helper that the scheduler keeps off the CPU (the
//  machine is shared) thus never holds a loop up: the caller does its
//  parts, and the helper, when it runs, finds the ticket spent or moved on
//  to a later loop.
//
//  Parts shrink as the loop goes on: each is the units left divided by
//  threads + 1 (guided scheduling). The first parts are large, so a
//  kernel is called few times (each call of a product reads its weights
//  again); the last are one unit, so the threads finish within a unit of
//  each other. Equal parts, four a thread, left a thread idle for half a
//  part at the end of every loop on average, 5-6 % of resnet18's time
//  at two threads. Where a part starts depends only on the units taken
//  before it, never on which thread takes it, and each item is computed
//  as it would be alone, so the bits do not depend on the schedule.

//  How long an idle helper spins, yielding the CPU on each turn, before it
//  sleeps: long enough to span the serial ops between two parallel loops
//  of one request, short enough not to hold a core between requests
#define S_SPIN_USECS 200
//  For the first part of that spin it keeps its CPU (pause, no yield):
//  on a shared machine a yield hands the core to any other runnable task
//  for a whole time slice, and the next loop, tens of microseconds of work
//  at AVX-512, was over before the helper ran again (see
//  docs/performance.md, "Whether the helpers take part")
#define S_HOLD_USECS 50

//  The ticket: generation (24 bits), threads (8), units (16), next unit (16)
#define S_TICKET(generation, threads, units, next) \
    ((uint64_t) (generation) << 40 | (uint64_t) (threads) << 32 \
   | (uint64_t) (units) << 16 | (uint64_t) (next))
#define S_TICKET_THREADS(ticket) ((int) ((ticket) >> 32 & 0xff))
#define S_TICKET_UNITS(ticket) ((int64_t) ((ticket) >> 16 & 0xffff))
#define S_TICKET_NEXT(ticket) ((int64_t) ((ticket) & 0xffff))
#define S_TICKET_MAX_UNITS 0xffff

typedef struct {
    struct s_pool_t *pool;      //  the pool it belongs to
    int thread;                 //  its index, 1 .. threads - 1
    int creator_cpu;            //  the CPU its creator ran on, or -1
    pthread_t handle;           //  its thread
} s_helper_t;

struct s_pool_t {
    int n_helpers;              //  helper threads
    s_helper_t *helpers;        //  them
    //  The current loop, written before its ticket is published and read
    //  only by a thread holding one of its parts
    zi_exec_fn_t *fn;           //  the kernel's part
    void *args;                 //  its arguments
    int64_t count;              //  work items
    int64_t unit;               //  items per unit of work
    unsigned generation;        //  loops run so far (the caller's count)
    atomic_uint_least64_t ticket;   //  the current loop's parts, see above
    atomic_llong done;          //  units of the current loop finished
    atomic_llong helped;        //  of those, units a helper did
    atomic_uint wakes;          //  bumped for each loop, and to stop
    atomic_int sleepers;        //  helpers waiting on the condition variable
    atomic_bool stopping;       //  helpers should leave
    pthread_mutex_t mutex;      //  for the condition variable
    pthread_cond_t wake;        //  signalled when wakes moves
};

//  Takes parts of the current loop until none are left for this thread
static void
s_pool_work (s_pool_t *pool, int thread)
{
    uint64_t ticket = atomic_load (&pool->ticket);
    while (thread < S_TICKET_THREADS (ticket)
    &&     S_TICKET_NEXT (ticket) < S_TICKET_UNITS (ticket)) {
        int64_t next = S_TICKET_NEXT (ticket);
        int64_t left = S_TICKET_UNITS (ticket) - next;
        int64_t units = (left + S_TICKET_THREADS (ticket)) / (S_TICKET_THREADS (ticket) + 1);
        if (!atomic_compare_exchange_weak (&pool->ticket, &ticket, ticket + units))
            continue;           //  ticket now holds what another thread left
        int64_t first = next * pool->unit;
        int64_t last = (next + units) * pool->unit;
        pool->fn (pool->args, first, last < pool->count? last: pool->count, thread);
        //  Before done, so the caller sees it once the loop is over
        if (thread > 0)
            atomic_fetch_add (&pool->helped, units);
        atomic_fetch_add (&pool->done, units);
        ticket = atomic_load (&pool->ticket);
    }
}

//  A short wait on the CPU, without handing it to another task
static inline void
s_pause (void)
{
#if defined (__x86_64__) || defined (__i386__)
    for (int spin = 0; spin < 8; spin++)
        __builtin_ia32_pause ();
#elif defined (__aarch64__)
    __asm__ volatile ("yield");
#endif
}

//  Waits until wakes is no longer seen: spinning, then asleep
static unsigned
s_helper_wait (s_pool_t *pool, unsigned seen)
{
    int64_t deadline = 0, hold = 0;
    bool holding = true;
    for (int turn = 0; ; turn++) {
        unsigned now = atomic_load (&pool->wakes);
        if (now != seen)
            return now;
        if (turn % 64 == 0) {
            int64_t clock = zi_clock_usecs ();
            if (!deadline) {
                deadline = clock + S_SPIN_USECS;
                hold = clock + S_HOLD_USECS;
            }
            else
            if (clock > deadline)
                break;
            holding = clock <= hold;
        }
        if (holding)
            s_pause ();
        else
            sched_yield ();
    }
    //  Counted as a sleeper before the last look at wakes: a caller that
    //  moves it after that look sees the count and signals
    pthread_mutex_lock (&pool->mutex);
    atomic_fetch_add (&pool->sleepers, 1);
    unsigned now;
    while ((now = atomic_load (&pool->wakes)) == seen)
        pthread_cond_wait (&pool->wake, &pool->mutex);
    atomic_fetch_sub (&pool->sleepers, 1);
    pthread_mutex_unlock (&pool->mutex);
    return now;
}

//  A new thread starts on its creator's CPU, and Linux may take 50 to
//  100 ms to move it (measured here: a 0.45 ms model at two threads ran no
//  faster than at one for its first hundred runs). So a helper that finds
//  itself there steps once onto another CPU it may use, then lets the
//  scheduler place it freely again; it stays put until there is a reason
//  to move. Nothing is pinned.
static void
s_helper_place (const s_helper_t *self)
{
    cpu_set_t allowed;
    if (self->creator_cpu < 0 || sched_getcpu () != self->creator_cpu
    ||  sched_getaffinity (0, sizeof allowed, &allowed))
        return;
    int cpus = CPU_COUNT (&allowed);
    if (cpus < 2)
        return;
    //  Helper i goes i CPUs on from its creator, among the allowed ones
    int skip = self->thread % cpus, chosen = -1;
    for (int cpu = self->creator_cpu + 1; chosen < 0; cpu++) {
        int at = cpu % CPU_SETSIZE;
        if (CPU_ISSET (at, &allowed) && --skip <= 0)
            chosen = at;
    }
    cpu_set_t one;
    CPU_ZERO (&one);
    CPU_SET (chosen, &one);
    if (sched_setaffinity (0, sizeof one, &one) == 0)
        sched_setaffinity (0, sizeof allowed, &allowed);
}

static void *
s_helper_main (void *args)
{
    s_helper_t *self = args;
    s_pool_t *pool = self->pool;
    s_helper_place (self);
    unsigned seen = 0;
    while (true) {
        seen = s_helper_wait (pool, seen);
        if (atomic_load (&pool->stopping))
            break;
        s_pool_work (pool, self->thread);
    }
    return NULL;
}

//  Moves wakes on and wakes the helpers that sleep
static void
s_pool_kick (s_pool_t *self)
{
    atomic_fetch_add (&self->wakes, 1);
    if (atomic_load (&self->sleepers) > 0) {
        pthread_mutex_lock (&self->mutex);
        pthread_cond_broadcast (&self->wake);
        pthread_mutex_unlock (&self->mutex);
    }
}

//  threads - 1 helpers; NULL if not even one could start
static s_pool_t *
s_pool_new (int threads)
{
    s_pool_t *self = calloc (1, sizeof (s_pool_t));
    assert (self);
    self->helpers = calloc (threads, sizeof (s_helper_t));
    assert (self->helpers);
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->wake, NULL);
    int creator_cpu = sched_getcpu ();
    for (int thread = 1; thread < threads; thread++) {
        s_helper_t *helper = &self->helpers [self->n_helpers];
        helper->pool = self;
        helper->thread = thread;
        helper->creator_cpu = creator_cpu;
        if (pthread_create (&helper->handle, NULL, s_helper_main, helper))
            break;              //  fewer helpers: the loops still complete
        self->n_helpers++;
    }
    if (self->n_helpers == 0)
        s_pool_destroy (&self);
    return self;
}

static void
s_pool_destroy (s_pool_t **self_p)
{
    s_pool_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stopping, true);
    s_pool_kick (self);
    for (int index = 0; index < self->n_helpers; index++)
        pthread_join (self->helpers [index].handle, NULL);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->wake);
    free (self->helpers);
    free (self);
    *self_p = NULL;
}

void
zi_exec_parallel (zi_exec_t *self, int64_t count, int64_t unit, zi_exec_fn_t *fn, void *args)
{
    assert (self && fn && unit > 0);
    if (count <= 0)
        return;
    int64_t units = (count + unit - 1) / unit;
    int threads = self->threads < units? self->threads: (int) units;
    if (threads > 1 && (!self->pool || self->pool->n_helpers + 1 != self->threads)) {
        s_pool_destroy (&self->pool);
        self->pool = s_pool_new (self->threads);
    }
    if (threads <= 1 || !self->pool) {
        fn (args, 0, count, 0);         //  the one-thread path: one call, no split
        return;
    }
    if (units > S_TICKET_MAX_UNITS) {
        //  Larger units, still whole multiples of the kernel's
        unit *= (units + S_TICKET_MAX_UNITS - 1) / S_TICKET_MAX_UNITS;
        units = (count + unit - 1) / unit;
    }
    s_pool_t *pool = self->pool;
    pool->fn = fn;
    pool->args = args;
    pool->count = count;
    pool->unit = unit;
    pool->generation = (pool->generation + 1) & 0xffffff;
    atomic_store (&pool->done, 0);
    atomic_store (&pool->helped, 0);
    atomic_store (&pool->ticket, S_TICKET (pool->generation, threads, units, 0));
    s_pool_kick (pool);
    s_pool_work (pool, 0);
    //  Only parts a helper has taken can still be running: they are
    //  waited for on the CPU at first (a yield could hand it to another
    //  task for a whole time slice), then yielding it, in case the helper
    //  was preempted and waits for this CPU
    if (atomic_load (&pool->done) < units) {
        int64_t waited = zi_clock_usecs ();
        int64_t hold = waited + S_HOLD_USECS;
        for (int turn = 1; atomic_load (&pool->done) < units; turn++) {
            if (turn % 64 == 0 && zi_clock_usecs () > hold)
                break;
            s_pause ();
        }
        while (atomic_load (&pool->done) < units)
            sched_yield ();
        self->stats.wait_usecs += zi_clock_usecs () - waited;
    }
    int64_t helped = atomic_load (&pool->helped);
    self->stats.loops++;
    self->stats.joined += helped > 0;
    self->stats.units += units;
    self->stats.helper_units += helped;
}

void
zi_exec_stats (const zi_exec_t *self, zi_exec_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
}

void
zi_exec_stats_reset (zi_exec_t *self)
{
    assert (self);
    memset (&self->stats, 0, sizeof self->stats);
}


//  --------------------------------------------------------------------------
//  Self test: every item of a loop done exactly once, by parts that start
//  on whole units, at one to three threads, and with more units than a
//  ticket can count (the units then grow, still whole multiples)

typedef struct {
    atomic_int *visits;         //  per item: times a part covered it
    int64_t unit;               //  the loop's unit
    int threads;                //  the exec's threads
    atomic_int misplaced;       //  parts that started inside a unit
    atomic_int strangers;       //  parts on a thread index out of range
} s_test_loop_t;

static void
s_test_part (void *args, int64_t first, int64_t last, int thread)
{
    s_test_loop_t *loop = args;
    if (first % loop->unit)
        atomic_fetch_add (&loop->misplaced, 1);
    if (thread < 0 || thread >= loop->threads)
        atomic_fetch_add (&loop->strangers, 1);
    for (int64_t item = first; item < last; item++)
        atomic_fetch_add (&loop->visits [item], 1);
}

//  A loop of two units whose caller's part waits (up to 5 s) until a
//  helper has done one: the stats must then count one shared loop that a
//  helper joined, and the helper's unit
typedef struct {
    atomic_bool helped;         //  a helper's part has run
    atomic_int parts;           //  parts run
} s_test_meet_t;

static void
s_test_meet_part (void *args, int64_t first, int64_t last, int thread)
{
    s_test_meet_t *meet = args;
    atomic_fetch_add (&meet->parts, 1);
    if (thread > 0)
        atomic_store (&meet->helped, true);
    else {
        int64_t deadline = zi_clock_usecs () + 5000000;
        while (!atomic_load (&meet->helped) && zi_clock_usecs () < deadline)
            sched_yield ();
    }
}

static void
s_test_stats (zi_test_t *t)
{
    zi_exec_t *exec = zi_exec_new ();
    zi_exec_stats_t stats;
    //  One thread: nothing is shared, so nothing is counted (and no
    //  helper to wait for)
    s_test_meet_t meet = {.helped = true};
    zi_exec_parallel (exec, 2, 1, s_test_meet_part, &meet);
    zi_exec_stats (exec, &stats);
    ZI_CHECK (t, stats.loops == 0 && stats.units == 0,
              "1 thread: %lld loops and %lld units counted as shared",
              (long long) stats.loops, (long long) stats.units);
    zi_exec_set_threads (exec, 2);
    atomic_store (&meet.parts, 0);
    atomic_store (&meet.helped, false);
    zi_exec_parallel (exec, 2, 1, s_test_meet_part, &meet);
    zi_exec_stats (exec, &stats);
    ZI_CHECK (t, atomic_load (&meet.parts) == 2 && stats.loops == 1 && stats.joined == 1
              && stats.units == 2 && stats.helper_units == 1,
              "2 threads, a loop a helper must join: %d parts, stats %lld loops, %lld "
              "joined, %lld units, %lld by helpers (want 2, 1, 1, 2, 1)",
              atomic_load (&meet.parts), (long long) stats.loops, (long long) stats.joined,
              (long long) stats.units, (long long) stats.helper_units);
    zi_exec_stats_reset (exec);
    zi_exec_stats (exec, &stats);
    ZI_CHECK (t, stats.loops == 0 && stats.joined == 0 && stats.units == 0
              && stats.helper_units == 0 && stats.wait_usecs == 0,
              "stats not zero after a reset");
    zi_exec_destroy (&exec);
}

void
zi_exec_test (zi_test_t *t)
{
    s_test_stats (t);
    static const int64_t shapes [][2] = {
        {1, 1}, {7, 1}, {11, 1}, {13, 4}, {100, 7}, {4096, 48}, {200000, 1}, {300001, 3}
    };
    zi_exec_t *exec = zi_exec_new ();
    for (int threads = 1; threads <= 3; threads++) {
        zi_exec_set_threads (exec, threads);
        for (size_t shape = 0; shape < sizeof shapes / sizeof shapes [0]; shape++) {
            int64_t count = shapes [shape][0], unit = shapes [shape][1];
            s_test_loop_t loop = {.visits = calloc (count, sizeof (atomic_int)), .unit = unit,
                                  .threads = threads};
            assert (loop.visits);
            //  Twice on one exec: the second loop must not see the first's ticket
            for (int round = 0; round < 2; round++)
                zi_exec_parallel (exec, count, unit, s_test_part, &loop);
            int64_t wrong = 0;
            for (int64_t item = 0; item < count; item++)
                wrong += atomic_load (&loop.visits [item]) != 2;
            ZI_CHECK (t, wrong == 0, "%d threads, %lld items in units of %lld: %lld items "
                      "not done exactly once per loop", threads, (long long) count,
                      (long long) unit, (long long) wrong);
            ZI_CHECK (t, atomic_load (&loop.misplaced) == 0 && atomic_load (&loop.strangers) == 0,
                      "%d threads, %lld items: %d parts inside a unit, %d on no thread",
                      threads, (long long) count, atomic_load (&loop.misplaced),
                      atomic_load (&loop.strangers));
            free (loop.visits);
        }
    }
    zi_exec_destroy (&exec);
}
