/*  =========================================================================
    act_einsum - Einsum of one or two float32 operands

    The equation names each axis with a letter ("bhid,bhjd->bhij"); "..."
    stands for the leading axes a term does not name, broadcast across
    the operands as numpy does, and without "->" the output is the
    ellipsis axes, then the letters used once, in alphabetical order.
    A letter repeated within one term (a diagonal, "ii->i") is refused.

    Two operands become one batched matrix product: letters in both and
    in the output are batch axes, letters in both and not in the output
    are summed by the product, letters of one operand and the output are
    its free rows or columns, and letters of one operand alone are summed
    away before. Each operand is gathered into [batch, rows, depth] or
    [batch, depth, columns] order, the product runs per batch through
    zi_sgemm, and the result is gathered into the output's order. One
    operand is a transpose with sums, in one gather.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_mm.h"

//  Letter codes: a-z 0..25, A-Z 26..51, the ellipsis' axes 52 on
#define S_CODES     (52 + ZI_MAX_DIMS)
#define S_ELLIPSIS  (-1)            //  "..." in a parsed term

typedef struct {
    int n_terms;                //  operands: 1 or 2
    int length [3];             //  codes per term (operands, then output)
    int terms [3][ZI_MAX_DIMS + 1]; //  letter codes, S_ELLIPSIS for "..."
    bool explicit_output;       //  "->" given
} s_einsum_t;

//  One equation resolved against the operands' ranks and shapes
typedef struct {
    int rank [3];               //  axes per operand, then the output
    int codes [3][ZI_MAX_DIMS]; //  the code of each axis
    int64_t extent [S_CODES];   //  each code's extent (the largest where broadcast)
    bool used [S_CODES];        //  code appears somewhere
} s_resolved_t;

static int
s_code (char letter)
{
    if (letter >= 'a' && letter <= 'z')
        return letter - 'a';
    if (letter >= 'A' && letter <= 'Z')
        return letter - 'A' + 26;
    return -2;
}

static int
s_parse_term (const char *text, size_t length, int *codes, int *n_codes, const char *where)
{
    *n_codes = 0;
    bool ellipsis = false;
    for (size_t at = 0; at < length; at++) {
        if (text [at] == ' ')
            continue;
        if (text [at] == '.') {
            if (ellipsis || at + 2 >= length || text [at + 1] != '.' || text [at + 2] != '.')
                return zi_error ("attribute 'equation': %s: '.' must come as one \"...\"", where);
            ellipsis = true;
            codes [(*n_codes)++] = S_ELLIPSIS;
            at += 2;
            continue;
        }
        int code = s_code (text [at]);
        if (code < 0)
            return zi_error ("attribute 'equation': %s: '%c' is not a letter", where, text [at]);
        if (*n_codes == ZI_MAX_DIMS)
            return zi_error ("attribute 'equation': %s names more than %d axes", where,
                             ZI_MAX_DIMS);
        for (int other = 0; other < *n_codes; other++)
            if (codes [other] == code)
                return zi_error ("attribute 'equation': %s repeats '%c' (diagonals are not "
                                 "supported)", where, text [at]);
        codes [(*n_codes)++] = code;
    }
    return 0;
}

static int
s_einsum_init (zi_node_t *node)
{
    s_einsum_t *self = calloc (1, sizeof (s_einsum_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    const char *equation = zi_node_attr_string (node, "equation", NULL);
    if (!equation)
        return zi_error ("attribute 'equation' is required");
    const char *arrow = strstr (equation, "->");
    size_t inputs_length = arrow? (size_t) (arrow - equation): strlen (equation);
    const char *start = equation;
    while (true) {
        const char *comma = memchr (start, ',', inputs_length - (start - equation));
        size_t length = comma? (size_t) (comma - start): inputs_length - (start - equation);
        if (self->n_terms == 2)
            return zi_error ("attribute 'equation' = '%s': more than two operands are not "
                             "supported", equation);
        char where [32];
        snprintf (where, sizeof where, "operand %d", self->n_terms);
        if (s_parse_term (start, length, self->terms [self->n_terms],
                          &self->length [self->n_terms], where))
            return -1;
        self->n_terms++;
        if (!comma)
            break;
        start = comma + 1;
    }
    self->explicit_output = arrow != NULL;
    if (arrow && s_parse_term (arrow + 2, strlen (arrow + 2), self->terms [2], &self->length [2],
                               "the output"))
        return -1;
    return 0;
}

//  Expands the ellipses against the operands' ranks and finds each
//  letter's extent; checks that the operands agree
static int
s_resolve (const zi_node_t *node, const zi_tensor_t *const *in, s_resolved_t *r)
{
    const s_einsum_t *self = node->params;
    if (node->n_inputs != self->n_terms)
        return zi_error ("the equation has %d operands, the node %d inputs", self->n_terms,
                         node->n_inputs);
    memset (r, 0, sizeof *r);
    int ellipsis_rank = 0;
    for (int term = 0; term < self->n_terms; term++) {
        const zi_tensor_t *x = in [term];
        int named = 0;
        bool has_ellipsis = false;
        for (int at = 0; at < self->length [term]; at++) {
            if (self->terms [term][at] == S_ELLIPSIS)
                has_ellipsis = true;
            else
                named++;
        }
        int spare = x->ndim - named;
        if (spare < 0 || (spare > 0 && !has_ellipsis))
            return zi_error ("input %d has %d dimensions, the equation names %d", term,
                             x->ndim, named);
        //  The ellipsis' axes are right-aligned: its last axis is code 52
        //  + ZI_MAX_DIMS - 1 in every operand
        int axis = 0;
        for (int at = 0; at < self->length [term]; at++) {
            if (self->terms [term][at] == S_ELLIPSIS)
                for (int extra = 0; extra < spare; extra++)
                    r->codes [term][axis++] = 52 + ZI_MAX_DIMS - spare + extra;
            else
                r->codes [term][axis++] = self->terms [term][at];
        }
        r->rank [term] = x->ndim;
        if (has_ellipsis && spare > ellipsis_rank)
            ellipsis_rank = spare;
        for (axis = 0; axis < x->ndim; axis++) {
            int code = r->codes [term][axis];
            int64_t extent = x->dims [axis];
            if (r->used [code] && r->extent [code] != extent && extent != 1
            &&  r->extent [code] != 1)
                return zi_error ("input %d: axis %d is %lld long, but its letter stands for "
                                 "%lld elsewhere", term, axis, (long long) extent,
                                 (long long) r->extent [code]);
            if (!r->used [code] || r->extent [code] == 1)
                r->extent [code] = extent;
            r->used [code] = true;
        }
    }
    //  The output's codes
    int *out = r->codes [2], n = 0;
    if (self->explicit_output) {
        for (int at = 0; at < self->length [2]; at++) {
            int code = self->terms [2][at];
            if (code == S_ELLIPSIS) {
                for (int extra = 0; extra < ellipsis_rank; extra++)
                    out [n++] = 52 + ZI_MAX_DIMS - ellipsis_rank + extra;
                continue;
            }
            if (!r->used [code])
                return zi_error ("attribute 'equation': the output's '%c' is in no operand",
                                 code < 26? 'a' + code: 'A' + code - 26);
            out [n++] = code;
        }
    }
    else {
        for (int extra = 0; extra < ellipsis_rank; extra++)
            out [n++] = 52 + ZI_MAX_DIMS - ellipsis_rank + extra;
        //  ASCII order: capitals first
        for (int pass = 0; pass < 2; pass++)
            for (int letter = 0; letter < 26; letter++) {
                int code = pass == 0? 26 + letter: letter, uses = 0;
                for (int term = 0; term < self->n_terms; term++)
                    for (int axis = 0; axis < r->rank [term]; axis++)
                        uses += r->codes [term][axis] == code;
                if (uses == 1)
                    out [n++] = code;
            }
    }
    if (n > ZI_MAX_DIMS)
        return zi_error ("the output would have %d dimensions, at most %d are supported", n,
                         ZI_MAX_DIMS);
    r->rank [2] = n;
    return 0;
}

static int
s_einsum_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_resolved_t r;
    if (s_resolve (node, in, &r))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    for (int axis = 0; axis < r.rank [2]; axis++)
        dims [axis] = r.extent [r.codes [2][axis]];
    zi_tensor_set_shape (out [0], ZI_F32, r.rank [2], dims);
    return 0;
}

static bool
s_has (const int *codes, int n, int code)
{
    for (int at = 0; at < n; at++)
        if (codes [at] == code)
            return true;
    return false;
}

//  y [order...] = sum over `summed` of x, x's axes named by codes; an axis
//  of extent 1 under a longer letter is broadcast (stride 0)
static void
s_gather (const float *x, int rank, const int64_t *dims, const int *codes,
          const int *order, int n_order, const int *summed, int n_summed,
          const int64_t *extent, float *y)
{
    int64_t stride_of [S_CODES] = {0}, stride = 1;
    for (int axis = rank - 1; axis >= 0; axis--) {
        stride_of [codes [axis]] = dims [axis] == 1? 0: stride;
        stride *= dims [axis];
    }
    int64_t count = 1, inner = 1;
    for (int at = 0; at < n_order; at++)
        count *= extent [order [at]];
    for (int at = 0; at < n_summed; at++)
        inner *= extent [summed [at]];
    int64_t index [ZI_MAX_DIMS] = {0}, base = 0;
    for (int64_t item = 0; item < count; item++) {
        double sum = 0;
        int64_t sum_index [ZI_MAX_DIMS] = {0}, offset = base;
        for (int64_t step = 0; step < inner; step++) {
            sum += x [offset];
            for (int at = n_summed - 1; at >= 0; at--) {
                offset += stride_of [summed [at]];
                if (++sum_index [at] < extent [summed [at]])
                    break;
                offset -= stride_of [summed [at]] * extent [summed [at]];
                sum_index [at] = 0;
            }
        }
        y [item] = (float) sum;
        for (int at = n_order - 1; at >= 0; at--) {
            base += stride_of [order [at]];
            if (++index [at] < extent [order [at]])
                break;
            base -= stride_of [order [at]] * extent [order [at]];
            index [at] = 0;
        }
    }
}

static int
s_einsum_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_einsum_t *self = node->params;
    s_resolved_t r;
    if (s_resolve (node, in, &r))
        return -1;
    const int *out_codes = r.codes [2];
    int n_out = r.rank [2];
    float *y = zi_tensor_f32 (out [0]);
    if (self->n_terms == 1) {
        int summed [ZI_MAX_DIMS], n_summed = 0;
        for (int axis = 0; axis < r.rank [0]; axis++)
            if (!s_has (out_codes, n_out, r.codes [0][axis]))
                summed [n_summed++] = r.codes [0][axis];
        s_gather (zi_tensor_f32 (in [0]), r.rank [0], in [0]->dims, r.codes [0], out_codes,
                  n_out, summed, n_summed, r.extent, y);
        return 0;
    }
    //  Sort the letters of the two operands into their roles
    int batch [S_CODES], rows [S_CODES], cols [S_CODES], depth [S_CODES];
    int a_only [S_CODES], b_only [S_CODES];
    int n_batch = 0, n_rows = 0, n_cols = 0, n_depth = 0, n_a_only = 0, n_b_only = 0;
    const int *a = r.codes [0], *b = r.codes [1];
    int rank_a = r.rank [0], rank_b = r.rank [1];
    for (int axis = 0; axis < rank_a; axis++) {
        int code = a [axis];
        bool in_b = s_has (b, rank_b, code), in_out = s_has (out_codes, n_out, code);
        if (in_b && in_out)
            batch [n_batch++] = code;
        else
        if (in_b)
            depth [n_depth++] = code;
        else
        if (in_out)
            rows [n_rows++] = code;
        else
            a_only [n_a_only++] = code;
    }
    for (int axis = 0; axis < rank_b; axis++) {
        int code = b [axis];
        if (s_has (a, rank_a, code))
            continue;
        if (s_has (out_codes, n_out, code))
            cols [n_cols++] = code;
        else
            b_only [n_b_only++] = code;
    }
    int64_t n_b = 1, m = 1, n = 1, k = 1;
    for (int at = 0; at < n_batch; at++) n_b *= r.extent [batch [at]];
    for (int at = 0; at < n_rows; at++) m *= r.extent [rows [at]];
    for (int at = 0; at < n_cols; at++) n *= r.extent [cols [at]];
    for (int at = 0; at < n_depth; at++) k *= r.extent [depth [at]];

    //  A as [batch, rows, depth], B as [batch, depth, cols], C [batch, rows, cols]
    int a_order [3 * ZI_MAX_DIMS], b_order [3 * ZI_MAX_DIMS], c_codes [3 * ZI_MAX_DIMS];
    int n_a = 0, n_bo = 0, n_c = 0;
    for (int at = 0; at < n_batch; at++)
        a_order [n_a++] = b_order [n_bo++] = c_codes [n_c++] = batch [at];
    for (int at = 0; at < n_rows; at++)
        a_order [n_a++] = c_codes [n_c++] = rows [at];
    for (int at = 0; at < n_depth; at++)
        a_order [n_a++] = b_order [n_bo++] = depth [at];
    for (int at = 0; at < n_cols; at++)
        b_order [n_bo++] = c_codes [n_c++] = cols [at];
    float *a_packed = zi_exec_scratch (exec, 0, (n_b * m * k + 1) * sizeof (float));
    float *b_packed = zi_exec_scratch (exec, 1, (n_b * k * n + 1) * sizeof (float));
    float *c = zi_exec_scratch (exec, 2, (n_b * m * n + 1) * sizeof (float));
    if (!a_packed || !b_packed || !c)
        return zi_error ("out of memory");
    s_gather (zi_tensor_f32 (in [0]), rank_a, in [0]->dims, a, a_order, n_a, a_only,
              n_a_only, r.extent, a_packed);
    s_gather (zi_tensor_f32 (in [1]), rank_b, in [1]->dims, b, b_order, n_bo, b_only,
              n_b_only, r.extent, b_packed);
    for (int64_t item = 0; item < n_b; item++) {
        float *target = c + item * m * n;
        if (k == 0 || m == 0 || n == 0)
            memset (target, 0, m * n * sizeof (float));
        else
            zi_sgemm (exec, false, false, m, n, k, 1, a_packed + item * m * k, k,
                      b_packed + item * k * n, n, 0, target, n);
    }
    //  C's letters are exactly the output's, in another order
    int64_t c_dims [3 * ZI_MAX_DIMS];
    for (int at = 0; at < n_c; at++)
        c_dims [at] = r.extent [c_codes [at]];
    s_gather (c, n_c, c_dims, c_codes, out_codes, n_out, NULL, 0, r.extent, y);
    return 0;
}

const zi_op_t zi_op_Einsum = {
    .name = "Einsum", .min_inputs = 1, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_EINSUM,
    .init = s_einsum_init, .infer = s_einsum_infer, .run = s_einsum_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32))
};


//  --------------------------------------------------------------------------
//  Self test: against the definition, one odometer over every letter of
//  the equation, each combination adding the operands' product into its
//  output element, in double

static void
s_reference (const char *equation, int n_in, zi_tensor_t *const *in, const zi_tensor_t *y,
             double *want)
{
    zi_node_t *node = zi_node_new ("Einsum", "reference");
    zi_node_set_string (node, "equation", equation);
    node->n_inputs = n_in;
    int rc = s_einsum_init (node);
    assert (rc == 0);
    s_resolved_t r;
    rc = s_resolve (node, (const zi_tensor_t *const *) in, &r);
    assert (rc == 0);
    (void) rc;                  //  read by the asserts only
    int letters [S_CODES], n_letters = 0;
    for (int code = 0; code < S_CODES; code++)
        if (r.used [code])
            letters [n_letters++] = code;
    int64_t value [S_CODES] = {0};
    memset (want, 0, zi_tensor_count (y) * sizeof (double));
    while (true) {
        double product = 1;
        for (int term = 0; term < n_in; term++) {
            int64_t at = 0;
            for (int axis = 0; axis < r.rank [term]; axis++) {
                int64_t coord = in [term]->dims [axis] == 1? 0: value [r.codes [term][axis]];
                at = at * in [term]->dims [axis] + coord;
            }
            product *= zi_tensor_f32 (in [term]) [at];
        }
        int64_t at = 0;
        for (int axis = 0; axis < r.rank [2]; axis++)
            at = at * y->dims [axis] + value [r.codes [2][axis]];
        want [at] += product;
        int place = n_letters - 1;
        for (; place >= 0; place--) {
            if (++value [letters [place]] < r.extent [letters [place]])
                break;
            value [letters [place]] = 0;
        }
        if (place < 0)
            break;
    }
    zi_node_destroy (&node);
}

static void
s_test_case (zi_test_t *t, const char *equation, int n_in, int rank_a, const int64_t *dims_a,
             int rank_b, const int64_t *dims_b, int want_rank, const int64_t *want_dims)
{
    zi_tensor_t *in [2] = {zi_test_random (rank_a, dims_a, 3), NULL};
    if (n_in == 2)
        in [1] = zi_test_random (rank_b, dims_b, 4);
    zi_node_t *node = zi_node_new ("Einsum", "test");
    zi_node_set_string (node, "equation", equation);
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, n_in, in, 1, &y);
    ZI_CHECK (t, rc == 0, "Einsum '%s' runs (%s)", equation, rc? zi_error_text (): "ok");
    if (rc == 0) {
        bool shape = y->ndim == want_rank && (want_rank == 0
                  || memcmp (y->dims, want_dims, want_rank * sizeof (int64_t)) == 0);
        char got_text [64], want_text [64];
        ZI_CHECK (t, shape, "Einsum '%s': shape %s, want %s", equation,
                  zi_shape_str (y->ndim, y->dims, got_text, sizeof got_text),
                  zi_shape_str (want_rank, want_dims, want_text, sizeof want_text));
        if (shape) {
            size_t count = zi_tensor_count (y);
            double *want = malloc ((count + 1) * sizeof (double));
            float *want_f = malloc ((count + 1) * sizeof (float));
            s_reference (equation, n_in, in, y, want);
            for (size_t item = 0; item < count; item++)
                want_f [item] = (float) want [item];
            char what [96];
            snprintf (what, sizeof what, "Einsum '%s'", equation);
            ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want_f, count, 1e-5f, 1e-5f);
            free (want);
            free (want_f);
        }
    }
    zi_tensor_destroy (&in [0]);
    zi_tensor_destroy (&in [1]);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

void
zi_act_einsum_test (zi_test_t *t)
{
    //  Matrix products, batched, transposed, attention's two forms
    s_test_case (t, "ij,jk->ik", 2, 2, (int64_t []) {3, 4}, 2, (int64_t []) {4, 5},
                 2, (int64_t []) {3, 5});
    s_test_case (t, "ij,jk", 2, 2, (int64_t []) {3, 4}, 2, (int64_t []) {4, 5},
                 2, (int64_t []) {3, 5});
    s_test_case (t, "ij,kj->ik", 2, 2, (int64_t []) {3, 4}, 2, (int64_t []) {5, 4},
                 2, (int64_t []) {3, 5});
    s_test_case (t, "bij,bjk->bik", 2, 3, (int64_t []) {2, 3, 4}, 3, (int64_t []) {2, 4, 5},
                 3, (int64_t []) {2, 3, 5});
    s_test_case (t, "bhid,bhjd->bhij", 2, 4, (int64_t []) {2, 3, 4, 8}, 4,
                 (int64_t []) {2, 3, 5, 8}, 4, (int64_t []) {2, 3, 4, 5});
    s_test_case (t, "bhij,bhjd->bhid", 2, 4, (int64_t []) {2, 3, 4, 5}, 4,
                 (int64_t []) {2, 3, 5, 8}, 4, (int64_t []) {2, 3, 4, 8});
    s_test_case (t, "bij,bjk->bki", 2, 3, (int64_t []) {2, 3, 4}, 3, (int64_t []) {2, 4, 5},
                 3, (int64_t []) {2, 5, 3});
    //  Outer product, dot product, a letter summed in one operand only
    s_test_case (t, "i,j->ij", 2, 1, (int64_t []) {3}, 1, (int64_t []) {4},
                 2, (int64_t []) {3, 4});
    s_test_case (t, "i,i->", 2, 1, (int64_t []) {7}, 1, (int64_t []) {7}, 0, NULL);
    s_test_case (t, "ijk,jl->il", 2, 3, (int64_t []) {2, 3, 4}, 2, (int64_t []) {3, 5},
                 2, (int64_t []) {2, 5});
    //  One operand: transpose, sums, implicit order
    s_test_case (t, "ij->ji", 1, 2, (int64_t []) {3, 4}, 0, NULL, 2, (int64_t []) {4, 3});
    s_test_case (t, "ijk->ik", 1, 3, (int64_t []) {2, 3, 4}, 0, NULL, 2, (int64_t []) {2, 4});
    s_test_case (t, "ij->", 1, 2, (int64_t []) {3, 4}, 0, NULL, 0, NULL);
    s_test_case (t, "ba", 1, 2, (int64_t []) {3, 4}, 0, NULL, 2, (int64_t []) {4, 3});
    //  Ellipsis, broadcast across operands
    s_test_case (t, "...ij,...jk->...ik", 2, 4, (int64_t []) {2, 3, 4, 5}, 3,
                 (int64_t []) {3, 5, 6}, 4, (int64_t []) {2, 3, 4, 6});
    s_test_case (t, "...ij,...jk", 2, 3, (int64_t []) {1, 4, 5}, 3, (int64_t []) {3, 5, 2},
                 3, (int64_t []) {3, 4, 2});
    s_test_case (t, "b...c->bc", 1, 4, (int64_t []) {2, 3, 4, 5}, 0, NULL,
                 2, (int64_t []) {2, 5});
    s_test_case (t, " i j , j k -> i k ", 2, 2, (int64_t []) {3, 4}, 2, (int64_t []) {4, 5},
                 2, (int64_t []) {3, 5});

    //  Errors
    static const struct {
        const char *equation;
        const char *needle;
    } bad [] = {
        {"ii->i", "repeats 'i' (diagonals are not supported)"},
        {"ij,jk,kl->il", "more than two operands"},
        {"ij,jk->iz", "the output's 'z' is in no operand"},
        {"i1,jk->ik", "'1' is not a letter"},
        {"ij..,jk->ik", "must come as one \"...\""},
        {"ijk,jk->ik", "input 0 has 2 dimensions, the equation names 3"},
        {"ij,ik->jk", "but its letter stands for"},
    };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        zi_tensor_t *in [2] = {zi_test_random (2, (int64_t []) {3, 4}, 1),
                               zi_test_random (2, (int64_t []) {4, 5}, 2)};
        zi_node_t *node = zi_node_new ("Einsum", "test");
        zi_node_set_string (node, "equation", bad [index].equation);
        zi_tensor_t *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, in, 1, &y) == -1
                  && strstr (zi_error_text (), bad [index].needle),
                  "Einsum '%s' refused: %s", bad [index].equation, zi_error_text ());
        zi_tensor_destroy (&in [0]);
        zi_tensor_destroy (&in [1]);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    //  Float32 only, as the op entry says
    zi_tensor_t *in [2] = {zi_test_random (2, (int64_t []) {3, 4}, 1),
                           zi_test_ints (4, (int64_t []) {1, 2, 3, 4})};
    zi_tensor_set_shape (in [1], ZI_I64, 2, (int64_t []) {4, 1});
    zi_node_t *node = zi_node_new ("Einsum", "test");
    zi_node_set_string (node, "equation", "ij,jk->ik");
    zi_tensor_t *y = NULL;
    ZI_CHECK (t, zi_test_run_op (node, 2, in, 1, &y) == -1
              && strstr (zi_error_text (), "Einsum at node 'test': input 1 is int64, "
                         "expected float32"),
              "Einsum of int64 refused: %s", zi_error_text ());
    zi_tensor_destroy (&in [0]);
    zi_tensor_destroy (&in [1]);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}
