/*  =========================================================================
    zi_zactor.h - CZMQ actors in a process whose signals are its own
    =========================================================================
*/

#ifndef ZI_ZACTOR_H_INCLUDED
#define ZI_ZACTOR_H_INCLUDED

#include <czmq.h>

typedef struct zi_zactor_t zi_zactor_t;

//  Starts task on a thread of its own as zactor_new does, once CZMQ's
//  context is set up for this engine (see zi_zactor.c); returns after the
//  task's zsock_signal, NULL if no thread could start
zi_zactor_t *
    zi_zactor_new (zactor_fn task, void *args);
//  Sends "$TERM" and returns once the task has returned: what it did is
//  then ordered before whatever the caller does next
void
    zi_zactor_destroy (zi_zactor_t **self_p);

#endif
