/*  =========================================================================
    zi_cli_top - `zinfer top` and `zinfer inspect`: look inside a running
    topology through the monitors of its processes
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_watch.h"
#include <inttypes.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const char *s_top_usage =
    "usage: zinfer top TOPOLOGY.yaml [--once] [--json] [--sort KEY] [--interval S]\n"
    "                  [--base-port P] [--key FILE]\n"
    "\n"
    "A live view of every actor of every process, refreshed every second:\n"
    "requests, queue depth, busy %, compute and wait latency, errors. The\n"
    "bottleneck stage is the one with the highest busy % or the longest queue.\n"
    "On a terminal it fits the window: process lines, then as many actors as\n"
    "fit, the first by the sort. Keys: b busy, d queue depth, l latency,\n"
    "r requests, n name, o order; p shows one process after another, then\n"
    "all; q (or Ctrl-C) quits.\n"
    "\n"
    "  --once          print one snapshot as a table and exit (for scripts)\n"
    "  --json          print one snapshot as JSON and exit\n"
    "  --sort KEY      busy (default), latency, queue, requests, name or order\n"
    "  --interval S    seconds between refreshes (default 1)\n"
    "  --timeout MS    how long to wait for each process's answer (default 800)\n"
    "  --base-port P   the topology was started with --base-port P\n"
    "  --key FILE      client secret key file, when the topology uses CURVE\n"
    "                  (default: the ZINFER_KEY environment variable)\n";

static const char *s_inspect_usage =
    "usage: zinfer inspect TOPOLOGY.yaml ACTOR [--tap FILE.npy] [--timeout MS]\n"
    "                      [--base-port P] [--key FILE]\n"
    "\n"
    "Everything the monitor knows about one actor. With --tap, waits for the\n"
    "next request to pass the actor and saves a copy of its output tensor\n"
    "(the data path is not changed), then prints shape, min, max, mean, std\n"
    "and NaN / Inf counts.\n";

//  One actor's row, joined from its process's stats
typedef struct {
    const msgpack_object *stats;    //  the actor's map in the reply
    int process;                    //  which process
    int index;                      //  deployment index
    double queue;                   //  messages sent to it minus received
    double busy;                    //  percent over the interval
    double compute_p50, compute_p99, wait_p50;
} s_row_t;

typedef struct {
    zi_deploy_t *deploy;
    zi_watch_t *watch;
    zi_watch_reply_t *now;          //  this snapshot, per process
    zi_watch_reply_t *before;       //  the previous one, or NULL
    s_row_t *rows;
    int n_rows;
    double seconds;                 //  between the snapshots
} s_view_t;

//  A process's CPU use in percent of one core, for key ("cpu_usecs": its
//  worker threads; "process_cpu_usecs": all of it): over the interval
//  when there is a previous snapshot, else since it started
static double
s_cpu_percent (const s_view_t *view, int process, const char *key)
{
    const msgpack_object *stats = &view->now [process].reply.data;
    double now = zi_watch_number (stats, key);
    if (view->before && view->before [process].answered && view->seconds > 0)
        return (now - zi_watch_number (&view->before [process].reply.data, key))
               / (view->seconds * 1e4);
    double uptime = zi_watch_number (stats, "uptime_usecs");
    return uptime > 0? 100.0 * now / uptime: 0;
}

static double
s_window (const msgpack_object *map, const char *key, int which)
{
    const msgpack_object *window = zi_watch_get (map, key);
    if (!window || window->type != MSGPACK_OBJECT_ARRAY || window->via.array.size < 3)
        return 0;
    const msgpack_object *value = &window->via.array.ptr [which];
    return value->type == MSGPACK_OBJECT_FLOAT64 || value->type == MSGPACK_OBJECT_FLOAT32?
           value->via.f64: (double) value->via.u64;
}

//  The same actor's stats in the previous snapshot
static const msgpack_object *
s_previous (s_view_t *view, int process, int index)
{
    if (!view->before || !view->before [process].answered)
        return NULL;
    const msgpack_object *actors = zi_watch_get (&view->before [process].reply.data, "actors");
    if (!actors || actors->type != MSGPACK_OBJECT_ARRAY)
        return NULL;
    for (uint32_t item = 0; item < actors->via.array.size; item++)
        if ((int) zi_watch_number (&actors->via.array.ptr [item], "index") == index)
            return &actors->via.array.ptr [item];
    return NULL;
}

//  Adds up what every sender sent to each actor (for queue depths)
static void
s_add_sent (double *sent_to, int n_actors, const msgpack_object *sent)
{
    if (!sent || sent->type != MSGPACK_OBJECT_ARRAY)
        return;
    for (uint32_t item = 0; item < sent->via.array.size; item++) {
        const msgpack_object *pair = &sent->via.array.ptr [item];
        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2)
            continue;
        int64_t actor = pair->via.array.ptr [0].type == MSGPACK_OBJECT_POSITIVE_INTEGER?
                        (int64_t) pair->via.array.ptr [0].via.u64: -1;
        if (actor >= 0 && actor < n_actors)
            sent_to [actor] += (double) pair->via.array.ptr [1].via.u64;
    }
}

static void
s_build_rows (s_view_t *view)
{
    zi_deploy_t *deploy = view->deploy;
    int n_processes = deploy->topology->n_processes;
    double *sent_to = calloc (deploy->n_actors + 1, sizeof (double));
    free (view->rows);
    view->rows = calloc (deploy->n_actors + 1, sizeof (s_row_t));
    view->n_rows = 0;
    assert (sent_to && view->rows);
    for (int process = 0; process < n_processes; process++) {
        if (!view->now [process].answered)
            continue;
        const msgpack_object *reply = &view->now [process].reply.data;
        const msgpack_object *gateway = zi_watch_get (reply, "gateway");
        if (gateway && gateway->type == MSGPACK_OBJECT_MAP)
            s_add_sent (sent_to, deploy->n_actors, zi_watch_get (gateway, "sent"));
        const msgpack_object *actors = zi_watch_get (reply, "actors");
        if (!actors || actors->type != MSGPACK_OBJECT_ARRAY)
            continue;
        for (uint32_t item = 0; item < actors->via.array.size; item++) {
            const msgpack_object *actor = &actors->via.array.ptr [item];
            s_add_sent (sent_to, deploy->n_actors, zi_watch_get (actor, "sent"));
            int index = (int) zi_watch_number (actor, "index");
            if (index < 0 || index >= deploy->n_actors)
                continue;
            s_row_t *row = &view->rows [view->n_rows++];
            row->stats = actor;
            row->process = process;
            row->index = index;
            const msgpack_object *previous = s_previous (view, process, index);
            double busy = zi_watch_number (actor, "busy_usecs");
            if (previous && view->seconds > 0)
                row->busy = (busy - zi_watch_number (previous, "busy_usecs")) / (view->seconds * 1e4);
            else {
                double uptime = zi_watch_number (reply, "uptime_usecs");
                row->busy = uptime > 0? 100.0 * busy / uptime: 0;
            }
            row->compute_p50 = s_window (actor, "compute_usecs", 0) / 1000.0;
            row->compute_p99 = s_window (actor, "compute_usecs", 2) / 1000.0;
            row->wait_p50 = s_window (actor, "wait_usecs", 0) / 1000.0;
        }
    }
    for (int item = 0; item < view->n_rows; item++) {
        s_row_t *row = &view->rows [item];
        double queue = sent_to [row->index] - zi_watch_number (row->stats, "received");
        row->queue = queue < 0? 0: queue;
    }
    free (sent_to);
}

static const char *s_sort_key = "busy";

static int
s_compare_rows (const void *a, const void *b)
{
    const s_row_t *x = a, *y = b;
    double left, right;
    if (strcmp (s_sort_key, "latency") == 0)
        left = x->compute_p50, right = y->compute_p50;
    else
    if (strcmp (s_sort_key, "queue") == 0)
        left = x->queue, right = y->queue;
    else
    if (strcmp (s_sort_key, "requests") == 0)
        left = zi_watch_number (x->stats, "requests"), right = zi_watch_number (y->stats, "requests");
    else
    if (strcmp (s_sort_key, "order") == 0)
        return x->index - y->index;
    else
    if (strcmp (s_sort_key, "name") == 0) {
        char left_name [256], right_name [256];
        int order = strcmp (zi_watch_string (x->stats, "name", left_name, sizeof left_name),
                            zi_watch_string (y->stats, "name", right_name, sizeof right_name));
        return order? order: x->index - y->index;
    }
    else
        left = x->busy, right = y->busy;
    if (left != right)
        return left > right? -1: 1;
    return x->index - y->index;
}

//  The table: process lines (only `only`'s when it is >= 0, at most
//  max_processes of them), then the actors sorted, of `only` if >= 0
static void
s_print_table (s_view_t *view, FILE *out, int only, int max_processes)
{
    zi_deploy_t *deploy = view->deploy;
    zi_topology_t *topology = deploy->topology;
    char text [256];
    fprintf (out, "zinfer top: topology '%s', %d processes, %d actors\n", topology->name,
             topology->n_processes, deploy->n_actors);
    int shown = 0;
    for (int process = 0; process < topology->n_processes; process++) {
        if (only >= 0 && process != only)
            continue;
        if (shown++ == max_processes) {
            fprintf (out, "  ... %d more processes (p shows one at a time)\n",
                     topology->n_processes - max_processes);
            break;
        }
        zi_watch_reply_t *reply = &view->now [process];
        if (!reply->answered) {
            char endpoint [256];
            zi_deploy_monitor_endpoint (deploy, process, endpoint, sizeof endpoint);
            fprintf (out, "  process %-14s NOT ANSWERING (%s)\n", topology->processes [process].name,
                     endpoint);
            continue;
        }
        const msgpack_object *stats = &reply->reply.data;
        double rate = 0;
        if (view->before && view->before [process].answered && view->seconds > 0) {
            double messages = 0, earlier = 0;
            for (int item = 0; item < view->n_rows; item++)
                if (view->rows [item].process == process) {
                    messages += zi_watch_number (view->rows [item].stats, "messages_in");
                    const msgpack_object *previous = s_previous (view, process, view->rows [item].index);
                    earlier += previous? zi_watch_number (previous, "messages_in"): 0;
                }
            rate = (messages - earlier) / view->seconds;
        }
        fprintf (out, "  process %-14s pid %-7.0f up %7.1f s  threads %.0f  rss %6.1f MiB  %8.1f msg/s"
                 "  cpu %5.1f%% (threads) %5.1f%% (all)",
                 zi_watch_string (stats, "process", text, sizeof text),
                 zi_watch_number (stats, "pid"), zi_watch_number (stats, "uptime_usecs") / 1e6,
                 zi_watch_number (stats, "threads"), zi_watch_number (stats, "rss_bytes") / 1048576.0,
                 rate, s_cpu_percent (view, process, "cpu_usecs"),
                 s_cpu_percent (view, process, "process_cpu_usecs"));
        const msgpack_object *gateway = zi_watch_get (stats, "gateway");
        if (gateway && gateway->type == MSGPACK_OBJECT_MAP)
            fprintf (out, "  gateway: %.0f requests, %.0f in flight, %.0f rejected",
                     zi_watch_number (gateway, "requests"), zi_watch_number (gateway, "inflight"),
                     zi_watch_number (gateway, "rejected"));
        fprintf (out, "\n");
    }
    qsort (view->rows, view->n_rows, sizeof (s_row_t), s_compare_rows);
    int width = 5;
    for (int item = 0; item < view->n_rows; item++) {
        int length = (int) strlen (zi_watch_string (view->rows [item].stats, "name", text, sizeof text));
        if (length > width)
            width = length > 60? 60: length;
    }
    fprintf (out, "\n%-*s %-18s %-10s %3s %9s %9s %6s %5s %6s %9s %9s %9s %6s %6s\n", width,
             "ACTOR", "OP", "PROCESS", "THR", "IN", "OUT", "QUEUE", "JOINS", "BUSY%",
             "COMP p50", "COMP p99", "WAIT p50", "REJ", "ERR");
    for (int item = 0; item < view->n_rows; item++) {
        s_row_t *row = &view->rows [item];
        if (only >= 0 && row->process != only)
            continue;
        char name [256], op [64];
        fprintf (out, "%-*.*s %-18.18s %-10.10s %3.0f %9.0f %9.0f %6.0f %5.0f %6.1f %9.3f %9.3f %9.3f %6.0f %6.0f\n",
                 width, width, zi_watch_string (row->stats, "name", name, sizeof name),
                 zi_watch_string (row->stats, "op", op, sizeof op),
                 topology->processes [row->process].name, zi_watch_number (row->stats, "thread"),
                 zi_watch_number (row->stats, "messages_in"), zi_watch_number (row->stats, "messages_out"),
                 row->queue, zi_watch_number (row->stats, "joins_pending"), row->busy,
                 row->compute_p50, row->compute_p99, row->wait_p50,
                 zi_watch_number (row->stats, "rejected"), zi_watch_number (row->stats, "errors"));
    }
}

static void
s_print_json (s_view_t *view, FILE *out)
{
    zi_topology_t *topology = view->deploy->topology;
    char text [512];
    fprintf (out, "{\"topology\": ");
    zi_cli_json_string (out, topology->name);
    fprintf (out, ", \"processes\": [");
    for (int process = 0; process < topology->n_processes; process++) {
        zi_watch_reply_t *reply = &view->now [process];
        fprintf (out, "%s\n  {\"name\": ", process? ",": "");
        zi_cli_json_string (out, topology->processes [process].name);
        char endpoint [256];
        zi_deploy_monitor_endpoint (view->deploy, process, endpoint, sizeof endpoint);
        fprintf (out, ", \"monitor\": ");
        zi_cli_json_string (out, endpoint);
        fprintf (out, ", \"answered\": %s", reply->answered? "true": "false");
        if (reply->answered) {
            const msgpack_object *stats = &reply->reply.data;
            fprintf (out, ", \"pid\": %.0f, \"uptime_usecs\": %.0f, \"threads\": %.0f, "
                     "\"rss_bytes\": %.0f, \"cpu_usecs\": %.0f, \"process_cpu_usecs\": %.0f",
                     zi_watch_number (stats, "pid"), zi_watch_number (stats, "uptime_usecs"),
                     zi_watch_number (stats, "threads"), zi_watch_number (stats, "rss_bytes"),
                     zi_watch_number (stats, "cpu_usecs"),
                     zi_watch_number (stats, "process_cpu_usecs"));
            const msgpack_object *gateway = zi_watch_get (stats, "gateway");
            if (gateway && gateway->type == MSGPACK_OBJECT_MAP) {
                //  Every counter the gateway reports, whatever it adds later
                fprintf (out, ", \"gateway\": {");
                int printed = 0;
                for (uint32_t entry = 0; entry < gateway->via.map.size; entry++) {
                    const msgpack_object_kv *pair = &gateway->via.map.ptr [entry];
                    if (pair->key.type != MSGPACK_OBJECT_STR
                    ||  pair->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                        continue;
                    snprintf (text, sizeof text, "%.*s", (int) pair->key.via.str.size,
                              pair->key.via.str.ptr);
                    fprintf (out, "%s", printed++? ", ": "");
                    zi_cli_json_string (out, text);
                    fprintf (out, ": %" PRIu64, pair->val.via.u64);
                }
                fprintf (out, "}");
            }
            const msgpack_object *security = zi_watch_get (stats, "security");
            if (security && security->type == MSGPACK_OBJECT_MAP) {
                fprintf (out, ", \"security\": {\"curve\": %s, \"accepted\": %.0f, "
                         "\"refused\": %.0f, \"last_refusal\": ",
                         topology->curve? "true": "false", zi_watch_number (security, "accepted"),
                         zi_watch_number (security, "refused"));
                zi_cli_json_string (out, zi_watch_string (security, "last_refusal", text, sizeof text));
                fprintf (out, "}");
            }
        }
        fprintf (out, "}");
    }
    fprintf (out, "\n], \"actors\": [");
    static const char *counters [] = {"messages_in", "messages_out", "bytes_in", "bytes_out",
        "requests", "rejected", "stale_joins", "errors", "busy_usecs", "joins_pending", "thread",
        "replica", "index"};
    for (int item = 0; item < view->n_rows; item++) {
        s_row_t *row = &view->rows [item];
        fprintf (out, "%s\n  {\"name\": ", item? ",": "");
        zi_cli_json_string (out, zi_watch_string (row->stats, "name", text, sizeof text));
        fprintf (out, ", \"op\": ");
        zi_cli_json_string (out, zi_watch_string (row->stats, "op", text, sizeof text));
        fprintf (out, ", \"process\": ");
        zi_cli_json_string (out, topology->processes [row->process].name);
        for (size_t counter = 0; counter < sizeof counters / sizeof counters [0]; counter++)
            fprintf (out, ", \"%s\": %.0f", counters [counter],
                     zi_watch_number (row->stats, counters [counter]));
        fprintf (out, ", \"queue\": %.0f, \"busy_percent\": %.2f, \"compute_p50_ms\": %.4f, "
                 "\"compute_p95_ms\": %.4f, \"compute_p99_ms\": %.4f, \"wait_p50_ms\": %.4f, "
                 "\"wait_p99_ms\": %.4f, \"last_error\": ", row->queue, row->busy,
                 row->compute_p50, s_window (row->stats, "compute_usecs", 1) / 1000.0,
                 row->compute_p99, row->wait_p50, s_window (row->stats, "wait_usecs", 2) / 1000.0);
        zi_cli_json_string (out, zi_watch_string (row->stats, "last_error", text, sizeof text));
        const msgpack_object *endpoints = zi_watch_get (row->stats, "endpoints");
        fprintf (out, ", \"endpoints\": [");
        for (uint32_t item = 0; endpoints && endpoints->type == MSGPACK_OBJECT_ARRAY
                                && item < endpoints->via.array.size; item++) {
            const msgpack_object *value = &endpoints->via.array.ptr [item];
            snprintf (text, sizeof text, "%.*s", (int) value->via.str.size, value->via.str.ptr);
            fprintf (out, "%s", item? ", ": "");
            zi_cli_json_string (out, text);
        }
        fprintf (out, "]");
        const msgpack_object *shape = zi_watch_get (row->stats, "shape");
        fprintf (out, ", \"shape\": [");
        for (uint32_t axis = 0; shape && shape->type == MSGPACK_OBJECT_ARRAY
                                && axis < shape->via.array.size; axis++)
            fprintf (out, "%s%lld", axis? ", ": "", (long long) shape->via.array.ptr [axis].via.i64);
        fprintf (out, "]}");
    }
    fprintf (out, "\n]}\n");
}

//  The live view on a terminal: keys read one at a time without echo,
//  the table cut to the window, the terminal restored however top ends
typedef struct {
    bool on;                    //  stdin and stdout are a terminal
    struct termios saved;       //  the terminal's settings before
    int only;                   //  the process shown, -1: all
    bool quit;                  //  q or a stop signal
} s_live_t;

//  A resized window: the handler only sets the flag and wakes the wait
//  loop through a pipe (a write is safe in a handler, drawing is not);
//  the loop redraws at once, rather than at the next second's tick
static volatile sig_atomic_t s_resized;
static int s_resize_pipe [2] = {-1, -1};

static void
s_on_resize (int signal_number)
{
    (void) signal_number;
    int saved = errno;
    s_resized = 1;
    ssize_t written = write (s_resize_pipe [1], "w", 1);
    (void) written;             //  a full pipe has woken the loop already
    errno = saved;
}

//  The pipe's ends do not block: the handler must never wait on a full
//  one, and the loop empties it without knowing how many bytes it holds
static void
s_resize_install (void)
{
    if (s_resize_pipe [0] >= 0 || pipe (s_resize_pipe))
        return;
    for (int end = 0; end < 2; end++)
        fcntl (s_resize_pipe [end], F_SETFL, fcntl (s_resize_pipe [end], F_GETFL) | O_NONBLOCK);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_resize;
    sigemptyset (&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction (SIGWINCH, &action, NULL);
}

static void
s_live_start (s_live_t *self)
{
    if (tcgetattr (STDIN_FILENO, &self->saved) || zi_signals_install ())
        return;
    s_resize_install ();
    struct termios raw = self->saved;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_cc [VMIN] = 0;
    raw.c_cc [VTIME] = 0;
    if (tcsetattr (STDIN_FILENO, TCSANOW, &raw))
        return;
    self->on = true;
    printf ("\033[?25l");              //  no cursor blinking over the table
}

static void
s_live_end (s_live_t *self)
{
    if (!self->on)
        return;
    tcsetattr (STDIN_FILENO, TCSANOW, &self->saved);
    printf ("\033[?25h\n");
    fflush (stdout);
    self->on = false;
}

//  Rows and columns of the window; 24 x 80 when it does not say
static void
s_window_size (int *rows, int *cols)
{
    struct winsize size;
    *rows = 24;
    *cols = 80;
    if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
        *rows = size.ws_row;
        *cols = size.ws_col;
    }
}

//  Draws the table cut to the window: at most rows - 1 lines of at most
//  cols characters, then the keys on the last line, which ends without a
//  newline so that the screen never scrolls
static void
s_live_show (s_live_t *self, s_view_t *view)
{
    int rows, cols;
    s_window_size (&rows, &cols);
    char *text = NULL;
    size_t size = 0;
    FILE *table = open_memstream (&text, &size);
    assert (table);
    //  Process lines take at most a third of the window; actors the rest
    int max_processes = rows / 3 > 1? rows / 3: 1;
    s_print_table (view, table, self->only, max_processes);
    fclose (table);
    printf ("\033[H\033[2J");
    int line = 0;
    for (char *start = text; *start && line < rows - 1; line++) {
        char *end = strchr (start, '\n');
        size_t length = end? (size_t) (end - start): strlen (start);
        printf ("%.*s\n", (int) (length < (size_t) cols? length: (size_t) cols), start);
        start = end? end + 1: start + length;
    }
    free (text);
    char footer [512];
    snprintf (footer, sizeof footer, "sort %s, process %s | q quit, p process | b busy d queue "
              "l latency r requests n name o order", s_sort_key,
              self->only >= 0? view->deploy->topology->processes [self->only].name: "all");
    printf ("%.*s", cols, footer);
    fflush (stdout);
}

//  Waits up to msecs for keys, acting on each; true once top should end.
//  A key that changes the view, or a resized window, redraws it at once
//  from the same snapshot
static bool
s_live_wait (s_live_t *self, s_view_t *view, int64_t msecs)
{
    int64_t deadline = zi_clock_usecs () + (msecs > 0? msecs: 0) * 1000;
    while (true) {
        if (zi_signals_wait (0))
            return true;
        if (s_resized) {
            s_resized = 0;
            s_live_show (self, view);
        }
        int64_t left = (deadline - zi_clock_usecs ()) / 1000;
        if (left <= 0)
            return false;
        //  Stop signals come through their own pipe, looked at every 50 ms
        struct pollfd items [2] = {{STDIN_FILENO, POLLIN, 0}, {s_resize_pipe [0], POLLIN, 0}};
        int n_items = s_resize_pipe [0] >= 0? 2: 1;
        if (poll (items, n_items, (int) (left < 50? left: 50)) <= 0)
            continue;
        if (n_items == 2 && (items [1].revents & POLLIN)) {
            char drained [64];
            while (read (s_resize_pipe [0], drained, sizeof drained) > 0)
                ;
        }
        //  A hung-up terminal reads as its end below
        if (!(items [0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char key;
        if (read (STDIN_FILENO, &key, 1) != 1)
            return true;            //  the terminal is gone
        const char *sort = key == 'b'? "busy": key == 'd'? "queue": key == 'l'? "latency":
                           key == 'r'? "requests": key == 'n'? "name": key == 'o'? "order": NULL;
        if (key == 'q' || key == 'Q')
            return true;
        if (sort)
            s_sort_key = sort;
        else
        if (key == 'p') {
            int n_processes = view->deploy->topology->n_processes;
            self->only = self->only + 1 < n_processes? self->only + 1: -1;
        }
        else
            continue;
        s_live_show (self, view);
    }
}

int
zi_cli_top (int argc, char **argv)
{
    const char *path = NULL, *key_path = NULL;
    long base_port = 0, interval = 1, timeout = 800;
    bool once = false, json = false;
    const char *sort = NULL;
    const zi_opt_t table [] = {
        ZI_CLI_FLAG ("--once", &once),
        ZI_CLI_FLAG ("--json", &json),
        ZI_CLI_TEXT ("--sort", &sort),
        ZI_CLI_TEXT ("--key", &key_path),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_INT ("--interval", &interval, 1, 3600),
        ZI_CLI_INT ("--timeout", &timeout, 1, 60000),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("top", s_top_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (sort) {
        if (strcmp (sort, "busy") && strcmp (sort, "latency") && strcmp (sort, "queue")
        &&  strcmp (sort, "requests") && strcmp (sort, "name") && strcmp (sort, "order"))
            return zi_cli_fail ("top", "--sort expects busy, latency, queue, requests, name "
                                "or order, got '%s'", sort);
        s_sort_key = sort;
    }
    zi_deploy_t *deploy = zi_cli_deploy ("top", path, base_port, key_path);
    if (!deploy)
        return ZI_EXIT_USAGE;
    if (zi_cli_check_running ("top", deploy)) {
        zi_deploy_destroy (&deploy);
        return ZI_EXIT_FAILURE;
    }
    int n_processes = deploy->topology->n_processes;
    s_view_t view = {.deploy = deploy, .watch = zi_watch_new (deploy)};
    s_live_t live = {.only = -1};
    if (!once && !json && isatty (STDIN_FILENO) && isatty (STDOUT_FILENO))
        s_live_start (&live);
    zi_watch_reply_t *snapshots [2];
    snapshots [0] = calloc (n_processes, sizeof (zi_watch_reply_t));
    snapshots [1] = calloc (n_processes, sizeof (zi_watch_reply_t));
    int current = 0, rc = 0;
    int64_t previous_time = 0;
    while (true) {
        int64_t now = zi_clock_usecs ();
        zi_watch_query (view.watch, -1, "STATS", NULL, -1, (int) timeout, snapshots [current]);
        view.now = snapshots [current];
        view.seconds = previous_time? (now - previous_time) / 1e6: 0;
        s_build_rows (&view);
        int answered = 0;
        for (int process = 0; process < n_processes; process++)
            answered += view.now [process].answered;
        if (once || json) {
            if (json)
                s_print_json (&view, stdout);
            else
                s_print_table (&view, stdout, -1, INT_MAX);
            rc = answered == n_processes? 0: ZI_EXIT_FAILURE;
            break;
        }
        if (live.on) {
            s_live_show (&live, &view);
            bool stop = s_live_wait (&live, &view,
                                     interval * 1000 - (zi_clock_usecs () - now) / 1000);
            previous_time = now;
            current = 1 - current;
            view.before = snapshots [1 - current];
            zi_watch_replies_clear (view.watch, snapshots [current]);
            if (stop)
                break;
            continue;
        }
        //  Not a terminal: clear, home, redraw it all
        printf ("\033[H\033[2J");
        s_print_table (&view, stdout, -1, INT_MAX);
        printf ("\n(refresh every %ld s, sorted by %s; Ctrl-C to quit)\n", interval, s_sort_key);
        fflush (stdout);
        previous_time = now;
        current = 1 - current;
        view.before = snapshots [1 - current];
        zi_watch_replies_clear (view.watch, snapshots [current]);
        usleep ((useconds_t) (interval * 1000000 - (zi_clock_usecs () - now) % 1000000));
    }
    s_live_end (&live);
    zi_watch_replies_clear (view.watch, snapshots [0]);
    zi_watch_replies_clear (view.watch, snapshots [1]);
    free (snapshots [0]);
    free (snapshots [1]);
    free (view.rows);
    zi_watch_destroy (&view.watch);
    zi_deploy_destroy (&deploy);
    return rc;
}

//  Shape, range and health of a tapped tensor
static void
s_summary (const char *actor, const zi_tensor_t *tensor)
{
    char shape [128];
    zi_shape_str (tensor->ndim, tensor->dims, shape, sizeof shape);
    size_t count = zi_tensor_count (tensor);
    if (tensor->dtype != ZI_F32 || count == 0) {
        printf ("tap '%s': %s %s\n", actor, zi_dtype_name (tensor->dtype), shape);
        return;
    }
    const float *data = tensor->data;
    double sum = 0, squares = 0, low = INFINITY, high = -INFINITY;
    size_t nans = 0, infs = 0, finite = 0;
    for (size_t item = 0; item < count; item++) {
        float value = data [item];
        if (isnan (value))
            nans++;
        else
        if (isinf (value))
            infs++;
        else {
            finite++;
            sum += value;
            squares += (double) value * value;
            low = value < low? value: low;
            high = value > high? value: high;
        }
    }
    double mean = finite? sum / finite: 0;
    double std = finite? sqrt (fmax (0, squares / finite - mean * mean)): 0;
    printf ("tap '%s': %s %s  min %.6g  max %.6g  mean %.6g  std %.6g  NaN %zu  Inf %zu\n",
            actor, zi_dtype_name (tensor->dtype), shape, finite? low: 0, finite? high: 0, mean,
            std, nans, infs);
}

int
zi_cli_inspect (int argc, char **argv)
{
    const char *path = NULL, *actor = NULL, *tap_path = NULL, *key_path = NULL;
    long base_port = 0, timeout = 10000;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("--tap", &tap_path),
        ZI_CLI_TEXT ("--key", &key_path),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_INT ("--timeout", &timeout, 1, 600000),
        ZI_CLI_END
    };
    const char *positional [2] = {NULL, NULL};
    int parsed = zi_cli_parse ("inspect", s_inspect_usage, argc, argv, table, positional, 2);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    path = positional [0];
    actor = positional [1];
    if (path && !actor)
        return zi_cli_fail ("inspect", "no actor given (usage: zinfer inspect TOPOLOGY.yaml ACTOR)");
    zi_deploy_t *deploy = zi_cli_deploy ("inspect", path, base_port, key_path);
    if (!deploy)
        return ZI_EXIT_USAGE;
    if (zi_cli_check_running ("inspect", deploy)) {
        zi_deploy_destroy (&deploy);
        return ZI_EXIT_FAILURE;
    }
    //  Which process runs it?
    int process = -1;
    char name [256];
    for (int index = 0; index < deploy->n_actors && process < 0; index++)
        if (strcmp (zi_deploy_actor_name (deploy, index, name, sizeof name), actor) == 0)
            process = deploy->actors [index].process;
    int rc = ZI_EXIT_FAILURE;
    zi_watch_t *watch = zi_watch_new (deploy);
    zi_watch_reply_t *replies = calloc (deploy->topology->n_processes, sizeof (zi_watch_reply_t));
    if (process < 0) {
        rc = zi_cli_fail ("inspect", "no actor named '%s' (actors are planned node names, "
                          "with #N for replicas; see zinfer top --once)", actor);
        goto done;
    }
    zi_watch_query (watch, process, "STATS", NULL, -1, 2000, replies);
    if (!replies [process].answered) {
        fprintf (stderr, "zinfer inspect: process '%s' does not answer\n",
                 deploy->topology->processes [process].name);
        goto done;
    }
    const msgpack_object *actors = zi_watch_get (&replies [process].reply.data, "actors");
    for (uint32_t item = 0; actors && item < actors->via.array.size; item++) {
        const msgpack_object *stats = &actors->via.array.ptr [item];
        char text [256];
        if (strcmp (zi_watch_string (stats, "name", text, sizeof text), actor))
            continue;
        printf ("actor '%s' in process '%s'\n", actor, deploy->topology->processes [process].name);
        for (uint32_t key = 0; key < stats->via.map.size; key++) {
            const msgpack_object_kv *pair = &stats->via.map.ptr [key];
            printf ("  %-16.*s ", (int) pair->key.via.str.size, pair->key.via.str.ptr);
            msgpack_object_print (stdout, pair->val);
            printf ("\n");
        }
    }
    rc = 0;
    if (tap_path) {
        zi_watch_replies_clear (watch, replies);
        zi_watch_query (watch, process, "TAP", actor, timeout, (int) timeout + 2000, replies);
        zi_watch_reply_t *reply = &replies [process];
        char kind [32], text [256];
        if (!reply->answered
        ||  strcmp (zi_watch_string (&reply->reply.data, "kind", kind, sizeof kind), "tap")) {
            fprintf (stderr, "zinfer inspect: tap failed: %s\n", reply->answered?
                     zi_watch_string (&reply->reply.data, "error", text, sizeof text):
                     "no answer");
            rc = ZI_EXIT_FAILURE;
            goto done;
        }
        const msgpack_object *shape = zi_watch_get (&reply->reply.data, "shape");
        int64_t dims [ZI_MAX_DIMS];
        int ndim = shape && shape->type == MSGPACK_OBJECT_ARRAY? (int) shape->via.array.size: -1;
        for (int axis = 0; axis < ndim && axis < ZI_MAX_DIMS; axis++)
            dims [axis] = shape->via.array.ptr [axis].via.i64;
        zi_tensor_t *tensor = ndim >= 0 && ndim <= ZI_MAX_DIMS?
            zi_tensor_new ((zi_dtype_t) zi_watch_number (&reply->reply.data, "dtype"), ndim, dims): NULL;
        if (!tensor || tensor->nbytes != reply->data_size) {
            fprintf (stderr, "zinfer inspect: the tap's data does not match its shape\n");
            zi_tensor_destroy (&tensor);
            rc = ZI_EXIT_FAILURE;
            goto done;
        }
        memcpy (tensor->data, reply->data, tensor->nbytes);
        s_summary (actor, tensor);
        if (zi_npy_save (tensor, tap_path)) {
            fprintf (stderr, "zinfer inspect: %s\n", zi_error_text ());
            rc = ZI_EXIT_FAILURE;
        }
        else
            printf ("saved to %s\n", tap_path);
        zi_tensor_destroy (&tensor);
    }
done:
    zi_watch_replies_clear (watch, replies);
    free (replies);
    zi_watch_destroy (&watch);
    zi_deploy_destroy (&deploy);
    return rc;
}
