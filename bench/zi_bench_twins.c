/*  =========================================================================
    zi_bench_twins - a split model and its bare ZeroMQ floor, request by
    request

    `zinfer infer --local` and `zi_bench_floor client` each pair a request
    with a local run made just before it, in their own process and their
    own stretch of time. Set over each other, their medians carried
    whatever the machine did in between: a column of zinfer over its floor
    moved 0.05 to 0.1 from run to run, as much as the target it was
    measured against. This client does both at once: it takes turns, one
    request of the split (after a local run of the model, on one thread)
    and one through the floor chain (after the same arithmetic the chain
    spins, run locally), so every zinfer request has a floor twin a few
    milliseconds away. Odd runs take the floor first, so neither always
    comes right after the other.

        zi_bench_twins ENDPOINT MODEL INPUT FIRST LAST ITERATIONS RUNS
                       [INPUT_BYTES [FIRST2 LAST2]]

    ENDPOINT is a running topology's gateway (its ipc endpoint on this
    host: the input goes through shared memory, as `zinfer infer` sends
    it), MODEL and INPUT the model and its .npy input (one input).
    FIRST, LAST and ITERATIONS are zi_bench_floor client's: the chain's
    first stage, where its answers come, and the arithmetic of all its
    stages; INPUT_BYTES the block the request names, for the first stage
    to copy (bench/zi_bench_floor.c). One warm-up pair of each comes
    first, as `zinfer infer` leaves out its first request. Prints
    `run_ms: LOCAL REMOTE FLOOR_LOCAL FLOOR_REMOTE` per run, in order,
    then `zinfer_ratio`, `floor_ratio` and `over_floor`: the medians of
    zinfer's remote over local, the floor's, and of their quotient, twin
    by twin.

    FIRST2 and LAST2 name a second chain of the same stages, one whose
    answers come back through its first stage (as a split's come back
    through its gateway's process): each zinfer request then has a twin in
    both, the three taking turns in a rotating order, and each run line
    ends with that chain's `FLOOR2_LOCAL FLOOR2_REMOTE` too.
    =========================================================================
*/

#include "zinfer.h"
#include "zi_tensor.h"
#include "zi_session.h"
#include "zi_bench_floor.h"
#include <assert.h>
#include <stdbool.h>

#define S_TIMEOUT_MSECS 60000       //  a chain or gateway silent this long has failed

typedef struct {
    double local, remote;           //  ms
} s_pair_t;

//  One request of the split after a local run of the model; 0 or -1
static int
s_zinfer_pair (zi_session_t *session, zi_client_t *client, zi_tensor_t **inputs,
               zi_tensor_t **outputs, int n_outputs, s_pair_t *pair)
{
    double start = s_now_msecs ();
    int rc = zi_session_run (session, inputs, outputs);
    pair->local = s_now_msecs () - start;
    for (int output = 0; output < n_outputs; output++)
        zi_tensor_destroy (&outputs [output]);
    if (rc)
        return -1;
    start = s_now_msecs ();
    int got = zi_client_infer (client, inputs, 1, outputs, n_outputs, S_TIMEOUT_MSECS);
    pair->remote = s_now_msecs () - start;
    for (int output = 0; output < got; output++)
        zi_tensor_destroy (&outputs [output]);
    return got < 0? -1: 0;
}

//  One request through the floor chain after its arithmetic run here
static int
s_floor_pair (void *output, void *input, const s_request_t *request, int64_t iterations,
              s_pair_t *pair)
{
    double start = s_now_msecs ();
    s_spin (iterations);
    pair->local = s_now_msecs () - start;
    start = s_now_msecs ();
    zmq_send (output, request, sizeof *request, 0);
    zmq_msg_t answer;
    zmq_msg_init (&answer);
    int rc = zmq_msg_recv (&answer, input, 0);
    zmq_msg_close (&answer);
    pair->remote = s_now_msecs () - start;
    return rc < 0? -1: 0;
}

static int
s_twins (const char *endpoint, const char *model_path, const char *input_path,
         const char *first, const char *last, int64_t iterations, int runs,
         size_t input_bytes, const char *first2, const char *last2)
{
    zi_options_t options = {.threads = 1};
    zi_model_t *model = zi_model_load (model_path);
    zi_session_t *session = model? zi_session_new (model, &options): NULL;
    zi_tensor_t *loaded = session? zi_npy_load (input_path): NULL;
    zi_client_t *client = loaded? zi_client_new (endpoint): NULL;
    if (!client) {
        fprintf (stderr, "zi_bench_twins: %s\n", zi_error_text ());
        zi_tensor_destroy (&loaded);
        zi_session_destroy (&session);
        zi_model_destroy (&model);
        return 1;
    }
    //  The input in a block of the client's own, as `zinfer infer` places
    //  it: each request names the block, and the gateway copies it out
    zi_tensor_t *inputs [1] = {zi_client_tensor (client, loaded->dtype, loaded->ndim,
                                                 loaded->dims)};
    if (inputs [0])
        memcpy (inputs [0]->data, loaded->data, loaded->nbytes);
    else
        inputs [0] = zi_tensor_ref (loaded);
    zi_tensor_destroy (&loaded);
    int n_outputs = zi_session_n_outputs (session);
    zi_tensor_t **outputs = calloc (n_outputs + 1, sizeof (zi_tensor_t *));
    s_pair_t *ours = calloc (runs, sizeof (s_pair_t));
    s_pair_t *floors = calloc (runs, sizeof (s_pair_t));
    s_pair_t *floors2 = calloc (runs, sizeof (s_pair_t));
    double *ratio = calloc (runs, sizeof (double));
    double *floor_ratio = calloc (runs, sizeof (double));
    double *over = calloc (runs, sizeof (double));
    assert (outputs && ours && floors && floors2 && ratio && floor_ratio && over);

    void *context = zmq_ctx_new ();
    void *input = s_socket (context, ZMQ_PULL);
    void *output = s_socket (context, ZMQ_PUSH);
    void *input2 = first2? s_socket (context, ZMQ_PULL): NULL;
    void *output2 = first2? s_socket (context, ZMQ_PUSH): NULL;
    int timeout = S_TIMEOUT_MSECS;
    zmq_setsockopt (input, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (input2)
        zmq_setsockopt (input2, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    s_request_t request;
    void *block = NULL;
    int rc = 0;
    if (zmq_bind (input, last) || zmq_connect (output, first)) {
        fprintf (stderr, "zi_bench_twins: floor chain from %s to %s: %s\n", first, last,
                 zmq_strerror (zmq_errno ()));
        rc = 1;
    }
    else
    if (first2 && (zmq_bind (input2, last2) || zmq_connect (output2, first2))) {
        fprintf (stderr, "zi_bench_twins: floor chain from %s to %s: %s\n", first2, last2,
                 zmq_strerror (zmq_errno ()));
        rc = 1;
    }
    else
    if (s_block_new (input_bytes, &request, &block))
        rc = 1;
    for (int run = -1; run < runs && rc == 0; run++) {
        s_pair_t zinfer_pair, floor_pair, floor2_pair = {0, 0};
        //  Who goes first turns, so that none always comes right after
        //  another: with one chain, the floor on odd runs; with two,
        //  zinfer, floor, floor2 rotated by one a run
        int turns = first2? 3: 2;
        int shift = run >= 0? run % turns: 0;
        for (int turn = 0; turn < turns && rc == 0; turn++) {
            int who = (turn + shift) % turns;
            if (who == 0)
                rc = s_zinfer_pair (session, client, inputs, outputs, n_outputs, &zinfer_pair);
            else
            if (who == 1)
                rc = s_floor_pair (output, input, &request, iterations, &floor_pair);
            else
                rc = s_floor_pair (output2, input2, &request, iterations, &floor2_pair);
        }
        if (rc) {
            fprintf (stderr, "zi_bench_twins: run %d: %s\n", run, zi_error_text ());
            break;
        }
        if (run >= 0) {
            ours [run] = zinfer_pair;
            floors [run] = floor_pair;
            floors2 [run] = floor2_pair;
            ratio [run] = zinfer_pair.remote / zinfer_pair.local;
            floor_ratio [run] = floor_pair.remote / floor_pair.local;
            over [run] = ratio [run] / floor_ratio [run];
        }
    }
    if (rc == 0) {
        for (int run = 0; run < runs; run++) {
            printf ("run_ms: %.4f %.4f %.4f %.4f", ours [run].local, ours [run].remote,
                    floors [run].local, floors [run].remote);
            if (first2)
                printf (" %.4f %.4f", floors2 [run].local, floors2 [run].remote);
            printf ("\n");
        }
        printf ("zinfer_ratio: %.4f\nfloor_ratio: %.4f\nover_floor: %.4f\n",
                s_median (ratio, runs), s_median (floor_ratio, runs), s_median (over, runs));
    }
    zmq_close (input);
    zmq_close (output);
    if (input2)
        zmq_close (input2);
    if (output2)
        zmq_close (output2);
    zmq_ctx_term (context);
    s_block_destroy (&request, block);
    free (outputs);
    free (ours);
    free (floors);
    free (floors2);
    free (ratio);
    free (floor_ratio);
    free (over);
    zi_tensor_destroy (&inputs [0]);
    zi_client_destroy (&client);
    zi_session_destroy (&session);
    zi_model_destroy (&model);
    return rc;
}

int
main (int argc, char *argv [])
{
    if (argc != 8 && argc != 9 && argc != 11) {
        fprintf (stderr, "usage: zi_bench_twins ENDPOINT MODEL INPUT FIRST LAST ITERATIONS "
                         "RUNS [INPUT_BYTES [FIRST2 LAST2]]\n");
        return 2;
    }
    //  Whole numbers only: "12x" or "" is refused, not read as 12 or 0
    char *end_iterations, *end_runs, *end_bytes = "";
    long long iterations = strtoll (argv [6], &end_iterations, 10);
    long runs = strtol (argv [7], &end_runs, 10);
    long long input_bytes = argc >= 9? strtoll (argv [8], &end_bytes, 10): 0;
    bool whole = *argv [6] && !*end_iterations && *argv [7] && !*end_runs
              && (argc < 9 || (*argv [8] && !*end_bytes));
    if (!whole || iterations < 0 || runs < 1 || runs > 1000000 || input_bytes < 0) {
        fprintf (stderr, "zi_bench_twins: ITERATIONS, RUNS and INPUT_BYTES are whole counts, "
                         "RUNS 1 to 1000000; got '%s', '%s', '%s'\n", argv [6], argv [7],
                 argc >= 9? argv [8]: "0");
        return 2;
    }
    return s_twins (argv [1], argv [2], argv [3], argv [4], argv [5], iterations, (int) runs,
                    (size_t) input_bytes, argc == 11? argv [9]: NULL,
                    argc == 11? argv [10]: NULL);
}
