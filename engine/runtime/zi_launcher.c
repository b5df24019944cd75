/*  =========================================================================
    zi_launcher - starts and supervises the worker processes of one host

    Workers are started with posix_spawn (cheap even from a large parent),
    report READY or FAILED on an ipc socket, and are reaped and restarted
    here: after a pause that doubles each time (capped at 5 s); one that
    dies more than S_MAX_RESTARTS times within a minute is given up on.
    Stopping sends SIGTERM, then SIGKILL after a grace period; workers
    also die with the launcher if it is killed outright (PDEATHSIG).

    A worker can also hang without dying (SIGSTOP, a deadlock, an endless
    loop in a kernel). Each one's monitor is asked PING every half second;
    one that leaves it unanswered, or reports a worker thread without
    progress, for the topology's liveness_timeout_ms gets SIGKILL and is
    restarted like any worker that died.

    Everything a run creates lies in this user's private runtime folder
    (zi_deploy_runtime_dir): the control socket, a lock that keeps a
    second launcher of the same topology and host from starting over the
    running one, and the workers' ipc sockets. Stopping removes them all.
    =========================================================================
*/

#include "zi_launcher.h"
#include "zi_metrics.h"
#include "zi_placement.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

extern char **environ;

//  Past this many actors the web view draws no placement, only its tables:
//  the placement's JSON stays under 3 MB (names are cut to 300 bytes)
#define S_VIEW_MAX_ACTORS 2000

static int64_t
s_usecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

#define S_MAX_RESTARTS 5        //  within S_RESTART_WINDOW: then give up
#define S_RESTART_WINDOW_USECS (60 * INT64_C (1000000))
#define S_GRACE_USECS (10 * INT64_C (1000000))
#define S_PING_USECS 500000     //  heartbeat period (shorter for short deadlines)
//  A worker past its deadline but busy on the CPU is given this many
//  deadlines: silent, its monitor's replies can wait behind a long transfer
//  in ZeroMQ's I/O thread (a 256 MiB tensor over tcp takes seconds);
//  answering, its slowest thread can be in one long kernel call or hashing
//  a huge request. Past them, a thread that runs without progress is
//  taken for an endless loop
#define S_BUSY_DEADLINES 12
//  The share of the stall a thread must have spent on the CPU to count as
//  busy: a thread that waits for something that never comes uses none,
//  while one in a long kernel call gets what the machine leaves it, which
//  on a loaded one can be a fifth of a core or less
#define S_BUSY_SHARE 0.05

typedef struct {
    int process;                //  topology process index
    pid_t pid;                  //  0 when not running
    bool ready;                 //  reported READY since its last start
    int restarts;               //  restarts within the window
    int64_t window_start;       //  when the window began
    int64_t restart_at;         //  when to start it again, 0: not waiting
    int64_t backoff_usecs;      //  next pause
    void *heartbeat;            //  DEALER to its monitor, once READY; NULL without
    int64_t alive_at;           //  its last sign of life: READY, or a pong without a stall
    int64_t answered_at;        //  its last pong
    int64_t next_ping;          //  when to ask again
    uint64_t stalled_msecs;     //  the stall its last pong reported
    uint64_t stalled_cpu_msecs; //  ... and the CPU its stalled thread used meanwhile
    uint64_t cpu_ticks;         //  its CPU time at the last pong (clock ticks)
    void *stats;                //  SUB to its monitor's stats, once READY; NULL without
    uint64_t restarts_total;    //  restarts since the launcher started
} s_child_t;

struct zi_launcher_t {
    zi_deploy_t *deploy;        //  the topology laid out, owned
    int host;                   //  which host this is
    char path [4096];           //  topology, absolute
    char exe [4096];            //  this program
    char control [256];         //  where workers report
    char lock_path [256];       //  held for the launcher's life: one per topology and host
    int lock_fd;                //  that file, locked; -1 when not held
    char base_port [16];        //  "" or the override
    bool no_monitor;            //  workers run without their monitor
    void *context;              //  ZeroMQ context for the control socket
    void *socket;               //  PULL: READY / FAILED reports
    int n_children;
    s_child_t *children;
    zi_launcher_progress_fn *progress;  //  told while starting, or NULL
    void *progress_arg;         //  its argument
    zi_health_t *health;        //  /metrics /healthz /readyz, when the topology asks
};

static void
s_heartbeat_close (s_child_t *child)
{
    if (child->heartbeat) {
        zmq_close (child->heartbeat);
        child->heartbeat = NULL;
    }
}

//  A process's state letter (T: stopped) and CPU time so far, from
//  /proc/PID/stat; state 0 when it cannot be read
static char
s_process_state (pid_t pid, uint64_t *cpu_ticks)
{
    char path [64], text [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    size_t size = file? fread (text, 1, sizeof text - 1, file): 0;
    if (file)
        fclose (file);
    text [size] = 0;
    //  The command name may hold spaces and parentheses: fields follow the
    //  last ')'. State is field 3; utime and stime fields 14 and 15.
    char *cursor = strrchr (text, ')');
    char state = 0;
    unsigned long long user = 0, system = 0;
    if (!cursor || sscanf (cursor + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu",
                           &state, &user, &system) != 3)
        return 0;
    *cpu_ticks = user + system;
    return state;
}

//  Starts watching a worker that reported READY: its monitor answers PING
//  from then on. A socket per start, so that no pong of a former process
//  of the same name is taken for this one's
static void
s_heartbeat_open (zi_launcher_t *self, s_child_t *child)
{
    s_heartbeat_close (child);
    if (self->no_monitor || self->deploy->topology->liveness_timeout_ms == 0)
        return;             //  nothing to ask, or nothing wanted
    char endpoint [256];
    zi_deploy_monitor_endpoint (self->deploy, child->process, endpoint, sizeof endpoint);
    child->heartbeat = zmq_socket (self->context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (child->heartbeat, ZMQ_LINGER, &linger, sizeof linger);
    if (zi_deploy_connect (self->deploy, child->heartbeat, endpoint, child->process, NULL)) {
        fprintf (stderr, "zinfer up: cannot watch process '%s' at %s: %s\n",
                 self->deploy->topology->processes [child->process].name, endpoint,
                 zi_error_text ());
        s_heartbeat_close (child);
        return;
    }
    child->alive_at = s_usecs ();
    child->answered_at = child->alive_at;
    child->next_ping = child->alive_at;
    child->stalled_msecs = 0;
    child->stalled_cpu_msecs = 0;
    s_process_state (child->pid, &child->cpu_ticks);     //  its CPU from now on
}

//  Reads a pong: {"pid": P, "stalled_msecs": S, "stalled_cpu_msecs": C,
//  ...}; false if it is none. C is 0 from a worker that does not say
static bool
s_read_pong (const void *data, size_t size, uint64_t *pid, uint64_t *stalled_msecs,
             uint64_t *stalled_cpu_msecs)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    bool found_pid = false, found_stall = false;
    if (msgpack_unpack_next (&unpacked, data, size, &offset) == MSGPACK_UNPACK_SUCCESS
    &&  unpacked.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object_map *map = &unpacked.data.via.map;
        for (uint32_t index = 0; index < map->size; index++) {
            const msgpack_object *key = &map->ptr [index].key, *value = &map->ptr [index].val;
            if (key->type != MSGPACK_OBJECT_STR || value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                continue;
            if (key->via.str.size == 3 && memcmp (key->via.str.ptr, "pid", 3) == 0) {
                *pid = value->via.u64;
                found_pid = true;
            }
            if (key->via.str.size == 13 && memcmp (key->via.str.ptr, "stalled_msecs", 13) == 0) {
                *stalled_msecs = value->via.u64;
                found_stall = true;
            }
            if (key->via.str.size == 17 && memcmp (key->via.str.ptr, "stalled_cpu_msecs", 17) == 0)
                *stalled_cpu_msecs = value->via.u64;
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    return found_pid && found_stall;
}

//  Asks each watched worker PING and kills one that is silent (stopped,
//  or its monitor thread stuck too) or whose threads make no progress
//  for the deadline; s_reap then restarts it like any worker that died
static void
s_check_liveness (zi_launcher_t *self)
{
    int64_t deadline_usecs = (int64_t) self->deploy->topology->liveness_timeout_ms * 1000;
    int64_t period = deadline_usecs / 4 < S_PING_USECS? deadline_usecs / 4: S_PING_USECS;
    int64_t now = s_usecs ();
    for (int index = 0; index < self->n_children; index++) {
        s_child_t *child = &self->children [index];
        if (!child->heartbeat || child->pid <= 0)
            continue;
        char pong [512];
        int size;
        while ((size = zmq_recv (child->heartbeat, pong, sizeof pong, ZMQ_DONTWAIT)) >= 0) {
            uint64_t pid = 0, stalled = 0, stalled_cpu = 0;
            if (size <= (int) sizeof pong && s_read_pong (pong, size, &pid, &stalled, &stalled_cpu)
            &&  pid == (uint64_t) child->pid) {
                //  Alive as of its slowest thread's last progress
                child->stalled_msecs = stalled;
                child->stalled_cpu_msecs = stalled_cpu;
                child->answered_at = now;
                s_process_state (child->pid, &child->cpu_ticks);
                int64_t progress_at = now - (int64_t) stalled * 1000;
                if (progress_at > child->alive_at)
                    child->alive_at = progress_at;
            }
        }
        if (now >= child->next_ping) {
            const char ping [] = "\x91\xa4PING";       //  msgpack ["PING"]
            zmq_send (child->heartbeat, ping, sizeof ping - 1, ZMQ_DONTWAIT);
            child->next_ping = now + period;
        }
        if (now - child->alive_at > deadline_usecs) {
            const char *name = self->deploy->topology->processes [child->process].name;
            int deadline_ms = self->deploy->topology->liveness_timeout_ms;
            //  A monitor that answered within the last two periods is not
            //  silent: its process's threads are what is stuck
            bool silent = now - child->answered_at > 2 * period;
            bool busy;
            if (silent) {
                //  Silent, but not stopped and using the CPU since its last
                //  answer (5 % of a core or more): busy, most likely in
                //  ZeroMQ's I/O thread; a stuck one (a deadlock, every
                //  thread waiting) uses none
                uint64_t cpu_ticks = child->cpu_ticks;
                char state = s_process_state (child->pid, &cpu_ticks);
                double cpu_secs = (double) (cpu_ticks - child->cpu_ticks) / sysconf (_SC_CLK_TCK);
                busy = state && state != 'T' && state != 't'
                    && cpu_secs >= S_BUSY_SHARE * (now - child->answered_at) / 1e6;
            }
            else {
                //  Answering: its slowest thread is busy if it spent a fair
                //  share of its stall on the CPU (the monitor counts from the
                //  first heartbeat after the thread's last progress)
                double measured_msecs = (double) child->stalled_msecs - period / 1000.0;
                busy = child->stalled_cpu_msecs > 0
                    && child->stalled_cpu_msecs >= S_BUSY_SHARE * measured_msecs;
            }
            bool overdue = now - child->alive_at >= S_BUSY_DEADLINES * deadline_usecs;
            if (busy && !overdue)
                continue;
            if (silent)
                fprintf (stderr, "zinfer up: process '%s' (pid %d) has not answered its "
                         "heartbeat for %.1f s (liveness_timeout_ms: %d); it is stopped or "
                         "hung: killing it to restart it\n", name, (int) child->pid,
                         (now - child->answered_at) / 1e6, deadline_ms);
            else
            if (busy)
                fprintf (stderr, "zinfer up: process '%s' (pid %d): a worker thread has run "
                         "on the CPU for %.1f s without finishing (%d x liveness_timeout_ms: "
                         "%d); it is looping: killing it to restart it\n", name,
                         (int) child->pid, (now - child->alive_at) / 1e6, S_BUSY_DEADLINES,
                         deadline_ms);
            else
                fprintf (stderr, "zinfer up: process '%s' (pid %d): a worker thread has made "
                         "no progress for %.1f s (liveness_timeout_ms: %d); it is hung: "
                         "killing it to restart it\n", name, (int) child->pid,
                         (now - child->alive_at) / 1e6, deadline_ms);
            kill (child->pid, SIGKILL);
            s_heartbeat_close (child);
        }
    }
}

//  The worker's monitor publishes its stats every second; the latest is
//  what /metrics shows. Only when the topology asks for metrics
static void
s_stats_close (zi_launcher_t *self, s_child_t *child)
{
    if (child->stats) {
        zmq_close (child->stats);
        child->stats = NULL;
    }
    if (self->health)
        zi_health_set_stats (self->health, (int) (child - self->children), NULL, 0);
}

static void
s_stats_open (zi_launcher_t *self, s_child_t *child)
{
    s_stats_close (self, child);
    if (!self->health || self->no_monitor)
        return;
    char endpoint [256];
    zi_deploy_stats_endpoint (self->deploy, child->process, endpoint, sizeof endpoint);
    child->stats = zmq_socket (self->context, ZMQ_SUB);
    int linger = 0, conflate = 1;
    int64_t largest = 64 << 20;     //  a stats map of thousands of actors fits
    zmq_setsockopt (child->stats, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (child->stats, ZMQ_CONFLATE, &conflate, sizeof conflate);
    zmq_setsockopt (child->stats, ZMQ_MAXMSGSIZE, &largest, sizeof largest);
    zmq_setsockopt (child->stats, ZMQ_SUBSCRIBE, "", 0);
    if (zi_deploy_connect (self->deploy, child->stats, endpoint, child->process, NULL)) {
        fprintf (stderr, "zinfer up: cannot read the stats of process '%s' at %s: %s\n",
                 self->deploy->topology->processes [child->process].name, endpoint,
                 zi_error_text ());
        zmq_close (child->stats);
        child->stats = NULL;
    }
}

//  Tells the HTTP server what the workers are doing now
static void
s_publish (zi_launcher_t *self)
{
    if (!self->health)
        return;
    for (int index = 0; index < self->n_children; index++) {
        s_child_t *child = &self->children [index];
        zi_health_set_process (self->health, index, (int) child->pid, child->ready,
                               child->restarts_total);
        //  Conflated: at most one waits, the latest
        zmq_msg_t latest;
        zmq_msg_init (&latest);
        if (child->stats && zmq_msg_recv (&latest, child->stats, ZMQ_DONTWAIT) >= 0)
            zi_health_set_stats (self->health, index, zmq_msg_data (&latest),
                                 zmq_msg_size (&latest));
        zmq_msg_close (&latest);
    }
}

static int
s_spawn (zi_launcher_t *self, s_child_t *child)
{
    s_heartbeat_close (child);
    s_stats_close (self, child);
    const char *name = self->deploy->topology->processes [child->process].name;
    char parent [32];
    snprintf (parent, sizeof parent, "%d", (int) getpid ());
    char *argv [16];
    int argc = 0;
    argv [argc++] = "zinfer";
    argv [argc++] = "worker";
    argv [argc++] = (char *) self->path;
    argv [argc++] = "--process";
    argv [argc++] = (char *) name;
    argv [argc++] = "--control";
    argv [argc++] = self->control;
    argv [argc++] = "--parent";
    argv [argc++] = parent;
    if (*self->base_port) {
        argv [argc++] = "--base-port";
        argv [argc++] = self->base_port;
    }
    if (self->no_monitor)
        argv [argc++] = "--no-monitor";
    argv [argc] = NULL;
    //  The child starts with default signal handling and nothing blocked
    posix_spawnattr_t attributes;
    posix_spawnattr_init (&attributes);
    sigset_t none, defaults;
    sigemptyset (&none);
    sigemptyset (&defaults);
    sigaddset (&defaults, SIGINT);
    sigaddset (&defaults, SIGTERM);
    sigaddset (&defaults, SIGCHLD);
    posix_spawnattr_setsigmask (&attributes, &none);
    posix_spawnattr_setsigdefault (&attributes, &defaults);
    posix_spawnattr_setflags (&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    //  OpenBLAS reads its thread count when it loads, before main: set it
    //  in the child's environment so that it starts no threads at all
    //  (idle ones spin for a while after each call, taking the other core
    //  from the actors and ZeroMQ)
    int n_environ = 0;
    while (environ [n_environ])
        n_environ++;
    char **envp = calloc (n_environ + 2, sizeof (char *));
    assert (envp);
    int n_envp = 0;
    for (int index = 0; index < n_environ; index++)
        if (strncmp (environ [index], "OPENBLAS_NUM_THREADS=", 21) != 0)
            envp [n_envp++] = environ [index];
    //  The worker's kernels share their work, OpenBLAS calls included, over
    //  a pool of their own (blas_threads threads), so OpenBLAS needs none
    char blas [] = "OPENBLAS_NUM_THREADS=1";
    envp [n_envp++] = blas;
    envp [n_envp] = NULL;
    int rc = posix_spawn (&child->pid, self->exe, NULL, &attributes, argv, envp);
    free (envp);
    posix_spawnattr_destroy (&attributes);
    if (rc) {
        child->pid = 0;
        fprintf (stderr, "zinfer up: cannot start process '%s': %s\n", name, strerror (rc));
        return -1;
    }
    child->ready = false;
    child->restart_at = 0;
    return 0;
}

static s_child_t *
s_child_of (zi_launcher_t *self, pid_t pid)
{
    for (int index = 0; index < self->n_children; index++)
        if (self->children [index].pid == pid)
            return &self->children [index];
    return NULL;
}

static void
s_describe_exit (int status, char *buffer, size_t size)
{
    if (WIFSIGNALED (status))
        snprintf (buffer, size, "killed by signal %d (%s)", WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
    else
        snprintf (buffer, size, "exited with code %d", WEXITSTATUS (status));
}

//  Stops every child: SIGTERM, then SIGKILL after the grace period
//  Sends SIGTERM to the children that match (the gateway's process, or
//  the others) and waits for them, SIGKILL after the grace period
static void
s_stop_group (zi_launcher_t *self, bool gateway)
{
    int gateway_process = self->deploy->gateway_process;
    for (int index = 0; index < self->n_children; index++)
        if (self->children [index].pid > 0
        && (self->children [index].process == gateway_process) == gateway)
            kill (self->children [index].pid, SIGTERM);
    int64_t deadline = s_usecs () + S_GRACE_USECS;
    while (true) {
        bool alive = false;
        for (int index = 0; index < self->n_children; index++) {
            s_child_t *child = &self->children [index];
            if ((child->process == gateway_process) != gateway)
                continue;
            if (child->pid > 0 && waitpid (child->pid, NULL, WNOHANG) == child->pid)
                child->pid = 0;
            if (child->pid > 0)
                alive = true;
        }
        if (!alive)
            return;
        if (s_usecs () > deadline) {
            for (int index = 0; index < self->n_children; index++) {
                s_child_t *child = &self->children [index];
                if ((child->process == gateway_process) == gateway && child->pid > 0) {
                    kill (child->pid, SIGKILL);
                    waitpid (child->pid, NULL, 0);
                    child->pid = 0;
                }
            }
            return;
        }
        usleep (10000);
    }
}

//  Stops every child. The gateway's process goes first: it stops taking
//  requests and waits until those in flight are answered, which needs the
//  other processes still running; then the rest, which are idle by then
static void
s_stop_all (zi_launcher_t *self)
{
    s_stop_group (self, true);
    s_stop_group (self, false);
}

//  Reaps dead children and schedules restarts; returns -1 when one keeps
//  dying (or failed to start during start-up)
static int
s_reap (zi_launcher_t *self, bool starting)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        s_child_t *child = s_child_of (self, pid);
        if (!child)
            continue;
        const char *name = self->deploy->topology->processes [child->process].name;
        char how [128];
        s_describe_exit (status, how, sizeof how);
        child->pid = 0;
        child->ready = false;
        s_stats_close (self, child);
        if (starting) {
            fprintf (stderr, "zinfer up: process '%s' %s while starting\n", name, how);
            return -1;
        }
        child->restarts_total++;
        int64_t now = s_usecs ();
        if (now - child->window_start > S_RESTART_WINDOW_USECS) {
            child->window_start = now;
            child->restarts = 0;
            child->backoff_usecs = 0;
        }
        if (++child->restarts > S_MAX_RESTARTS) {
            fprintf (stderr, "zinfer up: process '%s' %s and has died %d times within %d s; "
                     "giving up\n", name, how, child->restarts,
                     (int) (S_RESTART_WINDOW_USECS / 1000000));
            return -1;
        }
        child->backoff_usecs = child->backoff_usecs? child->backoff_usecs * 2: 100000;
        if (child->backoff_usecs > 5000000)
            child->backoff_usecs = 5000000;
        child->restart_at = now + child->backoff_usecs;
        fprintf (stderr, "zinfer up: process '%s' (pid %d) %s; restarting in %.1f s "
                 "(restart %d)\n", name, (int) pid, how, child->backoff_usecs / 1e6,
                 child->restarts);
    }
    return 0;
}

//  Reads READY / FAILED reports; returns -1 on a FAILED one
static int
s_read_reports (zi_launcher_t *self, void *control, int wait_msecs)
{
    zmq_pollitem_t item = {control, 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, wait_msecs) <= 0)
        return 0;
    char report [1024];
    int size;
    while ((size = zmq_recv (control, report, sizeof report - 1, ZMQ_DONTWAIT)) >= 0) {
        report [size < (int) sizeof report - 1? size: (int) sizeof report - 1] = 0;
        char status [16], name [256];
        int pid = 0, used = 0;
        if (sscanf (report, "%15s %255s %d %n", status, name, &pid, &used) < 3)
            continue;
        s_child_t *child = s_child_of (self, pid);
        if (!child)
            continue;
        if (strcmp (status, "READY") == 0) {
            child->ready = true;
            s_heartbeat_open (self, child);
            s_stats_open (self, child);
        }
        else {
            fprintf (stderr, "zinfer up: process '%s' failed to start: %s\n", name, report + used);
            return -1;
        }
    }
    return 0;
}


zi_launcher_t *
zi_launcher_new (const char *topology_path, const char *host_name, int base_port)
{
    zi_launcher_t *self = calloc (1, sizeof (zi_launcher_t));
    assert (self);
    self->lock_fd = -1;
    if (!realpath (topology_path, self->path)) {
        zi_error ("%s: %s", topology_path, strerror (errno));
        free (self);
        return NULL;
    }
    self->deploy = zi_deploy_new (self->path, base_port);
    if (!self->deploy) {
        free (self);
        return NULL;
    }
    zi_topology_t *topology = self->deploy->topology;
    if (host_name) {
        self->host = zi_topology_host (topology, host_name);
        if (self->host < 0) {
            zi_error ("%s has no host named '%s'", topology_path, host_name);
            zi_launcher_destroy (&self);
            return NULL;
        }
    }
    else
    if (topology->n_hosts > 1) {
        char names [512] = "";
        for (int index = 0; index < topology->n_hosts; index++)
            snprintf (names + strlen (names), sizeof names - strlen (names), "%s%s",
                      index? ", ": "", topology->hosts [index].name);
        zi_error ("%s has %d hosts (%s): say which this is with --host",
                  topology_path, topology->n_hosts, names);
        zi_launcher_destroy (&self);
        return NULL;
    }
    ssize_t length = readlink ("/proc/self/exe", self->exe, sizeof self->exe - 1);
    if (length <= 0) {
        zi_error ("cannot find this program: %s", strerror (errno));
        zi_launcher_destroy (&self);
        return NULL;
    }
    self->exe [length] = 0;
    if (base_port)
        snprintf (self->base_port, sizeof self->base_port, "%d", base_port);
    self->children = calloc (topology->n_processes + 1, sizeof (s_child_t));
    assert (self->children);
    for (int process = 0; process < topology->n_processes; process++)
        if (topology->processes [process].host == self->host)
            self->children [self->n_children++].process = process;
    if (self->n_children == 0) {
        zi_error ("%s places no process on host '%s'", topology_path,
                  topology->hosts [self->host].name);
        zi_launcher_destroy (&self);
        return NULL;
    }
    //  Every worker reads the host's secret key; a missing or exposed one
    //  is better said once, here, than by each worker failing to start
    if (zi_deploy_load_keys (self->deploy, self->children [0].process)) {
        zi_launcher_destroy (&self);
        return NULL;
    }
    return self;
}

void
zi_launcher_destroy (zi_launcher_t **self_p)
{
    assert (self_p);
    zi_launcher_t *self = *self_p;
    if (!self)
        return;
    zi_launcher_stop (self);
    free (self->children);
    zi_deploy_destroy (&self->deploy);
    free (self);
    *self_p = NULL;
}

//  Removes the control sockets of this user's launchers that are gone: one
//  killed outright (SIGKILL) could not remove its own
static void
s_sweep_controls (const char *runtime)
{
    DIR *folder = opendir (runtime);
    if (!folder)
        return;
    struct dirent *entry;
    while ((entry = readdir (folder))) {
        if (strncmp (entry->d_name, "up-", 3) != 0)
            continue;
        const char *digits = entry->d_name + 3;
        char *end = NULL;
        long pid = isdigit ((unsigned char) *digits)? strtol (digits, &end, 10): 0;
        struct stat info;
        if (pid > 0 && end && strcmp (end, ".ctl") == 0
        &&  kill ((pid_t) pid, 0) < 0 && errno == ESRCH
        &&  fstatat (dirfd (folder), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) == 0
        &&  S_ISSOCK (info.st_mode) && info.st_uid == getuid ())
            unlinkat (dirfd (folder), entry->d_name, 0);
    }
    closedir (folder);
}

//  Takes the lock of this topology on this host, or says who holds it. A
//  second launcher must not start: its workers would bind (and so first
//  unlink) the running ones' ipc sockets, and the running topology would
//  stop answering. The kernel drops the lock with the process, however it
//  ends, so a killed launcher leaves no stale lock behind.
static int
s_lock (zi_launcher_t *self, const char *runtime)
{
    const zi_topology_t *topology = self->deploy->topology;
    snprintf (self->lock_path, sizeof self->lock_path, "%s/%s-%s.lock", runtime,
              self->deploy->id, topology->hosts [self->host].name);
    while (true) {
        int fd = open (self->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return zi_error ("cannot open lock file %s: %s", self->lock_path, strerror (errno));
        if (flock (fd, LOCK_EX | LOCK_NB)) {
            int error = errno;
            char holder [32] = "";
            ssize_t size = read (fd, holder, sizeof holder - 1);
            holder [size > 0? size: 0] = 0;
            holder [strcspn (holder, "\n")] = 0;
            close (fd);
            if (error != EWOULDBLOCK)
                return zi_error ("cannot lock %s: %s", self->lock_path, strerror (error));
            return zi_error ("topology '%s' already runs on host '%s' of this machine: zinfer "
                             "up (pid %s) holds %s; stop it first (see zinfer status), or "
                             "start this one on other ports with --base-port", topology->name,
                             topology->hosts [self->host].name, *holder? holder: "unknown",
                             self->lock_path);
        }
        //  A launcher that stopped removes its lock file after we opened
        //  it: then we hold the lock of a file nobody else will find
        struct stat held, named;
        if (fstat (fd, &held) == 0 && lstat (self->lock_path, &named) == 0
        &&  held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
            char pid [32];
            int length = snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
            //  The pid is for people (the refusal above); the lock holds
            //  without it
            bool written = ftruncate (fd, 0) == 0 && write (fd, pid, length) == length;
            (void) written;
            self->lock_fd = fd;
            return 0;
        }
        close (fd);
    }
}

//  Removes the ipc sockets this host's workers bound: ZeroMQ leaves a
//  listener's socket file behind when its process is killed, and a stale
//  `clients` socket would make clients here believe the gateway runs.
//  Other hosts of the topology may run on this machine too (each in its
//  network namespace) and keep theirs.
static void
s_remove_sockets (zi_launcher_t *self)
{
    const zi_deploy_t *deploy = self->deploy;
    const zi_topology_t *topology = deploy->topology;
    char endpoint [256];
    for (int index = -1; index < deploy->n_actors; index++) {
        int process = index >= 0? deploy->actors [index].process: deploy->gateway_process;
        if (topology->processes [process].host != self->host)
            continue;
        for (int kind = 0; zi_deploy_bind (deploy, index, kind, endpoint, sizeof endpoint); kind++)
            if (strncmp (endpoint, "ipc://", 6) == 0)
                unlink (endpoint + 6);
    }
    if (topology->processes [deploy->gateway_process].host == self->host) {
        zi_deploy_client_ipc_endpoint (deploy, endpoint, sizeof endpoint);
        unlink (endpoint + 6);
    }
    //  rmdir leaves the folder if another host's workers still use it
    rmdir (deploy->ipc_dir);
}

//  The topology's metrics: key: an HTTP server for this host, on the
//  host's loopback unless the topology names an address (bind: host, the
//  host's own). Its port moves with --base-port as every other port does
static int
s_serve_health (zi_launcher_t *self)
{
    const zi_topology_t *topology = self->deploy->topology;
    if (!topology->metrics_port)
        return 0;
    const char *address = !topology->metrics_bind? "127.0.0.1":
                          strcmp (topology->metrics_bind, "host") == 0?
                          topology->hosts [self->host].address: topology->metrics_bind;
    int offset = *self->base_port? atoi (self->base_port) - topology->base_port: 0;
    int port = topology->metrics_port + offset;
    if (port < 1 || port > 65535)
        return zi_error ("metrics: port %d moved by --base-port %s is %d, outside 1 to 65535",
                         topology->metrics_port, self->base_port, port);
    const char **names = calloc (self->n_children + 1, sizeof (char *));
    assert (names);
    for (int index = 0; index < self->n_children; index++)
        names [index] = topology->processes [self->children [index].process].name;
    self->health = zi_health_new (topology->name, topology->hosts [self->host].name, names,
                                  self->n_children, address, port);
    free (names);
    if (!self->health)
        return -1;
    //  The web view draws the whole topology, every host's processes,
    //  with live numbers for this host's
    size_t size = 0;
    char *placement = zi_placement_json (self->deploy, S_VIEW_MAX_ACTORS, &size);
    zi_health_set_placement (self->health, placement);
    free (placement);
    return 0;
}

int
zi_launcher_start (zi_launcher_t *self, int ready_timeout_secs, bool interruptible)
{
    //  Nothing is touched before the runtime folder is known to be ours
    //  and the lock is held
    char runtime [128];
    zi_deploy_runtime_dir (runtime, sizeof runtime);
    if (zi_deploy_make_ipc_dir (self->deploy) || s_lock (self, runtime))
        return -1;
    s_sweep_controls (runtime);
    self->context = zmq_ctx_new ();
    self->socket = zmq_socket (self->context, ZMQ_PULL);
    snprintf (self->control, sizeof self->control, "ipc://%s/up-%d.ctl", runtime, (int) getpid ());
    if (zmq_bind (self->socket, self->control))
        return zi_error ("cannot bind %s: %s", self->control, zmq_strerror (zmq_errno ()));
    if (s_serve_health (self))
        return -1;
    for (int index = 0; index < self->n_children; index++) {
        self->children [index].window_start = s_usecs ();
        if (s_spawn (self, &self->children [index]))
            return zi_error ("cannot start the worker processes");
    }
    int64_t deadline = s_usecs () + (int64_t) ready_timeout_secs * 1000000;
    while (true) {
        if (interruptible && zi_signals_wait (0))
            return zi_error ("interrupted while starting");
        if (s_reap (self, true) || s_read_reports (self, self->socket, 20))
            return zi_error ("a worker process failed to start (see above)");
        int ready = 0;
        for (int index = 0; index < self->n_children; index++)
            ready += self->children [index].ready;
        s_publish (self);
        if (ready == self->n_children) {
            if (self->health)
                zi_health_set_phase (self->health, "running");
            return 0;
        }
        if (self->progress)
            self->progress (self->progress_arg, ready, self->n_children);
        if (s_usecs () > deadline)
            return zi_error ("only %d of %d processes ready after %d s",
                             ready, self->n_children, ready_timeout_secs);
    }
}

int
zi_launcher_supervise (zi_launcher_t *self)
{
    if (s_reap (self, false))
        return -1;
    s_read_reports (self, self->socket, 0);
    s_check_liveness (self);
    s_publish (self);
    int64_t now = s_usecs ();
    for (int index = 0; index < self->n_children; index++) {
        s_child_t *child = &self->children [index];
        if (child->pid == 0 && child->restart_at && now >= child->restart_at)
            s_spawn (self, child);
    }
    return 0;
}

void
zi_launcher_stop (zi_launcher_t *self)
{
    if (self->health)
        zi_health_set_phase (self->health, "stopping");
    s_stop_all (self);
    for (int index = 0; index < self->n_children; index++) {
        s_heartbeat_close (&self->children [index]);
        s_stats_close (self, &self->children [index]);
    }
    zi_health_destroy (&self->health);
    //  Only a launcher that held the lock started this run's files: one
    //  refused for a running launcher leaves that one's alone
    if (self->lock_fd >= 0) {
        s_remove_sockets (self);
        //  Unlinked while still held: s_lock tells a file removed under it
        unlink (self->lock_path);
        close (self->lock_fd);
        self->lock_fd = -1;
    }
    if (self->socket) {
        zmq_close (self->socket);
        self->socket = NULL;
        unlink (self->control + strlen ("ipc://"));
    }
    if (self->context) {
        zmq_ctx_term (self->context);
        self->context = NULL;
    }
}

void
zi_launcher_set_progress (zi_launcher_t *self, zi_launcher_progress_fn *progress, void *arg)
{
    self->progress = progress;
    self->progress_arg = arg;
}

void
zi_launcher_set_monitor (zi_launcher_t *self, bool monitor)
{
    self->no_monitor = !monitor;
}

int
zi_launcher_n_processes (const zi_launcher_t *self)
{
    return self->n_children;
}

int
zi_launcher_host (const zi_launcher_t *self)
{
    return self->host;
}

zi_deploy_t *
zi_launcher_deploy (const zi_launcher_t *self)
{
    return self->deploy;
}

int
zi_launcher_pid (const zi_launcher_t *self, int index)
{
    return index >= 0 && index < self->n_children? (int) self->children [index].pid: 0;
}
