/*  =========================================================================
    zi_deploy_test - self test of the deployment computed from a topology

    The digits CNN split over three processes (topology/examples):
    every process must derive the same actors, threads, routes and ports
    from the same YAML, with nothing negotiated at run time, so the test
    checks that the layout is what the placement says and that computing
    it twice (or with another base port) gives the same answer.
    =========================================================================
*/

#include "zi_deploy.h"

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

void
zi_deploy_test (zi_test_t *t)
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
