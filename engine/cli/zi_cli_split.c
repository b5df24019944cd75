/*  =========================================================================
    zi_cli_split - `zinfer split`: a topology that cuts a model into N
    processes where the measured time and the bytes crossing say to

    Profiles the model as `zinfer run --profile-json` does (by running that
    command's code, on random inputs), or reads such a profile, then lets
    zi_partition choose the ranges and writes them as a commented YAML
    topology that `zinfer up` runs unedited.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_partition.h"
#include "zi_topology.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static const char *s_usage =
    "usage: zinfer split MODEL -o TOPOLOGY.yaml (--processes N | --hosts FILE) [options]\n"
    "\n"
    "Writes a topology that runs MODEL in N processes on this host, or one\n"
    "process on each host of a hosts file, each a contiguous range of the\n"
    "planned nodes, cut where the predicted time is least: it profiles the\n"
    "model first (or reads --profile), and prices a hop between processes as\n"
    "a fixed cost plus its bytes over a bandwidth (docs/placement.md).\n"
    "\n"
    "  -o, --output FILE      the topology to write\n"
    "  --processes N          processes, 1 to 1024 (at most one per node)\n"
    "  --hosts FILE           hosts, in the order requests flow: a YAML file with\n"
    "                         hosts: as a topology has them, each with its cores:\n"
    "                         and speed: (against this machine), and network:, the\n"
    "                         cost of a hop between them (docs/placement.md)\n"
    "  --objective KIND       latency (default): least time per request;\n"
    "                         throughput: the slowest stage as fast as it can be\n"
    "  --transport KIND       ipc (default) or tcp between the processes\n"
    "  --threads T            worker threads per process, 1 to 256 (default 1)\n"
    "  --cores C              cores the topology may use (default: this machine's);\n"
    "                         for throughput, threads to spare replicate a stage of\n"
    "                         one node that is the slowest\n"
    "  --cores-worth W        how many cores' worth of MODEL those cores run at\n"
    "                         once, 1 to C (default: measured, MODEL in C sessions\n"
    "                         at once against one alone)\n"
    "  --profile FILE         node times from `zinfer run --profile-json` instead\n"
    "                         of profiling now\n"
    "  --runs R               timed runs of the profile, 1 to 100000 (default: as\n"
    "                         many as last a second, 20 to 1000)\n"
    "  --gap MS|run           pause before each profiled run, as `zinfer run --gap`\n"
    "                         (default: run for latency, single requests finding\n"
    "                         the core idle and run slower; 0 for throughput, as a\n"
    "                         pipeline's requests follow each other)\n"
    "  --calibration FILE     hop costs from `zinfer calibrate` (default: its file\n"
    "                         if there is one, else the documented defaults)\n"
    "  --base-port P          the topology's base_port, 1 to 65535 (default 7100;\n"
    "                         with --hosts, the hosts file's)\n"
    "  -h, --help             this text\n";

//  The profile's runs when --runs is not given: as many as last
//  S_PROFILE_USECS by a probe of S_PROBE_RUNS, within these bounds
#define S_PROBE_RUNS        3
#define S_PROFILE_USECS     1e6
#define S_MIN_RUNS          20
#define S_MAX_RUNS          1000

//  How a profile's runs were paced, for people
static const char *
s_gap_words (const char *gap)
{
    static char words [80];
    if (!gap || strcmp (gap, "0") == 0)
        return "back to back";
    if (strcmp (gap, "run") == 0)
        return "each after a pause as long as the run before";
    snprintf (words, sizeof words, "%.40s ms apart", gap);
    return words;
}

//  The profile: runs `zinfer run MODEL --input ... --threads 1 --repeat
//  runs [--gap G] --profile-json PATH` in this process (its code, not a
//  copy) on random inputs of the model's shapes, its output summary kept
//  off stdout
static int
s_profile_to_file (const char *command, const char *model_path, bool no_fuse, int runs,
                   const char *gap, const char *json_path, const char *folder)
{
    zi_model_t *model = zi_model_load (model_path);
    if (!model)
        return zi_cli_fail (command, "%s", zi_error_text ());
    int n_inputs = zi_model_n_inputs (model);
    char input_paths [ZI_MAX_GRAPH_INPUTS][300];
    char runs_text [16];
    snprintf (runs_text, sizeof runs_text, "%d", runs);
    const char *args [2 * ZI_MAX_GRAPH_INPUTS + 14];
    int n_args = 0;
    args [n_args++] = "run";
    args [n_args++] = model_path;
    int rc = 0;
    for (int input = 0; input < n_inputs && input < ZI_MAX_GRAPH_INPUTS; input++) {
        const zi_value_t *value = &model->graph->values [model->graph->inputs [input]];
        int64_t dims [ZI_MAX_DIMS];
        for (int axis = 0; axis < value->info.ndim; axis++)
            dims [axis] = value->info.dims [axis] < 0? 1: value->info.dims [axis];
        zi_tensor_t *tensor = zi_test_data (value->info.dtype, value->info.ndim, dims,
                                            1234 + input);
        snprintf (input_paths [input], sizeof input_paths [input], "%s/input%d.npy", folder,
                  input);
        if (!tensor || zi_npy_save (tensor, input_paths [input]))
            rc = zi_cli_fail (command, "cannot write a random input for the profile: %s",
                              zi_error_text ());
        zi_tensor_destroy (&tensor);
        args [n_args++] = "--input";
        args [n_args++] = input_paths [input];
    }
    zi_model_destroy (&model);
    if (rc)
        return rc;
    args [n_args++] = "--threads";
    args [n_args++] = "1";
    args [n_args++] = "--repeat";
    args [n_args++] = runs_text;
    if (gap) {
        args [n_args++] = "--gap";
        args [n_args++] = gap;
    }
    args [n_args++] = "--profile-json";
    args [n_args++] = json_path;
    if (no_fuse)
        args [n_args++] = "--no-fuse";
    args [n_args] = NULL;
    //  run prints its outputs and the profile tables on stdout, which may
    //  be where a script reads this command's own answer
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    int quiet = open ("/dev/null", O_WRONLY);
    if (saved >= 0 && quiet >= 0)
        dup2 (quiet, STDOUT_FILENO);
    rc = zi_cli_run (n_args, (char **) args);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (quiet >= 0)
        close (quiet);
    for (int input = 0; input < n_inputs && input < ZI_MAX_GRAPH_INPUTS; input++)
        unlink (input_paths [input]);
    return rc;
}

int
zi_cli_profile_plan (const char *command, const char *model_path, const zi_graph_t *plan,
                     bool no_fuse, int runs, const char *gap, const char *profile_path,
                     double *usecs)
{
    char *end = NULL;
    double gap_ms = gap? strtod (gap, &end): 0;
    if (gap && strcmp (gap, "run")
    &&  (end == gap || *end || !(gap_ms >= 0 && gap_ms <= 60000)))
        return zi_cli_fail (command, "--gap expects milliseconds from 0 to 60000 or 'run', "
                            "got '%s'", gap);
    if (profile_path) {
        if (zi_partition_read_profile (profile_path, plan, usecs))
            return zi_cli_fail (command, "--profile %s", zi_error_text ());
        return 0;
    }
    char folder [] = "/tmp/zinfer-profile-XXXXXX";
    if (!mkdtemp (folder))
        return zi_cli_fail (command, "cannot create a folder for the profile: %s",
                            strerror (errno));
    char json_path [300];
    snprintf (json_path, sizeof json_path, "%s/profile.json", folder);
    fprintf (stderr, "zinfer %s: profiling %s (%d runs at one thread, %s) ...\n",
             command, model_path, runs, s_gap_words (gap));
    int rc = s_profile_to_file (command, model_path, no_fuse, runs, gap, json_path, folder);
    if (rc == 0 && zi_partition_read_profile (json_path, plan, usecs))
        rc = zi_cli_fail (command, "the profile: %s", zi_error_text ());
    unlink (json_path);
    rmdir (folder);
    return rc;
}

//  A node name as a YAML double-quoted scalar: names may hold ':', '#' or
//  quotes that a plain scalar cannot
static void
s_yaml_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const unsigned char *at = (const unsigned char *) text; *at; at++)
        if (*at == '"' || *at == '\\')
            fprintf (out, "\\%c", *at);
        else
        if (*at < 0x20 || *at == 0x7F)
            fprintf (out, "\\x%02x", *at);
        else
            fputc (*at, out);
    fputc ('"', out);
}

//  Values that cross the cut before node `cut`
static int
s_crossing_values (const zi_graph_t *plan, int cut)
{
    int count = 0;
    for (int value = 0; value < plan->n_values; value++) {
        if (plan->values [value].constant || plan->values [value].producer >= cut)
            continue;
        bool read = false;
        for (int node = cut; node < plan->n_nodes && !read; node++)
            for (int slot = 0; slot < plan->nodes [node].n_inputs; slot++)
                if (plan->nodes [node].inputs [slot] == value)
                    read = true;
        count += read;
    }
    return count;
}

//  The hosts of a hosts file, as a topology's hosts:, security: and
//  network: sections
static void
s_write_hosts (FILE *out, const zi_topology_t *hosts)
{
    fprintf (out, "hosts:\n");
    for (int host = 0; host < hosts->n_hosts; host++) {
        const zi_topo_host_t *info = &hosts->hosts [host];
        fprintf (out, "  - name: %s\n    address: ", info->name);
        s_yaml_string (out, info->address);
        fprintf (out, "\n");
        if (info->base_port != hosts->base_port)
            fprintf (out, "    base_port: %d\n", info->base_port);
        if (info->cores)
            fprintf (out, "    cores: %d\n", info->cores);
        if (info->speed != 1)
            fprintf (out, "    speed: %.17g\n", info->speed);
        if (*info->public_key) {
            fprintf (out, "    public_key: ");
            s_yaml_string (out, info->public_key);
            fprintf (out, "\n");
        }
        if (info->secret_key_file) {
            //  Relative to the hosts file's folder, as the hosts file meant
            //  it, wherever the topology is written
            char cwd [4096] = "", path [8300];
            if (info->secret_key_file [0] != '/' && getcwd (cwd, sizeof cwd))
                snprintf (path, sizeof path, "%s/%s", cwd, info->secret_key_file);
            else
                snprintf (path, sizeof path, "%s", info->secret_key_file);
            fprintf (out, "    secret_key_file: ");
            s_yaml_string (out, path);
            fprintf (out, "\n");
        }
    }
    fprintf (out, "security:\n  curve: %s\n", hosts->curve? "true": "false");
    if (hosts->n_client_keys) {
        fprintf (out, "  clients:\n");
        for (int key = 0; key < hosts->n_client_keys; key++) {
            fprintf (out, "    - ");
            s_yaml_string (out, hosts->client_keys [key]);
            fprintf (out, "\n");
        }
    }
    if (hosts->network_bytes_per_usec > 0)
        fprintf (out, "network: {usecs: %.17g, megabytes_per_second: %.17g}\n",
                 hosts->network_usecs, hosts->network_bytes_per_usec);
}

static int
s_write_topology (FILE *out, const char *model_path, const char *real_model,
                  const char *hop_source, const char *runtime_source, const zi_topology_t *hosts,
                  const zi_graph_t *plan, const zi_partition_t *split, bool tcp, int threads,
                  int cores, double effective, const char *worth_source, long base_port,
                  int runs, const char *gap, const char *profile_path)
{
    int n_parts = split->n_parts;
    //  A request on its own pays every hop whole; a pipeline's threads pay
    //  the copies (docs/placement.md), whichever objective chose the cuts
    zi_partition_t alone = zi_partition_priced_for (split, ZI_PARTITION_LATENCY);
    zi_partition_t piped = zi_partition_priced_for (split, ZI_PARTITION_THROUGHPUT);
    double profiled = 0, compute = 0, runtime = 0, latency = 0, slowest = 0, work = 0;
    for (int node = 0; node < split->n_nodes; node++)
        profiled += split->usecs [node];
    int slowest_stage = 0;
    for (int stage = 0; stage < n_parts; stage++) {
        double stage_compute, send;
        zi_partition_stage (&alone, stage, &stage_compute, &send);
        //  One request meets one replica, which does it all
        compute += stage_compute * split->replicas [stage];
        runtime += zi_partition_stage_runtime (&alone, stage) * split->replicas [stage];
        latency += (stage_compute + send) * split->replicas [stage];
        zi_partition_stage (&piped, stage, &stage_compute, &send);
        if (stage_compute + send > slowest) {
            slowest = stage_compute + send;
            slowest_stage = stage;
        }
    }
    //  What the host's cores do for a request: all of a request's time on
    //  its own, as the hops' fixed part is CPU too, in ZeroMQ's I/O threads
    //  of both ends (the client's included), beside the stages' threads;
    //  and the gateway's copies of the request besides (docs/placement.md)
    work = latency + split->intake_usecs;
    fprintf (out, "# Written by `zinfer split`: %s in %d process%s%s%s, cut for %s.\n",
             model_path, n_parts, n_parts == 1? "": "es", hosts? ", one on each host of ": "",
             hosts? hosts->path: "",
             split->objective == ZI_PARTITION_LATENCY? "latency": "throughput");
    if (profile_path)
        fprintf (out, "# Node times from %s: %.3f ms per run.\n", profile_path, profiled / 1000);
    else
        fprintf (out, "# Node times profiled at one thread over %d runs, %s: %.3f ms per "
                 "run.\n", runs, s_gap_words (gap), profiled / 1000);
    fprintf (out, "# A hop %s costs %.1f us + bytes / %.0f bytes per us "
             "(docs/placement.md;\n# %s).\n",
             hosts? "between hosts": tcp? "over tcp": "over ipc", split->hop.usecs,
             split->hop.bytes_per_usec, hop_source);
    fprintf (out, "# The runtime costs %.2f us per actor, %.2f us per hand-over between threads\n"
             "# (%s),\n# the client's hops to the gateway %.3f ms a request, and with requests "
             "in flight\n# the gateway's copies of them %.3f ms (a hop's bytes over its "
             "bandwidth).\n", split->runtime.actor_usecs, split->runtime.thread_usecs,
             runtime_source, split->gateway_usecs / 1000, split->intake_usecs / 1000);
    //  A pipeline runs at the pace of its slowest stage, or of the cores
    //  when its stages outnumber them: all of a request's work shared
    //  among the cores of this host. Cores that slow
    //  each other down (hyperthreads, a shared cache) give `effective`
    //  cores' worth of the model at once
    double shared = cores > 0? work / effective: 0;
    double pace = slowest > shared? slowest: shared;
    fprintf (out, "# Predicted: latency %.3f ms (compute %.3f ms, runtime %.3f ms, %d hops "
             "%.3f ms); throughput %.0f requests/s: the slowest stage stage%d at %.3f ms with "
             "its send", latency / 1000, (compute - runtime) / 1000, runtime / 1000,
             n_parts > 1? n_parts: 0, (latency - compute) / 1000, pace > 0? 1e6 / pace: 0,
             slowest_stage + 1, slowest / 1000);
    if (cores > 0)
        fprintf (out, ", or %d core%s (%.2f cores' worth of this model at once, %s) doing "
                 "all stages' work at %.3f ms a request (%.3f ms of work, the latency and the "
                 "gateway's copies), whichever is longer", cores, cores == 1? "": "s", effective,
                 worth_source, shared / 1000, work / 1000);
    fprintf (out, ".\n");
    fprintf (out, "model: ");
    s_yaml_string (out, real_model);
    fprintf (out, "\n");
    if (base_port)
        fprintf (out, "base_port: %ld\n", base_port);
    else
    if (hosts)
        fprintf (out, "base_port: %d\n", hosts->base_port);
    fprintf (out, "transport: %s\n", tcp? "tcp": "ipc");
    if (hosts)
        s_write_hosts (out, hosts);
    fprintf (out, "processes:\n");
    for (int stage = 0; stage < n_parts; stage++) {
        fprintf (out, "  - name: stage%d\n", stage + 1);
        if (hosts)
            fprintf (out, "    host: %s\n", hosts->hosts [stage].name);
        fprintf (out, "    threads: %d\n", threads + split->replicas [stage] - 1);
    }
    fprintf (out, "placement:\n");
    for (int stage = 0; stage < n_parts; stage++) {
        int first = split->first [stage], last = split->first [stage + 1] - 1;
        double stage_compute, send;
        zi_partition_stage (split, stage, &stage_compute, &send);
        if (stage > 0) {
            double bytes = split->cut_bytes [first];
            int values = s_crossing_values (plan, first);
            fprintf (out, "  # cut: %.0f bytes cross (%d tensor%s), a hop of %.3f ms\n",
                     bytes, values, values == 1? "": "s",
                     zi_hop_usecs (&split->hop, bytes) / 1000);
        }
        double stage_runtime = zi_partition_stage_runtime (split, stage);
        fprintf (out, "  # stage%d: %d node%s, predicted %.3f ms (compute %.3f ms, runtime "
                 "%.3f ms, send %.3f ms)", stage + 1, last - first + 1, last == first? "": "s",
                 (stage_compute + send) / 1000, (stage_compute - stage_runtime) / 1000,
                 stage_runtime / 1000, send / 1000);
        if (split->replicas [stage] > 1)
            fprintf (out, ";\n  # %d replicas on as many threads take its requests in turn "
                     "(times divided among them):\n  # one node, which no cut makes shorter",
                     split->replicas [stage]);
        fprintf (out, "\n");
        fprintf (out, "  - process: stage%d\n    from: ", stage + 1);
        s_yaml_string (out, plan->nodes [first].name);
        fprintf (out, "\n    to: ");
        s_yaml_string (out, plan->nodes [last].name);
        fprintf (out, "\n");
        if (split->replicas [stage] > 1)
            fprintf (out, "    replicas: %d\n", split->replicas [stage]);
    }
    return 0;
}

int
zi_cli_split (int argc, char **argv)
{
    const char *model_path = NULL, *output_path = NULL, *short_output = NULL;
    const char *objective_text = "latency", *transport_text = "ipc", *profile_path = NULL;
    const char *calibration_path = NULL, *hosts_path = NULL, *cores_worth = NULL;
    const char *gap = NULL;
    long processes = 0, threads = 1, base_port = 0, runs = 0, cores = 0;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("-o", &short_output),
        ZI_CLI_TEXT ("--output", &output_path),
        ZI_CLI_INT ("--processes", &processes, 1, 1024),
        ZI_CLI_TEXT ("--hosts", &hosts_path),
        ZI_CLI_TEXT ("--objective", &objective_text),
        ZI_CLI_TEXT ("--transport", &transport_text),
        ZI_CLI_INT ("--threads", &threads, 1, 256),
        ZI_CLI_INT ("--cores", &cores, 1, 65536),
        ZI_CLI_TEXT ("--profile", &profile_path),
        ZI_CLI_TEXT ("--calibration", &calibration_path),
        ZI_CLI_TEXT ("--cores-worth", &cores_worth),
        ZI_CLI_INT ("--runs", &runs, 1, 100000),
        ZI_CLI_TEXT ("--gap", &gap),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("split", s_usage, argc, argv, table, &model_path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (short_output && output_path)
        return zi_cli_fail ("split", "-o and --output both given; expected one");
    output_path = output_path? output_path: short_output;
    if (!model_path || !output_path || (!processes && !hosts_path))
        return zi_cli_fail ("split", "needs MODEL, -o TOPOLOGY.yaml and --processes N or "
                            "--hosts FILE (see zinfer split --help)");
    if (hosts_path && (processes || cores || base_port || cores_worth))
        return zi_cli_fail ("split", "--hosts with %s; expected the hosts file alone to say "
                            "how many processes (one per host), each host's cores and the "
                            "base port", processes? "--processes": cores? "--cores":
                            base_port? "--base-port": "--cores-worth");
    if (!cores)
        cores = sysconf (_SC_NPROCESSORS_ONLN) > 0? sysconf (_SC_NPROCESSORS_ONLN): 1;
    double given_worth;
    int worth_rc = zi_cli_cores_worth_given ("split", cores_worth, (int) cores, &given_worth);
    if (worth_rc)
        return worth_rc;
    zi_objective_t objective;
    if (strcmp (objective_text, "latency") == 0)
        objective = ZI_PARTITION_LATENCY;
    else
    if (strcmp (objective_text, "throughput") == 0)
        objective = ZI_PARTITION_THROUGHPUT;
    else
        return zi_cli_fail ("split", "--objective expects latency or throughput, got '%s'",
                            objective_text);
    //  The profile describes the requests the objective is about: single
    //  requests find the core idle and its caches taken by whatever ran in
    //  the pause, a pipeline's follow each other (docs/placement.md)
    if (profile_path && gap)
        return zi_cli_fail ("split", "--gap %s with --profile %s; expected one: the gap "
                            "paces a profile made now (`zinfer run --gap` paces a file's)",
                            gap, profile_path);
    if (!gap)
        gap = objective == ZI_PARTITION_LATENCY? "run": NULL;
    if (strcmp (transport_text, "ipc") && strcmp (transport_text, "tcp"))
        return zi_cli_fail ("split", "--transport expects ipc or tcp, got '%s'", transport_text);
    bool tcp = strcmp (transport_text, "tcp") == 0;
    zi_topology_t *hosts = NULL;
    if (hosts_path) {
        hosts = zi_topology_load_hosts (hosts_path);
        if (!hosts)
            return zi_cli_fail ("split", "--hosts %s", zi_error_text ());
        processes = hosts->n_hosts;
    }
    //  Between hosts the network the hosts file describes; without it, tcp
    //  as measured here (loopback: a floor, no more)
    zi_hop_t hop;
    char hop_source [1200];
    if (hosts && hosts->network_bytes_per_usec > 0) {
        hop = (zi_hop_t) {hosts->network_usecs, hosts->network_bytes_per_usec};
        snprintf (hop_source, sizeof hop_source, "network: of %s", hosts_path);
    }
    else {
        int hop_rc = zi_cli_hop ("split", calibration_path, hosts? "tcp": transport_text, &hop,
                                 hop_source, sizeof hop_source);
        if (hop_rc) {
            zi_topology_destroy (&hosts);
            return hop_rc;
        }
        if (hosts)
            snprintf (hop_source + strlen (hop_source), sizeof hop_source - strlen (hop_source),
                      "; tcp on loopback, which a network between hosts only adds to: "
                      "network: in the hosts file prices it");
    }

    //  The runtime's own costs, from the same calibration; the client's
    //  hops to and from the gateway go over ipc on its host
    zi_runtime_cost_t runtime;
    zi_hop_t client_hop;
    char runtime_source [1200], client_source [1200];
    int runtime_rc = zi_cli_runtime_cost ("split", calibration_path, &runtime, runtime_source,
                                          sizeof runtime_source);
    if (runtime_rc == 0)
        runtime_rc = zi_cli_hop ("split", calibration_path, "ipc", &client_hop, client_source,
                                 sizeof client_source);
    if (runtime_rc) {
        zi_topology_destroy (&hosts);
        return runtime_rc;
    }

    //  The graph a topology places: planned and fused, as `zinfer up` does
    zi_model_t *model = zi_model_load (model_path);
    if (!model)
        return zi_cli_fail ("split", "%s", zi_error_text ());
    zi_graph_t *plan = zi_graph_dup (model->graph);
    int rc = ZI_EXIT_USAGE;
    double *usecs = NULL, *cut_bytes = NULL, *speed = NULL;
    int *first = NULL, *replicas = NULL, *stage_spare = NULL, *stage_host = NULL;
    char *real_model = NULL;
    if (zi_graph_plan (plan, NULL, false)) {
        zi_cli_fail ("split", "%s: %s", model_path, zi_error_text ());
        goto done;
    }
    if (processes > plan->n_nodes) {
        zi_cli_fail ("split", "%s %ld%s: %s has %d nodes after planning; expected at most "
                     "one process per node", hosts? "--hosts:": "--processes", processes,
                     hosts? " hosts": "", model_path, plan->n_nodes);
        goto done;
    }
    usecs = calloc (plan->n_nodes + 1, sizeof (double));
    cut_bytes = calloc (plan->n_nodes + 1, sizeof (double));
    first = calloc (processes + 1, sizeof (int));
    replicas = calloc (processes + 1, sizeof (int));
    assert (usecs && cut_bytes && first && replicas);
    if (hosts) {
        //  Stage k on host k: its speed, and the cores it has beyond the
        //  process's threads for replicas
        speed = calloc (processes, sizeof (double));
        stage_spare = calloc (processes, sizeof (int));
        stage_host = calloc (processes, sizeof (int));
        assert (speed && stage_spare && stage_host);
        for (int stage = 0; stage < processes; stage++) {
            speed [stage] = hosts->hosts [stage].speed;
            stage_host [stage] = stage;
            int spare = hosts->hosts [stage].cores - (int) threads;
            stage_spare [stage] = spare > 0? spare: 0;
        }
    }
    if (runs == 0 && !profile_path) {
        //  Runs enough to last a second: the speed of a shared machine
        //  swings by a quarter within a second, and 20 runs of a 2 ms
        //  model caught one moment of it (docs/placement.md)
        rc = zi_cli_profile_plan ("split", model_path, plan, false, S_PROBE_RUNS, gap, NULL,
                                  usecs);
        if (rc)
            goto done;
        double probed = 0;
        for (int node = 0; node < plan->n_nodes; node++)
            probed += usecs [node];
        runs = probed > 0? (long) (S_PROFILE_USECS / probed) + 1: S_MIN_RUNS;
        runs = runs < S_MIN_RUNS? S_MIN_RUNS: runs > S_MAX_RUNS? S_MAX_RUNS: runs;
    }
    if (runs == 0)
        runs = S_MIN_RUNS;
    rc = zi_cli_profile_plan ("split", model_path, plan, false, (int) runs, gap,
                              profile_path, usecs);
    if (rc)
        goto done;
    //  How much of the model this host's cores run at once: a pipeline's
    //  stages run side by side
    double effective = (double) cores;
    char worth_source [100] = "";
    if (!hosts) {
        rc = zi_cli_cores_worth ("split", model_path, given_worth, (int) cores,
                                 runs / 4 > 3? runs / 4: 3, usecs, plan->n_nodes, &effective,
                                 worth_source, sizeof worth_source);
        if (rc)
            goto done;
    }
    rc = ZI_EXIT_USAGE;
    zi_partition_t split = {
        .n_nodes = plan->n_nodes, .usecs = usecs, .cut_bytes = cut_bytes,
        .hop = hop, .runtime = runtime, .threads = (int) threads,
        .n_parts = (int) processes, .objective = objective, .first = first,
        .replicas = replicas,
        .spare_threads = cores > processes * threads? (int) (cores - processes * threads): 0,
        .speed = speed, .stage_spare = stage_spare, .stage_host = stage_host
    };
    zi_partition_cut_bytes (plan, cut_bytes, &split.tail_bytes);
    double input_bytes = 0;
    for (int input = 0; input < plan->n_inputs; input++)
        input_bytes += (double) plan->values [plan->inputs [input]].info.nbytes;
    split.gateway_usecs = zi_hop_usecs (&client_hop, input_bytes)
                        + zi_hop_usecs (&client_hop, split.tail_bytes);
    split.intake_usecs = zi_hop_copy_usecs (&client_hop, input_bytes)
                       + zi_hop_copy_usecs (&client_hop, split.tail_bytes);
    if (zi_partition_solve (&split)) {
        zi_cli_fail ("split", "%s", zi_error_text ());
        goto done;
    }
    //  The model as an absolute path: the topology's folder anchors a
    //  relative one, and that need not be where the model is found from here
    real_model = realpath (model_path, NULL);
    rc = ZI_EXIT_FAILURE;
    FILE *out = fopen (output_path, "w");
    if (!out) {
        zi_cli_fail ("split", "%s: cannot create: %s", output_path, strerror (errno));
        goto done;
    }
    s_write_topology (out, model_path, real_model? real_model: model_path, hop_source,
                      runtime_source, hosts,
                      plan, &split, tcp,
                      (int) threads, hosts? 0: (int) cores, effective, worth_source, base_port,
                      (int) runs, gap, profile_path);
    if (fclose (out)) {
        zi_cli_fail ("split", "%s: write failed: %s", output_path, strerror (errno));
        goto done;
    }
    //  Least latency with N processes forced is often a few nodes left in
    //  the later ones: each process adds hops and saves nothing. Say so
    if (objective == ZI_PARTITION_LATENCY && split.n_parts > 1) {
        double all = 0, least = INFINITY;
        int smallest = 0;
        for (int node = 0; node < split.n_nodes; node++)
            all += usecs [node];
        for (int stage = 0; stage < split.n_parts; stage++) {
            double compute, send;
            zi_partition_stage (&split, stage, &compute, &send);
            if (compute < least) {
                least = compute;
                smallest = stage;
            }
        }
        if (all > 0 && least < 0.05 * all)
            fprintf (stderr, "zinfer split: note: stage%d does %.1f%% of the compute: for "
                     "latency every process adds hops and takes no time off, so fewer "
                     "processes would answer sooner (--objective throughput balances the "
                     "stages instead)\n", smallest + 1, 100 * least / all);
    }
    printf ("zinfer split: wrote %s: %d process%s", output_path, split.n_parts,
            split.n_parts == 1? "": "es");
    for (int stage = 0; stage < split.n_parts; stage++)
        printf ("%s %d", stage? ",": "; nodes", first [stage + 1] - first [stage]);
    printf ("; predicted %s %.3f ms\n",
            objective == ZI_PARTITION_LATENCY? "latency": "slowest stage", split.value / 1000);
    rc = 0;
done:
    free (real_model);
    free (usecs);
    free (cut_bytes);
    free (first);
    free (replicas);
    free (speed);
    free (stage_spare);
    free (stage_host);
    zi_topology_destroy (&hosts);
    zi_graph_destroy (&plan);
    zi_model_destroy (&model);
    return rc;
}
