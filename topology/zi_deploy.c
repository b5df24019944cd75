/*  =========================================================================
    zi_deploy - lays a topology onto a planned model

    Deterministic by construction: actors are numbered in topological
    order, threads are contiguous runs of actors balanced by estimated
    cost, and ports are handed out per host from its base port in a fixed
    order (client port, monitor ports, then mailboxes that are reached over
    tcp). Any process that reads the same YAML and model gets the same
    answer, which is what lets hosts start in any order.
    =========================================================================
*/

#include "zi_deploy.h"
#include "zi_batch_axis.h"
#include "zi_zap.h"
#include <zmq.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

//  Work estimate of a node: arithmetic plus memory traffic, both in
//  "operations"; only the ratios between nodes matter
static double
s_cost (const zi_graph_t *plan, const zi_node_t *node)
{
    double cost = (double) zi_graph_node_macs (plan, node);
    for (int slot = 0; slot < node->n_outputs; slot++)
        if (node->outputs [slot] >= 0)
            cost += (double) plan->values [node->outputs [slot]].info.nbytes;
    return cost + 1000;     //  every actor has a fixed cost per message
}

//  Splits a process's nodes (in topological order) into threads of about
//  equal cost, keeping each thread's nodes contiguous so that a request
//  walks along one thread as long as it can
static void
s_assign_threads (zi_deploy_t *self, int process, int threads)
{
    double total = 0;
    for (int index = 0; index < self->n_actors; index++)
        if (self->actors [index].process == process && self->actors [index].replica == 0)
            total += self->actors [index].cost;
    double share = total / threads, done = 0;
    for (int index = 0; index < self->n_actors; index++) {
        zi_deploy_actor_t *actor = &self->actors [index];
        if (actor->process != process || actor->replica != 0)
            continue;
        int thread = (int) ((done + actor->cost / 2) / share);
        if (thread >= threads)
            thread = threads - 1;
        done += actor->cost;
        //  Replicas of a node spread over the following threads
        int replicas = self->replicas [actor->node];
        for (int replica = 0; replica < replicas; replica++) {
            zi_deploy_actor_t *copy = &self->actors [index + replica];
            if (copy->process == process)
                copy->thread = (thread + replica) % threads;
        }
    }
}

//  Records that a peer in process `from` sends to a mailbox in process
//  `to`; returns whether it needs ipc (1), tcp (2) or inproc (0)
static int
s_transport (const zi_deploy_t *self, int from, int to)
{
    if (from == to)
        return 0;
    const zi_topology_t *topology = self->topology;
    if (topology->processes [from].host == topology->processes [to].host)
        return topology->transport_tcp? 2: 1;
    return 2;
}

static void
s_add_route (zi_deploy_t *self, int node, int output, int consumer, int slot)
{
    int count = self->n_routes [node];
    self->routes [node] = realloc (self->routes [node], (count + 1) * sizeof (zi_route_t));
    self->route_output [node] = realloc (self->route_output [node], (count + 1) * sizeof (int));
    assert (self->routes [node] && self->route_output [node]);
    self->routes [node][count] = (zi_route_t) {consumer, slot};
    self->route_output [node][count] = output;
    self->n_routes [node]++;
}

static int
s_build_routes (zi_deploy_t *self)
{
    zi_graph_t *plan = self->plan;
    //  Who produces each value: a node output, or a model input
    for (int index = 0; index < plan->n_nodes; index++) {
        zi_node_t *consumer = &plan->nodes [index];
        for (int slot = 0; slot < consumer->n_inputs; slot++) {
            int value = consumer->inputs [slot];
            if (value < 0 || plan->values [value].constant)
                continue;
            int producer = plan->values [value].producer;
            if (producer >= 0) {
                zi_node_t *node = &plan->nodes [producer];
                for (int output = 0; output < node->n_outputs; output++)
                    if (node->outputs [output] == value)
                        s_add_route (self, producer, output, index, slot);
                continue;
            }
            for (int input = 0; input < plan->n_inputs; input++)
                if (plan->inputs [input] == value) {
                    int count = self->n_input_routes++;
                    self->input_routes = realloc (self->input_routes, (count + 1) * sizeof (zi_route_t));
                    self->input_route_input = realloc (self->input_route_input, (count + 1) * sizeof (int));
                    assert (self->input_routes && self->input_route_input);
                    self->input_routes [count] = (zi_route_t) {index, slot};
                    self->input_route_input [count] = input;
                }
        }
    }
    for (int output = 0; output < plan->n_outputs; output++) {
        int value = plan->outputs [output];
        int producer = plan->values [value].producer;
        if (producer < 0)
            return zi_error ("model output '%s' is a model input or a constant; "
                             "a topology needs every output computed by a node",
                             plan->values [value].name);
        zi_node_t *node = &plan->nodes [producer];
        for (int slot = 0; slot < node->n_outputs; slot++)
            if (node->outputs [slot] == value)
                s_add_route (self, producer, slot, -1, output);
    }
    return 0;
}

//  A tensor crosses to another process once, however many consumers it
//  has on one thread there: the first of them gets it and hands it to the
//  rest. A residual block's input has two consumers (its first layer and
//  its Add), and a split between blocks had sent it twice. Only single
//  actors take part (a replica is picked per message)
static void
s_mark_relays (zi_deploy_t *self)
{
    for (int node = 0; node < self->plan->n_nodes; node++) {
        int n_routes = self->n_routes [node];
        int *relay = self->relay [node] = malloc ((n_routes + 1) * sizeof (int));
        assert (relay);
        for (int route = 0; route < n_routes; route++) {
            relay [route] = -1;
            int consumer = self->routes [node][route].node;
            if (self->replicas [node] != 1 || consumer < 0 || self->replicas [consumer] != 1)
                continue;
            const zi_deploy_actor_t *actor = &self->actors [self->first_actor [consumer]];
            if (actor->process == self->actors [self->first_actor [node]].process)
                continue;
            for (int entry = 0; entry < route && relay [route] < 0; entry++) {
                int other = self->routes [node][entry].node;
                if (relay [entry] >= 0 || other < 0 || self->replicas [other] != 1
                ||  self->route_output [node][entry] != self->route_output [node][route])
                    continue;
                const zi_deploy_actor_t *first = &self->actors [self->first_actor [other]];
                if (first->process == actor->process && first->thread == actor->thread)
                    relay [route] = entry;
            }
        }
    }
}

int
zi_deploy_lands (const zi_deploy_t *self, int node, int route)
{
    assert (self && node >= 0 && node < self->plan->n_nodes && route < self->n_routes [node]);
    if (self->via [node][route] >= 0)
        return self->via [node][route];
    int consumer = self->routes [node][route].node;
    return consumer >= 0 && self->replicas [consumer] == 1? self->first_actor [consumer]: -1;
}

//  A route that may go through another actor's mailbox: a single
//  producer's, sent (not relayed), to a single consumer in another process
static bool
s_carriable (const zi_deploy_t *self, int node, int route)
{
    int consumer = self->routes [node][route].node;
    return self->replicas [node] == 1 && self->relay [node][route] < 0
        && consumer >= 0 && self->replicas [consumer] == 1
        && self->actors [self->first_actor [consumer]].process
        != self->actors [self->first_actor [node]].process;
}

//  The actor whose mailbox takes what a process sends to the thread of
//  actor `to`: the consumer of the first carriable route from that process
//  to that thread, in node and route order
static int
s_carrier (const zi_deploy_t *self, int from, const zi_deploy_actor_t *to)
{
    for (int node = 0; node < self->plan->n_nodes; node++) {
        if (self->actors [self->first_actor [node]].process != from)
            continue;
        for (int route = 0; route < self->n_routes [node]; route++) {
            if (!s_carriable (self, node, route))
                continue;
            int actor = self->first_actor [self->routes [node][route].node];
            if (self->actors [actor].process == to->process
            &&  self->actors [actor].thread == to->thread)
                return actor;
        }
    }
    return -1;
}

//  Every tensor that one process sends to actors on one thread of another
//  goes to one mailbox there, whose actor hands each on to its consumer,
//  so that the thread waits on one mailbox and wakes once per message
//  rather than poll several (docs/performance.md). The receiver tells the
//  tensors apart by the header's source and slot, as a relay does: a route
//  whose pair would reach that mailbox twice from one producer (two
//  outputs into the same slot number of two consumers) stays direct
static void
s_mark_carriers (zi_deploy_t *self)
{
    for (int node = 0; node < self->plan->n_nodes; node++) {
        int n_routes = self->n_routes [node];
        int *via = self->via [node] = malloc ((n_routes + 1) * sizeof (int));
        assert (via);
        for (int route = 0; route < n_routes; route++)
            via [route] = -1;
    }
    for (int node = 0; node < self->plan->n_nodes; node++)
        for (int route = 0; route < self->n_routes [node]; route++) {
            if (!s_carriable (self, node, route))
                continue;
            const zi_deploy_actor_t *consumer =
                &self->actors [self->first_actor [self->routes [node][route].node]];
            int from = self->actors [self->first_actor [node]].process;
            int carrier = s_carrier (self, from, consumer);
            if (carrier < 0 || &self->actors [carrier] == consumer)
                continue;
            bool clash = false;
            for (int other = 0; other < self->n_routes [node] && !clash; other++)
                clash = other != route && self->relay [node][other] < 0
                     && self->routes [node][other].slot == self->routes [node][route].slot
                     && zi_deploy_lands (self, node, other) == carrier;
            if (!clash)
                self->via [node][route] = carrier;
        }
}

//  Marks which mailboxes need ipc or tcp endpoints
static void
s_mark_transports (zi_deploy_t *self)
{
    for (int node = 0; node < self->plan->n_nodes; node++)
        for (int route = 0; route < self->n_routes [node]; route++) {
            int consumer = self->routes [node][route].node;
            if (self->relay [node][route] >= 0)
                continue;       //  handed on inside its process
            int via = self->via [node][route];
            if (via >= 0) {     //  a single producer, into the carrier's mailbox
                int producer_process = self->actors [self->first_actor [node]].process;
                int kind = s_transport (self, producer_process, self->actors [via].process);
                if (kind == 1)
                    self->actors [via].ipc = true;
                if (kind == 2)
                    self->actors [via].tcp_port = -1;
                continue;
            }
            for (int from = 0; from < self->replicas [node]; from++) {
                int producer_process = self->actors [self->first_actor [node] + from].process;
                if (consumer < 0) {
                    int kind = s_transport (self, producer_process, self->gateway_process);
                    if (kind == 1)
                        self->gateway_ipc = true;
                    if (kind == 2)
                        self->gateway_tcp_port = -1;    //  allocated below
                    continue;
                }
                for (int to = 0; to < self->replicas [consumer]; to++) {
                    zi_deploy_actor_t *actor = &self->actors [self->first_actor [consumer] + to];
                    int kind = s_transport (self, producer_process, actor->process);
                    if (kind == 1)
                        actor->ipc = true;
                    if (kind == 2)
                        actor->tcp_port = -1;
                }
            }
        }
    for (int route = 0; route < self->n_input_routes; route++) {
        int consumer = self->input_routes [route].node;
        for (int to = 0; to < self->replicas [consumer]; to++) {
            zi_deploy_actor_t *actor = &self->actors [self->first_actor [consumer] + to];
            int kind = s_transport (self, self->gateway_process, actor->process);
            if (kind == 1)
                actor->ipc = true;
            if (kind == 2)
                actor->tcp_port = -1;
        }
    }
}

//  Next free port on a host, skipping ports the topology names explicitly
static int
s_next_port (const zi_topology_t *topology, int gateway_process, int host, int *next, int offset)
{
    while (true) {
        int port = (*next)++;
        bool taken = false;
        if (topology->client_port && topology->client_port + offset == port
        &&  topology->processes [gateway_process].host == host)
            taken = true;
        for (int process = 0; process < topology->n_processes; process++)
            if (topology->processes [process].host == host
            &&  topology->processes [process].monitor_port
            &&  topology->processes [process].monitor_port + offset == port)
                taken = true;
        if (topology->metrics_port && topology->metrics_port + offset == port)
            taken = true;
        if (!taken)
            return port;
    }
}

//  The gateway is where the topology says, else in the first process
static int
s_gateway_process (const zi_topology_t *topology)
{
    return topology->gateway_process >= 0? topology->gateway_process: 0;
}

//  Whether a folder's status is that of a folder only this user may
//  enter: a folder itself (lstat: a symbolic link is not one), ours, and
//  closed to group and others
static bool
s_private_folder (const struct stat *info)
{
    return S_ISDIR (info->st_mode) && info->st_uid == getuid ()
        && (info->st_mode & (S_IRWXG | S_IRWXO)) == 0;
}

void
zi_deploy_runtime_dir (char *buffer, size_t size)
{
    //  The session's own folder (systemd makes it, mode 0700) is out of
    //  other users' reach from the start; taken only when it is what it
    //  claims and short enough to leave room for socket names (108 bytes)
    const char *session = getenv ("XDG_RUNTIME_DIR");
    struct stat info;
    if (session && *session == '/' && strlen (session) <= 40
    &&  lstat (session, &info) == 0 && s_private_folder (&info))
        snprintf (buffer, size, "%s/zinfer", session);
    else
        snprintf (buffer, size, "/tmp/zinfer-%d", (int) getuid ());
}

int
zi_deploy_check_private_dir (const char *path)
{
    struct stat info;
    if (lstat (path, &info))
        return zi_error ("runtime folder %s: %s", path, strerror (errno));
    if (s_private_folder (&info))
        return 0;
    char found [300];
    if (S_ISLNK (info.st_mode)) {
        char target [256] = "";
        ssize_t length = readlink (path, target, sizeof target - 1);
        target [length > 0? length: 0] = 0;
        snprintf (found, sizeof found, "a symbolic link to '%s', owned by uid %d", target,
                  (int) info.st_uid);
    }
    else
        snprintf (found, sizeof found, "%s owned by uid %d with mode %04o",
                  S_ISDIR (info.st_mode)? "a folder": "not a folder but a file",
                  (int) info.st_uid, (unsigned) (info.st_mode & 07777));
    //  Whoever else can write there can take the place of our sockets and
    //  receive our requests; we neither use it nor repair it (files may
    //  already wait in it), the user decides
    return zi_error ("runtime folder %s is %s; expected a folder of uid %d (this user) that "
                     "group and others cannot enter (mode 0700). Another user may have made "
                     "it to receive this user's requests: remove it (as its owner or root), "
                     "or set XDG_RUNTIME_DIR to a private folder", path, found,
                     (int) getuid ());
}

int
zi_deploy_make_private_dir (const char *path)
{
    if (mkdir (path, 0700) && errno != EEXIST)
        return zi_error ("cannot create runtime folder %s: %s", path, strerror (errno));
    return zi_deploy_check_private_dir (path);
}

int
zi_deploy_make_ipc_dir (const zi_deploy_t *self)
{
    //  The runtime folder first: once it is ours and closed, nobody else
    //  can place or replace anything beneath it
    char runtime [128];
    zi_deploy_runtime_dir (runtime, sizeof runtime);
    if (zi_deploy_make_private_dir (runtime) || zi_deploy_make_private_dir (self->ipc_dir))
        return -1;
    return 0;
}

//  The deployment's name for inproc endpoints and its folder for ipc
//  ones: the same from the topology alone, so that clients find them.
//  The topology's name is a safe file name (zi_topology.c checks it).
static void
s_names (const zi_topology_t *topology, int offset, char *id, size_t id_size, char *ipc_dir,
         size_t ipc_dir_size)
{
    int first_base = topology->hosts [0].base_port + offset;
    snprintf (id, id_size, "%.40s-%d", topology->name, first_base);
    char runtime [64];
    zi_deploy_runtime_dir (runtime, sizeof runtime);
    snprintf (ipc_dir, ipc_dir_size, "%s/%s", runtime, id);
}

void
zi_topology_client_ipc_endpoint (const zi_topology_t *topology, int base_port, char *buffer,
                                 size_t size)
{
    int offset = base_port > 0? base_port - topology->base_port: 0;
    char id [64], ipc_dir [128];
    s_names (topology, offset, id, sizeof id, ipc_dir, sizeof ipc_dir);
    snprintf (buffer, size, "ipc://%s/clients", ipc_dir);
}

void
zi_deploy_client_ipc_endpoint (const zi_deploy_t *self, char *buffer, size_t size)
{
    snprintf (buffer, size, "ipc://%s/clients", self->ipc_dir);
}

void
zi_topology_client_endpoint (const zi_topology_t *topology, int base_port, char *buffer, size_t size)
{
    int offset = base_port > 0? base_port - topology->base_port: 0;
    int gateway = s_gateway_process (topology);
    int host = topology->processes [gateway].host;
    int next = topology->hosts [host].base_port + offset;
    int port = topology->client_port? topology->client_port + offset:
               s_next_port (topology, gateway, host, &next, offset);
    snprintf (buffer, size, "tcp://%s:%d", topology->hosts [host].address, port);
}

static int
s_assign_ports (zi_deploy_t *self, int offset)
{
    const zi_topology_t *topology = self->topology;
    self->monitor_port = calloc (topology->n_processes + 1, sizeof (int));
    self->stats_port = calloc (topology->n_processes + 1, sizeof (int));
    assert (self->monitor_port && self->stats_port);
    for (int host = 0; host < topology->n_hosts; host++) {
        int next = topology->hosts [host].base_port + offset;
        if (topology->processes [self->gateway_process].host == host)
            self->client_port = topology->client_port? topology->client_port + offset:
                                s_next_port (topology, self->gateway_process, host, &next, offset);
        for (int process = 0; process < topology->n_processes; process++)
            if (topology->processes [process].host == host) {
                self->monitor_port [process] = topology->processes [process].monitor_port?
                    topology->processes [process].monitor_port + offset:
                    s_next_port (topology, self->gateway_process, host, &next, offset);
                self->stats_port [process] =
                    s_next_port (topology, self->gateway_process, host, &next, offset);
            }
        for (int index = 0; index < self->n_actors; index++) {
            zi_deploy_actor_t *actor = &self->actors [index];
            if (actor->tcp_port == -1 && topology->processes [actor->process].host == host)
                actor->tcp_port = s_next_port (topology, self->gateway_process, host, &next, offset);
        }
        if (self->gateway_tcp_port == -1 && topology->processes [self->gateway_process].host == host)
            self->gateway_tcp_port = s_next_port (topology, self->gateway_process, host, &next, offset);
        if (next > 65535)
            return zi_error ("%s: host '%s' runs out of ports (base port %d, %d needed)",
                             topology->path, topology->hosts [host].name,
                             topology->hosts [host].base_port + offset,
                             next - topology->hosts [host].base_port - offset);
    }
    return 0;
}

//  The gateway's budget of admitted input bytes. A request is its inputs
//  at the sizes the plan took (with unknown dimensions a request may be
//  larger, and is refused by the gateway if it can never fit): a budget
//  below one such request could admit nothing, so it is refused here
static int
s_inflight_budget (zi_deploy_t *self)
{
    const zi_topology_t *topology = self->topology;
    const zi_graph_t *plan = self->plan;
    int64_t request = 0, largest = 0;
    for (int input = 0; input < plan->n_inputs; input++) {
        request += (int64_t) plan->values [plan->inputs [input]].info.nbytes;
        //  What a frame may carry, with unknown dimensions: the most a
        //  request could be
        largest += self->n_dynamic? self->tensor_limit:
                   (int64_t) plan->values [plan->inputs [input]].info.nbytes;
    }
    if (topology->max_inflight_bytes) {
        self->inflight_bytes = topology->max_inflight_bytes;
        if (self->inflight_bytes < request)
            return zi_error ("%s:%d:%d: max_inflight_bytes %lld is less than one request's "
                             "inputs; expected at least %lld", topology->path,
                             topology->max_inflight_bytes_mark.line,
                             topology->max_inflight_bytes_mark.column,
                             (long long) self->inflight_bytes, (long long) request);
        return 0;
    }
    self->inflight_bytes = largest > ZI_DEPLOY_MAX_INFLIGHT_BYTES?
                           largest: ZI_DEPLOY_MAX_INFLIGHT_BYTES;
    return 0;
}

//  The model's unknown input dimensions, which requests size as they like
//  (input_shape: fixes the first input's), the frame limit that follows,
//  and whether batching can stack requests along dimension 0
static int
s_find_dynamic (zi_deploy_t *self)
{
    const zi_topology_t *topology = self->topology;
    const zi_graph_t *model = self->model->graph;
    for (int input = 0; input < model->n_inputs; input++) {
        const zi_value_t *value = &model->values [model->inputs [input]];
        if (input == 0 && topology->input_ndim)
            continue;
        for (int axis = 0; axis < value->info.ndim; axis++) {
            if (value->info.dims [axis] >= 0)
                continue;
            if (self->n_dynamic == ZI_MSG_MAX_DYNAMIC)
                return zi_error ("%s: the model has more than %d unknown input dimensions; "
                                 "a topology serves at most %d (fix some with input_shape:)",
                                 topology->path, ZI_MSG_MAX_DYNAMIC, ZI_MSG_MAX_DYNAMIC);
            self->dynamic_input [self->n_dynamic] = input;
            self->dynamic_axis [self->n_dynamic++] = axis;
        }
        if (topology->max_batch
        && (value->info.ndim == 0 || value->info.dims [0] >= 0)) {
            char shape [128];
            zi_shape_str (value->info.ndim, value->info.dims, shape, sizeof shape);
            return zi_error ("%s:%d:%d: batching stacks requests along dimension 0, which "
                             "the model must leave unknown; input '%s' is %s %s",
                             topology->path, topology->batching_mark.line,
                             topology->batching_mark.column, value->name,
                             zi_dtype_name (value->info.dtype), shape);
        }
    }
    if (topology->max_batch && topology->input_ndim)
        return zi_error ("%s:%d:%d: batching stacks requests along dimension 0, which "
                         "input_shape: fixes; expected one or the other", topology->path,
                         topology->batching_mark.line, topology->batching_mark.column);
    //  Stacked rows must stay apart through the model, or each answer
    //  would depend on who else was in the batch
    if (topology->max_batch && zi_batch_axis_check (model)) {
        char why [600];
        snprintf (why, sizeof why, "%s", zi_error_text ());
        return zi_error ("%s:%d:%d: batching needs each row of an answer computed from the "
                         "same row of the inputs alone; %s (turn batching off for this model)",
                         topology->path, topology->batching_mark.line,
                         topology->batching_mark.column, why);
    }
    self->frame_limit = zi_msg_frame_limit (self->plan);
    for (int value = 0; value < self->plan->n_values; value++)
        if ((int64_t) self->plan->values [value].info.nbytes > self->tensor_limit)
            self->tensor_limit = (int64_t) self->plan->values [value].info.nbytes;
    if (self->n_dynamic) {
        if (topology->max_tensor_bytes)
            self->tensor_limit = topology->max_tensor_bytes;
        else
        if (self->tensor_limit < ZI_DEPLOY_MAX_TENSOR_BYTES)
            self->tensor_limit = ZI_DEPLOY_MAX_TENSOR_BYTES;
        if (self->tensor_limit + ZI_MSG_HEADER_MAX > self->frame_limit)
            self->frame_limit = self->tensor_limit + ZI_MSG_HEADER_MAX;
    }
    return s_inflight_budget (self);
}

zi_deploy_t *
zi_deploy_new (const char *topology_path, int base_port)
{
    zi_deploy_t *self = calloc (1, sizeof (zi_deploy_t));
    assert (self);
    self->topology = zi_topology_load (topology_path);
    if (!self->topology)
        goto failed;
    zi_topology_t *topology = self->topology;
    self->model = zi_model_load (topology->model_path);
    if (!self->model) {
        zi_error_prefix ("%s:%d:%d: model", topology->path, topology->model_mark.line,
                         topology->model_mark.column);
        goto failed;
    }
    self->plan = zi_graph_dup (self->model->graph);
    zi_graph_t *plan = self->plan;
    if (plan->n_inputs > ZI_MAX_GRAPH_INPUTS || plan->n_outputs > ZI_MAX_GRAPH_OUTPUTS) {
        zi_error ("%s: the model has %d inputs and %d outputs; a topology takes at most %d "
                  "and %d", topology->path, plan->n_inputs, plan->n_outputs,
                  ZI_MAX_GRAPH_INPUTS, ZI_MAX_GRAPH_OUTPUTS);
        goto failed;
    }
    zi_tensor_t *shapes [ZI_MAX_GRAPH_INPUTS] = {NULL};
    if (topology->input_ndim && plan->n_inputs > 0) {
        //  input_shape: fixes the first input; the others keep the model's
        for (int input = 0; input < plan->n_inputs; input++) {
            const zi_tensor_t *info = &plan->values [plan->inputs [input]].info;
            int64_t dims [ZI_MAX_DIMS];
            for (int axis = 0; axis < info->ndim; axis++)
                dims [axis] = info->dims [axis] < 0? 1: info->dims [axis];
            shapes [input] = input == 0?
                zi_tensor_wrap (info->dtype, topology->input_ndim, topology->input_shape, NULL, NULL, NULL):
                zi_tensor_wrap (info->dtype, info->ndim, dims, NULL, NULL, NULL);
        }
    }
    int rc = zi_graph_plan (plan, topology->input_ndim? (const zi_tensor_t *const *) shapes: NULL,
                            !topology->fuse);
    for (int input = 0; input < ZI_MAX_GRAPH_INPUTS; input++)
        zi_tensor_destroy (&shapes [input]);
    if (rc) {
        zi_error_prefix ("%s: planning %s", topology->path, topology->model_path);
        goto failed;
    }
    if (plan->n_nodes == 0) {
        zi_error ("%s: the model has no nodes left to run after planning", topology->path);
        goto failed;
    }
    if (s_find_dynamic (self))
        goto failed;

    //  Placement: which process and how many replicas per node
    int n_nodes = plan->n_nodes;
    const char **names = calloc (n_nodes, sizeof (char *));
    int *process = calloc (n_nodes, sizeof (int));
    self->replicas = calloc (n_nodes, sizeof (int));
    self->first_actor = calloc (n_nodes, sizeof (int));
    self->n_routes = calloc (n_nodes, sizeof (int));
    self->routes = calloc (n_nodes, sizeof (zi_route_t *));
    self->route_output = calloc (n_nodes, sizeof (int *));
    self->relay = calloc (n_nodes, sizeof (int *));
    self->via = calloc (n_nodes, sizeof (int *));
    assert (self->relay && self->via);
    assert (names && process && self->replicas && self->first_actor);
    for (int node = 0; node < n_nodes; node++)
        names [node] = plan->nodes [node].name;
    rc = zi_topology_place (topology, n_nodes, names, process, self->replicas);
    free (names);
    if (rc) {
        free (process);
        goto failed;
    }
    for (int node = 0; node < n_nodes; node++)
        self->n_actors += self->replicas [node];
    self->actors = calloc (self->n_actors, sizeof (zi_deploy_actor_t));
    assert (self->actors);
    int next = 0;
    for (int node = 0; node < n_nodes; node++) {
        self->first_actor [node] = next;
        for (int replica = 0; replica < self->replicas [node]; replica++) {
            zi_deploy_actor_t *actor = &self->actors [next++];
            actor->node = node;
            actor->replica = replica;
            actor->process = process [node];
            actor->cost = s_cost (plan, &plan->nodes [node]);
        }
    }
    free (process);
    self->gateway_process = s_gateway_process (topology);
    for (int index = 0; index < topology->n_processes; index++)
        s_assign_threads (self, index, topology->processes [index].threads);
    //  The gateway shares the thread of the first actor of its process, so
    //  a request's first hop is a same-thread one where it can be
    self->gateway_thread = 0;
    for (int index = 0; index < self->n_actors; index++)
        if (self->actors [index].process == self->gateway_process) {
            self->gateway_thread = self->actors [index].thread;
            break;
        }
    if (s_build_routes (self))
        goto failed;
    s_mark_relays (self);
    s_mark_carriers (self);
    s_mark_transports (self);
    int offset = base_port > 0? base_port - topology->base_port: 0;
    if (s_assign_ports (self, offset))
        goto failed;
    s_names (topology, offset, self->id, sizeof self->id, self->ipc_dir, sizeof self->ipc_dir);
    return self;

failed:
    zi_deploy_destroy (&self);
    return NULL;
}

zi_deploy_t *
zi_deploy_new_endpoints (const char *topology_path, int base_port)
{
    zi_deploy_t *self = calloc (1, sizeof (zi_deploy_t));
    assert (self);
    self->topology = zi_topology_load (topology_path);
    if (!self->topology) {
        free (self);
        return NULL;
    }
    //  The client, monitor and stats ports come before any actor's on
    //  each host, so they are the same without the plan's actors
    self->gateway_process = s_gateway_process (self->topology);
    int offset = base_port > 0? base_port - self->topology->base_port: 0;
    if (s_assign_ports (self, offset)) {
        zi_deploy_destroy (&self);
        return NULL;
    }
    s_names (self->topology, offset, self->id, sizeof self->id, self->ipc_dir,
             sizeof self->ipc_dir);
    return self;
}

void
zi_deploy_destroy (zi_deploy_t **self_p)
{
    assert (self_p);
    zi_deploy_t *self = *self_p;
    if (!self)
        return;
    for (int node = 0; self->plan && self->routes && node < self->plan->n_nodes; node++) {
        free (self->routes [node]);
        free (self->route_output [node]);
        if (self->relay)
            free (self->relay [node]);
        if (self->via)
            free (self->via [node]);
    }
    free (self->routes);
    free (self->route_output);
    free (self->relay);
    free (self->via);
    free (self->n_routes);
    free (self->input_routes);
    free (self->input_route_input);
    free (self->actors);
    free (self->first_actor);
    free (self->replicas);
    free (self->monitor_port);
    free (self->stats_port);
    zi_graph_destroy (&self->plan);
    zi_model_destroy (&self->model);
    zi_topology_destroy (&self->topology);
    free (self);
    *self_p = NULL;
}

static const char *
s_address (const zi_deploy_t *self, int process)
{
    return self->topology->hosts [self->topology->processes [process].host].address;
}

void
zi_deploy_mailbox (const zi_deploy_t *self, int actor, int from, char *buffer, size_t size)
{
    int process = actor >= 0? self->actors [actor].process: self->gateway_process;
    char name [32];
    if (actor >= 0)
        snprintf (name, sizeof name, "a%d", actor);
    else
        snprintf (name, sizeof name, "results");
    int kind = s_transport (self, from, process);
    if (kind == 0)
        snprintf (buffer, size, "inproc://%s/%s", self->id, name);
    else
    if (kind == 1)
        snprintf (buffer, size, "ipc://%s/%s", self->ipc_dir, name);
    else
        snprintf (buffer, size, "tcp://%s:%d", s_address (self, process),
                  actor >= 0? self->actors [actor].tcp_port: self->gateway_tcp_port);
}

bool
zi_deploy_bind (const zi_deploy_t *self, int actor, int index, char *buffer, size_t size)
{
    int process = actor >= 0? self->actors [actor].process: self->gateway_process;
    bool ipc = actor >= 0? self->actors [actor].ipc: self->gateway_ipc;
    int port = actor >= 0? self->actors [actor].tcp_port: self->gateway_tcp_port;
    char name [32];
    if (actor >= 0)
        snprintf (name, sizeof name, "a%d", actor);
    else
        snprintf (name, sizeof name, "results");
    //  Endpoints in a fixed order: inproc, then ipc and tcp when needed
    const char *kinds [3];
    int count = 0;
    kinds [count++] = "inproc";
    if (ipc)
        kinds [count++] = "ipc";
    if (port > 0)
        kinds [count++] = "tcp";
    if (index >= count)
        return false;
    if (strcmp (kinds [index], "inproc") == 0)
        snprintf (buffer, size, "inproc://%s/%s", self->id, name);
    else
    if (strcmp (kinds [index], "ipc") == 0)
        snprintf (buffer, size, "ipc://%s/%s", self->ipc_dir, name);
    else
        snprintf (buffer, size, "tcp://%s:%d", s_address (self, process), port);
    return true;
}

int
zi_deploy_load_keys (zi_deploy_t *self, int process)
{
    const zi_topology_t *topology = self->topology;
    if (!topology->curve || self->has_keys)
        return 0;
    const zi_topo_host_t *host = &topology->hosts [topology->processes [process].host];
    if (zi_keys_load_secret (host->secret_key_file, &self->keys)) {
        zi_error_prefix ("host '%s'", host->name);
        return -1;
    }
    if (strcmp (self->keys.public_key, host->public_key))
        return zi_error ("host '%s': secret key file '%s' does not belong to the public_key "
                         "the topology gives this host", host->name, host->secret_key_file);
    self->has_keys = true;
    return 0;
}

int
zi_deploy_load_client_key (zi_deploy_t *self, const char *key_file)
{
    if (!self->topology->curve || self->has_keys)
        return 0;
    const char *path = zi_keys_client_path (key_file);
    if (!path)
        return zi_error ("topology '%s' uses CURVE: give a client key with --key FILE (or "
                         "ZINFER_KEY=FILE): a secret key file from `zinfer keygen NAME` "
                         "whose public key is listed under security: clients:",
                         self->topology->name);
    if (zi_keys_load_secret (path, &self->keys))
        return -1;
    self->has_keys = true;
    return 0;
}

static bool
s_curve_on (const zi_deploy_t *self, const char *endpoint)
{
    return self->topology->curve && strncmp (endpoint, "tcp://", 6) == 0;
}

int
zi_deploy_listen (const zi_deploy_t *self, void *socket, const char *endpoint)
{
    return zi_deploy_listen_as (self, socket, endpoint, ZI_ROLE_HOST);
}

int
zi_deploy_listen_as (const zi_deploy_t *self, void *socket, const char *endpoint,
                     zi_role_t role)
{
    bool curve = s_curve_on (self, endpoint);
    if (curve) {
        assert (self->has_keys);        //  zi_deploy_load_keys came first: our bug if not
        zi_keys_serve (socket, &self->keys, role);
    }
    int rc = zmq_bind (socket, endpoint);
    int error = zmq_errno ();
    if (curve) {
        zi_keys_plain (socket);
        if (rc == 0)
            zi_zap_watch (socket);
    }
    return rc? zi_error ("cannot bind %s: %s", endpoint, zmq_strerror (error)): 0;
}

int
zi_deploy_connect (const zi_deploy_t *self, void *socket, const char *endpoint, int process,
                   const zi_keypair_t *own)
{
    bool curve = s_curve_on (self, endpoint);
    if (curve) {
        const zi_topology_t *topology = self->topology;
        assert (own || self->has_keys);
        zi_keys_connect_as (socket, own? own: &self->keys,
                            topology->hosts [topology->processes [process].host].public_key);
    }
    int rc = zmq_connect (socket, endpoint);
    int error = zmq_errno ();
    if (curve)
        zi_keys_plain (socket);
    return rc? zi_error ("cannot connect %s: %s", endpoint, zmq_strerror (error)): 0;
}

void
zi_deploy_client_endpoint (const zi_deploy_t *self, char *buffer, size_t size)
{
    snprintf (buffer, size, "tcp://%s:%d", s_address (self, self->gateway_process),
              self->client_port);
}

void
zi_deploy_monitor_endpoint (const zi_deploy_t *self, int process, char *buffer, size_t size)
{
    snprintf (buffer, size, "tcp://%s:%d", s_address (self, process), self->monitor_port [process]);
}

void
zi_deploy_stats_endpoint (const zi_deploy_t *self, int process, char *buffer, size_t size)
{
    snprintf (buffer, size, "tcp://%s:%d", s_address (self, process), self->stats_port [process]);
}

const char *
zi_deploy_actor_name (const zi_deploy_t *self, int actor, char *buffer, size_t size)
{
    const zi_deploy_actor_t *info = &self->actors [actor];
    const char *name = self->plan->nodes [info->node].name;
    if (self->replicas [info->node] > 1)
        snprintf (buffer, size, "%s#%d", name, info->replica);
    else
        snprintf (buffer, size, "%s", name);
    return buffer;
}
