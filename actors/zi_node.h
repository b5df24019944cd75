/*  =========================================================================
    zi_node.h - graph nodes and their ONNX attributes

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_NODE_H_INCLUDED
#define ZI_NODE_H_INCLUDED

#include "zinfer.h"
#include "zi_tensor.h"
#include "zi_act.h"
#include "zi_exec.h"

//  A node's kernel (zi_op.h)
typedef struct zi_op_t zi_op_t;

//  Limits on a node's counts, checked where a model is read (see the
//  graph's in zi_graph.h)
#define ZI_MAX_NODE_INPUTS      1024    //  input slots of one node (Concat, Sum)
#define ZI_MAX_NODE_OUTPUTS     256     //  outputs of one node (Split)

//  Graph nodes and attributes

typedef enum {
    ZI_ATTR_FLOAT = 1,
    ZI_ATTR_INT = 2,
    ZI_ATTR_STRING = 3,
    ZI_ATTR_TENSOR = 4,
    ZI_ATTR_GRAPH = 5,
    ZI_ATTR_FLOATS = 6,
    ZI_ATTR_INTS = 7,
    ZI_ATTR_STRINGS = 8
} zi_attr_type_t;               //  ONNX AttributeProto.AttributeType codes

typedef struct {
    char *name;                 //  attribute name
    zi_attr_type_t type;        //  which of the values below is set
    float f;                    //  FLOAT
    int64_t i;                  //  INT
    char *s;                    //  STRING, NUL-terminated
    zi_tensor_t *t;             //  TENSOR
    int n;                      //  number of FLOATS, INTS or STRINGS
    float *floats;              //  FLOATS
    int64_t *ints;              //  INTS
    char **strings;             //  STRINGS, each NUL-terminated
    struct zi_graph_t *g;       //  GRAPH: a branch or loop body, shared
    void (*g_release) (struct zi_graph_t **g_p);    //  drops a reference to g
} zi_attr_t;

typedef struct zi_node_t {
    char *name;                 //  node name (made unique on import)
    char *op_type;              //  ONNX op type, e.g. "Conv"
    const zi_op_t *op;          //  kernel, from the op table
    int opset;                  //  ai.onnx opset the model imports
    int n_inputs;               //  number of input slots
    int *inputs;                //  value index per slot; -1: omitted optional
    int n_outputs;              //  number of outputs
    int *outputs;               //  value index per output
    int n_attrs;                //  number of attributes
    zi_attr_t *attrs;           //  attributes as parsed from the model
    void *params;               //  op-private, made by op->init
    zi_act_t act;               //  activation fused into this op's output
    const char *bad_attr;       //  an attribute read as the wrong type, or NULL
    const char *bad_attr_wanted;    //  the type it was read as
} zi_node_t;

//  Attribute lookup: the value, or fallback when absent. A present attribute
//  of the wrong type is an error in the model: the accessor notes it in
//  node->bad_attr and zi_graph_init_ops reports it after the op's init.
const zi_attr_t *
    zi_node_attr (const zi_node_t *self, const char *name);
int64_t
    zi_node_attr_int (const zi_node_t *self, const char *name, int64_t fallback);
float
    zi_node_attr_float (const zi_node_t *self, const char *name, float fallback);
const char *
    zi_node_attr_string (const zi_node_t *self, const char *name, const char *fallback);
//  A graph attribute (If's branches, Loop's and Scan's body), borrowed
const struct zi_graph_t *
    zi_node_attr_graph (const zi_node_t *self, const char *name);
//  Copies up to max ints into values; returns how many there were (0 if
//  absent), or -1 with an error if more than max
int
    zi_node_attr_ints (const zi_node_t *self, const char *name, int64_t *values, int max);
int
    zi_node_attr_floats (const zi_node_t *self, const char *name, float *values, int max);
//  Borrowed pointers to up to max strings (RNN activations)
int
    zi_node_attr_strings (const zi_node_t *self, const char *name, const char **values,
                          int max);

//  Building nodes by hand (tests, graph passes)
zi_node_t *
    zi_node_new (const char *op_type, const char *name);
void
    zi_node_destroy (zi_node_t **self_p);
//  Release what a node owns without freeing the struct itself
void
    zi_node_clear (zi_node_t *self);
void
    zi_node_set_int (zi_node_t *self, const char *name, int64_t value);
void
    zi_node_set_float (zi_node_t *self, const char *name, float value);
void
    zi_node_set_string (zi_node_t *self, const char *name, const char *value);
void
    zi_node_set_ints (zi_node_t *self, const char *name, int n, const int64_t *values);
void
    zi_node_set_floats (zi_node_t *self, const char *name, int n, const float *values);
void
    zi_node_set_strings (zi_node_t *self, const char *name, int n, const char *const *values);
//  Copies an attribute's lists and strings into a zeroed slot (a
//  subgraph is shared: one more reference)
void
    zi_attr_copy (zi_attr_t *into, const zi_attr_t *attr);
//  Takes the caller's reference to the graph; release (zi_graph_destroy)
//  drops the node's when the node is cleared
void
    zi_node_set_graph (zi_node_t *self, const char *name, struct zi_graph_t **graph_p,
                       void (*release) (struct zi_graph_t **g_p));
//  Takes a reference to the tensor
void
    zi_node_set_tensor (zi_node_t *self, const char *name, zi_tensor_t *value);

#endif
