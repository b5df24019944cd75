/*  =========================================================================
    zi_placement.h - a deployment's picture: which actor runs in which
    process of which host, and the edges between them with their bytes

    One walk over the deployment's routes serves `zinfer plan` (its edge
    list and its graphviz DOT) and the launcher's live web view (the same
    placement as JSON, drawn by the page), so both show the same edges.
    =========================================================================
*/

#ifndef ZI_PLACEMENT_H_INCLUDED
#define ZI_PLACEMENT_H_INCLUDED

#include "zi_deploy.h"
#include <stdio.h>

//  Where one end of an edge runs: an actor, or the gateway (actor -1)
typedef struct {
    int actor;                  //  actor index, -1: the gateway
    int process;                //  its process
    int thread;                 //  its worker thread there
    int mailbox;                //  the actor whose mailbox a message along
                                //  the edge lands in: the actor itself, or
                                //  the one that carries for its thread
                                //  (zi_deploy's via); -1: the gateway
} zi_placement_end_t;

//  An actor's end of an edge, or the gateway's when node < 0 (a node's
//  first replica stands for them all)
zi_placement_end_t
    zi_placement_end (const zi_deploy_t *deploy, int node);

//  What an edge crosses: 0 nothing, 1 a thread, 2 a process, 3 a host
int
    zi_placement_crossing (const zi_deploy_t *deploy, zi_placement_end_t from,
                           zi_placement_end_t to);
//  "", "thread", "process", "host" for those
const char *
    zi_placement_crossing_name (int crossing);

//  Calls fn for every edge of the deployment: model inputs from the
//  gateway, node outputs to their consumers or the gateway, with the
//  bytes of the value it carries (as planned) and its name. A replicated
//  consumer's end is its first replica, or the first that crosses more
//  from the producer (a thread, where the first shares the producer's).
//  Routes handed on inside a process (relays) travel with another route
//  and are left out; a route that another actor's mailbox carries has
//  that actor as its consumer end's mailbox
typedef void (zi_placement_edge_fn) (const zi_deploy_t *deploy, zi_placement_end_t from,
                                     zi_placement_end_t to, double bytes, const char *value,
                                     void *args);
void
    zi_placement_for_each_edge (const zi_deploy_t *deploy, zi_placement_edge_fn *fn, void *args);

//  Writes the placement as graphviz DOT: processes as clusters inside
//  host clusters, an actor per node box, cross-process edges dashed and
//  labelled with their bytes. usecs (per plan node) and process_usecs
//  (per process) add predicted times to the labels; NULL leaves them out.
//  0, or -1 with the error set when writing failed
int
    zi_placement_write_dot (const zi_deploy_t *deploy, const double *usecs,
                            const double *process_usecs, FILE *out);

//  The placement as compact JSON for the web view: hosts, processes
//  (host, threads, whether it runs the gateway), actors (name, op, node,
//  process, thread) and edges (from, to: actor indexes or -1 for the
//  gateway; bytes; value, its first 200 bytes; crossing). Past max_actors
//  actors or max_actors * 3 edges it lists none and says "truncated": a
//  page must stay small. Returns a malloc'd text and its length in *size
char *
    zi_placement_json (const zi_deploy_t *deploy, int max_actors, size_t *size);

#endif
