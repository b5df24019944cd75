/*  =========================================================================
    zi_placement - a deployment's picture: actors in processes in hosts,
    and the edges between them with their bytes

    `zinfer plan` prints the edges and draws them as DOT; the launcher's
    web view gets them as JSON and draws them in the browser. Both walk
    the routes here, once.
    =========================================================================
*/

#include "zi_placement.h"
#include <json-c/json.h>

zi_placement_end_t
zi_placement_end (const zi_deploy_t *deploy, int node)
{
    if (node < 0)
        return (zi_placement_end_t) {-1, deploy->gateway_process, deploy->gateway_thread, -1};
    int actor = deploy->first_actor [node];
    return (zi_placement_end_t) {actor, deploy->actors [actor].process,
                                 deploy->actors [actor].thread, actor};
}

int
zi_placement_crossing (const zi_deploy_t *deploy, zi_placement_end_t from, zi_placement_end_t to)
{
    const zi_topology_t *topology = deploy->topology;
    if (topology->processes [from.process].host != topology->processes [to.process].host)
        return 3;
    if (from.process != to.process)
        return 2;
    return from.thread != to.thread;
}

const char *
zi_placement_crossing_name (int crossing)
{
    static const char *names [] = {"", "thread", "process", "host"};
    return crossing >= 0 && crossing <= 3? names [crossing]: "?";
}

//  The consumer's end of an edge from `from`: a replicated consumer takes
//  messages on each replica in turn, so the edge crosses what its most
//  distant replica crosses. The first replica stands for them unless
//  another crosses more (one sharing the producer's thread would hide
//  that the others are reached across threads)
static zi_placement_end_t
s_consumer_end (const zi_deploy_t *deploy, zi_placement_end_t from, int node)
{
    zi_placement_end_t best = zi_placement_end (deploy, node);
    if (node < 0)
        return best;
    int crossing = zi_placement_crossing (deploy, from, best);
    for (int replica = 1; replica < deploy->replicas [node]; replica++) {
        int actor = deploy->first_actor [node] + replica;
        zi_placement_end_t end = {actor, deploy->actors [actor].process,
                                  deploy->actors [actor].thread, actor};
        int other = zi_placement_crossing (deploy, from, end);
        if (other > crossing) {
            best = end;
            crossing = other;
        }
    }
    return best;
}

void
zi_placement_for_each_edge (const zi_deploy_t *deploy, zi_placement_edge_fn *fn, void *args)
{
    const zi_graph_t *plan = deploy->plan;
    for (int route = 0; route < deploy->n_input_routes; route++) {
        int value = plan->inputs [deploy->input_route_input [route]];
        zi_placement_end_t from = zi_placement_end (deploy, -1);
        fn (deploy, from, s_consumer_end (deploy, from, deploy->input_routes [route].node),
            (double) plan->values [value].info.nbytes, plan->values [value].name, args);
    }
    for (int node = 0; node < plan->n_nodes; node++)
        for (int route = 0; route < deploy->n_routes [node]; route++) {
            if (deploy->relay [node][route] >= 0)
                continue;
            int value = plan->nodes [node].outputs [deploy->route_output [node][route]];
            zi_placement_end_t from = zi_placement_end (deploy, node);
            zi_placement_end_t to = s_consumer_end (deploy, from, deploy->routes [node][route].node);
            if (deploy->via [node][route] >= 0)
                to.mailbox = deploy->via [node][route];
            fn (deploy, from, to, (double) plan->values [value].info.nbytes,
                plan->values [value].name, args);
        }
}

//  A DOT identifier or label, quoted
static void
s_dot_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const char *at = text; *at; at++)
        if (*at == '"' || *at == '\\')
            fprintf (out, "\\%c", *at);
        else
        if (*at == '\n')
            fprintf (out, "\\n");         //  a line break in a label
        else
        if ((unsigned char) *at >= 0x20)
            fputc (*at, out);
    fputc ('"', out);
}

static void
s_dot_edge (const zi_deploy_t *deploy, zi_placement_end_t from, zi_placement_end_t to,
            double bytes, const char *value, void *args)
{
    (void) deploy;
    (void) value;
    FILE *out = args;
    char from_id [32], to_id [32];
    snprintf (from_id, sizeof from_id, from.actor < 0? "gateway": "a%d", from.actor);
    snprintf (to_id, sizeof to_id, to.actor < 0? "gateway": "a%d", to.actor);
    //  Answers going back to the gateway do not rank it: the drawing
    //  reads top-down from where requests enter, as they flow
    const char *back = to.actor < 0? ", constraint=false": "";
    if (from.process != to.process)
        fprintf (out, "  %s -> %s [style=dashed, label=\"%.0f B\"%s];\n", from_id, to_id, bytes,
                 back);
    else
        fprintf (out, "  %s -> %s%s;\n", from_id, to_id, to.actor < 0? " [constraint=false]": "");
}

int
zi_placement_write_dot (const zi_deploy_t *deploy, const double *usecs,
                        const double *process_usecs, FILE *out)
{
    const zi_topology_t *topology = deploy->topology;
    fprintf (out, "digraph ");
    s_dot_string (out, topology->name);
    fprintf (out, " {\n  node [shape=box, fontsize=10];\n  edge [fontsize=9];\n");
    for (int host = 0; host < topology->n_hosts; host++) {
        char label [300];
        snprintf (label, sizeof label, "host %s (%s)", topology->hosts [host].name,
                  topology->hosts [host].address);
        fprintf (out, "  subgraph cluster_host%d {\n    label=", host);
        s_dot_string (out, label);
        fprintf (out, ";\n");
        for (int process = 0; process < topology->n_processes; process++) {
            const zi_topo_process_t *info = &topology->processes [process];
            if (info->host != host)
                continue;
            int length = snprintf (label, sizeof label, "%s: %d thread%s", info->name,
                                   info->threads, info->threads == 1? "": "s");
            if (process_usecs && length > 0 && length < (int) sizeof label)
                snprintf (label + length, sizeof label - length, ", %.3f ms",
                          process_usecs [process] / 1000);
            fprintf (out, "    subgraph cluster_p%d {\n      label=", process);
            s_dot_string (out, label);
            fprintf (out, ";\n");
            if (process == deploy->gateway_process)
                fprintf (out, "      gateway [shape=ellipse];\n");
            for (int actor = 0; actor < deploy->n_actors; actor++) {
                const zi_deploy_actor_t *actor_info = &deploy->actors [actor];
                if (actor_info->process != process)
                    continue;
                char name [300];
                length = snprintf (label, sizeof label, "%s\n%s, thread %d",
                                   zi_deploy_actor_name (deploy, actor, name, sizeof name),
                                   deploy->plan->nodes [actor_info->node].op_type,
                                   actor_info->thread);
                if (usecs && length > 0 && length < (int) sizeof label)
                    snprintf (label + length, sizeof label - length, ", %.3f ms",
                              usecs [actor_info->node] / 1000);
                fprintf (out, "      a%d [label=", actor);
                s_dot_string (out, label);
                fprintf (out, "];\n");
            }
            fprintf (out, "    }\n");
        }
        fprintf (out, "  }\n");
    }
    zi_placement_for_each_edge (deploy, s_dot_edge, out);
    fprintf (out, "}\n");
    if (ferror (out))
        return zi_error ("cannot write the DOT graph");
    return 0;
}

//  How much of a name from the model goes into the JSON: at most limit
//  bytes, cut where a character starts, so that a model's long names
//  cannot make the placement large
static int
s_cut (const char *text, int limit)
{
    int length = (int) strnlen (text, (size_t) limit + 1);
    if (length <= limit)
        return length;
    length = limit;
    while (length > 0 && ((unsigned char) text [length] & 0xC0) == 0x80)
        length--;
    return length;
}

typedef struct {
    json_object *edges;
    int count;
} s_json_edges_t;

static void
s_json_edge (const zi_deploy_t *deploy, zi_placement_end_t from, zi_placement_end_t to,
             double bytes, const char *value, void *args)
{
    s_json_edges_t *self = args;
    self->count++;
    json_object *edge = json_object_new_object ();
    json_object_object_add (edge, "from", json_object_new_int (from.actor));
    json_object_object_add (edge, "to", json_object_new_int (to.actor));
    if (to.mailbox != to.actor)
        json_object_object_add (edge, "mailbox", json_object_new_int (to.mailbox));
    json_object_object_add (edge, "bytes", json_object_new_double (bytes));
    json_object_object_add (edge, "value", json_object_new_string_len (value,
                                                                       s_cut (value, 200)));
    json_object_object_add (edge, "crossing", json_object_new_string (
                            zi_placement_crossing_name (zi_placement_crossing (deploy, from, to))));
    json_object_array_add (self->edges, edge);
}

//  Counts edges without building them
static void
s_count_edge (const zi_deploy_t *deploy, zi_placement_end_t from, zi_placement_end_t to,
              double bytes, const char *value, void *args)
{
    (void) deploy, (void) from, (void) to, (void) bytes, (void) value;
    (*(int *) args)++;
}

char *
zi_placement_json (const zi_deploy_t *deploy, int max_actors, size_t *size)
{
    const zi_topology_t *topology = deploy->topology;
    json_object *root = json_object_new_object ();
    json_object_object_add (root, "topology", json_object_new_string (topology->name));
    json_object *hosts = json_object_new_array ();
    for (int host = 0; host < topology->n_hosts; host++) {
        json_object *entry = json_object_new_object ();
        json_object_object_add (entry, "name",
                                json_object_new_string (topology->hosts [host].name));
        json_object_object_add (entry, "address",
                                json_object_new_string (topology->hosts [host].address));
        json_object_array_add (hosts, entry);
    }
    json_object_object_add (root, "hosts", hosts);
    json_object *processes = json_object_new_array ();
    for (int process = 0; process < topology->n_processes; process++) {
        const zi_topo_process_t *info = &topology->processes [process];
        json_object *entry = json_object_new_object ();
        json_object_object_add (entry, "name", json_object_new_string (info->name));
        json_object_object_add (entry, "host", json_object_new_int (info->host));
        json_object_object_add (entry, "threads", json_object_new_int (info->threads));
        json_object_object_add (entry, "gateway",
                                json_object_new_boolean (process == deploy->gateway_process));
        json_object_array_add (processes, entry);
    }
    json_object_object_add (root, "processes", processes);
    int n_edges = 0;
    zi_placement_for_each_edge (deploy, s_count_edge, &n_edges);
    bool truncated = deploy->n_actors > max_actors || n_edges > 3 * max_actors;
    json_object_object_add (root, "n_actors", json_object_new_int (deploy->n_actors));
    json_object_object_add (root, "n_edges", json_object_new_int (n_edges));
    json_object_object_add (root, "truncated", json_object_new_boolean (truncated));
    json_object *actors = json_object_new_array ();
    s_json_edges_t edges = {json_object_new_array (), 0};
    if (!truncated) {
        for (int actor = 0; actor < deploy->n_actors; actor++) {
            const zi_deploy_actor_t *info = &deploy->actors [actor];
            char name [300];
            json_object *entry = json_object_new_object ();
            json_object_object_add (entry, "name", json_object_new_string (
                                    zi_deploy_actor_name (deploy, actor, name, sizeof name)));
            json_object_object_add (entry, "op", json_object_new_string (
                                    deploy->plan->nodes [info->node].op_type));
            json_object_object_add (entry, "node", json_object_new_int (info->node));
            json_object_object_add (entry, "process", json_object_new_int (info->process));
            json_object_object_add (entry, "thread", json_object_new_int (info->thread));
            json_object_array_add (actors, entry);
        }
        zi_placement_for_each_edge (deploy, s_json_edge, &edges);
    }
    json_object_object_add (root, "actors", actors);
    json_object_object_add (root, "edges", edges.edges);
    const char *text = json_object_to_json_string_ext (root, JSON_C_TO_STRING_PLAIN);
    char *copy = strdup (text);
    assert (copy);
    *size = strlen (copy);
    json_object_put (root);
    return copy;
}
