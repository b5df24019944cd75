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
};

//  Ops that run graphs of their own (If, Loop, Scan in act_control.c).
//  Planning and running a graph is the planner's work, and the kernels sit
//  below the planner, so such an op's init makes a zi_control_t (what the
//  attributes say) and the planner binds it to the callbacks that plan and
//  run the branches or body (plan/zi_control.c) before the node's infer.
typedef struct zi_control_ops_t zi_control_ops_t;
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

//  Tests: runs one op on standalone inputs: init, infer, allocate outputs, prepare,
//  run. outputs[i] are new tensors. Returns -1 with the error on failure.
//  The node keeps its attributes; inputs may be NULL for omitted slots.
int
    zi_test_run_op (zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
                    int n_outputs, zi_tensor_t **outputs);

#endif
