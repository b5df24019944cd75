/*  =========================================================================
    fuzz_topology - libFuzzer harness for the YAML topology loader

    The text is named /fuzz/topology.yaml, a folder that does not exist, so
    a relative model: path is simply a missing file and the run never
    depends on what the machine holds. Inputs that name an absolute file
    every Linux system has (model: /proc/version) get past that last check;
    for those the harness goes on to place a set of node names on the
    topology, as `zinfer up` does with the planned graph.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_topology.h"

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define s_expect(condition) \
    do { if (!(condition)) { \
        fprintf (stderr, "fuzz_topology: %s:%d: expected %s\n", __FILE__, __LINE__, \
                 #condition); \
        abort (); \
    } } while (0)

//  Node names of the digits model, which the committed examples place
static const char *s_digits_nodes [] = {
    "/conv1/Conv", "/relu1/Relu", "/conv2/Conv", "/relu2/Relu", "/pool/MaxPool",
    "/conv3/Conv", "/relu3/Relu", "/flatten/Flatten", "/fc1/Gemm", "/relu4/Relu",
    "/fc2/Gemm", "/softmax/Softmax"
};
#define S_DIGITS_NODES (sizeof s_digits_nodes / sizeof s_digits_nodes [0])

//  Places the names the rules mention (so that most rules match) plus the
//  digits nodes, then checks that every answer points at a real process
static void
s_place (const zi_topology_t *topology)
{
    int most = (int) S_DIGITS_NODES;
    for (int rule = 0; rule < topology->n_rules; rule++)
        most += topology->rules [rule].n_nodes + 2;
    const char **names = calloc (most, sizeof (char *));
    int *process = calloc (most, sizeof (int));
    int *replicas = calloc (most, sizeof (int));
    assert (names && process && replicas);

    int n_names = 0;
    for (int rule = 0; rule < topology->n_rules; rule++) {
        const zi_topo_rule_t *placed = &topology->rules [rule];
        if (placed->from)
            names [n_names++] = placed->from;
        for (int index = 0; index < placed->n_nodes; index++)
            names [n_names++] = placed->nodes [index];
        if (placed->to)
            names [n_names++] = placed->to;
    }
    for (size_t index = 0; index < S_DIGITS_NODES; index++)
        names [n_names++] = s_digits_nodes [index];

    //  Both the names alone and with the digits nodes: a rule set that
    //  places everything it mentions may leave the extra nodes unplaced
    int sizes [2] = {n_names - (int) S_DIGITS_NODES, n_names};
    for (int attempt = 0; attempt < 2; attempt++) {
        zi_error ("%s", "");
        if (zi_topology_place (topology, sizes [attempt], names, process, replicas)) {
            s_expect (*zi_error_text ());
            continue;
        }
        for (int index = 0; index < sizes [attempt]; index++) {
            s_expect (process [index] >= 0 && process [index] < topology->n_processes);
            s_expect (replicas [index] >= 1);
        }
    }
    free (names);
    free (process);
    free (replicas);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zi_error ("%s", "");
    zi_topology_t *topology = zi_topology_load_text ((const char *) data, size,
                                                     "/fuzz/topology.yaml");
    if (!topology) {
        s_expect (*zi_error_text ());
        return 0;
    }
    s_expect (topology->n_processes >= 1);
    for (int index = 0; index < topology->n_hosts; index++)
        s_expect (zi_topology_host (topology, topology->hosts [index].name) == index);
    for (int index = 0; index < topology->n_processes; index++) {
        const zi_topo_process_t *process = &topology->processes [index];
        s_expect (zi_topology_process (topology, process->name) == index);
        s_expect (process->host >= 0 && process->host < topology->n_hosts);
    }
    s_place (topology);
    zi_topology_destroy (&topology);
    return 0;
}
