/*  =========================================================================
    zi_fanout - sends a sender's outputs to their consumers

    Replicas of a consumer node take a sender's tensors in turn, unless
    the node joins several inputs: then all of a request's inputs must
    meet in one replica, which the request id picks.
    =========================================================================
*/

#include "zi_fanout.h"
#include <zmq.h>

//  The thread's socket to endpoint, connected on first use: every sender
//  on one thread reaches one mailbox through one connection, as a floor
//  stage does, so that a request's tensors to a process (the main one,
//  a residual's input) share the I/O threads' pipe, its batching and its
//  order, rather than each waking both sides on a connection of its own.
//  NULL with the error if it cannot connect
static void *
s_link_open (zi_thread_t *thread, const zi_wire_peer_t *peer)
{
    for (int index = 0; index < thread->n_links; index++) {
        zi_link_t *link = &thread->links [index];
        if (link->users > 0 && strcmp (link->endpoint, peer->endpoint) == 0) {
            link->users++;
            return link->socket;
        }
    }
    void *socket = zmq_socket (thread->worker->context, ZMQ_PUSH);
    int unlimited = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
    if (zi_deploy_connect (thread->worker->deploy, socket, peer->endpoint, peer->process, NULL)) {
        zmq_close (socket);
        return NULL;
    }
    zi_link_t *links = realloc (thread->links, (thread->n_links + 1) * sizeof (zi_link_t));
    assert (links);
    thread->links = links;
    zi_link_t *link = &links [thread->n_links++];
    snprintf (link->endpoint, sizeof link->endpoint, "%s", peer->endpoint);
    link->socket = socket;
    link->users = 1;
    return socket;
}

//  One sender less on the thread's socket; the last closes it
static void
s_link_close (zi_thread_t *thread, void *socket)
{
    for (int index = 0; index < thread->n_links; index++) {
        zi_link_t *link = &thread->links [index];
        if (link->users > 0 && link->socket == socket) {
            if (--link->users == 0) {
                zmq_close (link->socket);
                link->socket = NULL;
            }
            return;
        }
    }
    assert (false);             //  every fan-out socket is a link's
}

zi_fanout_t *
zi_fanout_new (zi_thread_t *thread, const zi_wiring_t *wiring)
{
    //  One block, aligned, in the order a hop reads it: the fan-out, its
    //  routes, then each peer's actor on this thread and its count, which
    //  for most actors (a route, a peer) share the line after the
    //  fan-out's; the sockets and deployment indexes after them. Five
    //  allocations were five lines apart, each a miss on every hop (the
    //  kernels sweep the caches between an actor's runs)
    size_t routes = (wiring->n_routes + 1) * sizeof (zi_fanout_route_t);
    routes = (routes + 7) & ~(size_t) 7;
    size_t peers = wiring->n_peers + 1;
    size_t size = sizeof (zi_fanout_t) + routes
                + peers * (sizeof (zi_actor_t *) + sizeof (zi_counter_t) + sizeof (void *) + sizeof (int));
    size = (size + 63) & ~(size_t) 63;
    zi_fanout_t *self = aligned_alloc (64, size);
    assert (self);
    memset (self, 0, size);
    char *next = (char *) self + sizeof (zi_fanout_t);
    self->routes = (zi_fanout_route_t *) next;
    next += routes;
    self->local = (zi_actor_t **) next;
    next += peers * sizeof (zi_actor_t *);
    self->sent = (zi_counter_t *) next;
    next += peers * sizeof (zi_counter_t);
    self->sockets = (void **) next;
    next += peers * sizeof (void *);
    self->actor = (int *) next;
    self->thread = thread;
    for (int index = 0; index < wiring->n_routes; index++) {
        const zi_wire_route_t *wire = &wiring->routes [index];
        self->routes [index] = (zi_fanout_route_t) {
            .output = wire->output, .slot = wire->slot, .first_peer = wire->first_peer,
            .n_peers = wire->n_peers, .by_request = wire->by_request};
        const zi_wire_peer_t *first = &wiring->peers [wire->first_peer];
        self->routes [index].gateway_here = first->actor < 0 && first->same_thread;
    }
    self->n_routes = wiring->n_routes;
    for (int index = 0; index < wiring->n_peers; index++) {
        const zi_wire_peer_t *peer = &wiring->peers [index];
        self->actor [index] = peer->actor;
        self->n_peers++;
        if (peer->same_thread) {
            for (int local = 0; peer->actor >= 0 && local < thread->n_actors; local++)
                if (thread->actors [local]->index == peer->actor)
                    self->local [index] = thread->actors [local];
            continue;
        }
        self->sockets [index] = s_link_open (thread, peer);
        if (!self->sockets [index]) {
            zi_fanout_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
zi_fanout_destroy (zi_fanout_t **self_p)
{
    assert (self_p);
    zi_fanout_t *self = *self_p;
    if (!self)
        return;
    for (int peer = 0; peer < self->n_peers; peer++)
        if (self->sockets [peer])
            s_link_close (self->thread, self->sockets [peer]);
    free (self);                //  its arrays with it, one block
    *self_p = NULL;
}

int
zi_fanout_send (zi_fanout_t *self, zi_fanout_route_t *route, zi_msg_header_t *header,
                zi_tensor_t *tensor, const zi_trace_t *trace, int64_t handed)
{
    if (route->gateway_here) {
        zi_gateway_result (self->thread->gateway, header, zi_tensor_ref (tensor),
                           header->flags & ZI_MSG_TRACE? trace: NULL, zi_trace_now ());
        ZI_COUNT (self->sent [route->first_peer], 1);
        return 0;
    }
    int pick = route->first_peer;
    if (route->n_peers > 1)
        pick += route->by_request? (int) (header->request % route->n_peers):
                                   (int) (route->next++ % route->n_peers);
    if (self->local [pick])
        zi_actor_hand_over (self->local [pick], header, tensor, trace, handed);
    else
    if (zi_msg_send (self->sockets [pick], header, tensor, trace, false))
        return zi_error ("send failed: %s", zmq_strerror (zmq_errno ()));
    ZI_COUNT (self->sent [pick], 1);
    return 0;
}

bool
zi_fanout_leaves_thread (const zi_fanout_t *self)
{
    for (int peer = 0; peer < self->n_peers; peer++)
        if (self->sockets [peer])
            return true;
    return false;
}
