/*  =========================================================================
    zi_test - helpers for the self tests of every class and op family
    =========================================================================
*/

#include "zi_classes.h"

void
zi_test_check (zi_test_t *t, bool ok, const char *file, int line, const char *format, ...)
{
    t->checks++;
    if (ok && !t->verbose)
        return;
    if (!ok)
        t->fails++;
    char text [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    fprintf (ok? stdout: stderr, "%s %s:%d: %s\n", ok? "ok  ": "FAIL", file, line, text);
}

bool
zi_test_close (zi_test_t *t, const char *file, int line, const char *what,
               const float *got, const float *want, size_t n, float atol, float rtol)
{
    size_t worst = 0;
    double worst_excess = -1;
    bool ok = true;
    for (size_t item = 0; item < n; item++) {
        double diff = fabs ((double) got [item] - (double) want [item]);
        double allowed = atol + rtol * fabs ((double) want [item]);
        double excess = isnan (diff)? INFINITY: diff - allowed;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = item;
        }
        if (!(diff <= allowed))
            ok = false;
    }
    if (n == 0)
        zi_test_check (t, true, file, line, "%s: empty", what);
    else
        zi_test_check (t, ok, file, line, "%s: %zu values, worst at [%zu]: got %.7g want %.7g",
                       what, n, worst, got [worst], want [worst]);
    return ok;
}


zi_tensor_t *
zi_test_tensor (int ndim, const int64_t *dims, const float *values)
{
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, ndim, dims);
    assert (tensor);
    memcpy (tensor->data, values, tensor->nbytes);
    return tensor;
}

zi_tensor_t *
zi_test_random (int ndim, const int64_t *dims, uint32_t seed)
{
    zi_tensor_t *tensor = zi_tensor_new (ZI_F32, ndim, dims);
    assert (tensor);
    float *data = tensor->data;
    uint32_t state = seed * 2654435761u + 1;
    for (size_t item = 0; item < zi_tensor_count (tensor); item++) {
        //  xorshift32: reproducible across platforms, unlike rand ()
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        data [item] = (float) ((state >> 8) * (2.0 / 16777216.0) - 1.0);
    }
    return tensor;
}

zi_tensor_t *
zi_test_ints (int n, const int64_t *values)
{
    int64_t dims [1] = {n};
    zi_tensor_t *tensor = zi_tensor_new (ZI_I64, 1, dims);
    assert (tensor);
    memcpy (tensor->data, values, n * sizeof (int64_t));
    return tensor;
}

zi_tensor_t *
zi_test_scalar (float value)
{
    return zi_test_tensor (0, NULL, &value);
}

zi_tensor_t *
zi_test_data (zi_dtype_t dtype, int ndim, const int64_t *dims, uint32_t seed)
{
    if (dtype == ZI_F32)
        return zi_test_random (ndim, dims, seed);
    zi_tensor_t *tensor = zi_tensor_new (dtype, ndim, dims);
    assert (tensor);
    size_t count = zi_tensor_count (tensor);
    for (size_t item = 0; item < count; item++) {
        int64_t value = (int64_t) ((item + 1) * 2654435761u ^ seed) % 1000 - 500;
        switch (dtype) {
            case ZI_I64:
                ((int64_t *) tensor->data) [item] = value * 1000003;
                break;
            case ZI_I32:
                ((int32_t *) tensor->data) [item] = (int32_t) value * 1009;
                break;
            case ZI_I8:
                ((int8_t *) tensor->data) [item] = (int8_t) (value % 128);
                break;
            case ZI_U8:
                ((uint8_t *) tensor->data) [item] = (uint8_t) (value + 500) % 256;
                break;
            case ZI_F16:
                ((uint16_t *) tensor->data) [item] = zi_float_to_half ((float) value / 256);
                break;
            default:
                ((uint8_t *) tensor->data) [item] = (value & 4) != 0;
        }
    }
    return tensor;
}

zi_tensor_t *
zi_test_shape_only (zi_dtype_t dtype, int ndim, const int64_t *dims)
{
    zi_tensor_t *tensor = zi_tensor_wrap (dtype, ndim, dims, NULL, NULL, NULL);
    assert (tensor);
    return tensor;
}
