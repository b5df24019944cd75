/*  =========================================================================
    zi_dtype - element types: their sizes and names, and conversion
    between them

    The codes are ONNX's TensorProto.DataType values (zinfer.h), so a model
    file, a wire header and a tensor all say the same number. Everything
    that depends on the list of dtypes asks here: an unknown code has size
    0, which tensors, the wire decoder and the .npy reader refuse with one
    line naming it.

    Conversion follows ONNX Cast. Where a value fits the target, every
    choice is ONNX Runtime's (checked against it on x86); where the spec
    leaves the result undefined, zinfer saturates:
    - float to integer truncates toward zero; to int64 and int32 it
      saturates (NaN gives the most negative value; x86, and so ONNX
      Runtime, gives the most negative value for every overflow), to int8
      and uint8 it keeps the low 8 bits of the int32 result, as a C++
      static_cast does;
    - integer to narrower integer keeps the low bits (two's complement);
    - float32 to float16 rounds to nearest, ties to even; beyond 65504
      (from 65520 on) it gives an infinity;
    - anything to bool is "not zero" (NaN is true); bool to anything 0 or 1.
    =========================================================================
*/

#include "zi_classes.h"

size_t
zi_dtype_size (int dtype)
{
    switch (dtype) {
        case ZI_F32:  return 4;
        case ZI_F16:  return 2;
        case ZI_I64:  return 8;
        case ZI_I32:  return 4;
        case ZI_I8:   return 1;
        case ZI_U8:   return 1;
        case ZI_BOOL: return 1;
        default:      return 0;
    }
}

const char *
zi_dtype_name (int dtype)
{
    static _Thread_local char other [32];
    switch (dtype) {
        case ZI_F32:  return "float32";
        case ZI_F16:  return "float16";
        case ZI_I64:  return "int64";
        case ZI_I32:  return "int32";
        case ZI_I8:   return "int8";
        case ZI_U8:   return "uint8";
        case ZI_BOOL: return "bool";
        default:
            snprintf (other, sizeof other, "dtype %d", dtype);
            return other;
    }
}

const char *
zi_dtype_list (void)
{
    return "float32, float16, int64, int32, int8, uint8, bool";
}

const char *
zi_onnx_type_name (int64_t type)
{
    static const char *names [] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
        "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
        "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"
    };
    int64_t known = (int64_t) (sizeof names / sizeof names [0]);
    return type >= 0 && type < known? names [type]: "unknown type";
}

bool
zi_dtype_is_int (int dtype)
{
    return dtype == ZI_I64 || dtype == ZI_I32 || dtype == ZI_I8 || dtype == ZI_U8;
}

bool
zi_dtype_widens (int from, int to)
{
    switch (from) {
        case ZI_I32:
            return to == ZI_I64;
        case ZI_I8: case ZI_U8:
            return to == ZI_I64 || to == ZI_I32;
        case ZI_F16:
            return to == ZI_F32;
        default:
            return false;
    }
}

float
zi_half_to_float (uint16_t half)
{
    uint32_t sign = (uint32_t) (half & 0x8000) << 16;
    uint32_t exponent = (half >> 10) & 0x1f;
    uint32_t mantissa = half & 0x3ff;
    uint32_t bits;
    if (exponent == 0) {
        //  Zero or subnormal: mantissa * 2^-24, exact in a float
        float value = (float) mantissa * 0x1p-24f;
        memcpy (&bits, &value, 4);
        bits |= sign;
    }
    else
    if (exponent == 31)         //  infinity, or NaN keeping its payload
        bits = sign | 0x7f800000 | (mantissa << 13);
    else
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    float value;
    memcpy (&value, &bits, 4);
    return value;
}

uint16_t
zi_float_to_half (float value)
{
    uint32_t bits;
    memcpy (&bits, &value, 4);
    uint16_t sign = (uint16_t) ((bits >> 16) & 0x8000);
    uint32_t magnitude = bits & 0x7fffffff;
    if (magnitude > 0x7f800000)                 //  NaN: quiet, payload's top bits
        return sign | 0x7e00 | (uint16_t) ((magnitude >> 13) & 0x1ff);
    if (magnitude >= 0x477ff000)                //  65520 and up: infinity
        return sign | 0x7c00;
    uint32_t mantissa, shift;
    if (magnitude >= 0x38800000) {              //  a normal half: 2^-14 and up
        mantissa = magnitude - 0x38000000;      //  rebias the exponent, 127 to 15
        shift = 13;
    }
    else {
        //  A subnormal half counts units of 2^-24; at most 2^-25 rounds to 0
        if (magnitude <= 0x33000000)
            return sign;
        uint32_t exponent = magnitude >> 23;
        mantissa = (magnitude & 0x7fffff) | 0x800000;
        shift = 126 - exponent;                 //  14 .. 24
    }
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1), tie = 1u << (shift - 1);
    //  To nearest, ties to even; a carry may go on into the exponent, which
    //  is the right encoding of the next power of two
    if (rest > tie || (rest == tie && (half & 1)))
        half++;
    return sign | (uint16_t) half;
}

//  Float to integer: toward zero, saturating; NaN to the most negative
static inline int64_t
s_float_to_i64 (float value)
{
    if (value >= 0x1p63f)
        return INT64_MAX;
    if (value > -0x1p63f)
        return (int64_t) value;
    return INT64_MIN;
}

static inline int32_t
s_float_to_i32 (float value)
{
    if (value >= 0x1p31f)
        return INT32_MAX;
    if (value > -0x1p31f)
        return (int32_t) value;
    return INT32_MIN;
}

//  One loop per pair of types: y [item] = expression of v, the source
//  element read as READ turns it into a float or an integer
#define S_LOOP(TF, TT, expression)                                          \
    do {                                                                    \
        const TF *x = (const TF *) src;                                     \
        TT *y = (TT *) dst;                                                 \
        for (size_t item = 0; item < count; item++) {                       \
            TF raw = x [item];                                              \
            (void) raw;                                                     \
            y [item] = (expression);                                        \
        }                                                                   \
    } while (0)

//  From a floating type: the value is READ (a float)
#define S_FROM_FLOAT(TF, READ)                                              \
    switch (to) {                                                           \
        case ZI_F32:  S_LOOP (TF, float, READ); break;                      \
        case ZI_F16:  S_LOOP (TF, uint16_t, zi_float_to_half (READ)); break;\
        case ZI_I64:  S_LOOP (TF, int64_t, s_float_to_i64 (READ)); break;   \
        case ZI_I32:  S_LOOP (TF, int32_t, s_float_to_i32 (READ)); break;   \
        case ZI_I8:   S_LOOP (TF, int8_t,                                   \
                              (int8_t) (uint8_t) (uint32_t) s_float_to_i32 (READ)); break; \
        case ZI_U8:   S_LOOP (TF, uint8_t, (uint8_t) (uint32_t) s_float_to_i32 (READ)); break; \
        case ZI_BOOL: S_LOOP (TF, uint8_t, (READ) != 0); break;             \
        default:      assert (false);                                       \
    }

//  From an integer type: the value is READ (an int64)
#define S_FROM_INT(TF, READ)                                                \
    switch (to) {                                                           \
        case ZI_F32:  S_LOOP (TF, float, (float) (READ)); break;            \
        case ZI_F16:  S_LOOP (TF, uint16_t, zi_float_to_half ((float) (READ))); break; \
        case ZI_I64:  S_LOOP (TF, int64_t, (READ)); break;                  \
        case ZI_I32:  S_LOOP (TF, int32_t, (int32_t) (uint32_t) (uint64_t) (READ)); break; \
        case ZI_I8:   S_LOOP (TF, int8_t, (int8_t) (uint8_t) (uint64_t) (READ)); break; \
        case ZI_U8:   S_LOOP (TF, uint8_t, (uint8_t) (uint64_t) (READ)); break; \
        case ZI_BOOL: S_LOOP (TF, uint8_t, (READ) != 0); break;             \
        default:      assert (false);                                       \
    }

void
zi_dtype_convert (void *dst, int to, const void *src, int from, size_t count)
{
    assert (zi_dtype_size (to) && zi_dtype_size (from));
    if (from == to) {
        if (dst != src && count)
            memmove (dst, src, count * zi_dtype_size (to));
        return;
    }
    switch (from) {
        case ZI_F32:  S_FROM_FLOAT (float, raw); break;
        case ZI_F16:  S_FROM_FLOAT (uint16_t, zi_half_to_float (raw)); break;
        case ZI_I64:  S_FROM_INT (int64_t, raw); break;
        case ZI_I32:  S_FROM_INT (int32_t, (int64_t) raw); break;
        case ZI_I8:   S_FROM_INT (int8_t, (int64_t) raw); break;
        case ZI_U8:   S_FROM_INT (uint8_t, (int64_t) raw); break;
        case ZI_BOOL: S_FROM_INT (uint8_t, (int64_t) (raw != 0)); break;
        default:      assert (false);
    }
}

zi_tensor_t *
zi_tensor_convert (const zi_tensor_t *self, zi_dtype_t to)
{
    assert (self && self->data);
    zi_tensor_t *copy = zi_tensor_new (to, self->ndim, self->dims);
    if (copy)
        zi_dtype_convert (copy->data, to, self->data, self->dtype, zi_tensor_count (self));
    return copy;
}

double
zi_dtype_get (const void *data, int dtype, size_t item)
{
    switch (dtype) {
        case ZI_F32:  return ((const float *) data) [item];
        case ZI_F16:  return zi_half_to_float (((const uint16_t *) data) [item]);
        case ZI_I64:  return (double) ((const int64_t *) data) [item];
        case ZI_I32:  return ((const int32_t *) data) [item];
        case ZI_I8:   return ((const int8_t *) data) [item];
        case ZI_U8:   return ((const uint8_t *) data) [item];
        case ZI_BOOL: return ((const uint8_t *) data) [item] != 0;
        default:      assert (false); return 0;
    }
}


//  --------------------------------------------------------------------------
//  Self test: sizes and names, float16 both ways against the definition,
//  every conversion of every pair on the values where the rules differ

//  The float16 value of a code, computed from the definition in double
static double
s_half_value (uint16_t code)
{
    int exponent = (code >> 10) & 0x1f, mantissa = code & 0x3ff;
    double sign = code & 0x8000? -1: 1;
    if (exponent == 0)
        return sign * ldexp (mantissa, -24);
    if (exponent == 31)
        return mantissa? NAN: sign * INFINITY;
    return sign * ldexp (mantissa | 0x400, exponent - 25);
}

//  The float16 nearest to a float, ties to even, by search over every
//  finite code (the reference for zi_float_to_half)
static uint16_t
s_half_nearest (float value)
{
    if (value != value)
        return 0x7e00;
    double target = fabs ((double) value);
    uint16_t sign = signbit (value)? 0x8000: 0;
    if (target >= 65520)
        return sign | 0x7c00;
    uint16_t best = 0;
    double best_gap = INFINITY;
    for (uint32_t code = 0; code < 0x7c00; code++) {
        double gap = fabs (s_half_value ((uint16_t) code) - target);
        if (gap < best_gap || (gap == best_gap && !(code & 1))) {
            best = (uint16_t) code;
            best_gap = gap;
        }
    }
    return sign | best;
}

void
zi_dtype_test (zi_test_t *t)
{
    int codes [] = {ZI_F32, ZI_F16, ZI_I64, ZI_I32, ZI_I8, ZI_U8, ZI_BOOL};
    size_t sizes [] = {4, 2, 8, 4, 1, 1, 1};
    const char *names [] = {"float32", "float16", "int64", "int32", "int8", "uint8", "bool"};
    for (int index = 0; index < 7; index++)
        ZI_CHECK (t, zi_dtype_size (codes [index]) == sizes [index]
                  && strcmp (zi_dtype_name (codes [index]), names [index]) == 0,
                  "%s: %zu bytes", names [index], sizes [index]);
    ZI_CHECK (t, zi_dtype_size (11) == 0 && strcmp (zi_dtype_name (11), "dtype 11") == 0,
              "double (11) is not a tensor dtype");
    ZI_CHECK (t, zi_dtype_size (0) == 0 && zi_dtype_size (16) == 0 && zi_dtype_size (-3) == 0,
              "unknown codes have size 0");

    //  Every half decodes to its value, and encodes back (NaNs stay NaN)
    int decoded = 0, round_trip = 0;
    for (uint32_t code = 0; code < 0x10000; code++) {
        double want = s_half_value ((uint16_t) code);
        float got = zi_half_to_float ((uint16_t) code);
        decoded += want == want? (double) got == want && !signbit (got) == !signbit (want)
                               : got != got;
        uint16_t back = zi_float_to_half (got);
        round_trip += want == want? back == code: (back & 0x7c00) == 0x7c00 && (back & 0x3ff);
    }
    ZI_CHECK (t, decoded == 0x10000, "every float16 code decodes exactly (%d)", decoded);
    ZI_CHECK (t, round_trip == 0x10000, "every float16 code encodes back (%d)", round_trip);

    //  Floats between halves: ties, subnormals, the edge of infinity,
    //  against a search for the nearest
    float probes [] = {
        1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-11f + 0x1p-20f, 2049.0f, 2051.0f,
        65504.0f, 65519.99f, 65520.0f, 1e6f, 0x1p-24f, 0x1p-25f, 0x1p-25f + 0x1p-40f,
        3 * 0x1p-25f, 0x1p-14f - 0x1p-26f, 0x1p-14f - 0x1p-25f, 1e-10f, 0.1f, 0.3333333f,
        -0.1f, -65520.0f, -0.0f, 3.14159265f, 1234.5678f, -7.0e-6f
    };
    int nearest = 0, n_probes = (int) (sizeof probes / sizeof probes [0]);
    for (int index = 0; index < n_probes; index++) {
        uint16_t got = zi_float_to_half (probes [index]), want = s_half_nearest (probes [index]);
        nearest += got == want;
        if (got != want)
            ZI_CHECK (t, false, "float16 of %.9g: 0x%04x, want 0x%04x", probes [index],
                      got, want);
    }
    //  And a sweep of pseudo-random floats over the half range
    uint32_t seed = 12345;
    for (int index = 0; index < 300; index++) {
        seed = seed * 1664525u + 1013904223u;
        float value = ldexpf ((float) (seed >> 8) / (1 << 24), (int) (seed % 40) - 26);
        if (seed & 1)
            value = -value;
        nearest += zi_float_to_half (value) == s_half_nearest (value);
        n_probes++;
    }
    ZI_CHECK (t, nearest == n_probes, "float16 rounds to nearest even (%d of %d)", nearest,
              n_probes);
    ZI_CHECK (t, zi_float_to_half (INFINITY) == 0x7c00 && zi_float_to_half (-INFINITY) == 0xfc00
              && (zi_float_to_half (NAN) & 0x7e00) == 0x7e00, "infinities and NaN");

    //  Conversions: each pair on values where the rules show
    float floats [] = {0, -0.0f, 1.9f, -1.9f, 2.5f, 127.5f, 300.7f, -129.2f, 3e9f, -3e9f,
                       1e20f, -1e20f, NAN, INFINITY, 65519.0f, 70000.0f};
    int n_floats = (int) (sizeof floats / sizeof floats [0]);
    int32_t as_i32 [16];
    int64_t as_i64 [16];
    int8_t as_i8 [16];
    uint8_t as_u8 [16], as_bool [16];
    uint16_t as_f16 [16];
    zi_dtype_convert (as_i32, ZI_I32, floats, ZI_F32, n_floats);
    zi_dtype_convert (as_i64, ZI_I64, floats, ZI_F32, n_floats);
    zi_dtype_convert (as_i8, ZI_I8, floats, ZI_F32, n_floats);
    zi_dtype_convert (as_u8, ZI_U8, floats, ZI_F32, n_floats);
    zi_dtype_convert (as_bool, ZI_BOOL, floats, ZI_F32, n_floats);
    zi_dtype_convert (as_f16, ZI_F16, floats, ZI_F32, n_floats);
    int32_t want_i32 [] = {0, 0, 1, -1, 2, 127, 300, -129, INT32_MAX, INT32_MIN, INT32_MAX,
                           INT32_MIN, INT32_MIN, INT32_MAX, 65519, 70000};
    int64_t want_i64 [] = {0, 0, 1, -1, 2, 127, 300, -129, 3000000000LL, -3000000000LL,
                           INT64_MAX, INT64_MIN, INT64_MIN, INT64_MAX, 65519, 70000};
    bool ok = true;
    for (int item = 0; item < n_floats; item++) {
        ok &= as_i32 [item] == want_i32 [item] && as_i64 [item] == want_i64 [item];
        ok &= as_i8 [item] == (int8_t) (uint8_t) (uint32_t) want_i32 [item];
        ok &= as_u8 [item] == (uint8_t) (uint32_t) want_i32 [item];
        ok &= as_bool [item] == (floats [item] != 0);
        ok &= as_f16 [item] == zi_float_to_half (floats [item]);
    }
    ZI_CHECK (t, ok, "float32 to every integer type: toward zero, saturating, low bits");
    ZI_CHECK (t, as_u8 [6] == 44 && as_i8 [7] == 127 && as_i8 [5] == 127 && as_f16 [15] == 0x7c00,
              "300.7 to uint8 is 44, -129.2 to int8 127, 70000 to float16 inf");

    int64_t ints [] = {0, 1, -1, 255, 256, -128, 129, 2147483648LL, -2147483649LL, 2049,
                       INT64_MAX, INT64_MIN};
    int n_ints = (int) (sizeof ints / sizeof ints [0]);
    float ints_f32 [12];
    zi_dtype_convert (as_i32, ZI_I32, ints, ZI_I64, n_ints);
    zi_dtype_convert (as_i8, ZI_I8, ints, ZI_I64, n_ints);
    zi_dtype_convert (as_u8, ZI_U8, ints, ZI_I64, n_ints);
    zi_dtype_convert (as_f16, ZI_F16, ints, ZI_I64, n_ints);
    zi_dtype_convert (ints_f32, ZI_F32, ints, ZI_I64, n_ints);
    ok = true;
    for (int item = 0; item < n_ints; item++) {
        ok &= as_i32 [item] == (int32_t) (uint32_t) (uint64_t) ints [item];
        ok &= as_i8 [item] == (int8_t) (uint8_t) (uint64_t) ints [item];
        ok &= as_u8 [item] == (uint8_t) (uint64_t) ints [item];
        ok &= ints_f32 [item] == (float) ints [item];
        ok &= as_f16 [item] == zi_float_to_half ((float) ints [item]);
    }
    ZI_CHECK (t, ok && as_i32 [7] == INT32_MIN && as_u8 [4] == 0 && as_i8 [6] == -127
              && as_f16 [9] == 0x6800, "int64 to narrower types keeps the low bits");

    //  Narrow to wide, and bool both ways
    int8_t small [] = {-128, -1, 0, 1, 127};
    uint8_t bytes [] = {0, 1, 2, 128, 255};
    int64_t wide [5];
    float real [5];
    zi_dtype_convert (wide, ZI_I64, small, ZI_I8, 5);
    ZI_CHECK (t, wide [0] == -128 && wide [1] == -1 && wide [4] == 127, "int8 sign-extends");
    zi_dtype_convert (real, ZI_F32, bytes, ZI_U8, 5);
    ZI_CHECK (t, real [3] == 128 && real [4] == 255, "uint8 to float32");
    zi_dtype_convert (wide, ZI_I64, bytes, ZI_BOOL, 5);
    ZI_CHECK (t, wide [0] == 0 && wide [2] == 1 && wide [4] == 1, "bool reads as 0 or 1");
    uint16_t halves [] = {0x3c00, 0xc500, 0x7c00, 0x0001, 0x7e00};
    zi_dtype_convert (wide, ZI_I64, halves, ZI_F16, 5);
    zi_dtype_convert (real, ZI_F32, halves, ZI_F16, 5);
    ZI_CHECK (t, wide [0] == 1 && wide [1] == -5 && wide [2] == INT64_MAX && wide [3] == 0
              && wide [4] == INT64_MIN && real [3] == 0x1p-24f, "float16 to int64 and float32");
    ZI_CHECK (t, zi_dtype_get (halves, ZI_F16, 1) == -5 && zi_dtype_get (small, ZI_I8, 0) == -128
              && zi_dtype_get (bytes, ZI_U8, 4) == 255, "zi_dtype_get reads any type");
    ZI_CHECK (t, zi_dtype_widens (ZI_I32, ZI_I64) && zi_dtype_widens (ZI_F16, ZI_F32)
              && zi_dtype_widens (ZI_U8, ZI_I32) && !zi_dtype_widens (ZI_I64, ZI_I32)
              && !zi_dtype_widens (ZI_F32, ZI_F16) && !zi_dtype_widens (ZI_U8, ZI_F32),
              "exact widenings only");

    //  A tensor converted whole
    zi_tensor_t *tensor = zi_test_tensor (1, (int64_t []) {3}, (float []) {0.5f, -2.75f, 1e5f});
    zi_tensor_t *half = zi_tensor_convert (tensor, ZI_F16);
    ZI_CHECK (t, half && half->dtype == ZI_F16 && half->nbytes == 6
              && ((uint16_t *) half->data) [0] == 0x3800 && ((uint16_t *) half->data) [1] == 0xc180
              && ((uint16_t *) half->data) [2] == 0x7c00, "a tensor to float16");
    zi_tensor_destroy (&half);
    zi_tensor_destroy (&tensor);
}
