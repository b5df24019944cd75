/*  =========================================================================
    zi_cli_status - `zinfer status`: which hosts, processes and actors of a
    topology are up
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_watch.h"

static const char *s_usage =
    "usage: zinfer status TOPOLOGY.yaml [--base-port P] [--timeout MS] [--key FILE]\n"
    "\n"
    "Asks the monitor of every process of the topology, on every host, whether\n"
    "it is up, and prints one line per host and per process with its actors\n"
    "and, when the topology uses CURVE, how many peers it refused. Reads only\n"
    "the topology, not the model, so it answers at once however large the\n"
    "model. Exits 0 when everything answers, 1 otherwise.\n"
    "\n"
    "  --timeout MS  how long to wait for each process (default 1000)\n"
    "  --key FILE    client secret key file, when the topology uses CURVE\n"
    "                (default: the ZINFER_KEY environment variable)\n";

int
zi_cli_status (int argc, char **argv)
{
    const char *path = NULL, *key_path = NULL;
    long base_port = 0, timeout = 1000;
    const zi_opt_t table [] = {
        ZI_CLI_TEXT ("--key", &key_path),
        ZI_CLI_INT ("--base-port", &base_port, 1, 65535),
        ZI_CLI_INT ("--timeout", &timeout, 1, 60000),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("status", s_usage, argc, argv, table, &path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    zi_deploy_t *deploy = zi_cli_endpoints ("status", path, base_port, key_path);
    if (!deploy)
        return ZI_EXIT_USAGE;
    zi_topology_t *topology = deploy->topology;
    zi_watch_t *watch = zi_watch_new (deploy);
    zi_watch_reply_t *replies = calloc (topology->n_processes, sizeof (zi_watch_reply_t));
    zi_watch_query (watch, -1, "STATS", NULL, -1, (int) timeout, replies);
    int down = 0;
    for (int host = 0; host < topology->n_hosts; host++) {
        int processes = 0, up = 0;
        for (int process = 0; process < topology->n_processes; process++)
            if (topology->processes [process].host == host) {
                processes++;
                up += replies [process].answered;
            }
        printf ("host %-12s %-16s %d of %d processes up\n", topology->hosts [host].name,
                topology->hosts [host].address, up, processes);
        for (int process = 0; process < topology->n_processes; process++) {
            if (topology->processes [process].host != host)
                continue;
            char endpoint [256];
            zi_deploy_monitor_endpoint (deploy, process, endpoint, sizeof endpoint);
            zi_watch_reply_t *reply = &replies [process];
            if (reply->answered) {
                const msgpack_object *stats = &reply->reply.data;
                const msgpack_object *list = zi_watch_get (stats, "actors");
                int reported = list && list->type == MSGPACK_OBJECT_ARRAY? (int) list->via.array.size: 0;
                const msgpack_object *security = zi_watch_get (stats, "security");
                char curve [64] = "";
                if (topology->curve && security)
                    snprintf (curve, sizeof curve, ", CURVE, %.0f peers refused",
                              zi_watch_number (security, "refused"));
                printf ("  process %-14s up    pid %-7.0f %d actor%s, up %.1f s%s%s\n",
                        topology->processes [process].name, zi_watch_number (stats, "pid"),
                        reported, reported == 1? "": "s", zi_watch_number (stats, "uptime_usecs") / 1e6,
                        process == deploy->gateway_process? ", gateway": "", curve);
            }
            else {
                printf ("  process %-14s DOWN  (no answer from %s)\n",
                        topology->processes [process].name, endpoint);
                down++;
            }
        }
    }
    if (down == topology->n_processes && zi_cli_check_running ("status", deploy) == 0)
        fprintf (stderr, "zinfer status: topology '%s': no process answered within %ld ms "
                 "(see the endpoints above)\n", topology->name, timeout);
    if (!down) {
        char endpoint [256];
        zi_deploy_client_endpoint (deploy, endpoint, sizeof endpoint);
        printf ("all %d processes up; clients connect to %s\n", topology->n_processes, endpoint);
    }
    zi_watch_replies_clear (watch, replies);
    free (replies);
    zi_watch_destroy (&watch);
    zi_deploy_destroy (&deploy);
    return down? ZI_EXIT_FAILURE: 0;
}
