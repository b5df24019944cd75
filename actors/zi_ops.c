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
        for (int other = 0; other < index; other++)
            ZI_CHECK (t, strcmp (s_ops [other]->name, op->name) != 0,
                      "op %s listed once", op->name);
    }
}
