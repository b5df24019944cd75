/*  =========================================================================
    zi_zactor.h - CZMQ actors in a process whose signals are its own
    =========================================================================
*/

#ifndef ZI_ZACTOR_H_INCLUDED
#define ZI_ZACTOR_H_INCLUDED

#include <czmq.h>

//  zactor_new, with CZMQ's global context set up for this engine first
//  (once per process; see zi_zactor.c)
zactor_t *
    zi_zactor_new (zactor_fn task, void *args);

#endif
