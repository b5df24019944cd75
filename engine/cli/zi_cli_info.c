/*  =========================================================================
    zi_cli_info - `zinfer info`: what a model holds and what it costs
    =========================================================================
*/

#include "zi_cli.h"

static const char *s_usage =
    "usage: zinfer info MODEL.onnx [--fuse]\n"
    "\n"
    "Lists the model's inputs and outputs, then every node in execution\n"
    "order with its op, output shape, parameter count and multiply-\n"
    "accumulates (MACs), and totals, then the bytes of weights the kernels\n"
    "packed for themselves. Unknown dimensions are taken as 1.\n"
    "Constant subgraphs (shape arithmetic) are folded away first.\n"
    "\n"
    "  --fuse      show the graph after the fusion passes, as `zinfer run`\n"
    "              executes it\n"
    "  -h, --help  this text\n";

static int
s_by_address (const void *one, const void *other)
{
    uintptr_t left = (uintptr_t) *(const zi_tensor_t *const *) one;
    uintptr_t right = (uintptr_t) *(const zi_tensor_t *const *) other;
    return (left > right) - (left < right);
}

int
zi_cli_info (int argc, char **argv)
{
    const char *model_path = NULL;
    bool fuse = false;
    const zi_opt_t table [] = {
        ZI_CLI_FLAG ("--fuse", &fuse),
        ZI_CLI_END
    };
    int parsed = zi_cli_parse ("info", s_usage, argc, argv, table, &model_path, 1);
    if (parsed != ZI_CLI_GO_ON)
        return parsed;
    if (!model_path)
        return zi_cli_fail ("info", "no model given (usage: zinfer info MODEL.onnx)");
    zi_model_t *model = zi_model_load (model_path);
    if (!model)
        return zi_cli_fail ("info", "%s", zi_error_text ());
    zi_graph_t *graph = zi_graph_dup (model->graph);
    if (zi_graph_plan (graph, NULL, !fuse)) {
        zi_cli_fail ("info", "%s: %s", model_path, zi_error_text ());
        zi_graph_destroy (&graph);
        zi_model_destroy (&model);
        return ZI_EXIT_USAGE;
    }
    char shape [128];
    printf ("model %s: opset %d, %d nodes%s\n", model_path, graph->opset, graph->n_nodes,
            fuse? " after fusion": "");
    char isa [160], cpu [256];
    printf ("isa    %s on %s\n", zi_isa_describe (isa, sizeof isa),
            zi_isa_cpu_model (cpu, sizeof cpu));
    for (int index = 0; index < model->graph->n_inputs; index++) {
        const zi_value_t *value = &model->graph->values [model->graph->inputs [index]];
        printf ("input  '%s': %s %s\n", value->name, zi_dtype_name (value->info.dtype),
                zi_shape_str (value->info.ndim, value->info.dims, shape, sizeof shape));
    }
    for (int index = 0; index < graph->n_outputs; index++) {
        const zi_value_t *value = &graph->values [graph->outputs [index]];
        printf ("output '%s': %s %s\n", value->name, zi_dtype_name (value->info.dtype),
                zi_shape_str (value->info.ndim, value->info.dims, shape, sizeof shape));
    }
    //  Names are printed whole (topologies place nodes by them)
    int width = 4;
    for (int index = 0; index < graph->n_nodes; index++)
        if ((int) strlen (graph->nodes [index].name) > width)
            width = (int) strlen (graph->nodes [index].name);
    printf ("\n%4s  %-*s %-20s %-22s %12s %14s\n", "#", width, "node", "op", "output",
            "params", "MACs");
    //  The total counts a constant that several nodes read (a shared
    //  layer's weights, folded once however often it is called) once, as
    //  the process holds it: by the tensor, not by the value naming it
    int64_t total_params = 0, total_macs = 0;
    int n_read = 0;
    for (int index = 0; index < graph->n_nodes; index++)
        n_read += graph->nodes [index].n_inputs;
    const zi_tensor_t **read = calloc (n_read + 1, sizeof (zi_tensor_t *));
    assert (read);
    n_read = 0;
    for (int index = 0; index < graph->n_nodes; index++) {
        const zi_node_t *node = &graph->nodes [index];
        int64_t params = 0;
        for (int slot = 0; slot < node->n_inputs; slot++) {
            int input = node->inputs [slot];
            if (input < 0 || !graph->values [input].constant)
                continue;
            params += zi_tensor_count (graph->values [input].constant);
            read [n_read++] = graph->values [input].constant;
        }
        int64_t macs = zi_graph_node_macs (graph, node);
        total_macs += macs;
        const zi_tensor_t *out = &graph->values [node->outputs [0]].info;
        char op [64];
        //  What the passes fused in: a residual Add (an input on the op's
        //  residual slot) and an activation
        int residual_slot = node->op? node->op->residual_input: 0;
        bool residual = residual_slot > 0 && node->n_inputs > residual_slot;
        snprintf (op, sizeof op, "%s%s%s", node->op_type, residual? "+add": "",
                  node->act.kind? "+act": "");
        printf ("%4d  %-*s %-20.20s %-22s %12lld %14lld\n", index, width, node->name, op,
                zi_shape_str (out->ndim, out->dims, shape, sizeof shape),
                (long long) params, (long long) macs);
    }
    qsort (read, n_read, sizeof read [0], s_by_address);
    for (int item = 0; item < n_read; item++)
        if (item == 0 || read [item] != read [item - 1])
            total_params += zi_tensor_count (read [item]);
    free (read);
    printf ("\ntotal: %d nodes, %lld parameters, %.3f GMACs\n", graph->n_nodes,
            (long long) total_params, total_macs / 1e9);
    //  What the kernels packed while planning, each form once however
    //  many nodes read it
    zi_packed_stats_t packed = zi_packed_stats ();
    printf ("packed weights: %zu forms, %.1f MB, read by %zu nodes\n", packed.forms,
            packed.bytes / 1e6, packed.references);
    zi_graph_destroy (&graph);
    zi_model_destroy (&model);
    return 0;
}
