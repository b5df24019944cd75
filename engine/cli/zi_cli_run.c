/*  =========================================================================
    zi_cli_run - `zinfer run`: one model, local, inputs and outputs as .npy
    =========================================================================
*/

#include "zi_cli.h"
#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

static const char *s_usage =
    "usage: zinfer run MODEL.onnx --input [NAME=]FILE.npy ... [options]\n"
    "\n"
    "Runs MODEL locally on the inputs and prints a summary of each output.\n"
    "\n"
    "  --input [NAME=]FILE   an input as a numpy .npy file; give one per model\n"
    "                        input, by name or in the model's input order\n"
    "  --output [NAME=]FILE  write an output to a .npy file (default: the first)\n"
    "  --threads T           compute threads (default: OpenBLAS's default)\n"
    "  --repeat N            run N more times after a warm-up and print the\n"
    "                        median and p90 latency\n"
    "  --times FILE          with --repeat: write each run's latency (ms) to FILE,\n"
    "                        one per line\n"
    "  --tap NODE=FILE       also save the output of planned node NODE\n"
    "                        (names as `zinfer info --fuse` lists them)\n"
    "  --gap MS|run          with --repeat: pause MS milliseconds (0 to 60000)\n"
    "                        before each timed run, or (run) as long as the run\n"
    "                        before took: single requests, each finding the core\n"
    "                        idle and its caches taken by other work\n"
    "  --cold                with --repeat: before each timed run, write over\n"
    "                        twice the last-level cache, so the run finds the\n"
    "                        weights in memory as a request after other work does\n"
    "  --profile             with --repeat: time every node and print where the\n"
    "                        time goes, by op type and the ten slowest nodes\n"
    "  --profile-json FILE   with --repeat: also write every node's time to FILE\n"
    "                        as JSON (name, op, output and its bytes, inputs,\n"
    "                        ms per run over the middle half of\n"
    "                        the runs)\n"
    "  --no-fuse             run the graph as exported, without fusion passes\n"
    "  -h, --help            this text\n";

//  The last-level cache's size in bytes, or 64 MiB when the system does
//  not say: what --cold must write over to push the model's weights out
static size_t
s_last_level_cache (void)
{
    long size = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
    size = sysconf (_SC_LEVEL3_CACHE_SIZE);
    if (size <= 0)
        size = sysconf (_SC_LEVEL2_CACHE_SIZE);
#endif
    return size > 0? (size_t) size: (size_t) 64 << 20;
}

//  Writes then reads every cache line of the buffer, so the caches hold
//  it and nothing of the model's; the sum keeps the reads from being
//  optimised away
static void
s_evict_caches (unsigned char *buffer, size_t size, unsigned char stamp)
{
    memset (buffer, stamp, size);
    volatile unsigned char sink = 0;
    for (size_t offset = 0; offset < size; offset += 64)
        sink += buffer [offset];
    (void) sink;
}

//  Where the time went: by op type, then the ten slowest nodes
static void
s_print_profile (zi_session_t *session)
{
    const char *types [256];
    double type_usecs [256] = {0}, total = 0;
    int type_count [256] = {0}, n_types = 0, runs = 1;
    const char *name, *op_type;
    double usecs;
    for (int index = 0; zi_session_profile (session, index, &name, &op_type, &usecs, &runs); index++) {
        int type = 0;
        while (type < n_types && strcmp (types [type], op_type))
            type++;
        if (type == n_types && n_types < 256)
            types [n_types++] = op_type;
        if (type < 256) {
            type_usecs [type] += usecs;
            type_count [type]++;
        }
        total += usecs;
    }
    if (runs < 1 || total <= 0)
        return;
    printf ("\nprofile over %d runs: %.3f ms per run in kernels\n", runs, total / runs / 1000);
    //  Whether the second thread did anything: on a busy machine a helper
    //  kept off the CPU finds the kernels' loops done before it runs
    int64_t loops, joined;
    double helper_share, wait_usecs;
    if (zi_session_threads_profile (session, &loops, &joined, &helper_share, &wait_usecs)
    &&  loops > 0)
        printf ("  helper threads: %.1f%% of the shared work; in %.0f%% of %.0f shared loops "
                "per run; waited for %.3f ms per run\n", 100 * helper_share,
                100.0 * joined / loops, (double) loops / runs, wait_usecs / runs / 1000);
    printf ("  %-20s %6s %12s %7s\n", "op", "nodes", "ms per run", "share");
    for (int pass = 0; pass < n_types; pass++) {
        int best = -1;
        for (int type = 0; type < n_types; type++)
            if (type_count [type] && (best < 0 || type_usecs [type] > type_usecs [best]))
                best = type;
        printf ("  %-20s %6d %12.3f %6.1f%%\n", types [best], type_count [best],
                type_usecs [best] / runs / 1000, 100 * type_usecs [best] / total);
        type_count [best] = 0;
    }
    //  The slowest nodes: a selection, each pass the largest not yet shown
    printf ("\n  %-40s %-18s %12s %7s\n", "slowest nodes", "op", "ms per run", "share");
    double shown = INFINITY;
    int shown_index = -1;
    for (int rank = 0; rank < 10; rank++) {
        int best = -1;
        double best_usecs = -1;
        const char *best_name = NULL, *best_op = NULL;
        for (int index = 0; zi_session_profile (session, index, &name, &op_type, &usecs, &runs);
             index++) {
            //  Strictly below the last shown, or equal and later in order
            bool eligible = usecs < shown || (usecs == shown && index > shown_index);
            if (eligible && usecs > best_usecs) {
                best = index;
                best_usecs = usecs;
                best_name = name;
                best_op = op_type;
            }
        }
        if (best < 0)
            break;
        printf ("  %-40.40s %-18.18s %12.3f %6.1f%%\n", best_name, best_op,
                best_usecs / runs / 1000, 100 * best_usecs / total);
        shown = best_usecs;
        shown_index = best;
    }
}

//  Every node's time in each profiled run, for --profile-json, which
//  gives each node's mean over the middle half of the runs ranked by
//  their time. On a shared machine a run that another process preempted
//  takes several times as long, and a few of them moved the mean of 20
//  runs by a third (docs/placement.md); the middle half moves with the
//  machine's speed, not with its interruptions. What a run spends between
//  its nodes (the session's own work) is shared out evenly over them, so
//  the nodes add up to the run, as a local run's time is measured. Only
//  the last S_SAMPLE_ROWS runs are kept
#define S_SAMPLE_ROWS 1024

typedef struct {
    int n_nodes;                //  of the plan
    int rows;                   //  runs kept, at most S_SAMPLE_ROWS
    long taken;                 //  runs sampled so far
    double *before;             //  per node: its time summed up to the last sample
    double *usecs;              //  rows x (n_nodes + 1): each kept run's node
                                //  times, then the whole run's
    double *middle;             //  per node: the profile's time (s_node_samples_sum)
} s_node_samples_t;

static int
s_node_samples_init (s_node_samples_t *self, zi_session_t *session, long repeat)
{
    memset (self, 0, sizeof *self);
    self->n_nodes = zi_session_plan (session)->n_nodes;
    self->rows = repeat < S_SAMPLE_ROWS? (int) repeat: S_SAMPLE_ROWS;
    self->before = calloc (self->n_nodes + 1, sizeof (double));
    self->middle = calloc (self->n_nodes + 1, sizeof (double));
    self->usecs = calloc ((size_t) self->rows * (self->n_nodes + 1), sizeof (double));
    if (!self->before || !self->middle || !self->usecs)
        return zi_error ("cannot keep %d runs of %d node times", self->rows, self->n_nodes);
    return 0;
}

//  After a run of run_ms: what each node's sum grew by
static void
s_node_samples_take (s_node_samples_t *self, zi_session_t *session, double run_ms)
{
    double *row = self->usecs + (self->taken % self->rows) * (self->n_nodes + 1);
    const char *name, *op_type;
    double usecs;
    int runs;
    for (int index = 0; index < self->n_nodes
                     && zi_session_profile (session, index, &name, &op_type, &usecs, &runs);
         index++) {
        row [index] = usecs - self->before [index];
        self->before [index] = usecs;
    }
    row [self->n_nodes] = run_ms * 1000;
    self->taken++;
}

//  Fills middle: per node, its mean over the runs whose time lies between
//  the quartiles, plus its share of their time between nodes
static int
s_node_samples_sum (s_node_samples_t *self)
{
    int count = self->taken < self->rows? (int) self->taken: self->rows;
    int width = self->n_nodes + 1;
    double *runs = malloc ((count + 1) * sizeof (double));
    if (!runs)
        return zi_error ("cannot sort %d run times", count);
    for (int row = 0; row < count; row++)
        runs [row] = self->usecs [row * width + self->n_nodes];
    double low = zi_cli_quantile (runs, count, 0.25);
    double high = zi_cli_quantile (runs, count, 0.75);
    free (runs);
    double between = 0;
    int kept = 0;
    memset (self->middle, 0, self->n_nodes * sizeof (double));
    for (int row = 0; row < count; row++) {
        const double *sample = self->usecs + row * width;
        if (sample [self->n_nodes] < low || sample [self->n_nodes] > high)
            continue;
        double nodes = 0;
        for (int index = 0; index < self->n_nodes; index++) {
            self->middle [index] += sample [index];
            nodes += sample [index];
        }
        between += sample [self->n_nodes] > nodes? sample [self->n_nodes] - nodes: 0;
        kept++;
    }
    for (int index = 0; kept && index < self->n_nodes; index++)
        self->middle [index] = (self->middle [index] + between / self->n_nodes) / kept;
    return 0;
}

static void
s_node_samples_destroy (s_node_samples_t *self)
{
    free (self->before);
    free (self->middle);
    free (self->usecs);
    memset (self, 0, sizeof *self);
}

//  Every node's time (s_node_samples_sum), for split, plan and the
//  scripts that compare engines node by node
static int
s_write_profile_json (zi_session_t *session, s_node_samples_t *samples, const char *path)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return zi_error ("cannot write '%s': %s", path, strerror (errno));
    const zi_graph_t *plan = zi_session_plan (session);
    const char *name, *op_type;
    double usecs;
    int runs = 1;
    if (s_node_samples_sum (samples)) {
        fclose (file);
        return -1;
    }
    fprintf (file, "{\"nodes\": [");
    for (int index = 0; zi_session_profile (session, index, &name, &op_type, &usecs, &runs); index++) {
        int output = plan->nodes [index].n_outputs? plan->nodes [index].outputs [0]: -1;
        fprintf (file, "%s\n  {\"name\": ", index? ",": "");
        zi_cli_json_string (file, name);
        fprintf (file, ", \"op\": ");
        zi_cli_json_string (file, op_type);
        fprintf (file, ", \"output\": ");
        zi_cli_json_string (file, output >= 0? plan->values [output].name: "");
        fprintf (file, ", \"bytes\": %zu, \"inputs\": [",
                 output >= 0? plan->values [output].info.nbytes: (size_t) 0);
        //  Values read, constants left out: what a split must carry across
        const zi_node_t *node = &plan->nodes [index];
        int listed = 0;
        for (int slot = 0; slot < node->n_inputs; slot++) {
            int value = node->inputs [slot];
            if (value < 0 || plan->values [value].constant)
                continue;
            fprintf (file, "%s", listed++? ", ": "");
            zi_cli_json_string (file, plan->values [value].name);
        }
        double usecs_per_run = index < samples->n_nodes? samples->middle [index]: 0;
        fprintf (file, "], \"ms\": %.6f}", usecs_per_run / 1000);
    }
    fprintf (file, "\n], \"runs\": %d, \"node_ms\": \"mean over the middle half of the runs\"}\n",
             runs);
    if (fclose (file))
        return zi_error ("cannot write '%s': %s", path, strerror (errno));
    return 0;
}

int
zi_cli_run (int argc, char **argv)
{
    const char *model_path = NULL, *times_path = NULL, *profile_path = NULL;
    zi_cli_named_t tap = {NULL, NULL};
    zi_cli_named_t inputs [ZI_MAX_GRAPH_INPUTS] = {{NULL, NULL}};
    zi_cli_named_t outputs [ZI_MAX_GRAPH_OUTPUTS] = {{NULL, NULL}};
    int n_inputs = 0, n_outputs = 0;
    long threads = 0, repeat = 0;
    const char *gap_text = NULL;
    bool no_fuse = false, profile = false, cold = false;
    const char *input_texts [ZI_MAX_GRAPH_INPUTS], *output_texts [ZI_MAX_GRAPH_OUTPUTS];
    const char *tap_text = NULL;
    const zi_opt_t table [] = {
        ZI_CLI_LIST ("--input", input_texts, &n_inputs, ZI_MAX_GRAPH_INPUTS),
        ZI_CLI_LIST ("--output", output_texts, &n_outputs, ZI_MAX_GRAPH_OUTPUTS),
        ZI_CLI_INT ("--threads", &threads, 1, 256),
        ZI_CLI_INT ("--repeat", &repeat, 1, 10000000),
        ZI_CLI_TEXT ("--times", &times_path),
        ZI_CLI_TEXT ("--gap", &gap_text),
        ZI_CLI_FLAG ("--cold", &cold),
        ZI_CLI_TEXT ("--tap", &tap_text),
        ZI_CLI_FLAG ("--no-fuse", &no_fuse),
        ZI_CLI_FLAG ("--profile", &profile),
        ZI_CLI_TEXT ("--profile-json", &profile_path),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("run", s_usage, argc, argv, table, &model_path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    for (int index = 0; index < n_inputs; index++)
        inputs [index] = zi_cli_named (input_texts [index]);
    for (int index = 0; index < n_outputs; index++)
        outputs [index] = zi_cli_named (output_texts [index]);
    profile = profile || profile_path;
    int rc = ZI_EXIT_USAGE;
    zi_model_t *model = NULL;
    zi_tensor_t **tensors = NULL;       //  per model input, in the model's order
    zi_tensor_t **results = NULL;       //  per model output
    int *output_slots = NULL;           //  per --output: which model output
    zi_session_t *session = NULL;
    double *times = NULL;
    s_node_samples_t samples = {0};     //  --profile-json: each run's node times
    unsigned char *evict = NULL;        //  --cold: what each run's caches hold before it
    size_t evict_size = 0;
    double gap_ms = 0;                  //  --gap: the pause before each timed run
    bool gap_as_run = false;            //  --gap run: as long as the run before
    if (gap_text) {
        char *end;
        gap_ms = strtod (gap_text, &end);
        gap_as_run = strcmp (gap_text, "run") == 0;
        if (!gap_as_run && (end == gap_text || *end || !(gap_ms >= 0 && gap_ms <= 60000))) {
            zi_cli_fail ("run", "--gap expects milliseconds from 0 to 60000 or 'run', got '%s'",
                         gap_text);
            goto done;
        }
    }
    if (tap_text) {
        tap = zi_cli_named (tap_text);
        if (!tap.name) {
            zi_cli_fail ("run", "--tap expects NODE=FILE.npy, got '%s'", tap_text);
            goto done;
        }
    }
    if (!model_path) {
        zi_cli_fail ("run", "no model given (usage: zinfer run MODEL.onnx --input FILE.npy)");
        goto done;
    }
    model = zi_model_load (model_path);
    if (!model) {
        fprintf (stderr, "zinfer run: %s\n", zi_error_text ());
        goto done;
    }
    int want = zi_model_n_inputs (model);
    tensors = calloc (want + 1, sizeof (zi_tensor_t *));
    results = calloc (zi_model_n_outputs (model) + 1, sizeof (zi_tensor_t *));
    output_slots = calloc (n_outputs + 1, sizeof (int));
    assert (tensors && results && output_slots);
    //  A graph input with an initializer is a constant here, as ONNX
    //  Runtime holds it below IR version 4 (see docs/reliability.md)
    for (int index = 0; index < n_inputs; index++) {
        int value = inputs [index].name? zi_graph_find (model->graph, inputs [index].name): -1;
        if (value >= 0 && model->graph->values [value].constant) {
            zi_cli_fail ("run", "%s: input '%s' has an initializer, which zinfer keeps constant "
                         "(overriding initializers is not supported)", model_path,
                         inputs [index].name);
            goto done;
        }
    }
    if (n_inputs != want && want == 0) {
        zi_cli_fail ("run", "%s has no inputs to feed (every graph input has an initializer, "
                     "which zinfer keeps constant), got %d --input", model_path, n_inputs);
        goto done;
    }
    if (n_inputs != want) {
        zi_cli_fail ("run", "%s has %d input%s (%s%s), got %d --input", model_path, want,
                     want == 1? "": "s", zi_model_input_name (model, 0),
                     want > 1? ", ...": "", n_inputs);
        goto done;
    }
    for (int index = 0; index < n_inputs; index++) {
        int slot = index;
        if (inputs [index].name) {
            slot = -1;
            for (int input = 0; input < want; input++)
                if (strcmp (zi_model_input_name (model, input), inputs [index].name) == 0)
                    slot = input;
            if (slot < 0) {
                zi_cli_fail ("run", "%s has no input named '%s'", model_path, inputs [index].name);
                goto done;
            }
        }
        if (tensors [slot]) {
            zi_cli_fail ("run", "input '%s' given twice", zi_model_input_name (model, slot));
            goto done;
        }
        tensors [slot] = zi_npy_load (inputs [index].path);
        if (!tensors [slot]) {
            zi_cli_fail ("run", "%s", zi_error_text ());
            goto done;
        }
        //  An int32 .npy for an int64 input and the like: exact, so taken
        const zi_graph_t *graph = model->graph;
        zi_dtype_t declared = graph->values [graph->inputs [slot]].info.dtype;
        if (tensors [slot]->dtype != declared
        &&  zi_dtype_widens (tensors [slot]->dtype, declared)) {
            zi_tensor_t *wide = zi_tensor_convert (tensors [slot], declared);
            if (!wide) {
                zi_cli_fail ("run", "%s: %s", inputs [index].path, zi_error_text ());
                goto done;
            }
            zi_tensor_destroy (&tensors [slot]);
            tensors [slot] = wide;
        }
    }
    //  Outputs are checked before anything runs
    for (int index = 0; index < n_outputs; index++) {
        output_slots [index] = index;
        if (outputs [index].name) {
            output_slots [index] = -1;
            for (int output = 0; output < zi_model_n_outputs (model); output++)
                if (strcmp (zi_model_output_name (model, output), outputs [index].name) == 0)
                    output_slots [index] = output;
            if (output_slots [index] < 0) {
                zi_cli_fail ("run", "%s has no output named '%s'", model_path, outputs [index].name);
                goto done;
            }
        }
        else
        if (index >= zi_model_n_outputs (model)) {
            zi_cli_fail ("run", "%s has %d output%s, got %d --output", model_path,
                         zi_model_n_outputs (model), zi_model_n_outputs (model) == 1? "": "s",
                         n_outputs);
            goto done;
        }
    }
    zi_options_t options = {.threads = (int) threads, .no_fuse = no_fuse, .tap_node = tap.name,
                            .profile = profile};
    session = zi_session_new (model, &options);
    int64_t first_start = zi_cli_usecs ();
    if (zi_session_run (session, tensors, results)) {
        zi_cli_fail ("run", "%s", zi_error_text ());
        goto done;
    }
    double first_ms = (zi_cli_usecs () - first_start) / 1000.0;
    rc = ZI_EXIT_FAILURE;
    if (tap.name) {
        zi_tensor_t *tapped = zi_session_tap (session);
        if (!tapped || zi_npy_save (tapped, tap.path)) {
            zi_tensor_destroy (&tapped);
            rc = zi_cli_fail ("run", "--tap: %s", zi_error_text ());
            goto done;
        }
        zi_tensor_destroy (&tapped);
    }
    if (repeat > 0) {
        //  The warm-up run touched every buffer for the first time
        zi_session_profile_reset (session);
        times = malloc (repeat * sizeof (double));
        assert (times);
        if (profile_path && s_node_samples_init (&samples, session, repeat)) {
            zi_cli_fail ("run", "--profile-json: %s", zi_error_text ());
            goto done;
        }
        if (cold) {
            evict_size = 2 * s_last_level_cache ();
            evict = malloc (evict_size);
            if (!evict) {
                zi_cli_fail ("run", "--cold: cannot allocate %zu MiB to write over the caches",
                             evict_size >> 20);
                goto done;
            }
        }
        zi_cli_progress_t progress;
        zi_cli_progress_start (&progress, "run");
        for (long run = 0; run < repeat; run++) {
            //  Caches first, then the pause: a request that arrives after
            //  other work finds both cold caches and an idle core
            if (evict)
                s_evict_caches (evict, evict_size, (unsigned char) run);
            double pause_ms = gap_as_run? (run? times [run - 1]: first_ms): gap_ms;
            if (pause_ms > 0) {
                struct timespec pause = {(time_t) (pause_ms / 1000),
                                         (long) (fmod (pause_ms, 1000) * 1e6)};
                while (nanosleep (&pause, &pause) && errno == EINTR)
                    ;
            }
            if ((times [run] = zi_cli_timed_run (session, tensors)) < 0) {
                zi_cli_progress_end (&progress);
                fprintf (stderr, "zinfer run: %s\n", zi_error_text ());
                goto done;
            }
            if (samples.rows)
                s_node_samples_take (&samples, session, times [run]);
            zi_cli_progress (&progress, "%ld of %ld runs", run + 1, repeat);
        }
        zi_cli_progress_end (&progress);
    }
    for (int output = 0; output < zi_model_n_outputs (model); output++)
        zi_cli_summarise (zi_model_output_name (model, output), results [output]);
    if (repeat > 0 && times_path && zi_cli_write_times (times_path, times, (int) repeat)) {
        fprintf (stderr, "zinfer run: %s\n", zi_error_text ());
        goto done;
    }
    if (profile)
        s_print_profile (session);
    if (profile_path && repeat > 0 && s_write_profile_json (session, &samples, profile_path)) {
        fprintf (stderr, "zinfer run: --profile-json: %s\n", zi_error_text ());
        goto done;
    }
    if (repeat > 0) {
        double median = zi_cli_quantile (times, (int) repeat, 0.5);
        double p90 = zi_cli_quantile (times, (int) repeat, 0.9);
        printf ("latency: median %.3f ms, p90 %.3f ms over %ld runs after 1 warm-up\n",
                median, p90, repeat);
    }
    rc = 0;
    for (int index = 0; index < n_outputs; index++)
        if (zi_npy_save (results [output_slots [index]], outputs [index].path)) {
            fprintf (stderr, "zinfer run: %s\n", zi_error_text ());
            rc = ZI_EXIT_FAILURE;
            break;
        }
done:
    free (times);
    s_node_samples_destroy (&samples);
    free (evict);
    for (int index = 0; tensors && index < zi_model_n_inputs (model); index++)
        zi_tensor_destroy (&tensors [index]);
    for (int index = 0; results && index < zi_model_n_outputs (model); index++)
        zi_tensor_destroy (&results [index]);
    free (tensors);
    free (results);
    free (output_slots);
    for (int index = 0; index < n_inputs; index++)
        free (inputs [index].name);
    for (int index = 0; index < n_outputs; index++)
        free (outputs [index].name);
    free (tap.name);
    zi_session_destroy (&session);
    zi_model_destroy (&model);
    return rc;
}
