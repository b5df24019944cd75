/*  =========================================================================
    zinfer - the command: run models, inspect them, (later) start and
    watch distributed topologies
    =========================================================================
*/

#include "zi_cli.h"
#include <cblas.h>

typedef struct {
    const char *name;           //  subcommand
    int (*main) (int argc, char **argv);
    const char *summary;        //  one line for the help text
} s_command_t;

static const s_command_t s_commands [] = {
    {"run",  zi_cli_run,  "run a model locally on .npy inputs"},
    {"info", zi_cli_info, "list a model's nodes, shapes, parameters and MACs"},
    {"split", zi_cli_split, "write a topology that cuts a model into N processes"},
    {"plan", zi_cli_plan, "what a topology would run where, predicted, without starting it"},
    {"calibrate", zi_cli_calibrate, "measure what a hop between processes costs here"},
    {"demo", zi_cli_demo, "classify handwritten digits with the built-in model"},
    {"up",   zi_cli_up,   "start a topology's processes on this host and supervise them"},
    {"infer", zi_cli_infer, "send requests to a running topology"},
    {"status", zi_cli_status, "which hosts, processes and actors of a topology are up"},
    {"top",  zi_cli_top,  "live view of every actor of a running topology"},
    {"inspect", zi_cli_inspect, "one actor in detail; --tap captures its next output"},
    {"trace", zi_cli_trace, "where one request's time goes: compute, queueing, transfer"},
    {"keygen", zi_cli_keygen, "make a CURVE key pair for a host or client"},
    {"worker", zi_cli_worker, "one process of a topology (started by `up`)"},
};

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: zinfer COMMAND [ARGS]   (zinfer COMMAND --help for more)\n\n");
    for (size_t index = 0; index < sizeof s_commands / sizeof s_commands [0]; index++)
        fprintf (out, "  %-9s %s\n", s_commands [index].name, s_commands [index].summary);
    fprintf (out, "\nzinfer %d.%d.%d\n", ZINFER_VERSION_MAJOR, ZINFER_VERSION_MINOR,
             ZINFER_VERSION_PATCH);
}

int
main (int argc, char *argv [])
{
    //  No command uses OpenBLAS's threads; stop them before they spin
    zi_exec_blas_single ();
    //  A misspelt ZI_ISA would otherwise go unnoticed: the kernels ignore it
    char message [160];
    if (zi_isa_check_env (message, sizeof message)) {
        fprintf (stderr, "zinfer: %s\n", message);
        return ZI_EXIT_USAGE;
    }
    if (argc < 2) {
        s_usage (stderr);
        return ZI_EXIT_USAGE;
    }
    if (zi_cli_is_help (argv [1]) || strcmp (argv [1], "help") == 0) {
        s_usage (stdout);
        return 0;
    }
    if (strcmp (argv [1], "--version") == 0) {
        char isa [160], model [256];
        printf ("zinfer %d.%d.%d\nisa: %s\ncpu: %s\nblas: %s, core %s\n",
                ZINFER_VERSION_MAJOR, ZINFER_VERSION_MINOR, ZINFER_VERSION_PATCH,
                zi_isa_describe (isa, sizeof isa), zi_isa_cpu_model (model, sizeof model),
                openblas_get_config (), openblas_get_corename ());
        return 0;
    }
    for (size_t index = 0; index < sizeof s_commands / sizeof s_commands [0]; index++)
        if (strcmp (argv [1], s_commands [index].name) == 0)
            return s_commands [index].main (argc - 1, argv + 1);
    fprintf (stderr, "zinfer: unknown command '%s' (commands:", argv [1]);
    for (size_t index = 0; index < sizeof s_commands / sizeof s_commands [0]; index++)
        fprintf (stderr, " %s", s_commands [index].name);
    fprintf (stderr, "; see zinfer --help)\n");
    return ZI_EXIT_USAGE;
}
