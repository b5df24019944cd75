/*  =========================================================================
    zi_classes.h - private types shared by the engine and the op kernels

    Public API lives in zinfer.h; what is here may change between versions.
    =========================================================================
*/

#ifndef ZI_CLASSES_H_INCLUDED
#define ZI_CLASSES_H_INCLUDED

#include "zinfer.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Tensors

struct zi_tensor_t {
    zi_dtype_t dtype;           //  element type
    int ndim;                   //  number of dimensions, 0 for a scalar
    int64_t dims [ZI_MAX_DIMS]; //  extent of each dimension
    void *data;                 //  elements, row-major; NULL for shape-only
    size_t nbytes;              //  bytes of data
    atomic_int refs;            //  references; the last one frees
    void (*free_fn) (void *data, void *hint);   //  how to free data
    void *hint;                 //  passed to free_fn
};

//  A tensor that only carries dtype and shape (data NULL); used during
//  shape inference. Not reference counted: lives on the stack or in a plan.
void
    zi_tensor_set_shape (zi_tensor_t *self, zi_dtype_t dtype, int ndim,
                         const int64_t *dims);
//  Element count of a shape; -1 if it overflows or a dimension is negative
int64_t
    zi_shape_count (int ndim, const int64_t *dims);
//  An IEEE half (float16, as ONNX and Keras store weights) as a float,
//  exactly, and a float as the nearest half (ties to even; infinity from
//  65520 on) (zi_dtype.c)
float
    zi_half_to_float (uint16_t half);
uint16_t
    zi_float_to_half (float value);
//  Converts count elements between any two dtypes as ONNX Cast does (the
//  rules are at the top of zi_dtype.c); dst may be src when the sizes match
void
    zi_dtype_convert (void *dst, int to, const void *src, int from, size_t count);
//  A new tensor holding the values converted; NULL if memory is short
zi_tensor_t *
    zi_tensor_convert (const zi_tensor_t *self, zi_dtype_t to);
//  Element item of data of a dtype, as a double (tests, messages, scalars)
double
    zi_dtype_get (const void *data, int dtype, size_t item);
//  Is every value of from exactly a value of to (int32 in int64, int8 and
//  uint8 in both, float16 in float32)? The inputs of a model are converted
//  so, and no other way, when a caller's type differs from the declared one
bool
    zi_dtype_widens (int from, int to);
//  int64, int32, int8 or uint8
bool
    zi_dtype_is_int (int dtype);
//  The tensor dtypes, for messages: "float32, float16, int64, ..."
const char *
    zi_dtype_list (void);
//  ONNX's name of a TensorProto.DataType code ("FLOAT16"), for messages
//  about types zinfer has or lacks
const char *
    zi_onnx_type_name (int64_t type);
//  Row-major strides in elements
void
    zi_shape_strides (int ndim, const int64_t *dims, int64_t *strides);
//  The tensor's data as floats / int64s (asserts the dtype: our bug if not)
float *
    zi_tensor_f32 (const zi_tensor_t *self);
int64_t *
    zi_tensor_i64 (const zi_tensor_t *self);
//  Same dtype and shape
bool
    zi_tensor_same_shape (const zi_tensor_t *a, const zi_tensor_t *b);

//  --------------------------------------------------------------------------
//  Errors: zi_error sets the calling thread's message and returns -1, so
//  a failing path reads `return zi_error ("...", ...);`

int
    zi_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
//  Put "prefix: " in front of the current message
void
    zi_error_prefix (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  --------------------------------------------------------------------------
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

typedef struct zi_op_t zi_op_t;
typedef struct zi_exec_t zi_exec_t;

//  An activation that an op applies to its own output (fusion pass)
typedef enum {
    ZI_ACT_NONE = 0,
    ZI_ACT_RELU,
    ZI_ACT_CLIP,                //  clamp to [alpha, beta]
    ZI_ACT_LEAKY_RELU,          //  alpha
    ZI_ACT_SIGMOID,
    ZI_ACT_HARD_SIGMOID,        //  max (0, min (1, alpha x + beta))
    ZI_ACT_HARD_SWISH,          //  x * hard_sigmoid (x; 1/6, 1/2)
    ZI_ACT_TANH
} zi_act_kind_t;

typedef struct {
    zi_act_kind_t kind;         //  which activation
    float alpha;                //  first parameter, see zi_act_kind_t
    float beta;                 //  second parameter
} zi_act_t;

//  Sum and maximum of a contiguous row, in a fixed order (zi_vec.c)
float
    zi_vec_sum (const float *x, int64_t n);
float
    zi_vec_max (const float *x, int64_t n);
//  y += x, element by element
void
    zi_vec_add (float *restrict y, const float *restrict x, int64_t n);

//  Apply an activation in place to n floats
void
    zi_act_apply (const zi_act_t *act, float *data, size_t n);
//  Apply to one value (reference and tail loops)
float
    zi_act_one (const zi_act_t *act, float x);

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

//  --------------------------------------------------------------------------
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

//  Helpers for kernels: an input's data as a list of int64 (any integer
//  or float32 tensor), NULL inputs allowed (return 0)
int
    zi_input_ints (const zi_tensor_t *tensor, int64_t *values, int max, const char *what);

//  --------------------------------------------------------------------------
//  Execution context: one per thread that runs kernels. Holds reusable
//  scratch memory so kernels allocate nothing per request.

zi_exec_t *
    zi_exec_new (void);
void
    zi_exec_destroy (zi_exec_t **self_p);
//  A 64-byte aligned scratch buffer of at least size bytes, valid until the
//  next call on this exec; NULL if memory is short. slot 0..3 lets one
//  kernel hold several buffers at once.
void *
    zi_exec_scratch (zi_exec_t *self, int slot, size_t size);
//  The same for thread 0 .. zi_exec_threads () - 1 of a parallel loop:
//  each thread of a zi_exec_parallel call uses its own
void *
    zi_exec_scratch_of (zi_exec_t *self, int thread, int slot, size_t size);

//  Threads the kernels run on: the exec's own setting (a session's
//  --threads), else the process default given before the exec was made
//  (a topology process's blas_threads); 1 unless set
void
    zi_exec_default_threads (int threads);
//  The threads OpenBLAS would use as the process started (the cores, or
//  OPENBLAS_NUM_THREADS): a session's default
int
    zi_exec_blas_default (void);
//  Runs OpenBLAS single-threaded from now on and stops the threads it
//  started as it loaded (idempotent; the kernels share their work out
//  themselves)
void
    zi_exec_blas_single (void);
void
    zi_exec_set_threads (zi_exec_t *self, int threads);
int
    zi_exec_threads (const zi_exec_t *self);

//  One part of a parallel loop: items [first, last) on thread `thread`
//  (0 .. zi_exec_threads () - 1, for zi_exec_scratch_of)
typedef void (zi_exec_fn_t) (void *args, int64_t first, int64_t last, int thread);
//  Runs fn over items [0, count) on the exec's threads, in parts whose
//  boundaries are multiples of unit. With one thread, or one unit of work,
//  fn is called once for everything on the calling thread. Parts must
//  write disjoint outputs; each item is then computed as it would be alone.
void
    zi_exec_parallel (zi_exec_t *self, int64_t count, int64_t unit, zi_exec_fn_t *fn,
                      void *args);
//  Items per part of a loop whose items cost macs_per_item multiply-adds
//  each, so that a part is worth a thread's wake-up
int64_t
    zi_exec_unit (int64_t macs_per_item);

//  Recycled tensor buffers (zi_pool.c): tensors whose data goes back to
//  the pool, from any thread, when their last reference is dropped
typedef struct zi_pool_t zi_pool_t;
zi_pool_t *
    zi_pool_new (void);
//  Destroy only once every pooled tensor has been released
void
    zi_pool_destroy (zi_pool_t **self_p);
zi_tensor_t *
    zi_pool_tensor (zi_pool_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims);
//  Pooled tensors not yet released
int
    zi_pool_live (zi_pool_t *self);

//  SIGTERM and SIGINT (zi_signals.c): install the handler once, then wait
//  up to timeout_msecs (-1: forever) for one; true when one came
int
    zi_signals_install (void);
bool
    zi_signals_wait (int timeout_msecs);

//  A zhashx keyed by request id (zi_ids.c): keys are the ids themselves,
//  cast to pointers (never 0); destructor frees items
void *
    zi_id_table_new (void (*destructor) (void **item_p));

//  Monotonic clock in microseconds
int64_t
    zi_clock_usecs (void);

//  Aligned allocation used by tensors and packed weights
void *
    zi_alloc (size_t size);
void
    zi_free (void *data);

//  --------------------------------------------------------------------------
//  Instruction sets (actors/act_isa.c): the CPU's best, asked once, and the
//  one in use, capped by ZI_ISA=portable|avx2|avx512 or zi_isa_set_cap

typedef enum {
    ZI_ISA_DEFAULT = -1,        //  a cap: back to ZI_ISA's, or none
    ZI_ISA_PORTABLE,            //  plain C, vectorised for the build's target
    ZI_ISA_AVX2,                //  AVX2 + FMA
    ZI_ISA_AVX512               //  AVX-512 F, BW, VL and DQ
} zi_isa_t;

//  The best level the CPU (and OS) supports
zi_isa_t
    zi_isa_cpu (void);
//  The level the kernels use: the CPU's, capped
zi_isa_t
    zi_isa_level (void);
//  Caps the level (a cap above the CPU's changes nothing); ZI_ISA_DEFAULT
//  restores ZI_ISA's cap. For tests and benchmarks, between runs.
void
    zi_isa_set_cap (zi_isa_t cap);
//  The level named portable, avx2 or avx512; -1 for any other name
int
    zi_isa_parse (const char *name, zi_isa_t *isa);
const char *
    zi_isa_name (zi_isa_t isa);
//  0 if ZI_ISA is unset or names a level, else -1 and a one-line message
int
    zi_isa_check_env (char *message, size_t size);
//  Has the CPU AVX-512 VNNI (or AVX-VNNI), AVX-512 BF16? For int8 and
//  bf16 kernels to come; the level does not depend on them.
bool
    zi_isa_has_vnni (void);
//  AVX-512 VNNI itself (vpdpbusd on 512-bit registers), for the int8
//  kernels of act_quant.c, which use it at the avx512 level
bool
    zi_isa_has_avx512_vnni (void);
bool
    zi_isa_has_bf16 (void);
//  The CPU's model name from /proc/cpuinfo, or "unknown CPU"; returns model
const char *
    zi_isa_cpu_model (char *model, size_t size);
//  "avx512 (cpu: avx512, vnni, bf16; ZI_ISA unset)"; returns text
const char *
    zi_isa_describe (char *text, size_t size);

//  --------------------------------------------------------------------------
//  Self tests: each class / op family ends with a test function.

typedef struct {
    const char *name;           //  test being run
    bool verbose;               //  print each check
    int checks;                 //  checks made
    int fails;                  //  checks failed
} zi_test_t;

void
    zi_test_check (zi_test_t *t, bool ok, const char *file, int line, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));
#define ZI_CHECK(t, cond, ...) zi_test_check ((t), (cond), __FILE__, __LINE__, __VA_ARGS__)

//  Compare n floats with tolerance atol + rtol * |want|; reports the worst
//  element; returns true when they match
bool
    zi_test_close (zi_test_t *t, const char *file, int line, const char *what,
                   const float *got, const float *want, size_t n, float atol, float rtol);
#define ZI_CHECK_CLOSE(t, what, got, want, n, atol, rtol) \
    zi_test_close ((t), __FILE__, __LINE__, (what), (got), (want), (n), (atol), (rtol))

//  Run one op on standalone inputs: init, infer, allocate outputs, prepare,
//  run. outputs[i] are new tensors. Returns -1 with the error on failure.
//  The node keeps its attributes; inputs may be NULL for omitted slots.
int
    zi_test_run_op (zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
                    int n_outputs, zi_tensor_t **outputs);

//  Tensors for tests: from values, and seeded pseudo-random in [-1, 1)
zi_tensor_t *
    zi_test_tensor (int ndim, const int64_t *dims, const float *values);
zi_tensor_t *
    zi_test_random (int ndim, const int64_t *dims, uint32_t seed);
zi_tensor_t *
    zi_test_ints (int n, const int64_t *values);
zi_tensor_t *
    zi_test_scalar (float value);
//  Reproducible contents of any dtype that differ per element
zi_tensor_t *
    zi_test_data (zi_dtype_t dtype, int ndim, const int64_t *dims, uint32_t seed);
//  A shape without data, as a non-constant input looks to shape inference
zi_tensor_t *
    zi_test_shape_only (zi_dtype_t dtype, int ndim, const int64_t *dims);

//  Caps the instruction set at level for a test's round (act_isa.c): false,
//  after a printed line saying so, when the CPU lacks it and the round is
//  to be skipped. zi_isa_set_cap (ZI_ISA_DEFAULT) after the last round.
bool
    zi_test_isa (zi_test_t *t, zi_isa_t level);

//  --------------------------------------------------------------------------
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
//  DenseNet's 32, detection heads a few dozen outputs).
#define ZI_MAX_GRAPH_INPUTS     256     //  inputs of a model (initializers aside)
#define ZI_MAX_GRAPH_OUTPUTS    256     //  outputs of a model
#define ZI_MAX_NODE_INPUTS      1024    //  input slots of one node (Concat, Sum)
#define ZI_MAX_NODE_OUTPUTS     256     //  outputs of one node (Split)
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
} zi_graph_t;

zi_graph_t *
    zi_graph_new (const char *name);
void
    zi_graph_destroy (zi_graph_t **self_p);
//  A deep copy (constants are shared by reference)
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
//  Multiply-accumulates of a planned node (Conv, ConvTranspose, Gemm, MatMul,
//  LSTM, GRU, RNN, and the integer ConvInteger, MatMulInteger, QLinearConv,
//  QLinearMatMul)
int64_t
    zi_graph_node_macs (const zi_graph_t *self, const zi_node_t *node);
//  Check arity and run op->init on every node; errors name the node
int
    zi_graph_init_ops (zi_graph_t *self);

//  Import an ONNX model from protobuf bytes; source names the file
zi_graph_t *
    zi_onnx_import (const void *data, size_t size, const char *source);
//  The same, taking the bytes over (a malloc'd buffer): freed once decoded
zi_graph_t *
    zi_onnx_import_owned (void *data, size_t size, const char *source);

//  Plan a graph for given input shapes (NULL: declared shapes, unknown dims
//  taken as 1): infer shapes, fold constants, apply the fusion passes
//  unless no_fuse, drop dead nodes, infer again, prepare kernels.
int
    zi_graph_plan (zi_graph_t *self, const zi_tensor_t *const *input_shapes, bool no_fuse);
//  The same without preparing kernels: a worker prepares only the nodes its
//  own threads run, once per set of input shapes
int
    zi_graph_plan_shapes (zi_graph_t *self, const zi_tensor_t *const *input_shapes, bool no_fuse);
//  Prepares the kernel of one node of a graph planned by zi_graph_plan_shapes
int
    zi_graph_prepare_node (zi_graph_t *self, int index);
//  Shape inference and constant folding only
int
    zi_graph_infer (zi_graph_t *self, bool fold);

//  Graph passes (zi_passes.c); each returns how many rewrites it made
int
    zi_pass_fold_batchnorm (zi_graph_t *self);
int
    zi_pass_fold_pad (zi_graph_t *self);
int
    zi_pass_hard_activations (zi_graph_t *self);
int
    zi_pass_fuse_activations (zi_graph_t *self);
int
    zi_pass_fuse_residuals (zi_graph_t *self);

//  Control flow (zi_control.c): binds an If, Loop or Scan node to the
//  callbacks that plan and run its subgraphs (before its infer), and
//  replaces each If whose condition is a constant by the nodes of the
//  branch it takes; returns how many it replaced
void
    zi_control_bind (zi_node_t *node);
int
    zi_pass_inline_if (zi_graph_t *self);

//  Building graphs by hand in tests: value names in comma-separated lists,
//  an empty name for an omitted optional input
zi_node_t *
    zi_test_graph_node (zi_graph_t *graph, const char *op_type, const char *name,
                        const char *inputs, const char *outputs);
//  Takes the tensor
void
    zi_test_graph_constant (zi_graph_t *graph, const char *name, zi_tensor_t *tensor);
//  Adds a float input of the given shape and an output
void
    zi_test_graph_io (zi_graph_t *graph, const char *input, int ndim, const int64_t *dims,
                      const char *output);

//  The plan of a session's last run (NULL before the first)
const zi_graph_t *
    zi_session_plan (const zi_session_t *self);
//  How many outputs a run fills: the size of the array zi_session_run takes
int
    zi_session_n_outputs (const zi_session_t *self);

struct zi_model_t {
    char *source;               //  file name, for messages
    zi_graph_t *graph;          //  as imported, never planned
};

#endif
