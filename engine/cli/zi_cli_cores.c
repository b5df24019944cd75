/*  =========================================================================
    zi_cli_cores - how many cores' worth of a model this machine runs at
    once, for the throughput predictions of `zinfer split`

    A pipeline of N processes on C cores runs up to min(N, C) stages at a
    time, and the cost model took each at the speed the profile measured
    alone. Cores that share a physical core (hyperthreads) or a cache and
    memory bus do not give that: on the 2-vCPU machine of the benchmarks
    two local runs of mobilenet_v3_small at once each ran at about two
    thirds of their speed alone. So the model is run alone, then in
    `cores` sessions on as many threads at once, for the same number of
    runs each; the work done per second at once over alone is the
    machine's effective cores for this model: the median of five rounds,
    each phase at least 0.1 s.
    =========================================================================
*/

#include "zi_cli.h"
#include <pthread.h>

#define S_MAX_SESSIONS 16

typedef struct {
    zi_model_t *model;          //  its own copy: sessions plan into their model
    zi_session_t *session;      //  at one thread
    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS];  //  random, of the model's shapes
    int runs;                   //  to time
    int rc;                     //  0, or -1 when a run failed
} s_runner_t;

static void *
s_run_all (void *args)
{
    s_runner_t *self = args;
    for (int run = 0; run < self->runs && self->rc == 0; run++)
        if (zi_cli_timed_run (self->session, self->inputs) < 0)
            self->rc = -1;
    return NULL;
}

static int
s_runner_init (s_runner_t *self, const char *model_path, int runs)
{
    memset (self, 0, sizeof *self);
    self->runs = runs;
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

//  Each phase (alone, or all at once) lasts at least this long, and the
//  measure is the median of S_ROUNDS rounds: five runs of a 2 ms model
//  were 10 ms, which one time slice of another process on the machine
//  swung from 1.3 to 2.0 cores' worth (docs/placement.md)
#define S_PHASE_USECS   100000
#define S_ROUNDS        5

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

int
zi_cli_effective_cores (const char *model_path, int cores, int runs, double *effective)
{
    if (cores > S_MAX_SESSIONS)
        cores = S_MAX_SESSIONS;
    *effective = cores;
    if (cores < 2)
        return 0;
    s_runner_t runners [S_MAX_SESSIONS];
    int ready = 0, rc = 0;
    for (; ready < cores && rc == 0; ready++)
        rc = s_runner_init (&runners [ready], model_path, runs);
    if (rc == 0) {
        //  Enough runs that a phase outlasts a few time slices
        int64_t start = zi_cli_usecs ();
        runners [0].runs = 1;
        s_run_all (&runners [0]);
        double one = (double) (zi_cli_usecs () - start);
        int phase_runs = one > 0 && S_PHASE_USECS / one > runs?
                         (int) (S_PHASE_USECS / one) + 1: runs;
        for (int index = 0; index < cores; index++)
            runners [index].runs = phase_runs;
        //  Alone, all at once, alone again, in rounds: a machine whose
        //  speed drifts meets both sides of each round alike
        double ratios [S_ROUNDS];
        start = zi_cli_usecs ();
        s_run_all (&runners [0]);
        double alone = (double) (zi_cli_usecs () - start);
        for (int round = 0; round < S_ROUNDS && rc == 0; round++) {
            pthread_t threads [S_MAX_SESSIONS];
            start = zi_cli_usecs ();
            for (int index = 0; index < cores; index++)
                pthread_create (&threads [index], NULL, s_run_all, &runners [index]);
            for (int index = 0; index < cores; index++)
                pthread_join (threads [index], NULL);
            double together = (double) (zi_cli_usecs () - start);
            start = zi_cli_usecs ();
            s_run_all (&runners [0]);
            double after = (double) (zi_cli_usecs () - start);
            ratios [round] = together > 0? cores * (alone + after) / 2 / together: cores;
            alone = after;
            for (int index = 0; index < cores && rc == 0; index++)
                rc = runners [index].rc;
        }
        if (rc == 0) {
            //  Between one core and all of them, whatever the noise says
            qsort (ratios, S_ROUNDS, sizeof (double), s_compare);
            double measured = ratios [S_ROUNDS / 2];
            *effective = measured < 1? 1: measured > cores? cores: measured;
        }
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
                    int runs, double *worth, char *source, size_t size)
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
    fprintf (stderr, "zinfer %s: timing %s in %d sessions at once ...\n", command, model_path,
             cores);
    if (zi_cli_effective_cores (model_path, cores, runs, worth))
        return zi_cli_fail (command, "%s", zi_error_text ());
    snprintf (source, size, "measured now in %d sessions at once", cores);
    return 0;
}
