/*  =========================================================================
    zi_ops - the table of op kernels, expanded from actors/ops.def
    =========================================================================
*/

#include "zi_classes.h"

#define ZI_OP(symbol) extern const zi_op_t zi_op_##symbol;
#include "ops.def"
#undef ZI_OP

static const zi_op_t *s_ops [] = {
#define ZI_OP(symbol) &zi_op_##symbol,
#include "ops.def"
#undef ZI_OP
};

#define ZI_OP_COUNT ((int) (sizeof s_ops / sizeof s_ops [0]))

//  ZI_DT_EVERY spells out one set per slot
_Static_assert (sizeof ((zi_op_t *) 0)->dtypes / sizeof (uint32_t) == 9,
                "ZI_DT_EVERY lists ZI_OP_DTYPE_SLOTS sets");

int
zi_op_count (void)
{
    return ZI_OP_COUNT;
}

const zi_op_t *
zi_op_at (int index)
{
    return index >= 0 && index < ZI_OP_COUNT? s_ops [index]: NULL;
}

const zi_op_t *
zi_op_lookup (const char *op_type)
{
    for (int index = 0; index < ZI_OP_COUNT; index++)
        if (strcmp (s_ops [index]->name, op_type) == 0)
            return s_ops [index];
    return NULL;
}

//  "float32, int64 or bool": the dtypes of a ZI_DT set, in code order
static const char *
s_dtype_set_str (uint32_t set, char *text, size_t size)
{
    int listed = 0, total = 0;
    for (int dtype = 0; dtype < 32; dtype++)
        total += (set & ZI_DT (dtype)) != 0;
    size_t used = 0;
    text [0] = 0;
    for (int dtype = 0; dtype < 32 && used < size; dtype++)
        if (set & ZI_DT (dtype)) {
            listed++;
            used += snprintf (text + used, size - used, "%s%s",
                              listed == 1? "": listed == total? " or ": ", ",
                              zi_dtype_name (dtype));
        }
    return text;
}

int
zi_op_check_dtypes (const zi_node_t *node, const zi_tensor_t *const *in)
{
    const zi_op_t *op = node->op;
    assert (op);
    for (int slot = 0; slot < node->n_inputs; slot++) {
        int entry = slot < ZI_OP_DTYPE_SLOTS? slot: ZI_OP_DTYPE_SLOTS - 1;
        uint32_t accepted = op->dtypes [entry];
        if (!accepted || !in [slot]
        ||  ((unsigned) in [slot]->dtype < 32 && (accepted & ZI_DT (in [slot]->dtype))))
            continue;
        char expected [160];
        return zi_error ("%s at node '%s': input %d is %s, expected %s", op->name,
                         node->name, slot, zi_dtype_name (in [slot]->dtype),
                         s_dtype_set_str (accepted, expected, sizeof expected));
    }
    return 0;
}

const char *
zi_op_names (void)
{
    static char names [4096];
    if (!names [0]) {
        size_t used = 0;
        for (int index = 0; index < ZI_OP_COUNT && used < sizeof names; index++)
            used += snprintf (names + used, sizeof names - used, "%s%s",
                              index? ", ": "", s_ops [index]->name);
    }
    return names;
}

//  Every op the project promises (the foundation issue's list). The test
//  fails if one of them is missing from ops.def or its table entry is
//  incomplete.
void
zi_ops_test (zi_test_t *t)
{
    static const char *promised [] = {
        "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization",
        "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu",
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Erf", "Neg", "Abs",
        "Min", "Max", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten",
        "Reshape", "Concat", "Softmax", "Transpose", "Squeeze", "Unsqueeze",
        "Identity", "Dropout", "Pad", "Resize", "ReduceMean", "ReduceSum",
        "ReduceMax", "Shape", "Gather", "Constant", "Slice", "Cast", "Expand",
        "Split", "Where"
    };
    for (size_t index = 0; index < sizeof promised / sizeof promised [0]; index++) {
        const zi_op_t *op = zi_op_lookup (promised [index]);
        ZI_CHECK (t, op != NULL, "op %s is registered", promised [index]);
    }
    for (int index = 0; index < ZI_OP_COUNT; index++) {
        const zi_op_t *op = s_ops [index];
        ZI_CHECK (t, op->name && op->infer && op->run, "op %s has infer and run", op->name);
        ZI_CHECK (t, op->min_inputs <= op->max_inputs && op->max_outputs >= 1,
                  "op %s arity is sane", op->name);
        ZI_CHECK (t, op->batch >= ZI_BATCH_NONE && op->batch < ZI_BATCH_RULES,
                  "op %s names a batch rule that exists (%d)", op->name, (int) op->batch);
        //  Every dtype an entry accepts is a dtype tensors can have
        for (int slot = 0; slot < ZI_OP_DTYPE_SLOTS; slot++)
            for (int dtype = 0; dtype < 32; dtype++)
                if (op->dtypes [slot] & ZI_DT (dtype))
                    ZI_CHECK (t, zi_dtype_size (dtype) > 0,
                              "op %s input %d accepts a known dtype (%d)", op->name, slot, dtype);
        for (int other = 0; other < index; other++)
            ZI_CHECK (t, strcmp (s_ops [other]->name, op->name) != 0,
                      "op %s listed once", op->name);
    }
}

//  --------------------------------------------------------------------------
//  For tests: one op, start to end, on inputs of its own

int
zi_test_run_op (zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
                int n_outputs, zi_tensor_t **outputs)
{
    const zi_op_t *op = node->op;
    if (!op)
        return zi_error ("no kernel for op '%s'", node->op_type);
    if (n_inputs < op->min_inputs || n_inputs > op->max_inputs)
        return zi_error ("%s takes %d..%d inputs, got %d",
                         op->name, op->min_inputs, op->max_inputs, n_inputs);
    free (node->inputs);
    free (node->outputs);
    node->n_inputs = n_inputs;
    node->inputs = calloc (n_inputs + 1, sizeof (int));
    node->n_outputs = n_outputs;
    node->outputs = calloc (n_outputs + 1, sizeof (int));
    for (int slot = 0; slot < n_inputs; slot++)
        node->inputs [slot] = inputs [slot]? slot: -1;
    for (int slot = 0; slot < n_outputs; slot++)
        node->outputs [slot] = n_inputs + slot;

    if (!node->params && op->init && op->init (node) != 0)
        return -1;
    zi_tensor_t shapes [ZI_MAX_DIMS];
    zi_tensor_t *shape_ptrs [ZI_MAX_DIMS];
    assert (n_outputs <= ZI_MAX_DIMS);
    memset (shapes, 0, sizeof shapes);
    for (int slot = 0; slot < n_outputs; slot++)
        shape_ptrs [slot] = &shapes [slot];
    if (zi_op_check_dtypes (node, (const zi_tensor_t *const *) inputs) != 0
    ||  op->infer (node, (const zi_tensor_t *const *) inputs, shape_ptrs) != 0)
        return -1;
    for (int slot = 0; slot < n_outputs; slot++) {
        outputs [slot] = zi_tensor_new (shapes [slot].dtype, shapes [slot].ndim, shapes [slot].dims);
        if (!outputs [slot])
            return -1;
    }
    if (op->prepare && op->prepare (node, (const zi_tensor_t *const *) inputs) != 0)
        return -1;
    zi_exec_t *exec = zi_exec_new ();
    int rc = op->run (node, exec, (const zi_tensor_t *const *) inputs, outputs);
    zi_exec_destroy (&exec);
    return rc;
}

bool
zi_test_op_gives_bits (zi_node_t **node_p, int n_inputs, zi_tensor_t *const *inputs,
                       const float *want, size_t count)
{
    zi_tensor_t *output = NULL;
    bool same = zi_test_run_op (*node_p, n_inputs, inputs, 1, &output) == 0
             && zi_tensor_count (output) == count
             && memcmp (output->data, want, count * sizeof (float)) == 0;
    zi_tensor_destroy (&output);
    zi_node_destroy (node_p);
    return same;
}
