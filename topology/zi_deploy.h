/*  =========================================================================
    zi_deploy.h - a topology laid onto a planned model

    Every process of a topology (and every client) computes the same
    deployment from the same YAML and model: which actor runs where, on
    which thread, where its mailbox listens, and where each of its outputs
    goes. Nothing is negotiated at run time, so hosts can start in any
    order.
    =========================================================================
*/

#ifndef ZI_DEPLOY_H_INCLUDED
#define ZI_DEPLOY_H_INCLUDED

#include "zi_classes.h"
#include "zi_topology.h"
#include "zi_keys.h"
#include "zi_msg.h"

//  Largest tensor a topology of a model with unknown input dimensions
//  takes when max_tensor_bytes is not given (or the plan's largest, if
//  larger): what a request may make grows with the sizes it picks, and
//  the sockets' frame limit must bound it before a frame is read
#define ZI_DEPLOY_MAX_TENSOR_BYTES (INT64_C (64) << 20)

//  Input bytes the gateway holds admitted at once when max_inflight_bytes
//  is not given (or one largest request's, if larger): ordinary requests
//  fill the 1024 slots long before (an ImageNet image is 588 KiB), while
//  large ones are held to this rather than to 1024 of them (3 GiB of 3 MiB
//  images, 64 GiB of 64 MiB tensors)
#define ZI_DEPLOY_MAX_INFLIGHT_BYTES (INT64_C (1) << 30)

//  Where a tensor goes: an input slot of a node, or a model output
typedef struct {
    int node;                   //  consuming node, or -1 for the gateway
    int slot;                   //  its input slot, or the model output index
} zi_route_t;

typedef struct {
    int node;                   //  planned graph node
    int replica;                //  0 .. replicas - 1
    int process;                //  topology process index
    int thread;                 //  worker thread within the process
    int tcp_port;               //  mailbox port when reached over tcp, else 0
    bool ipc;                   //  mailbox also listens on ipc
    double cost;                //  estimated work (MACs + bytes touched)
} zi_deploy_actor_t;

typedef struct zi_deploy_t {
    zi_topology_t *topology;    //  the YAML, owned
    zi_model_t *model;          //  the model, owned
    zi_graph_t *plan;           //  planned graph: one actor per node (and replica)
    int n_actors;               //  actors, replicas of a node next to each other
    zi_deploy_actor_t *actors;
    int *first_actor;           //  per node: index of its first replica
    int *replicas;              //  per node: how many replicas
    int *n_routes;              //  per node: routes of its outputs
    zi_route_t **routes;        //  per node: [output * max + k] see zi_deploy_routes
    int **route_output;         //  per node: which output each route carries
    int **relay;                //  per node: per route, -1 if sent directly, else the
                                //  route whose consumer hands the tensor on (zi_deploy.c)
    int **via;                  //  per node: per route, -1 if sent to its consumer's own
                                //  mailbox, else the actor on the consumer's thread whose
                                //  mailbox takes it and hands it on (zi_deploy.c)
    int n_input_routes;         //  model inputs -> consumers
    zi_route_t *input_routes;   //  slot field = consumer slot, node = consumer
    int *input_route_input;     //  which model input each input route carries
    int gateway_process;        //  process hosting ingress and egress
    int gateway_thread;         //  its thread there
    int client_port;            //  tcp port clients connect to
    int gateway_tcp_port;       //  results mailbox port if reached over tcp, else 0
    bool gateway_ipc;           //  results mailbox also listens on ipc
    int *monitor_port;          //  per process: monitor queries (ROUTER)
    int *stats_port;            //  per process: periodic stats (PUB)
    zi_keypair_t keys;          //  this host's CURVE keys, once zi_deploy_load_keys read them
    bool has_keys;              //  keys is set
    int n_dynamic;              //  unknown model input dimensions (not fixed by input_shape:)
    int dynamic_input [ZI_MSG_MAX_DYNAMIC]; //  each one's model input
    int dynamic_axis [ZI_MSG_MAX_DYNAMIC];  //  and axis; the plan took each as 1
    int64_t tensor_limit;       //  largest tensor a request's plan may make
    int64_t frame_limit;        //  largest frame a socket of the topology reads
    int64_t inflight_bytes;     //  input bytes the gateway holds admitted at once
    char ipc_dir [128];         //  folder for ipc endpoints of this deployment
    char id [64];               //  names inproc endpoints uniquely
} zi_deploy_t;

//  Loads the topology and its model and lays it out. base_port > 0
//  overrides the topology's ports (every host's base port moves with it).
zi_deploy_t *
    zi_deploy_new (const char *topology_path, int base_port);
//  The same from the topology alone, without loading or planning the
//  model: processes, the gateway and the client, monitor and stats
//  endpoints, no actors (n_actors 0, plan NULL). For commands that only
//  ask the monitors (status), which must stay quick for a large model.
zi_deploy_t *
    zi_deploy_new_endpoints (const char *topology_path, int base_port);
void
    zi_deploy_destroy (zi_deploy_t **self_p);

//  The actor whose mailbox a node's route arrives in: the actor that
//  carries it (via), else its consumer's, or -1 when that is the gateway
//  or one of several replicas
int
    zi_deploy_lands (const zi_deploy_t *self, int node, int route);
//  Where a peer in process `from` connects to reach an actor's mailbox
//  (actor >= 0) or the gateway's results mailbox (actor -1)
void
    zi_deploy_mailbox (const zi_deploy_t *self, int actor, int from, char *buffer, size_t size);
//  Endpoints the mailbox binds, one per call for index 0, 1, 2; false
//  when there are no more
bool
    zi_deploy_bind (const zi_deploy_t *self, int actor, int index, char *buffer, size_t size);
//  Client endpoint (tcp) of the gateway
void
    zi_deploy_client_endpoint (const zi_deploy_t *self, char *buffer, size_t size);
//  The same from the topology alone, without loading the model (clients)
void
    zi_topology_client_endpoint (const zi_topology_t *topology, int base_port,
                                 char *buffer, size_t size);
//  The gateway's second client endpoint, for clients on its own host and
//  user: ipc, in the deployment's private folder (faster than tcp on
//  loopback; file permissions, not CURVE, guard it)
void
    zi_deploy_client_ipc_endpoint (const zi_deploy_t *self, char *buffer, size_t size);
void
    zi_topology_client_ipc_endpoint (const zi_topology_t *topology, int base_port,
                                     char *buffer, size_t size);
//  Monitor endpoints of a process: queries (ROUTER) and stats (PUB)
void
    zi_deploy_monitor_endpoint (const zi_deploy_t *self, int process, char *buffer, size_t size);
void
    zi_deploy_stats_endpoint (const zi_deploy_t *self, int process, char *buffer, size_t size);
//  With CURVE on, reads the secret key file of the host that runs process
//  (its permissions checked); a no-op when CURVE is off
int
    zi_deploy_load_keys (zi_deploy_t *self, int process);
//  For commands that act as clients (infer, top, inspect, status, trace):
//  with CURVE on, reads the client's secret key file (key_file, else the
//  ZINFER_KEY environment variable), or says that one is needed
int
    zi_deploy_load_client_key (zi_deploy_t *self, const char *key_file);
//  A client of the deployment's gateway at endpoint (NULL: the topology's
//  own), with the keys loaded above (in zi_client.c)
zi_client_t *
    zi_deploy_client (const zi_deploy_t *self, const char *endpoint);
//  Binds socket to endpoint; a tcp endpoint with CURVE on is served with
//  this host's keys and guarded by the process's ZAP handler, which lets
//  in the topology's hosts only (zi_deploy_listen_as: the peers of role)
int
    zi_deploy_listen (const zi_deploy_t *self, void *socket, const char *endpoint);
int
    zi_deploy_listen_as (const zi_deploy_t *self, void *socket, const char *endpoint,
                         zi_role_t role);
//  Connects socket to endpoint, served by process; over tcp with CURVE on,
//  as a CURVE client with own keys (this host's when NULL) that trusts
//  only the serving host's public key
int
    zi_deploy_connect (const zi_deploy_t *self, void *socket, const char *endpoint,
                       int process, const zi_keypair_t *own);

//  Runtime files (ipc sockets, launcher control sockets and locks) of this
//  user: $XDG_RUNTIME_DIR/zinfer when XDG_RUNTIME_DIR is a private folder
//  of this user, else /tmp/zinfer-UID
void
    zi_deploy_runtime_dir (char *buffer, size_t size);
//  0 when path is a folder (not a symbolic link) of this user that group
//  and others cannot enter; else -1 with an error naming what was found
int
    zi_deploy_check_private_dir (const char *path);
//  Creates path with mode 0700 unless it exists, then checks it as above
int
    zi_deploy_make_private_dir (const char *path);
//  Creates (or checks) the runtime folder and the deployment's ipc folder
int
    zi_deploy_make_ipc_dir (const zi_deploy_t *self);

//  Name of an actor for people: node name, with #replica when replicated
const char *
    zi_deploy_actor_name (const zi_deploy_t *self, int actor, char *buffer, size_t size);

#endif
