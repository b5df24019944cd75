/*  =========================================================================
    zi_cli_plan - `zinfer plan`: what a topology would run where, and what
    it would cost, without starting anything

    Loads and places the topology as `zinfer up` does (zi_deploy_new),
    then prints per host and process the nodes, threads and predicted
    compute, every edge that crosses a thread, process or host with its
    bytes and transport, the endpoints, and warnings. --dot draws it for
    graphviz; the edges and the DOT come from zi_placement.c, which the
    launcher's web view draws from too. The predictions use zi_partition's
    hop model (docs/placement.md).
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_deploy.h"
#include "zi_partition.h"
#include "zi_placement.h"
#include <errno.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *s_usage =
    "usage: zinfer plan TOPOLOGY.yaml [--profile FILE] [--dot FILE] [--png FILE] [--svg FILE]\n"
    "                  [options]\n"
    "\n"
    "Loads and places the topology without starting anything, and prints\n"
    "per process its nodes, threads and predicted compute, every edge that\n"
    "crosses a thread, process or host with its bytes and transport, the\n"
    "endpoints and ports, the predicted latency and throughput, and warnings.\n"
    "\n"
    "  --profile FILE   node times from `zinfer run --profile-json` instead of\n"
    "                   a quick profile now\n"
    "  --runs R         timed runs of the quick profile, 1 to 100000 (default 5)\n"
    "  --gap MS|run     pace the quick profile as `zinfer run --gap` (default: back\n"
    "                   to back; `zinfer split --gap` says when to pause)\n"
    "  --calibration FILE  hop costs from `zinfer calibrate` (default: its file\n"
    "                   if there is one, else the documented defaults)\n"
    "  --cores-worth W  how many cores' worth of the model this host's cores run\n"
    "                   at once, as `zinfer split --cores-worth` (default: measured\n"
    "                   when this host runs two processes or more)\n"
    "  --base-port P    as `zinfer up --base-port P` would place the ports\n"
    "  --dot FILE       also write the placement as graphviz DOT: processes as\n"
    "                   clusters inside host clusters, cross-process edges dashed\n"
    "  --png FILE       also draw it with graphviz's dot (needs graphviz)\n"
    "  --svg FILE       the same drawing as SVG\n"
    "  -h, --help       this text\n";

//  The name of an edge's end for people
static const char *
s_end_name (const zi_deploy_t *deploy, zi_placement_end_t end, char *buffer, size_t size)
{
    if (end.actor < 0)
        return "gateway";
    return zi_deploy_actor_name (deploy, end.actor, buffer, size);
}

typedef struct {
    const double *usecs;        //  per node
    double *process_send;       //  per process: hop time of what it sends out
    double *process_copy;       //  per process: of that, the copies of the bytes
                                //  alone, what it pays with requests in flight
    double *process_runtime;    //  per process: the runtime's own work, hand-overs
                                //  between its threads and its actors
    int crossing;               //  edges that cross a thread or more
    FILE *out;                  //  where to print them, or NULL
    zi_hop_t ipc, tcp;          //  what a hop costs over each transport
    zi_runtime_cost_t runtime;  //  what an actor and a hand-over between threads cost
    double handovers;           //  a request's hand-overs between threads, usecs
} s_edges_t;

static zi_hop_t
s_hop (const zi_deploy_t *deploy, const s_edges_t *edges, zi_placement_end_t from,
       zi_placement_end_t to)
{
    const zi_topology_t *topology = deploy->topology;
    bool hosts = topology->processes [from.process].host != topology->processes [to.process].host;
    //  Between hosts the network the topology describes, if it does: a
    //  calibration on one host measures loopback only
    if (hosts && topology->network_bytes_per_usec > 0)
        return (zi_hop_t) {topology->network_usecs, topology->network_bytes_per_usec};
    return hosts || topology->transport_tcp? edges->tcp: edges->ipc;
}

static void
s_on_edge (const zi_deploy_t *deploy, zi_placement_end_t from, zi_placement_end_t to,
           double bytes, const char *value, void *args)
{
    s_edges_t *edges = args;
    int crossing = zi_placement_crossing (deploy, from, to);
    if (crossing == 0)
        return;
    edges->crossing++;
    //  (the runtime's share once, on the first walk over the edges)
    if (crossing == 1 && !edges->out) {
        edges->process_runtime [from.process] += edges->runtime.thread_usecs;
        edges->handovers += edges->runtime.thread_usecs;
    }
    if (crossing >= 2) {
        zi_hop_t hop = s_hop (deploy, edges, from, to);
        edges->process_send [from.process] += zi_hop_usecs (&hop, bytes);
        if (!edges->out)
            edges->process_copy [from.process] += zi_hop_copy_usecs (&hop, bytes);
    }
    if (!edges->out)
        return;
    char from_name [300], to_name [300], endpoint [300], carrier [340] = "";
    if (crossing == 1)
        snprintf (endpoint, sizeof endpoint, "inproc");
    else {
        //  A tensor that another actor's mailbox carries for the consumer
        //  (all its process sends to that thread goes there) goes to that one
        int mailbox = to.mailbox;
        zi_deploy_mailbox (deploy, mailbox, from.process, endpoint, sizeof endpoint);
        if (mailbox != to.actor) {
            char name [300];
            snprintf (carrier, sizeof carrier, " (%s's mailbox)",
                      zi_deploy_actor_name (deploy, mailbox, name, sizeof name));
        }
    }
    //  A replicated consumer gets each message on one of its replicas; the
    //  walk names one that stands for them all
    int replicas = to.actor >= 0? deploy->replicas [deploy->actors [to.actor].node]: 1;
    char others [64] = "";
    if (replicas > 1)
        snprintf (others, sizeof others, replicas == 2? " (or the other replica)":
                  " (or one of %d other replicas)", replicas - 1);
    fprintf (edges->out, "  %s -> %s%s: '%s' %.0f bytes, %s %s -> %s, %s%s\n",
             s_end_name (deploy, from, from_name, sizeof from_name),
             s_end_name (deploy, to, to_name, sizeof to_name), others, value, bytes,
             zi_placement_crossing_name (crossing), deploy->topology->processes [from.process].name,
             deploy->topology->processes [to.process].name, endpoint, carrier);
}

//  Whether a host is this machine, whose cores sysconf knows
static bool
s_local_host (const zi_topology_t *topology, int host)
{
    const char *address = topology->hosts [host].address;
    return topology->n_hosts == 1 || strcmp (address, "127.0.0.1") == 0
        || strcmp (address, "localhost") == 0 || strcmp (address, "::1") == 0;
}

//  Counts a warning, printing the heading before the first; true
static bool
s_warning (int *warnings)
{
    if ((*warnings)++ == 0)
        printf ("\nwarnings\n");
    return true;
}

//  The placement as DOT (zi_placement.c) into path
static int
s_write_dot (const zi_deploy_t *deploy, const double *usecs, const double *process_compute,
             const char *path)
{
    FILE *out = fopen (path, "w");
    if (!out)
        return zi_error ("%s: cannot create: %s", path, strerror (errno));
    int rc = zi_placement_write_dot (deploy, usecs, process_compute, out);
    if (fclose (out) && rc == 0)
        rc = zi_error ("%s: write failed", path);
    return rc;
}

//  Runs `dot -TFORMAT DOT -o PICTURE`
static int
s_draw (const char *dot_path, const char *format, const char *picture_path)
{
    char type [16];
    snprintf (type, sizeof type, "-T%s", format);
    pid_t child = fork ();
    if (child < 0)
        return zi_error ("cannot start dot: %s", strerror (errno));
    if (child == 0) {
        execlp ("dot", "dot", type, dot_path, "-o", picture_path, (char *) NULL);
        fprintf (stderr, "zinfer plan: cannot run dot (is graphviz installed?): %s\n",
                 strerror (errno));
        _exit (127);
    }
    int status = 0;
    while (waitpid (child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        return zi_error ("dot could not draw %s (exit %d)", picture_path,
                         WIFEXITED (status)? WEXITSTATUS (status): -1);
    return 0;
}

int
zi_cli_plan (int argc, char **argv)
{
    const char *path = NULL, *profile_path = NULL, *dot_path = NULL, *png_path = NULL;
    const char *svg_path = NULL, *calibration_path = NULL, *cores_worth = NULL;
    const char *gap = NULL;
    long base_port = 0, runs = 5;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("--profile", &profile_path),
        ZI_CLI_TEXT ("--calibration", &calibration_path),
        ZI_CLI_TEXT ("--cores-worth", &cores_worth),
        ZI_CLI_INT ("--runs", &runs, 1, 100000),
        ZI_CLI_TEXT ("--gap", &gap),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_TEXT ("--dot", &dot_path),
        ZI_CLI_TEXT ("--png", &png_path),
        ZI_CLI_TEXT ("--svg", &svg_path),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("plan", s_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!path)
        return zi_cli_fail ("plan", "no topology given (usage: zinfer plan TOPOLOGY.yaml)");
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    double given_worth;
    int worth_rc = zi_cli_cores_worth_given ("plan", cores_worth, (int) cores, &given_worth);
    if (worth_rc)
        return worth_rc;
    s_edges_t edges = {.crossing = 0};
    char hop_source [1200];
    int hop_rc = zi_cli_hop ("plan", calibration_path, "ipc", &edges.ipc, hop_source,
                             sizeof hop_source);
    if (hop_rc == 0)
        hop_rc = zi_cli_hop ("plan", calibration_path, "tcp", &edges.tcp, hop_source,
                             sizeof hop_source);
    char runtime_source [1200];
    if (hop_rc == 0)
        hop_rc = zi_cli_runtime_cost ("plan", calibration_path, &edges.runtime, runtime_source,
                                      sizeof runtime_source);
    if (hop_rc)
        return hop_rc;
    zi_deploy_t *deploy = zi_deploy_new (path, (int) base_port);
    if (!deploy)
        return zi_cli_fail ("plan", "%s", zi_error_text ());
    const zi_topology_t *topology = deploy->topology;
    const zi_graph_t *plan = deploy->plan;
    int n_processes = topology->n_processes;
    double *usecs = calloc (plan->n_nodes + 1, sizeof (double));
    double *process_compute = calloc (n_processes + 1, sizeof (double));
    double *process_send = calloc (n_processes + 1, sizeof (double));
    double *process_runtime = calloc (n_processes + 1, sizeof (double));
    double *process_copy = calloc (n_processes + 1, sizeof (double));
    assert (usecs && process_compute && process_send && process_runtime && process_copy);
    int rc = zi_cli_profile_plan ("plan", topology->model_path, plan, !topology->fuse,
                                  (int) runs, gap, profile_path, usecs);
    if (rc)
        goto done;
    rc = ZI_EXIT_USAGE;
    //  Each node's time divided by its host's speed (hosts: speed:, against
    //  the machine the profile ran on). Replicas share their node's
    //  requests, but only those on threads of their own run at once: the
    //  share divides by the threads they are on, not by their count
    double total = 0, runtime_total = 0;
    int lonely_node = -1, lonely_threads = 0;
    for (int node = 0; node < plan->n_nodes; node++) {
        int first = deploy->first_actor [node], replicas = deploy->replicas [node];
        int threads = 0;
        for (int actor = first; actor < first + replicas; actor++) {
            bool seen = false;
            for (int other = first; other < actor && !seen; other++)
                seen = deploy->actors [other].process == deploy->actors [actor].process
                    && deploy->actors [other].thread == deploy->actors [actor].thread;
            threads += !seen;
        }
        if (threads < replicas && lonely_node < 0) {
            lonely_node = node;
            lonely_threads = threads;
        }
        //  A placement rule puts every replica of a node in one process
        int process = deploy->actors [first].process;
        double node_usecs = usecs [node] / topology->hosts [topology->processes [process].host].speed;
        process_compute [process] += node_usecs / threads;
        total += node_usecs;            //  a request meets one replica, which does it all
        //  and pays for one actor; the runtime runs as fast as the host
        double actor_usecs = edges.runtime.actor_usecs
                           / topology->hosts [topology->processes [process].host].speed;
        process_runtime [process] += actor_usecs / threads;
        runtime_total += actor_usecs;
    }
    edges.usecs = usecs;
    edges.process_send = process_send;
    edges.process_runtime = process_runtime;
    edges.process_copy = process_copy;
    zi_placement_for_each_edge (deploy, s_on_edge, &edges);
    //  The gateway's part, on its process: a client on its host (ipc)
    //  sends the inputs and takes the outputs
    double input_bytes = 0, output_bytes = 0;
    for (int input = 0; input < plan->n_inputs; input++)
        input_bytes += (double) plan->values [plan->inputs [input]].info.nbytes;
    for (int output = 0; output < plan->n_outputs; output++)
        output_bytes += (double) plan->values [plan->outputs [output]].info.nbytes;
    double gateway_usecs = zi_hop_usecs (&edges.ipc, input_bytes)
                         + zi_hop_usecs (&edges.ipc, output_bytes);
    //  With requests in flight its thread pays only the copies of them,
    //  the client's hops being waits that other requests fill
    //  (docs/placement.md)
    double intake_usecs = zi_hop_copy_usecs (&edges.ipc, input_bytes)
                        + zi_hop_copy_usecs (&edges.ipc, output_bytes);
    process_runtime [deploy->gateway_process] += gateway_usecs;
    runtime_total += edges.handovers + gateway_usecs;

    printf ("topology '%s' (%s): %d nodes of %s in %d process%s on %d host%s, %s between "
            "processes of a host\n", topology->name, topology->path, plan->n_nodes,
            topology->model_path, n_processes, n_processes == 1? "": "es", topology->n_hosts,
            topology->n_hosts == 1? "": "s", topology->transport_tcp? "tcp": "ipc");
    if (profile_path)
        printf ("node times from %s: %.3f ms per run\n", profile_path, total / 1000);
    else
        printf ("node times from a quick profile (%ld runs at one thread%s%s): %.3f ms per "
                "run\n", runs, gap? ", --gap ": "", gap? gap: "", total / 1000);
    //  A host's cores get through its processes' work together, at the
    //  cores' worth of the model they run at once: on this host measured
    //  as split measures it (or given), when two processes or more would
    //  share them; elsewhere assumed to be a host's cores: count
    bool crowded = false;
    for (int host = 0; host < topology->n_hosts; host++) {
        int processes = 0;
        for (int process = 0; process < n_processes; process++)
            processes += topology->processes [process].host == host;
        crowded |= s_local_host (topology, host) && processes > 1;
    }
    double worth = (double) cores;
    char worth_source [100] = "";
    if (crowded || given_worth > 0) {
        fflush (stdout);
        rc = zi_cli_cores_worth ("plan", topology->model_path, given_worth, (int) cores,
                                 runs / 4 > 3? (int) runs / 4: 3, usecs, plan->n_nodes, &worth,
                                 worth_source, sizeof worth_source);
        if (rc)
            goto done;
        rc = ZI_EXIT_USAGE;
    }
    for (int host = 0; host < topology->n_hosts; host++) {
        int processes = 0, threads = 0;
        for (int process = 0; process < n_processes; process++)
            if (topology->processes [process].host == host) {
                processes++;
                threads += topology->processes [process].threads
                         * topology->processes [process].blas_threads;
            }
        printf ("\nhost %s (%s): %d process%s, %d compute thread%s, ", topology->hosts [host].name,
                topology->hosts [host].address, processes, processes == 1? "": "es", threads,
                threads == 1? "": "s");
        if (s_local_host (topology, host) && *worth_source)
            printf ("%ld cores here, %.2f cores' worth of this model at once (%s)", cores,
                    worth, worth_source);
        else
        if (s_local_host (topology, host))
            printf ("%ld cores here", cores);
        else
        if (topology->hosts [host].cores)
            printf ("%d cores, assumed to run %d cores' worth of this model at once",
                    topology->hosts [host].cores, topology->hosts [host].cores);
        else
            printf ("cores not known from here (hosts: cores: says)");
        if (topology->hosts [host].speed != 1)
            printf (", %.3gx the profile's speed", topology->hosts [host].speed);
        printf ("\n");
        for (int process = 0; process < n_processes; process++) {
            const zi_topo_process_t *info = &topology->processes [process];
            if (info->host != host)
                continue;
            int count = 0, first = -1, last = -1;
            for (int node = 0; node < plan->n_nodes; node++)
                if (deploy->actors [deploy->first_actor [node]].process == process) {
                    count++;
                    first = first < 0? node: first;
                    last = node;
                }
            printf ("  process %s%s: %d thread%s (blas %d), %d node%s", info->name,
                    process == deploy->gateway_process? " (gateway)": "", info->threads,
                    info->threads == 1? "": "s", info->blas_threads, count, count == 1? "": "s");
            if (count)
                printf (" %s .. %s", plan->nodes [first].name, plan->nodes [last].name);
            printf (", compute %.3f ms, runtime %.3f ms, sends %.3f ms\n",
                    process_compute [process] / 1000, process_runtime [process] / 1000,
                    process_send [process] / 1000);
            for (int thread = 0; thread < info->threads && info->threads > 1; thread++) {
                int actors = 0, first_actor = -1, last_actor = -1;
                double thread_usecs = 0;
                for (int actor = 0; actor < deploy->n_actors; actor++)
                    if (deploy->actors [actor].process == process
                    &&  deploy->actors [actor].thread == thread) {
                        int node = deploy->actors [actor].node;
                        actors++;
                        first_actor = first_actor < 0? actor: first_actor;
                        last_actor = actor;
                        thread_usecs += usecs [node] / deploy->replicas [node];
                    }
                char first_name [300], last_name [300];
                printf ("    thread %d: %d actor%s", thread, actors, actors == 1? "": "s");
                if (actors)
                    printf (" %s .. %s", zi_deploy_actor_name (deploy, first_actor, first_name,
                                                               sizeof first_name),
                            zi_deploy_actor_name (deploy, last_actor, last_name, sizeof last_name));
                printf (", compute %.3f ms\n", thread_usecs / 1000);
            }
        }
    }

    printf ("\nedges that cross a thread, process or host: %d\n", edges.crossing);
    edges.out = stdout;
    edges.crossing = 0;
    for (int process = 0; process < n_processes; process++)
        process_send [process] = 0;
    zi_placement_for_each_edge (deploy, s_on_edge, &edges);

    char endpoint [300], local [300];
    zi_deploy_client_endpoint (deploy, endpoint, sizeof endpoint);
    zi_deploy_client_ipc_endpoint (deploy, local, sizeof local);
    printf ("\nendpoints\n  clients: %s (on its host also %s)\n", endpoint, local);
    for (int process = 0; process < n_processes; process++) {
        char stats [300];
        zi_deploy_monitor_endpoint (deploy, process, endpoint, sizeof endpoint);
        zi_deploy_stats_endpoint (deploy, process, stats, sizeof stats);
        printf ("  process %s: monitor %s, stats %s\n", topology->processes [process].name,
                endpoint, stats);
    }
    int tcp_mailboxes = 0;
    for (int actor = 0; actor < deploy->n_actors; actor++)
        if (deploy->actors [actor].tcp_port > 0) {
            char name [300];
            printf ("%s%s tcp port %d", tcp_mailboxes++? ", ": "  mailboxes on tcp: ",
                    zi_deploy_actor_name (deploy, actor, name, sizeof name),
                    deploy->actors [actor].tcp_port);
        }
    if (deploy->gateway_tcp_port > 0)
        printf ("%sgateway results tcp port %d", tcp_mailboxes++? ", ": "  mailboxes on tcp: ",
                deploy->gateway_tcp_port);
    if (tcp_mailboxes)
        printf ("\n");

    //  Predicted: a request walks every stage and every hop between them;
    //  a pipeline runs as fast as its slowest process with its sends, each
    //  priced for requests in flight: the gateway's and the hops' copies
    double hops = 0, slowest = 0, fastest = INFINITY;
    int slowest_process = -1, fastest_process = -1;
    double *process_piped = calloc (n_processes + 1, sizeof (double));
    assert (process_piped);
    for (int process = 0; process < n_processes; process++) {
        hops += process_send [process];
        process_piped [process] = process_compute [process] + process_runtime [process]
                                + process_copy [process]
                                + (process == deploy->gateway_process
                                   ? intake_usecs - gateway_usecs: 0);
    }
    for (int process = 0; process < n_processes; process++) {
        double stage = process_piped [process];
        bool runs_nodes = process_compute [process] > 0 || process != deploy->gateway_process;
        if (!runs_nodes)
            continue;
        if (stage > slowest) {
            slowest = stage;
            slowest_process = process;
        }
        if (stage < fastest) {
            fastest = stage;
            fastest_process = process;
        }
    }
    //  ... or as fast as a host's cores get through the work of all its
    //  processes, at the cores' worth of the model they run at once
    double pace = slowest, busiest_worth = 0, busiest_work = 0;
    int busiest_host = -1;
    for (int host = 0; host < topology->n_hosts; host++) {
        double host_worth = s_local_host (topology, host)? worth: topology->hosts [host].cores;
        //  All of its processes' time on a request, hops and the client's
        //  hops whole (their fixed part is CPU in ZeroMQ's I/O threads),
        //  and the gateway's copies besides
        double work = 0;
        for (int process = 0; process < n_processes; process++)
            if (topology->processes [process].host == host)
                work += process_compute [process] + process_runtime [process]
                      + process_send [process]
                      + (process == deploy->gateway_process? intake_usecs: 0);
        if (host_worth > 0 && work / host_worth > pace) {
            pace = work / host_worth;
            busiest_host = host;
            busiest_worth = host_worth;
            busiest_work = work;
        }
    }
    printf ("\npredicted: latency %.3f ms (compute %.3f ms, runtime %.3f ms, hops %.3f ms); "
            "throughput %.0f requests/s, the slowest process %s at %.3f ms with its sends",
            (total + runtime_total + hops) / 1000, total / 1000, runtime_total / 1000,
            hops / 1000, pace > 0? 1e6 / pace: 0,
            slowest_process >= 0? topology->processes [slowest_process].name: "-",
            slowest / 1000);
    if (busiest_host >= 0)
        printf ("; but host %s's %.2f cores' worth share all its processes' work, %.3f ms a "
                "request (%.3f ms of work, the latency and the gateway's copies)",
                topology->hosts [busiest_host].name, busiest_worth, pace / 1000,
                busiest_work / 1000);
    printf ("\n");
    printf ("  hops priced at ipc %.1f us + bytes / %.0f MB/s, tcp %.1f us + bytes / %.0f MB/s "
            "(%s)\n", edges.ipc.usecs, edges.ipc.bytes_per_usec, edges.tcp.usecs,
            edges.tcp.bytes_per_usec, hop_source);
    printf ("  the runtime at %.2f us per actor, %.2f us per hand-over between threads (%s), "
            "the client's hops %.3f ms\n", edges.runtime.actor_usecs, edges.runtime.thread_usecs,
            runtime_source, gateway_usecs / 1000);
    printf ("  with requests in flight each process pays the copies of what it sends (bytes "
            "over bandwidth) and the gateway its copies of the requests, %.3f ms, not the "
            "hops' fixed part (docs/placement.md)\n", intake_usecs / 1000);
    free (process_piped);
    if (topology->network_bytes_per_usec > 0)
        printf ("  between hosts %.1f us + bytes / %.0f MB/s (the topology's network:)\n",
                topology->network_usecs, topology->network_bytes_per_usec);

    int warnings = 0;
    for (int host = 0; host < topology->n_hosts; host++) {
        long host_cores = s_local_host (topology, host)? cores: topology->hosts [host].cores;
        if (host_cores < 1)
            continue;
        int threads = 0;
        for (int process = 0; process < n_processes; process++)
            if (topology->processes [process].host == host)
                threads += topology->processes [process].threads
                         * topology->processes [process].blas_threads;
        if (threads > host_cores && s_warning (&warnings))
            printf ("  host %s: %d compute threads (threads x blas_threads) on %ld cores; "
                    "they will take turns\n", topology->hosts [host].name, threads, host_cores);
    }
    if (fastest_process >= 0 && slowest > 2 * fastest && s_warning (&warnings))
        printf ("  process %s (%.3f ms) is %.1fx slower than the fastest, %s (%.3f ms): a "
                "pipeline runs at the pace of its slowest stage\n",
                topology->processes [slowest_process].name, slowest / 1000,
                fastest > 0? slowest / fastest: INFINITY,
                topology->processes [fastest_process].name, fastest / 1000);
    if (lonely_node >= 0 && s_warning (&warnings)) {
        int actor = deploy->first_actor [lonely_node];
        printf ("  node %s has %d replicas on %d thread%s of process %s: replicas on one "
                "thread take turns (give the process a thread per replica)\n",
                plan->nodes [lonely_node].name, deploy->replicas [lonely_node], lonely_threads,
                lonely_threads == 1? "": "s",
                topology->processes [deploy->actors [actor].process].name);
    }
    if (!warnings)
        printf ("\nno warnings\n");

    rc = ZI_EXIT_FAILURE;
    //  A picture without --dot draws from a DOT file of our own: made by
    //  mkstemp, so nobody can have put a link to their choice there
    char dot_temp [] = "/tmp/zinfer-plan-XXXXXX";
    bool temporary = (png_path || svg_path) && !dot_path;
    if (temporary) {
        int fd = mkstemp (dot_temp);
        if (fd < 0) {
            zi_cli_fail ("plan", "cannot make a temporary DOT file: %s", strerror (errno));
            rc = ZI_EXIT_FAILURE;
            goto done;
        }
        close (fd);
        dot_path = dot_temp;
    }
    if (dot_path && s_write_dot (deploy, usecs, process_compute, dot_path)) {
        zi_cli_fail ("plan", "--dot %s", zi_error_text ());
        if (temporary)
            unlink (dot_temp);
        goto done;
    }
    if (dot_path && !temporary)
        printf ("graph written to %s (dot -Tpng %s -o plan.png)\n", dot_path, dot_path);
    const char *pictures [2][2] = {{"png", png_path}, {"svg", svg_path}};
    int drawn = 0;
    for (int index = 0; index < 2 && drawn == 0; index++) {
        if (!pictures [index][1])
            continue;
        drawn = s_draw (dot_path, pictures [index][0], pictures [index][1]);
        if (drawn)
            zi_cli_fail ("plan", "--%s: %s", pictures [index][0], zi_error_text ());
        else
            printf ("picture written to %s\n", pictures [index][1]);
    }
    if (temporary)
        unlink (dot_temp);
    if (drawn)
        goto done;
    rc = 0;
done:
    free (usecs);
    free (process_compute);
    free (process_send);
    free (process_runtime);
    free (process_copy);
    zi_deploy_destroy (&deploy);
    return rc;
}
