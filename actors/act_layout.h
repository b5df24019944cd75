/*  =========================================================================
    act_layout.h - what the data-movement ops share: the strided copy
    (act_layout.c) that Transpose, Concat, Split (act_concat.c), Slice,
    Pad (act_slice.c), Gather (act_gather.c), Expand and Tile
    (act_expand.c) run on, their small helpers, and their self tests'
    reference helpers
    =========================================================================
*/

#ifndef ACT_LAYOUT_H_INCLUDED
#define ACT_LAYOUT_H_INCLUDED

#include "zi_classes.h"

//  Most axes a walk has: Tile splits every axis into repeat and element
#define ZI_WALK_MAX     (2 * ZI_MAX_DIMS)

//  Element types by size. Elements move by size, never by type, so every
//  op works on float32, int64 and bool alike. may_alias: the same bytes
//  are floats or ints to other kernels, and we must not let the optimiser
//  assume otherwise.
typedef uint8_t zi_layout_e1_t;
typedef uint16_t zi_layout_e2_t __attribute__ ((may_alias));
typedef uint32_t zi_layout_e4_t __attribute__ ((may_alias));
typedef uint64_t zi_layout_e8_t __attribute__ ((may_alias));

//  A strided copy: each output element comes from the input at
//  sum (index [axis] * src [axis]), where a stride may be 0 (broadcast)
//  or negative (a slice going back)
typedef struct {
    int ndim;                       //  number of axes, outermost first
    int64_t dims [ZI_WALK_MAX];     //  extent of each axis
    int64_t src [ZI_WALK_MAX];      //  source stride of each axis, elements
    int64_t dst [ZI_WALK_MAX];      //  destination stride, elements
} zi_walk_t;

//  Adds an axis, inside the ones added before
static inline void
zi_walk_add (zi_walk_t *self, int64_t dim, int64_t src, int64_t dst)
{
    assert (self->ndim < ZI_WALK_MAX);
    self->dims [self->ndim] = dim;
    self->src [self->ndim] = src;
    self->dst [self->ndim] = dst;
    self->ndim++;
}

//  Runs the copy the walk describes (simplifying the walk first); src and
//  dst point at the elements where every index is 0
void
    zi_walk_copy (zi_walk_t *walk, void *dst, const void *src, size_t esize);

//  Keeps a copy of the attributes as node->params
int
    zi_layout_keep (zi_node_t *node, const void *params, size_t size);
//  Resolves a possibly negative axis of a rank-`rank` tensor; -1 with an
//  error naming `what` when it is out of range
int
    zi_layout_axis (int64_t axis, int rank, const char *what, int *resolved);

//  An optional input, NULL when omitted
static inline const zi_tensor_t *
zi_layout_input (const zi_node_t *node, const zi_tensor_t *const *in, int index)
{
    return index < node->n_inputs? in [index]: NULL;
}

//  Pointer to element `index` of a buffer of esize-byte elements; index
//  may be negative
static inline char *
zi_layout_at (const void *data, int64_t index, size_t esize)
{
    return (char *) data + index * (int64_t) esize;
}

//  --------------------------------------------------------------------------
//  Self-test support. The references index every element explicitly:
//  unravel the output index, work out the input index the op's definition
//  names, copy.

//  The element types every op is tested on
#define ZI_LAYOUT_TEST_N_DTYPES 7
extern const zi_dtype_t zi_layout_test_dtypes [ZI_LAYOUT_TEST_N_DTYPES];

//  Flat index to per-axis index, and back
void
    zi_layout_test_unravel (int64_t flat, int ndim, const int64_t *dims, int64_t *index);
int64_t
    zi_layout_test_ravel (int ndim, const int64_t *dims, const int64_t *index);
//  Element `at` of want = element `from` of data
void
    zi_layout_test_set (zi_tensor_t *want, int64_t at, const zi_tensor_t *data, int64_t from);
//  Same shape and the same bytes
bool
    zi_layout_test_equal (const zi_tensor_t *got, const zi_tensor_t *want);
//  Runs the node on the inputs (not freed: the caller builds references
//  from them) and returns its one output, or NULL with the error; frees
//  the node
zi_tensor_t *
    zi_layout_test_run1 (zi_node_t *node, int n_inputs, zi_tensor_t **inputs);
//  Destroys count tensors
void
    zi_layout_test_free (zi_tensor_t **tensors, int count);
//  Expects the node to fail with a message containing both words (word2
//  may be NULL); frees node and inputs
void
    zi_layout_test_fails (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t **inputs,
                          int n_outputs, const char *what, const char *word1,
                          const char *word2);

#endif
