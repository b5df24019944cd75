/*  =========================================================================
    zi_zactor - CZMQ actors in a process whose signals are its own

    A worker's threads, monitor and ZAP handler are CZMQ actors (zactor): one
    start/stop handshake, "$TERM" to leave. Their pipes live in CZMQ's
    global context, which CZMQ sets up when the first actor starts, with
    a SIGINT and SIGTERM handler of its own that would replace the
    process's (zi_signals.c: SIGTERM must reach the worker's drain) and an
    I/O thread that inproc pipes never use. So the context is set up here
    first, once, without either: all it costs a process is its reaper
    thread.

    zactor_destroy returns once the task has returned, but learns it from
    a message through libzmq, which ThreadSanitizer cannot see into (the
    engine's libzmq is not built for it), and CZMQ does not join the
    thread. A flag the task sets as it returns, and destroy acquires,
    makes that order one the memory model and ThreadSanitizer see, as
    pthread_join did before these threads were actors.
    =========================================================================
*/

#include "zi_zactor.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

struct zi_zactor_t {
    zactor_t *actor;            //  CZMQ's actor
    zactor_fn *task;            //  what its thread runs
    void *args;                 //  and with what
    atomic_int returned;        //  set as the task returns
};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_set_up_context (void)
{
    zsys_handler_set (NULL);
    zsys_set_io_threads (0);
}

static void
s_run (zsock_t *pipe, void *args)
{
    zi_zactor_t *self = args;
    self->task (pipe, self->args);
    atomic_store_explicit (&self->returned, 1, memory_order_release);
}

zi_zactor_t *
zi_zactor_new (zactor_fn task, void *args)
{
    pthread_once (&s_once, s_set_up_context);
    zi_zactor_t *self = calloc (1, sizeof (zi_zactor_t));
    assert (self);
    self->task = task;
    self->args = args;
    self->actor = zactor_new (s_run, self);
    if (!self->actor) {
        free (self);
        return NULL;
    }
    return self;
}

void
zi_zactor_destroy (zi_zactor_t **self_p)
{
    assert (self_p);
    zi_zactor_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    //  Set already in practice: the task returned before CZMQ's last
    //  signal, which zactor_destroy waited for
    while (!atomic_load_explicit (&self->returned, memory_order_acquire))
        sched_yield ();
    free (self);
    *self_p = NULL;
}
