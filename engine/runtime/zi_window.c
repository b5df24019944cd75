/*  =========================================================================
    zi_window - the latest latencies of an actor, for percentiles, and a
    histogram of all of them

    An actor's thread adds each request's time; the monitor's thread reads
    the window whenever it is asked. Entries are relaxed atomics: a reader
    may see a value being replaced, never a torn one, and percentiles of
    the last ZI_WINDOW requests need nothing stronger.
    =========================================================================
*/

#include "zi_worker.h"
#include <msgpack.h>

//  From 10 us (a small kernel) to 10 s (a large model on one core), about
//  2.5 times apart: the percentiles read from them are that coarse
const uint32_t zi_histogram_bounds [ZI_HISTOGRAM_BOUNDS] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000, 2500000, 5000000, 10000000
};

//  By a value's bit length, the first bucket whose bound is not below
//  the smallest value of that length. The bounds are at least twice
//  apart, so at most one lies inside a power of two: a value is then at
//  most one bucket on, where a search from the first bucket took up to
//  twenty steps (an actor adds two values on every hop)
static const uint8_t s_first_bucket [33] = {
    0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 16,
    17, 18, 19, 19, 19, 19, 19, 19, 19, 19
};

void
zi_window_add (zi_window_t *self, int64_t usecs)
{
    uint64_t count = ZI_READ (self->count);
    uint32_t value = usecs < 0? 0: usecs > UINT32_MAX? UINT32_MAX: (uint32_t) usecs;
    atomic_store_explicit (&self->usecs [count % ZI_WINDOW], value, memory_order_relaxed);
    //  Most waits on one thread fall in the first bucket: no table then
    int bucket = 0;
    if (value > zi_histogram_bounds [0]) {
        bucket = s_first_bucket [32 - __builtin_clz (value)];
        while (bucket < ZI_HISTOGRAM_BOUNDS && value > zi_histogram_bounds [bucket])
            bucket++;
    }
    ZI_COUNT (self->buckets [bucket], 1);
    ZI_COUNT (self->sum_usecs, value);
    ZI_COUNT (self->count, 1);
}

static int
s_compare_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y? -1: x > y;
}

void
zi_window_percentiles (zi_window_t *self, double *p50, double *p95, double *p99)
{
    uint64_t count = ZI_READ (self->count);
    int size = count < ZI_WINDOW? (int) count: ZI_WINDOW;
    *p50 = *p95 = *p99 = 0;
    if (size == 0)
        return;
    uint32_t values [ZI_WINDOW];
    for (int index = 0; index < size; index++)
        values [index] = atomic_load_explicit (&self->usecs [index], memory_order_relaxed);
    qsort (values, size, sizeof (uint32_t), s_compare_u32);
    *p50 = values [(size - 1) * 50 / 100];
    *p95 = values [(size - 1) * 95 / 100];
    *p99 = values [(size - 1) * 99 / 100];
}

static void
s_pack_key (msgpack_packer *packer, const char *name, const char *suffix)
{
    char key [64];
    int length = snprintf (key, sizeof key, "%s%s", name, suffix);
    msgpack_pack_str (packer, length);
    msgpack_pack_str_body (packer, key, length);
}

void
zi_window_pack (zi_window_t *self, void *packer_, const char *name)
{
    msgpack_packer *packer = packer_;
    double p50, p95, p99;
    zi_window_percentiles (self, &p50, &p95, &p99);
    s_pack_key (packer, name, "_usecs");
    msgpack_pack_array (packer, 3);
    msgpack_pack_double (packer, p50);
    msgpack_pack_double (packer, p95);
    msgpack_pack_double (packer, p99);
    s_pack_key (packer, name, "_histogram");
    msgpack_pack_array (packer, 2);
    msgpack_pack_uint64 (packer, ZI_READ (self->sum_usecs));
    msgpack_pack_array (packer, ZI_HISTOGRAM_BOUNDS + 1);
    for (int bucket = 0; bucket <= ZI_HISTOGRAM_BOUNDS; bucket++)
        msgpack_pack_uint64 (packer, ZI_READ (self->buckets [bucket]));
}
