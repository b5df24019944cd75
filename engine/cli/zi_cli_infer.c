/*  =========================================================================
    zi_cli_infer - `zinfer infer`: requests to a running topology
    =========================================================================
*/

#include "zi_cli.h"

static const char *s_usage =
    "usage: zinfer infer TOPOLOGY.yaml --input FILE.npy ... [options]\n"
    "\n"
    "Sends requests to the gateway of a topology started with `zinfer up`\n"
    "and prints a summary of each output of the first answer.\n"
    "\n"
    "  --input FILE      an input as .npy, one per model input, in order\n"
    "  --output FILE     write the first output of the first answer\n"
    "  --repeat N        send N requests (default 1) and print latency and\n"
    "                    throughput\n"
    "  --inflight K      keep up to K requests in flight (default 1)\n"
    "  --timeout MS      give up on an answer after MS ms (default 30000)\n"
    "  --times FILE      write each request's latency (ms) to FILE, one per line\n"
    "  --check FILE      every answer's first output must equal FILE.npy bit for\n"
    "                    bit; prints the count and exits 1 if any differs\n"
    "  --base-port P     the topology was started with --base-port P\n"
    "  --endpoint E      connect to E instead of the topology's gateway (in the\n"
    "                    clear: not for topologies that use CURVE)\n"
    "  --key FILE        client secret key file, when the topology uses CURVE\n"
    "                    (default: the ZINFER_KEY environment variable)\n"
    "  --no-shared-memory  send inputs through the socket even on the gateway's\n"
    "                    host (by default, over ipc, inputs of 64 KiB and more\n"
    "                    go through shared memory; ZINFER_SHARED_MEMORY=0 too)\n"
    "  --local MODEL.onnx  with --repeat and one in flight: before each request,\n"
    "                    run MODEL here on one thread and time it too, then\n"
    "                    print the median of the per-request ratios (split\n"
    "                    over local), which a shared machine's drift cancels in\n"
    "  --local-times FILE  with --local: write each local run's latency (ms)\n";

int
zi_cli_infer (int argc, char **argv)
{
    const char *path = NULL, *output_path = NULL, *endpoint = NULL, *times_path = NULL;
    const char *check_path = NULL, *key_path = NULL;
    const char *local_path = NULL, *local_times_path = NULL;
    const char *input_paths [ZI_MAX_GRAPH_INPUTS];
    int n_inputs = 0;
    long repeat = 1, inflight = 1, timeout = 30000, base_port = 0;
    bool no_shared_memory = false;
    const zi_opt_t table [] = {
        ZI_CLI_LIST ("--input", input_paths, &n_inputs, ZI_MAX_GRAPH_INPUTS),
        ZI_CLI_TEXT ("--output", &output_path),
        ZI_CLI_TEXT ("--check", &check_path),
        ZI_CLI_TEXT ("--times", &times_path),
        ZI_CLI_TEXT ("--key", &key_path),
        ZI_CLI_TEXT ("--endpoint", &endpoint),
        ZI_CLI_TEXT ("--local", &local_path),
        ZI_CLI_TEXT ("--local-times", &local_times_path),
        ZI_CLI_FLAG ("--no-shared-memory", &no_shared_memory),
        ZI_CLI_INT ("--repeat", &repeat, 1, 100000000),
        ZI_CLI_INT ("--inflight", &inflight, 1, 100000),
        ZI_CLI_INT ("--timeout", &timeout, 1, 100000000),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("infer", s_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!path && !endpoint)
        return zi_cli_fail ("infer", "no topology given (usage: zinfer infer TOPOLOGY.yaml "
                            "--input FILE.npy)");
    if (n_inputs == 0)
        return zi_cli_fail ("infer", "no --input given");
    if (local_path && (repeat < 2 || inflight != 1))
        return zi_cli_fail ("infer", "--local pairs each request with a local run: it needs "
                            "--repeat 2 or more and one request in flight, got --repeat %ld "
                            "--inflight %ld", repeat, inflight);
    if (local_times_path && !local_path)
        return zi_cli_fail ("infer", "--local-times needs --local MODEL.onnx");

    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS] = {NULL};
    zi_tensor_t *expected = NULL;
    long differ = 0;
    zi_client_t *client = NULL;
    zi_model_t *model = NULL;
    zi_session_t *session = NULL;
    double *local_latency = NULL;
    double *ratio = NULL;
    double *latency = NULL;
    int64_t *sent_at = NULL;
    int rc = ZI_EXIT_USAGE;
    for (int index = 0; index < n_inputs; index++)
        if (!(inputs [index] = zi_npy_load (input_paths [index]))) {
            zi_cli_fail ("infer", "%s", zi_error_text ());
            goto done;
        }
    if (check_path && !(expected = zi_npy_load (check_path))) {
        zi_cli_fail ("infer", "%s", zi_error_text ());
        goto done;
    }
    client = endpoint? zi_client_new (endpoint):
             zi_client_new_topology (path, (int) base_port, key_path);
    if (!client) {
        zi_cli_fail ("infer", "%s", zi_error_text ());
        goto done;
    }
    if (no_shared_memory)
        zi_client_set_shared_memory (client, false);
    //  Inputs in blocks of the client's own: one copy now, none per request
    for (int index = 0; index < n_inputs && zi_client_shared_memory (client); index++) {
        zi_tensor_t *loaded = inputs [index];
        zi_tensor_t *placed = zi_client_tensor (client, loaded->dtype, loaded->ndim, loaded->dims);
        if (placed) {
            memcpy (placed->data, loaded->data, loaded->nbytes);
            zi_tensor_destroy (&inputs [index]);
            inputs [index] = placed;
        }
    }
    if (local_path) {
        zi_options_t options = {.threads = 1};
        model = zi_model_load (local_path);
        session = model? zi_session_new (model, &options): NULL;
        if (!session || zi_cli_timed_run (session, inputs) < 0) {
            zi_cli_fail ("infer", "--local %s: %s", local_path, zi_error_text ());
            goto done;
        }
        local_latency = calloc (repeat, sizeof (double));
        assert (local_latency);
    }
    rc = ZI_EXIT_FAILURE;
    latency = calloc (repeat, sizeof (double));
    //  Request ids are handed out 1, 2, 3...: index send times by id
    sent_at = calloc (repeat + 2, sizeof (int64_t));
    assert (latency && sent_at);
    if (repeat > 1) {
        //  One request first, outside the statistics: it pays for the
        //  connection set-up
        zi_tensor_t *outputs [ZI_MAX_GRAPH_OUTPUTS] = {NULL};
        int n_outputs = zi_client_infer (client, inputs, n_inputs, outputs,
                                         ZI_MAX_GRAPH_OUTPUTS, (int) timeout);
        if (n_outputs < 0) {
            fprintf (stderr, "zinfer infer: %s\n", zi_error_text ());
            goto done;
        }
        for (int output = 0; output < n_outputs; output++)
            zi_tensor_destroy (&outputs [output]);
    }
    long sent = 0, answered = 0;
    int64_t start = zi_cli_usecs ();
    while (answered < repeat) {
        while (sent < repeat && sent - answered < inflight) {
            uint64_t id;
            //  The local run right before its request: both see the
            //  machine as it is at that moment
            if (session && (local_latency [sent] = zi_cli_timed_run (session, inputs)) < 0) {
                fprintf (stderr, "zinfer infer: --local: %s\n", zi_error_text ());
                goto done;
            }
            int64_t now = zi_cli_usecs ();
            if (zi_client_send (client, inputs, n_inputs, &id)) {
                fprintf (stderr, "zinfer infer: %s\n", zi_error_text ());
                goto done;
            }
            sent_at [id % (repeat + 2)] = now;
            sent++;
        }
        zi_tensor_t *outputs [ZI_MAX_GRAPH_OUTPUTS] = {NULL};
        int n_outputs = 0;
        uint64_t id = 0;
        int got = zi_client_recv (client, &id, outputs, ZI_MAX_GRAPH_OUTPUTS, &n_outputs,
                                  (int) timeout);
        if (got) {
            fprintf (stderr, "zinfer infer: %s\n", zi_error_text ());
            goto done;
        }
        latency [answered] = (zi_cli_usecs () - sent_at [id % (repeat + 2)]) / 1000.0;
        if (expected && (n_outputs < 1 || !zi_tensor_same_shape (outputs [0], expected)
                         || memcmp (outputs [0]->data, expected->data, expected->nbytes)))
            differ++;
        if (answered == 0) {
            for (int output = 0; output < n_outputs; output++) {
                char name [32];
                snprintf (name, sizeof name, "%d", output);
                zi_cli_summarise (name, outputs [output]);
            }
            if (output_path && zi_npy_save (outputs [0], output_path)) {
                fprintf (stderr, "zinfer infer: %s\n", zi_error_text ());
                goto done;
            }
        }
        answered++;
        for (int output = 0; output < n_outputs; output++)
            zi_tensor_destroy (&outputs [output]);
    }
    double seconds = (zi_cli_usecs () - start) / 1e6;
    if (session) {
        //  With one in flight, answer i is request i's; paired before
        //  the quantiles below sort the arrays
        ratio = calloc (repeat, sizeof (double));
        assert (ratio);
        for (long index = 0; index < repeat; index++)
            ratio [index] = latency [index] / (local_latency [index] > 0? local_latency [index]: 1e-3);
    }
    if ((times_path && zi_cli_write_times (times_path, latency, (int) repeat))
    ||  (local_times_path && zi_cli_write_times (local_times_path, local_latency, (int) repeat))) {
        fprintf (stderr, "zinfer infer: %s\n", zi_error_text ());
        goto done;
    }
    if (expected || zi_client_resends (client))
        printf ("answers: %ld of %ld requests, each once%s%ld differ from %s; resent %llu, "
                "duplicates dropped %llu\n", answered, repeat, expected? ", ": "", differ,
                expected? check_path: "(no check)", (unsigned long long) zi_client_resends (client),
                (unsigned long long) zi_client_duplicates (client));
    if (repeat > 1)
        printf ("latency: median %.3f ms, p90 %.3f ms; throughput %.1f requests/s "
                "(%ld requests, %ld in flight)\n",
                zi_cli_quantile (latency, (int) repeat, 0.5),
                zi_cli_quantile (latency, (int) repeat, 0.9), repeat / seconds, repeat, inflight);
    if (session)
        printf ("local: median %.3f ms, p90 %.3f ms; split over local, per request: "
                "median %.3f\n", zi_cli_quantile (local_latency, (int) repeat, 0.5),
                zi_cli_quantile (local_latency, (int) repeat, 0.9),
                zi_cli_quantile (ratio, (int) repeat, 0.5));
    rc = differ? ZI_EXIT_FAILURE: 0;
done:
    zi_tensor_destroy (&expected);
    zi_session_destroy (&session);
    zi_model_destroy (&model);
    free (local_latency);
    free (ratio);
    free (latency);
    free (sent_at);
    zi_client_destroy (&client);
    for (int index = 0; index < n_inputs; index++)
        zi_tensor_destroy (&inputs [index]);
    return rc;
}
