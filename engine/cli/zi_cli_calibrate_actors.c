/*  =========================================================================
    zi_cli_calibrate_actors - what the runtime itself costs per actor, for
    `zinfer calibrate`

    The hops between processes are not all a split pays: every actor a
    request passes receives it, joins its inputs, takes a pool buffer,
    hands the result on and counts, where a local session only calls the
    kernel. That cost is per actor, so a model of many small nodes pays it
    many times. It is measured as a slope: two chains of trivial
    elementwise nodes (Relu and Neg on 16 KiB), one short and one long,
    each run in one process of one thread and in a local session, in
    alternating rounds. What the long chain costs over the short one in
    the topology, less what it costs over it in the session, divided by
    the actors between them, is one actor's own work; the gateway, the
    client's hops and the kernels cancel. A third topology runs the long
    chain on two threads: what it adds over one thread, divided by the
    hand-overs between threads it makes, prices such a hand-over.
    =========================================================================
*/

#include "zi_cli.h"
#include "zi_deploy.h"
#include "zi_launcher.h"
#include "zi_partition.h"
#include "onnx/onnx.pb-c.h"
#include <errno.h>
#include <math.h>
#include <unistd.h>

#define S_SHORT 2                   //  nodes of the short chain
#define S_LONG 66                   //  and of the long one
#define S_WIDTH 4096                //  floats per tensor: 16 KiB
#define S_ROUNDS 5                  //  alternating rounds
#define S_READY_SECS 60             //  for the topologies to start
#define S_ANSWER_MSECS 5000         //  a request unanswered this long fails the run

//  Writes a chain of n_nodes elementwise nodes on [1, S_WIDTH] floats as
//  an ONNX file at path
static int
s_write_chain (const char *path, int n_nodes)
{
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets [1] = {&opset};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    opset.has_version = 1;
    opset.version = 13;
    model.has_ir_version = 1;
    model.ir_version = 7;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.graph = &graph;
    graph.name = "chain";

    Onnx__NodeProto nodes [S_LONG], *node_list [S_LONG];
    char names [S_LONG][3][16];
    char *inputs [S_LONG][1], *outputs [S_LONG][1];
    assert (n_nodes <= S_LONG);
    for (int index = 0; index < n_nodes; index++) {
        onnx__node_proto__init (&nodes [index]);
        snprintf (names [index][0], 16, "n%d", index);
        snprintf (names [index][1], 16, index? "v%d": "x", index - 1);
        snprintf (names [index][2], 16, index + 1 < n_nodes? "v%d": "y", index);
        //  Two ops in turn: no fusion pass joins a Neg to a Relu
        nodes [index].op_type = index % 2? "Neg": "Relu";
        nodes [index].name = names [index][0];
        inputs [index][0] = names [index][1];
        outputs [index][0] = names [index][2];
        nodes [index].n_input = 1;
        nodes [index].input = inputs [index];
        nodes [index].n_output = 1;
        nodes [index].output = outputs [index];
        node_list [index] = &nodes [index];
    }
    graph.n_node = n_nodes;
    graph.node = node_list;

    Onnx__TensorShapeProto__Dimension dims [2], *dim_list [2] = {&dims [0], &dims [1]};
    for (int axis = 0; axis < 2; axis++) {
        onnx__tensor_shape_proto__dimension__init (&dims [axis]);
        dims [axis].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dims [axis].dim_value = axis? S_WIDTH: 1;
    }
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 2;
    shape.dim = dim_list;
    Onnx__TypeProto__Tensor tensor = ONNX__TYPE_PROTO__TENSOR__INIT;
    tensor.has_elem_type = 1;
    tensor.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor.shape = &shape;
    Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
    type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type.tensor_type = &tensor;
    Onnx__ValueInfoProto input = ONNX__VALUE_INFO_PROTO__INIT, output = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__ValueInfoProto *input_list [1] = {&input}, *output_list [1] = {&output};
    input.name = "x";
    input.type = &type;
    output.name = "y";
    output.type = &type;
    graph.n_input = 1;
    graph.input = input_list;
    graph.n_output = 1;
    graph.output = output_list;

    size_t size = onnx__model_proto__get_packed_size (&model);
    uint8_t *bytes = malloc (size);
    assert (bytes);
    onnx__model_proto__pack (&model, bytes);
    FILE *file = fopen (path, "wb");
    int rc = 0;
    if (!file || fwrite (bytes, 1, size, file) != size)
        rc = zi_error ("%s: cannot write: %s", path, strerror (errno));
    if (file && fclose (file) && rc == 0)
        rc = zi_error ("%s: cannot write: %s", path, strerror (errno));
    free (bytes);
    return rc;
}

static int
s_write_topology (const char *path, const char *name, const char *model, int base_port,
                  int threads)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return zi_error ("%s: cannot write: %s", path, strerror (errno));
    fprintf (file, "name: %s\nmodel: %s\nbase_port: %d\nfuse: false\n"
             "processes:\n  - name: p0\n    threads: %d\n", name, model, base_port, threads);
    if (fclose (file))
        return zi_error ("%s: cannot write: %s", path, strerror (errno));
    return 0;
}

static int
s_compare_doubles (const void *left, const void *right)
{
    double a = *(const double *) left, b = *(const double *) right;
    return (a > b) - (a < b);
}

static double
s_median (double *values, int count)
{
    qsort (values, count, sizeof (double), s_compare_doubles);
    return count % 2? values [count / 2]: (values [count / 2 - 1] + values [count / 2]) / 2;
}

//  The median time of runs requests (usecs) through a running topology
static int
s_time_remote (zi_client_t *client, zi_tensor_t *input, int runs, double *usecs)
{
    double *times = malloc (runs * sizeof (double));
    assert (times);
    int rc = 0;
    for (int run = -2; run < runs && rc == 0; run++) {
        zi_tensor_t *output = NULL;
        int64_t start = zi_cli_usecs ();
        if (zi_client_infer (client, &input, 1, &output, 1, S_ANSWER_MSECS) != 1)
            rc = zi_error ("a chain of trivial actors did not answer: %s", zi_error_text ());
        else
        if (run >= 0)
            times [run] = (double) (zi_cli_usecs () - start);
        zi_tensor_destroy (&output);
    }
    if (rc == 0)
        *usecs = s_median (times, runs);
    free (times);
    return rc;
}

//  The median time of runs local runs of a session (usecs)
static int
s_time_local (zi_session_t *session, zi_tensor_t *input, int runs, double *usecs)
{
    double *times = malloc (runs * sizeof (double));
    assert (times);
    int rc = 0;
    for (int run = -2; run < runs && rc == 0; run++) {
        double took = zi_cli_timed_run (session, &input);
        if (took < 0)
            rc = zi_error ("a chain of trivial nodes did not run: %s", zi_error_text ());
        else
        if (run >= 0)
            times [run] = took * 1000;
    }
    if (rc == 0)
        *usecs = s_median (times, runs);
    free (times);
    return rc;
}

//  Hand-overs between threads a request makes along a chain: from node to
//  node, and from the last back to the gateway
static int
s_thread_crossings (const zi_deploy_t *deploy)
{
    int crossings = 0, thread = deploy->gateway_thread;
    for (int node = 0; node < deploy->plan->n_nodes; node++) {
        int next = deploy->actors [deploy->first_actor [node]].thread;
        crossings += next != thread;
        thread = next;
    }
    return crossings + (thread != deploy->gateway_thread);
}

//  The topologies, their clients and the sessions; 0 short, 1 long, 2 the
//  long one on two threads
#define S_TOPOLOGIES 3

int
zi_cli_calibrate_actors (int base_port, int requests, zi_runtime_cost_t *cost)
{
    char folder [] = "/tmp/zinfer-calibrate-XXXXXX";
    if (!mkdtemp (folder))
        return zi_error ("cannot create a folder for the chains of actors: %s", strerror (errno));
    const int lengths [S_TOPOLOGIES] = {S_SHORT, S_LONG, S_LONG};
    const int threads [S_TOPOLOGIES] = {1, 1, 2};
    char model_paths [2][300] = {""}, topology_paths [S_TOPOLOGIES][300] = {""};
    zi_launcher_t *launchers [S_TOPOLOGIES] = {NULL};
    zi_client_t *clients [S_TOPOLOGIES] = {NULL};
    zi_model_t *models [2] = {NULL};
    zi_session_t *sessions [2] = {NULL};
    int64_t dims [2] = {1, S_WIDTH};
    zi_tensor_t *input = zi_test_data (ZI_F32, 2, dims, 77);
    int rc = input? 0: zi_error ("no memory for a 16 KiB input");
    for (int chain = 0; chain < 2 && rc == 0; chain++) {
        snprintf (model_paths [chain], sizeof model_paths [chain], "%s/chain%d.onnx", folder,
                  lengths [chain]);
        rc = s_write_chain (model_paths [chain], lengths [chain]);
        if (rc == 0 && !(models [chain] = zi_model_load (model_paths [chain])))
            rc = -1;
        zi_options_t options = {.threads = 1, .no_fuse = true};
        if (rc == 0 && !(sessions [chain] = zi_session_new (models [chain], &options)))
            rc = -1;
    }
    int crossings = 0;
    for (int index = 0; index < S_TOPOLOGIES && rc == 0; index++) {
        char name [64];
        snprintf (name, sizeof name, "calibrate-%d-%d", (int) getpid (), index);
        snprintf (topology_paths [index], sizeof topology_paths [index], "%s/%s.yaml", folder,
                  name);
        //  Ten ports each: the client's, then each process's monitor and stats
        rc = s_write_topology (topology_paths [index], name, model_paths [index? 1: 0],
                               base_port + 10 * index, threads [index]);
        if (rc == 0 && !(launchers [index] = zi_launcher_new (topology_paths [index], NULL, 0)))
            rc = -1;
        if (rc == 0 && zi_launcher_start (launchers [index], S_READY_SECS, false))
            rc = zi_error ("cannot start a chain of %d trivial actors on ports %d and up: %s",
                           lengths [index], base_port + 10 * index, zi_error_text ());
        char endpoint [300];
        if (rc == 0) {
            zi_deploy_t *deploy = zi_launcher_deploy (launchers [index]);
            zi_deploy_client_ipc_endpoint (deploy, endpoint, sizeof endpoint);
            if (index == 2)
                crossings = s_thread_crossings (deploy);
            if (!(clients [index] = zi_client_new (endpoint)))
                rc = -1;
            else
                zi_client_set_resend (clients [index], -1);
        }
    }
    //  Rounds alternate all five measurements, so that a machine whose
    //  speed drifts moves them alike; each round gives its own estimate
    double actor [S_ROUNDS], thread [S_ROUNDS];
    for (int round = 0; round < S_ROUNDS && rc == 0; round++) {
        double local [2], remote [S_TOPOLOGIES];
        for (int chain = 0; chain < 2 && rc == 0; chain++)
            rc = s_time_local (sessions [chain], input, requests, &local [chain]);
        for (int index = 0; index < S_TOPOLOGIES && rc == 0; index++)
            rc = s_time_remote (clients [index], input, requests, &remote [index]);
        for (int index = 0; index < S_TOPOLOGIES && rc == 0; index++)
            if (zi_launcher_supervise (launchers [index]))
                rc = zi_error ("a chain of trivial actors stopped running");
        if (rc)
            break;
        actor [round] = ((remote [1] - remote [0]) - (local [1] - local [0])) / (S_LONG - S_SHORT);
        thread [round] = crossings? (remote [2] - remote [1]) / crossings: 0;
    }
    if (rc == 0) {
        //  A cost below what this machine resolves is none
        cost->actor_usecs = fmax (0, s_median (actor, S_ROUNDS));
        cost->thread_usecs = fmax (0, s_median (thread, S_ROUNDS));
    }
    for (int index = 0; index < S_TOPOLOGIES; index++) {
        zi_client_destroy (&clients [index]);
        zi_launcher_destroy (&launchers [index]);
        if (*topology_paths [index])
            unlink (topology_paths [index]);
    }
    for (int chain = 0; chain < 2; chain++) {
        zi_session_destroy (&sessions [chain]);
        zi_model_destroy (&models [chain]);
        if (*model_paths [chain])
            unlink (model_paths [chain]);
    }
    zi_tensor_destroy (&input);
    rmdir (folder);
    return rc;
}
