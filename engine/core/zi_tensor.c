/*  =========================================================================
    zi_tensor - N-d arrays with aligned, reference-counted data

    A tensor's data is 64-byte aligned so kernels can use aligned vector
    loads, and reference counted so the same buffer can be handed to an
    inproc ZeroMQ message (zmq_msg_init_data) and freed by whichever side
    lets go last.
    =========================================================================
*/

#include "zi_classes.h"

//  Sizes beyond this are refused: no model needs a 256 GiB tensor and the
//  limit keeps a hostile shape from asking malloc for the impossible.
#define ZI_TENSOR_MAX_BYTES (INT64_C (1) << 38)

void *
zi_alloc (size_t size)
{
    void *data = NULL;
    size_t rounded = (size + 63) & ~(size_t) 63;
    if (posix_memalign (&data, 64, rounded ? rounded: 64) != 0)
        return NULL;
    return data;
}

void
zi_free (void *data)
{
    free (data);
}

static void
s_free_aligned (void *data, void *hint)
{
    (void) hint;
    zi_free (data);
}

int64_t
zi_shape_count (int ndim, const int64_t *dims)
{
    int64_t count = 1;
    //  The overflow from the multiply's flag, not a division per axis:
    //  every pooled output's size is counted, on every hop
    for (int axis = 0; axis < ndim; axis++)
        if (dims [axis] < 0 || __builtin_mul_overflow (count, dims [axis], &count))
            return -1;
    return count;
}

void
zi_shape_strides (int ndim, const int64_t *dims, int64_t *strides)
{
    int64_t stride = 1;
    for (int axis = ndim - 1; axis >= 0; axis--) {
        strides [axis] = stride;
        stride *= dims [axis];
    }
}

char *
zi_shape_str (int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t used = snprintf (buf, size, "[");
    for (int axis = 0; axis < ndim && used < size; axis++)
        used += snprintf (buf + used, size - used, "%s%lld",
                          axis? ", ": "", (long long) dims [axis]);
    if (used < size)
        snprintf (buf + used, size - used, "]");
    return buf;
}

void
zi_tensor_set_shape (zi_tensor_t *self, zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    assert (self);
    assert (ndim >= 0 && ndim <= ZI_MAX_DIMS);
    self->dtype = dtype;
    self->ndim = ndim;
    for (int axis = 0; axis < ndim; axis++)
        self->dims [axis] = dims [axis];
    int64_t count = zi_shape_count (ndim, dims);
    self->nbytes = count < 0? 0: (size_t) count * zi_dtype_size (dtype);
}

static zi_tensor_t *
s_tensor_header (zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    if (zi_dtype_size (dtype) == 0) {
        zi_error ("unsupported element type %s", zi_dtype_name (dtype));
        return NULL;
    }
    if (ndim < 0 || ndim > ZI_MAX_DIMS) {
        zi_error ("tensor rank %d is out of range (0..%d)", ndim, ZI_MAX_DIMS);
        return NULL;
    }
    int64_t count = zi_shape_count (ndim, dims);
    char shape [128];
    if (count < 0 || count > ZI_TENSOR_MAX_BYTES / (int64_t) zi_dtype_size (dtype)) {
        zi_error ("tensor shape %s is negative or too large",
                  zi_shape_str (ndim, dims, shape, sizeof shape));
        return NULL;
    }
    zi_tensor_t *self = calloc (1, sizeof (zi_tensor_t));
    if (!self) {
        zi_error ("out of memory");
        return NULL;
    }
    zi_tensor_set_shape (self, dtype, ndim, dims);
    atomic_init (&self->refs, 1);
    return self;
}

zi_tensor_t *
zi_tensor_new (zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    zi_tensor_t *self = s_tensor_header (dtype, ndim, dims);
    if (!self)
        return NULL;
    self->data = zi_alloc (self->nbytes);
    if (!self->data) {
        zi_error ("out of memory for a tensor of %zu bytes", self->nbytes);
        free (self);
        return NULL;
    }
    self->free_fn = s_free_aligned;
    return self;
}

zi_tensor_t *
zi_tensor_wrap (zi_dtype_t dtype, int ndim, const int64_t *dims, void *data,
                void (*free_fn) (void *data, void *hint), void *hint)
{
    zi_tensor_t *self = s_tensor_header (dtype, ndim, dims);
    if (!self)
        return NULL;
    self->data = data;
    self->free_fn = free_fn;
    self->hint = hint;
    return self;
}

zi_tensor_t *
zi_tensor_ref (zi_tensor_t *self)
{
    assert (self);
    atomic_fetch_add_explicit (&self->refs, 1, memory_order_relaxed);
    return self;
}

void
zi_tensor_destroy (zi_tensor_t **self_p)
{
    assert (self_p);
    zi_tensor_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (atomic_fetch_sub_explicit (&self->refs, 1, memory_order_acq_rel) != 1)
        return;
    //  Read first: once free_fn has given the block back, another
    //  thread may already have taken it, this struct included
    bool shell_in_block = self->shell_in_block;
    if (self->free_fn)
        self->free_fn (self->data, self->hint);
    if (!shell_in_block)
        free (self);
}

zi_tensor_t *
zi_tensor_dup (const zi_tensor_t *self)
{
    assert (self);
    zi_tensor_t *copy = zi_tensor_new (self->dtype, self->ndim, self->dims);
    if (copy && self->nbytes)
        memcpy (copy->data, self->data, self->nbytes);
    return copy;
}

zi_dtype_t zi_tensor_dtype (const zi_tensor_t *self) { return self->dtype; }
int zi_tensor_ndim (const zi_tensor_t *self) { return self->ndim; }
const int64_t *zi_tensor_dims (const zi_tensor_t *self) { return self->dims; }
void *zi_tensor_data (const zi_tensor_t *self) { return self->data; }
size_t zi_tensor_nbytes (const zi_tensor_t *self) { return self->nbytes; }

size_t
zi_tensor_count (const zi_tensor_t *self)
{
    return (size_t) zi_shape_count (self->ndim, self->dims);
}

float *
zi_tensor_f32 (const zi_tensor_t *self)
{
    assert (self && self->dtype == ZI_F32);
    return (float *) self->data;
}

int64_t *
zi_tensor_i64 (const zi_tensor_t *self)
{
    assert (self && self->dtype == ZI_I64);
    return (int64_t *) self->data;
}

bool
zi_tensor_same_shape (const zi_tensor_t *a, const zi_tensor_t *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int axis = 0; axis < a->ndim; axis++)
        if (a->dims [axis] != b->dims [axis])
            return false;
    return true;
}

int
zi_input_ints (const zi_tensor_t *tensor, int64_t *values, int max, const char *what)
{
    if (!tensor)
        return 0;
    if (!tensor->data)
        return zi_error ("%s must be a constant known before the run", what);
    int64_t count = zi_tensor_count (tensor);
    if (count > max)
        return zi_error ("%s has %lld values, at most %d supported",
                         what, (long long) count, max);
    if (zi_dtype_is_int (tensor->dtype)) {
        zi_dtype_convert (values, ZI_I64, tensor->data, tensor->dtype, (size_t) count);
        return (int) count;
    }
    for (int64_t item = 0; item < count; item++) {
        if (tensor->dtype == ZI_F32) {
            //  A float outside int64's range (or NaN) would be undefined
            //  behaviour to convert
            float value = ((const float *) tensor->data) [item];
            if (!(value >= -9.2e18f && value <= 9.2e18f))
                return zi_error ("%s holds %g; expected values in int64's range", what,
                                 (double) value);
            values [item] = (int64_t) value;
        }
        else
            return zi_error ("%s must be int64, got %s", what, zi_dtype_name (tensor->dtype));
    }
    return (int) count;
}


void
zi_tensor_test (zi_test_t *t)
{
    int64_t dims [] = {2, 3, 5};
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, 3, dims);
    ZI_CHECK (t, tensor != NULL, "new tensor");
    ZI_CHECK (t, ((uintptr_t) zi_tensor_data (tensor) & 63) == 0, "64-byte aligned");
    ZI_CHECK (t, zi_tensor_count (tensor) == 30, "count 30, got %zu", zi_tensor_count (tensor));
    ZI_CHECK (t, zi_tensor_nbytes (tensor) == 120, "120 bytes");
    int64_t strides [3];
    zi_shape_strides (3, dims, strides);
    ZI_CHECK (t, strides [0] == 15 && strides [1] == 5 && strides [2] == 1, "strides");

    zi_tensor_t *other = zi_tensor_ref (tensor);
    zi_tensor_destroy (&tensor);
    ZI_CHECK (t, tensor == NULL, "destroy nulls the reference");
    ZI_CHECK (t, atomic_load (&other->refs) == 1, "one reference left");
    zi_tensor_t *copy = zi_tensor_dup (other);
    ZI_CHECK (t, zi_tensor_same_shape (copy, other), "dup keeps the shape");
    zi_tensor_destroy (&other);
    zi_tensor_destroy (&copy);
    zi_tensor_destroy (&copy);  //  safe twice

    int64_t absurd [] = {INT64_C (1) << 40, INT64_C (1) << 40};
    ZI_CHECK (t, zi_tensor_new (ZI_F32, 2, absurd) == NULL, "absurd shape refused");
    ZI_CHECK (t, strstr (zi_error_text (), "too large") != NULL,
              "error names the problem: %s", zi_error_text ());
    int64_t negative [] = {-2};
    ZI_CHECK (t, zi_tensor_new (ZI_F32, 1, negative) == NULL, "negative dim refused");
    ZI_CHECK (t, zi_tensor_new ((zi_dtype_t) 42, 1, dims) == NULL, "unknown dtype refused");

    char buf [64];
    ZI_CHECK (t, strcmp (zi_shape_str (3, dims, buf, sizeof buf), "[2, 3, 5]") == 0,
              "shape string, got %s", buf);
    ZI_CHECK (t, strcmp (zi_shape_str (0, dims, buf, sizeof buf), "[]") == 0, "scalar shape");
}
