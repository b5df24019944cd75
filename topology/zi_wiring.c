/*  =========================================================================
    zi_wiring - what one actor, or the gateway, sends where

    Worked out from the deployment's tables (zi_deploy.c) for one sender:
    its routes with the consuming replicas, side by side per consumer node
    so that a route picks among them; for each replica whether it runs on
    the sender's thread (then tensors are handed over, no socket) or where
    to connect; whether anything reaches the sender's own mailbox from
    another thread; and the relays it serves: the tensors that arrive in
    its mailbox for other consumers on its thread.
    =========================================================================
*/

#include "zi_wiring.h"

//  Inputs of a node that arrive as messages (not constants)
static int
s_dynamic_inputs (const zi_graph_t *plan, int node_index)
{
    const zi_node_t *node = &plan->nodes [node_index];
    int dynamic = 0;
    for (int slot = 0; slot < node->n_inputs; slot++)
        if (node->inputs [slot] >= 0 && !plan->values [node->inputs [slot]].constant)
            dynamic++;
    return dynamic;
}

//  Where the sender runs
static void
s_owner_place (const zi_deploy_t *deploy, int actor, int *process, int *thread)
{
    *process = actor >= 0? deploy->actors [actor].process: deploy->gateway_process;
    *thread = actor >= 0? deploy->actors [actor].thread: deploy->gateway_thread;
}

//  Adds a route to consumer node (-1: the gateway), with the consumer's
//  replicas as peers unless an earlier route to the same node added them
//  (first_peer_of, per node and last the gateway, remembers where). A
//  route carried by another actor (via >= 0) goes to that actor's node
//  instead, a single actor: one peer, one socket, for all a sender's
//  routes into that mailbox
static void
s_add_route (zi_wiring_t *self, const zi_deploy_t *deploy, int *first_peer_of, int output,
             zi_route_t route, int via)
{
    const zi_graph_t *plan = deploy->plan;
    int process, thread;
    s_owner_place (deploy, self->owner, &process, &thread);
    zi_wire_route_t *into = &self->routes [self->n_routes++];
    into->output = output;
    into->slot = route.slot;
    int to = via >= 0? deploy->actors [via].node: route.node;
    into->n_peers = to >= 0? deploy->replicas [to]: 1;
    into->by_request = into->n_peers > 1 && s_dynamic_inputs (plan, to) > 1;
    int key = to >= 0? to: plan->n_nodes;
    if (first_peer_of [key] >= 0) {
        into->first_peer = first_peer_of [key];
        return;
    }
    into->first_peer = first_peer_of [key] = self->n_peers;
    for (int replica = 0; replica < into->n_peers; replica++) {
        zi_wire_peer_t *peer = &self->peers [self->n_peers++];
        peer->actor = to >= 0? deploy->first_actor [to] + replica: -1;
        int peer_process, peer_thread;
        s_owner_place (deploy, peer->actor, &peer_process, &peer_thread);
        peer->process = peer_process;
        peer->same_thread = peer_process == process && peer_thread == thread;
        if (!peer->same_thread)
            zi_deploy_mailbox (deploy, peer->actor, process, peer->endpoint,
                               sizeof peer->endpoint);
    }
}

//  Adds the relays of one message that arrives in the mailbox of actor
//  (node): a producer's route, and the routes relayed on it. pass: the
//  actor does not take the tensor itself, it only hands it on
static void
s_add_relays (zi_wiring_t *self, const zi_deploy_t *deploy, int producer, int route, int node)
{
    const zi_deploy_actor_t *me = &deploy->actors [self->owner];
    const zi_route_t *sent = &deploy->routes [producer][route];
    bool pass = sent->node != node;
    for (int other = 0; other < deploy->n_routes [producer]; other++) {
        if (other != route && deploy->relay [producer][other] != route)
            continue;
        if (other == route && !pass)
            continue;
        const zi_route_t *to = &deploy->routes [producer][other];
        int target = deploy->first_actor [to->node];
        if (deploy->actors [target].process == me->process
        &&  deploy->actors [target].thread == me->thread)
            self->relays [self->n_relays++] = (zi_wire_relay_t) {
                .source = producer, .slot = sent->slot,
                .target = target, .target_slot = to->slot, .pass = pass};
    }
}

//  Whether anything reaches an actor's mailbox: a producer (one not
//  relayed or carried by a neighbour) or the gateway on another thread,
//  or a mailbox that listens on ipc or tcp for another process
static bool
s_polled (const zi_deploy_t *deploy, int actor)
{
    const zi_deploy_actor_t *me = &deploy->actors [actor];
    if (me->ipc || me->tcp_port > 0)
        return true;
    const zi_graph_t *plan = deploy->plan;
    for (int producer = 0; producer < plan->n_nodes; producer++)
        for (int route = 0; route < deploy->n_routes [producer]; route++) {
            if (deploy->routes [producer][route].node != me->node
            ||  deploy->relay [producer][route] >= 0
            ||  deploy->via [producer][route] >= 0)
                continue;
            for (int replica = 0; replica < deploy->replicas [producer]; replica++) {
                const zi_deploy_actor_t *other = &deploy->actors [deploy->first_actor [producer] + replica];
                if (other->process != me->process || other->thread != me->thread)
                    return true;
            }
        }
    for (int route = 0; route < deploy->n_input_routes; route++)
        if (deploy->input_routes [route].node == me->node
        && (deploy->gateway_process != me->process || deploy->gateway_thread != me->thread))
            return true;
    return false;
}

zi_wiring_t *
zi_wiring_new (const zi_deploy_t *deploy, int actor)
{
    assert (deploy && deploy->plan && actor >= -1 && actor < deploy->n_actors);
    const zi_graph_t *plan = deploy->plan;
    zi_wiring_t *self = calloc (1, sizeof (zi_wiring_t));
    assert (self);
    self->owner = actor;
    int n_routes = actor >= 0? deploy->n_routes [deploy->actors [actor].node]: deploy->n_input_routes;
    self->routes = calloc (n_routes + 1, sizeof (zi_wire_route_t));
    self->peers = calloc (deploy->n_actors + 2, sizeof (zi_wire_peer_t));
    int *first_peer_of = malloc ((plan->n_nodes + 1) * sizeof (int));
    assert (self->routes && self->peers && first_peer_of);
    for (int node = 0; node <= plan->n_nodes; node++)
        first_peer_of [node] = -1;

    if (actor < 0) {
        for (int route = 0; route < deploy->n_input_routes; route++)
            s_add_route (self, deploy, first_peer_of, deploy->input_route_input [route],
                         deploy->input_routes [route], -1);
        free (first_peer_of);
        return self;
    }
    int node = deploy->actors [actor].node;
    for (int route = 0; route < n_routes; route++)
        if (deploy->relay [node][route] < 0)    //  else a consumer in that process hands it on
            s_add_route (self, deploy, first_peer_of, deploy->route_output [node][route],
                         deploy->routes [node][route], deploy->via [node][route]);
    free (first_peer_of);
    self->polled = s_polled (deploy, actor);

    //  Relays: for each message that arrives in this actor's mailbox from
    //  another process, one per other consumer on its thread it is for
    //  (one tensor may fill several slots), and the consumer it carries
    //  the message for, when that is another actor
    int n_relays = 0;
    for (int producer = 0; producer < plan->n_nodes; producer++)
        for (int route = 0; route < deploy->n_routes [producer]; route++)
            n_relays += deploy->relay [producer][route] >= 0
                     || deploy->via [producer][route] >= 0;
    self->relays = calloc (n_relays + 1, sizeof (zi_wire_relay_t));
    assert (self->relays);
    for (int producer = 0; producer < plan->n_nodes; producer++)
        for (int route = 0; route < deploy->n_routes [producer]; route++)
            if (deploy->relay [producer][route] < 0
            &&  zi_deploy_lands (deploy, producer, route) == actor)
                s_add_relays (self, deploy, producer, route, node);
    return self;
}

void
zi_wiring_destroy (zi_wiring_t **self_p)
{
    assert (self_p);
    zi_wiring_t *self = *self_p;
    if (!self)
        return;
    free (self->routes);
    free (self->peers);
    free (self->relays);
    free (self);
    *self_p = NULL;
}
