/*  =========================================================================
    zi_bench_floor.h - what the floor's programs share: the arithmetic a
    stage spins on, the request that names the client's input block, and
    the block itself (zi_bench_floor.c, zi_bench_twins.c)
    =========================================================================
*/

#ifndef ZI_BENCH_FLOOR_H_INCLUDED
#define ZI_BENCH_FLOOR_H_INCLUDED

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_REQUEST_BYTES 64
#define S_NAME_BYTES 48             //  a block's name, within the request

//  What a request carries: the name of the client's block with the input
//  in it, or an empty name when the chain copies nothing
typedef struct {
    char name [S_NAME_BYTES];       //  POSIX shared-memory name, "/..."
    uint64_t size;                  //  bytes of input in it
    char unused [S_REQUEST_BYTES - S_NAME_BYTES - sizeof (uint64_t)];
} s_request_t;

_Static_assert (sizeof (s_request_t) == S_REQUEST_BYTES, "a request is 64 bytes");

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
//  touch no memory. The result goes to a volatile so the loop is kept (one
//  a thread: the cores probe spins on several at once)
static _Thread_local volatile float s_sink;

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

//  The client's side of the input: a block of size bytes, filled once
//  and named in every request; 0, or -1 with the reason printed
static int
s_block_new (size_t size, s_request_t *request, void **map)
{
    memset (request, 0, sizeof *request);
    *map = NULL;
    if (size == 0)
        return 0;
    snprintf (request->name, sizeof request->name, "/zi-bench-floor-%d", (int) getpid ());
    request->size = size;
    shm_unlink (request->name);         //  left by an earlier process of this pid
    int fd = shm_open (request->name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0 && ftruncate (fd, (off_t) size) == 0)
        *map = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd < 0 || *map == MAP_FAILED) {
        fprintf (stderr, "zi_bench_floor: shared memory %s of %zu bytes: %s\n", request->name,
                 size, strerror (errno));
        if (fd >= 0) {
            close (fd);
            shm_unlink (request->name);
        }
        *map = NULL;
        return -1;
    }
    close (fd);
    float *values = *map;
    for (size_t index = 0; index < size / sizeof (float); index++)
        values [index] = (float) (index % 251) / 251.0f;
    return 0;
}

static void
s_block_destroy (s_request_t *request, void *map)
{
    if (map) {
        munmap (map, request->size);
        shm_unlink (request->name);
    }
}

#endif
