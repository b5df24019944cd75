/*  =========================================================================
    act_rnn - recurrent layers: LSTM, GRU and RNN

    Inputs X [seq, batch, input] (layout 1: [batch, seq, input]), W
    [directions, gates x hidden, input], R [directions, gates x hidden,
    hidden], then optional B [directions, 2 x gates x hidden],
    sequence_lens [batch], initial_h [directions, batch, hidden] and, for
    LSTM, initial_c and the peepholes P [directions, 3 x hidden]. Outputs
    Y [seq, directions, batch, hidden], Y_h and Y_c [directions, batch,
    hidden], each optional (layout 1 puts batch first in all three).
    Gates are stacked i, o, f, c for LSTM, z, r, h for GRU.

    The input's share of every gate does not depend on the state, so it is
    one matrix product over all time steps and both directions at once,
    started from the biases. What is left per step is the state times R
    (one product over the batch) and the gates' element-wise arithmetic.
    Constant W and R are packed once at prepare for zinfer's own product
    (act_mm.h), which runs both products on AVX2 or AVX-512 machines; a
    batch of one is then a packed matrix-vector product per step. OpenBLAS
    runs them when the weights come at run time, at the portable level,
    and for a batch of one when its kernels are as new as the CPU's (as
    Gemm decides).
    With sequence_lens, a sequence shorter than the longest one stops
    early (a reverse one starts at its own last step); its rows of Y past
    its end are zero and Y_h holds its state at its last step, as
    PyTorch's packed sequences and ONNX Runtime give them.

    The activations attribute names f, g (and h) per direction; those that
    take parameters consume activation_alpha and activation_beta in order.
    clip bounds every gate's input to its activation.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_mm.h"

typedef enum {
    S_LSTM,
    S_GRU,
    S_RNN
} s_cell_t;

typedef enum {
    S_SIGMOID, S_TANH, S_RELU, S_AFFINE, S_LEAKY_RELU, S_THRESHOLDED_RELU,
    S_SCALED_TANH, S_HARD_SIGMOID, S_ELU, S_SOFTSIGN, S_SOFTPLUS
} s_fn_kind_t;

typedef struct {
    s_fn_kind_t kind;           //  which function
    float alpha, beta;          //  its parameters, where it has any
} s_fn_t;

typedef struct {
    s_cell_t cell;              //  LSTM, GRU or RNN
    int gates;                  //  4, 3 or 1 blocks of hidden rows in W and R
    int directions;             //  1 or 2
    bool reverse;               //  one direction, run from the last step back
    int64_t hidden;             //  hidden_size, or 0 when it is left to R
    int layout;                 //  0: time first, 1: batch first
    float clip;                 //  bound on gate inputs; 0: none
    bool input_forget;          //  LSTM: forget gate = 1 - input gate
    bool linear_before_reset;   //  GRU: R h is made before r multiplies it
    s_fn_t fn [2][3];           //  f, g, h per direction
    float *packed_w;            //  W of every direction packed by prepare, or NULL
    float *packed_r [2];        //  per direction: R's rows the first product takes
    float *packed_rh [2];       //  GRU resetting first: R's h block, apart
    const float *w_from;        //  the W and R they were packed from
    const float *r_from;
    int64_t packed_input;       //  input and hidden sizes then
    int64_t packed_hidden;
} s_rnn_t;

//  The functions an activations list may name, with their parameters'
//  defaults (those of the ONNX ops of the same names)
static const struct {
    const char *name;
    s_fn_kind_t kind;
    int n_params;               //  alphas (and betas) it takes: 0, 1 or 2
    float alpha, beta;
} s_fns [] = {
    {"Sigmoid",         S_SIGMOID,          0, 0, 0},
    {"Tanh",            S_TANH,             0, 0, 0},
    {"Relu",            S_RELU,             0, 0, 0},
    {"Affine",          S_AFFINE,           2, 1.0f, 0.0f},
    {"LeakyRelu",       S_LEAKY_RELU,       1, 0.01f, 0},
    {"ThresholdedRelu", S_THRESHOLDED_RELU, 1, 1.0f, 0},
    {"ScaledTanh",      S_SCALED_TANH,      2, 1.0f, 1.0f},
    {"HardSigmoid",     S_HARD_SIGMOID,     2, 0.2f, 0.5f},
    {"Elu",             S_ELU,              1, 1.0f, 0},
    {"Softsign",        S_SOFTSIGN,         0, 0, 0},
    {"Softplus",        S_SOFTPLUS,         0, 0, 0},
};

static inline float
s_apply (const s_fn_t *fn, float x)
{
    switch (fn->kind) {
        case S_SIGMOID:          return 1.0f / (1.0f + expf (-x));
        case S_TANH:             return tanhf (x);
        case S_RELU:             return x > 0? x: 0;
        case S_AFFINE:           return fn->alpha * x + fn->beta;
        case S_LEAKY_RELU:       return x >= 0? x: fn->alpha * x;
        case S_THRESHOLDED_RELU: return x > fn->alpha? x: 0;
        case S_SCALED_TANH:      return fn->alpha * tanhf (fn->beta * x);
        case S_HARD_SIGMOID:     return fmaxf (0, fminf (1, fn->alpha * x + fn->beta));
        case S_ELU:              return x >= 0? x: fn->alpha * (expf (x) - 1);
        case S_SOFTSIGN:         return x / (1 + fabsf (x));
        case S_SOFTPLUS:         return x > 20? x: log1pf (expf (x));
    }
    return x;
}


//  --------------------------------------------------------------------------
//  Attributes

static int
s_activations_init (zi_node_t *node, s_rnn_t *self)
{
    static const char *defaults [3][3] = {
        {"Sigmoid", "Tanh", "Tanh"}, {"Sigmoid", "Tanh", ""}, {"Tanh", "", ""}
    };
    int per_direction = self->cell == S_LSTM? 3: self->cell == S_GRU? 2: 1;
    const char *names [6];
    int n_names = zi_node_attr_strings (node, "activations", names, 6);
    if (n_names < 0)
        return -1;
    if (n_names == 0) {
        for (int direction = 0; direction < self->directions; direction++)
            for (int slot = 0; slot < per_direction; slot++)
                names [n_names++] = defaults [self->cell][slot];
    }
    else
    if (n_names != per_direction * self->directions)
        return zi_error ("attribute 'activations': expected %d names (%d per direction), "
                         "got %d", per_direction * self->directions, per_direction, n_names);
    float alphas [6], betas [6];
    int n_alphas = zi_node_attr_floats (node, "activation_alpha", alphas, 6);
    int n_betas = zi_node_attr_floats (node, "activation_beta", betas, 6);
    if (n_alphas < 0 || n_betas < 0)
        return -1;
    int next_alpha = 0, next_beta = 0;
    for (int index = 0; index < n_names; index++) {
        size_t known = 0;
        while (known < sizeof s_fns / sizeof s_fns [0]
           &&  strcasecmp (s_fns [known].name, names [index]) != 0)
            known++;
        if (known == sizeof s_fns / sizeof s_fns [0])
            return zi_error ("attribute 'activations' [%d]: unknown function '%s' (expected "
                             "Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, "
                             "ScaledTanh, HardSigmoid, Elu, Softsign or Softplus)",
                             index, names [index]);
        s_fn_t *fn = &self->fn [index / per_direction][index % per_direction];
        fn->kind = s_fns [known].kind;
        fn->alpha = s_fns [known].alpha;
        fn->beta = s_fns [known].beta;
        if (s_fns [known].n_params >= 1 && next_alpha < n_alphas)
            fn->alpha = alphas [next_alpha++];
        if (s_fns [known].n_params >= 2 && next_beta < n_betas)
            fn->beta = betas [next_beta++];
    }
    return 0;
}

static int
s_rnn_init (zi_node_t *node, s_cell_t cell)
{
    s_rnn_t *self = calloc (1, sizeof (s_rnn_t));
    if (!self)
        return zi_error ("out of memory");
    node->params = self;
    self->cell = cell;
    self->gates = cell == S_LSTM? 4: cell == S_GRU? 3: 1;
    const char *direction = zi_node_attr_string (node, "direction", "forward");
    if (strcmp (direction, "forward") == 0)
        self->directions = 1;
    else
    if (strcmp (direction, "reverse") == 0) {
        self->directions = 1;
        self->reverse = true;
    }
    else
    if (strcmp (direction, "bidirectional") == 0)
        self->directions = 2;
    else
        return zi_error ("attribute 'direction' = '%s'; expected forward, reverse or "
                         "bidirectional", direction);
    self->hidden = zi_node_attr_int (node, "hidden_size", 0);
    if (self->hidden < 0)
        return zi_error ("attribute 'hidden_size' = %lld; expected a positive number",
                         (long long) self->hidden);
    int64_t layout = zi_node_attr_int (node, "layout", 0);
    if (layout != 0 && layout != 1)
        return zi_error ("attribute 'layout' = %lld; expected 0 or 1", (long long) layout);
    if (layout == 1 && node->opset < 14)
        return zi_error ("attribute 'layout' is an opset 14 attribute; the model imports "
                         "opset %d", node->opset);
    self->layout = (int) layout;
    self->clip = zi_node_attr_float (node, "clip", 0);
    if (zi_node_attr (node, "clip") && !(self->clip > 0))
        return zi_error ("attribute 'clip' = %g; expected a positive threshold",
                         (double) self->clip);
    int64_t input_forget = cell == S_LSTM? zi_node_attr_int (node, "input_forget", 0): 0;
    int64_t before_reset = cell == S_GRU? zi_node_attr_int (node, "linear_before_reset", 0): 0;
    if ((input_forget != 0 && input_forget != 1) || (before_reset != 0 && before_reset != 1))
        return zi_error ("attributes 'input_forget' = %lld and 'linear_before_reset' = %lld; "
                         "expected 0 or 1", (long long) input_forget, (long long) before_reset);
    self->input_forget = input_forget == 1;
    self->linear_before_reset = before_reset == 1;
    return s_activations_init (node, self);
}

static void
s_rnn_release (s_rnn_t *self)
{
    zi_free (self->packed_w);
    self->packed_w = NULL;
    for (int direction = 0; direction < 2; direction++) {
        zi_free (self->packed_r [direction]);
        zi_free (self->packed_rh [direction]);
        self->packed_r [direction] = self->packed_rh [direction] = NULL;
    }
    self->w_from = self->r_from = NULL;
}

static void
s_rnn_destroy (zi_node_t *node)
{
    if (node->params)
        s_rnn_release (node->params);
    free (node->params);
    node->params = NULL;
}

static int s_lstm_init (zi_node_t *node) { return s_rnn_init (node, S_LSTM); }
static int s_gru_init (zi_node_t *node) { return s_rnn_init (node, S_GRU); }
static int s_plain_init (zi_node_t *node) { return s_rnn_init (node, S_RNN); }


//  --------------------------------------------------------------------------
//  Shapes

enum { S_X, S_W, S_R, S_B, S_LENS, S_INITIAL_H, S_INITIAL_C, S_P };

static const char *s_input_names [] = {
    "X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"
};

//  An optional input of exactly the given shape
static int
s_check_input (const zi_tensor_t *const *in, int n_inputs, int slot, int ndim,
               const int64_t *dims)
{
    if (slot >= n_inputs || !in [slot])
        return 0;
    const zi_tensor_t *tensor = in [slot];
    bool same = tensor->ndim == ndim;
    for (int axis = 0; same && axis < ndim; axis++)
        same = tensor->dims [axis] == dims [axis];
    char got [64], want [64];
    if (!same)
        return zi_error ("input %d (%s): expected shape %s, got %s", slot,
                         s_input_names [slot], zi_shape_str (ndim, dims, want, sizeof want),
                         zi_shape_str (tensor->ndim, tensor->dims, got, sizeof got));
    return 0;
}

//  Sizes of one run, from the inputs' shapes
typedef struct {
    int64_t seq, batch, input, hidden;
} s_sizes_t;

static int
s_sizes (const zi_node_t *node, const zi_tensor_t *const *in, s_sizes_t *sizes)
{
    const s_rnn_t *self = node->params;
    const zi_tensor_t *x = in [S_X], *w = in [S_W], *r = in [S_R];
    if (!x || !w || !r)
        return zi_error ("inputs X, W and R are required");
    char got [64];
    if (x->ndim != 3)
        return zi_error ("input 0 (X): expected 3 dimensions, got %s",
                         zi_shape_str (x->ndim, x->dims, got, sizeof got));
    sizes->seq = x->dims [self->layout == 0? 0: 1];
    sizes->batch = x->dims [self->layout == 0? 1: 0];
    sizes->input = x->dims [2];
    if (r->ndim != 3)
        return zi_error ("input 2 (R): expected 3 dimensions, got %s",
                         zi_shape_str (r->ndim, r->dims, got, sizeof got));
    sizes->hidden = self->hidden? self->hidden: r->dims [2];
    if (sizes->hidden < 1)
        return zi_error ("input 2 (R): expected a hidden size of at least 1, got %s",
                         zi_shape_str (r->ndim, r->dims, got, sizeof got));
    int64_t dirs = self->directions, hidden = sizes->hidden, batch = sizes->batch;
    int64_t rows = self->gates * hidden;
    int n = node->n_inputs;
    if (s_check_input (in, n, S_W, 3, (int64_t []) {dirs, rows, sizes->input})
    ||  s_check_input (in, n, S_R, 3, (int64_t []) {dirs, rows, hidden})
    ||  s_check_input (in, n, S_B, 2, (int64_t []) {dirs, 2 * rows})
    ||  s_check_input (in, n, S_LENS, 1, (int64_t []) {batch}))
        return -1;
    int64_t state [3] = {dirs, batch, hidden};
    if (self->layout == 1) {
        state [0] = batch;
        state [1] = dirs;
    }
    if (s_check_input (in, n, S_INITIAL_H, 3, state))
        return -1;
    if (self->cell == S_LSTM
    && (s_check_input (in, n, S_INITIAL_C, 3, state)
    ||  s_check_input (in, n, S_P, 2, (int64_t []) {dirs, 3 * hidden})))
        return -1;
    return 0;
}

static int
s_rnn_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_rnn_t *self = node->params;
    s_sizes_t sizes;
    if (s_sizes (node, in, &sizes))
        return -1;
    int64_t dirs = self->directions;
    if (self->layout == 0) {
        zi_tensor_set_shape (out [0], ZI_F32, 4,
                             (int64_t []) {sizes.seq, dirs, sizes.batch, sizes.hidden});
        for (int slot = 1; slot < node->n_outputs; slot++)
            zi_tensor_set_shape (out [slot], ZI_F32, 3,
                                 (int64_t []) {dirs, sizes.batch, sizes.hidden});
    }
    else {
        zi_tensor_set_shape (out [0], ZI_F32, 4,
                             (int64_t []) {sizes.batch, sizes.seq, dirs, sizes.hidden});
        for (int slot = 1; slot < node->n_outputs; slot++)
            zi_tensor_set_shape (out [slot], ZI_F32, 3,
                                 (int64_t []) {sizes.batch, dirs, sizes.hidden});
    }
    return 0;
}


//  Rows of R the first product of a step takes: all of them, but for a
//  GRU that resets first, whose h block waits for r (s_pass)
static int64_t
s_first_rows (const s_rnn_t *self, int64_t hidden)
{
    bool reset_first = self->cell == S_GRU && !self->linear_before_reset;
    return reset_first? 2 * hidden: self->gates * hidden;
}

//  Packs constant W and R for zi_mm: W of every direction as one matrix
//  of dirs x gates x hidden rows, whose product with X is a whole row of
//  the input gates; R per direction, a GRU's h block apart when it is
//  multiplied by r h on its own
static int
s_rnn_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_rnn_t *self = node->params;
    s_rnn_release (self);
    s_sizes_t sizes;
    if (!zi_cpu_avx2 () || !in [S_W]->data || !in [S_R]->data || s_sizes (node, in, &sizes)
    ||  sizes.input == 0)
        return 0;
    int64_t hidden = sizes.hidden, rows = self->gates * hidden, dirs = self->directions;
    int64_t first = s_first_rows (self, hidden);
    self->packed_w = zi_alloc (zi_mm_packed_floats (dirs * rows, sizes.input) * sizeof (float));
    bool fail = !self->packed_w;
    for (int direction = 0; direction < dirs; direction++) {
        self->packed_r [direction] = zi_alloc (zi_mm_packed_floats (first, hidden)
                                               * sizeof (float));
        fail |= !self->packed_r [direction];
        if (first < rows) {
            self->packed_rh [direction] = zi_alloc (zi_mm_packed_floats (rows - first, hidden)
                                                    * sizeof (float));
            fail |= !self->packed_rh [direction];
        }
    }
    if (fail) {
        s_rnn_release (self);
        return zi_error ("out of memory for packed weights");
    }
    zi_mm_pack (zi_tensor_f32 (in [S_W]), dirs * rows, sizes.input, sizes.input, 1,
                self->packed_w);
    for (int direction = 0; direction < dirs; direction++) {
        const float *r = zi_tensor_f32 (in [S_R]) + direction * rows * hidden;
        zi_mm_pack (r, first, hidden, hidden, 1, self->packed_r [direction]);
        if (first < rows)
            zi_mm_pack (r + first * hidden, rows - first, hidden, hidden, 1,
                        self->packed_rh [direction]);
    }
    self->w_from = zi_tensor_f32 (in [S_W]);
    self->r_from = zi_tensor_f32 (in [S_R]);
    self->packed_input = sizes.input;
    self->packed_hidden = hidden;
    return 0;
}

//  Are the packed weights those of this run, and is zinfer's product the
//  one to use at the level in use?
static bool
s_packed_usable (const s_rnn_t *self, const zi_tensor_t *const *in, const s_sizes_t *sizes)
{
    return self->packed_w && zi_use_avx2 () && self->w_from == zi_tensor_f32 (in [S_W])
        && self->r_from == zi_tensor_f32 (in [S_R]) && self->packed_input == sizes->input
        && self->packed_hidden == sizes->hidden;
}


//  --------------------------------------------------------------------------
//  Running

//  Where things are, for one direction of one run
typedef struct {
    const s_rnn_t *self;
    s_sizes_t sizes;
    int direction;              //  0 or 1
    int64_t stride;             //  floats per row of the input gates: dirs x gates x hidden
    const float *gates_x;       //  input share of the gates, plus biases
    const float *r;             //  this direction's R
    const float *packed_r;      //  R's first rows packed, or NULL: OpenBLAS
    const float *packed_rh;     //  GRU resetting first: R's h block packed
    const float *rb_h;          //  GRU with linear_before_reset: R's bias of the h gate
    const float *peephole;      //  LSTM: P's i, o, f, or NULL
    const int64_t *lengths;     //  steps of each sequence
} s_pass_t;

static inline float
s_clip (const s_rnn_t *self, float x)
{
    if (self->clip > 0)
        x = x < -self->clip? -self->clip: x > self->clip? self->clip: x;
    return x;
}

//  The row of X (and of the input gates) at step `step` of sequence b
static inline int64_t
s_row (const s_rnn_t *self, const s_sizes_t *sizes, int64_t step, int64_t b)
{
    return self->layout == 0? step * sizes->batch + b: b * sizes->seq + step;
}

//  The state's offset in Y_h, Y_c, initial_h and initial_c
static inline int64_t
s_state_at (const s_rnn_t *self, const s_sizes_t *sizes, int direction, int64_t b)
{
    int64_t dirs = self->directions;
    return (self->layout == 0? direction * sizes->batch + b: b * dirs + direction)
         * sizes->hidden;
}

static inline int64_t
s_y_at (const s_rnn_t *self, const s_sizes_t *sizes, int direction, int64_t step, int64_t b)
{
    int64_t dirs = self->directions;
    return (self->layout == 0? (step * dirs + direction) * sizes->batch + b
                             : (b * sizes->seq + step) * dirs + direction) * sizes->hidden;
}

//  fn over a row of n floats: Sigmoid and Tanh by zi_act_apply, whose
//  vector forms the level in use picks (libm's at the portable level, as
//  s_apply), the rest one by one
static void
s_apply_row (const s_fn_t *fn, float *v, int64_t n)
{
    if (fn->kind == S_SIGMOID || fn->kind == S_TANH) {
        zi_act_t act = {fn->kind == S_SIGMOID? ZI_ACT_SIGMOID: ZI_ACT_TANH, 0, 0};
        zi_act_apply (&act, v, (size_t) n);
        return;
    }
    for (int64_t j = 0; j < n; j++)
        v [j] = s_apply (fn, v [j]);
}

//  One step of sequence b: h (and c) updated in place from the input
//  gates gx and the state's product with R, ghr (GRU without
//  linear_before_reset: the h gate's product, made from r h). Each gate's
//  inputs are gathered into a row of work (5 x hidden floats) and its
//  function applied to the whole row, so that it runs as vectors.
static void
s_step (const s_pass_t *pass, const float *gx, const float *hr, const float *ghr,
        float *h, float *c, float *work)
{
    const s_rnn_t *self = pass->self;
    const s_fn_t *fn = self->fn [pass->direction];
    int64_t hidden = pass->sizes.hidden;
    float *gate_i = work, *gate_f = work + hidden, *gate_c = work + 2 * hidden;
    float *gate_o = work + 3 * hidden, *cell_h = work + 4 * hidden;
    if (self->cell == S_LSTM) {
        const float *p = pass->peephole;
        for (int64_t j = 0; j < hidden; j++) {
            float pre_i = gx [j] + hr [j] + (p? p [j] * c [j]: 0);
            float pre_f = gx [2 * hidden + j] + hr [2 * hidden + j]
                        + (p? p [2 * hidden + j] * c [j]: 0);
            float pre_c = gx [3 * hidden + j] + hr [3 * hidden + j];
            gate_i [j] = s_clip (self, pre_i);
            gate_f [j] = s_clip (self, pre_f);
            gate_c [j] = s_clip (self, pre_c);
        }
        s_apply_row (&fn [0], gate_i, hidden);
        if (!self->input_forget)
            s_apply_row (&fn [0], gate_f, hidden);
        s_apply_row (&fn [1], gate_c, hidden);
        for (int64_t j = 0; j < hidden; j++) {
            float forget = self->input_forget? 1 - gate_i [j]: gate_f [j];
            float cell = forget * c [j] + gate_i [j] * gate_c [j];
            float pre_o = gx [hidden + j] + hr [hidden + j] + (p? p [hidden + j] * cell: 0);
            gate_o [j] = s_clip (self, pre_o);
            c [j] = cell_h [j] = cell;
        }
        s_apply_row (&fn [0], gate_o, hidden);
        s_apply_row (&fn [2], cell_h, hidden);
        for (int64_t j = 0; j < hidden; j++)
            h [j] = gate_o [j] * cell_h [j];
    }
    else
    if (self->cell == S_GRU) {
        float *update = gate_i, *reset = gate_f, *candidate = gate_c;
        for (int64_t j = 0; j < hidden; j++) {
            update [j] = s_clip (self, gx [j] + hr [j]);
            if (self->linear_before_reset)
                reset [j] = s_clip (self, gx [hidden + j] + hr [hidden + j]);
        }
        s_apply_row (&fn [0], update, hidden);
        if (self->linear_before_reset)
            s_apply_row (&fn [0], reset, hidden);
        for (int64_t j = 0; j < hidden; j++) {
            float pre_h = self->linear_before_reset?
                gx [2 * hidden + j] + reset [j] * (hr [2 * hidden + j] + pass->rb_h [j]):
                gx [2 * hidden + j] + ghr [j];
            candidate [j] = s_clip (self, pre_h);
        }
        s_apply_row (&fn [1], candidate, hidden);
        for (int64_t j = 0; j < hidden; j++)
            h [j] = (1 - update [j]) * candidate [j] + update [j] * h [j];
    }
    else {
        for (int64_t j = 0; j < hidden; j++)
            h [j] = s_clip (self, gx [j] + hr [j]);
        s_apply_row (&fn [0], h, hidden);
    }
}

//  y [batch, n] (rows ldy apart) = h [batch, hidden] times the first n rows
//  of R, transposed. Packed R: a batch of one is a matrix-vector product
//  on the packed panels, more sequences one product on h transposed into
//  work (which holds (n + hidden) x batch floats). OpenBLAS: a few
//  sequences take one matrix-vector product each, as sgemm would pack all
//  of R again at every step, work that only a larger batch pays back
static void
s_times_r (zi_exec_t *exec, int64_t batch, int64_t n, int64_t hidden, const float *h,
           const float *r, const float *packed, float *work, float *y, int64_t ldy)
{
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    if (packed && batch == 1)
        zi_mm_parallel (exec, packed, n, hidden, 1, h, 1, NULL, NULL, 0, &none, y, 1);
    else
    if (packed) {
        float *h_t = work, *y_t = work + hidden * batch;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t k = 0; k < hidden; k++)
                h_t [k * batch + b] = h [b * hidden + k];
        zi_mm_parallel (exec, packed, n, hidden, batch, h_t, batch, NULL, NULL, 0, &none,
                        y_t, batch);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t j = 0; j < n; j++)
                y [b * ldy + j] = y_t [j * batch + b];
    }
    else
    if (batch <= 4)
        for (int64_t b = 0; b < batch; b++)
            zi_sgemv (exec, false, n, hidden, 1, r, hidden, h + b * hidden, 1, 0, y + b * ldy);
    else
        zi_sgemm (exec, false, true, batch, n, hidden, 1, h, hidden, r, hidden, 0, y, ldy);
}

//  Runs one direction over every sequence: state [batch, hidden] in h
//  (and c), started by the caller; steps written to y when it is not NULL
static int
s_pass (zi_exec_t *exec, const s_pass_t *pass, float *h, float *c, float *y)
{
    const s_rnn_t *self = pass->self;
    const s_sizes_t *sizes = &pass->sizes;
    int64_t batch = sizes->batch, hidden = sizes->hidden;
    int64_t rows = self->gates * hidden;
    bool reverse = self->reverse || pass->direction == 1;
    bool reset_first = self->cell == S_GRU && !self->linear_before_reset;
    int64_t longest = 0;
    for (int64_t b = 0; b < batch; b++)
        longest = pass->lengths [b] > longest? pass->lengths [b]: longest;

    //  hr: the state times R, [batch, rows]; for a GRU resetting first,
    //  rh = r h [batch, hidden] and ghr, its product with R's h block
    //  work for s_times_r, and gates, s_step's rows
    float *hr = zi_exec_scratch (exec, 2, (2 * batch * rows + 3 * batch * hidden + 5 * hidden
                                           + 1) * sizeof (float));
    if (!hr)
        return zi_error ("out of memory for %lld x %lld recurrent products",
                         (long long) batch, (long long) rows);
    float *rh = hr + batch * rows, *ghr = rh + batch * hidden, *work = ghr + batch * hidden;
    float *gates = work + batch * (rows + hidden);
    const s_fn_t *gate_fn = &self->fn [pass->direction][0];
    for (int64_t step = 0; step < longest; step++) {
        //  The GRU that resets first needs r before R's h block can
        //  multiply r h; its z and r come from the first two blocks
        int64_t first_rows = s_first_rows (self, hidden);
        s_times_r (exec, batch, first_rows, hidden, h, pass->r, pass->packed_r, work, hr, rows);
        if (reset_first) {
            for (int64_t b = 0; b < batch; b++) {
                int64_t length = pass->lengths [b];
                int64_t t = reverse? length - 1 - step: step;
                if (step >= length)
                    continue;
                const float *gx = pass->gates_x + s_row (self, sizes, t, b) * pass->stride;
                for (int64_t j = 0; j < hidden; j++)
                    gates [j] = s_clip (self, gx [hidden + j] + hr [b * rows + hidden + j]);
                s_apply_row (gate_fn, gates, hidden);
                for (int64_t j = 0; j < hidden; j++)
                    rh [b * hidden + j] = gates [j] * h [b * hidden + j];
            }
            s_times_r (exec, batch, hidden, hidden, rh, pass->r + 2 * hidden * hidden,
                       pass->packed_r? pass->packed_rh: NULL, work, ghr, hidden);
        }
        for (int64_t b = 0; b < batch; b++) {
            int64_t length = pass->lengths [b];
            if (step >= length)
                continue;
            int64_t t = reverse? length - 1 - step: step;
            const float *gx = pass->gates_x + s_row (self, sizes, t, b) * pass->stride;
            float *state = h + b * hidden;
            s_step (pass, gx, hr + b * rows, ghr + b * hidden, state, c? c + b * hidden: NULL,
                    gates);
            if (y)
                memcpy (y + s_y_at (self, sizes, pass->direction, t, b), state,
                        hidden * sizeof (float));
        }
    }
    return 0;
}

static int
s_rnn_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
           zi_tensor_t *const *out)
{
    const s_rnn_t *self = node->params;
    s_sizes_t sizes;
    if (s_sizes (node, in, &sizes))
        return -1;
    int n = node->n_inputs;
    const zi_tensor_t *bias = n > S_B? in [S_B]: NULL;
    const zi_tensor_t *lens = n > S_LENS? in [S_LENS]: NULL;
    const zi_tensor_t *initial_h = n > S_INITIAL_H? in [S_INITIAL_H]: NULL;
    const zi_tensor_t *initial_c = n > S_INITIAL_C && self->cell == S_LSTM? in [S_INITIAL_C]: NULL;
    const zi_tensor_t *peephole = n > S_P && self->cell == S_LSTM? in [S_P]: NULL;
    int64_t seq = sizes.seq, batch = sizes.batch, hidden = sizes.hidden;
    int64_t dirs = self->directions, rows = self->gates * hidden;
    int64_t steps = seq * batch, stride = dirs * rows;
    float *y = out [0]? zi_tensor_f32 (out [0]): NULL;
    float *y_h = node->n_outputs > 1 && out [1]? zi_tensor_f32 (out [1]): NULL;
    float *y_c = node->n_outputs > 2 && out [2]? zi_tensor_f32 (out [2]): NULL;

    //  Lengths are data: a bad one is the caller's, reported, not asserted
    int64_t *lengths = zi_exec_scratch (exec, 3, (batch + 1) * sizeof (int64_t));
    if (!lengths)
        return zi_error ("out of memory");
    bool padded = false;
    for (int64_t b = 0; b < batch; b++) {
        lengths [b] = seq;
        if (lens)
            zi_dtype_convert (&lengths [b], ZI_I64, (const char *) lens->data
                              + b * zi_dtype_size (lens->dtype), lens->dtype, 1);
        if (lengths [b] < 0 || lengths [b] > seq)
            return zi_error ("input 4 (sequence_lens) [%lld] = %lld; expected 0..%lld",
                             (long long) b, (long long) lengths [b], (long long) seq);
        padded |= lengths [b] < seq;
    }
    if (y && padded)
        memset (y, 0, zi_tensor_count (out [0]) * sizeof (float));

    //  The input gates of every step and direction: biases, then X W^T.
    //  Packed W: W X^T + biases made transposed, [stride][steps], from X
    //  transposed (one step needs neither), then put in place
    bool packed = s_packed_usable (self, in, &sizes);
    bool packed_x = packed && (steps > 1 || zi_isa_blas_behind ());
    bool packed_h = packed && (batch > 1 || zi_isa_blas_behind ());
    int64_t input = sizes.input;
    size_t transposed = packed_x? (size_t) (steps * (input + stride)): 0;
    float *gates_x = zi_exec_scratch (exec, 0, (steps * stride + transposed + stride + 1)
                                               * sizeof (float));
    //  h, c and a row of zeros for a GRU's missing bias
    float *state = zi_exec_scratch (exec, 1, ((2 * batch + 1) * hidden + 1) * sizeof (float));
    if (!gates_x || !state)
        return zi_error ("out of memory for the gates of %lld steps", (long long) steps);
    for (int64_t direction = 0; direction < dirs && steps > 0; direction++) {
        float *first = gates_x + direction * rows;
        for (int64_t g = 0; g < rows; g++) {
            float sum = 0;
            if (bias) {
                const float *wb = zi_tensor_f32 (bias) + direction * 2 * rows;
                bool r_inside = self->cell == S_GRU && self->linear_before_reset
                             && g >= 2 * hidden;
                sum = wb [g] + (r_inside? 0: wb [rows + g]);
            }
            first [g] = sum;
        }
    }
    const float *x = zi_tensor_f32 (in [S_X]);
    if (packed_x && steps > 0) {
        static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
        float *x_t = gates_x + steps * stride, *g_t = x_t + steps * input;
        float *biases = g_t + steps * stride;
        memcpy (biases, gates_x, stride * sizeof (float));
        if (steps == 1)
            zi_mm_parallel (exec, self->packed_w, stride, input, 1, x, 1, biases, NULL, 0,
                            &none, gates_x, 1);
        else {
            for (int64_t row = 0; row < steps; row++)
                for (int64_t k = 0; k < input; k++)
                    x_t [k * steps + row] = x [row * input + k];
            zi_mm_parallel (exec, self->packed_w, stride, input, steps, x_t, steps, biases,
                            NULL, 0, &none, g_t, steps);
            for (int64_t row = 0; row < steps; row++)
                for (int64_t g = 0; g < stride; g++)
                    gates_x [row * stride + g] = g_t [g * steps + row];
        }
    }
    else {
        for (int64_t row = 1; row < steps; row++)
            memcpy (gates_x + row * stride, gates_x, stride * sizeof (float));
        if (steps > 0 && input > 0)
            zi_sgemm (exec, false, true, steps, stride, input, 1, x, input,
                      zi_tensor_f32 (in [S_W]), input, 1, gates_x, stride);
    }

    float *zeros = state + 2 * batch * hidden;
    memset (zeros, 0, hidden * sizeof (float));
    for (int direction = 0; direction < dirs; direction++) {
        float *h = state, *c = self->cell == S_LSTM? state + batch * hidden: NULL;
        for (int64_t b = 0; b < batch; b++) {
            int64_t at = s_state_at (self, &sizes, direction, b);
            if (initial_h)
                memcpy (h + b * hidden, zi_tensor_f32 (initial_h) + at, hidden * sizeof (float));
            else
                memset (h + b * hidden, 0, hidden * sizeof (float));
            if (c && initial_c)
                memcpy (c + b * hidden, zi_tensor_f32 (initial_c) + at, hidden * sizeof (float));
            else
            if (c)
                memset (c + b * hidden, 0, hidden * sizeof (float));
        }
        s_pass_t pass = {
            .self = self, .sizes = sizes, .direction = direction, .stride = stride,
            .gates_x = gates_x + direction * rows,
            .r = zi_tensor_f32 (in [S_R]) + direction * rows * hidden,
            .packed_r = packed_h? self->packed_r [direction]: NULL,
            .packed_rh = packed_h? self->packed_rh [direction]: NULL,
            .rb_h = bias? zi_tensor_f32 (bias) + direction * 2 * rows + rows + 2 * hidden
                        : zeros,
            .peephole = peephole? zi_tensor_f32 (peephole) + direction * 3 * hidden: NULL,
            .lengths = lengths
        };
        if (s_pass (exec, &pass, h, c, y))
            return -1;
        for (int64_t b = 0; b < batch; b++) {
            int64_t at = s_state_at (self, &sizes, direction, b);
            if (y_h)
                memcpy (y_h + at, h + b * hidden, hidden * sizeof (float));
            if (y_c)
                memcpy (y_c + at, c + b * hidden, hidden * sizeof (float));
        }
    }
    return 0;
}

//  Every step of every direction multiplies the input and the state by
//  their gates' rows of W and R. Y may be omitted, so the sizes come from
//  X, W and R: seq x batch whichever the layout; directions x gates x
//  hidden rows of W, each as long as an input row plus a state row
static int64_t
s_rnn_macs (const zi_node_t *node, const zi_tensor_t *const *in,
            const zi_tensor_t *const *out)
{
    (void) out;
    const zi_tensor_t *x = in [0], *w = in [1], *r = in [2];
    if (!x || !w || !r || x->ndim != 3 || w->ndim != 3 || r->ndim != 3)
        return 0;
    int64_t steps = x->dims [0] * x->dims [1];
    return steps * w->dims [0] * w->dims [1] * (w->dims [2] + r->dims [2]);
}

//  X, W, R, B, then sequence_lens, then initial_h (and LSTM's initial_c
//  and peepholes P)
#define S_F32 ZI_DT (ZI_F32)
#define S_LENS_DT (ZI_DT (ZI_I32) | ZI_DT (ZI_I64))
#define S_LSTM_DTYPES {S_F32, S_F32, S_F32, S_F32, S_LENS_DT, S_F32, S_F32, S_F32}
#define S_CELL_DTYPES {S_F32, S_F32, S_F32, S_F32, S_LENS_DT, S_F32}

const zi_op_t zi_op_LSTM = {
    .name = "LSTM", .min_inputs = 3, .max_inputs = 8, .max_outputs = 3,
    .batch = ZI_BATCH_RNN,
    .init = s_lstm_init, .infer = s_rnn_infer, .prepare = s_rnn_prepare, .run = s_rnn_run,
    .destroy = s_rnn_destroy, .macs = s_rnn_macs,
    .dtypes = S_LSTM_DTYPES
};

const zi_op_t zi_op_GRU = {
    .name = "GRU", .min_inputs = 3, .max_inputs = 6, .max_outputs = 2,
    .batch = ZI_BATCH_RNN,
    .init = s_gru_init, .infer = s_rnn_infer, .prepare = s_rnn_prepare, .run = s_rnn_run,
    .destroy = s_rnn_destroy, .macs = s_rnn_macs,
    .dtypes = S_CELL_DTYPES
};

const zi_op_t zi_op_RNN = {
    .name = "RNN", .min_inputs = 3, .max_inputs = 6, .max_outputs = 2,
    .batch = ZI_BATCH_RNN,
    .init = s_plain_init, .infer = s_rnn_infer, .prepare = s_rnn_prepare, .run = s_rnn_run,
    .destroy = s_rnn_destroy, .macs = s_rnn_macs,
    .dtypes = S_CELL_DTYPES
};


//  --------------------------------------------------------------------------
//  Self test: against a reference in double that follows the ONNX
//  equations one sequence, one step and one unit at a time, straight from
//  W, R and B (no product over all steps, no merged biases)

typedef struct {
    s_cell_t cell;
    const char *direction;      //  NULL: the attribute absent (forward)
    int layout;
    int64_t seq, batch, input, hidden;
    bool bias, lens, initial_h, initial_c, peephole;
    bool linear_before_reset, input_forget;
    float clip;
    int n_fns;                  //  activations given, or 0
    const char *fns [6];
    float alpha [6], beta [6];  //  one per activation, for the reference
    int n_alpha, n_beta;        //  how many the attribute lists hold
    bool no_y;                  //  output Y omitted
} s_case_t;

static double
s_ref_fn (const char *name, double alpha, double beta, double x)
{
    if (strcmp (name, "Sigmoid") == 0)      return 1 / (1 + exp (-x));
    if (strcmp (name, "Tanh") == 0)         return tanh (x);
    if (strcmp (name, "Relu") == 0)         return x > 0? x: 0;
    if (strcmp (name, "LeakyRelu") == 0)    return x >= 0? x: alpha * x;
    if (strcmp (name, "HardSigmoid") == 0)  return fmax (0, fmin (1, alpha * x + beta));
    if (strcmp (name, "ScaledTanh") == 0)   return alpha * tanh (beta * x);
    if (strcmp (name, "Affine") == 0)       return alpha * x + beta;
    if (strcmp (name, "Elu") == 0)          return x >= 0? x: alpha * (exp (x) - 1);
    if (strcmp (name, "Softsign") == 0)     return x / (1 + fabs (x));
    if (strcmp (name, "Softplus") == 0)     return log (1 + exp (x));
    if (strcmp (name, "ThresholdedRelu") == 0) return x > alpha? x: 0;
    assert (false);
    return 0;
}

//  Inputs are always in layout 0 order for the reference: x [seq][batch]
//  [input], states [dirs][batch][hidden]; outputs likewise
static void
s_reference (const s_case_t *c, const float *x, const float *w, const float *r,
             const float *bias, const int64_t *lens, const float *h0, const float *c0,
             const float *p, double *y, double *y_h, double *y_c)
{
    int dirs = c->direction && strcmp (c->direction, "bidirectional") == 0? 2: 1;
    bool reverse_only = c->direction && strcmp (c->direction, "reverse") == 0;
    int gates = c->cell == S_LSTM? 4: c->cell == S_GRU? 3: 1;
    int per_direction = c->cell == S_LSTM? 3: c->cell == S_GRU? 2: 1;
    int64_t H = c->hidden, I = c->input, B = c->batch, S = c->seq;
    memset (y, 0, S * dirs * B * H * sizeof (double));
    for (int d = 0; d < dirs; d++) {
        const char *names [3] = {"Sigmoid", "Tanh", "Tanh"};
        double alpha [3] = {0}, beta [3] = {0};
        if (c->cell == S_RNN)
            names [0] = "Tanh";
        for (int k = 0; k < per_direction && c->n_fns; k++) {
            names [k] = c->fns [d * per_direction + k];
            alpha [k] = c->alpha [d * per_direction + k];
            beta [k] = c->beta [d * per_direction + k];
        }
        const float *wd = w + d * gates * H * I, *rd = r + d * gates * H * H;
        const float *wb = bias? bias + d * 2 * gates * H: NULL;
        const float *rb = bias? wb + gates * H: NULL;
        for (int64_t b = 0; b < B; b++) {
            double h [64], cell [64], pre [4][64];
            assert (H <= 64);
            for (int64_t j = 0; j < H; j++) {
                h [j] = h0? h0 [(d * B + b) * H + j]: 0;
                cell [j] = c0? c0 [(d * B + b) * H + j]: 0;
            }
            int64_t length = lens? lens [b]: S;
            for (int64_t step = 0; step < length; step++) {
                int64_t t = (reverse_only || d == 1)? length - 1 - step: step;
                const float *xt = x + (t * B + b) * I;
                //  pre [g][j] = x W^T + h R^T + Wb + Rb, but for a GRU's
                //  h gate, whose recurrent part is made below
                for (int g = 0; g < gates; g++)
                    for (int64_t j = 0; j < H; j++) {
                        int64_t row = g * H + j;
                        double sum = wb? wb [row]: 0;
                        for (int64_t k = 0; k < I; k++)
                            sum += (double) xt [k] * wd [row * I + k];
                        if (!(c->cell == S_GRU && g == 2)) {
                            sum += rb? rb [row]: 0;
                            for (int64_t k = 0; k < H; k++)
                                sum += h [k] * rd [row * H + k];
                        }
                        pre [g][j] = sum;
                    }
                double clip = c->clip;
                #define CLIP(v) (clip > 0? fmax (-clip, fmin (clip, (v))): (v))
                double next [64];
                if (c->cell == S_LSTM) {
                    for (int64_t j = 0; j < H; j++) {
                        double pi = p? p [d * 3 * H + j]: 0, po = p? p [d * 3 * H + H + j]: 0;
                        double pf = p? p [d * 3 * H + 2 * H + j]: 0;
                        double i = s_ref_fn (names [0], alpha [0], beta [0],
                                             CLIP (pre [0][j] + pi * cell [j]));
                        double f = c->input_forget? 1 - i:
                                   s_ref_fn (names [0], alpha [0], beta [0],
                                             CLIP (pre [2][j] + pf * cell [j]));
                        double g = s_ref_fn (names [1], alpha [1], beta [1], CLIP (pre [3][j]));
                        cell [j] = f * cell [j] + i * g;
                        double o = s_ref_fn (names [0], alpha [0], beta [0],
                                             CLIP (pre [1][j] + po * cell [j]));
                        next [j] = o * s_ref_fn (names [2], alpha [2], beta [2], cell [j]);
                    }
                }
                else
                if (c->cell == S_GRU) {
                    double z [64], rr [64];
                    for (int64_t j = 0; j < H; j++) {
                        z [j] = s_ref_fn (names [0], alpha [0], beta [0], CLIP (pre [0][j]));
                        rr [j] = s_ref_fn (names [0], alpha [0], beta [0], CLIP (pre [1][j]));
                    }
                    for (int64_t j = 0; j < H; j++) {
                        int64_t row = 2 * H + j;
                        double recurrent = 0;
                        if (c->linear_before_reset) {
                            for (int64_t k = 0; k < H; k++)
                                recurrent += h [k] * rd [row * H + k];
                            recurrent = rr [j] * (recurrent + (rb? rb [row]: 0));
                        }
                        else {
                            for (int64_t k = 0; k < H; k++)
                                recurrent += rr [k] * h [k] * rd [row * H + k];
                            recurrent += rb? rb [row]: 0;
                        }
                        double candidate = s_ref_fn (names [1], alpha [1], beta [1],
                                                     CLIP (pre [2][j] + recurrent));
                        next [j] = (1 - z [j]) * candidate + z [j] * h [j];
                    }
                }
                else
                    for (int64_t j = 0; j < H; j++)
                        next [j] = s_ref_fn (names [0], alpha [0], beta [0], CLIP (pre [0][j]));
                #undef CLIP
                for (int64_t j = 0; j < H; j++) {
                    h [j] = next [j];
                    y [((t * dirs + d) * B + b) * H + j] = h [j];
                }
            }
            for (int64_t j = 0; j < H; j++) {
                y_h [(d * B + b) * H + j] = h [j];
                y_c [(d * B + b) * H + j] = cell [j];
            }
        }
    }
}

//  Reorders a [A][B][rest] array of floats to [B][A][rest]
static void
s_swap01 (const float *from, float *to, int64_t a, int64_t b, int64_t rest)
{
    for (int64_t i = 0; i < a; i++)
        for (int64_t j = 0; j < b; j++)
            memcpy (to + (j * a + i) * rest, from + (i * b + j) * rest, rest * sizeof (float));
}

static const char *s_cell_names [] = {"LSTM", "GRU", "RNN"};

static void
s_check_case (zi_test_t *t, const char *what, const s_case_t *c, uint32_t seed)
{
    int dirs = c->direction && strcmp (c->direction, "bidirectional") == 0? 2: 1;
    int gates = c->cell == S_LSTM? 4: c->cell == S_GRU? 3: 1;
    int64_t S = c->seq, B = c->batch, I = c->input, H = c->hidden;
    zi_tensor_t *in [8] = {NULL};
    int64_t x_dims [3] = {S, B, I};
    zi_tensor_t *x = zi_test_random (3, x_dims, seed);     //  layout 0 order
    in [S_W] = zi_test_random (3, (int64_t []) {dirs, gates * H, I}, seed + 1);
    in [S_R] = zi_test_random (3, (int64_t []) {dirs, gates * H, H}, seed + 2);
    int n_inputs = 3;
    if (c->bias) {
        in [S_B] = zi_test_random (2, (int64_t []) {dirs, 2 * gates * H}, seed + 3);
        n_inputs = 4;
    }
    int64_t lens [16];
    if (c->lens) {
        for (int64_t b = 0; b < B; b++)
            lens [b] = (S + b * 3) % (S + 1);       //  S, then shorter
        lens [0] = S;
        in [S_LENS] = zi_test_ints ((int) B, lens);
        n_inputs = 5;
    }
    zi_tensor_t *h0 = NULL, *c0 = NULL;
    if (c->initial_h) {
        h0 = zi_test_random (3, (int64_t []) {dirs, B, H}, seed + 4);
        n_inputs = 6;
    }
    if (c->initial_c) {
        c0 = zi_test_random (3, (int64_t []) {dirs, B, H}, seed + 5);
        n_inputs = 7;
    }
    if (c->peephole) {
        in [S_P] = zi_test_random (2, (int64_t []) {dirs, 3 * H}, seed + 6);
        n_inputs = 8;
    }
    //  The layout-1 forms of X and the states
    if (c->layout == 1) {
        in [S_X] = zi_tensor_new (ZI_F32, 3, (int64_t []) {B, S, I});
        s_swap01 (zi_tensor_f32 (x), zi_tensor_f32 (in [S_X]), S, B, I);
        if (h0) {
            in [S_INITIAL_H] = zi_tensor_new (ZI_F32, 3, (int64_t []) {B, dirs, H});
            s_swap01 (zi_tensor_f32 (h0), zi_tensor_f32 (in [S_INITIAL_H]), dirs, B, H);
        }
        if (c0) {
            in [S_INITIAL_C] = zi_tensor_new (ZI_F32, 3, (int64_t []) {B, dirs, H});
            s_swap01 (zi_tensor_f32 (c0), zi_tensor_f32 (in [S_INITIAL_C]), dirs, B, H);
        }
    }
    else {
        in [S_X] = zi_tensor_ref (x);
        in [S_INITIAL_H] = h0? zi_tensor_ref (h0): NULL;
        in [S_INITIAL_C] = c0? zi_tensor_ref (c0): NULL;
    }

    zi_node_t *node = zi_node_new (s_cell_names [c->cell], "test");
    if (c->direction)
        zi_node_set_string (node, "direction", c->direction);
    zi_node_set_int (node, "hidden_size", H);
    if (c->layout)
        zi_node_set_int (node, "layout", c->layout);
    if (c->linear_before_reset)
        zi_node_set_int (node, "linear_before_reset", 1);
    if (c->input_forget)
        zi_node_set_int (node, "input_forget", 1);
    if (c->clip > 0)
        zi_node_set_float (node, "clip", c->clip);
    if (c->n_fns) {
        zi_node_set_strings (node, "activations", c->n_fns, c->fns);
        //  Only the functions that take parameters consume the lists
        float alphas [6], betas [6];
        int n_alphas = 0, n_betas = 0;
        for (int index = 0; index < c->n_fns; index++) {
            const char *name = c->fns [index];
            bool two = !strcmp (name, "HardSigmoid") || !strcmp (name, "ScaledTanh")
                    || !strcmp (name, "Affine");
            bool one = two || !strcmp (name, "LeakyRelu") || !strcmp (name, "Elu")
                    || !strcmp (name, "ThresholdedRelu");
            if (one)
                alphas [n_alphas++] = c->alpha [index];
            if (two)
                betas [n_betas++] = c->beta [index];
        }
        if (n_alphas)
            zi_node_set_floats (node, "activation_alpha", n_alphas, alphas);
        if (n_betas)
            zi_node_set_floats (node, "activation_beta", n_betas, betas);
    }
    int n_outputs = c->cell == S_LSTM? 3: 2;
    zi_tensor_t *out [3] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, in, n_outputs, out);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");

    if (rc == 0) {
        size_t y_count = S * dirs * B * H, state_count = dirs * B * H;
        double *y = calloc (y_count + 1, sizeof (double));
        double *y_h = calloc (state_count + 1, sizeof (double));
        double *y_c = calloc (state_count + 1, sizeof (double));
        s_reference (c, zi_tensor_f32 (x), zi_tensor_f32 (in [S_W]), zi_tensor_f32 (in [S_R]),
                     c->bias? zi_tensor_f32 (in [S_B]): NULL, c->lens? lens: NULL,
                     h0? zi_tensor_f32 (h0): NULL, c0? zi_tensor_f32 (c0): NULL,
                     c->peephole? zi_tensor_f32 (in [S_P]): NULL, y, y_h, y_c);
        //  Into the layout the op gives, as floats
        float *want_y = malloc ((y_count + 1) * sizeof (float));
        float *want_h = malloc ((state_count + 1) * sizeof (float));
        float *want_c = malloc ((state_count + 1) * sizeof (float));
        for (int64_t tt = 0; tt < S; tt++)
            for (int d = 0; d < dirs; d++)
                for (int64_t b = 0; b < B; b++)
                    for (int64_t j = 0; j < H; j++) {
                        int64_t from = ((tt * dirs + d) * B + b) * H + j;
                        int64_t to = c->layout == 0? from: ((b * S + tt) * dirs + d) * H + j;
                        want_y [to] = (float) y [from];
                    }
        for (int d = 0; d < dirs; d++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < H; j++) {
                    int64_t from = (d * B + b) * H + j;
                    int64_t to = c->layout == 0? from: (b * dirs + d) * H + j;
                    want_h [to] = (float) y_h [from];
                    want_c [to] = (float) y_c [from];
                }
        char label [200];
        int64_t y_dims [4] = {S, dirs, B, H}, y1_dims [4] = {B, S, dirs, H};
        bool shape_ok = out [0]->ndim == 4 && !memcmp (out [0]->dims,
                        c->layout? y1_dims: y_dims, sizeof y_dims);
        ZI_CHECK (t, shape_ok, "%s: Y's shape", what);
        snprintf (label, sizeof label, "%s: Y", what);
        if (shape_ok)
            ZI_CHECK_CLOSE (t, label, zi_tensor_f32 (out [0]), want_y, y_count, 2e-5f, 1e-4f);
        snprintf (label, sizeof label, "%s: Y_h", what);
        ZI_CHECK_CLOSE (t, label, zi_tensor_f32 (out [1]), want_h, state_count, 2e-5f, 1e-4f);
        if (c->cell == S_LSTM) {
            snprintf (label, sizeof label, "%s: Y_c", what);
            ZI_CHECK_CLOSE (t, label, zi_tensor_f32 (out [2]), want_c, state_count,
                            2e-5f, 1e-4f);
        }
        free (y);
        free (y_h);
        free (y_c);
        free (want_y);
        free (want_h);
        free (want_c);
    }
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&out [slot]);
    for (int slot = 0; slot < 8; slot++)
        zi_tensor_destroy (&in [slot]);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&h0);
    zi_tensor_destroy (&c0);
    zi_node_destroy (&node);
}

//  Runs a node that must fail and checks the message names the problem
static void
s_check_error (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t *const *inputs,
               const char *needle)
{
    zi_tensor_t *out [3] = {NULL};
    int rc = zi_test_run_op (node, n_inputs, inputs, 2, out);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle) != NULL,
              "%s rejected with '%s': %s", node->op_type, needle, zi_error_text ());
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&out [slot]);
    zi_node_destroy (&node);
}

//  Every case at one level: OpenBLAS's products at the portable level,
//  zinfer's on weights packed at prepare above it
static void
s_check_cases (zi_test_t *t, zi_isa_t level)
{
    static const char *directions [] = {NULL, "forward", "reverse", "bidirectional"};
    uint32_t seed = 1;
    char what [200];
    for (int cell = 0; cell < 3; cell++)
        for (int direction = 0; direction < 4; direction++)
            for (int variant = 0; variant < 7; variant++) {
                s_case_t c = {
                    .cell = cell, .direction = directions [direction],
                    .seq = 5, .batch = 3, .input = 7, .hidden = 6
                };
                //  0 bare; 1 biases and initial states; 2 sequence_lens;
                //  3 layout 1 with everything; 4 GRU's reset after R h /
                //  LSTM's peepholes; 5 batch 1, hidden wider than a vector;
                //  6 a batch of 7, whose state products are one sgemm
                c.bias = variant >= 1;
                c.initial_h = c.initial_c = variant == 1 || variant == 3 || variant == 4
                                         || variant == 6;
                c.lens = variant == 2 || variant == 3 || variant == 6;
                c.layout = variant == 3;
                c.peephole = cell == S_LSTM && (variant == 3 || variant == 4);
                c.linear_before_reset = cell == S_GRU && (variant == 4 || variant == 5);
                if (variant == 5) {
                    c.batch = 1;
                    c.hidden = 37;
                    c.seq = 9;
                }
                if (variant == 6) {
                    c.batch = 7;
                    c.linear_before_reset = false;
                }
                if (cell != S_LSTM)
                    c.initial_c = false;
                snprintf (what, sizeof what, "%s %s variant %d at %s", s_cell_names [cell],
                          c.direction? c.direction: "(default direction)", variant,
                          zi_isa_name (level));
                s_check_case (t, what, &c, seed);
                seed += 10;
            }

    //  Activation lists, with parameters consumed in order, and clip
    s_case_t lstm_fns = {
        .cell = S_LSTM, .direction = "bidirectional", .seq = 4, .batch = 2, .input = 3,
        .hidden = 5, .bias = true, .initial_h = true, .initial_c = true, .clip = 0.7f,
        .n_fns = 6, .fns = {"HardSigmoid", "LeakyRelu", "Softsign",
                            "Sigmoid", "ScaledTanh", "Elu"},
        .alpha = {0.3f, 0.2f, 0, 0, 0.9f, 0.5f}, .beta = {0.4f, 0, 0, 0, 1.5f, 0}
    };
    s_check_case (t, "LSTM activations and clip", &lstm_fns, seed++);
    s_case_t gru_fns = {
        .cell = S_GRU, .direction = "reverse", .seq = 4, .batch = 2, .input = 3,
        .hidden = 5, .bias = true, .n_fns = 2, .fns = {"Sigmoid", "Relu"}, .clip = 2
    };
    s_check_case (t, "GRU Sigmoid, Relu, clip", &gru_fns, seed++);
    s_case_t rnn_fns = {
        .cell = S_RNN, .direction = "bidirectional", .seq = 3, .batch = 2, .input = 4,
        .hidden = 3, .bias = true, .n_fns = 2, .fns = {"Affine", "Softplus"},
        .alpha = {0.5f, 0}, .beta = {0.1f, 0}
    };
    s_check_case (t, "RNN Affine, Softplus", &rnn_fns, seed++);
    s_case_t forget = {
        .cell = S_LSTM, .seq = 4, .batch = 2, .input = 3, .hidden = 4, .bias = true,
        .input_forget = true, .initial_c = true, .initial_h = true
    };
    s_check_case (t, "LSTM input_forget", &forget, seed++);
    //  A batch of one with more hidden units than a panel's depth chunk
    //  holds rows of, and a long input: the packed matrix-vector product
    s_case_t wide = {
        .cell = S_LSTM, .direction = "bidirectional", .seq = 3, .batch = 1, .input = 70,
        .hidden = 64, .bias = true, .initial_h = true, .initial_c = true
    };
    s_check_case (t, "LSTM batch 1, 64 hidden", &wide, seed++);
}

void
zi_act_rnn_test (zi_test_t *t)
{
    for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++)
        if (zi_test_isa (t, (zi_isa_t) level))
            s_check_cases (t, (zi_isa_t) level);
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  Only Y_h: out [0] absent at run time
    {
        zi_node_t *node = zi_node_new ("GRU", "test");
        zi_node_set_int (node, "hidden_size", 4);
        zi_tensor_t *in [3] = {
            zi_test_random (3, (int64_t []) {3, 2, 5}, 3),
            zi_test_random (3, (int64_t []) {1, 12, 5}, 4),
            zi_test_random (3, (int64_t []) {1, 12, 4}, 5)
        };
        zi_tensor_t *both [2] = {NULL};
        ZI_CHECK (t, zi_test_run_op (node, 3, in, 2, both) == 0, "GRU with Y: %s",
                  zi_error_text ());
        zi_tensor_t *y_h = zi_tensor_new (ZI_F32, 3, (int64_t []) {1, 2, 4});
        zi_exec_t *exec = zi_exec_new ();
        zi_tensor_t *outs [2] = {NULL, y_h};
        ZI_CHECK (t, node->op->run (node, exec, (const zi_tensor_t *const *) in, outs) == 0
                  && both [1] && memcmp (y_h->data, both [1]->data, y_h->nbytes) == 0,
                  "GRU without Y gives the same Y_h");
        zi_exec_destroy (&exec);
        zi_tensor_destroy (&y_h);
        zi_tensor_destroy (&both [0]);
        zi_tensor_destroy (&both [1]);
        zi_node_destroy (&node);
        for (int slot = 0; slot < 3; slot++)
            zi_tensor_destroy (&in [slot]);
    }

    //  Errors
    zi_tensor_t *in [6] = {
        zi_test_random (3, (int64_t []) {3, 2, 5}, 3),
        zi_test_random (3, (int64_t []) {1, 16, 5}, 4),
        zi_test_random (3, (int64_t []) {1, 16, 4}, 5),
        NULL, zi_test_ints (2, (int64_t []) {3, 4}), NULL
    };
    zi_node_t *node = zi_node_new ("LSTM", "test");
    zi_node_set_string (node, "direction", "sideways");
    s_check_error (t, node, 3, in, "expected forward, reverse or bidirectional");
    node = zi_node_new ("LSTM", "test");
    zi_node_set_int (node, "hidden_size", 5);
    s_check_error (t, node, 3, in, "input 1 (W): expected shape [1, 20, 5], got [1, 16, 5]");
    node = zi_node_new ("LSTM", "test");
    zi_node_set_strings (node, "activations", 3, (const char *[]) {"Sigmoid", "Tanh", "Cosh"});
    s_check_error (t, node, 3, in, "unknown function 'Cosh'");
    node = zi_node_new ("GRU", "test");
    s_check_error (t, node, 3, in, "input 1 (W): expected shape [1, 12, 5], got [1, 16, 5]");
    node = zi_node_new ("LSTM", "test");
    zi_node_set_strings (node, "activations", 2, (const char *[]) {"Sigmoid", "Tanh"});
    s_check_error (t, node, 3, in, "expected 3 names (3 per direction), got 2");
    node = zi_node_new ("LSTM", "test");
    node->opset = 13;
    zi_node_set_int (node, "layout", 1);
    s_check_error (t, node, 3, in, "opset 14 attribute");
    node = zi_node_new ("LSTM", "test");
    s_check_error (t, node, 5, in, "sequence_lens) [1] = 4; expected 0..3");
    zi_tensor_t *ints = zi_test_ints (2, (int64_t []) {1, 2});
    zi_tensor_t *bad [3] = {ints, in [1], in [2]};
    s_check_error (t, zi_node_new ("LSTM", "test"), 3, bad,
                   "LSTM at node 'test': input 0 is int64, expected float32");
    zi_tensor_t *flat [3] = {in [4], in [1], in [2]};
    zi_tensor_set_shape (in [4], ZI_F32, 1, (int64_t []) {2});
    s_check_error (t, zi_node_new ("GRU", "test"), 3, flat, "input 0 (X): expected 3 dimensions");
    zi_tensor_t *float_lens [5] = {in [0], in [1], in [2], NULL, in [4]};
    s_check_error (t, zi_node_new ("RNN", "test"), 5, float_lens,
                   "RNN at node 'test': input 4 is float32, expected int32 or int64");
    zi_tensor_destroy (&ints);
    for (int slot = 0; slot < 6; slot++)
        zi_tensor_destroy (&in [slot]);
}
