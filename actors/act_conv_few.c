/*  =========================================================================
    act_conv_few - Conv's path for few output channels: a direct SIMD
    kernel on the image for a network's last layer (64 channels to 3 on a
    large image, as super-resolution and segmentation models end).
    act_conv.c chooses it; it is not an op of its own.

    Each output sums its input channels in chunks of S_FEW_CHUNK, each
    chunk an FMA chain from zero, the chunks added in order and the bias
    last; the self test below pins that order bit for bit at every
    instruction set the CPU has.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_simd.h"
#include "act_conv.h"

//  The geometry (act_conv.h)
typedef zi_conv_geom_t s_geom_t;

//  Few output channels (an image network's last layer: 64 channels to 3
//  on a large image). im2col would write the whole column matrix (K floats
//  per output pixel) for a product of three rows, and a panel of zi_mm
//  would be half empty; here the kernel works on the image directly, a
//  vector of output pixels along a row, for S_FEW_ROWS rows and every
//  output channel at once (twelve sums in registers for three channels),
//  each tap one load of the input row and one FMA per output channel. The
//  input is copied a band of rows at a time into a zero-bordered block,
//  so the loads need no bounds checks; the row's last vector is stored
//  masked. Stride 1, dilation 1, one group.

//  Output channels up to this take the direct kernel
#define S_FEW_MAPS 4
//  Input channels summed apart before their sums are added: one chain
//  down 64 to 512 channels was 2.7-4.7 times ONNX Runtime's distance from
//  float64 on isnet's side outputs (docs/models.md)
#define S_FEW_CHUNK 16
//  Output rows per band: AVX-512 has 32 registers, AVX2 16
#define S_FEW_ROWS_AVX512 4
#define S_FEW_ROWS_AVX2 3
//  Floats of slack after a band: the last vector of a row may read past
//  its end (into lanes that are not stored)
#define S_FEW_SLACK 64

bool
zi_conv_is_few_maps (const s_geom_t *geom)
{
    return geom->out_c <= S_FEW_MAPS && geom->group == 1 && geom->n_spatial == 2
        && geom->stride_h == 1 && geom->stride_w == 1 && geom->dil_h == 1 && geom->dil_w == 1
        && geom->k_h * geom->k_w > 1 && geom->out_w >= 16 && geom->out_h >= 4;
}

typedef struct {
    const s_geom_t *geom;       //  the convolution
    zi_exec_t *exec;            //  per thread: the padded band
    const float *x, *w, *bias;  //  input, weights, bias or NULL
    const float *sum;           //  fused residual, Y's shape, or NULL
    const zi_act_t *act;        //  fused activation
    float *y;                   //  output
    int64_t rows;               //  output rows per band
    int64_t bands;              //  bands per image
    int64_t width;              //  floats per padded row: out_w + k_w - 1
} s_few_job_t;

//  Input rows [oh0 - pad_t, oh0 - pad_t + band_rows) of every channel of
//  one image, zero where they fall in the padding
static void
s_few_fill (const s_geom_t *geom, const float *x_n, int64_t oh0, int64_t band_rows,
            int64_t width, float *band)
{
    int64_t in_plane = geom->in_h * geom->in_w;
    int64_t copy = geom->in_w < width - geom->pad_l? geom->in_w: width - geom->pad_l;
    for (int64_t c = 0; c < geom->in_c; c++)
        for (int64_t row = 0; row < band_rows; row++) {
            float *dst = band + (c * band_rows + row) * width;
            int64_t ih = oh0 + row - geom->pad_t;
            if (ih < 0 || ih >= geom->in_h || copy <= 0) {
                memset (dst, 0, width * sizeof (float));
                continue;
            }
            memset (dst, 0, geom->pad_l * sizeof (float));
            memcpy (dst + geom->pad_l, x_n + c * in_plane + ih * geom->in_w,
                    copy * sizeof (float));
            memset (dst + geom->pad_l + copy, 0, (width - geom->pad_l - copy) * sizeof (float));
        }
    memset (band + geom->in_c * band_rows * width, 0, S_FEW_SLACK * sizeof (float));
}

#if defined (ZI_HAVE_AVX512)
//  One block of sixteen output columns by S_FEW_ROWS_AVX512 rows, for the
//  first `maps` output channels (a constant where it is inlined, so the
//  sums stay in registers); y and sum at the block's first pixel
static ZI_AVX512_INLINE void
s_few_block_avx512 (const s_geom_t *geom, const float *band, int64_t band_rows, int64_t width,
                    const float *w, const float *bias, const float *sum, float *y, int maps,
                    int64_t rows, __mmask16 mask, zi_act_kind_t kind, __m512 alpha,
                    __m512 beta)
{
    //  Each chunk of input channels summed from zero and added to the
    //  chunks before, the bias last, as zi_mm sums its slices of K
    __m512 acc [S_FEW_MAPS][S_FEW_ROWS_AVX512], total [S_FEW_MAPS][S_FEW_ROWS_AVX512];
    for (int m = 0; m < S_FEW_MAPS; m++)
        for (int r = 0; r < S_FEW_ROWS_AVX512; r++)
            total [m][r] = _mm512_setzero_ps ();
    int64_t taps = geom->k_h * geom->k_w, per_map = geom->in_c * taps;
    for (int64_t c0 = 0; c0 < geom->in_c; c0 += S_FEW_CHUNK) {
        for (int m = 0; m < maps; m++)
            for (int r = 0; r < S_FEW_ROWS_AVX512; r++)
                acc [m][r] = _mm512_setzero_ps ();
        int64_t c1 = c0 + S_FEW_CHUNK < geom->in_c? c0 + S_FEW_CHUNK: geom->in_c;
        for (int64_t c = c0; c < c1; c++) {
            const float *plane = band + c * band_rows * width;
            const float *w_c = w + c * taps;
            for (int64_t kh = 0; kh < geom->k_h; kh++)
                for (int64_t kw = 0; kw < geom->k_w; kw++) {
                    const float *at = plane + kh * width + kw;
                    __m512 v [S_FEW_ROWS_AVX512];
                    for (int r = 0; r < S_FEW_ROWS_AVX512; r++)
                        v [r] = _mm512_loadu_ps (at + r * width);
                    for (int m = 0; m < maps; m++) {
                        __m512 tap = _mm512_set1_ps (w_c [m * per_map + kh * geom->k_w + kw]);
                        for (int r = 0; r < S_FEW_ROWS_AVX512; r++)
                            acc [m][r] = _mm512_fmadd_ps (tap, v [r], acc [m][r]);
                    }
                }
        }
        for (int m = 0; m < maps; m++)
            for (int r = 0; r < S_FEW_ROWS_AVX512; r++)
                total [m][r] = _mm512_add_ps (total [m][r], acc [m][r]);
    }
    int64_t out_plane = geom->out_h * geom->out_w;
    for (int m = 0; m < maps; m++)
        for (int r = 0; r < S_FEW_ROWS_AVX512 && r < rows; r++) {
            int64_t at = m * out_plane + r * geom->out_w;
            __m512 value = total [m][r];
            if (bias)
                value = _mm512_add_ps (value, _mm512_set1_ps (bias [m]));
            if (sum)
                value = _mm512_add_ps (value, _mm512_maskz_loadu_ps (mask, sum + at));
            _mm512_mask_storeu_ps (y + at, mask, zi_act16_avx512 (value, kind, alpha, beta));
        }
}

static ZI_AVX512 void
s_few_band_avx512 (const s_few_job_t *job, const float *band, int64_t n, int64_t oh0,
                   int64_t rows)
{
    const s_geom_t *geom = job->geom;
    const zi_act_t *act = job->act;
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m512 alpha = _mm512_set1_ps (act->alpha), beta = _mm512_set1_ps (act->beta);
    int64_t band_rows = S_FEW_ROWS_AVX512 + geom->k_h - 1;
    int64_t at = (n * geom->out_c) * geom->out_h * geom->out_w + oh0 * geom->out_w;
    for (int64_t ow0 = 0; ow0 < geom->out_w; ow0 += 16) {
        int64_t left = geom->out_w - ow0;
        __mmask16 mask = left >= 16? 0xFFFF: (__mmask16) ((1u << left) - 1);
        const float *sum = job->sum? job->sum + at + ow0: NULL;
        float *y = job->y + at + ow0;
        const float *from = band + ow0;
        switch (geom->out_c) {
            case 1:
                s_few_block_avx512 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                    y, 1, rows, mask, kind, alpha, beta);
                break;
            case 2:
                s_few_block_avx512 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                    y, 2, rows, mask, kind, alpha, beta);
                break;
            case 3:
                s_few_block_avx512 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                    y, 3, rows, mask, kind, alpha, beta);
                break;
            default:
                s_few_block_avx512 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                    y, 4, rows, mask, kind, alpha, beta);
                break;
        }
    }
}
#endif

#if defined (ZI_HAVE_AVX2)
//  The same with eight columns by S_FEW_ROWS_AVX2 rows
static ZI_AVX2_INLINE void
s_few_block_avx2 (const s_geom_t *geom, const float *band, int64_t band_rows, int64_t width,
                  const float *w, const float *bias, const float *sum, float *y, int maps,
                  int64_t rows, __m256i mask, zi_act_kind_t kind, __m256 alpha, __m256 beta)
{
    //  Each chunk of input channels summed from zero and added to the
    //  chunks before, the bias last, as zi_mm sums its slices of K
    __m256 acc [S_FEW_MAPS][S_FEW_ROWS_AVX2], total [S_FEW_MAPS][S_FEW_ROWS_AVX2];
    for (int m = 0; m < S_FEW_MAPS; m++)
        for (int r = 0; r < S_FEW_ROWS_AVX2; r++)
            total [m][r] = _mm256_setzero_ps ();
    int64_t taps = geom->k_h * geom->k_w, per_map = geom->in_c * taps;
    for (int64_t c0 = 0; c0 < geom->in_c; c0 += S_FEW_CHUNK) {
        for (int m = 0; m < maps; m++)
            for (int r = 0; r < S_FEW_ROWS_AVX2; r++)
                acc [m][r] = _mm256_setzero_ps ();
        int64_t c1 = c0 + S_FEW_CHUNK < geom->in_c? c0 + S_FEW_CHUNK: geom->in_c;
        for (int64_t c = c0; c < c1; c++) {
            const float *plane = band + c * band_rows * width;
            const float *w_c = w + c * taps;
            for (int64_t kh = 0; kh < geom->k_h; kh++)
                for (int64_t kw = 0; kw < geom->k_w; kw++) {
                    const float *at = plane + kh * width + kw;
                    __m256 v [S_FEW_ROWS_AVX2];
                    for (int r = 0; r < S_FEW_ROWS_AVX2; r++)
                        v [r] = _mm256_loadu_ps (at + r * width);
                    for (int m = 0; m < maps; m++) {
                        __m256 tap = _mm256_broadcast_ss (w_c + m * per_map + kh * geom->k_w + kw);
                        for (int r = 0; r < S_FEW_ROWS_AVX2; r++)
                            acc [m][r] = _mm256_fmadd_ps (tap, v [r], acc [m][r]);
                    }
                }
        }
        for (int m = 0; m < maps; m++)
            for (int r = 0; r < S_FEW_ROWS_AVX2; r++)
                total [m][r] = _mm256_add_ps (total [m][r], acc [m][r]);
    }
    int64_t out_plane = geom->out_h * geom->out_w;
    for (int m = 0; m < maps; m++)
        for (int r = 0; r < S_FEW_ROWS_AVX2 && r < rows; r++) {
            int64_t at = m * out_plane + r * geom->out_w;
            __m256 value = total [m][r];
            if (bias)
                value = _mm256_add_ps (value, _mm256_set1_ps (bias [m]));
            if (sum)
                value = _mm256_add_ps (value, _mm256_maskload_ps (sum + at, mask));
            _mm256_maskstore_ps (y + at, mask, zi_act8_avx2 (value, kind, alpha, beta));
        }
}

static ZI_AVX2 void
s_few_band_avx2 (const s_few_job_t *job, const float *band, int64_t n, int64_t oh0,
                 int64_t rows)
{
    const s_geom_t *geom = job->geom;
    const zi_act_t *act = job->act;
    zi_act_kind_t kind = zi_act_inline (act)? act->kind: ZI_ACT_NONE;
    __m256 alpha = _mm256_set1_ps (act->alpha), beta = _mm256_set1_ps (act->beta);
    int64_t band_rows = S_FEW_ROWS_AVX2 + geom->k_h - 1;
    int64_t at = (n * geom->out_c) * geom->out_h * geom->out_w + oh0 * geom->out_w;
    for (int64_t ow0 = 0; ow0 < geom->out_w; ow0 += 8) {
        int64_t left = geom->out_w - ow0;
        __m256i mask = zi_tail_mask_avx2 (left < 8? left: 8);
        const float *sum = job->sum? job->sum + at + ow0: NULL;
        float *y = job->y + at + ow0;
        const float *from = band + ow0;
        switch (geom->out_c) {
            case 1:
                s_few_block_avx2 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                  y, 1, rows, mask, kind, alpha, beta);
                break;
            case 2:
                s_few_block_avx2 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                  y, 2, rows, mask, kind, alpha, beta);
                break;
            case 3:
                s_few_block_avx2 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                  y, 3, rows, mask, kind, alpha, beta);
                break;
            default:
                s_few_block_avx2 (geom, from, band_rows, job->width, job->w, job->bias, sum,
                                  y, 4, rows, mask, kind, alpha, beta);
                break;
        }
    }
}

//  Bands [first, last), numbered over the batch
static void
s_few_part (void *args, int64_t first, int64_t last, int thread)
{
    s_few_job_t *job = args;
    const s_geom_t *geom = job->geom;
    float *band = zi_exec_scratch_of (job->exec, thread, 0, 0);
    for (int64_t item = first; item < last; item++) {
        int64_t n = item / job->bands, oh0 = item % job->bands * job->rows;
        int64_t rows = geom->out_h - oh0 < job->rows? geom->out_h - oh0: job->rows;
        s_few_fill (geom, job->x + n * geom->in_c * geom->in_h * geom->in_w, oh0,
                    job->rows + geom->k_h - 1, job->width, band);
#if defined (ZI_HAVE_AVX512)
        if (job->rows == S_FEW_ROWS_AVX512) {
            s_few_band_avx512 (job, band, n, oh0, rows);
            continue;
        }
#endif
        s_few_band_avx2 (job, band, n, oh0, rows);
    }
}

//  The direct kernel over every band of every image, whole bands per
//  thread; the activations it cannot apply in registers after
int
zi_conv_few_maps (const s_geom_t *geom, zi_exec_t *exec, const float *x, const float *w,
                 const float *bias, const float *sum, const zi_act_t *act, float *y)
{
    bool avx512 = zi_use_avx512 ();
    s_few_job_t job = {
        .geom = geom, .exec = exec, .x = x, .w = w, .bias = bias, .sum = sum, .act = act,
        .y = y, .rows = avx512? S_FEW_ROWS_AVX512: S_FEW_ROWS_AVX2,
        .width = geom->out_w + geom->k_w - 1
    };
    job.bands = (geom->out_h + job.rows - 1) / job.rows;
    size_t bytes = (geom->in_c * (job.rows + geom->k_h - 1) * job.width + S_FEW_SLACK)
                 * sizeof (float);
    for (int thread = 0; thread < zi_exec_threads (exec); thread++)
        if (!zi_exec_scratch_of (exec, thread, 0, bytes))
            return -1;
    int64_t macs = job.rows * geom->out_w * geom->out_c * geom->in_c * geom->k_h * geom->k_w;
    zi_exec_parallel (exec, geom->batch * job.bands, zi_exec_unit (macs), s_few_part, &job);
    if (!zi_act_inline (act))
        for (int64_t n = 0; n < geom->batch; n++)
            zi_act_rows (act, y + n * geom->out_c * geom->out_h * geom->out_w, geom->out_c,
                         geom->out_h * geom->out_w, geom->out_h * geom->out_w);
    return 0;
}
#endif

//  --------------------------------------------------------------------------
//  Self test

//  The order of the sums in the direct kernel for few output channels, bit
//  for bit: each S_FEW_CHUNK input channels an FMA chain from zero (channel,
//  then kernel row, then column), added to the chunks before, the bias
//  last. Taps over the padding add a zero product, which changes nothing.
static void
s_few_order_test (zi_test_t *t)
{
    int64_t channels = 40, maps = 3, height = 9, width = 37;
    zi_tensor_t *inputs [3] = {
        zi_test_random (4, (int64_t []) {1, channels, height, width}, 51),
        zi_test_random (4, (int64_t []) {maps, channels, 3, 3}, 52),
        zi_test_random (1, &maps, 53)
    };
    const float *x = zi_tensor_f32 (inputs [0]), *w = zi_tensor_f32 (inputs [1]);
    const float *bias = zi_tensor_f32 (inputs [2]);
    float *want = malloc (maps * height * width * sizeof (float));
    assert (want);
    for (int64_t m = 0; m < maps; m++)
        for (int64_t oh = 0; oh < height; oh++)
            for (int64_t ow = 0; ow < width; ow++) {
                float total = 0;
                for (int64_t c0 = 0; c0 < channels; c0 += S_FEW_CHUNK) {
                    float part = 0;
                    for (int64_t c = c0; c < c0 + S_FEW_CHUNK && c < channels; c++)
                        for (int64_t kh = 0; kh < 3; kh++)
                            for (int64_t kw = 0; kw < 3; kw++) {
                                int64_t ih = oh - 1 + kh, iw = ow - 1 + kw;
                                if (ih >= 0 && ih < height && iw >= 0 && iw < width)
                                    part = fmaf (w [((m * channels + c) * 3 + kh) * 3 + kw],
                                                 x [(c * height + ih) * width + iw], part);
                            }
                    total += part;
                }
                want [(m * height + oh) * width + ow] = total + bias [m];
            }
    for (int level = ZI_ISA_AVX512; level >= ZI_ISA_AVX2; level--) {
        if (!zi_test_isa (t, (zi_isa_t) level))
            continue;
        zi_node_t *node = zi_node_new ("Conv", "few order");
        zi_node_set_ints (node, "pads", 4, (int64_t []) {1, 1, 1, 1});
        ZI_CHECK (t, zi_test_op_gives_bits (&node, 3, inputs, want,
                                            (size_t) (maps * height * width)),
                  "few maps at %s: chunks of %d channels from zero, the bias last",
                  zi_isa_name ((zi_isa_t) level), S_FEW_CHUNK);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);
    free (want);
    for (int slot = 0; slot < 3; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

void
zi_act_conv_few_test (zi_test_t *t)
{
    s_few_order_test (t);
}
