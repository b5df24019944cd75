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
    bool no_monitor = false;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("--process", &process_name),
        ZI_CLI_TEXT ("--control", &control),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_FLAG ("--no-monitor", &no_monitor),
        ZI_CLI_INT ("--parent", &parent, 1, 1L << 30),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("worker", s_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!path || !process_name)
        return zi_cli_fail ("worker", "needs TOPOLOGY.yaml and --process NAME");
    if (parent) {
        //  Die with the launcher, even if it is killed with SIGKILL. With
        //  SIGKILL, not SIGTERM: a worker stopped (SIGSTOP) when its
        //  launcher dies would keep SIGTERM pending, and its ports, forever.
        //  A launcher gone before the call is caught by the check below.
        prctl (PR_SET_PDEATHSIG, SIGKILL);
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
    //  Its ipc sockets go where no other user can take their place
    if (zi_deploy_make_ipc_dir (deploy))
        rc = zi_cli_fail ("worker", "%s", zi_error_text ());
    else
        rc = zi_worker_run (deploy, process, control, !no_monitor);
    zi_deploy_destroy (&deploy);
    return rc;
}
