/*  =========================================================================
    zi_clock - the monotonic clock every part of the engine times itself by

    Sessions, actors, the gateway, clients and the launcher all measure
    durations and deadlines in microseconds of CLOCK_MONOTONIC, which no
    change of the wall clock moves.
    =========================================================================
*/

#include "zi_classes.h"
#include <time.h>

int64_t
zi_clock_usecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

int64_t
zi_clock_nsecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}
