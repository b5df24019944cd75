/*  =========================================================================
    zi_cli.h - the zinfer command's subcommands and their shared helpers
    =========================================================================
*/

#ifndef ZI_CLI_H_INCLUDED
#define ZI_CLI_H_INCLUDED

#include "zi_classes.h"
#include "zi_partition.h"

//  Each subcommand: argv [0] is the subcommand name; returns the exit code
int zi_cli_run (int argc, char **argv);
int zi_cli_info (int argc, char **argv);
int zi_cli_demo (int argc, char **argv);
int zi_cli_up (int argc, char **argv);
int zi_cli_worker (int argc, char **argv);
int zi_cli_infer (int argc, char **argv);
int zi_cli_top (int argc, char **argv);
int zi_cli_inspect (int argc, char **argv);
int zi_cli_trace (int argc, char **argv);
int zi_cli_status (int argc, char **argv);
int zi_cli_keygen (int argc, char **argv);
int zi_cli_split (int argc, char **argv);
int zi_cli_plan (int argc, char **argv);
int zi_cli_calibrate (int argc, char **argv);

//  Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input
#define ZI_EXIT_FAILURE 1
#define ZI_EXIT_USAGE   2
//  zi_cli_parse: the arguments are good, the command goes on
#define ZI_CLI_GO_ON    -1

//  One command-line option of a command's table (zi_cli_parse)
typedef enum {
    ZI_OPT_FLAG,                //  sets a bool
    ZI_OPT_TEXT,                //  takes a value: a string
    ZI_OPT_INT,                 //  takes a value: a whole number in [low, high]
    ZI_OPT_LIST                 //  takes a value, repeatable up to max times
} zi_opt_kind_t;

typedef struct {
    const char *name;           //  "--input"; NULL ends the table
    zi_opt_kind_t kind;
    void *target;               //  bool *, const char **, long *, or const char * [max]
    long low, high;             //  ZI_OPT_INT: the range
    int *count;                 //  ZI_OPT_LIST: values so far
    int max;                    //  ZI_OPT_LIST: the most it takes
} zi_opt_t;

//  Table entries, by kind
#define ZI_CLI_FLAG(option, flag) \
    {.name = (option), .kind = ZI_OPT_FLAG, .target = (flag)}
#define ZI_CLI_TEXT(option, text) \
    {.name = (option), .kind = ZI_OPT_TEXT, .target = (text)}
#define ZI_CLI_INT(option, number, least, most) \
    {.name = (option), .kind = ZI_OPT_INT, .target = (number), .low = (least), .high = (most)}
#define ZI_CLI_LIST(option, texts, counter, most) \
    {.name = (option), .kind = ZI_OPT_LIST, .target = (texts), .count = (counter), .max = (most)}
#define ZI_CLI_END {.name = NULL}

//  Parses argv [1 ..] against a command's option table: each option into
//  its target, the other arguments into positional [0 .. max_positional).
//  Returns ZI_CLI_GO_ON, or the command's exit code when it is done: 0
//  after printing usage for -h or --help, ZI_EXIT_USAGE after saying what
//  was wrong (an unknown option, a missing or bad value, an argument too
//  many)
int
    zi_cli_parse (const char *command, const char *usage, int argc, char **argv,
                  const zi_opt_t *options, const char **positional, int max_positional);

//  Prints "zinfer CMD: message" to stderr; returns ZI_EXIT_USAGE
int
    zi_cli_fail (const char *command, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
//  Parses a whole decimal integer in [low, high]; -1 with a message if not
int
    zi_cli_int (const char *command, const char *option, const char *text,
                long low, long high, long *value);
//  The value of an option that takes one: argv [*index + 1], advancing
//  index; NULL with a message when it is missing
const char *
    zi_cli_value (const char *command, int argc, char **argv, int *index);
//  The deployment of a running topology, for commands that talk to it as a
//  client (top, inspect, status, trace): loads the topology and model and,
//  when it uses CURVE, the client key (key_file, else ZINFER_KEY). NULL
//  after printing why.
struct zi_deploy_t;
struct zi_deploy_t *
    zi_cli_deploy (const char *command, const char *path, long base_port, const char *key_file);
//  The same without loading the model: the processes and their monitor
//  endpoints only (zi_deploy_new_endpoints), for status
struct zi_deploy_t *
    zi_cli_endpoints (const char *command, const char *path, long base_port, const char *key_file);
//  0 when some process of the topology listens at its monitor endpoint;
//  else says that nothing does, where, and the likely cause (not running,
//  or started with --base-port) and returns ZI_EXIT_FAILURE. Quick: a
//  stopped topology refuses the connection at once
int
    zi_cli_check_running (const char *command, const struct zi_deploy_t *deploy);
//  An option value of the form [NAME=]FILE (--input, --output)
typedef struct {
    char *name;                 //  NAME= part, owned (free it), or NULL
    const char *path;           //  file
} zi_cli_named_t;
//  Splits NAME=FILE; a bare FILE has no name. The name is a copy of its
//  own (a ring of static buffers was overwritten past 16 names)
zi_cli_named_t
    zi_cli_named (const char *text);
//  A progress line on stderr for long waits (up starting a big model,
//  run and infer with --repeat): only when stderr is a terminal, only
//  once the wait has lasted a while, redrawn in place a few times a
//  second, and wiped when done so the results print on a clean line
typedef struct {
    const char *command;        //  "up", "run", "infer"
    bool terminal;              //  stderr is a terminal
    int64_t start;              //  usecs
    int64_t next;               //  no redraw before this
    bool shown;                 //  a line is on the screen
} zi_cli_progress_t;

void
    zi_cli_progress_start (zi_cli_progress_t *self, const char *command);
void
    zi_cli_progress (zi_cli_progress_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
void
    zi_cli_progress_end (zi_cli_progress_t *self);
//  Is the argument -h or --help?
bool
    zi_cli_is_help (const char *arg);
//  Monotonic time in microseconds
int64_t
    zi_cli_usecs (void);
//  Runs a session once on inputs, drops its outputs, and returns how long
//  the run took in ms; -1 with the reason if it failed
double
    zi_cli_timed_run (zi_session_t *session, zi_tensor_t *const *inputs);
//  Each node's time per run (microseconds) of a planned graph: read from a
//  `zinfer run --profile-json` file, or (profile_path NULL) measured now by
//  running that command's code on random inputs, `runs` times at one
//  thread, paced by gap as `zinfer run --gap` takes it (NULL: back to back),
//  with a progress line on stderr (zi_cli_split.c). Returns 0, or the exit
//  code after saying what went wrong
int
    zi_cli_profile_plan (const char *command, const char *model_path, const zi_graph_t *plan,
                         bool no_fuse, int runs, const char *gap, const char *profile_path,
                         double *usecs);
//  Where `zinfer calibrate` writes the hop costs by default:
//  $XDG_CONFIG_HOME/zinfer/hops.json, else ~/.config/zinfer/hops.json
void
    zi_cli_calibration_path (char *buffer, size_t size);
//  The cost of a hop over transport ("ipc" or "tcp") for split and plan:
//  from calibration_path if given (an error if it cannot be read), else
//  from the default calibration file if there is one, else the documented
//  defaults. source (size bytes) says which, for the user. Returns 0, or
//  the exit code after saying what went wrong
int
    zi_cli_hop (const char *command, const char *calibration_path, const char *transport,
                zi_hop_t *hop, char *source, size_t size);
//  The runtime's own costs for split and plan, from the same file as
//  zi_cli_hop; zero when there is none or it predates them (source then
//  says so). Returns 0, or the exit code after saying what went wrong
int
    zi_cli_runtime_cost (const char *command, const char *calibration_path,
                         zi_runtime_cost_t *cost, char *source, size_t size);
//  Measures them (zi_cli_calibrate_actors.c): chains of trivial actors in
//  topologies on ports base_port .. base_port + 29, requests per
//  measurement and round. -1 with an error
int
    zi_cli_calibrate_actors (int base_port, int requests, zi_runtime_cost_t *cost);
//  How many cores' worth of the model at model_path this machine runs at
//  once (zi_cli_cores.c): the plan cut into `cores` stages of about equal
//  time by usecs (its n_nodes planned nodes' times; NULL: `cores` copies
//  of the whole model), each on a thread of its own, at least runs runs
//  each at once, against each alone; 1 .. cores. -1 with an error
int
    zi_cli_effective_cores (const char *model_path, int cores, int runs, const double *usecs,
                            int n_nodes, double *effective);
//  The text of --cores-worth as a number from 1 to cores in worth, 0 when
//  given is NULL. Returns 0, or the exit code after saying what was wrong
int
    zi_cli_cores_worth_given (const char *command, const char *given, int cores,
                              double *worth);
//  The cores' worth of the model at model_path by which split and plan
//  divide the work of all the processes on this host: given, if above 0
//  (zi_cli_cores_worth_given), else cores when there is one, else
//  measured by zi_cli_effective_cores with runs runs and the node times
//  usecs. source (size bytes) says which, for the user. Returns 0, or the
//  exit code after saying what went wrong
int
    zi_cli_cores_worth (const char *command, const char *model_path, double given,
                        int cores, int runs, const double *usecs, int n_nodes, double *worth,
                        char *source, size_t size);
//  Sorts doubles and returns the value at quantile q (0..1)
double
    zi_cli_quantile (double *values, int count, double q);

//  Writes text as a JSON string, quoted and escaped
void
    zi_cli_json_string (FILE *out, const char *text);
//  Writes latencies (ms), one per line
int
    zi_cli_write_times (const char *path, const double *times, int count);
//  Prints one line about an output: shape, min, max, mean, argmax
void
    zi_cli_summarise (const char *name, const zi_tensor_t *tensor);

//  Embedded files (demo model and data), from the build
typedef struct { const char *name; const unsigned char *data; size_t size; } zi_embedded_t;
extern const zi_embedded_t zi_embedded [];
const zi_embedded_t *
    zi_embedded_find (const char *name);

#endif
