/*  =========================================================================
    zi_cli_up - `zinfer up`: start and supervise a topology's processes

    Starts every process the topology places on this host as a `zinfer
    worker`, waits until each reports READY, prints where clients connect,
    and stays in the foreground. A worker that dies is started again after
    a pause that doubles each time (capped); one that keeps dying is
    reported and the whole host stops. SIGINT or SIGTERM stops every
    worker (SIGKILL after a grace period) and leaves no process behind;
    workers also die with the launcher if it is killed outright.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_deploy.h"
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

extern char **environ;

static const char *s_usage =
    "usage: zinfer up TOPOLOGY.yaml [--host NAME] [--base-port P]\n"
    "\n"
    "Starts the processes the topology places on this host, waits until all\n"
    "their actors are ready, prints the client endpoint and supervises them\n"
    "until Ctrl-C or SIGTERM.\n"
    "\n"
    "  --host NAME      which host of the topology this machine is (needed\n"
    "                   when the topology has several)\n"
    "  --base-port P    move every port of the topology to start at P\n"
    "  --ready-timeout S  seconds to wait for the workers (default 120)\n";

#define S_MAX_RESTARTS 5        //  within S_RESTART_WINDOW: then give up
#define S_RESTART_WINDOW_USECS (60 * INT64_C (1000000))
#define S_GRACE_USECS (5 * INT64_C (1000000))

typedef struct {
    int process;                //  topology process index
    pid_t pid;                  //  0 when not running
    bool ready;                 //  reported READY since its last start
    int restarts;               //  restarts within the window
    int64_t window_start;       //  when the window began
    int64_t restart_at;         //  when to start it again, 0: not waiting
    int64_t backoff_usecs;      //  next pause
} s_child_t;

typedef struct {
    zi_deploy_t *deploy;
    const char *path;           //  topology, absolute
    char exe [4096];            //  this program
    char control [256];         //  where workers report
    char base_port [16];        //  "" or the override
    int n_children;
    s_child_t *children;
} s_launcher_t;

static int
s_spawn (s_launcher_t *self, s_child_t *child)
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
    int rc = posix_spawn (&child->pid, self->exe, NULL, &attributes, argv, environ);
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
s_child_of (s_launcher_t *self, pid_t pid)
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
static void
s_stop_all (s_launcher_t *self)
{
    for (int index = 0; index < self->n_children; index++)
        if (self->children [index].pid > 0)
            kill (self->children [index].pid, SIGTERM);
    int64_t deadline = zi_cli_usecs () + S_GRACE_USECS;
    while (true) {
        bool alive = false;
        for (int index = 0; index < self->n_children; index++) {
            s_child_t *child = &self->children [index];
            if (child->pid > 0 && waitpid (child->pid, NULL, WNOHANG) == child->pid)
                child->pid = 0;
            if (child->pid > 0)
                alive = true;
        }
        if (!alive)
            return;
        if (zi_cli_usecs () > deadline) {
            for (int index = 0; index < self->n_children; index++)
                if (self->children [index].pid > 0) {
                    kill (self->children [index].pid, SIGKILL);
                    waitpid (self->children [index].pid, NULL, 0);
                    self->children [index].pid = 0;
                }
            return;
        }
        usleep (10000);
    }
}

//  Reaps dead children and schedules restarts; returns -1 when one keeps
//  dying (or failed to start during start-up)
static int
s_reap (s_launcher_t *self, bool starting)
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
        int64_t now = zi_cli_usecs ();
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
s_read_reports (s_launcher_t *self, void *control, int wait_msecs)
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

int
zi_cli_up (int argc, char **argv)
{
    const char *path = NULL, *host_name = NULL;
    long base_port = 0, ready_timeout = 120;
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index], *value;
        if (zi_cli_is_help (arg)) {
            fputs (s_usage, stdout);
            return 0;
        }
        if (strcmp (arg, "--host") == 0) {
            if (!(host_name = zi_cli_value ("up", argc, argv, &index)))
                return ZI_EXIT_USAGE;
        }
        else
        if (strcmp (arg, "--base-port") == 0) {
            if (!(value = zi_cli_value ("up", argc, argv, &index))
            ||  zi_cli_int ("up", arg, value, 1, 65535, &base_port))
                return ZI_EXIT_USAGE;
        }
        else
        if (strcmp (arg, "--ready-timeout") == 0) {
            if (!(value = zi_cli_value ("up", argc, argv, &index))
            ||  zi_cli_int ("up", arg, value, 1, 3600, &ready_timeout))
                return ZI_EXIT_USAGE;
        }
        else
        if (arg [0] == '-')
            return zi_cli_fail ("up", "unknown option '%s' (see zinfer up --help)", arg);
        else
        if (!path)
            path = arg;
        else
            return zi_cli_fail ("up", "unexpected argument '%s'", arg);
    }
    if (!path)
        return zi_cli_fail ("up", "no topology given (usage: zinfer up TOPOLOGY.yaml)");

    //  Block the signals we wait for before anything else starts
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGCHLD);
    sigprocmask (SIG_BLOCK, &signals, NULL);

    s_launcher_t self = {0};
    char absolute [4096];
    if (!realpath (path, absolute))
        return zi_cli_fail ("up", "%s: %s", path, strerror (errno));
    self.path = absolute;
    self.deploy = zi_deploy_new (absolute, (int) base_port);
    if (!self.deploy)
        return zi_cli_fail ("up", "%s", zi_error_text ());
    zi_topology_t *topology = self.deploy->topology;
    int host = 0;
    if (host_name) {
        host = zi_topology_host (topology, host_name);
        if (host < 0) {
            zi_deploy_destroy (&self.deploy);
            return zi_cli_fail ("up", "%s has no host named '%s'", path, host_name);
        }
    }
    else
    if (topology->n_hosts > 1) {
        char names [512] = "";
        for (int index = 0; index < topology->n_hosts; index++)
            snprintf (names + strlen (names), sizeof names - strlen (names), "%s%s",
                      index? ", ": "", topology->hosts [index].name);
        zi_deploy_destroy (&self.deploy);
        return zi_cli_fail ("up", "%s has %d hosts (%s): say which this is with --host",
                            path, topology->n_hosts, names);
    }
    ssize_t length = readlink ("/proc/self/exe", self.exe, sizeof self.exe - 1);
    if (length <= 0) {
        zi_deploy_destroy (&self.deploy);
        return zi_cli_fail ("up", "cannot find this program: %s", strerror (errno));
    }
    self.exe [length] = 0;
    if (base_port)
        snprintf (self.base_port, sizeof self.base_port, "%ld", base_port);

    self.children = calloc (topology->n_processes + 1, sizeof (s_child_t));
    for (int process = 0; process < topology->n_processes; process++)
        if (topology->processes [process].host == host)
            self.children [self.n_children++].process = process;
    int rc = 0;
    if (self.n_children == 0) {
        zi_cli_fail ("up", "%s places no process on host '%s'", path, topology->hosts [host].name);
        rc = ZI_EXIT_USAGE;
        goto done;
    }

    void *context = zmq_ctx_new ();
    void *control = zmq_socket (context, ZMQ_PULL);
    snprintf (self.control, sizeof self.control, "ipc:///tmp/zinfer-%d-up-%d.ctl",
              (int) getuid (), (int) getpid ());
    if (zmq_bind (control, self.control)) {
        zi_cli_fail ("up", "cannot bind %s: %s", self.control, zmq_strerror (zmq_errno ()));
        rc = ZI_EXIT_FAILURE;
        goto stop;
    }
    for (int index = 0; index < self.n_children; index++) {
        self.children [index].window_start = zi_cli_usecs ();
        if (s_spawn (&self, &self.children [index])) {
            rc = ZI_EXIT_FAILURE;
            goto stop;
        }
    }

    //  Start-up: every worker reports READY, or the start fails
    int64_t deadline = zi_cli_usecs () + ready_timeout * 1000000;
    while (true) {
        struct timespec zero = {0, 0};
        int signal_number = sigtimedwait (&signals, NULL, &zero);
        if (signal_number == SIGINT || signal_number == SIGTERM) {
            fprintf (stderr, "zinfer up: interrupted while starting\n");
            rc = ZI_EXIT_FAILURE;
            goto stop;
        }
        if (s_reap (&self, true) || s_read_reports (&self, control, 20)) {
            rc = ZI_EXIT_FAILURE;
            goto stop;
        }
        int ready = 0;
        for (int index = 0; index < self.n_children; index++)
            ready += self.children [index].ready;
        if (ready == self.n_children)
            break;
        if (zi_cli_usecs () > deadline) {
            fprintf (stderr, "zinfer up: only %d of %d processes ready after %ld s\n",
                     ready, self.n_children, ready_timeout);
            rc = ZI_EXIT_FAILURE;
            goto stop;
        }
    }
    int actors = 0;
    for (int index = 0; index < self.deploy->n_actors; index++)
        if (topology->processes [self.deploy->actors [index].process].host == host)
            actors++;
    char endpoint [256];
    zi_deploy_client_endpoint (self.deploy, endpoint, sizeof endpoint);
    printf ("zinfer up: topology '%s' on host '%s': %d process%s, %d actor%s ready\n",
            topology->name, topology->hosts [host].name, self.n_children,
            self.n_children == 1? "": "es", actors, actors == 1? "": "s");
    if (topology->processes [self.deploy->gateway_process].host == host)
        printf ("zinfer up: clients connect to %s\n", endpoint);
    fflush (stdout);

    //  Supervise until told to stop
    while (true) {
        struct timespec tick = {0, 50 * 1000000};
        int signal_number = sigtimedwait (&signals, NULL, &tick);
        if (signal_number == SIGINT || signal_number == SIGTERM) {
            printf ("zinfer up: stopping\n");
            fflush (stdout);
            break;
        }
        if (s_reap (&self, false)) {
            rc = ZI_EXIT_FAILURE;
            break;
        }
        s_read_reports (&self, control, 0);
        int64_t now = zi_cli_usecs ();
        for (int index = 0; index < self.n_children; index++) {
            s_child_t *child = &self.children [index];
            if (child->pid == 0 && child->restart_at && now >= child->restart_at)
                s_spawn (&self, child);
        }
    }
stop:
    s_stop_all (&self);
    zmq_close (control);
    zmq_ctx_term (context);
    unlink (self.control + strlen ("ipc://"));
done:
    free (self.children);
    zi_deploy_destroy (&self.deploy);
    return rc;
}
