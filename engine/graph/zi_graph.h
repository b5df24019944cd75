/*  =========================================================================
    zi_graph.h - graphs: values and the nodes between them

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_GRAPH_H_INCLUDED
#define ZI_GRAPH_H_INCLUDED

#include "zinfer.h"
#include <stdatomic.h>
#include "zi_node.h"
#include "zi_folded.h"

//  Graphs: values (named tensors) and the nodes between them

typedef struct {
    char *name;                 //  value name, unique in the graph
    zi_tensor_t info;           //  dtype and shape (data NULL); dims -1: unknown
    bool known;                 //  info holds an inferred or declared shape
    zi_tensor_t *constant;      //  initializer or folded constant, else NULL
    int producer;               //  index of the producing node, -1 if none
} zi_value_t;

//  Limits on the counts a model file declares. ZI_MAX_DIMS limits a
//  tensor's rank and nothing else; these limit how many of a thing there
//  are. Each is checked where the model is read (zi_onnx.c) and where the
//  command line names inputs and outputs, with an error naming the limit,
//  so an array sized by one of them is never indexed past its end. They
//  are generous for real models (InceptionV3's widest Concat has 4 inputs,
//  DenseNet's 32, detection heads a few dozen outputs). A node's own
//  limits are in zi_node.h.
#define ZI_MAX_GRAPH_INPUTS     256     //  inputs of a model (initializers aside)
#define ZI_MAX_GRAPH_OUTPUTS    256     //  outputs of a model
#define ZI_MAX_SUBGRAPH_DEPTH   64      //  graphs nested in attributes (If, Loop)

typedef struct zi_graph_t {
    char *name;                 //  model or graph name, for messages
    int opset;                  //  ai.onnx opset imported by the model
    int n_values;               //  values in use
    int max_values;             //  allocated slots
    zi_value_t *values;         //  every value, by index
    int n_nodes;                //  nodes in use, topological order once sorted
    int max_nodes;              //  allocated slots
    zi_node_t *nodes;           //  nodes, by index
    int n_inputs;               //  graph inputs (initializers excluded)
    int *inputs;                //  their value indexes
    int n_outputs;              //  graph outputs
    int *outputs;               //  their value indexes
    void *lookup;               //  name -> value index + 1 (zhashx)
    int n_outer;                //  subgraphs: the last inputs, read from enclosing graphs
    atomic_int refs;            //  references: node attributes share subgraphs
    zi_folded_t *folded;        //  constants passes made from these, shared with copies
} zi_graph_t;

zi_graph_t *
    zi_graph_new (const char *name);
void
    zi_graph_destroy (zi_graph_t **self_p);
//  A deep copy (constants, and the table of constants folded from them,
//  are shared by reference)
zi_graph_t *
    zi_graph_dup (const zi_graph_t *self);
//  A copy of a node into copy, without params (op->init makes them again);
//  subgraphs are shared
void
    zi_graph_copy_node (zi_node_t *copy, const zi_node_t *node);
//  The index of a named value, or -1
int
    zi_graph_find (const zi_graph_t *self, const char *name);
//  The index of a named value, created when absent
int
    zi_graph_value (zi_graph_t *self, const char *name);
//  A new value with a name made unique from base
int
    zi_graph_new_value (zi_graph_t *self, const char *base);
//  Append a node (the graph takes over its contents) and return its index
int
    zi_graph_add_node (zi_graph_t *self, zi_node_t *node);
//  Is the value a graph output?
bool
    zi_graph_is_output (const zi_graph_t *self, int value);
//  Number of node input slots that read the value (plus 1 if a graph output)
int
    zi_graph_uses (const zi_graph_t *self, int value);
//  The index of the only node reading the value, or -1 if none or several
int
    zi_graph_sole_consumer (const zi_graph_t *self, int value);
//  Put nodes in topological order, fill producers, check that every input
//  is produced, a graph input or a constant; -1 on cycles
int
    zi_graph_sort (zi_graph_t *self);
//  Drop nodes marked dead (op_type NULL) and nodes nothing needs
void
    zi_graph_prune (zi_graph_t *self);
//  Multiply-accumulates of a planned node, as its op counts them (zi_op_t.macs:
//  Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU, RNN, and the integer
//  ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul); 0 for the rest
int64_t
    zi_graph_node_macs (const zi_graph_t *self, const zi_node_t *node);
//  Check arity and run op->init on every node; errors name the node
int
    zi_graph_init_ops (zi_graph_t *self);

//  A loaded model: what zi_model_load (import/) makes of a file
struct zi_model_t {
    char *source;               //  file name, for messages
    zi_graph_t *graph;          //  as imported, never planned
};

#endif
