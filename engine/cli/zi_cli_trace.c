/*  =========================================================================
    zi_cli_trace - `zinfer trace`: where the time of one request goes

    Sends one request flagged for tracing, or several at once. Every actor
    a request passes adds a record (input arrived, compute started, compute
    ended, output sent) that travels on with the request; the answer brings
    them all back. Clocks of other hosts are corrected by the offset their
    monitors report (the middle of a ping's round trip). Writes Chrome
    trace-event JSON (opens in Perfetto) and, with --png, a Gantt chart
    drawn by gnuplot. With several requests in flight the chart shows how
    they share the threads: whether the stages of a pipeline overlap.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_msg.h"
#include "zi_watch.h"
#include "zi_wiring.h"
#include <errno.h>
#include <unistd.h>

static const char *s_usage =
    "usage: zinfer trace TOPOLOGY.yaml --input FILE.npy ... --out TRACE.json\n"
    "                    [--inflight K] [--png CHART.png] [--base-port P] [--key FILE]\n"
    "\n"
    "Sends one traced request through a running topology and records, for\n"
    "every actor it passes, when its input arrived, when compute started and\n"
    "ended, and when its output left. Writes Chrome trace-event JSON (open it\n"
    "in Perfetto or chrome://tracing) and prints how the end-to-end time\n"
    "splits into compute and transfer (serialization, network, waiting).\n"
    "\n"
    "  --input FILE.npy  an input, one per model input, in order\n"
    "  --out FILE.json   where to write the trace\n"
    "  --inflight K      send K traced requests at once (default 1), to see how\n"
    "                    they share the threads; each event names its request\n"
    "  --png CHART.png   also draw a Gantt chart (needs gnuplot)\n"
    "  --gnuplot FILE    with --png: also keep the chart's gnuplot script in\n"
    "                    FILE and its data in FILE.dat, to restyle and redraw it\n"
    "  --timeout MS      give up when an answer takes longer (default 30000)\n"
    "  --base-port P     the topology was started with --base-port P\n"
    "  --key FILE        client secret key file, when the topology uses CURVE\n"
    "                    (default: the ZINFER_KEY environment variable)\n";

typedef struct {
    zi_trace_record_t record;   //  times corrected to this machine's clock
    int node;                   //  planned node, -1 for the gateway
    int request;                //  which of the requests sent, from 0
    int row;                    //  the chart's row: one per actor
    char name [256];
} s_event_t;

#define S_MAX_INFLIGHT 64

//  Whether what one event sent reached another's receiver, as the runtime
//  wires them (zi_wiring; wirings [n_actors] is the gateway's intake): an
//  actor, or the gateway taking a request in, to a consumer's replica or
//  to the gateway answering. A tensor from another process that a
//  neighbour received and handed on (a relay) came from its producer too,
//  and the neighbour, when it only carried it, did not take it.
static bool
s_wired (const zi_deploy_t *deploy, zi_wiring_t *const *wirings, const s_event_t *from,
         const s_event_t *to)
{
    int sender = from->node >= 0? (int) from->record.actor:
                 from->record.actor == ZI_TRACE_GATEWAY_IN? -1: -2;
    int receiver = to->node >= 0? (int) to->record.actor:
                   to->record.actor == ZI_TRACE_GATEWAY_OUT? -1: -2;
    if (sender == -2 || receiver == -2 || (sender < 0 && receiver < 0))
        return false;
    const zi_wiring_t *wiring = wirings [sender < 0? deploy->n_actors: sender];
    //  A peer whose mailbox only carries the sender's tensor for another
    //  actor on its thread took nothing from it: its consumer did
    bool consumes = sender < 0;
    int consumer = receiver >= 0? deploy->actors [receiver].node: -1;
    for (int route = 0; !consumes && route < deploy->n_routes [from->node]; route++)
        consumes = deploy->routes [from->node][route].node == consumer;
    for (int peer = 0; peer < wiring->n_peers; peer++) {
        int actor = wiring->peers [peer].actor;
        if (actor == receiver && consumes)
            return true;
        const zi_wiring_t *relaying = actor >= 0? wirings [actor]: NULL;
        for (int relay = 0; relaying && relay < relaying->n_relays; relay++)
            if (relaying->relays [relay].target == receiver
            &&  relaying->relays [relay].source == from->node)
                return true;
    }
    return false;
}

//  Clock offset of each process: its clock minus ours, from the ping
//  with the shortest round trip
static void
s_offsets (zi_deploy_t *deploy, int64_t *offsets, int timeout_msecs)
{
    int n_processes = deploy->topology->n_processes;
    zi_watch_t *watch = zi_watch_new (deploy);
    zi_watch_reply_t *replies = calloc (n_processes, sizeof (zi_watch_reply_t));
    int64_t *best = calloc (n_processes, sizeof (int64_t));
    for (int process = 0; process < n_processes; process++)
        best [process] = INT64_MAX;
    int64_t *trip_of = calloc (n_processes, sizeof (int64_t));
    for (int round = 0; round < 20; round++) {
        zi_watch_query (watch, -1, "PING", NULL, -1, timeout_msecs, replies);
        int answered = 0;
        for (int process = 0; process < n_processes; process++)
            answered += replies [process].answered;
        for (int process = 0; process < n_processes; process++) {
            zi_watch_reply_t *reply = &replies [process];
            if (!reply->answered)
                continue;
            int64_t trip = reply->received_nsecs - reply->sent_nsecs;
            int64_t theirs = (int64_t) zi_watch_number (&reply->reply.data, "time_nsecs");
            if (trip < best [process]) {
                best [process] = trip;
                trip_of [process] = trip;
                offsets [process] = theirs - (reply->sent_nsecs + trip / 2);
            }
        }
        zi_watch_replies_clear (watch, replies);
        if (answered == 0)
            break;          //  nobody to measure: the request will say why
    }
    //  An offset smaller than half the round trip cannot be told from
    //  zero: the clocks agree as far as we can measure (one host)
    for (int process = 0; process < n_processes; process++)
        if (llabs (offsets [process]) <= trip_of [process] / 2)
            offsets [process] = 0;
    free (trip_of);
    free (best);
    free (replies);
    zi_watch_destroy (&watch);
}

static int
s_compare_events (const void *a, const void *b)
{
    const s_event_t *x = a, *y = b;
    return x->record.arrived < y->record.arrived? -1: x->record.arrived > y->record.arrived;
}

static void
s_json_event (FILE *out, bool *first, const char *name, const char *category, int64_t start,
              int64_t end, int64_t origin, int pid, int tid, int request)
{
    if (end < start)
        end = start;
    fprintf (out, "%s\n  {\"name\": ", *first? "": ",");
    zi_cli_json_string (out, name);
    fprintf (out, ", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, "
             "\"pid\": %d, \"tid\": %d, \"args\": {\"request\": %d}}", category,
             (start - origin) / 1000.0, (end - start) / 1000.0, pid, tid, request);
    *first = false;
}

//  Adds the records of one answer's trace to events, on this machine's
//  clock and named; returns how many it added
static int
s_collect (zi_deploy_t *deploy, const int64_t *offsets, const zi_trace_t *trace, int request,
           s_event_t *events)
{
    int n_processes = deploy->topology->n_processes, n_events = 0;
    for (int index = 0; index < trace->count; index++) {
        zi_trace_record_t record = trace->records [index];
        if (record.process >= (uint32_t) n_processes)
            continue;
        int64_t offset = offsets [record.process];
        record.arrived -= offset;
        record.started -= offset;
        record.ended -= offset;
        record.sent -= offset;
        s_event_t *event = &events [n_events++];
        event->record = record;
        event->request = request;
        if (record.actor == ZI_TRACE_GATEWAY_IN || record.actor == ZI_TRACE_GATEWAY_OUT) {
            event->node = -1;
            snprintf (event->name, sizeof event->name, "gateway %s",
                      record.actor == ZI_TRACE_GATEWAY_IN? "in": "out");
        }
        else
        if (record.actor < (uint32_t) deploy->n_actors) {
            event->node = deploy->actors [record.actor].node;
            zi_deploy_actor_name (deploy, (int) record.actor, event->name, sizeof event->name);
        }
        else
            n_events--;
    }
    return n_events;
}

//  An event's chart row key: its actor, or one of the gateway's two ends
static int
s_row_key (const zi_deploy_t *deploy, const s_event_t *event)
{
    uint32_t actor = event->record.actor;
    return actor < (uint32_t) deploy->n_actors? (int) actor
         : deploy->n_actors + (actor == ZI_TRACE_GATEWAY_OUT);
}

//  Writes text as a gnuplot string in single quotes, where gnuplot
//  substitutes nothing (in double quotes it runs `backquoted` commands)
//  and a quote is written twice. Node names come from the model file: so
//  a name cannot end the string and run gnuplot commands
static void
s_gnuplot_string (FILE *out, const char *text)
{
    fputc ('\'', out);
    for (const unsigned char *at = (const unsigned char *) text; *at; at++)
        if (*at == '\'')
            fputs ("''", out);
        else
        if (*at < 0x20 || *at == 0x7F)
            fputc ('?', out);
        else
            fputc (*at, out);
    fputc ('\'', out);
}

static int
s_compare_doubles (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

int
zi_cli_trace (int argc, char **argv)
{
    const char *path = NULL, *out_path = NULL, *png_path = NULL, *key_path = NULL;
    const char *gnuplot_path = NULL;
    const char *input_paths [ZI_MAX_GRAPH_INPUTS];
    int n_inputs = 0;
    long base_port = 0, inflight = 1, timeout = 30000;
    const zi_opt_t table [] = {
        ZI_CLI_LIST ("--input", input_paths, &n_inputs, ZI_MAX_GRAPH_INPUTS),
        ZI_CLI_TEXT ("--out", &out_path),
        ZI_CLI_INT ("--inflight", &inflight, 1, S_MAX_INFLIGHT),
        ZI_CLI_TEXT ("--png", &png_path),
        ZI_CLI_TEXT ("--gnuplot", &gnuplot_path),
        ZI_CLI_TEXT ("--key", &key_path),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_INT ("--timeout", &timeout, 1, 100000000),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("trace", s_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!path || !n_inputs || !out_path)
        return zi_cli_fail ("trace", "needs TOPOLOGY.yaml, --input and --out (see zinfer trace --help)");
    if (gnuplot_path && !png_path)
        return zi_cli_fail ("trace", "--gnuplot keeps the script of the --png chart; expected "
                            "--png CHART.png too");

    zi_tensor_t *inputs [ZI_MAX_GRAPH_INPUTS] = {NULL};
    zi_tensor_t *outputs [ZI_MAX_GRAPH_OUTPUTS] = {NULL};
    zi_deploy_t *deploy = NULL;
    zi_client_t *client = NULL;
    int64_t *offsets = NULL;
    s_event_t *events = NULL;
    zi_wiring_t **wirings = NULL;   //  per actor, then the gateway's intake
    int rc = ZI_EXIT_USAGE, n_outputs = 0;
    for (int index = 0; index < n_inputs; index++)
        if (!(inputs [index] = zi_npy_load (input_paths [index]))) {
            zi_cli_fail ("trace", "%s", zi_error_text ());
            goto done;
        }
    if (!(deploy = zi_cli_deploy ("trace", path, base_port, key_path)))
        goto done;
    rc = ZI_EXIT_FAILURE;
    if (zi_cli_check_running ("trace", deploy))
        goto done;
    int n_processes = deploy->topology->n_processes;
    offsets = calloc (n_processes, sizeof (int64_t));
    s_offsets (deploy, offsets, timeout < 1000? (int) timeout: 1000);
    client = zi_deploy_client (deploy, NULL);
    if (!client) {
        fprintf (stderr, "zinfer trace: %s\n", zi_error_text ());
        goto done;
    }
    //  A first request, untraced, sets up the connections
    n_outputs = zi_client_infer (client, inputs, n_inputs, outputs, ZI_MAX_GRAPH_OUTPUTS,
                                 (int) timeout);
    for (int output = 0; output < (n_outputs > 0? n_outputs: 0); output++)
        zi_tensor_destroy (&outputs [output]);
    if (n_outputs < 0) {
        fprintf (stderr, "zinfer trace: %s\n", zi_error_text ());
        goto done;
    }
    //  All sent before any is read, so they are in flight together
    int64_t client_sent [S_MAX_INFLIGHT], client_received [S_MAX_INFLIGHT];
    uint64_t ids [S_MAX_INFLIGHT];
    int capacity = 0, n_events = 0;
    for (int request = 0; request < inflight; request++) {
        client_sent [request] = zi_trace_now ();
        if (zi_client_send_flags (client, inputs, n_inputs, ZI_MSG_TRACE, &ids [request])) {
            fprintf (stderr, "zinfer trace: %s\n", zi_error_text ());
            goto done;
        }
    }
    for (int answer = 0; answer < inflight; answer++) {
        uint64_t answered = 0;
        for (int output = 0; output < n_outputs; output++)
            zi_tensor_destroy (&outputs [output]);
        if (zi_client_recv (client, &answered, outputs, ZI_MAX_GRAPH_OUTPUTS, &n_outputs,
                            (int) timeout)) {
            fprintf (stderr, "zinfer trace: %s\n", zi_error_text ());
            goto done;
        }
        int request = 0;
        while (request < inflight - 1 && ids [request] != answered)
            request++;
        client_received [request] = zi_trace_now ();
        const zi_trace_t *trace = zi_client_trace (client);
        if (trace->count == 0) {
            fprintf (stderr, "zinfer trace: the answer carried no trace records\n");
            goto done;
        }
        if (n_events + trace->count > capacity) {
            capacity = (n_events + trace->count) * 2;
            events = realloc (events, capacity * sizeof (s_event_t));
            assert (events);
        }
        n_events += s_collect (deploy, offsets, trace, request, events + n_events);
    }
    qsort (events, n_events, sizeof (s_event_t), s_compare_events);
    //  One chart row per actor and per gateway end, grouped by process
    //  (in the topology's order) and within a process in order of first
    //  arrival (s_collect kept only those)
    int n_keys = deploy->n_actors + 2;
    int *first_seen = malloc (n_keys * sizeof (int));
    int *process_of = malloc (n_keys * sizeof (int));
    int *row_of = malloc (n_keys * sizeof (int));
    assert (first_seen && process_of && row_of);
    for (int key = 0; key < n_keys; key++)
        first_seen [key] = row_of [key] = -1;
    for (int index = 0; index < n_events; index++) {
        int key = s_row_key (deploy, &events [index]);
        if (first_seen [key] < 0) {
            first_seen [key] = index;
            process_of [key] = (int) events [index].record.process;
        }
    }
    int n_rows = 0;
    for (int process = 0; process < n_processes; process++)
        for (int index = 0; index < n_events; index++) {
            int key = s_row_key (deploy, &events [index]);
            if (first_seen [key] == index && process_of [key] == process)
                row_of [key] = n_rows++;
        }
    for (int index = 0; index < n_events; index++)
        events [index].row = row_of [s_row_key (deploy, &events [index])];
    free (first_seen);
    free (process_of);
    free (row_of);
    int64_t origin = client_sent [0];

    //  Where did the time go? Compute is the union of the compute
    //  intervals on the timeline (parallel branches count once); the rest
    //  of the end-to-end time is transfer: serialization, network, waits.
    //  With several requests in flight, the medians over them
    double totals [S_MAX_INFLIGHT], computes [S_MAX_INFLIGHT];
    s_event_t *by_start = calloc (n_events + 1, sizeof (s_event_t));
    for (int request = 0; request < inflight; request++) {
        int count = 0;
        for (int index = 0; index < n_events; index++)
            if (events [index].request == request && events [index].node >= 0) {
                by_start [count] = events [index];
                by_start [count++].record.arrived = events [index].record.started;
            }
        qsort (by_start, count, sizeof (s_event_t), s_compare_events);
        double compute = 0;
        int64_t covered_until = INT64_MIN;
        for (int index = 0; index < count; index++) {
            int64_t start = by_start [index].record.started, end = by_start [index].record.ended;
            if (start < covered_until)
                start = covered_until;
            if (end > start)
                compute += (end - start) / 1e6;
            if (end > covered_until)
                covered_until = end;
        }
        totals [request] = (client_received [request] - client_sent [request]) / 1e6;
        computes [request] = compute;
    }
    free (by_start);
    qsort (totals, inflight, sizeof (double), s_compare_doubles);
    qsort (computes, inflight, sizeof (double), s_compare_doubles);
    double total = totals [inflight / 2], compute = computes [inflight / 2];
    double transfer = total - compute;

    wirings = calloc (deploy->n_actors + 1, sizeof (zi_wiring_t *));
    assert (wirings);
    for (int actor = 0; actor <= deploy->n_actors; actor++)
        wirings [actor] = zi_wiring_new (deploy, actor < deploy->n_actors? actor: -1);
    FILE *out = fopen (out_path, "w");
    if (!out) {
        fprintf (stderr, "zinfer trace: cannot create %s\n", out_path);
        goto done;
    }
    fprintf (out, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [");
    bool first = true;
    for (int process = 0; process < n_processes; process++) {
        fprintf (out, "%s\n  {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, "
                 "\"args\": {\"name\": \"%s\"}}", first? "": ",", process,
                 deploy->topology->processes [process].name);
        first = false;
    }
    fprintf (out, ",\n  {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, "
             "\"args\": {\"name\": \"client\"}}", n_processes);
    for (int request = 0; request < inflight; request++)
        s_json_event (out, &first, "request", "client", client_sent [request],
                      client_received [request], origin, n_processes, request, request);
    for (int index = 0; index < n_events; index++) {
        s_event_t *event = &events [index];
        zi_trace_record_t *record = &event->record;
        int thread = event->node >= 0? deploy->actors [record->actor].thread: 0;
        if (record->started > record->arrived)
            s_json_event (out, &first, event->name, "queue", record->arrived, record->started,
                          origin, (int) record->process, thread, event->request);
        s_json_event (out, &first, event->name, event->node >= 0? "compute": "gateway",
                      record->started, record->ended, origin, (int) record->process, thread,
                      event->request);
        //  Transfers into this actor, or into the gateway's answer: from
        //  each sender's send, along the wiring. Senders later in the list
        //  too: an actor that joins inputs arrived with its first, maybe
        //  before the producer of another had started
        for (int other = 0; other < n_events; other++) {
            s_event_t *from = &events [other];
            if (from->request != event->request || !s_wired (deploy, wirings, from, event))
                continue;
            char name [600];
            snprintf (name, sizeof name, "%s -> %s", from->name, event->name);
            s_json_event (out, &first, name, "transfer", from->record.sent, record->arrived,
                          origin, (int) record->process, 1000, event->request);
        }
    }
    fprintf (out, "\n]}\n");
    fclose (out);

    int n_actors = 0;
    for (int index = 0; index < n_events; index++)
        n_actors += events [index].node >= 0 && events [index].request == 0;
    if (inflight == 1)
        printf ("zinfer trace: request through %d actors in %d processes, %.3f ms end to end\n",
                n_actors, n_processes, total);
    else {
        int64_t last = client_received [0];
        for (int request = 1; request < inflight; request++)
            last = client_received [request] > last? client_received [request]: last;
        printf ("zinfer trace: %ld requests in flight through %d actors in %d processes, "
                "%.3f ms from the first sent to the last answered; per request (medians), "
                "%.3f ms end to end\n", inflight, n_actors, n_processes, (last - origin) / 1e6,
                total);
    }
    printf ("  compute                                    %8.3f ms  %5.1f%%\n", compute,
            100 * compute / total);
    printf ("  transfer (serialization, network, waiting) %8.3f ms  %5.1f%%\n", transfer,
            100 * transfer / total);
    printf ("trace written to %s (open in Perfetto: ui.perfetto.dev, or chrome://tracing)\n", out_path);

    if (png_path) {
        //  Gantt chart: one row per actor, compute and transfer told apart
        //  The data in a file of our own (mkstemp: nobody can have put a
        //  link there), or beside the script the user keeps
        char data_path [4200] = "/tmp/zinfer-trace-XXXXXX";
        FILE *data = NULL;
        if (gnuplot_path) {
            snprintf (data_path, sizeof data_path, "%s.dat", gnuplot_path);
            data = fopen (data_path, "w");
        }
        else {
            int fd = mkstemp (data_path);
            data = fd >= 0? fdopen (fd, "w"): NULL;
        }
        if (!data) {
            fprintf (stderr, "zinfer trace: cannot write chart data to %s: %s\n", data_path,
                     strerror (errno));
            goto done;
        }
        for (int index = 0; index < n_events; index++) {
            s_event_t *event = &events [index];
            double arrived = (event->record.arrived - origin) / 1e6;
            double started = (event->record.started - origin) / 1e6;
            double ended = (event->record.ended - origin) / 1e6;
            //  row x0 x1 kind: 0 compute, 1 waiting or in transfer before it
            fprintf (data, "%d %.6f %.6f 0 %d\n", event->row, started, ended, event->request);
            //  One request alone: the wait runs from the previous event's send
            double previous = index > 0 && inflight == 1?
                              (events [index - 1].record.sent - origin) / 1e6: arrived;
            if (previous < arrived)
                fprintf (data, "%d %.6f %.6f 1 %d\n", event->row, previous, started,
                         event->request);
            else
            if (arrived < started)
                fprintf (data, "%d %.6f %.6f 1 %d\n", event->row, arrived, started,
                         event->request);
        }
        fclose (data);
        char *script = NULL;
        size_t script_size = 0;
        FILE *chart = open_memstream (&script, &script_size);
        assert (chart);
        size_t longest = 0;
        for (int index = 0; index < n_events; index++)
            if (strlen (events [index].name) > longest)
                longest = strlen (events [index].name);
        //  Whole names on the left: the picture grows with the longest
        int width = 1000 + 7 * (int) (longest < 400? longest: 400);
        fprintf (chart, "set terminal pngcairo size %d,%d font ',9'\nset output ", width,
                 200 + 18 * n_rows);
        s_gnuplot_string (chart, png_path);
        fprintf (chart, "\nset title 'zinfer trace: %.3f ms end to end (compute %.0f%%, "
                 "transfer %.0f%%)'\nset xlabel 'ms since the client sent %s'\n"
                 "set yrange [%d:-1]\nset ytics (", total, 100 * compute / total,
                 100 * transfer / total, inflight > 1? "the first request": "the request",
                 n_rows);
        for (int row = 0; row < n_rows; row++)
            for (int index = 0; index < n_events; index++)
                if (events [index].row == row) {
                    fprintf (chart, "%s", row? ", ": "");
                    s_gnuplot_string (chart, events [index].name);
                    fprintf (chart, " %d", row);
                    break;
                }
        fprintf (chart, ")\n");
        //  Process boundaries: a dashed line above each process's first
        //  row, its name at the right
        for (int process = 0, row = 0; process < n_processes; process++) {
            int first_row = -1;
            for (int index = 0; index < n_events; index++)
                if ((int) events [index].record.process == process
                &&  (first_row < 0 || events [index].row < first_row))
                    first_row = events [index].row;
            if (first_row < 0)
                continue;
            if (row++ > 0)
                fprintf (chart, "set arrow from graph 0, first %.1f to graph 1, first %.1f "
                         "nohead dt 2 lc rgb '#888888'\n", first_row - 0.5, first_row - 0.5);
            fprintf (chart, "set label ");
            char label [300];
            snprintf (label, sizeof label, "process %s",
                      deploy->topology->processes [process].name);
            s_gnuplot_string (chart, label);
            fprintf (chart, " at graph 0.995, first %.2f right font ',8' tc rgb '#555555'\n",
                     first_row - 0.3);
        }
        //  One request: compute in one colour; several: a colour each
        fprintf (chart, "set key outside bottom\nset grid xtics\nplot ");
        s_gnuplot_string (chart, data_path);
        fprintf (chart, " using (($4==1)?$2:1/0):1:($3-$2):(0) with vectors nohead lw 6 "
                 "lc rgb '#ee9944' title 'transfer / waiting', ");
        if (inflight > 1)
            fprintf (chart, "'' using (($4==0)?$2:1/0):1:($3-$2):(0):($5+1) with vectors "
                     "nohead lw 6 lc variable title 'compute (a colour per request)'\n");
        else
            fprintf (chart, "'' using (($4==0)?$2:1/0):1:($3-$2):(0) with vectors nohead lw 6 "
                     "lc rgb '#3366aa' title 'compute'\n");
        fclose (chart);
        if (gnuplot_path) {
            FILE *kept = fopen (gnuplot_path, "w");
            if (!kept || fwrite (script, 1, script_size, kept) != script_size) {
                fprintf (stderr, "zinfer trace: cannot write %s: %s\n", gnuplot_path,
                         strerror (errno));
            }
            if (kept)
                fclose (kept);
        }
        FILE *gnuplot = popen ("gnuplot 2>&1", "w");
        int drawn = -1;
        if (gnuplot) {
            fputs (script, gnuplot);
            drawn = pclose (gnuplot);
        }
        free (script);
        if (!gnuplot_path)
            unlink (data_path);
        if (drawn != 0)
            fprintf (stderr, "zinfer trace: gnuplot could not draw %s\n", png_path);
        else
            printf ("chart written to %s\n", png_path);
    }
    rc = 0;
done:
    for (int actor = 0; wirings && actor <= deploy->n_actors; actor++)
        zi_wiring_destroy (&wirings [actor]);
    free (wirings);
    free (events);
    free (offsets);
    for (int index = 0; index < ZI_MAX_GRAPH_INPUTS; index++)
        zi_tensor_destroy (&inputs [index]);
    for (int index = 0; index < ZI_MAX_GRAPH_OUTPUTS; index++)
        zi_tensor_destroy (&outputs [index]);
    zi_client_destroy (&client);
    zi_deploy_destroy (&deploy);
    return rc;
}
