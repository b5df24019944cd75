/*  =========================================================================
    zi_hash - a fast 64-bit hash of a byte string

    The gateway fingerprints every byte of a request's inputs with it, so
    it has to run near the speed of memory: eight independent lanes take
    a 64-byte stripe at a time, each multiplying the two 32-bit halves of
    its word mixed with a key (one multiply per 8 bytes that SIMD does
    four or eight at once, and no lane waits on another). The key depends
    on the stripe's position, so that equal words moved elsewhere change
    the hash; every 16 stripes the lanes are scrambled, so that what came
    first does not stay in the low bits alone. What is left (under 64
    bytes) and the lanes then go through a serial mix and a finaliser.

    zi_hash_copy gives the same hash while it copies the bytes: the
    gateway reads a local client's input out of shared memory once, not
    once to copy and again to hash.

    The AVX2 and AVX-512 forms are the same C compiled for those
    instructions (integer math: the same hash bit for bit), used when
    zi_isa_level allows them.
    =========================================================================
*/

#include "zi_hash.h"
#include "act_simd.h"

#define S_LANES         8
#define S_STRIPE        (S_LANES * 8)   //  bytes per stripe
#define S_SCRAMBLE      16              //  stripes between scrambles

static const uint64_t s_keys [S_LANES] = {
    UINT64_C (0xbe4ba423396cfeb8), UINT64_C (0x1cad21f72c81017c),
    UINT64_C (0xdb979083e96dd4de), UINT64_C (0x1f67b3b7a4a44072),
    UINT64_C (0x78e5c0cc4ee679cb), UINT64_C (0x2172ffcc7dd05a82),
    UINT64_C (0x8e2443f7744608b8), UINT64_C (0x4c263a81e69035e0)
};
#define S_STEP          UINT64_C (0x9e3779b97f4a7c15)   //  key change per stripe
#define S_PRIME         UINT64_C (0xff51afd7ed558ccd)
#define S_SCRAMBLER     UINT64_C (0x9e3779b1)

static inline uint64_t
s_mix (uint64_t hash, uint64_t word)
{
    hash = (hash ^ word) * S_PRIME;
    return hash ^ (hash >> 32);
}

//  n_stripes stripes into the lanes, the first of them stripe number
//  first of the string (a multiple of S_SCRAMBLE). Written once and
//  compiled per instruction set by the wrappers below.
static inline __attribute__ ((always_inline)) void
s_stripes (uint64_t *restrict lanes, const unsigned char *data, size_t first,
           size_t n_stripes)
{
    for (size_t stripe = 0; stripe < n_stripes; stripe++) {
        const unsigned char *at = data + stripe * S_STRIPE;
        uint64_t step = (first + stripe) * S_STEP;
        for (int lane = 0; lane < S_LANES; lane++) {
            uint64_t word;
            memcpy (&word, at + lane * 8, 8);
            uint64_t keyed = word ^ (s_keys [lane] + step);
            lanes [lane] += (keyed & 0xffffffff) * (keyed >> 32) + word;
        }
        if ((stripe + 1) % S_SCRAMBLE == 0)
            for (int lane = 0; lane < S_LANES; lane++) {
                lanes [lane] ^= lanes [lane] >> 47;
                lanes [lane] *= S_SCRAMBLER;
            }
    }
}

static void
s_stripes_portable (uint64_t *lanes, const unsigned char *data, size_t first, size_t n_stripes)
{
    s_stripes (lanes, data, first, n_stripes);
}

#if defined (ZI_HAVE_AVX2)
static ZI_AVX2 void
s_stripes_avx2 (uint64_t *lanes, const unsigned char *data, size_t first, size_t n_stripes)
{
    s_stripes (lanes, data, first, n_stripes);
}
#endif

#if defined (ZI_HAVE_AVX512)
static ZI_AVX512 void
s_stripes_avx512 (uint64_t *lanes, const unsigned char *data, size_t first, size_t n_stripes)
{
    s_stripes (lanes, data, first, n_stripes);
}
#endif

//  The stripes in the widest form the machine allows
static void
s_stripes_best (uint64_t *lanes, const unsigned char *data, size_t first, size_t n_stripes)
{
#if defined (ZI_HAVE_AVX512)
    if (zi_use_avx512 ()) {
        s_stripes_avx512 (lanes, data, first, n_stripes);
        return;
    }
#endif
#if defined (ZI_HAVE_AVX2)
    if (zi_use_avx2 ()) {
        s_stripes_avx2 (lanes, data, first, n_stripes);
        return;
    }
#endif
    s_stripes_portable (lanes, data, first, n_stripes);
}

//  A copy and its hash go a chunk at a time: the chunk is copied, then
//  hashed from the copy while it is in the first-level cache. One loop
//  that both stored and hashed each word ran slower than memcpy and the
//  hash one after the other; this is faster than either order of both.
#define S_CHUNK_STRIPES (4 * S_SCRAMBLE)    //  4 KiB

//  The hash of size bytes at data, copied to "to" on the way unless NULL
//  (then the hash is of the copy, the bytes the caller keeps)
static uint64_t
s_hash (const unsigned char *bytes, unsigned char *to, size_t size, uint64_t seed)
{
    uint64_t lanes [S_LANES];
    for (int lane = 0; lane < S_LANES; lane++)
        lanes [lane] = seed ^ s_keys [lane];
    size_t n_stripes = size / S_STRIPE;
    if (to) {
        for (size_t first = 0; first < n_stripes; first += S_CHUNK_STRIPES) {
            size_t count = n_stripes - first < S_CHUNK_STRIPES? n_stripes - first: S_CHUNK_STRIPES;
            memcpy (to + first * S_STRIPE, bytes + first * S_STRIPE, count * S_STRIPE);
            s_stripes_best (lanes, to + first * S_STRIPE, first, count);
        }
        //  The tail is hashed from the copy too: the hash is of what was copied
        size_t at = n_stripes * S_STRIPE;
        memcpy (to + at, bytes + at, size - at);
        bytes = to;
    }
    else
        s_stripes_best (lanes, bytes, 0, n_stripes);

    uint64_t hash = s_mix (seed, size);
    for (int lane = 0; lane < S_LANES; lane++)
        hash = s_mix (hash, lanes [lane]);
    size_t at = n_stripes * S_STRIPE;
    for (; at + 8 <= size; at += 8) {
        uint64_t word;
        memcpy (&word, bytes + at, 8);
        hash = s_mix (hash, word);
    }
    for (; at < size; at++)
        hash = s_mix (hash, bytes [at] | (uint64_t) 0x100);
    //  The finaliser: every input bit reaches every output bit
    hash ^= hash >> 33;
    hash *= S_PRIME;
    hash ^= hash >> 33;
    hash *= UINT64_C (0xc4ceb9fe1a85ec53);
    return hash ^ (hash >> 33);
}

uint64_t
zi_hash (const void *data, size_t size, uint64_t seed)
{
    assert (data || size == 0);
    return s_hash (data, NULL, size, seed);
}

uint64_t
zi_hash_copy (void *dst, const void *src, size_t size, uint64_t seed)
{
    assert ((dst && src) || size == 0);
    return s_hash (src, dst, size, seed);
}

//  --------------------------------------------------------------------------
//  Self test

//  The hash as its definition reads, one word at a time: what every form
//  above must give
static uint64_t
s_reference (const unsigned char *data, size_t size, uint64_t seed)
{
    uint64_t lanes [S_LANES];
    for (int lane = 0; lane < S_LANES; lane++)
        lanes [lane] = seed ^ s_keys [lane];
    size_t n_stripes = size / S_STRIPE;
    for (size_t stripe = 0; stripe < n_stripes; stripe++) {
        for (int lane = 0; lane < S_LANES; lane++) {
            uint64_t word = 0;
            for (int byte = 7; byte >= 0; byte--)       //  little-endian, as x86 loads
                word = word << 8 | data [stripe * S_STRIPE + lane * 8 + byte];
            uint64_t keyed = word ^ (s_keys [lane] + stripe * S_STEP);
            uint64_t low = (uint32_t) keyed, high = (uint32_t) (keyed >> 32);
            lanes [lane] = lanes [lane] + low * high + word;
            if ((stripe + 1) % S_SCRAMBLE == 0)
                lanes [lane] = (lanes [lane] ^ (lanes [lane] >> 47)) * S_SCRAMBLER;
        }
    }
    uint64_t hash = s_mix (seed, size);
    for (int lane = 0; lane < S_LANES; lane++)
        hash = s_mix (hash, lanes [lane]);
    size_t at = n_stripes * S_STRIPE;
    for (; at + 8 <= size; at += 8) {
        uint64_t word = 0;
        for (int byte = 7; byte >= 0; byte--)
            word = word << 8 | data [at + byte];
        hash = s_mix (hash, word);
    }
    for (; at < size; at++)
        hash = s_mix (hash, data [at] | (uint64_t) 0x100);
    hash = (hash ^ (hash >> 33)) * S_PRIME;
    hash = (hash ^ (hash >> 33)) * UINT64_C (0xc4ceb9fe1a85ec53);
    return hash ^ (hash >> 33);
}

void
zi_hash_test (zi_test_t *t)
{
    size_t size = 1 << 20;
    unsigned char *buffer = malloc (size + 64);
    unsigned char *copy = malloc (size + 64);
    assert (buffer && copy);
    uint32_t state = 12345;
    for (size_t at = 0; at < size + 64; at++) {
        state = state * 1664525 + 1013904223;
        buffer [at] = (unsigned char) (state >> 24);
    }
    //  Every form equals the definition, at every length up to 2 scramble
    //  blocks and beyond, from aligned and unaligned addresses
    for (int level = ZI_ISA_PORTABLE; level <= zi_isa_cpu (); level++) {
        zi_isa_set_cap ((zi_isa_t) level);
        int wrong = 0;
        for (size_t length = 0; length <= 2 * S_SCRAMBLE * S_STRIPE + 70; length++)
            for (size_t offset = 0; offset < 3; offset++)
                wrong += zi_hash (buffer + offset, length, 7)
                      != s_reference (buffer + offset, length, 7);
        ZI_CHECK (t, wrong == 0, "%s: %d of the lengths 0 to %d differ from the definition",
                  zi_isa_name ((zi_isa_t) level), wrong, 2 * S_SCRAMBLE * S_STRIPE + 70);
        ZI_CHECK (t, zi_hash (buffer + 1, size, 0) == s_reference (buffer + 1, size, 0),
                  "%s: 1 MiB from an odd address equals the definition",
                  zi_isa_name ((zi_isa_t) level));
        //  The copying form: the same hash, and every byte copied, none past
        int bad = 0;
        for (size_t length = 0; length <= 2 * S_SCRAMBLE * S_STRIPE + 70; length += 13)
            for (size_t offset = 0; offset < 3; offset++) {
                memset (copy, 0xa5, length + 8);
                bad += zi_hash_copy (copy + offset, buffer + 2 - offset, length, 7)
                    != s_reference (buffer + 2 - offset, length, 7)
                    || memcmp (copy + offset, buffer + 2 - offset, length)
                    || copy [offset + length] != 0xa5;
            }
        ZI_CHECK (t, bad == 0 && zi_hash_copy (copy, buffer + 3, size, 0)
                             == s_reference (buffer + 3, size, 0)
                  && memcmp (copy, buffer + 3, size) == 0,
                  "%s: zi_hash_copy copies and hashes as the definition (%d lengths wrong)",
                  zi_isa_name ((zi_isa_t) level), bad);
    }
    zi_isa_set_cap (ZI_ISA_DEFAULT);

    //  One byte changed anywhere, even by one bit, changes the hash: at
    //  either end, in the middle, in a lane's high half, in the tail
    uint64_t whole = zi_hash (buffer, size - 5, 0);
    size_t places [] = {0, 7, 63, 64, 4095, size / 2, size / 2 + 3, size - 70, size - 6};
    int unchanged = 0;
    for (size_t place = 0; place < sizeof places / sizeof places [0]; place++)
        for (int bit = 0; bit < 8; bit++) {
            buffer [places [place]] ^= (unsigned char) (1 << bit);
            unchanged += zi_hash (buffer, size - 5, 0) == whole;
            buffer [places [place]] ^= (unsigned char) (1 << bit);
        }
    ZI_CHECK (t, unchanged == 0, "every one-bit change of 72 changes the hash (%d did not)",
              unchanged);
    //  Two words swapped (equal words at other places), a byte more, a
    //  zero byte more, another seed: each another hash
    unsigned char saved [8];
    memcpy (saved, buffer + 64, 8);
    memcpy (buffer + 64, buffer + 128, 8);
    memcpy (buffer + 128, saved, 8);
    ZI_CHECK (t, zi_hash (buffer, size - 5, 0) != whole, "two words swapped change it");
    memcpy (buffer + 128, buffer + 64, 8);
    memcpy (buffer + 64, saved, 8);
    ZI_CHECK (t, zi_hash (buffer, size - 5, 0) == whole, "and swapped back it is the same");
    ZI_CHECK (t, zi_hash (buffer, size - 4, 0) != whole, "one byte longer changes it");
    memset (buffer, 0, 200);
    ZI_CHECK (t, zi_hash (buffer, 100, 0) != zi_hash (buffer, 101, 0)
              && zi_hash (buffer, 0, 0) != zi_hash (buffer, 0, 1),
              "a zero byte more, or another seed, changes it");

    //  Its speed over 1 MiB, for the gateway's fingerprint (docs/reliability.md)
    if (t->verbose) {
        uint64_t sink = 0;
        int64_t best = INT64_MAX;
        for (int round = 0; round < 50; round++) {
            int64_t started = zi_clock_usecs ();
            sink += zi_hash (buffer, size, sink);
            int64_t took = zi_clock_usecs () - started;
            best = took < best? took: best;
        }
        printf ("    zi_hash: 1 MiB in %lld us (%s), %.1f GB/s (%llx)\n", (long long) best,
                zi_isa_name (zi_isa_level ()), best? size / 1e3 / best: 0,
                (unsigned long long) sink);
        //  Against a copy then a hash, as the gateway did for shared
        //  memory, on mobilenet's 224x224 image (588 KiB)
        size_t image = 3 * 224 * 224 * sizeof (float);
        int64_t apart = INT64_MAX, together = INT64_MAX;
        for (int round = 0; round < 50; round++) {
            int64_t started = zi_clock_usecs ();
            memcpy (copy, buffer, image);
            sink += zi_hash (copy, image, sink);
            int64_t middle = zi_clock_usecs ();
            sink += zi_hash_copy (copy, buffer, image, sink);
            int64_t ended = zi_clock_usecs ();
            apart = middle - started < apart? middle - started: apart;
            together = ended - middle < together? ended - middle: together;
        }
        printf ("    588 KiB copied then hashed in %lld us, hashed while copied in %lld us "
                "(%llx)\n",
                (long long) apart, (long long) together, (unsigned long long) sink);
    }
    free (copy);
    free (buffer);
}
