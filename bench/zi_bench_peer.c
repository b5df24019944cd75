/*  =========================================================================
    zi_bench_peer - zinfer as a long-lived worker for bench/peers

    zi_bench_peer MODEL.onnx INPUT.npy [REFERENCE.npy]

    Loads the model and its input once, then serves one command a line on
    stdin, answering each with one JSON line on stdout, as bench/peers_ort.js
    does for ONNX Runtime:

        run THREADS WARMUP RUNS  ->  {"threads": T, "ms": [...]}
        quit

    The first line out says it is ready, with the largest difference between
    zinfer's output and the reference (if given).

    Why a worker and not `zinfer run` per round: ONNX Runtime and PyTorch
    serve every round from one warm process, and a zinfer process started
    for each round of a few runs met its first second on a machine whose
    speed moves by the second (a fresh process's page faults and cold
    caches, and whatever the host did then). With every engine a worker,
    rounds can alternate in short batches and each engine is timed the
    same way. A session is made per thread count and kept.
    =========================================================================
*/

#include "zi_clock.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_THREADS   64
#define S_MAX_RUNS      1000000

//  Prints an error as the one JSON line bench/peers reads, with the
//  characters JSON forbids in a string replaced
static void
s_answer_error (const char *what, const char *detail)
{
    printf ("{\"error\": \"%s: ", what);
    for (const char *at = detail; *at; at++)
        putchar (*at == '"' || *at == '\\' || (unsigned char) *at < 0x20? '\'': *at);
    printf ("\"}\n");
    fflush (stdout);
}

typedef struct {
    zi_model_t *model;
    zi_tensor_t **inputs;           //  one per model input
    int n_outputs;
    zi_session_t *sessions [S_MAX_THREADS + 1];     //  by thread count
} s_peer_t;

//  One run: the outputs made and dropped, as `zinfer run` times it
static int
s_run (s_peer_t *self, zi_session_t *session, zi_tensor_t **keep)
{
    zi_tensor_t **outputs = calloc (self->n_outputs + 1, sizeof (zi_tensor_t *));
    if (!outputs)
        return -1;
    int rc = zi_session_run (session, self->inputs, outputs);
    for (int output = 0; output < self->n_outputs; output++)
        if (rc == 0 && keep && output == 0)
            *keep = outputs [output];
        else
            zi_tensor_destroy (&outputs [output]);
    free (outputs);
    return rc;
}

static zi_session_t *
s_session (s_peer_t *self, int threads)
{
    if (!self->sessions [threads]) {
        zi_options_t options = {.threads = threads};
        self->sessions [threads] = zi_session_new (self->model, &options);
    }
    return self->sessions [threads];
}

//  The largest difference from the reference, or -1 where the shapes differ
static double
s_max_abs_diff (const zi_tensor_t *output, const zi_tensor_t *reference)
{
    if (zi_tensor_count (output) != zi_tensor_count (reference))
        return -1;
    const float *got = zi_tensor_data (output), *want = zi_tensor_data (reference);
    double largest = 0;
    for (int64_t index = 0; index < zi_tensor_count (output); index++)
        largest = fmax (largest, fabs ((double) got [index] - want [index]));
    return largest;
}

static int
s_serve (s_peer_t *self)
{
    char line [256];
    while (fgets (line, sizeof line, stdin)) {
        long threads, warmup, runs;
        char extra;
        if (strncmp (line, "quit", 4) == 0)
            break;
        if (sscanf (line, "run %ld %ld %ld %c", &threads, &warmup, &runs, &extra) != 3
        ||  threads < 1 || threads > S_MAX_THREADS || warmup < 0 || warmup > S_MAX_RUNS
        ||  runs < 1 || runs > S_MAX_RUNS) {
            line [strcspn (line, "\n")] = 0;
            s_answer_error ("expected 'run THREADS(1-64) WARMUP RUNS' or 'quit', got", line);
            continue;
        }
        zi_session_t *session = s_session (self, (int) threads);
        double *ms = session? malloc (runs * sizeof (double)): NULL;
        int rc = ms? 0: -1;
        for (long run = 0; rc == 0 && run < warmup; run++)
            rc = s_run (self, session, NULL);
        for (long run = 0; rc == 0 && run < runs; run++) {
            int64_t start = zi_clock_nsecs ();
            rc = s_run (self, session, NULL);
            ms [run] = (zi_clock_nsecs () - start) / 1e6;
        }
        if (rc)
            s_answer_error ("run", zi_error_text ());
        else {
            printf ("{\"threads\": %ld, \"ms\": [", threads);
            for (long run = 0; run < runs; run++)
                printf ("%s%.4f", run? ", ": "", ms [run]);
            printf ("]}\n");
            fflush (stdout);
        }
        free (ms);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: zi_bench_peer MODEL.onnx INPUT.npy [REFERENCE.npy]\n");
        return 2;
    }
    s_peer_t self = {0};
    int rc = 1;
    zi_tensor_t *input = NULL, *reference = NULL, *output = NULL;
    self.model = zi_model_load (argv [1]);
    if (!self.model || zi_model_n_inputs (self.model) != 1
    ||  !(input = zi_npy_load (argv [2]))
    ||  (argc == 4 && !(reference = zi_npy_load (argv [3])))) {
        s_answer_error ("load", self.model && zi_model_n_inputs (self.model) != 1?
                        "a model of one input expected": zi_error_text ());
        goto done;
    }
    self.inputs = &input;
    self.n_outputs = zi_model_n_outputs (self.model);
    //  A first run checks that the answers are right, not just fast
    zi_session_t *session = s_session (&self, 1);
    if (!session || s_run (&self, session, &output)) {
        s_answer_error ("first run", zi_error_text ());
        goto done;
    }
    double diff = reference? s_max_abs_diff (output, reference): 0;
    if (diff < 0) {
        char detail [96];
        snprintf (detail, sizeof detail, "the output has %lld values, the reference %lld",
                  (long long) zi_tensor_count (output), (long long) zi_tensor_count (reference));
        s_answer_error ("reference", detail);
        goto done;
    }
    printf ("{\"ready\": true, \"version\": \"%d.%d.%d\", \"max_abs_diff\": ",
            ZINFER_VERSION_MAJOR, ZINFER_VERSION_MINOR, ZINFER_VERSION_PATCH);
    if (reference)
        printf ("%.6g}\n", diff);
    else
        printf ("null}\n");
    fflush (stdout);
    rc = s_serve (&self);
done:
    for (int threads = 0; threads <= S_MAX_THREADS; threads++)
        zi_session_destroy (&self.sessions [threads]);
    zi_tensor_destroy (&output);
    zi_tensor_destroy (&reference);
    zi_tensor_destroy (&input);
    zi_model_destroy (&self.model);
    return rc;
}
