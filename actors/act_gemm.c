/*  =========================================================================
    act_gemm - matrix products (ONNX Gemm, MatMul)

    Gemm: Y = alpha * A' * B' + beta * C, with C broadcast to [M, N]. The
    broadcast C (times beta) is written into Y first and sgemm accumulates
    onto it, so the product and the bias take one pass of sgemm. With
    constant weights and a C that is one row (the linear layers of an
    MLP), B is packed once at load and a batch of rows goes through zi_mm
    (act_mm.h) instead: Y^T = B'^T A'^T + C^T, bias and activation in the
    product's one store, nothing of B copied per call. sgemm would pack
    all of B on every call, which for a batch of 32 is a good part of it.

    MatMul follows numpy: 1-d operands get a 1 put in front (A) or behind
    (B) and dropped from the result, and the batch axes broadcast. When B
    has no batch (the usual [batch, seq, K] x [K, N] of a linear layer),
    A's batch axes fold into M and the whole product is one sgemm, or,
    when B is constant, one zi_mm on B packed at load as for Gemm;
    otherwise there is one sgemm per output matrix.

    Both apply the fused activation to their output.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_mm.h"
#include "zi_mm_shared.h"
#include <cblas.h>

//  --------------------------------------------------------------------------
//  Gemm

typedef struct {
    float alpha;                //  scale of A' B'
    float beta;                 //  scale of C
    bool trans_a;               //  A is stored [K, M]
    bool trans_b;               //  B is stored [N, K]
    const float *packed;        //  alpha B'^T packed by prepare (zi_mm_shared.h), or NULL
    float *bias;                //  beta C as one value per column of Y, or NULL
    const float *packed_from;   //  the B it was packed from
    const float *bias_from;     //  the C the bias came from (NULL: no C)
    int64_t packed_k, packed_n; //  B's sizes then
} s_gemm_t;

//  Sizes of one Gemm, and how C broadcasts: c_rows is 1 or M, c_cols 1 or N
typedef struct {
    int64_t m, k, n;            //  Y [M, N] = A' [M, K] B' [K, N]
    int64_t c_rows, c_cols;     //  C's extent over Y's rows and columns
} s_gemm_size_t;

//  An optional input, NULL when omitted
static const zi_tensor_t *
s_input (const zi_node_t *node, const zi_tensor_t *const *in, int slot)
{
    return slot < node->n_inputs? in [slot]: NULL;
}

static int
s_gemm_init (zi_node_t *node)
{
    s_gemm_t *self = calloc (1, sizeof (s_gemm_t));
    if (!self)
        return zi_error ("out of memory");
    self->alpha = zi_node_attr_float (node, "alpha", 1.0f);
    self->beta = zi_node_attr_float (node, "beta", 1.0f);
    self->trans_a = zi_node_attr_int (node, "transA", 0) != 0;
    self->trans_b = zi_node_attr_int (node, "transB", 0) != 0;
    node->params = self;
    return 0;
}

static int
s_gemm_size (const s_gemm_t *self, const zi_tensor_t *a, const zi_tensor_t *b,
             const zi_tensor_t *c, s_gemm_size_t *size)
{
    char a_shape [128], b_shape [128];
    if (a->ndim != 2)
        return zi_error ("input 0: expected a matrix [%s], got %s",
                         self->trans_a? "K, M": "M, K",
                         zi_shape_str (a->ndim, a->dims, a_shape, sizeof a_shape));
    if (b->ndim != 2)
        return zi_error ("input 1: expected a matrix [%s], got %s",
                         self->trans_b? "N, K": "K, N",
                         zi_shape_str (b->ndim, b->dims, b_shape, sizeof b_shape));
    size->m = a->dims [self->trans_a? 1: 0];
    size->k = a->dims [self->trans_a? 0: 1];
    size->n = b->dims [self->trans_b? 0: 1];
    int64_t k_b = b->dims [self->trans_b? 1: 0];
    if (k_b != size->k)
        return zi_error ("inner dimensions differ: A%s %s has K = %lld, B%s %s has K = %lld",
                         self->trans_a? "^T": "",
                         zi_shape_str (a->ndim, a->dims, a_shape, sizeof a_shape),
                         (long long) size->k, self->trans_b? "^T": "",
                         zi_shape_str (b->ndim, b->dims, b_shape, sizeof b_shape),
                         (long long) k_b);
    size->c_rows = size->c_cols = 1;
    if (c) {
        //  Unidirectional broadcast: C's axes align with Y's from the right
        //  and each is 1 or equal to Y's
        if (c->ndim > 2)
            return zi_error ("input 2: C must broadcast to [%lld, %lld], got rank %d",
                             (long long) size->m, (long long) size->n, c->ndim);
        if (c->ndim >= 1)
            size->c_cols = c->dims [c->ndim - 1];
        if (c->ndim == 2)
            size->c_rows = c->dims [0];
        if ((size->c_rows != 1 && size->c_rows != size->m)
        ||  (size->c_cols != 1 && size->c_cols != size->n))
            return zi_error ("input 2: C %s does not broadcast to [%lld, %lld]",
                             zi_shape_str (c->ndim, c->dims, a_shape, sizeof a_shape),
                             (long long) size->m, (long long) size->n);
    }
    return 0;
}

static int
s_gemm_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_gemm_size_t size = {0};
    if (s_gemm_size (node->params, in [0], in [1], s_input (node, in, 2), &size))
        return -1;
    zi_tensor_set_shape (out [0], ZI_F32, 2, (int64_t []) {size.m, size.n});
    return 0;
}

static void
s_gemm_release (s_gemm_t *self)
{
    zi_packed_release (&self->packed);
    zi_free (self->bias);
    self->bias = NULL;
    self->packed_from = self->bias_from = NULL;
}

static void
s_gemm_destroy (zi_node_t *node)
{
    if (node->params)
        s_gemm_release (node->params);
    free (node->params);
    node->params = NULL;
}

//  Packs constant weights (and a one-row C) for the batched product
static int
s_gemm_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_gemm_t *self = node->params;
    s_gemm_release (self);
    const zi_tensor_t *c = s_input (node, in, 2);
    s_gemm_size_t size = {0};
    if (!zi_cpu_avx2 () || !in [1]->data || (c && !c->data)
    ||  s_gemm_size (self, in [0], in [1], c, &size) || size.k == 0 || size.n == 0
    ||  (c && size.c_rows != 1))
        return 0;
    //  Row n of the packed matrix is column n of B', times alpha; shared
    //  with the nodes that pack the same B so (zi_mm_shared.c)
    const float *b = zi_tensor_f32 (in [1]);
    self->packed = zi_mm_pack_shared (in [1], size.n, size.k, self->trans_b? size.k: 1,
                                      self->trans_b? 1: size.n, 1, 0, self->alpha);
    self->bias = self->packed? zi_alloc (size.n * sizeof (float)): NULL;
    if (!self->packed || !self->bias) {
        s_gemm_release (self);
        return zi_error ("out of memory for packed weights");
    }
    for (int64_t col = 0; col < size.n; col++)
        self->bias [col] = c && self->beta != 0?
            self->beta * zi_tensor_f32 (c) [size.c_cols == 1? 0: col]: 0;
    self->packed_from = b;
    self->bias_from = c? zi_tensor_f32 (c): NULL;
    self->packed_k = size.k;
    self->packed_n = size.n;
    return 0;
}

//  Y [M][N] = act (A' W^T + bias) for M rows through zi_mm on W [N][K]
//  packed: Y^T [N][M] = W A'^T, A transposed first unless stored so (one
//  row needs neither: it is a matrix-vector product)
static int
s_packed_rows (zi_exec_t *exec, const float *packed, const float *bias, const float *a,
               bool a_transposed, int64_t m, int64_t k, int64_t n, const zi_act_t *act,
               float *y)
{
    if (m == 1) {
        zi_mm_parallel (exec, packed, n, k, 1, a, 1, bias, NULL, 0, act, y, 1);
        return 0;
    }
    const float *a_t = a;
    if (!a_transposed) {
        float *scratch = zi_exec_scratch (exec, 0, m * k * sizeof (float));
        if (!scratch)
            return -1;
        zi_mm_transpose (a, m, k, k, scratch, m);
        a_t = scratch;
    }
    float *y_t = zi_exec_scratch (exec, 1, n * m * sizeof (float));
    if (!y_t)
        return -1;
    zi_mm_parallel (exec, packed, n, k, m, a_t, m, bias, NULL, 0, act, y_t, m);
    zi_mm_transpose (y_t, n, m, m, y, n);
    return 0;
}

static int
s_gemm_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    const s_gemm_t *self = node->params;
    const zi_tensor_t *c_tensor = s_input (node, in, 2);
    s_gemm_size_t size = {0};
    if (s_gemm_size (self, in [0], in [1], c_tensor, &size))
        return -1;
    float *y = zi_tensor_f32 (out [0]);
    if (size.m == 0 || size.n == 0)
        return 0;
    //  Rows on the weights packed at load. One row is a matrix-vector
    //  product, which zi_mm runs on the same panels (A's row, or its
    //  column when transposed, is contiguous either way) when OpenBLAS's
    //  kernels are older than the CPU's (2-4x its Prescott sgemv on a
    //  classifier's weights); else zi_sgemv below, a little ahead of
    //  zi_mm: with transB its own row kernel (one thread's bits at any
    //  thread count), without it OpenBLAS's sgemv by columns
    const float *c_data = c_tensor? zi_tensor_f32 (c_tensor): NULL;
    if (self->packed && zi_use_avx2 () && (size.m > 1 || zi_isa_blas_behind ())
    &&  self->packed_from == zi_tensor_f32 (in [1]) && self->bias_from == c_data
    &&  self->packed_k == size.k && self->packed_n == size.n) {
        return s_packed_rows (exec, self->packed, self->bias, zi_tensor_f32 (in [0]),
                              self->trans_a, size.m, size.k, size.n, &node->act, y);
    }

    float beta = 0;
    if (c_tensor && self->beta != 0) {
        const float *c = zi_tensor_f32 (c_tensor);
        for (int64_t row = 0; row < size.m; row++) {
            const float *c_row = c + (size.c_rows == 1? 0: row * size.c_cols);
            float *y_row = y + row * size.n;
            if (size.c_cols == 1) {
                float value = self->beta * c_row [0];
                for (int64_t col = 0; col < size.n; col++)
                    y_row [col] = value;
            }
            else
                for (int64_t col = 0; col < size.n; col++)
                    y_row [col] = self->beta * c_row [col];
        }
        beta = 1;
    }
    if (size.k == 0) {
        //  An empty product is zero; BLAS is not asked about K = 0
        if (beta == 0)
            memset (y, 0, size.m * size.n * sizeof (float));
    }
    else
    if (size.m == 1) {
        //  One row (a single request through a classifier): a matrix-vector
        //  product. sgemm would pack the whole weight matrix first, which for
        //  one row costs more than the product itself; sgemv streams it once.
        //  y = alpha * op (B)^T a + beta y, op (B) being K x N
        zi_sgemv (exec, !self->trans_b, self->trans_b? size.n: size.k,
                  self->trans_b? size.k: size.n, self->alpha, zi_tensor_f32 (in [1]),
                  self->trans_b? size.k: size.n, zi_tensor_f32 (in [0]),
                  self->trans_a? size.m: 1, beta, y);
    }
    else
        zi_sgemm (exec, self->trans_a, self->trans_b, size.m, size.n, size.k, self->alpha,
                  zi_tensor_f32 (in [0]), self->trans_a? size.m: size.k,
                  zi_tensor_f32 (in [1]), self->trans_b? size.k: size.n, beta, y, size.n);
    zi_act_apply (&node->act, y, (size_t) (size.m * size.n));
    return 0;
}


//  --------------------------------------------------------------------------
//  MatMul

//  Shapes of one MatMul. Batch steps count whole matrices and are 0 along
//  axes where that operand is broadcast.
typedef struct {
    int64_t m, k, n;            //  each product is [M, K] x [K, N]
    int ndim;                   //  rank of Y
    int64_t dims [ZI_MAX_DIMS]; //  shape of Y
    int n_batch;                //  batch axes of Y
    int64_t batch [ZI_MAX_DIMS];    //  their extents
    int64_t a_step [ZI_MAX_DIMS];   //  A matrices to skip per step on each axis
    int64_t b_step [ZI_MAX_DIMS];   //  B matrices likewise
    int64_t batches;            //  matrices in Y
    int64_t b_batches;          //  matrices in B
} s_matmul_size_t;

//  Row-major steps, in matrices, of an operand's batch axes aligned to the
//  right of the output's; broadcast axes step 0
static void
s_batch_steps (const zi_tensor_t *tensor, int n_own, int n_batch, const int64_t *batch,
               int64_t *steps)
{
    int64_t stride = 1;
    for (int axis = n_batch - 1; axis >= 0; axis--) {
        int own = axis - (n_batch - n_own);
        int64_t extent = own >= 0? tensor->dims [own]: 1;
        steps [axis] = extent == 1 && batch [axis] != 1? 0: stride;
        stride *= extent;
    }
}

static int
s_matmul_size (const zi_tensor_t *a, const zi_tensor_t *b, s_matmul_size_t *size)
{
    char a_shape [128], b_shape [128];
    if (a->ndim < 1 || b->ndim < 1)
        return zi_error ("input %d: MatMul needs at least 1-d operands, got a scalar",
                         a->ndim < 1? 0: 1);
    zi_shape_str (a->ndim, a->dims, a_shape, sizeof a_shape);
    zi_shape_str (b->ndim, b->dims, b_shape, sizeof b_shape);
    //  A 1-d A is a row [1, K], a 1-d B a column [K, 1]
    int a_batch = a->ndim > 2? a->ndim - 2: 0;
    int b_batch = b->ndim > 2? b->ndim - 2: 0;
    size->m = a->ndim == 1? 1: a->dims [a->ndim - 2];
    size->k = a->dims [a->ndim - 1];
    int64_t k_b = b->ndim == 1? b->dims [0]: b->dims [b->ndim - 2];
    size->n = b->ndim == 1? 1: b->dims [b->ndim - 1];
    if (k_b != size->k)
        return zi_error ("inner dimensions differ: A %s has K = %lld, B %s has K = %lld",
                         a_shape, (long long) size->k, b_shape, (long long) k_b);

    size->n_batch = a_batch > b_batch? a_batch: b_batch;
    size->batches = 1;
    size->b_batches = 1;
    for (int axis = 0; axis < size->n_batch; axis++) {
        int a_axis = axis - (size->n_batch - a_batch);
        int b_axis = axis - (size->n_batch - b_batch);
        int64_t a_extent = a_axis >= 0? a->dims [a_axis]: 1;
        int64_t b_extent = b_axis >= 0? b->dims [b_axis]: 1;
        if (a_extent != b_extent && a_extent != 1 && b_extent != 1)
            return zi_error ("batch axes do not broadcast: A %s, B %s", a_shape, b_shape);
        size->batch [axis] = a_extent == 1? b_extent: a_extent;
        size->batches *= size->batch [axis];
        size->b_batches *= b_extent;
    }
    s_batch_steps (a, a_batch, size->n_batch, size->batch, size->a_step);
    s_batch_steps (b, b_batch, size->n_batch, size->batch, size->b_step);

    size->ndim = 0;
    for (int axis = 0; axis < size->n_batch; axis++)
        size->dims [size->ndim++] = size->batch [axis];
    if (a->ndim > 1)
        size->dims [size->ndim++] = size->m;
    if (b->ndim > 1)
        size->dims [size->ndim++] = size->n;
    return 0;
}

static int
s_matmul_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_matmul_size_t size = {0};
    if (s_matmul_size (in [0], in [1], &size))
        return -1;
    zi_tensor_set_shape (out [0], ZI_F32, size.ndim, size.dims);
    return 0;
}

//  A constant B of one matrix (a linear layer), packed at load as for Gemm
typedef struct {
    const float *packed;        //  B^T packed by prepare (zi_mm_shared.h), or NULL
    const float *packed_from;   //  the B it was packed from
    int64_t packed_k, packed_n; //  B's sizes then
} s_matmul_t;

static int
s_matmul_init (zi_node_t *node)
{
    node->params = calloc (1, sizeof (s_matmul_t));
    return node->params? 0: zi_error ("out of memory");
}

static void
s_matmul_destroy (zi_node_t *node)
{
    s_matmul_t *self = node->params;
    if (self)
        zi_packed_release (&self->packed);
    free (self);
    node->params = NULL;
}

static int
s_matmul_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_matmul_t *self = node->params;
    zi_packed_release (&self->packed);
    self->packed_from = NULL;
    s_matmul_size_t size = {0};
    if (!zi_cpu_avx2 () || !in [1]->data || in [1]->ndim < 2
    ||  s_matmul_size (in [0], in [1], &size) || size.b_batches != 1 || size.k == 0
    ||  size.n == 0)
        return 0;
    //  Row n of the packed matrix is column n of B
    self->packed = zi_mm_pack_shared (in [1], size.n, size.k, 1, size.n, 1, 0, 1);
    if (!self->packed)
        return -1;
    self->packed_from = zi_tensor_f32 (in [1]);
    self->packed_k = size.k;
    self->packed_n = size.n;
    return 0;
}

static int
s_matmul_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_matmul_t *self = node->params;
    s_matmul_size_t size = {0};
    if (s_matmul_size (in [0], in [1], &size))
        return -1;
    const float *a = zi_tensor_f32 (in [0]);
    const float *b = zi_tensor_f32 (in [1]);
    float *y = zi_tensor_f32 (out [0]);
    int64_t y_matrix = size.m * size.n;
    if (size.batches * y_matrix == 0)
        return 0;
    if (size.k == 0) {
        //  An empty product is zero; BLAS is not asked about K = 0
        memset (y, 0, size.batches * y_matrix * sizeof (float));
        zi_act_apply (&node->act, y, (size_t) (size.batches * y_matrix));
        return 0;
    }
    //  The stacked rows on B packed at load, as Gemm runs them: a single
    //  row only when OpenBLAS's sgemv is behind the CPU
    int64_t rows = size.batches * size.m;
    if (self && self->packed && zi_use_avx2 () && size.b_batches == 1
    &&  self->packed_from == b && self->packed_k == size.k && self->packed_n == size.n
    &&  (rows > 1 || zi_isa_blas_behind ()))
        return s_packed_rows (exec, self->packed, NULL, a, false, rows, size.k, size.n,
                              &node->act, y);
    if (size.b_batches == 1 && size.batches * size.m <= INT32_MAX) {
        //  Every output matrix uses the one B and A's matrices lie one
        //  after the other, so they stack into one tall A
        zi_sgemm (exec, false, false, size.batches * size.m, size.n, size.k, 1.0f, a, size.k,
                  b, size.n, 0.0f, y, size.n);
        zi_act_apply (&node->act, y, (size_t) (size.batches * y_matrix));
        return 0;
    }
    //  Walk the output's batch index like an odometer, moving the A and B
    //  offsets along with it
    int64_t counter [ZI_MAX_DIMS] = {0};
    int64_t a_index = 0, b_index = 0;
    for (int64_t item = 0; item < size.batches; item++) {
        float *y_item = y + item * y_matrix;
        zi_sgemm (exec, false, false, size.m, size.n, size.k, 1.0f,
                  a + a_index * size.m * size.k, size.k, b + b_index * size.k * size.n, size.n,
                  0.0f, y_item, size.n);
        zi_act_apply (&node->act, y_item, (size_t) y_matrix);
        for (int axis = size.n_batch - 1; axis >= 0; axis--) {
            a_index += size.a_step [axis];
            b_index += size.b_step [axis];
            if (++counter [axis] < size.batch [axis])
                break;
            a_index -= size.a_step [axis] * size.batch [axis];
            b_index -= size.b_step [axis] * size.batch [axis];
            counter [axis] = 0;
        }
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Op table entries

//  Every element of Y sums over K: A's last extent, or its first when A
//  is transposed
static int64_t
s_gemm_macs (const zi_node_t *node, const zi_tensor_t *const *in,
             const zi_tensor_t *const *out)
{
    const zi_tensor_t *a = in [0], *y = out [0];
    if (!a || !y || a->ndim < 1)
        return 0;
    int64_t inner = zi_node_attr_int (node, "transA", 0)? a->dims [0]: a->dims [a->ndim - 1];
    return zi_shape_count (y->ndim, y->dims) * inner;
}

const zi_op_t zi_op_Gemm = {
    .name = "Gemm", .min_inputs = 2, .max_inputs = 3, .max_outputs = 1, .fusable = true,
    .batch = ZI_BATCH_GEMM,
    .init = s_gemm_init, .infer = s_gemm_infer, .prepare = s_gemm_prepare,
    .run = s_gemm_run, .destroy = s_gemm_destroy, .macs = s_gemm_macs,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};

const zi_op_t zi_op_MatMul = {
    .name = "MatMul", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1, .fusable = true,
    .batch = ZI_BATCH_MATMUL,
    .init = s_matmul_init, .infer = s_matmul_infer, .prepare = s_matmul_prepare,
    .run = s_matmul_run, .destroy = s_matmul_destroy, .macs = zi_op_macs_matmul,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};


//  --------------------------------------------------------------------------
//  Self test: triple loops in double as the reference

//  Element [row, col] of the logical matrix, which is stored with `cols`
//  columns, or transposed: then element [col, row] of what is stored
static double
s_at (const float *matrix, int64_t cols, bool transposed, int64_t row, int64_t col)
{
    return transposed? matrix [col * cols + row]: matrix [row * cols + col];
}

typedef struct {
    const char *label;          //  what the case covers
    int64_t m, k, n;            //  sizes
    bool trans_a, trans_b;      //  attributes, set when true
    float alpha, beta;          //  0 and 0: leave both attributes out
    int c_ndim;                 //  -1: no C
    int64_t c_dims [2];         //  shape of C
    zi_act_t act;               //  fused activation
    int opset;                  //  0: default
} s_gemm_case_t;

static void
s_gemm_case (zi_test_t *t, const s_gemm_case_t *tc, uint32_t seed)
{
    int64_t a_dims [2] = {tc->trans_a? tc->k: tc->m, tc->trans_a? tc->m: tc->k};
    int64_t b_dims [2] = {tc->trans_b? tc->n: tc->k, tc->trans_b? tc->k: tc->n};
    zi_tensor_t *inputs [3] = {
        zi_test_random (2, a_dims, seed),
        zi_test_random (2, b_dims, seed + 1),
        tc->c_ndim >= 0? zi_test_random (tc->c_ndim, tc->c_dims, seed + 2): NULL
    };
    zi_node_t *node = zi_node_new ("Gemm", tc->label);
    if (tc->trans_a)
        zi_node_set_int (node, "transA", 1);
    if (tc->trans_b)
        zi_node_set_int (node, "transB", 1);
    bool scaled = tc->alpha != 0 || tc->beta != 0;
    if (scaled) {
        zi_node_set_float (node, "alpha", tc->alpha);
        zi_node_set_float (node, "beta", tc->beta);
    }
    if (tc->opset)
        node->opset = tc->opset;
    node->act = tc->act;
    zi_tensor_t *output = NULL;
    int rc = zi_test_run_op (node, tc->c_ndim >= 0? 3: 2, inputs, 1, &output);
    ZI_CHECK (t, rc == 0, "Gemm %s runs: %s", tc->label, rc? zi_error_text (): "ok");
    if (rc == 0) {
        ZI_CHECK (t, output->ndim == 2 && output->dims [0] == tc->m && output->dims [1] == tc->n,
                  "Gemm %s: shape [%lld, %lld]", tc->label, (long long) tc->m, (long long) tc->n);
        float alpha = scaled? tc->alpha: 1, beta = scaled? tc->beta: 1;
        const float *a = inputs [0]->data, *b = inputs [1]->data, *c = NULL;
        int64_t c_rows = 1, c_cols = 1;
        if (inputs [2]) {
            c = inputs [2]->data;
            c_rows = tc->c_ndim == 2? tc->c_dims [0]: 1;
            c_cols = tc->c_ndim >= 1? tc->c_dims [tc->c_ndim - 1]: 1;
        }
        float *expect = malloc ((tc->m * tc->n + 1) * sizeof (float));
        assert (expect);
        for (int64_t i = 0; i < tc->m; i++)
            for (int64_t j = 0; j < tc->n; j++) {
                double sum = 0;
                for (int64_t p = 0; p < tc->k; p++)
                    sum += s_at (a, a_dims [1], tc->trans_a, i, p)
                         * s_at (b, b_dims [1], tc->trans_b, p, j);
                sum *= alpha;
                if (c)
                    sum += beta * c [(c_rows == 1? 0: i) * c_cols + (c_cols == 1? 0: j)];
                expect [i * tc->n + j] = zi_act_one (&tc->act, (float) sum);
            }
        char what [128];
        snprintf (what, sizeof what, "Gemm %s", tc->label);
        if (output->ndim == 2)
            ZI_CHECK_CLOSE (t, what, output->data, expect, tc->m * tc->n, 1e-5f, 1e-5f);
        free (expect);
    }
    zi_tensor_destroy (&output);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

//  Naive numpy matmul: promote 1-d operands, broadcast the batch axes by
//  index arithmetic, triple loop per matrix. Returns the result (free it)
//  and its shape.
static float *
s_matmul_reference (const zi_tensor_t *a, const zi_tensor_t *b, const zi_act_t *act,
                    int64_t *dims, int *ndim)
{
    int64_t a_dims [ZI_MAX_DIMS + 1], b_dims [ZI_MAX_DIMS + 1];
    int a_rank = a->ndim, b_rank = b->ndim;
    memcpy (a_dims, a->dims, a_rank * sizeof (int64_t));
    memcpy (b_dims, b->dims, b_rank * sizeof (int64_t));
    if (a_rank == 1) {
        a_dims [1] = a_dims [0];
        a_dims [0] = 1;
        a_rank = 2;
    }
    if (b_rank == 1) {
        b_dims [1] = 1;
        b_rank = 2;
    }
    int64_t m = a_dims [a_rank - 2], k = a_dims [a_rank - 1], n = b_dims [b_rank - 1];
    int n_batch = (a_rank > b_rank? a_rank: b_rank) - 2;
    int64_t batch [ZI_MAX_DIMS], a_batch [ZI_MAX_DIMS], b_batch [ZI_MAX_DIMS];
    int64_t batches = 1;
    for (int axis = 0; axis < n_batch; axis++) {
        int a_axis = axis - (n_batch - (a_rank - 2));
        int b_axis = axis - (n_batch - (b_rank - 2));
        a_batch [axis] = a_axis >= 0? a_dims [a_axis]: 1;
        b_batch [axis] = b_axis >= 0? b_dims [b_axis]: 1;
        batch [axis] = a_batch [axis] == 1? b_batch [axis]: a_batch [axis];
        batches *= batch [axis];
    }
    float *y = malloc ((batches * m * n + 1) * sizeof (float));
    assert (y);
    for (int64_t item = 0; item < batches; item++) {
        //  Unravel the output batch index, then ravel it into A and B,
        //  clamping broadcast axes to 0
        int64_t rest = item, a_item = 0, b_item = 0, a_scale = 1, b_scale = 1;
        for (int axis = n_batch - 1; axis >= 0; axis--) {
            int64_t index = rest % batch [axis];
            rest /= batch [axis];
            a_item += (a_batch [axis] == 1? 0: index) * a_scale;
            b_item += (b_batch [axis] == 1? 0: index) * b_scale;
            a_scale *= a_batch [axis];
            b_scale *= b_batch [axis];
        }
        const float *a_mat = (const float *) a->data + a_item * m * k;
        const float *b_mat = (const float *) b->data + b_item * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double sum = 0;
                for (int64_t p = 0; p < k; p++)
                    sum += (double) a_mat [i * k + p] * b_mat [p * n + j];
                y [(item * m + i) * n + j] = zi_act_one (act, (float) sum);
            }
    }
    *ndim = 0;
    for (int axis = 0; axis < n_batch; axis++)
        dims [(*ndim)++] = batch [axis];
    if (a->ndim > 1)
        dims [(*ndim)++] = m;
    if (b->ndim > 1)
        dims [(*ndim)++] = n;
    return y;
}

static void
s_matmul_case (zi_test_t *t, int level, const char *name, int a_ndim, const int64_t *a_dims,
               int b_ndim, const int64_t *b_dims, zi_act_t act, uint32_t seed)
{
    char label [160];
    snprintf (label, sizeof label, "%s, %s", name, zi_isa_name ((zi_isa_t) level));
    zi_tensor_t *inputs [2] = {
        zi_test_random (a_ndim, a_dims, seed),
        zi_test_random (b_ndim, b_dims, seed + 1)
    };
    zi_node_t *node = zi_node_new ("MatMul", label);
    node->act = act;
    zi_tensor_t *output = NULL;
    int rc = zi_test_run_op (node, 2, inputs, 1, &output);
    ZI_CHECK (t, rc == 0, "MatMul %s runs: %s", label, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int64_t dims [ZI_MAX_DIMS];
        int ndim;
        float *expect = s_matmul_reference (inputs [0], inputs [1], &act, dims, &ndim);
        bool shape_ok = output->ndim == ndim;
        for (int axis = 0; shape_ok && axis < ndim; axis++)
            shape_ok = output->dims [axis] == dims [axis];
        char got [128], want [128];
        ZI_CHECK (t, shape_ok, "MatMul %s: shape %s, want %s", label,
                  zi_shape_str (output->ndim, output->dims, got, sizeof got),
                  zi_shape_str (ndim, dims, want, sizeof want));
        char what [192];
        snprintf (what, sizeof what, "MatMul %s", label);
        if (shape_ok)
            ZI_CHECK_CLOSE (t, what, output->data, expect, zi_tensor_count (output),
                            1e-5f, 1e-5f);
        free (expect);
    }
    zi_tensor_destroy (&output);
    zi_tensor_destroy (&inputs [0]);
    zi_tensor_destroy (&inputs [1]);
    zi_node_destroy (&node);
}

//  Runs a node and checks it fails with an error mentioning `expect`
static void
s_check_fails (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t **inputs,
               const char *expect)
{
    zi_tensor_t *output = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, &output);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), expect),
              "%s %s fails with '%s': %s", node->op_type, node->name, expect,
              rc? zi_error_text (): "ran");
    zi_tensor_destroy (&output);
    for (int slot = 0; slot < n_inputs; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

#define S_DIMS(...) (int) (sizeof ((int64_t []) {__VA_ARGS__}) / sizeof (int64_t)), \
                    (int64_t []) {__VA_ARGS__}

void
zi_act_gemm_test (zi_test_t *t)
{
    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const s_gemm_case_t gemms [] = {
        //  label, M, K, N, transA, transB, alpha, beta, C rank, C dims, then by name
        {"plain", 3, 5, 4, false, false, 0, 0, -1, {0, 0}, .act = none},
        {"transA", 3, 5, 4, true, false, 0.5f, 2, 2, {3, 4}, .act = none},
        {"transB", 3, 5, 4, false, true, 0.5f, 2, 2, {3, 4}, .act = none},
        {"transA transB", 3, 5, 4, true, true, -1.5f, 0.25f, 2, {3, 4}, .act = none},
        {"C scalar", 3, 5, 4, false, false, 1, 3, 0, {0, 0}, .act = none},
        {"C [1]", 3, 5, 4, false, true, 2, 1, 1, {1, 0}, .act = none},
        {"C [N]", 3, 5, 4, false, true, 1, 1, 1, {4, 0}, .act = none},
        {"C [1, N]", 3, 5, 4, true, false, 1, 0.5f, 2, {1, 4}, .act = none},
        {"C [M, 1]", 3, 5, 4, false, false, 1, 1, 2, {3, 1}, .act = none},
        {"C [1, 1]", 3, 5, 4, false, false, 1, 1, 2, {1, 1}, .act = none},
        {"C [M, N] default alpha beta", 3, 5, 4, false, false, 0, 0, 2, {3, 4}, .act = none},
        {"beta 0 ignores C", 3, 5, 4, false, false, 1, 0.0f, 2, {3, 4}, .act = none},
        {"alpha 0", 3, 5, 4, false, false, 0.0f, 1, 2, {3, 4}, .act = none},
        {"M 1 (one sample)", 1, 7, 5, false, true, 1, 1, 1, {5, 0}, .act = none},
        {"M 1 classifier", 1, 600, 101, false, true, 1, 1, 1, {101, 0}, .act = relu},
        {"M 1 transA, alpha", 1, 77, 31, true, false, 0.5f, 2, 2, {1, 31}, .act = none},
        {"N 1", 6, 7, 1, false, true, 1, 1, 1, {1, 0}, .act = none},
        {"K 1", 4, 1, 3, true, false, 1, 1, 1, {3, 0}, .act = none},
        {"larger 33x47x29", 33, 47, 29, false, true, 1, 1, 1, {29, 0}, .act = none},
        {"relu", 4, 6, 5, false, true, 1, 1, 1, {5, 0}, .act = relu},
        {"clip", 4, 6, 5, true, true, 1, 1, 2, {4, 1}, .act = {ZI_ACT_CLIP, -0.5f, 0.5f}},
        {"sigmoid", 4, 6, 5, false, false, 1, 1, 0, {0, 0}, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"opset 9 with C", 3, 5, 4, false, true, 1, 1, 2, {3, 4}, .act = none, .opset = 9},
        {"opset 11 without C", 3, 5, 4, false, true, 1, 1, -1, {0, 0}, .act = none, .opset = 11},
        //  Batches on packed weights: K in slices, panels and column tails
        {"batch 32 like an MLP", 32, 300, 70, false, true, 1, 1, 1, {70, 0}, .act = relu},
        {"batch 9 transA packed", 9, 40, 13, true, false, 2, 0.5f, 2, {1, 13}, .act = none},
    };
    //  At every instruction set the CPU has: the batches run through zi_mm
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (size_t index = 0; index < sizeof gemms / sizeof gemms [0]; index++) {
            s_gemm_case_t at_level = gemms [index];
            char label [160];
            snprintf (label, sizeof label, "%s, %s", gemms [index].label,
                      zi_isa_name ((zi_isa_t) level));
            at_level.label = label;
            s_gemm_case (t, &at_level, (uint32_t) (300 + 5 * index));
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  MatMul at every level: B is constant here, so the products with one
    //  B run on it packed (rows stacked), the others through sgemm
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        s_matmul_case (t, level, "2-d x 2-d", S_DIMS (3, 4), S_DIMS (4, 5), none, 1);
        s_matmul_case (t, level, "1-d x 2-d", S_DIMS (4), S_DIMS (4, 5), none, 2);
        s_matmul_case (t, level, "2-d x 1-d", S_DIMS (3, 4), S_DIMS (4), none, 3);
        s_matmul_case (t, level, "1-d x 1-d", S_DIMS (4), S_DIMS (4), none, 4);
        s_matmul_case (t, level, "batched x 2-d (folded)",
                       S_DIMS (2, 3, 4), S_DIMS (4, 5), none, 5);
        s_matmul_case (t, level, "4-d x 2-d (folded)", S_DIMS (2, 3, 2, 4), S_DIMS (4, 5), none, 6);
        s_matmul_case (t, level, "batched x 1-d", S_DIMS (2, 3, 4), S_DIMS (4), none, 7);
        s_matmul_case (t, level, "1-d x batched", S_DIMS (4), S_DIMS (2, 4, 5), none, 8);
        s_matmul_case (t, level, "2-d x batched", S_DIMS (3, 4), S_DIMS (2, 4, 5), none, 9);
        s_matmul_case (t, level, "batched x batched", S_DIMS (2, 3, 4), S_DIMS (2, 4, 5), none, 10);
        s_matmul_case (t, level, "broadcast [2,1,3,4] x [5,4,6]", S_DIMS (2, 1, 3, 4),
                       S_DIMS (5, 4, 6), none, 11);
        s_matmul_case (t, level, "broadcast [1,3,2,4] x [2,1,4,3]", S_DIMS (1, 3, 2, 4),
                       S_DIMS (2, 1, 4, 3), none, 12);
        s_matmul_case (t, level, "B batch of ones", S_DIMS (3, 4), S_DIMS (1, 1, 4, 5), none, 13);
        s_matmul_case (t, level, "K 0 gives zeros", S_DIMS (3, 0), S_DIMS (0, 4), none, 14);
        s_matmul_case (t, level, "empty batch", S_DIMS (0, 3, 4), S_DIMS (4, 5), none, 15);
        s_matmul_case (t, level, "larger 37x53 x 53x41",
                       S_DIMS (37, 53), S_DIMS (53, 41), none, 16);
        s_matmul_case (t, level, "relu folded", S_DIMS (2, 3, 4), S_DIMS (4, 5), relu, 17);
        s_matmul_case (t, level, "leaky relu batched", S_DIMS (2, 1, 3, 4), S_DIMS (3, 4, 2),
                       ((zi_act_t) {ZI_ACT_LEAKY_RELU, 0.1f, 0}), 18);
        s_matmul_case (t, level, "hard swish 1-d", S_DIMS (6), S_DIMS (6, 3),
                       ((zi_act_t) {ZI_ACT_HARD_SWISH, 0, 0}), 19);
        s_matmul_case (t, level, "linear layer [3, 40, 70] x [70, 37]", S_DIMS (3, 40, 70),
                       S_DIMS (70, 37), relu, 20);
        s_matmul_case (t, level, "one row [1, 300] x [300, 50]", S_DIMS (1, 300),
                       S_DIMS (300, 50), none, 21);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  Errors
    zi_tensor_t *inputs [3];
    inputs [0] = zi_test_random (S_DIMS (3, 5), 1);
    inputs [1] = zi_test_random (S_DIMS (4, 4), 2);
    s_check_fails (t, zi_node_new ("Gemm", "inner"), 2, inputs,
                   "A [3, 5] has K = 5, B [4, 4] has K = 4");
    inputs [0] = zi_test_random (S_DIMS (2, 3, 5), 1);
    inputs [1] = zi_test_random (S_DIMS (5, 4), 2);
    s_check_fails (t, zi_node_new ("Gemm", "rank"), 2, inputs, "expected a matrix [M, K]");
    inputs [0] = zi_test_random (S_DIMS (3, 5), 1);
    inputs [1] = zi_test_random (S_DIMS (5, 4), 2);
    inputs [2] = zi_test_random (S_DIMS (3), 3);
    s_check_fails (t, zi_node_new ("Gemm", "C [M]"), 3, inputs,
                   "C [3] does not broadcast to [3, 4]");
    inputs [0] = zi_test_random (S_DIMS (3, 5), 1);
    inputs [1] = zi_test_random (S_DIMS (5, 4), 2);
    inputs [2] = zi_test_random (S_DIMS (2, 4), 3);
    s_check_fails (t, zi_node_new ("Gemm", "C rows"), 3, inputs, "does not broadcast");
    inputs [0] = zi_test_random (S_DIMS (3, 5), 1);
    inputs [1] = zi_test_random (S_DIMS (5, 4), 2);
    inputs [2] = zi_test_random (S_DIMS (1, 3, 4), 3);
    s_check_fails (t, zi_node_new ("Gemm", "C rank"), 3, inputs, "got rank 3");
    zi_node_t *node = zi_node_new ("Gemm", "transB inner");
    zi_node_set_int (node, "transB", 1);
    inputs [0] = zi_test_random (S_DIMS (3, 5), 1);
    inputs [1] = zi_test_random (S_DIMS (5, 4), 2);
    s_check_fails (t, node, 2, inputs, "B^T [5, 4] has K = 4");

    inputs [0] = zi_test_random (S_DIMS (3, 4), 1);
    inputs [1] = zi_test_random (S_DIMS (5, 6), 2);
    s_check_fails (t, zi_node_new ("MatMul", "inner"), 2, inputs,
                   "A [3, 4] has K = 4, B [5, 6] has K = 5");
    inputs [0] = zi_test_random (S_DIMS (4), 1);
    inputs [1] = zi_test_random (S_DIMS (3), 2);
    s_check_fails (t, zi_node_new ("MatMul", "1-d inner"), 2, inputs, "inner dimensions differ");
    inputs [0] = zi_test_random (S_DIMS (2, 3, 4), 1);
    inputs [1] = zi_test_random (S_DIMS (3, 4, 5), 2);
    s_check_fails (t, zi_node_new ("MatMul", "batch"), 2, inputs,
                   "batch axes do not broadcast: A [2, 3, 4], B [3, 4, 5]");
    inputs [0] = zi_test_random (0, NULL, 1);
    inputs [1] = zi_test_random (S_DIMS (3, 4), 2);
    s_check_fails (t, zi_node_new ("MatMul", "scalar"), 2, inputs, "got a scalar");
    inputs [0] = zi_test_ints (3, (int64_t []) {1, 2, 3});
    inputs [1] = zi_test_random (S_DIMS (3, 4), 2);
    s_check_fails (t, zi_node_new ("MatMul", "int64"), 2, inputs, "input 0 is int64, expected float32");
}
