/*  =========================================================================
    zi_signals.h - SIGTERM and SIGINT as something a loop waits for

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_SIGNALS_H_INCLUDED
#define ZI_SIGNALS_H_INCLUDED

#include "zinfer.h"

//  SIGTERM and SIGINT (zi_signals.c): install the handler once, then wait
//  up to timeout_msecs (-1: forever) for one; true when one came
int
    zi_signals_install (void);
bool
    zi_signals_wait (int timeout_msecs);

#endif
