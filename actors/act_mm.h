/*  =========================================================================
    act_mm.h - products on weights packed once: Y = act (W X + b)

    The convolutions that are matrix products (1x1, im2col), Winograd's
    element-wise products and Gemm with constant weights all multiply a
    constant W by a fresh X. Packing W once at load into panels of six
    rows lets one AVX2 kernel run each product with nothing copied per
    call, the bias added to the finished sums and the activation applied
    before the one store (see act_mm.c).
    =========================================================================
*/

#ifndef ACT_MM_H_INCLUDED
#define ACT_MM_H_INCLUDED

#include "act_simd.h"

//  Floats zi_mm_pack writes for M rows of W and K columns
size_t
    zi_mm_packed_floats (int64_t maps, int64_t depth);

//  Packs W, M rows by K columns, element (m, k) at w [m ldm + k ldk]:
//  ldm = K and ldk = 1 for a row-major W, ldm = 1 and ldk = M for W
//  given transposed
void
    zi_mm_pack (const float *w, int64_t maps, int64_t depth, int64_t ldm, int64_t ldk,
                float *packed);

//  Y = act (W X + b + S) on one thread: W packed by zi_mm_pack (M x K), X
//  K rows of cols floats, ldx apart, Y M rows of cols floats, ldy apart;
//  bias [M] or NULL; S, a residual of Y's shape with rows ldsum apart, or
//  NULL, added to the finished W X + b as an Add after it would be. AVX2
//  + FMA where the CPU has them, else plain C.
void
    zi_mm (const float *packed, int64_t maps, int64_t depth, int64_t cols, const float *x,
           int64_t ldx, const float *bias, const float *sum, int64_t ldsum,
           const zi_act_t *act, float *y, int64_t ldy);

//  The same, shared out between the exec's threads; every output made as
//  by one zi_mm call, so the bits do not depend on the thread count
void
    zi_mm_parallel (zi_exec_t *exec, const float *packed, int64_t maps, int64_t depth,
                    int64_t cols, const float *x, int64_t ldx, const float *bias,
                    const float *sum, int64_t ldsum, const zi_act_t *act, float *y,
                    int64_t ldy);

//  K up to this many rows is one slice of the AVX-512 tile's sums (see
//  act_mm.c): the depth to which a kernel that sums as the tile does
//  gives its bits
#define ZI_MM_WIDE_WHOLE 160
//  Columns of a strip zi_mm_fill asks for: a slice of K by this many
//  columns of X, row after row
#define ZI_MM_STRIP_COLS 16

//  The AVX-512 tile's sums and its step down K, for the kernels whose
//  bits must be the tile's (act_mm.c, act_conv_stem.c): eighteen named
//  sums (named, so that gcc keeps them in registers), six rows of the
//  panel by up to three vectors of X, each an FMA chain from zero
#define ZI_MM_TILE_SUMS_AVX512 \
    __m512 s0a = _mm512_setzero_ps (), s0b = s0a, s0c = s0a, s1a = s0a, s1b = s0a, \
           s1c = s0a, s2a = s0a, s2b = s0a, s2c = s0a, s3a = s0a, s3b = s0a, s3c = s0a, \
           s4a = s0a, s4b = s0a, s4c = s0a, s5a = s0a, s5b = s0a, s5c = s0a
//  One row of K: the panel's six weights at w times X's vectors xa, xb,
//  xc (vectors of them, a constant where it is inlined)
#define ZI_MM_TILE_STEP_AVX512(w, vectors, xa, xb, xc) do { \
        ZI_MM_TILE_ROW_AVX512 (0, w, vectors, xa, xb, xc); \
        ZI_MM_TILE_ROW_AVX512 (1, w, vectors, xa, xb, xc); \
        ZI_MM_TILE_ROW_AVX512 (2, w, vectors, xa, xb, xc); \
        ZI_MM_TILE_ROW_AVX512 (3, w, vectors, xa, xb, xc); \
        ZI_MM_TILE_ROW_AVX512 (4, w, vectors, xa, xb, xc); \
        ZI_MM_TILE_ROW_AVX512 (5, w, vectors, xa, xb, xc); \
    } while (0)
#define ZI_MM_TILE_ROW_AVX512(r, w, vectors, xa, xb, xc) do { \
        __m512 tap_ = _mm512_set1_ps ((w) [r]); \
        s##r##a = _mm512_fmadd_ps (tap_, xa, s##r##a); \
        if ((vectors) > 1) \
            s##r##b = _mm512_fmadd_ps (tap_, xb, s##r##b); \
        if ((vectors) > 2) \
            s##r##c = _mm512_fmadd_ps (tap_, xc, s##r##c); \
    } while (0)
//  The sums by row and vector, once the K loop is done
#define ZI_MM_TILE_SUMS_TABLE_AVX512 \
    {{s0a, s0b, s0c}, {s1a, s1b, s1c}, {s2a, s2b, s2c}, \
     {s3a, s3b, s3c}, {s4a, s4b, s4c}, {s5a, s5b, s5c}}

//  Writes rows [k0, k0 + rows) of X's columns [col, col + width), width
//  at most ZI_MM_STRIP_COLS, to strip: row k at strip [(k - k0)
//  ZI_MM_STRIP_COLS], 64-byte aligned. Called from any of the exec's
//  threads at once (for different strips)
typedef void (zi_mm_fill_fn) (const void *args, int64_t k0, int64_t rows, int64_t col,
                              int64_t width, float *strip);

#if defined (ZI_HAVE_AVX2)
//  zi_mm with X never written out, fill packing each strip of it as the
//  tiles need it; the bits are zi_mm's on that X. Columns [col0, col0 +
//  cols) of fill's X. AVX2 + FMA only (the caller checks zi_use_avx2 and
//  that AVX-512 is not in use)
void
    zi_mm_fill (const float *packed, int64_t maps, int64_t depth, int64_t cols, int64_t col0,
                zi_mm_fill_fn *fill, const void *args, const float *bias, const float *sum,
                int64_t ldsum, const zi_act_t *act, float *y, int64_t ldy);

//  The same shared out between the exec's threads, with one call's bits;
//  with more maps than columns the threads pack the strips together into
//  the calling thread's slice buffer
void
    zi_mm_fill_parallel (zi_exec_t *exec, const float *packed, int64_t maps, int64_t depth,
                         int64_t cols, zi_mm_fill_fn *fill, const void *args,
                         const float *bias, const float *sum, int64_t ldsum,
                         const zi_act_t *act, float *y, int64_t ldy);
#endif

//  dst [c ldd + r] = src [r lds + c] for a rows x cols src: the transposes
//  around a product whose rows are the columns of zi_mm's X and Y
void
    zi_mm_transpose (const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                     int64_t ldd);

//  y = alpha op (A) x + beta y and cblas_sgemm, row-major, shared out
//  between the exec's threads: y in blocks of elements, C in blocks of
//  whole columns (or rows, when it is narrow), each one call on one
//  thread. y = A x (x contiguous) sums each row in one order of its own, the
//  same bits at any thread count; the transposed one and the products
//  are OpenBLAS calls. OpenBLAS
//  itself runs single-threaded: one pool for every loop, so no OpenBLAS
//  thread spins on a core that a kernel's helper needs between two calls.
void
    zi_sgemv (zi_exec_t *exec, bool trans, int64_t m, int64_t n, float alpha, const float *a,
              int64_t lda, const float *x, int64_t incx, float beta, float *y);

void
    zi_sgemm (zi_exec_t *exec, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc);

#endif
