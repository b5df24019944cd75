/*  =========================================================================
    zi_cli_calibrate - `zinfer calibrate`: what a hop between two processes
    of this host costs, measured, for `zinfer split` and `zinfer plan`

    A peer process (forked) echoes every message back. For ipc and for tcp
    on 127.0.0.1, and for message sizes from 64 bytes to 4 MiB, this end
    times round trips of zi_msg_send and zi_msg_recv, the header frame and
    zero-copy data frame every actor sends, and takes half the median
    round trip as one hop. The peer sleeps in zmq_poll between pings, so a
    hop includes waking a waiting process, as a pipeline stage waiting for
    its input pays. A least-squares line through the sizes gives the cost
    model's fixed part and bandwidth (docs/placement.md), written as JSON.
    Then it measures what the runtime itself costs per actor and per
    hand-over between threads (zi_cli_calibrate_actors.c), which the cost
    model adds to a stage's compute.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_deploy.h"
#include "zi_msg.h"
#include "zi_partition.h"
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static const char *s_usage =
    "usage: zinfer calibrate [options]\n"
    "\n"
    "Measures what a hop between two processes of this host costs over ipc\n"
    "and over tcp on 127.0.0.1, for messages of 64 bytes to 4 MiB, fits the\n"
    "cost model's fixed time and bandwidth to it, measures what the runtime\n"
    "costs per actor (chains of trivial actors in topologies of one process\n"
    "against a local session), and writes them where\n"
    "`zinfer split` and `zinfer plan` look for them (docs/placement.md).\n"
    "Takes a few seconds; run it on each host, on a machine as quiet as it\n"
    "will be in use.\n"
    "\n"
    "  -o, --output FILE      where to write (default: $XDG_CONFIG_HOME/zinfer/\n"
    "                         hops.json, else ~/.config/zinfer/hops.json)\n"
    "  --pings N              round trips per size, 10 to 100000 (default 300)\n"
    "  --base-port P          ports P .. P+29 for the chains of actors (default\n"
    "                         7900)\n"
    "  -h, --help             this text\n";

#define S_TRANSPORTS 2
static const char *s_transport_names [S_TRANSPORTS] = {"ipc", "tcp"};
static const int64_t s_sizes [] = {64, 4096, 65536, 1 << 20, 4 << 20};
#define S_SIZES ((int) (sizeof s_sizes / sizeof s_sizes [0]))
#define S_PEER_IDLE_MSECS 30000     //  a peer that hears nothing this long quits
#define S_ANSWER_MSECS 5000         //  a ping unanswered this long fails the run

//  The peer's endpoints, as it reports them through a pipe: for each
//  transport, where to send pings and where to read the echoes
typedef struct {
    char send [S_TRANSPORTS][256];
    char recv [S_TRANSPORTS][256];
} s_endpoints_t;

static void *
s_socket (void *context, int type)
{
    void *socket = zmq_socket (context, type);
    assert (socket);
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    return socket;
}

//  ---------------------------------------------------------------------
//  The peer: binds, reports its endpoints, echoes until told to stop or
//  left alone. Runs in the forked child and never returns

static void
s_peer (int report, const char *ipc_dir)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    void *context = zmq_ctx_new ();
    assert (context);
    void *inputs [S_TRANSPORTS], *outputs [S_TRANSPORTS];
    s_endpoints_t endpoints;
    memset (&endpoints, 0, sizeof endpoints);
    for (int transport = 0; transport < S_TRANSPORTS; transport++) {
        inputs [transport] = s_socket (context, ZMQ_PULL);
        outputs [transport] = s_socket (context, ZMQ_PUSH);
        //  Another local user can reach a tcp port: nothing larger than
        //  the largest ping is read
        zi_msg_limit_frames (inputs [transport], s_sizes [S_SIZES - 1] + ZI_MSG_HEADER_MAX);
        char input [256], output [256];
        if (transport == 0) {
            snprintf (input, sizeof input, "ipc://%s/calibrate-%d-in", ipc_dir, (int) getpid ());
            snprintf (output, sizeof output, "ipc://%s/calibrate-%d-out", ipc_dir,
                      (int) getpid ());
        }
        else {
            snprintf (input, sizeof input, "tcp://127.0.0.1:*");
            snprintf (output, sizeof output, "tcp://127.0.0.1:*");
        }
        size_t size = sizeof endpoints.send [transport];
        if (zmq_bind (inputs [transport], input)
        ||  zmq_bind (outputs [transport], output)
        ||  zmq_getsockopt (inputs [transport], ZMQ_LAST_ENDPOINT, endpoints.send [transport],
                            &size)
        ||  (size = sizeof endpoints.recv [transport],
             zmq_getsockopt (outputs [transport], ZMQ_LAST_ENDPOINT,
                             endpoints.recv [transport], &size)))
            _exit (1);              //  the report stays short: the parent says why
    }
    if (write (report, &endpoints, sizeof endpoints) != (ssize_t) sizeof endpoints)
        _exit (1);
    close (report);
    zmq_pollitem_t items [S_TRANSPORTS];
    for (int transport = 0; transport < S_TRANSPORTS; transport++)
        items [transport] = (zmq_pollitem_t) {.socket = inputs [transport], .events = ZMQ_POLLIN};
    bool running = true;
    while (running) {
        int ready = zmq_poll (items, S_TRANSPORTS, S_PEER_IDLE_MSECS);
        if (ready <= 0)
            break;
        for (int transport = 0; transport < S_TRANSPORTS && running; transport++) {
            if (!(items [transport].revents & ZMQ_POLLIN))
                continue;
            zi_msg_header_t header;
            zi_tensor_t *tensor = NULL;
            if (zi_msg_recv (inputs [transport], &header, &tensor, NULL, false)
            ||  header.kind == ZI_MSG_ERROR) {
                running = false;        //  the stop sign, or a frame we cannot echo
                break;
            }
            if (zi_msg_send (outputs [transport], &header, tensor, NULL, false))
                running = false;
            zi_tensor_destroy (&tensor);
        }
    }
    for (int transport = 0; transport < S_TRANSPORTS; transport++) {
        zmq_close (inputs [transport]);
        zmq_close (outputs [transport]);
    }
    zmq_ctx_term (context);
    _exit (0);
}

//  ---------------------------------------------------------------------
//  The measuring end

static int
s_compare_doubles (const void *left, const void *right)
{
    double a = *(const double *) left, b = *(const double *) right;
    return (a > b) - (a < b);
}

//  One hop of size bytes over the linked sockets: half the median of
//  pings round trips, after a few unmeasured ones
static int
s_measure (void *output, void *input, int64_t size, int pings, double *usecs)
{
    int64_t dims [1] = {size / 4};
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, 1, dims);
    double *trips = calloc (pings, sizeof (double));
    assert (tensor && trips);
    memset (zi_tensor_data (tensor), 1, size);
    zi_msg_header_t header = {.kind = ZI_MSG_TENSOR, .count = 1, .dtype = ZI_F32, .ndim = 1,
                              .dims = {size / 4}};
    int warm = 5, rc = 0;
    for (int ping = -warm; ping < pings && rc == 0; ping++) {
        header.request = (uint64_t) (ping + warm);
        double start = (double) zi_clock_usecs ();
        zi_msg_header_t answer;
        zi_tensor_t *echo = NULL;
        if (zi_msg_send (output, &header, tensor, NULL, false))
            rc = zi_error ("sending a %lld-byte ping: %s", (long long) size, zmq_strerror (errno));
        else
        if (zi_msg_recv (input, &answer, &echo, NULL, false))
            rc = zi_error ("no echo of a %lld-byte ping within %d ms: %s", (long long) size,
                           S_ANSWER_MSECS, zi_error_text ());
        else
        if (answer.request != header.request || !echo || zi_tensor_nbytes (echo) != (size_t) size)
            rc = zi_error ("the echo of ping %llu is not that ping",
                           (unsigned long long) header.request);
        else
        if (ping >= 0)
            trips [ping] = (double) zi_clock_usecs () - start;
        zi_tensor_destroy (&echo);
    }
    if (rc == 0) {
        qsort (trips, pings, sizeof (double), s_compare_doubles);
        *usecs = trips [pings / 2] / 2;
    }
    free (trips);
    zi_tensor_destroy (&tensor);
    return rc;
}

//  The cost model's line through the measured hops: the smallest message
//  gives the fixed part, the rest the time per byte (least squares through
//  that point, so a noisy large size cannot make the fixed part negative)
static zi_hop_t
s_fit (const double *usecs)
{
    double fixed = usecs [0], cross = 0, square = 0;
    for (int index = 1; index < S_SIZES; index++) {
        double bytes = (double) (s_sizes [index] - s_sizes [0]);
        cross += bytes * (usecs [index] - fixed);
        square += bytes * bytes;
    }
    double per_byte = cross / square;
    //  Faster than a byte per nanosecond per gigabyte is not a measurement
    //  but noise on a flat curve: cap the bandwidth at 1e6 bytes per us
    return (zi_hop_t) {fixed, per_byte > 1e-6? 1 / per_byte: 1e6};
}

static int
s_write (const char *path, const zi_hop_t *hops, double usecs [S_TRANSPORTS][S_SIZES],
         const zi_runtime_cost_t *runtime)
{
    json_object *root = json_object_new_object ();
    char host [256] = "";
    gethostname (host, sizeof host - 1);
    json_object_object_add (root, "host", json_object_new_string (host));
    time_t now = time (NULL);
    char when [64];
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime (&now));
    json_object_object_add (root, "measured", json_object_new_string (when));
    json_object_object_add (root, "method", json_object_new_string (
        "zi_msg ping-pong with a forked peer; half the median round trip"));
    for (int transport = 0; transport < S_TRANSPORTS; transport++) {
        json_object *entry = json_object_new_object ();
        json_object_object_add (entry, "usecs", json_object_new_double (hops [transport].usecs));
        json_object_object_add (entry, "bytes_per_usec",
                                json_object_new_double (hops [transport].bytes_per_usec));
        json_object *points = json_object_new_array ();
        for (int size = 0; size < S_SIZES; size++) {
            json_object *point = json_object_new_object ();
            json_object_object_add (point, "bytes", json_object_new_int64 (s_sizes [size]));
            json_object_object_add (point, "usecs",
                                    json_object_new_double (usecs [transport][size]));
            json_object_array_add (points, point);
        }
        json_object_object_add (entry, "measured", points);
        json_object_object_add (root, s_transport_names [transport], entry);
    }
    json_object *entry = json_object_new_object ();
    json_object_object_add (entry, "actor_usecs", json_object_new_double (runtime->actor_usecs));
    json_object_object_add (entry, "thread_usecs",
                            json_object_new_double (runtime->thread_usecs));
    json_object_object_add (entry, "method", json_object_new_string (
        "chains of 2 and 66 trivial actors in one process against a local session, and of "
        "66 on two threads against one; medians of alternating rounds"));
    json_object_object_add (root, "runtime", entry);
    int rc = json_object_to_file_ext (path, root, JSON_C_TO_STRING_PRETTY);
    json_object_put (root);
    if (rc)
        return zi_error ("%s: cannot write: %s", path, strerror (errno));
    return 0;
}

//  Makes the folders above path (mode 0700: the file is this user's)
static int
s_make_parents (const char *path)
{
    char folder [1024];
    snprintf (folder, sizeof folder, "%s", path);
    for (char *slash = strchr (folder + 1, '/'); slash; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        if (mkdir (folder, 0700) && errno != EEXIST)
            return zi_error ("cannot create %s: %s", folder, strerror (errno));
        *slash = '/';
    }
    return 0;
}

//  Links this end to the running peer and measures every size on every
//  transport into usecs
static int
s_run (const s_endpoints_t *endpoints, int pings, double usecs [S_TRANSPORTS][S_SIZES])
{
    void *context = zmq_ctx_new ();
    assert (context);
    int rc = 0;
    void *outputs [S_TRANSPORTS], *inputs [S_TRANSPORTS];
    for (int transport = 0; transport < S_TRANSPORTS; transport++) {
        outputs [transport] = s_socket (context, ZMQ_PUSH);
        inputs [transport] = s_socket (context, ZMQ_PULL);
        int timeout = S_ANSWER_MSECS;
        zmq_setsockopt (inputs [transport], ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt (outputs [transport], ZMQ_SNDTIMEO, &timeout, sizeof timeout);
        zi_msg_limit_frames (inputs [transport], s_sizes [S_SIZES - 1] + ZI_MSG_HEADER_MAX);
        if (rc == 0
        &&  (zmq_connect (outputs [transport], endpoints->send [transport])
          || zmq_connect (inputs [transport], endpoints->recv [transport])))
            rc = zi_error ("cannot reach the peer at %s: %s", endpoints->send [transport],
                           zmq_strerror (errno));
    }
    for (int transport = 0; transport < S_TRANSPORTS && rc == 0; transport++)
        for (int size = 0; size < S_SIZES && rc == 0; size++)
            rc = s_measure (outputs [transport], inputs [transport], s_sizes [size], pings,
                            &usecs [transport][size]);
    //  The stop sign, on each transport: the peer quits at the first
    for (int transport = 0; transport < S_TRANSPORTS; transport++) {
        zi_msg_send_error (outputs [transport], 0, "calibration done", false);
        zmq_close (outputs [transport]);
        zmq_close (inputs [transport]);
    }
    zmq_ctx_term (context);
    return rc;
}

static const char *
s_size_text (int64_t bytes, char *buffer, size_t size)
{
    if (bytes >= 1 << 20)
        snprintf (buffer, size, "%lld MiB", (long long) (bytes >> 20));
    else
    if (bytes >= 1024)
        snprintf (buffer, size, "%lld KiB", (long long) (bytes >> 10));
    else
        snprintf (buffer, size, "%lld B", (long long) bytes);
    return buffer;
}

int
zi_cli_calibrate (int argc, char **argv)
{
    const char *output_path = NULL, *short_output = NULL;
    long pings = 300, base_port = 7900;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("-o", &short_output),
        ZI_CLI_TEXT ("--output", &output_path),
        ZI_CLI_INT ("--pings", &pings, 10, 100000),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535 - 30),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("calibrate", s_usage, argc, argv, table, NULL, 0);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (short_output && output_path)
        return zi_cli_fail ("calibrate", "-o and --output both given; expected one");
    char default_path [1024];
    zi_cli_calibration_path (default_path, sizeof default_path);
    output_path = output_path? output_path: short_output? short_output: default_path;

    //  Where the result goes must exist before seconds are spent measuring
    if (s_make_parents (output_path))
        return zi_cli_fail ("calibrate", "%s", zi_error_text ());

    //  The peer's ipc endpoints go in this user's private runtime folder
    char runtime [128];
    zi_deploy_runtime_dir (runtime, sizeof runtime);
    if (zi_deploy_make_private_dir (runtime))
        return zi_cli_fail ("calibrate", "%s", zi_error_text ());
    int report [2];
    if (pipe (report))
        return zi_cli_fail ("calibrate", "pipe: %s", strerror (errno));
    fflush (NULL);
    pid_t peer = fork ();
    if (peer < 0)
        return zi_cli_fail ("calibrate", "fork: %s", strerror (errno));
    if (peer == 0) {
        close (report [0]);
        s_peer (report [1], runtime);
    }
    close (report [1]);
    s_endpoints_t endpoints;
    struct pollfd wait_report = {.fd = report [0], .events = POLLIN};
    bool reported = poll (&wait_report, 1, S_ANSWER_MSECS) == 1
                 && read (report [0], &endpoints, sizeof endpoints) == (ssize_t) sizeof endpoints;
    close (report [0]);
    int rc = ZI_EXIT_FAILURE;
    double usecs [S_TRANSPORTS][S_SIZES];
    zi_hop_t hops [S_TRANSPORTS];
    zi_runtime_cost_t cost = {0, 0};
    bool measured = false;
    if (!reported)
        zi_cli_fail ("calibrate", "the peer process could not bind its sockets (ipc in %s, "
                     "tcp on 127.0.0.1)", runtime);
    else
    if (s_run (&endpoints, (int) pings, usecs))
        zi_cli_fail ("calibrate", "%s", zi_error_text ());
    else {
        printf ("zinfer calibrate: one hop between two processes of this host "
                "(half the median of %ld round trips)\n\n  %-9s", pings, "transport");
        char text [32];
        for (int size = 0; size < S_SIZES; size++)
            printf ("%11s", s_size_text (s_sizes [size], text, sizeof text));
        printf ("%12s%16s\n", "fixed", "bandwidth");
        for (int transport = 0; transport < S_TRANSPORTS; transport++) {
            hops [transport] = s_fit (usecs [transport]);
            printf ("  %-9s", s_transport_names [transport]);
            for (int size = 0; size < S_SIZES; size++)
                printf ("%8.1f us", usecs [transport][size]);
            printf ("%9.1f us%10.0f MB/s\n", hops [transport].usecs,
                    hops [transport].bytes_per_usec);
        }
        fflush (stdout);
        //  The peer has quit at the stop sign: the chains of actors have
        //  the cores to themselves
        waitpid (peer, NULL, 0);
        peer = 0;
        if (zi_cli_calibrate_actors ((int) base_port, (int) (pings < 200? pings: 200), &cost))
            zi_cli_fail ("calibrate", "%s", zi_error_text ());
        else {
            printf ("\nthe runtime's own work (chains of trivial actors against a local "
                    "session)\n  %.2f us per actor a request passes, %.2f us per hand-over "
                    "between threads of a process\n", cost.actor_usecs, cost.thread_usecs);
            measured = true;
        }
    }
    if (measured) {
        if (s_write (output_path, hops, usecs, &cost))
            zi_cli_fail ("calibrate", "%s", zi_error_text ());
        else {
            printf ("\nwrote %s: zinfer split and plan price hops and actors with it%s\n",
                    output_path, strcmp (output_path, default_path) == 0? ""
                    : " when given --calibration");
            rc = 0;
        }
    }
    if (!reported)
        kill (peer, SIGKILL);
    if (peer > 0)
        waitpid (peer, NULL, 0);
    return rc;
}
