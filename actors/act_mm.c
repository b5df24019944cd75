/*  =========================================================================
    act_mm - products on weights packed once, and the SIMD activation passes

    Y = act (W X + b) for a constant W packed at load (act_mm.h): the 1x1
    and im2col convolutions, Winograd's element-wise products and Gemm
    with constant weights all run through zi_mm.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_mm.h"
#include <cblas.h>
#include <pthread.h>

void
zi_act_simd (const zi_act_t *act, float *y, int64_t n)
{
    zi_act_apply (act, y, (size_t) n);
}

void
zi_act_rows (const zi_act_t *act, float *y, int64_t rows, int64_t cols, int64_t ld)
{
    for (int64_t row = 0; act->kind != ZI_ACT_NONE && row < rows; row++)
        zi_act_simd (act, y + row * ld, cols);
}


//  --------------------------------------------------------------------------
//  Y = W X + b is made a tile of S_MM_ROWS
//  output channels by S_MM_COLS columns at a time: twelve sums in
//  registers, fed per row of X by two loads of X and six broadcasts of W,
//  the bias added to the finished sums and the activation applied before
//  the one store. Unlike sgemm nothing is copied per run (sgemm packs W and X
//  on every call and zeroes Y first, and the bias and activation then need
//  passes of their own), which is most of the time for the small images
//  late in a network, and for Winograd's many small products. X deeper than S_MM_DEPTH rows is taken in slices,
//  each slice's sums added to Y's, so that the strip of X a tile
//  reads stays in L1 for every panel of W. The AVX-512 tile's slices are
//  at most S_MM_WIDE_DEPTH rows, except that K up to S_MM_WIDE_WHOLE is
//  one slice; K is cut into slices of equal depth (the last shorter),
//  at either level.
//
//  The order of the sums follows ONNX Runtime's NCHWc kernels (MLAS):
//  each slice of K is summed from zero and then added to what Y holds, and
//  the bias joins last. Measured alone on the corpus models' layers
//  against float64: started from the bias, whose folded batch
//  normalisation cancels much of the sum, the 1x1 convolutions of the
//  mlsd models were 1.4-2.9 times ONNX Runtime's distance; one chain down
//  a long K, bias first or last, isnet's dilated 3x3 ones (K 2304-4608)
//  were 3-4 times. In this order a 1x1 convolution whose K is sliced as
//  MLAS slices it gives ONNX Runtime's bits, and the rest are 0.6-1.05
//  times its distance (docs/models.md).
#define S_MM_ROWS 6
#define S_MM_COLS 16
//  The AVX-512 tile's columns: three vectors of sixteen (see s_mm_avx512)
#define S_MM_WIDE_COLS 48
#define S_MM_DEPTH 256
//  The AVX-512 tile's slices of K: a strip of 48 columns by this many rows
//  stays in L1 (24 kB of 48) beside the panel and the tile of Y, where
//  256 rows (48 kB) filled it and each panel read the strip from L2
#ifndef S_MM_WIDE_DEPTH
#define S_MM_WIDE_DEPTH 128
#endif
//  ... but K up to this many rows goes in one slice: its strip (30 kB at
//  most) and panel (4 kB) still fit L1 together, and a second slice would
//  store Y and load it back to add to it. resnet's 7x7 stem (K 147) had
//  two slices of 74 (see docs/performance.md)
#define S_MM_WIDE_WHOLE ZI_MM_WIDE_WHOLE
//  A slice of W up to this size stays in L2 while the AVX-512 tiles go
//  over it once per column tile (see s_mm_avx512)
#define S_MM_WIDE_L2_BYTES (1024 * 1024)
//  A shallow product whose Y is larger than this (L2) goes panel by panel
//  with the AVX-512 tile too (see s_mm_avx512)
#define S_MM_WIDE_Y_BYTES (2 * 1024 * 1024)

//  Products this shallow run panel by panel (see s_mm_avx2)
#define S_MM_SHALLOW 64
//  and in blocks of columns whose slice of X is at most this size, a
//  quarter of Zen 3's L2: resnet50's 1x1 products at 56x56 and K 64, one
//  thread, alone, old / new interleaved: 1.3-1.4x (64 kB and 128 kB alike,
//  192 and 256 kB gained less); in the model the 1x1 s1 kind 5 % faster
#define S_MM_SHALLOW_X_BYTES (128 * 1024)
//  Strips of X read by at least this many panels, deep enough and with
//  rows a page or more apart, are packed first (resnet50's 1x1
//  convolutions 4-6 % faster; shallower ones gained nothing)
#define S_MM_PACK_PANELS 4
#define S_MM_PACK_DEPTH 128
//  Rows of X this many floats apart or more (a page) are packed before
//  the panels read them: the strips of a deep product's column tile, and
//  at AVX2 a shallow product's blocks of columns. Shallow blocks alone,
//  one thread, 21-31 calls of each, caches flushed between calls, new /
//  old by median: resnet50's 256 x 64 x 3136 with a residual 0.82-0.88,
//  mobilenet_v3's 72 x 24 x 3136 0.86-0.93, 64 x 16 x 12544 0.89-1.04,
//  64 x 64 x 3136 0.95-1.03 (11 panels); rows 784 floats apart or fewer
//  read 0.99-1.02 hot, so they stay in place
#define S_MM_PACK_LD 1024
//  At AVX2 the slice of X a product panel by panel reads is packed whole
//  when it is at most this many floats (256 kB, half of Zen 3's L2: a slice
//  of 256 rows by 196 columns, resnet50's 14x14 layers). Alone, one thread,
//  old / new interleaved, best calls: M x K x columns 1024 x 512 x 196
//  0.83, 512 x 1024 x 196 0.90, 2048 x 512 x 49 0.92, 2048 x 1024 x 49
//  0.86; products not panel by panel 0.93-1.02 (unchanged code)
#define S_MM_SLICE_FLOATS 65536
//  Strips of X with rows this far apart (floats) or more are fetched
//  ahead by the tiles of either width, packed or not (see s_mm_avx512);
//  at AVX2, a tile among column tiles outside whose Y rows are this far
//  apart fetches the residual's lines it will add (see s_mm_tile_at)
#define S_MM_FETCH_LD 512


//  Floats of packed weights for M output and K input channels: whole
//  panels, and two floats of slack for the column kernel's eight-float
//  loads of a six-float row
size_t
zi_mm_packed_floats (int64_t maps, int64_t depth)
{
    return (size_t) ((maps + S_MM_ROWS - 1) / S_MM_ROWS * S_MM_ROWS * depth + 2);
}

//  Panel p holds W [p S_MM_ROWS + r][k] at [p][k][r], zero past M
void
zi_mm_pack (const float *w, int64_t maps, int64_t depth, int64_t ldm, int64_t ldk,
            float *packed)
{
    memset (packed, 0, zi_mm_packed_floats (maps, depth) * sizeof (float));
    for (int64_t m = 0; m < maps; m++)
        for (int64_t k = 0; k < depth; k++)
            packed [(m / S_MM_ROWS * depth + k) * S_MM_ROWS + m % S_MM_ROWS] = w [m * ldm + k * ldk];
}

#if defined (ZI_HAVE_AVX2)
//  One tile: rows output channels (the panel's valid ones) by 16 columns,
//  or by 8 when narrow; masked loads and stores when the tile passes the
//  end of the row. It also fetches fetch_rows rows of X from fetch,
//  fetch_ld floats apart (the next strip of X, or the next panel's slice
//  of W), into L2, one a step (see s_mm_avx2). Named sums, not an array:
//  gcc keeps those in registers.
static ZI_AVX2_INLINE void
s_mm_tile_avx2 (const float *panel, const float *x, int64_t depth, int64_t ldx,
                bool add_y, const float *bias, const float *sum, int64_t ldsum,
                zi_act_kind_t kind, __m256 alpha, __m256 beta, float *y, int64_t ldy,
                int64_t rows, bool narrow, bool masked, __m256i mask_lo, __m256i mask_hi,
                const float *fetch, int64_t fetch_ld, int64_t fetch_rows)
{
    //  The slice's sums start from zero; add_y: a later slice of K, whose
    //  sums are added to those y holds; bias (the last slice) or NULL
    __m256 s0a = _mm256_setzero_ps (), s0b = s0a, s1a = s0a, s1b = s0a, s2a = s0a, s2b = s0a,
           s3a = s0a, s3b = s0a, s4a = s0a, s4b = s0a, s5a = s0a, s5b = s0a;
    //  Four rows of K a pass: one step is 12 FMAs among 25 instructions,
    //  and a hyperthread sibling at work shares the front end, so the
    //  loop's own adds and branch cost FMAs (Zen 3, products on 196 and 49
    //  columns 1.03-1.13x at one thread); each sum's chain is unchanged
#pragma GCC unroll 4
    for (int64_t k = 0; k < depth; k++) {
        //  A row of the next strip of X into L2: its (at most) two lines
        if (k < fetch_rows) {
            const float *row = fetch + k * fetch_ld;
            _mm_prefetch ((const char *) row, _MM_HINT_T1);
            _mm_prefetch ((const char *) (row + S_MM_COLS - 1), _MM_HINT_T1);
        }
        __m256 lo = masked? _mm256_maskload_ps (x, mask_lo): _mm256_loadu_ps (x);
        __m256 hi = _mm256_setzero_ps ();
        if (!narrow)
            hi = masked? _mm256_maskload_ps (x + 8, mask_hi): _mm256_loadu_ps (x + 8);
        __m256 tap;
#define S_MM_STEP(r) \
        tap = _mm256_broadcast_ss (panel + r); \
        s##r##a = _mm256_fmadd_ps (tap, lo, s##r##a); \
        if (!narrow) \
            s##r##b = _mm256_fmadd_ps (tap, hi, s##r##b);
        S_MM_STEP (0) S_MM_STEP (1) S_MM_STEP (2) S_MM_STEP (3) S_MM_STEP (4) S_MM_STEP (5)
#undef S_MM_STEP
        panel += S_MM_ROWS;
        x += ldx;
    }
    __m256 sums [S_MM_ROWS][2] = {
        {s0a, s0b}, {s1a, s1b}, {s2a, s2b}, {s3a, s3b}, {s4a, s4b}, {s5a, s5b}
    };
    for (int64_t r = 0; r < rows; r++) {
        float *yrow = y + r * ldy;
        if (add_y) {
            sums [r][0] = _mm256_add_ps (sums [r][0], masked? _mm256_maskload_ps (yrow, mask_lo):
                                                              _mm256_loadu_ps (yrow));
            if (!narrow)
                sums [r][1] = _mm256_add_ps (sums [r][1],
                                             masked? _mm256_maskload_ps (yrow + 8, mask_hi):
                                                     _mm256_loadu_ps (yrow + 8));
        }
        if (bias) {
            sums [r][0] = _mm256_add_ps (sums [r][0], _mm256_set1_ps (bias [r]));
            sums [r][1] = _mm256_add_ps (sums [r][1], _mm256_set1_ps (bias [r]));
        }
        //  A fused residual is added to the finished sums, as an Add after
        //  the convolution would, then the activation
        if (sum) {
            const float *srow = sum + r * ldsum;
            sums [r][0] = _mm256_add_ps (sums [r][0], masked? _mm256_maskload_ps (srow, mask_lo):
                                                              _mm256_loadu_ps (srow));
            if (!narrow)
                sums [r][1] = _mm256_add_ps (sums [r][1],
                                             masked? _mm256_maskload_ps (srow + 8, mask_hi):
                                                     _mm256_loadu_ps (srow + 8));
        }
        __m256 lo = zi_act8_avx2 (sums [r][0], kind, alpha, beta);
        if (masked)
            _mm256_maskstore_ps (yrow, mask_lo, lo);
        else
            _mm256_storeu_ps (yrow, lo);
        if (narrow)
            continue;
        __m256 hi = zi_act8_avx2 (sums [r][1], kind, alpha, beta);
        if (masked)
            _mm256_maskstore_ps (yrow + 8, mask_hi, hi);
        else
            _mm256_storeu_ps (yrow + 8, hi);
    }
}

//  One column of Y for one panel, for the last few columns of a row: the
//  panel's six weights for a row of X are one vector, times that row's
//  value in the column. Four sums over alternate rows keep the FMA units
//  from waiting on one long chain.
static ZI_AVX2_INLINE void
s_mm_column_avx2 (const float *panel, const float *x, int64_t depth, int64_t ldx,
                  bool add_y, const float *bias, const float *sum, int64_t ldsum,
                  zi_act_kind_t kind, __m256 alpha, __m256 beta, float *y, int64_t ldy,
                  int64_t rows)
{
    __m256 sum0 = _mm256_setzero_ps (), sum1 = sum0, sum2 = sum0, sum3 = sum0;
    int64_t k = 0;
    for (; k + 4 <= depth; k += 4) {
        const float *at = panel + k * S_MM_ROWS;
        sum0 = _mm256_fmadd_ps (_mm256_loadu_ps (at), _mm256_broadcast_ss (x), sum0);
        sum1 = _mm256_fmadd_ps (_mm256_loadu_ps (at + S_MM_ROWS),
                                _mm256_broadcast_ss (x + ldx), sum1);
        sum2 = _mm256_fmadd_ps (_mm256_loadu_ps (at + 2 * S_MM_ROWS),
                                _mm256_broadcast_ss (x + 2 * ldx), sum2);
        sum3 = _mm256_fmadd_ps (_mm256_loadu_ps (at + 3 * S_MM_ROWS),
                                _mm256_broadcast_ss (x + 3 * ldx), sum3);
        x += 4 * ldx;
    }
    for (; k < depth; k++) {
        sum0 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + k * S_MM_ROWS),
                                _mm256_broadcast_ss (x), sum0);
        x += ldx;
    }
    __m256 total = _mm256_add_ps (_mm256_add_ps (sum0, sum1), _mm256_add_ps (sum2, sum3));
    //  What y holds, then the bias, as the tile adds them
    float before [8] = {0}, late [8] = {0};
    for (int64_t r = 0; r < rows; r++) {
        before [r] = add_y? y [r * ldy]: 0;
        late [r] = bias? bias [r]: 0;
    }
    if (add_y)
        total = _mm256_add_ps (total, _mm256_loadu_ps (before));
    if (bias)
        total = _mm256_add_ps (total, _mm256_loadu_ps (late));
    if (sum) {
        float residual [8] = {0};
        for (int64_t r = 0; r < rows; r++)
            residual [r] = sum [r * ldsum];
        total = _mm256_add_ps (total, _mm256_loadu_ps (residual));
    }
    float lanes [8];
    _mm256_storeu_ps (lanes, zi_act8_avx2 (total, kind, alpha, beta));
    for (int64_t r = 0; r < rows; r++)
        y [r * ldy] = lanes [r];
}

//  One tile of a slice of K: panel p, columns from col, of a product
typedef struct {
    const float *packed;        //  W packed
    int64_t maps, depth;        //  M, K
    int64_t cols;               //  columns of X and Y
    const float *x;             //  X
    int64_t ldx, ldy;           //  row strides of X and Y
    const float *bias;          //  [M] or NULL
    const float *sum;           //  residual added before the activation, or NULL
    int64_t ldsum;              //  its row stride
    float *y;                   //  Y
    int64_t k0, rows_x;         //  the slice of K
    bool first;                 //  the first slice: Y holds nothing yet
    bool last;                  //  the last slice: bias, residual and activation
    zi_act_kind_t now;          //  activation to apply (the last slice)
    __m256 alpha, beta;         //  its parameters
    const float *strip;         //  the current column tile of X's slice, packed
                                //  S_MM_COLS wide, or NULL to read X in place
    const float *fetch;         //  rows of X (ldx apart) of the next strip, or
                                //  the next panel's slice of W, to fetch into
                                //  L2 while a tile runs
    int64_t fetch_ld;           //  their stride (floats)
    int64_t fetch_rows;         //  how many (0: none)
    bool far;                   //  column tiles outside, Y's rows S_MM_FETCH_LD
                                //  floats apart or more: fetch the residual
} s_mm_slice_t;

//  A column tile of X's slice copied into contiguous rows of S_MM_COLS
//  floats (the tail tile's columns past the end are not read). In place,
//  each step down K would be ldx floats on, a page away on a large image:
//  more pages than the TLB holds, read again for every panel
static ZI_AVX2_INLINE void
s_mm_pack_strip (const float *x, int64_t ldx, int64_t rows, int64_t width, float *strip)
{
    for (int64_t k = 0; k < rows; k++, x += ldx, strip += S_MM_COLS)
        if (width >= S_MM_COLS) {
            _mm256_store_ps (strip, _mm256_loadu_ps (x));
            _mm256_store_ps (strip + 8, _mm256_loadu_ps (x + 8));
        }
        else
            memcpy (strip, x, width * sizeof (float));
}

static ZI_AVX2_INLINE void
s_mm_tile_at (const s_mm_slice_t *at, int64_t p, int64_t col)
{
    __m256i all = _mm256_set1_epi32 (-1);
    int64_t maps = at->maps, left = at->cols - col;
    int64_t rows = maps - p * S_MM_ROWS < S_MM_ROWS? maps - p * S_MM_ROWS: S_MM_ROWS;
    const float *bias = at->bias && at->last? at->bias + p * S_MM_ROWS: NULL;
    bool add_y = !at->first;
    const float *panel = at->packed + (p * at->depth + at->k0) * S_MM_ROWS;
    const float *strip = at->strip? at->strip: at->x + at->k0 * at->ldx + col;
    int64_t ldx = at->strip? S_MM_COLS: at->ldx;
    float *y_p = at->y + p * S_MM_ROWS * at->ldy + col;
    //  The residual joins in the last slice, with the activation
    const float *sum = at->sum && at->last? at->sum + p * S_MM_ROWS * at->ldsum + col: NULL;
    int64_t ldsum = at->ldsum;
    //  Column tiles outside with Y's rows far apart: the lines of the
    //  residual (and of Y, in a later slice of K) this tile adds after its
    //  sums are one a row, each a page or so from the next, more streams
    //  than the hardware prefetcher follows, so each was a miss the adds
    //  waited for. Asked for now, they arrive while the K loop runs
    //  (resnet50's 512 x 128 x 784 with a residual 0.81-0.91 alone, see
    //  docs/performance.md). Only loads: fetching the lines Y's stores
    //  write gained nothing
    if (at->far && (sum || add_y))
        for (int64_t r = 0; r < rows; r++) {
            if (sum) {
                _mm_prefetch ((const char *) (sum + r * ldsum), _MM_HINT_T0);
                _mm_prefetch ((const char *) (sum + r * ldsum + S_MM_COLS - 1), _MM_HINT_T0);
            }
            if (add_y) {
                _mm_prefetch ((const char *) (y_p + r * at->ldy), _MM_HINT_T0);
                _mm_prefetch ((const char *) (y_p + r * at->ldy + S_MM_COLS - 1), _MM_HINT_T0);
            }
        }
    if (left >= S_MM_COLS)
        s_mm_tile_avx2 (panel, strip, at->rows_x, ldx, add_y, bias, sum, ldsum, at->now,
                        at->alpha, at->beta, y_p, at->ldy, rows, false, false, all, all,
                        at->fetch, at->fetch_ld, at->fetch_rows);
    else
    if (left > 8)
        s_mm_tile_avx2 (panel, strip, at->rows_x, ldx, add_y, bias, sum, ldsum, at->now,
                        at->alpha, at->beta, y_p, at->ldy, rows, false, true, all,
                        zi_tail_mask_avx2 (left - 8), at->fetch, at->fetch_ld,
                        at->fetch_rows);
    else
    if (left >= 4)
        s_mm_tile_avx2 (panel, strip, at->rows_x, ldx, add_y, bias, sum, ldsum, at->now,
                        at->alpha, at->beta, y_p, at->ldy, rows, true, true,
                        zi_tail_mask_avx2 (left), all, at->fetch, at->fetch_ld,
                        at->fetch_rows);
    else
        for (int64_t c = 0; c < left; c++)
            s_mm_column_avx2 (panel, strip + c, at->rows_x, ldx, add_y, bias,
                              sum? sum + c: NULL, ldsum, at->now, at->alpha, at->beta, y_p + c,
                              at->ldy, rows);
}

//  Y = act (W X + b), W [M][K] packed by zi_mm_pack, X [K][cols] with rows
//  ldx floats apart, Y [M][cols] with rows ldy apart, a slice of K at a
//  time. Within a slice one operand is read once and the other again for
//  each tile of the first: when W's slice is the larger (late layers, a
//  classifier, a batch through a linear layer) the loop over columns is
//  inside the loop over panels, so a panel stays in L1 while the strips of
//  X come from L2 (with AVX-512 only once W's slice outgrows L2, see
//  s_mm_avx512); else the other way round, W's slice staying in cache
//  while each strip of X is used by every panel. A shallow product (K up
//  to 64: a network's first layer, the expansions of small channel counts)
//  also goes panel by panel: each tile then writes its six rows of Y right
//  after the last tile's, instead of one row in each of M planes far apart
//  (squeezenet 9 %, mobilenet_v3_small 4 %). Every tile is made the
//  same way in either order, so the order does not change the bits. Only
//  the last slice adds the bias and applies the activation.
//  One packed strip per thread: a slice of K by one column tile
static _Thread_local float s_strip [S_MM_DEPTH * S_MM_WIDE_COLS] __attribute__ ((aligned (64)));

//  A whole slice of X, packed for a product that goes panel by panel: one
//  buffer per thread that makes such a product, made on its first one and
//  freed as the thread ends (thread-local storage would be zeroed, so
//  resident, in every thread of the process)
static pthread_key_t s_slice_key;
static pthread_once_t s_slice_once = PTHREAD_ONCE_INIT;

static bool s_slice_keyed;       //  the key was made: threads may have a buffer

static void
s_slice_key_new (void)
{
    s_slice_keyed = pthread_key_create (&s_slice_key, free) == 0;
}

//  The calling thread's buffer, or NULL if it cannot be had
static float *
s_mm_slice_buffer (void)
{
    pthread_once (&s_slice_once, s_slice_key_new);
    if (!s_slice_keyed)
        return NULL;
    float *buffer = pthread_getspecific (s_slice_key);
    if (!buffer) {
        buffer = aligned_alloc (64, S_MM_SLICE_FLOATS * sizeof (float));
        if (buffer && pthread_setspecific (s_slice_key, buffer)) {
            free (buffer);
            buffer = NULL;
        }
    }
    return buffer;
}

//  Panel by panel over a packed slice: the panel's first tile (first)
//  fetches the next panel's slice of W into L2, as rows of sixteen floats
//  (see s_mm_avx2); the others fetch nothing
static ZI_AVX2_INLINE void
s_mm_fetch_next_panel (s_mm_slice_t *at, int64_t p, bool first)
{
    int64_t panels = (at->maps + S_MM_ROWS - 1) / S_MM_ROWS;
    bool next = first && p + 1 < panels;
    at->fetch_rows = next? (at->rows_x * S_MM_ROWS + S_MM_COLS - 1) / S_MM_COLS: 0;
    //  Only a panel that exists: the last one's successor is past the array
    at->fetch = next? at->packed + ((p + 1) * at->depth + at->k0) * S_MM_ROWS: NULL;
    at->fetch_ld = S_MM_COLS;
}

static ZI_AVX2 void
s_mm_avx2 (const float *packed, int64_t maps, int64_t depth, int64_t cols, const float *x,
           int64_t ldx, const float *bias, const float *sum, int64_t ldsum, const zi_act_t *act,
           float *y, int64_t ldy)
{
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    int64_t panels = (maps + S_MM_ROWS - 1) / S_MM_ROWS;
    int64_t slices = (depth + S_MM_DEPTH - 1) / S_MM_DEPTH;
    int64_t slice = (depth + slices - 1) / slices;
    s_mm_slice_t at = {
        .packed = packed, .maps = maps, .depth = depth, .cols = cols, .x = x, .ldx = ldx,
        .ldy = ldy, .bias = bias, .sum = sum, .ldsum = ldsum, .y = y,
        .alpha = _mm256_set1_ps (act->alpha), .beta = _mm256_set1_ps (act->beta)
    };
    bool panels_outer = maps > cols || depth <= S_MM_SHALLOW;
    //  A shallow product goes panel by panel over blocks of whole tiles of
    //  columns, each block's X small enough to stay in L2 while every
    //  panel reads it: over all of a 56x56 image (K 64: 800 kB) each panel
    //  read X from L3 where the core's L2 is 512 kB (Zen 3). A block's
    //  strips are packed first when X's rows are far apart
    //  A deeper product with more output channels than columns (late
    //  layers, Winograd's products) reads X's slice in place once per
    //  panel, from L2, rows ldx floats apart: 196 columns are 784 bytes, so
    //  most rows of a 16-column strip span two lines. Packed once per
    //  slice into contiguous strips, each panel reads whole aligned lines
    //  in order (see S_MM_SLICE_FLOATS)
    int64_t tiled = (cols + S_MM_COLS - 1) / S_MM_COLS * S_MM_COLS;
    float *whole = panels_outer && depth > S_MM_SHALLOW && panels >= S_MM_PACK_PANELS
                 && slice * tiled <= S_MM_SLICE_FLOATS?
                   s_mm_slice_buffer (): NULL;
    int64_t block = cols;
    float *packed_block = NULL;
    if (depth <= S_MM_SHALLOW && maps <= cols) {
        block = S_MM_SHALLOW_X_BYTES / (int64_t) sizeof (float) / depth / S_MM_COLS * S_MM_COLS;
        if (block < S_MM_COLS)
            block = S_MM_COLS;
        //  With rows a page or more apart, each tile's strip read in place
        //  is a page per row of K; packed, a block's strips are one run
        //  that every panel reads (see S_MM_PACK_LD)
        if (panels >= S_MM_PACK_PANELS && ldx >= S_MM_PACK_LD) {
            assert (block * depth <= S_MM_SLICE_FLOATS);
            packed_block = s_mm_slice_buffer ();
        }
    }
    for (at.k0 = 0; at.k0 < depth; at.k0 += slice) {
        at.rows_x = depth - at.k0 < slice? depth - at.k0: slice;
        at.first = at.k0 == 0;
        at.last = at.k0 + at.rows_x == depth;
        at.now = at.last? kind: ZI_ACT_NONE;
        if (whole) {
            //  X's slice packed once, tile by tile, and read by every panel.
            //  Each panel's first tile fetches the next panel's slice of W
            //  into L2, a line a step, as the wide tiles fetch theirs: a
            //  slice is a few kB from the last one, too short a run for the
            //  hardware prefetcher to find, and late layers' W (4 MB on
            //  7x7) comes from memory (resnet50's 2048 x 512 x 49 with a
            //  residual and 512 x 2048 x 49 alone, caches flushed, 0.86-0.97
            //  by median; see docs/performance.md)
            for (int64_t col = 0; col < cols; col += S_MM_COLS)
                s_mm_pack_strip (x + at.k0 * ldx + col, ldx, at.rows_x, cols - col,
                                 whole + col * at.rows_x);
            for (int64_t p = 0; p < panels; p++)
                for (int64_t col = 0; col < cols; col += S_MM_COLS) {
                    at.strip = whole + col * at.rows_x;
                    s_mm_fetch_next_panel (&at, p, col == 0);
                    s_mm_tile_at (&at, p, col);
                }
            at.strip = NULL;
            at.fetch_rows = 0;
        }
        else
        if (panels_outer)
            for (int64_t c0 = 0; c0 < cols; c0 += block) {
                int64_t c1 = cols - c0 < block? cols: c0 + block;
                if (packed_block) {
                    //  The block's strips packed once, read by every panel
                    for (int64_t col = c0; col < c1; col += S_MM_COLS)
                        s_mm_pack_strip (x + at.k0 * ldx + col, ldx, at.rows_x, cols - col,
                                         packed_block + (col - c0) * at.rows_x);
                    for (int64_t p = 0; p < panels; p++)
                        for (int64_t col = c0; col < c1; col += S_MM_COLS) {
                            at.strip = packed_block + (col - c0) * at.rows_x;
                            s_mm_tile_at (&at, p, col);
                        }
                    at.strip = NULL;
                    continue;
                }
                for (int64_t p = 0; p < panels; p++)
                    for (int64_t col = c0; col < c1; col += S_MM_COLS)
                        s_mm_tile_at (&at, p, col);
            }
        else
            for (int64_t col = 0; col < cols; col += S_MM_COLS) {
                //  Every panel reads this strip: contiguous, it costs a
                //  page walk per slice instead of one per row of K
                if (panels >= S_MM_PACK_PANELS && at.rows_x >= S_MM_PACK_DEPTH
                &&  ldx >= S_MM_PACK_LD) {
                    s_mm_pack_strip (x + at.k0 * ldx + col, ldx, at.rows_x,
                                     cols - col, s_strip);
                    at.strip = s_strip;
                }
                //  The panels share out the next strip's rows and fetch
                //  them into L2 as they run, as the wide tiles do (see
                //  s_mm_avx512; resnet50's 1x1 products alone at 56x56 and
                //  28x28, caches flushed, 1.02-1.07x by best call)
                at.far = ldy >= S_MM_FETCH_LD;
                int64_t chunk = (at.rows_x + panels - 1) / panels;
                bool fetch = (at.strip || ldx >= S_MM_FETCH_LD) && col + S_MM_COLS < cols;
                for (int64_t p = 0; p < panels; p++) {
                    int64_t first = p * chunk;
                    at.fetch_rows = fetch && first < at.rows_x?
                                    (at.rows_x - first < chunk? at.rows_x - first: chunk): 0;
                    at.fetch = x + (at.k0 + first) * ldx + col + S_MM_COLS;
                    at.fetch_ld = ldx;
                    s_mm_tile_at (&at, p, col);
                }
                at.fetch_rows = 0;
                at.strip = NULL;
            }
    }
    if (kind != act->kind)
        zi_act_rows (act, y, maps, cols, ldy);
}

//  The same product with X never written out: fill packs each strip of
//  it, a slice of K by one tile of columns, straight from where X's
//  values are (an image, for a convolution's taps), into the contiguous
//  rows the tiles read. The slices and the tiles are those of
//  s_mm_avx2, so are the bits: only the order of the tiles differs,
//  panel by panel when W has more rows than X has columns (every strip
//  of a block of columns packed once and read by all panels), else
//  column tile by column tile (one strip packed, then every panel).
//  col0 is where these columns start among the fill's.
static ZI_AVX2 void
s_mm_fill_avx2 (const float *packed, int64_t maps, int64_t depth, int64_t cols, int64_t col0,
                zi_mm_fill_fn *fill, const void *args, const float *bias, const float *sum,
                int64_t ldsum, const zi_act_t *act, float *y, int64_t ldy)
{
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    int64_t panels = (maps + S_MM_ROWS - 1) / S_MM_ROWS;
    int64_t slices = (depth + S_MM_DEPTH - 1) / S_MM_DEPTH;
    int64_t slice = (depth + slices - 1) / slices;
    s_mm_slice_t at = {
        .packed = packed, .maps = maps, .depth = depth, .cols = cols, .ldx = S_MM_COLS,
        .ldy = ldy, .bias = bias, .sum = sum, .ldsum = ldsum, .y = y,
        .alpha = _mm256_set1_ps (act->alpha), .beta = _mm256_set1_ps (act->beta)
    };
    float *whole = maps > cols && panels >= S_MM_PACK_PANELS? s_mm_slice_buffer (): NULL;
    //  Whole tiles of columns whose strips fit the buffer together
    int64_t block = S_MM_SLICE_FLOATS / slice / S_MM_COLS * S_MM_COLS;
    for (at.k0 = 0; at.k0 < depth; at.k0 += slice) {
        at.rows_x = depth - at.k0 < slice? depth - at.k0: slice;
        at.first = at.k0 == 0;
        at.last = at.k0 + at.rows_x == depth;
        at.now = at.last? kind: ZI_ACT_NONE;
        if (whole)
            for (int64_t c0 = 0; c0 < cols; c0 += block) {
                int64_t c1 = cols - c0 < block? cols: c0 + block;
                for (int64_t col = c0; col < c1; col += S_MM_COLS)
                    fill (args, at.k0, at.rows_x, col0 + col,
                          cols - col < S_MM_COLS? cols - col: S_MM_COLS,
                          whole + (col - c0) * at.rows_x);
                for (int64_t p = 0; p < panels; p++)
                    for (int64_t col = c0; col < c1; col += S_MM_COLS) {
                        at.strip = whole + (col - c0) * at.rows_x;
                        s_mm_fetch_next_panel (&at, p, col == c0);
                        s_mm_tile_at (&at, p, col);
                    }
                at.fetch_rows = 0;
            }
        else
            for (int64_t col = 0; col < cols; col += S_MM_COLS) {
                fill (args, at.k0, at.rows_x, col0 + col,
                      cols - col < S_MM_COLS? cols - col: S_MM_COLS, s_strip);
                at.strip = s_strip;
                at.far = ldy >= S_MM_FETCH_LD;
                for (int64_t p = 0; p < panels; p++)
                    s_mm_tile_at (&at, p, col);
            }
    }
    if (kind != act->kind)
        zi_act_rows (act, y, maps, cols, ldy);
}

void
zi_mm_fill (const float *packed, int64_t maps, int64_t depth, int64_t cols, int64_t col0,
            zi_mm_fill_fn *fill, const void *args, const float *bias, const float *sum,
            int64_t ldsum, const zi_act_t *act, float *y, int64_t ldy)
{
    s_mm_fill_avx2 (packed, maps, depth, cols, col0, fill, args, bias, sum, ldsum, act, y, ldy);
}

#if defined (ZI_HAVE_AVX512)
//  --------------------------------------------------------------------------
//  AVX-512: the same panels of six rows, so weights packed once serve
//  every level, and tiles up to three times as wide: 48 columns, three
//  sixteen-float vectors per row of the panel, eighteen sums in registers
//  (of 32) fed per row of X by three loads and six broadcasts. 48, not
//  32 or 64, because the products late in an image network are 49
//  columns wide (7x7 images, and Winograd's 49 tiles on 28x28 and 14x14):
//  one full tile and one column, where 32 + 17 left fifteen lanes of
//  sixteen idle in the second tile. A row's last columns are a tile of
//  one to three vectors, the last one masked (a mask costs nothing here);
//  one column past whole vectors joins the tile before it, two or three
//  go through the AVX2 column kernel, whose vector spans the panel's rows
//  instead of leaving most lanes of a tile empty.

//  Sixteen floats at p, or the lanes of mask (the others zero, not read)
static ZI_AVX512_INLINE __m512
s_load16 (const float *p, bool masked, __mmask16 mask)
{
    return masked? _mm512_maskz_loadu_ps (mask, p): _mm512_loadu_ps (p);
}

static ZI_AVX512_INLINE void
s_store16 (float *p, __m512 v, bool masked, __mmask16 mask)
{
    if (masked)
        _mm512_mask_storeu_ps (p, mask, v);
    else
        _mm512_storeu_ps (p, v);
}

//  One tile: rows output channels (the panel's valid ones) by `vectors`
//  vectors of sixteen columns (1 to 3, a constant where it is inlined),
//  the last one masked by tail when masked, and with extra one column
//  more, read from xe (lde floats a row of K): in the tile's K loop it is
//  one FMA chain among eighteen, each step longer than an FMA's latency,
//  where the column kernel's own pass over the panel, waiting on its
//  chains, made a 7x7 image's products (49 columns) 15-17 % slower than
//  48 columns; now 7-9 % (512 x 4608, 512 x 2048 and 2048 x 512, one
//  thread, alternating calls: 5-8 % faster than before). Its sums then
//  follow the tile's order too. While it runs it prefetches
//  `ahead`, the weights the next tile will read (NULL: none): a panel's
//  slice is a few kB far from the last one, too short a run for the
//  hardware prefetcher to find before it ends, and the weights of the
//  large late layers come from memory. It also fetches fetch_rows rows
//  of X from fetch, fetch_ld floats apart, into L2, one each step: the
//  strip the next column tile will pack (see s_mm_avx512).
static ZI_AVX512_INLINE void
s_mm_tile_avx512 (const float *panel, const float *x, int64_t depth, int64_t ldx,
                  bool add_y, const float *bias, const float *sum, int64_t ldsum,
                  zi_act_kind_t kind,
                  __m512 alpha, __m512 beta, float *y, int64_t ldy, int64_t rows,
                  const int vectors, bool masked, __mmask16 tail, const bool extra,
                  const float *xe, int64_t lde, const float *ahead, const float *fetch,
                  int64_t fetch_ld, int64_t fetch_rows)
{
    //  Is vector v the masked one?
#define S_MASKED(v) (masked && (v) == vectors - 1)
    //  As s_mm_tile_avx2: from zero, y's sums (add_y) and the bias last
    __m512 zero = _mm512_setzero_ps ();
    //  The extra column's sums, the panel's rows in one vector
    __m256 column = _mm256_setzero_ps ();
    ZI_MM_TILE_SUMS_AVX512;
    for (int64_t k = 0; k < depth; k++) {
        //  Six floats of weights a step: a line of the next tile's every
        //  two or three steps
        if (ahead)
            _mm_prefetch ((const char *) (ahead + k * S_MM_ROWS), _MM_HINT_T0);
        //  A row of the next strip of X into L2, each a page of its own
        if (k < fetch_rows) {
            const float *row = fetch + k * fetch_ld;
            _mm_prefetch ((const char *) row, _MM_HINT_T1);
            _mm_prefetch ((const char *) (row + 16), _MM_HINT_T1);
            _mm_prefetch ((const char *) (row + 32), _MM_HINT_T1);
        }
        __m512 xa = s_load16 (x, S_MASKED (0), tail);
        __m512 xb = vectors > 1? s_load16 (x + 16, S_MASKED (1), tail): zero;
        __m512 xc = vectors > 2? s_load16 (x + 32, S_MASKED (2), tail): zero;
        ZI_MM_TILE_STEP_AVX512 (panel, vectors, xa, xb, xc);
        //  One chain, but a step of the tile takes longer than an FMA's
        //  latency: the column costs one FMA in nineteen
        if (extra) {
            column = _mm256_fmadd_ps (_mm256_loadu_ps (panel), _mm256_broadcast_ss (xe), column);
            xe += lde;
        }
        panel += S_MM_ROWS;
        x += ldx;
    }
    __m512 sums [S_MM_ROWS][3] = ZI_MM_TILE_SUMS_TABLE_AVX512;
    for (int64_t r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) {
            //  A fused residual joins the finished sums, then the activation
            __m512 value = sums [r][v];
            if (add_y)
                value = _mm512_add_ps (value, s_load16 (y + r * ldy + 16 * v, S_MASKED (v), tail));
            if (bias)
                value = _mm512_add_ps (value, _mm512_set1_ps (bias [r]));
            if (sum)
                value = _mm512_add_ps (value, s_load16 (sum + r * ldsum + 16 * v,
                                                        S_MASKED (v), tail));
            s_store16 (y + r * ldy + 16 * v, zi_act16_avx512 (value, kind, alpha, beta),
                       S_MASKED (v), tail);
        }
    if (extra) {
        //  In the same order: y's sums, the bias, the residual
        float lanes [8];
        _mm256_storeu_ps (lanes, column);
        float *y_c = y + 16 * vectors;
        const float *sum_c = sum? sum + 16 * vectors: NULL;
        for (int64_t r = 0; r < rows; r++) {
            if (add_y)
                lanes [r] += y_c [r * ldy];
            if (bias)
                lanes [r] += bias [r];
            if (sum_c)
                lanes [r] += sum_c [r * ldsum];
        }
        _mm256_storeu_ps (lanes, zi_act8_avx2 (_mm256_loadu_ps (lanes), kind,
                                               _mm512_castps512_ps256 (alpha),
                                               _mm512_castps512_ps256 (beta)));
        for (int64_t r = 0; r < rows; r++)
            y_c [r * ldy] = lanes [r];
    }
#undef S_MASKED
}

//  The first n lanes of sixteen (0 <= n <= 16)
static inline __mmask16
s_mask16 (int64_t n)
{
    return (__mmask16) ((1u << n) - 1);
}

//  s_mm_pack_strip for the wide tile
static ZI_AVX512_INLINE void
s_mm_pack_strip_avx512 (const float *x, int64_t ldx, int64_t rows, int64_t width,
                        float *strip)
{
    for (int64_t k = 0; k < rows; k++, x += ldx, strip += S_MM_WIDE_COLS)
        if (width >= S_MM_WIDE_COLS) {
            _mm512_store_ps (strip, _mm512_loadu_ps (x));
            _mm512_store_ps (strip + 16, _mm512_loadu_ps (x + 16));
            _mm512_store_ps (strip + 32, _mm512_loadu_ps (x + 32));
        }
        else
            memcpy (strip, x, width * sizeof (float));
}

//  The tile of panel p from column col: 48 columns, or the row's last
//  ones. Those are whole vectors, the last masked, except that columns
//  past whole vectors go with the tile before them when there is one
//  (a 49-column row is a full tile with one extra), or to the column
//  kernel when there are two or three. ahead: see s_mm_tile_avx512.
static ZI_AVX512_INLINE void
s_mm_tile_at_avx512 (const s_mm_slice_t *at, int64_t p, int64_t col, __m512 alpha,
                     __m512 beta, const float *ahead)
{
    int64_t maps = at->maps, left = at->cols - col;
    int64_t rows = maps - p * S_MM_ROWS < S_MM_ROWS? maps - p * S_MM_ROWS: S_MM_ROWS;
    const float *bias = at->bias && at->last? at->bias + p * S_MM_ROWS: NULL;
    bool add_y = !at->first;
    const float *panel = at->packed + (p * at->depth + at->k0) * S_MM_ROWS;
    const float *strip = at->strip? at->strip: at->x + at->k0 * at->ldx + col;
    int64_t ldx = at->strip? S_MM_WIDE_COLS: at->ldx;
    float *y_p = at->y + p * S_MM_ROWS * at->ldy + col;
    const float *sum = at->sum && at->last? at->sum + p * S_MM_ROWS * at->ldsum + col: NULL;
    int64_t ldsum = at->ldsum, depth = at->rows_x, ldy = at->ldy;
    zi_act_kind_t now = at->now;
    //  A row's one column past whole vectors goes with the tile before it
    //  (a full tile's, or the whole vectors' of the row's last tile), read
    //  where X lies (a packed strip holds whole vectors only); two or three
    //  go to the column kernel
    const float *xe = at->x + at->k0 * at->ldx + col + left / 16 * 16;
    __mmask16 tail = s_mask16 (left % 16);
#define S_TILE(vectors, masked, extra) \
    s_mm_tile_avx512 (panel, strip, depth, ldx, add_y, bias, sum, ldsum, now, alpha, beta, \
                      y_p, ldy, rows, vectors, masked, tail, extra, xe, at->ldx, ahead, \
                      at->fetch, at->ldx, at->fetch_rows)
    if (left >= S_MM_WIDE_COLS) {
        if (left == S_MM_WIDE_COLS + 1)
            S_TILE (3, false, true);
        else
            S_TILE (3, false, false);
        return;
    }
    if (left == 1 && col > 0)
        return;                         //  made by the tile before
    int64_t whole = left / 16, part = left % 16;
    bool masked = part >= 4;            //  else the column kernel takes them
    int64_t vectors = whole + masked;
    bool extra = part == 1 && whole > 0;
    if (vectors == 3)
        S_TILE (3, true, false);
    else
    if (vectors == 2)
        extra? S_TILE (2, false, true): S_TILE (2, masked, false);
    else
    if (vectors == 1)
        extra? S_TILE (1, false, true): S_TILE (1, masked, false);
#undef S_TILE
    if (extra)
        return;
    for (int64_t c = vectors * 16; c < left; c++)
        s_mm_column_avx2 (panel, strip + c, depth, ldx, add_y, bias, sum? sum + c: NULL, ldsum,
                          now, at->alpha, at->beta, y_p + c, ldy, rows);
}

//  s_mm_avx2 with the wide tiles: the same slices of K and the same order
//  of panels and column tiles. Panel by panel, each panel's first tile
//  prefetches the next panel's slice of W.
static ZI_AVX512 void
s_mm_avx512 (const float *packed, int64_t maps, int64_t depth, int64_t cols, const float *x,
             int64_t ldx, const float *bias, const float *sum, int64_t ldsum,
             const zi_act_t *act, float *y, int64_t ldy)
{
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    int64_t panels = (maps + S_MM_ROWS - 1) / S_MM_ROWS;
    int64_t slices = depth <= S_MM_WIDE_WHOLE? 1:
                     (depth + S_MM_WIDE_DEPTH - 1) / S_MM_WIDE_DEPTH;
    int64_t slice = (depth + slices - 1) / slices;
    __m512 alpha = _mm512_set1_ps (act->alpha), beta = _mm512_set1_ps (act->beta);
    s_mm_slice_t at = {
        .packed = packed, .maps = maps, .depth = depth, .cols = cols, .x = x, .ldx = ldx,
        .ldy = ldy, .bias = bias, .sum = sum, .ldsum = ldsum, .y = y,
        .alpha = _mm256_set1_ps (act->alpha), .beta = _mm256_set1_ps (act->beta)
    };
    //  W's slice the larger operand, but within L2: still column tiles
    //  outside, so the strip of X a tile reads stays in L1 (24 kB) and the
    //  panels come from L2, where panel by panel every tile read its strip
    //  from L2 (squeezenet's classifier, 1000 x 512 x 169, 11 % faster,
    //  resnet50's 1x1 convolutions on 14x14 8-10 %). Shallow products too,
    //  unlike the AVX2 tile's: three times as wide, each tile writes rows
    //  of three lines, and columns outside ran faster (squeezenet's first
    //  layer 8 %, its Winograd 3x3 layers and resnet's on 56x56 9-13 %)
    int64_t w_slice_bytes = slice * panels * S_MM_ROWS * (int64_t) sizeof (float);
    bool panels_outer = maps > cols && w_slice_bytes > S_MM_WIDE_L2_BYTES;
    //  But a shallow product whose Y outgrows L2 (resnet50's 64 to 256
    //  channels on 56x56, 3.2 MB) goes panel by panel: a column tile
    //  writes a few lines into each of M rows, each a page or more apart,
    //  more streams than the hardware prefetcher follows, so every line of
    //  Y (and of a fused residual) was a miss waited for; panel by panel a
    //  tile carries on six rows' streams, and X, at most 64 rows, comes
    //  again from L2 for each panel (those nodes 1.25-1.4x faster in the model, see
    //  docs/performance.md)
    if (depth <= S_MM_SHALLOW && maps * cols * (int64_t) sizeof (float) > S_MM_WIDE_Y_BYTES)
        panels_outer = true;
    for (at.k0 = 0; at.k0 < depth; at.k0 += slice) {
        at.rows_x = depth - at.k0 < slice? depth - at.k0: slice;
        at.first = at.k0 == 0;
        at.last = at.k0 + at.rows_x == depth;
        at.now = at.last? kind: ZI_ACT_NONE;
        if (panels_outer)
            for (int64_t p = 0; p < panels; p++) {
                const float *ahead = p + 1 < panels?
                                     packed + ((p + 1) * depth + at.k0) * S_MM_ROWS: NULL;
                for (int64_t col = 0; col < cols; col += S_MM_WIDE_COLS)
                    s_mm_tile_at_avx512 (&at, p, col, alpha, beta, col? NULL: ahead);
            }
        else
            for (int64_t col = 0; col < cols; col += S_MM_WIDE_COLS) {
                if (panels >= S_MM_PACK_PANELS && at.rows_x >= S_MM_PACK_DEPTH
                &&  ldx >= 1024) {
                    s_mm_pack_strip_avx512 (x + at.k0 * ldx + col, ldx, at.rows_x,
                                            cols - col, s_strip);
                    at.strip = s_strip;
                }
                //  The first column tile meets W's slice cold: it fetches
                //  each next panel ahead, as panel by panel does. The rows
                //  of a strip of X lie a page or so apart on images of
                //  28x28 and more, more streams than the hardware
                //  prefetcher follows, and X (megabytes, out of L2) came
                //  from memory a line at a time, waited for by the copy
                //  into the packed strip or by the first panel: the
                //  panels' tiles share out the next strip's rows and fetch
                //  them into L2 as they run (resnet50's 1x1 products alone,
                //  caches flushed: 256 channels on 56x56 1.1x, 512 on 28x28
                //  1.05-1.1x; see docs/performance.md)
                int64_t chunk = (at.rows_x + panels - 1) / panels;
                bool fetch = (at.strip || ldx >= S_MM_FETCH_LD) && col + S_MM_WIDE_COLS < cols;
                for (int64_t p = 0; p < panels; p++) {
                    const float *ahead = col == 0 && p + 1 < panels?
                                         packed + ((p + 1) * depth + at.k0) * S_MM_ROWS: NULL;
                    int64_t first = p * chunk;
                    at.fetch_rows = fetch && first < at.rows_x?
                                    (at.rows_x - first < chunk? at.rows_x - first: chunk): 0;
                    at.fetch = x + (at.k0 + first) * ldx + col + S_MM_WIDE_COLS;
                    s_mm_tile_at_avx512 (&at, p, col, alpha, beta, ahead);
                }
                at.fetch_rows = 0;
                at.strip = NULL;
            }
    }
    if (kind != act->kind)
        zi_act_rows (act, y, maps, cols, ldy);
}
#endif

#endif

#if defined (ZI_HAVE_AVX2)
//  --------------------------------------------------------------------------
//  One column: y = act (W x + b + s), a matrix-vector product on the same
//  packed panels (a classifier at batch 1, a squeeze-excite 1x1 on a 1x1
//  image). A tile of columns would leave all but one lane idle, and the
//  column kernel above fills six of eight lanes with one load per row of
//  K. Here x is first written out six times over, S_MV_X [6k + r] = x [k],
//  in the order the panel holds its weights, so a panel's K x 6 floats
//  and the spread x meet lane for lane: each full vector of weights is
//  one load of each and one FMA, at any vector width. Lane j of a vector
//  at offset o of the panel sums row (o + j) mod 6; the rows are gathered
//  once per panel. K longer than S_MV_DEPTH goes in chunks whose sums
//  pass through y, the residual and activation applied at the end.
#define S_MV_DEPTH 2048

static _Thread_local float s_mv_x [S_MV_DEPTH * S_MM_ROWS + 64] __attribute__ ((aligned (64)));

//  The six rows' sums of a panel from lanes laid out as the panel is:
//  sums [j] belongs to row j mod 6, for j < 48 (eight rows of K)
static ZI_AVX2_INLINE void
s_mv_gather6 (const float *lanes, float *six)
{
    __m256 total = _mm256_loadu_ps (lanes);
    for (int group = 1; group < 8; group++)
        total = _mm256_add_ps (total, _mm256_loadu_ps (lanes + 6 * group));
    float out [8];
    _mm256_storeu_ps (out, total);
    memcpy (six, out, S_MM_ROWS * sizeof (float));
}

//  Chunk [k0, k0 + rows) of x, ldx apart, spread six-fold into s_mv_x
static ZI_AVX2_INLINE void
s_mv_spread (const float *x, int64_t ldx, int64_t rows)
{
    float *at = s_mv_x;
    for (int64_t k = 0; k < rows; k++, at += S_MM_ROWS) {
        float value = x [k * ldx];
        at [0] = at [1] = at [2] = at [3] = at [4] = at [5] = value;
    }
    memset (at, 0, 64 * sizeof (float));
}

//  Sums of one panel over a spread chunk of `rows` rows of K: eight rows
//  (48 floats, six vectors) a step, two steps' sums kept apart so that
//  the FMAs do not wait on one chain
static ZI_AVX2_INLINE void
s_mv_panel_avx2 (const float *panel, int64_t rows, float *lanes)
{
    __m256 a0 = _mm256_setzero_ps (), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    const float *x = s_mv_x;
    int64_t floats = rows * S_MM_ROWS, at = 0;
    for (; at + 48 <= floats; at += 48) {
        a0 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + at), _mm256_load_ps (x + at), a0);
        a1 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + at + 8), _mm256_load_ps (x + at + 8), a1);
        a2 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + at + 16), _mm256_load_ps (x + at + 16), a2);
        a3 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + at + 24), _mm256_load_ps (x + at + 24), a3);
        a4 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + at + 32), _mm256_load_ps (x + at + 32), a4);
        a5 = _mm256_fmadd_ps (_mm256_loadu_ps (panel + at + 40), _mm256_load_ps (x + at + 40), a5);
    }
    //  The last rows: whole vectors, the final one masked (the spread x
    //  is zero past the chunk, the weights past the panel are not read)
    __m256 *acc [6] = {&a0, &a1, &a2, &a3, &a4, &a5};
    for (int vec = 0; at < floats; at += 8, vec++) {
        int64_t left = floats - at < 8? floats - at: 8;
        __m256 w = _mm256_maskload_ps (panel + at, zi_tail_mask_avx2 (left));
        *acc [vec] = _mm256_fmadd_ps (w, _mm256_load_ps (x + at), *acc [vec]);
    }
    _mm256_storeu_ps (lanes, a0);
    _mm256_storeu_ps (lanes + 8, a1);
    _mm256_storeu_ps (lanes + 16, a2);
    _mm256_storeu_ps (lanes + 24, a3);
    _mm256_storeu_ps (lanes + 32, a4);
    _mm256_storeu_ps (lanes + 40, a5);
}

#if defined (ZI_HAVE_AVX512)
//  The same, sixteen lanes a vector: 48 floats are three vectors, and two
//  steps' sums are kept apart
static ZI_AVX512_INLINE void
s_mv_panel_avx512 (const float *panel, int64_t rows, float *lanes)
{
    __m512 a0 = _mm512_setzero_ps (), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
    const float *x = s_mv_x;
    int64_t floats = rows * S_MM_ROWS, at = 0;
    for (; at + 96 <= floats; at += 96) {
        a0 = _mm512_fmadd_ps (_mm512_loadu_ps (panel + at), _mm512_load_ps (x + at), a0);
        a1 = _mm512_fmadd_ps (_mm512_loadu_ps (panel + at + 16), _mm512_load_ps (x + at + 16), a1);
        a2 = _mm512_fmadd_ps (_mm512_loadu_ps (panel + at + 32), _mm512_load_ps (x + at + 32), a2);
        b0 = _mm512_fmadd_ps (_mm512_loadu_ps (panel + at + 48), _mm512_load_ps (x + at + 48), b0);
        b1 = _mm512_fmadd_ps (_mm512_loadu_ps (panel + at + 64), _mm512_load_ps (x + at + 64), b1);
        b2 = _mm512_fmadd_ps (_mm512_loadu_ps (panel + at + 80), _mm512_load_ps (x + at + 80), b2);
    }
    a0 = _mm512_add_ps (a0, b0);
    a1 = _mm512_add_ps (a1, b1);
    a2 = _mm512_add_ps (a2, b2);
    //  Up to 95 floats left: 48 offsets on, a vector keeps its rows
    __m512 *acc [3] = {&a0, &a1, &a2};
    for (int vec = 0; at < floats; at += 16, vec = (vec + 1) % 3) {
        int64_t left = floats - at < 16? floats - at: 16;
        __mmask16 mask = (__mmask16) ((1u << left) - 1);
        __m512 w = _mm512_maskz_loadu_ps (mask, panel + at);
        *acc [vec] = _mm512_fmadd_ps (w, _mm512_load_ps (x + at), *acc [vec]);
    }
    _mm512_storeu_ps (lanes, a0);
    _mm512_storeu_ps (lanes + 16, a1);
    _mm512_storeu_ps (lanes + 32, a2);
}
#endif

//  Panels whose lanes are kept before their rows are gathered: read back
//  long after they were stored, not right after (a load spanning two
//  stores in flight waits for both)
#define S_MV_PANELS 32

//  One chunk of K for panels [p0, p1): their sums added to y (the first
//  chunk's stored); the bias joins after the last (s_mv)
#define S_MV_CHUNK(panel_fn) \
    for (int64_t p0 = 0; p0 < panels; p0 += S_MV_PANELS) { \
        int64_t p1 = p0 + S_MV_PANELS < panels? p0 + S_MV_PANELS: panels; \
        for (int64_t p = p0; p < p1; p++) \
            panel_fn (packed + (p * depth + k0) * S_MM_ROWS, rows, lanes + (p - p0) * 48); \
        for (int64_t p = p0; p < p1; p++) { \
            float six [S_MM_ROWS]; \
            s_mv_gather6 (lanes + (p - p0) * 48, six); \
            int64_t valid = maps - p * S_MM_ROWS < S_MM_ROWS? maps - p * S_MM_ROWS: S_MM_ROWS; \
            for (int64_t r = 0; r < valid; r++) { \
                int64_t m = p * S_MM_ROWS + r; \
                y [m * ldy] = k0 > 0? y [m * ldy] + six [r]: six [r]; \
            } \
        } \
    }

//  y [m ldy] for every output m: one pass over the packed weights per
//  chunk of K, then the residual and the activation
static ZI_AVX2 void
s_mv_avx2 (const float *packed, int64_t maps, int64_t depth, const float *x, int64_t ldx,
           float *y, int64_t ldy)
{
    float lanes [S_MV_PANELS * 48 + 8];
    memset (lanes + S_MV_PANELS * 48, 0, 8 * sizeof (float));
    int64_t panels = (maps + S_MM_ROWS - 1) / S_MM_ROWS;
    for (int64_t k0 = 0; k0 < depth || k0 == 0; k0 += S_MV_DEPTH) {
        int64_t rows = depth - k0 < S_MV_DEPTH? depth - k0: S_MV_DEPTH;
        s_mv_spread (x + k0 * ldx, ldx, rows);
        S_MV_CHUNK (s_mv_panel_avx2)
        if (depth == 0)
            break;
    }
}

#if defined (ZI_HAVE_AVX512)
static ZI_AVX512 void
s_mv_avx512 (const float *packed, int64_t maps, int64_t depth, const float *x, int64_t ldx,
             float *y, int64_t ldy)
{
    float lanes [S_MV_PANELS * 48 + 8];
    memset (lanes + S_MV_PANELS * 48, 0, 8 * sizeof (float));
    int64_t panels = (maps + S_MM_ROWS - 1) / S_MM_ROWS;
    for (int64_t k0 = 0; k0 < depth || k0 == 0; k0 += S_MV_DEPTH) {
        int64_t rows = depth - k0 < S_MV_DEPTH? depth - k0: S_MV_DEPTH;
        s_mv_spread (x + k0 * ldx, ldx, rows);
        S_MV_CHUNK (s_mv_panel_avx512)
        if (depth == 0)
            break;
    }
}
#endif

static void
s_mv (const float *packed, int64_t maps, int64_t depth, const float *x, int64_t ldx,
      const float *bias, const float *sum, int64_t ldsum, const zi_act_t *act, float *y,
      int64_t ldy)
{
#if defined (ZI_HAVE_AVX512)
    if (zi_use_avx512 ())
        s_mv_avx512 (packed, maps, depth, x, ldx, y, ldy);
    else
#endif
        s_mv_avx2 (packed, maps, depth, x, ldx, y, ldy);
    for (int64_t m = 0; m < maps; m++) {
        float value = y [m * ldy];
        if (bias)
            value += bias [m];
        if (sum)
            value += sum [m * ldsum];
        y [m * ldy] = zi_act_one (act, value);
    }
}
#endif

//  The portable product: each row of Y an axpy per row of X, which gcc
//  vectorises for whatever the build targets
static void
s_mm_portable (const float *packed, int64_t maps, int64_t depth, int64_t cols,
               const float *x, int64_t ldx, const float *bias, const float *sum,
               int64_t ldsum, const zi_act_t *act, float *y, int64_t ldy)
{
    for (int64_t m = 0; m < maps; m++) {
        const float *panel = packed + m / S_MM_ROWS * depth * S_MM_ROWS + m % S_MM_ROWS;
        float *restrict yrow = y + m * ldy;
        for (int64_t col = 0; col < cols; col++)
            yrow [col] = 0;
        for (int64_t k = 0; k < depth; k++) {
            float weight = panel [k * S_MM_ROWS];
            const float *restrict xrow = x + k * ldx;
            for (int64_t col = 0; col < cols; col++)
                yrow [col] += weight * xrow [col];
        }
        if (bias)
            for (int64_t col = 0; col < cols; col++)
                yrow [col] += bias [m];
        if (sum)
            for (int64_t col = 0; col < cols; col++)
                yrow [col] += sum [m * ldsum + col];
    }
    zi_act_rows (act, y, maps, cols, ldy);
}

void
zi_mm (const float *packed, int64_t maps, int64_t depth, int64_t cols, const float *x,
       int64_t ldx, const float *bias, const float *sum, int64_t ldsum, const zi_act_t *act,
       float *y, int64_t ldy)
{
#if defined (ZI_HAVE_AVX2)
    if (cols == 1 && zi_use_avx2 ()) {
        s_mv (packed, maps, depth, x, ldx, bias, sum, ldsum, act, y, ldy);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX512)
    if (zi_use_avx512 ()) {
        s_mm_avx512 (packed, maps, depth, cols, x, ldx, bias, sum, ldsum, act, y, ldy);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX2)
    if (zi_use_avx2 ()) {
        s_mm_avx2 (packed, maps, depth, cols, x, ldx, bias, sum, ldsum, act, y, ldy);
        return;
    }
#endif
    s_mm_portable (packed, maps, depth, cols, x, ldx, bias, sum, ldsum, act, y, ldy);
}

//  --------------------------------------------------------------------------
//  Transposes around a product on the weights (Gemm's and MatMul's rows):
//  one element at a time, the writes a whole row of the destination apart,
//  took a third of the mlp's time at batch 32. Blocks of 8 x 8 go through
//  registers instead, read as eight rows and written as eight rows.

#if defined (ZI_HAVE_AVX2)
//  dst [c][r] = src [r][c] for one 8 x 8 block
static ZI_AVX2_INLINE void
s_transpose8_avx2 (const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps (src), r1 = _mm256_loadu_ps (src + lds);
    __m256 r2 = _mm256_loadu_ps (src + 2 * lds), r3 = _mm256_loadu_ps (src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps (src + 4 * lds), r5 = _mm256_loadu_ps (src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps (src + 6 * lds), r7 = _mm256_loadu_ps (src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps (r0, r1), t1 = _mm256_unpackhi_ps (r0, r1);
    __m256 t2 = _mm256_unpacklo_ps (r2, r3), t3 = _mm256_unpackhi_ps (r2, r3);
    __m256 t4 = _mm256_unpacklo_ps (r4, r5), t5 = _mm256_unpackhi_ps (r4, r5);
    __m256 t6 = _mm256_unpacklo_ps (r6, r7), t7 = _mm256_unpackhi_ps (r6, r7);
    __m256 u0 = _mm256_shuffle_ps (t0, t2, _MM_SHUFFLE (1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps (t0, t2, _MM_SHUFFLE (3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps (t1, t3, _MM_SHUFFLE (1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps (t1, t3, _MM_SHUFFLE (3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps (t4, t6, _MM_SHUFFLE (1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps (t4, t6, _MM_SHUFFLE (3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps (t5, t7, _MM_SHUFFLE (1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps (t5, t7, _MM_SHUFFLE (3, 2, 3, 2));
    _mm256_storeu_ps (dst, _mm256_permute2f128_ps (u0, u4, 0x20));
    _mm256_storeu_ps (dst + ldd, _mm256_permute2f128_ps (u1, u5, 0x20));
    _mm256_storeu_ps (dst + 2 * ldd, _mm256_permute2f128_ps (u2, u6, 0x20));
    _mm256_storeu_ps (dst + 3 * ldd, _mm256_permute2f128_ps (u3, u7, 0x20));
    _mm256_storeu_ps (dst + 4 * ldd, _mm256_permute2f128_ps (u0, u4, 0x31));
    _mm256_storeu_ps (dst + 5 * ldd, _mm256_permute2f128_ps (u1, u5, 0x31));
    _mm256_storeu_ps (dst + 6 * ldd, _mm256_permute2f128_ps (u2, u6, 0x31));
    _mm256_storeu_ps (dst + 7 * ldd, _mm256_permute2f128_ps (u3, u7, 0x31));
}

static ZI_AVX2 void
s_transpose_avx2 (const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                  int64_t ldd)
{
    int64_t whole_rows = rows & ~(int64_t) 7, whole_cols = cols & ~(int64_t) 7;
    for (int64_t r = 0; r < whole_rows; r += 8)
        for (int64_t c = 0; c < whole_cols; c += 8)
            s_transpose8_avx2 (src + r * lds + c, lds, dst + c * ldd + r, ldd);
    //  The edges: the last columns of the whole rows, then the last rows
    for (int64_t r = 0; r < whole_rows; r++)
        for (int64_t c = whole_cols; c < cols; c++)
            dst [c * ldd + r] = src [r * lds + c];
    for (int64_t r = whole_rows; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst [c * ldd + r] = src [r * lds + c];
}
#endif

void
zi_mm_transpose (const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                 int64_t ldd)
{
#if defined (ZI_HAVE_AVX2)
    if (zi_use_avx2 ()) {
        s_transpose_avx2 (src, rows, cols, lds, dst, ldd);
        return;
    }
#endif
    //  Blocks of 8 x 8 here too, so that each block's writes stay in cache
    for (int64_t r0 = 0; r0 < rows; r0 += 8)
        for (int64_t c0 = 0; c0 < cols; c0 += 8)
            for (int64_t r = r0; r < r0 + 8 && r < rows; r++)
                for (int64_t c = c0; c < c0 + 8 && c < cols; c++)
                    dst [c * ldd + r] = src [r * lds + c];
}

//  zi_mm shared out between the exec's threads, by panels of output
//  channels when W is the larger operand (the small images late in a
//  network), else by columns in whole tiles; zi_mm_fill the same way,
//  with its strips shared (below). Either way each output is made by the
//  same tile, in the same order, as by one call on one thread.
typedef struct {
    const float *packed;        //  weights packed by s_mm_pack
    int64_t maps, depth, cols;  //  M, K, columns of X and Y
    const float *x;             //  X [K][cols], or NULL for fill's
    int64_t ldx;                //  floats between rows of X
    zi_mm_fill_fn *fill;        //  packs X's strips (zi_mm_fill), or NULL
    const void *args;           //  its arguments
    const float *bias;          //  [M] or NULL
    const float *sum;           //  residual [M][cols], ldsum apart, or NULL
    int64_t ldsum;
    const zi_act_t *act;        //  fused activation
    float *y;                   //  Y [M][cols]
    int64_t ldy;                //  floats between rows of Y
    int64_t tile;               //  columns per item of a split by columns
    int64_t tiles;              //  such items; the last takes the columns left
} s_mm_job_t;

static void
s_mm_panels_part (void *args, int64_t first, int64_t last, int thread)
{
    s_mm_job_t *job = args;
    int64_t m0 = first * S_MM_ROWS;
    int64_t m1 = last * S_MM_ROWS < job->maps? last * S_MM_ROWS: job->maps;
    zi_mm (job->packed + m0 * job->depth, m1 - m0, job->depth, job->cols, job->x,
           job->ldx, job->bias? job->bias + m0: NULL, job->sum? job->sum + m0 * job->ldsum: NULL,
           job->ldsum, job->act, job->y + m0 * job->ldy, job->ldy);
}

//  Tiles [first, last) of columns: the last tile runs to the last column
static void
s_mm_columns_part (void *args, int64_t first, int64_t last, int thread)
{
    s_mm_job_t *job = args;
    int64_t col = first * job->tile;
    int64_t cols = (last == job->tiles? job->cols: last * job->tile) - col;
    const float *sum = job->sum? job->sum + col: NULL;
#if defined (ZI_HAVE_AVX2)
    if (job->fill) {
        s_mm_fill_avx2 (job->packed, job->maps, job->depth, cols, col, job->fill, job->args,
                        job->bias, sum, job->ldsum, job->act, job->y + col, job->ldy);
        return;
    }
#endif
    zi_mm (job->packed, job->maps, job->depth, cols, job->x + col, job->ldx, job->bias, sum,
           job->ldsum, job->act, job->y + col, job->ldy);
}

//  Blocks of whole tiles, so that each makes its tail columns as one call
//  would. A tail of one column joins the tile before it: alone it would be
//  a call of one column, which zi_mm makes as a matrix-vector product,
//  summed in another order (squeezenet's 55x55 images: 3025 columns, 63
//  tiles of 48 and one column)
static void
s_mm_by_columns (zi_exec_t *exec, s_mm_job_t *job, int64_t tile)
{
    job->tile = tile;
    job->tiles = job->cols / tile + (job->cols % tile > 1);
    zi_exec_parallel (exec, job->tiles, zi_exec_unit (job->maps * job->depth * tile),
                      s_mm_columns_part, job);
}

void
zi_mm_parallel (zi_exec_t *exec, const float *packed, int64_t maps, int64_t depth,
                int64_t cols, const float *x, int64_t ldx, const float *bias, const float *sum,
                int64_t ldsum, const zi_act_t *act, float *y, int64_t ldy)
{
    s_mm_job_t job = {
        .packed = packed, .maps = maps, .depth = depth, .cols = cols, .x = x, .ldx = ldx,
        .bias = bias, .sum = sum, .ldsum = ldsum, .act = act, .y = y, .ldy = ldy
    };
    if (maps >= cols)
        zi_exec_parallel (exec, (maps + S_MM_ROWS - 1) / S_MM_ROWS,
                          zi_exec_unit (S_MM_ROWS * depth * cols), s_mm_panels_part, &job);
    else
        s_mm_by_columns (exec, &job, zi_use_avx512 ()? S_MM_WIDE_COLS: S_MM_COLS);
}


#if defined (ZI_HAVE_AVX2)
//  zi_mm_fill by panels on more than one thread, its strips shared: the
//  threads pack a group of slices' strips into one buffer between them, then
//  each runs its panels' tiles over the whole group, and so on down K.
//  Each thread packing every strip for its own panels cost resnet50's
//  3x3 stride-2 layers on 28x28 and 14x14 1.33x and 1.15x the time of
//  im2col at two threads; packed once between them, those layers take
//  0.84x and 0.80x im2col's time, its 3x3 one on 7x7 0.85x and its 1x1
//  stride-2 ones on 28x28 and 14x14 0.90x and 0.92x (docs/performance.md,
//  "Zen 3: two threads share the strips"). The tiles, their slices and
//  their order down K are those of one call, so are the bits.
typedef struct {
    const s_mm_job_t *job;
    float *strips;              //  the group's strips, slice after slice
    int64_t slice;              //  rows of K a slice
    int64_t k0, k1;             //  the group: rows [k0, k1) of K
    int64_t c0, c1;             //  its columns, whole tiles but the last
} s_mm_shared_t;

//  Where slice k0's strip of tile col lies in the group's buffer
static inline float *
s_mm_shared_strip (const s_mm_shared_t *sh, int64_t k0, int64_t col)
{
    int64_t tiled = (sh->c1 - sh->c0 + S_MM_COLS - 1) / S_MM_COLS * S_MM_COLS;
    int64_t rows = sh->k1 - k0 < sh->slice? sh->k1 - k0: sh->slice;
    return sh->strips + (k0 - sh->k0) * tiled + (col - sh->c0) * rows;
}

//  Strips [first, last) of the group: strip i is slice i / tiles, tile
//  i % tiles
static void
s_mm_shared_pack_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_mm_shared_t *sh = args;
    const s_mm_job_t *job = sh->job;
    int64_t tiles = (sh->c1 - sh->c0 + S_MM_COLS - 1) / S_MM_COLS;
    for (int64_t i = first; i < last; i++) {
        int64_t k0 = sh->k0 + i / tiles * sh->slice;
        int64_t col = sh->c0 + i % tiles * S_MM_COLS;
        job->fill (job->args, k0, sh->k1 - k0 < sh->slice? sh->k1 - k0: sh->slice, col,
                   job->cols - col < S_MM_COLS? job->cols - col: S_MM_COLS,
                   s_mm_shared_strip (sh, k0, col));
    }
}

//  Panels [first, last) over the group's slices and columns, a panel's
//  slices in a row (its packed rows of W one run)
static ZI_AVX2 void
s_mm_shared_tiles_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_mm_shared_t *sh = args;
    const s_mm_job_t *job = sh->job;
    const zi_act_t *act = job->act;
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    s_mm_slice_t at = {
        .packed = job->packed, .maps = job->maps, .depth = job->depth, .cols = job->cols,
        .ldx = S_MM_COLS, .ldy = job->ldy, .bias = job->bias, .sum = job->sum,
        .ldsum = job->ldsum, .y = job->y,
        .alpha = _mm256_set1_ps (act->alpha), .beta = _mm256_set1_ps (act->beta)
    };
    for (int64_t p = first; p < last; p++)
        for (at.k0 = sh->k0; at.k0 < sh->k1; at.k0 += sh->slice) {
            at.rows_x = sh->k1 - at.k0 < sh->slice? sh->k1 - at.k0: sh->slice;
            at.first = at.k0 == 0;
            at.last = at.k0 + at.rows_x == job->depth;
            at.now = at.last? kind: ZI_ACT_NONE;
            for (int64_t col = sh->c0; col < sh->c1; col += S_MM_COLS) {
                at.strip = s_mm_shared_strip (sh, at.k0, col);
                s_mm_tile_at (&at, p, col);
            }
        }
    //  An activation the tiles do not apply, once the panels are whole
    if (sh->k1 == job->depth && sh->c1 == job->cols && kind != act->kind) {
        int64_t m0 = first * S_MM_ROWS;
        int64_t m1 = last * S_MM_ROWS < job->maps? last * S_MM_ROWS: job->maps;
        zi_act_rows (act, job->y + m0 * job->ldy, m1 - m0, job->cols, job->ldy);
    }
}

//  Two loops per group, each a wait for the slower thread: a group is as
//  many slices as the buffer holds strips for (at most S_MM_SLICE_FLOATS,
//  so that they stay in each core's L2 while its panels read them). A
//  slice at a time ran as fast on a quiet host, but with another process
//  on one of the two cores resnet50's 3x3 stride-2 layer on 14x14 (18
//  slices: 36 loops, against 10 in groups of four) ran 1.0-1.7x slower
static void
s_mm_fill_shared (zi_exec_t *exec, const s_mm_job_t *job, float *buffer)
{
    int64_t panels = (job->maps + S_MM_ROWS - 1) / S_MM_ROWS;
    int64_t slices = (job->depth + S_MM_DEPTH - 1) / S_MM_DEPTH;
    int64_t slice = (job->depth + slices - 1) / slices;
    int64_t tiled = (job->cols + S_MM_COLS - 1) / S_MM_COLS * S_MM_COLS;
    //  Whole tiles of columns whose strips of one slice fit the buffer
    //  together (as in s_mm_fill_avx2); if all of them do, as many slices
    //  as fit with them
    int64_t block = S_MM_SLICE_FLOATS / slice / S_MM_COLS * S_MM_COLS;
    int64_t group = block >= tiled? S_MM_SLICE_FLOATS / (slice * tiled): 1;
    s_mm_shared_t sh = {.job = job, .strips = buffer, .slice = slice};
    for (sh.k0 = 0; sh.k0 < job->depth; sh.k0 = sh.k1) {
        sh.k1 = job->depth - sh.k0 < group * slice? job->depth: sh.k0 + group * slice;
        int64_t in_group = (sh.k1 - sh.k0 + slice - 1) / slice;
        for (sh.c0 = 0; sh.c0 < job->cols; sh.c0 += block) {
            sh.c1 = job->cols - sh.c0 < block? job->cols: sh.c0 + block;
            int64_t tiles = (sh.c1 - sh.c0 + S_MM_COLS - 1) / S_MM_COLS;
            zi_exec_parallel (exec, in_group * tiles, 1, s_mm_shared_pack_part, &sh);
            zi_exec_parallel (exec, panels,
                              zi_exec_unit (S_MM_ROWS * (sh.k1 - sh.k0) * (sh.c1 - sh.c0)),
                              s_mm_shared_tiles_part, &sh);
        }
    }
}

void
zi_mm_fill_parallel (zi_exec_t *exec, const float *packed, int64_t maps, int64_t depth,
                     int64_t cols, zi_mm_fill_fn *fill, const void *args, const float *bias,
                     const float *sum, int64_t ldsum, const zi_act_t *act, float *y,
                     int64_t ldy)
{
    s_mm_job_t job = {
        .packed = packed, .maps = maps, .depth = depth, .cols = cols, .fill = fill,
        .args = args, .bias = bias, .sum = sum, .ldsum = ldsum, .act = act, .y = y, .ldy = ldy
    };
    if (maps < cols)
        s_mm_by_columns (exec, &job, S_MM_COLS);
    else {
        //  The caller's buffer holds the strips both threads read
        float *buffer = zi_exec_threads (exec) > 1? s_mm_slice_buffer (): NULL;
        if (buffer)
            s_mm_fill_shared (exec, &job, buffer);
        else
            s_mm_fill_avx2 (packed, maps, depth, cols, 0, fill, args, bias, sum, ldsum, act,
                            y, ldy);
    }
}
#endif


//  --------------------------------------------------------------------------
//  sgemm over the exec's threads

typedef struct {
    bool trans_a, trans_b, by_rows;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
} s_sgemm_job_t;

static void
s_sgemm_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_sgemm_job_t *job = args;
    const float *a = job->a, *b = job->b;
    float *c = job->c;
    int64_t m = job->m, n = job->n;
    if (job->by_rows) {
        a += job->trans_a? first: first * job->lda;
        c += first * job->ldc;
        m = last - first;
    }
    else {
        b += job->trans_b? first * job->ldb: first;
        c += first;
        n = last - first;
    }
    cblas_sgemm (CblasRowMajor, job->trans_a? CblasTrans: CblasNoTrans,
                 job->trans_b? CblasTrans: CblasNoTrans, (blasint) m, (blasint) n,
                 (blasint) job->k, job->alpha, a, (blasint) job->lda, b, (blasint) job->ldb,
                 job->beta, c, (blasint) job->ldc);
}

typedef struct {
    bool trans;
    int64_t m, n;
    float alpha, beta;
    const float *a, *x;
    int64_t lda, incx;
    float *y;
} s_sgemv_job_t;

//  y [i] = alpha (A [i,] . x) + beta y [i] for rows [first, last), each
//  row summed alone in one fixed order of its own (below), so a row's
//  bits do not depend on the rows beside it in the part, nor on how the
//  rows are shared out between threads; beta 0 reads no y
static inline void
s_row_store (const s_sgemv_job_t *job, int64_t i, float sum)
{
    float scaled = job->alpha * sum;
    job->y [i] = job->beta == 0? scaled: scaled + job->beta * job->y [i];
}

//  Below AVX2: eight lanes down the row, as a vector unit of the build's
//  target runs them (the compiler vectorises the lanes; fmaf here would
//  be a call into libm a column), the lanes summed in one tree, the last
//  columns one by one
static void
s_rows_dot (const s_sgemv_job_t *job, int64_t first, int64_t last)
{
    int64_t n = job->n, whole = n / 8 * 8;
    for (int64_t i = first; i < last; i++) {
        const float *row = job->a + i * job->lda;
        float lanes [8] = {0};
        for (int64_t k = 0; k < whole; k += 8)
            for (int lane = 0; lane < 8; lane++)
                lanes [lane] += row [k + lane] * job->x [k + lane];
        float sum = ((lanes [0] + lanes [1]) + (lanes [2] + lanes [3]))
                  + ((lanes [4] + lanes [5]) + (lanes [6] + lanes [7]));
        for (int64_t k = whole; k < n; k++)
            sum += row [k] * job->x [k];
        s_row_store (job, i, sum);
    }
}

#if defined (ZI_HAVE_AVX2)
//  One row's two accumulators (columns 16j..16j+7 and 16j+8..16j+15 of
//  the row), with the block of eight columns at whole when eight, as one
//  vector
static ZI_AVX2_INLINE __m256
s_row_vector_avx2 (__m256 low, __m256 high, const float *row, const float *x, int64_t whole,
                   bool eight)
{
    if (eight)
        low = _mm256_fmadd_ps (_mm256_loadu_ps (row + whole), _mm256_loadu_ps (x + whole), low);
    return _mm256_add_ps (low, high);
}

//  Lanes 0-3 of the result: the four rows' vectors summed, each as
//  ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))
static ZI_AVX2_INLINE __m128
s_rows_sum4_avx2 (__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    __m256 pairs = _mm256_hadd_ps (_mm256_hadd_ps (v0, v1), _mm256_hadd_ps (v2, v3));
    return _mm_add_ps (_mm256_castps256_ps128 (pairs), _mm256_extractf128_ps (pairs, 1));
}

//  The columns after the vectors', one by one
static ZI_AVX2_INLINE float
s_row_tail_avx2 (float sum, const float *row, const float *x, int64_t from, int64_t n)
{
    for (int64_t k = from; k < n; k++)
        sum = fmaf (row [k], x [k], sum);
    return sum;
}

//  The same sums as s_rows_dot's contract asks, four rows at a time so
//  that each load of x serves four rows and one horizontal sum serves
//  four: every row still runs the same operations in the same order as a
//  row taken alone (whose sum is lane 0 of four copies of it)
static ZI_AVX2 void
s_rows_dot_avx2 (const s_sgemv_job_t *job, int64_t first, int64_t last)
{
    const float *x = job->x;
    int64_t n = job->n, lda = job->lda, whole = n / 16 * 16;
    //  Then one block of eight columns, then the last ones one by one
    bool eight = whole + 8 <= n;
    int64_t tail = eight? whole + 8: whole;
    //  Weights read once a run come from L3 or memory. Rows of a few
    //  lines each are streams too short for the hardware's prefetch to
    //  catch, so short rows ask for the rows two groups on (960 x 240,
    //  the matrix in memory: 1.20-1.28x OpenBLAS's time without it, 0.95
    //  to 1.10 with it); longer rows do better without (512 x 784 in L3:
    //  0.97 without, 1.01-1.23 with)
    bool ahead = n < 512;
    int64_t i = first;
    for (; i + 4 <= last; i += 4) {
        const float *r0 = job->a + i * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;
        __m256 l0 = _mm256_setzero_ps (), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0,
               l3 = l0, h3 = l0;
        //  Only rows of this part: none past A's end nor another thread's
        bool fetch = ahead && i + 12 <= last;
        for (int64_t k = 0; k < whole; k += 16) {
            if (fetch) {
                _mm_prefetch ((const char *) (r0 + 8 * lda + k), _MM_HINT_T0);
                _mm_prefetch ((const char *) (r1 + 8 * lda + k), _MM_HINT_T0);
                _mm_prefetch ((const char *) (r2 + 8 * lda + k), _MM_HINT_T0);
                _mm_prefetch ((const char *) (r3 + 8 * lda + k), _MM_HINT_T0);
            }
            __m256 xl = _mm256_loadu_ps (x + k), xh = _mm256_loadu_ps (x + k + 8);
            l0 = _mm256_fmadd_ps (_mm256_loadu_ps (r0 + k), xl, l0);
            h0 = _mm256_fmadd_ps (_mm256_loadu_ps (r0 + k + 8), xh, h0);
            l1 = _mm256_fmadd_ps (_mm256_loadu_ps (r1 + k), xl, l1);
            h1 = _mm256_fmadd_ps (_mm256_loadu_ps (r1 + k + 8), xh, h1);
            l2 = _mm256_fmadd_ps (_mm256_loadu_ps (r2 + k), xl, l2);
            h2 = _mm256_fmadd_ps (_mm256_loadu_ps (r2 + k + 8), xh, h2);
            l3 = _mm256_fmadd_ps (_mm256_loadu_ps (r3 + k), xl, l3);
            h3 = _mm256_fmadd_ps (_mm256_loadu_ps (r3 + k + 8), xh, h3);
        }
        float sums [4];
        _mm_storeu_ps (sums, s_rows_sum4_avx2 (s_row_vector_avx2 (l0, h0, r0, x, whole, eight),
                                               s_row_vector_avx2 (l1, h1, r1, x, whole, eight),
                                               s_row_vector_avx2 (l2, h2, r2, x, whole, eight),
                                               s_row_vector_avx2 (l3, h3, r3, x, whole, eight)));
        s_row_store (job, i, s_row_tail_avx2 (sums [0], r0, x, tail, n));
        s_row_store (job, i + 1, s_row_tail_avx2 (sums [1], r1, x, tail, n));
        s_row_store (job, i + 2, s_row_tail_avx2 (sums [2], r2, x, tail, n));
        s_row_store (job, i + 3, s_row_tail_avx2 (sums [3], r3, x, tail, n));
    }
    for (; i < last; i++) {
        const float *r0 = job->a + i * lda;
        __m256 l0 = _mm256_setzero_ps (), h0 = l0;
        for (int64_t k = 0; k < whole; k += 16) {
            l0 = _mm256_fmadd_ps (_mm256_loadu_ps (r0 + k), _mm256_loadu_ps (x + k), l0);
            h0 = _mm256_fmadd_ps (_mm256_loadu_ps (r0 + k + 8), _mm256_loadu_ps (x + k + 8), h0);
        }
        __m256 v0 = s_row_vector_avx2 (l0, h0, r0, x, whole, eight);
        float sum = _mm_cvtss_f32 (s_rows_sum4_avx2 (v0, v0, v0, v0));
        s_row_store (job, i, s_row_tail_avx2 (sum, r0, x, tail, n));
    }
}
#endif

//  Elements [first, last) of y: rows of A, or columns when transposed.
//  Rows with x contiguous are summed by the kernels above, whose bits are the
//  same at any thread count; the transposed product stays with OpenBLAS
static void
s_sgemv_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_sgemv_job_t *job = args;
    if (!job->trans && job->incx == 1) {
#if defined (ZI_HAVE_AVX2)
        if (zi_use_avx2 ()) {
            s_rows_dot_avx2 (job, first, last);
            return;
        }
#endif
        s_rows_dot (job, first, last);
        return;
    }
    const float *a = job->a + (job->trans? first: first * job->lda);
    cblas_sgemv (CblasRowMajor, job->trans? CblasTrans: CblasNoTrans,
                 (blasint) (job->trans? job->m: last - first),
                 (blasint) (job->trans? last - first: job->n), job->alpha, a, (blasint) job->lda,
                 job->x, (blasint) job->incx, job->beta, job->y + first, 1);
}

void
zi_sgemv (zi_exec_t *exec, bool trans, int64_t m, int64_t n, float alpha, const float *a,
          int64_t lda, const float *x, int64_t incx, float beta, float *y)
{
    s_sgemv_job_t job = {trans, m, n, alpha, beta, a, x, lda, incx, y};
    int64_t outputs = trans? n: m, depth = trans? m: n;
    int threads = zi_exec_threads (exec);
    int64_t unit = (outputs + threads - 1) / threads;
    unit = (unit + 15) / 16 * 16;
    int64_t least = zi_exec_unit (depth);
    if (unit < least)
        unit = least;
    zi_exec_parallel (exec, outputs, unit, s_sgemv_part, &job);
}

//  Columns (or rows) per block: whole multiples of sgemm's register tile,
//  and enough multiply-adds that a block is worth a thread
#define S_SGEMM_GRAIN 16

void
zi_sgemm (zi_exec_t *exec, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
          float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
          float beta, float *c, int64_t ldc)
{
    s_sgemm_job_t job = {trans_a, trans_b, n < 4 * S_SGEMM_GRAIN && m > n, m, n, k,
                         alpha, beta, a, b, lda, ldb, ldc, c};
    int64_t extent = job.by_rows? m: n;
    int64_t across = job.by_rows? n: m;
    int threads = zi_exec_threads (exec);
    //  One block per thread: each sgemm call packs its own operands, so
    //  more, smaller blocks would pack the shared one more often
    int64_t unit = (extent + threads - 1) / threads;
    unit = (unit + S_SGEMM_GRAIN - 1) / S_SGEMM_GRAIN * S_SGEMM_GRAIN;
    int64_t least = zi_exec_unit (across * k);
    if (unit < least)
        unit = least;
    zi_exec_parallel (exec, extent, unit, s_sgemm_part, &job);
}


//  --------------------------------------------------------------------------
//  Self test: the product against a plain triple loop in double, over the
//  shapes that take each path (tails of 9..15, 4..8 and 1..3 columns, a
//  last panel of fewer than six rows, K in several slices, rows wider than
//  the product), both ways of giving W, and at 1 to 3 threads

typedef struct {
    int64_t maps, depth, cols;  //  M, K, columns
    int64_t pad;                //  extra floats per row of X and Y
    bool transposed;            //  W given as [K][M]
    bool bias;                  //  with a bias
    bool residual;              //  with a residual added before the activation
    zi_act_kind_t act;          //  fused activation
} s_mm_case_t;

static void
s_mm_reference (const s_mm_case_t *c, const float *w, const float *x, int64_t ldx,
                const float *bias, const float *sum_rows, const zi_act_t *act, float *y,
                int64_t ldy)
{
    for (int64_t m = 0; m < c->maps; m++)
        for (int64_t col = 0; col < c->cols; col++) {
            double sum = bias? bias [m]: 0;
            for (int64_t k = 0; k < c->depth; k++) {
                float weight = c->transposed? w [k * c->maps + m]: w [m * c->depth + k];
                sum += (double) weight * x [k * ldx + col];
            }
            float value = (float) sum;
            if (sum_rows)
                value += sum_rows [m * ldy + col];
            y [m * ldy + col] = zi_act_one (act, value);
        }
}

static void
s_mm_case (zi_test_t *t, const s_mm_case_t *c, uint32_t seed)
{
    char what [128];
    snprintf (what, sizeof what, "mm M %lld K %lld cols %lld%s%s%s act %d",
              (long long) c->maps, (long long) c->depth, (long long) c->cols,
              c->transposed? " W^T": "", c->bias? " bias": "", c->residual? " residual": "",
              (int) c->act);
    int64_t ldx = c->cols + c->pad, ldy = c->cols + c->pad;
    zi_tensor_t *w = zi_test_random (2, (int64_t []) {c->maps, c->depth}, seed);
    zi_tensor_t *x = zi_test_random (2, (int64_t []) {c->depth, ldx}, seed + 1);
    zi_tensor_t *b = zi_test_random (1, (int64_t []) {c->maps}, seed + 2);
    zi_tensor_t *r = zi_test_random (2, (int64_t []) {c->maps, ldy}, seed + 3);
    const float *residual = c->residual? zi_tensor_f32 (r): NULL;
    zi_act_t act = {.kind = c->act, .alpha = -0.5f, .beta = 0.5f};
    if (c->act == ZI_ACT_HARD_SIGMOID)
        act.alpha = 0.2f;
    const float *bias = c->bias? zi_tensor_f32 (b): NULL;
    float *packed = zi_alloc (zi_mm_packed_floats (c->maps, c->depth) * sizeof (float));
    float *want = calloc (c->maps * ldy, sizeof (float));
    float *got = calloc (c->maps * ldy, sizeof (float));
    float *again = calloc (c->maps * ldy, sizeof (float));
    assert (packed && want && got && again);
    zi_mm_pack (zi_tensor_f32 (w), c->maps, c->depth, c->transposed? 1: c->depth,
                c->transposed? c->maps: 1, packed);
    s_mm_reference (c, zi_tensor_f32 (w), zi_tensor_f32 (x), ldx, bias, residual, &act, want,
                    ldy);
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        char which [160];
        snprintf (which, sizeof which, "%s, %s", what, zi_isa_name ((zi_isa_t) level));
        //  The pad columns must be left alone: they start as a marker
        for (int64_t item = 0; item < c->maps * ldy; item++)
            got [item] = 7.0f;
        zi_mm (packed, c->maps, c->depth, c->cols, zi_tensor_f32 (x), ldx, bias, residual, ldy,
               &act, got, ldy);
        bool pads_kept = true;
        for (int64_t m = 0; m < c->maps; m++)
            for (int64_t col = c->cols; col < ldy; col++)
                pads_kept &= got [m * ldy + col] == 7.0f;
        ZI_CHECK (t, pads_kept, "%s: nothing written past the columns", which);
        for (int64_t m = 0; m < c->maps; m++)
            ZI_CHECK_CLOSE (t, which, got + m * ldy, want + m * ldy, c->cols, 1e-4f, 1e-4f);
        for (int threads = 1; threads <= 3; threads++) {
            zi_exec_t *exec = zi_exec_new ();
            zi_exec_set_threads (exec, threads);
            memcpy (again, got, c->maps * ldy * sizeof (float));
            for (int64_t m = 0; m < c->maps; m++)
                for (int64_t col = 0; col < c->cols; col++)
                    again [m * ldy + col] = NAN;
            zi_mm_parallel (exec, packed, c->maps, c->depth, c->cols, zi_tensor_f32 (x), ldx,
                            bias, residual, ldy, &act, again, ldy);
            ZI_CHECK (t, memcmp (again, got, c->maps * ldy * sizeof (float)) == 0,
                      "%s: %d threads give the bits of one call", which, threads);
            zi_exec_destroy (&exec);
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    free (again);
    free (got);
    free (want);
    zi_free (packed);
    zi_tensor_destroy (&r);
    zi_tensor_destroy (&b);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&w);
}

//  The order of the sums, bit for bit, in the SIMD tiles: each slice of K
//  an FMA chain from zero added to the slices before it, then the bias,
//  then the residual. The bias here cancels most of the sum, as folded
//  batch normalisation makes it; started from it, or with one chain down
//  K, the sums round differently.
static void
s_mm_order_test (zi_test_t *t, int64_t maps, int64_t depth, int64_t cols, zi_isa_t lowest)
{
    zi_tensor_t *w = zi_test_random (2, (int64_t []) {maps, depth}, 91);
    zi_tensor_t *x = zi_test_random (2, (int64_t []) {depth, cols}, 92);
    zi_tensor_t *r = zi_test_random (2, (int64_t []) {maps, cols}, 93);
    const float *wf = zi_tensor_f32 (w), *xf = zi_tensor_f32 (x), *residual = zi_tensor_f32 (r);
    float *bias = zi_alloc (maps * sizeof (float));
    float *want = zi_alloc (maps * cols * sizeof (float));
    float *got = zi_alloc (maps * cols * sizeof (float));
    float *packed = zi_alloc (zi_mm_packed_floats (maps, depth) * sizeof (float));
    assert (bias && want && got && packed);
    zi_mm_pack (wf, maps, depth, depth, 1, packed);
    for (int64_t m = 0; m < maps; m++) {
        double dot = 0;
        for (int64_t k = 0; k < depth; k++)
            dot += (double) wf [m * depth + k] * xf [k * cols];
        bias [m] = (float) -dot + 0.25f * (float) m;
    }
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    for (int level = ZI_ISA_AVX512; level >= (int) lowest; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        //  The slices each level cuts K into
        int64_t most = level == ZI_ISA_AVX2? S_MM_DEPTH:
                       depth <= S_MM_WIDE_WHOLE? depth: S_MM_WIDE_DEPTH;
        int64_t slices = (depth + most - 1) / most;
        int64_t slice = (depth + slices - 1) / slices;
        for (int64_t m = 0; m < maps; m++)
            for (int64_t col = 0; col < cols; col++) {
                float total = 0;
                for (int64_t k0 = 0; k0 < depth; k0 += slice) {
                    float part = 0;
                    for (int64_t k = k0; k < k0 + slice && k < depth; k++)
                        part = fmaf (wf [m * depth + k], xf [k * cols + col], part);
                    total = k0? total + part: part;
                }
                want [m * cols + col] = total + bias [m] + residual [m * cols + col];
            }
        zi_mm (packed, maps, depth, cols, xf, cols, bias, residual, cols, &none, got, cols);
        ZI_CHECK (t, memcmp (got, want, maps * cols * sizeof (float)) == 0,
                  "order of the sums at %s, %lld x %lld x %lld: slices of %lld from zero, "
                  "the bias last", zi_isa_name ((zi_isa_t) level), (long long) maps,
                  (long long) depth, (long long) cols, (long long) slice);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    zi_free (packed);
    zi_free (got);
    zi_free (want);
    zi_free (bias);
    zi_tensor_destroy (&r);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&w);
}

//  A product's maps made in blocks, as Winograd's products are, give the
//  bits of one call whatever the blocks: blocks of four panels or more
//  pack the strips of X (rows 1024 floats apart or more, K of 128 or
//  more), smaller ones read X in place, and the column past whole
//  vectors must come out the same either way (it once did not, and
//  squeezenet's and resnet's Winograd layers changed with the threads)
static void
s_mm_blocks_test (zi_test_t *t)
{
    const int64_t maps = 128, depth = 128, ld = 1764;
    zi_tensor_t *w = zi_test_random (2, (int64_t []) {maps, depth}, 71);
    zi_tensor_t *x = zi_test_random (2, (int64_t []) {depth, ld}, 72);
    float *packed = zi_alloc (zi_mm_packed_floats (maps, depth) * sizeof (float));
    float *whole = zi_alloc (maps * ld * sizeof (float));
    float *blocks = zi_alloc (maps * ld * sizeof (float));
    assert (packed && whole && blocks);
    zi_mm_pack (zi_tensor_f32 (w), maps, depth, depth, 1, packed);
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const int64_t splits [][6] = {{36, 36, 36, 20}, {30, 30, 30, 30, 8}, {12, 24, 6, 86}};
    const int64_t widths [] = {49, 17, 33, 50, 64};
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (size_t c = 0; c < sizeof widths / sizeof widths [0]; c++) {
            int64_t cols = widths [c];
            zi_mm (packed, maps, depth, cols, zi_tensor_f32 (x), ld, NULL, NULL, 0, &none,
                   whole, ld);
            for (size_t s = 0; s < sizeof splits / sizeof splits [0]; s++) {
                int64_t m0 = 0;
                for (int b = 0; b < 6 && splits [s][b]; b++) {
                    zi_mm (packed + m0 * depth, splits [s][b], depth, cols, zi_tensor_f32 (x),
                           ld, NULL, NULL, 0, &none, blocks + m0 * ld, ld);
                    m0 += splits [s][b];
                }
                bool same = true;
                for (int64_t m = 0; m < maps; m++)
                    same &= memcmp (blocks + m * ld, whole + m * ld, cols * sizeof (float)) == 0;
                ZI_CHECK (t, same, "mm in blocks of maps (split %zu), %lld columns at %s: the "
                          "bits of one call", s, (long long) cols,
                          zi_isa_name ((zi_isa_t) level));
            }
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    zi_free (blocks);
    zi_free (whole);
    zi_free (packed);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&w);
}

#if defined (ZI_HAVE_AVX2)
//  zi_mm_fill's X: strips copied from a matrix, columns [col, col + width)
typedef struct {
    const float *x;
    int64_t ldx;
} s_fill_matrix_t;

static void
s_fill_from_matrix (const void *args, int64_t k0, int64_t rows, int64_t col, int64_t width,
                    float *strip)
{
    const s_fill_matrix_t *from = args;
    for (int64_t k = 0; k < rows; k++)
        for (int64_t j = 0; j < ZI_MM_STRIP_COLS; j++)
            strip [k * ZI_MM_STRIP_COLS + j] = j < width? from->x [(k0 + k) * from->ldx + col + j]
                                                        : NAN;
}

//  zi_mm_fill, on one thread and shared out, gives zi_mm's bits on the
//  same X, in either order of tiles and with the panels' strips in more
//  than one block; lanes past a strip's width (NaN here) are never used
static void
s_mm_fill_test (zi_test_t *t)
{
    if (!zi_use_avx2 () || zi_use_avx512 ())
        return;
    struct { int64_t maps, depth, cols; bool bias, residual; zi_act_kind_t act; } shapes [] = {
        //  columns outer, two slices, tails of 1, 3, 7 and 12 columns
        {40, 300, 33, true, false, ZI_ACT_RELU},
        {30, 520, 35, false, true, ZI_ACT_HARD_SWISH},
        {13, 27, 71, true, true, ZI_ACT_NONE},
        {50, 100, 44, true, false, ZI_ACT_SIGMOID},
        //  panels outer (more maps than columns), a tail of 2
        {100, 600, 50, true, true, ZI_ACT_CLIP},
        //  panels outer over three slices of 171 rows: 380 columns are
        //  more than one block of whole tiles in the packed slice
        {384, 513, 380, true, false, ZI_ACT_RELU},
        //  panels outer, on threads the strips shared in groups of five
        //  slices of 250 rows and a last group of one; an activation
        //  after the tiles; as many maps as columns
        {120, 1500, 40, true, true, ZI_ACT_SIGMOID},
        {96, 400, 96, false, false, ZI_ACT_RELU},
        //  columns outer with a tail of one column, which joins the tile
        //  before it when the threads share the columns
        {20, 300, 49, true, true, ZI_ACT_RELU},
        //  columns outer, rows of Y 600 floats apart: the tiles fetch the
        //  residual's lines, and Y's in the second slice, ahead
        {30, 300, 600, true, true, ZI_ACT_RELU},
    };
    for (size_t index = 0; index < sizeof shapes / sizeof shapes [0]; index++) {
        int64_t maps = shapes [index].maps, depth = shapes [index].depth;
        int64_t cols = shapes [index].cols;
        zi_act_t act = {shapes [index].act, -0.5f, 0.5f};
        uint32_t seed = (uint32_t) (700 + 5 * index);
        zi_tensor_t *w = zi_test_random (1, (int64_t []) {maps * depth}, seed);
        zi_tensor_t *x = zi_test_random (1, (int64_t []) {depth * cols}, seed + 1);
        zi_tensor_t *b = zi_test_random (1, (int64_t []) {maps}, seed + 2);
        zi_tensor_t *r = zi_test_random (1, (int64_t []) {maps * cols}, seed + 3);
        float *packed = aligned_alloc (64, (zi_mm_packed_floats (maps, depth) * sizeof (float)
                                            + 63) / 64 * 64);
        float *want = malloc (maps * cols * sizeof (float));
        float *got = malloc (maps * cols * sizeof (float));
        assert (packed && want && got);
        zi_mm_pack (zi_tensor_f32 (w), maps, depth, depth, 1, packed);
        const float *bias = shapes [index].bias? zi_tensor_f32 (b): NULL;
        const float *sum = shapes [index].residual? zi_tensor_f32 (r): NULL;
        zi_mm (packed, maps, depth, cols, zi_tensor_f32 (x), cols, bias, sum, cols, &act,
               want, cols);
        s_fill_matrix_t from = {zi_tensor_f32 (x), cols};
        zi_mm_fill (packed, maps, depth, cols, 0, s_fill_from_matrix, &from, bias, sum, cols,
                    &act, got, cols);
        ZI_CHECK (t, memcmp (got, want, maps * cols * sizeof (float)) == 0,
                  "mm fill %lld x %lld x %lld: zi_mm's bits", (long long) maps,
                  (long long) depth, (long long) cols);
        for (int threads = 2; threads <= 3; threads++) {
            zi_exec_t *exec = zi_exec_new ();
            zi_exec_set_threads (exec, threads);
            memset (got, 0, maps * cols * sizeof (float));
            zi_mm_fill_parallel (exec, packed, maps, depth, cols, s_fill_from_matrix, &from,
                                 bias, sum, cols, &act, got, cols);
            ZI_CHECK (t, memcmp (got, want, maps * cols * sizeof (float)) == 0,
                      "mm fill %lld x %lld x %lld on %d threads: zi_mm's bits",
                      (long long) maps, (long long) depth, (long long) cols, threads);
            zi_exec_destroy (&exec);
        }
        free (packed);
        free (want);
        free (got);
        zi_tensor_destroy (&w);
        zi_tensor_destroy (&x);
        zi_tensor_destroy (&b);
        zi_tensor_destroy (&r);
    }
}
#endif

void
zi_act_mm_test (zi_test_t *t)
{
#if defined (ZI_HAVE_AVX2)
    //  At the AVX2 cap, so that a CPU with AVX-512 tests it too
    if (zi_test_isa (t, ZI_ISA_AVX2))
        s_mm_fill_test (t);
    zi_isa_set_cap (ZI_ISA_DEFAULT);
#endif
    s_mm_order_test (t, 6, 300, 48, ZI_ISA_AVX2);
    //  Rows of X 600 floats apart and several panels: column tiles
    //  outside, each fetching the next strip ahead as it runs
    s_mm_order_test (t, 30, 300, 600, ZI_ISA_AVX2);
    //  K past S_MM_WIDE_DEPTH but within S_MM_WIDE_WHOLE: one slice at
    //  AVX-512 (a 7x7 stem's 147 rows)
    s_mm_order_test (t, 12, 147, 100, ZI_ISA_AVX2);
    //  One column past whole vectors, after a full tile (a 7x7 image) and
    //  after the last tile's whole vectors: at AVX-512 it joins the tile's
    //  chain (AVX2's column kernel sums in four chains)
    s_mm_order_test (t, 13, 300, 49, ZI_ISA_AVX512);
    s_mm_order_test (t, 8, 140, 17, ZI_ISA_AVX512);
    s_mm_order_test (t, 8, 140, 33, ZI_ISA_AVX512);
    s_mm_blocks_test (t);
    s_mm_case_t cases [] = {
        {.maps = 6, .depth = 1, .cols = 16},
        {.maps = 7, .depth = 5, .cols = 33, .bias = true, .act = ZI_ACT_RELU},
        {.maps = 13, .depth = 27, .cols = 45, .pad = 3, .bias = true, .act = ZI_ACT_CLIP},
        {.maps = 64, .depth = 300, .cols = 70, .bias = true, .act = ZI_ACT_HARD_SWISH},
        {.maps = 5, .depth = 600, .cols = 6, .act = ZI_ACT_HARD_SIGMOID},
        {.maps = 11, .depth = 9, .cols = 2, .pad = 5, .bias = true},
        {.maps = 40, .depth = 64, .cols = 200, .transposed = true, .bias = true,
         .act = ZI_ACT_LEAKY_RELU},
        {.maps = 128, .depth = 32, .cols = 49, .pad = 15},
        //  The column past whole vectors inside the tile (AVX-512): after
        //  a full tile and after one vector, K in slices (Y's sums added
        //  back), a residual, an activation, a last panel of one row
        {.maps = 13, .depth = 300, .cols = 49, .pad = 3, .bias = true, .residual = true,
         .act = ZI_ACT_RELU},
        {.maps = 7, .depth = 300, .cols = 17, .pad = 2, .bias = true, .residual = true,
         .act = ZI_ACT_HARD_SWISH},
        //  A residual, in one slice and in the last of several, every tail
        {.maps = 20, .depth = 40, .cols = 51, .pad = 2, .bias = true, .residual = true,
         .act = ZI_ACT_RELU},
        {.maps = 9, .depth = 520, .cols = 19, .residual = true, .act = ZI_ACT_HARD_SWISH},
        {.maps = 64, .depth = 16, .cols = 30, .residual = true, .act = ZI_ACT_SIGMOID},
        //  AVX-512 row ends: two whole vectors after full tiles, and three
        //  with the last masked, over two slices of K with a residual
        {.maps = 14, .depth = 270, .cols = 80, .bias = true, .act = ZI_ACT_RELU},
        {.maps = 25, .depth = 300, .cols = 132, .pad = 1, .residual = true, .act = ZI_ACT_CLIP},
        {.maps = 3, .depth = 17, .cols = 12, .transposed = true, .act = ZI_ACT_SIGMOID},
        //  Strips of X packed before the panels read them: two slices of
        //  K, a tail tile of 6 columns, a residual in the last slice
        {.maps = 27, .depth = 300, .cols = 1030, .pad = 2, .bias = true, .residual = true,
         .act = ZI_ACT_RELU},
        //  The same in four slices of 128 (AVX-512) or two of 256 (AVX2)
        {.maps = 27, .depth = 512, .cols = 1030, .bias = true, .residual = true,
         .act = ZI_ACT_CLIP},
        //  X read in place with rows far apart: the next strip fetched
        //  ahead at AVX-512, up to the row's last, masked tile
        {.maps = 40, .depth = 150, .cols = 600, .pad = 1, .bias = true, .residual = true,
         .act = ZI_ACT_RELU},
        //  Shallow, with Y past S_MM_WIDE_Y_BYTES: panel by panel at
        //  AVX-512 in one call, column tiles outside in each thread's
        //  share of zi_mm_parallel, the same bits either way
        {.maps = 70, .depth = 20, .cols = 7700, .pad = 3, .bias = true, .residual = true,
         .act = ZI_ACT_RELU},
        //  Shallow with rows of X a page apart (AVX2: each block of
        //  columns packed before its panels): blocks of 512, 512 and 3
        //  columns (the last through the column kernel); one block with a
        //  masked tail tile
        {.maps = 25, .depth = 64, .cols = 1027, .pad = 1, .bias = true, .residual = true,
         .act = ZI_ACT_RELU},
        {.maps = 30, .depth = 7, .cols = 1100, .act = ZI_ACT_HARD_SWISH},
        //  Whole tiles and a last column (97 = 2 x 48 + 1 = 6 x 16 + 1),
        //  each tile worth a part of its own: the column stays with the
        //  tile before it when the columns are shared out
        {.maps = 16, .depth = 300, .cols = 97, .bias = true, .act = ZI_ACT_RELU},
        //  One column, the matrix-vector kernel: full steps of K and every
        //  tail, a last panel of fewer rows, x strided, K in two chunks
        //  (the sums passing through y), a residual, an activation applied
        //  after the product, K of 1
        {.maps = 1000, .depth = 512, .cols = 1, .bias = true, .act = ZI_ACT_RELU},
        {.maps = 37, .depth = 101, .cols = 1, .pad = 2, .bias = true, .act = ZI_ACT_HARD_SWISH},
        {.maps = 13, .depth = 4100, .cols = 1, .pad = 1, .bias = true, .residual = true,
         .act = ZI_ACT_CLIP},
        {.maps = 8, .depth = 23, .cols = 1, .transposed = true, .residual = true,
         .act = ZI_ACT_SIGMOID},
        {.maps = 2, .depth = 1, .cols = 1},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        s_mm_case (t, &cases [index], (uint32_t) (100 + 3 * index));

    //  sgemm and sgemv cut into blocks: wide, narrow (by rows), transposed
    struct { bool ta, tb; int64_t m, n, k; } products [] = {
        {false, false, 40, 300, 70}, {true, false, 200, 20, 33}, {false, true, 7, 129, 50},
        {true, true, 65, 65, 9}
    };
    for (size_t index = 0; index < sizeof products / sizeof products [0]; index++) {
        int64_t m = products [index].m, n = products [index].n, k = products [index].k;
        bool ta = products [index].ta, tb = products [index].tb;
        zi_tensor_t *a = zi_test_random (1, (int64_t []) {m * k}, (uint32_t) (40 + index));
        zi_tensor_t *b = zi_test_random (1, (int64_t []) {k * n}, (uint32_t) (50 + index));
        const float *av = zi_tensor_f32 (a), *bv = zi_tensor_f32 (b);
        float *want = malloc (m * n * sizeof (float));
        float *got = malloc (m * n * sizeof (float));
        assert (want && got);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double sum = 0;
                for (int64_t p = 0; p < k; p++)
                    sum += (double) (ta? av [p * m + i]: av [i * k + p])
                         * (tb? bv [j * k + p]: bv [p * n + j]);
                want [i * n + j] = (float) (0.5 * sum);
            }
        for (int threads = 1; threads <= 3; threads++) {
            zi_exec_t *exec = zi_exec_new ();
            zi_exec_set_threads (exec, threads);
            for (int64_t item = 0; item < m * n; item++)
                got [item] = NAN;
            zi_sgemm (exec, ta, tb, m, n, k, 0.5f, av, ta? m: k, bv, tb? k: n, 0, got, n);
            char what [96];
            snprintf (what, sizeof what, "zi_sgemm %s%s %lldx%lldx%lld at %d threads",
                      ta? "A^T ": "", tb? "B^T": "", (long long) m, (long long) n,
                      (long long) k, threads);
            ZI_CHECK_CLOSE (t, what, got, want, m * n, 1e-4f, 1e-4f);
            //  y = 0.5 op (A) x with x the first column of B': the same sums
            float x [512], y [512], expect [512];
            for (int64_t p = 0; p < k; p++)
                x [p] = tb? bv [p]: bv [p * n];
            for (int64_t i = 0; i < m; i++) {
                double sum = 0;
                for (int64_t p = 0; p < k; p++)
                    sum += (double) (ta? av [p * m + i]: av [i * k + p]) * x [p];
                expect [i] = (float) (0.5 * sum);
            }
            zi_sgemv (exec, ta, ta? k: m, ta? m: k, 0.5f, av, ta? m: k, x, 1, 0, y);
            snprintf (what, sizeof what, "zi_sgemv %s%lldx%lld at %d threads", ta? "A^T ": "",
                      (long long) m, (long long) k, threads);
            ZI_CHECK_CLOSE (t, what, y, expect, m, 1e-4f, 1e-4f);
            zi_exec_destroy (&exec);
        }
        free (want);
        free (got);
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&b);
    }

    //  y = A x by rows: rows in fours and alone, K with and without its
    //  tails of 8 and 1..7; the same bits at 1 to 3 threads, beside the
    //  rows of any part, and with y's old values added by beta
    for (int level = ZI_ISA_AVX2; level >= ZI_ISA_PORTABLE; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        int64_t depths [] = {1, 7, 8, 15, 16, 17, 24, 40, 131};
        for (size_t index = 0; index < sizeof depths / sizeof depths [0]; index++) {
            int64_t m = 37, k = depths [index], lda = k + 3;
            zi_tensor_t *a = zi_test_random (1, (int64_t []) {m * lda}, (uint32_t) (70 + index));
            zi_tensor_t *x = zi_test_random (1, (int64_t []) {k}, (uint32_t) (80 + index));
            const float *av = zi_tensor_f32 (a), *xv = zi_tensor_f32 (x);
            float expect [37], first [37], y [37];
            for (int64_t i = 0; i < m; i++) {
                double sum = 0;
                for (int64_t p = 0; p < k; p++)
                    sum += (double) av [i * lda + p] * xv [p];
                expect [i] = (float) (0.5 * sum + 0.25 * i);
            }
            for (int threads = 1; threads <= 3; threads++) {
                zi_exec_t *exec = zi_exec_new ();
                zi_exec_set_threads (exec, threads);
                for (int64_t i = 0; i < m; i++)
                    y [i] = i;
                zi_sgemv (exec, false, m, k, 0.5f, av, lda, xv, 1, 0.25f, y);
                char what [96];
                snprintf (what, sizeof what, "zi_sgemv %lldx%lld at %s, %d threads",
                          (long long) m, (long long) k, zi_isa_name (zi_isa_level ()), threads);
                ZI_CHECK_CLOSE (t, what, y, expect, m, 1e-5f, 1e-5f);
                if (threads == 1)
                    memcpy (first, y, sizeof first);
                else
                    ZI_CHECK (t, memcmp (first, y, sizeof first) == 0,
                              "%s: the bits of one thread", what);
                zi_exec_destroy (&exec);
            }
            //  Each row alone and in a part of its own from every start
            zi_exec_t *exec = zi_exec_new ();
            for (int64_t start = 0; start < m; start += 5) {
                for (int64_t i = 0; i < m; i++)
                    y [i] = i;
                zi_sgemv (exec, false, m - start, k, 0.5f, av + start * lda, lda, xv, 1, 0.25f,
                          y + start);
                ZI_CHECK (t, memcmp (first + start, y + start, (m - start) * sizeof (float)) == 0,
                          "zi_sgemv %lldx%lld at %s from row %lld: the same bits",
                          (long long) m, (long long) k, zi_isa_name (zi_isa_level ()),
                          (long long) start);
            }
            zi_exec_destroy (&exec);
            zi_tensor_destroy (&a);
            zi_tensor_destroy (&x);
        }
        //  Large enough to be shared out: 2 and 3 threads split the rows
        //  (the exec's counters say so) and give one thread's bits; beta
        //  0 reads no y, so NaNs left in it do not come through
        int64_t m = 301, k = 600;
        zi_tensor_t *a = zi_test_random (1, (int64_t []) {m * k}, 91);
        zi_tensor_t *x = zi_test_random (1, (int64_t []) {k}, 92);
        float *one = malloc (m * sizeof (float)), *y = malloc (m * sizeof (float));
        assert (one && y);
        for (int threads = 1; threads <= 3; threads++) {
            zi_exec_t *exec = zi_exec_new ();
            zi_exec_set_threads (exec, threads);
            for (int64_t i = 0; i < m; i++)
                y [i] = NAN;
            zi_sgemv (exec, false, m, k, 1.0f, zi_tensor_f32 (a), k, zi_tensor_f32 (x), 1, 0, y);
            zi_exec_stats_t stats;
            zi_exec_stats (exec, &stats);
            bool finite = true;
            for (int64_t i = 0; i < m; i++)
                finite = finite && isfinite (y [i]);
            ZI_CHECK (t, finite, "zi_sgemv %lldx%lld at %s, %d threads: beta 0 reads no y",
                      (long long) m, (long long) k, zi_isa_name (zi_isa_level ()), threads);
            if (threads == 1)
                memcpy (one, y, m * sizeof (float));
            else
                ZI_CHECK (t, stats.loops == 1 && stats.units > 1
                          && memcmp (one, y, m * sizeof (float)) == 0,
                          "zi_sgemv %lldx%lld at %s: %d threads split the rows (%lld units) "
                          "and give one thread's bits", (long long) m, (long long) k,
                          zi_isa_name (zi_isa_level ()), threads, (long long) stats.units);
            zi_exec_destroy (&exec);
        }
        free (one);
        free (y);
        zi_tensor_destroy (&a);
        zi_tensor_destroy (&x);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  The activation passes against the scalar one, tails included
    zi_act_kind_t kinds [] = {ZI_ACT_RELU, ZI_ACT_CLIP, ZI_ACT_LEAKY_RELU, ZI_ACT_HARD_SIGMOID,
                              ZI_ACT_HARD_SWISH, ZI_ACT_SIGMOID};
    zi_tensor_t *data = zi_test_random (1, (int64_t []) {45}, 7);
    for (size_t kind = 0; kind < sizeof kinds / sizeof kinds [0]; kind++) {
        zi_act_t act = {.kind = kinds [kind], .alpha = 0.2f, .beta = 0.5f};
        float got [45], want [45];
        memcpy (got, data->data, sizeof got);
        memcpy (want, data->data, sizeof want);
        zi_act_rows (&act, got, 3, 15, 15);
        zi_act_apply (&act, want, 45);
        ZI_CHECK_CLOSE (t, "zi_act_rows against zi_act_apply", got, want, 45, 1e-6f, 1e-6f);
    }
    zi_tensor_destroy (&data);

    //  Transposes: whole 8 x 8 blocks, both edges, the corner, one row,
    //  strided source and destination, at every level
    struct { int64_t rows, cols, lds, ldd; } shapes [] = {
        {32, 784, 784, 32}, {13, 21, 24, 15}, {8, 8, 8, 8}, {1, 19, 19, 3}, {17, 1, 2, 17}
    };
    for (int level = ZI_ISA_PORTABLE; level <= ZI_ISA_AVX512; level++) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        for (size_t index = 0; index < sizeof shapes / sizeof shapes [0]; index++) {
            int64_t rows = shapes [index].rows, cols = shapes [index].cols;
            int64_t lds = shapes [index].lds, ldd = shapes [index].ldd;
            zi_tensor_t *src = zi_test_random (1, (int64_t []) {rows * lds}, (uint32_t) (70 + index));
            const float *sv = zi_tensor_f32 (src);
            float *got = malloc (cols * ldd * sizeof (float));
            float *want = malloc (cols * ldd * sizeof (float));
            assert (got && want);
            for (int64_t item = 0; item < cols * ldd; item++)
                got [item] = want [item] = -7;      //  the gaps between rows stay as they were
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++)
                    want [c * ldd + r] = sv [r * lds + c];
            zi_mm_transpose (sv, rows, cols, lds, got, ldd);
            char what [96];
            snprintf (what, sizeof what, "zi_mm_transpose %lldx%lld, %s", (long long) rows,
                      (long long) cols, zi_isa_name ((zi_isa_t) level));
            ZI_CHECK (t, memcmp (got, want, cols * ldd * sizeof (float)) == 0, "%s", what);
            free (want);
            free (got);
            zi_tensor_destroy (&src);
        }
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
}
