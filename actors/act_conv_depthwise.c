/*  =========================================================================
    act_conv_depthwise - Conv's depthwise path: one input channel per group
    (group == C), a direct loop over a padded copy of each input plane, no
    BLAS. act_conv.c chooses it; it is not an op of its own. At the AVX2
    level (not with AVX-512) 3x3 and 5x5 at stride 2 on rows of sixteen
    floats or more read the input plane itself instead of the copy.

    The SIMD kernels sum every tap of eight columns of several rows in
    registers; 3x3 and 5x5 at stride 1 and 2 have kernels of their own,
    other shapes a general one. With AVX-512 those four take sixteen
    columns a step, the row's end under a mask, on rows wider than eight.
    Every SIMD kernel (chosen at run time) has a portable twin that gives
    the same results up to float rounding; the self test runs each case at
    every instruction set the CPU has.

    Each output sums its taps row by row of the kernel from zero and adds
    the bias last, the order of ONNX Runtime's NCHWc depthwise kernel
    (MLAS): the SIMD kernels give its bits. Started from the bias, as
    they were, they were 0.9-1.3 times its distance from float64 on the
    mlsd models' depthwise layers, a difference that their weights (up to
    56, batch normalisation folded in) amplify downstream (docs/models.md).
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_conv.h"

//  The geometry (act_conv.h)
typedef zi_conv_geom_t s_geom_t;

//  Output rows made together by the SIMD depthwise kernels: seven divides
//  the 112, 56, 28, 14 and 7 row planes of the usual image networks
#define S_DW_ROWS 7

//  Output rows at least this wide get rows of the padded copy a whole
//  number of cache lines long (see s_dw_layout)
#define S_ALIGNED_ROWS 32

//  Input rows at least this wide are split for a stride-2 copy a call per
//  row, narrower ones a call per plane (see s_split2_rows_avx2)
#define S_SPLIT_ROW_CALL 64

//  The row of zeros of the stride-2 kernels that read the input itself,
//  with floats before its column 0 and past the input row's width. The
//  kernels mask every lane outside [0, width) of a row, this one's too,
//  so the margins are never read: they are a guard, sized for the widest
//  step (its first load starts at most the left padding, under k, before
//  column 0; its last ends at most k + 14 columns past its first)
#define S_ZERO_BEFORE 32
#define S_ZERO_AFTER 64

//  Input rows at least this wide take the stride-2 kernels that read the
//  input itself; narrower ones the padded copy (see zi_conv_depthwise)
#define S_DIRECT_MIN_W 16

//  Input rows at least this wide are asked for a band of rows ahead by the
//  stride-2 kernels that read the input itself (see s_dw_direct_avx2)
#define S_AHEAD_MIN_W 64

//  --------------------------------------------------------------------------
//  SIMD helpers (see act_simd.h for how the AVX2 + FMA kernels are chosen)

#if defined (ZI_HAVE_AVX2)
//  How s_split2_tail_avx2 ends a row of n floats, worked out once for the
//  rows of a plane: the masks of its last step's loads and stores, and
//  whether that step may store whole
typedef struct {
    int64_t at;                 //  where the last step starts, n rounded down to 16
    __m256i low, high;          //  its load masks
    __m256i even, odd;          //  its store masks
    bool whole;                 //  eight floats fit there before the copy's row ends
} s_tail2_t;

//  Both phases' rows have room floats before the copy's row ends
static ZI_AVX2_INLINE s_tail2_t
s_tail2_avx2 (int64_t n, int64_t room)
{
    s_tail2_t tail;
    tail.at = n / 16 * 16;
    int64_t left = n - tail.at;
    tail.low = zi_tail_mask_avx2 (left < 8? left: 8);
    tail.high = zi_tail_mask_avx2 (left < 8? 0: left - 8);
    tail.even = zi_tail_mask_avx2 ((left + 1) / 2);
    tail.odd = zi_tail_mask_avx2 (left / 2);
    tail.whole = tail.at / 2 + 8 <= room;
    return tail;
}

//  Splits columns [0, n) of one input row between the two phases of a
//  stride-2 padded copy, sixteen at a time: its even columns go to
//  even_dst, its odd ones to odd_dst, each packed. n is a multiple of
//  sixteen: no test of the row's end inside, where the tests had made the
//  loop some twenty instructions a step for eight of work.
static ZI_AVX2_INLINE void
s_split2_avx2 (const float *src, int64_t n, float *even_dst, float *odd_dst)
{
    for (int64_t c = 0; c < n; c += 16) {
        __m256 even, odd;
        zi_split16_avx2 (_mm256_loadu_ps (src + c), _mm256_loadu_ps (src + c + 8), &even, &odd);
        _mm256_storeu_ps (even_dst + c / 2, even);
        _mm256_storeu_ps (odd_dst + c / 2, odd);
    }
}

//  The row's last, part step, with masked loads. Where eight floats fit,
//  it is stored whole, its lanes past the input zeros (the masked loads
//  read zeros there) over the zero padding: a masked store costs far more
//  than a store on Zen 5 (see docs/performance.md, the depthwise rows)
static ZI_AVX2_INLINE void
s_split2_tail_avx2 (const float *src, float *even_dst, float *odd_dst, const s_tail2_t *tail)
{
    __m256 even, odd;
    zi_split16_avx2 (_mm256_maskload_ps (src, tail->low), _mm256_maskload_ps (src + 8, tail->high),
                     &even, &odd);
    if (tail->whole) {
        _mm256_storeu_ps (even_dst, even);
        _mm256_storeu_ps (odd_dst, odd);
    }
    else {
        _mm256_maskstore_ps (even_dst, tail->even, even);
        _mm256_maskstore_ps (odd_dst, tail->odd, odd);
    }
}

//  One row, a call of its own, for rows of S_SPLIT_ROW_CALL floats or more
static ZI_AVX2 void
s_split2_row_avx2 (const float *src, int64_t n, float *even_dst, float *odd_dst,
                   int64_t room)
{
    int64_t at = n / 16 * 16;
    s_split2_avx2 (src, at, even_dst, odd_dst);
    if (at < n) {
        s_tail2_t tail = s_tail2_avx2 (n, room);
        s_split2_tail_avx2 (src + at, even_dst + at / 2, odd_dst + at / 2, &tail);
    }
}

//  Rows of a plane, in_w floats apart, each split by s_split2_avx2 into
//  rows width floats apart: one call a plane, as with AVX-512, since a
//  call a row costs about as much as splitting a row of 14 or 28 floats;
//  the row's end worked out once
static ZI_AVX2 void
s_split2_rows_avx2 (const float *x, int64_t in_w, int64_t rows, int64_t n, float *even_dst,
                    float *odd_dst, int64_t width, int64_t room)
{
    s_tail2_t tail = s_tail2_avx2 (n, room);
    for (int64_t row = 0; row < rows; row++, x += in_w, even_dst += width, odd_dst += width) {
        s_split2_avx2 (x, tail.at, even_dst, odd_dst);
        if (tail.at < n)
            s_split2_tail_avx2 (x + tail.at, even_dst + tail.at / 2, odd_dst + tail.at / 2, &tail);
    }
}

//  n floats of each of rows rows, src and dst rows lds and ldd apart, for
//  the stride-1 copy: eight floats a step and the row's end as one more
//  step that ends on it, overlapping the one before (the same values
//  stored twice), so no masked store and nothing past the row is written.
//  A memcpy call a row cost more than the copy of a 7, 14 or 28 float row.
static ZI_AVX2 void
s_copy_rows_avx2 (float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                  int64_t n)
{
    for (int64_t row = 0; row < rows; row++, dst += ldd, src += lds) {
        if (n >= 8) {
            int64_t q = 0;
            for (; q + 8 <= n; q += 8)
                _mm256_storeu_ps (dst + q, _mm256_loadu_ps (src + q));
            if (q < n)
                _mm256_storeu_ps (dst + n - 8, _mm256_loadu_ps (src + n - 8));
        }
        else
        if (n >= 4) {
            __m128 head = _mm_loadu_ps (src), end = _mm_loadu_ps (src + n - 4);
            _mm_storeu_ps (dst, head);
            _mm_storeu_ps (dst + n - 4, end);
        }
        else
            for (int64_t q = 0; q < n; q++)
                dst [q] = src [q];
    }
}
#endif

#if defined (ZI_HAVE_AVX512)
//  The first n of sixteen lanes, n in [0, 16]
static inline __mmask16
s_mask16 (int64_t n)
{
    return n >= 16? (__mmask16) 0xFFFF: (__mmask16) ((1u << n) - 1);
}

//  s_split2_avx2 thirty-two columns at a time: one permute of the two
//  loaded vectors gives the sixteen even columns, another the sixteen odd
//  ones; the row's end loads and stores under masks
static ZI_AVX512_INLINE void
s_split2_avx512 (const float *src, int64_t n, float *even_dst, float *odd_dst)
{
    const __m512i even_index = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16,
                                                 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd_index = _mm512_add_epi32 (even_index, _mm512_set1_epi32 (1));
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
        __m512 low = _mm512_loadu_ps (src + c), high = _mm512_loadu_ps (src + c + 16);
        _mm512_storeu_ps (even_dst + c / 2, _mm512_permutex2var_ps (low, even_index, high));
        _mm512_storeu_ps (odd_dst + c / 2, _mm512_permutex2var_ps (low, odd_index, high));
    }
    for (; c < n; c += 32) {
        int64_t left = n - c < 32? n - c: 32;
        __m512 low = _mm512_maskz_loadu_ps (s_mask16 (left), src + c);
        __m512 high = _mm512_maskz_loadu_ps (s_mask16 (left > 16? left - 16: 0), src + c + 16);
        _mm512_mask_storeu_ps (even_dst + c / 2, s_mask16 ((left + 1) / 2),
                               _mm512_permutex2var_ps (low, even_index, high));
        _mm512_mask_storeu_ps (odd_dst + c / 2, s_mask16 (left / 2),
                               _mm512_permutex2var_ps (low, odd_index, high));
    }
}

//  One row, a call of its own: on rows of 112 floats this ran 7 % faster
//  than the row loop below (as measured; the split waits on its loads)
static ZI_AVX512 void
s_split2_row_avx512 (const float *src, int64_t n, float *even_dst, float *odd_dst)
{
    s_split2_avx512 (src, n, even_dst, odd_dst);
}

//  n floats of each of rows rows, src and dst rows lds and ldd apart,
//  sixteen floats a step, each row's end masked
static ZI_AVX512 void
s_copy_rows_avx512 (float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                    int64_t n)
{
    for (int64_t row = 0; row < rows; row++, dst += ldd, src += lds)
        for (int64_t q = 0; q < n; q += 16) {
            __mmask16 lanes = s_mask16 (n - q);
            _mm512_mask_storeu_ps (dst + q, lanes, _mm512_maskz_loadu_ps (lanes, src + q));
        }
}
#endif


//  --------------------------------------------------------------------------
//  The padded copy and the kernels

//  Depthwise convolution reads a padded copy of one input plane at a time.
//  The copy has the zero padding written out, so each output pixel sums
//  all its taps with no bounds checks. With a column stride s the copy is
//  split into s phase planes, column q s + p of the padded row going to
//  column q of phase p: tap kw of output column ow then sits in phase
//  (kw dil_w) mod s at column ow + (kw dil_w) / s, so a strided kernel
//  loads consecutive floats like an unstrided one. The copy is made once
//  per input channel and serves every output channel that reads it; the
//  padding is the same for every channel, so it is zeroed once per run and
//  only the input pixels are copied per channel.
typedef struct {
    int64_t rows;               //  padded rows, with slack below for S_DW_ROWS
    int64_t width;              //  floats per row of a phase plane
    int64_t phases;             //  phase planes, the column stride
    int64_t plane;              //  floats per phase plane
    int64_t lo [ZI_CONV_DW_MAX_STRIDE];   //  per phase: first column holding input
    int64_t hi [ZI_CONV_DW_MAX_STRIDE];   //  per phase: end of the input columns
} s_dw_t;

//  The SIMD kernels make eight columns of S_DW_ROWS rows at a time, and
//  read whole groups of eight even where the output is narrower, or stops
//  short of a group of rows; the copy is large enough that those reads
//  stay inside it (and see zeros).
static void
s_dw_layout (const s_geom_t *geom, s_dw_t *dw)
{
    assert (geom->stride_w <= ZI_CONV_DW_MAX_STRIDE);
    int64_t reach = (geom->k_w - 1) * geom->dil_w / geom->stride_w;
    dw->rows = (geom->out_h + S_DW_ROWS - 2) * geom->stride_h
             + (geom->k_h - 1) * geom->dil_h + 1;
    dw->width = (geom->out_w + 7) / 8 * 8 + reach;
    //  Wide rows start on a cache line, so that the loads of the taps that
    //  fall on a multiple of sixteen do not straddle two (a 112x112 plane
    //  at stride 2 took 8 % less time); on narrow rows the rounding would
    //  add more to the copy than it saves
    if (geom->out_w >= S_ALIGNED_ROWS)
        dw->width = (dw->width + 15) / 16 * 16;
    dw->phases = geom->stride_w;
    dw->plane = dw->rows * dw->width;
    for (int64_t phase = 0; phase < dw->phases; phase++)
        zi_conv_valid_range (phase - geom->pad_l, dw->phases, geom->in_w, dw->width,
                             &dw->lo [phase], &dw->hi [phase]);
}

//  Where tap kw of output column 0 is in the padded copy
static int64_t
s_dw_column (const s_geom_t *geom, const s_dw_t *dw, int64_t kw)
{
    int64_t at = kw * geom->dil_w;
    return at % dw->phases * dw->plane + at / dw->phases;
}

//  Copies one input plane into a zeroed padded copy. Input rows that no
//  output reads are left out; so are the columns past the copy's width.
static void
s_dw_fill (const s_geom_t *geom, const s_dw_t *dw, const float *x, float *pad, bool avx2,
           bool avx512)
{
    int64_t stride = dw->phases;
    int64_t first = geom->pad_t < dw->rows? geom->pad_t: dw->rows;
    int64_t last = geom->pad_t + geom->in_h < dw->rows? geom->pad_t + geom->in_h: dw->rows;
#if defined (ZI_HAVE_AVX2)
    if (avx2 && stride == 2) {
        //  Input column c lands at padded column t = c + pad_l: phase t % 2,
        //  element t / 2; columns whose element is past the copy's width
        //  are never read
        int64_t used = 2 * dw->width - geom->pad_l;
        if (used > geom->in_w)
            used = geom->in_w;
        if (used <= 0)
            return;
        int64_t even_phase = geom->pad_l & 1, even_at = geom->pad_l >> 1;
        int64_t odd_phase = (geom->pad_l + 1) & 1, odd_at = (geom->pad_l + 1) >> 1;
        float *dst = pad + first * dw->width;
        const float *src = x + (first - geom->pad_t) * geom->in_w;
        float *even_dst = dst + even_phase * dw->plane + even_at;
        float *odd_dst = dst + odd_phase * dw->plane + odd_at;
        int64_t room = dw->width - (even_at > odd_at? even_at: odd_at);
#if defined (ZI_HAVE_AVX512)
        //  A narrow plane takes the AVX2 split with AVX-512 too: its rows'
        //  ends stored whole, where the AVX-512 split stores them under a
        //  mask, which costs far more than its instructions (a 672-channel
        //  14x14 layer ran in 0.73 of the time, a 240-channel 28x28 one in
        //  0.68); wide rows gain nothing either way
        if (avx512 && used >= S_SPLIT_ROW_CALL) {
            for (int64_t row = 0; row < last - first; row++)
                s_split2_row_avx512 (src + row * geom->in_w, used,
                                     even_dst + row * dw->width, odd_dst + row * dw->width);
            return;
        }
#endif
        if (used < S_SPLIT_ROW_CALL)
            s_split2_rows_avx2 (src, geom->in_w, last - first, used, even_dst, odd_dst,
                                dw->width, room);
        else
            for (int64_t row = 0; row < last - first; row++)
                s_split2_row_avx2 (src + row * geom->in_w, used, even_dst + row * dw->width,
                                   odd_dst + row * dw->width, room);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX512)
    if (avx512 && stride == 1 && dw->hi [0] > dw->lo [0]) {
        //  Rows of a small plane (14 floats on a 14x14 image) are too short
        //  for a memcpy call to pay its way: a masked vector or few each
        int64_t lo = dw->lo [0];
        if (last > first)
            s_copy_rows_avx512 (pad + first * dw->width + lo, dw->width,
                                x + (first - geom->pad_t) * geom->in_w + lo - geom->pad_l,
                                geom->in_w, last - first, dw->hi [0] - lo);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX2)
    if (avx2 && stride == 1 && dw->hi [0] > dw->lo [0]) {
        int64_t lo = dw->lo [0];
        if (last > first)
            s_copy_rows_avx2 (pad + first * dw->width + lo, dw->width,
                              x + (first - geom->pad_t) * geom->in_w + lo - geom->pad_l,
                              geom->in_w, last - first, dw->hi [0] - lo);
        return;
    }
#endif
    for (int64_t phase = 0; phase < stride; phase++) {
        int64_t lo = dw->lo [phase], hi = dw->hi [phase];
        if (hi <= lo)
            continue;
        int64_t iw = lo * stride + phase - geom->pad_l;
        for (int64_t row = first; row < last; row++) {
            float *dst = pad + phase * dw->plane + row * dw->width + lo;
            const float *src = x + (row - geom->pad_t) * geom->in_w + iw;
            if (stride == 1)
                memcpy (dst, src, (hi - lo) * sizeof (float));
            else
                for (int64_t q = 0; q < hi - lo; q++)
                    dst [q] = src [q * stride];
        }
    }
}

//  One output plane, portable: each tap adds its share to the whole output
//  row, which stays in L1 while the taps go by
static void
s_dw_plane (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
            const float *pad, const float *w, float bias, const zi_act_t *act, float *y)
{
    for (int64_t oh = 0; oh < geom->out_h; oh++) {
        float *yrow = y + oh * geom->out_w;
        for (int64_t ow = 0; ow < geom->out_w; ow++)
            yrow [ow] = 0;
        for (int64_t kh = 0; kh < geom->k_h; kh++) {
            const float *prow = pad + (oh * geom->stride_h + kh * geom->dil_h) * dw->width;
            for (int64_t kw = 0; kw < geom->k_w; kw++)
                zi_conv_axpy (yrow, prow + columns [kw], w [kh * geom->k_w + kw], geom->out_w);
        }
        for (int64_t ow = 0; ow < geom->out_w; ow++)
            yrow [ow] += bias;
        zi_act_apply (act, yrow, (size_t) geom->out_w);
    }
}

#if defined (ZI_HAVE_AVX2)
//  On planes under eight columns a row stored whole writes eight floats
//  from its start: its own and the start of the rows after it, which are
//  stored later. That must not reach past the plane (the next plane may
//  be another thread's, or the end of the tensor), so every row that
//  starts less than eight floats before the plane's end is stored under
//  a mask: from this row of the plane on. Rows under four columns have
//  more than one such row (3 columns: the last two; 1 column: seven)
static inline int64_t
s_masked_from (int64_t out_h, int64_t out_w)
{
    if (out_w >= 8)
        return out_h;
    return out_h - ((8 + out_w - 1) / out_w - 1);
}

//  Stores eight sums whole, or under the mask where masked (the rows of a
//  plane under eight columns that start less than eight floats before
//  its end, see s_masked_from)
static ZI_AVX2_INLINE void
s_store8_avx2 (float *to, bool masked, __m256i tail, __m256 sum)
{
    if (masked)
        _mm256_maskstore_ps (to, tail, sum);
    else
        _mm256_storeu_ps (to, sum);
}

//  The activation of S_DW_ROWS rows of eight sums, and their stores: one
//  switch on the kind a step. Inside each store gcc made it a jump
//  through a table, seven a step, which took a tenth of a 14x14 layer's
//  time. Every store is whole but the plane's last rows on planes under
//  eight columns (from masked, counted in this step's rows; see
//  s_masked_from): on rows of eight or more the caller's last step ends
//  on the row's end; on narrower rows a row's spare lanes land on the
//  next rows' first columns, stored after it. A masked store (vmaskmovps)
//  costs Zen 3 far more than its one instruction: the two on every row of
//  a 14x14 plane took a third of its time.
static ZI_AVX2_INLINE void
s_store_rows_avx2 (__m256 *sum, zi_act_kind_t kind, __m256 alpha, __m256 beta, float *yrow,
                   int64_t out_w, int64_t rows, int64_t masked, float *spare, int64_t ow,
                   __m256i tail)
{
    switch (kind) {
        case ZI_ACT_RELU:
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = zi_act8_avx2 (sum [r], ZI_ACT_RELU, alpha, beta);
            break;
        case ZI_ACT_CLIP:
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = zi_act8_avx2 (sum [r], ZI_ACT_CLIP, alpha, beta);
            break;
        case ZI_ACT_LEAKY_RELU:
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = zi_act8_avx2 (sum [r], ZI_ACT_LEAKY_RELU, alpha, beta);
            break;
        case ZI_ACT_HARD_SIGMOID:
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = zi_act8_avx2 (sum [r], ZI_ACT_HARD_SIGMOID, alpha, beta);
            break;
        case ZI_ACT_HARD_SWISH:
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = zi_act8_avx2 (sum [r], ZI_ACT_HARD_SWISH, alpha, beta);
            break;
        default:
            break;
    }
    //  Stored unconditionally: a store under "if (r < rows)" lets gcc sink
    //  that row's arithmetic into the branch, serialising it after the
    //  store of the row before
    if (out_w >= 8)
        for (int r = 0; r < S_DW_ROWS; r++)
            _mm256_storeu_ps ((r < rows? yrow + r * out_w: spare) + ow, sum [r]);
    else
        for (int r = 0; r < S_DW_ROWS; r++)
            s_store8_avx2 (r < rows? yrow + r * out_w: spare, r >= masked, tail, sum [r]);
}

//  One output plane of a k x k kernel with stride s on both axes and no
//  dilation, k and s constants so every loop below unrolls. A step makes
//  eight columns of S_DW_ROWS rows: it walks down the input rows once, and
//  each of the k loads of a row (one per kernel column) feeds every output
//  row that row reaches. That is about one load per two multiply-adds
//  instead of two per one, and seven independent sums keep both FMA units
//  busy; every output still takes its taps row by row of the kernel.
//  Rows past the end of the plane are computed into spare and dropped.
static ZI_AVX2_INLINE void
s_dw_square_avx2 (const s_geom_t *geom, const s_dw_t *dw, const float *pad, const float *w,
                  float bias, const zi_act_t *act, float *y, float *spare,
                  const int k, const int s)
{
    assert (k <= 5);
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m256 alpha = _mm256_set1_ps (act->alpha);
    __m256 beta = _mm256_set1_ps (act->beta);
    int64_t out_w = geom->out_w;
    int64_t width = dw->width, phase = dw->plane;
    __m256i tail = zi_tail_mask_avx2 (out_w < 8? out_w: 8);
    __m256 late = _mm256_set1_ps (bias);
    //  The k x k weights broadcast once per plane: read from w in the
    //  loop, each would be a load beside the input's on every FMA
    __m256 tap [25];
    for (int t = 0; t < k * k; t++)
        tap [t] = _mm256_broadcast_ss (w + t);
    int64_t masked_from = s_masked_from (geom->out_h, out_w);
    for (int64_t oh = 0; oh < geom->out_h; oh += S_DW_ROWS) {
        int64_t rows = geom->out_h - oh < S_DW_ROWS? geom->out_h - oh: S_DW_ROWS;
        const float *base = pad + oh * s * width;
        float *yrow = y + oh * out_w;
        //  The first of the step's rows stored under a mask (s_masked_from)
        int64_t masked = masked_from - oh;
        for (int64_t step = 0; step < out_w; step += 8) {
            //  A row's last step ends on its end, over columns of the step
            //  before where the width is not a multiple of eight (the same
            //  sums again), so that its stores are whole
            int64_t ow = step + 8 <= out_w || out_w < 8? step: out_w - 8;
            __m256 sum [S_DW_ROWS];
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = _mm256_setzero_ps ();
            //  Unrolled whole, so that every tap and row index is a constant.
            //  The input row is a pointer stepped a row at a time and hidden
            //  from the optimiser: left to itself, gcc works out the 9 to 17
            //  rows' offsets before the loop and spills them, a reload and
            //  an add on every load of the input
            const float *at = base + ow;
#pragma GCC unroll 32
            for (int row = 0; row < (S_DW_ROWS - 1) * s + k; row++) {
#pragma GCC unroll 5
                for (int kw = 0; kw < k; kw++) {
                    __m256 in = _mm256_loadu_ps (at + kw % s * phase + kw / s);
                    for (int r = 0; r < S_DW_ROWS; r++) {
                        int kh = row - r * s;
                        if (kh >= 0 && kh < k)
                            sum [r] = _mm256_fmadd_ps (tap [kh * k + kw], in, sum [r]);
                    }
                }
                at += width;
                __asm__ ("" : "+r" (at));
            }
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = _mm256_add_ps (sum [r], late);
            s_store_rows_avx2 (sum, kind, alpha, beta, yrow, out_w, rows, masked, spare, ow, tail);
        }
        if (kind != act->kind)
            zi_act_simd (act, yrow, rows * out_w);
    }
}

//  Stride 2 straight from the input, no padded copy: eight columns of
//  S_DW_ROWS rows a step, as s_dw_square_avx2, each input row's sixteen
//  floats from column c0 loaded and their even and odd columns picked
//  with one shuffle each (taps 0 and 1), the sixteen from c0 + 2 likewise
//  (taps 2 and 3), and from c0 + 4 (tap 4). The shuffles leave the eight
//  columns in the order 0 1 4 5 2 3 6 7, the same for every tap, so the
//  sums are put right once, before the store, instead of every input
//  row; the copy's split cost a store and a lane-crossing permute for
//  each vector besides. Input rows outside the plane point at a row of
//  zeros; where masked, the columns outside the row load as zeros under
//  the masks: the taps over the padding add a zero product, as they do
//  from the copy, so the bits are the copy's.
//  Which of a step's loads are masked: none; the low loads that may start
//  left of column 0 (c0 is at least 1 - k, so those of the pairs that
//  start under k - 1 past it); the high loads, every one of which may end
//  past the row; or all
enum { S_EDGE_NONE, S_EDGE_LEFT, S_EDGE_RIGHT, S_EDGE_BOTH };

static ZI_AVX2_INLINE void
s_dw_direct_step_avx2 (__m256 *sum, const float *const *row_at, int64_t c0, const __m256 *tap,
                       const __m256i *mask, const int k, const int edge)
{
    for (int r = 0; r < S_DW_ROWS; r++)
        sum [r] = _mm256_setzero_ps ();
#pragma GCC unroll 32
    for (int row = 0; row < (S_DW_ROWS - 1) * 2 + k; row++) {
        const float *in = row_at [row] + c0;
        __m256 v [6];
#pragma GCC unroll 3
        for (int pair = 0; pair < (k + 1) / 2; pair++) {
            bool mask_low = edge == S_EDGE_BOTH || (edge == S_EDGE_LEFT && 2 * pair < k - 1);
            bool mask_high = edge == S_EDGE_BOTH || edge == S_EDGE_RIGHT;
            __m256 low = mask_low? _mm256_maskload_ps (in + 2 * pair, mask [2 * pair])
                                 : _mm256_loadu_ps (in + 2 * pair);
            __m256 high = mask_high? _mm256_maskload_ps (in + 2 * pair + 8, mask [2 * pair + 1])
                                   : _mm256_loadu_ps (in + 2 * pair + 8);
            v [2 * pair] = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (2, 0, 2, 0));
            v [2 * pair + 1] = _mm256_shuffle_ps (low, high, _MM_SHUFFLE (3, 1, 3, 1));
        }
#pragma GCC unroll 5
        for (int kw = 0; kw < k; kw++)
            for (int r = 0; r < S_DW_ROWS; r++) {
                int kh = row - r * 2;
                if (kh >= 0 && kh < k)
                    sum [r] = _mm256_fmadd_ps (tap [kh * k + kw], v [kw], sum [r]);
            }
    }
}

//  One output plane of a k x k kernel at stride 2 from the input plane x
//  (see s_dw_direct_step_avx2); zero is a row of zeros wide enough for
//  any step's loads, from 32 floats before it
static ZI_AVX2_INLINE void
s_dw_direct_avx2 (const s_geom_t *geom, const float *x, const float *zero, const float *w,
                  float bias, const zi_act_t *act, float *y, float *spare, const int k)
{
    assert (k <= 5);
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m256 alpha = _mm256_set1_ps (act->alpha);
    __m256 beta = _mm256_set1_ps (act->beta);
    int64_t out_w = geom->out_w, in_w = geom->in_w, in_h = geom->in_h;
    __m256i tail = zi_tail_mask_avx2 (out_w < 8? out_w: 8);
    __m256 late = _mm256_set1_ps (bias);
    __m256i lanes = _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7);
    __m256i width = _mm256_set1_epi32 ((int) in_w);
    __m256 tap [25];
    for (int t = 0; t < k * k; t++)
        tap [t] = _mm256_broadcast_ss (w + t);
    int64_t masked_from = s_masked_from (geom->out_h, out_w);
    //  A wide plane comes from L3 (a 64-channel 112x112 input is 3.2 MB) in
    //  rows of a few cache lines a band, too short for the hardware's
    //  prefetch; so each step asks for its lines of the next band's rows
    bool ahead = in_w >= S_AHEAD_MIN_W;
    for (int64_t oh = 0; oh < geom->out_h; oh += S_DW_ROWS) {
        int64_t rows = geom->out_h - oh < S_DW_ROWS? geom->out_h - oh: S_DW_ROWS;
        float *yrow = y + oh * out_w;
        int64_t masked = masked_from - oh;
        const float *row_at [(S_DW_ROWS - 1) * 2 + 5];
        const float *next_at [(S_DW_ROWS - 1) * 2 + 5];
        for (int row = 0; row < (S_DW_ROWS - 1) * 2 + k; row++) {
            int64_t ih = oh * 2 - geom->pad_t + row;
            row_at [row] = ih >= 0 && ih < in_h? x + ih * in_w: zero;
            ih += S_DW_ROWS * 2;
            next_at [row] = ih >= 0 && ih < in_h? x + ih * in_w: zero;
        }
        for (int64_t step = 0; step < out_w; step += 8) {
            int64_t ow = step + 8 <= out_w || out_w < 8? step: out_w - 8;
            int64_t c0 = 2 * ow - geom->pad_l;
            __m256 sum [S_DW_ROWS];
            if (ahead)
                for (int row = 0; row < (S_DW_ROWS - 1) * 2 + k; row++)
                    _mm_prefetch ((const char *) (next_at [row] + c0 + 8), _MM_HINT_T0);
            //  The step's last load ends at column c0 + k + 14; its low
            //  loads end by c0 + k + 6; it starts at most k - 1 before 0
            if (c0 >= 0 && c0 + k + 14 < in_w)
                s_dw_direct_step_avx2 (sum, row_at, c0, tap, NULL, k, S_EDGE_NONE);
            else {
                __m256i mask [6];
                for (int m = 0; m < (k + 1) / 2 * 2; m++) {
                    __m256i at = _mm256_add_epi32 (lanes,
                                     _mm256_set1_epi32 ((int) (c0 + m / 2 * 2 + m % 2 * 8)));
                    mask [m] = _mm256_andnot_si256 (_mm256_cmpgt_epi32 (_mm256_setzero_si256 (), at),
                                                    _mm256_cmpgt_epi32 (width, at));
                }
                if (c0 + k + 14 < in_w)
                    s_dw_direct_step_avx2 (sum, row_at, c0, tap, mask, k, S_EDGE_LEFT);
                else
                if (c0 >= 0 && c0 + k + 6 < in_w)
                    s_dw_direct_step_avx2 (sum, row_at, c0, tap, mask, k, S_EDGE_RIGHT);
                else
                    s_dw_direct_step_avx2 (sum, row_at, c0, tap, mask, k, S_EDGE_BOTH);
            }
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = _mm256_add_ps (_mm256_castpd_ps (_mm256_permute4x64_pd (
                              _mm256_castps_pd (sum [r]), _MM_SHUFFLE (3, 1, 2, 0))), late);
            s_store_rows_avx2 (sum, kind, alpha, beta, yrow, out_w, rows, masked, spare, ow, tail);
        }
        if (kind != act->kind)
            zi_act_simd (act, yrow, rows * out_w);
    }
}

static ZI_AVX2 void
s_dw_direct_plane_avx2 (const s_geom_t *geom, const float *x, const float *zero, const float *w,
                        float bias, const zi_act_t *act, float *y, float *spare)
{
    if (geom->k_w == 3)
        s_dw_direct_avx2 (geom, x, zero, w, bias, act, y, spare, 3);
    else
        s_dw_direct_avx2 (geom, x, zero, w, bias, act, y, spare, 5);
}

//  One output plane of any other shape: four rows per step, one tap at a
//  time, the taps' columns from the table
static ZI_AVX2 void
s_dw_general_avx2 (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
                   const float *pad, const float *w, float bias, const zi_act_t *act,
                   float *y, float *spare)
{
    int64_t out_w = geom->out_w;
    int64_t row_step = geom->stride_h * dw->width;
    int64_t tap_step = geom->dil_h * dw->width;
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m256 alpha = _mm256_set1_ps (act->alpha);
    __m256 beta = _mm256_set1_ps (act->beta);
    __m256i tail = zi_tail_mask_avx2 (out_w < 8? out_w: 8);
    __m256 start = _mm256_setzero_ps (), late = _mm256_set1_ps (bias);
    for (int64_t oh = 0; oh < geom->out_h; oh += 4) {
        int64_t rows = geom->out_h - oh < 4? geom->out_h - oh: 4;
        const float *base = pad + oh * row_step;
        float *yrow = y + oh * out_w;
        //  Stores whole as s_dw_square_avx2's: the plane's last rows masked
        //  on planes under eight columns (s_masked_from), a row's last step
        //  moved back to end on the row's end on wider ones
        int64_t masked = s_masked_from (geom->out_h, out_w) - oh;
        for (int64_t step = 0; step < out_w; step += 8) {
            int64_t ow = step + 8 <= out_w || out_w < 8? step: out_w - 8;
            __m256 sum0 = start, sum1 = start, sum2 = start, sum3 = start;
            const float *at = base + ow;
            const float *taps = w;
            for (int64_t kh = 0; kh < geom->k_h; kh++) {
                for (int64_t kw = 0; kw < geom->k_w; kw++) {
                    __m256 tap = _mm256_broadcast_ss (taps + kw);
                    const float *in = at + columns [kw];
                    sum0 = _mm256_fmadd_ps (tap, _mm256_loadu_ps (in), sum0);
                    sum1 = _mm256_fmadd_ps (tap, _mm256_loadu_ps (in + row_step), sum1);
                    sum2 = _mm256_fmadd_ps (tap, _mm256_loadu_ps (in + 2 * row_step), sum2);
                    sum3 = _mm256_fmadd_ps (tap, _mm256_loadu_ps (in + 3 * row_step), sum3);
                }
                at += tap_step;
                taps += geom->k_w;
            }
            sum0 = _mm256_add_ps (sum0, late);
            sum1 = _mm256_add_ps (sum1, late);
            sum2 = _mm256_add_ps (sum2, late);
            sum3 = _mm256_add_ps (sum3, late);
            s_store8_avx2 (yrow + ow, masked <= 0, tail, zi_act8_avx2 (sum0, kind, alpha, beta));
            s_store8_avx2 ((rows > 1? yrow + out_w: spare) + ow, masked <= 1, tail,
                           zi_act8_avx2 (sum1, kind, alpha, beta));
            s_store8_avx2 ((rows > 2? yrow + 2 * out_w: spare) + ow, masked <= 2, tail,
                           zi_act8_avx2 (sum2, kind, alpha, beta));
            s_store8_avx2 ((rows > 3? yrow + 3 * out_w: spare) + ow, masked <= 3, tail,
                           zi_act8_avx2 (sum3, kind, alpha, beta));
        }
        if (kind != act->kind)
            zi_act_simd (act, yrow, rows * out_w);
    }
}

static ZI_AVX2 void
s_dw_plane_avx2 (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
                 const float *pad, const float *w, float bias, const zi_act_t *act,
                 float *y, float *spare)
{
    bool square = geom->k_h == geom->k_w && geom->stride_h == geom->stride_w
               && geom->dil_h == 1 && geom->dil_w == 1;
    int64_t k = geom->k_w, s = geom->stride_w;
    if (square && k == 3 && s == 1)
        s_dw_square_avx2 (geom, dw, pad, w, bias, act, y, spare, 3, 1);
    else
    if (square && k == 3 && s == 2)
        s_dw_square_avx2 (geom, dw, pad, w, bias, act, y, spare, 3, 2);
    else
    if (square && k == 5 && s == 1)
        s_dw_square_avx2 (geom, dw, pad, w, bias, act, y, spare, 5, 1);
    else
    if (square && k == 5 && s == 2)
        s_dw_square_avx2 (geom, dw, pad, w, bias, act, y, spare, 5, 2);
    else
        s_dw_general_avx2 (geom, dw, columns, pad, w, bias, act, y, spare);
}
#endif

#if defined (ZI_HAVE_AVX512)
//  The AVX-512 form of s_dw_square_avx2: sixteen columns of S_DW_ROWS
//  rows a step, 32 registers holding the sums, taps and input row with
//  room to spare. The row's last group loads and stores under a mask
//  (lanes masked off read nothing and are not written), so no column of a
//  step is done twice or by scalar code, and the padded copy needs no
//  more slack than the AVX2 kernels' eight-column groups do.
static ZI_AVX512_INLINE void
s_dw_square_avx512 (const s_geom_t *geom, const s_dw_t *dw, const float *pad, const float *w,
                    float bias, const zi_act_t *act, float *y, float *spare,
                    const int k, const int s)
{
    assert (k <= 5);
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m512 alpha = _mm512_set1_ps (act->alpha);
    __m512 beta = _mm512_set1_ps (act->beta);
    int64_t out_w = geom->out_w;
    int64_t width = dw->width;
    __m512 late = _mm512_set1_ps (bias);
    __m512 tap [25];
    for (int t = 0; t < k * k; t++)
        tap [t] = _mm512_set1_ps (w [t]);
    for (int64_t oh = 0; oh < geom->out_h; oh += S_DW_ROWS) {
        int64_t rows = geom->out_h - oh < S_DW_ROWS? geom->out_h - oh: S_DW_ROWS;
        const float *base = pad + oh * s * width;
        float *yrow = y + oh * out_w;
        for (int64_t ow = 0; ow < out_w; ow += 16) {
            int64_t left = out_w - ow;
            __mmask16 mask = left >= 16? (__mmask16) 0xFFFF: (__mmask16) ((1u << left) - 1);
            __m512 sum [S_DW_ROWS];
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = _mm512_setzero_ps ();
            //  Unrolled whole, so that every tap and row index is a constant
#pragma GCC unroll 32
            for (int row = 0; row < (S_DW_ROWS - 1) * s + k; row++)
#pragma GCC unroll 5
                for (int kw = 0; kw < k; kw++) {
                    __m512 in = _mm512_maskz_loadu_ps (mask, base + ow + kw % s * dw->plane
                                                       + kw / s + row * width);
                    for (int r = 0; r < S_DW_ROWS; r++) {
                        int kh = row - r * s;
                        if (kh >= 0 && kh < k)
                            sum [r] = _mm512_fmadd_ps (tap [kh * k + kw], in, sum [r]);
                    }
                }
            for (int r = 0; r < S_DW_ROWS; r++)
                sum [r] = _mm512_add_ps (sum [r], late);
            //  Stored unconditionally, as in s_dw_square_avx2
            for (int r = 0; r < S_DW_ROWS; r++)
                _mm512_mask_storeu_ps ((r < rows? yrow + r * out_w: spare) + ow, mask,
                                       zi_act16_avx512 (sum [r], kind, alpha, beta));
        }
        if (kind != act->kind)
            zi_act_simd (act, yrow, rows * out_w);
    }
}

//  The AVX-512 kernels take 3x3 and 5x5 at stride 1 and 2 on rows wider
//  than eight columns; a row of eight or fewer fills one AVX2 vector, and
//  would leave half of a sixteen-float one idle, so it stays with the
//  AVX2 kernels, as does every other shape
static ZI_AVX512 void
s_dw_plane_avx512 (const s_geom_t *geom, const s_dw_t *dw, const int64_t *columns,
                   const float *pad, const float *w, float bias, const zi_act_t *act,
                   float *y, float *spare)
{
    bool square = geom->k_h == geom->k_w && geom->stride_h == geom->stride_w
               && geom->dil_h == 1 && geom->dil_w == 1 && geom->out_w > 8;
    int64_t k = geom->k_w, s = geom->stride_w;
    if (square && k == 3 && s == 1)
        s_dw_square_avx512 (geom, dw, pad, w, bias, act, y, spare, 3, 1);
    else
    if (square && k == 3 && s == 2)
        s_dw_square_avx512 (geom, dw, pad, w, bias, act, y, spare, 3, 2);
    else
    if (square && k == 5 && s == 1)
        s_dw_square_avx512 (geom, dw, pad, w, bias, act, y, spare, 5, 1);
    else
    if (square && k == 5 && s == 2)
        s_dw_square_avx512 (geom, dw, pad, w, bias, act, y, spare, 5, 2);
    else
        s_dw_plane_avx2 (geom, dw, columns, pad, w, bias, act, y, spare);
}
#endif

//  Depthwise: each output channel reads one input channel (group == C);
//  with M = k C, output channels c k .. c k + k - 1 read input channel c.
//  The input channels of the batch are shared out between the exec's
//  threads, each with a padded copy of its own.
typedef struct {
    const s_geom_t *geom;       //  the convolution
    const s_dw_t *dw;           //  layout of the padded copies
    zi_exec_t *exec;            //  per thread: columns, copy, spare row
    size_t columns_bytes;       //  where in a thread's scratch the copy starts
    size_t pad_bytes;           //  and where the spare row starts
    const float *x, *w, *bias;  //  input, weights, optional bias
    const zi_act_t *act;        //  fused activation
    float *y;                   //  output
    bool avx2;                  //  use the SIMD kernels
    bool avx512;                //  and of those the AVX-512 ones
    bool direct;                //  AVX2 3x3 or 5x5 at stride 2, straight from the input
} s_dw_job_t;

//  Input planes [first, last) of the batch, n C + c
static void
s_dw_part (void *args, int64_t first, int64_t last, int thread)
{
    s_dw_job_t *job = args;
    const s_geom_t *geom = job->geom;
    char *scratch = zi_exec_scratch_of (job->exec, thread, 0, 0);
    int64_t *columns = (int64_t *) scratch;
    float *pad = (float *) (scratch + job->columns_bytes);
    float *spare = (float *) (scratch + job->columns_bytes + job->pad_bytes);
    int64_t multiplier = geom->out_c / geom->in_c;
    int64_t in_plane = geom->in_h * geom->in_w;
    int64_t out_plane = geom->out_h * geom->out_w;
    int64_t taps = geom->k_h * geom->k_w;
    for (int64_t plane = first; plane < last; plane++) {
        int64_t n = plane / geom->in_c, c = plane % geom->in_c;
#if defined (ZI_HAVE_AVX2)
        if (job->direct) {
            for (int64_t m = c * multiplier; m < (c + 1) * multiplier; m++)
                s_dw_direct_plane_avx2 (geom, job->x + plane * in_plane, pad + S_ZERO_BEFORE,
                                        job->w + m * taps, job->bias? job->bias [m]: 0,
                                        job->act, job->y + (n * geom->out_c + m) * out_plane,
                                        spare);
            continue;
        }
#endif
        s_dw_fill (geom, job->dw, job->x + plane * in_plane, pad, job->avx2, job->avx512);
        for (int64_t m = c * multiplier; m < (c + 1) * multiplier; m++) {
            float *y_nm = job->y + (n * geom->out_c + m) * out_plane;
            float b = job->bias? job->bias [m]: 0;
#if defined (ZI_HAVE_AVX512)
            if (job->avx512) {
                s_dw_plane_avx512 (geom, job->dw, columns, pad, job->w + m * taps, b, job->act,
                                   y_nm, spare);
                continue;
            }
#endif
#if defined (ZI_HAVE_AVX2)
            if (job->avx2) {
                s_dw_plane_avx2 (geom, job->dw, columns, pad, job->w + m * taps, b, job->act,
                                 y_nm, spare);
                continue;
            }
#endif
            s_dw_plane (geom, job->dw, columns, pad, job->w + m * taps, b, job->act, y_nm);
        }
    }
}

int
zi_conv_depthwise (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *w,
                   const float *bias, const zi_act_t *act, float *y)
{
    s_dw_t dw;
    s_dw_layout (geom, &dw);
    //  At AVX2 the 3x3 and 5x5 stride-2 kernels read the input itself (see
    //  s_dw_direct_step_avx2), the copy's place taken by a row of zeros
    bool avx2 = zi_use_avx2 (), avx512 = zi_use_avx512 ();
    bool direct = avx2 && !avx512 && geom->in_w >= S_DIRECT_MIN_W && geom->k_h == geom->k_w
               && (geom->k_w == 3 || geom->k_w == 5) && geom->stride_h == 2
               && geom->stride_w == 2 && geom->dil_h == 1 && geom->dil_w == 1
               && geom->pad_t < geom->k_h && geom->pad_l < geom->k_w
               && (geom->out_h - 1) * 2 + geom->k_h - geom->in_h - geom->pad_t < geom->k_h
               && (geom->out_w - 1) * 2 + geom->k_w - geom->in_w - geom->pad_l < geom->k_w;
    //  Scratch holds the taps' column offsets, the copy, and a spare output
    //  row for the rows the SIMD kernels make past the end
    s_dw_job_t job = {
        .geom = geom, .dw = &dw, .exec = exec,
        .columns_bytes = (geom->k_w * sizeof (int64_t) + 63) / 64 * 64,
        .pad_bytes = (direct? (size_t) (geom->in_w + S_ZERO_BEFORE + S_ZERO_AFTER)
                            : (size_t) (dw.phases * dw.plane)) * sizeof (float),
        .x = x, .w = w, .bias = bias, .act = act, .y = y, .avx2 = avx2, .avx512 = avx512,
        .direct = direct
    };
    size_t spare_bytes = (geom->out_w + 7) / 8 * 8 * sizeof (float);
    int64_t planes = geom->batch * geom->in_c;
    int64_t macs = geom->out_c / geom->in_c * geom->out_h * geom->out_w * geom->k_h * geom->k_w;
    int64_t unit = zi_exec_unit (macs);
    int threads = zi_exec_threads (exec);
    if (threads > (planes + unit - 1) / unit)
        threads = (int) ((planes + unit - 1) / unit);
    for (int thread = 0; thread < threads; thread++) {
        char *scratch = zi_exec_scratch_of (exec, thread, 0,
                                            job.columns_bytes + job.pad_bytes + spare_bytes);
        if (!scratch)
            return -1;
        int64_t *columns = (int64_t *) scratch;
        memset (scratch + job.columns_bytes, 0, job.pad_bytes);
        for (int64_t kw = 0; kw < geom->k_w; kw++)
            columns [kw] = s_dw_column (geom, &dw, kw);
    }
    zi_exec_parallel (exec, planes, unit, s_dw_part, &job);
    return 0;
}


//  --------------------------------------------------------------------------
//  Self test: the depthwise cases of the family's case table (act_conv.h),
//  against its reference loops

//  The order of the sums, bit for bit, in the SIMD kernels: each output's
//  taps row by row of the kernel, an FMA chain from zero, then the bias
//  (ONNX Runtime's order, see the top of this file). Taps over the
//  padding add a zero product, which leaves the chain as it is.
static void
s_dw_order_test (zi_test_t *t)
{
    struct { int64_t k, stride, pad, width; } shapes [] = {
        {3, 1, 1, 35}, {3, 2, 1, 40}, {5, 1, 2, 37}, {5, 2, 2, 56}, {3, 1, 1, 8}
    };
    int64_t channels = 2, height = 16;
    for (size_t index = 0; index < sizeof shapes / sizeof shapes [0]; index++) {
        int64_t k = shapes [index].k, s = shapes [index].stride, pad = shapes [index].pad;
        int64_t width = shapes [index].width;
        int64_t out_h = (height + 2 * pad - k) / s + 1, out_w = (width + 2 * pad - k) / s + 1;
        zi_tensor_t *inputs [3] = {
            zi_test_random (4, (int64_t []) {1, channels, height, width}, 61 + (uint32_t) index),
            zi_test_random (4, (int64_t []) {channels, 1, k, k}, 71 + (uint32_t) index),
            zi_test_random (1, &channels, 81 + (uint32_t) index)
        };
        const float *x = zi_tensor_f32 (inputs [0]), *w = zi_tensor_f32 (inputs [1]);
        const float *bias = zi_tensor_f32 (inputs [2]);
        float *want = malloc (channels * out_h * out_w * sizeof (float));
        assert (want);
        for (int64_t c = 0; c < channels; c++)
            for (int64_t oh = 0; oh < out_h; oh++)
                for (int64_t ow = 0; ow < out_w; ow++) {
                    float sum = 0;
                    for (int64_t kh = 0; kh < k; kh++)
                        for (int64_t kw = 0; kw < k; kw++) {
                            int64_t ih = oh * s - pad + kh, iw = ow * s - pad + kw;
                            if (ih >= 0 && ih < height && iw >= 0 && iw < width)
                                sum = fmaf (w [(c * k + kh) * k + kw],
                                            x [(c * height + ih) * width + iw], sum);
                        }
                    want [(c * out_h + oh) * out_w + ow] = sum + bias [c];
                }
        for (int level = ZI_ISA_AVX512; level >= ZI_ISA_AVX2; level--) {
            if (!zi_test_isa (t, (zi_isa_t) level))
                continue;
            zi_node_t *node = zi_node_new ("Conv", "order");
            zi_node_set_int (node, "group", channels);
            zi_node_set_ints (node, "strides", 2, (int64_t []) {s, s});
            zi_node_set_ints (node, "pads", 4, (int64_t []) {pad, pad, pad, pad});
            ZI_CHECK (t, zi_test_op_gives_bits (&node, 3, inputs, want,
                                                (size_t) (channels * out_h * out_w)),
                      "depthwise %lldx%lld stride %lld width %lld at %s: taps row by row from "
                      "zero, the bias last", (long long) k, (long long) k, (long long) s,
                      (long long) width, zi_isa_name ((zi_isa_t) level));
        }
        zi_isa_set_cap (ZI_ISA_DEFAULT);
        free (want);
        for (int slot = 0; slot < 3; slot++)
            zi_tensor_destroy (&inputs [slot]);
    }
}

void
zi_act_conv_depthwise_test (zi_test_t *t)
{
    s_dw_order_test (t);
    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const zi_conv_case_t cases [] = {
        //  label, op, ns, N, C, H, W, M, kH, kW, group, strides, dilations,
        //  pads, set_pads, auto_pad, bias, then the rest by name
        {"depthwise stride 2 pad 1", "Conv", 2, 2, 4, 7, 5, 4, 3, 3, 4, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        //  stride 2 rows split into phases sixteen columns a step, the
        //  row's end masked, with even and odd left pads
        {"depthwise 3x3 s2 pad 1 wide", "Conv", 2, 1, 5, 9, 37, 5, 3, 3, 5, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"depthwise 3x3 s2 pad 0 even width", "Conv", 2, 1, 4, 8, 40, 4, 3, 3, 4, {2, 2},
         {0, 0}, {0, 0, 0, 0}, true, NULL, true, .act = none},
        {"depthwise 5x5 s2 pad 2 odd width", "Conv", 2, 1, 3, 11, 33, 3, 5, 5, 3, {2, 2},
         {0, 0}, {2, 2, 2, 2}, true, NULL, false, .act = relu},
        {"depthwise 3x3 s2 left pad 2", "Conv", 2, 1, 3, 7, 21, 3, 3, 3, 3, {2, 2}, {0, 0},
         {1, 2, 1, 0}, true, NULL, true, .act = none},
        {"depthwise 3x3 s2 dilation 2", "Conv", 2, 1, 3, 9, 35, 3, 3, 3, 3, {2, 2}, {2, 2},
         {1, 1, 0, 0}, true, NULL, true, .act = none},
        {"depthwise stride 1 pad 1", "Conv", 2, 1, 5, 6, 9, 5, 3, 3, 5, {0, 0}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"depthwise multiplier 2 dilation 2", "Conv", 2, 1, 3, 9, 8, 6, 3, 3, 3, {1, 1}, {2, 2},
         {2, 1, 0, 3}, true, NULL, true, .act = none},
        {"depthwise 5x5 big pad", "Conv", 2, 1, 2, 3, 4, 2, 5, 5, 2, {1, 2}, {0, 0},
         {3, 2, 2, 3}, true, NULL, false, .act = none},

        //  Depthwise kernels: 3x3 and 5x5 at stride 1 and 2 have their own
        //  SIMD kernels, other shapes a general one. Widths that are not a
        //  multiple of 8 leave a part group of columns, heights that are
        //  not a multiple of 7 a part group of rows.
        {"dw 3x3 s1 width 13 height 10", "Conv", 2, 1, 3, 10, 13, 3, 3, 3, 3, {1, 1},
         {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"dw 3x3 s2 width 17 batch 2", "Conv", 2, 2, 2, 9, 17, 2, 3, 3, 2, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 3x3 s2 width 77, rows split a call each", "Conv", 2, 1, 3, 6, 77, 3, 3, 3, 3,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"dw 3x3 s2 width 8", "Conv", 2, 1, 3, 16, 16, 3, 3, 3, 3, {2, 2}, {0, 0},
         {0, 0, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 5x5 s1 width 9 height 15", "Conv", 2, 1, 4, 15, 9, 4, 5, 5, 4, {1, 1}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_CLIP, -0.5f, 0.5f}},
        {"dw 5x5 s2 asymmetric pads", "Conv", 2, 1, 3, 14, 11, 3, 5, 5, 3, {2, 2}, {0, 0},
         {2, 1, 1, 2}, true, NULL, true, .act = {ZI_ACT_LEAKY_RELU, 0.1f, 0}},
        {"dw multiplier 3 5x5 s2", "Conv", 2, 1, 2, 12, 12, 6, 5, 5, 2, {2, 2}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f}},
        {"dw 3x3 no pad 20x30 sigmoid", "Conv", 2, 1, 2, 20, 30, 2, 3, 3, 2, {0, 0}, {0, 0},
         {0, 0, 0, 0}, false, NULL, false, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"dw 3x5 stride 3 dilation 2", "Conv", 2, 1, 3, 17, 19, 3, 3, 5, 3, {3, 3}, {2, 2},
         {2, 1, 1, 3}, true, NULL, true, .act = {ZI_ACT_TANH, 0, 0}},
        {"dw 7x7 stride 2x1", "Conv", 2, 1, 2, 11, 10, 4, 7, 7, 2, {2, 1}, {0, 0},
         {3, 3, 3, 3}, true, NULL, true, .act = relu},
        {"dw stride 5 (im2col)", "Conv", 2, 1, 2, 11, 12, 2, 3, 3, 2, {5, 5}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"dw 1-d 5 stride 2", "Conv", 1, 1, 3, 1, 21, 3, 1, 5, 3, {0, 2}, {0, 0},
         {0, 2, 0, 2}, true, NULL, true, .act = relu},
        {"dw s2 width 1 (a phase with no input)", "Conv", 2, 1, 2, 5, 1, 2, 3, 3, 2,
         {2, 2}, {0, 0}, {1, 0, 1, 2}, true, NULL, true, .act = none},

        //  AVX-512: sixteen columns a step on rows wider than eight; rows
        //  of exactly 16 and 32 (no masked group), 17 and 47 (a masked
        //  group of 1 and of 15), 12 (one masked group), and 8 (stays with
        //  AVX2), with part groups of rows and every fused activation
        {"dw 3x3 s1 width 16 height 9", "Conv", 2, 1, 3, 9, 16, 3, 3, 3, 3, {1, 1}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 3x3 s1 width 47 multiplier 2", "Conv", 2, 1, 2, 8, 47, 4, 3, 3, 2, {1, 1}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"dw 3x3 s2 width 32 from 64", "Conv", 2, 1, 2, 15, 64, 2, 3, 3, 2, {2, 2}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_CLIP, -0.4f, 0.4f}},
        {"dw 3x3 s2 width 17 pad 0 1", "Conv", 2, 1, 3, 12, 35, 3, 3, 3, 3, {2, 2}, {0, 0},
         {0, 0, 1, 1}, true, NULL, false, .act = {ZI_ACT_LEAKY_RELU, 0.1f, 0}},
        {"dw 5x5 s1 width 12", "Conv", 2, 2, 2, 11, 12, 2, 5, 5, 2, {1, 1}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_HARD_SIGMOID, 0.2f, 0.5f}},
        {"dw 5x5 s1 width 33 no pad", "Conv", 2, 1, 2, 13, 37, 2, 5, 5, 2, {1, 1}, {0, 0},
         {0, 0, 0, 0}, false, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"dw 5x5 s2 width 28 from 56", "Conv", 2, 1, 3, 16, 56, 3, 5, 5, 3, {2, 2}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 5x5 s2 width 8 (AVX2)", "Conv", 2, 1, 2, 9, 16, 2, 5, 5, 2, {2, 2}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = none},

        //  AVX2 stores whole: a row's last step of eight ends on the row's
        //  end over the step before (widths 14, 13, 9), rows under eight
        //  store over the next row's first columns (widths 7, 5, 3), with
        //  steps of S_DW_ROWS rows that end inside the plane and at it
        {"dw 3x3 s1 14x14 whole stores", "Conv", 2, 1, 3, 14, 14, 3, 3, 3, 3, {1, 1}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 5x5 s2 13 from 26, rows 11", "Conv", 2, 1, 2, 22, 26, 2, 5, 5, 2, {2, 2},
         {0, 0}, {2, 2, 2, 2}, true, NULL, true, .act = relu},
        {"dw 3x3 s2 9 from 18 multiplier 2", "Conv", 2, 1, 2, 17, 18, 4, 3, 3, 2, {2, 2},
         {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"dw 5x5 s1 7x7 batch 2", "Conv", 2, 2, 3, 7, 7, 3, 5, 5, 3, {1, 1}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 3x3 s1 width 5 height 16", "Conv", 2, 1, 3, 16, 5, 3, 3, 3, 3, {1, 1}, {0, 0},
         {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        {"dw 5x5 s2 3 from 6 height 30", "Conv", 2, 1, 2, 30, 6, 2, 5, 5, 2, {2, 2}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_CLIP, -0.3f, 0.3f}},
        //  AVX2 stride 2 read from the input (rows of 16 floats or more):
        //  steps whose loads cross the row's left end (pads up to k - 1),
        //  its right end, both, or neither, part steps of rows, the right
        //  and bottom padding, a multiplier, rows of 64 floats or more
        //  (the next band asked for ahead), and exactly 16
        {"dw 5x5 s2 direct pads 4 3 width 41", "Conv", 2, 1, 3, 13, 41, 3, 5, 5, 3, {2, 2},
         {0, 0}, {3, 4, 2, 3}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 3x3 s2 direct pads 2 0 width 18", "Conv", 2, 1, 2, 9, 18, 2, 3, 3, 2, {2, 2},
         {0, 0}, {2, 0, 0, 2}, true, NULL, true, .act = relu},
        {"dw 3x3 s2 direct width 130 multiplier 2", "Conv", 2, 1, 2, 33, 130, 4, 3, 3, 2,
         {2, 2}, {0, 0}, {0, 0, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 5x5 s2 direct width 97 height 30", "Conv", 2, 2, 2, 30, 97, 2, 5, 5, 2, {2, 2},
         {0, 0}, {2, 2, 2, 2}, true, NULL, true, .act = relu},
        {"dw 3x3 s2 direct width 16 height 31", "Conv", 2, 1, 3, 31, 16, 3, 3, 3, 3, {2, 2},
         {0, 0}, {1, 1, 1, 1}, true, NULL, false, .act = none},
        {"dw 5x5 s2 direct 7 from 16", "Conv", 2, 1, 2, 16, 16, 2, 5, 5, 2, {2, 2}, {0, 0},
         {2, 2, 0, 0}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        //  The same in the general kernel, four rows a step
        {"dw 7x7 s1 width 13 height 10", "Conv", 2, 1, 2, 10, 13, 2, 7, 7, 2, {1, 1}, {0, 0},
         {3, 3, 3, 3}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"dw 7x7 s1 7x7 batch 2", "Conv", 2, 2, 3, 7, 7, 3, 7, 7, 3, {1, 1}, {0, 0},
         {3, 3, 3, 3}, true, NULL, true, .act = relu},
        {"dw 3x3 dilation 2 width 6 height 9", "Conv", 2, 1, 3, 9, 6, 3, 3, 3, 3, {1, 1},
         {2, 2}, {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
    };
    zi_conv_cases_run (t, cases, sizeof cases / sizeof cases [0], 300);

    //  Shared out between threads: the same bits as one thread
    const zi_conv_case_t threaded [] = {
        {"depthwise 3x3 s1 24 channels 30x29", "Conv", 2, 1, 24, 30, 29, 24, 3, 3, 24,
         {1, 1}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"depthwise 5x5 s2 batch 2", "Conv", 2, 2, 12, 40, 38, 12, 5, 5, 12,
         {2, 2}, {0, 0}, {2, 2, 2, 2}, true, NULL, true, .act = relu},
        {"depthwise 3x3 s2 20 channels 66x70", "Conv", 2, 1, 20, 66, 70, 20, 3, 3, 20,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        //  Planes under eight columns stored whole but for their last row:
        //  a spare lane stored past a plane lands on a plane that another
        //  thread made before
        {"depthwise 5x5 s1 160 channels 7x7", "Conv", 2, 1, 160, 7, 7, 160, 5, 5, 160,
         {1, 1}, {0, 0}, {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        {"depthwise 3x3 s2 300 channels 5 from 10", "Conv", 2, 1, 300, 10, 10, 300, 3, 3, 300,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"depthwise 7x7 s1 120 channels 6x6", "Conv", 2, 1, 120, 6, 6, 120, 7, 7, 120,
         {1, 1}, {0, 0}, {3, 3, 3, 3}, true, NULL, true, .act = none},
        //  Planes of fewer than eight floats from a row on: rows of 3 (the
        //  last two masked), of 1 (a plane of 3, every row masked), and the
        //  general kernel's 3x5 on rows of 2. A row stored whole there
        //  writes into the next plane, another thread's, or past the tensor
        {"depthwise 3x3 s1 96 channels 3x3", "Conv", 2, 1, 96, 3, 3, 96, 3, 3, 96,
         {1, 1}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = relu},
        {"depthwise 3x3 s2 64 channels 3x1", "Conv", 2, 1, 64, 5, 2, 64, 3, 3, 64,
         {2, 2}, {0, 0}, {1, 1, 1, 1}, true, NULL, true, .act = none},
        {"depthwise 3x5 s1 80 channels 5x2", "Conv", 2, 1, 80, 5, 2, 80, 3, 5, 80,
         {1, 1}, {0, 0}, {1, 2, 1, 2}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
    };
    zi_conv_cases_threads (t, threaded, sizeof threaded / sizeof threaded [0], 600);
}
