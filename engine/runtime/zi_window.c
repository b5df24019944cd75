/*  =========================================================================
    zi_window - the latest latencies of an actor, for percentiles

    An actor's thread adds each request's time; the monitor's thread reads
    the window whenever it is asked. Entries are relaxed atomics: a reader
    may see a value being replaced, never a torn one, and percentiles of
    the last ZI_WINDOW requests need nothing stronger.
    =========================================================================
*/

#include "zi_worker.h"

void
zi_window_add (zi_window_t *self, int64_t usecs)
{
    uint64_t count = ZI_READ (self->count);
    uint32_t value = usecs < 0? 0: usecs > UINT32_MAX? UINT32_MAX: (uint32_t) usecs;
    atomic_store_explicit (&self->usecs [count % ZI_WINDOW], value, memory_order_relaxed);
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
