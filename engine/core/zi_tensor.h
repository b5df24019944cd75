/*  =========================================================================
    zi_tensor.h - tensors, dtypes and the aligned memory they live in

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_TENSOR_H_INCLUDED
#define ZI_TENSOR_H_INCLUDED

#include "zinfer.h"
#include <stdatomic.h>
#include "zi_error.h"

//  Tensors

struct zi_tensor_t {
    zi_dtype_t dtype;           //  element type
    int ndim;                   //  number of dimensions, 0 for a scalar
    int64_t dims [ZI_MAX_DIMS]; //  extent of each dimension
    void *data;                 //  elements, row-major; NULL for shape-only
    size_t nbytes;              //  bytes of data
    atomic_int refs;            //  references; the last one frees
    bool shell_in_block;        //  this struct lives in the block free_fn
                                //  gives back, and goes with it (zi_pool.c)
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

//  Aligned allocation used by tensors and packed weights
void *
    zi_alloc (size_t size);
void
    zi_free (void *data);

//  An input's data as a list of int64 (any integer or float32 tensor),
//  for kernels; NULL allowed (returns 0)
int
    zi_input_ints (const zi_tensor_t *tensor, int64_t *values, int max, const char *what);

#endif
