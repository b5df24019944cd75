/*  =========================================================================
    act_shape - ops that change a tensor's shape or element type, but not
    the order of its elements

    Flatten, Reshape, Squeeze, Unsqueeze, Identity and Dropout only relabel
    the shape: their run is one memcpy, which the engine may later turn into
    an alias. Shape, Size, Constant, ConstantOfShape and Range make tensors from
    shapes, attributes and scalars; Cast converts between element types.

    Constant folding runs these ops on int64 shape tensors, so nothing here
    assumes float data unless the op itself is about floats.
    Ops that reorder elements (Transpose, Slice, Gather...) are in
    act_layout.c and the files it names.
    =========================================================================
*/

#include "zi_classes.h"

//  --------------------------------------------------------------------------
//  Helpers shared by the ops in this file

//  An input slot, or NULL when the model left the optional input out
static const zi_tensor_t *
s_input (const zi_node_t *node, const zi_tensor_t *const *in, int index)
{
    return index < node->n_inputs? in [index]: NULL;
}

//  An output slot, or NULL when the model does not use that output
static zi_tensor_t *
s_output (const zi_node_t *node, zi_tensor_t *const *out, int index)
{
    return index < node->n_outputs? out [index]: NULL;
}

//  Keeps a heap copy of parameters parsed on the stack, so that a failing
//  init leaves nothing behind on the node
static int
s_keep (zi_node_t *node, const void *params, size_t size)
{
    node->params = malloc (size);
    if (!node->params)
        return zi_error ("out of memory");
    memcpy (node->params, params, size);
    return 0;
}

//  Copies a tensor's bytes into another of the same size; nothing to do
//  when the engine already made the two share memory
static void
s_copy_data (zi_tensor_t *dst, const zi_tensor_t *src)
{
    assert (dst->nbytes == src->nbytes);
    if (dst->data != src->data && src->nbytes)
        memcpy (dst->data, src->data, src->nbytes);
}

//  Fills count elements with the value 1 of the dtype (true for bool)
static void
s_fill_ones (zi_tensor_t *tensor)
{
    size_t count = zi_tensor_count (tensor), size = zi_dtype_size (tensor->dtype);
    uint8_t one [8];
    int64_t whole = 1;
    zi_dtype_convert (one, tensor->dtype, &whole, ZI_I64, 1);
    for (size_t item = 0; item < count; item++)
        memcpy ((uint8_t *) tensor->data + item * size, one, size);
}

//  The run of every op that only relabels the shape
static int
s_copy_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    s_copy_data (out [0], in [0]);
    return 0;
}

//  Output shape = input shape and dtype
static int
s_same_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    zi_tensor_set_shape (out [0], in [0]->dtype, in [0]->ndim, in [0]->dims);
    return 0;
}

//  --------------------------------------------------------------------------
//  Flatten: [d0 .. d(axis-1)] x [d(axis) .. d(n-1)] as a 2-d matrix

typedef struct {
    int64_t axis;               //  first input axis of the second output dim
} s_flatten_t;

static int
s_flatten_init (zi_node_t *node)
{
    s_flatten_t self = {.axis = zi_node_attr_int (node, "axis", 1)};
    return s_keep (node, &self, sizeof self);
}

static int
s_flatten_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_flatten_t *self = node->params;
    int rank = in [0]->ndim;
    //  Unlike most axes, rank itself is valid: everything goes to the rows
    if (self->axis < -rank || self->axis > rank)
        return zi_error ("attribute 'axis' = %lld is out of range for a %d-d input "
                         "(expected %d..%d)", (long long) self->axis, rank, -rank, rank);
    int axis = (int) (self->axis < 0? self->axis + rank: self->axis);
    int64_t dims [2] = {
        zi_shape_count (axis, in [0]->dims),
        zi_shape_count (rank - axis, in [0]->dims + axis)
    };
    if (dims [0] < 0 || dims [1] < 0)
        return zi_error ("flattened shape overflows");
    zi_tensor_set_shape (out [0], in [0]->dtype, 2, dims);
    return 0;
}

const zi_op_t zi_op_Flatten = {
    .name = "Flatten", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_RESHAPE,
    .init = s_flatten_init, .infer = s_flatten_infer, .run = s_copy_run
};

//  --------------------------------------------------------------------------
//  Reshape: new shape from a constant input; 0 copies the input dim (unless
//  allowzero), -1 takes what is left

typedef struct {
    bool allowzero;             //  0 in the shape means 0, not "copy"
} s_reshape_t;

static int
s_reshape_init (zi_node_t *node)
{
    s_reshape_t self = {.allowzero = zi_node_attr_int (node, "allowzero", 0) != 0};
    return s_keep (node, &self, sizeof self);
}

static int
s_reshape_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_reshape_t *self = node->params;
    const zi_tensor_t *data = in [0];
    int64_t shape [ZI_MAX_DIMS];
    int rank = zi_input_ints (in [1], shape, ZI_MAX_DIMS, "input 1 (shape)");
    if (rank < 0)
        return -1;
    char from [128], to [128];
    zi_shape_str (data->ndim, data->dims, from, sizeof from);
    zi_shape_str (rank, shape, to, sizeof to);

    int64_t dims [ZI_MAX_DIMS];
    int infer_at = -1;
    bool has_zero = false;
    for (int axis = 0; axis < rank; axis++) {
        dims [axis] = shape [axis];
        if (shape [axis] == -1) {
            if (infer_at >= 0)
                return zi_error ("shape %s has more than one -1 (input shape %s)", to, from);
            infer_at = axis;
            dims [axis] = 1;
        }
        else
        if (shape [axis] < -1)
            return zi_error ("shape %s has a negative dimension %lld (input shape %s)",
                             to, (long long) shape [axis], from);
        else
        if (shape [axis] == 0 && !self->allowzero) {
            if (axis >= data->ndim)
                return zi_error ("shape %s copies dimension %d (0), but the input %s "
                                 "has only %d", to, axis, from, data->ndim);
            dims [axis] = data->dims [axis];
        }
        else
        if (shape [axis] == 0)
            has_zero = true;
    }
    if (has_zero && infer_at >= 0)
        return zi_error ("shape %s has both 0 and -1 with allowzero = 1", to);
    int64_t want = zi_shape_count (data->ndim, data->dims);
    int64_t known = zi_shape_count (rank, dims);
    if (known < 0)
        return zi_error ("shape %s overflows", to);
    if (infer_at >= 0) {
        if (known == 0 || want % known != 0)
            return zi_error ("cannot reshape %s (%lld elements) to %s: -1 cannot be "
                             "inferred", from, (long long) want, to);
        dims [infer_at] = want / known;
        known = want;
    }
    if (known != want) {
        char got [128];
        return zi_error ("cannot reshape %s (%lld elements) to %s = %s (%lld elements)",
                         from, (long long) want, to,
                         zi_shape_str (rank, dims, got, sizeof got), (long long) known);
    }
    zi_tensor_set_shape (out [0], data->dtype, rank, dims);
    return 0;
}

const zi_op_t zi_op_Reshape = {
    .name = "Reshape", .min_inputs = 2, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_RESHAPE,
    .init = s_reshape_init, .infer = s_reshape_infer, .run = s_copy_run
};

//  --------------------------------------------------------------------------
//  Squeeze and Unsqueeze: axes as an attribute before opset 13, as a
//  constant input from 13. Either is accepted at any opset.

typedef struct {
    bool has_attr;              //  axes came as an attribute
    int n_axes;                 //  number of attribute axes
    int64_t axes [ZI_MAX_DIMS]; //  attribute axes, as given
} s_axes_t;

static int
s_axes_init (zi_node_t *node)
{
    s_axes_t self = {.has_attr = zi_node_attr (node, "axes") != NULL};
    self.n_axes = zi_node_attr_ints (node, "axes", self.axes, ZI_MAX_DIMS);
    if (self.n_axes < 0)
        return -1;
    return s_keep (node, &self, sizeof self);
}

//  The axes from the attribute or input 1; returns how many, 0 when none
//  were given, -1 with an error
static int
s_axes_get (const zi_node_t *node, const zi_tensor_t *const *in, int64_t *axes)
{
    const s_axes_t *self = node->params;
    if (self->has_attr) {
        memcpy (axes, self->axes, self->n_axes * sizeof (int64_t));
        return self->n_axes;
    }
    return zi_input_ints (s_input (node, in, 1), axes, ZI_MAX_DIMS, "input 1 (axes)");
}

//  Resolves axes against a rank into a mask; rejects out of range and repeats
static int
s_axes_mask (const int64_t *axes, int n_axes, int rank, bool *mask)
{
    for (int axis = 0; axis < rank; axis++)
        mask [axis] = false;
    for (int index = 0; index < n_axes; index++) {
        int64_t axis = axes [index];
        if (axis < -rank || axis >= rank)
            return zi_error ("axis %lld is out of range for rank %d (expected %d..%d)",
                             (long long) axis, rank, -rank, rank - 1);
        if (axis < 0)
            axis += rank;
        if (mask [axis])
            return zi_error ("axis %lld is given twice", (long long) axes [index]);
        mask [axis] = true;
    }
    return 0;
}

static int
s_squeeze_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    int64_t axes [ZI_MAX_DIMS];
    int n_axes = s_axes_get (node, in, axes);
    if (n_axes < 0)
        return -1;
    bool mask [ZI_MAX_DIMS];
    if (s_axes_mask (axes, n_axes, data->ndim, mask))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    int rank = 0;
    char shape [128];
    for (int axis = 0; axis < data->ndim; axis++) {
        if (n_axes == 0)            //  no axes: every size-1 dim goes
            mask [axis] = data->dims [axis] == 1;
        else
        if (mask [axis] && data->dims [axis] != 1)
            return zi_error ("cannot squeeze axis %d of shape %s: its size is %lld, not 1",
                             axis, zi_shape_str (data->ndim, data->dims, shape, sizeof shape),
                             (long long) data->dims [axis]);
        if (!mask [axis])
            dims [rank++] = data->dims [axis];
    }
    zi_tensor_set_shape (out [0], data->dtype, rank, dims);
    return 0;
}

const zi_op_t zi_op_Squeeze = {
    .name = "Squeeze", .min_inputs = 1, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_RESHAPE,
    .init = s_axes_init, .infer = s_squeeze_infer, .run = s_copy_run
};

static int
s_unsqueeze_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *data = in [0];
    int64_t axes [ZI_MAX_DIMS];
    int n_axes = s_axes_get (node, in, axes);
    if (n_axes < 0)
        return -1;
    if (n_axes == 0)
        return zi_error ("axes are required (attribute before opset 13, input 1 from 13)");
    int rank = data->ndim + n_axes;
    if (rank > ZI_MAX_DIMS)
        return zi_error ("output rank %d is more than the %d supported", rank, ZI_MAX_DIMS);
    //  Axes count in the output, where the new dims already exist
    bool mask [ZI_MAX_DIMS];
    if (s_axes_mask (axes, n_axes, rank, mask))
        return -1;
    int64_t dims [ZI_MAX_DIMS];
    int from = 0;
    for (int axis = 0; axis < rank; axis++)
        dims [axis] = mask [axis]? 1: data->dims [from++];
    zi_tensor_set_shape (out [0], data->dtype, rank, dims);
    return 0;
}

const zi_op_t zi_op_Unsqueeze = {
    .name = "Unsqueeze", .min_inputs = 1, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_RESHAPE,
    .init = s_axes_init, .infer = s_unsqueeze_infer, .run = s_copy_run
};

//  --------------------------------------------------------------------------
//  Identity

const zi_op_t zi_op_Identity = {
    .name = "Identity", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_ELEMENTWISE,
    .infer = s_same_infer, .run = s_copy_run
};

//  --------------------------------------------------------------------------
//  Dropout: at inference a copy. The optional mask keeps every element
//  (bool from opset 10, the data's type before). Training mode (input 2,
//  opset 12) is refused: it needs random numbers we will not reproduce.

static int
s_dropout_check_mode (const zi_tensor_t *mode)
{
    if (!mode || !mode->data)
        return 0;
    if (zi_tensor_count (mode) > 0 && ((const uint8_t *) mode->data) [0])
        return zi_error ("input 2 (training_mode) is true: training-mode dropout is not "
                         "supported, only inference");
    return 0;
}

static int
s_dropout_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    if (s_dropout_check_mode (s_input (node, in, 2)))
        return -1;
    zi_tensor_set_shape (out [0], in [0]->dtype, in [0]->ndim, in [0]->dims);
    zi_tensor_t *mask = s_output (node, out, 1);
    if (mask)
        zi_tensor_set_shape (mask, node->opset < 10? in [0]->dtype: ZI_BOOL,
                             in [0]->ndim, in [0]->dims);
    return 0;
}

static int
s_dropout_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
               zi_tensor_t *const *out)
{
    //  A training_mode computed at run time is only known here
    if (s_dropout_check_mode (s_input (node, in, 2)))
        return -1;
    s_copy_data (out [0], in [0]);
    zi_tensor_t *mask = s_output (node, out, 1);
    if (mask)
        s_fill_ones (mask);
    return 0;
}

const zi_op_t zi_op_Dropout = {
    .name = "Dropout", .min_inputs = 1, .max_inputs = 3, .max_outputs = 2,
    .batch = ZI_BATCH_ELEMENTWISE,
    .infer = s_dropout_infer, .run = s_dropout_run,
    .dtypes = {0, 0, ZI_DT (ZI_BOOL)}
};

//  --------------------------------------------------------------------------
//  Shape: the input's dims as int64, optionally a [start, end) slice of
//  them (opset 15)

typedef struct {
    int64_t start;              //  first axis, may be negative
    int64_t end;                //  one past the last axis, may be negative
    bool has_end;               //  end given; otherwise the rank
} s_shape_t;

static int
s_shape_init (zi_node_t *node)
{
    s_shape_t self = {
        .start = zi_node_attr_int (node, "start", 0),
        .end = zi_node_attr_int (node, "end", 0),
        .has_end = zi_node_attr (node, "end") != NULL
    };
    return s_keep (node, &self, sizeof self);
}

//  Clamps start and end into [0, rank] as the spec says
static void
s_shape_range (const s_shape_t *self, int rank, int *start, int *end)
{
    int64_t first = self->start < 0? self->start + rank: self->start;
    int64_t last = !self->has_end? rank: self->end < 0? self->end + rank: self->end;
    first = first < 0? 0: first > rank? rank: first;
    last = last < 0? 0: last > rank? rank: last;
    *start = (int) first;
    *end = (int) (last < first? first: last);
}

static int
s_shape_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    int start, end;
    s_shape_range (node->params, in [0]->ndim, &start, &end);
    int64_t dims [1] = {end - start};
    zi_tensor_set_shape (out [0], ZI_I64, 1, dims);
    return 0;
}

static int
s_shape_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
             zi_tensor_t *const *out)
{
    int start, end;
    s_shape_range (node->params, in [0]->ndim, &start, &end);
    int64_t *dims = out [0]->data;
    for (int axis = start; axis < end; axis++)
        dims [axis - start] = in [0]->dims [axis];
    return 0;
}

const zi_op_t zi_op_Shape = {
    .name = "Shape", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .init = s_shape_init, .infer = s_shape_infer, .run = s_shape_run, .shape_only = true
};

//  --------------------------------------------------------------------------
//  Size: the input's element count as an int64 scalar; like Shape it
//  reads only dims, so the planner folds it

static int
s_size_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    zi_tensor_set_shape (out [0], ZI_I64, 0, NULL);
    return 0;
}

static int
s_size_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    *zi_tensor_i64 (out [0]) = zi_shape_count (in [0]->ndim, in [0]->dims);
    return 0;
}

const zi_op_t zi_op_Size = {
    .name = "Size", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .infer = s_size_infer, .run = s_size_run, .shape_only = true
};

//  --------------------------------------------------------------------------
//  Constant: one of value (a tensor), value_float(s), value_int(s)

typedef struct {
    zi_tensor_t *value;         //  the constant, owned
} s_constant_t;

static zi_tensor_t *
s_constant_make (const zi_attr_t *attr)
{
    int64_t dims [1] = {attr->n};
    zi_tensor_t *value = NULL;
    if (strcmp (attr->name, "value") == 0) {
        if (attr->type != ZI_ATTR_TENSOR || !attr->t)
            zi_error ("attribute 'value' must be a tensor, got type %d", attr->type);
        else
            value = zi_tensor_ref (attr->t);
    }
    else
    if (strcmp (attr->name, "value_float") == 0 && attr->type == ZI_ATTR_FLOAT) {
        if ((value = zi_tensor_new (ZI_F32, 0, dims)))
            *(float *) value->data = attr->f;
    }
    else
    if (strcmp (attr->name, "value_int") == 0 && attr->type == ZI_ATTR_INT) {
        if ((value = zi_tensor_new (ZI_I64, 0, dims)))
            *(int64_t *) value->data = attr->i;
    }
    else
    if (strcmp (attr->name, "value_floats") == 0 && attr->type == ZI_ATTR_FLOATS) {
        if ((value = zi_tensor_new (ZI_F32, 1, dims)) && attr->n)
            memcpy (value->data, attr->floats, attr->n * sizeof (float));
    }
    else
    if (strcmp (attr->name, "value_ints") == 0 && attr->type == ZI_ATTR_INTS) {
        if ((value = zi_tensor_new (ZI_I64, 1, dims)) && attr->n)
            memcpy (value->data, attr->ints, attr->n * sizeof (int64_t));
    }
    else
        zi_error ("attribute '%s' has the wrong type %d", attr->name, attr->type);
    return value;
}

static int
s_constant_init (zi_node_t *node)
{
    static const char *refused [] = {"sparse_value", "value_string", "value_strings"};
    for (size_t index = 0; index < sizeof refused / sizeof refused [0]; index++)
        if (zi_node_attr (node, refused [index]))
            return zi_error ("attribute '%s' is not supported (supported: value, "
                             "value_float, value_floats, value_int, value_ints)",
                             refused [index]);
    static const char *known [] = {
        "value", "value_float", "value_floats", "value_int", "value_ints"
    };
    const zi_attr_t *attr = NULL;
    for (size_t index = 0; index < sizeof known / sizeof known [0]; index++) {
        const zi_attr_t *found = zi_node_attr (node, known [index]);
        if (found && attr)
            return zi_error ("attributes '%s' and '%s' both given; exactly one is allowed",
                             attr->name, found->name);
        if (found)
            attr = found;
    }
    if (!attr)
        return zi_error ("no value: expected one of the attributes value, value_float, "
                         "value_floats, value_int, value_ints");
    s_constant_t self = {.value = s_constant_make (attr)};
    if (!self.value)
        return -1;
    if (s_keep (node, &self, sizeof self)) {
        zi_tensor_destroy (&self.value);
        return -1;
    }
    return 0;
}

static void
s_constant_destroy (zi_node_t *node)
{
    s_constant_t *self = node->params;
    zi_tensor_destroy (&self->value);
    free (self);
    node->params = NULL;
}

static int
s_constant_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_constant_t *self = node->params;
    zi_tensor_set_shape (out [0], self->value->dtype, self->value->ndim, self->value->dims);
    return 0;
}

static int
s_constant_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
                zi_tensor_t *const *out)
{
    const s_constant_t *self = node->params;
    s_copy_data (out [0], self->value);
    return 0;
}

const zi_op_t zi_op_Constant = {
    .name = "Constant", .min_inputs = 0, .max_inputs = 0, .max_outputs = 1,
    .init = s_constant_init, .infer = s_constant_infer, .run = s_constant_run,
    .destroy = s_constant_destroy
};

//  --------------------------------------------------------------------------
//  ConstantOfShape: a tensor of a constant input shape, filled with the one
//  element of the 'value' attribute (float 0 by default)

typedef struct {
    zi_dtype_t dtype;           //  element type of the output
    uint8_t value [8];          //  the fill element, dtype-sized
} s_fill_t;

static int
s_fill_init (zi_node_t *node)
{
    s_fill_t self = {.dtype = ZI_F32};
    const zi_attr_t *attr = zi_node_attr (node, "value");
    if (attr) {
        if (attr->type != ZI_ATTR_TENSOR || !attr->t)
            return zi_error ("attribute 'value' must be a tensor, got type %d", attr->type);
        if (zi_tensor_count (attr->t) != 1)
            return zi_error ("attribute 'value' must hold one element, got %zu",
                             zi_tensor_count (attr->t));
        self.dtype = attr->t->dtype;
        memcpy (self.value, attr->t->data, zi_dtype_size (self.dtype));
    }
    return s_keep (node, &self, sizeof self);
}

static int
s_fill_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_fill_t *self = node->params;
    int64_t dims [ZI_MAX_DIMS];
    int rank = zi_input_ints (in [0], dims, ZI_MAX_DIMS, "input 0 (shape)");
    if (rank < 0)
        return -1;
    char shape [128];
    if (zi_shape_count (rank, dims) < 0)
        return zi_error ("shape %s is negative or too large",
                         zi_shape_str (rank, dims, shape, sizeof shape));
    zi_tensor_set_shape (out [0], self->dtype, rank, dims);
    return 0;
}

static int
s_fill_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    const s_fill_t *self = node->params;
    size_t count = zi_tensor_count (out [0]);
    size_t size = zi_dtype_size (self->dtype);
    if (size == 2) {
        uint16_t value, *data = out [0]->data;
        memcpy (&value, self->value, 2);
        for (size_t item = 0; item < count; item++)
            data [item] = value;
    }
    else
    if (size == 8) {
        uint64_t value, *data = out [0]->data;
        memcpy (&value, self->value, 8);
        for (size_t item = 0; item < count; item++)
            data [item] = value;
    }
    else
    if (size == 4) {
        uint32_t value, *data = out [0]->data;
        memcpy (&value, self->value, 4);
        for (size_t item = 0; item < count; item++)
            data [item] = value;
    }
    else
    if (count)
        memset (out [0]->data, self->value [0], count);
    return 0;
}

const zi_op_t zi_op_ConstantOfShape = {
    .name = "ConstantOfShape", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .init = s_fill_init, .infer = s_fill_infer, .run = s_fill_run
};

//  --------------------------------------------------------------------------
//  Cast between any two dtypes, by the rules of zi_dtype_convert (ONNX's,
//  ONNX Runtime's for every value that fits, saturating where the spec
//  leaves the result undefined).
//  Opset 19's saturate attribute concerns only float8 targets, which
//  zinfer does not have: it is accepted and changes nothing.

typedef struct {
    zi_dtype_t to;              //  output element type
} s_cast_t;

static int
s_cast_init (zi_node_t *node)
{
    if (!zi_node_attr (node, "to"))
        return zi_error ("attribute 'to' is required");
    int64_t to = zi_node_attr_int (node, "to", 0);
    if (to < 0 || to > 64 || zi_dtype_size ((int) to) == 0)
        return zi_error ("attribute 'to' = %lld (%s) is not supported "
                         "(supported: 1 FLOAT, 10 FLOAT16, 7 INT64, 6 INT32, 3 INT8, "
                         "2 UINT8, 9 BOOL)", (long long) to, zi_onnx_type_name (to));
    s_cast_t self = {.to = (zi_dtype_t) to};
    return s_keep (node, &self, sizeof self);
}

static int
s_cast_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const s_cast_t *self = node->params;
    zi_tensor_set_shape (out [0], self->to, in [0]->ndim, in [0]->dims);
    return 0;
}

static int
s_cast_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
            zi_tensor_t *const *out)
{
    const zi_tensor_t *src = in [0];
    zi_tensor_t *dst = out [0];
    if (src->dtype == dst->dtype)
        s_copy_data (dst, src);
    else
        zi_dtype_convert (dst->data, dst->dtype, src->data, src->dtype, zi_tensor_count (src));
    return 0;
}

const zi_op_t zi_op_Cast = {
    .name = "Cast", .min_inputs = 1, .max_inputs = 1, .max_outputs = 1,
    .batch = ZI_BATCH_ELEMENTWISE,
    .init = s_cast_init, .infer = s_cast_infer, .run = s_cast_run
};

//  --------------------------------------------------------------------------
//  Range: start, start + delta, ... up to limit (exclusive); float32,
//  int64 or int32 scalars. The length depends on the values, so they must
//  be constant.

typedef union {
    float f;                    //  float32 scalar
    int64_t i;                  //  integer scalar, widened
} s_scalar_t;

//  Reads the three scalars and works out the element count
static int
s_range_args (const zi_node_t *node, const zi_tensor_t *const *in, s_scalar_t *args,
              int64_t *count)
{
    static const char *names [] = {"start", "limit", "delta"};
    zi_dtype_t dtype = in [0]->dtype;
    for (int index = 0; index < 3; index++) {
        const zi_tensor_t *arg = in [index];
        if (arg->dtype != dtype)
            return zi_error ("input %d (%s): expected %s like start, got %s", index,
                             names [index], zi_dtype_name (dtype), zi_dtype_name (arg->dtype));
        if (zi_shape_count (arg->ndim, arg->dims) != 1)
            return zi_error ("input %d (%s): expected a scalar, got %zu elements",
                             index, names [index], zi_tensor_count (arg));
        if (!arg->data)
            return zi_error ("input %d (%s) must be a constant known before the run",
                             index, names [index]);
        if (dtype == ZI_F32)
            args [index].f = *(const float *) arg->data;
        else
            zi_dtype_convert (&args [index].i, ZI_I64, arg->data, dtype, 1);
    }
    if (dtype == ZI_F32) {
        double steps = ceil (((double) args [1].f - args [0].f) / args [2].f);
        if (args [2].f == 0 || !isfinite (steps))
            return zi_error ("Range(%g, %g, %g) has no finite length",
                             args [0].f, args [1].f, args [2].f);
        *count = steps > 0? (int64_t) fmin (steps, (double) INT64_MAX / 2): 0;
    }
    else {
        int64_t start = args [0].i, delta = args [2].i, span;
        if (delta == 0)
            return zi_error ("Range delta is 0");
        if (__builtin_sub_overflow (args [1].i, start, &span))
            return zi_error ("Range(%lld, %lld, ...) overflows int64",
                             (long long) start, (long long) args [1].i);
        //  Ceiling division that cannot overflow: one step, then the rest
        if (delta > 0)
            *count = span > 0? (span - 1) / delta + 1: 0;
        else
            *count = span < 0? (span + 1) / delta + 1: 0;
    }
    if (*count > INT32_MAX)
        return zi_error ("Range would make %lld elements", (long long) *count);
    return 0;
}

static int
s_range_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_scalar_t args [3];
    int64_t count;
    if (s_range_args (node, in, args, &count))
        return -1;
    zi_tensor_set_shape (out [0], in [0]->dtype, 1, &count);
    return 0;
}

static int
s_range_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
             zi_tensor_t *const *out)
{
    s_scalar_t args [3];
    int64_t count;
    if (s_range_args (node, in, args, &count))
        return -1;
    assert (count == out [0]->dims [0]);
    if (in [0]->dtype == ZI_F32) {
        float *y = out [0]->data;
        for (int64_t item = 0; item < count; item++)
            y [item] = args [0].f + (float) item * args [2].f;
    }
    else
    if (in [0]->dtype == ZI_I32) {
        //  Every element lies between start and limit, so fits
        int32_t *y = out [0]->data;
        for (int64_t item = 0; item < count; item++)
            y [item] = (int32_t) (args [0].i + item * args [2].i);
    }
    else {
        int64_t *y = out [0]->data;
        for (int64_t item = 0; item < count; item++)
            y [item] = args [0].i + item * args [2].i;
    }
    return 0;
}

const zi_op_t zi_op_Range = {
    .name = "Range", .min_inputs = 3, .max_inputs = 3, .max_outputs = 1,
    .infer = s_range_infer, .run = s_range_run,
    .dtypes = ZI_DT_EVERY (ZI_DT (ZI_F32) | ZI_DT (ZI_I64) | ZI_DT (ZI_I32))
};

//  --------------------------------------------------------------------------
//  Self test

static zi_tensor_t *
s_test_scalar (zi_dtype_t dtype, double value)
{
    zi_tensor_t *tensor = zi_tensor_new (dtype, 0, NULL);
    assert (tensor);
    if (dtype == ZI_F32 || dtype == ZI_F16) {
        float real = (float) value;
        zi_dtype_convert (tensor->data, dtype, &real, ZI_F32, 1);
    }
    else {
        int64_t whole = (int64_t) value;
        zi_dtype_convert (tensor->data, dtype, &whole, ZI_I64, 1);
    }
    return tensor;
}

static bool
s_test_shape_is (const zi_tensor_t *tensor, int ndim, const int64_t *dims)
{
    if (!tensor || tensor->ndim != ndim)
        return false;
    for (int axis = 0; axis < ndim; axis++)
        if (tensor->dims [axis] != dims [axis])
            return false;
    return true;
}

//  Runs a node built by the caller on up to four inputs and one or two
//  outputs; frees the node and the inputs. Returns the run's result and
//  leaves outputs for the caller to check and free.
static int
s_test_run (zi_node_t *node, int n_inputs, zi_tensor_t **inputs, int n_outputs,
            zi_tensor_t **outputs)
{
    for (int slot = 0; slot < n_outputs; slot++)
        outputs [slot] = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, n_outputs, outputs);
    for (int slot = 0; slot < n_inputs; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
    return rc;
}

static void
s_test_outputs_free (zi_tensor_t **outputs, int n_outputs)
{
    for (int slot = 0; slot < n_outputs; slot++)
        zi_tensor_destroy (&outputs [slot]);
}

//  Expects the op to fail with a message containing each of the words
static void
s_test_fails (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t **inputs,
              const char *what, const char *word1, const char *word2)
{
    zi_tensor_t *outputs [1];
    int rc = s_test_run (node, n_inputs, inputs, 1, outputs);
    const char *text = zi_error_text ();
    ZI_CHECK (t, rc == -1 && strstr (text, word1) && (!word2 || strstr (text, word2)),
              "%s fails with a clear message: %s", what, text);
    s_test_outputs_free (outputs, 1);
}

static const zi_dtype_t s_test_dtypes [] = {ZI_F32, ZI_I64, ZI_BOOL, ZI_I32, ZI_I8, ZI_U8, ZI_F16};
#define S_TEST_N_DTYPES 7

//  The reshape-like ops: output bytes equal input bytes, in the expected shape
static void
s_test_relabel (zi_test_t *t)
{
    int64_t dims [] = {2, 3, 1, 5};
    for (int kind = 0; kind < S_TEST_N_DTYPES; kind++) {
        zi_dtype_t dtype = s_test_dtypes [kind];
        const char *name = zi_dtype_name (dtype);
        struct {
            const char *op;             //  op type
            int64_t out [ZI_MAX_DIMS];  //  expected shape
            int ndim;                   //  expected rank
        } cases [] = {
            {"Flatten", {2, 15}, 2},
            {"Flatten", {6, 5}, 2},     //  axis -1
            {"Flatten", {1, 30}, 2},    //  axis 0
            {"Flatten", {30, 1}, 2},    //  axis 4 = rank
            {"Reshape", {3, 10}, 2},    //  [3, -1]
            {"Reshape", {2, 15}, 2},    //  [0, -1]
            {"Squeeze", {2, 3, 5}, 3},  //  axes [2] attribute (opset 11)
            {"Squeeze", {2, 3, 5}, 3},  //  axes [-2] input (opset 13)
            {"Squeeze", {2, 3, 5}, 3},  //  no axes
            {"Unsqueeze", {1, 2, 3, 1, 5, 1}, 6},   //  axes [0, -1] attribute
            {"Unsqueeze", {2, 3, 1, 5, 1, 1}, 6},   //  axes [-2, 5] input
            {"Identity", {2, 3, 1, 5}, 4},
            {"Dropout", {2, 3, 1, 5}, 4}
        };
        for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
            zi_node_t *node = zi_node_new (cases [index].op, "test");
            zi_tensor_t *inputs [2] = {zi_test_data (dtype, 4, dims, 7 + index), NULL};
            zi_tensor_t *copy = zi_tensor_dup (inputs [0]);
            int n_inputs = 1;
            switch (index) {
                case 1: zi_node_set_int (node, "axis", -1); break;
                case 2: zi_node_set_int (node, "axis", 0); break;
                case 3: zi_node_set_int (node, "axis", 4); break;
                case 4:
                    inputs [1] = zi_test_ints (2, (int64_t []) {3, -1});
                    n_inputs = 2;
                    break;
                case 5:
                    inputs [1] = zi_test_ints (2, (int64_t []) {0, -1});
                    n_inputs = 2;
                    node->opset = 9;
                    break;
                case 6:
                    zi_node_set_ints (node, "axes", 1, (int64_t []) {2});
                    node->opset = 11;
                    break;
                case 7:
                    inputs [1] = zi_test_ints (1, (int64_t []) {-2});
                    n_inputs = 2;
                    break;
                case 9:
                    zi_node_set_ints (node, "axes", 2, (int64_t []) {0, -1});
                    node->opset = 11;
                    break;
                case 10:
                    inputs [1] = zi_test_ints (2, (int64_t []) {-2, 5});
                    n_inputs = 2;
                    break;
            }
            if (inputs [1] && dtype == ZI_I32) {
                //  Shapes and axes given as int32 are read as well
                zi_tensor_t *narrow = zi_tensor_convert (inputs [1], ZI_I32);
                zi_tensor_destroy (&inputs [1]);
                inputs [1] = narrow;
            }
            zi_tensor_t *outputs [1];
            int rc = s_test_run (node, n_inputs, inputs, 1, outputs);
            ZI_CHECK (t, rc == 0 && s_test_shape_is (outputs [0], cases [index].ndim,
                                                     cases [index].out),
                      "%s case %zu on %s: shape (%s)", cases [index].op, index, name,
                      rc? zi_error_text (): "ok");
            ZI_CHECK (t, rc == 0 && memcmp (outputs [0]->data, copy->data, copy->nbytes) == 0,
                      "%s case %zu on %s: same bytes", cases [index].op, index, name);
            zi_tensor_destroy (&copy);
            s_test_outputs_free (outputs, 1);
        }
    }
    //  Squeeze of a scalar-like [1, 1] with no axes gives a scalar
    zi_tensor_t *inputs [2] = {zi_test_data (ZI_I64, 2, (int64_t []) {1, 1}, 3)};
    zi_tensor_t *outputs [2];
    int rc = s_test_run (zi_node_new ("Squeeze", "test"), 1, inputs, 1, outputs);
    ZI_CHECK (t, rc == 0 && outputs [0]->ndim == 0, "Squeeze [1, 1] gives a scalar");
    s_test_outputs_free (outputs, 1);

    //  Reshape with allowzero keeps 0 as a real dim
    zi_node_t *node = zi_node_new ("Reshape", "test");
    zi_node_set_int (node, "allowzero", 1);
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {0, 4}, 3);
    inputs [1] = zi_test_ints (3, (int64_t []) {2, 0, 7});
    rc = s_test_run (node, 2, inputs, 1, outputs);
    ZI_CHECK (t, rc == 0 && s_test_shape_is (outputs [0], 3, (int64_t []) {2, 0, 7}),
              "Reshape allowzero: [0, 4] to [2, 0, 7]");
    s_test_outputs_free (outputs, 1);

    //  Reshape to a scalar with an empty shape
    inputs [0] = zi_test_data (ZI_F32, 3, (int64_t []) {1, 1, 1}, 3);
    inputs [1] = zi_tensor_new (ZI_I64, 1, (int64_t []) {0});
    rc = s_test_run (zi_node_new ("Reshape", "test"), 2, inputs, 1, outputs);
    ZI_CHECK (t, rc == 0 && outputs [0]->ndim == 0, "Reshape to []: scalar");
    s_test_outputs_free (outputs, 1);

    //  Dropout with its mask, in both the bool (opset 13) and data-typed
    //  (opset 9) forms; training_mode false is fine
    for (int opset = 9; opset <= 13; opset += 4) {
        node = zi_node_new ("Dropout", "test");
        node->opset = opset;
        inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {3, 5}, 4);
        zi_tensor_t *copy = zi_tensor_dup (inputs [0]);
        zi_tensor_t *args [3] = {inputs [0], NULL, NULL};
        int n_inputs = 1;
        if (opset >= 12) {
            args [1] = s_test_scalar (ZI_F32, 0.3);
            args [2] = s_test_scalar (ZI_BOOL, 0);
            n_inputs = 3;
        }
        rc = s_test_run (node, n_inputs, args, 2, outputs);
        bool mask_ok = rc == 0 && outputs [1]->dtype == (opset < 10? ZI_F32: ZI_BOOL)
                    && s_test_shape_is (outputs [1], copy->ndim, copy->dims);
        for (size_t item = 0; mask_ok && item < zi_tensor_count (copy); item++)
            mask_ok = opset < 10? zi_tensor_f32 (outputs [1]) [item] == 1.0f
                                : ((uint8_t *) outputs [1]->data) [item] == 1;
        ZI_CHECK (t, rc == 0 && memcmp (outputs [0]->data, copy->data, copy->nbytes) == 0,
                  "Dropout opset %d copies the data", opset);
        ZI_CHECK (t, mask_ok, "Dropout opset %d mask is all ones in the right type", opset);
        zi_tensor_destroy (&copy);
        s_test_outputs_free (outputs, 2);
    }
}

static void
s_test_relabel_errors (zi_test_t *t)
{
    zi_tensor_t *inputs [3];
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {4, 2});
    s_test_fails (t, zi_node_new ("Reshape", "test"), 2, inputs,
                  "Reshape count mismatch", "[2, 3]", "[4, 2]");

    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (3, (int64_t []) {-1, 3, -1});
    s_test_fails (t, zi_node_new ("Reshape", "test"), 2, inputs,
                  "Reshape with two -1", "more than one -1", NULL);

    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {4, -1});
    s_test_fails (t, zi_node_new ("Reshape", "test"), 2, inputs,
                  "Reshape with a -1 that does not divide", "cannot reshape", "[4, -1]");

    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_shape_only (ZI_I64, 1, (int64_t []) {2});
    s_test_fails (t, zi_node_new ("Reshape", "test"), 2, inputs,
                  "Reshape with a computed shape", "shape", "must be a constant");

    inputs [0] = zi_test_data (ZI_F32, 3, (int64_t []) {2, 1, 3}, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {2});
    s_test_fails (t, zi_node_new ("Squeeze", "test"), 2, inputs,
                  "Squeeze of a size-3 axis", "size is 3, not 1", NULL);

    inputs [0] = zi_test_data (ZI_F32, 3, (int64_t []) {2, 1, 3}, 1);
    inputs [1] = zi_test_ints (1, (int64_t []) {3});
    s_test_fails (t, zi_node_new ("Squeeze", "test"), 2, inputs,
                  "Squeeze axis out of range", "out of range", NULL);

    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = zi_test_ints (2, (int64_t []) {1, -3});
    s_test_fails (t, zi_node_new ("Unsqueeze", "test"), 2, inputs,
                  "Unsqueeze with a repeated axis", "twice", NULL);

    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    s_test_fails (t, zi_node_new ("Unsqueeze", "test"), 1, inputs,
                  "Unsqueeze without axes", "axes are required", NULL);

    zi_node_t *node = zi_node_new ("Flatten", "test");
    zi_node_set_int (node, "axis", 3);
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    s_test_fails (t, node, 1, inputs, "Flatten axis 3 of a 2-d input", "'axis' = 3", NULL);

    node = zi_node_new ("Dropout", "test");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = NULL;
    inputs [2] = s_test_scalar (ZI_BOOL, 1);
    s_test_fails (t, node, 3, inputs, "Dropout in training mode", "training", "not supported");

    node = zi_node_new ("Dropout", "test");
    inputs [0] = zi_test_data (ZI_F32, 2, (int64_t []) {2, 3}, 1);
    inputs [1] = NULL;
    inputs [2] = s_test_scalar (ZI_F32, 0);
    s_test_fails (t, node, 3, inputs, "Dropout with a float training_mode",
                  "Dropout at node 'test': input 2 is float32, expected bool", NULL);
}

static void
s_test_shape (zi_test_t *t)
{
    int64_t dims [] = {2, 3, 4, 5};
    struct {
        bool has_start, has_end;    //  which attributes to set
        int64_t start, end;         //  their values
        int first, last;            //  expected slice of dims
    } cases [] = {
        {false, false, 0, 0, 0, 4},
        {true, false, -1, 0, 3, 4},
        {false, true, 0, -1, 0, 3},
        {true, true, 1, 3, 1, 3},
        {true, true, -100, 100, 0, 4},      //  clamped
        {true, true, 3, 1, 0, 0}            //  empty
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        zi_node_t *node = zi_node_new ("Shape", "test");
        if (cases [index].has_start)
            zi_node_set_int (node, "start", cases [index].start);
        if (cases [index].has_end)
            zi_node_set_int (node, "end", cases [index].end);
        //  The input need not be constant: Shape only reads dims
        zi_tensor_t *inputs [1] = {zi_test_data (ZI_BOOL, 4, dims, 1)};
        zi_tensor_t *outputs [1];
        int rc = s_test_run (node, 1, inputs, 1, outputs);
        int length = cases [index].last - cases [index].first;
        bool ok = rc == 0 && outputs [0]->dtype == ZI_I64 && outputs [0]->ndim == 1
               && outputs [0]->dims [0] == length;
        for (int item = 0; ok && item < length; item++)
            ok = zi_tensor_i64 (outputs [0]) [item] == dims [cases [index].first + item];
        ZI_CHECK (t, ok, "Shape case %zu", index);
        s_test_outputs_free (outputs, 1);
    }
    //  Size, of a scalar, an empty tensor and a 4-d one
    int64_t sizes [3][4] = {{0}, {3, 0, 2}, {2, 3, 4, 5}};
    int ranks [3] = {0, 3, 4};
    int64_t counts [3] = {1, 0, 120};
    for (int index = 0; index < 3; index++) {
        zi_node_t *node = zi_node_new ("Size", "test");
        zi_tensor_t *inputs [1] = {zi_test_data (ZI_F32, ranks [index], sizes [index], 2)};
        zi_tensor_t *outputs [1];
        int rc = s_test_run (node, 1, inputs, 1, outputs);
        ZI_CHECK (t, rc == 0 && outputs [0]->dtype == ZI_I64 && outputs [0]->ndim == 0
                  && *zi_tensor_i64 (outputs [0]) == counts [index],
                  "Size of a %d-d tensor is %lld", ranks [index], (long long) counts [index]);
        s_test_outputs_free (outputs, 1);
    }
}

static void
s_test_constant (zi_test_t *t)
{
    zi_tensor_t *outputs [1];
    //  Each attribute form, compared element by element with what was set
    zi_tensor_t *value = zi_test_data (ZI_I64, 2, (int64_t []) {2, 3}, 9);
    zi_node_t *node = zi_node_new ("Constant", "test");
    zi_node_set_tensor (node, "value", value);
    int rc = s_test_run (node, 0, NULL, 1, outputs);
    ZI_CHECK (t, rc == 0 && zi_tensor_same_shape (outputs [0], value)
              && memcmp (outputs [0]->data, value->data, value->nbytes) == 0,
              "Constant value tensor");
    s_test_outputs_free (outputs, 1);
    zi_tensor_destroy (&value);

    node = zi_node_new ("Constant", "test");
    zi_node_set_float (node, "value_float", 2.5f);
    rc = s_test_run (node, 0, NULL, 1, outputs);
    ZI_CHECK (t, rc == 0 && outputs [0]->dtype == ZI_F32 && outputs [0]->ndim == 0
              && zi_tensor_f32 (outputs [0]) [0] == 2.5f, "Constant value_float");
    s_test_outputs_free (outputs, 1);

    float floats [] = {1.5f, -2, 3.25f};
    node = zi_node_new ("Constant", "test");
    zi_node_set_floats (node, "value_floats", 3, floats);
    rc = s_test_run (node, 0, NULL, 1, outputs);
    ZI_CHECK (t, rc == 0 && s_test_shape_is (outputs [0], 1, (int64_t []) {3})
              && memcmp (outputs [0]->data, floats, sizeof floats) == 0,
              "Constant value_floats");
    s_test_outputs_free (outputs, 1);

    node = zi_node_new ("Constant", "test");
    zi_node_set_int (node, "value_int", -7);
    rc = s_test_run (node, 0, NULL, 1, outputs);
    ZI_CHECK (t, rc == 0 && outputs [0]->dtype == ZI_I64 && outputs [0]->ndim == 0
              && zi_tensor_i64 (outputs [0]) [0] == -7, "Constant value_int");
    s_test_outputs_free (outputs, 1);

    int64_t ints [] = {INT64_MAX, -1, 0, 42};
    node = zi_node_new ("Constant", "test");
    zi_node_set_ints (node, "value_ints", 4, ints);
    rc = s_test_run (node, 0, NULL, 1, outputs);
    ZI_CHECK (t, rc == 0 && s_test_shape_is (outputs [0], 1, (int64_t []) {4})
              && outputs [0]->dtype == ZI_I64
              && memcmp (outputs [0]->data, ints, sizeof ints) == 0, "Constant value_ints");
    s_test_outputs_free (outputs, 1);

    node = zi_node_new ("Constant", "test");
    zi_node_set_string (node, "value_string", "hello");
    s_test_fails (t, node, 0, NULL, "Constant value_string", "value_string", "not supported");
    node = zi_node_new ("Constant", "test");
    zi_node_set_int (node, "sparse_value", 0);
    s_test_fails (t, node, 0, NULL, "Constant sparse_value", "sparse_value", "not supported");
    node = zi_node_new ("Constant", "test");
    zi_node_set_int (node, "value_int", 1);
    zi_node_set_float (node, "value_float", 1);
    s_test_fails (t, node, 0, NULL, "Constant with two values", "exactly one", NULL);
    s_test_fails (t, zi_node_new ("Constant", "test"), 0, NULL,
                  "Constant without a value", "no value", NULL);

    //  ConstantOfShape: default float 0, and a value of every dtype
    double fills [] = {-1.5, -123456789012, 1, -7654321, -5, 200, 2.5};
    for (int kind = -1; kind < S_TEST_N_DTYPES; kind++) {
        node = zi_node_new ("ConstantOfShape", "test");
        zi_dtype_t dtype = kind < 0? ZI_F32: s_test_dtypes [kind];
        double fill = kind < 0? 0: fills [kind];
        if (kind >= 0) {
            zi_tensor_t *scalar = s_test_scalar (dtype, fill);
            zi_node_set_tensor (node, "value", scalar);
            zi_tensor_destroy (&scalar);
        }
        zi_tensor_t *inputs [1] = {zi_test_ints (3, (int64_t []) {2, 1, 3})};
        rc = s_test_run (node, 1, inputs, 1, outputs);
        bool ok = rc == 0 && outputs [0]->dtype == dtype
               && s_test_shape_is (outputs [0], 3, (int64_t []) {2, 1, 3});
        for (int item = 0; ok && item < 6; item++)
            ok = zi_dtype_get (outputs [0]->data, dtype, item) == fill;
        ZI_CHECK (t, ok, "ConstantOfShape filled with %s %g", zi_dtype_name (dtype), fill);
        s_test_outputs_free (outputs, 1);
    }
    zi_tensor_t *inputs [1] = {zi_test_shape_only (ZI_I64, 1, (int64_t []) {2})};
    s_test_fails (t, zi_node_new ("ConstantOfShape", "test"), 1, inputs,
                  "ConstantOfShape with a computed shape", "must be a constant", NULL);
}

//  What Cast must make of one value, from its meaning: real for a float
//  source, whole for an integer or bool one; written into want as dtype to
static void
s_test_cast_want (bool is_float, double real, int64_t whole, zi_dtype_t to, void *want)
{
    int32_t i32 = is_float? (isnan (real) || real <= -2147483648.0? INT32_MIN
                             : real >= 2147483648.0? INT32_MAX: (int32_t) trunc (real))
                          : (int32_t) (uint32_t) (uint64_t) whole;
    switch (to) {
        case ZI_F32:
            *(float *) want = is_float? (float) real: (float) whole;
            break;
        case ZI_F16:
            *(uint16_t *) want = zi_float_to_half (is_float? (float) real: (float) whole);
            break;
        case ZI_I64:
            *(int64_t *) want = !is_float? whole
                              : isnan (real) || real <= -9.3e18? INT64_MIN
                              : real >= 9.3e18? INT64_MAX: (int64_t) trunc (real);
            break;
        case ZI_I32:
            *(int32_t *) want = i32;
            break;
        case ZI_I8:
            *(int8_t *) want = (int8_t) (uint8_t) (is_float? (uint32_t) i32: (uint64_t) whole);
            break;
        case ZI_U8:
            *(uint8_t *) want = (uint8_t) (is_float? (uint32_t) i32: (uint64_t) whole);
            break;
        default:
            *(uint8_t *) want = is_float? real != 0 || isnan (real): whole != 0;
    }
}

static void
s_test_cast (zi_test_t *t)
{
    //  Values chosen for the corners: truncation toward zero, rounding of
    //  big integers to float, saturation, NaN, wrapping to narrower
    //  integers, and true for any nonzero
    float floats [] = {-2.7f, -0.5f, 0, 0.5f, 2.7f, 1e20f, -1e20f, NAN, 16777217.0f, 300.5f,
                       -129.9f, 65520.0f};
    float halves [] = {-2.5f, -0.5f, 0, 0.5f, 2.75f, INFINITY, -INFINITY, NAN, 2048, 300.5f,
                       -129.75f, 65504};
    int64_t i64s [] = {-3, 0, 1, 7, INT64_C (16777217), INT64_MIN, INT64_MAX, 2, -1, 300, -129,
                       INT64_C (4294967297)};
    int64_t i32s [] = {-3, 0, 1, 7, 16777217, INT32_MIN, INT32_MAX, 2, -1, 300, -129, 65536};
    int64_t i8s [] = {-3, 0, 1, 7, -128, 127, 2, -1, 100, -100, 64, -64};
    int64_t u8s [] = {0, 1, 2, 7, 128, 255, 200, 100, 3, 4, 5, 6};
    int64_t bools [] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1};
    zi_dtype_t dtypes [] = {ZI_F32, ZI_F16, ZI_I64, ZI_I32, ZI_I8, ZI_U8, ZI_BOOL};
    int64_t dims [] = {3, 4};
    int opsets [] = {9, 13, 19, 21};
    for (int from = 0; from < 7; from++)
        for (int to = 0; to < 7; to++) {
            zi_dtype_t src_type = dtypes [from], dst_type = dtypes [to];
            bool is_float = from < 2;
            const int64_t *wholes = from == 2? i64s: from == 3? i32s: from == 4? i8s:
                                    from == 5? u8s: bools;
            zi_tensor_t *inputs [1] = {zi_tensor_new (src_type, 2, dims)};
            for (int item = 0; item < 12; item++) {
                if (src_type == ZI_F32)
                    zi_tensor_f32 (inputs [0]) [item] = floats [item];
                else
                if (src_type == ZI_F16)
                    ((uint16_t *) inputs [0]->data) [item] = zi_float_to_half (halves [item]);
                else
                    zi_dtype_convert ((char *) inputs [0]->data + item * zi_dtype_size (src_type),
                                      src_type, &wholes [item], ZI_I64, 1);
            }
            zi_node_t *node = zi_node_new ("Cast", "test");
            zi_node_set_int (node, "to", dst_type);
            int opset = node->opset = opsets [(from + to) % 4];
            if (opset >= 19)
                zi_node_set_int (node, "saturate", 1);
            zi_tensor_t *outputs [1];
            int rc = s_test_run (node, 1, inputs, 1, outputs);
            bool ok = rc == 0 && outputs [0]->dtype == dst_type
                   && s_test_shape_is (outputs [0], 2, dims);
            size_t size = zi_dtype_size (dst_type);
            for (int item = 0; ok && item < 12; item++) {
                double real = src_type == ZI_F32? floats [item]: halves [item];
                uint8_t want [8];
                s_test_cast_want (is_float, real, is_float? 0: wholes [item], dst_type, want);
                const uint8_t *got = (const uint8_t *) outputs [0]->data + item * size;
                ok = memcmp (got, want, size) == 0;
                //  NaN to float: any NaN will do
                if (!ok && is_float && isnan (real) && (dst_type == ZI_F32 || dst_type == ZI_F16))
                    ok = zi_dtype_get (got, dst_type, 0) != zi_dtype_get (got, dst_type, 0);
                if (!ok)
                    ZI_CHECK (t, false, "Cast %s to %s: element %d (%g)",
                              zi_dtype_name (src_type), zi_dtype_name (dst_type), item,
                              is_float? real: (double) wholes [item]);
            }
            ZI_CHECK (t, ok, "Cast %s to %s (opset %d)", zi_dtype_name (src_type),
                      zi_dtype_name (dst_type), opset);
            s_test_outputs_free (outputs, 1);
        }
    int64_t unsupported [] = {11, 8, 16, 17, 4};
    const char *names [] = {"DOUBLE", "STRING", "BFLOAT16", "FLOAT8E4M3FN", "UINT16"};
    for (int index = 0; index < 5; index++) {
        zi_node_t *node = zi_node_new ("Cast", "test");
        zi_node_set_int (node, "to", unsupported [index]);
        zi_tensor_t *inputs [1] = {zi_test_data (ZI_F32, 1, (int64_t []) {2}, 1)};
        s_test_fails (t, node, 1, inputs, "Cast to an unsupported type", names [index],
                      "not supported");
    }
}

static void
s_test_range (zi_test_t *t)
{
    struct {
        double start, limit, delta;     //  arguments
        int64_t count;                  //  expected length, worked out by hand
    } cases [] = {
        {3, 9, 3, 2}, {10, 4, -2, 3}, {0, 5, 1, 5}, {5, 5, 1, 0}, {5, 0, 1, 0},
        {-3, 4, 2, 4}, {1, -6, -3, 3}, {0, 1, 0.25, 4}, {0.5, -1, -0.5, 3}
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        for (int kind = 0; kind < 3; kind++) {
            zi_dtype_t dtype = (zi_dtype_t []) {ZI_F32, ZI_I64, ZI_I32} [kind];
            if (dtype != ZI_F32 && cases [index].delta != (int64_t) cases [index].delta)
                continue;
            zi_tensor_t *inputs [3] = {
                s_test_scalar (dtype, cases [index].start),
                s_test_scalar (dtype, cases [index].limit),
                s_test_scalar (dtype, cases [index].delta)
            };
            zi_tensor_t *outputs [1];
            int rc = s_test_run (zi_node_new ("Range", "test"), 3, inputs, 1, outputs);
            bool ok = rc == 0 && outputs [0]->dtype == dtype
                   && s_test_shape_is (outputs [0], 1, &cases [index].count);
            for (int64_t item = 0; ok && item < cases [index].count; item++) {
                double want = cases [index].start + item * cases [index].delta;
                ok = dtype == ZI_F32? zi_tensor_f32 (outputs [0]) [item] == (float) want
                                    : zi_dtype_get (outputs [0]->data, dtype, item) == want;
            }
            ZI_CHECK (t, ok, "Range(%g, %g, %g) as %s", cases [index].start,
                      cases [index].limit, cases [index].delta, zi_dtype_name (dtype));
            s_test_outputs_free (outputs, 1);
        }
    zi_tensor_t *inputs [3] = {
        s_test_scalar (ZI_I64, 0), s_test_scalar (ZI_I64, 4), s_test_scalar (ZI_I64, 0)
    };
    s_test_fails (t, zi_node_new ("Range", "test"), 3, inputs, "Range with delta 0",
                  "delta is 0", NULL);
    inputs [0] = s_test_scalar (ZI_I64, 0);
    inputs [1] = zi_test_shape_only (ZI_I64, 0, NULL);
    inputs [2] = s_test_scalar (ZI_I64, 1);
    s_test_fails (t, zi_node_new ("Range", "test"), 3, inputs, "Range with a computed limit",
                  "limit", "must be a constant");
    inputs [0] = s_test_scalar (ZI_I64, 0);
    inputs [1] = s_test_scalar (ZI_I64, 4);
    inputs [2] = s_test_scalar (ZI_I32, 1);
    s_test_fails (t, zi_node_new ("Range", "test"), 3, inputs, "Range of mixed types",
                  "input 2 (delta): expected int64 like start, got int32", NULL);
    inputs [0] = s_test_scalar (ZI_BOOL, 0);
    inputs [1] = s_test_scalar (ZI_BOOL, 1);
    inputs [2] = s_test_scalar (ZI_BOOL, 1);
    s_test_fails (t, zi_node_new ("Range", "test"), 3, inputs, "Range of bools",
                  "Range at node 'test': input 0 is bool, expected float32, int32 or int64",
                  NULL);
}

void
zi_act_shape_test (zi_test_t *t)
{
    s_test_relabel (t);
    s_test_relabel_errors (t);
    s_test_shape (t);
    s_test_constant (t);
    s_test_cast (t);
    s_test_range (t);
}
