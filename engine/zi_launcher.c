/*  =========================================================================
    zi_launcher - starts and supervises the worker processes of one host

    Workers are started with posix_spawn (cheap even from a large parent),
    report READY or FAILED on an ipc socket, and are reaped and restarted
    here: after a pause that doubles each time (capped at 5 s); one that
    dies more than S_MAX_RESTARTS times within a minute is given up on.
    Stopping sends SIGTERM, then SIGKILL after a grace period; workers
    also die with the launcher if it is killed outright (PDEATHSIG).
    =========================================================================
*/

#include "zi_launcher.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

extern char **environ;

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

typedef struct {
    int process;                //  topology process index
    pid_t pid;                  //  0 when not running
    bool ready;                 //  reported READY since its last start
    int restarts;               //  restarts within the window
    int64_t window_start;       //  when the window began
    int64_t restart_at;         //  when to start it again, 0: not waiting
    int64_t backoff_usecs;      //  next pause
} s_child_t;

struct zi_launcher_t {
    zi_deploy_t *deploy;        //  the topology laid out, owned
    int host;                   //  which host this is
    char path [4096];           //  topology, absolute
    char exe [4096];            //  this program
    char control [256];         //  where workers report
    char base_port [16];        //  "" or the override
    bool no_monitor;            //  workers run without their monitor
    void *context;              //  ZeroMQ context for the control socket
    void *socket;               //  PULL: READY / FAILED reports
    int n_children;
    s_child_t *children;
};

static int
s_spawn (zi_launcher_t *self, s_child_t *child)
{
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
        if (starting) {
            fprintf (stderr, "zinfer up: process '%s' %s while starting\n", name, how);
            return -1;
        }
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
        if (strcmp (status, "READY") == 0)
            child->ready = true;
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
s_sweep_controls (void)
{
    DIR *folder = opendir ("/tmp");
    if (!folder)
        return;
    char prefix [64];
    snprintf (prefix, sizeof prefix, "zinfer-%d-up-", (int) getuid ());
    struct dirent *entry;
    while ((entry = readdir (folder))) {
        if (strncmp (entry->d_name, prefix, strlen (prefix)) != 0)
            continue;
        const char *digits = entry->d_name + strlen (prefix);
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

int
zi_launcher_start (zi_launcher_t *self, int ready_timeout_secs, bool interruptible)
{
    s_sweep_controls ();
    self->context = zmq_ctx_new ();
    self->socket = zmq_socket (self->context, ZMQ_PULL);
    snprintf (self->control, sizeof self->control, "ipc:///tmp/zinfer-%d-up-%d.ctl",
              (int) getuid (), (int) getpid ());
    if (zmq_bind (self->socket, self->control))
        return zi_error ("cannot bind %s: %s", self->control, zmq_strerror (zmq_errno ()));
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
        if (ready == self->n_children)
            return 0;
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
    s_stop_all (self);
    //  The workers' ipc sockets went with them; their folder goes now
    //  (rmdir leaves it if another launcher's workers still use it)
    rmdir (self->deploy->ipc_dir);
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
