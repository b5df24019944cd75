/*  =========================================================================
    zi_cli_worker - `zinfer worker`: one process of a topology

    Started by `zinfer up`, one per process of its host. Runs the actors
    the topology places on this process until SIGTERM or SIGINT.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_worker.h"
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char *s_usage =
    "usage: zinfer worker TOPOLOGY.yaml --process NAME [--base-port P]\n"
    "                     [--control ENDPOINT] [--parent PID] [--no-monitor]\n"
    "\n"
    "Runs one process of a topology. `zinfer up` starts these; run one by\n"
    "hand only to debug it.\n"
    "\n"
    "  --process NAME     which process of the topology this is\n"
    "  --base-port P      move every port of the topology to start at P\n"
    "  --control ENDPOINT where to report READY (the launcher's)\n"
    "  --parent PID       exit when this process (the launcher) goes away\n"
    "  --no-monitor       run without the monitor thread (to measure its cost)\n";

int
zi_cli_worker (int argc, char **argv)
{
    const char *path = NULL, *process_name = NULL, *control = NULL;
    long base_port = 0, parent = 0;
    bool monitor = true;
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index], *value;
        if (zi_cli_is_help (arg)) {
            fputs (s_usage, stdout);
            return 0;
        }
        if (strcmp (arg, "--process") == 0 || strcmp (arg, "--control") == 0) {
            if (!(value = zi_cli_value ("worker", argc, argv, &index)))
                return ZI_EXIT_USAGE;
            *(arg [2] == 'p'? &process_name: &control) = value;
        }
        else
        if (strcmp (arg, "--base-port") == 0) {
            if (!(value = zi_cli_value ("worker", argc, argv, &index))
            ||  zi_cli_int ("worker", arg, value, 1, 65535, &base_port))
                return ZI_EXIT_USAGE;
        }
        else
        if (strcmp (arg, "--no-monitor") == 0)
            monitor = false;
        else
        if (strcmp (arg, "--parent") == 0) {
            if (!(value = zi_cli_value ("worker", argc, argv, &index))
            ||  zi_cli_int ("worker", arg, value, 1, 1L << 30, &parent))
                return ZI_EXIT_USAGE;
        }
        else
        if (arg [0] == '-')
            return zi_cli_fail ("worker", "unknown option '%s' (see zinfer worker --help)", arg);
        else
        if (!path)
            path = arg;
        else
            return zi_cli_fail ("worker", "unexpected argument '%s'", arg);
    }
    if (!path || !process_name)
        return zi_cli_fail ("worker", "needs TOPOLOGY.yaml and --process NAME");
    if (parent) {
        //  Die with the launcher, even if it is killed with SIGKILL
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != (pid_t) parent)
            return zi_cli_fail ("worker", "--parent %ld is not this process's parent (%d); "
                                "the launcher is gone", parent, (int) getppid ()), ZI_EXIT_FAILURE;
    }
    zi_deploy_t *deploy = zi_deploy_new (path, (int) base_port);
    if (!deploy)
        return zi_cli_fail ("worker", "%s", zi_error_text ());
    int process = zi_topology_process (deploy->topology, process_name);
    int rc;
    if (process < 0)
        rc = zi_cli_fail ("worker", "%s has no process named '%s'", path, process_name);
    else
        rc = zi_worker_run (deploy, process, control, monitor);
    zi_deploy_destroy (&deploy);
    return rc;
}
