/*  =========================================================================
    act_conv_stem - Conv's direct kernel for a network's deep stem at
    AVX-512: an image's few channels at stride 2 with K of 128 to 160
    (resnet's 7x7 on three channels, K 147), the products made on the
    image without an im2col matrix.
    act_conv.c chooses it; it is not an op of its own.

    The sums are the 6x48 tile's (act_mm.c) on im2col's column matrix,
    made the same way: K in one slice (at most ZI_MM_WIDE_WHOLE rows), an
    FMA chain from zero in the column matrix's order of rows (channel,
    kernel row, kernel column), then the bias, then the activation. So the
    bits are those of the im2col path at AVX-512.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_mm.h"
#include "act_conv.h"

//  The geometry (act_conv.h)
typedef zi_conv_geom_t s_geom_t;

//  im2col writes K floats per output pixel (147 for a 7x7 stem on three
//  channels) and the tile reads them back: 15 % of the time of resnet's
//  stem alone at AVX-512 (perf). At stride 2, output column ow reads input column 2 ow + kw:
//  with the image split first into its even and odd rows and columns
//  (four phase planes per channel, zero-bordered), the taps of sixteen
//  consecutive output columns are sixteen consecutive floats of one
//  phase plane, so a tap's row of a strip is a plain load at an offset
//  that depends on the tap only. A tile stays within one output row, so
//  Y is stored in place; a row of 112 columns is a 48-column tile and two
//  of 32, where 48 + 48 + 16 left a tile of one vector per row.

//  Input channels up to this take the kernel: the phase planes are the
//  image's size, and a stem's product is shallow in channels
#define S_STEM_CHANNELS 4
//  ... and K at least this deep. The 3x3 stems (K 27) ran faster alone
//  on the phase planes but not in their models (squeezenet1_1's 3 to 64
//  alone 0.88 of im2col's time, in the model 1.10, median of 16 rounds),
//  as they did on AVX2's strips (see act_conv.c, S_STRIP_STEM_DEPTH)
#define S_STEM_DEPTH 128
//  Taps of the kernel at most (the tables on the stack)
#define S_STEM_TAPS 160

bool
zi_conv_is_stem (const s_geom_t *geom)
{
    int64_t depth = geom->in_c * geom->k_h * geom->k_w;
    return geom->group == 1 && geom->n_spatial == 2 && geom->in_c <= S_STEM_CHANNELS
        && geom->stride_h == 2 && geom->stride_w == 2 && geom->dil_h == 1 && geom->dil_w == 1
        && depth >= S_STEM_DEPTH && depth <= ZI_MM_WIDE_WHOLE && depth <= S_STEM_TAPS
        && geom->out_w >= 16;
}

#if defined (ZI_HAVE_AVX512)
typedef struct {
    const s_geom_t *geom;       //  the convolution
    const float *x;             //  one image's input
    const float *packed;        //  weights, zi_mm_pack's panels
    const float *bias;          //  bias or NULL
    const zi_act_t *act;        //  activation
    zi_act_kind_t kind;         //  the part of it made in the store
    float *y;                   //  the image's output
    float *planes;              //  the phase planes: [row phase][column phase][c]
    int64_t plane_h, plane_w;   //  a phase plane's rows and columns
    const int64_t *taps;        //  each row of K: its offset in the planes
} s_stem_job_t;

//  The first n of sixteen lanes, none when n <= 0
static inline __mmask16
s_lanes (int64_t n)
{
    return n >= 16? (__mmask16) 0xFFFF: n <= 0? 0: (__mmask16) ((1u << n) - 1);
}

//  Row i of phase plane (rp, cp) of channel c: dst [j] is input pixel
//  (2 i + rp - pad_t, 2 j + cp - pad_l), zero outside the image. Sixteen
//  floats a step are the even floats of two loads masked to the row
static ZI_AVX512 void
s_stem_plane_row (const s_stem_job_t *job, int64_t row)
{
    const s_geom_t *geom = job->geom;
    const __m512i evens = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16,
                                            14, 12, 10, 8, 6, 4, 2, 0);
    int64_t i = row % job->plane_h, q = row / job->plane_h;
    int64_t c = q % geom->in_c, cp = q / geom->in_c % 2, rp = q / geom->in_c / 2;
    float *dst = job->planes + row * job->plane_w;
    int64_t width = job->plane_w, ih = 2 * i + rp - geom->pad_t;
    if (ih < 0 || ih >= geom->in_h) {
        for (int64_t j = 0; j < width; j += 16)
            _mm512_mask_storeu_ps (dst + j, s_lanes (width - j), _mm512_setzero_ps ());
        return;
    }
    //  src [k] is input column k + offset, inside the row for k in
    //  [first, end)
    int64_t offset = cp - geom->pad_l;
    const float *src = job->x + (c * geom->in_h + ih) * geom->in_w + offset;
    int64_t first = -offset, end = geom->in_w - offset;
    for (int64_t j = 0; j < width; j += 16) {
        int64_t at = 2 * j;
        __mmask16 low = s_lanes (end - at) & (__mmask16) ~s_lanes (first - at);
        __mmask16 high = s_lanes (end - at - 16) & (__mmask16) ~s_lanes (first - at - 16);
        __m512 a = _mm512_maskz_loadu_ps (low, src + at);
        __m512 b = _mm512_maskz_loadu_ps (high, src + at + 16);
        _mm512_mask_storeu_ps (dst + j, s_lanes (width - j),
                               _mm512_permutex2var_ps (a, evens, b));
    }
}

static void
s_stem_planes_part (void *args, int64_t first, int64_t last, int thread)
{
    for (int64_t row = first; row < last; row++)
        s_stem_plane_row (args, row);
}

//  One tile: rows output channels (the panel's valid ones) by `vectors`
//  vectors of sixteen output columns (a constant where it is inlined),
//  the last one masked by tail. Row k of K is at x + taps [k]. The sums
//  and the step down K are the tile's (act_mm.h), so are the bits
static ZI_AVX512_INLINE void
s_stem_tile (const float *panel, const float *x, const int64_t *taps, int64_t depth,
             const float *bias, zi_act_kind_t kind, __m512 alpha, __m512 beta, float *y,
             int64_t ldy, int64_t rows, const int vectors, __mmask16 tail)
{
    __m512 zero = _mm512_setzero_ps ();
    ZI_MM_TILE_SUMS_AVX512;
    for (int64_t k = 0; k < depth; k++, panel += 6) {
        const float *row = x + taps [k];
        __m512 xa = vectors == 1? _mm512_maskz_loadu_ps (tail, row): _mm512_loadu_ps (row);
        __m512 xb = vectors == 2? _mm512_maskz_loadu_ps (tail, row + 16):
                    vectors > 2? _mm512_loadu_ps (row + 16): zero;
        __m512 xc = vectors == 3? _mm512_maskz_loadu_ps (tail, row + 32): zero;
        ZI_MM_TILE_STEP_AVX512 (panel, vectors, xa, xb, xc);
    }
    __m512 sums [6][3] = ZI_MM_TILE_SUMS_TABLE_AVX512;
    for (int64_t r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) {
            __m512 value = sums [r][v];
            if (bias)
                value = _mm512_add_ps (value, _mm512_set1_ps (bias [r]));
            value = zi_act16_avx512 (value, kind, alpha, beta);
            if (v == vectors - 1)
                _mm512_mask_storeu_ps (y + r * ldy + 16 * v, tail, value);
            else
                _mm512_storeu_ps (y + r * ldy + 16 * v, value);
        }
}

//  Output rows [first, last) of the image: each row's column tiles, and
//  for each tile every panel, so that the tile's strip of taps stays in
//  L1 for all of them
static ZI_AVX512 void
s_stem_rows_part (void *args, int64_t first, int64_t last, int thread)
{
    const s_stem_job_t *job = args;
    const s_geom_t *geom = job->geom;
    int64_t maps = geom->out_c, out_w = geom->out_w, ldy = geom->out_h * out_w;
    int64_t depth = geom->in_c * geom->k_h * geom->k_w, panels = (maps + 5) / 6;
    __m512 alpha = _mm512_set1_ps (job->act->alpha), beta = _mm512_set1_ps (job->act->beta);
    for (int64_t oh = first; oh < last; oh++)
        for (int64_t ow = 0; ow < out_w; ) {
            //  48 columns, but 32 and 32 (or 32 and the rest) where 48
            //  would leave a tile of one vector
            int64_t left = out_w - ow;
            int64_t width = left <= 48? left: left - 48 > 16? 48: 32;
            int vectors = (int) ((width + 15) / 16);
            __mmask16 tail = s_lanes (width - 16 * (vectors - 1));
            const float *x = job->planes + oh * job->plane_w + ow;
            for (int64_t p = 0; p < panels; p++) {
                int64_t rows = maps - 6 * p < 6? maps - 6 * p: 6;
                const float *panel = job->packed + p * depth * 6;
                const float *bias = job->bias? job->bias + 6 * p: NULL;
                float *y = job->y + 6 * p * ldy + oh * out_w + ow;
                if (vectors == 3)
                    s_stem_tile (panel, x, job->taps, depth, bias, job->kind, alpha, beta, y,
                                 ldy, rows, 3, tail);
                else
                if (vectors == 2)
                    s_stem_tile (panel, x, job->taps, depth, bias, job->kind, alpha, beta, y,
                                 ldy, rows, 2, tail);
                else
                    s_stem_tile (panel, x, job->taps, depth, bias, job->kind, alpha, beta, y,
                                 ldy, rows, 1, tail);
            }
            ow += width;
        }
}

int
zi_conv_stem (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *packed,
              const float *bias, const zi_act_t *act, float *y)
{
    //  A plane holds every row and column any tap of an output row reads,
    //  its rows whole vectors apart: the taps of kernel columns 0 and 1 then
    //  load whole lines, where a load across two lines costs two (resnet18's
    //  stem 0.975 of its time with rows of 115 floats, median of 20 rounds)
    int64_t plane_h = geom->out_h + (geom->k_h - 1) / 2;
    int64_t plane_w = (geom->out_w + (geom->k_w - 1) / 2 + 15) / 16 * 16;
    int64_t plane_rows = 4 * geom->in_c * plane_h;
    float *planes = zi_exec_scratch (exec, 0, plane_rows * plane_w * sizeof (float));
    if (!planes)
        return zi_error ("Conv: no memory for the stem's %lld phase planes",
                         (long long) (4 * geom->in_c));
    //  Tap (c, kh, kw) reads phase plane (kh % 2, kw % 2, c) from row
    //  kh / 2 and column kw / 2 on
    int64_t taps [S_STEM_TAPS];
    for (int64_t c = 0, k = 0; c < geom->in_c; c++)
        for (int64_t kh = 0; kh < geom->k_h; kh++)
            for (int64_t kw = 0; kw < geom->k_w; kw++, k++) {
                int64_t q = ((kh % 2) * 2 + kw % 2) * geom->in_c + c;
                taps [k] = (q * plane_h + kh / 2) * plane_w + kw / 2;
            }
    int64_t depth = geom->in_c * geom->k_h * geom->k_w;
    int64_t in_plane = geom->in_h * geom->in_w, out_plane = geom->out_h * geom->out_w;
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    for (int64_t n = 0; n < geom->batch; n++) {
        s_stem_job_t job = {
            geom, x + n * geom->in_c * in_plane, packed, bias, act, kind,
            y + n * geom->out_c * out_plane, planes, plane_h, plane_w, taps
        };
        zi_exec_parallel (exec, plane_rows, zi_exec_unit (plane_w * 8), s_stem_planes_part,
                          &job);
        zi_exec_parallel (exec, geom->out_h, zi_exec_unit (geom->out_c * depth * geom->out_w),
                          s_stem_rows_part, &job);
    }
    if (kind != act->kind)
        zi_act_rows (act, y, geom->batch * geom->out_c, out_plane, out_plane);
    return 0;
}
#endif


//  --------------------------------------------------------------------------
//  Self test: the order of the sums bit for bit against plain C (the
//  column matrix's rows from zero, padding taps as zeros, the bias last),
//  then stems of every tile width against the convolution reference at
//  every instruction set, and at 1 to 3 threads

static void
s_stem_order_test (zi_test_t *t, int64_t channels, int64_t maps, int64_t in_h, int64_t in_w,
                   int64_t k, int64_t pad, zi_act_kind_t kind)
{
    int64_t out_h = (in_h + 2 * pad - k) / 2 + 1, out_w = (in_w + 2 * pad - k) / 2 + 1;
    zi_tensor_t *inputs [3] = {
        zi_test_random (4, (int64_t []) {1, channels, in_h, in_w}, 61),
        zi_test_random (4, (int64_t []) {maps, channels, k, k}, 62),
        zi_test_random (1, &maps, 63)
    };
    const float *x = zi_tensor_f32 (inputs [0]), *w = zi_tensor_f32 (inputs [1]);
    const float *bias = zi_tensor_f32 (inputs [2]);
    float *want = malloc (maps * out_h * out_w * sizeof (float));
    assert (want);
    for (int64_t m = 0; m < maps; m++)
        for (int64_t oh = 0; oh < out_h; oh++)
            for (int64_t ow = 0; ow < out_w; ow++) {
                float part = 0;
                for (int64_t c = 0; c < channels; c++)
                    for (int64_t kh = 0; kh < k; kh++)
                        for (int64_t kw = 0; kw < k; kw++) {
                            int64_t ih = 2 * oh - pad + kh, iw = 2 * ow - pad + kw;
                            bool inside = ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
                            part = fmaf (w [((m * channels + c) * k + kh) * k + kw],
                                         inside? x [(c * in_h + ih) * in_w + iw]: 0.0f, part);
                        }
                float value = part + bias [m];
                if (kind == ZI_ACT_RELU)
                    value = value > 0? value: 0;
                want [(m * out_h + oh) * out_w + ow] = value;
            }
    if (zi_test_isa (t, ZI_ISA_AVX512)) {
        zi_node_t *node = zi_node_new ("Conv", "stem order");
        zi_node_set_ints (node, "pads", 4, (int64_t []) {pad, pad, pad, pad});
        zi_node_set_ints (node, "strides", 2, (int64_t []) {2, 2});
        node->act.kind = kind;
        ZI_CHECK (t, zi_test_op_gives_bits (&node, 3, inputs, want,
                                            (size_t) (maps * out_h * out_w)),
                  "stem %lldx%lld s2, %lld to %lld on %lldx%lld at avx512: K from zero, the bias "
                  "last", (long long) k, (long long) k, (long long) channels, (long long) maps,
                  (long long) in_h, (long long) in_w);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    free (want);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

void
zi_act_conv_stem_test (zi_test_t *t)
{
    //  resnet's stem on rows of 115 (tiles of 48, 48 and 19 columns); a
    //  6x6 kernel on four channels (K 144), unpadded, on rows of 48 (one
    //  tile)
    s_stem_order_test (t, 3, 13, 23, 230, 7, 3, ZI_ACT_RELU);
    s_stem_order_test (t, 4, 8, 15, 100, 6, 0, ZI_ACT_NONE);

    const zi_act_t none = {ZI_ACT_NONE, 0, 0};
    const zi_act_t relu = {ZI_ACT_RELU, 0, 0};
    const zi_conv_case_t cases [] = {
        //  label, op, ns, N, C, H, W, M, kH, kW, group, strides, dilations,
        //  pads, set_pads, auto_pad, bias, then the rest by name
        //  Rows of 112 (48, 32 and 32 columns), batch 2, a last panel of one
        {"stem 7x7 s2 rows of 112 batch 2", "Conv", 2, 2, 3, 9, 224, 13, 7, 7, 0, {2, 2},
         {0, 0}, {3, 3, 3, 3}, true, NULL, false, .act = none},
        //  Rows of 115 (48, 48, 19), the activation in the store
        {"stem 7x7 s2 rows of 115", "Conv", 2, 1, 3, 24, 230, 20, 7, 7, 0, {2, 2},
         {0, 0}, {3, 3, 3, 3}, true, NULL, true, .act = relu},
        //  Rows of 31 (one tile of two vectors, the second masked)
        {"stem 7x7 s2 rows of 31", "Conv", 2, 1, 3, 30, 61, 10, 7, 7, 0, {2, 2},
         {0, 0}, {3, 3, 3, 3}, true, NULL, true, .act = {ZI_ACT_HARD_SWISH, 0, 0}},
        //  An even kernel (K 128) with asymmetric pads, four channels, an
        //  activation applied after
        {"stem 4x8 s2 asymmetric pads", "Conv", 2, 1, 4, 17, 40, 7, 4, 8, 0, {2, 2},
         {0, 0}, {1, 2, 2, 1}, true, NULL, true, .act = {ZI_ACT_SIGMOID, 0, 0}},
        //  6x6 on four channels (K 144), rows of 22, clip
        {"stem 6x6 s2 4 channels", "Conv", 2, 1, 4, 21, 45, 9, 6, 6, 0, {2, 2},
         {0, 0}, {2, 2, 2, 2}, true, NULL, true, .act = {ZI_ACT_CLIP, -0.2f, 0.3f}},
        //  Rows of exactly 16
        {"stem 7x7 s2 rows of 16", "Conv", 2, 1, 3, 12, 32, 6, 7, 7, 0, {2, 2},
         {0, 0}, {3, 3, 3, 3}, true, NULL, true, .act = relu},
    };
    zi_conv_cases_run (t, cases, sizeof cases / sizeof cases [0], 300);
    const zi_conv_case_t threaded [] = {
        {"stem 7x7 s2 60x100", "Conv", 2, 1, 3, 60, 100, 24, 7, 7, 0, {2, 2}, {0, 0},
         {3, 3, 3, 3}, true, NULL, true, .act = relu},
        {"stem 6x6 s2 batch 3", "Conv", 2, 3, 4, 41, 67, 16, 6, 6, 0, {2, 2}, {0, 0},
         {2, 2, 2, 2}, true, NULL, true, .act = none},
    };
    zi_conv_cases_threads (t, threaded, sizeof threaded / sizeof threaded [0], 400);
}
