/*  =========================================================================
    zi_cli - helpers shared by the zinfer subcommands

    Every argument error names the subcommand, the option, what was
    expected and what came, and leads to exit code 2.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_deploy.h"
#include "zi_probe.h"
#include <errno.h>
#include <time.h>
#include <unistd.h>

int
zi_cli_fail (const char *command, const char *format, ...)
{
    char text [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    fprintf (stderr, "zinfer %s: %s\n", command, text);
    return ZI_EXIT_USAGE;
}

int
zi_cli_int (const char *command, const char *option, const char *text,
            long low, long high, long *value)
{
    char *end;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno || end == text || *end || parsed < low || parsed > high) {
        zi_cli_fail (command, "%s expects a whole number from %ld to %ld, got '%s'",
                     option, low, high, text);
        return -1;
    }
    *value = parsed;
    return 0;
}

const char *
zi_cli_value (const char *command, int argc, char **argv, int *index)
{
    if (*index + 1 >= argc) {
        zi_cli_fail (command, "%s needs a value", argv [*index]);
        return NULL;
    }
    return argv [++*index];
}

zi_deploy_t *
zi_cli_deploy (const char *command, const char *path, long base_port, const char *key_file)
{
    if (!path) {
        zi_cli_fail (command, "no topology given (see zinfer %s --help)", command);
        return NULL;
    }
    zi_deploy_t *deploy = zi_deploy_new (path, (int) base_port);
    if (deploy && zi_deploy_load_client_key (deploy, key_file))
        zi_deploy_destroy (&deploy);
    if (!deploy)
        zi_cli_fail (command, "%s", zi_error_text ());
    return deploy;
}

zi_deploy_t *
zi_cli_endpoints (const char *command, const char *path, long base_port, const char *key_file)
{
    if (!path) {
        zi_cli_fail (command, "no topology given (see zinfer %s --help)", command);
        return NULL;
    }
    zi_deploy_t *deploy = zi_deploy_new_endpoints (path, (int) base_port);
    if (deploy && zi_deploy_load_client_key (deploy, key_file))
        zi_deploy_destroy (&deploy);
    if (!deploy)
        zi_cli_fail (command, "%s", zi_error_text ());
    return deploy;
}

int
zi_cli_check_running (const char *command, const zi_deploy_t *deploy)
{
    //  The gateway's process first: its refusal is the one to report
    const zi_topology_t *topology = deploy->topology;
    char endpoint [256], first [1024] = "";
    for (int item = 0; item < topology->n_processes; item++) {
        int process = item == 0? deploy->gateway_process:
                      item <= deploy->gateway_process? item - 1: item;
        zi_deploy_monitor_endpoint (deploy, process, endpoint, sizeof endpoint);
        if (zi_probe_listening (endpoint) == 0)
            return 0;
        if (!*first)
            snprintf (first, sizeof first, "%s", zi_error_text ());
    }
    fprintf (stderr, "zinfer %s: topology '%s': no process answers; %s\n", command,
             topology->name, first);
    return ZI_EXIT_FAILURE;
}

zi_cli_named_t
zi_cli_named (const char *text)
{
    zi_cli_named_t named = {NULL, text};
    const char *equals = strchr (text, '=');
    if (equals && equals != text) {
        named.name = strndup (text, equals - text);
        assert (named.name);
        named.path = equals + 1;
    }
    return named;
}

//  A wait shorter than this needs no progress line; redraws this often
#define S_PROGRESS_AFTER_USECS 500000
#define S_PROGRESS_EVERY_USECS 250000

void
zi_cli_progress_start (zi_cli_progress_t *self, const char *command)
{
    self->command = command;
    self->terminal = isatty (STDERR_FILENO);
    self->start = zi_cli_usecs ();
    //  ZI_PROGRESS_AFTER_MS sets the wait before the first line: a test
    //  sees the line on a machine fast enough not to need it
    int64_t after = S_PROGRESS_AFTER_USECS;
    const char *setting = getenv ("ZI_PROGRESS_AFTER_MS");
    if (setting && *setting) {
        char *end;
        long msecs = strtol (setting, &end, 10);
        if (*end == 0 && msecs >= 0 && msecs <= 3600000)
            after = (int64_t) msecs * 1000;
    }
    self->next = self->start + after;
    self->shown = false;
}

void
zi_cli_progress (zi_cli_progress_t *self, const char *format, ...)
{
    int64_t now = zi_cli_usecs ();
    if (!self->terminal || now < self->next)
        return;
    self->next = now + S_PROGRESS_EVERY_USECS;
    char text [256];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    //  \r and erase to the end of the line: the line is redrawn in place
    fprintf (stderr, "\rzinfer %s: %s, %.1f s\033[K", self->command, text,
             (now - self->start) / 1e6);
    fflush (stderr);
    self->shown = true;
}

void
zi_cli_progress_end (zi_cli_progress_t *self)
{
    if (self->shown) {
        fprintf (stderr, "\r\033[K");
        fflush (stderr);
    }
    self->shown = false;
    self->next = INT64_MAX;
}

bool
zi_cli_is_help (const char *arg)
{
    return strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0;
}

int
zi_cli_parse (const char *command, const char *usage, int argc, char **argv,
              const zi_opt_t *options, const char **positional, int max_positional)
{
    int n_positional = 0;
    for (int index = 1; index < argc; index++) {
        const char *arg = argv [index];
        if (zi_cli_is_help (arg)) {
            fputs (usage, stdout);
            return 0;
        }
        const zi_opt_t *option = options;
        while (option->name && strcmp (option->name, arg))
            option++;
        if (!option->name) {
            if (arg [0] == '-')
                return zi_cli_fail (command, "unknown option '%s' (see zinfer %s --help)", arg,
                                    command);
            if (n_positional == max_positional)
                return zi_cli_fail (command, "unexpected argument '%s' (zinfer %s takes %d "
                                    "argument%s besides options)", arg, command, max_positional,
                                    max_positional == 1? "": "s");
            positional [n_positional++] = arg;
            continue;
        }
        if (option->kind == ZI_OPT_FLAG) {
            *(bool *) option->target = true;
            continue;
        }
        const char *value = zi_cli_value (command, argc, argv, &index);
        if (!value)
            return ZI_EXIT_USAGE;
        if (option->kind == ZI_OPT_INT) {
            if (zi_cli_int (command, arg, value, option->low, option->high, option->target))
                return ZI_EXIT_USAGE;
        }
        else
        if (option->kind == ZI_OPT_LIST) {
            if (*option->count == option->max)
                return zi_cli_fail (command, "at most %d %s values", option->max, arg);
            ((const char **) option->target) [(*option->count)++] = value;
        }
        else
            *(const char **) option->target = value;
    }
    return ZI_CLI_GO_ON;
}

void
zi_cli_calibration_path (char *buffer, size_t size)
{
    const char *config = getenv ("XDG_CONFIG_HOME");
    const char *home = getenv ("HOME");
    if (config && *config == '/')
        snprintf (buffer, size, "%s/zinfer/hops.json", config);
    else
        snprintf (buffer, size, "%s/.config/zinfer/hops.json", home && *home? home: ".");
}

//  The calibration file to read: the one given, else this host's default
//  if `zinfer calibrate` wrote it (into buffer), else NULL
static const char *
s_calibration_file (const char *given, char *buffer, size_t size)
{
    if (given)
        return given;
    zi_cli_calibration_path (buffer, size);
    return access (buffer, F_OK) == 0? buffer: NULL;
}

int
zi_cli_hop (const char *command, const char *calibration_path, const char *transport,
            zi_hop_t *hop, char *source, size_t size)
{
    bool tcp = strcmp (transport, "tcp") == 0;
    *hop = tcp? (zi_hop_t) {ZI_HOP_TCP_USECS, ZI_HOP_TCP_BANDWIDTH}
              : (zi_hop_t) {ZI_HOP_IPC_USECS, ZI_HOP_IPC_BANDWIDTH};
    char default_path [1024];
    const char *path = s_calibration_file (calibration_path, default_path, sizeof default_path);
    if (!path) {
        snprintf (source, size, "documented defaults; `zinfer calibrate` measures this host");
        return 0;
    }
    if (zi_hop_read_calibration (path, transport, hop))
        return zi_cli_fail (command, "%s%s", calibration_path? "--calibration ": "",
                            zi_error_text ());
    snprintf (source, size, "measured by zinfer calibrate, %s", path);
    return 0;
}

int
zi_cli_runtime_cost (const char *command, const char *calibration_path,
                     zi_runtime_cost_t *cost, char *source, size_t size)
{
    *cost = (zi_runtime_cost_t) {0, 0};
    char default_path [1024];
    const char *path = s_calibration_file (calibration_path, default_path, sizeof default_path);
    if (!path) {
        snprintf (source, size, "not known: `zinfer calibrate` measures it");
        return 0;
    }
    bool found = false;
    if (zi_runtime_read_calibration (path, cost, &found))
        return zi_cli_fail (command, "%s%s", calibration_path? "--calibration ": "",
                            zi_error_text ());
    if (found)
        snprintf (source, size, "measured by zinfer calibrate, %s", path);
    else
        snprintf (source, size, "not in %s, written before zinfer calibrate measured it; "
                  "run it again", path);
    return 0;
}

int64_t
zi_cli_usecs (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static int
s_compare_doubles (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

double
zi_cli_timed_run (zi_session_t *session, zi_tensor_t *const *inputs)
{
    //  As many outputs as the model has (a fixed 8 overflowed on a 9th)
    int n_outputs = zi_session_n_outputs (session);
    zi_tensor_t **outputs = calloc (n_outputs + 1, sizeof (zi_tensor_t *));
    assert (outputs);
    int64_t start = zi_cli_usecs ();
    int rc = zi_session_run (session, inputs, outputs);
    double took = (zi_cli_usecs () - start) / 1000.0;
    for (int output = 0; output < n_outputs; output++)
        zi_tensor_destroy (&outputs [output]);
    free (outputs);
    return rc? -1: took;
}

double
zi_cli_quantile (double *values, int count, double q)
{
    if (count <= 0)
        return 0;
    qsort (values, count, sizeof (double), s_compare_doubles);
    int index = (int) (q * (count - 1) + 0.5);
    return values [index];
}

//  A JSON string, escaped
void
zi_cli_json_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const unsigned char *at = (const unsigned char *) text; *at; at++) {
        if (*at == '"' || *at == '\\')
            fprintf (out, "\\%c", *at);
        else
        if (*at < 0x20)
            fprintf (out, "\\u%04x", *at);
        else
            fputc (*at, out);
    }
    fputc ('"', out);
}

int
zi_cli_write_times (const char *path, const double *times, int count)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return zi_error ("%s: cannot create: %s", path, strerror (errno));
    for (int index = 0; index < count; index++)
        fprintf (file, "%.4f\n", times [index]);
    if (fclose (file))
        return zi_error ("%s: write failed", path);
    return 0;
}

const zi_embedded_t *
zi_embedded_find (const char *name)
{
    for (const zi_embedded_t *file = zi_embedded; file->name; file++)
        if (strcmp (file->name, name) == 0)
            return file;
    return NULL;
}

//  One line per output: shape, range, mean and the top entry
void
zi_cli_summarise (const char *name, const zi_tensor_t *tensor)
{
    char shape [128];
    zi_shape_str (tensor->ndim, tensor->dims, shape, sizeof shape);
    printf ("output '%s': %s %s", name, zi_dtype_name (tensor->dtype), shape);
    size_t count = zi_tensor_count (tensor);
    if (tensor->dtype != ZI_BOOL && count > 0) {
        double sum = 0, low = zi_dtype_get (tensor->data, tensor->dtype, 0), high = low;
        size_t top = 0;
        for (size_t item = 0; item < count; item++) {
            double value = zi_dtype_get (tensor->data, tensor->dtype, item);
            sum += value;
            if (value > high) {
                high = value;
                top = item;
            }
            if (value < low)
                low = value;
        }
        printf ("  min %.6g  max %.6g  mean %.6g  argmax %zu", low, high, sum / count, top);
    }
    printf ("\n");
}

//  The CLI's checks, run as the `cli` self test
void
zi_cli_test (zi_test_t *t)
{
    long value;
    ZI_CHECK (t, zi_cli_int ("test", "--n", "12", 1, 100, &value) == 0 && value == 12, "int");
    ZI_CHECK (t, zi_cli_int ("test", "--n", "12x", 1, 100, &value) == -1, "trailing junk");
    ZI_CHECK (t, zi_cli_int ("test", "--n", "0", 1, 100, &value) == -1, "below range");
    ZI_CHECK (t, zi_cli_int ("test", "--n", "", 1, 100, &value) == -1, "empty");
    double values [] = {5, 1, 4, 2, 3};
    ZI_CHECK (t, zi_cli_quantile (values, 5, 0.5) == 3, "median");
    ZI_CHECK (t, zi_cli_quantile (values, 5, 0.9) == 5, "p90");
    ZI_CHECK (t, zi_embedded_find ("digits.onnx") != NULL, "demo model is embedded");

    //  The option parser: every kind, then each way to get it wrong
    bool flag = false;
    const char *text = NULL, *list [2], *positional [2] = {NULL, NULL};
    int n_list = 0;
    long number = 7;
    const zi_opt_t table [] = {
        ZI_CLI_FLAG ("--flag", &flag),
        ZI_CLI_TEXT ("--text", &text),
        ZI_CLI_INT ("--number", &number, 1, 10),
        ZI_CLI_LIST ("--item", list, &n_list, 2),
        ZI_CLI_END
    };
    char *good [] = {"test", "a", "--flag", "--item", "x", "--text", "t", "--number", "3", "b",
                     "--item", "y"};
    ZI_CHECK (t, zi_cli_parse ("test", "", 12, good, table, positional, 2) == ZI_CLI_GO_ON
              && flag && text && strcmp (text, "t") == 0 && number == 3 && n_list == 2
              && strcmp (list [1], "y") == 0 && strcmp (positional [0], "a") == 0
              && strcmp (positional [1], "b") == 0, "every kind of option parsed");
    struct {
        int argc;
        char *argv [4];
        const char *why;
    } bad [] = {
        {2, {"test", "--nope"}, "an unknown option"},
        {2, {"test", "--text"}, "a value missing"},
        {3, {"test", "--number", "11"}, "a number out of range"},
        {4, {"test", "a", "b", "c"}, "an argument too many"},
        {4, {"test", "--item", "x", "--item"}, "a list value missing"},
    };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        n_list = 0;
        ZI_CHECK (t, zi_cli_parse ("test", "", bad [index].argc, bad [index].argv, table,
                                   positional, 2) == ZI_EXIT_USAGE, "refused: %s",
                  bad [index].why);
    }
    n_list = 2;
    char *full [] = {"test", "--item", "z"};
    ZI_CHECK (t, zi_cli_parse ("test", "", 3, full, table, positional, 2) == ZI_EXIT_USAGE,
              "refused: a list past its most");
    char *help [] = {"test", "--help"};
    ZI_CHECK (t, zi_cli_parse ("test", "", 2, help, table, positional, 2) == 0,
              "--help prints the usage (here empty) and ends the command");
}
