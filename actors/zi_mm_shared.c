/*  =========================================================================
    zi_mm_shared - a constant weight packed for zi_mm once, however many
    nodes multiply by it

    Conv, ConvTranspose, Gemm and MatMul pack a constant weight at prepare.
    They ask for the packed form here instead of allocating their own, so
    nodes that read one weight constant with the same packing parameters
    (a Keras layer called several times, an ONNX initializer used twice,
    one node replicated over a process's threads, another thread's plan of
    the same weights) hold one copy between them. The key carries every
    argument the packing takes, so a form is only shared where the bytes
    would have been the same; it names the ISA level in use as well, so
    that a layout that came to differ by level (the self tests run every
    level in one process) could never be read by another level's kernels.
    =========================================================================
*/

#include "zi_classes.h"
#include "act_mm.h"
#include "zi_mm_shared.h"

//  params: maps, depth, ldm, ldk, groups, group_stride
static void
s_fill_mm (float *packed, const zi_packed_key_t *key, const void *arg)
{
    (void) arg;
    const float *w = key->source->data;
    int64_t maps = key->params [0], depth = key->params [1];
    size_t per_group = zi_mm_packed_floats (maps, depth);
    for (int64_t group = 0; group < key->params [4]; group++)
        zi_mm_pack (w + group * key->params [5], maps, depth, key->params [2], key->params [3],
                    packed + group * per_group);
    if (key->scale != 1)
        for (size_t item = 0; item < key->floats; item++)
            packed [item] *= key->scale;
}

const float *
zi_mm_pack_shared (const zi_tensor_t *w, int64_t maps, int64_t depth, int64_t ldm,
                   int64_t ldk, int64_t groups, int64_t group_stride, float scale)
{
    assert (groups >= 1);
    zi_packed_key_t key = {
        .source = w, .kind = ZI_PACKED_MM,
        .params = {maps, depth, ldm, ldk, groups, groups > 1? group_stride: 0, zi_isa_level ()},
        .scale = scale, .floats = zi_mm_packed_floats (maps, depth) * (size_t) groups
    };
    return zi_packed_get (&key, s_fill_mm, NULL);
}

//  params: maps, channels, tile
static void
s_fill_winograd (float *packed, const zi_packed_key_t *key, const void *arg)
{
    (void) arg;
    zi_winograd_shape_t shape = {
        .maps = key->params [0], .channels = key->params [1], .tile = (int) key->params [2]
    };
    zi_winograd_weights (&shape, key->source->data, packed);
}

const float *
zi_winograd_weights_shared (const zi_tensor_t *w, const zi_winograd_shape_t *shape)
{
    zi_packed_key_t key = {
        .source = w, .kind = ZI_PACKED_WINOGRAD,
        .params = {shape->maps, shape->channels, shape->tile, zi_isa_level ()}, .scale = 1,
        .floats = zi_winograd_weights_floats (shape)
    };
    return zi_packed_get (&key, s_fill_winograd, NULL);
}
