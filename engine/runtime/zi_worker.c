/*  =========================================================================
    zi_worker - one worker process: its threads and their event loops

    Each thread owns a set of actors (contiguous in topological order) and
    maybe the gateway. Its loop:

        while running
            run every actor on the ready list (woken by a same-thread peer)
            poll the gateway and remote-fed mailboxes (blocking when idle;
                a receive on the clients' socket, or on the one mailbox,
                when that is all there is)
            drain what is readable, a bounded batch per socket

    Sends never block (unlimited high-water marks on data edges), so no
    ratio of actors to threads can deadlock; memory is bounded instead by
    the gateway's in-flight limit.
    =========================================================================
*/

#include "zi_worker.h"
#include "zi_zap.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <zmq.h>


#define S_BATCH 16              //  messages per socket per poll round
#define S_TICK_MSECS 100        //  idle housekeeping period
#define S_SIGN_MSECS 1          //  quiet before kept answers are hashed

void
zi_thread_wake (zi_thread_t *self, zi_actor_t *actor)
{
    if (actor->queued)
        return;
    actor->queued = true;
    self->ready [self->n_ready++] = actor;
}

//  Runs the actors that same-thread peers handed tensors. In what order
//  matters for speed, and the order that wins depends on whether the
//  thread is one stage of a pipeline:
//
//  - Breadth first, an actor takes every request waiting for it before
//    the next actor runs: the requests in flight share each layer's
//    weights while they are in cache, as a batch would (mobilenet_v3_small
//    in one process at 8 in flight: 14 % more requests/s than depth first)
//  - Depth first, an actor takes one and goes back on the list beneath
//    the consumers that request wakes, so the request runs on down the
//    chain and leaves the thread before the next starts. Breadth first, a
//    stage would hand its requests on in bursts, each as long as its
//    whole share of the model, and the next stage would wait for the
//    burst while this one waits for the next: the stages take turns
//    instead of overlapping (two and four processes at 8 in flight:
//    resnet18 18 % and 32 % more requests/s depth first, mobilenet_v3_small
//    14 % and 5 %)
//
//  So a thread that sends to another thread or process runs depth first,
//  a thread that keeps its requests to itself breadth first
static void
s_run_ready (zi_thread_t *self)
{
    int budget = self->depth_first? 1: INT_MAX;
    while (self->n_ready > 0) {
        //  (A long batch of requests makes progress too, not a hang: each
        //  kernel run marks the thread's progress, s_compute in zi_actor.c)
        zi_actor_t *actor = self->ready [--self->n_ready];
        actor->queued = false;
        if (self->depth_first && actor->n_local - actor->local_head > 1)
            zi_thread_wake (self, actor);
        zi_actor_drain_local (actor, budget);
    }
}

//  Handles what the readable mailboxes hold, at most S_BATCH messages
//  each. Depth first, one message from each in turn, each followed down
//  the thread's chain: the tensors of one request that come through
//  several mailboxes meet before the next request's are taken. A mailbox
//  whose receive found nothing is settled (s_waiter_t) and not asked
//  again in this pass: that receive took its commands in
static void
s_drain_mailboxes (zi_thread_t *self, zmq_pollitem_t *items, bool *settled, zi_actor_t **actors,
                   int count)
{
    if (!self->depth_first) {
        for (int index = 0; index < count; index++)
            if ((items [index].revents & ZMQ_POLLIN)
            &&  zi_actor_drain (actors [index], S_BATCH) < S_BATCH)
                settled [index] = true;
        return;
    }
    bool took = true;
    for (int round = 0; round < S_BATCH && took; round++) {
        took = false;
        for (int index = 0; index < count; index++) {
            if (!(items [index].revents & ZMQ_POLLIN) || settled [index])
                continue;
            if (zi_actor_drain (actors [index], 1) == 1) {
                took = true;
                s_run_ready (self);
            }
            else
                settled [index] = true;
        }
    }
}

//  Marks the thread's progress, and every S_TICK_MSECS lets requests
//  that waited too long go
static void
s_tick (zi_thread_t *self, int64_t *last_tick)
{
    int64_t now = zi_clock_usecs ();
    //  An idle thread passes here every S_TICK_MSECS: a thread that
    //  stops passing is stuck (the launcher restarts its process)
    atomic_store_explicit (&self->progress_usecs, now, memory_order_relaxed);
    if (now - *last_tick > S_TICK_MSECS * 1000) {
        *last_tick = now;
        for (int index = 0; index < self->n_actors; index++)
            zi_actor_expire (self->actors [index], now);
        if (self->gateway)
            zi_gateway_expire (self->gateway, now);
    }
}

//  The thread's wait: zmq_poll's answer, with fewer system calls.
//
//  A ZeroMQ socket's descriptor (ZMQ_FD) turns readable when commands
//  reach the socket, a message's arrival among them, and quiet once
//  anything on the socket takes them in: a send, a receive, or asking
//  for its events (ZMQ_EVENTS). So a socket may hold a message behind a
//  quiet descriptor, and zmq_poll asks every socket for its events before
//  it sleeps and again when woken, a poll and libzmq's fork check (a
//  getpid) per socket and pass, even for sockets nothing has touched.
//  Here a socket is asked before the sleep only when it is not settled:
//  settled means it was last found empty, by this wait or by a handler
//  whose receive found nothing, and nothing has touched it since. The
//  handlers touch only the sockets that were reported readable, but for
//  the clients' socket, on which the gateway sends answers whenever they
//  are complete (the loop watches zi_gateway_client_sends). After the
//  sleep only the sockets whose descriptors woke it are asked
typedef struct {
    zmq_pollitem_t *items;      //  the thread's items, as zmq_poll takes them
    bool *settled;              //  per item: found empty, and untouched since
    struct pollfd *fds;         //  the descriptors of the items asked for input
    int *item_of;               //  the item each descriptor belongs to
    int *fd_of;                 //  per item: its descriptor (a socket's never changes)
    int count;
} s_waiter_t;

static void
s_waiter_init (s_waiter_t *self, zmq_pollitem_t *items, int count)
{
    self->items = items;
    self->count = count;
    self->settled = calloc (count + 1, sizeof (bool));
    self->fds = calloc (count + 1, sizeof (struct pollfd));
    self->item_of = calloc (count + 1, sizeof (int));
    self->fd_of = calloc (count + 1, sizeof (int));
    assert (self->settled && self->fds && self->item_of && self->fd_of);
    for (int index = 0; index < count; index++) {
        self->fd_of [index] = items [index].fd;
        if (items [index].socket) {
            size_t size = sizeof self->fd_of [index];
            zmq_getsockopt (items [index].socket, ZMQ_FD, &self->fd_of [index], &size);
        }
    }
}

static void
s_waiter_free (s_waiter_t *self)
{
    free (self->settled);
    free (self->fds);
    free (self->item_of);
    free (self->fd_of);
}

//  Asks a socket for its events; marks its item readable (counted in
//  *ready), or settled. -1 if the socket is gone (its context ended)
static int
s_waiter_ask (s_waiter_t *self, int index, int *ready)
{
    zmq_pollitem_t *item = &self->items [index];
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (item->socket, ZMQ_EVENTS, &events, &size))
        return -1;
    self->settled [index] = !(events & ZMQ_POLLIN);
    if ((events & ZMQ_POLLIN) && !item->revents) {
        item->revents = ZMQ_POLLIN;
        (*ready)++;
    }
    return 0;
}

//  Waits up to timeout_msecs (-1: no limit) for input on the items that
//  ask for it, and sets their revents as zmq_poll does: the number of
//  items readable, 0 when the time ran out, -1 on failure (EINTR when a
//  signal came). Readable items are no longer settled: the caller takes
//  from them
static int
s_waiter_wait (s_waiter_t *self, int timeout_msecs)
{
    int ready = 0, polled = 0;
    for (int index = 0; index < self->count; index++) {
        zmq_pollitem_t *item = &self->items [index];
        item->revents = 0;
        if (!(item->events & ZMQ_POLLIN))
            continue;
        if (item->socket && !self->settled [index] && s_waiter_ask (self, index, &ready))
            return -1;
        self->fds [polled] = (struct pollfd) {.fd = self->fd_of [index], .events = POLLIN};
        self->item_of [polled++] = index;
    }
    int64_t deadline = timeout_msecs < 0? -1: zi_clock_usecs () + timeout_msecs * INT64_C (1000);
    int wait_msecs = timeout_msecs;
    while (true) {
        //  Even with a socket found readable, the others' descriptors are
        //  looked at (not waited for): a busy socket does not starve them
        int rc = poll (self->fds, polled, ready? 0: wait_msecs);
        if (rc < 0) {
            if (ready)
                break;
            return -1;
        }
        for (int entry = 0; entry < polled && rc > 0; entry++) {
            if (!self->fds [entry].revents)
                continue;
            rc--;
            int index = self->item_of [entry];
            zmq_pollitem_t *item = &self->items [index];
            if (item->socket) {
                if (s_waiter_ask (self, index, &ready))
                    return -1;
            }
            else
            if (!item->revents) {
                item->revents = ZMQ_POLLIN;
                ready++;
            }
        }
        if (ready || wait_msecs == 0)
            break;
        //  Woken by commands that brought no input: sleep out the rest
        if (deadline >= 0) {
            int64_t left = deadline - zi_clock_usecs ();
            if (left <= 0)
                break;
            wait_msecs = (int) ((left + 999) / 1000);
        }
    }
    for (int index = 0; index < self->count; index++)
        if (self->items [index].revents)
            self->settled [index] = false;
    return ready;
}

static void
s_thread_loop (zi_thread_t *self)
{
    zi_worker_t *worker = self->worker;
    //  The pipe is not polled: it carries only "$TERM", sent after
    //  worker->stopping is set, which the loop reads on every pass, at
    //  most S_TICK_MSECS apart. Polled, it cost a poll and a getpid for
    //  every other socket's wake-up: zmq_poll asks each socket for its
    //  events, a system call each, twice per call
    int n_items = (self->gateway? 3: 0) + self->n_actors;
    zmq_pollitem_t *items = calloc (n_items + 1, sizeof (zmq_pollitem_t));
    assert (items);
    int item = 0;
    void *gateway_sockets [2] = {NULL, NULL};
    //  The gateway's results mailbox, when anything can reach it, and its
    //  clients' socket: their places among the items, or -1
    int results_item = -1, clients_item = -1;
    if (self->gateway) {
        zi_gateway_sockets (self->gateway, gateway_sockets);
        if (gateway_sockets [0]) {
            results_item = item;
            items [item++] = (zmq_pollitem_t) {gateway_sockets [0], 0, ZMQ_POLLIN, 0};
        }
        clients_item = item;
        items [item++] = (zmq_pollitem_t) {gateway_sockets [1], 0, ZMQ_POLLIN, 0};
    }
    //  The batching deadline, when the gateway batches
    int timer_item = self->gateway && zi_gateway_timer (self->gateway) >= 0? item: -1;
    if (timer_item >= 0)
        items [item++] = (zmq_pollitem_t) {NULL, zi_gateway_timer (self->gateway), ZMQ_POLLIN, 0};
    //  Mailboxes that only same-thread peers feed never receive anything:
    //  polling them would cost a file descriptor each per wait
    int first_actor_item = item;
    zi_actor_t **polled = calloc (self->n_actors + 1, sizeof (zi_actor_t *));
    assert (polled);
    for (int index = 0; index < self->n_actors; index++)
        if (self->actors [index]->remote) {
            polled [item - first_actor_item] = self->actors [index];
            items [item++] = (zmq_pollitem_t) {self->actors [index]->mailbox, 0, ZMQ_POLLIN, 0};
        }
    n_items = item;
    //  A thread whose one socket from outside is the gateway's clients'
    //  (one process on one thread, no batching) waits in a receive on it,
    //  as a floor stage waits, rather than in zmq_poll: four system calls
    //  fewer a request (docs/performance.md)
    bool receive_waits = self->gateway && n_items == 1;
    //  Likewise a thread fed from outside through one mailbox alone (a
    //  middle or last stage of a chain split across processes) waits in
    //  a receive on it. Asked with ZMQ_EVENTS after a poll of its
    //  descriptor, and drained until a receive found nothing, the socket
    //  cost two polls and two getpids a message more than the floor's
    //  one blocking receive (docs/performance.md). A blocking receive
    //  asks the socket's own pipes first and sleeps in the socket's own
    //  mailbox, so no wake-up is missed whatever took its commands in
    zi_actor_t *waits_on = !self->gateway && n_items == 1? polled [0]: NULL;
    if (waits_on) {
        int timeout = S_TICK_MSECS;
        zmq_setsockopt (waits_on->mailbox, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    }
    s_waiter_t waiter;
    s_waiter_init (&waiter, items, n_items);
    uint64_t client_sends = self->gateway? zi_gateway_client_sends (self->gateway): 0;
    int64_t last_tick = zi_clock_usecs ();
    //  From the start: a thread stuck before its first pass is stuck too
    atomic_store_explicit (&self->progress_usecs, last_tick, memory_order_relaxed);

    while (!atomic_load_explicit (&worker->stopping, memory_order_acquire)) {
        //  Same-thread hand-offs first: a request walks its chain here
        s_run_ready (self);
        //  Answers held for slow clients are retried often: nothing tells
        //  us when a client has read (a ROUTER cannot poll one peer)
        int timeout = S_TICK_MSECS;
        if (self->gateway) {
            if (zi_gateway_undelivered (self->gateway)) {
                zi_gateway_flush (self->gateway);
                timeout = zi_gateway_undelivered (self->gateway)? 1: S_TICK_MSECS;
            }
            //  A request that waited for room, admitted now, is run
            //  before the thread waits for anything else
            if (zi_gateway_retry (self->gateway) && self->n_ready > 0)
                continue;
            items [clients_item].events = zi_gateway_accepting (self->gateway)? ZMQ_POLLIN: 0;
        }
        if (waits_on) {
            //  Depth first, each message is followed down the chain (the
            //  loop's next pass) before the next is taken; breadth first,
            //  what else has come is taken with it, as the drain would
            if (zi_actor_receive (waits_on) && !self->depth_first)
                zi_actor_drain (waits_on, S_BATCH - 1);
            s_tick (self, &last_tick);
            continue;
        }
        //  Kept answers are hashed once nothing has come for a while: not
        //  at once, when the I/O thread that sends the answer, and the
        //  client that reads it, may be waiting for this very core
        bool signing = self->gateway && zi_gateway_unsigned (self->gateway);
        if (signing && timeout > S_SIGN_MSECS)
            timeout = S_SIGN_MSECS;
        if (receive_waits && zi_gateway_accepting (self->gateway)) {
            if (zi_gateway_wait (self->gateway, timeout) == 0 && signing)
                while (zi_gateway_sign (self->gateway))
                    ;
            s_tick (self, &last_tick);
            continue;
        }
        //  An answer sent on the clients' socket may have taken in the
        //  arrival of a new request: the socket is asked before the sleep
        if (self->gateway && zi_gateway_client_sends (self->gateway) != client_sends) {
            client_sends = zi_gateway_client_sends (self->gateway);
            waiter.settled [clients_item] = false;
        }
        int rc = s_waiter_wait (&waiter, timeout);
        if (rc == 0 && signing)
            while (zi_gateway_sign (self->gateway))
                ;
        if (rc < 0 && zmq_errno () != EINTR) {
            fprintf (stderr, "zinfer worker: thread %d: poll failed: %s\n", self->index,
                     zmq_strerror (zmq_errno ()));
            break;
        }
        if (rc > 0) {
            if (self->gateway) {
                if (results_item >= 0 && (items [results_item].revents & ZMQ_POLLIN)
                &&  zi_gateway_handle (self->gateway, gateway_sockets [0]))
                    waiter.settled [results_item] = true;
                if ((items [clients_item].revents & ZMQ_POLLIN)
                &&  zi_gateway_handle (self->gateway, gateway_sockets [1]))
                    waiter.settled [clients_item] = true;
                if (timer_item >= 0 && (items [timer_item].revents & ZMQ_POLLIN))
                    zi_gateway_tick (self->gateway);
            }
            s_drain_mailboxes (self, items + first_actor_item, waiter.settled + first_actor_item,
                               polled, n_items - first_actor_item);
        }
        s_tick (self, &last_tick);
    }
    s_waiter_free (&waiter);
    free (items);
    free (polled);
}

//  A worker thread, as a CZMQ actor: zi_zactor_new returns once its
//  actors (and the gateway, on its thread) are set up or have failed to,
//  and zi_zactor_destroy's "$TERM" ends it, whether it runs or failed
static void
s_thread_actor (zsock_t *pipe, void *args)
{
    zi_thread_t *self = args;
    self->pipe = zsock_resolve (pipe);
    self->handle = pthread_self ();
    zi_worker_t *worker = self->worker;
    //  Named, so that top -H, perf and a debugger tell the threads apart
    char name [16];
    snprintf (name, sizeof name, "zi-worker-%d", self->index);
    prctl (PR_SET_NAME, name, 0, 0, 0);
    self->exec = zi_exec_new ();
    self->variants = zi_variants_new (worker, self);
    self->ready = calloc (self->n_actors + 1, sizeof (zi_actor_t *));
    assert (self->ready);
    //  Set up every socket here: ZeroMQ sockets belong to one thread
    self->taps = zmq_socket (worker->context, ZMQ_PUSH);
    int unlimited = 0;
    zmq_setsockopt (self->taps, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
    zmq_connect (self->taps, "inproc://monitor-taps");
    self->rc = 0;
    for (int index = 0; index < self->n_actors && self->rc == 0; index++)
        if (zi_actor_setup (self->actors [index])) {
            self->rc = -1;
            snprintf (self->error, sizeof self->error, "%s", zi_error_text ());
        }
    for (int index = 0; index < self->n_actors && self->rc == 0; index++)
        self->depth_first |= zi_actor_feeds_others (self->actors [index]);
    if (self->rc == 0 && worker->deploy->gateway_process == worker->process
    &&  worker->deploy->gateway_thread == self->index) {
        self->gateway = zi_gateway_new (worker, self);
        //  Released to the threads that read its counters
        atomic_store_explicit (&worker->gateway, self->gateway, memory_order_release);
        if (!self->gateway) {
            self->rc = -1;
            snprintf (self->error, sizeof self->error, "%s", zi_error_text ());
        }
    }
    //  Tell the main thread how setting up went (self->rc), then run. The
    //  atomic publishes what setting up wrote (names, peers) to the main
    //  and monitor threads in a way the memory model, and ThreadSanitizer,
    //  see; ZeroMQ's own hand-over is invisible to both.
    atomic_store_explicit (&self->set_up, 1, memory_order_release);
    zsock_signal (pipe, 0);
    if (self->rc == 0)
        s_thread_loop (self);
    //  Whatever ended the loop, wait for "$TERM": the main thread
    //  publishes the stop before sending it, and acquiring the stop orders
    //  the teardown below after the monitor's last read
    if (!atomic_load_explicit (&worker->stopping, memory_order_acquire)) {
        zmq_pollitem_t item = {self->pipe, 0, ZMQ_POLLIN, 0};
        while (zmq_poll (&item, 1, -1) < 0 && zmq_errno () == EINTR)
            ;
    }
    while (!atomic_load_explicit (&worker->stopping, memory_order_acquire))
        sched_yield ();
    //  The gateway outlives this thread: the main thread may still read
    //  its counters while draining; it is destroyed after the join
    for (int index = 0; index < self->n_actors; index++)
        zi_actor_teardown (self->actors [index]);
    zmq_close (self->taps);
    zi_exec_destroy (&self->exec);
    zi_variants_destroy (&self->variants);
    free (self->ready);
}

//  Lets a process hold as many sockets as a large model needs: every
//  ZeroMQ socket costs a file descriptor for its mailbox
static void
s_raise_limits (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    //  Freed memory stays in the heap for reuse rather than going back to
    //  the kernel: received frames are allocated per message by ZeroMQ,
    //  and fresh pages cost far more than the copy into them
    mallopt (M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt (M_TRIM_THRESHOLD, 256 * 1024 * 1024);
}

static int
s_mkdirs (const char *path)
{
    char partial [256];
    snprintf (partial, sizeof partial, "%s", path);
    for (char *slash = partial + 1; *slash; slash++)
        if (*slash == '/') {
            *slash = 0;
            mkdir (partial, 0700);
            *slash = '/';
        }
    if (mkdir (partial, 0700) && errno != EEXIST)
        return zi_error ("cannot create %s: %s", path, strerror (errno));
    return 0;
}

//  Activity of the process: messages taken from mailboxes so far; busy
//  when its gateway still waits for answers
static uint64_t
s_activity (zi_worker_t *self, bool *busy)
{
    uint64_t received = 0;
    *busy = false;
    for (int index = 0; index < self->n_actors; index++) {
        zi_actor_stats_t *stats = &self->actors [index].stats;
        received += ZI_READ (stats->messages_in) + ZI_READ (stats->rejected)
                  + ZI_READ (stats->carried);
    }
    zi_gateway_t *gateway = atomic_load_explicit (&self->gateway, memory_order_acquire);
    if (gateway && zi_gateway_inflight (gateway))
        *busy = true;
    return received;
}

//  Graceful stop: the gateway takes no new requests and the process
//  serves on until every request it admitted is answered. It cannot tell
//  a request still computing in another process (its own actors idle all
//  the while) from one lost with a process that died, so it waits for
//  both, up to S_DRAIN_USECS. A process without the gateway serves on
//  until it has been quiet for 100 ms (the launcher stops the gateway's
//  process first, so by then no more work is coming). The launcher's
//  SIGKILL comes later than S_DRAIN_USECS.
//  Partial joins are not waited for: their other input may have been lost
//  with a process that died.
#define S_DRAIN_USECS (8 * INT64_C (1000000))

static void
s_drain (zi_worker_t *self)
{
    atomic_store (&self->draining, 1);
    int64_t deadline = zi_clock_usecs () + S_DRAIN_USECS;
    int64_t quiet_since = zi_clock_usecs ();
    bool busy;
    uint64_t seen = s_activity (self, &busy);
    while (zi_clock_usecs () < deadline) {
        usleep (5000);
        uint64_t now = s_activity (self, &busy);
        if (now != seen) {
            seen = now;
            quiet_since = zi_clock_usecs ();
        }
        else
        if (!busy && zi_clock_usecs () - quiet_since >= 100000)
            return;
    }
    fprintf (stderr, "zinfer worker: stopping with work still in flight after %d s\n",
             (int) (S_DRAIN_USECS / 1000000));
}

int
zi_worker_run (zi_deploy_t *deploy, int process, const char *control, bool monitor)
{
    const zi_topo_process_t *info = &deploy->topology->processes [process];
    s_raise_limits ();
    //  The kernels share their work out themselves (zi_exec), sgemm too
    zi_exec_blas_single ();
    zi_exec_default_threads (info->blas_threads);   //  before the threads make their execs
    if (s_mkdirs (deploy->ipc_dir)) {
        fprintf (stderr, "zinfer worker: %s\n", zi_error_text ());
        return 1;
    }

    zi_worker_t worker = {.deploy = deploy, .process = process, .plan = deploy->plan};
    worker.frame_limit = deploy->frame_limit;
    worker.context = zmq_ctx_new ();
    zmq_ctx_set (worker.context, ZMQ_MAX_SOCKETS, 65536);
    worker.pool = zi_pool_new ();
    worker.n_threads = info->threads;
    worker.threads = calloc (worker.n_threads, sizeof (zi_thread_t));
    for (int index = 0; index < deploy->n_actors; index++)
        if (deploy->actors [index].process == process)
            worker.n_actors++;
    //  Each actor on its own lines (zi_actor_t is aligned to them): its
    //  fields read on every hop then fill two lines, not three
    size_t actors_size = (worker.n_actors + 1) * sizeof (zi_actor_t);
    worker.actors = aligned_alloc (_Alignof (zi_actor_t), actors_size);
    assert (worker.threads && worker.actors);
    memset (worker.actors, 0, actors_size);
    int next = 0;
    for (int index = 0; index < deploy->n_actors; index++) {
        if (deploy->actors [index].process != process)
            continue;
        zi_actor_t *actor = &worker.actors [next++];
        actor->worker = &worker;
        actor->index = index;
        actor->node_index = deploy->actors [index].node;
        actor->node = &deploy->plan->nodes [actor->node_index];
        zi_thread_t *thread = &worker.threads [deploy->actors [index].thread];
        actor->thread = thread;
        thread->actors = realloc (thread->actors, (thread->n_actors + 1) * sizeof (zi_actor_t *));
        thread->actors [thread->n_actors++] = actor;
    }

    zi_signals_install ();
    int failed = 0;
    char failure [600] = "";
    //  CURVE: this host's keys, and the ZAP handler before any socket binds
    if (deploy->topology->curve) {
        const zi_topology_t *topology = deploy->topology;
        const char **hosts = calloc (topology->n_hosts + 1, sizeof (char *));
        const char **clients = calloc (topology->n_client_keys + 1, sizeof (char *));
        assert (hosts && clients);
        for (int host = 0; host < topology->n_hosts; host++)
            hosts [host] = topology->hosts [host].public_key;
        for (int client = 0; client < topology->n_client_keys; client++)
            clients [client] = topology->client_keys [client];
        char who [96];
        snprintf (who, sizeof who, "process '%s'", info->name);
        if (zi_deploy_load_keys (deploy, process)
        ||  !(worker.zap = zi_zap_new (worker.context, topology->n_hosts, hosts,
                                       topology->n_client_keys, clients, who))) {
            failed = 1;
            snprintf (failure, sizeof failure, "%s", zi_error_text ());
        }
        free (hosts);
        free (clients);
    }
    //  One thread after the other: each has set up its sockets when
    //  zi_zactor_new returns (connecting to a peer's inproc endpoint
    //  before the peer binds it is fine), and the first failure stops
    //  the rest from starting
    int started = 0;            //  threads running
    for (int index = 0; index < worker.n_threads && !failed; index++) {
        zi_thread_t *thread = &worker.threads [index];
        thread->worker = &worker;
        thread->index = index;
        thread->actor = zi_zactor_new (s_thread_actor, thread);
        if (!thread->actor) {
            failed = 1;
            snprintf (failure, sizeof failure, "cannot start worker thread %d", index);
            break;
        }
        started++;
        while (!atomic_load_explicit (&thread->set_up, memory_order_acquire))
            ;       //  set before the signal: no wait in practice
        if (thread->rc) {
            failed = 1;
            snprintf (failure, sizeof failure, "%s", thread->error);
        }
    }

    if (!failed && monitor) {
        worker.monitor = zi_monitor_start (&worker);
        if (!worker.monitor) {
            failed = 1;
            snprintf (failure, sizeof failure, "%s", zi_error_text ());
        }
    }

    //  Report to the launcher: READY or the reason it could not start
    void *report = NULL;
    if (control) {
        report = zmq_socket (worker.context, ZMQ_PUSH);
        int linger = 2000;
        zmq_setsockopt (report, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect (report, control);
        char text [800];
        snprintf (text, sizeof text, "%s %s %d %s", failed? "FAILED": "READY", info->name,
                  (int) getpid (), failed? failure: "");
        zmq_send (report, text, strlen (text), 0);
    }
    if (failed)
        fprintf (stderr, "zinfer worker: process '%s': %s\n", info->name, failure);
    else {
        //  Serve until told to stop, then drain
        zi_signals_wait (-1);
        s_drain (&worker);
    }
    //  The monitor reads the actors: it stops before they are torn down
    zi_monitor_stop (&worker.monitor);
    atomic_store_explicit (&worker.stopping, 1, memory_order_release);
    for (int index = 0; index < worker.n_threads; index++) {
        if (index < started) {
            zi_zactor_destroy (&worker.threads [index].actor);
            zi_gateway_destroy (&worker.threads [index].gateway);
        }
        //  Closed by their last sender (the gateway's, after the join)
        free (worker.threads [index].links);
        free (worker.threads [index].actors);
    }
    if (report)
        zmq_close (report);
    zi_zap_destroy (&worker.zap);
    zmq_ctx_term (worker.context);
    zi_pool_destroy (&worker.pool);
    free (worker.threads);
    free (worker.actors);
    return failed? 1: 0;
}
