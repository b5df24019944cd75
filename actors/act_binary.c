/*  =========================================================================
    act_binary - element-wise ops on two or more inputs with numpy
    (multidirectional) broadcasting

    Arithmetic: Add, Sub, Mul, Div, Pow, Mod, Min, Max, Sum, Mean (float32
    and int64; Min, Max, Sum and Mean take 1..N inputs), PRelu (float32,
    slope broadcast to X). Comparisons: Equal, Less, Greater, LessOrEqual,
    GreaterOrEqual (bool out). Logic: And, Or, Xor. Selection: Where (any
    dtype).

    Broadcasting is planned once per shape in prepare: the output shape is
    collapsed to as few axes as possible (neighbouring axes merge when
    every operand is either full or broadcast on both), so the innermost
    axis is the longest contiguous run. Each run is handed to a row
    function whose inner loop reads every operand with stride 1 or 0,
    which the compiler turns into plain vector code. Same-shape inputs,
    tensor op scalar and per-channel [N, C, H, W] op [C, 1, 1] all end up
    as one or a few long rows. The float rows of Add, Sub, Mul, Div and
    Add + Relu, which networks run most (residuals, squeeze-and-excite
    scales), have AVX2 and AVX-512 forms with masked tails, chosen by the
    level in use; they give the portable rows' bits.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"

//  Most inputs a variadic op (Min, Max, Sum, Mean) accepts
#define S_MAX_INPUTS 64
//  Most operands one broadcast plan reads (Where reads three)
#define S_MAX_OPERANDS 3
//  Rows are cut into pieces of at most this many elements so that a fused
//  activation runs over data that is still in L1
#define S_CHUNK 4096

//  Input dtypes the ops accept
#define S_F32       ZI_DT (ZI_F32)
#define S_BOOL      ZI_DT (ZI_BOOL)
#define S_NUM       ZI_DT_NUMERIC
#define S_POW_SIDE  (ZI_DT (ZI_F32) | ZI_DT (ZI_I64) | ZI_DT (ZI_I32))

//  Every op of the family, one row each: ROW (OnnxOpType, fewest inputs,
//  most inputs, honours a fused activation, dtypes per input slot). A row
//  makes the op's kind S_<OnnxOpType> and its table entry zi_op_<OnnxOpType>
//  (at the end of the kernel), whose .row tells the shared init which op
//  it is building. Add..Div come first: their opset 6 form is refused as
//  a range of kinds. Every arithmetic op
//  honours node->act on its output; comparisons, logic and Where produce
//  bools or move data and take no activation.
#define S_BINARY_OPS(ROW)                                   \
    ROW (Add, 2, 2, true, ZI_DT_EVERY (S_NUM))              \
    ROW (Sub, 2, 2, true, ZI_DT_EVERY (S_NUM))              \
    ROW (Mul, 2, 2, true, ZI_DT_EVERY (S_NUM))              \
    ROW (Div, 2, 2, true, ZI_DT_EVERY (S_NUM))              \
    ROW (Pow, 2, 2, true, ZI_DT_EVERY (S_POW_SIDE))         \
    ROW (Min, 1, S_MAX_INPUTS, true, ZI_DT_EVERY (S_NUM))   \
    ROW (Max, 1, S_MAX_INPUTS, true, ZI_DT_EVERY (S_NUM))   \
    ROW (Sum, 1, S_MAX_INPUTS, true, ZI_DT_EVERY (S_NUM))   \
    ROW (Mean, 1, S_MAX_INPUTS, true, ZI_DT_EVERY (S_F32))  \
    ROW (PRelu, 2, 2, true, ZI_DT_EVERY (S_F32))            \
    ROW (Equal, 2, 2, false, ZI_DT_EVERY (S_NUM | S_BOOL))  \
    ROW (Less, 2, 2, false, ZI_DT_EVERY (S_NUM))            \
    ROW (Greater, 2, 2, false, ZI_DT_EVERY (S_NUM))         \
    ROW (LessOrEqual, 2, 2, false, ZI_DT_EVERY (S_NUM))     \
    ROW (GreaterOrEqual, 2, 2, false, ZI_DT_EVERY (S_NUM))  \
    ROW (And, 2, 2, false, ZI_DT_EVERY (S_BOOL))            \
    ROW (Or, 2, 2, false, ZI_DT_EVERY (S_BOOL))             \
    ROW (Xor, 2, 2, false, ZI_DT_EVERY (S_BOOL))            \
    ROW (Where, 3, 3, false, {S_BOOL})                      \
    ROW (Mod, 2, 2, true, ZI_DT_EVERY (S_NUM))

#define S_KIND(Name, min, max, fuse, accepted) S_##Name,
typedef enum {
    S_BINARY_OPS (S_KIND)
    S_FMOD                      //  Mod with fmod = 1 (not a row: an attribute of Mod)
} s_kind_t;
#undef S_KIND

//  How one output shape is walked: collapsed axes and, per operand, the
//  element stride along each (0 where the operand is broadcast)
typedef struct {
    int n_operands;             //  operands read
    int ndim;                   //  collapsed rank, at least 1
    int64_t dims [ZI_MAX_DIMS]; //  collapsed output extents
    int64_t strides [S_MAX_OPERANDS][ZI_MAX_DIMS];  //  per operand, in elements
    int64_t count;              //  output elements
} s_plan_t;

typedef struct {
    s_kind_t kind;              //  the op; Mod with fmod = 1 is S_FMOD
    int n_plans;                //  plans made by prepare
    s_plan_t *plans;            //  one per fold step: (in0, in1), (out, in2)...
} s_binary_t;

//  A row function computes n outputs from up to three operands; bit k of
//  pattern says operand k advances (stride 1) rather than stays (stride 0)
typedef void (*s_row_fn) (void *y, const void *a, const void *b, const void *c,
                          int64_t n, int pattern);


//  --------------------------------------------------------------------------
//  Row functions. Each body is written once; the switch calls it with
//  constant strides so the compiler makes one vectorised loop per pattern.
//  The broadcast operand is read before the loop: the output may alias an
//  input (in-place execution) and the compiler must not reload it.

#define S_ROW2(name, TA, TB, TY, expr)                                        \
static inline __attribute__ ((always_inline)) void                          \
s_##name##_loop (TY *y, const TA *a, const TB *b, int64_t n, bool va, bool vb) \
{                                                                           \
    TA a0 = a [0];                                                          \
    TB b0 = b [0];                                                          \
    for (int64_t item = 0; item < n; item++) {                              \
        TA x = va? a [item]: a0;                                            \
        TB z = vb? b [item]: b0;                                            \
        (void) z;                                                           \
        y [item] = (expr);                                                  \
    }                                                                       \
}                                                                           \
static void                                                                 \
s_##name (void *y, const void *a, const void *b, const void *c,             \
          int64_t n, int pattern)                                           \
{                                                                           \
    switch (pattern & 3) {                                                  \
        case 3: s_##name##_loop (y, a, b, n, true, true); break;            \
        case 1: s_##name##_loop (y, a, b, n, true, false); break;           \
        case 2: s_##name##_loop (y, a, b, n, false, true); break;           \
        default: s_##name##_loop (y, a, b, n, false, false);                \
    }                                                                       \
}

//  int64 arithmetic wraps like the hardware instead of being undefined
#define S_WRAP(op) ((int64_t) ((uint64_t) x op (uint64_t) z))

static int64_t
s_ipow (int64_t base, int64_t exponent)
{
    if (exponent < 0)       //  1 / base^n, truncated toward zero
        return base == 1? 1: base == -1? (exponent & 1? -1: 1): 0;
    uint64_t result = 1, factor = (uint64_t) base;
    while (exponent) {
        if (exponent & 1)
            result *= factor;
        factor *= factor;
        exponent >>= 1;
    }
    return (int64_t) result;
}

S_ROW2 (add_f32, float, float, float, x + z)
//  Add + Relu in one pass (residual blocks); the same expression as
//  zi_act_apply's Relu, so the result is bit for bit the two-pass one
S_ROW2 (add_relu_f32, float, float, float, (x + z) < 0? 0: (x + z))
S_ROW2 (sub_f32, float, float, float, x - z)
S_ROW2 (mul_f32, float, float, float, x * z)
S_ROW2 (div_f32, float, float, float, x / z)
S_ROW2 (pow_f32, float, float, float, powf (x, z))
S_ROW2 (pow_f32_i64, float, int64_t, float, powf (x, (float) z))
S_ROW2 (square_f32, float, float, float, x * x)
//  Min and Max propagate NaN like numpy's minimum and maximum
S_ROW2 (min_f32, float, float, float, (x < z || x != x)? x: z)
S_ROW2 (max_f32, float, float, float, (x > z || x != x)? x: z)
S_ROW2 (prelu_f32, float, float, float, x < 0? x * z: x)
S_ROW2 (add_i64, int64_t, int64_t, int64_t, S_WRAP (+))
S_ROW2 (sub_i64, int64_t, int64_t, int64_t, S_WRAP (-))
S_ROW2 (mul_i64, int64_t, int64_t, int64_t, S_WRAP (*))
//  ONNX integer Div truncates toward zero, as C does; zero divisors are
//  refused before the row runs, and -1 is special-cased because
//  INT64_MIN / -1 traps on x86
S_ROW2 (div_i64, int64_t, int64_t, int64_t,
        z == -1? (int64_t) (0 - (uint64_t) x): x / z)
S_ROW2 (pow_i64, int64_t, int64_t, int64_t, s_ipow (x, z))
static inline float
s_floor_mod_f32 (float x, float z)
{
    float r = fmodf (x, z);
    return r != 0 && (r < 0) != (z < 0)? r + z: r;
}
static inline int64_t
s_floor_mod_i64 (int64_t x, int64_t z)
{
    int64_t r = z == -1? 0: x % z;
    return r != 0 && (r < 0) != (z < 0)? r + z: r;
}
S_ROW2 (mod_f32, float, float, float, s_floor_mod_f32 (x, z))
S_ROW2 (fmod_f32, float, float, float, fmodf (x, z))
//  Divisors of zero are refused before; -1 because INT64_MIN % -1 traps
S_ROW2 (mod_i64, int64_t, int64_t, int64_t, s_floor_mod_i64 (x, z))
S_ROW2 (fmod_i64, int64_t, int64_t, int64_t, z == -1? 0: x % z)
S_ROW2 (min_i64, int64_t, int64_t, int64_t, x < z? x: z)
S_ROW2 (max_i64, int64_t, int64_t, int64_t, x > z? x: z)
S_ROW2 (equal_f32, float, float, uint8_t, x == z)
S_ROW2 (less_f32, float, float, uint8_t, x < z)
S_ROW2 (greater_f32, float, float, uint8_t, x > z)
S_ROW2 (less_equal_f32, float, float, uint8_t, x <= z)
S_ROW2 (greater_equal_f32, float, float, uint8_t, x >= z)
S_ROW2 (equal_i64, int64_t, int64_t, uint8_t, x == z)
S_ROW2 (less_i64, int64_t, int64_t, uint8_t, x < z)
S_ROW2 (greater_i64, int64_t, int64_t, uint8_t, x > z)
S_ROW2 (less_equal_i64, int64_t, int64_t, uint8_t, x <= z)
S_ROW2 (greater_equal_i64, int64_t, int64_t, uint8_t, x >= z)
//  int32 (shape arithmetic of some exporters), int8 and uint8 as int64:
//  wrapping, truncating division, a zero divisor refused before the row.
//  The 8-bit ones compute in int after C's promotion and keep the low bits
#define S_WRAP32(op) ((int32_t) ((uint32_t) x op (uint32_t) z))
S_ROW2 (add_i32, int32_t, int32_t, int32_t, S_WRAP32 (+))
S_ROW2 (sub_i32, int32_t, int32_t, int32_t, S_WRAP32 (-))
S_ROW2 (mul_i32, int32_t, int32_t, int32_t, S_WRAP32 (*))
S_ROW2 (div_i32, int32_t, int32_t, int32_t,
        z == -1? (int32_t) (0 - (uint32_t) x): x / z)
S_ROW2 (pow_i32, int32_t, int32_t, int32_t, (int32_t) (uint32_t) (uint64_t) s_ipow (x, z))
S_ROW2 (pow_f32_i32, float, int32_t, float, powf (x, (float) z))
#define S_INT_ROWS(T, t)                                                    \
    S_ROW2 (min_##t, T, T, T, x < z? x: z)                                  \
    S_ROW2 (max_##t, T, T, T, x > z? x: z)                                  \
    S_ROW2 (equal_##t, T, T, uint8_t, x == z)                               \
    S_ROW2 (less_##t, T, T, uint8_t, x < z)                                 \
    S_ROW2 (greater_##t, T, T, uint8_t, x > z)                              \
    S_ROW2 (less_equal_##t, T, T, uint8_t, x <= z)                          \
    S_ROW2 (greater_equal_##t, T, T, uint8_t, x >= z)
S_INT_ROWS (int32_t, i32)
S_INT_ROWS (int8_t, i8)
S_INT_ROWS (uint8_t, u8)
S_ROW2 (add_i8, int8_t, int8_t, int8_t, (int8_t) (uint8_t) (x + z))
S_ROW2 (sub_i8, int8_t, int8_t, int8_t, (int8_t) (uint8_t) (x - z))
S_ROW2 (mul_i8, int8_t, int8_t, int8_t, (int8_t) (uint8_t) (x * z))
S_ROW2 (div_i8, int8_t, int8_t, int8_t, (int8_t) (uint8_t) (x / z))
//  Mod on the narrower integers: the int64 rule, the result fits
S_ROW2 (mod_i32, int32_t, int32_t, int32_t, (int32_t) s_floor_mod_i64 (x, z))
S_ROW2 (fmod_i32, int32_t, int32_t, int32_t, z == -1? 0: x % z)
S_ROW2 (mod_i8, int8_t, int8_t, int8_t, (int8_t) s_floor_mod_i64 (x, z))
S_ROW2 (fmod_i8, int8_t, int8_t, int8_t, (int8_t) (x % z))
S_ROW2 (mod_u8, uint8_t, uint8_t, uint8_t, (uint8_t) (x % z))
S_ROW2 (fmod_u8, uint8_t, uint8_t, uint8_t, (uint8_t) (x % z))
S_ROW2 (add_u8, uint8_t, uint8_t, uint8_t, (uint8_t) (x + z))
S_ROW2 (sub_u8, uint8_t, uint8_t, uint8_t, (uint8_t) (x - z))
S_ROW2 (mul_u8, uint8_t, uint8_t, uint8_t, (uint8_t) (x * z))
S_ROW2 (div_u8, uint8_t, uint8_t, uint8_t, (uint8_t) (x / z))
//  Bools are read as "non-zero" so a stray 2 in a buffer cannot leak out
S_ROW2 (equal_bool, uint8_t, uint8_t, uint8_t, (x != 0) == (z != 0))
S_ROW2 (and_bool, uint8_t, uint8_t, uint8_t, (x != 0) & (z != 0))
S_ROW2 (or_bool, uint8_t, uint8_t, uint8_t, (x != 0) | (z != 0))
S_ROW2 (xor_bool, uint8_t, uint8_t, uint8_t, (x != 0) ^ (z != 0))

//  Where copies elements by size, so one row serves every dtype
#define S_WHERE_ROW(name, T)                                                \
static inline __attribute__ ((always_inline)) void                          \
s_##name##_loop (T *y, const uint8_t *c, const T *a, const T *b, int64_t n, \
                 bool vc, bool va, bool vb)                                 \
{                                                                           \
    uint8_t c0 = c [0];                                                     \
    T a0 = a [0], b0 = b [0];                                               \
    for (int64_t item = 0; item < n; item++)                                \
        y [item] = (vc? c [item]: c0)? (va? a [item]: a0): (vb? b [item]: b0); \
}                                                                           \
static void                                                                 \
s_##name (void *y, const void *c, const void *a, const void *b,             \
          int64_t n, int pattern)                                           \
{                                                                           \
    switch (pattern & 7) {                                                  \
        case 7: s_##name##_loop (y, c, a, b, n, true, true, true); break;   \
        case 6: s_##name##_loop (y, c, a, b, n, false, true, true); break;  \
        case 5: s_##name##_loop (y, c, a, b, n, true, false, true); break;  \
        case 4: s_##name##_loop (y, c, a, b, n, false, false, true); break; \
        case 3: s_##name##_loop (y, c, a, b, n, true, true, false); break;  \
        case 2: s_##name##_loop (y, c, a, b, n, false, true, false); break;  \
        case 1: s_##name##_loop (y, c, a, b, n, true, false, false); break;  \
        default: s_##name##_loop (y, c, a, b, n, false, false, false);      \
    }                                                                       \
}

S_WHERE_ROW (where_8, uint8_t)
S_WHERE_ROW (where_16, uint16_t)
S_WHERE_ROW (where_32, uint32_t)
S_WHERE_ROW (where_64, uint64_t)

//  The float rows of the common arithmetic with vectors of the level in
//  use, the last elements masked (a row of a 7 x 7 plane is 49 floats).
//  Each lane is the IEEE sum, difference, product or quotient the
//  portable row makes, and max (0, s) is s < 0? 0: s for NaN and -0 too
//  (maxps returns its second operand, s, then), so every level gives the
//  same bits.
#if defined (ZI_HAVE_AVX2)
static ZI_AVX2_INLINE __m256
s_relu8 (__m256 sum)
{
    return _mm256_max_ps (_mm256_setzero_ps (), sum);
}

//  Do n floats from y and from x lie apart? A row whose output is not
//  also one of its inputs (in place, as the later inputs of Sum are
//  folded into the output) ends in one whole step of eight that ends on
//  the row's end, over outputs of the step before: the same inputs give
//  the same bits again. A masked store (vmaskmovps) costs Zen 3 far more
//  than its one instruction; the squeeze-and-excite scales of
//  mobilenet_v3 end each of their 196- and 49-float rows in one.
static inline bool
s_apart (const float *y, const float *x, int64_t n)
{
    uintptr_t from = (uintptr_t) y, other = (uintptr_t) x;
    size_t bytes = (size_t) n * sizeof (float);
    return from + bytes <= other || other + bytes <= from;
}

#define S_ROW_AVX2(name, combine)                                           \
static ZI_AVX2_INLINE void                                                  \
s_##name##_avx2_loop (float *y, const float *a, const float *b, int64_t n,  \
                      bool va, bool vb)                                     \
{                                                                           \
    __m256 a0 = _mm256_set1_ps (a [0]), b0 = _mm256_set1_ps (b [0]);        \
    int64_t item = 0;                                                       \
    for (; item + 8 <= n; item += 8) {                                      \
        __m256 x = va? _mm256_loadu_ps (a + item): a0;                      \
        __m256 z = vb? _mm256_loadu_ps (b + item): b0;                      \
        _mm256_storeu_ps (y + item, combine);                               \
    }                                                                       \
    if (item < n && n >= 8 && (!va || s_apart (y, a, n))                    \
    &&  (!vb || s_apart (y, b, n))) {                                       \
        item = n - 8;                                                       \
        __m256 x = va? _mm256_loadu_ps (a + item): a0;                      \
        __m256 z = vb? _mm256_loadu_ps (b + item): b0;                      \
        _mm256_storeu_ps (y + item, combine);                               \
    }                                                                       \
    else                                                                    \
    if (item < n) {                                                         \
        __m256i mask = zi_tail_mask_avx2 (n - item);                        \
        __m256 x = va? _mm256_maskload_ps (a + item, mask): a0;             \
        __m256 z = vb? _mm256_maskload_ps (b + item, mask): b0;             \
        _mm256_maskstore_ps (y + item, mask, combine);                      \
    }                                                                       \
}                                                                           \
static ZI_AVX2 void                                                         \
s_##name##_avx2 (void *y, const void *a, const void *b, const void *c,      \
                 int64_t n, int pattern)                                    \
{                                                                           \
    switch (pattern & 3) {                                                  \
        case 3: s_##name##_avx2_loop (y, a, b, n, true, true); break;       \
        case 1: s_##name##_avx2_loop (y, a, b, n, true, false); break;      \
        case 2: s_##name##_avx2_loop (y, a, b, n, false, true); break;      \
        default: s_##name##_avx2_loop (y, a, b, n, false, false);           \
    }                                                                       \
}

S_ROW_AVX2 (add_f32, _mm256_add_ps (x, z))
S_ROW_AVX2 (add_relu_f32, s_relu8 (_mm256_add_ps (x, z)))
S_ROW_AVX2 (sub_f32, _mm256_sub_ps (x, z))
S_ROW_AVX2 (mul_f32, _mm256_mul_ps (x, z))
S_ROW_AVX2 (div_f32, _mm256_div_ps (x, z))
#endif

#if defined (ZI_HAVE_AVX512)
static ZI_AVX512_INLINE __m512
s_relu16 (__m512 sum)
{
    return _mm512_max_ps (_mm512_setzero_ps (), sum);
}

#define S_ROW_AVX512(name, combine)                                         \
static ZI_AVX512_INLINE void                                                \
s_##name##_avx512_loop (float *y, const float *a, const float *b, int64_t n, \
                        bool va, bool vb)                                   \
{                                                                           \
    __m512 a0 = _mm512_set1_ps (a [0]), b0 = _mm512_set1_ps (b [0]);        \
    int64_t item = 0;                                                       \
    for (; item + 16 <= n; item += 16) {                                    \
        __m512 x = va? _mm512_loadu_ps (a + item): a0;                      \
        __m512 z = vb? _mm512_loadu_ps (b + item): b0;                      \
        _mm512_storeu_ps (y + item, combine);                               \
    }                                                                       \
    if (item < n) {                                                         \
        __mmask16 mask = (__mmask16) ((1u << (n - item)) - 1);              \
        __m512 x = va? _mm512_maskz_loadu_ps (mask, a + item): a0;          \
        __m512 z = vb? _mm512_maskz_loadu_ps (mask, b + item): b0;          \
        _mm512_mask_storeu_ps (y + item, mask, combine);                    \
    }                                                                       \
}                                                                           \
static ZI_AVX512 void                                                       \
s_##name##_avx512 (void *y, const void *a, const void *b, const void *c,    \
                   int64_t n, int pattern)                                  \
{                                                                           \
    switch (pattern & 3) {                                                  \
        case 3: s_##name##_avx512_loop (y, a, b, n, true, true); break;     \
        case 1: s_##name##_avx512_loop (y, a, b, n, true, false); break;    \
        case 2: s_##name##_avx512_loop (y, a, b, n, false, true); break;    \
        default: s_##name##_avx512_loop (y, a, b, n, false, false);         \
    }                                                                       \
}

S_ROW_AVX512 (add_f32, _mm512_add_ps (x, z))
S_ROW_AVX512 (add_relu_f32, s_relu16 (_mm512_add_ps (x, z)))
S_ROW_AVX512 (sub_f32, _mm512_sub_ps (x, z))
S_ROW_AVX512 (mul_f32, _mm512_mul_ps (x, z))
S_ROW_AVX512 (div_f32, _mm512_div_ps (x, z))
#endif

//  One of the rows above at the level in use, else the portable one
#if defined (ZI_HAVE_AVX512)
#   define S_LEVEL_ROW(name)                                                \
        (zi_use_avx512 ()? s_##name##_avx512: zi_use_avx2 ()? s_##name##_avx2: s_##name)
#elif defined (ZI_HAVE_AVX2)
#   define S_LEVEL_ROW(name) (zi_use_avx2 ()? s_##name##_avx2: s_##name)
#else
#   define S_LEVEL_ROW(name) (s_##name)
#endif

//  The row function for an op on operands of the given dtypes; NULL when
//  the combination is not supported (infer has refused it already)
static s_row_fn
s_row_select (s_kind_t kind, zi_dtype_t a, zi_dtype_t b)
{
    //  One row per dtype: float32, int64, int32, int8, uint8
    #define S_PICK(f32, i64, i32, i8, u8)                                   \
        (a == ZI_F32? (f32): a == ZI_I64? (i64): a == ZI_I32? (i32):        \
         a == ZI_I8? (i8): a == ZI_U8? (u8): NULL)
    switch (kind) {
        case S_Add: case S_Sum: case S_Mean:
            return S_PICK (S_LEVEL_ROW (add_f32), s_add_i64, s_add_i32, s_add_i8, s_add_u8);
        case S_Sub:
            return S_PICK (S_LEVEL_ROW (sub_f32), s_sub_i64, s_sub_i32, s_sub_i8, s_sub_u8);
        case S_Mul:
            return S_PICK (S_LEVEL_ROW (mul_f32), s_mul_i64, s_mul_i32, s_mul_i8, s_mul_u8);
        case S_Div:
            return S_PICK (S_LEVEL_ROW (div_f32), s_div_i64, s_div_i32, s_div_i8, s_div_u8);
        case S_Mod:
            return S_PICK (s_mod_f32, s_mod_i64, s_mod_i32, s_mod_i8, s_mod_u8);
        case S_FMOD:
            return S_PICK (s_fmod_f32, s_fmod_i64, s_fmod_i32, s_fmod_i8, s_fmod_u8);
        case S_Pow:
            if (a == ZI_F32)
                return b == ZI_I64? s_pow_f32_i64: b == ZI_I32? s_pow_f32_i32: s_pow_f32;
            return a == ZI_I64 && b == ZI_I64? s_pow_i64: a == ZI_I32 && b == ZI_I32? s_pow_i32
                 : NULL;
        case S_Min:
            return S_PICK (s_min_f32, s_min_i64, s_min_i32, s_min_i8, s_min_u8);
        case S_Max:
            return S_PICK (s_max_f32, s_max_i64, s_max_i32, s_max_i8, s_max_u8);
        case S_PRelu:
            return a == ZI_F32? s_prelu_f32: NULL;
        case S_Equal:
            if (a == ZI_BOOL)
                return s_equal_bool;
            return S_PICK (s_equal_f32, s_equal_i64, s_equal_i32, s_equal_i8, s_equal_u8);
        case S_Less:
            return S_PICK (s_less_f32, s_less_i64, s_less_i32, s_less_i8, s_less_u8);
        case S_Greater:
            return S_PICK (s_greater_f32, s_greater_i64, s_greater_i32, s_greater_i8,
                           s_greater_u8);
        case S_LessOrEqual:
            return S_PICK (s_less_equal_f32, s_less_equal_i64, s_less_equal_i32,
                           s_less_equal_i8, s_less_equal_u8);
        case S_GreaterOrEqual:
            return S_PICK (s_greater_equal_f32, s_greater_equal_i64, s_greater_equal_i32,
                           s_greater_equal_i8, s_greater_equal_u8);
        case S_And:
            return s_and_bool;
        case S_Or:
            return s_or_bool;
        case S_Xor:
            return s_xor_bool;
        case S_Where:     //  a is the condition; b the value dtype
            switch (zi_dtype_size (b)) {
                case 1: return s_where_8;
                case 2: return s_where_16;
                case 4: return s_where_32;
                case 8: return s_where_64;
            }
            return NULL;
    }
    #undef S_PICK
    return NULL;
}


//  --------------------------------------------------------------------------
//  Broadcasting

//  Broadcast the shape (ndim, dims) with an operand's shape, in place.
//  Returns -1 with an error naming both shapes if they do not agree.
static int
s_broadcast (int *ndim, int64_t *dims, const zi_tensor_t *operand, int index)
{
    int rank = operand->ndim > *ndim? operand->ndim: *ndim;
    int64_t result [ZI_MAX_DIMS];
    for (int axis = 0; axis < rank; axis++) {
        int mine = axis - (rank - *ndim);
        int theirs = axis - (rank - operand->ndim);
        int64_t left = mine >= 0? dims [mine]: 1;
        int64_t right = theirs >= 0? operand->dims [theirs]: 1;
        if (left == right || right == 1)
            result [axis] = left;
        else
        if (left == 1)
            result [axis] = right;
        else {
            char have [160], other [160];
            zi_shape_str (*ndim, dims, have, sizeof have);
            zi_shape_str (operand->ndim, operand->dims, other, sizeof other);
            if (index == 1)
                return zi_error ("input 0 of shape %s and input 1 of shape %s do not "
                                 "broadcast (%lld vs %lld at output axis %d)",
                                 have, other, (long long) left, (long long) right, axis);
            return zi_error ("input %d of shape %s does not broadcast with shape %s "
                             "of inputs 0..%d (%lld vs %lld at output axis %d)",
                             index, other, have, index - 1,
                             (long long) right, (long long) left, axis);
        }
    }
    *ndim = rank;
    memcpy (dims, result, rank * sizeof (int64_t));
    return 0;
}

//  The broadcast shape of n inputs
static int
s_broadcast_all (int n, const zi_tensor_t *const *in, int *ndim, int64_t *dims)
{
    *ndim = in [0]->ndim;
    memcpy (dims, in [0]->dims, in [0]->ndim * sizeof (int64_t));
    for (int index = 1; index < n; index++)
        if (s_broadcast (ndim, dims, in [index], index))
            return -1;
    return 0;
}

//  Plan the walk over an output shape reading n operands that broadcast to it
static void
s_plan_make (s_plan_t *plan, int n_operands, const zi_tensor_t *const *operands,
             int ndim, const int64_t *dims)
{
    assert (n_operands >= 1 && n_operands <= S_MAX_OPERANDS);
    memset (plan, 0, sizeof *plan);
    plan->n_operands = n_operands;
    plan->count = zi_shape_count (ndim, dims);

    //  Which operands are full (not broadcast) along each collapsed axis.
    //  Axes of extent 1 carry nothing and are dropped; an axis joins the
    //  previous one when every operand is full on both or broadcast on both.
    bool full [ZI_MAX_DIMS][S_MAX_OPERANDS];
    for (int axis = 0; axis < ndim; axis++) {
        if (dims [axis] == 1)
            continue;
        bool here [S_MAX_OPERANDS];
        for (int index = 0; index < n_operands; index++) {
            const zi_tensor_t *operand = operands [index];
            int shift = ndim - operand->ndim;
            here [index] = axis >= shift && operand->dims [axis - shift] != 1;
        }
        if (plan->ndim > 0
        &&  memcmp (here, full [plan->ndim - 1], n_operands * sizeof (bool)) == 0)
            plan->dims [plan->ndim - 1] *= dims [axis];
        else {
            memcpy (full [plan->ndim], here, n_operands * sizeof (bool));
            plan->dims [plan->ndim++] = dims [axis];
        }
    }
    if (plan->ndim == 0) {
        //  Every operand holds one element
        plan->ndim = 1;
        plan->dims [0] = 1;
        for (int index = 0; index < n_operands; index++)
            full [0][index] = true;
    }
    for (int index = 0; index < n_operands; index++) {
        int64_t stride = 1;
        for (int axis = plan->ndim - 1; axis >= 0; axis--) {
            plan->strides [index][axis] = full [axis][index]? stride: 0;
            if (full [axis][index])
                stride *= plan->dims [axis];
        }
    }
}

//  Apply a fused activation to output elements [from, to)
static void
s_act_range (const zi_act_t *act, zi_tensor_t *y, int64_t from, int64_t to)
{
    if (y->dtype == ZI_F32) {
        zi_act_apply (act, (float *) y->data + from, (size_t) (to - from));
        return;
    }
    //  int64 outputs: only Relu and Clip make sense, s_run checked that
    int64_t *data = (int64_t *) y->data;
    if (act->kind == ZI_ACT_RELU)
        for (int64_t item = from; item < to; item++)
            data [item] = data [item] > 0? data [item]: 0;
    else
    if (act->kind == ZI_ACT_CLIP)
        for (int64_t item = from; item < to; item++) {
            double value = (double) data [item];
            if (value < act->alpha)
                data [item] = (int64_t) ceil (act->alpha);
            else
            if (value > act->beta)
                data [item] = (int64_t) floor (act->beta);
        }
}

//  A walk of the plan, shared out by pieces: a piece is up to S_CHUNK
//  floats of one innermost run, and piece p of the walk is piece
//  p % pieces of run p / pieces
typedef struct {
    const s_plan_t *plan;       //  the walk
    s_row_fn row;               //  the row function
    zi_tensor_t *y;             //  the output
    const void *const *sources; //  the operands' data
    const size_t *sizes;        //  their element sizes
    const zi_act_t *act;        //  fused activation, or NULL
    int64_t pieces;             //  pieces per run
} s_walk_t;

//  Pieces [first, last) of the walk: one row function call per piece, an
//  odometer over the outer axes to find each operand's offset. act (may be
//  NULL) is applied to the output behind the rows, while still in cache.
static void
s_walk_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_walk_t *walk = args;
    const s_plan_t *plan = walk->plan;
    int last_axis = plan->ndim - 1;
    int64_t inner = plan->dims [last_axis];
    int pattern = 0;
    for (int index = 0; index < plan->n_operands; index++)
        if (plan->strides [index][last_axis])
            pattern |= 1 << index;

    //  The odometer at the run the first piece is in
    int64_t run = first / walk->pieces;
    int64_t position [ZI_MAX_DIMS] = {0};
    int64_t offset [S_MAX_OPERANDS] = {0};
    int64_t rest = run;
    for (int axis = last_axis - 1; axis >= 0; axis--) {
        position [axis] = rest % plan->dims [axis];
        rest /= plan->dims [axis];
        for (int index = 0; index < plan->n_operands; index++)
            offset [index] += position [axis] * plan->strides [index][axis];
    }
    char *out = (char *) walk->y->data;
    size_t out_size = zi_dtype_size (walk->y->dtype);
    int64_t part = first % walk->pieces;  //  the piece of the run
    int64_t activated = run * inner + part * S_CHUNK;
    int64_t done = activated;       //  end of the outputs made so far
    for (int64_t item = first; item < last; item++) {
        int64_t piece = part * S_CHUNK;
        int64_t n = inner - piece < S_CHUNK? inner - piece: S_CHUNK;
        const void *from [S_MAX_OPERANDS] = {NULL, NULL, NULL};
        for (int index = 0; index < plan->n_operands; index++) {
            int64_t at = offset [index] + ((pattern >> index) & 1? piece: 0);
            from [index] = (const char *) walk->sources [index] + at * walk->sizes [index];
        }
        walk->row (out + (run * inner + piece) * out_size, from [0], from [1], from [2], n,
                   pattern);
        done = run * inner + piece + n;
        if (walk->act && done - activated >= S_CHUNK) {
            s_act_range (walk->act, walk->y, activated, done);
            activated = done;
        }
        if (++part < walk->pieces)
            continue;
        //  The next run
        part = 0;
        run++;
        for (int axis = last_axis - 1; axis >= 0; axis--) {
            for (int index = 0; index < plan->n_operands; index++)
                offset [index] += plan->strides [index][axis];
            if (++position [axis] < plan->dims [axis])
                break;
            for (int index = 0; index < plan->n_operands; index++)
                offset [index] -= plan->strides [index][axis] * plan->dims [axis];
            position [axis] = 0;
        }
    }
    if (walk->act && activated < done)
        s_act_range (walk->act, walk->y, activated, done);
}

//  Each output element costs about this many multiply-adds' time where
//  the exec weighs a part against a thread's wake-up: an element-wise op
//  reads and writes memory for every one it makes (mobilenet_v3_large's
//  squeeze-and-excite Mul: 1.3 floats a cycle from L2 at one thread)
#define S_ELEMENT_MACS 8

//  Walks the plan on the exec's threads. Each output element is made as
//  it would be alone, so the bits do not depend on the threads.
static void
s_plan_execute (zi_exec_t *exec, const s_plan_t *plan, s_row_fn row, zi_tensor_t *y,
                const void *const *sources, const size_t *sizes, const zi_act_t *act)
{
    assert (plan->count == (int64_t) zi_tensor_count (y));
    if (plan->count == 0)
        return;
    if (act && act->kind == ZI_ACT_NONE)
        act = NULL;
    int64_t inner = plan->dims [plan->ndim - 1];
    s_walk_t walk = {.plan = plan, .row = row, .y = y, .sources = sources, .sizes = sizes,
                     .act = act, .pieces = (inner + S_CHUNK - 1) / S_CHUNK};
    int64_t piece = inner < S_CHUNK? inner: S_CHUNK;
    zi_exec_parallel (exec, plan->count / inner * walk.pieces,
                      zi_exec_unit (piece * S_ELEMENT_MACS), s_walk_part, &walk);
}


//  --------------------------------------------------------------------------
//  Kernel

static int
s_init (zi_node_t *node)
{
    s_kind_t kind = (s_kind_t) node->op->row;
    if (node->opset < 7 && kind <= S_Div && (zi_node_attr (node, "broadcast")
                                          || zi_node_attr (node, "axis")))
        return zi_error ("opset %d limited broadcasting (attributes 'broadcast', 'axis') "
                         "is not supported; export with opset 7 or later", node->opset);
    if (kind == S_Mod) {
        //  fmod = 1: the remainder takes the dividend's sign, as C's fmod
        //  and % do; with fmod = 0 it takes the divisor's, as Python's %
        int64_t fmod = zi_node_attr_int (node, "fmod", 0);
        if (fmod != 0 && fmod != 1)
            return zi_error ("attribute 'fmod' = %lld; expected 0 or 1", (long long) fmod);
        if (fmod)
            kind = S_FMOD;
    }
    s_binary_t *self = calloc (1, sizeof (s_binary_t));
    if (!self)
        return zi_error ("out of memory");
    self->kind = kind;
    node->params = self;
    return 0;
}

static void
s_destroy (zi_node_t *node)
{
    s_binary_t *self = node->params;
    free (self->plans);
    free (self);
}

//  The output dtype, or -1 with an error. Which dtypes each input takes is
//  in the op's row, checked before infer; what is left is how the inputs'
//  dtypes relate
static int
s_output_dtype (s_kind_t kind, int n, const zi_tensor_t *const *in)
{
    zi_dtype_t first = in [0]->dtype;
    switch (kind) {
        case S_Where:
            if (in [2]->dtype != in [1]->dtype)
                return zi_error ("input 2: expected %s like input 1, got %s",
                                 zi_dtype_name (in [1]->dtype), zi_dtype_name (in [2]->dtype));
            return in [1]->dtype;
        case S_Pow:
            if (first == ZI_F32)
                return ZI_F32;
            if (in [1]->dtype == first)
                return first;
            return zi_error ("base %s with exponent %s is not supported (supported: float32 "
                             "base with float32, int64 or int32 exponent, int64 with int64, "
                             "int32 with int32)",
                             zi_dtype_name (first), zi_dtype_name (in [1]->dtype));
        default:
            break;
    }
    for (int index = 1; index < n; index++)
        if (in [index]->dtype != first)
            return zi_error ("input %d: expected %s like input 0, got %s", index,
                             zi_dtype_name (first), zi_dtype_name (in [index]->dtype));
    switch (kind) {
        case S_Equal: case S_Less: case S_Greater: case S_LessOrEqual: case S_GreaterOrEqual:
        case S_And: case S_Or: case S_Xor:
            return ZI_BOOL;
        default:
            return first;
    }
}

static int
s_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    s_binary_t *self = node->params;
    int n = node->n_inputs;
    for (int index = 0; index < n; index++)
        if (!in [index])
            return zi_error ("input %d is required", index);
    int dtype = s_output_dtype (self->kind, n, in);
    if (dtype < 0)
        return -1;
    int ndim;
    int64_t dims [ZI_MAX_DIMS];
    if (s_broadcast_all (n, in, &ndim, dims))
        return -1;
    if (self->kind == S_PRelu) {
        //  PRelu broadcasts the slope to X, never the other way
        zi_tensor_t shape;
        memset (&shape, 0, sizeof shape);
        zi_tensor_set_shape (&shape, ZI_F32, ndim, dims);
        if (!zi_tensor_same_shape (&shape, in [0])) {
            char x [160], slope [160];
            return zi_error ("slope of shape %s does not broadcast to X of shape %s",
                             zi_shape_str (in [1]->ndim, in [1]->dims, slope, sizeof slope),
                             zi_shape_str (in [0]->ndim, in [0]->dims, x, sizeof x));
        }
    }
    zi_tensor_set_shape (out [0], (zi_dtype_t) dtype, ndim, dims);
    return 0;
}

static int
s_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_binary_t *self = node->params;
    int n = node->n_inputs;
    zi_tensor_t shape;          //  the output's shape, as an operand of later steps
    memset (&shape, 0, sizeof shape);
    int ndim;
    int64_t dims [ZI_MAX_DIMS];
    if (s_broadcast_all (n, in, &ndim, dims))
        return -1;
    zi_tensor_set_shape (&shape, in [0]->dtype, ndim, dims);

    free (self->plans);
    self->n_plans = self->kind == S_Where? 1: n - 1;
    self->plans = calloc (self->n_plans + 1, sizeof (s_plan_t));
    if (!self->plans) {
        self->n_plans = 0;
        return zi_error ("out of memory");
    }
    if (self->kind == S_Where)
        s_plan_make (&self->plans [0], 3, in, ndim, dims);
    else
    for (int step = 0; step < self->n_plans; step++) {
        //  Step 0 combines inputs 0 and 1; step k folds input k + 1 into
        //  the output computed so far
        const zi_tensor_t *pair [2] = {step? &shape: in [0], in [step + 1]};
        s_plan_make (&self->plans [step], 2, pair, ndim, dims);
    }
    return 0;
}

//  Integer division by zero is undefined in C and traps on x86: refuse it
static int
s_check_divisor (const zi_tensor_t *divisor)
{
    size_t count = zi_tensor_count (divisor), size = zi_dtype_size (divisor->dtype);
    static const uint8_t zero [8];
    for (size_t item = 0; item < count; item++)
        if (memcmp ((const uint8_t *) divisor->data + item * size, zero, size) == 0)
            return zi_error ("integer division by zero (input 1, element %zu)", item);
    return 0;
}

//  Pow with a constant exponent of 2 (variance in decomposed layer norms)
//  becomes a multiplication, which vectorises and is exact
static bool
s_is_square (const zi_tensor_t *exponent)
{
    if (zi_tensor_count (exponent) != 1)
        return false;
    if (exponent->dtype == ZI_F32)
        return *(const float *) exponent->data == 2.0f;
    return zi_dtype_is_int (exponent->dtype)
        && zi_dtype_get (exponent->data, exponent->dtype, 0) == 2;
}

static int
s_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
       zi_tensor_t *const *out)
{
    s_binary_t *self = node->params;
    s_kind_t kind = self->kind;
    zi_tensor_t *y = out [0];
    int n = node->n_inputs;
    const zi_act_t *act = &node->act;
    if (act->kind != ZI_ACT_NONE && y->dtype != ZI_F32
    &&  !(y->dtype == ZI_I64 && (act->kind == ZI_ACT_RELU || act->kind == ZI_ACT_CLIP)))
        return zi_error ("fused activation %d needs a float32 output, got %s",
                         act->kind, zi_dtype_name (y->dtype));

    if (n == 1) {
        //  A variadic op of one input copies it
        if (y->data != in [0]->data)
            memcpy (y->data, in [0]->data, y->nbytes);
        if (act->kind != ZI_ACT_NONE)
            s_act_range (act, y, 0, (int64_t) zi_tensor_count (y));
        return 0;
    }
    assert (self->plans && self->n_plans == (kind == S_Where? 1: n - 1));

    if (kind == S_Where) {
        const void *sources [3] = {in [0]->data, in [1]->data, in [2]->data};
        size_t sizes [3] = {1, zi_dtype_size (in [1]->dtype), zi_dtype_size (in [2]->dtype)};
        s_plan_execute (exec, &self->plans [0], s_row_select (kind, ZI_BOOL, in [1]->dtype),
                        y, sources, sizes, NULL);
        return 0;
    }
    if ((kind == S_Div || kind == S_Mod || kind == S_FMOD) && zi_dtype_is_int (in [1]->dtype)
    &&  s_check_divisor (in [1]))
        return -1;

    //  Mean divides at the end, so the activation waits until then too
    bool last_act = kind != S_Mean;
    for (int step = 0; step < self->n_plans; step++) {
        const zi_tensor_t *a = step? y: in [0];
        const zi_tensor_t *b = in [step + 1];
        s_row_fn row = s_row_select (kind, a->dtype, b->dtype);
        if (kind == S_Pow && a->dtype == ZI_F32 && s_is_square (b))
            row = s_square_f32;
        bool final = step == self->n_plans - 1;
        const zi_act_t *row_act = final && last_act? act: NULL;
        if (kind == S_Add && a->dtype == ZI_F32 && act->kind == ZI_ACT_RELU) {
            row = S_LEVEL_ROW (add_relu_f32);
            row_act = NULL;
        }
        assert (row);
        const void *sources [2] = {a->data, b->data};
        size_t sizes [2] = {zi_dtype_size (a->dtype), zi_dtype_size (b->dtype)};
        s_plan_execute (exec, &self->plans [step], row, y, sources, sizes, row_act);
    }
    if (kind == S_Mean) {
        float *data = zi_tensor_f32 (y);
        size_t count = zi_tensor_count (y);
        float inputs = (float) n;
        for (size_t item = 0; item < count; item++)
            data [item] /= inputs;
        if (act->kind != ZI_ACT_NONE)
            s_act_range (act, y, 0, (int64_t) count);
    }
    return 0;
}

#define S_OP(Name, min, max, fuse, accepted)                                \
const zi_op_t zi_op_##Name = {                                              \
    .name = #Name, .min_inputs = min, .max_inputs = max, .max_outputs = 1,  \
    .fusable = fuse, .init = s_init, .infer = s_infer, .prepare = s_prepare,\
    .run = s_run, .destroy = s_destroy, .dtypes = accepted, .row = S_##Name,\
    .batch = ZI_BATCH_ELEMENTWISE                                           \
};
S_BINARY_OPS (S_OP)
#undef S_OP


//  --------------------------------------------------------------------------
//  Self test: every op against a naive reference that maps each output
//  index to each input index with explicit arithmetic

//  Flat index into an operand of the output element at flat index item
static int64_t
s_ref_index (int ndim, const int64_t *dims, int64_t item, const zi_tensor_t *operand)
{
    int64_t coord [ZI_MAX_DIMS];
    for (int axis = ndim - 1; axis >= 0; axis--) {
        coord [axis] = item % dims [axis];
        item /= dims [axis];
    }
    int64_t index = 0;
    int shift = ndim - operand->ndim;
    for (int axis = 0; axis < operand->ndim; axis++) {
        int64_t extent = operand->dims [axis];
        index = index * extent + (extent == 1? 0: coord [axis + shift]);
    }
    return index;
}

//  Tensors with test data: floats in [-1, 1), small ints in -9..9 (zero
//  avoided when nonzero is set), bools
static zi_tensor_t *
s_test_make (zi_dtype_t dtype, int ndim, const int64_t *dims, uint32_t seed, bool nonzero)
{
    if (dtype == ZI_F32)
        return zi_test_random (ndim, dims, seed);
    if (dtype == ZI_F16)
        return zi_test_data (dtype, ndim, dims, seed);
    zi_tensor_t *tensor = zi_tensor_new (dtype, ndim, dims);
    assert (tensor);
    uint32_t state = seed * 2654435761u + 7;
    for (size_t item = 0; item < zi_tensor_count (tensor); item++) {
        state = state * 1664525u + 1013904223u;
        int64_t value = (int64_t) ((state >> 16) % 19) - 9;
        if (nonzero && value == 0)
            value = 4;
        if (zi_dtype_is_int (dtype))
            zi_dtype_convert ((char *) tensor->data + item * zi_dtype_size (dtype), dtype,
                              &value, ZI_I64, 1);
        else
            ((uint8_t *) tensor->data) [item] = value > 0;
    }
    return tensor;
}

static double
s_ref_f32 (s_kind_t kind, double x, double z)
{
    switch (kind) {
        case S_Add: case S_Sum: return x + z;
        case S_Sub: return x - z;
        case S_Mul: return x * z;
        case S_Div: return x / z;
        case S_Pow: return pow (x, z);
        case S_Min: return x < z? x: z;
        case S_Max: return x > z? x: z;
        case S_PRelu: return x < 0? z * x: x;
        case S_Equal: return x == z;
        case S_Less: return x < z;
        case S_Greater: return x > z;
        case S_LessOrEqual: return x <= z;
        case S_GreaterOrEqual: return x >= z;
        default: assert (false);
    }
    return 0;
}

static int64_t
s_ref_i64 (s_kind_t kind, int64_t x, int64_t z)
{
    switch (kind) {
        case S_Add: case S_Sum: return x + z;
        case S_Sub: return x - z;
        case S_Mul: return x * z;
        case S_Div: {
            //  toward zero: divide magnitudes, then put the sign back
            int64_t quotient = llabs (x) / llabs (z);
            return (x < 0) != (z < 0)? -quotient: quotient;
        }
        case S_Pow: {
            int64_t result = 1;
            for (int64_t step = 0; step < z; step++)
                result *= x;
            return z < 0? (x == 1? 1: x == -1? (z % 2? -1: 1): 0): result;
        }
        case S_Min: return x < z? x: z;
        case S_Max: return x > z? x: z;
        case S_Equal: return x == z;
        case S_Less: return x < z;
        case S_Greater: return x > z;
        case S_LessOrEqual: return x <= z;
        case S_GreaterOrEqual: return x >= z;
        case S_And: return x && z;
        case S_Or: return x || z;
        case S_Xor: return !x != !z;
        default: assert (false);
    }
    return 0;
}

//  Reads element item of a tensor as a double (any dtype)
static double
s_test_get (const zi_tensor_t *tensor, int64_t item)
{
    return zi_dtype_get (tensor->data, tensor->dtype, (size_t) item);
}

//  Runs a binary op on shapes a and b and compares with the reference
static void
s_test_pair (zi_test_t *t, const char *op, zi_dtype_t dtype,
             int a_ndim, const int64_t *a_dims, int b_ndim, const int64_t *b_dims)
{
    zi_node_t *node = zi_node_new (op, "test");
    s_kind_t kind = S_Add;
    kind = (s_kind_t) zi_op_lookup (op)->row;
    bool positive = kind == S_Pow && dtype == ZI_F32;
    zi_tensor_t *a = s_test_make (dtype, a_ndim, a_dims, 11 + a_ndim, false);
    zi_tensor_t *b = s_test_make (dtype, b_ndim, b_dims, 23 + b_ndim, kind == S_Div);
    if (positive)           //  real powers of negative bases are NaN
        for (size_t item = 0; item < zi_tensor_count (a); item++)
            ((float *) a->data) [item] = fabsf (((float *) a->data) [item]) + 0.25f;
    if (kind == S_Pow && zi_dtype_is_int (dtype))
        for (size_t item = 0; item < zi_tensor_count (b); item++) {
            int64_t exponent = llabs ((int64_t) s_test_get (b, item)) % 5 - 1;
            zi_dtype_convert ((char *) b->data + item * zi_dtype_size (dtype), dtype,
                              &exponent, ZI_I64, 1);
        }
    if (dtype == ZI_F32 && kind >= S_Equal) {
        //  Quantise so that equal pairs occur
        for (size_t item = 0; item < zi_tensor_count (a); item++)
            ((float *) a->data) [item] = roundf (((float *) a->data) [item] * 2);
        for (size_t item = 0; item < zi_tensor_count (b); item++)
            ((float *) b->data) [item] = roundf (((float *) b->data) [item] * 2);
    }
    zi_tensor_t *inputs [2] = {a, b};
    zi_tensor_t *y = NULL;
    char a_text [64], b_text [64];
    zi_shape_str (a_ndim, a_dims, a_text, sizeof a_text);
    zi_shape_str (b_ndim, b_dims, b_text, sizeof b_text);
    int rc = zi_test_run_op (node, 2, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "%s %s %s %s runs: %s", op, zi_dtype_name (dtype),
              a_text, b_text, rc? zi_error_text (): "");
    if (rc == 0) {
        size_t count = zi_tensor_count (y);
        float *got = malloc ((count + 1) * sizeof (float));
        float *want = malloc ((count + 1) * sizeof (float));
        assert (got && want);
        bool exact = true;
        for (size_t item = 0; item < count; item++) {
            int64_t ia = s_ref_index (y->ndim, y->dims, item, a);
            int64_t ib = s_ref_index (y->ndim, y->dims, item, b);
            double expect;
            if (dtype == ZI_F32)
                expect = s_ref_f32 (kind, s_test_get (a, ia), s_test_get (b, ib));
            else {
                //  In int64, then wrapped to the dtype as the kernel wraps
                int64_t whole = s_ref_i64 (kind, (int64_t) s_test_get (a, ia),
                                           (int64_t) s_test_get (b, ib));
                uint8_t narrow [8];
                zi_dtype_convert (narrow, y->dtype, &whole, ZI_I64, 1);
                expect = zi_dtype_get (narrow, y->dtype, 0);
            }
            got [item] = (float) s_test_get (y, item);
            want [item] = (float) expect;
            if (y->dtype != ZI_F32 && got [item] != want [item])
                exact = false;
        }
        char what [200];
        snprintf (what, sizeof what, "%s %s %s %s", op, zi_dtype_name (dtype), a_text, b_text);
        if (y->dtype == ZI_F32)
            ZI_CHECK_CLOSE (t, what, got, want, count, 1e-5f, 1e-5f);
        else
            ZI_CHECK (t, exact, "%s: exact", what);
        free (got);
        free (want);
    }
    zi_tensor_destroy (&a);
    zi_tensor_destroy (&b);
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
}

//  Runs a node expecting failure; checks the message names what it should
static void
s_test_fails (zi_test_t *t, zi_node_t *node, int n, zi_tensor_t **inputs, const char *needle)
{
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, n, inputs, 1, &y);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle),
              "%s fails with '%s': %s", node->op_type, needle, zi_error_text ());
    zi_tensor_destroy (&y);
}

//  Mod, both signs rules, float32 and int64, broadcast, against the
//  rules in double: fmod's sign is the dividend's, floor mod's the divisor's
static void
s_test_mod (zi_test_t *t)
{
    for (int fmod_attr = 0; fmod_attr < 2; fmod_attr++)
        for (int ints = 0; ints < 2; ints++) {
            int64_t a_dims [2] = {4, 6}, b_dims [1] = {6};
            zi_tensor_t *in [2] = {
                zi_tensor_new (ints? ZI_I64: ZI_F32, 2, a_dims),
                zi_tensor_new (ints? ZI_I64: ZI_F32, 1, b_dims)
            };
            static const double divisors [6] = {3, -3, 2.5, -0.75, 7, -1};
            for (int item = 0; item < 24; item++) {
                double value = (item * 37 % 29) - 14 + (ints? 0: 0.375);
                if (ints)
                    zi_tensor_i64 (in [0]) [item] = (int64_t) value;
                else
                    zi_tensor_f32 (in [0]) [item] = (float) value;
            }
            for (int item = 0; item < 6; item++) {
                if (ints)
                    zi_tensor_i64 (in [1]) [item] = (int64_t) divisors [item] + (item == 3);
                else
                    zi_tensor_f32 (in [1]) [item] = (float) divisors [item];
            }
            zi_node_t *node = zi_node_new ("Mod", "test");
            if (fmod_attr)
                zi_node_set_int (node, "fmod", 1);
            zi_tensor_t *y = NULL;
            int rc = zi_test_run_op (node, 2, in, 1, &y);
            int wrong = rc == 0? -1: 0;
            for (int item = 0; rc == 0 && item < 24 && wrong < 0; item++) {
                double x = ints? (double) zi_tensor_i64 (in [0]) [item]
                               : zi_tensor_f32 (in [0]) [item];
                double z = ints? (double) zi_tensor_i64 (in [1]) [item % 6]
                               : zi_tensor_f32 (in [1]) [item % 6];
                double want = fmod (x, z);
                if (!fmod_attr && want != 0 && (want < 0) != (z < 0))
                    want += z;
                double got = ints? (double) zi_tensor_i64 (y) [item]: zi_tensor_f32 (y) [item];
                if (fabs (got - want) > 1e-6)
                    wrong = item;
            }
            ZI_CHECK (t, wrong < 0, "Mod fmod %d %s: first wrong at %d (%s)", fmod_attr,
                      ints? "int64": "float32", wrong, rc? zi_error_text (): "ran");
            zi_tensor_destroy (&y);
            if (ints) {
                zi_tensor_i64 (in [1]) [2] = 0;
                ZI_CHECK (t, zi_test_run_op (node, 2, in, 1, &y) == -1
                          && strstr (zi_error_text (), "division by zero (input 1, element 2)"),
                          "Mod by an int64 zero refused: %s", zi_error_text ());
                zi_tensor_destroy (&y);
            }
            zi_tensor_destroy (&in [0]);
            zi_tensor_destroy (&in [1]);
            zi_node_destroy (&node);
        }
}

//  Add, Sub, Mul, Div and Add + Relu at every level the CPU has: against
//  the reference, and the bits of the portable rows, on rows that take
//  each broadcast pattern, with tails of every length and NaN, infinities
//  and signed zeros among the values
static void
s_test_levels (zi_test_t *t)
{
    static const struct {
        int a_ndim;
        int64_t a_dims [4];
        int b_ndim;
        int64_t b_dims [4];
    } pairs [] = {
        {3, {2, 3, 37}, 3, {2, 3, 37}},         //  both full
        {3, {2, 3, 37}, 2, {3, 1}},             //  b per row
        {1, {1}, 3, {2, 3, 37}},                //  a one value
        {4, {1, 16, 7, 7}, 4, {1, 16, 1, 1}},   //  squeeze-and-excite scale
        {1, {4103}, 1, {4103}},                 //  across the chunk
    };
    static const char *ops [] = {"Add", "Sub", "Mul", "Div", "Add"};
    for (size_t pair = 0; pair < sizeof pairs / sizeof pairs [0]; pair++)
        for (int op = 0; op < 5; op++) {
            zi_tensor_t *a = zi_test_random (pairs [pair].a_ndim, pairs [pair].a_dims, 41);
            zi_tensor_t *b = zi_test_random (pairs [pair].b_ndim, pairs [pair].b_dims, 42);
            static const float specials [] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f};
            for (size_t item = 3; item < zi_tensor_count (a); item += 7)
                zi_tensor_f32 (a) [item] = specials [item % 5];
            for (size_t item = 5; item < zi_tensor_count (b); item += 11)
                zi_tensor_f32 (b) [item] = specials [item % 5];
            zi_tensor_t *inputs [2] = {a, b}, *got [3] = {NULL, NULL, NULL};
            for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
                if (!zi_test_isa (t, (zi_isa_t) level))
                    continue;
                zi_node_t *node = zi_node_new (ops [op], "test");
                if (op == 4)
                    node->act.kind = ZI_ACT_RELU;
                ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &got [level]) == 0,
                          "%s at %s runs", ops [op], zi_isa_name ((zi_isa_t) level));
                zi_node_destroy (&node);
                if (!got [level])
                    continue;
                int wrong = -1;
                for (size_t item = 0; item < zi_tensor_count (got [level]) && wrong < 0; item++) {
                    int64_t ia = s_ref_index (got [level]->ndim, got [level]->dims, item, a);
                    int64_t ib = s_ref_index (got [level]->ndim, got [level]->dims, item, b);
                    float x = zi_tensor_f32 (a) [ia], z = zi_tensor_f32 (b) [ib];
                    float want = op == 0 || op == 4? x + z: op == 1? x - z: op == 2? x * z: x / z;
                    if (op == 4)
                        want = want < 0? 0: want;
                    float value = zi_tensor_f32 (got [level]) [item];
                    if (memcmp (&value, &want, sizeof value) != 0 && !(isnan (value) && isnan (want)))
                        wrong = (int) item;
                }
                ZI_CHECK (t, wrong < 0, "%s%s pair %zu at %s: first wrong at [%d]", ops [op],
                          op == 4? " + Relu": "", pair, zi_isa_name ((zi_isa_t) level), wrong);
                if (level > ZI_ISA_PORTABLE && got [ZI_ISA_PORTABLE])
                    ZI_CHECK (t, memcmp (got [level]->data, got [ZI_ISA_PORTABLE]->data,
                                         got [level]->nbytes) == 0,
                              "%s%s pair %zu: %s gives the portable bits", ops [op],
                              op == 4? " + Relu": "", pair, zi_isa_name ((zi_isa_t) level));
            }
            zi_isa_set_cap (ZI_ISA_DEFAULT);
            for (int level = 0; level < 3; level++)
                zi_tensor_destroy (&got [level]);
            zi_tensor_destroy (&a);
            zi_tensor_destroy (&b);
        }
    //  zi_vec_add, the residual add of a fused convolution, likewise
    for (int64_t n = 1; n < 40; n += 3) {
        zi_tensor_t *y = zi_test_random (1, (int64_t []) {n}, 51);
        zi_tensor_t *x = zi_test_random (1, (int64_t []) {n}, 52);
        zi_tensor_f32 (x) [0] = NAN;
        for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
            if (!zi_test_isa (t, (zi_isa_t) level))
                continue;
            float got [40], want [40];
            memcpy (got, zi_tensor_f32 (y), n * sizeof (float));
            zi_vec_add (got, zi_tensor_f32 (x), n);
            for (int64_t item = 0; item < n; item++)
                want [item] = zi_tensor_f32 (y) [item] + zi_tensor_f32 (x) [item];
            ZI_CHECK (t, isnan (got [0]) && memcmp (got + 1, want + 1, (n - 1) * sizeof (float)) == 0,
                      "zi_vec_add of %lld floats at %s", (long long) n,
                      zi_isa_name ((zi_isa_t) level));
        }
        zi_isa_set_cap (ZI_ISA_DEFAULT);
        zi_tensor_destroy (&y);
        zi_tensor_destroy (&x);
    }
}

//  Runs node (made by zi_test_run_op) again on an exec of threads
static zi_tensor_t *
s_test_on_threads (zi_node_t *node, zi_tensor_t *const *inputs, const zi_tensor_t *like,
                   int threads, zi_exec_stats_t *stats)
{
    zi_tensor_t *y = zi_tensor_new (like->dtype, like->ndim, like->dims);
    zi_exec_t *exec = zi_exec_new ();
    zi_exec_set_threads (exec, threads);
    int rc = node->op->run (node, exec, (const zi_tensor_t *const *) inputs, &y);
    zi_exec_stats (exec, stats);
    zi_exec_destroy (&exec);
    if (rc)
        zi_tensor_destroy (&y);
    return y;
}

//  Element-wise walks are shared out between the exec's threads: a
//  squeeze-and-excite scale and a long same-shape Add + Relu each take
//  more than one part at two and three threads, with the bits of one
//  thread. And a Sum of three, whose third input is added into the
//  output in place, on rows of 37 (not a multiple of eight): the rows'
//  last steps must not go over outputs already summed (a whole last
//  step is only for rows whose output is not an input)
static void
s_test_threads (zi_test_t *t)
{
    static const struct {
        const char *op;
        int a_ndim;
        int64_t a_dims [4];
        int b_ndim;
        int64_t b_dims [4];
    } cases [] = {
        {"Mul", 4, {1, 480, 14, 14}, 4, {1, 480, 1, 1}},
        {"Add", 1, {150001}, 1, {150001}},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        zi_tensor_t *a = zi_test_random (cases [index].a_ndim, cases [index].a_dims, 61);
        zi_tensor_t *b = zi_test_random (cases [index].b_ndim, cases [index].b_dims, 62);
        zi_tensor_f32 (a) [7] = NAN;
        zi_tensor_f32 (b) [1] = -0.0f;
        zi_tensor_t *inputs [2] = {a, b}, *one = NULL;
        zi_node_t *node = zi_node_new (cases [index].op, "test");
        if (index == 1)
            node->act.kind = ZI_ACT_RELU;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &one) == 0, "%s runs",
                  cases [index].op);
        for (int threads = 2; one && threads <= 3; threads++) {
            zi_exec_stats_t stats;
            zi_tensor_t *y = s_test_on_threads (node, inputs, one, threads, &stats);
            ZI_CHECK (t, y && memcmp (y->data, one->data, one->nbytes) == 0,
                      "%s at %d threads gives the bits of one", cases [index].op, threads);
            ZI_CHECK (t, stats.loops == 1 && stats.units > 1,
                      "%s at %d threads: shared out (%lld loops, %lld units)",
                      cases [index].op, threads, (long long) stats.loops,
                      (long long) stats.units);
            zi_tensor_destroy (&y);
        }
        zi_node_destroy (&node);
        zi_tensor_destroy (&one);
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
    }
    int64_t dims [2] = {3, 37};
    zi_tensor_t *sum_in [3];
    for (int slot = 0; slot < 3; slot++)
        sum_in [slot] = zi_test_random (2, dims, 71 + slot);
    for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        zi_node_t *node = zi_node_new ("Sum", "test");
        zi_tensor_t *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 3, sum_in, 1, &y) == 0, "Sum of three runs");
        int wrong = -1;
        for (size_t item = 0; y && item < zi_tensor_count (y) && wrong < 0; item++) {
            float want = zi_tensor_f32 (sum_in [0]) [item] + zi_tensor_f32 (sum_in [1]) [item];
            want += zi_tensor_f32 (sum_in [2]) [item];
            if (memcmp (&want, zi_tensor_f32 (y) + item, sizeof want))
                wrong = (int) item;
        }
        ZI_CHECK (t, y && wrong < 0, "Sum of three rows of 37 at %s: first wrong at [%d]",
                  zi_isa_name ((zi_isa_t) level), wrong);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&sum_in [slot]);
}

void
zi_act_binary_test (zi_test_t *t)
{
    s_test_mod (t);
    s_test_levels (t);
    s_test_threads (t);
    //  Broadcast corners, each pair in both orders
    static const struct {
        int a_ndim;
        int64_t a_dims [4];
        int b_ndim;
        int64_t b_dims [4];
    } pairs [] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}},       //  same shape
        {3, {2, 3, 4}, 1, {4}},             //  rank mismatch, trailing
        {3, {2, 1, 4}, 2, {3, 1}},          //  both broadcast
        {0, {0}, 2, {2, 3}},                //  rank-0 scalar
        {1, {1}, 2, {2, 3}},                //  one-element vector
        {0, {0}, 0, {0}},                   //  scalar op scalar
        {1, {1}, 0, {0}},
        {4, {2, 3, 4, 5}, 3, {3, 1, 1}},    //  per channel
        {4, {2, 3, 4, 5}, 4, {1, 3, 1, 1}},
        {4, {5, 1, 4, 1}, 4, {1, 3, 1, 2}}, //  alternating
        {3, {2, 3, 1}, 3, {1, 3, 4}},
        {2, {0, 3}, 1, {3}},                //  empty
        {3, {1, 1, 1}, 1, {7}},
        {3, {4, 1, 3}, 3, {4, 5, 3}},       //  broadcast in the middle
    };
    static const char *float_ops [] = {
        "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max",
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"
    };
    static const char *int_ops [] = {
        "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max",
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"
    };
    static const char *bool_ops [] = {"And", "Or", "Xor", "Equal"};
    for (size_t pair = 0; pair < sizeof pairs / sizeof pairs [0]; pair++)
        for (int order = 0; order < 2; order++) {
            int a_ndim = order? pairs [pair].b_ndim: pairs [pair].a_ndim;
            int b_ndim = order? pairs [pair].a_ndim: pairs [pair].b_ndim;
            const int64_t *a_dims = order? pairs [pair].b_dims: pairs [pair].a_dims;
            const int64_t *b_dims = order? pairs [pair].a_dims: pairs [pair].b_dims;
            for (size_t op = 0; op < sizeof float_ops / sizeof float_ops [0]; op++)
                s_test_pair (t, float_ops [op], ZI_F32, a_ndim, a_dims, b_ndim, b_dims);
            for (size_t op = 0; op < sizeof int_ops / sizeof int_ops [0]; op++) {
                s_test_pair (t, int_ops [op], ZI_I64, a_ndim, a_dims, b_ndim, b_dims);
                s_test_pair (t, int_ops [op], ZI_I32, a_ndim, a_dims, b_ndim, b_dims);
                if (strcmp (int_ops [op], "Pow"))
                    for (int narrow = 0; narrow < 2; narrow++)
                        s_test_pair (t, int_ops [op], narrow? ZI_U8: ZI_I8,
                                     a_ndim, a_dims, b_ndim, b_dims);
            }
            for (size_t op = 0; op < sizeof bool_ops / sizeof bool_ops [0]; op++)
                s_test_pair (t, bool_ops [op], ZI_BOOL, a_ndim, a_dims, b_ndim, b_dims);
        }
    //  Long rows that cross the chunk size, and a huge per-channel case
    s_test_pair (t, "Add", ZI_F32, 2, (int64_t []) {3, 5000}, 2, (int64_t []) {3, 5000});
    s_test_pair (t, "Mul", ZI_F32, 4, (int64_t []) {2, 16, 33, 33}, 3, (int64_t []) {16, 1, 1});
    s_test_pair (t, "Sub", ZI_F32, 1, (int64_t []) {9001}, 0, (int64_t []) {0});
    s_test_pair (t, "PRelu", ZI_F32, 4, (int64_t []) {2, 3, 4, 5}, 3, (int64_t []) {3, 1, 1});
    s_test_pair (t, "PRelu", ZI_F32, 2, (int64_t []) {4, 5}, 0, (int64_t []) {0});
    s_test_pair (t, "PRelu", ZI_F32, 3, (int64_t []) {2, 4, 5}, 1, (int64_t []) {5});

    //  Integer division truncates toward zero, INT64_MIN / -1 wraps
    {
        zi_node_t *node = zi_node_new ("Div", "test");
        zi_tensor_t *a = zi_test_ints (6, (int64_t []) {7, -7, 7, -7, INT64_MIN, 0});
        zi_tensor_t *b = zi_test_ints (6, (int64_t []) {2, 2, -2, -2, -1, 3});
        zi_tensor_t *inputs [2] = {a, b}, *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Div int64");
        const int64_t *data = zi_tensor_i64 (y);
        ZI_CHECK (t, data [0] == 3 && data [1] == -3 && data [2] == -3 && data [3] == 3
                  && data [4] == INT64_MIN && data [5] == 0,
                  "Div int64 truncates: %lld %lld %lld %lld %lld", (long long) data [0],
                  (long long) data [1], (long long) data [2], (long long) data [3],
                  (long long) data [4]);
        zi_tensor_destroy (&y);
        ((int64_t *) b->data) [3] = 0;
        s_test_fails (t, node, 2, inputs, "division by zero");
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
        zi_node_destroy (&node);
    }
    //  Pow: float base with int64 exponent, scalar exponent 2 fast path
    {
        zi_node_t *node = zi_node_new ("Pow", "test");
        int64_t dims [] = {2, 3};
        zi_tensor_t *a = zi_test_random (2, dims, 5);
        zi_tensor_t *b = zi_test_ints (3, (int64_t []) {0, 3, -2});
        zi_tensor_t *inputs [2] = {a, b}, *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Pow f32 ^ i64: %s",
                  zi_error_text ());
        float want [6];
        const float *x = zi_tensor_f32 (a);
        for (int item = 0; item < 6; item++)
            want [item] = (float) pow (x [item], (double) ((int64_t []) {0, 3, -2}) [item % 3]);
        ZI_CHECK_CLOSE (t, "Pow f32 ^ i64", zi_tensor_f32 (y), want, 6, 1e-5f, 1e-5f);
        zi_tensor_destroy (&y);
        zi_tensor_destroy (&b);
        for (int form = 0; form < 2; form++) {
            b = form? zi_test_ints (1, (int64_t []) {2}): zi_test_tensor (0, NULL, (float []) {2});
            inputs [1] = b;
            zi_node_destroy (&node);
            node = zi_node_new ("Pow", "test");
            ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Pow square");
            for (int item = 0; item < 6; item++)
                want [item] = x [item] * x [item];
            ZI_CHECK (t, memcmp (zi_tensor_f32 (y), want, sizeof want) == 0,
                      "Pow by 2 is x * x, exactly (%s exponent)", form? "int64": "float32");
            zi_tensor_destroy (&y);
            zi_tensor_destroy (&b);
        }
        inputs [0] = b = zi_test_ints (1, (int64_t []) {2});
        inputs [1] = a;
        s_test_fails (t, node, 2, inputs, "int64 with int64");
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
        zi_node_destroy (&node);
    }
    //  Variadic Min, Max, Sum, Mean: 1, 2 and 3 inputs with broadcasting
    {
        static const char *ops [] = {"Min", "Max", "Sum", "Mean"};
        int64_t d0 [] = {2, 1, 4}, d1 [] = {3, 1}, d2 [] = {1};
        for (size_t op = 0; op < 4; op++)
            for (int dtype_nbr = 0; dtype_nbr < 2; dtype_nbr++)
                for (int n = 1; n <= 3; n++) {
                    zi_dtype_t dtype = dtype_nbr? ZI_I64: ZI_F32;
                    if (dtype == ZI_I64 && op == 3)
                        continue;       //  Mean is float only
                    zi_node_t *node = zi_node_new (ops [op], "test");
                    zi_tensor_t *in [3] = {
                        s_test_make (dtype, 3, d0, 1, false),
                        s_test_make (dtype, 2, d1, 2, false),
                        s_test_make (dtype, 1, d2, 3, false)
                    };
                    zi_tensor_t *y = NULL;
                    int rc = zi_test_run_op (node, n, in, 1, &y);
                    ZI_CHECK (t, rc == 0, "%s of %d %s inputs: %s", ops [op], n,
                              zi_dtype_name (dtype), zi_error_text ());
                    if (rc == 0) {
                        size_t count = zi_tensor_count (y);
                        float got [32], want [32];
                        assert (count <= 32);
                        for (size_t item = 0; item < count; item++) {
                            double acc = 0;
                            for (int input = 0; input < n; input++) {
                                int64_t at = s_ref_index (y->ndim, y->dims, item, in [input]);
                                double value = s_test_get (in [input], at);
                                if (input == 0)
                                    acc = value;
                                else
                                    acc = op == 0? fmin (acc, value): op == 1? fmax (acc, value):
                                          acc + value;
                            }
                            want [item] = (float) (op == 3? acc / n: acc);
                            got [item] = (float) s_test_get (y, item);
                        }
                        char what [64];
                        snprintf (what, sizeof what, "%s of %d %s inputs", ops [op], n,
                                  zi_dtype_name (dtype));
                        ZI_CHECK_CLOSE (t, what, got, want, count, 1e-5f, 1e-5f);
                        int64_t shape_3 [] = {2, 3, 4};
                        if (n == 3)
                            ZI_CHECK (t, y->ndim == 3 && memcmp (y->dims, shape_3,
                                                                 sizeof shape_3) == 0,
                                      "%s output shape [2, 3, 4]", what);
                    }
                    for (int input = 0; input < 3; input++)
                        zi_tensor_destroy (&in [input]);
                    zi_tensor_destroy (&y);
                    zi_node_destroy (&node);
                }
        //  NaN propagates through Max like numpy.maximum
        zi_node_t *node = zi_node_new ("Max", "test");
        zi_tensor_t *a = zi_test_tensor (1, (int64_t []) {3}, (float []) {NAN, 1, 2});
        zi_tensor_t *b = zi_test_tensor (1, (int64_t []) {3}, (float []) {0, NAN, 3});
        zi_tensor_t *inputs [2] = {a, b}, *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Max with NaN");
        const float *data = zi_tensor_f32 (y);
        ZI_CHECK (t, isnan (data [0]) && isnan (data [1]) && data [2] == 3, "Max propagates NaN");
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    //  Where: all dtypes, three-way broadcast
    {
        zi_dtype_t dtypes [] = {ZI_F32, ZI_I64, ZI_BOOL, ZI_I32, ZI_I8, ZI_U8, ZI_F16};
        int64_t dc [] = {2, 1, 4}, dx [] = {3, 1}, dy [] = {1, 3, 4}, dscalar [] = {1};
        for (int shapes = 0; shapes < 3; shapes++)
            for (int dtype_nbr = 0; dtype_nbr < 7; dtype_nbr++) {
                zi_dtype_t dtype = dtypes [dtype_nbr];
                zi_node_t *node = zi_node_new ("Where", "test");
                zi_tensor_t *cond = shapes == 2? s_test_make (ZI_BOOL, 0, dscalar, 9, false):
                                                 s_test_make (ZI_BOOL, 3, dc, 9, false);
                zi_tensor_t *x = shapes == 1? s_test_make (dtype, 3, dc, 10, false):
                                              s_test_make (dtype, 2, dx, 10, false);
                zi_tensor_t *other = s_test_make (dtype, shapes == 1? 1: 3,
                                                  shapes == 1? dscalar: dy, 12, false);
                zi_tensor_t *in [3] = {cond, x, other}, *y = NULL;
                int rc = zi_test_run_op (node, 3, in, 1, &y);
                ZI_CHECK (t, rc == 0, "Where %s: %s", zi_dtype_name (dtype), zi_error_text ());
                if (rc == 0) {
                    bool same = y->dtype == dtype;
                    for (size_t item = 0; item < zi_tensor_count (y); item++) {
                        int64_t ic = s_ref_index (y->ndim, y->dims, item, cond);
                        int64_t ix = s_ref_index (y->ndim, y->dims, item, x);
                        int64_t iy = s_ref_index (y->ndim, y->dims, item, other);
                        double want = s_test_get (cond, ic)? s_test_get (x, ix):
                                                              s_test_get (other, iy);
                        if (s_test_get (y, item) != want)
                            same = false;
                    }
                    ZI_CHECK (t, same, "Where %s, shapes %d, matches the reference",
                              zi_dtype_name (dtype), shapes);
                }
                for (int input = 0; input < 3; input++)
                    zi_tensor_destroy (&in [input]);
                zi_tensor_destroy (&y);
                zi_node_destroy (&node);
            }
    }
    //  Fused activations: Add + Relu and Add + Clip must equal add-then-act
    //  exactly, long enough to cross chunks, and Add + Relu on int64
    {
        int64_t dims [] = {3, 3000}, bias [] = {3000};
        zi_tensor_t *a = zi_test_random (2, dims, 31);
        zi_tensor_t *b = zi_test_random (1, bias, 32);
        zi_tensor_t *inputs [2] = {a, b};
        zi_act_t acts [] = {{ZI_ACT_RELU, 0, 0}, {ZI_ACT_CLIP, -0.25f, 0.5f},
                            {ZI_ACT_HARD_SWISH, 0, 0}};
        for (int act = 0; act < 3; act++) {
            zi_node_t *node = zi_node_new ("Add", "test");
            ZI_CHECK (t, node->op->fusable, "Add is fusable");
            node->act = acts [act];
            zi_tensor_t *y = NULL;
            ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Add + act %d", act);
            bool same = true;
            const float *got = zi_tensor_f32 (y), *x = zi_tensor_f32 (a), *z = zi_tensor_f32 (b);
            for (int item = 0; item < 9000; item++) {
                float sum = x [item] + z [item % 3000];
                float want = act == 0? (sum > 0? sum: 0):
                             act == 1? fminf (fmaxf (sum, -0.25f), 0.5f):
                             sum * fminf (fmaxf (sum / 6 + 0.5f, 0), 1);
                if (act < 2? got [item] != want: fabsf (got [item] - want) > 1e-6f)
                    same = false;
            }
            ZI_CHECK (t, same, "Add with fused activation %d matches add then activate", act);
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
        }
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);

        zi_node_t *node = zi_node_new ("Add", "test");
        node->act.kind = ZI_ACT_RELU;
        a = zi_test_ints (3, (int64_t []) {-5, 2, 7});
        b = zi_test_ints (1, (int64_t []) {-3});
        inputs [0] = a;
        inputs [1] = b;
        zi_tensor_t *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Add + Relu int64");
        const int64_t *data = zi_tensor_i64 (y);
        ZI_CHECK (t, data [0] == 0 && data [1] == 0 && data [2] == 4, "Add + Relu int64 values");
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
        node = zi_node_new ("Add", "test");
        node->act.kind = ZI_ACT_SIGMOID;
        s_test_fails (t, node, 2, inputs, "needs a float32 output");
        zi_node_destroy (&node);
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
    }
    //  NaN and infinities: NaN in either operand gives NaN, before and
    //  after a fused activation, as PyTorch's relu, clamp, hardswish,
    //  maximum and minimum do; infinities go through the activation
    {
        int64_t dims [] = {3, 3000}, bias [] = {3000};
        zi_tensor_t *a = zi_test_random (2, dims, 33);
        zi_tensor_t *b = zi_test_random (1, bias, 34);
        static const float specials [] = {NAN, INFINITY, -INFINITY};
        for (int item = 0; item < 9000; item += 37)
            zi_tensor_f32 (a) [item] = specials [(item / 37) % 3];
        for (int item = 5; item < 3000; item += 101)
            zi_tensor_f32 (b) [item] = specials [(item / 101) % 3];
        zi_tensor_t *inputs [2] = {a, b};
        zi_act_t acts [] = {{ZI_ACT_RELU, 0, 0}, {ZI_ACT_CLIP, -0.25f, 0.5f},
                            {ZI_ACT_HARD_SWISH, 0, 0}, {ZI_ACT_LEAKY_RELU, 0.1f, 0},
                            {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f}};
        for (int act = 0; act < 5; act++) {
            zi_node_t *node = zi_node_new ("Add", "test");
            node->act = acts [act];
            zi_tensor_t *y = NULL;
            ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Add + act %d, NaN", act);
            const float *got = zi_tensor_f32 (y), *x = zi_tensor_f32 (a), *z = zi_tensor_f32 (b);
            int wrong = -1;
            for (int item = 0; item < 9000 && wrong < 0; item++) {
                float sum = x [item] + z [item % 3000];
                float want = zi_act_one (&acts [act], sum);
                bool same = isnan (want)? isnan (got [item]): got [item] == want
                          || fabsf (got [item] - want) <= 1e-6f;
                if (!same || (isnan (sum) && !isnan (got [item])))
                    wrong = item;
            }
            ZI_CHECK (t, wrong < 0, "Add with fused activation %d on NaN and infinities: "
                      "first wrong at [%d]", act, wrong);
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
        }
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);

        //  Min, Max (of three, NaN in any place) and PRelu
        static const char *ops [] = {"Min", "Max", "PRelu"};
        zi_tensor_t *p = zi_test_tensor (1, (int64_t []) {5}, (float []) {NAN, 1, 2, INFINITY, -2});
        zi_tensor_t *q = zi_test_tensor (1, (int64_t []) {5}, (float []) {0, NAN, 3, 1, -INFINITY});
        zi_tensor_t *r = zi_test_tensor (1, (int64_t []) {5}, (float []) {0, 0, NAN, 0, 0});
        static const float wants [3][5] = {
            {NAN, NAN, NAN, 0, -INFINITY},          //  Min
            {NAN, NAN, NAN, INFINITY, 0},           //  Max
            {NAN, 1, 2, INFINITY, INFINITY}         //  PRelu, q the slope
        };
        for (int op = 0; op < 3; op++) {
            zi_node_t *node = zi_node_new (ops [op], "test");
            zi_tensor_t *operands [3] = {p, q, r}, *y = NULL;
            ZI_CHECK (t, zi_test_run_op (node, op < 2? 3: 2, operands, 1, &y) == 0,
                      "%s with NaN runs", ops [op]);
            bool same = true;
            for (int item = 0; item < 5; item++) {
                float got = zi_tensor_f32 (y) [item], want = wants [op][item];
                if (isnan (want)? !isnan (got): got != want)
                    same = false;
            }
            ZI_CHECK (t, same, "%s propagates NaN like torch", ops [op]);
            zi_tensor_destroy (&y);
            zi_node_destroy (&node);
        }
        zi_tensor_destroy (&p);
        zi_tensor_destroy (&q);
        zi_tensor_destroy (&r);
    }
    //  In place: output buffer is input 0 (the engine may reuse buffers)
    {
        zi_node_t *node = zi_node_new ("Mul", "test");
        int64_t dims [] = {4, 5}, row [] = {5};
        zi_tensor_t *a = zi_test_random (2, dims, 41);
        zi_tensor_t *b = zi_test_random (1, row, 42);
        zi_tensor_t *inputs [2] = {a, b}, *y = NULL;
        ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Mul");
        zi_tensor_t *outputs [1] = {a};
        zi_exec_t *exec = zi_exec_new ();
        ZI_CHECK (t, node->op->run (node, exec, (const zi_tensor_t *const *) inputs,
                                    outputs) == 0, "Mul in place");
        ZI_CHECK (t, memcmp (a->data, y->data, y->nbytes) == 0, "in place gives the same");
        zi_exec_destroy (&exec);
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
        zi_tensor_destroy (&y);
        zi_node_destroy (&node);
    }
    //  Errors
    {
        int64_t d23 [] = {2, 3}, d4 [] = {4}, d3 [] = {3};
        zi_tensor_t *a = zi_test_random (2, d23, 1);
        zi_tensor_t *b = zi_test_random (1, d4, 2);
        zi_tensor_t *c = zi_test_random (1, d3, 3);
        zi_tensor_t *ints = zi_test_ints (3, (int64_t []) {1, 2, 3});
        zi_tensor_t *flags = s_test_make (ZI_BOOL, 1, d3, 4, false);
        zi_node_t *node = zi_node_new ("Add", "test");
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {a, b}, "[2, 3] and input 1 of shape [4]");
        zi_node_destroy (&node);
        node = zi_node_new ("Add", "test");
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {a, ints}, "expected float32 like input 0, got int64");
        zi_node_destroy (&node);
        node = zi_node_new ("Max", "test");
        s_test_fails (t, node, 3, (zi_tensor_t *[]) {a, c, b}, "input 2 of shape [4] does not broadcast with shape [2, 3]");
        zi_node_destroy (&node);
        node = zi_node_new ("Where", "test");
        s_test_fails (t, node, 3, (zi_tensor_t *[]) {c, a, c}, "Where at node 'test': input 0 is float32, expected bool");
        zi_node_destroy (&node);
        node = zi_node_new ("Where", "test");
        s_test_fails (t, node, 3, (zi_tensor_t *[]) {flags, a, ints}, "expected float32 like input 1, got int64");
        zi_node_destroy (&node);
        node = zi_node_new ("And", "test");
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {a, c}, "input 0 is float32, expected bool");
        zi_node_destroy (&node);
        node = zi_node_new ("Less", "test");
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {flags, flags},
                      "input 0 is bool, expected float32, uint8, int8, int32 or int64");
        zi_node_destroy (&node);
        node = zi_node_new ("PRelu", "test");
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {c, a}, "slope of shape [2, 3] does not broadcast to X of shape [3]");
        zi_node_destroy (&node);
        node = zi_node_new ("Add", "test");
        node->opset = 6;
        zi_node_set_int (node, "broadcast", 1);
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {a, c}, "opset 7 or later");
        zi_node_destroy (&node);
        node = zi_node_new ("Sub", "test");
        s_test_fails (t, node, 2, (zi_tensor_t *[]) {a, NULL}, "input 1 is required");
        zi_node_destroy (&node);
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
        zi_tensor_destroy (&c);
        zi_tensor_destroy (&ints);
        zi_tensor_destroy (&flags);
    }
    //  A node reused for new shapes re-plans in prepare
    {
        zi_node_t *node = zi_node_new ("Add", "test");
        int64_t d1 [] = {2, 3}, d2 [] = {4, 1, 3};
        for (int round = 0; round < 2; round++) {
            zi_tensor_t *a = zi_test_random (round? 3: 2, round? d2: d1, 1);
            zi_tensor_t *b = zi_test_random (1, d1 + 1, 2);
            zi_tensor_t *inputs [2] = {a, b}, *y = NULL;
            ZI_CHECK (t, zi_test_run_op (node, 2, inputs, 1, &y) == 0, "Add round %d", round);
            bool same = true;
            for (size_t item = 0; item < zi_tensor_count (y); item++)
                if (zi_tensor_f32 (y) [item] != zi_tensor_f32 (a) [item] + zi_tensor_f32 (b) [item % 3])
                    same = false;
            ZI_CHECK (t, same, "Add round %d values", round);
            zi_tensor_destroy (&a);
            zi_tensor_destroy (&b);
            zi_tensor_destroy (&y);
        }
        zi_node_destroy (&node);
    }
}
