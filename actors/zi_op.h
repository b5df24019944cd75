/*  =========================================================================
    zi_op.h - op kernels: one zi_op_t per ONNX op type, and their table

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_OP_H_INCLUDED
#define ZI_OP_H_INCLUDED

#include "zinfer.h"
#include "zi_node.h"

//  Op kernels. One zi_op_t per ONNX op type, listed in actors/ops.def.
//
//  Life of a node: init once at load (parse attributes, reject what is not
//  supported); infer whenever input shapes are known (set output dtype and
//  shape; inputs carry data only when constant); prepare once shapes are
//  fixed (optional: pack weights); run per request.
//
//  What is the same for every op is checked once, by the engine, from the
//  table entry: the number of inputs (min_inputs, max_inputs) and the
//  dtypes each input slot accepts (dtypes), so a kernel's infer starts
//  from inputs it can take. What only the op knows (two inputs of one
//  dtype, a scalar bound) stays in its infer.

//  Accepted dtypes of an input slot: a set of ZI_DT () bits; 0 accepts any
#define ZI_DT(dtype)    (1u << (dtype))
#define ZI_DT_INT       (ZI_DT (ZI_I64) | ZI_DT (ZI_I32) | ZI_DT (ZI_I8) | ZI_DT (ZI_U8))
#define ZI_DT_NUMERIC   (ZI_DT (ZI_F32) | ZI_DT_INT)
//  Slots with their own entry in zi_op_t.dtypes: as many as the op with
//  the most fixed inputs has (QLinearConv); the slots of a variadic op
//  past them share the last
#define ZI_OP_DTYPE_SLOTS 9
//  One set for every input slot (variadic ops, elementwise binaries); as
//  many sets as ZI_OP_DTYPE_SLOTS, which zi_ops.c asserts
#define ZI_DT_EVERY(set) {set, set, set, set, set, set, set, set, set}

//  What an op does with the batch axis: the rule by which the check that
//  a model keeps the rows of a batch apart (plan/zi_batch_axis.c) follows
//  the batch through it. ZI_BATCH_NONE, what a row leaves unset, has no
//  rule, and the check refuses the op rather than guess.
typedef enum {
    ZI_BATCH_NONE,              //  no rule: refused when the batch comes in
    ZI_BATCH_ELEMENTWISE,       //  numpy broadcasting keeps the batch's place
    ZI_BATCH_FIRST,             //  data [N, C, ...], N the batch: convolutions, pools
    ZI_BATCH_BATCHNORM,         //  statistics per channel, not in training mode
    ZI_BATCH_SOFTMAX,           //  normalises along its axis (opset 13: one axis)
    ZI_BATCH_LAYERNORM,         //  normalises axis and after
    ZI_BATCH_REDUCE,            //  reduces its axes (attribute or input 1)
    ZI_BATCH_ARGMAX,            //  reduces one axis to positions
    ZI_BATCH_TOPK,              //  sorts along one axis
    ZI_BATCH_CUMSUM,            //  runs along the axis of input 1
    ZI_BATCH_RESHAPE,           //  keeps the elements, maybe not the axes
    ZI_BATCH_TRANSPOSE,         //  moves the axes by perm
    ZI_BATCH_CONCAT,            //  joins along one axis
    ZI_BATCH_SPLIT,             //  cuts along one axis
    ZI_BATCH_SLICE,             //  cuts ranges of its axes
    ZI_BATCH_GATHER,            //  picks along one axis by index
    ZI_BATCH_EXPAND,            //  broadcasts input 0 to a shape
    ZI_BATCH_TILE,              //  repeats along its axes
    ZI_BATCH_PAD,               //  pads its axes
    ZI_BATCH_ELEMENTS,          //  index and data walk together, one axis indexed
    ZI_BATCH_RESIZE,            //  scales at input 2 (input 1 before opset 11)
    ZI_BATCH_UPSAMPLE,          //  scales at input 1
    ZI_BATCH_RNN,               //  X [seq, batch, input], or batch first by layout
    ZI_BATCH_GEMM,              //  A [M, K] B [K, N], transposed by attributes
    ZI_BATCH_MATMUL,            //  A at input 0, B at input 1
    ZI_BATCH_QLINEAR_MATMUL,    //  A at input 0, B at input 3
    ZI_BATCH_QUANTIZE,          //  scales per tensor or along one axis
    ZI_BATCH_ONEHOT,            //  adds an axis
    ZI_BATCH_TRILU,             //  works on the last two axes
    ZI_BATCH_EINSUM,            //  follows the batch's letter through the equation
    ZI_BATCH_ONE_SCALE,         //  refused: one scale from every row
    ZI_BATCH_NONZERO,           //  refused: lists places across every row
    ZI_BATCH_SUBGRAPH,          //  refused: runs graphs the check does not follow
    ZI_BATCH_RULES              //  how many there are
} zi_batch_rule_t;

struct zi_op_t {
    const char *name;           //  ONNX op type
    int min_inputs;             //  fewest input slots
    int max_inputs;             //  most input slots
    int max_outputs;            //  most outputs (at least one is required)
    bool fusable;               //  honours node->act on its output
    int (*init) (zi_node_t *node);
    int (*infer) (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out);
    int (*prepare) (zi_node_t *node, const zi_tensor_t *const *in);
    int (*run) (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                zi_tensor_t *const *out);
    void (*destroy) (zi_node_t *node);  //  frees params; NULL means free ()
    bool control;               //  runs graphs of its own: params is a zi_control_t
    uint32_t dtypes [ZI_OP_DTYPE_SLOTS];    //  accepted dtypes per input slot (ZI_DT)
    int row;                    //  the op's row in its family's table (act_<family>.c)
    int residual_input;         //  slot a fused residual Add arrives on; 0: none
    bool shape_only;            //  reads only its input's shape: foldable once shapes are known
    zi_batch_rule_t batch;      //  what it does with the batch axis
    //  Multiply-accumulates of one node from its planned shapes (omitted
    //  slots NULL); NULL for ops whose cost is memory traffic, not arithmetic
    int64_t (*macs) (const zi_node_t *node, const zi_tensor_t *const *in,
                     const zi_tensor_t *const *out);
};

//  Ops that run graphs of their own (If, Loop, Scan in act_control.c).
//  Planning and running a graph is the planner's work, and the kernels sit
//  below the planner, so such an op's init makes a zi_control_t (what the
//  attributes say) and the planner binds it to the callbacks that plan and
//  run the branches or body (plan/zi_control.c) before the node's infer.
typedef struct zi_control_ops_t zi_control_ops_t;
//  Which of them a node is: its op's row, so the planner binds it by number
typedef enum {
    ZI_CONTROL_IF,
    ZI_CONTROL_LOOP,
    ZI_CONTROL_SCAN
} zi_control_kind_t;
typedef struct {
    const zi_control_ops_t *ops;    //  set by the planner; NULL until bound
    void *state;                //  the planner's: planned graphs per shape
    int n_declared;             //  node inputs the op itself defines
    int n_outer;                //  inputs after those: values of the enclosing graph
    int n_carried;              //  Loop, Scan: loop-carried values
    int n_scan_inputs;          //  Scan: inputs sliced per iteration
    int n_scan_outputs;         //  Loop, Scan: outputs stacked over the iterations
    int64_t *in_axes;           //  Scan: the axis each scan input is sliced along
    bool *in_reverse;           //  Scan: sliced from the end
    int64_t *out_axes;          //  Scan: the axis each scan output is stacked along
    bool *out_reverse;          //  Scan: stacked from the end
} zi_control_t;

struct zi_control_ops_t {
    int (*infer) (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out);
    int (*prepare) (zi_node_t *node, const zi_tensor_t *const *in);
    int (*run) (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                zi_tensor_t *const *out);
    void (*release) (zi_control_t *control);    //  frees state
};

//  The op of an ONNX op type, or NULL
const zi_op_t *
    zi_op_lookup (const char *op_type);
//  Comma-separated names of every op (static buffer)
const char *
    zi_op_names (void);
//  Number of ops in the table, and the op at an index
int
    zi_op_count (void);
const zi_op_t *
    zi_op_at (int index);

//  Checks the node's inputs against its op's dtypes; the engine calls it
//  before every infer. Returns -1 with an error naming the op, the node,
//  the slot, the dtype that came and the ones expected.
int
    zi_op_check_dtypes (const zi_node_t *node, const zi_tensor_t *const *in);

//  Multiply-accumulate counts several kernels share (zi_op_macs.c): Conv
//  and ConvInteger read their weight at input 1, QLinearConv at input 3;
//  MatMul, MatMulInteger and QLinearMatMul take the inner extent from A
int64_t
    zi_op_macs_conv (const zi_node_t *node, const zi_tensor_t *const *in,
                     const zi_tensor_t *const *out);
int64_t
    zi_op_macs_qlinear_conv (const zi_node_t *node, const zi_tensor_t *const *in,
                             const zi_tensor_t *const *out);
int64_t
    zi_op_macs_matmul (const zi_node_t *node, const zi_tensor_t *const *in,
                       const zi_tensor_t *const *out);

//  Tests: runs one op on standalone inputs: init, infer, allocate outputs, prepare,
//  run. outputs[i] are new tensors. Returns -1 with the error on failure.
//  The node keeps its attributes; inputs may be NULL for omitted slots.
int
    zi_test_run_op (zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
                    int n_outputs, zi_tensor_t **outputs);
//  Tests: runs a one-output op so and tells whether it gave count floats
//  with the bits of want (the order tests of the kernels); destroys the
//  node
bool
    zi_test_op_gives_bits (zi_node_t **node_p, int n_inputs, zi_tensor_t *const *inputs,
                           const float *want, size_t count);

#endif
