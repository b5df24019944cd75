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
#include "zi_launcher.h"
#include <signal.h>
#include <unistd.h>

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
    "  --ready-timeout S  seconds to wait for the workers (default 120)\n"
    "  --no-monitor     start the workers without their monitors (top, inspect,\n"
    "                   trace and status then see nothing; for measuring the\n"
    "                   monitor's cost)\n";

static void
s_progress (void *arg, int ready, int total)
{
    zi_cli_progress (arg, "%d of %d processes ready (loading and planning the model)",
                     ready, total);
}

//  Threads beyond the cores only take turns on them: each waits while
//  another computes, and latency rises with no gain. Said before
//  starting, as a warning (a test or a demo may mean it)
static void
s_warn_cores (zi_deploy_t *deploy, int host)
{
    const zi_topology_t *topology = deploy->topology;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    int threads = 0, most_replicas = 0;
    const char *replicated = NULL;
    for (int process = 0; process < topology->n_processes; process++)
        if (topology->processes [process].host == host)
            threads += topology->processes [process].threads
                     * topology->processes [process].blas_threads;
    for (int index = 0; index < deploy->n_actors; index++) {
        const zi_deploy_actor_t *actor = &deploy->actors [index];
        if (topology->processes [actor->process].host == host
        &&  deploy->replicas [actor->node] > most_replicas) {
            most_replicas = deploy->replicas [actor->node];
            replicated = deploy->plan->nodes [actor->node].name;
        }
    }
    if (cores < 1)
        return;
    if (threads > cores)
        fprintf (stderr, "zinfer up: warning: host '%s' runs %d worker threads (threads x "
                 "blas_threads, summed over its processes) on %ld cores; they take turns, "
                 "and latency rises\n", topology->hosts [host].name, threads, cores);
    if (most_replicas > cores)
        fprintf (stderr, "zinfer up: warning: '%s' has %d replicas on host '%s', which has "
                 "%ld cores; replicas beyond the cores cannot run at once\n", replicated,
                 most_replicas, topology->hosts [host].name, cores);
}

int
zi_cli_up (int argc, char **argv)
{
    const char *path = NULL, *host_name = NULL;
    long base_port = 0, ready_timeout = 120;
    bool no_monitor = false;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("--host", &host_name),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_FLAG ("--no-monitor", &no_monitor),
        ZI_CLI_INT ("--ready-timeout", &ready_timeout, 1, 3600),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("up", s_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!path)
        return zi_cli_fail ("up", "no topology given (usage: zinfer up TOPOLOGY.yaml)");

    //  Catch the stop signals before any worker starts
    if (zi_signals_install ())
        return zi_cli_fail ("up", "%s", zi_error_text ());

    zi_launcher_t *launcher = zi_launcher_new (path, host_name, (int) base_port);
    if (!launcher)
        return zi_cli_fail ("up", "%s", zi_error_text ());
    zi_launcher_set_monitor (launcher, !no_monitor);
    s_warn_cores (zi_launcher_deploy (launcher), zi_launcher_host (launcher));
    zi_cli_progress_t progress;
    zi_cli_progress_start (&progress, "up");
    zi_launcher_set_progress (launcher, s_progress, &progress);
    int started = zi_launcher_start (launcher, (int) ready_timeout, true);
    zi_cli_progress_end (&progress);
    if (started) {
        fprintf (stderr, "zinfer up: %s\n", zi_error_text ());
        zi_launcher_destroy (&launcher);
        return ZI_EXIT_FAILURE;
    }
    zi_deploy_t *deploy = zi_launcher_deploy (launcher);
    zi_topology_t *topology = deploy->topology;
    int host = zi_launcher_host (launcher);
    int actors = 0;
    for (int index = 0; index < deploy->n_actors; index++)
        if (topology->processes [deploy->actors [index].process].host == host)
            actors++;
    int processes = zi_launcher_n_processes (launcher);
    printf ("zinfer up: topology '%s' on host '%s': %d process%s, %d actor%s ready\n",
            topology->name, topology->hosts [host].name, processes,
            processes == 1? "": "es", actors, actors == 1? "": "s");
    if (topology->processes [deploy->gateway_process].host == host) {
        char endpoint [256];
        zi_deploy_client_ipc_endpoint (deploy, endpoint, sizeof endpoint);
        printf ("zinfer up: clients on this host may use %s\n", endpoint);
        zi_deploy_client_endpoint (deploy, endpoint, sizeof endpoint);
        printf ("zinfer up: clients connect to %s\n", endpoint);
    }
    fflush (stdout);

    //  Supervise until told to stop
    int rc = 0;
    while (true) {
        if (zi_signals_wait (50)) {
            printf ("zinfer up: stopping\n");
            fflush (stdout);
            break;
        }
        if (zi_launcher_supervise (launcher)) {
            rc = ZI_EXIT_FAILURE;
            break;
        }
    }
    zi_launcher_destroy (&launcher);
    return rc;
}
