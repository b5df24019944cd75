/*  =========================================================================
    zi_fanout.h - sends a sender's outputs to their consumers

    One class for both senders of the data path, actors and the gateway:
    built from the sender's wiring (topology/zi_wiring.h), it opens a PUSH
    socket to each consumer on another thread or process, and hands
    tensors to a consumer on the sender's own thread in memory (an actor's
    local queue, or the gateway's results).
    =========================================================================
*/

#ifndef ZI_FANOUT_H_INCLUDED
#define ZI_FANOUT_H_INCLUDED

#include "zi_worker.h"
#include "zi_wiring.h"

//  One output to one input slot of a consumer, whose replicas are peers
//  [first_peer, first_peer + n_peers)
typedef struct {
    int output;                 //  the sender's output (the gateway's: a model input)
    int slot;                   //  the consumer's input slot (or model output index)
    int first_peer;
    int n_peers;
    bool by_request;            //  pick the replica by request id (joins), else rotate
    bool gateway_here;          //  to the gateway on the sender's thread: results
                                //  are handed to it in memory
    unsigned next;              //  rotation counter
} zi_fanout_route_t;

struct zi_fanout_t {
    zi_thread_t *thread;        //  the sender's thread
    int n_routes;
    zi_fanout_route_t *routes;
    int n_peers;                //  consumers, replicas side by side
    void **sockets;             //  PUSH to each, NULL when on the sender's thread
    zi_actor_t **local;         //  the consuming actor when on the sender's thread
    int *actor;                 //  deployment index of each, -1: the gateway
    zi_counter_t *sent;         //  tensors sent to each (queue depths, for the monitor)
};

//  Connects to the consumers of wiring that run elsewhere; NULL with the
//  error if an endpoint cannot be connected. The consumers on thread must
//  be in thread->actors already (the gateway is found when sending).
zi_fanout_t *
    zi_fanout_new (zi_thread_t *thread, const zi_wiring_t *wiring);
void
    zi_fanout_destroy (zi_fanout_t **self_p);
//  Sends a tensor (a reference is taken where it is kept) along a route:
//  to a consumer on this thread in memory, marking it ready (handed: when,
//  in usecs, 0 if unknown), else through its socket
int
    zi_fanout_send (zi_fanout_t *self, zi_fanout_route_t *route, zi_msg_header_t *header,
                    zi_tensor_t *tensor, const zi_trace_t *trace, int64_t handed);
//  True if some consumer is reached through a socket: on another thread
//  or in another process
bool
    zi_fanout_leaves_thread (const zi_fanout_t *self);

#endif
