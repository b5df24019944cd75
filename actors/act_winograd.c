/*  =========================================================================
    act_winograd - Winograd F(4x4, 3x3) and F(2x2, 3x3) for the 3x3
    stride-1 convolutions (act_conv.c chooses them; this file holds the
    arithmetic)

    Each m x m block of output pixels of one map, a tile, comes from the
    (m + 2) x (m + 2) block of input pixels it sees:

        Y = A^T [ sum over c of (G g G^T) . (B^T d B) ] A

    with g the 3x3 kernel, d the input block of channel c and "." the
    element-wise product. For one point p of the transformed tile the sum
    over channels of every tile at once is a matrix product, U_p [M][C]
    times V_p [C][tiles], so the convolution becomes (m + 2)^2 matrix
    products (zi_mm, on U_p packed once).
    Per channel pair and output pixel that is 36 / 16 multiply-adds for
    F(4x4, 3x3) and 16 / 4 for F(2x2, 3x3) instead of im2col's 9: 4x and
    2.25x fewer. What Winograd adds is linear in the image, not in C x M:
    the transforms of the input and of the products. And its weights are
    (m + 2)^2 / 9 times larger and each used only once per tile, so on
    small images, with few tiles, streaming them costs more than the
    multiply-adds saved: zi_winograd_tile says where each tile pays.

    The weights are transformed once, by Conv's prepare. A run goes a band
    of tile rows at a time:
      1. each input channel's rows, copied into phase planes (below), are
         transformed eight tiles at a time into V;
      2. the (m + 2)^2 products, a block of maps at a time;
      3. that block's products are transformed back while they are still
         in cache, the bias added and the fused activation applied before
         the one store into Y.
    Blocks of maps are what the threads share out, each thread with a V
    of its own; where V is too large to read again for every block
    (resnet's 56x56 layers), the products go by points, and with as many
    bands as threads each thread takes whole bands.

    The transforms are AVX2 + FMA, chosen at run time, with portable twins
    that give the same results up to float rounding; the self test runs
    every level. Winograd rounds a little more than the direct sum
    (F(4x4, 3x3)'s transforms scale values by up to 8 and 1/24): against a
    reference in double its error stays near 1e-5 of the outputs' size,
    well inside the model tests' tolerance.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_mm.h"
#include "act_winograd.h"

//  The input tile side of the largest tile, F(4x4, 3x3)
#define S_MAX_WINDOW 6

//  Transformed input plus products per band are kept under this many
//  bytes. sgemm runs faster the more tiles it gets at once (its N), more
//  than cache locality between the steps gives back, so a band is
//  normally the whole batch; the limit only bounds the scratch memory.
#define S_BAND_BYTES (16 * 1024 * 1024)

//  Lowered by the self test to run several bands on small images
static int64_t s_band_bytes = S_BAND_BYTES;

//  And a band's transformed input is kept under this many bytes, so that
//  the products find it in L2 (Zen 5's 1 MB): resnet's 56x56 layers (V
//  1.8 MB whole) run as two bands of 0.9 MB. The bands depend on the
//  shape alone, never on the thread count, so neither do the bits; with
//  as many bands as threads each thread runs whole bands, its V, products
//  and output rows its own (docs/performance.md, "Zen 5: two threads and
//  the other core's lines")
#define S_BAND_V_BYTES (1024 * 1024)
static int64_t s_band_v_bytes = S_BAND_V_BYTES;

//  The layout of a run, from the shape
typedef struct {
    int tile;                   //  output tile side, m
    int window;                 //  input tile side, m + 2
    int points;                 //  points of a transformed tile, window^2
    int64_t tiles_h, tiles_w;   //  tiles down and across one image
    int64_t tile_rows;          //  rows of tiles over the whole batch
    int64_t band;               //  tile rows per band
    int64_t width;              //  floats per row of a phase plane
    int64_t plane;              //  floats per phase plane
} s_plan_t;

static void
s_plan (const zi_winograd_shape_t *shape, s_plan_t *plan)
{
    assert (shape->tile == 2 || shape->tile == 4);
    plan->tile = shape->tile;
    plan->window = shape->tile + 2;
    plan->points = plan->window * plan->window;
    plan->tiles_h = (shape->out_h + plan->tile - 1) / plan->tile;
    plan->tiles_w = (shape->out_w + plan->tile - 1) / plan->tile;
    plan->tile_rows = shape->batch * plan->tiles_h;
    int64_t row_bytes = plan->points * (shape->channels + shape->maps) * plan->tiles_w
                      * (int64_t) sizeof (float);
    int64_t row_v_bytes = plan->points * shape->channels * plan->tiles_w
                        * (int64_t) sizeof (float);
    int64_t most = s_band_bytes / row_bytes;
    if (most > s_band_v_bytes / row_v_bytes)
        most = s_band_v_bytes / row_v_bytes;
    if (most < 1)
        most = 1;
    //  As few bands as that allows, of equal rows (but the last)
    int64_t bands = (plan->tile_rows + most - 1) / most;
    plan->band = (plan->tile_rows + bands - 1) / bands;
    //  Whole groups of eight tiles and one column more: the SIMD transform
    //  reads columns j .. j + 8 of a plane for the group of tiles at j
    plan->width = (plan->tiles_w + 7) / 8 * 8 + 8;
    plan->plane = (plan->band * plan->tile + 2) * plan->width;
}


//  --------------------------------------------------------------------------
//  Weights

size_t
zi_winograd_weights_floats (const zi_winograd_shape_t *shape)
{
    int window = shape->tile + 2;
    return (size_t) window * window * zi_mm_packed_floats (shape->maps, shape->channels);
}

//  U_p [m][c] = (G g G^T) [k][l] with p = window k + l, worked out in
//  double; each U_p packed for zi_mm, one after the other
void
zi_winograd_weights (const zi_winograd_shape_t *shape, const float *w, float *u)
{
    static const double G4 [6][3] = {
        { 1.0 /  4,  0.0,        0.0     },
        {-1.0 /  6, -1.0 /  6,  -1.0 / 6 },
        {-1.0 /  6,  1.0 /  6,  -1.0 / 6 },
        { 1.0 / 24,  1.0 / 12,   1.0 / 6 },
        { 1.0 / 24, -1.0 / 12,   1.0 / 6 },
        { 0.0,       0.0,        1.0     }
    };
    static const double G2 [4][3] = {
        {1.0,  0.0, 0.0},
        {0.5,  0.5, 0.5},
        {0.5, -0.5, 0.5},
        {0.0,  0.0, 1.0}
    };
    assert (shape->tile == 2 || shape->tile == 4);
    const double (*G) [3] = shape->tile == 4? G4: G2;
    int window = shape->tile + 2;
    int64_t maps = shape->maps, channels = shape->channels;
    int points = window * window;
    int64_t matrix = maps * channels;
    float *plain = malloc ((size_t) points * matrix * sizeof (float));
    assert (plain);
    for (int64_t m = 0; m < maps; m++)
        for (int64_t c = 0; c < channels; c++) {
            const float *g = w + (m * channels + c) * 9;
            double left [S_MAX_WINDOW][3];
            for (int k = 0; k < window; k++)
                for (int j = 0; j < 3; j++)
                    left [k][j] = G [k][0] * g [j] + G [k][1] * g [3 + j] + G [k][2] * g [6 + j];
            for (int k = 0; k < window; k++)
                for (int l = 0; l < window; l++) {
                    double sum = left [k][0] * G [l][0] + left [k][1] * G [l][1]
                               + left [k][2] * G [l][2];
                    plain [(k * window + l) * matrix + m * channels + c] = (float) sum;
                }
        }
    size_t packed = zi_mm_packed_floats (maps, channels);
    for (int p = 0; p < points; p++)
        zi_mm_pack (plain + p * matrix, maps, channels, channels, 1, u + p * packed);
    free (plain);
}


//  --------------------------------------------------------------------------
//  The kernels, AVX2 + FMA or portable (see act_simd.h). They take the tile
//  as a constant, so each tile gets code of its own, loops unrolled.



//  --------------------------------------------------------------------------
//  Input: the input rows a band of tiles sees are copied into m phase
//  planes, padded column q going to plane q % m at column q / m. Tile j
//  starts at padded column m j, so its m + 2 columns are column j of the
//  m planes and column j + 1 of planes 0 and 1: for eight tiles side by
//  side that is m + 2 loads of consecutive floats, no gather. The padding
//  is written out as zeros, so the transform has no bounds checks.

#if defined (ZI_HAVE_AVX2)
//  Splits n floats (a multiple of 8 m) of a padded row into the m phase
//  planes, plane floats apart
static ZI_AVX2 void
s_split_avx2 (const float *line, int64_t n, float *row, int64_t plane, int tile)
{
    if (tile == 2)
        for (int64_t q = 0; q < n; q += 16) {
            __m256 even, odd;
            zi_split16_avx2 (_mm256_loadu_ps (line + q), _mm256_loadu_ps (line + q + 8),
                             &even, &odd);
            _mm256_storeu_ps (row + q / 2, even);
            _mm256_storeu_ps (row + plane + q / 2, odd);
        }
    else
        //  32 floats are eight groups of four: after pairing the 128-bit
        //  lanes up, a 4x4 transpose in each lane
        for (int64_t q = 0; q < n; q += 32) {
            __m256 a0 = _mm256_loadu_ps (line + q);
            __m256 a1 = _mm256_loadu_ps (line + q + 8);
            __m256 a2 = _mm256_loadu_ps (line + q + 16);
            __m256 a3 = _mm256_loadu_ps (line + q + 24);
            __m256 b0 = _mm256_permute2f128_ps (a0, a2, 0x20);
            __m256 b1 = _mm256_permute2f128_ps (a0, a2, 0x31);
            __m256 b2 = _mm256_permute2f128_ps (a1, a3, 0x20);
            __m256 b3 = _mm256_permute2f128_ps (a1, a3, 0x31);
            __m256 t0 = _mm256_unpacklo_ps (b0, b1);
            __m256 t1 = _mm256_unpackhi_ps (b0, b1);
            __m256 t2 = _mm256_unpacklo_ps (b2, b3);
            __m256 t3 = _mm256_unpackhi_ps (b2, b3);
            float *at = row + q / 4;
            _mm256_storeu_ps (at, _mm256_shuffle_ps (t0, t2, _MM_SHUFFLE (1, 0, 1, 0)));
            _mm256_storeu_ps (at + plane, _mm256_shuffle_ps (t0, t2, _MM_SHUFFLE (3, 2, 3, 2)));
            _mm256_storeu_ps (at + 2 * plane,
                              _mm256_shuffle_ps (t1, t3, _MM_SHUFFLE (1, 0, 1, 0)));
            _mm256_storeu_ps (at + 3 * plane,
                              _mm256_shuffle_ps (t1, t3, _MM_SHUFFLE (3, 2, 3, 2)));
        }
}
#endif

//  Fills row r of the phase planes from one input row, or with zeros
//  when src is NULL (a row of padding); line is scratch for the padded row
//  before it is split, m width floats
static void
s_fill_row (const zi_winograd_shape_t *shape, const s_plan_t *plan, const float *src,
            float *phases, int64_t r, float *line, bool avx2)
{
    int64_t width = plan->width, plane = plan->plane;
    int tile = plan->tile;
    int64_t span = tile * width;                //  padded columns the planes hold
    if (!src) {
        for (int phase = 0; phase < tile; phase++)
            memset (phases + phase * plane + r * width, 0, width * sizeof (float));
        return;
    }
    //  Padded columns [lo, hi) hold the input row, the rest is padding
    int64_t lo = shape->pad_l < span? shape->pad_l: span;
    int64_t hi = shape->pad_l + shape->in_w < span? shape->pad_l + shape->in_w: span;
    if (hi < lo)
        hi = lo;
#if defined (ZI_HAVE_AVX2)
    if (avx2) {
        memset (line, 0, lo * sizeof (float));
        memcpy (line + lo, src, (hi - lo) * sizeof (float));
        memset (line + hi, 0, (span - hi) * sizeof (float));
        s_split_avx2 (line, span, phases + r * width, plane, tile);
        return;
    }
#endif
    (void) line;
    for (int64_t q = 0; q < span; q++)
        phases [q % tile * plane + r * width + q / tile] =
            q >= lo && q < hi? src [q - shape->pad_l]: 0;
}

//  Fills the phase planes with the rows that tile rows [i, i + count) of
//  one channel of one image see
static void
s_fill (const zi_winograd_shape_t *shape, const s_plan_t *plan, const float *x_c, int64_t i,
        int64_t count, float *phases, float *line, bool avx2)
{
    for (int64_t r = 0; r < count * plan->tile + 2; r++) {
        int64_t ih = i * plan->tile + r - shape->pad_t;
        const float *src = ih >= 0 && ih < shape->in_h? x_c + ih * shape->in_w: NULL;
        s_fill_row (shape, plan, src, phases, r, line, avx2);
    }
}

//  v = B^T d for one row or column of a tile
static inline __attribute__ ((always_inline)) void
s_input_1d (const float *d, float *v, const int tile)
{
    if (tile == 4) {
        v [0] = 4 * d [0] - 5 * d [2] + d [4];
        v [1] = d [3] + d [4] - 4 * (d [1] + d [2]);
        v [2] = 4 * (d [1] - d [2]) + d [4] - d [3];
        v [3] = 2 * (d [3] - d [1]) + d [4] - d [2];
        v [4] = 2 * (d [1] - d [3]) + d [4] - d [2];
        v [5] = 4 * d [1] - 5 * d [3] + d [5];
    }
    else {
        v [0] = d [0] - d [2];
        v [1] = d [1] + d [2];
        v [2] = d [2] - d [1];
        v [3] = d [1] - d [3];
    }
}

//  B^T d B for every tile of a row whose input rows start the phase planes
//  given: point p of tile j goes to v [p ldv + j]
static inline __attribute__ ((always_inline)) void
s_input_row (const s_plan_t *plan, const float *phases, float *v, int64_t ldv, const int tile)
{
    const int window = tile + 2;
    int64_t width = plan->width, plane = plan->plane;
    for (int64_t j = 0; j < plan->tiles_w; j++) {
        float rows [S_MAX_WINDOW][S_MAX_WINDOW];
        for (int r = 0; r < window; r++) {
            float d [S_MAX_WINDOW];
            for (int c = 0; c < window; c++)
                d [c] = phases [c % tile * plane + r * width + j + c / tile];
            s_input_1d (d, rows [r], tile);
        }
        for (int l = 0; l < window; l++) {
            float column [S_MAX_WINDOW], out [S_MAX_WINDOW];
            for (int r = 0; r < window; r++)
                column [r] = rows [r][l];
            s_input_1d (column, out, tile);
            for (int k = 0; k < window; k++)
                v [(k * window + l) * ldv + j] = out [k];
        }
    }
}

#if defined (ZI_HAVE_AVX2)
//  s_input_1d on eight tiles at once
static ZI_AVX2_INLINE void
s_input_1d_avx2 (const __m256 *d, __m256 *v, const int tile)
{
    if (tile == 4) {
        __m256 two = _mm256_set1_ps (2), four = _mm256_set1_ps (4);
        __m256 five = _mm256_set1_ps (5);
        __m256 edge = _mm256_sub_ps (d [4], d [2]);
        __m256 odd = _mm256_sub_ps (d [3], d [1]);
        v [0] = _mm256_fmadd_ps (four, d [0], _mm256_fnmadd_ps (five, d [2], d [4]));
        v [1] = _mm256_fnmadd_ps (four, _mm256_add_ps (d [1], d [2]), _mm256_add_ps (d [3], d [4]));
        v [2] = _mm256_fmadd_ps (four, _mm256_sub_ps (d [1], d [2]), _mm256_sub_ps (d [4], d [3]));
        v [3] = _mm256_fmadd_ps (two, odd, edge);
        v [4] = _mm256_fnmadd_ps (two, odd, edge);
        v [5] = _mm256_fmadd_ps (four, d [1], _mm256_fnmadd_ps (five, d [3], d [5]));
    }
    else {
        v [0] = _mm256_sub_ps (d [0], d [2]);
        v [1] = _mm256_add_ps (d [1], d [2]);
        v [2] = _mm256_sub_ps (d [2], d [1]);
        v [3] = _mm256_sub_ps (d [1], d [3]);
    }
}

//  s_input_row, eight tiles per step; the rows' transforms wait in L1
//  while the columns' are made
static ZI_AVX2_INLINE void
s_input_row_avx2 (const s_plan_t *plan, const float *phases, float *v, int64_t ldv,
                  const int tile)
{
    const int window = tile + 2;
    int64_t width = plan->width, plane = plan->plane;
    for (int64_t j = 0; j < plan->tiles_w; j += 8) {
        __m256 rows [S_MAX_WINDOW][S_MAX_WINDOW];
        for (int r = 0; r < window; r++) {
            const float *at = phases + r * width + j;
            __m256 d [S_MAX_WINDOW];
            for (int c = 0; c < window; c++)
                d [c] = _mm256_loadu_ps (at + c % tile * plane + c / tile);
            s_input_1d_avx2 (d, rows [r], tile);
        }
        bool whole = plan->tiles_w - j >= 8;
        __m256i tail = zi_tail_mask_avx2 (whole? 8: plan->tiles_w - j);
        for (int l = 0; l < window; l++) {
            __m256 column [S_MAX_WINDOW], out [S_MAX_WINDOW];
            for (int r = 0; r < window; r++)
                column [r] = rows [r][l];
            s_input_1d_avx2 (column, out, tile);
            for (int k = 0; k < window; k++) {
                float *at = v + (k * window + l) * ldv + j;
                if (whole)
                    _mm256_storeu_ps (at, out [k]);
                else
                    _mm256_maskstore_ps (at, tail, out [k]);
            }
        }
    }
}

//  s_input_row_avx2 with the tile as a constant
static ZI_AVX2 void
s_input_any_avx2 (const s_plan_t *plan, const float *phases, float *v, int64_t ldv)
{
    if (plan->tile == 4)
        s_input_row_avx2 (plan, phases, v, ldv, 4);
    else
        s_input_row_avx2 (plan, phases, v, ldv, 2);
}
#endif

//  Transforms the tile rows [row, row + count) of a band, of one channel,
//  their input rows in the phase planes; v as for s_input_row, ldv apart
static void
s_input_rows (const s_plan_t *plan, const float *phases, int64_t count, float *v,
              int64_t ldv, bool avx2)
{
    for (int64_t k = 0; k < count; k++) {
        const float *at = phases + k * plan->tile * plan->width;
        float *v_row = v + k * plan->tiles_w;
#if defined (ZI_HAVE_AVX2)
        if (avx2) {
            s_input_any_avx2 (plan, at, v_row, ldv);
            continue;
        }
#endif
        if (plan->tile == 4)
            s_input_row (plan, at, v_row, ldv, 4);
        else
            s_input_row (plan, at, v_row, ldv, 2);
    }
}


//  --------------------------------------------------------------------------
//  Output

//  y = A^T m for one row or column of a transformed tile
static inline __attribute__ ((always_inline)) void
s_output_1d (const float *m, float *y, const int tile)
{
    if (tile == 4) {
        float sum12 = m [1] + m [2], diff12 = m [1] - m [2];
        float sum34 = m [3] + m [4], diff34 = m [3] - m [4];
        y [0] = m [0] + sum12 + sum34;
        y [1] = diff12 + 2 * diff34;
        y [2] = sum12 + 4 * sum34;
        y [3] = diff12 + 8 * diff34 + m [5];
    }
    else {
        y [0] = m [0] + m [1] + m [2];
        y [1] = m [1] - m [2] - m [3];
    }
}

//  One row of tiles of one map: A^T m A plus the bias into the first rows
//  (up to m) of y; point p of tile j is at products [p ldp + j]
static inline __attribute__ ((always_inline)) void
s_output_row (const zi_winograd_shape_t *shape, const s_plan_t *plan, const float *products,
              int64_t ldp, float bias, float *y, int64_t rows, const int tile)
{
    const int window = tile + 2;
    for (int64_t j = 0; j < plan->tiles_w; j++) {
        float half [S_MAX_WINDOW][S_MAX_WINDOW];
        for (int k = 0; k < window; k++) {
            float m [S_MAX_WINDOW];
            for (int l = 0; l < window; l++)
                m [l] = products [(k * window + l) * ldp + j];
            s_output_1d (m, half [k], tile);
        }
        int64_t columns = shape->out_w - j * tile < tile? shape->out_w - j * tile: tile;
        for (int b = 0; b < columns; b++) {
            float m [S_MAX_WINDOW], out [S_MAX_WINDOW];
            for (int k = 0; k < window; k++)
                m [k] = half [k][b];
            s_output_1d (m, out, tile);
            for (int a = 0; a < rows && a < tile; a++)
                y [a * shape->out_w + j * tile + b] = out [a] + bias;
        }
    }
}

#if defined (ZI_HAVE_AVX2)
//  s_output_1d on eight tiles at once
static ZI_AVX2_INLINE void
s_output_1d_avx2 (const __m256 *m, __m256 *y, const int tile)
{
    if (tile == 4) {
        __m256 sum12 = _mm256_add_ps (m [1], m [2]), diff12 = _mm256_sub_ps (m [1], m [2]);
        __m256 sum34 = _mm256_add_ps (m [3], m [4]), diff34 = _mm256_sub_ps (m [3], m [4]);
        y [0] = _mm256_add_ps (_mm256_add_ps (m [0], sum12), sum34);
        y [1] = _mm256_fmadd_ps (_mm256_set1_ps (2), diff34, diff12);
        y [2] = _mm256_fmadd_ps (_mm256_set1_ps (4), sum34, sum12);
        y [3] = _mm256_add_ps (_mm256_fmadd_ps (_mm256_set1_ps (8), diff34, diff12), m [5]);
    }
    else {
        y [0] = _mm256_add_ps (_mm256_add_ps (m [0], m [1]), m [2]);
        y [1] = _mm256_sub_ps (_mm256_sub_ps (m [1], m [2]), m [3]);
    }
}

//  Stores the m row vectors of one output row of eight tiles, pixel
//  (t, b) of the row in lane t of row [b], in pixel order: a transpose
//  (m x 8 to 8 x m) puts the row's 8 m pixels in order
static ZI_AVX2_INLINE void
s_store_row_avx2 (const __m256 *row, float *y, int64_t col, int64_t out_w, const int tile)
{
    __m256 ordered [4];
    if (tile == 4) {
        __m256 u0 = _mm256_unpacklo_ps (row [0], row [1]);
        __m256 u1 = _mm256_unpackhi_ps (row [0], row [1]);
        __m256 u2 = _mm256_unpacklo_ps (row [2], row [3]);
        __m256 u3 = _mm256_unpackhi_ps (row [2], row [3]);
        __m256 w0 = _mm256_shuffle_ps (u0, u2, _MM_SHUFFLE (1, 0, 1, 0));
        __m256 w1 = _mm256_shuffle_ps (u0, u2, _MM_SHUFFLE (3, 2, 3, 2));
        __m256 w2 = _mm256_shuffle_ps (u1, u3, _MM_SHUFFLE (1, 0, 1, 0));
        __m256 w3 = _mm256_shuffle_ps (u1, u3, _MM_SHUFFLE (3, 2, 3, 2));
        ordered [0] = _mm256_permute2f128_ps (w0, w1, 0x20);
        ordered [1] = _mm256_permute2f128_ps (w2, w3, 0x20);
        ordered [2] = _mm256_permute2f128_ps (w0, w1, 0x31);
        ordered [3] = _mm256_permute2f128_ps (w2, w3, 0x31);
    }
    else {
        __m256 lo = _mm256_unpacklo_ps (row [0], row [1]);
        __m256 hi = _mm256_unpackhi_ps (row [0], row [1]);
        ordered [0] = _mm256_permute2f128_ps (lo, hi, 0x20);
        ordered [1] = _mm256_permute2f128_ps (lo, hi, 0x31);
    }
    for (int part = 0; part < tile; part++, col += 8) {
        if (col + 8 <= out_w)
            _mm256_storeu_ps (y + col, ordered [part]);
        else
        if (col < out_w)
            _mm256_maskstore_ps (y + col, zi_tail_mask_avx2 (out_w - col), ordered [part]);
    }
}

//  s_output_row, eight tiles per step, the activation applied in registers
//  where it can be
static ZI_AVX2_INLINE void
s_output_row_avx2 (const zi_winograd_shape_t *shape, const s_plan_t *plan,
                   const float *products, int64_t ldp, float bias, const zi_act_t *act,
                   float *y, int64_t rows, const int tile)
{
    const int window = tile + 2;
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m256 alpha = _mm256_set1_ps (act->alpha), beta = _mm256_set1_ps (act->beta);
    __m256 start = _mm256_set1_ps (bias);
    for (int64_t j = 0; j < plan->tiles_w; j += 8) {
        //  A part group reads no further than its tiles: past them lie
        //  other points' products, or the end of the buffer
        bool whole = plan->tiles_w - j >= 8;
        __m256i tail = zi_tail_mask_avx2 (whole? 8: plan->tiles_w - j);
        __m256 half [S_MAX_WINDOW][S_MAX_WINDOW];
        for (int k = 0; k < window; k++) {
            __m256 m [S_MAX_WINDOW];
            for (int l = 0; l < window; l++) {
                const float *at = products + (k * window + l) * ldp + j;
                m [l] = whole? _mm256_loadu_ps (at): _mm256_maskload_ps (at, tail);
            }
            s_output_1d_avx2 (m, half [k], tile);
        }
        __m256 out [S_MAX_WINDOW][S_MAX_WINDOW];
        for (int b = 0; b < tile; b++) {
            __m256 column [S_MAX_WINDOW], sums [S_MAX_WINDOW];
            for (int k = 0; k < window; k++)
                column [k] = half [k][b];
            s_output_1d_avx2 (column, sums, tile);
            for (int a = 0; a < tile; a++)
                out [a][b] = zi_act8_avx2 (_mm256_add_ps (sums [a], start), kind, alpha, beta);
        }
        for (int a = 0; a < rows; a++)
            s_store_row_avx2 (out [a], y + a * shape->out_w, j * tile, shape->out_w, tile);
    }
    if (kind != act->kind)
        zi_act_apply (act, y, (size_t) (rows * shape->out_w));
}

//  s_output_row_avx2 with the tile as a constant
static ZI_AVX2 void
s_output_any_avx2 (const zi_winograd_shape_t *shape, const s_plan_t *plan,
                   const float *products, int64_t ldp, float bias, const zi_act_t *act,
                   float *y, int64_t rows)
{
    if (plan->tile == 4)
        s_output_row_avx2 (shape, plan, products, ldp, bias, act, y, rows, 4);
    else
        s_output_row_avx2 (shape, plan, products, ldp, bias, act, y, rows, 2);
}
#endif

//  Transforms the products of one map for one tile row into up to m rows
//  of y, adding the bias and applying the activation
static void
s_output (const zi_winograd_shape_t *shape, const s_plan_t *plan, const float *products,
          int64_t ldp, float bias, const zi_act_t *act, float *y, int64_t rows, bool avx2)
{
#if defined (ZI_HAVE_AVX2)
    if (avx2) {
        s_output_any_avx2 (shape, plan, products, ldp, bias, act, y, rows);
        return;
    }
#endif
    if (plan->tile == 4)
        s_output_row (shape, plan, products, ldp, bias, y, rows, 4);
    else
        s_output_row (shape, plan, products, ldp, bias, y, rows, 2);
    zi_act_apply (act, y, (size_t) (rows * shape->out_w));
}


//  --------------------------------------------------------------------------
//  The convolution. In V and the products the points of one channel (map)
//  lie together, [c][p][tile]: the transforms of one channel then write
//  and read one stretch of memory, not (m + 2)^2 places far apart. zi_mm
//  takes each point's matrix with rows points * tiles apart.

//  One band of a run, for the parts its transforms are shared out in:
//  the input transform by channels, the output transform by maps. Each
//  thread has phase planes of its own; V and the products are written in
//  disjoint rows.
typedef struct {
    const zi_winograd_shape_t *shape;   //  the convolution
    const s_plan_t *plan;       //  its layout
    zi_exec_t *exec;            //  per thread: phase planes
    const float *x;             //  input
    const float *bias;          //  [M] or NULL
    const zi_act_t *act;        //  fused activation
    float *y;                   //  output
    const float *u;             //  the transformed weights, packed per point
    float *v, *products;        //  the band's transformed input and products
    int64_t first, rows;        //  the band's tile rows over the batch
    int64_t block;              //  maps per block of products, whole panels
    bool avx2;                  //  use the SIMD transforms
} s_band_t;

static void
s_input_part (void *args, int64_t first, int64_t last, int thread)
{
    s_band_t *band = args;
    const s_plan_t *plan = band->plan;
    float *phases = zi_exec_scratch_of (band->exec, thread, 2, 0);
    float *line = phases + plan->tile * plan->plane;
    int64_t tiles = band->rows * plan->tiles_w;
    int64_t stride = plan->points * tiles;
    int64_t channels = band->shape->channels;
    int64_t in_plane = band->shape->in_h * band->shape->in_w;
    for (int64_t c = first; c < last; c++)
        //  The band's tile rows image by image
        for (int64_t row = 0; row < band->rows; ) {
            int64_t n = (band->first + row) / plan->tiles_h;
            int64_t i = (band->first + row) % plan->tiles_h;
            int64_t count = plan->tiles_h - i < band->rows - row?
                            plan->tiles_h - i: band->rows - row;
            s_fill (band->shape, plan, band->x + (n * channels + c) * in_plane, i, count,
                    phases, line, band->avx2);
            s_input_rows (plan, phases, count, band->v + c * stride + row * plan->tiles_w,
                          tiles, band->avx2);
            row += count;
        }
}

//  Maps [first, last) transformed back, their products from products on
//  (map first's)
static void
s_output_maps (s_band_t *band, const float *products, int64_t first, int64_t last)
{
    const zi_winograd_shape_t *shape = band->shape;
    const s_plan_t *plan = band->plan;
    int64_t tiles = band->rows * plan->tiles_w;
    int64_t stride = plan->points * tiles;
    int64_t out_plane = shape->out_h * shape->out_w;
    for (int64_t m = first; m < last; m++)
        for (int64_t row = 0; row < band->rows; row++) {
            int64_t n = (band->first + row) / plan->tiles_h;
            int64_t i = (band->first + row) % plan->tiles_h;
            float *y_row = band->y + (n * shape->maps + m) * out_plane
                         + i * plan->tile * shape->out_w;
            int64_t valid = shape->out_h - i * plan->tile < plan->tile?
                            shape->out_h - i * plan->tile: plan->tile;
            s_output (shape, plan, products + (m - first) * stride + row * plan->tiles_w, tiles,
                      band->bias? band->bias [m]: 0, band->act, y_row, valid, band->avx2);
        }
}

static void
s_output_part (void *args, int64_t first, int64_t last, int thread)
{
    s_band_t *band = args;
    int64_t stride = band->plan->points * band->rows * band->plan->tiles_w;
    s_output_maps (band, band->products + first * stride, first, last);
}

//  The element-wise products of points [first, last), one zi_mm each:
//  products_p [M][tiles] = U_p [M][C] V_p [C][tiles]. Each is small (C and
//  the tiles of a band in the tens to hundreds), where sgemm's per-call
//  packing cost more than the product; the points are shared out whole,
//  so each product's bits do not depend on the thread count.
static void
s_products_part (void *args, int64_t first, int64_t last, int thread)
{
    s_band_t *band = args;
    const zi_winograd_shape_t *shape = band->shape;
    int64_t tiles = band->rows * band->plan->tiles_w;
    int64_t stride = band->plan->points * tiles;
    size_t matrix = zi_mm_packed_floats (shape->maps, shape->channels);
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    for (int64_t p = first; p < last; p++)
        zi_mm (band->u + p * matrix, shape->maps, shape->channels, tiles, band->v + p * tiles,
               stride, NULL, NULL, 0, &none, band->products + p * tiles, stride);
}

//  The element-wise products and the output transform of a block of
//  maps at a time: products_p [maps of the block][tiles] = U_p V_p, one
//  zi_mm for each point p, then those maps transformed back while their
//  products are still in cache. Each zi_mm is small (C and the tiles of a
//  band in the tens to hundreds), where sgemm's per-call packing cost more
//  than the product. Blocks start on whole panels of U_p, and a panel's
//  sums come out of zi_mm the same whichever block holds it, so the bits
//  do not depend on the thread count.
static void
s_maps_part (void *args, int64_t first, int64_t last, int thread)
{
    s_band_t *band = args;
    const zi_winograd_shape_t *shape = band->shape;
    int64_t tiles = band->rows * band->plan->tiles_w;
    int64_t stride = band->plan->points * tiles;
    int64_t channels = shape->channels;
    size_t matrix = zi_mm_packed_floats (shape->maps, channels);
    static const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    //  The block's products in the thread's own buffer: in a shared one,
    //  the lines a block writes were most often written last by the other
    //  thread (blocks go to whichever thread comes first), and each store
    //  had to take its line from that core's cache
    float *products = zi_exec_scratch_of (band->exec, thread, 1, 0);
    for (int64_t m0 = first; m0 < last; m0 += band->block) {
        int64_t maps = last - m0 < band->block? last - m0: band->block;
        //  U_p's panels from map m0 on: m0 is a whole number of panels
        for (int p = 0; p < band->plan->points; p++)
            zi_mm (band->u + p * matrix + m0 * channels, maps, channels, tiles,
                   band->v + p * tiles, stride, NULL, NULL, 0, &none,
                   products + p * tiles, stride);
        s_output_maps (band, products, m0, m0 + maps);
    }
}

//  Blocks of maps with each thread its own V: a thread transforms the
//  whole input once, before its first block, and reads only what it wrote.
//  The transform is then done once per thread instead of shared out, but
//  shared out it cost more: V's lines written on one core and read on the
//  other (the vCPUs here share no cache), squeezenet1_1's input transforms
//  took 1.7x longer at two threads than at one; one loop a layer instead of
//  two, squeezenet1_1 at two threads 0.95 of the time, resnet18 the same
//  (docs/performance.md, "Zen 5: two threads and the other core's lines")
#define S_OWN_MAX_THREADS 64
typedef struct {
    s_band_t band;              //  the band, V unset
    bool ready [S_OWN_MAX_THREADS];     //  thread's V transformed
} s_own_t;

static void
s_own_part (void *args, int64_t first, int64_t last, int thread)
{
    s_own_t *own = args;
    s_band_t band = own->band;
    band.v = zi_exec_scratch_of (band.exec, thread, 0, 0);
    if (!own->ready [thread]) {
        s_input_part (&band, 0, band.shape->channels, thread);
        own->ready [thread] = true;
    }
    s_maps_part (&band, first, last, thread);
}

//  One band on one thread, all three steps
static void
s_band_alone (s_band_t *band, bool blocks, int thread)
{
    s_input_part (band, 0, band->shape->channels, thread);
    if (blocks)
        s_maps_part (band, 0, band->shape->maps, thread);
    else {
        s_products_part (band, 0, band->plan->points, thread);
        s_output_part (band, 0, band->shape->maps, thread);
    }
}

//  Whole bands [first, last) on one thread, in its own V and products:
//  nothing one thread writes is read by another
typedef struct {
    s_band_t band;              //  the run, its first and rows unset
    bool blocks;                //  products in blocks of maps
} s_bands_t;

static void
s_bands_part (void *args, int64_t first, int64_t last, int thread)
{
    s_bands_t *bands = args;
    s_band_t band = bands->band;
    const s_plan_t *plan = band.plan;
    band.v = zi_exec_scratch_of (band.exec, thread, 0, 0);
    band.products = zi_exec_scratch_of (band.exec, thread, 1, 0);
    for (int64_t index = first; index < last; index++) {
        band.first = index * plan->band;
        band.rows = plan->tile_rows - band.first < plan->band?
                    plan->tile_rows - band.first: plan->band;
        s_band_alone (&band, bands->blocks, thread);
    }
}

//  Channels per part of the input transform: a part should transform at
//  least this many floats, or a thread's wake-up costs more than it saves
#define S_PART_FLOATS (16 * 1024)
//  Products of a block of maps are kept under this many bytes, so that the
//  output transform finds them in L2 (a band's products for all maps were
//  1.8 MB on squeezenet's first 3x3 layer, 64 maps of 36 points by 196
//  tiles, and went out to L3 between zi_mm and the transform)
#define S_BLOCK_BYTES (256 * 1024)
//  Lowered by the self test for parts of several blocks
static int64_t s_block_bytes = S_BLOCK_BYTES;
//  Each block reads all of V again: blocks only while V stays in L2.
//  resnet's 56x56 layers (V 1.8 MB) ran 10 % slower in blocks of maps;
//  its 28x28 ones (0.9 MB) 10 % faster, squeezenet's at two threads 10 to
//  25 % faster (V 0.15 to 0.45 MB), see docs/performance.md
#define S_BLOCK_V_BYTES (1024 * 1024)

//  Set to 0 by the self test to run the products by points
static int64_t s_block_v_bytes = S_BLOCK_V_BYTES;
//  Floats of U_p in a panel: a block is whole panels
#define S_PANEL_ROWS 6

int
zi_winograd_run (const zi_winograd_shape_t *shape, zi_exec_t *exec, const float *x,
                 const float *u, const float *bias, const zi_act_t *act, float *y)
{
    s_plan_t plan;
    s_plan (shape, &plan);
    int64_t channels = shape->channels, maps = shape->maps;
    int64_t most = plan.band * plan.tiles_w;            //  tiles in a band
    int64_t bands = (plan.tile_rows + plan.band - 1) / plan.band;
    int threads = zi_exec_threads (exec);
    //  Each thread whole bands when there are enough to go round
    bool by_bands = threads > 1 && bands >= threads;
    //  By the whole image's V, not a band's: resnet's 56x56 layers in two
    //  bands of 0.9 MB still ran faster by points (0.57 against 0.67 ms
    //  one thread)
    bool blocks = plan.points * channels * plan.tile_rows * plan.tiles_w
                * (int64_t) sizeof (float) <= s_block_v_bytes;
    //  Else, with blocks of maps, each thread its own V
    bool own_v = threads > 1 && !by_bands && blocks && threads <= S_OWN_MAX_THREADS;
    int64_t per_channel = plan.points * most;
    int64_t unit = per_channel >= S_PART_FLOATS? 1: S_PART_FLOATS / per_channel;
    //  Maps per block: its products within S_BLOCK_BYTES, and with more
    //  than one thread at least two blocks a thread, so a thread that
    //  finishes early takes another instead of waiting
    int64_t per_map = plan.points * most * (int64_t) sizeof (float);
    int64_t block = s_block_bytes / per_map;
    if (threads > 1 && !by_bands && block > (maps + 2 * threads - 1) / (2 * threads))
        block = (maps + 2 * threads - 1) / (2 * threads);
    block = block < S_PANEL_ROWS? S_PANEL_ROWS: block / S_PANEL_ROWS * S_PANEL_ROWS;
    //  Scratch: V (shared, or each thread's with bands or blocks of maps),
    //  the products of all maps by points (shared, or each thread's with
    //  bands) or each thread's block of them, and each thread's phase
    //  planes
    size_t v_bytes = plan.points * channels * most * sizeof (float);
    size_t products_bytes = blocks? (size_t) (block * per_map):
                                    plan.points * maps * most * sizeof (float);
    size_t phases_bytes = (plan.tile * plan.plane + plan.tile * plan.width) * sizeof (float);
    for (int thread = 0; thread < threads; thread++)
        if (!zi_exec_scratch_of (exec, thread, 2, phases_bytes)
        ||  ((thread == 0 || by_bands || own_v)
         &&  !zi_exec_scratch_of (exec, thread, 0, v_bytes))
        ||  ((thread == 0 || by_bands || blocks)
         &&  !zi_exec_scratch_of (exec, thread, 1, products_bytes)))
            return -1;
    float *v = zi_exec_scratch (exec, 0, 0);
    float *products = zi_exec_scratch (exec, 1, 0);
    s_band_t band = {
        .shape = shape, .plan = &plan, .exec = exec, .x = x, .bias = bias, .act = act,
        .y = y, .u = u, .v = v, .products = products, .block = block,
        .avx2 = zi_use_avx2 ()
    };
    if (by_bands) {
        s_bands_t all = {.band = band, .blocks = blocks};
        zi_exec_parallel (exec, bands, 1, s_bands_part, &all);
        return 0;
    }
    for (band.first = 0; band.first < plan.tile_rows; band.first += plan.band) {
        band.rows = plan.tile_rows - band.first < plan.band?
                    plan.tile_rows - band.first: plan.band;
        if (blocks && own_v) {
            s_own_t own = {.band = band};
            zi_exec_parallel (exec, maps, block, s_own_part, &own);
            continue;
        }
        zi_exec_parallel (exec, channels, unit, s_input_part, &band);
        if (blocks)
            zi_exec_parallel (exec, maps, block, s_maps_part, &band);
        else {
            //  The products shared out whole by points, then the transform
            zi_exec_parallel (exec, plan.points, 1, s_products_part, &band);
            zi_exec_parallel (exec, maps, unit, s_output_part, &band);
        }
    }
    return 0;
}

//  Measured at one thread against the im2col paths of act_conv.c, layer by
//  layer inside resnet18, resnet50 and squeezenet1_1 (docs/performance.md):
//  - F(4x4, 3x3) wins where there are enough tiles for sgemm to run near
//    full speed and to use each transformed weight often: 2x on 56x56 and
//    28x28 images (196 and 49 tiles);
//  - on 14x14 (16 tiles of 4x4) it loses to F(2x2, 3x3) (49 tiles), which
//    beats im2col by 1.3x to 1.4x there;
//  - on 7x7 both lose: 4 or 16 tiles, and weights 4x or 1.8x the size of
//    W, streamed for each;
//  - 16 channels (squeezenet's first 3x3) paid nothing while the products
//    were sgemm calls, too shallow for its packing; on zi_mm the 16 -> 64
//    layer at 55x55 runs 1.4x faster than im2col. Fewer channels than that
//    are not tried: the transforms would be most of the work.
//  Tiles count over the batch, so a batch of four 7x7 images takes F(2x2).
#define S_MIN_CHANNELS 16
#define S_MIN_TILES 40

int
zi_winograd_tile (const zi_winograd_shape_t *shape)
{
    if (shape->channels < S_MIN_CHANNELS || shape->maps < S_MIN_CHANNELS)
        return 0;
    for (int tile = 4; tile >= 2; tile -= 2) {
        int64_t tiles = shape->batch * ((shape->out_h + tile - 1) / tile)
                      * ((shape->out_w + tile - 1) / tile);
        if (tiles >= S_MIN_TILES)
            return tile;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Self test: against the direct sum in double, both tiles, both kinds of
//  kernels

typedef struct {
    const char *label;          //  what the case covers
    int64_t batch, channels;    //  N, C
    int64_t in_h, in_w;         //  spatial size of X
    int64_t maps;               //  M
    int64_t pads [4];           //  top, left, bottom, right
    bool bias;                  //  with a bias
    zi_act_t act;               //  fused activation
} s_case_t;

static void
s_case_shape (const s_case_t *tc, zi_winograd_shape_t *shape)
{
    shape->batch = tc->batch;
    shape->channels = tc->channels;
    shape->in_h = tc->in_h;
    shape->in_w = tc->in_w;
    shape->maps = tc->maps;
    shape->out_h = tc->in_h + tc->pads [0] + tc->pads [2] - 2;
    shape->out_w = tc->in_w + tc->pads [1] + tc->pads [3] - 2;
    shape->pad_t = tc->pads [0];
    shape->pad_l = tc->pads [1];
}

//  The convolution as the ONNX spec writes it, in double
static void
s_reference (const zi_winograd_shape_t *shape, const float *x, const float *w,
             const float *bias, const zi_act_t *act, float *y)
{
    for (int64_t n = 0; n < shape->batch; n++)
    for (int64_t m = 0; m < shape->maps; m++)
    for (int64_t oh = 0; oh < shape->out_h; oh++)
    for (int64_t ow = 0; ow < shape->out_w; ow++) {
        double sum = bias? bias [m]: 0;
        for (int64_t c = 0; c < shape->channels; c++)
        for (int64_t kh = 0; kh < 3; kh++)
        for (int64_t kw = 0; kw < 3; kw++) {
            int64_t ih = oh + kh - shape->pad_t, iw = ow + kw - shape->pad_l;
            if (ih >= 0 && ih < shape->in_h && iw >= 0 && iw < shape->in_w)
                sum += (double) x [((n * shape->channels + c) * shape->in_h + ih) * shape->in_w + iw]
                     * w [((m * shape->channels + c) * 3 + kh) * 3 + kw];
        }
        y [((n * shape->maps + m) * shape->out_h + oh) * shape->out_w + ow] =
            zi_act_one (act, (float) sum);
    }
}

static void
s_case_run (zi_test_t *t, const s_case_t *tc, uint32_t seed)
{
    zi_winograd_shape_t shape;
    s_case_shape (tc, &shape);
    int64_t x_dims [4] = {tc->batch, tc->channels, tc->in_h, tc->in_w};
    int64_t w_dims [4] = {tc->maps, tc->channels, 3, 3};
    zi_tensor_t *x = zi_test_random (4, x_dims, seed);
    zi_tensor_t *w = zi_test_random (4, w_dims, seed + 1);
    zi_tensor_t *b = zi_test_random (1, &tc->maps, seed + 2);
    const float *bias = tc->bias? zi_tensor_f32 (b): NULL;
    size_t count = (size_t) (shape.batch * shape.maps * shape.out_h * shape.out_w);
    float *want = malloc (count * sizeof (float));
    float *got = malloc (count * sizeof (float));
    assert (want && got);
    s_reference (&shape, zi_tensor_f32 (x), zi_tensor_f32 (w), bias, &tc->act, want);
    zi_exec_t *exec = zi_exec_new ();
    for (shape.tile = 2; shape.tile <= 4; shape.tile += 2) {
        float *u = malloc (zi_winograd_weights_floats (&shape) * sizeof (float));
        assert (u);
        zi_winograd_weights (&shape, zi_tensor_f32 (w), u);
        //  Every level: the transforms are AVX2 or portable, the products
        //  zi_mm's tiles of each level, and the split must keep the bits
        //  at each
        for (int level = ZI_ISA_AVX512; level >= ZI_ISA_PORTABLE; level--) {
            if (!zi_test_isa (t, (zi_isa_t) level))
                continue;
            //  Old values in the output must not show through
            for (size_t item = 0; item < count; item++)
                got [item] = NAN;
            int rc = zi_winograd_run (&shape, exec, zi_tensor_f32 (x), u, bias, &tc->act, got);
            char what [160];
            snprintf (what, sizeof what, "F(%dx%d, 3x3) %s at %s", shape.tile, shape.tile,
                      tc->label, zi_isa_name ((zi_isa_t) level));
            ZI_CHECK (t, rc == 0, "%s runs", what);
            //  The error grows with the number of terms summed
            float atol = 2e-6f * (float) (tc->channels * 9);
            ZI_CHECK_CLOSE (t, what, got, want, count, atol < 2e-5f? 2e-5f: atol, 1e-4f);
            //  Shared out between 2 and 3 threads: the same bits
            float *again = malloc (count * sizeof (float));
            assert (again);
            for (int threads = 2; threads <= 3; threads++) {
                zi_exec_t *shared = zi_exec_new ();
                zi_exec_set_threads (shared, threads);
                for (size_t item = 0; item < count; item++)
                    again [item] = NAN;
                rc = zi_winograd_run (&shape, shared, zi_tensor_f32 (x), u, bias, &tc->act,
                                      again);
                ZI_CHECK (t, rc == 0 && memcmp (again, got, count * sizeof (float)) == 0,
                          "%s: %d threads give the bits of one", what, threads);
                zi_exec_destroy (&shared);
            }
            free (again);
        }
        zi_isa_set_cap (ZI_ISA_DEFAULT);
        free (u);
    }
    zi_exec_destroy (&exec);
    free (want);
    free (got);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&w);
    zi_tensor_destroy (&b);
}

//  A Conv node on a shape Winograd pays for takes this path with the tile
//  expected: its output has the same bits as zi_winograd_run's (im2col, or
//  the other tile, would round differently)
static void
s_check_conv_uses_it (zi_test_t *t, const s_case_t *tc, int tile)
{
    zi_winograd_shape_t shape;
    s_case_shape (tc, &shape);
    shape.tile = zi_winograd_tile (&shape);
    ZI_CHECK (t, shape.tile == tile, "%s: tile %d, want %d", tc->label, shape.tile, tile);
    if (!shape.tile)
        return;
    int64_t x_dims [4] = {tc->batch, tc->channels, tc->in_h, tc->in_w};
    int64_t w_dims [4] = {tc->maps, tc->channels, 3, 3};
    zi_tensor_t *inputs [3] = {
        zi_test_random (4, x_dims, 71), zi_test_random (4, w_dims, 72),
        zi_test_random (1, &tc->maps, 73)
    };
    zi_node_t *node = zi_node_new ("Conv", "winograd");
    zi_node_set_ints (node, "pads", 4, tc->pads);
    node->act = tc->act;
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 3, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "%s runs: %s", tc->label, rc? zi_error_text (): "ok");
    if (rc == 0) {
        size_t count = zi_tensor_count (y);
        float *u = malloc (zi_winograd_weights_floats (&shape) * sizeof (float));
        float *want = malloc (count * sizeof (float));
        assert (u && want);
        zi_winograd_weights (&shape, zi_tensor_f32 (inputs [1]), u);
        zi_exec_t *exec = zi_exec_new ();
        zi_winograd_run (&shape, exec, zi_tensor_f32 (inputs [0]), u,
                         zi_tensor_f32 (inputs [2]), &tc->act, want);
        ZI_CHECK (t, memcmp (zi_tensor_f32 (y), want, count * sizeof (float)) == 0,
                  "%s: same bits as zi_winograd_run", tc->label);
        zi_exec_destroy (&exec);
        free (u);
        free (want);
    }
    zi_tensor_destroy (&y);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

void
zi_act_winograd_test (zi_test_t *t)
{
    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const s_case_t cases [] = {
        //  label, N, C, H, W, M, pads, bias, act
        {"one tile, no padding", 1, 3, 6, 6, 2, {0, 0, 0, 0}, true, none},
        {"odd sizes pad 1", 1, 3, 7, 5, 4, {1, 1, 1, 1}, true, none},
        {"asymmetric pads batch 2 relu", 2, 5, 9, 13, 7, {0, 1, 2, 0}, false, relu},
        {"19 channels part group of tiles", 1, 19, 17, 23, 10, {1, 1, 1, 1}, true,
         {ZI_ACT_CLIP, -0.5f, 0.5f}},
        {"three groups of tiles hard swish", 1, 16, 12, 70, 9, {1, 1, 1, 1}, true,
         {ZI_ACT_HARD_SWISH, 0, 0}},
        {"padding wider than a tile", 1, 4, 3, 4, 3, {5, 6, 4, 7}, true, relu},
        {"width and height 1", 3, 6, 1, 1, 5, {1, 1, 1, 1}, true, none},
        {"14x14 like resnet layer3", 1, 40, 14, 14, 33, {1, 1, 1, 1}, true, relu},
        {"sigmoid", 1, 8, 9, 9, 8, {1, 1, 1, 1}, true, {ZI_ACT_SIGMOID, 0, 0}},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++)
        s_case_run (t, &cases [index], (uint32_t) (300 + 5 * index));

    //  More tile rows than fit a band: several bands, the last short, and
    //  bands that start inside an image and end in the next one
    s_band_bytes = 600 * 1024;
    s_case_t bands = {"bands over a batch of 3", 3, 32, 50, 61, 24, {1, 1, 1, 1}, true, relu};
    s_case_run (t, &bands, 400);
    s_band_bytes = S_BAND_BYTES;

    //  Bands by the size of V, each thread whole bands in V and products
    //  of its own: F(4x4) in two bands (two threads one each, three
    //  sharing each band out) and in four, F(2x2) in four and eight
    s_case_t halves = {"two bands by V", 1, 19, 30, 29, 10, {1, 1, 1, 1}, true, relu};
    s_band_v_bytes = 36 * 19 * 8 * 4 * sizeof (float);
    s_case_run (t, &halves, 415);
    s_band_v_bytes = 36 * 19 * 8 * 2 * sizeof (float);
    s_case_run (t, &halves, 416);
    s_band_v_bytes = S_BAND_V_BYTES;

    //  Blocks of one or two panels: many blocks a part, the last of the
    //  maps short of a panel
    s_block_bytes = 120 * 1024;
    s_case_t blocks = {"parts of several blocks", 1, 24, 30, 29, 40, {1, 1, 1, 1}, true, relu};
    s_case_run (t, &blocks, 405);
    s_block_bytes = S_BLOCK_BYTES;

    //  V too large for blocks of maps (resnet's 56x56 layers): the
    //  products by points, then the output transform by maps
    s_block_v_bytes = 0;
    s_case_t by_points = {"products by points", 1, 19, 17, 23, 10, {1, 1, 1, 1}, true, relu};
    s_case_run (t, &by_points, 410);
    s_case_run (t, &bands, 420);
    s_block_v_bytes = S_BLOCK_V_BYTES;

    //  Where each tile pays (the shapes of resnet and squeezenet layers), and
    //  Conv taking it
    const s_case_t paying [] = {
        {"56x56 64 channels", 1, 64, 56, 56, 64, {1, 1, 1, 1}, false, none},
        {"14x14 256 channels", 1, 256, 14, 14, 256, {1, 1, 1, 1}, false, none},
        {"7x7 512 channels", 1, 512, 7, 7, 512, {1, 1, 1, 1}, false, none},
        {"7x7 batch 4", 4, 512, 7, 7, 512, {1, 1, 1, 1}, false, none},
        {"55x55 16 channels", 1, 16, 55, 55, 64, {1, 1, 1, 1}, false, none},
        {"55x55 8 channels", 1, 8, 55, 55, 64, {1, 1, 1, 1}, false, none},
    };
    const int tiles [] = {4, 2, 0, 2, 4, 0};
    for (size_t index = 0; index < sizeof paying / sizeof paying [0]; index++) {
        zi_winograd_shape_t shape;
        s_case_shape (&paying [index], &shape);
        ZI_CHECK (t, zi_winograd_tile (&shape) == tiles [index], "%s: tile %d, want %d",
                  paying [index].label, zi_winograd_tile (&shape), tiles [index]);
    }
    s_case_t conv4 = {"conv node F(4x4)", 1, 32, 30, 29, 33, {1, 1, 1, 1}, true, relu};
    s_case_t conv2 = {"conv node F(2x2)", 2, 40, 11, 10, 32, {1, 0, 1, 0}, true,
                      {ZI_ACT_CLIP, 0, 6}};
    s_check_conv_uses_it (t, &conv4, 4);
    s_check_conv_uses_it (t, &conv2, 2);
}
