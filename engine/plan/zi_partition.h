/*  =========================================================================
    zi_partition - where to cut a planned graph into processes

    Given each node's compute time (in topological order), the bytes each
    cut would send and a cost per hop, chooses contiguous ranges of nodes,
    one per process, by dynamic programming over the cut positions: exact,
    O(processes * nodes^2). `zinfer split` writes the ranges as a topology,
    `zinfer plan` predicts a written topology's stages with the same model.
    docs/placement.md explains the cost model.
    =========================================================================
*/

#ifndef ZI_PARTITION_H_INCLUDED
#define ZI_PARTITION_H_INCLUDED

#include "zi_classes.h"

//  What the partition minimises, and how it prices a stage: a request on
//  its own waits for every hop whole, while a pipeline with requests in
//  flight pays on each stage's thread only the copies of the bytes it
//  moves; the fixed part of a hop (waking the next process) overlaps with
//  other requests' work (docs/placement.md)
typedef enum {
    ZI_PARTITION_LATENCY,       //  the sum of stage times and hops: one request
    ZI_PARTITION_THROUGHPUT     //  the slowest stage with its copies: a pipeline
} zi_objective_t;

//  Cost of one hop between processes: fixed + bytes / bandwidth
typedef struct {
    double usecs;               //  fixed cost per message, microseconds
    double bytes_per_usec;      //  bandwidth, bytes per microsecond
} zi_hop_t;

//  What the runtime itself costs a request, beyond its kernels and hops:
//  `zinfer calibrate` measures it (docs/placement.md); 0 when not known
typedef struct {
    double actor_usecs;         //  per actor a request passes: receive, join,
                                //  pool buffer, hand-over, counters
    double thread_usecs;        //  per hand-over between threads of a process
} zi_runtime_cost_t;

//  Documented defaults for processes of one host (docs/placement.md)
#define ZI_HOP_IPC_USECS        30.0
#define ZI_HOP_IPC_BANDWIDTH    2000.0
#define ZI_HOP_TCP_USECS        60.0
#define ZI_HOP_TCP_BANDWIDTH    1000.0

//  The problem and, after zi_partition_solve, its answer. Stage k runs
//  nodes [first [k], first [k + 1]); it sends what crosses the cut at its
//  end, and the last stage of two or more sends the model's outputs back to
//  the gateway (which runs with the first)
typedef struct {
    int n_nodes;                //  nodes in topological order
    const double *usecs;        //  per node: compute time, microseconds
    const double *cut_bytes;    //  per cut c in 1 .. n_nodes - 1: bytes that nodes
                                //  [0, c) (and the model inputs) send to [c, n_nodes)
    double tail_bytes;          //  the model outputs, back to the gateway
    zi_hop_t hop;               //  cost of each hop
    zi_runtime_cost_t runtime;  //  the runtime's own cost per actor and per
                                //  hand-over between threads (0: left out)
    int threads;                //  worker threads per process, over which a
                                //  stage's nodes spread in contiguous runs (0: 1)
    double gateway_usecs;       //  latency: the gateway's part of a request, on
                                //  the first stage: the client's hops in and out
    double intake_usecs;        //  throughput: what the gateway's thread itself
                                //  does, copying the inputs in and the outputs out
    const double *speed;        //  per stage: its machine's speed, dividing the
                                //  profile's times, NULL: all 1
    int n_parts;                //  processes, 1 .. n_nodes
    zi_objective_t objective;   //  what to minimise
    int *first;                 //  n_parts + 1 entries: each stage's first node,
                                //  then n_nodes (filled by zi_partition_solve)
    int spare_threads;          //  throughput: threads beyond one per stage that
                                //  replicas may use (0: none)
    int *stage_spare;           //  or per stage: those of its own host, which its
                                //  replicas use up (shared by the stages of a host
                                //  through stage_host), NULL: spare_threads
    const int *stage_host;      //  per stage: its host, with stage_spare
    int *replicas;              //  n_parts entries, or NULL for one copy of each:
                                //  copies of each stage's nodes (filled by solve;
                                //  more than one only with spare threads)
    double value;               //  the objective's value there, microseconds
} zi_partition_t;

//  Cost of one hop carrying bytes
double
    zi_hop_usecs (const zi_hop_t *hop, double bytes);
//  Of that, the copy of the bytes alone: what a pipeline's stages pay
//  for a hop when requests in flight hide its fixed part
double
    zi_hop_copy_usecs (const zi_hop_t *hop, double bytes);
//  Finds the cut set that minimises the objective: fills first and value.
//  For throughput with spare threads, then replicates the slowest stage
//  while it is a single node (it cannot be cut finer) and threads remain,
//  and fills replicas. Returns -1 with an error when there are fewer
//  nodes than parts
int
    zi_partition_solve (zi_partition_t *self);
//  One stage's compute and send time per request with the cuts in first,
//  priced for the objective, divided among its replicas (each does all the
//  work of the requests it takes, on a thread of its own)
void
    zi_partition_stage (const zi_partition_t *self, int stage, double *compute_usecs,
                        double *send_usecs);
//  Of a stage's compute time from zi_partition_stage, the runtime's own
//  part: its actors, hand-overs between its threads, and for the first
//  stage the gateway's (per request, divided among its replicas)
double
    zi_partition_stage_runtime (const zi_partition_t *self, int stage);
//  The objective's value for the cuts in first (sums the stages afresh)
double
    zi_partition_evaluate (const zi_partition_t *self);
//  The same problem with its stages priced for another objective (the
//  cuts, replicas and everything else shared): a split cut for latency
//  still predicts a pipeline's pace, and one cut for throughput a
//  request's latency
zi_partition_t
    zi_partition_priced_for (const zi_partition_t *self, zi_objective_t objective);

//  Bytes crossing each cut of a planned graph: cut_bytes [c] for c in
//  1 .. n_nodes - 1 (cut_bytes has n_nodes + 1 entries; [0] and [n_nodes]
//  are 0), counting every value a node (or the model's input) makes
//  before the cut and a node reads after it; and the model outputs' bytes
void
    zi_partition_cut_bytes (const zi_graph_t *plan, double *cut_bytes, double *tail_bytes);
//  Reads a `zinfer run --profile-json` file and fills usecs [i] with the
//  time per run of the plan's node i, found by name. -1 with an error
//  naming the first node the file lacks, or what is wrong with the file
int
    zi_partition_read_profile (const char *path, const zi_graph_t *plan, double *usecs);
//  Reads the hop cost of one transport ("ipc" or "tcp") from a file that
//  `zinfer calibrate` wrote. -1 with an error naming the file and what it
//  lacks; hop is left as it was then
int
    zi_hop_read_calibration (const char *path, const char *transport, zi_hop_t *hop);
//  Reads the runtime's own costs from such a file into cost. A file
//  written before `zinfer calibrate` measured them has none: cost is then
//  zeroed and *found false. -1 with an error for a malformed entry
int
    zi_runtime_read_calibration (const char *path, zi_runtime_cost_t *cost, bool *found);

//  Self test: the DP against brute force over every cut set
void
    zi_partition_test (zi_test_t *t);

#endif
