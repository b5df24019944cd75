/*  =========================================================================
    act_axis - ops that walk one axis: TopK, ArgMax, ArgMin, CumSum

    Each views its input as outer x extent x inner around the axis and
    handles every (outer, inner) line on its own, float32 or int64.

    NaN counts as larger than any number, as in torch.topk and
    numpy.argmax: TopK's largest values start with the NaNs and its
    smallest end with them, and ArgMax and ArgMin both point at a NaN when
    a line holds one. Equal values keep their order along the axis (ONNX
    asks for the lower index first), unless ArgMax or ArgMin is told to
    select_last_index.
    =========================================================================
*/

#include "zi_classes.h"

//  The line layout around one axis
typedef struct {
    int64_t outer, extent, inner;
} s_lines_t;

static int
s_resolve_axis (int64_t axis, int rank, int *resolved)
{
    //  A scalar has no axis, but ONNX lets 0 and -1 name it as one line
    int span = rank > 0? rank: 1;
    if (axis < -span || axis >= span)
        return zi_error ("attribute 'axis' = %lld is out of range for a %d-d input "
                         "(expected %d..%d)", (long long) axis, rank, -span, span - 1);
    *resolved = (int) (axis < 0? axis + span: axis);
    return 0;
}

static s_lines_t
s_lines (const zi_tensor_t *x, int axis)
{
    s_lines_t lines = {1, 1, 1};
    for (int dim = 0; dim < x->ndim; dim++) {
        if (dim < axis)
            lines.outer *= x->dims [dim];
        else
        if (dim == axis)
            lines.extent = x->dims [dim];
        else
            lines.inner *= x->dims [dim];
    }
    return lines;
}

//  The data every op of the family sorts, finds or sums
#define S_NUMERIC (ZI_DT (ZI_F32) | ZI_DT (ZI_I64) | ZI_DT (ZI_I32))

//  a ranks before b in "largest first" order: NaN above every number
static inline bool
s_above_f32 (float a, float b)
{
    return a > b || (a != a && b == b);
}

static inline bool
s_above_i64 (int64_t a, int64_t b)
{
    return a > b;
}

static inline bool
s_above_i32 (int32_t a, int32_t b)
{
    return a > b;
}


//  --------------------------------------------------------------------------
//  TopK: k from attribute 'k' (opset 9) or input 1 (opset 10 on), which
//  must be constant: it sets the output shape

typedef struct {
    int64_t axis;               //  attribute 'axis', default -1
    bool largest;               //  largest (1) or smallest (0)
    int64_t k;                  //  opset 9's attribute, -1 when it comes as input
} s_topk_t;

static int
s_topk_init (zi_node_t *node)
{
    s_topk_t *self = calloc (1, sizeof (s_topk_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    self->axis = zi_node_attr_int (node, "axis", -1);
    int64_t largest = zi_node_attr_int (node, "largest", 1);
    int64_t sorted = zi_node_attr_int (node, "sorted", 1);
    if ((largest != 0 && largest != 1) || (sorted != 0 && sorted != 1))
        return zi_error ("attributes 'largest' = %lld and 'sorted' = %lld; expected 0 or 1",
                         (long long) largest, (long long) sorted);
    //  sorted = 0 leaves the order to us: sorted is one of the orders
    self->largest = largest == 1;
    self->k = -1;
    if (node->opset < 10) {
        if (!zi_node_attr (node, "k"))
            return zi_error ("attribute 'k' is required before opset 10");
        self->k = zi_node_attr_int (node, "k", 0);
    }
    return 0;
}

static int
s_topk_k (const zi_node_t *node, const zi_tensor_t *const *in, int64_t *k)
{
    const s_topk_t *self = node->params;
    if (self->k >= 0) {
        *k = self->k;
        return 0;
    }
    if (node->n_inputs < 2 || !in [1])
        return zi_error ("input 1 (K) is required from opset 10");
    if (!in [1]->data)
        return zi_error ("input 1 (K) must be a constant known before the run: it sets "
                         "the output's shape");
    int64_t values [2];
    int n = zi_input_ints (in [1], values, 2, "input 1 (K)");
    if (n < 0)
        return -1;
    if (n != 1)
        return zi_error ("input 1 (K): expected one value, got %d", n);
    *k = values [0];
    return 0;
}

static int
s_topk_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_topk_t *self = node->params;
    const zi_tensor_t *x = in [0];
    if (x->ndim == 0)
        return zi_error ("input 0 is a scalar; TopK needs at least 1-d data");
    int axis = 0;
    int64_t k = 0;
    if (s_resolve_axis (self->axis, x->ndim, &axis) || s_topk_k (node, in, &k))
        return -1;
    if (k < 0 || k > x->dims [axis])
        return zi_error ("K = %lld is out of range for axis %d of size %lld (expected 0..%lld)",
                         (long long) k, axis, (long long) x->dims [axis],
                         (long long) x->dims [axis]);
    int64_t dims [ZI_MAX_DIMS];
    memcpy (dims, x->dims, x->ndim * sizeof (int64_t));
    dims [axis] = k;
    zi_tensor_set_shape (out [0], x->dtype, x->ndim, dims);
    if (node->n_outputs > 1)
        zi_tensor_set_shape (out [1], ZI_I64, x->ndim, dims);
    return 0;
}

//  Orders a line's positions best first by a bottom-up merge sort, which
//  is stable: of two equal values the earlier stays first. order and
//  spare hold extent positions each.
#define S_TOPK_LINE(TYPE, ABOVE)                                              \
static int64_t *                                                              \
s_topk_line_##TYPE (const TYPE *x, int64_t extent, int64_t inner,             \
                    bool largest, int64_t *order, int64_t *spare)             \
{                                                                             \
    for (int64_t at = 0; at < extent; at++)                                   \
        order [at] = at;                                                      \
    for (int64_t width = 1; width < extent; width *= 2) {                     \
        for (int64_t left = 0; left < extent; left += 2 * width) {            \
            int64_t middle = left + width < extent? left + width: extent;     \
            int64_t right = left + 2 * width < extent? left + 2 * width: extent; \
            int64_t a = left, b = middle, into = left;                        \
            while (a < middle && b < right) {                                 \
                TYPE va = x [order [a] * inner], vb = x [order [b] * inner];  \
                bool b_first = largest? ABOVE (vb, va): ABOVE (va, vb);       \
                spare [into++] = b_first? order [b++]: order [a++];           \
            }                                                                 \
            while (a < middle)                                                \
                spare [into++] = order [a++];                                 \
            while (b < right)                                                 \
                spare [into++] = order [b++];                                 \
        }                                                                     \
        int64_t *swap = order;                                                \
        order = spare;                                                        \
        spare = swap;                                                         \
    }                                                                         \
    return order;                                                             \
}

S_TOPK_LINE (float, s_above_f32)
S_TOPK_LINE (int64_t, s_above_i64)
S_TOPK_LINE (int32_t, s_above_i32)

static int
s_topk_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    const s_topk_t *self = node->params;
    const zi_tensor_t *x = in [0];
    int axis = 0;
    int64_t k = 0;
    if (s_resolve_axis (self->axis, x->ndim, &axis) || s_topk_k (node, in, &k))
        return -1;
    s_lines_t lines = s_lines (x, axis);
    int64_t *order = zi_exec_scratch (exec, 0, (2 * lines.extent + 1) * sizeof (int64_t));
    if (!order)
        return zi_error ("out of memory");
    size_t esize = zi_dtype_size (x->dtype);
    int64_t *indices = node->n_outputs > 1 && out [1]? zi_tensor_i64 (out [1]): NULL;
    for (int64_t outer = 0; outer < lines.outer; outer++)
        for (int64_t inner = 0; inner < lines.inner; inner++) {
            int64_t from = outer * lines.extent * lines.inner + inner;
            int64_t to = outer * k * lines.inner + inner;
            int64_t *spare = order + lines.extent;
            const int64_t *best = x->dtype == ZI_F32
                ? s_topk_line_float (zi_tensor_f32 (x) + from, lines.extent, lines.inner,
                                     self->largest, order, spare)
                : x->dtype == ZI_I32
                ? s_topk_line_int32_t ((const int32_t *) x->data + from, lines.extent,
                                       lines.inner, self->largest, order, spare)
                : s_topk_line_int64_t (zi_tensor_i64 (x) + from, lines.extent, lines.inner,
                                       self->largest, order, spare);
            for (int64_t rank = 0; rank < k; rank++) {
                int64_t at = to + rank * lines.inner;
                if (out [0])
                    memcpy ((char *) out [0]->data + at * esize,
                            (const char *) x->data + (from + best [rank] * lines.inner) * esize,
                            esize);
                if (indices)
                    indices [at] = best [rank];
            }
        }
    return 0;
}

const zi_op_t zi_op_TopK = {
    .name = "TopK", .min_inputs = 1, .max_inputs = 2, .max_outputs = 2,
    .batch = ZI_BATCH_TOPK,
    .init = s_topk_init, .infer = s_topk_infer, .run = s_topk_run,
    .dtypes = {S_NUMERIC, 0}
};


//  --------------------------------------------------------------------------
//  ArgMax, ArgMin: int64 positions along the axis

typedef struct {
    bool max;                   //  ArgMax, else ArgMin
    int64_t axis;               //  attribute 'axis', default 0
    bool keepdims;              //  keep the axis with extent 1
    bool last;                  //  select_last_index (opset 12)
} s_arg_t;

static int
s_arg_init (zi_node_t *node, bool max)
{
    s_arg_t *self = calloc (1, sizeof (s_arg_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    self->max = max;
    self->axis = zi_node_attr_int (node, "axis", 0);
    int64_t keepdims = zi_node_attr_int (node, "keepdims", 1);
    int64_t last = zi_node_attr_int (node, "select_last_index", 0);
    if ((keepdims != 0 && keepdims != 1) || (last != 0 && last != 1))
        return zi_error ("attributes 'keepdims' = %lld and 'select_last_index' = %lld; "
                         "expected 0 or 1", (long long) keepdims, (long long) last);
    if (last && node->opset < 12)
        return zi_error ("attribute 'select_last_index' is an opset 12 attribute; the model "
                         "imports opset %d", node->opset);
    self->keepdims = keepdims == 1;
    self->last = last == 1;
    return 0;
}

static int s_argmax_init (zi_node_t *node) { return s_arg_init (node, true); }
static int s_argmin_init (zi_node_t *node) { return s_arg_init (node, false); }

static int
s_arg_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_arg_t *self = node->params;
    const zi_tensor_t *x = in [0];
    int axis = 0;
    if (s_resolve_axis (self->axis, x->ndim, &axis))
        return -1;
    if (x->ndim > 0 && x->dims [axis] == 0)
        return zi_error ("axis %d is empty: an empty line has no largest or smallest value",
                         axis);
    int64_t dims [ZI_MAX_DIMS];
    int ndim = 0;
    for (int dim = 0; dim < x->ndim; dim++)
        if (dim != axis)
            dims [ndim++] = x->dims [dim];
        else
        if (self->keepdims)
            dims [ndim++] = 1;
    zi_tensor_set_shape (out [0], ZI_I64, ndim, dims);
    return 0;
}

#define S_ARG_LINE(TYPE, ABOVE)                                               \
static int64_t                                                                \
s_arg_line_##TYPE (const s_arg_t *self, const TYPE *x, int64_t extent,        \
                   int64_t inner)                                             \
{                                                                             \
    int64_t pick = 0;                                                         \
    TYPE best = x [0];                                                        \
    for (int64_t at = 1; at < extent; at++) {                                 \
        TYPE value = x [at * inner];                                          \
        bool beats = self->max? ABOVE (value, best): ABOVE (best, value);     \
        /*  A NaN stays picked: only a later NaN replaces it, when asked  */  \
        if (value != value && best == best)                                   \
            beats = true;                                                     \
        else                                                                  \
        if (best != best)                                                     \
            beats = false;                                                    \
        bool tie = !ABOVE (value, best) && !ABOVE (best, value);              \
        if (beats || (tie && self->last)) {                                   \
            pick = at;                                                        \
            best = value;                                                     \
        }                                                                     \
    }                                                                         \
    return pick;                                                              \
}

S_ARG_LINE (float, s_above_f32)
S_ARG_LINE (int64_t, s_above_i64)
S_ARG_LINE (int32_t, s_above_i32)

static int
s_arg_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
           zi_tensor_t *const *out)
{
    const s_arg_t *self = node->params;
    const zi_tensor_t *x = in [0];
    int axis = 0;
    if (s_resolve_axis (self->axis, x->ndim, &axis))
        return -1;
    s_lines_t lines = s_lines (x, axis);
    int64_t *y = zi_tensor_i64 (out [0]);
    for (int64_t outer = 0; outer < lines.outer; outer++)
        for (int64_t inner = 0; inner < lines.inner; inner++) {
            int64_t from = outer * lines.extent * lines.inner + inner;
            y [outer * lines.inner + inner] = x->dtype == ZI_F32
                ? s_arg_line_float (self, zi_tensor_f32 (x) + from, lines.extent, lines.inner)
                : x->dtype == ZI_I32
                ? s_arg_line_int32_t (self, (const int32_t *) x->data + from, lines.extent,
                                      lines.inner)
                : s_arg_line_int64_t (self, zi_tensor_i64 (x) + from, lines.extent,
                                      lines.inner);
        }
    return 0;
}

const zi_op_t zi_op_ArgMax = {
    .name = "ArgMax", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_ARGMAX,
    .init = s_argmax_init, .infer = s_arg_infer, .run = s_arg_run,
    .dtypes = {S_NUMERIC}
};

const zi_op_t zi_op_ArgMin = {
    .name = "ArgMin", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_ARGMAX,
    .init = s_argmin_init, .infer = s_arg_infer, .run = s_arg_run,
    .dtypes = {S_NUMERIC}
};


//  --------------------------------------------------------------------------
//  CumSum: running sums along the axis given as input 1 (a scalar or one
//  value, read at run time); 'exclusive' leaves each element out of its
//  own sum, 'reverse' runs from the end

typedef struct {
    bool exclusive;             //  sum of the elements before, not up to
    bool reverse;               //  from the last element back
} s_cumsum_t;

static int
s_cumsum_init (zi_node_t *node)
{
    s_cumsum_t *self = calloc (1, sizeof (s_cumsum_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    int64_t exclusive = zi_node_attr_int (node, "exclusive", 0);
    int64_t reverse = zi_node_attr_int (node, "reverse", 0);
    if ((exclusive != 0 && exclusive != 1) || (reverse != 0 && reverse != 1))
        return zi_error ("attributes 'exclusive' = %lld and 'reverse' = %lld; expected 0 or 1",
                         (long long) exclusive, (long long) reverse);
    self->exclusive = exclusive == 1;
    self->reverse = reverse == 1;
    return 0;
}

static int
s_cumsum_axis (const zi_tensor_t *const *in, int *axis)
{
    const zi_tensor_t *given = in [1];
    if (given->ndim > 1 || zi_shape_count (given->ndim, given->dims) != 1)
        return zi_error ("input 1 (axis): expected a scalar, got %lld elements in %d-d",
                         (long long) zi_shape_count (given->ndim, given->dims), given->ndim);
    if (!given->data)
        return 0;
    int64_t value;
    zi_dtype_convert (&value, ZI_I64, given->data, given->dtype, 1);
    int rank = in [0]->ndim;
    if (value < -rank || value >= rank)
        return zi_error ("input 1 (axis) = %lld is out of range for a %d-d input "
                         "(expected %d..%d)", (long long) value, rank, -rank, rank - 1);
    *axis = (int) (value < 0? value + rank: value);
    return 0;
}

static int
s_cumsum_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    int axis = 0;
    if (s_cumsum_axis (in, &axis))
        return -1;
    if (x->ndim == 0)
        return zi_error ("input 0 is a scalar; CumSum needs at least 1-d data");
    zi_tensor_set_shape (out [0], x->dtype, x->ndim, x->dims);
    return 0;
}

//  SUM: the type the running sum is kept in; integers wrap around as
//  two's complement (unsigned arithmetic), as ONNX Runtime's do, rather
//  than overflow a signed type
#define S_CUMSUM(TYPE, SUM)                                                   \
static void                                                                   \
s_cumsum_##TYPE (const s_cumsum_t *self, const TYPE *x, TYPE *y, s_lines_t lines) \
{                                                                             \
    for (int64_t outer = 0; outer < lines.outer; outer++) {                   \
        const TYPE *from = x + outer * lines.extent * lines.inner;            \
        TYPE *to = y + outer * lines.extent * lines.inner;                    \
        for (int64_t inner = 0; inner < lines.inner; inner++) {               \
            SUM sum = 0;                                                      \
            for (int64_t step = 0; step < lines.extent; step++) {             \
                int64_t at = (self->reverse? lines.extent - 1 - step: step)   \
                           * lines.inner + inner;                             \
                SUM value = (SUM) from [at];                                  \
                if (!self->exclusive)                                         \
                    sum += value;                                             \
                to [at] = (TYPE) sum;                                         \
                if (self->exclusive)                                          \
                    sum += value;                                             \
            }                                                                 \
        }                                                                     \
    }                                                                         \
}

S_CUMSUM (float, float)
S_CUMSUM (int64_t, uint64_t)
S_CUMSUM (int32_t, uint32_t)

static int
s_cumsum_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_cumsum_t *self = node->params;
    int axis = 0;
    if (s_cumsum_axis (in, &axis))
        return -1;
    s_lines_t lines = s_lines (in [0], axis);
    if (in [0]->dtype == ZI_F32)
        s_cumsum_float (self, zi_tensor_f32 (in [0]), zi_tensor_f32 (out [0]), lines);
    else
    if (in [0]->dtype == ZI_I32)
        s_cumsum_int32_t (self, in [0]->data, out [0]->data, lines);
    else
        s_cumsum_int64_t (self, zi_tensor_i64 (in [0]), zi_tensor_i64 (out [0]), lines);
    return 0;
}

const zi_op_t zi_op_CumSum = {
    .name = "CumSum", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_CUMSUM,
    .init = s_cumsum_init, .infer = s_cumsum_infer, .run = s_cumsum_run,
    .dtypes = {S_NUMERIC, ZI_DT (ZI_I64) | ZI_DT (ZI_I32)}
};


//  --------------------------------------------------------------------------
//  Self test: against naive references (TopK by repeated selection of the
//  best remaining element, ArgMax and ArgMin by a scan, CumSum in double)
//  over every axis of a 3-d input, with ties, NaN, int64 and int32 data

//  Value of element `at` as a double (integer test data stay exact)
static double
s_value (const zi_tensor_t *x, int64_t at)
{
    return x->dtype == ZI_F32? zi_tensor_f32 (x) [at]
         : x->dtype == ZI_I32? ((const int32_t *) x->data) [at]
         : (double) zi_tensor_i64 (x) [at];
}

static bool
s_ref_above (double a, double b)
{
    return a > b || (isnan (a) && !isnan (b));
}

//  A 3-d input [4, 5, 6] with repeated values and, for floats, NaNs
static zi_tensor_t *
s_test_input (zi_dtype_t dtype, bool nans, uint32_t seed)
{
    int64_t dims [3] = {4, 5, 6};
    zi_tensor_t *x = zi_tensor_new (dtype, 3, dims);
    uint32_t state = seed;
    for (size_t item = 0; item < zi_tensor_count (x); item++) {
        state = state * 1103515245u + 12345u;
        int value = (int) ((state >> 16) % 9) - 4;     //  few values: many ties
        if (dtype == ZI_F32)
            zi_tensor_f32 (x) [item] = nans && (state >> 8) % 13 == 0? NAN: value * 0.5f;
        else
        if (dtype == ZI_I32)                            //  sums of 6 stay in range
            ((int32_t *) x->data) [item] = value * 100000007;
        else
            zi_tensor_i64 (x) [item] = value * INT64_C (1000000007);
    }
    return x;
}

static void
s_test_topk (zi_test_t *t, zi_dtype_t dtype, int axis, int64_t k, bool largest, int opset,
             uint32_t seed)
{
    char what [120];
    snprintf (what, sizeof what, "TopK %s axis %d k %lld %s opset %d", zi_dtype_name (dtype),
              axis, (long long) k, largest? "largest": "smallest", opset);
    zi_tensor_t *in [2] = {s_test_input (dtype, dtype == ZI_F32, seed), NULL};
    zi_node_t *node = zi_node_new ("TopK", "test");
    node->opset = opset;
    zi_node_set_int (node, "axis", axis - (seed % 2? 3: 0));    //  negative half the time
    if (!largest)
        zi_node_set_int (node, "largest", 0);
    int n_inputs = 1;
    if (opset < 10)
        zi_node_set_int (node, "k", k);
    else {
        in [1] = zi_test_ints (1, &k);
        n_inputs = 2;
    }
    zi_tensor_t *out [2] = {NULL, NULL};
    int rc = zi_test_run_op (node, n_inputs, in, 2, out);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        const zi_tensor_t *x = in [0];
        s_lines_t lines = s_lines (x, axis);
        int64_t wrong = -1, n = 0;
        bool taken [8];
        for (int64_t outer = 0; outer < lines.outer; outer++)
            for (int64_t inner = 0; inner < lines.inner; inner++) {
                memset (taken, 0, sizeof taken);
                int64_t base = outer * lines.extent * lines.inner + inner;
                for (int64_t rank = 0; rank < k; rank++) {
                    int64_t pick = -1;
                    for (int64_t at = 0; at < lines.extent; at++) {
                        if (taken [at])
                            continue;
                        double value = s_value (x, base + at * lines.inner);
                        if (pick < 0)
                            pick = at;
                        else {
                            double best = s_value (x, base + pick * lines.inner);
                            if (largest? s_ref_above (value, best): s_ref_above (best, value))
                                pick = at;
                        }
                    }
                    taken [pick] = true;
                    int64_t got_at = outer * k * lines.inner + rank * lines.inner + inner;
                    double want = s_value (x, base + pick * lines.inner);
                    double got = s_value (out [0], got_at);
                    bool same = isnan (want)? isnan (got): got == want;
                    if ((!same || zi_tensor_i64 (out [1]) [got_at] != pick) && wrong < 0)
                        wrong = got_at;
                    n++;
                }
            }
        ZI_CHECK (t, wrong < 0 && out [0]->dims [axis] == k && out [1]->dtype == ZI_I64,
                  "%s: %lld values and indices, first wrong at %lld", what, (long long) n,
                  (long long) wrong);
    }
    zi_tensor_destroy (&out [0]);
    zi_tensor_destroy (&out [1]);
    zi_tensor_destroy (&in [0]);
    zi_tensor_destroy (&in [1]);
    zi_node_destroy (&node);
}

static void
s_test_arg (zi_test_t *t, bool max, zi_dtype_t dtype, int axis, bool keepdims, bool last,
            uint32_t seed)
{
    char what [120];
    snprintf (what, sizeof what, "%s %s axis %d keepdims %d last %d", max? "ArgMax": "ArgMin",
              zi_dtype_name (dtype), axis, keepdims, last);
    zi_tensor_t *x = s_test_input (dtype, dtype == ZI_F32 && seed % 3 == 0, seed), *y = NULL;
    zi_node_t *node = zi_node_new (max? "ArgMax": "ArgMin", "test");
    zi_node_set_int (node, "axis", axis);
    if (!keepdims)
        zi_node_set_int (node, "keepdims", 0);
    if (last)
        zi_node_set_int (node, "select_last_index", 1);
    int rc = zi_test_run_op (node, 1, &x, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        s_lines_t lines = s_lines (x, axis);
        int64_t wrong = -1;
        for (int64_t outer = 0; outer < lines.outer; outer++)
            for (int64_t inner = 0; inner < lines.inner; inner++) {
                //  numpy's rule: the first NaN (the last one with
                //  select_last_index), else the first extreme (or last)
                int64_t base = outer * lines.extent * lines.inner + inner;
                int64_t pick = -1, nan_at = -1;
                double best = 0;
                for (int64_t at = 0; at < lines.extent; at++) {
                    double value = s_value (x, base + at * lines.inner);
                    if (isnan (value)) {
                        if (nan_at < 0 || last)
                            nan_at = at;
                    }
                    else
                    if (pick < 0 || (max? value > best: value < best) || (last && value == best)) {
                        pick = at;
                        best = value;
                    }
                }
                if (nan_at >= 0)
                    pick = nan_at;
                if (zi_tensor_i64 (y) [outer * lines.inner + inner] != pick && wrong < 0)
                    wrong = outer * lines.inner + inner;
            }
        ZI_CHECK (t, wrong < 0 && y->ndim == (keepdims? 3: 2), "%s: first wrong at %lld", what,
                  (long long) wrong);
    }
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

static void
s_test_cumsum (zi_test_t *t, zi_dtype_t dtype, int axis, bool exclusive, bool reverse,
               uint32_t seed)
{
    char what [120];
    snprintf (what, sizeof what, "CumSum %s axis %d exclusive %d reverse %d",
              zi_dtype_name (dtype), axis, exclusive, reverse);
    zi_tensor_t *in [2] = {s_test_input (dtype, false, seed),
                           zi_tensor_new (ZI_I64, 0, NULL)};
    *zi_tensor_i64 (in [1]) = axis - (seed % 2? 3: 0);
    zi_node_t *node = zi_node_new ("CumSum", "test");
    if (exclusive)
        zi_node_set_int (node, "exclusive", 1);
    if (reverse)
        zi_node_set_int (node, "reverse", 1);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 2, in, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        const zi_tensor_t *x = in [0];
        int64_t strides [3];
        zi_shape_strides (3, x->dims, strides);
        size_t count = zi_tensor_count (x);
        float *want = malloc (count * sizeof (float)), *got = malloc (count * sizeof (float));
        int64_t wrong_int = -1;
        for (size_t item = 0; item < count; item++) {
            int64_t coord = (int64_t) item / strides [axis] % x->dims [axis];
            int64_t first = (int64_t) item - coord * strides [axis];
            double sum = 0;
            for (int64_t other = 0; other < x->dims [axis]; other++) {
                bool counted = reverse? (exclusive? other > coord: other >= coord)
                                      : (exclusive? other < coord: other <= coord);
                if (counted)
                    sum += s_value (x, first + other * strides [axis]);
            }
            want [item] = (float) sum;
            got [item] = (float) s_value (y, (int64_t) item);
            if (dtype != ZI_F32 && s_value (y, (int64_t) item) != sum && wrong_int < 0)
                wrong_int = (int64_t) item;
        }
        if (dtype == ZI_F32)
            ZI_CHECK_CLOSE (t, what, got, want, count, 1e-6f, 1e-6f);
        else
            ZI_CHECK (t, wrong_int < 0, "%s: first wrong at %lld", what, (long long) wrong_int);
        free (want);
        free (got);
    }
    zi_tensor_destroy (&in [0]);
    zi_tensor_destroy (&in [1]);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

//  Runs a node that must fail and checks the message names the problem
static void
s_check_error (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
               const char *needle)
{
    zi_tensor_t *out [2] = {NULL, NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, out);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle) != NULL,
              "%s rejected with '%s': %s", node->op_type, needle, zi_error_text ());
    zi_tensor_destroy (&out [0]);
    zi_node_destroy (&node);
}

void
zi_act_axis_test (zi_test_t *t)
{
    uint32_t seed = 1;
    for (int axis = 0; axis < 3; axis++) {
        int64_t extent = axis == 0? 4: axis == 1? 5: 6;
        int64_t ks [4] = {0, 1, 3, extent};
        for (int pick = 0; pick < 4; pick++)
            for (int largest = 0; largest < 2; largest++) {
                s_test_topk (t, ZI_F32, axis, ks [pick], largest, pick % 2? 9: 11, seed++);
                s_test_topk (t, ZI_I64, axis, ks [pick], largest, 10, seed++);
                s_test_topk (t, ZI_I32, axis, ks [pick], largest, 13, seed++);
            }
        for (int keepdims = 0; keepdims < 2; keepdims++)
            for (int last = 0; last < 2; last++)
                for (int max = 0; max < 2; max++) {
                    s_test_arg (t, max, ZI_F32, axis, keepdims, last, seed++);
                    s_test_arg (t, max, ZI_F32, axis, keepdims, last, 3 * seed++);
                    s_test_arg (t, max, ZI_I64, axis, keepdims, last, seed++);
                    s_test_arg (t, max, ZI_I32, axis, keepdims, last, seed++);
                }
        for (int exclusive = 0; exclusive < 2; exclusive++)
            for (int reverse = 0; reverse < 2; reverse++) {
                s_test_cumsum (t, ZI_F32, axis, exclusive, reverse, seed++);
                s_test_cumsum (t, ZI_I64, axis, exclusive, reverse, seed++);
                s_test_cumsum (t, ZI_I32, axis, exclusive, reverse, seed++);
            }
    }

    //  A long line: the merge sort's uneven last runs
    {
        int64_t dims [1] = {1000};
        zi_tensor_t *in [2] = {zi_test_random (1, dims, 7), zi_test_ints (1, (int64_t []) {999})};
        zi_tensor_t *out [2] = {NULL, NULL};
        zi_node_t *node = zi_node_new ("TopK", "test");
        int rc = zi_test_run_op (node, 2, in, 2, out);
        bool ordered = rc == 0;
        for (int64_t at = 1; ordered && at < 999; at++)
            ordered = zi_tensor_f32 (out [0]) [at - 1] >= zi_tensor_f32 (out [0]) [at]
                   && zi_tensor_f32 (in [0]) [zi_tensor_i64 (out [1]) [at]]
                      == zi_tensor_f32 (out [0]) [at];
        float smallest = INFINITY;
        for (int64_t at = 0; at < 1000; at++)
            smallest = fminf (smallest, zi_tensor_f32 (in [0]) [at]);
        ZI_CHECK (t, ordered && zi_tensor_f32 (out [0]) [998] > smallest,
                  "TopK 999 of 1000: ordered, indices match, smallest left out");
        for (int slot = 0; slot < 2; slot++) {
            zi_tensor_destroy (&in [slot]);
            zi_tensor_destroy (&out [slot]);
        }
        zi_node_destroy (&node);
    }

    //  Errors
    zi_tensor_t *x = s_test_input (ZI_F32, false, 1);
    zi_tensor_t *in [2] = {x, zi_test_ints (1, (int64_t []) {7})};
    s_check_error (t, zi_node_new ("TopK", "test"), 2, in,
                   "K = 7 is out of range for axis 2 of size 6");
    zi_node_t *node = zi_node_new ("TopK", "test");
    node->opset = 9;
    s_check_error (t, node, 1, in, "attribute 'k' is required before opset 10");
    node = zi_node_new ("TopK", "test");
    s_check_error (t, node, 1, in, "input 1 (K) is required from opset 10");
    node = zi_node_new ("ArgMax", "test");
    zi_node_set_int (node, "axis", 3);
    s_check_error (t, node, 1, in, "attribute 'axis' = 3 is out of range for a 3-d input");
    node = zi_node_new ("ArgMin", "test");
    node->opset = 11;
    zi_node_set_int (node, "select_last_index", 1);
    s_check_error (t, node, 1, in, "opset 12 attribute");
    zi_tensor_destroy (&in [1]);
    in [1] = zi_test_ints (1, (int64_t []) {-4});
    s_check_error (t, zi_node_new ("CumSum", "test"), 2, in,
                   "input 1 (axis) = -4 is out of range for a 3-d input");
    zi_tensor_destroy (&in [1]);
    in [1] = zi_test_ints (2, (int64_t []) {0, 1});
    s_check_error (t, zi_node_new ("CumSum", "test"), 2, in, "expected a scalar, got 2");
    zi_tensor_destroy (&in [1]);
    in [1] = zi_tensor_new (ZI_F32, 0, NULL);
    s_check_error (t, zi_node_new ("CumSum", "test"), 2, in,
                   "CumSum at node 'test': input 1 is float32, expected int32 or int64");
    zi_tensor_destroy (&in [1]);
    zi_tensor_t *bools = zi_test_data (ZI_BOOL, 1, (int64_t []) {4}, 3);
    s_check_error (t, zi_node_new ("ArgMax", "test"), 1, &bools,
                   "ArgMax at node 'test': input 0 is bool, expected float32, int32 or int64");
    zi_tensor_destroy (&bools);
    zi_tensor_destroy (&x);
}
