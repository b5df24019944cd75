/*  =========================================================================
    zi_cli_infer - `zinfer infer`: requests to a running topology
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_deploy.h"
#include "zi_watch.h"
#include "zi_probe.h"

static const char *s_usage =
    "usage: zinfer infer TOPOLOGY.yaml --input FILE.npy ... [options]\n"
    "\n"
    "Sends requests to the gateway of a topology started with `zinfer up`\n"
    "and prints a summary of each output of the first answer, by name.\n"
    "\n"
    "  --input [NAME=]FILE   an input as .npy, one per model input: by name,\n"
    "                    or else in the model's input order\n"
    "  --output [NAME=]FILE  write an output of the first answer (by name, or\n"
    "                    else in order: a single unnamed one is the first)\n"
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

//  The model's input and output names, as the gateway's process plans it
typedef struct {
    int n_inputs;               //  -1: not known (no monitor answered)
    char *inputs [ZI_MAX_GRAPH_INPUTS];
    int n_outputs;
    char *outputs [ZI_MAX_GRAPH_OUTPUTS];
} s_names_t;

static void
s_names_clear (s_names_t *names)
{
    for (int index = 0; index < names->n_inputs; index++)
        free (names->inputs [index]);
    for (int index = 0; index < names->n_outputs; index++)
        free (names->outputs [index]);
}

static char *
s_string (const msgpack_object *object)
{
    if (object->type != MSGPACK_OBJECT_STR)
        return strdup ("?");
    return strndup (object->via.str.ptr, object->via.str.size);
}

//  Asks the gateway process's monitor (MODEL) for the names: infer reads
//  the topology, never the model, so that it starts at once whatever the
//  model's size. Without an answer (a worker without its monitor, or one
//  not running, which the request then reports) names stay unknown.
static void
s_ask_names (const char *path, int base_port, const char *key_path, s_names_t *names)
{
    zi_deploy_t *deploy = zi_deploy_new_endpoints (path, base_port);
    if (!deploy || zi_deploy_load_client_key (deploy, key_path)) {
        zi_deploy_destroy (&deploy);
        return;             //  the client says what is wrong, in its words
    }
    char endpoint [256];
    zi_deploy_monitor_endpoint (deploy, deploy->gateway_process, endpoint, sizeof endpoint);
    if (zi_probe_listening (endpoint)) {
        zi_deploy_destroy (&deploy);
        return;
    }
    zi_watch_t *watch = zi_watch_new (deploy);
    zi_watch_reply_t *replies = calloc (deploy->topology->n_processes, sizeof (zi_watch_reply_t));
    assert (replies);
    zi_watch_query (watch, deploy->gateway_process, "MODEL", NULL, -1, 1000, replies);
    const zi_watch_reply_t *reply = &replies [deploy->gateway_process];
    const msgpack_object *inputs = reply->answered? zi_watch_get (&reply->reply.data, "inputs"): NULL;
    const msgpack_object *outputs = reply->answered? zi_watch_get (&reply->reply.data, "outputs"): NULL;
    if (inputs && outputs && inputs->type == MSGPACK_OBJECT_ARRAY
    &&  outputs->type == MSGPACK_OBJECT_ARRAY && inputs->via.array.size <= ZI_MAX_GRAPH_INPUTS
    &&  outputs->via.array.size <= ZI_MAX_GRAPH_OUTPUTS) {
        names->n_inputs = 0;
        for (uint32_t index = 0; index < inputs->via.array.size; index++) {
            const msgpack_object *name = zi_watch_get (&inputs->via.array.ptr [index], "name");
            names->inputs [names->n_inputs++] = name? s_string (name): strdup ("?");
        }
        for (uint32_t index = 0; index < outputs->via.array.size; index++)
            names->outputs [names->n_outputs++] = s_string (&outputs->via.array.ptr [index]);
    }
    zi_watch_replies_clear (watch, replies);
    free (replies);
    zi_watch_destroy (&watch);
    zi_deploy_destroy (&deploy);
}

//  Loads the --input files into the model's input order: NAME= ones by
//  name, the others by position, as zinfer run does
static int
s_order_inputs (const s_names_t *names, const zi_cli_named_t *files, int n_files,
                zi_tensor_t **inputs)
{
    if (names->n_inputs >= 0 && n_files != names->n_inputs)
        return zi_cli_fail ("infer", "the model has %d input%s (%s%s), got %d --input",
                            names->n_inputs, names->n_inputs == 1? "": "s",
                            names->n_inputs? names->inputs [0]: "",
                            names->n_inputs > 1? ", ...": "", n_files);
    for (int index = 0; index < n_files; index++) {
        int slot = index;
        if (files [index].name) {
            if (names->n_inputs < 0)
                return zi_cli_fail ("infer", "--input %s=...: input names come from the "
                                    "topology's monitor, which did not answer (--endpoint, "
                                    "or workers without their monitor); give the inputs in "
                                    "order without NAME=", files [index].name);
            slot = -1;
            for (int input = 0; input < names->n_inputs; input++)
                if (strcmp (names->inputs [input], files [index].name) == 0)
                    slot = input;
            if (slot < 0)
                return zi_cli_fail ("infer", "the model has no input named '%s' (its inputs: "
                                    "%s%s)", files [index].name, names->inputs [0],
                                    names->n_inputs > 1? ", ...": "");
        }
        if (inputs [slot])
            return zi_cli_fail ("infer", "input '%s' given twice", names->n_inputs > slot?
                                names->inputs [slot]: files [index].path);
        if (!(inputs [slot] = zi_npy_load (files [index].path)))
            return zi_cli_fail ("infer", "%s", zi_error_text ());
    }
    return 0;
}

//  Which output each --output file takes: by name, or else by position
static int
s_order_outputs (const s_names_t *names, const zi_cli_named_t *files, int n_files, int *slots)
{
    for (int index = 0; index < n_files; index++) {
        slots [index] = index;
        if (!files [index].name)
            continue;
        slots [index] = -1;
        for (int output = 0; output < names->n_outputs; output++)
            if (strcmp (names->outputs [output], files [index].name) == 0)
                slots [index] = output;
        if (slots [index] < 0)
            return zi_cli_fail ("infer", names->n_inputs < 0?
                                "--output %s=...: output names come from the topology's "
                                "monitor, which did not answer; give outputs in order":
                                "the model has no output named '%s'", files [index].name);
    }
    return 0;
}

int
zi_cli_infer (int argc, char **argv)
{
    const char *path = NULL, *endpoint = NULL, *times_path = NULL;
    const char *check_path = NULL, *key_path = NULL;
    const char *local_path = NULL, *local_times_path = NULL;
    const char *input_texts [ZI_MAX_GRAPH_INPUTS], *output_texts [ZI_MAX_GRAPH_OUTPUTS];
    int n_inputs = 0, n_output_files = 0;
    long repeat = 1, inflight = 1, timeout = 30000, base_port = 0;
    bool no_shared_memory = false;
    const zi_opt_t table [] = {
        ZI_CLI_LIST ("--input", input_texts, &n_inputs, ZI_MAX_GRAPH_INPUTS),
        ZI_CLI_LIST ("--output", output_texts, &n_output_files, ZI_MAX_GRAPH_OUTPUTS),
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
    zi_cli_named_t input_files [ZI_MAX_GRAPH_INPUTS] = {{NULL, NULL}};
    zi_cli_named_t output_files [ZI_MAX_GRAPH_OUTPUTS] = {{NULL, NULL}};
    int output_slots [ZI_MAX_GRAPH_OUTPUTS];
    s_names_t names = {.n_inputs = -1};
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
        input_files [index] = zi_cli_named (input_texts [index]);
    for (int index = 0; index < n_output_files; index++)
        output_files [index] = zi_cli_named (output_texts [index]);
    if (path && !endpoint)
        s_ask_names (path, (int) base_port, key_path, &names);
    //  A topology that is not running is said before anything else
    client = endpoint? zi_client_new (endpoint):
             zi_client_new_topology (path, (int) base_port, key_path);
    if (!client) {
        zi_cli_fail ("infer", "%s", zi_error_text ());
        goto done;
    }
    if (s_order_inputs (&names, input_files, n_inputs, inputs)
    ||  s_order_outputs (&names, output_files, n_output_files, output_slots))
        goto done;
    if (check_path && !(expected = zi_npy_load (check_path))) {
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
    zi_cli_progress_t progress;
    zi_cli_progress_start (&progress, "infer");
    int64_t start = zi_cli_usecs ();
    while (answered < repeat) {
        if (repeat > 1)
            zi_cli_progress (&progress, "%ld of %ld answered, %ld in flight", answered, repeat,
                             sent - answered);
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
            zi_cli_progress_end (&progress);
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
                zi_cli_summarise (output < names.n_outputs? names.outputs [output]: name,
                                  outputs [output]);
            }
            for (int file = 0; file < n_output_files; file++) {
                if (output_slots [file] >= n_outputs) {
                    fprintf (stderr, "zinfer infer: the answer has %d output%s, got %d "
                             "--output\n", n_outputs, n_outputs == 1? "": "s", n_output_files);
                    goto done;
                }
                if (zi_npy_save (outputs [output_slots [file]], output_files [file].path)) {
                    fprintf (stderr, "zinfer infer: %s\n", zi_error_text ());
                    goto done;
                }
            }
        }
        answered++;
        for (int output = 0; output < n_outputs; output++)
            zi_tensor_destroy (&outputs [output]);
    }
    double seconds = (zi_cli_usecs () - start) / 1e6;
    zi_cli_progress_end (&progress);
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
    for (int index = 0; index < n_inputs; index++) {
        zi_tensor_destroy (&inputs [index]);
        free (input_files [index].name);
    }
    for (int index = 0; index < n_output_files; index++)
        free (output_files [index].name);
    s_names_clear (&names);
    return rc;
}
