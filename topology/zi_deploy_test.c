/*  =========================================================================
    zi_deploy_test - self test of the deployment computed from a topology

    Every process must derive the same actors, threads, routes and ports
    from the same YAML, with nothing negotiated at run time. The test lays
    the digits CNN (the model `zinfer demo` embeds) out in one, two and
    three processes, from topologies it writes itself, and checks each
    layout against what its own YAML says: which process and thread runs
    each actor, which edges cross processes and by which transport, the
    endpoints each mailbox binds and each peer connects to, the ports in
    the documented order, relays and the gateway's fan-out. Then the
    example topology (topology/examples): the same answer computed twice,
    or moved by a base port. Then topologies that must be refused.
    =========================================================================
*/

#include "zi_deploy.h"
#include "zi_wiring.h"
#include <errno.h>
#include <unistd.h>

//  The example topology beside this file: the digits CNN in three
//  processes over tcp, base port 7100
static void
s_example_path (char *path, size_t size)
{
    const char *source = __FILE__;
    const char *slash = strrchr (source, '/');
    snprintf (path, size, "%.*sexamples/digits_split.yaml",
              slash? (int) (slash - source + 1): 0, source);
}

//  The process a node's first actor runs in, by node name
static int
s_process_of (const zi_deploy_t *deploy, const char *name)
{
    for (int node = 0; node < deploy->plan->n_nodes; node++)
        if (strcmp (deploy->plan->nodes [node].name, name) == 0)
            return deploy->actors [deploy->first_actor [node]].process;
    return -1;
}

//  Every port the deployment uses, into ports; returns how many
static int
s_ports (const zi_deploy_t *deploy, int *ports, int max)
{
    int count = 0;
    ports [count++] = deploy->client_port;
    if (deploy->gateway_tcp_port > 0)
        ports [count++] = deploy->gateway_tcp_port;
    for (int process = 0; process < deploy->topology->n_processes && count + 2 <= max; process++) {
        ports [count++] = deploy->monitor_port [process];
        ports [count++] = deploy->stats_port [process];
    }
    for (int actor = 0; actor < deploy->n_actors && count < max; actor++)
        if (deploy->actors [actor].tcp_port > 0)
            ports [count++] = deploy->actors [actor].tcp_port;
    return count;
}

static void
s_test_example (zi_test_t *t)
{
    char path [1024];
    s_example_path (path, sizeof path);
    zi_deploy_t *deploy = zi_deploy_new (path, 0);
    ZI_CHECK (t, deploy != NULL, "the digits split deploys: %s", deploy? "": zi_error_text ());
    if (!deploy)
        return;
    zi_graph_t *plan = deploy->plan;

    //  One actor per planned node, each where the placement puts it
    ZI_CHECK (t, deploy->n_actors == plan->n_nodes, "one actor per node (%d actors, %d nodes)",
              deploy->n_actors, plan->n_nodes);
    ZI_CHECK (t, s_process_of (deploy, "/conv1/Conv") == 0 && s_process_of (deploy, "/pool/MaxPool") == 0
              && s_process_of (deploy, "/conv3/Conv") == 1
              && s_process_of (deploy, "/flatten/Flatten") == 1
              && s_process_of (deploy, "/fc1/Gemm") == 2,
              "nodes run in the processes their ranges name");
    ZI_CHECK (t, deploy->gateway_process == s_process_of (deploy, "/conv1/Conv"),
              "the gateway runs with the first node (process %d)", deploy->gateway_process);

    //  Routes follow the graph's edges, and a mailbox listens on tcp
    //  exactly when a producer (or the gateway) in another process feeds it
    int edges = 0, routes = 0;
    for (int node = 0; node < plan->n_nodes; node++) {
        const zi_node_t *consumer = &plan->nodes [node];
        for (int slot = 0; slot < consumer->n_inputs; slot++) {
            int value = consumer->inputs [slot];
            if (value >= 0 && !plan->values [value].constant)
                edges++;
        }
        routes += deploy->n_routes [node];
    }
    for (int output = 0; output < plan->n_outputs; output++)
        edges++;            //  the gateway reads each model output
    routes += deploy->n_input_routes;
    ZI_CHECK (t, routes == edges, "a route per edge into a node or the gateway (%d, %d)",
              routes, edges);
    bool tcp_right = true;
    for (int actor = 0; actor < deploy->n_actors; actor++) {
        const zi_deploy_actor_t *me = &deploy->actors [actor];
        bool fed_from_elsewhere = false;
        for (int producer = 0; producer < plan->n_nodes; producer++)
            for (int route = 0; route < deploy->n_routes [producer]; route++)
                if (deploy->routes [producer][route].node == me->node
                &&  deploy->actors [deploy->first_actor [producer]].process != me->process)
                    fed_from_elsewhere = true;
        for (int route = 0; route < deploy->n_input_routes; route++)
            if (deploy->input_routes [route].node == me->node
            &&  deploy->gateway_process != me->process)
                fed_from_elsewhere = true;
        tcp_right &= (me->tcp_port > 0) == fed_from_elsewhere;
        tcp_right &= me->thread == 0;       //  one thread per process by default
    }
    ZI_CHECK (t, tcp_right, "tcp mailboxes exactly at the cuts, every actor on thread 0");
    bool relays_direct = true;
    for (int node = 0; node < plan->n_nodes; node++)
        for (int route = 0; route < deploy->n_routes [node]; route++)
            relays_direct &= deploy->relay [node][route] == -1;
    ZI_CHECK (t, relays_direct, "a chain relays nothing: every tensor goes straight to its consumer");

    //  Ports: from the base, and no two alike
    int ports [64], count = s_ports (deploy, ports, 64);
    bool distinct = true, in_range = true;
    for (int index = 0; index < count; index++) {
        in_range &= ports [index] >= 7100 && ports [index] < 7100 + 64;
        for (int other = 0; other < index; other++)
            distinct &= ports [index] != ports [other];
    }
    ZI_CHECK (t, deploy->client_port == 7100, "clients connect at the base port (%d)",
              deploy->client_port);
    ZI_CHECK (t, distinct && in_range, "%d ports, all distinct, just above the base", count);

    //  A peer in another process reaches a cut's mailbox over tcp
    int cut = deploy->first_actor [0];
    for (int actor = 0; actor < deploy->n_actors; actor++)
        if (deploy->actors [actor].tcp_port > 0)
            cut = actor;
    char endpoint [256];
    zi_deploy_mailbox (deploy, cut, (deploy->actors [cut].process + 1) % 3, endpoint, sizeof endpoint);
    char want [64];
    snprintf (want, sizeof want, "tcp://127.0.0.1:%d", deploy->actors [cut].tcp_port);
    ZI_CHECK (t, strcmp (endpoint, want) == 0, "another process reaches a cut at %s (%s)",
              want, endpoint);

    //  The same YAML gives the same deployment; a base port moves every port
    zi_deploy_t *again = zi_deploy_new (path, 0);
    zi_deploy_t *moved = zi_deploy_new (path, 9100);
    ZI_CHECK (t, again && moved, "deploys again");
    if (again && moved) {
        int again_ports [64], moved_ports [64];
        int again_count = s_ports (again, again_ports, 64);
        int moved_count = s_ports (moved, moved_ports, 64);
        bool same = again_count == count && moved_count == count
                 && again->n_actors == deploy->n_actors;
        for (int index = 0; same && index < count; index++)
            same = again_ports [index] == ports [index] && moved_ports [index] == ports [index] + 2000;
        for (int actor = 0; same && actor < deploy->n_actors; actor++)
            same = again->actors [actor].process == deploy->actors [actor].process
                && again->actors [actor].thread == deploy->actors [actor].thread;
        ZI_CHECK (t, same, "computed twice, the same layout; with base port 9100 every port 2000 up");
    }
    zi_deploy_destroy (&again);
    zi_deploy_destroy (&moved);
    zi_deploy_destroy (&deploy);
}

//  --------------------------------------------------------------------------
//  Layouts of topologies the test writes

#define S_MAX_NODES 16
#define S_MAX_PROCESSES 4

//  What a topology says, in the test's own terms: the YAML is written
//  from it and the deployment checked against it, never against what
//  zi_deploy.c computed
typedef struct {
    const char *name;           //  the topology's name
    int n_processes;
    int process [S_MAX_NODES];  //  per planned node: its process
    int replicas [S_MAX_NODES]; //  per planned node: its replicas
    int threads [S_MAX_PROCESSES];      //  per process
    int monitor_port [S_MAX_PROCESSES]; //  per process: explicit, else 0
    int client_port;            //  explicit, else 0
    int gateway;                //  the gateway's process
    bool tcp;                   //  transport between the processes (one host)
    bool rules;                 //  write placement rules (else one process runs all)
    int base_port;
} s_expect_t;

//  The digits model beside the sources (the very file `zinfer demo` embeds)
static void
s_model_path (char *path, size_t size)
{
    const char *source = __FILE__;
    const char *slash = strrchr (source, '/');
    snprintf (path, size, "%.*s../tests/models/digits/digits.onnx",
              slash? (int) (slash - source + 1): 0, source);
}

static int
s_write_text (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    bool ok = fputs (text, file) >= 0;
    return fclose (file) == 0 && ok? 0: -1;
}

//  The topology's YAML: one rule per run of nodes that share process and
//  replicas, as a person would write it
static void
s_yaml (const s_expect_t *expect, const zi_graph_t *plan, const char *model, char *text,
        size_t size)
{
    size_t used = snprintf (text, size, "name: %s\nmodel: %s\ninput_shape: [1, 1, 8, 8]\n"
                            "base_port: %d\ntransport: %s\n", expect->name, model,
                            expect->base_port, expect->tcp? "tcp": "ipc");
    if (expect->client_port)
        used += snprintf (text + used, size - used, "client_port: %d\n", expect->client_port);
    if (expect->gateway)
        used += snprintf (text + used, size - used, "gateway: p%d\n", expect->gateway);
    used += snprintf (text + used, size - used, "processes:\n");
    for (int process = 0; process < expect->n_processes; process++) {
        used += snprintf (text + used, size - used, "  - name: p%d\n    threads: %d\n",
                          process, expect->threads [process]);
        if (expect->monitor_port [process])
            used += snprintf (text + used, size - used, "    monitor_port: %d\n",
                              expect->monitor_port [process]);
    }
    if (!expect->rules)
        return;
    used += snprintf (text + used, size - used, "placement:\n");
    for (int first = 0; first < plan->n_nodes; ) {
        int last = first;
        while (last + 1 < plan->n_nodes
        &&     expect->process [last + 1] == expect->process [first]
        &&     expect->replicas [last + 1] == expect->replicas [first])
            last++;
        used += snprintf (text + used, size - used, "  - process: p%d\n    from: %s\n"
                          "    to: %s\n    replicas: %d\n", expect->process [first],
                          plan->nodes [first].name, plan->nodes [last].name,
                          expect->replicas [first]);
        first = last + 1;
    }
}

//  How a peer in process from reaches a mailbox in process to: 0 inproc,
//  1 ipc, 2 tcp
static int
s_kind (const s_expect_t *expect, int from, int to)
{
    return from == to? 0: expect->tcp? 2: 1;
}

//  The actor index of a node's replica: replicas of a node next to each
//  other, nodes in the plan's order
static int
s_actor_of (const s_expect_t *expect, int node, int replica)
{
    int actor = 0;
    for (int before = 0; before < node; before++)
        actor += expect->replicas [before];
    return actor + replica;
}

//  The node that makes value, -1 for a model input or constant
static int
s_producer (const zi_graph_t *plan, int value)
{
    return value >= 0 && !plan->values [value].constant? plan->values [value].producer: -1;
}

static bool
s_is_model_input (const zi_graph_t *plan, int value)
{
    for (int input = 0; input < plan->n_inputs; input++)
        if (plan->inputs [input] == value)
            return true;
    return false;
}

//  Whether a route may go through another actor's mailbox: a single
//  producer's, not relayed, to a single consumer in another process
static bool
s_carriable (const s_expect_t *expect, const zi_deploy_t *deploy, int node, int route)
{
    int consumer = deploy->routes [node][route].node;
    return expect->replicas [node] == 1 && deploy->relay [node][route] < 0 && consumer >= 0
        && expect->replicas [consumer] == 1 && expect->process [consumer] != expect->process [node];
}

//  The node whose mailbox a producer's route reaches: its consumer's (-1:
//  the gateway), unless the route is carriable: then the consumer of the
//  first carriable route from the producer's process to the consumer's
//  thread, in node and route order, as long as no other route of the
//  producer already reaches that mailbox with the same slot
static int
s_lands (const s_expect_t *expect, const zi_deploy_t *deploy, int node, int route)
{
    int consumer = deploy->routes [node][route].node;
    if (!s_carriable (expect, deploy, node, route))
        return consumer;
    int thread = deploy->actors [s_actor_of (expect, consumer, 0)].thread;
    int carrier = -1;
    for (int from = 0; from < deploy->plan->n_nodes && carrier < 0; from++)
        for (int entry = 0; entry < deploy->n_routes [from] && carrier < 0; entry++) {
            int other = deploy->routes [from][entry].node;
            if (expect->process [from] == expect->process [node]
            &&  s_carriable (expect, deploy, from, entry)
            &&  expect->process [other] == expect->process [consumer]
            &&  deploy->actors [s_actor_of (expect, other, 0)].thread == thread)
                carrier = other;
        }
    for (int other = 0; other < deploy->n_routes [node]; other++) {
        if (other == route || deploy->relay [node][other] >= 0
        ||  deploy->routes [node][other].slot != deploy->routes [node][route].slot)
            continue;
        int reaches = other < route? s_lands (expect, deploy, node, other):
                                     deploy->routes [node][other].node;
        if (reaches == carrier)
            return consumer;
    }
    return carrier;
}

//  Whether a node's mailbox (node -1: the gateway's results) is fed over
//  the kind of transport given, from another process: by a route that
//  reaches it, or by the gateway with a model input
static bool
s_fed_over (const s_expect_t *expect, const zi_deploy_t *deploy, int node, int kind)
{
    const zi_graph_t *plan = deploy->plan;
    int here = node >= 0? expect->process [node]: expect->gateway;
    for (int producer = 0; producer < plan->n_nodes; producer++)
        for (int route = 0; route < deploy->n_routes [producer]; route++)
            if (deploy->relay [producer][route] < 0
            &&  s_lands (expect, deploy, producer, route) == node
            &&  s_kind (expect, expect->process [producer], here) == kind)
                return true;
    if (node < 0)
        return false;
    const zi_node_t *consumer = &plan->nodes [node];
    for (int slot = 0; slot < consumer->n_inputs; slot++) {
        int value = consumer->inputs [slot];
        if (value >= 0 && s_is_model_input (plan, value)
        &&  s_kind (expect, expect->gateway, here) == kind)
            return true;
    }
    return false;
}

//  Where the mailbox of actor (-1: the gateway's results) is reached by
//  kind of transport
static void
s_endpoint (const zi_deploy_t *deploy, int kind, int actor, int port, char *buffer, size_t size)
{
    char name [32] = "results";
    if (actor >= 0)
        snprintf (name, sizeof name, "a%d", actor);
    if (kind == 0)
        snprintf (buffer, size, "inproc://%s/%s", deploy->id, name);
    else
    if (kind == 1)
        snprintf (buffer, size, "ipc://%s/%s", deploy->ipc_dir, name);
    else
        snprintf (buffer, size, "tcp://127.0.0.1:%d", port);
}

//  The ports of the layout in the documented order, one host: from the
//  base upwards, skipping the explicit ones, the client port, then each
//  process's monitor and stats ports, then the mailboxes reached over
//  tcp in actor order, then the gateway's results if reached over tcp
typedef struct {
    int client;
    int monitor [S_MAX_PROCESSES];
    int stats [S_MAX_PROCESSES];
    int actor [S_MAX_NODES * 4];     //  0: no tcp
    int results;                    //  0: no tcp
} s_ports_t;

static int
s_next_free (const s_expect_t *expect, int *next)
{
    while (true) {
        int port = (*next)++;
        bool explicit = port == expect->client_port;
        for (int process = 0; process < expect->n_processes; process++)
            explicit |= port == expect->monitor_port [process];
        if (!explicit)
            return port;
    }
}

static void
s_expected_ports (const s_expect_t *expect, const zi_deploy_t *deploy, s_ports_t *ports)
{
    const zi_graph_t *plan = deploy->plan;
    memset (ports, 0, sizeof *ports);
    int next = expect->base_port;
    ports->client = expect->client_port? expect->client_port: s_next_free (expect, &next);
    for (int process = 0; process < expect->n_processes; process++) {
        ports->monitor [process] = expect->monitor_port [process]?
                                   expect->monitor_port [process]: s_next_free (expect, &next);
        ports->stats [process] = s_next_free (expect, &next);
    }
    for (int node = 0; node < plan->n_nodes; node++)
        if (s_fed_over (expect, deploy, node, 2))
            for (int replica = 0; replica < expect->replicas [node]; replica++)
                ports->actor [s_actor_of (expect, node, replica)] = s_next_free (expect, &next);
    if (s_fed_over (expect, deploy, -1, 2))
        ports->results = s_next_free (expect, &next);
}

//  Where the deployment puts every actor: process, replica and thread
static void
s_check_actors (zi_test_t *t, const zi_deploy_t *deploy, const s_expect_t *expect)
{
    const zi_graph_t *plan = deploy->plan;
    int n_actors = 0;
    for (int node = 0; node < plan->n_nodes; node++)
        n_actors += expect->replicas [node];
    ZI_CHECK (t, deploy->n_actors == n_actors, "%s: %d actors, one per node and replica (%d)",
              expect->name, n_actors, deploy->n_actors);
    if (deploy->n_actors != n_actors)
        return;
    bool placed = true, threads_fit = true, runs = true, spread = true;
    int last_thread [S_MAX_PROCESSES] = {0};
    for (int node = 0; node < plan->n_nodes; node++) {
        int process = expect->process [node];
        int threads = expect->threads [process];
        int first = s_actor_of (expect, node, 0);
        placed &= deploy->first_actor [node] == first && deploy->replicas [node] == expect->replicas [node];
        for (int replica = 0; replica < expect->replicas [node]; replica++) {
            const zi_deploy_actor_t *actor = &deploy->actors [first + replica];
            placed &= actor->node == node && actor->replica == replica && actor->process == process;
            threads_fit &= actor->thread >= 0 && actor->thread < threads;
            //  Replicas spread over the threads after their first one's
            spread &= actor->thread == (deploy->actors [first].thread + replica) % threads;
        }
        //  A thread runs a contiguous run of its process's nodes: a
        //  request walks along one thread as long as it can
        runs &= deploy->actors [first].thread >= last_thread [process];
        last_thread [process] = deploy->actors [first].thread;
    }
    ZI_CHECK (t, placed, "%s: each actor in the process its rule names, replicas next to "
              "each other", expect->name);
    ZI_CHECK (t, threads_fit && runs, "%s: each actor on one of its process's threads, each "
              "thread a contiguous run of nodes", expect->name);
    ZI_CHECK (t, spread, "%s: a node's replicas on successive threads", expect->name);
    int gateway_thread = -1;
    for (int actor = 0; actor < n_actors && gateway_thread < 0; actor++)
        if (deploy->actors [actor].process == expect->gateway)
            gateway_thread = deploy->actors [actor].thread;
    ZI_CHECK (t, deploy->gateway_process == expect->gateway
              && deploy->gateway_thread == (gateway_thread < 0? 0: gateway_thread),
              "%s: the gateway in process %d, on the thread of its first actor (%d, thread %d)",
              expect->name, expect->gateway, deploy->gateway_process, deploy->gateway_thread);
}

//  Routes follow the graph's edges, one per edge; a tensor that crosses
//  to another process once for several consumers there is relayed
static void
s_check_routes (zi_test_t *t, const zi_deploy_t *deploy, const s_expect_t *expect)
{
    const zi_graph_t *plan = deploy->plan;
    bool edges_right = true, relays_right = true, mailboxes_right = true, carriers_right = true;
    char got [256], want [256];
    for (int node = 0; node < plan->n_nodes; node++) {
        const zi_node_t *producer = &plan->nodes [node];
        int edges = 0;
        for (int consumer = 0; consumer < plan->n_nodes; consumer++)
            for (int slot = 0; slot < plan->nodes [consumer].n_inputs; slot++)
                edges += s_producer (plan, plan->nodes [consumer].inputs [slot]) == node;
        for (int output = 0; output < plan->n_outputs; output++)
            edges += s_producer (plan, plan->outputs [output]) == node;
        edges_right &= deploy->n_routes [node] == edges;
        for (int route = 0; route < deploy->n_routes [node]; route++) {
            zi_route_t to = deploy->routes [node][route];
            int value = producer->outputs [deploy->route_output [node][route]];
            edges_right &= to.node >= 0? plan->nodes [to.node].inputs [to.slot] == value:
                                         plan->outputs [to.slot] == value;
            //  Relayed: a single consumer in another process, when an
            //  earlier route of the same output goes, not relayed, to a
            //  single consumer on the same process and thread
            int relay = -1;
            int to_process = to.node >= 0? expect->process [to.node]: expect->gateway;
            if (to.node >= 0 && expect->replicas [node] == 1 && expect->replicas [to.node] == 1
            &&  to_process != expect->process [node]) {
                const zi_deploy_actor_t *mine = &deploy->actors [deploy->first_actor [to.node]];
                for (int entry = 0; entry < route && relay < 0; entry++) {
                    int other = deploy->routes [node][entry].node;
                    if (other < 0 || deploy->relay [node][entry] >= 0 || expect->replicas [other] != 1
                    ||  deploy->route_output [node][entry] != deploy->route_output [node][route])
                        continue;
                    const zi_deploy_actor_t *first = &deploy->actors [deploy->first_actor [other]];
                    if (first->process == mine->process && first->thread == mine->thread)
                        relay = entry;
                }
            }
            relays_right &= deploy->relay [node][route] == relay;
            if (relay >= 0)
                continue;
            //  Carried by another actor's mailbox where s_lands says
            int lands = s_lands (expect, deploy, node, route);
            carriers_right &= deploy->via [node][route]
                           == (lands != to.node? s_actor_of (expect, lands, 0): -1);
            //  Every replica of the producer reaches every replica of the
            //  consumer (or the mailbox that carries it) by the transport
            //  the two processes call for
            int replicas = lands >= 0? expect->replicas [lands]: 1;
            for (int replica = 0; replica < replicas; replica++) {
                int actor = lands >= 0? s_actor_of (expect, lands, replica): -1;
                int kind = s_kind (expect, expect->process [node], to_process);
                int port = actor >= 0? deploy->actors [actor].tcp_port: deploy->gateway_tcp_port;
                s_endpoint (deploy, kind, actor, port, want, sizeof want);
                zi_deploy_mailbox (deploy, actor, expect->process [node], got, sizeof got);
                if (strcmp (got, want)) {
                    mailboxes_right = false;
                    if (t->verbose)
                        printf ("  %s -> %d: %s, expected %s\n", producer->name, actor, got, want);
                }
            }
        }
    }
    ZI_CHECK (t, edges_right, "%s: one route per edge out of each node, each to the input "
              "slot (or model output) that reads it", expect->name);
    ZI_CHECK (t, relays_right, "%s: relays exactly where a tensor would cross to one thread "
              "twice", expect->name);
    ZI_CHECK (t, carriers_right, "%s: a process's tensors for one thread of another go to "
              "one mailbox there, unless two would arrive with the same source and slot",
              expect->name);
    ZI_CHECK (t, mailboxes_right, "%s: every producer reaches each consumer inproc in its "
              "process, over %s across processes", expect->name, expect->tcp? "tcp": "ipc");

    //  The gateway's fan-out: every slot that reads a model input, each
    //  replica of its node reached from the gateway's process
    int slots = 0;
    for (int node = 0; node < plan->n_nodes; node++)
        for (int slot = 0; slot < plan->nodes [node].n_inputs; slot++)
            slots += plan->nodes [node].inputs [slot] >= 0
                  && s_is_model_input (plan, plan->nodes [node].inputs [slot]);
    bool fan_out = deploy->n_input_routes == slots;
    for (int route = 0; fan_out && route < deploy->n_input_routes; route++) {
        zi_route_t to = deploy->input_routes [route];
        fan_out &= plan->nodes [to.node].inputs [to.slot]
                == plan->inputs [deploy->input_route_input [route]];
        for (int replica = 0; replica < expect->replicas [to.node]; replica++) {
            int actor = s_actor_of (expect, to.node, replica);
            s_endpoint (deploy, s_kind (expect, expect->gateway, expect->process [to.node]),
                        actor, deploy->actors [actor].tcp_port, want, sizeof want);
            zi_deploy_mailbox (deploy, actor, expect->gateway, got, sizeof got);
            fan_out &= strcmp (got, want) == 0;
        }
    }
    ZI_CHECK (t, fan_out, "%s: the gateway sends each request to the %d slot(s) reading a "
              "model input, each replica by its process's transport", expect->name, slots);
}

//  The endpoints each mailbox binds, and the ports
static void
s_check_binds (zi_test_t *t, const zi_deploy_t *deploy, const s_expect_t *expect)
{
    s_ports_t ports;
    s_expected_ports (expect, deploy, &ports);
    bool ports_right = deploy->client_port == ports.client
                    && deploy->gateway_tcp_port == ports.results;
    for (int process = 0; process < expect->n_processes; process++)
        ports_right &= deploy->monitor_port [process] == ports.monitor [process]
                    && deploy->stats_port [process] == ports.stats [process];
    for (int actor = 0; actor < deploy->n_actors; actor++)
        ports_right &= deploy->actors [actor].tcp_port == ports.actor [actor];
    ZI_CHECK (t, ports_right, "%s: client port %d, monitors from %d, tcp mailboxes and "
              "results in actor order after them, explicit ports skipped", expect->name,
              ports.client, ports.monitor [0]);
    char client [256], want [256];
    zi_deploy_client_endpoint (deploy, client, sizeof client);
    snprintf (want, sizeof want, "tcp://127.0.0.1:%d", ports.client);
    ZI_CHECK (t, strcmp (client, want) == 0, "%s: clients connect at %s (%s)", expect->name,
              want, client);

    //  inproc always; ipc and tcp when a peer in another process feeds it
    bool binds_right = true;
    for (int actor = -1; actor < deploy->n_actors; actor++) {
        int node = actor >= 0? deploy->actors [actor].node: -1;
        int port = actor >= 0? ports.actor [actor]: ports.results;
        int kinds [3], count = 0;
        kinds [count++] = 0;
        if (s_fed_over (expect, deploy, node, 1))
            kinds [count++] = 1;
        if (s_fed_over (expect, deploy, node, 2))
            kinds [count++] = 2;
        char got [256];
        for (int index = 0; index < 3; index++) {
            bool more = zi_deploy_bind (deploy, actor, index, got, sizeof got);
            binds_right &= more == (index < count);
            if (more && index < count) {
                s_endpoint (deploy, kinds [index], actor, port, want, sizeof want);
                binds_right &= strcmp (got, want) == 0;
            }
        }
    }
    ZI_CHECK (t, binds_right, "%s: each mailbox binds inproc, plus ipc or tcp exactly when "
              "another process feeds it", expect->name);
    char id [64];
    snprintf (id, sizeof id, "%s-%d", expect->name, expect->base_port);
    ZI_CHECK (t, strcmp (deploy->id, id) == 0, "%s: inproc names under '%s' (%s)", expect->name,
              id, deploy->id);
}

//  Where a sender (actor, or -1: the gateway) runs
static void
s_place (const zi_deploy_t *deploy, int actor, int *process, int *thread)
{
    *process = actor >= 0? deploy->actors [actor].process: deploy->gateway_process;
    *thread = actor >= 0? deploy->actors [actor].thread: deploy->gateway_thread;
}

//  Whether the consumers of one wiring route are right: every replica of
//  the consumer node (or the gateway), each on the sender's thread or
//  behind the endpoint its process's transport calls for
static bool
s_route_peers_right (const zi_deploy_t *deploy, const s_expect_t *expect, const zi_wiring_t *wiring,
                     const zi_wire_route_t *route, zi_route_t to)
{
    int process, thread;
    s_place (deploy, wiring->owner, &process, &thread);
    int replicas = to.node >= 0? expect->replicas [to.node]: 1;
    bool right = route->n_peers == replicas && route->first_peer >= 0
              && route->first_peer + replicas <= wiring->n_peers;
    for (int replica = 0; right && replica < replicas; replica++) {
        const zi_wire_peer_t *peer = &wiring->peers [route->first_peer + replica];
        int actor = to.node >= 0? s_actor_of (expect, to.node, replica): -1;
        int peer_process, peer_thread;
        s_place (deploy, actor, &peer_process, &peer_thread);
        right &= peer->actor == actor && peer->process == peer_process
              && peer->same_thread == (peer_process == process && peer_thread == thread);
        if (right && !peer->same_thread) {
            char want [256];
            int port = actor >= 0? deploy->actors [actor].tcp_port: deploy->gateway_tcp_port;
            s_endpoint (deploy, s_kind (expect, process, peer_process), actor, port, want,
                        sizeof want);
            right &= strcmp (peer->endpoint, want) == 0;
        }
    }
    //  A replica by request id exactly where replicas must join inputs
    if (right && to.node >= 0) {
        int dynamic = 0;
        const zi_node_t *consumer = &deploy->plan->nodes [to.node];
        for (int slot = 0; slot < consumer->n_inputs; slot++)
            dynamic += consumer->inputs [slot] >= 0
                    && !deploy->plan->values [consumer->inputs [slot]].constant;
        right &= route->by_request == (replicas > 1 && dynamic > 1);
    }
    return right;
}

//  Each actor's and the gateway's own wiring, against the deployment's
//  tables and the layout: its routes (relayed ones left to the relaying
//  consumer), their consumers, whether its mailbox is polled, its relays
static void
s_check_wiring (zi_test_t *t, const zi_deploy_t *deploy, const s_expect_t *expect)
{
    const zi_graph_t *plan = deploy->plan;
    bool routes_right = true, polled_right = true, relays_right = true, peers_shared = true;
    for (int actor = -1; actor < deploy->n_actors; actor++) {
        zi_wiring_t *wiring = zi_wiring_new (deploy, actor);
        int node = actor >= 0? deploy->actors [actor].node: -1;
        int n_routes = actor >= 0? deploy->n_routes [node]: deploy->n_input_routes;
        int sent = 0;
        for (int route = 0; route < n_routes; route++) {
            if (actor >= 0 && deploy->relay [node][route] >= 0)
                continue;
            zi_route_t to = actor >= 0? deploy->routes [node][route]: deploy->input_routes [route];
            int output = actor >= 0? deploy->route_output [node][route]:
                                     deploy->input_route_input [route];
            if (sent >= wiring->n_routes) {
                routes_right = false;
                break;
            }
            const zi_wire_route_t *into = &wiring->routes [sent++];
            zi_route_t reach = to;      //  the mailbox it goes to: a carrier's, or its own
            if (actor >= 0)
                reach.node = s_lands (expect, deploy, node, route);
            routes_right &= into->output == output && into->slot == to.slot
                         && s_route_peers_right (deploy, expect, wiring, into, reach);
        }
        routes_right &= sent == wiring->n_routes;
        //  Peers: each consumer actor once, however many routes go to it
        for (int one = 0; one < wiring->n_peers; one++)
            for (int other = one + 1; other < wiring->n_peers; other++)
                peers_shared &= wiring->peers [one].actor != wiring->peers [other].actor;
        if (actor < 0) {
            zi_wiring_destroy (&wiring);
            continue;
        }
        //  Polled: another process feeds it, or a producer (or the
        //  gateway) in its own process on another thread
        const zi_deploy_actor_t *me = &deploy->actors [actor];
        bool polled = s_fed_over (expect, deploy, node, 1) || s_fed_over (expect, deploy, node, 2);
        for (int producer = 0; producer < plan->n_nodes; producer++)
            for (int route = 0; route < deploy->n_routes [producer]; route++)
                if (deploy->relay [producer][route] < 0 && s_lands (expect, deploy, producer, route) == node)
                    for (int replica = 0; replica < deploy->replicas [producer]; replica++) {
                        const zi_deploy_actor_t *other = &deploy->actors [deploy->first_actor [producer] + replica];
                        polled |= other->process == me->process && other->thread != me->thread;
                    }
        for (int route = 0; route < deploy->n_input_routes; route++)
            polled |= deploy->input_routes [route].node == node
                   && deploy->gateway_process == me->process && deploy->gateway_thread != me->thread;
        polled_right &= wiring->polled == polled;
        //  Relays: for each route some producer sends into this actor's
        //  mailbox, its consumer when that is another actor (only handed
        //  on), and each route relayed on it (handed on, and taken here
        //  too when the route is this actor's own)
        int relays = 0;
        for (int producer = 0; producer < plan->n_nodes; producer++)
            for (int route = 0; route < deploy->n_routes [producer]; route++) {
                if (deploy->relay [producer][route] >= 0
                ||  s_lands (expect, deploy, producer, route) != node)
                    continue;
                int slot = deploy->routes [producer][route].slot;
                bool pass = deploy->routes [producer][route].node != node;
                for (int other = 0; other < deploy->n_routes [producer]; other++) {
                    if ((other == route && !pass)
                    ||  (other != route && deploy->relay [producer][other] != route))
                        continue;
                    int target = deploy->first_actor [deploy->routes [producer][other].node];
                    bool found = false;
                    for (int index = 0; index < wiring->n_relays; index++) {
                        const zi_wire_relay_t *relay = &wiring->relays [index];
                        found |= relay->source == producer && relay->target == target
                              && relay->slot == slot && relay->pass == pass
                              && relay->target_slot == deploy->routes [producer][other].slot;
                    }
                    relays_right &= found && deploy->actors [target].process == me->process
                                 && deploy->actors [target].thread == me->thread;
                    relays++;
                }
            }
        relays_right &= wiring->n_relays == relays;
        zi_wiring_destroy (&wiring);
    }
    ZI_CHECK (t, routes_right, "%s: each sender's wiring routes each of its outputs to every "
              "replica of the consumer, on its thread or at the endpoint its transport calls for",
              expect->name);
    ZI_CHECK (t, peers_shared, "%s: each consumer a sender's peer once", expect->name);
    ZI_CHECK (t, polled_right, "%s: an actor polls its mailbox exactly when another thread or "
              "process feeds it", expect->name);
    ZI_CHECK (t, relays_right, "%s: each actor hands on exactly the tensors relayed through it, "
              "to consumers on its thread", expect->name);
}

//  Writes the topology of a layout and deploys it (NULL: it did not
//  deploy, which is checked)
static zi_deploy_t *
s_deploy_layout (zi_test_t *t, const char *folder, const char *model, const zi_graph_t *plan,
                 const s_expect_t *expect)
{
    char text [4096], path [256];
    s_yaml (expect, plan, model, text, sizeof text);
    snprintf (path, sizeof path, "%s/%s.yaml", folder, expect->name);
    ZI_CHECK (t, s_write_text (path, text) == 0, "write %s", path);
    if (t->verbose)
        printf ("%s", text);
    zi_deploy_t *deploy = zi_deploy_new (path, 0);
    ZI_CHECK (t, deploy != NULL, "%s deploys: %s", expect->name, deploy? "yes": zi_error_text ());
    unlink (path);
    return deploy;
}

//  Writes the topology, deploys it and checks everything above
static void
s_check_layout (zi_test_t *t, const char *folder, const char *model, const zi_graph_t *plan,
                const s_expect_t *expect)
{
    zi_deploy_t *deploy = s_deploy_layout (t, folder, model, plan, expect);
    if (!deploy)
        return;
    ZI_CHECK (t, deploy->plan->n_nodes == plan->n_nodes, "%s: the same plan (%d nodes)",
              expect->name, deploy->plan->n_nodes);
    if (deploy->plan->n_nodes == plan->n_nodes) {
        s_check_actors (t, deploy, expect);
        if (deploy->n_actors == s_actor_of (expect, plan->n_nodes, 0)) {
            s_check_routes (t, deploy, expect);
            s_check_binds (t, deploy, expect);
            s_check_wiring (t, deploy, expect);
        }
    }
    zi_deploy_destroy (&deploy);
}

//  The chain in turns, spelled out: node 0's tensor goes to node 1's
//  mailbox in the other process, and so does node 2's for node 3, over
//  the same kind of connection; node 1 hands it on and does not take it,
//  and node 3's mailbox listens on nothing but inproc, unpolled
static void
s_check_carried (zi_test_t *t, const char *folder, const char *model, const zi_graph_t *plan,
                 const s_expect_t *expect)
{
    zi_deploy_t *deploy = s_deploy_layout (t, folder, model, plan, expect);
    if (!deploy)
        return;
    bool chain = deploy->n_routes [2] == 1 && deploy->routes [2][0].node == 3
              && deploy->n_routes [0] == 1 && deploy->routes [0][0].node == 1;
    ZI_CHECK (t, chain, "%s: node 0 feeds node 1, node 2 node 3", expect->name);
    if (chain) {
        int first = deploy->first_actor [1], second = deploy->first_actor [3];
        ZI_CHECK (t, deploy->via [0][0] == -1 && deploy->via [2][0] == first,
                  "%s: node 2's tensor goes to node 1's mailbox, as node 0's does (via %d, %d)",
                  expect->name, deploy->via [0][0], deploy->via [2][0]);
        zi_wiring_t *sender = zi_wiring_new (deploy, deploy->first_actor [2]);
        ZI_CHECK (t, sender->n_peers == 1 && sender->peers [0].actor == first
                  && sender->n_routes == 1 && sender->routes [0].slot == deploy->routes [2][0].slot,
                  "%s: node 2's one peer is node 1's actor, its route still node 3's slot",
                  expect->name);
        zi_wiring_destroy (&sender);
        zi_wiring_t *carrier = zi_wiring_new (deploy, first);
        bool found = false;
        for (int index = 0; index < carrier->n_relays; index++) {
            const zi_wire_relay_t *relay = &carrier->relays [index];
            found |= relay->source == 2 && relay->target == second && relay->pass
                  && relay->slot == deploy->routes [2][0].slot
                  && relay->target_slot == deploy->routes [2][0].slot;
        }
        ZI_CHECK (t, carrier->polled && found, "%s: node 1 polls its mailbox and hands node 2's "
                  "tensor on to node 3 without taking it", expect->name);
        zi_wiring_destroy (&carrier);
        zi_wiring_t *target = zi_wiring_new (deploy, second);
        char endpoint [256];
        ZI_CHECK (t, !target->polled && deploy->actors [second].tcp_port == 0
                  && zi_deploy_bind (deploy, second, 0, endpoint, sizeof endpoint)
                  && !zi_deploy_bind (deploy, second, 1, endpoint, sizeof endpoint),
                  "%s: node 3's mailbox binds inproc only, and is not polled", expect->name);
        zi_wiring_destroy (&target);
    }
    zi_deploy_destroy (&deploy);
}

//  A topology that must be refused, with an error that names the file,
//  the line of the culprit and says what is wrong
static void
s_check_refused (zi_test_t *t, const char *folder, const char *name, const char *text,
                 int line, const char *problem)
{
    char path [256];
    snprintf (path, sizeof path, "%s/%s.yaml", folder, name);
    ZI_CHECK (t, s_write_text (path, text) == 0, "write %s", path);
    zi_deploy_t *deploy = zi_deploy_new (path, 0);
    char where [300];
    snprintf (where, sizeof where, "%s:%d:", path, line);
    const char *error = deploy? "": zi_error_text ();
    ZI_CHECK (t, !deploy && strstr (error, where) && strstr (error, problem),
              "%s: refused at %s with \"%s\" (%s)", name, where, problem, error);
    zi_deploy_destroy (&deploy);
    unlink (path);
}

static void
s_test_layouts (zi_test_t *t)
{
    char folder [] = "/tmp/zi-deploy-test-XXXXXX";
    if (!mkdtemp (folder)) {
        ZI_CHECK (t, false, "mkdtemp: %s", strerror (errno));
        return;
    }
    char model [1024];
    s_model_path (model, sizeof model);

    //  One process, everything on its three threads; its plan gives the
    //  node names the others cut at
    s_expect_t one = {.name = "one", .n_processes = 1, .threads = {3}, .base_port = 7400};
    for (int node = 0; node < S_MAX_NODES; node++)
        one.replicas [node] = 1;
    char text [4096], path [256];
    s_yaml (&one, NULL, model, text, sizeof text);
    snprintf (path, sizeof path, "%s/plan.yaml", folder);
    s_write_text (path, text);
    zi_deploy_t *first = zi_deploy_new (path, 0);
    unlink (path);
    ZI_CHECK (t, first != NULL, "the digits model deploys in one process: %s",
              first? "yes": zi_error_text ());
    if (!first || first->plan->n_nodes < 6 || first->plan->n_nodes > S_MAX_NODES) {
        ZI_CHECK (t, false, "the digits model plans to 6 .. %d nodes", S_MAX_NODES);
        zi_deploy_destroy (&first);
        rmdir (folder);
        return;
    }
    const zi_graph_t *plan = first->plan;
    int n_nodes = plan->n_nodes;
    s_check_layout (t, folder, model, plan, &one);

    //  Two processes cut in the middle, over ipc, the gateway in the
    //  second: requests cross to the first, answers come home inproc
    s_expect_t two = {.name = "two", .n_processes = 2, .threads = {2, 1}, .gateway = 1,
                      .rules = true, .base_port = 7500};
    for (int node = 0; node < n_nodes; node++) {
        two.process [node] = node < n_nodes / 2? 0: 1;
        two.replicas [node] = 1;
    }
    s_check_layout (t, folder, model, plan, &two);

    //  Three processes over tcp, cut after the third node and before the
    //  last three; the middle one replicated on its two threads; explicit
    //  client and monitor ports among the ones allocated
    s_expect_t three = {.name = "three", .n_processes = 3, .threads = {1, 2, 1},
                        .client_port = 7605, .monitor_port = {0, 0, 7603}, .tcp = true,
                        .rules = true, .base_port = 7600};
    for (int node = 0; node < n_nodes; node++) {
        three.process [node] = node < 3? 0: node < n_nodes - 3? 1: 2;
        three.replicas [node] = three.process [node] == 1? 2: 1;
    }
    s_check_layout (t, folder, model, plan, &three);

    //  Nodes in turn in two processes of one thread each, over tcp: each
    //  process sends several tensors, from several producers, to several
    //  consumers on the other's thread, and all go to one mailbox there
    s_expect_t turns = {.name = "turns", .n_processes = 2, .threads = {1, 1}, .tcp = true,
                        .rules = true, .base_port = 7700};
    for (int node = 0; node < n_nodes; node++) {
        turns.process [node] = node % 2;
        turns.replicas [node] = 1;
    }
    s_check_layout (t, folder, model, plan, &turns);
    s_check_carried (t, folder, model, plan, &turns);

    //  Refused: a node the plan does not have, ranges that overlap, a
    //  range backwards, a node no rule places, a process with no node
    const char *a = plan->nodes [0].name, *b = plan->nodes [2].name;
    const char *c = plan->nodes [3].name, *d = plan->nodes [4].name;
    char header [1200];
    snprintf (header, sizeof header, "model: %s\ninput_shape: [1, 1, 8, 8]\nprocesses:\n"
              "  - name: p0\n  - name: p1\nplacement:\n  - process: p0\n    from: %s\n", model, a);
    //  lines: model 1, input_shape 2, processes 3-5, placement 6, rule 7, from: 8
    snprintf (text, sizeof text, "%s    to: /conv9/Conv\n  - process: p1\n    from: %s\n",
              header, c);
    s_check_refused (t, folder, "unknown", text, 9, "unknown node '/conv9/Conv'");
    snprintf (text, sizeof text, "%s    to: %s\n  - process: p1\n    from: %s\n", header, c, b);
    char overlap [256];
    snprintf (overlap, sizeof overlap, "node '%s' is already placed by the rule at 7:", b);
    s_check_refused (t, folder, "overlap", text, 10, overlap);
    snprintf (text, sizeof text, "%s    to: %s\n  - process: p1\n    from: %s\n    to: %s\n",
              header, b, d, c);
    s_check_refused (t, folder, "backwards", text, 12, "backwards range");
    snprintf (text, sizeof text, "%s    to: %s\n  - process: p1\n    node: %s\n", header, b, d);
    s_check_refused (t, folder, "unplaced", text, 6, "not placed by any rule");
    snprintf (text, sizeof text, "model: %s\ninput_shape: [1, 1, 8, 8]\nprocesses:\n"
              "  - name: p0\n  - name: p1\n  - name: p2\nplacement:\n  - process: p0\n"
              "    to: %s\n  - process: p1\n    from: %s\n", model, c, d);
    s_check_refused (t, folder, "idle", text, 6, "process 'p2' runs no node");
    zi_deploy_destroy (&first);
    rmdir (folder);
}

void
zi_deploy_test (zi_test_t *t)
{
    s_test_layouts (t);
    s_test_example (t);
}
