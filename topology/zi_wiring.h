/*  =========================================================================
    zi_wiring.h - what one actor, or the gateway, sends where

    A deployment (zi_deploy.h) says where every actor runs and where each
    output of each node goes. An actor or the gateway needs that from its
    own side: the consumers of each of its outputs (every replica, and
    where it runs: on the same thread, or behind an endpoint), how a
    replica is picked, what reaches its mailbox from elsewhere, and which
    tensors it hands on to a neighbour. zi_wiring works that out once, as
    plain data, so that the runtime only opens sockets and sends.
    =========================================================================
*/

#ifndef ZI_WIRING_H_INCLUDED
#define ZI_WIRING_H_INCLUDED

#include "zi_deploy.h"

//  One consumer to send to: an actor (a replica of the consuming node),
//  or the gateway's results mailbox
typedef struct {
    int actor;                  //  deployment index, -1: the gateway
    bool same_thread;           //  runs on the sender's thread: handed over, no socket
    int process;                //  the process that serves it
    char endpoint [256];        //  where the sender connects, unless same_thread
} zi_wire_peer_t;

//  One output to one input slot, sent to one of the consumer's replicas
typedef struct {
    int output;                 //  the sender's output (the gateway: a model input)
    int slot;                   //  the consumer's input slot (the gateway's: a model output)
    int first_peer;             //  the consumer's replicas are peers
    int n_peers;                //  [first_peer, first_peer + n_peers)
    bool by_request;            //  a replica by request id, not in turn: the
                                //  consumer joins several inputs, which must
                                //  all reach the same replica
} zi_wire_route_t;

//  A tensor that arrives in this actor's mailbox from another process for
//  a consumer on its thread: one that this actor takes too (sent over the
//  network once, handed on here), or one that a producer's process sends
//  through this mailbox with all else it sends to this thread (pass: this
//  actor does not take it). The header's source and slot tell which
typedef struct {
    int source;                 //  producing node
    int slot;                   //  the slot it arrives with
    int target;                 //  the other consumer (deployment index)
    int target_slot;            //  its input slot
    bool pass;                  //  only handed on, not taken here
} zi_wire_relay_t;

typedef struct {
    int owner;                  //  the actor, -1: the gateway
    bool polled;                //  something reaches its mailbox from another
                                //  thread or process: poll it
    int n_routes;
    zi_wire_route_t *routes;
    int n_peers;                //  routes to the same node share its peers
    zi_wire_peer_t *peers;
    int n_relays;
    zi_wire_relay_t *relays;
} zi_wiring_t;

//  The wiring of an actor (its deployment index) or, for -1, the gateway's
//  fan-out of the model inputs. Pure: reads the deployment only.
zi_wiring_t *
    zi_wiring_new (const zi_deploy_t *deploy, int actor);
void
    zi_wiring_destroy (zi_wiring_t **self_p);

#endif
