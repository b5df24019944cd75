/*  =========================================================================
    zi_zactor - CZMQ actors in a process whose signals are its own

    A worker's monitor and ZAP handler are CZMQ actors (zactor): one
    start/stop handshake, "$TERM" to leave. Their pipes live in CZMQ's
    global context, which CZMQ sets up when the first actor starts, with
    a SIGINT and SIGTERM handler of its own that would replace the
    process's (zi_signals.c: SIGTERM must reach the worker's drain) and an
    I/O thread that inproc pipes never use. So the context is set up here
    first, once, without either: all it costs a process is its reaper
    thread.
    =========================================================================
*/

#include "zi_zactor.h"
#include <pthread.h>

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_set_up_context (void)
{
    zsys_handler_set (NULL);
    zsys_set_io_threads (0);
}

zactor_t *
zi_zactor_new (zactor_fn task, void *args)
{
    pthread_once (&s_once, s_set_up_context);
    return zactor_new (task, args);
}
