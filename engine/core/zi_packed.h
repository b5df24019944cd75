/*  =========================================================================
    zi_packed.h - packed forms of constant weights, one per weight and packing

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_PACKED_H_INCLUDED
#define ZI_PACKED_H_INCLUDED

#include "zinfer.h"
#include "zi_test.h"

//  Which packing a form is; a kernel family may add its own
typedef enum {
    ZI_PACKED_MM = 1,           //  zi_mm_pack of a matrix (Conv, Gemm, MatMul, ConvTranspose)
    ZI_PACKED_WINOGRAD          //  zi_winograd_weights of a 3x3 kernel
} zi_packed_kind_t;

//  What a packed form is made from and how. Two nodes that ask with equal
//  keys get one buffer: the same constant tensor (by identity, not by
//  contents), the same kind, parameters, scale and size. The parameters
//  must say everything the fill depends on; unused ones stay 0.
typedef struct {
    const zi_tensor_t *source;  //  the constant weight; the form holds a reference to it
    zi_packed_kind_t kind;      //  which packing
    int64_t params [8];         //  its parameters (rows, depth, strides, tile, ...)
    float scale;                //  a factor multiplied in (Gemm's alpha); 1 for none
    size_t floats;              //  the packed form's size
} zi_packed_key_t;

//  Writes the packed form of key->source into packed (key->floats floats);
//  arg is the caller's, for what the parameters encode
typedef void (zi_packed_fill_fn) (float *packed, const zi_packed_key_t *key, const void *arg);

//  The packed form for key: the one already made if another node asked
//  with an equal key and still holds it, else a new one filled by fill.
//  Safe from any thread: a thread that asks while another fills the same
//  form waits for it instead of packing a second copy. Each successful
//  get takes one reference, which zi_packed_release gives back; the last
//  one frees the form and lets go of the source. NULL with an error if
//  memory is short.
const float *
    zi_packed_get (const zi_packed_key_t *key, zi_packed_fill_fn *fill, const void *arg);

//  Gives back one reference to a form from zi_packed_get and sets *packed_p
//  to NULL; NULL is allowed
void
    zi_packed_release (const float **packed_p);

//  The forms this process holds and their bytes, for tests and `info`
typedef struct {
    size_t forms;               //  distinct packed forms alive
    size_t bytes;               //  their size
    size_t references;          //  the nodes' references to them
    uint64_t fills;             //  forms packed since the process started
} zi_packed_stats_t;

zi_packed_stats_t
    zi_packed_stats (void);

void
    zi_packed_test (zi_test_t *t);

#endif
