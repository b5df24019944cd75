/*  =========================================================================
    zi_placement_test - self test of the placement's edges, DOT and JSON

    The digits CNN split over three processes (topology/examples): the
    edges the placement lists must be the graph's own, each value from
    its producer (or the gateway, for a model input) to its consumer (or
    the gateway, for a model output), with the value's bytes; the JSON
    and the DOT must say the same, and a placement over the limit must
    list nothing but its counts.
    =========================================================================
*/

#include "zi_placement.h"
#include <json-c/json.h>

static void
s_example_path (char *path, size_t size)
{
    const char *source = __FILE__;
    const char *slash = strrchr (source, '/');
    snprintf (path, size, "%.*sexamples/digits_split.yaml",
              slash? (int) (slash - source + 1): 0, source);
}

typedef struct {
    int from, to;
    double bytes;
} s_edge_t;

static int
s_compare (const void *left, const void *right)
{
    const s_edge_t *a = left, *b = right;
    if (a->from != b->from)
        return a->from - b->from;
    if (a->to != b->to)
        return a->to - b->to;
    return (a->bytes > b->bytes) - (a->bytes < b->bytes);
}

static int
s_int (json_object *object, const char *key)
{
    json_object *value = NULL;
    return json_object_object_get_ex (object, key, &value)? json_object_get_int (value): -99;
}

void
zi_placement_test (zi_test_t *t)
{
    char path [1024];
    s_example_path (path, sizeof path);
    zi_deploy_t *deploy = zi_deploy_new (path, 0);
    ZI_CHECK (t, deploy != NULL, "the digits split deploys: %s", deploy? "": zi_error_text ());
    if (!deploy)
        return;
    const zi_graph_t *plan = deploy->plan;

    //  The graph's edges, from its values alone
    s_edge_t want [256];
    int n_want = 0;
    for (int node = 0; node < plan->n_nodes; node++)
        for (int slot = 0; slot < plan->nodes [node].n_inputs; slot++) {
            int value = plan->nodes [node].inputs [slot];
            if (value < 0 || plan->values [value].constant || n_want >= 256)
                continue;
            int producer = plan->values [value].producer;
            want [n_want++] = (s_edge_t) {
                producer >= 0? deploy->first_actor [producer]: -1, deploy->first_actor [node],
                (double) plan->values [value].info.nbytes};
        }
    for (int output = 0; output < plan->n_outputs && n_want < 256; output++) {
        int value = plan->outputs [output];
        want [n_want++] = (s_edge_t) {deploy->first_actor [plan->values [value].producer], -1,
                                      (double) plan->values [value].info.nbytes};
    }
    qsort (want, n_want, sizeof (s_edge_t), s_compare);

    //  The JSON's
    size_t size = 0;
    char *text = zi_placement_json (deploy, 100, &size);
    json_object *root = json_tokener_parse (text);
    ZI_CHECK (t, root && strlen (text) == size, "the placement is JSON of %zu bytes", size);
    json_object *actors = NULL, *edges = NULL, *processes = NULL;
    json_object_object_get_ex (root, "actors", &actors);
    json_object_object_get_ex (root, "edges", &edges);
    json_object_object_get_ex (root, "processes", &processes);
    int n_actors = actors? (int) json_object_array_length (actors): -1;
    bool names = n_actors == deploy->n_actors;
    for (int actor = 0; names && actor < n_actors; actor++) {
        json_object *entry = json_object_array_get_idx (actors, actor), *name = NULL;
        json_object_object_get_ex (entry, "name", &name);
        names &= name && strcmp (json_object_get_string (name),
                                 plan->nodes [deploy->actors [actor].node].name) == 0
              && s_int (entry, "process") == deploy->actors [actor].process;
    }
    ZI_CHECK (t, names && processes && json_object_array_length (processes) == 3,
              "every actor by name in its process (%d actors), 3 processes", n_actors);
    s_edge_t got [256];
    int n_got = 0, crossing = 0;
    bool crossings_right = true;
    for (int index = 0; edges && index < (int) json_object_array_length (edges)
                        && n_got < 256; index++) {
        json_object *entry = json_object_array_get_idx (edges, index), *value = NULL;
        json_object_object_get_ex (entry, "bytes", &value);
        got [n_got] = (s_edge_t) {s_int (entry, "from"), s_int (entry, "to"),
                                  value? json_object_get_double (value): -1};
        int from = got [n_got].from < 0? deploy->gateway_process:
                   deploy->actors [got [n_got].from].process;
        int to = got [n_got].to < 0? deploy->gateway_process:
                 deploy->actors [got [n_got].to].process;
        json_object_object_get_ex (entry, "crossing", &value);
        const char *said = value? json_object_get_string (value): "?";
        crossings_right &= strcmp (said, from != to? "process": "") == 0;
        crossing += from != to;
        n_got++;
    }
    qsort (got, n_got, sizeof (s_edge_t), s_compare);
    ZI_CHECK (t, n_got == n_want && memcmp (got, want, n_got * sizeof (s_edge_t)) == 0,
              "its %d edges are the graph's %d, with their values' bytes", n_got, n_want);
    ZI_CHECK (t, crossings_right && crossing >= 2,
              "each says whether it crosses a process (%d do)", crossing);
    json_object_put (root);
    free (text);

    //  The DOT: a cluster per process, a dashed edge per crossing
    char *dot = NULL;
    size_t dot_size = 0;
    FILE *out = open_memstream (&dot, &dot_size);
    int rc = zi_placement_write_dot (deploy, NULL, NULL, out);
    fclose (out);
    int dashed = 0;
    for (const char *at = dot; (at = strstr (at, "style=dashed")); at++)
        dashed++;
    ZI_CHECK (t, rc == 0 && strstr (dot, "cluster_p0") && strstr (dot, "cluster_p2")
              && strstr (dot, "gateway [shape=ellipse]") && !strstr (dot, " ms\""),
              "the DOT draws processes as clusters, the gateway, no times without a profile");
    ZI_CHECK (t, dashed == crossing, "and dashes the %d edges between processes (%d)",
              crossing, dashed);
    free (dot);

    //  Over the limit: counts only
    text = zi_placement_json (deploy, 2, &size);
    root = json_tokener_parse (text);
    json_object *truncated = NULL;
    json_object_object_get_ex (root, "truncated", &truncated);
    json_object_object_get_ex (root, "actors", &actors);
    json_object_object_get_ex (root, "edges", &edges);
    ZI_CHECK (t, truncated && json_object_get_boolean (truncated)
              && json_object_array_length (actors) == 0 && json_object_array_length (edges) == 0
              && s_int (root, "n_actors") == deploy->n_actors && s_int (root, "n_edges") == n_want,
              "over its limit the placement lists only its counts (%zu bytes)", size);
    json_object_put (root);
    free (text);
    zi_deploy_destroy (&deploy);
}
