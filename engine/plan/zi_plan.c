/*  =========================================================================
    zi_plan - shape inference, constant folding and the pass pipeline

    Planning runs once per set of input shapes. Each node's infer sees its
    inputs' shapes, and their data when they are constant; a node whose
    inputs are all constant is run right here and its outputs become
    constants. That one mechanism folds the Shape -> Gather -> Unsqueeze ->
    Concat -> Reshape subgraphs exporters emit, Constant nodes, and any
    weight preprocessing, and leaves only real work for run time.
    =========================================================================
*/

#include "zi_classes.h"

//  Collects a node's inputs as tensors: constants with data, the rest as
//  shape-only infos; NULL for omitted optional inputs
static int
s_node_inputs (zi_graph_t *self, zi_node_t *node, const zi_tensor_t **in, bool *all_constant)
{
    *all_constant = true;
    for (int slot = 0; slot < node->n_inputs; slot++) {
        int value = node->inputs [slot];
        if (value < 0) {
            in [slot] = NULL;
            continue;
        }
        zi_value_t *info = &self->values [value];
        if (info->constant)
            in [slot] = info->constant;
        else {
            if (!info->known)
                return zi_error ("node '%s' (%s): shape of input '%s' is unknown",
                                 node->name, node->op_type, info->name);
            in [slot] = &info->info;
            *all_constant = false;
        }
    }
    return 0;
}

//  Constants are folded at load, from what the model says; a model may
//  say "expand this to 2^40 elements". Real models fold shape arithmetic
//  and small weight transforms, far below this.
#define S_MAX_FOLDED_BYTES (INT64_C (256) << 20)

static int
s_fold_node (zi_node_t *node, const zi_tensor_t **in, zi_tensor_t **out_info,
             zi_value_t *values)
{
    const zi_op_t *op = node->op;
    for (int slot = 0; slot < node->n_outputs; slot++)
        if ((int64_t) out_info [slot]->nbytes > S_MAX_FOLDED_BYTES) {
            char shape [128];
            return zi_error ("folding it would make a constant of %s %s (%zu bytes; at most "
                             "%lld are folded)", zi_dtype_name (out_info [slot]->dtype),
                             zi_shape_str (out_info [slot]->ndim, out_info [slot]->dims, shape,
                                           sizeof shape), out_info [slot]->nbytes,
                             (long long) S_MAX_FOLDED_BYTES);
        }
    zi_tensor_t **outputs = calloc (node->n_outputs + 1, sizeof (zi_tensor_t *));
    assert (outputs);
    int rc = 0;
    for (int slot = 0; slot < node->n_outputs && rc == 0; slot++) {
        outputs [slot] = zi_tensor_new (out_info [slot]->dtype, out_info [slot]->ndim,
                                        out_info [slot]->dims);
        if (!outputs [slot])
            rc = -1;
    }
    if (rc == 0 && op->prepare)
        rc = op->prepare (node, in);
    if (rc == 0) {
        zi_exec_t *exec = zi_exec_new ();
        rc = op->run (node, exec, in, outputs);
        zi_exec_destroy (&exec);
    }
    for (int slot = 0; slot < node->n_outputs; slot++) {
        int value = node->outputs [slot];
        if (rc == 0 && value >= 0)
            values [value].constant = outputs [slot];
        else
            zi_tensor_destroy (&outputs [slot]);
    }
    free (outputs);
    return rc;
}

//  A fold that makes a weight-sized constant from constants alone (an
//  ONNX weight stored as float16 and Cast, a Transpose or
//  DequantizeLinear of a weight) is kept in the model's table of folded
//  constants, keyed by the node: every plan of the model folds the node
//  alike, so another thread's plan, or a plan for a new batch size, takes
//  the constant the first plan made, and zi_packed, which knows a weight
//  by its address, packs it once. Smaller folds (shape arithmetic) are
//  cheaper to redo than to look up.
#define S_KEPT_FOLD_BYTES (64 << 10)

//  A hash of a node's attributes, so that a key names what the node
//  computes and not only its name
static uint64_t
s_attrs_hash (const zi_node_t *node)
{
    uint64_t hash = 1469598103934665603ULL;
#define S_MIX(data, size) \
    for (size_t byte = 0; byte < (size); byte++) \
        hash = (hash ^ ((const uint8_t *) (data)) [byte]) * 1099511628211ULL
    for (int index = 0; index < node->n_attrs; index++) {
        const zi_attr_t *attr = &node->attrs [index];
        S_MIX (attr->name, strlen (attr->name) + 1);
        S_MIX (&attr->type, sizeof attr->type);
        S_MIX (&attr->f, sizeof attr->f);
        S_MIX (&attr->i, sizeof attr->i);
        if (attr->s)
            S_MIX (attr->s, strlen (attr->s) + 1);
        if (attr->t && attr->t->data)
            S_MIX (attr->t->data, attr->t->nbytes);
        if (attr->floats)
            S_MIX (attr->floats, attr->n * sizeof (float));
        if (attr->ints)
            S_MIX (attr->ints, attr->n * sizeof (int64_t));
        for (int item = 0; attr->strings && item < attr->n; item++)
            S_MIX (attr->strings [item], strlen (attr->strings [item]) + 1);
    }
#undef S_MIX
    return hash;
}

//  The key for keeping a node's fold, or false when it is not kept: one
//  output of at least S_KEPT_FOLD_BYTES from constant inputs only (Shape
//  and Size fold from shapes), and no random numbers, which each node
//  draws afresh
static bool
s_kept_fold_key (const zi_graph_t *self, const zi_node_t *node, zi_tensor_t *const *out_info,
                 zi_folded_key_t *key, char *recipe, size_t size)
{
    if (node->n_outputs != 1 || node->outputs [0] < 0 || node->n_inputs < 1
    ||  node->n_inputs > ZI_FOLDED_SOURCES || out_info [0]->nbytes < S_KEPT_FOLD_BYTES
    ||  strstr (node->op_type, "Random") || strcmp (node->op_type, "Bernoulli") == 0
    ||  strcmp (node->op_type, "Multinomial") == 0)
        return false;
    memset (key, 0, sizeof *key);
    bool any = false;
    for (int slot = 0; slot < node->n_inputs; slot++) {
        int value = node->inputs [slot];
        if (value < 0)
            continue;
        if (!self->values [value].constant)
            return false;
        key->sources [slot] = self->values [value].constant;
        any = true;
    }
    snprintf (recipe, size, "fold %s %s", node->op_type, node->name);
    key->recipe = recipe;
    key->params [0] = node->opset;
    key->params [1] = (double) (s_attrs_hash (node) >> 12);    //  exact in a double
    return any;
}

//  Room for the input and output tensors of any node of the graph: node
//  arity comes from the file, so it is sized by the graph, not fixed
typedef struct {
    const zi_tensor_t **in;     //  a node's inputs
    zi_tensor_t **out;          //  its outputs' infos
    zi_tensor_t *unused;        //  infos for outputs nobody named
} s_slots_t;

static s_slots_t
s_slots_new (const zi_graph_t *self)
{
    int most_inputs = 0, most_outputs = 0;
    for (int index = 0; index < self->n_nodes; index++) {
        if (self->nodes [index].n_inputs > most_inputs)
            most_inputs = self->nodes [index].n_inputs;
        if (self->nodes [index].n_outputs > most_outputs)
            most_outputs = self->nodes [index].n_outputs;
    }
    s_slots_t slots = {
        .in = calloc (most_inputs + 1, sizeof (zi_tensor_t *)),
        .out = calloc (most_outputs + 1, sizeof (zi_tensor_t *)),
        .unused = calloc (most_outputs + 1, sizeof (zi_tensor_t))
    };
    assert (slots.in && slots.out && slots.unused);
    return slots;
}

static void
s_slots_destroy (s_slots_t *slots)
{
    free (slots->in);
    free (slots->out);
    free (slots->unused);
}

int
zi_graph_infer (zi_graph_t *self, bool fold)
{
    s_slots_t slots = s_slots_new (self);
    int rc = 0;
    for (int index = 0; index < self->n_nodes && rc == 0; index++) {
        zi_node_t *node = &self->nodes [index];
        assert (node->op);
        if (node->op->control)
            zi_control_bind (node);
        const zi_tensor_t **in = slots.in;
        bool all_constant;
        if (s_node_inputs (self, node, in, &all_constant)) {
            rc = -1;
            break;
        }
        //  Outputs whose consumers were all removed still need somewhere
        //  for infer to write
        zi_tensor_t **out = slots.out;
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            out [slot] = value >= 0? &self->values [value].info: &slots.unused [slot];
            memset (out [slot], 0, sizeof (zi_tensor_t));
        }
        //  The dtype error names the op and the node itself
        if (zi_op_check_dtypes (node, in)) {
            rc = -1;
            break;
        }
        if (node->op->infer (node, in, out)) {
            zi_error_prefix ("node '%s' (%s)", node->name, node->op_type);
            rc = -1;
            break;
        }
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            if (value >= 0)
                self->values [value].known = true;
        }
        //  Shape and Size (shape_only) need only their input's shape, which
        //  planning knows
        if (node->op->shape_only)
            all_constant = true;
        bool already = node->n_outputs > 0 && node->outputs [0] >= 0
                    && self->values [node->outputs [0]].constant;
        //  A node with subgraphs is not folded: a Loop's trip count is the
        //  model's to choose, and loading must not run it (an If on a
        //  constant is inlined instead, and its nodes fold)
        if (fold && all_constant && !already && !node->op->control) {
            zi_folded_key_t key;
            char recipe [300];
            bool kept = s_kept_fold_key (self, node, out, &key, recipe, sizeof recipe);
            zi_tensor_t *made = kept? zi_folded_find (self->folded, &key): NULL;
            if (made && zi_tensor_same_shape (made, out [0]))
                self->values [node->outputs [0]].constant = made;
            else {
                zi_tensor_destroy (&made);
                if (s_fold_node (node, in, out, self->values)) {
                    zi_error_prefix ("node '%s' (%s), folding constants", node->name,
                                     node->op_type);
                    rc = -1;
                }
                else
                if (kept) {
                    zi_tensor_t **constant = &self->values [node->outputs [0]].constant;
                    *constant = zi_folded_keep (self->folded, &key, constant);
                }
            }
        }
    }
    s_slots_destroy (&slots);
    return rc;
}

//  Sets the graph inputs' shapes for this plan, checking them against the
//  shapes the model declares
static int
s_bind_inputs (zi_graph_t *self, const zi_tensor_t *const *shapes)
{
    for (int index = 0; index < self->n_inputs; index++) {
        zi_value_t *value = &self->values [self->inputs [index]];
        if (!value->known)
            return zi_error ("input '%s' has no declared type and shape", value->name);
        char want [160], got [160];
        zi_shape_str (value->info.ndim, value->info.dims, want, sizeof want);
        if (!shapes) {
            //  Declared shape, unknown dimensions taken as 1 (batch)
            int64_t dims [ZI_MAX_DIMS];
            for (int axis = 0; axis < value->info.ndim; axis++)
                dims [axis] = value->info.dims [axis] < 0? 1: value->info.dims [axis];
            zi_tensor_set_shape (&value->info, value->info.dtype, value->info.ndim, dims);
            continue;
        }
        const zi_tensor_t *shape = shapes [index];
        zi_shape_str (shape->ndim, shape->dims, got, sizeof got);
        bool match = shape->dtype == value->info.dtype && shape->ndim == value->info.ndim;
        for (int axis = 0; match && axis < shape->ndim; axis++)
            if (value->info.dims [axis] >= 0 && value->info.dims [axis] != shape->dims [axis])
                match = false;
        if (!match)
            return zi_error ("input '%s': expected %s %s, got %s %s", value->name,
                             zi_dtype_name (value->info.dtype), want,
                             zi_dtype_name (shape->dtype), got);
        zi_tensor_set_shape (&value->info, shape->dtype, shape->ndim, shape->dims);
    }
    return 0;
}

int
zi_graph_plan (zi_graph_t *self, const zi_tensor_t *const *input_shapes, bool no_fuse)
{
    if (zi_graph_plan_shapes (self, input_shapes, no_fuse))
        return -1;
    for (int index = 0; index < self->n_nodes; index++)
        if (zi_graph_prepare_node (self, index))
            return -1;
    return 0;
}

int
zi_graph_prepare_node (zi_graph_t *self, int index)
{
    zi_node_t *node = &self->nodes [index];
    if (!node->op->prepare)
        return 0;
    //  Room for this node's inputs only: sizing it by the whole graph
    //  would make preparing every node quadratic
    const zi_tensor_t **in = calloc (node->n_inputs + 1, sizeof (zi_tensor_t *));
    assert (in);
    bool all_constant;
    int rc = 0;
    if (s_node_inputs (self, node, in, &all_constant) || node->op->prepare (node, in)) {
        zi_error_prefix ("node '%s' (%s)", node->name, node->op_type);
        rc = -1;
    }
    free (in);
    return rc;
}

int
zi_graph_plan_shapes (zi_graph_t *self, const zi_tensor_t *const *input_shapes, bool no_fuse)
{
    //  A copied graph has no op params yet (zi_graph_dup leaves them out)
    if (zi_graph_init_ops (self)
    ||  s_bind_inputs (self, input_shapes) || zi_graph_infer (self, true))
        return -1;
    //  An If whose condition folded to a constant gives way to the nodes
    //  of its branch, which may hold more of them
    while (zi_pass_inline_if (self) > 0) {
        zi_graph_prune (self);
        if (zi_graph_sort (self) || zi_graph_init_ops (self) || zi_graph_infer (self, true))
            return -1;
    }
    //  Before pruning: the folded DequantizeLinear nodes of constant
    //  weights still say which 8-bit tensors made them
    if (!no_fuse)
        zi_pass_fuse_qdq (self);
    zi_graph_prune (self);
    if (!no_fuse) {
        //  Each pass may enable the next: hard-swish chains become single
        //  nodes only once constants are folded, and an activation fuses
        //  into a Conv only once BatchNormalization is out of the way
        zi_pass_fold_pad (self);
        zi_pass_fold_batchnorm (self);
        zi_pass_hard_activations (self);
        zi_pass_fuse_activations (self);
        zi_pass_fuse_residuals (self);
        zi_graph_prune (self);
        if (zi_graph_sort (self) || zi_graph_infer (self, false))
            return -1;
    }
    return 0;
}
