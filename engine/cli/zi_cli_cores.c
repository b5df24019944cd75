/*  =========================================================================
    zi_cli_cores - how many cores' worth of a model this machine runs at
    once, for the throughput predictions of `zinfer split`

    A pipeline of N processes on C cores runs up to min(N, C) stages at a
    time, and the cost model took each at the speed the profile measured
    alone. Cores that share a physical core (hyperthreads) or a cache and
    memory bus do not give that. So the model is cut into `cores` stages
    of about equal profiled time, as a pipeline cuts it, and the stages are
    run each alone, then all at once on as many threads; the work done per
    second at once over alone is the machine's effective cores for this
    model. Stages, not copies of the whole model: on the 2-vCPU machine of
    the benchmarks two copies of mobilenet_v3_small at once each ran 1.3
    to 3 times slower than alone, where its two halves side by side ran
    1.0 to 1.2 times slower in the same rounds (each half has half the
    weights and activations to keep in cache), and a 2-process pipeline
    served what the halves predicted (docs/placement.md). The measure is
    the median of five rounds, each phase 0.1 to 1 s.

    At once, the stages stop together: when the first has done its runs
    the others stop after the one they are in, and each counts the runs it
    finished. Each stage's rate at once over its rate alone, summed, is the
    round's measure. A round timed until the last stage finished counted a
    stretch where one stage ran alone on an idle machine as time at once:
    with 98 runs of one half and 71 of the other, at most 1.72 cores'
    worth however well the cores ran side by side.
    =========================================================================
*/

#include "zi_cli.h"
#include <pthread.h>
#include <stdatomic.h>

#define S_MAX_SESSIONS 16
//  Each phase (alone, or all at once) lasts at least this long, and the
//  measure is the median of S_ROUNDS rounds: five runs of a 2 ms model
//  were 10 ms, which one time slice of another process on the machine
//  swung from 1.3 to 2.0 cores' worth
#define S_PHASE_USECS   100000
#define S_ROUNDS        5

typedef struct {
    zi_model_t *model;          //  its own copy: sessions plan into their model
    zi_session_t *session;      //  at one thread
    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS];  //  random, of the model's shapes
    int first, last;            //  the planned nodes it runs; last 0: all
    int runs;                   //  to time
    atomic_bool *stop;          //  at once: set by the first runner done, NULL alone
    int done;                   //  runs finished
    double usecs;               //  how long they took
    double alone;               //  usecs a run alone, the last time it ran alone
    int rc;                     //  0, or -1 when a run failed
} s_runner_t;

static void *
s_run_all (void *args)
{
    s_runner_t *self = args;
    int64_t start = zi_cli_usecs ();
    self->done = 0;
    while (self->done < self->runs && self->rc == 0
       && !(self->stop && atomic_load (self->stop))) {
        bool failed = self->last
            ? zi_session_run_stage (self->session, self->inputs, self->first, self->last) != 0
            : zi_cli_timed_run (self->session, self->inputs) < 0;
        if (failed)
            self->rc = -1;
        else
            self->done++;
    }
    if (self->stop)
        atomic_store (self->stop, true);
    self->usecs = (double) (zi_cli_usecs () - start);
    return NULL;
}

//  A runner's usecs a run in its last phase
static double
s_per_run (const s_runner_t *self)
{
    return self->usecs / (self->done > 0? self->done: 1);
}

static int
s_runner_init (s_runner_t *self, const char *model_path)
{
    memset (self, 0, sizeof *self);
    self->model = zi_model_load (model_path);
    if (!self->model)
        return -1;
    zi_options_t options = {.threads = 1};
    self->session = zi_session_new (self->model, &options);
    if (!self->session)
        return -1;
    const zi_graph_t *graph = self->model->graph;
    for (int input = 0; input < graph->n_inputs && input < ZI_MAX_GRAPH_INPUTS; input++) {
        const zi_value_t *value = &graph->values [graph->inputs [input]];
        int64_t dims [ZI_MAX_DIMS];
        for (int axis = 0; axis < value->info.ndim; axis++)
            dims [axis] = value->info.dims [axis] < 0? 1: value->info.dims [axis];
        self->inputs [input] = zi_test_data (value->info.dtype, value->info.ndim, dims,
                                             1234 + input);
        if (!self->inputs [input])
            return -1;
    }
    //  The first run plans and touches every buffer: not timed
    return zi_cli_timed_run (self->session, self->inputs) < 0? -1: 0;
}

static void
s_runner_destroy (s_runner_t *self)
{
    for (int input = 0; input < ZI_MAX_GRAPH_INPUTS; input++)
        zi_tensor_destroy (&self->inputs [input]);
    zi_session_destroy (&self->session);
    zi_model_destroy (&self->model);
}

//  Gives runner k of count the k-th of count contiguous ranges of the
//  plan's nodes of about equal time, each on its own thread as a pipeline
//  stage runs; false when usecs does not describe this plan (then each
//  runs the whole model)
static bool
s_cut_stages (s_runner_t *runners, int count, const double *usecs, int n_nodes)
{
    const zi_graph_t *plan = zi_session_plan (runners [0].session);
    if (!usecs || !plan || plan->n_nodes != n_nodes || n_nodes < count)
        return false;
    double total = 0, sum = 0;
    for (int node = 0; node < n_nodes; node++)
        total += usecs [node];
    int stage = 0;
    runners [0].first = 0;
    for (int node = 0; node < n_nodes && stage < count - 1; node++) {
        sum += usecs [node];
        //  A cut after node once the stages so far hold their share, and
        //  every later stage keeps a node
        if (sum >= total * (stage + 1) / count || n_nodes - node - 1 == count - stage - 1) {
            runners [stage].last = node + 1;
            runners [++stage].first = node + 1;
        }
    }
    runners [count - 1].last = n_nodes;
    return true;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

//  Runs every runner all at once, until the first is done, then each
//  alone again: the sum of each runner's speed at once over its speed
//  alone (before and after, against the machine's drift)
static double
s_round (s_runner_t *runners, int count)
{
    pthread_t threads [S_MAX_SESSIONS];
    atomic_bool stop = false;
    for (int index = 0; index < count; index++) {
        runners [index].stop = &stop;
        pthread_create (&threads [index], NULL, s_run_all, &runners [index]);
    }
    //  A runner that finished no run before the others were done (its
    //  thread never got a core) did no work at once
    double together [S_MAX_SESSIONS];
    for (int index = 0; index < count; index++) {
        pthread_join (threads [index], NULL);
        runners [index].stop = NULL;
        together [index] = runners [index].done > 0? s_per_run (&runners [index]): 0;
    }
    double worth = 0;
    for (int index = 0; index < count; index++) {
        double before = runners [index].alone;
        s_run_all (&runners [index]);
        runners [index].alone = s_per_run (&runners [index]);
        if (together [index] > 0)
            worth += (before + runners [index].alone) / 2 / together [index];
    }
    return worth;
}

int
zi_cli_effective_cores (const char *model_path, int cores, int runs, const double *usecs,
                        int n_nodes, double *effective)
{
    if (cores > S_MAX_SESSIONS)
        cores = S_MAX_SESSIONS;
    *effective = cores;
    if (cores < 2)
        return 0;
    s_runner_t runners [S_MAX_SESSIONS];
    int ready = 0, rc = 0;
    for (; ready < cores && rc == 0; ready++)
        rc = s_runner_init (&runners [ready], model_path);
    if (rc == 0 && !s_cut_stages (runners, cores, usecs, n_nodes))
        for (int index = 0; index < cores; index++)
            runners [index].first = runners [index].last = 0;
    //  Each runner's part alone once, for enough runs that a phase
    //  outlasts a few time slices: runs, or fewer when they would take
    //  over ten phases, or more when they would take under one
    for (int index = 0; index < cores && rc == 0; index++) {
        s_runner_t *runner = &runners [index];
        runner->runs = 1;
        s_run_all (runner);
        double once = runner->usecs > 1? runner->usecs: 1;
        int least = (int) (S_PHASE_USECS / once) + 1;
        int most = (int) (10 * S_PHASE_USECS / once) + 1;
        runner->runs = runs > most? most: runs < least? least: runs;
        s_run_all (runner);
        runner->alone = s_per_run (runner);
        rc = runner->rc;
    }
    //  Then at once and alone again, in rounds: a machine whose speed
    //  drifts meets both sides of each round alike
    double ratios [S_ROUNDS];
    for (int round = 0; round < S_ROUNDS && rc == 0; round++) {
        ratios [round] = s_round (runners, cores);
        for (int index = 0; index < cores && rc == 0; index++)
            rc = runners [index].rc;
    }
    if (rc == 0) {
        //  Between one core and all of them, whatever the noise says
        qsort (ratios, S_ROUNDS, sizeof (double), s_compare);
        double measured = ratios [S_ROUNDS / 2];
        *effective = measured < 1? 1: measured > cores? cores: measured;
    }
    if (rc)
        zi_error ("cannot time %s in %d sessions at once: %s", model_path, cores,
                  zi_error_text ());
    for (int index = 0; index < ready; index++)
        s_runner_destroy (&runners [index]);
    return rc;
}

int
zi_cli_cores_worth_given (const char *command, const char *given, int cores, double *worth)
{
    *worth = 0;
    if (!given)
        return 0;
    char *end = NULL;
    double value = strtod (given, &end);
    if (end == given || *end || !(value >= 1) || value > cores)
        return zi_cli_fail (command, "--cores-worth expects a number from 1 to %d, the cores "
                            "it runs on, got '%s'", cores, given);
    *worth = value;
    return 0;
}

int
zi_cli_cores_worth (const char *command, const char *model_path, double given, int cores,
                    int runs, const double *usecs, int n_nodes, double *worth, char *source,
                    size_t size)
{
    *worth = cores;
    if (given > 0) {
        *worth = given;
        snprintf (source, size, "given by --cores-worth");
        return 0;
    }
    if (cores < 2) {
        snprintf (source, size, "one core");
        return 0;
    }
    fprintf (stderr, "zinfer %s: timing %s as %d stages at once ...\n", command, model_path,
             cores);
    if (zi_cli_effective_cores (model_path, cores, runs, usecs, n_nodes, worth))
        return zi_cli_fail (command, "%s", zi_error_text ());
    snprintf (source, size, "measured now as %d stages at once", cores);
    return 0;
}
