/*  =========================================================================
    zi_partition - where to cut a planned graph into processes

    The stages are contiguous ranges of the topological order, so a cut
    set is a choice of n_parts - 1 positions among n_nodes - 1, and the
    best cut set for the first j nodes in k stages extends a best one for
    the first i nodes in k - 1 stages: both objectives (a sum, a maximum)
    are monotone in the earlier stages' value. The table below holds that
    value for every (k, j); the self test checks it against every cut set.
    =========================================================================
*/

#include "zi_partition.h"
#include <errno.h>
#include <json-c/json.h>
#include <math.h>

double
zi_hop_usecs (const zi_hop_t *hop, double bytes)
{
    assert (hop->bytes_per_usec > 0);
    return hop->usecs + bytes / hop->bytes_per_usec;
}

double
zi_hop_copy_usecs (const zi_hop_t *hop, double bytes)
{
    assert (hop->bytes_per_usec > 0);
    return bytes / hop->bytes_per_usec;
}

//  A hop as the objective prices it: whole for a request on its own; for
//  a pipeline only its copy, as the fixed part is the wait for the next
//  process to wake, which the requests in flight fill
static double
s_hop_usecs (const zi_partition_t *self, double bytes)
{
    return self->objective == ZI_PARTITION_THROUGHPUT
         ? zi_hop_copy_usecs (&self->hop, bytes): zi_hop_usecs (&self->hop, bytes);
}

//  What a stage ending before node `end` sends: the cut there, or the
//  model outputs back to the gateway when it is the last of two or more
static double
s_send_usecs (const zi_partition_t *self, int end)
{
    if (end < self->n_nodes)
        return s_hop_usecs (self, self->cut_bytes [end]);
    return self->n_parts > 1? s_hop_usecs (self, self->tail_bytes): 0;
}

//  What the runtime adds to a stage of nodes [begin, end): an actor per
//  node, a hand-over per thread its nodes spread over beyond the first,
//  and for the first stage the gateway's part: the client's hops for a
//  request on its own, the copies its thread makes for a pipeline
static double
s_runtime_usecs (const zi_partition_t *self, int stage, int begin, int end)
{
    int nodes = end - begin;
    int threads = self->threads > 1? (self->threads < nodes? self->threads: nodes): 1;
    double gateway = self->objective == ZI_PARTITION_THROUGHPUT
                   ? self->intake_usecs: self->gateway_usecs;
    return nodes * self->runtime.actor_usecs + (threads - 1) * self->runtime.thread_usecs
         + (stage == 0? gateway: 0);
}

//  The time of nodes [begin, end) on stage `stage`'s machine: the
//  profile's and the runtime's, both as fast as that machine is
static double
s_compute_usecs (const zi_partition_t *self, const double *prefix, int stage, int begin,
                 int end)
{
    double usecs = prefix [end] - prefix [begin] + s_runtime_usecs (self, stage, begin, end);
    return self->speed? usecs / self->speed [stage]: usecs;
}

//  Adds a stage to the value of the stages before it
static double
s_combine (const zi_partition_t *self, double before, double stage)
{
    if (self->objective == ZI_PARTITION_LATENCY)
        return before + stage;
    return before > stage? before: stage;
}

//  Throughput with threads to spare: the slowest stage, while it is one
//  node that no cut can make shorter, gets another copy (requests are
//  dealt out among copies, so its time per request divides)
static void
s_replicate (zi_partition_t *self)
{
    if (!self->replicas)
        return;
    for (int stage = 0; stage < self->n_parts; stage++)
        self->replicas [stage] = 1;
    if (self->objective != ZI_PARTITION_THROUGHPUT)
        return;
    int spare_total = self->spare_threads;
    if (self->stage_spare) {
        spare_total = 0;
        for (int stage = 0; stage < self->n_parts; stage++)
            spare_total += self->stage_spare [stage] > 0? self->stage_spare [stage]: 0;
    }
    for (int spare = spare_total; spare > 0; spare--) {
        int slowest = 0;
        double slowest_usecs = -1;
        for (int stage = 0; stage < self->n_parts; stage++) {
            double compute, send;
            zi_partition_stage (self, stage, &compute, &send);
            if (compute + send > slowest_usecs) {
                slowest_usecs = compute + send;
                slowest = stage;
            }
        }
        if (self->first [slowest + 1] - self->first [slowest] != 1)
            break;
        if (self->stage_spare) {
            //  A replica runs on its stage's host: take one of that host's
            //  threads, which every stage on the host shares
            if (self->stage_spare [slowest] <= 0)
                break;
            for (int stage = 0; stage < self->n_parts; stage++)
                if (self->stage_host [stage] == self->stage_host [slowest])
                    self->stage_spare [stage]--;
        }
        self->replicas [slowest]++;
    }
    self->value = zi_partition_evaluate (self);
}

int
zi_partition_solve (zi_partition_t *self)
{
    assert (self && self->usecs && self->cut_bytes && self->first);
    int n_nodes = self->n_nodes, n_parts = self->n_parts;
    if (n_parts < 1 || n_nodes < n_parts)
        return zi_error ("cannot split %d node%s into %d process%s; expected at most one "
                         "process per node", n_nodes, n_nodes == 1? "": "s", n_parts,
                         n_parts == 1? "": "es");
    //  prefix [j]: compute of nodes [0, j)
    double *prefix = malloc ((n_nodes + 1) * sizeof (double));
    //  best [k * (n + 1) + j]: the best value of nodes [0, j) in k stages;
    //  start [same]: where the k-th of those stages starts
    size_t cells = (size_t) (n_parts + 1) * (n_nodes + 1);
    double *best = malloc (cells * sizeof (double));
    int *start = malloc (cells * sizeof (int));
    assert (prefix && best && start);
    prefix [0] = 0;
    for (int node = 0; node < n_nodes; node++)
        prefix [node + 1] = prefix [node] + self->usecs [node];
    int width = n_nodes + 1;
    for (int end = 1; end <= n_nodes; end++) {
        best [1 * width + end] = s_compute_usecs (self, prefix, 0, 0, end)
                               + s_send_usecs (self, end);
        start [1 * width + end] = 0;
    }
    for (int stages = 2; stages <= n_parts; stages++)
        //  The last stage must end at n_nodes, earlier ones leave a node
        //  for every stage still to come
        for (int end = stages; end <= n_nodes - (n_parts - stages); end++) {
            double send = s_send_usecs (self, end);
            double found = INFINITY;
            int found_start = -1;
            for (int begin = stages - 1; begin < end; begin++) {
                double stage = s_compute_usecs (self, prefix, stages - 1, begin, end) + send;
                double value = s_combine (self, best [(stages - 1) * width + begin], stage);
                if (value < found) {
                    found = value;
                    found_start = begin;
                }
            }
            best [stages * width + end] = found;
            start [stages * width + end] = found_start;
        }
    self->value = best [n_parts * width + n_nodes];
    self->first [n_parts] = n_nodes;
    for (int stage = n_parts; stage >= 1; stage--)
        self->first [stage - 1] = start [stage * width + self->first [stage]];
    free (prefix);
    free (best);
    free (start);
    s_replicate (self);
    return 0;
}

void
zi_partition_stage (const zi_partition_t *self, int stage, double *compute_usecs,
                    double *send_usecs)
{
    assert (stage >= 0 && stage < self->n_parts);
    double compute = s_runtime_usecs (self, stage, self->first [stage], self->first [stage + 1]);
    for (int node = self->first [stage]; node < self->first [stage + 1]; node++)
        compute += self->usecs [node];
    if (self->speed)
        compute /= self->speed [stage];
    //  Each replica takes every r-th request and does all of its work,
    //  compute and send, on a thread of its own
    int copies = self->replicas? self->replicas [stage]: 1;
    *compute_usecs = compute / copies;
    *send_usecs = s_send_usecs (self, self->first [stage + 1]) / copies;
}

double
zi_partition_stage_runtime (const zi_partition_t *self, int stage)
{
    assert (stage >= 0 && stage < self->n_parts);
    double usecs = s_runtime_usecs (self, stage, self->first [stage], self->first [stage + 1]);
    if (self->speed)
        usecs /= self->speed [stage];
    return usecs / (self->replicas? self->replicas [stage]: 1);
}

zi_partition_t
zi_partition_priced_for (const zi_partition_t *self, zi_objective_t objective)
{
    zi_partition_t priced = *self;
    priced.objective = objective;
    return priced;
}

double
zi_partition_evaluate (const zi_partition_t *self)
{
    double value = 0;
    for (int stage = 0; stage < self->n_parts; stage++) {
        double compute, send;
        zi_partition_stage (self, stage, &compute, &send);
        value = stage? s_combine (self, value, compute + send): compute + send;
    }
    return value;
}

void
zi_partition_cut_bytes (const zi_graph_t *plan, double *cut_bytes, double *tail_bytes)
{
    int n_nodes = plan->n_nodes;
    //  A value made by node p (-1: a model input) and last read by node r
    //  crosses every cut c with p < c <= r: a difference array adds its
    //  bytes at p + 1 and takes them off after r
    double *change = calloc (n_nodes + 2, sizeof (double));
    int *last_reader = malloc ((plan->n_values + 1) * sizeof (int));
    assert (change && last_reader);
    for (int value = 0; value < plan->n_values; value++)
        last_reader [value] = -1;
    for (int node = 0; node < n_nodes; node++) {
        const zi_node_t *reader = &plan->nodes [node];
        for (int slot = 0; slot < reader->n_inputs; slot++) {
            int value = reader->inputs [slot];
            if (value >= 0 && !plan->values [value].constant)
                last_reader [value] = node;
        }
    }
    for (int value = 0; value < plan->n_values; value++) {
        int reader = last_reader [value];
        if (reader < 0)
            continue;
        int producer = plan->values [value].producer;
        double bytes = (double) plan->values [value].info.nbytes;
        if (producer + 1 <= reader) {
            change [producer + 1] += bytes;
            change [reader + 1] -= bytes;
        }
    }
    double crossing = 0;
    for (int cut = 0; cut <= n_nodes; cut++) {
        crossing += change [cut];
        cut_bytes [cut] = cut > 0 && cut < n_nodes? crossing: 0;
    }
    *tail_bytes = 0;
    for (int output = 0; output < plan->n_outputs; output++)
        *tail_bytes += (double) plan->values [plan->outputs [output]].info.nbytes;
    free (change);
    free (last_reader);
}

//  ---------------------------------------------------------------------
//  Reading the JSON files the cost model takes (json-c parses them)

//  The whole file as one JSON value, or NULL with an error naming the
//  file and, for bad JSON, the byte where the parser gave up
static json_object *
s_json_read (const char *path, const char *what)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return zi_error ("%s: cannot open: %s", path, strerror (errno)), NULL;
    json_tokener *tokener = json_tokener_new ();
    assert (tokener);
    json_object *value = NULL;
    enum json_tokener_error status = json_tokener_continue;
    char chunk [65536];
    size_t got, offset = 0;
    while (status == json_tokener_continue && (got = fread (chunk, 1, sizeof chunk, file)) > 0) {
        value = json_tokener_parse_ex (tokener, chunk, (int) got);
        status = json_tokener_get_error (tokener);
        if (status != json_tokener_continue && status != json_tokener_success)
            offset += json_tokener_get_parse_end (tokener);
        else
            offset += got;
    }
    fclose (file);
    if (status != json_tokener_success) {
        zi_error ("%s: not %s (at byte %zu: %s)", path, what, offset,
                  status == json_tokener_continue? "the file ends inside a value"
                                                 : json_tokener_error_desc (status));
        json_object_put (value);
        value = NULL;
    }
    json_tokener_free (tokener);
    return value;
}

//  A number member of object, or -1 with an error
static int
s_json_number (json_object *object, const char *key, double *number)
{
    json_object *member = NULL;
    if (!json_object_object_get_ex (object, key, &member)
    ||  !(json_object_is_type (member, json_type_double)
       || json_object_is_type (member, json_type_int)))
        return -1;
    *number = json_object_get_double (member);
    return isfinite (*number)? 0: -1;
}

//  The node of plan named name: where it is expected first, else anywhere
static int
s_find_node (const zi_graph_t *plan, const char *name, int expected)
{
    if (expected < plan->n_nodes && strcmp (plan->nodes [expected].name, name) == 0)
        return expected;
    for (int node = 0; node < plan->n_nodes; node++)
        if (strcmp (plan->nodes [node].name, name) == 0)
            return node;
    return -1;
}

int
zi_partition_read_profile (const char *path, const zi_graph_t *plan, double *usecs)
{
    const char *what = "a profile written by `zinfer run --profile-json`";
    json_object *profile = s_json_read (path, what);
    if (!profile)
        return -1;
    bool *seen = calloc (plan->n_nodes + 1, sizeof (bool));
    assert (seen);
    int rc = -1;
    json_object *nodes = NULL;
    if (!json_object_is_type (profile, json_type_object)
    ||  !json_object_object_get_ex (profile, "nodes", &nodes)
    ||  !json_object_is_type (nodes, json_type_array)) {
        zi_error ("%s: no \"nodes\" list; expected %s", path, what);
        goto done;
    }
    int listed = (int) json_object_array_length (nodes);
    for (int index = 0; index < listed; index++) {
        json_object *entry = json_object_array_get_idx (nodes, index);
        json_object *name = NULL;
        double ms;
        if (!json_object_is_type (entry, json_type_object)
        ||  !json_object_object_get_ex (entry, "name", &name)
        ||  !json_object_is_type (name, json_type_string)
        ||  s_json_number (entry, "ms", &ms) || ms < 0) {
            zi_error ("%s: node %d has no name or no time ('name' and 'ms' >= 0 expected)",
                      path, index);
            goto done;
        }
        int node = s_find_node (plan, json_object_get_string (name), index);
        if (node >= 0) {
            usecs [node] = ms * 1000;
            seen [node] = true;
        }
    }
    for (int node = 0; node < plan->n_nodes; node++)
        if (!seen [node]) {
            zi_error ("%s: no time for node '%s' of the planned graph (%d of %d nodes "
                      "profiled); expected a profile of this model, fused unless the "
                      "topology says fuse: false", path, plan->nodes [node].name, listed,
                      plan->n_nodes);
            goto done;
        }
    rc = 0;
done:
    free (seen);
    json_object_put (profile);
    return rc;
}

int
zi_hop_read_calibration (const char *path, const char *transport, zi_hop_t *hop)
{
    const char *what = "a calibration written by `zinfer calibrate`";
    json_object *calibration = s_json_read (path, what);
    if (!calibration)
        return -1;
    json_object *measured = NULL;
    zi_hop_t read;
    int rc = 0;
    if (!json_object_is_type (calibration, json_type_object)
    ||  !json_object_object_get_ex (calibration, transport, &measured)
    ||  !json_object_is_type (measured, json_type_object)
    ||  s_json_number (measured, "usecs", &read.usecs)
    ||  s_json_number (measured, "bytes_per_usec", &read.bytes_per_usec)
    ||  read.usecs < 0 || read.usecs > 1e7
    ||  read.bytes_per_usec <= 0 || read.bytes_per_usec > 1e9)
        rc = zi_error ("%s: no \"%s\" entry with \"usecs\" (0 to 1e7) and "
                       "\"bytes_per_usec\" (above 0, at most 1e9); expected %s",
                       path, transport, what);
    else
        *hop = read;
    json_object_put (calibration);
    return rc;
}

int
zi_runtime_read_calibration (const char *path, zi_runtime_cost_t *cost, bool *found)
{
    const char *what = "a calibration written by `zinfer calibrate`";
    json_object *calibration = s_json_read (path, what);
    if (!calibration)
        return -1;
    json_object *measured = NULL;
    zi_runtime_cost_t read = {0, 0};
    int rc = 0;
    *found = json_object_is_type (calibration, json_type_object)
          && json_object_object_get_ex (calibration, "runtime", &measured);
    if (*found
    &&  (!json_object_is_type (measured, json_type_object)
      || s_json_number (measured, "actor_usecs", &read.actor_usecs)
      || s_json_number (measured, "thread_usecs", &read.thread_usecs)
      || read.actor_usecs < 0 || read.actor_usecs > 1e6
      || read.thread_usecs < 0 || read.thread_usecs > 1e6))
        rc = zi_error ("%s: a \"runtime\" entry without \"actor_usecs\" and \"thread_usecs\" "
                       "(0 to 1e6 each); expected %s", path, what);
    else
        *cost = read;
    json_object_put (calibration);
    return rc;
}

//  ---------------------------------------------------------------------
//  Self test

static uint32_t
s_random (uint32_t *state)
{
    //  xorshift32, as zi_test_random
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

//  Every cut set, by recursion over the next cut: the least value
static double
s_brute (zi_partition_t *self, int stage, double least)
{
    if (stage == self->n_parts) {
        double value = zi_partition_evaluate (self);
        return value < least? value: least;
    }
    //  Stage `stage` starts after the previous one and leaves a node for
    //  each stage after it
    int lowest = self->first [stage - 1] + 1;
    int highest = self->n_nodes - (self->n_parts - stage);
    for (int begin = lowest; begin <= highest; begin++) {
        self->first [stage] = begin;
        least = s_brute (self, stage + 1, least);
    }
    return least;
}

void
zi_partition_test (zi_test_t *t)
{
    //  Random chains of 6 to 10 nodes, each objective, every process count
    uint32_t state = 2463534242u;
    int compared = 0, mismatched = 0, inexact = 0;
    for (int graph = 0; graph < 200; graph++) {
        int n_nodes = 6 + (int) (s_random (&state) % 5);
        double usecs [10], cut_bytes [11];
        for (int node = 0; node < n_nodes; node++)
            usecs [node] = (double) (s_random (&state) % 5000) / 10;
        for (int cut = 0; cut <= n_nodes; cut++)
            //  From a few bytes to a few MB, so that a hop sometimes costs
            //  more than a stage and sometimes nothing to speak of
            cut_bytes [cut] = (double) (s_random (&state) % 1000) * (1 << (s_random (&state) % 13));
        zi_partition_t problem = {
            .n_nodes = n_nodes, .usecs = usecs, .cut_bytes = cut_bytes,
            .tail_bytes = (double) (s_random (&state) % 4000),
            .hop = {.usecs = (double) (s_random (&state) % 100), .bytes_per_usec = 1000}
        };
        //  Every third graph pays the runtime per actor, per hand-over
        //  between its stages' threads and for the gateway on the first
        if (graph % 3 == 0) {
            problem.runtime = (zi_runtime_cost_t) {(double) (s_random (&state) % 50),
                                                   (double) (s_random (&state) % 80)};
            problem.threads = 1 + (int) (s_random (&state) % 3);
            problem.gateway_usecs = (double) (s_random (&state) % 300);
            problem.intake_usecs = (double) (s_random (&state) % 150);
        }
        //  Every other graph runs on hosts of their own speeds
        double speed [10];
        for (int stage = 0; stage < 10; stage++)
            speed [stage] = 0.25 + (double) (s_random (&state) % 400) / 100;
        if (graph % 2)
            problem.speed = speed;
        for (int objective = 0; objective < 2; objective++)
            for (int n_parts = 1; n_parts <= n_nodes; n_parts++) {
                int first [11], brute_first [11];
                problem.objective = objective? ZI_PARTITION_THROUGHPUT: ZI_PARTITION_LATENCY;
                problem.n_parts = n_parts;
                problem.first = first;
                if (zi_partition_solve (&problem)) {
                    ZI_CHECK (t, false, "solve failed: %s", zi_error_text ());
                    return;
                }
                double solved = problem.value;
                //  The cuts it gives are in order and have the value it says
                bool ordered = first [0] == 0 && first [n_parts] == n_nodes;
                for (int stage = 0; stage < n_parts; stage++)
                    ordered = ordered && first [stage] < first [stage + 1];
                double check = zi_partition_evaluate (&problem);
                if (!ordered || fabs (check - solved) > 1e-9 * (1 + fabs (solved)))
                    inexact++;
                zi_partition_t brute = problem;
                brute.first = brute_first;
                brute_first [0] = 0;
                brute_first [n_parts] = n_nodes;
                double least = s_brute (&brute, 1, INFINITY);
                if (fabs (least - solved) > 1e-9 * (1 + fabs (least))) {
                    mismatched++;
                    if (t->verbose)
                        printf ("  graph %d, %s, %d parts: DP %.6f, brute force %.6f\n", graph,
                                objective? "throughput": "latency", n_parts, solved, least);
                }
                compared++;
            }
    }
    ZI_CHECK (t, compared > 1000, "compared the DP with brute force %d times, half of them "
              "on hosts of different speeds, a third with the runtime's costs", compared);
    ZI_CHECK (t, mismatched == 0, "the DP finds the least value every cut set has "
              "(%d of %d differ)", mismatched, compared);
    ZI_CHECK (t, inexact == 0, "the DP's cuts are in order and have the value it reports "
              "(%d of %d not)", inexact, compared);

    //  A hop so dear that one process is best for latency, while throughput
    //  still splits a long chain with tiny tensors between its nodes
    double usecs [8] = {100, 100, 100, 100, 100, 100, 100, 100};
    double cut_bytes [9] = {0, 10, 10, 10, 10, 10, 10, 10, 0};
    int first [5];
    zi_partition_t even = {.n_nodes = 8, .usecs = usecs, .cut_bytes = cut_bytes,
                           .tail_bytes = 10, .hop = {.usecs = 5, .bytes_per_usec = 1000},
                           .n_parts = 4, .objective = ZI_PARTITION_THROUGHPUT, .first = first};
    int solved = zi_partition_solve (&even);
    ZI_CHECK (t, solved == 0 && first [1] == 2 && first [2] == 4 && first [3] == 6, "equal nodes split into equal stages (%d %d %d)", first [1],
              first [2], first [3]);
    //  A cheap cut beside a dear one: latency takes the cheap one
    cut_bytes [3] = 1e6;
    cut_bytes [4] = 100;
    even.n_parts = 2;
    even.objective = ZI_PARTITION_LATENCY;
    solved = zi_partition_solve (&even);
    ZI_CHECK (t, solved == 0 && first [1] != 3, "latency avoids the cut with a megabyte across (cut at %d)",
              first [1]);

    //  One node far slower than the rest: throughput gives it the spare
    //  threads as replicas, and no replica where a cut could do better
    double heavy_usecs [3] = {100, 900, 100};
    double heavy_cuts [4] = {0, 10, 10, 0};
    int heavy_first [4], replicas [3];
    zi_partition_t heavy = {.n_nodes = 3, .usecs = heavy_usecs, .cut_bytes = heavy_cuts,
                            .tail_bytes = 10, .hop = {.usecs = 0, .bytes_per_usec = 1e6},
                            .n_parts = 3, .objective = ZI_PARTITION_THROUGHPUT,
                            .first = heavy_first, .spare_threads = 4, .replicas = replicas};
    solved = zi_partition_solve (&heavy);
    ZI_CHECK (t, solved == 0 && replicas [0] == 1 && replicas [1] == 5 && replicas [2] == 1
              && fabs (heavy.value - 180.000002) < 1e-3,
              "the slow single node gets the 4 spare threads as replicas (%d %d %d), "
              "slowest stage %.3f us", replicas [0], replicas [1], replicas [2], heavy.value);
    heavy.spare_threads = 2;
    heavy.n_parts = 2;
    solved = zi_partition_solve (&heavy);
    ZI_CHECK (t, solved == 0 && heavy_first [1] == 1 && replicas [1] == 1,
              "a stage of two nodes is not replicated (stages from %d, replicas %d %d)",
              heavy_first [1], replicas [0], replicas [1]);
    heavy.n_parts = 3;
    heavy.objective = ZI_PARTITION_LATENCY;
    solved = zi_partition_solve (&heavy);
    ZI_CHECK (t, solved == 0 && replicas [1] == 1, "latency gets no replicas");

    //  Hosts: the slow node's host has 1 thread to spare, the others 5
    //  between them; its replicas take only its own host's
    int stage_spare [3] = {5, 1, 5}, stage_host [3] = {0, 1, 0};
    heavy.objective = ZI_PARTITION_THROUGHPUT;
    heavy.stage_spare = stage_spare;
    heavy.stage_host = stage_host;
    solved = zi_partition_solve (&heavy);
    ZI_CHECK (t, solved == 0 && replicas [1] == 2 && stage_spare [1] == 0 && stage_spare [0] == 5,
              "a replica takes a thread of its own host only (replicas %d %d %d)",
              replicas [0], replicas [1], replicas [2]);
    //  A host twice as fast takes the heavy node in a cut for latency, and
    //  a stage on a host of speed 2 predicts half the profile's time
    heavy.stage_spare = NULL;
    heavy.stage_host = NULL;
    heavy.n_parts = 2;
    heavy.objective = ZI_PARTITION_LATENCY;
    double fast_second [2] = {1, 2};
    heavy.speed = fast_second;
    solved = zi_partition_solve (&heavy);
    double compute, send;
    zi_partition_stage (&heavy, 1, &compute, &send);
    ZI_CHECK (t, solved == 0 && heavy_first [1] == 1 && fabs (compute - 500) < 1e-9,
              "the fast host takes the heavy node (from %d, %.1f us)", heavy_first [1], compute);
    heavy.speed = NULL;

    //  The runtime's cost per actor counts per node: a stage of many cheap
    //  nodes is dearer than its kernels say, and the first stage carries
    //  the gateway. By their kernels alone, a node of 60 us and four of
    //  10 us cut after the first (60 us against 40) ...
    double few_usecs [5] = {60, 10, 10, 10, 10};
    double few_cuts [6] = {0, 10, 10, 10, 10, 0};
    int few_first [3];
    zi_partition_t few = {.n_nodes = 5, .usecs = few_usecs, .cut_bytes = few_cuts,
                          .tail_bytes = 0, .hop = {.usecs = 0, .bytes_per_usec = 1e6},
                          .n_parts = 2, .objective = ZI_PARTITION_THROUGHPUT, .first = few_first};
    solved = zi_partition_solve (&few);
    double kernels_only = few.value;
    //  ... and with 20 us per actor the four cheap nodes cost 120 us: the
    //  cut moves to give the second stage three (110 us against 90)
    few.runtime.actor_usecs = 20;
    solved = solved || zi_partition_solve (&few);
    double runtime_part = zi_partition_stage_runtime (&few, 1);
    ZI_CHECK (t, solved == 0 && fabs (kernels_only - 60) < 1e-3 && few_first [1] == 2
              && fabs (few.value - 110) < 1e-3 && fabs (runtime_part - 60) < 1e-9,
              "20 us per actor moves the cut to node %d (slowest stage %.1f us, of the second "
              "%.1f us the runtime's)", few_first [1], few.value, runtime_part);
    //  For a pipeline the gateway's thread pays its copies, not the
    //  client's hops: 100 us of hops there move nothing ...
    few.gateway_usecs = 100;
    solved = zi_partition_solve (&few);
    ZI_CHECK (t, solved == 0 && few_first [1] == 2
              && fabs (zi_partition_stage_runtime (&few, 0) - 40) < 1e-9,
              "the client's hops are not on the gateway's thread of a pipeline (cut at %d)",
              few_first [1]);
    //  ... where 100 us of copies weigh on the first stage
    few.intake_usecs = 100;
    solved = zi_partition_solve (&few);
    ZI_CHECK (t, solved == 0 && few_first [1] == 1
              && fabs (zi_partition_stage_runtime (&few, 0) - 120) < 1e-9,
              "the gateway's copies weigh on the first stage (cut at %d)", few_first [1]);
    zi_partition_t alone = zi_partition_priced_for (&few, ZI_PARTITION_LATENCY);
    ZI_CHECK (t, fabs (zi_partition_stage_runtime (&alone, 0) - 120) < 1e-9
              && alone.objective == ZI_PARTITION_LATENCY && alone.first == few.first,
              "priced for a request on its own, the first stage pays the client's hops, "
              "on the same cuts");
    //  A hop of 1000 bytes at 10 bytes a us and 30 us fixed: 130 us for a
    //  request on its own, the 100 us copy for a pipeline
    few.hop = (zi_hop_t) {30, 10};
    few.gateway_usecs = few.intake_usecs = 0;
    few.runtime.actor_usecs = 0;
    few_cuts [1] = 1000;
    few_first [1] = 1;
    double piped_compute, piped_send, alone_compute, alone_send;
    zi_partition_stage (&few, 0, &piped_compute, &piped_send);
    alone = zi_partition_priced_for (&few, ZI_PARTITION_LATENCY);
    zi_partition_stage (&alone, 0, &alone_compute, &alone_send);
    ZI_CHECK (t, fabs (piped_send - 100) < 1e-9 && fabs (alone_send - 130) < 1e-9
              && piped_compute == alone_compute,
              "a pipeline's stage pays a hop's copy (%.1f us), a request on its own the whole "
              "hop (%.1f us)", piped_send, alone_send);

    even.n_parts = 9;
    solved = zi_partition_solve (&even);
    ZI_CHECK (t, solved == -1 && strstr (zi_error_text (), "8 nodes into 9"),
              "more processes than nodes is refused: %s", zi_error_text ());

    //  Bytes across cuts of a graph: a residual's input crosses every cut
    //  until its Add, the model input only the cuts before its last reader
    zi_graph_t *plan = zi_graph_new ("residual");
    int64_t dims [2] = {1, 4};
    zi_test_graph_io (plan, "x", 2, dims, "y");
    zi_test_graph_node (plan, "Relu", "a", "x", "h1");
    zi_test_graph_node (plan, "Relu", "b", "h1", "h2");
    zi_test_graph_node (plan, "Relu", "c", "h2", "h3");
    zi_test_graph_node (plan, "Add", "d", "h1,h3", "y");
    if (zi_graph_plan (plan, NULL, true)) {
        ZI_CHECK (t, false, "the residual graph plans: %s", zi_error_text ());
        zi_graph_destroy (&plan);
        return;
    }
    double graph_cuts [5], tail;
    zi_partition_cut_bytes (plan, graph_cuts, &tail);
    ZI_CHECK (t, plan->n_nodes == 4 && graph_cuts [1] == 16 && graph_cuts [2] == 32
              && graph_cuts [3] == 32 && tail == 16,
              "cut bytes: h1; h1 and h2; h1 and h3; outputs back (%g %g %g, tail %g)",
              graph_cuts [1], graph_cuts [2], graph_cuts [3], tail);
    zi_graph_destroy (&plan);
}
