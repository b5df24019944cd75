/*  =========================================================================
    zi_topology.h - a topology: which actors run in which process on which
    host, as read from a YAML file

    Loading checks everything that can be checked without the model
    (syntax, keys, types, names, references, ports). Placement checks the
    rules against the planned graph's node names. Every error names
    file:line:column, what was expected and what came.
    =========================================================================
*/

#ifndef ZI_TOPOLOGY_H_INCLUDED
#define ZI_TOPOLOGY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define ZI_TOPO_MAX_DIMS 8
//  How long a worker may leave its heartbeat unanswered, or a worker
//  thread go without a pass of its loop, before the launcher restarts it
#define ZI_TOPO_LIVENESS_MSECS 5000
#define ZI_TOPO_PLAN_CACHE 8            //  plan_cache: default
#define ZI_TOPO_BATCH_DELAY_USECS 500   //  batching: max_delay_us default

typedef struct {
    int line;                   //  1-based line in the YAML file
    int column;                 //  1-based column
} zi_topo_mark_t;

typedef struct {
    char *name;                 //  host name, unique
    char *address;              //  where other hosts reach it (IP or DNS name)
    int base_port;              //  first port zinfer allocates on this host
    char public_key [41];       //  CURVE public key, Z85; "" when not given
    char *secret_key_file;      //  its secret key file (read on that host only), or NULL
    int cores;                  //  cores it has, for plan's warnings and split; 0: not said
    double speed;               //  its compute speed relative to the profile's machine (1)
    zi_topo_mark_t mark;        //  where the host is declared
} zi_topo_host_t;

typedef struct {
    char *name;                 //  process name, unique
    int host;                   //  index into hosts
    int threads;                //  worker threads running its actors (>= 1)
    int blas_threads;           //  OpenBLAS threads for its kernels (>= 1)
    int monitor_port;           //  monitor endpoint port, 0: allocated
    zi_topo_mark_t mark;        //  where the process is declared
} zi_topo_process_t;

typedef struct {
    int process;                //  index into processes
    int n_nodes;                //  explicit node names (node: or nodes:)
    char **nodes;               //  the names
    char *from;                 //  first node of a range (inclusive), or NULL
    char *to;                   //  last node of a range (inclusive), or NULL
    int replicas;               //  copies of each placed actor (>= 1)
    zi_topo_mark_t mark;        //  where the rule is written
    zi_topo_mark_t from_mark;   //  where from: is written
    zi_topo_mark_t to_mark;     //  where to: is written
    zi_topo_mark_t *node_marks; //  where each explicit name is written
} zi_topo_rule_t;

typedef struct zi_topology_t {
    char *path;                 //  the YAML file as given
    char *name;                 //  topology name (default: file name without .yaml)
    char *model_path;           //  resolved against the YAML file's folder
    zi_topo_mark_t model_mark;  //  where model: is written
    int base_port;              //  default first port on every host
    int client_port;            //  gateway port for clients, 0: allocated
    bool transport_tcp;         //  between processes of one host: tcp, not ipc
    bool fuse;                  //  apply the fusion passes (as `zinfer run`)
    int input_ndim;             //  input_shape: given (0: the model's own)
    int64_t input_shape [ZI_TOPO_MAX_DIMS];    //  fixes dynamic dimensions
    int n_hosts;                //  hosts
    zi_topo_host_t *hosts;
    int n_processes;            //  processes
    zi_topo_process_t *processes;
    int n_rules;                //  placement rules, in file order
    zi_topo_rule_t *rules;
    int liveness_timeout_ms;    //  restart a worker silent or stuck this long, 0: never
    int64_t max_tensor_bytes;   //  largest tensor a request may make, 0: the default
                                //  (zi_deploy.c, s_frame_limit)
    int64_t max_inflight_bytes; //  input bytes the gateway holds admitted at once, 0: the
                                //  default (zi_deploy.c, s_inflight_budget)
    zi_topo_mark_t max_inflight_bytes_mark; //  where it is written
    int plan_cache;             //  input shapes each worker thread keeps planned
    int max_batch;              //  batching: requests stacked into one at most, 0: off
    int max_delay_us;           //  batching: longest wait of a request for company
    zi_topo_mark_t batching_mark;   //  where batching: is written
    int default_process;        //  for nodes no rule names, -1: none
    int gateway_process;        //  hosts ingress and egress, -1: the first process listed
    bool curve;                 //  tcp sockets use CURVE (default: when hosts > 1)
    int n_client_keys;          //  public keys of clients allowed in, Z85
    char (*client_keys) [41];
    int metrics_port;           //  HTTP /metrics /healthz /readyz of each host's launcher, 0: none
    char *metrics_bind;         //  its address: NULL for 127.0.0.1, "host" for the host's own
    double network_usecs;       //  network: a hop between hosts, fixed cost, microseconds
    double network_bytes_per_usec;  //  and bandwidth; 0 when the file does not say
} zi_topology_t;

//  Reads and checks a topology file; NULL with zi_error_text () set
zi_topology_t *
    zi_topology_load (const char *path);
//  The same from text in memory; path names it in messages and anchors
//  the model path
zi_topology_t *
    zi_topology_load_text (const char *text, size_t size, const char *path);
//  Reads a hosts file, the machines `zinfer split --hosts` may use: a
//  mapping of hosts: (as in a topology, where cores: and speed: matter
//  most), and optionally network:, security: and base_port:, checked as
//  a topology's are. The result has hosts and no processes
zi_topology_t *
    zi_topology_load_hosts (const char *path);
void
    zi_topology_destroy (zi_topology_t **self_p);

//  Index of a host or process by name, or -1
int
    zi_topology_host (const zi_topology_t *self, const char *name);
int
    zi_topology_process (const zi_topology_t *self, const char *name);

//  Applies the placement rules to the planned graph's nodes (names in
//  topological order). Fills process [i] and replicas [i] for every node.
//  Errors: unknown node, node placed twice, range backwards, node left
//  without a process and no default, each with file:line:column.
int
    zi_topology_place (const zi_topology_t *self, int n_nodes, const char *const *names,
                       int *process, int *replicas);

#endif
