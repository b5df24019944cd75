/*  =========================================================================
    zi_clock.h - the monotonic clock

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_CLOCK_H_INCLUDED
#define ZI_CLOCK_H_INCLUDED

#include "zinfer.h"

//  Monotonic clock in microseconds
int64_t
    zi_clock_usecs (void);
//  The same in nanoseconds, for timing runs of a few microseconds
int64_t
    zi_clock_nsecs (void);

#endif
